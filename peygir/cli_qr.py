"""``peygir qr sync|revoke|sheet|list``: QR codes for staff members and places (README,
*QR codes for staff and places*)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any


def _entries(path: Path) -> Any:
    from peygir.config.qr import load_entries

    if not path.is_file():
        print(f"peygir: no such file: {path}", file=sys.stderr)
        return None
    entries, problems = load_entries(path)
    for problem in problems:
        print(f"peygir: {path.name}: {problem}", file=sys.stderr)
    return None if problems else entries


def _run(args: argparse.Namespace) -> int:
    from peygir.config.settings import Settings
    from peygir.ticket_store import qr
    from peygir.ticket_store.db import close_db, open_db
    from peygir.ticket_store.models import QrSubject

    settings = Settings()
    command = args.qr_command
    entries: Any = None
    if command in ("sync", "sheet"):
        entries = _entries(Path(args.file))
        if entries is None:
            return 2

    async def run() -> int:
        await open_db(settings.database_url)
        try:
            if command == "sync":
                done = await qr.sync(entries)
                for word, items in (("added", done.added), ("updated", done.updated),
                                    ("retired", done.retired), ("new code", done.issued)):
                    for item in items:
                        print(f"{word}\t{item}")
                print(f"{len(entries.staff)} staff, {len(entries.places)} places; "
                      f"{len(done.issued)} new codes (print them: peygir qr sheet)")
                return 0
            if command == "revoke":
                count = await qr.revoke(args.id, args.kind)
                if not count:
                    print(f"peygir: no live code for {args.id}", file=sys.stderr)
                    return 1
                print(f"{args.id}: {count} code revoked; `peygir qr sync` issues a new one "
                      "while it is in the city's file")
                return 0
            if command == "list":
                for row in await QrSubject.all().order_by("kind", "ref"):
                    live = "live" if await qr.live_code(row.id) else "no code"
                    state = "active" if row.active else "retired"
                    print(f"{row.kind}\t{row.ref}\t{row.name}\t{state}\t{live}")
                return 0
            return await _sheet(args, entries, settings)
        finally:
            await close_db()

    return asyncio.run(run())


async def _sheet(args: argparse.Namespace, entries: Any, settings: Any) -> int:
    from peygir.config.pack import load_pack
    from peygir.ticket_store import qr
    from peygir.ticket_store.models import QrSubject
    from peygir.web import qr_sheet

    base = (args.base or settings.public_base).rstrip("/")
    if not base.startswith(("https://", "http://")):
        print("peygir: set PEYGIR_PUBLIC_URL (or --base): the codes open <it>/q/<token>",
              file=sys.stderr)
        return 2
    pack = load_pack(settings.pack) if settings.pack else load_pack()
    city = args.city or entries.city_name or pack.city.rules.qr.city_name
    telegram = settings.telegram_username if args.bot is None else args.bot
    bale = settings.bale_username if args.bale is None else args.bale
    cards, missing = [], []
    wanted = [("staff", e.id, e.name, e.role) for e in entries.staff] + [
        ("place", e.id, e.name, e.kind) for e in entries.places]
    for kind, ref, name, detail in wanted:
        row = await QrSubject.get_or_none(kind=kind, ref=ref, active=True)
        token = await qr.live_code(row.id) if row else None
        if token is None:
            missing.append(f"{kind}:{ref}")
            continue
        cards.append(qr_sheet.card(kind, name, detail, token, base, telegram, bale))
    if missing:
        print(f"peygir: no live code for {', '.join(missing)}: run `peygir qr sync` first",
              file=sys.stderr)
        return 1
    out = Path(args.out)
    svgs = qr_sheet.pages(cards, city)
    if out.suffix.lower() == ".pdf":
        try:
            await qr_sheet.pdf(svgs, out)
        except RuntimeError as exc:
            print(f"peygir: {exc}", file=sys.stderr)
            return 2
        print(f"{out}: {len(cards)} codes on {len(svgs)} pages")
        return 0
    written = []
    for i, svg in enumerate(svgs):
        path = out if i == 0 else out.with_name(f"{out.stem}-{i + 1}{out.suffix or '.svg'}")
        path.write_text(svg, encoding="utf-8")
        written.append(str(path))
    print(f"{', '.join(written)}: {len(cards)} codes on {len(svgs)} pages")
    return 0


def add_commands(commands: Any) -> None:
    codes = commands.add_parser("qr", help="QR codes for staff members and places")
    sub = codes.add_subparsers(dest="qr_command", required=True)
    sync = sub.add_parser("sync", help="store the city's file (YAML or CSV) and issue codes")
    sync.add_argument("file")
    sync.set_defaults(func=_run)
    revoke = sub.add_parser("revoke", help="revoke an entry's code (by the city's id)")
    revoke.add_argument("id")
    revoke.add_argument("--kind", choices=("staff", "place"),
                        help="when a staff member and a place share the id")
    revoke.set_defaults(func=_run)
    sheet = sub.add_parser("sheet", help="printable sheets of the file's codes (.svg or .pdf)")
    sheet.add_argument("file")
    sheet.add_argument("--out", required=True,
                       help="sheet.svg (one file per A4 page: sheet.svg, sheet-2.svg, ...) or "
                            "sheet.pdf (printed by Chromium, where installed)")
    sheet.add_argument("--bot", default=None,
                       help="the Telegram bot's username (default PEYGIR_TELEGRAM_USERNAME)")
    sheet.add_argument("--bale", default=None,
                       help="the Bale bot's username (default PEYGIR_BALE_USERNAME)")
    sheet.add_argument("--base", default="", help="the public URL (default PEYGIR_PUBLIC_URL)")
    sheet.add_argument("--city", default="", help="the city's name (default: the file's "
                                                  "city:, else the pack's qr.city_name)")
    sheet.set_defaults(func=_run)
    sub.add_parser("list", help="stored entries and whether each has a live code"
                   ).set_defaults(func=_run)

"""``peygir webhooks add|list|remove``: signed webhook subscriptions (README, *Webhooks*)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

EVENTS_HELP = ("comma-separated: filed, assigned, status_changed, evidence_added, rated, "
               "escalated (default: all)")


def _run(args: argparse.Namespace) -> int:
    from peygir.config.settings import Settings
    from peygir.ticket_store import webhooks
    from peygir.ticket_store.db import close_db, open_db

    async def run() -> int:
        await open_db(Settings().database_url)
        try:
            if args.webhooks_command == "add":
                events = [e.strip() for e in (args.events or "").split(",") if e.strip()]
                secret = sys.stdin.readline().strip() if args.secret_stdin else None
                if secret is not None and len(secret) < 16:
                    print("peygir: a secret needs at least 16 characters", file=sys.stderr)
                    return 2
                try:
                    sub = await webhooks.subscribe(args.url, events or ["*"],
                                                   personal_data=args.personal_data,
                                                   secret=secret)
                except ValueError as exc:
                    print(f"peygir: {exc}", file=sys.stderr)
                    return 2
                print(f"webhook {sub.id}: {sub.url} events={','.join(sub.events)} "
                      f"personal_data={'yes' if sub.personal_data else 'no'}")
                if secret is None:  # shown once: the receiver needs it to check signatures
                    print(f"secret: {sub.secret}")
                return 0
            if args.webhooks_command == "remove":
                if not await webhooks.unsubscribe(args.id):
                    print(f"peygir: no webhook {args.id}", file=sys.stderr)
                    return 1
                print(f"webhook {args.id} removed")
                return 0
            backlog = await webhooks.backlog()
            for sub in await webhooks.subscriptions():
                last = (f"{sub.last_result} at {sub.last_at:%Y-%m-%d %H:%M} UTC"
                        if sub.last_at else "never sent")
                print(f"{sub.id}\t{sub.url}\t{','.join(sub.events)}\t"
                      f"personal_data={'yes' if sub.personal_data else 'no'}\t"
                      f"waiting={backlog.get(sub.id, 0)}\tlast={last}")
            return 0
        finally:
            await close_db()

    return asyncio.run(run())


def add_commands(commands: Any) -> None:
    hooks = commands.add_parser("webhooks", help="signed webhook subscriptions")
    sub = hooks.add_subparsers(dest="webhooks_command", required=True)
    add = sub.add_parser("add", help="subscribe a URL to ticket events")
    add.add_argument("url")
    add.add_argument("--events", help=EVENTS_HELP)
    add.add_argument("--personal-data", action="store_true",
                     help="the receiver may see the citizen's words, address and place (and "
                          "contact, where the citizen agreed)")
    add.add_argument("--secret-stdin", action="store_true",
                     help="read the signing secret from stdin (else one is made and printed)")
    add.set_defaults(func=_run)
    remove = sub.add_parser("remove", help="remove a subscription")
    remove.add_argument("id", type=int)
    remove.set_defaults(func=_run)
    sub.add_parser("list", help="subscriptions with their last result").set_defaults(func=_run)

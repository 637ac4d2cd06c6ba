"""The ``peygir`` command: serve, classify, pack check."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from config.pack import DEFAULT_PACK_DIR, PackError, check_pack, load_pack


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from bots.core import Core
    from config.settings import Settings
    from web.app import create_app

    settings = Settings()
    try:
        core = Core.build(settings)
    except PackError as exc:
        print(f"peygir: cannot start: {exc}", file=sys.stderr)
        return 2
    host = args.host or settings.web_host
    port = args.port or settings.web_port
    logging.getLogger("peygir").info("web chat on http://%s:%s", host, port)
    print(f"peygir: web chat and API on http://{host}:{port}  (database {settings.database_url},"
          f" pack {core.pack.folder}, {len(core.pack.services)} services,"
          f" {len(core.pack.faqs)} FAQ entries)", file=sys.stderr, flush=True)
    uvicorn.run(create_app(core), host=host, port=port, log_level=args.log_level)
    return 0


def _classify(args: argparse.Namespace) -> int:
    from nlu.classifier import Classifier

    try:
        pack = load_pack(args.pack)
    except PackError as exc:
        print(f"peygir: {exc}", file=sys.stderr)
        return 2
    classifier = Classifier(pack)
    out = sys.stdout
    for line in sys.stdin:
        text = line.rstrip("\n")
        out.write(json.dumps(classifier.classify(text).to_json(), ensure_ascii=False) + "\n")
        out.flush()
    return 0


def _pack_check(args: argparse.Namespace) -> int:
    pack, problems = check_pack(args.dir)
    if problems:
        print(f"{args.dir}: {len(problems)} problem(s)", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    assert pack is not None
    print(f"{args.dir}: ok ({len(pack.services)} services, {len(pack.faqs)} FAQ entries)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="peygir", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the web chat, API and configured bots")
    serve.add_argument("--host", help="overrides PEYGIR_WEB_HOST")
    serve.add_argument("--port", type=int, help="overrides PEYGIR_WEB_PORT")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(func=_serve)

    classify = commands.add_parser(
        "classify", help="classify one message a line from stdin; one JSON object a line out"
    )
    classify.add_argument("--pack", help=f"pack folder (default: {DEFAULT_PACK_DIR})")
    classify.set_defaults(func=_classify)

    pack = commands.add_parser("pack", help="city pack tools")
    pack_commands = pack.add_subparsers(dest="pack_command", required=True)
    check = pack_commands.add_parser("check", help="validate a pack folder")
    check.add_argument("dir")
    check.set_defaults(func=_pack_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

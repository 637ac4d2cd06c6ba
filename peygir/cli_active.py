"""``peygir citizens ranking --period 1405-09``: the active citizens' ranking of a Jalali
month (or year) as CSV on standard output, as the panel's download gives it (README,
*Active citizens and volunteers*)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any


def _ranking(args: argparse.Namespace) -> int:
    from peygir.config.settings import Settings
    from peygir.ticket_store import active
    from peygir.ticket_store.db import close_db, open_db
    from peygir.web.panel.active import ranking_csv_text

    settings = Settings()
    chosen = active.parse_period(args.period, settings.timezone)
    if chosen is None:
        print("peygir: --period is a Jalali month (1405-09) or year (1405)", file=sys.stderr)
        return 2

    async def run() -> str:
        await open_db(settings.database_url)
        try:
            return ranking_csv_text(await active.ranking(chosen.start, chosen.end))
        finally:
            await close_db()

    sys.stdout.write(asyncio.run(run()))
    return 0


def add_commands(citizen_commands: Any) -> None:
    ranking = citizen_commands.add_parser(
        "ranking", help="the active citizens' ranking of a Jalali month or year, as CSV")
    ranking.add_argument("--period", required=True,
                         help="a Jalali month (1405-09) or year (1405)")
    ranking.set_defaults(func=_ranking)

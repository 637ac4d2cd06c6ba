"""What is not a ticket: referrals to outside bodies, FAQ answers and messages nobody could
place, counted by local day, kind and code for the dashboard.

The dialogue calls :func:`note` inside the transaction that handles the update, so the count
commits with the update's dedup record: an update delivered twice counts once. A count is
one ``INSERT … ON CONFLICT … DO UPDATE`` (SQLite ≥ 3.24 and PostgreSQL alike), so two
updates of the same day and subject never race into two rows.

Unplaced messages also keep their words, cut to ``MAX_TEXT`` characters and at most
``PER_CHAT_DAY`` a chat a day (a flood is counted, not stored), so the city can see what the
pack should learn next. Those words are the citizen's: retention drops them after its window
and a citizen's erasure at once (``ticket_store.retention``).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from tortoise import connections

from peygir.ticket_store.db import column
from peygir.ticket_store.models import HappeningCount, HappeningKind, UnplacedMessage
from peygir.ticket_store.store import Params

UNKNOWN = "unknown"  # the classifier could not place the message: asked again
NONE_FIT = "none_fit"  # the citizen said none of the offered subjects fit
MAX_TEXT = 300
PER_CHAT_DAY = 20
EPOCH = date(1970, 1, 1)


def local_day(moment: datetime, tz: str) -> int:
    """The city's local date of a moment, as days since 1970-01-01."""
    return (moment.astimezone(ZoneInfo(tz)).date() - EPOCH).days


def day_date(day: int) -> date:
    return EPOCH + timedelta(days=day)


async def note(kind: HappeningKind, code: str, now: datetime, tz: str) -> None:
    """Count one happening; call inside the update's transaction."""
    p = Params()
    table = HappeningCount._meta.db_table
    await connections.get("default").execute_query(
        f"INSERT INTO {table} (day, kind, code, count) "
        f"VALUES ({p(local_day(now, tz))}, {p(kind.value)}, {p(code[:64])}, 1) "
        "ON CONFLICT (day, kind, code) DO UPDATE SET count = "
        f"{table}.count + 1", p.values)


async def keep_unplaced(code: str, text: str, channel: str, chat_id: str, now: datetime,
                        tz: str) -> bool:
    """Count an unplaced message and keep its words (bounded); False when only counted."""
    await note(HappeningKind.UNPLACED, code, now, tz)
    words = _printable(text)[:MAX_TEXT]
    if not words:
        return False
    recent = await UnplacedMessage.filter(channel=channel, chat_id=chat_id,
                                          at__gte=now - timedelta(days=1)).count()
    if recent >= PER_CHAT_DAY:
        return False
    await UnplacedMessage.create(at=now, code=code, text=words, channel=channel,
                                 chat_id=chat_id)
    return True


def _printable(text: str) -> str:
    """One line of what can be stored and shown: no control characters (PostgreSQL refuses
    NUL) or lone surrogates; runs of spaces and new lines as one space."""
    kept = (" " if ch.isspace() else ch for ch in text[:MAX_TEXT * 4]
            if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cs"))
    return " ".join("".join(kept).split())


# -- reading ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tally:
    kind: str
    code: str
    count: int


async def tallies(first_day: int, last_day: int) -> list[Tally]:
    """Counts per kind and code over the local days first_day … last_day (both included),
    most first."""
    rows = await HappeningCount.filter(day__gte=first_day, day__lte=last_day).values_list(
        "kind", "code", "count")
    summed: dict[tuple[str, str], int] = {}
    for kind, code, count in rows:
        key = (str(kind), str(code))
        summed[key] = summed.get(key, 0) + int(count)
    return sorted((Tally(k, c, n) for (k, c), n in summed.items()),
                  key=lambda t: (t.kind, -t.count, t.code))


async def recent_unplaced(limit: int = 30) -> list[UnplacedMessage]:
    return await UnplacedMessage.all().order_by("-at", "-id").limit(limit)


# -- retention -------------------------------------------------------------------------------
async def drop_older(cut: datetime, batch: int) -> int:
    """Unplaced messages older than the window, oldest first; returns how many went."""
    ids = await column(UnplacedMessage.filter(at__lt=cut).order_by("id").limit(batch)
                       .values_list("id", flat=True))
    return await UnplacedMessage.filter(id__in=list(ids)).delete()


async def erase_chat(channel: str, chat_id: str) -> int:
    """A citizen asked to be erased: the words they sent that nobody placed go now."""
    return await UnplacedMessage.filter(channel=channel, chat_id=chat_id).delete()

"""Active citizens and volunteers (issue 20): the store's part. No wording here; the
conversation (conversation/active.py) and the panel (web/panel/active.py) speak.

- Opting in: a citizen sets a public name of their choosing (``public_name``); opting out
  clears it, and they leave every ranking (past periods too: the ranking is computed, never
  stored).
- The ranking of a period counts, per opted-in citizen, their tickets that

  * are in state ``resolved`` or ``closed`` now (the city did the work; ``closed`` is only
    reached from ``resolved``, when the citizen accepted it) — so ``rejected``, ``referred``,
    open and ``reopened`` (contested) tickets do not count;
  * are not duplicates (``duplicate_of`` is empty): a later report of the same thing follows
    the first one's state and would otherwise count the same work twice; the first report
    counts;
  * were resolved within the period (``resolved_at`` in [start, end): the last time they
    were resolved, so one contested and resolved again counts in the later period).

  Tickets anonymised by retention or by an erasure request belong to nobody and never count.
  Ranks are competition ranks (equal counts share a rank: 1, 2, 2, 4); within a rank the one
  who reached the count first comes first, then the lower citizen id, so the order is the
  same on every run and on SQLite and PostgreSQL.
- Volunteers: a citizen applies with a short reason (one pending application at a time); an
  operator approves or rejects it once (a conditional update on the status); approval sets
  the citizen's standing to VOLUNTEER through ticket_store.standing, so their reports filed
  from then on get priority 1.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from tortoise.functions import Count, Max

from peygir.messages.persian import jalali_midnight, local_jalali
from peygir.ticket_store import standing as standings
from peygir.ticket_store.models import (
    ApplicationStatus,
    Citizen,
    Standing,
    Ticket,
    TicketStatus,
    VolunteerApplication,
)

NAME_MIN = 2
NAME_MAX = 32
MAX_NAME_DIGITS = 4  # «علی ۱۳۶۰» is a name; five digits and more may be a number
REASON_MIN = 10
REASON_MAX = 500
NOTE_MAX = 1000
COUNTED = (TicketStatus.RESOLVED, TicketStatus.CLOSED)
ZWNJ = "\u200c"


@dataclass(frozen=True)
class Period:
    """A Jalali month (``month`` 1-12) or a whole Jalali year (``month`` None), as the
    UTC instants [start, end) of the city's local midnights."""

    year: int
    month: int | None
    start: datetime
    end: datetime

    @property
    def key(self) -> str:
        """``1405-09`` or ``1405``: how the CLI and the panel's links name it."""
        return f"{self.year}-{self.month:02d}" if self.month else str(self.year)


def period(year: int, month: int | None, tz: str) -> Period:
    if month is None:
        return Period(year, None, jalali_midnight(year, 1, 1, tz),
                      jalali_midnight(year + 1, 1, 1, tz))
    after = (year + 1, 1) if month == 12 else (year, month + 1)
    return Period(year, month, jalali_midnight(year, month, 1, tz),
                  jalali_midnight(*after, 1, tz))


def parse_period(text: str, tz: str) -> Period | None:
    """``1405-09``, ``1405/9`` or ``1405`` (Persian digits too); None if it is not one."""
    text = text.strip().translate(_DIGITS).replace("/", "-")
    year_text, _, month_text = text.partition("-")
    if not (year_text.isascii() and year_text.isdigit() and len(year_text) == 4):
        return None
    year = int(year_text)
    if not 1300 <= year <= 1500:
        return None
    if not month_text:
        return period(year, None, tz)
    if not (month_text.isascii() and month_text.isdigit() and 1 <= int(month_text) <= 12):
        return None
    return period(year, int(month_text), tz)


def this_month(now: datetime, tz: str) -> Period:
    local = local_jalali(now, tz)
    return period(local.year, local.month, tz)


_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")


class NameProblem(ValueError):
    """Why a public name is refused: its ``kind`` picks the wording (conversation.active)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind  # length, characters, number, link, taken


def check_name(name: str) -> str:
    """The name as it is kept (one space between words, NFKC) or NameProblem: 2–32
    characters of letters, digits, spaces and half-spaces, at least two letters, at most
    four digits (no phone number), nothing like a link. The caller normalises the letters
    (Arabic ي and ك to Persian) first."""
    name = " ".join(unicodedata.normalize("NFKC", name).split())
    name = name.replace(f" {ZWNJ}", ZWNJ).replace(f"{ZWNJ} ", ZWNJ).strip(ZWNJ + " ")
    if not NAME_MIN <= len(name) <= NAME_MAX:
        raise NameProblem("length")
    lowered = name.casefold()
    if "http" in lowered or lowered.startswith("www"):
        raise NameProblem("link")
    if not all(ch.isalpha() or ch.isdigit() or ch in (" ", ZWNJ) for ch in name):
        raise NameProblem("characters")
    if sum(ch.isdigit() for ch in name) > MAX_NAME_DIGITS:
        raise NameProblem("number")
    if sum(ch.isalpha() for ch in name) < NAME_MIN:
        raise NameProblem("characters")
    return name


def _key(name: str) -> str:
    """Two names a reader would take for one: case and half-spaces aside."""
    return name.casefold().replace(ZWNJ, " ")


async def name_taken(name: str, citizen_id: int) -> bool:
    """Another opted-in citizen already goes by this name (a ceremony reads it aloud)."""
    key = _key(name)
    rows = await Citizen.filter(public_name__isnull=False).exclude(id=citizen_id).values_list(
        "public_name", flat=True)
    return any(_key(str(other)) == key for other in rows)


async def opt_in(citizen: Citizen, name: str, now: datetime) -> None:
    """Set (or change) the public name; the first opt-in's moment is kept on a rename."""
    citizen.public_name = name
    if citizen.ranked_since is None:
        citizen.ranked_since = now
    await citizen.save(update_fields=["public_name", "ranked_since"])


async def opt_out(citizen_id: int) -> bool:
    """Leave the ranking: the name goes. True if they were in it."""
    return bool(await Citizen.filter(id=citizen_id, public_name__isnull=False).update(
        public_name=None, ranked_since=None))


@dataclass(frozen=True)
class Ranked:
    rank: int
    citizen_id: int
    name: str
    count: int
    reached_at: datetime  # when the last counted ticket was resolved (ties: earlier first)


async def ranking(start: datetime, end: datetime) -> list[Ranked]:
    """The opted-in citizens with at least one counted ticket resolved in [start, end)."""
    rows = await Ticket.filter(
        status__in=list(COUNTED), duplicate_of_id=None, resolved_at__gte=start,
        resolved_at__lt=end, citizen__public_name__isnull=False,
    ).annotate(n=Count("id"), last=Max("resolved_at")).group_by("citizen_id").values(
        "citizen_id", "n", "last")
    names = dict(await Citizen.filter(
        id__in=[r["citizen_id"] for r in rows], public_name__isnull=False).values_list(
        "id", "public_name"))
    counted = [(int(r["n"]), _moment(r["last"]), int(r["citizen_id"])) for r in rows
               if r["citizen_id"] in names]
    counted.sort(key=lambda row: (-row[0], row[1], row[2]))
    ranked: list[Ranked] = []
    for place, (n, last, citizen_id) in enumerate(counted, start=1):
        rank = ranked[-1].rank if ranked and ranked[-1].count == n else place
        ranked.append(Ranked(rank, citizen_id, str(names[citizen_id]), n, last))
    return ranked


def _moment(value: object) -> datetime:
    """An aggregate's datetime: SQLite may give it as text."""
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


async def standing_of(citizen_id: int, start: datetime, end: datetime
                      ) -> tuple[Ranked | None, int]:
    """A citizen's own line in the period's ranking (None: nothing counted yet) and how many
    citizens are ranked."""
    rows = await ranking(start, end)
    mine = next((r for r in rows if r.citizen_id == citizen_id), None)
    return mine, len(rows)


# -- volunteers -------------------------------------------------------------------------------
async def pending_application(citizen_id: int) -> VolunteerApplication | None:
    return await VolunteerApplication.filter(
        citizen_id=citizen_id, status=ApplicationStatus.PENDING).first()


async def apply(citizen: Citizen, channel: str, chat_id: str, reason: str
                ) -> VolunteerApplication:
    """A new pending application (the caller checked none is pending)."""
    return await VolunteerApplication.create(citizen=citizen, channel=channel,
                                             chat_id=chat_id, reason=reason[:REASON_MAX])


async def pending() -> list[VolunteerApplication]:
    return await VolunteerApplication.filter(status=ApplicationStatus.PENDING).order_by("id")


async def decided(limit: int = 20) -> list[VolunteerApplication]:
    return await VolunteerApplication.exclude(status=ApplicationStatus.PENDING).order_by(
        "-reviewed_at", "-id").limit(limit)


async def review(application_id: int, approve: bool, actor: str, now: datetime,
                 note: str = "") -> VolunteerApplication | None:
    """Decide a pending application once; approval makes the citizen a volunteer. None if it
    was not pending (decided meanwhile, or no such application). Call in a transaction."""
    status = ApplicationStatus.APPROVED if approve else ApplicationStatus.REJECTED
    won = await VolunteerApplication.filter(
        id=application_id, status=ApplicationStatus.PENDING).update(
        status=status, reviewed_by=actor[:64], reviewed_at=now,
        review_note=note.strip()[:NOTE_MAX])
    if not won:
        return None
    application = await VolunteerApplication.get(id=application_id)
    if approve:
        citizen = await Citizen.get(id=application.citizen_id)
        await standings.set_standing(citizen, Standing.VOLUNTEER)
    return application


async def erase(citizen_id: int) -> bool:
    """A citizen's erasure request: their public name and their applications (their words)
    go; a standing staff gave them stays (as retention keeps it). True if anything went."""
    left = await opt_out(citizen_id)
    dropped = await VolunteerApplication.filter(citizen_id=citizen_id).delete()
    return left or bool(dropped)

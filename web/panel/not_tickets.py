"""The dashboard's view of what is not a ticket (referrals to outside bodies, FAQ answers,
messages nobody could place) and of each deputy's (معاونت) share of the requests.

Counts come from ``ticket_store.happenings`` (kept per local day, so a period is read as the
local days it touches); the deputy shares from the same per-unit figures as the rest of the
dashboard, plus the period's unplaced tickets counted by service from the tickets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tortoise.functions import Count

from peygir.config.pack import Pack
from peygir.ticket_store import happenings
from peygir.ticket_store.models import HappeningKind, Ticket, UnplacedMessage
from peygir.web.panel.queries import Figures

WHY = {happenings.UNKNOWN: "نامفهوم (دوباره پرسیده شد)",
       happenings.NONE_FIT: "هیچ‌کدام از موضوع‌های پیشنهادی نبود"}
NO_DEPUTY = "بدون معاونت (در صف مرکز ۱۳۷)"


@dataclass
class Row:
    label: str
    count: int
    share: float | None = None  # percent of the section's total
    codes: list[str] = field(default_factory=list)


@dataclass
class NotTickets:
    first_day: int
    last_day: int
    referrals: list[Row]
    faqs: list[Row]
    unplaced: list[Row]  # by why
    recent: list[UnplacedMessage]
    deputies: list[Row]

    @property
    def total_referrals(self) -> int:
        return sum(r.count for r in self.referrals)

    @property
    def total_faqs(self) -> int:
        return sum(r.count for r in self.faqs)

    @property
    def total_unplaced(self) -> int:
        return sum(r.count for r in self.unplaced)


def days_of(since: datetime, until: datetime, tz: str) -> tuple[int, int]:
    """The local days a period [since, until) touches, first and last included."""
    last = until - timedelta(microseconds=1) if until > since else until
    return happenings.local_day(since, tz), happenings.local_day(last, tz)


def _shares(rows: list[Row]) -> list[Row]:
    total = sum(r.count for r in rows)
    for r in rows:
        r.share = 100.0 * r.count / total if total else None
    return sorted(rows, key=lambda r: (-r.count, r.label))


async def read(pack: Pack, since: datetime, until: datetime, tz: str,
               by_unit: list[Figures], faq_limit: int = 15, recent: int = 30) -> NotTickets:
    first, last = days_of(since, until, tz)
    referrals: dict[str, Row] = {}
    faqs: list[Row] = []
    unplaced: list[Row] = []
    for t in await happenings.tallies(first, last):
        if t.kind == HappeningKind.REFERRAL:
            service = pack.service_by_code.get(t.code)
            body = (service.referral_body if service else None) or t.code
            row = referrals.setdefault(body, Row(body, 0))
            row.count += t.count
            row.codes.append(t.code)
        elif t.kind == HappeningKind.FAQ:
            entry = pack.faq_by_id.get(t.code)
            faqs.append(Row(entry.question if entry else t.code, t.count, codes=[t.code]))
        elif t.kind == HappeningKind.UNPLACED:
            unplaced.append(Row(WHY.get(t.code, t.code), t.count, codes=[t.code]))
    return NotTickets(
        first, last, _shares(list(referrals.values())), _shares(faqs)[:faq_limit],
        _shares(unplaced), await happenings.recent_unplaced(recent),
        await deputy_shares(pack, since, until, by_unit))


async def deputy_shares(pack: Pack, since: datetime, until: datetime,
                        by_unit: list[Figures]) -> list[Row]:
    """Requests filed in [since, until) per deputy: a placed ticket by its unit's deputy, an
    unplaced one by the deputy over its service (when the pack names one)."""
    city = pack.city
    rows: dict[str, Row] = {}

    def add(deputy: str | None, n: int) -> None:
        label = deputy or NO_DEPUTY
        rows.setdefault(label, Row(label, 0)).count += n

    for figures in by_unit:
        if figures.key:
            add(city.deputy_by_unit.get(figures.key), figures.opened)
    unplaced = await Ticket.filter(unit_code=None, created_at__gte=since, created_at__lt=until
                                   ).annotate(n=Count("id")).group_by("service_code"
                                                                      ).values("service_code", "n")
    for item in unplaced:
        service = pack.service_by_code.get(item["service_code"])
        add(city.deputy_for_service(service.service_code, service.group) if service else None,
            int(item["n"]))
    return _shares([r for r in rows.values() if r.count])

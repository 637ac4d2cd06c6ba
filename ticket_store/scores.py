"""How well each unit served, per Jalali month: the citizens' ratings, with late work
counting less (a late «satisfied» scores below a timely one)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import jdatetime

from peygir.ticket_store.models import Ticket


@dataclass(frozen=True)
class UnitScore:
    unit_code: str
    closed: int  # tickets closed in the month
    rated: int
    late: int  # of the closed, answered after their deadline
    mean_rating: float | None  # plain average of the 1-5 ratings
    score: float | None  # 0-100: ratings scaled, each late one weighted by late_rating_factor


def month_bounds(jyear: int, jmonth: int, tz: str = "Asia/Tehran") -> tuple[datetime, datetime]:
    """The first moment of a Jalali month and of the next, as aware datetimes."""
    start = jdatetime.date(jyear, jmonth, 1).togregorian()
    nyear, nmonth = (jyear + 1, 1) if jmonth == 12 else (jyear, jmonth + 1)
    end = jdatetime.date(nyear, nmonth, 1).togregorian()
    zone = ZoneInfo(tz)
    return (datetime(start.year, start.month, start.day, tzinfo=zone),
            datetime(end.year, end.month, end.day, tzinfo=zone))


def was_late(ticket: Ticket) -> bool:
    """Late if the first answer came after its deadline, or, for urgent work, the crew
    reached the site late or the final answer came after 24 hours."""
    answered = ticket.first_answer_at
    if answered is None or answered > ticket.answer_due:
        return True
    if ticket.urgent:
        if ticket.onsite_due and (ticket.onsite_at is None or ticket.onsite_at > ticket.onsite_due):
            return True
        finished = ticket.resolved_at or ticket.closed_at
        if finished is None or finished > ticket.answer_due:
            return True
    return False


async def unit_scores(jyear: int, jmonth: int, late_factor: float,
                      tz: str = "Asia/Tehran") -> list[UnitScore]:
    start, end = month_bounds(jyear, jmonth, tz)
    tickets = await Ticket.filter(closed_at__gte=start, closed_at__lt=end,
                                  unit_code__isnull=False).only(
        "id", "unit_code", "rating", "urgent", "answer_due", "onsite_due", "first_answer_at",
        "onsite_at", "resolved_at", "closed_at")
    by_unit: dict[str, list[Ticket]] = defaultdict(list)
    for ticket in tickets:
        by_unit[ticket.unit_code].append(ticket)  # type: ignore[index]
    scores = []
    for code, rows in sorted(by_unit.items()):
        late = [was_late(t) for t in rows]
        rated = [(t.rating, is_late) for t, is_late in zip(rows, late, strict=True) if t.rating]
        mean = sum(r for r, _ in rated) / len(rated) if rated else None
        weighted = [r * (late_factor if is_late else 1.0) for r, is_late in rated]
        score = round(sum(weighted) / len(weighted) / 5 * 100, 1) if weighted else None
        scores.append(UnitScore(code, len(rows), len(rated), sum(late),
                                round(mean, 2) if mean is not None else None, score))
    return scores

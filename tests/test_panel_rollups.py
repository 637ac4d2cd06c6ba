"""The dashboard's daily roll-ups give the figures a direct count of the tickets gives, for
every period, city-wide and per unit, before and after the job catches up with changes made
to old tickets (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime, timedelta

from peygir.config.pack import Pack
from peygir.conversation.notices import Notices
from peygir.messages.types import Location
from peygir.ticket_store import rollups, store
from peygir.ticket_store.models import Citizen, PanelRollup, PanelRollupChange, Ticket, TicketStatus
from peygir.ticket_store.workflow import Workflow
from peygir.web.panel import queries

NOW = datetime(2025, 3, 20, 9, 30, 17, tzinfo=UTC)  # today: a partial UTC day
PERIODS = (7, 30, 90, 365)
OPEN = rollups.OPEN_STATUSES
DONE = rollups.DONE_STATUSES


def _direct(tickets: list[Ticket], start: datetime, now: datetime,
            unit: str | None) -> dict[tuple[str, str | None], dict[str, object]]:
    """Every figure of the dashboard counted straight from the tickets, independently."""
    chosen = [t for t in tickets if start <= t.created_at < now
              and (unit is None or t.unit_code == unit)]
    groups: dict[tuple[str, str | None], list[Ticket]] = {("city", None): chosen}
    for t in chosen:
        for dim, key in (("u", t.unit_code), ("d", t.district), ("s", t.service_code)):
            groups.setdefault((dim, key), []).append(t)
    out = {}
    for key, rows in groups.items():
        seconds = [(t.first_answer_at - t.created_at).total_seconds()
                   for t in rows if t.first_answer_at is not None]
        hist = [0] * rollups.BUCKETS
        for s in seconds:
            hist[rollups.bucket_of(s)] += 1
        rated = [t.rating for t in rows if t.rating is not None]
        out[key] = {
            "opened": len(rows),
            "resolved": sum(t.status in DONE for t in rows),
            "open_now": sum(t.status in OPEN for t in rows),
            "late": sum((t.status in OPEN and t.answer_due < now)
                        or (t.first_answer_at is not None and t.first_answer_at > t.answer_due)
                        for t in rows),
            "rating": sum(rated) / len(rated) if rated else None,
            "median": rollups.median_of(hist),
            "exact_median": statistics.median(seconds) if seconds else None,
            "seconds": sorted(seconds),
        }
    return out


def _bucket_bounds(seconds: float) -> tuple[float, float]:
    i = rollups.bucket_of(seconds)
    hi = rollups.EDGES_S[i + 1] if i + 1 < rollups.BUCKETS else float("inf")
    return rollups.EDGES_S[i], hi


async def _compare(now: datetime, units: list[str]) -> int:
    tickets = await Ticket.all()
    rolled = 0
    for days in PERIODS:
        start = now - timedelta(days=days)
        for unit in [None, *units]:
            want = _direct(tickets, start, now, unit)
            got = await queries.dashboard(start, now, now, unit=unit)
            rolled += (await rollups.read(start, now, now, unit=unit)).rolled_days
            rows = {("city", None): got.city}
            for dim, listed in (("u", got.by_unit), ("d", got.by_district),
                                ("s", got.by_service)):
                for f in listed:
                    rows[(dim, f.key)] = f
            assert set(rows) == set(want), (days, unit, set(rows) ^ set(want))
            for key, f in rows.items():
                w = want[key]
                where = (days, unit, key)
                assert (f.opened, f.resolved, f.open_now, f.late) == (
                    w["opened"], w["resolved"], w["open_now"], w["late"]), where
                if w["rating"] is None:
                    assert f.rating is None, where
                else:
                    assert abs(f.rating - w["rating"]) < 1e-9, where
                assert f.median_first_answer == w["median"], where
                if w["exact_median"] is not None:
                    # The bucketed median lies within the buckets of the two middle values.
                    s = w["seconds"]
                    lower, upper = s[(len(s) - 1) // 2], s[len(s) // 2]
                    assert _bucket_bounds(lower)[0] <= f.median_first_answer \
                        <= _bucket_bounds(upper)[1], where
    return rolled


async def test_rollups_equal_direct_counts(db: str, default_pack: Pack) -> None:
    rng = random.Random(7)
    clock = [NOW]
    workflow = Workflow(default_pack, voice=Notices(default_pack), clock=lambda: clock[0])
    city = default_pack.city
    services = [s.service_code for s in default_pack.services if not s.is_referral][:8]
    units = [u.code for u in city.units]

    def somewhere() -> Location | None:
        if rng.random() < 0.15:
            return None  # no place: waits for an operator, no district
        district = rng.choice(city.districts)
        x0, y0, x1, y1 = district.geometry.bounds
        for _ in range(50):
            lat, lon = rng.uniform(y0, y1), rng.uniform(x0, x1)
            if city.district_at(lat, lon) is district:
                return Location(lat, lon)
        return None

    # Filings and later actions over 400 days, in time order, with the job run now and then.
    plan: list[tuple[datetime, int, str]] = []
    for i in range(140):
        filed = NOW - timedelta(seconds=rng.uniform(0, 400 * 86400))
        plan.append((filed, i, "file"))
        t = filed
        for step in rng.choice([["reply"], ["start", "resolve", "accept", "rate"],
                                ["start", "resolve"], ["reject"], [], ["start"],
                                ["resolve", "contest"], ["start", "resolve", "accept"]]):
            t += timedelta(hours=rng.choice([0.2, 1, 3, 7, 20, 30, 90, 150, 400]))
            plan.append((t, i, step))
    plan.sort()
    tickets: dict[int, Ticket] = {}
    checkpoints = [NOW - timedelta(days=d) for d in (300, 200, 120, 45, 10, 1)]
    citizen = await Citizen.create(channel="memory", user_id="roll")
    for when, i, step in plan:
        while checkpoints and checkpoints[0] <= when:
            await rollups.refresh(checkpoints.pop(0))
        if when >= NOW:
            continue
        clock[0] = when
        if step == "file":
            draft = store.NewTicket(rng.choice(services), "گزارش", rng.random() < 0.1,
                                    location=somewhere())
            filed = await workflow.file_report(citizen, "memory", f"c{i}", draft, now=when)
            if not filed.duplicate:
                tickets[i] = filed.ticket
                if filed.ticket.unit_code is None and rng.random() < 0.6:
                    await workflow.assign(filed.ticket, rng.choice(units), "staff:op",
                                          now=when)
            continue
        ticket = tickets.get(i)
        if ticket is None:
            continue
        await ticket.refresh_from_db()
        status = TicketStatus(ticket.status)
        try:
            if step == "reply":
                await workflow.reply_to_citizen(ticket, "staff:op", "در دست بررسی", now=when)
            elif step == "start" and status in (TicketStatus.NEW, TicketStatus.ASSIGNED):
                await workflow.change_status(ticket, TicketStatus.IN_PROGRESS, "staff:u",
                                             now=when)
            elif step == "resolve" and status in (TicketStatus.ASSIGNED,
                                                  TicketStatus.IN_PROGRESS):
                await workflow.change_status(ticket, TicketStatus.RESOLVED, "staff:u",
                                             now=when)
            elif step == "reject" and status == TicketStatus.NEW:
                await workflow.change_status(ticket, TicketStatus.REJECTED, "staff:op",
                                             "تکراری", now=when)
            elif step == "accept":
                await workflow.citizen_answer(ticket, "accept", "", now=when)
            elif step == "contest" and status == TicketStatus.RESOLVED:
                await workflow.contest(ticket, "انجام نشده", now=when)
            elif step == "rate":
                await workflow.citizen_answer(ticket, "rate", str(rng.randint(1, 5)), now=when)
        except Exception as exc:  # an illegal move in the random plan: the workflow refuses
            assert "cannot go" in str(exc), exc

    # Marked days not yet redone: read from tickets; the figures are right either way.
    assert await PanelRollupChange.all().count() > 0
    sample = [u.code for u in city.units[:2]]
    await _compare(NOW, sample)

    await rollups.refresh(NOW)
    assert await PanelRollupChange.filter(day__lt=rollups.day_of(NOW)).count() == 0
    assert await PanelRollup.all().count() > 0
    assert await _compare(NOW, sample) > 0  # now mostly from roll-ups

    # Weeks later a ticket from months ago is rated and a late one is resolved: their days
    # are marked, and the dashboard stays right before and after the next pass.
    old = await Ticket.filter(status=TicketStatus.CLOSED, rating__isnull=True,
                              created_at__lt=NOW - timedelta(days=60)).first()
    late = await Ticket.filter(status__in=[TicketStatus.ASSIGNED, TicketStatus.IN_PROGRESS],
                               created_at__lt=NOW - timedelta(days=20)).first()
    if old is not None:
        await workflow.citizen_answer(old, "rate", "2", now=NOW - timedelta(minutes=5))
    if late is not None:
        await workflow.change_status(late, TicketStatus.RESOLVED, "staff:u",
                                     now=NOW - timedelta(minutes=3))
    assert old is not None or late is not None
    await _compare(NOW, sample)
    await rollups.refresh(NOW)
    assert await _compare(NOW, sample) > 0
    # A day later, with no change at all, tickets still open have become late.
    later = NOW + timedelta(days=1, hours=2)
    await rollups.refresh(later)
    await _compare(later, sample)


async def test_refresh_keeps_a_mark_made_meanwhile(db: str) -> None:
    """The job deletes only the marks it read: one written after its read stays."""
    now = NOW
    day = rollups.day_of(now) - 3
    await PanelRollupChange.create(day=day)
    result = await rollups.refresh(now)
    assert result.days >= 1
    assert await PanelRollupChange.all().count() == 0
    await PanelRollupChange.create(day=day)  # a change committed after that pass
    assert set(await PanelRollupChange.all().values_list("day", flat=True)) == {day}
    await rollups.refresh(now)
    assert await PanelRollupChange.all().count() == 0

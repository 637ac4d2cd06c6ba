"""A change of subject with its reason: the reason is required (bounded) and written in the
timeline, the ticket is routed again by the new subject as the pack's units say, and the
correction stays a labelled example for the classifier. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from peygir.bots.core import Core
from peygir.config.settings import Settings
from peygir.ticket_store.models import LabelledExample, Ticket, TicketEvent
from tests.panel_support import build_app, csrf_for, file, signed_in

REASON = "عکس نشان می‌دهد مخزن زباله است، نه چاله"


@pytest.fixture
def app(db: str, tmp_path: Path):
    return build_app(db, tmp_path / "media")


@pytest.fixture
def core(db: str, tmp_path: Path) -> Core:
    return Core.build(Settings(database_url=db, media_dir=tmp_path / "m", _env_file=None))


async def test_the_reason_is_required_written_and_the_ticket_rerouted(app) -> None:
    ticket = await file("asphalt", unit="north_works", district="r1")
    path = f"/panel/tickets/{ticket.tracking_code}/service"
    async with signed_in(app, "sara", "operator") as c:
        page = (await c.get(f"/panel/tickets/{ticket.tracking_code}")).text
        assert 'name="note" maxlength="2000" required' in page
        token = await csrf_for(c)
        for blank in ("", "   "):
            refused = await c.post(path, data={"service": "waste_bin", "note": blank,
                                               "csrf": token})
            assert refused.headers["location"].endswith("error=reason")
        shown = await c.get(refused.headers["location"])
        assert "دلیل لازم است" in shown.text
        too_long = await c.post(path, data={"service": "waste_bin", "note": "x" * 2001,
                                            "csrf": token})
        assert too_long.status_code in (413, 422)
        await ticket.refresh_from_db()
        assert (ticket.service_code, ticket.unit_code) == ("asphalt", "north_works")

        done = await c.post(path, data={"service": "waste_bin", "note": REASON,
                                        "csrf": token})
        assert done.headers["location"].endswith("done=service")
        page = (await c.get(f"/panel/tickets/{ticket.tracking_code}")).text
        assert 'id="ticket-unit">خدمات شهری منطقه ۱<' in page
    await ticket.refresh_from_db()
    assert (ticket.service_code, ticket.unit_code, ticket.status) == (
        "waste_bin", "r1_services", "assigned")
    notes = [e.note for e in await TicketEvent.filter(ticket=ticket).order_by("id")]
    assert any(REASON in n for n in notes)
    assert "ارجاع به خدمات شهری منطقه ۱" in notes[-1]
    label = await LabelledExample.get(ticket_id=ticket.id)
    assert (label.kind, label.key) == ("service", "waste_bin")


async def test_rerouting_follows_the_state(core: Core) -> None:
    wf = core.workflow
    # Never placed (no place, no unit): it stays in the centre's queue, as at filing.
    waiting = await file("asphalt", chat="a")
    await wf.change_service(waiting, "waste_bin", "staff:sara", note=REASON)
    await waiting.refresh_from_db()
    assert (waiting.status, waiting.unit_code) == ("new", None)

    # Work started in district r1: another unit takes it over in the same state.
    started = await file("asphalt", chat="b", unit="north_works", district="r1")
    await Ticket.filter(id=started.id).update(status="in_progress")
    await started.refresh_from_db()
    await wf.change_service(started, "traffic_light", "staff:sara", note="چراغ راهنما")
    await started.refresh_from_db()
    assert (started.status, started.unit_code) == ("in_progress", "traffic")

    # Placed by hand with no district: no unit serves the new subject city-wide, so it goes
    # back to the centre's queue for an operator to place.
    by_hand = await file("asphalt", chat="c", unit="north_works")
    await wf.change_service(by_hand, "waste_bin", "staff:sara", note=REASON)
    await by_hand.refresh_from_db()
    assert (by_hand.status, by_hand.unit_code) == ("new", None)

    # Sent back to the queue but placed in r2: routed again to r2's unit.
    queued = await file("asphalt", chat="d", district="r2")
    await wf.change_service(queued, "waste_bin", "staff:sara", note=REASON)
    await queued.refresh_from_db()
    assert (queued.status, queued.unit_code) == ("assigned", "r2_services")

    # The same unit serves the new subject: nothing moves but the subject.
    same = await file("asphalt", chat="e", unit="north_works", district="r1")
    before = await TicketEvent.filter(ticket=same).count()
    await wf.change_service(same, "sidewalk", "staff:sara", note="پیاده‌رو است")
    await same.refresh_from_db()
    assert (same.status, same.unit_code) == ("assigned", "north_works")
    assert await TicketEvent.filter(ticket=same).count() == before + 1

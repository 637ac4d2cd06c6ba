"""peygir as the front door (issue 19): reports forwarded to a back office on loopback that
the test controls, its updates brought back to the citizen, on SQLite and PostgreSQL.

A back office that answers 500, files a report and then hangs past the timeout, or is away
for a while: every report arrives, none is filed twice."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from peygir.bots.forwarder import Forwarder
from peygir.config.pack import DEFAULT_PACK_DIR, check_pack
from peygir.nlu.classifier import Classifier
from peygir.ticket_store import forwarding, webhooks
from peygir.ticket_store.models import (
    Citizen,
    ForwardedReport,
    ForwardState,
    Ticket,
    TicketEvent,
)
from tests.fakes.backoffice import FakeBackOffice
from tests.interop_support import Clock, front_door, pack_with_endpoints, report, spot


@pytest.fixture
async def office() -> AsyncIterator[FakeBackOffice]:
    fake = FakeBackOffice()
    await fake.start()
    yield fake
    await fake.stop()


def endpoint(fake: FakeBackOffice, **extra: object) -> dict[str, object]:
    return {"name": "city137", "base_url": fake.base_url, "api_key": fake.api_key,
            "jurisdiction_id": "example-city", "services": "all",
            "codes": {"asphalt": "PH-01"}, "timeout": 1.0, **extra}


async def test_report_goes_out_and_the_back_office_update_comes_back(
        db: str, tmp_path: Path, default_classifier: Classifier,
        office: FakeBackOffice) -> None:
    clock = Clock()
    pack = pack_with_endpoints(tmp_path / "pack", endpoint(office))
    chat = front_door(pack, default_classifier, clock)
    forwarder = Forwarder(chat.dialogue.workflow, pack.endpoints, clock=clock)  # type: ignore[arg-type]
    try:
        await report(chat, "ali", "asphalt", spot(1))
        ticket = await Ticket.get(chat_id="ali")
        row = await ForwardedReport.get(ticket_id=ticket.id)
        assert row.state == ForwardState.PENDING and row.remote_code == "PH-01"

        assert await forwarder.send_pass() == 1
        assert len(office.posts) == 1
        form = office.posts[0]
        assert form["service_code"] == "PH-01" and form["jurisdiction_id"] == "example-city"
        assert float(form["lat"]) == pytest.approx(spot(1)[0])
        assert form["description"] == ticket.description
        assert "phone" not in form and "first_name" not in form  # no consent given
        row = await ForwardedReport.get(id=row.id)
        assert row.state == ForwardState.SENT and row.remote_id in office.filed
        assert await forwarder.send_pass() == 0  # nothing is sent twice

        # Open, with nothing new: the citizen hears nothing.
        assert await forwarder.fetch_pass() == 1  # the first look records "open"
        assert await chat.flush("ali") == []
        # The back office adds a note: it reaches the citizen as a reply, once.
        office.note(row.remote_id, "crew scheduled for tomorrow")  # type: ignore[arg-type]
        assert await forwarder.fetch_pass() == 1
        replies = await chat.flush("ali")
        assert any("crew scheduled for tomorrow" in r.text for r in replies)
        assert await forwarder.fetch_pass() == 0 and await chat.flush("ali") == []
        # It resolves the request: the citizen is asked to accept it, then to rate it.
        office.close(row.remote_id, "filled and rolled")  # type: ignore[arg-type]
        assert await forwarder.fetch_pass() == 1
        ticket = await Ticket.get(id=ticket.id)
        assert ticket.status == "resolved"
        replies = await chat.flush("ali")
        assert any("filled and rolled" in r.text for r in replies)
        buttons = [b.data for r in replies for row_ in r.buttons for b in row_]
        assert f"accept:{ticket.tracking_code}" in buttons
        assert await forwarder.fetch_pass() == 0 and await chat.flush("ali") == []
        events = await TicketEvent.filter(ticket_id=ticket.id, actor="backoffice:city137")
        assert [e.to_status for e in events if e.to_status] == ["resolved"]  # from assigned
        survey = await chat.say("ali", callback=f"accept:{ticket.tracking_code}")
        rate = [b.data for r in survey for row_ in r.buttons for b in row_]
        assert f"rate:{ticket.tracking_code}:5" in rate
    finally:
        await forwarder.close()


async def test_phone_goes_only_with_consent(db: str, tmp_path: Path,
                                            default_classifier: Classifier,
                                            office: FakeBackOffice) -> None:
    clock = Clock()
    pack = pack_with_endpoints(tmp_path / "pack", endpoint(office))
    chat = front_door(pack, default_classifier, clock)
    forwarder = Forwarder(chat.dialogue.workflow, pack.endpoints, clock=clock)  # type: ignore[arg-type]
    try:
        for who, i in (("agreed", 1), ("silent", 2)):
            await report(chat, who, "asphalt", spot(i))
            await Citizen.filter(user_id=who).update(phone="+989121234567",
                                                     display_name="Maryam Rezaei")
        await Ticket.filter(chat_id="agreed").update(contact_consent=True)
        assert await forwarder.send_pass() == 2
        by_lat = sorted(office.posts, key=lambda f: float(f["lat"]))
        assert by_lat[0]["phone"] == "+989121234567" and by_lat[0]["first_name"] == "Maryam"
        assert "phone" not in by_lat[1] and "first_name" not in by_lat[1]
    finally:
        await forwarder.close()


async def test_500_timeouts_and_an_absence_lose_nothing_and_file_nothing_twice(
        db: str, tmp_path: Path, default_classifier: Classifier,
        office: FakeBackOffice) -> None:
    clock = Clock()
    pack = pack_with_endpoints(tmp_path / "pack", endpoint(office, timeout=0.5))
    chat = front_door(pack, default_classifier, clock)
    forwarder = Forwarder(chat.dialogue.workflow, pack.endpoints, clock=clock, parallel=2,
                          base_delay=1, max_delay=8)  # type: ignore[arg-type]
    try:
        for i in range(12):
            await report(chat, f"c{i}", "asphalt", spot(i))
        office.mode = "500"
        assert await forwarder.send_pass() == 0
        assert office.filed == {} and len(office.posts) >= 1
        office.mode, office.hang = "hang", 1.5  # filed, then no answer in time
        clock.advance(seconds=10)
        assert await forwarder.send_pass() == 0
        filed_while_hanging = len(office.filed)
        assert filed_while_hanging >= 1  # they arrived, though nobody heard so
        await office.go_away()
        for _ in range(5):
            clock.advance(seconds=10)
            assert await forwarder.send_pass() == 0
        pending = await ForwardedReport.filter(state=ForwardState.PENDING).count()
        assert pending == 12  # nothing lost, nothing given up
        office.mode = "ok"
        await office.come_back()
        sent = 0
        for _ in range(6):
            clock.advance(seconds=10)
            sent += await forwarder.send_pass()
        assert sent == 12
        rows = await ForwardedReport.all()
        assert {r.state for r in rows} == {ForwardState.SENT}
        assert len({r.remote_id for r in rows}) == 12
        assert len(office.filed) == 12  # filed once each ...
        assert len(office.posts) > 12  # ... though some were POSTed more than once
        assert {f.key for f in office.filed.values()} == {r.idempotency_key for r in rows}
    finally:
        await forwarder.close()


async def test_a_back_office_that_ignores_keys_gets_nothing_twice(
        db: str, tmp_path: Path, default_classifier: Classifier) -> None:
    office = FakeBackOffice(idempotent=False)
    await office.start()
    clock = Clock()
    pack = pack_with_endpoints(tmp_path / "pack", endpoint(office, idempotent=False,
                                                            timeout=0.5))
    chat = front_door(pack, default_classifier, clock)
    forwarder = Forwarder(chat.dialogue.workflow, pack.endpoints, clock=clock)  # type: ignore[arg-type]
    try:
        await report(chat, "a", "asphalt", spot(1))
        await report(chat, "b", "asphalt", spot(2))
        office.mode, office.hang = "hang", 1.5
        assert await forwarder.send_pass() == 0
        office.mode = "ok"
        for _ in range(3):
            clock.advance(minutes=5)
            await forwarder.send_pass()
        rows = await ForwardedReport.all().order_by("id")
        # What may have arrived waits for staff; nothing went out a second time.
        assert [r.state for r in rows] == [ForwardState.UNCERTAIN] * 2
        assert len(office.posts) == len(office.filed) == 2
        waiting = await forwarding.waiting()
        assert [w["state"] for w in waiting] == ["uncertain", "uncertain"]
        assert all("ReadTimeout" in (w["last_error"] or "") for w in waiting)
        # Staff looked in the back office and found only the first: they send the second.
        assert await forwarding.send_again(rows[1].id)
        assert await forwarder.send_pass() == 1
        assert len(office.posts) == len(office.filed) == 3
    finally:
        await forwarder.close()
        await office.stop()


async def test_a_send_cut_short_by_a_dying_process_is_resent_under_its_key(
        db: str, tmp_path: Path, default_classifier: Classifier,
        office: FakeBackOffice) -> None:
    clock = Clock()
    pack = pack_with_endpoints(tmp_path / "pack", endpoint(office))
    chat = front_door(pack, default_classifier, clock)
    await report(chat, "a", "asphalt", spot(1))
    # A process claims it, POSTs it, and dies before recording the answer.
    claimed = await forwarding.claim(clock(), 60, 10)
    assert len(claimed) == 1
    from peygir.bots.open311_client import Open311Client

    dying = Open311Client(pack.endpoints[0], office.api_key)
    await dying.post(claimed[0])
    await dying.close()
    assert await forwarding.claim(clock(), 60, 10) == []  # its lease still holds
    clock.advance(minutes=2)
    forwarder = Forwarder(chat.dialogue.workflow, pack.endpoints, clock=clock)  # type: ignore[arg-type]
    try:
        assert await forwarder.send_pass() == 1
    finally:
        await forwarder.close()
    assert len(office.posts) == 2 and len(office.filed) == 1
    row = await ForwardedReport.get()
    assert row.state == ForwardState.SENT and row.remote_id in office.filed


async def test_junk_from_the_back_office_changes_nothing(
        db: str, tmp_path: Path, default_classifier: Classifier,
        office: FakeBackOffice) -> None:
    clock = Clock()
    pack = pack_with_endpoints(tmp_path / "pack", endpoint(office))
    chat = front_door(pack, default_classifier, clock)
    forwarder = Forwarder(chat.dialogue.workflow, pack.endpoints, clock=clock)  # type: ignore[arg-type]
    try:
        await report(chat, "a", "asphalt", spot(1))
        office.mode = "junk"  # a 200 that is not Open311: it may have arrived
        assert await forwarder.send_pass() == 0
        row = await ForwardedReport.get()
        assert row.state == ForwardState.PENDING and "not JSON" in (row.last_error or "")
        office.mode = "ok"
        clock.advance(minutes=2)
        assert await forwarder.send_pass() == 1
        office.mode = "junk"
        assert await forwarder.fetch_pass() == 0
        ticket = await Ticket.get()
        assert ticket.status in ("new", "assigned")
    finally:
        await forwarder.close()


async def test_a_token_is_resolved_before_updates_are_read(
        db: str, tmp_path: Path, default_classifier: Classifier,
        office: FakeBackOffice) -> None:
    clock = Clock()
    pack = pack_with_endpoints(tmp_path / "pack", endpoint(office))
    chat = front_door(pack, default_classifier, clock)
    forwarder = Forwarder(chat.dialogue.workflow, pack.endpoints, clock=clock)  # type: ignore[arg-type]
    try:
        await report(chat, "a", "asphalt", spot(1))
        office.token_only = True
        assert await forwarder.send_pass() == 1
        row = await ForwardedReport.get()
        assert row.remote_id is None and row.remote_token
        remote_id = row.remote_token[1:]
        office.close(remote_id, "done via token")
        assert await forwarder.fetch_pass() == 1  # GET tokens/{id}, then GET requests
        assert (await ForwardedReport.get()).remote_id == remote_id
        assert (await Ticket.get()).status == "resolved"
    finally:
        await forwarder.close()


def test_pack_check_names_every_endpoint_problem(tmp_path: Path) -> None:
    folder = tmp_path / "pack"
    shutil.copytree(DEFAULT_PACK_DIR, folder)
    (folder / "endpoints.yaml").write_text("""endpoints:
  - name: one
    base_url: ftp://nowhere
    api_key: k
  - name: one_b
    base_url: https://a.example/v2
    api_key: k
    api_key_env: K
  - name: two
    base_url: https://b.example/open311
    api_key_env: B_KEY
    services: [asphalt, no_such_service, ext_gas]
    codes: {waste_bin: "T1", asphalt: "bad code"}
    colour: red
  - name: three
    base_url: https://c.example/open311
    api_key: k
    services: [asphalt]
""", encoding="utf-8")
    _, problems = check_pack(folder)
    text = "\n".join(str(p) for p in problems)
    assert "endpoints.yaml:2: one field 'base_url': Value error, must be an http(s) URL" in text
    assert "endpoints.yaml:5: one_b: Value error, give api_key or api_key_env" in text
    assert "endpoints.yaml:9: two field 'colour': unknown field" in text
    assert "two field 'codes': Value error, not a service code: 'bad code'" in text
    (folder / "endpoints.yaml").write_text("""endpoints:
  - name: two
    base_url: https://b.example/open311
    api_key_env: B_KEY
    services: [asphalt, no_such_service, ext_gas]
    codes: {waste_bin: "T1"}
  - name: three
    base_url: https://c.example/open311
    api_key: k
    services: [asphalt]
  - {name: four, base_url: "https://d.example", api_key: k}
  - {name: five, base_url: "https://e.example", api_key: k}
""", encoding="utf-8")
    _, problems = check_pack(folder)
    text = "\n".join(str(p) for p in problems)
    assert "two field 'services': unknown service code 'no_such_service'" in text
    assert "two field 'services': 'ext_gas' is a referral to an outside body" in text
    assert "two field 'codes': 'waste_bin' is not one of this endpoint's services" in text
    assert "three field 'services': 'asphalt' already goes to 'two'" in text
    assert "five field 'services': only one endpoint may take all services" in text
    # A valid file: a named list wins over "all".
    (folder / "endpoints.yaml").write_text("""endpoints:
  - {name: rest, base_url: "https://d.example/v2", api_key: k}
  - {name: roads, base_url: "https://r.example/v2", api_key_env: ROADS_KEY,
     services: [asphalt], codes: {asphalt: PH-01}}
""", encoding="utf-8")
    pack, problems = check_pack(folder)
    assert problems == [] and pack is not None
    assert pack.endpoint_by_service["asphalt"].name == "roads"
    assert pack.endpoint_by_service["waste_bin"].name == "rest"
    assert not any(code.startswith("ext_") for code in pack.endpoint_by_service)


async def test_the_panel_shows_what_waits_and_sends_a_set_aside_report_again(
        db: str, tmp_path: Path, default_classifier: Classifier,
        office: FakeBackOffice) -> None:
    from tests.panel_support import build_app, csrf_for, signed_in

    clock = Clock()
    pack = pack_with_endpoints(tmp_path / "pack", endpoint(office))
    chat = front_door(pack, default_classifier, clock)
    await report(chat, "a", "asphalt", spot(1))
    await report(chat, "b", "asphalt", spot(2))
    rows = await ForwardedReport.all().order_by("id")
    await forwarding.set_aside(rows[1].id, ForwardState.UNCERTAIN, "ReadTimeout")
    await webhooks.subscribe("http://127.0.0.1:9/hook", ["filed"])
    app = build_app(db, tmp_path / "media")
    codes = [t.tracking_code for t in await Ticket.all().order_by("id")]
    async with signed_in(app, "op", "operator") as c:
        page = (await c.get("/panel/interop")).text
        assert f'data-code="{codes[0]}"' in page and f'data-code="{codes[1]}"' in page
        assert "ReadTimeout" in page and 'id="webhooks"' not in page  # admins only
        csrf = await csrf_for(c, "/panel/interop")
        assert (await c.post(f"/panel/interop/{rows[1].id}/resend", data={"csrf": csrf})
                ).status_code == 303
        assert (await ForwardedReport.get(id=rows[1].id)).state == ForwardState.PENDING
        assert (await c.post(f"/panel/interop/{rows[1].id}/resend", data={})
                ).status_code == 403  # no CSRF token
    async with signed_in(app, "crew", "unit", unit="north_works") as c:
        assert (await c.get("/panel/interop")).status_code == 403
    async with signed_in(app, "root", "admin") as c:
        page = (await c.get("/panel/interop")).text
        assert 'id="webhooks"' in page and "http://127.0.0.1:9/hook" in page


"""Volunteers and trusted reporters, marked from the citizen's page in the panel (reached from
the ticket page) by the 137 centre, managers and admins, never by a unit; and the CLI, which
refuses a channel user id nobody has written from. SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from peygir.bots.core import Core
from peygir.config.settings import Settings
from peygir.messages.types import Location
from peygir.ticket_store import store
from peygir.ticket_store.models import Citizen, Standing, Ticket
from tests.conftest import ROOT
from tests.panel_support import PHONE, build_app, csrf_for, file, signed_in


@pytest.fixture
def app(db: str, tmp_path: Path):
    return build_app(db, tmp_path / "media")


async def test_operator_marks_a_volunteer_whose_next_report_comes_first(app, db: str,
                                                                        tmp_path: Path) -> None:
    ticket = await file("asphalt", chat="volunteer-1")
    citizen = await Citizen.get(id=ticket.citizen_id)  # type: ignore[attr-defined]
    async with signed_in(app, "sara", "operator") as c:
        page = (await c.get(f"/panel/tickets/{ticket.tracking_code}")).text
        link = f'href="/panel/citizens/{citizen.id}" id="citizen-link"'
        assert link in page
        mine = await c.get(f"/panel/citizens/{citizen.id}")
        assert mine.status_code == 200
        assert 'id="standing-now">عادی<' in mine.text
        assert ticket.tracking_code in mine.text and PHONE in mine.text  # the centre's view
        marked = await c.post(f"/panel/citizens/{citizen.id}/standing",
                              data={"standing": "volunteer", "csrf": await csrf_for(c)})
        assert marked.status_code == 303
        assert marked.headers["location"] == f"/panel/citizens/{citizen.id}?done=standing"
        shown = (await c.get(marked.headers["location"])).text
        assert 'id="standing-now">همیار شهرداری<' in shown and 'class="flash ok"' in shown
    await citizen.refresh_from_db()
    assert citizen.standing == Standing.VOLUNTEER

    # Their next report is served before ordinary ones (urgent work still comes first).
    core = Core.build(Settings(database_url=db, media_dir=tmp_path / "m", _env_file=None))
    draft = store.NewTicket("asphalt", "چالهٔ دیگری در خیابان", False,
                            location=Location(35.7, 51.4))
    filed = await core.workflow.file_report(citizen, "memory", "volunteer-1", draft)
    assert filed.ticket.priority == 1


@pytest.mark.parametrize("role", ["manager", "admin"])
async def test_managers_and_admins_may_mark_too(app, role: str) -> None:
    ticket = await file("asphalt", chat="c-" + role)
    citizen_id = ticket.citizen_id  # type: ignore[attr-defined]
    async with signed_in(app, f"u_{role}", role) as c:
        page = (await c.get(f"/panel/citizens/{citizen_id}")).text
        # A manager sees the standing and the tickets, not the phone the centre was given.
        assert (PHONE in page) == (role == "admin")
        marked = await c.post(f"/panel/citizens/{citizen_id}/standing",
                              data={"standing": "trusted", "csrf": await csrf_for(c)})
        assert marked.status_code == 303
        back = await c.post(f"/panel/citizens/{citizen_id}/standing",
                            data={"standing": "none", "csrf": await csrf_for(c)})
        assert back.status_code == 303
    assert (await Citizen.get(id=citizen_id)).standing == Standing.NONE


async def test_a_unit_cannot_and_bad_input_is_refused(app) -> None:
    ticket = await file("asphalt", unit="north_works")
    citizen_id = ticket.citizen_id  # type: ignore[attr-defined]
    async with signed_in(app, "crew", "unit", unit="north_works") as c:
        page = (await c.get(f"/panel/tickets/{ticket.tracking_code}")).text
        assert "/panel/citizens/" not in page
        assert (await c.get(f"/panel/citizens/{citizen_id}")).status_code == 403
        refused = await c.post(f"/panel/citizens/{citizen_id}/standing",
                               data={"standing": "volunteer", "csrf": await csrf_for(c)})
        assert refused.status_code == 403
    async with signed_in(app, "sara", "operator") as c:
        token = await csrf_for(c)
        for value in ("hero", "", "VOLUNTEER"):
            bad = await c.post(f"/panel/citizens/{citizen_id}/standing",
                               data={"standing": value, "csrf": token})
            assert bad.status_code in (303, 422), value
            if bad.status_code == 303:
                assert bad.headers["location"].endswith("error=standing")
        assert (await c.post(f"/panel/citizens/{citizen_id}/standing",
                             data={"standing": "x" * 5000, "csrf": token})).status_code == 422
        assert (await c.post(f"/panel/citizens/{citizen_id}/standing",
                             data={"standing": "volunteer"})).status_code == 403  # no CSRF
        for missing in ("999999", "0", "99999999999999999999", "-1", "abc"):
            answer = await c.get(f"/panel/citizens/{missing}")
            assert answer.status_code in (404, 422), missing
        assert (await c.post("/panel/citizens/999999/standing", data={
            "standing": "volunteer", "csrf": token})).status_code == 404
    assert (await Citizen.get(id=citizen_id)).standing == Standing.NONE
    assert await Ticket.filter(priority=1).count() == 0


def _cli(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PEYGIR_DATABASE_URL": db}
    return subprocess.run([sys.executable, "-m", "peygir", "citizens", "standing", *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)


async def test_cli_refuses_a_user_nobody_has_written_from(db: str) -> None:
    known = await Citizen.create(channel="telegram", user_id="4242")
    refused = _cli(db, "telegram", "9999", "volunteer")
    assert refused.returncode != 0
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "9999" in lines[0] and "Traceback" not in refused.stderr
    assert not await Citizen.filter(user_id="9999").exists()
    # The same id on another channel is someone else.
    assert _cli(db, "bale", "4242", "trusted").returncode != 0

    done = _cli(db, "telegram", "4242", "trusted")
    assert done.returncode == 0, done.stderr
    await known.refresh_from_db()
    assert known.standing == Standing.TRUSTED
    assert _cli(db, "telegram", "4242", "none").returncode == 0
    await known.refresh_from_db()
    assert known.standing == Standing.NONE

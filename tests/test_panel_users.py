"""Staff accounts in the panel: only the administrator manages them, with ticket_store.staff's
rules, and a new password or a disabled account ends that person's sessions."""

from __future__ import annotations

from pathlib import Path

import pytest

from peygir.ticket_store import staff as staff_store
from peygir.ticket_store.models import StaffSession, StaffUser
from tests.panel_support import PASSWORD, build_app, client, csrf_for, sign_in, signed_in


@pytest.fixture
def app(db: str, tmp_path: Path):
    return build_app(db, tmp_path / "media")


async def test_the_admin_adds_a_unit_user_who_can_then_sign_in(app) -> None:
    unit_code = next(iter(app.state.core.pack.city.units)).code
    async with signed_in(app, "root", "admin") as admin:
        page = await admin.get("/panel/users")
        assert page.status_code == 200 and 'href="/panel/users"' in page.text
        added = await admin.post("/panel/users", data={
            "csrf": await csrf_for(admin, "/panel/users"), "username": "Crew.North",
            "full_name": "اکیپ شمال", "role": "unit", "unit": unit_code,
            "password": "a long enough one"})
        assert added.status_code == 303 and "done=added" in added.headers["location"]
        listed = await admin.get("/panel/users")
        assert 'data-user="crew.north"' in listed.text and "اکیپ شمال" in listed.text
        root_row = listed.text.split('data-user="root"')[1].split("</tr>")[0]
        assert "۱۴۰" in root_row  # when root last signed in, as a Jalali date
    user = await StaffUser.get(username="crew.north")
    assert (user.role, user.unit_code, user.active) == ("unit", unit_code, True)
    async with client(app) as crew:
        assert (await sign_in(crew, "crew.north", "a long enough one")).status_code == 303
        assert (await crew.get("/panel/queue")).status_code == 200
        # Not the administrator: no link, and the page and its actions are refused.
        assert 'href="/panel/users"' not in (await crew.get("/panel/queue")).text
        assert (await crew.get("/panel/users")).status_code == 403
        refused = await crew.post("/panel/users", data={
            "csrf": await csrf_for(crew), "username": "sneaky", "role": "admin",
            "password": "a long enough one"})
        assert refused.status_code == 403
    assert not await StaffUser.exists(username="sneaky")


@pytest.mark.parametrize(("form", "error"), [
    ({"username": "x", "role": "operator"}, "username"),
    ({"username": "short.pw", "role": "operator", "password": "tiny"}, "password"),
    ({"username": "no.unit", "role": "unit"}, "unit"),
    ({"username": "op.with.unit", "role": "operator", "unit": "r1_services"}, "unit"),
    ({"username": "bad.role", "role": "owner"}, "role"),
    ({"username": "root", "role": "operator"}, "exists"),
])
async def test_a_bad_new_account_is_refused_with_a_reason(app, form: dict[str, str],
                                                         error: str) -> None:
    async with signed_in(app, "root", "admin") as admin:
        before = await StaffUser.all().count()
        data = {"password": "a long enough one", **form,
                "csrf": await csrf_for(admin, "/panel/users")}
        refused = await admin.post("/panel/users", data=data)
        assert refused.status_code == 303 and f"error={error}" in refused.headers["location"]
        page = await admin.get(refused.headers["location"])
        assert 'class="flash error"' in page.text
        assert await StaffUser.all().count() == before


async def test_new_password_and_disabling_end_sessions(app) -> None:
    await staff_store.add_user("op", PASSWORD, "operator")
    async with client(app) as op:
        assert (await sign_in(op, "op")).status_code == 303
        async with signed_in(app, "root", "admin") as admin:
            token = await csrf_for(admin, "/panel/users")
            reset = await admin.post("/panel/users/op/password",
                                     data={"csrf": token, "password": "another long one"})
            assert "done=password" in reset.headers["location"]
            assert (await op.get("/panel/queue")).status_code == 303  # signed out
            assert (await sign_in(op, "op", "another long one")).status_code == 303
            off = await admin.post("/panel/users/op/active",
                                   data={"csrf": token, "active": "false"})
            assert "done=disabled" in off.headers["location"]
            assert (await op.get("/panel/queue")).status_code == 303
            assert (await sign_in(op, "op", "another long one")).status_code != 303
            assert not await StaffSession.filter(user__username="op").exists()
            on = await admin.post("/panel/users/op/active", data={"csrf": token, "active": "true"})
            assert "done=enabled" in on.headers["location"]
            # The administrator cannot lock themselves out; a POST without the token is refused.
            own = await admin.post("/panel/users/root/active",
                                   data={"csrf": token, "active": "false"})
            assert "error=self" in own.headers["location"]
            assert (await StaffUser.get(username="root")).active
            forged = await admin.post("/panel/users/op/active", data={"active": "false"})
            assert forged.status_code == 403
    assert (await StaffUser.get(username="op")).active

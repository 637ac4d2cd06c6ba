"""The staff panel over HTTP (httpx against the real app), on SQLite and PostgreSQL:
sign-in, sessions, CSRF, throttling, who sees which ticket, queues, dashboards, export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from peygir.ticket_store import staff as staff_store
from peygir.ticket_store.models import (
    Attachment,
    LoginAttempt,
    OutboxMessage,
    StaffSession,
    TicketEvent,
    TicketStatus,
)
from tests.panel_support import (
    CITIZEN_NAME,
    PASSWORD,
    PHONE,
    build_app,
    client,
    csrf_for,
    csrf_of,
    days_ago,
    file,
    jpeg,
    sign_in,
    signed_in,
)


@pytest.fixture
def app(db: str, tmp_path: Path):
    return build_app(db, tmp_path / "media")


async def test_sign_in_sets_a_guarded_cookie_and_sign_out_ends_the_session(app) -> None:
    await staff_store.add_user("op", PASSWORD, "operator")
    async with client(app) as c:
        first = await c.get("/panel/queue")
        assert first.status_code == 303
        assert first.headers["location"].startswith("/panel/login?next=")
        response = await sign_in(c, "op")
        assert response.status_code == 303
        cookie = response.headers["set-cookie"]
        assert "peygir_staff=" in cookie and "HttpOnly" in cookie
        assert "SameSite=strict" in cookie and "Path=/panel" in cookie
        assert "Secure" not in cookie  # plain HTTP on loopback
        page = await c.get("/panel/queue")
        assert page.status_code == 200 and 'dir="rtl"' in page.text
        token = csrf_of(page.text)
        assert (await c.post("/panel/logout", data={"csrf": token})).status_code == 303
        assert await StaffSession.all().count() == 0
        assert (await c.get("/panel/queue")).status_code == 303
    # Only a hash of the cookie's token is stored, and argon2id hashes the password.
    user = await staff_store.StaffUser.get(username="op")
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash


async def test_secure_cookie_behind_tls(app) -> None:
    await staff_store.add_user("op", PASSWORD, "operator")
    async with client(app, "https://panel.example") as c:
        response = await sign_in(c, "op")
        assert response.status_code == 303
        assert "Secure" in response.headers["set-cookie"]


async def test_wrong_password_and_throttling(app) -> None:
    await staff_store.add_user("op", PASSWORD, "operator")
    async with client(app) as c:
        for _ in range(staff_store.MAX_FAILURES_PER_PAIR):
            wrong = await sign_in(c, "op", "not the password")
            assert wrong.status_code == 401 and "نادرست" in wrong.text
        # Now even the right password is refused for a while, from this address.
        blocked = await sign_in(c, "op")
        assert blocked.status_code == 429 and "peygir_staff" not in blocked.headers.get(
            "set-cookie", "")
    # A refused attempt checks no password and leaves no row.
    assert await LoginAttempt.filter(ok=False).count() == staff_store.MAX_FAILURES_PER_PAIR
    # The window passes: the right password works again.
    later = datetime.now(UTC) + staff_store.THROTTLE_WINDOW + timedelta(seconds=1)
    assert (await staff_store.authenticate("op", PASSWORD, "1.2.3.4", later)).user is not None


async def test_requests_without_the_csrf_token_are_refused(app) -> None:
    await staff_store.add_user("op", PASSWORD, "operator")
    ticket = await file()
    async with client(app) as c:
        # The sign-in form itself needs its token.
        bare = await c.post("/panel/login", data={"username": "op", "password": PASSWORD})
        assert bare.status_code == 403 and "peygir_staff" not in bare.headers.get(
            "set-cookie", "")
        assert (await sign_in(c, "op")).status_code == 303
        code = ticket.tracking_code
        for path, data in [
            ("/panel/logout", {}),
            (f"/panel/tickets/{code}/status", {"to_status": "in_progress", "note": "x"}),
            (f"/panel/tickets/{code}/assign", {"unit": "x"}),
            (f"/panel/tickets/{code}/reply", {"text": "سلام"}),
            (f"/panel/tickets/{code}/contact", {}),
        ]:
            refused = await c.post(path, data=data)
            assert refused.status_code == 403, (path, refused.status_code)
            forged = await c.post(path, data=data | {"csrf": "forged"})
            assert forged.status_code == 403, path
            header = await c.post(path, data=data, headers={"X-CSRF-Token": "forged"})
            assert header.status_code == 403, path
        # Still signed in, nothing changed.
        assert (await c.get("/panel/queue")).status_code == 200
    await ticket.refresh_from_db()
    assert ticket.status == TicketStatus.NEW


async def test_pages_carry_strict_security_headers(app) -> None:
    async with signed_in(app, "op", "operator") as c:
        page = await c.get("/panel/queue")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
        # Nothing on the page is loaded from another origin.
        assert "https://" not in page.text and "http://" not in page.text.replace(
            "http://www.w3.org", "")


async def test_queue_sorted_late_marked_filtered_and_paginated(app) -> None:
    late = await file("asphalt", now=days_ago(10))
    urgent = await file("waste_bin", urgent=True, now=days_ago(0.01))
    fresh = await file("waste_bin", now=days_ago(1))
    async with signed_in(app, "op", "operator") as c:
        page = (await c.get("/panel/queue")).text
        codes = [code for code in (urgent.tracking_code, late.tracking_code,
                                   fresh.tracking_code)]
        positions = [page.index(f'data-code="{code}"') for code in codes]
        assert positions == sorted(positions), "urgent first, then by deadline"
        row = page[positions[1]:positions[2]]
        assert "دیرکرد" in row and "late" in row
        assert "مانده" in page[positions[2]:]
        # Persian digits for codes and dates.
        assert late.tracking_code not in page.replace(f'data-code="{late.tracking_code}"', "")\
            .replace(f"/panel/tickets/{late.tracking_code}", "")
        only_asphalt = (await c.get("/panel/queue", params={"service": "asphalt"})).text
        assert late.tracking_code in only_asphalt and fresh.tracking_code not in only_asphalt
        only_late = (await c.get("/panel/queue", params={"state": "late"})).text
        assert late.tracking_code in only_late and fresh.tracking_code not in only_late
        # htmx asks for the table alone.
        part = await c.get("/panel/queue", headers={"HX-Request": "true", "HX-Target": "queue"})
        assert part.text.lstrip().startswith('<section id="queue">')


async def test_queue_paginates(app) -> None:
    for i in range(55):
        await file(chat=f"c{i}", phone=None)
    async with signed_in(app, "op", "operator") as c:
        first = (await c.get("/panel/queue")).text
        second = (await c.get("/panel/queue", params={"page": 2})).text
        assert first.count('data-code="') == 50 and second.count('data-code="') == 5
        assert "صفحهٔ ۲ از ۲" in second


async def test_ticket_page_operator_sees_contact_and_timeline(app) -> None:
    ticket = await file(location=(35.7, 51.4))
    async with signed_in(app, "op", "operator") as c:
        page = await c.get(f"/panel/tickets/{ticket.tracking_code}")
        assert page.status_code == 200
        assert PHONE in page.text and CITIZEN_NAME in page.text
        assert "سطل زباله سر کوچه پر شده است" in page.text
        assert "<svg" in page.text and 'class="pin"' in page.text
        assert "citizen" in page.text  # the filing event on the timeline
        missing = await c.get("/panel/tickets/99999999")
        assert missing.status_code == 404 and "خطای ۴۰۴" in missing.text
        assert (await c.get("/panel/tickets/../../etc")).status_code == 404


async def test_unit_user_sees_no_other_units_ticket_and_no_phone(app) -> None:
    ticket = await file(unit="r2_services")
    await file(unit="r1_services", chat="mine")  # its own: listed, without the phone
    async with signed_in(app, "crew", "unit", unit="r1_services") as c:
        for path in ("/panel/queue", "/panel/dashboard", "/panel/queue?state=all"):
            page = await c.get(path)
            assert page.status_code == 200
            assert PHONE not in page.text and CITIZEN_NAME not in page.text
            assert ticket.tracking_code not in page.text
        # Not its ticket: 404 by URL, as if it did not exist; its media likewise.
        assert (await c.get(f"/panel/tickets/{ticket.tracking_code}")).status_code == 404
        assert (await c.get("/panel/export")).status_code == 403


async def test_dashboard_figures(app) -> None:
    await file("asphalt", now=days_ago(10))  # late
    await file("asphalt", now=days_ago(2))
    done = await file("waste_bin", now=days_ago(0.5))
    done.status = TicketStatus.RESOLVED
    await done.save()
    async with signed_in(app, "boss", "manager") as c:
        page = await c.get("/panel/dashboard")
        assert page.status_code == 200
        html = page.text
        assert 'id="kpi-opened">۳<' in html
        assert 'id="kpi-resolved">۱<' in html
        assert 'id="kpi-late">۱<' in html
        assert html.count("<svg") >= 2  # weekly trend and the last day's hotspots
        assert "کانون" in html
        week = await c.get("/panel/dashboard", params={"days": 7})
        assert 'id="kpi-opened">۲<' in week.text


async def test_dashboard_for_a_range_of_jalali_dates(app) -> None:
    from peygir.messages.digits import persian_digits
    from peygir.messages.persian import local_jalali

    tz = app.state.core.settings.timezone
    old = await file("asphalt", now=days_ago(10))
    await file("asphalt", now=days_ago(2))
    await file("waste_bin", now=days_ago(0.5))
    day = local_jalali(old.created_at, tz)
    typed = persian_digits(f"{day.year}/{day.month}/{day.day}")  # as a person types it
    async with signed_in(app, "boss", "manager") as c:
        one_day = (await c.get("/panel/dashboard", params={"start": typed, "end": typed})).text
        assert 'id="kpi-opened">۱<' in one_day and 'class="flash error"' not in one_day
        shown = persian_digits(f"{day.year}/{day.month:02d}/{day.day:02d}")
        assert f"ثبت‌شده‌ها از {shown} تا {shown}<" in one_day
        since = (await c.get("/panel/dashboard", params={
            "start": f"{day.year}-{day.month:02d}-{day.day:02d}",
            "end": f"{day.year + 1}/01/01"})).text  # to a day still to come: cut at now
        assert 'id="kpi-opened">۳<' in since
        for start, end in (("1405/13/01", "1405/13/02"), (typed, "1300/01/01"), ("دیروز", "")):
            refused = (await c.get("/panel/dashboard", params={"start": start, "end": end})).text
            assert 'class="flash error"' in refused
            assert 'id="kpi-opened">۳<' in refused  # the last 30 days instead


async def test_budget_export_csv_and_xlsx(app) -> None:
    from openpyxl import load_workbook

    await file("asphalt", now=days_ago(3))
    await file("asphalt", now=days_ago(2))
    closed = await file("waste_bin", now=days_ago(2))
    closed.status = TicketStatus.CLOSED
    await closed.save()
    async with signed_in(app, "boss", "manager") as c:
        page = await c.get("/panel/export")
        assert page.status_code == 200
        response = await c.get("/panel/export/unresolved.csv")
        assert response.status_code == 200 and "attachment" in response.headers[
            "content-disposition"]
        text = response.content.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0][0] == "گروه خدمت"
        assert len(rows) == 2 and rows[1][2] == "asphalt" and rows[1][4] == "2"
        assert rows[1][6].startswith("۱۴")  # a Jalali date in Persian digits
        book = (await c.get("/panel/export/unresolved.xlsx")).content
        workbook = load_workbook(io.BytesIO(book))
        summary, detail = workbook.worksheets
        assert summary.sheet_view.rightToLeft
        assert summary.cell(2, 5).value == 2
        assert detail.max_row == 3  # header and the two open asphalt tickets
        assert all(PHONE not in str(cell.value) for row in detail.iter_rows() for cell in row)


# -- actions, through the ticket workflow ----------------------------------------------------
async def _post(c, path: str, data: dict[str, str], files=None):
    token = await csrf_for(c)
    return await c.post(path, data=data | {"csrf": token}, files=files)


async def test_operator_assigns_and_the_timeline_names_them(app) -> None:
    ticket = await file()
    async with signed_in(app, "op", "operator") as c:
        page = await c.get(f"/panel/tickets/{ticket.tracking_code}")
        assert 'id="assign-form"' in page.text
        response = await _post(c, f"/panel/tickets/{ticket.tracking_code}/assign",
                               {"unit": "r1_services", "note": "فوری بررسی شود"})
        assert response.status_code == 303 and "done=assigned" in response.headers["location"]
        bad = await _post(c, f"/panel/tickets/{ticket.tracking_code}/assign",
                          {"unit": "no_such_unit"})
        assert "error=unit" in bad.headers["location"]
    await ticket.refresh_from_db()
    assert ticket.status == TicketStatus.ASSIGNED and ticket.unit_code == "r1_services"
    events = await TicketEvent.filter(ticket=ticket, actor="staff:op")
    assert len(events) == 1 and "فوری بررسی شود" in events[0].note


async def test_unit_works_its_ticket_evidence_reaches_the_citizen(app, tmp_path: Path) -> None:
    ticket = await file(unit="r1_services")
    async with signed_in(app, "crew", "unit", unit="r1_services") as c:
        page = await c.get(f"/panel/tickets/{ticket.tracking_code}")
        assert page.status_code == 200
        # No consent yet: neither the phone nor the name.
        assert PHONE not in page.text and CITIZEN_NAME not in page.text
        code = ticket.tracking_code
        start = await _post(c, f"/panel/tickets/{code}/status", {"to_status": "in_progress"})
        assert "done=status" in start.headers["location"]
        # A unit may not close a ticket (that is the citizen's word).
        refused = await _post(c, f"/panel/tickets/{code}/status", {"to_status": "closed"})
        assert "error=illegal" in refused.headers["location"]
        not_a_photo = await _post(c, f"/panel/tickets/{code}/evidence", {},
                                  files={"photo": ("x.jpg", b"not a photo", "image/jpeg")})
        assert "error=file" in not_a_photo.headers["location"]
        upload = await _post(c, f"/panel/tickets/{code}/evidence", {},
                             files={"photo": ("done.jpg", jpeg(), "image/jpeg")})
        assert "done=evidence" in upload.headers["location"]
        evidence = await Attachment.get(ticket=ticket, evidence=True)
        shown = await c.get(f"/panel/media/{evidence.id}")
        assert shown.status_code == 200 and shown.content[:2] == b"\xff\xd8"
        done = await _post(c, f"/panel/tickets/{code}/status",
                           {"to_status": "resolved", "note": "آسفالت ترمیم شد"})
        assert "done=status" in done.headers["location"]
        await _post(c, f"/panel/tickets/{code}/reply", {"text": "کار انجام شد، ممنون"})
    await ticket.refresh_from_db()
    assert ticket.status == TicketStatus.RESOLVED
    actors = {e.actor for e in await TicketEvent.filter(ticket=ticket)}
    assert "staff:crew" in actors
    sent = [m.payload for m in await OutboxMessage.filter(chat_id=ticket.chat_id)]
    assert any(evidence.path in p.get("photos", []) for p in sent), sent
    assert any("کار انجام شد" in p["text"] for p in sent)


async def test_contact_visible_to_the_unit_only_after_consent(app) -> None:
    ticket = await file(unit="r1_services")
    other = await file(unit="r2_services", chat="c2")
    async with signed_in(app, "crew", "unit", unit="r1_services") as c:
        assert (await c.get(f"/panel/tickets/{other.tracking_code}")).status_code == 404
        # Nor the other unit's media, nor acting on its ticket.
        assert (await _post(c, f"/panel/tickets/{other.tracking_code}/status",
                            {"to_status": "in_progress"})).status_code == 404
        queue = (await c.get("/panel/queue")).text
        assert ticket.tracking_code in queue and other.tracking_code not in queue
        asked = await _post(c, f"/panel/tickets/{ticket.tracking_code}/contact", {})
        assert "done=contact" in asked.headers["location"]
        assert PHONE not in (await c.get(f"/panel/tickets/{ticket.tracking_code}")).text
        question = await OutboxMessage.filter(chat_id=ticket.chat_id).order_by("-id").first()
        assert any("consent:" in b["data"] for row in question.payload["buttons"] for b in row)
        await app.state.core.workflow.citizen_answer(ticket, "consent", "yes")
        page = (await c.get(f"/panel/tickets/{ticket.tracking_code}")).text
        assert PHONE in page


async def test_dashboard_lists_escalation_alerts(app) -> None:
    from peygir.ticket_store.models import EscalationAlert

    waiting = await file(unit="r1_services", now=days_ago(2))
    elsewhere = await file(unit="r2_services", chat="c2", now=days_ago(2))
    for ticket in (waiting, elsewhere):
        await EscalationAlert.create(ticket=ticket, level=1, recipient="manager",
                                     fired_at=days_ago(1))
    async with signed_in(app, "boss", "manager") as c:
        html = (await c.get("/panel/dashboard")).text
        assert 'id="escalations"' in html
        assert f"/panel/tickets/{waiting.tracking_code}" in html
        assert f"/panel/tickets/{elsewhere.tracking_code}" in html
    async with signed_in(app, "crew", "unit", unit="r1_services") as c:
        html = (await c.get("/panel/dashboard")).text
        assert f"/panel/tickets/{waiting.tracking_code}" in html
        assert f"/panel/tickets/{elsewhere.tracking_code}" not in html


async def test_ticket_page_shows_duplicates(app) -> None:
    from peygir.messages.types import Location
    from peygir.ticket_store import store
    from peygir.ticket_store.models import Citizen

    workflow = app.state.core.workflow
    first_citizen, _ = await Citizen.get_or_create(channel="memory", user_id="a")
    second_citizen, _ = await Citizen.get_or_create(channel="telegram", user_id="b")
    draft = store.NewTicket("asphalt", "چاله بزرگ", False, location=Location(34.82, 48.49))
    first = await workflow.file_report(first_citizen, "memory", "a", draft)
    again = store.NewTicket("asphalt", "همان چاله دوباره", False,
                            location=Location(34.8201, 48.4901))
    second = await workflow.file_report(second_citizen, "telegram", "b", again)
    # A ticket of its own, linked to the first: staff can go from either to the other.
    assert second.duplicate and second.ticket.duplicate_of_id == first.ticket.id
    first_code, second_code = first.ticket.tracking_code, second.ticket.tracking_code
    async with signed_in(app, "op", "operator") as c:
        html = (await c.get(f"/panel/tickets/{first_code}")).text
        assert 'id="duplicates"' in html and f"/panel/tickets/{second_code}" in html
        html = (await c.get(f"/panel/tickets/{second_code}")).text
        assert 'id="duplicates"' in html and f"/panel/tickets/{first_code}" in html
        assert "همان چاله دوباره" in html  # the second citizen's words, on their own ticket


def test_hotspot_labels_keep_out_of_the_bars() -> None:
    """A long hotspot label wraps (then is cut with «…») inside its column; the whole label
    is the row's tooltip."""
    import re

    from peygir.web.panel.charts import LABEL_CHAR_PX, hbars

    long = "آسفالت، چاله و دست‌انداز معابر — منطقه ۱ (شمال غرب)"
    longer = "تعمیر و نگهداری روشنایی معابر و پارک‌ها و فضای سبز شهری — منطقه ۳ (جنوب شرق)"
    svg = str(hbars([(long, 9), (longer, 4), ("سطل زباله", 1)], "کانون‌ها"))
    assert f"<title>{long}: ۹</title>" in svg
    bar_end = 640 - 220
    for line in re.findall(r"<tspan[^>]*>([^<]*)</tspan>", svg):
        assert len(line.replace("\u200c", "")) * LABEL_CHAR_PX <= 220 - 12, line
    assert "منطقه ۱ (شمال غرب)" in svg  # wrapped, not lost
    assert "…" in svg  # the longest one is cut
    for x, w in re.findall(r'<rect class="s1" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg):
        assert float(x) + float(w) <= bar_end

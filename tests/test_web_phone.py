"""Phone sharing on the web (issue 17): a browser has no «send my number» button, so the page's
form (or a number typed while the bot waits for one) gives it, with consent; the unit sees it
in the panel, and a withdrawn consent hides it again. Real app over ASGI, SQLite and
PostgreSQL; the form itself is driven in Chromium by tests/test_web_chat_media.py."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peygir.messages import texts
from peygir.messages.digits import persian_digits
from peygir.messages.phone import COMPACT_PATTERN, iranian_mobile, looks_like_a_number
from peygir.ticket_store.models import Citizen, Ticket
from tests.panel_support import build_app, client, csrf_for, signed_in

REPORT = "سطل زباله سر کوچه ما از دیروز پر مونده و بوی بدی میده"
NUMBER = "+989351234567"


@pytest.mark.parametrize("written", [
    "09351234567", "۰۹۳۵۱۲۳۴۵۶۷", "٠٩٣٥١٢٣٤٥٦٧", "+989351234567", "00989351234567",
    "989351234567", "9351234567", "0935 123 4567", "(0935) 123-45-67", "+۹۸ ۹۳۵ ۱۲۳ ۴۵۶۷",
])
def test_every_usual_way_of_writing_a_mobile_number(written: str) -> None:
    assert iranian_mobile(written) == NUMBER


@pytest.mark.parametrize("written", [
    "02188776655", "0935123456", "093512345678", "+1 935 123 4567", "0935123456a",
    "۱۲۳", "", "0" * 500, "+98 21 8877 6655",
])
def test_what_is_not_a_mobile_number(written: str) -> None:
    assert iranian_mobile(written) is None


@settings(max_examples=300, deadline=None)
@given(st.from_regex(COMPACT_PATTERN, fullmatch=True))
def test_whatever_the_api_documents_as_a_number_is_taken(written: str) -> None:
    """The OpenAPI pattern and the check agree: a schema-valid number is never refused."""
    number = iranian_mobile(written)
    assert number is not None and re.fullmatch(r"\+989[0-9]{9}", number)


def test_a_mistyped_number_still_looks_like_one_and_words_do_not() -> None:
    assert looks_like_a_number("0935123456")
    assert looks_like_a_number("۰۹۳۵-۱۲۳-۴۵۶")
    assert not looks_like_a_number("سطل زباله کوچه ۱۲ پر است")
    assert not looks_like_a_number("12")
    assert not looks_like_a_number("۱۲۳۴۵۶۷۸")  # eight digits: a tracking code


@pytest.fixture
def app(db: str, tmp_path: Path):
    return build_app(db, tmp_path / "media")


async def say(c: httpx.AsyncClient, n: int, **body: object) -> list[dict]:
    answer = await c.post("/api/chat/send", json={"client_id": f"m{n}", **body})
    assert answer.status_code == 200, answer.text
    return answer.json()["replies"]


def received(code: str) -> str:
    return persian_digits(texts.CONTACT_RECEIVED_FOR.format(code=code))


def data_of(replies: list[dict]) -> list[str]:
    return [b["data"] for r in replies for row in r["buttons"] for b in row]


async def filed_for_unit(c: httpx.AsyncClient) -> Ticket:
    """A report filed through the web chat's API, then placed with unit r1_services."""
    replies = await say(c, 1, text=REPORT)
    if svc := [d for d in data_of(replies) if d.startswith("svc:")]:
        replies = await say(c, 2, callback=svc[0])
    replies = await say(c, 3, callback="loc:skip")
    await say(c, 4, callback="confirm")
    ticket = await Ticket.get(channel="web")
    await Ticket.filter(id=ticket.id).update(unit_code="r1_services", status="assigned")
    return ticket


async def unit_sees(crew: httpx.AsyncClient, code: str) -> str:
    page = await crew.get(f"/panel/tickets/{code}")
    assert page.status_code == 200
    return page.text


async def ask_consent(app, crew: httpx.AsyncClient, citizen: httpx.AsyncClient,
                      ticket: Ticket) -> list[dict]:
    token = await csrf_for(crew)
    asked = await crew.post(f"/panel/tickets/{ticket.tracking_code}/contact",
                            data={"csrf": token})
    assert asked.status_code == 303, asked.text
    question = (await citizen.get("/api/chat/poll")).json()["replies"]
    assert f"consent:{ticket.tracking_code}:yes" in data_of(question), question
    return question


async def test_the_form_gives_the_unit_the_number_and_withdrawing_hides_it(app) -> None:
    async with client(app) as citizen, signed_in(app, "crew", "unit", unit="r1_services") as crew:
        ticket = await filed_for_unit(citizen)
        await ask_consent(app, crew, citizen, ticket)
        code = ticket.tracking_code
        yes = await say(citizen, 5, callback=f"consent:{code}:yes")
        # No number yet: the reply asks for one, and the page shows its form for it.
        assert yes[-1]["request_contact"] is True, yes
        assert NUMBER not in await unit_sees(crew, code)

        # Consent is not optional, nor is a number that is none: 422, nothing kept.
        for phone in ({"number": "09351234567", "consent": False},
                      {"number": "09351234567"},
                      {"number": "021 8877 6655", "consent": True},
                      {"number": "9" * 41, "consent": True},
                      {"number": "0935 123 4567", "consent": True}):  # the page compacts
            refused = await citizen.post("/api/chat/send",
                                         json={"client_id": "bad", "phone": phone})
            assert refused.status_code == 422, refused.text
        assert (await Citizen.get(channel="web")).phone is None

        given = await say(citizen, 6, phone={"number": "۰۹۳۵۱۲۳۴۵۶۷", "consent": True})
        assert given[-1]["text"] == received(code)
        assert (await Citizen.get(channel="web")).phone == NUMBER
        assert NUMBER in await unit_sees(crew, code)

        # The reply carries the way back: the unit no longer sees the number.
        assert data_of(given) == [f"consent:{code}:no"]
        withdrawn = await say(citizen, 7, callback=f"consent:{code}:no")
        assert withdrawn[-1]["text"] == texts.CONSENT_REFUSED
        assert NUMBER not in await unit_sees(crew, code)
        assert not (await Ticket.get(id=ticket.id)).contact_consent


async def test_a_number_typed_while_the_bot_waits_is_the_number_not_a_report(app) -> None:
    async with client(app) as citizen, signed_in(app, "crew", "unit", unit="r1_services") as crew:
        ticket = await filed_for_unit(citizen)
        await ask_consent(app, crew, citizen, ticket)
        await say(citizen, 5, callback=f"consent:{ticket.tracking_code}:yes")

        mistyped = await say(citizen, 6, text="0935 123 456")
        assert mistyped[-1]["text"] == texts.PHONE_INVALID
        typed = await say(citizen, 7, text="00989351234567")
        assert typed[-1]["text"] == received(ticket.tracking_code)
        assert await Ticket.filter(channel="web").count() == 1  # no new report was begun
        assert NUMBER in await unit_sees(crew, ticket.tracking_code)

        # Once given, digits are a message again (a tracking code, say), not a new number.
        again = await say(citizen, 8, text=f"پیگیری {ticket.tracking_code}")
        assert any(persian_digits(ticket.tracking_code) in r["text"] for r in again), again
        assert (await Citizen.get(channel="web")).phone == NUMBER


async def test_the_wait_ends_when_the_citizen_writes_something_else(app) -> None:
    async with client(app) as citizen, signed_in(app, "crew", "unit", unit="r1_services") as crew:
        ticket = await filed_for_unit(citizen)
        await ask_consent(app, crew, citizen, ticket)
        await say(citizen, 5, callback=f"consent:{ticket.tracking_code}:yes")
        moved_on = await say(citizen, 6, text="ساعت کاری شهرداری چنده؟")
        assert all(r["text"] != texts.PHONE_INVALID for r in moved_on), moved_on
        later = await say(citizen, 7, text="09351234567")
        # No longer waiting: the number is not taken silently as consent for the unit.
        assert all(r["text"] != received(ticket.tracking_code)
                   for r in later), later
        assert (await Citizen.get(channel="web")).phone is None

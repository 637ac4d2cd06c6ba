"""Typed addresses through the geocoder (conversation/geocode.py), against a Nominatim on loopback:
what is asked, what counts as found, and that a geocoder down, slow or garbled never loses
the report (it goes to the centre's queue with its address, as without a geocoder). The
dialogue parts run on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from peygir.channels.memory import MemoryChannel
from peygir.config.pack import Pack
from peygir.conversation.dialogue import Dialogue
from peygir.conversation.geocode import MAX_BODY, Geocoder
from peygir.messages.types import Reply
from peygir.ticket_store.models import Ticket
from tests.fakes.geo import FakeNominatim, Place

# The built-in pack's four districts cover 48.47–48.55 E, 34.76–34.84 N; r3 is the south-west.
IN_R3 = Place("خیابان بوعلی کوچه لاله", 34.7815, 48.4902, display_name="کوچه لاله، منطقه ۳")
IN_R2 = Place("میدان آزادی", 34.8231, 48.5377)
ELSEWHERE = Place("خیابان بوعلی کوچه لاله تهران", 35.7001, 51.4002)  # same words, another city
ABROAD = Place("خیابان بوعلی کوچه لاله", 34.7815, 48.4902, country_code="tr")
AGENT = "peygir-tests/1.0 (map tests)"


@pytest.fixture
def nominatim() -> Iterator[FakeNominatim]:
    fake = FakeNominatim(places=[IN_R3, IN_R2, ELSEWHERE])
    with fake.running():
        yield fake


def geocoder(fake: FakeNominatim, pack: Pack, **kw: float) -> Geocoder:
    return Geocoder(fake.url, pack.city, user_agent=AGENT,
                    timeout=kw.get("timeout", 2.0), interval=kw.get("interval", 0.0))


# -- the client on the wire ------------------------------------------------------------------
async def test_asks_as_nominatim_wants_and_finds_the_district(
        nominatim: FakeNominatim, default_pack: Pack) -> None:
    found = await geocoder(nominatim, default_pack).lookup("  خیابان بوعلی   کوچه لاله ")
    assert found is not None and found.district == "r3"
    assert (found.lat, found.lon) == (34.7815, 48.4902)
    [asked] = nominatim.searches()
    assert asked.query["q"] == "خیابان بوعلی کوچه لاله"  # spaces folded
    assert asked.query["format"] == "jsonv2" and asked.query["countrycodes"] == "ir"
    assert asked.query["bounded"] == "1"
    assert asked.query["viewbox"] == "48.47,34.84,48.55,34.76"  # the districts' box
    assert asked.headers["user-agent"] == AGENT


async def test_the_fake_refuses_stock_agents_as_nominatim_does(nominatim: FakeNominatim) -> None:
    async with httpx.AsyncClient() as client:  # httpx's own User-Agent
        answer = await client.get(nominatim.url + "/search",
                                  params={"q": "میدان آزادی", "format": "jsonv2"})
        assert answer.status_code == 403
        answer = await client.get(nominatim.url + "/search", headers={"User-Agent": AGENT},
                                  params={"q": "میدان آزادی", "format": "html"})
        assert answer.status_code == 400 and "format" in answer.json()["error"]["message"]
        answer = await client.get(nominatim.url + "/search", headers={"User-Agent": AGENT},
                                  params={"q": "میدان آزادی", "format": "jsonv2"})
        assert answer.json()[0]["lat"] == "34.8231000"  # strings, as Nominatim sends them


async def test_results_outside_the_districts_are_ignored(default_pack: Pack) -> None:
    # A geocoder that disregards `bounded` and ranks another city's street first.
    fake = FakeNominatim(places=[ELSEWHERE, IN_R3], ignore_bounds=True)
    with fake.running():
        found = await geocoder(fake, default_pack).lookup("خیابان بوعلی کوچه لاله")
        assert found is not None and found.district == "r3"
    only_away = FakeNominatim(places=[ELSEWHERE, ABROAD], ignore_bounds=True)
    with only_away.running():
        assert await geocoder(only_away, default_pack).lookup("خیابان بوعلی کوچه لاله") is None


@pytest.mark.parametrize("body", [
    b"<html>not json</html>",
    b'{"error": "x"}',
    b'[{"lat": "NaN", "lon": "48.5"}, {"lat": "abc", "lon": "1"}, {"lon": "48.5"}, 7]',
    b"[" * 100_000 + b"]" * 100_000,
    b"[" + b" " * (MAX_BODY + 10) + b"]",
])
async def test_a_garbled_or_oversized_answer_is_no_point(body: bytes, default_pack: Pack) -> None:
    fake = FakeNominatim(places=[IN_R3], body=body)
    with fake.running():
        assert await geocoder(fake, default_pack).lookup("خیابان بوعلی کوچه لاله") is None


async def test_down_or_slow_is_no_point_within_the_timeout(default_pack: Pack) -> None:
    broken = FakeNominatim(places=[IN_R3], status=503)
    with broken.running():
        assert await geocoder(broken, default_pack).lookup("خیابان بوعلی کوچه لاله") is None
    slow = FakeNominatim(places=[IN_R3], delay=3.0)
    with slow.running():
        started = time.monotonic()
        assert await geocoder(slow, default_pack, timeout=0.5).lookup("میدان آزادی") is None
        assert time.monotonic() - started < 1.5
    nobody = Geocoder("http://127.0.0.1:9", default_pack.city, user_agent=AGENT, timeout=1.0)
    assert await nobody.lookup("میدان آزادی") is None  # connection refused


async def test_answers_are_remembered_and_asks_spaced(
        nominatim: FakeNominatim, default_pack: Pack) -> None:
    coder = geocoder(nominatim, default_pack, interval=0.4)
    first = await coder.lookup("میدان آزادی")
    assert first is not None and first.district == "r2"
    assert await coder.lookup("میدان  آزادی") == first and len(nominatim.searches()) == 1
    started = time.monotonic()
    assert await coder.lookup("خیابان بوعلی کوچه لاله") is not None
    assert time.monotonic() - started >= 0.35  # Nominatim's one request a second, scaled
    assert await coder.lookup("   ") is None and len(nominatim.searches()) == 2


# -- the dialogue ----------------------------------------------------------------------------
REPORT = "کیسه‌های زباله از دیروز کنار جوی آب مانده و کسی جمعشان نکرده"


def buttons(reply: Reply) -> list[str]:
    return [b.data for row in reply.buttons for b in row]


async def to_location_stage(chat: MemoryChannel, who: str) -> None:
    replies = await chat.say(who, REPORT)
    if "svc:" in "".join(buttons(replies[-1])):
        replies = await chat.say(who, callback=buttons(replies[-1])[0])
    assert replies[-1].request_location


async def file_with_address(chat: MemoryChannel, who: str, address: str) -> tuple[Ticket, str]:
    await to_location_stage(chat, who)
    summary = await chat.say(who, address)
    assert "confirm" in buttons(summary[-1])
    await chat.say(who, callback="confirm")
    ticket = await Ticket.filter(chat_id=who).order_by("-id").first()
    assert ticket is not None
    return ticket, summary[-1].text


async def test_a_typed_address_is_routed_by_its_district(
        chat: MemoryChannel, dialogue: Dialogue, nominatim: FakeNominatim,
        default_pack: Pack) -> None:
    dialogue.geocoder = geocoder(nominatim, default_pack)
    ticket, summary = await file_with_address(chat, "sara", "خیابان بوعلی کوچه لاله")
    assert "روی نقشه پیدا شد" in summary and "منطقه ۳" in summary
    expected = default_pack.city.unit_for(ticket.service_code,
                                          default_pack.service_by_code[ticket.service_code].group,
                                          "r3")
    assert expected is not None and expected.districts == ("r3",)
    assert ticket.district == "r3" and ticket.unit_code == expected.code
    assert ticket.status == "assigned"
    assert (ticket.latitude, ticket.longitude) == (34.7815, 48.4902)
    assert ticket.address == "خیابان بوعلی کوچه لاله"  # the citizen's words stay too


@pytest.mark.parametrize("trouble", [{"status": 503}, {"delay": 3.0}])
async def test_no_geocoder_answer_sends_the_report_to_the_centre(
        chat: MemoryChannel, dialogue: Dialogue, default_pack: Pack,
        trouble: dict[str, float]) -> None:
    fake = FakeNominatim(places=[IN_R3], **trouble)  # type: ignore[arg-type]
    with fake.running():
        dialogue.geocoder = geocoder(fake, default_pack, timeout=0.5)
        ticket, summary = await file_with_address(chat, "reza", "خیابان بوعلی کوچه لاله")
    assert "روی نقشه" not in summary
    assert ticket.unit_code is None and ticket.district is None and ticket.status == "new"
    assert ticket.latitude is None and ticket.address == "خیابان بوعلی کوچه لاله"


async def test_an_address_outside_the_city_goes_to_the_centre(
        chat: MemoryChannel, dialogue: Dialogue, default_pack: Pack) -> None:
    fake = FakeNominatim(places=[ELSEWHERE], ignore_bounds=True)
    with fake.running():
        dialogue.geocoder = geocoder(fake, default_pack)
        ticket, _ = await file_with_address(chat, "nima", "خیابان بوعلی کوچه لاله تهران")
    assert len(fake.searches()) == 1
    assert ticket.unit_code is None and ticket.latitude is None and ticket.status == "new"


async def test_only_answers_to_where_are_sent_out(
        chat: MemoryChannel, dialogue: Dialogue, nominatim: FakeNominatim,
        default_pack: Pack) -> None:
    dialogue.geocoder = geocoder(nominatim, default_pack)
    await chat.say("leila", "سلام")
    await chat.say("leila", REPORT)  # a report, not an address: the bot has not asked where
    assert nominatim.searches() == []
    await chat.say("leila", "/start")
    await to_location_stage(chat, "leila")
    replies = await chat.say("leila", location=(34.8231, 48.5377))  # a point: nothing to ask
    assert "confirm" in buttons(replies[-1]) and nominatim.searches() == []

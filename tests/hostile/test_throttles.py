"""Throttles nobody can dodge or turn against someone else, on SQLite and PostgreSQL.

- Staff sign-in against `peygir serve` on loopback: a forged ``X-Forwarded-For`` from an
  untrusted peer changes nothing; behind a trusted proxy (the test connects from 127.0.0.2,
  named in PEYGIR_TRUSTED_PROXIES) the real client is keyed; an attacker failing on «sara»
  from one address does not stop sara signing in from hers.
- The account-wide slowdown, with a pinned clock.
- Tracking-code guesses through the dialogue: per chat, and per address across chats.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from peygir.bots.core import Core
from peygir.channels.memory import MemoryChannel
from peygir.config.settings import Settings
from peygir.conversation.limits import Buckets, CodeGuesses, address_key
from peygir.messages import texts
from peygir.nlu.normalize import ascii_digits
from peygir.ticket_store import staff as staff_store
from peygir.ticket_store import store
from peygir.ticket_store.db import close_db, open_db
from peygir.ticket_store.models import LoginAttempt
from peygir.web.app import create_app
from peygir.web.guards import ForwardedHeaders, parse_networks
from tests.panel_support import PASSWORD
from tests.support import serve_env, serving

PROXY = "127.0.0.2"  # a loopback address of its own: the one trusted proxy
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PG_ADMIN = os.environ.get("PEYGIR_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/test")


# -- staff sign-in through a real server ------------------------------------------------------
def in_own_loop(work: Coroutine[Any, Any, None]) -> None:
    with ThreadPoolExecutor(1) as pool:  # pytest-asyncio may be running a loop here
        pool.submit(asyncio.run, work).result()


async def admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[str]:
    """`peygir serve` with «sara» on a database of its own (the other tests reset theirs)."""
    tmp = tmp_path_factory.mktemp("throttles")
    name = f"peygir_throttles_{uuid.uuid4().hex[:8]}"
    if request.param == "sqlite":
        database_url = f"sqlite://{tmp}/t.db"
    else:
        in_own_loop(admin(f'CREATE DATABASE "{name}"'))
        database_url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"

    async def prepare() -> None:
        await open_db(database_url)
        try:
            await staff_store.add_user("sara", PASSWORD, "operator")
        finally:
            await close_db()

    in_own_loop(prepare())
    env = serve_env(PEYGIR_DATABASE_URL=database_url, PEYGIR_MEDIA_DIR=str(tmp / "media"),
                    PEYGIR_TRUSTED_PROXIES=f"{PROXY},192.0.2.250/32")
    try:
        with serving(env, tmp / "server.log") as base:
            yield base
    finally:
        if request.param == "postgres":
            in_own_loop(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def browser(via_proxy: bool) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=PROXY if via_proxy else "127.0.0.1")
    return httpx.Client(transport=transport, trust_env=False, timeout=30)


def sign_in(client: httpx.Client, base: str, username: str, password: str,
            forwarded_for: str | None = None) -> int:
    """One sign-in as the form sends it; the status code (303 in, 401 wrong, 429 slowed)."""
    page = client.get(f"{base}/panel/login")
    token = CSRF.search(page.text)
    assert token, page.text[:500]
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    response = client.post(f"{base}/panel/login", headers=headers, data={
        "username": username, "password": password, "csrf": token.group(1), "next": ""})
    return response.status_code


def test_forged_forwarded_for_from_an_untrusted_peer_is_not_believed(server: str) -> None:
    """40 failures, each claiming another address: the connecting address is what counts."""
    with browser(via_proxy=False) as client:
        statuses = [sign_in(client, server, f"guess{i}", "wrong password", f"203.0.113.{i}")
                    for i in range(40)]
    limit = staff_store.MAX_FAILURES_PER_IP
    assert statuses[:limit] == [401] * limit and statuses[limit:] == [429] * (40 - limit), \
        statuses


def test_behind_a_trusted_proxy_the_real_client_is_keyed(server: str) -> None:
    limit = staff_store.MAX_FAILURES_PER_IP
    with browser(via_proxy=True) as client:
        # The client writes what it likes on the left; the proxy appends what it saw.
        statuses = [sign_in(client, server, f"who{i}", "wrong password",
                            f"10.9.8.{i}, 198.51.100.7") for i in range(limit + 5)]
        assert statuses[:limit] == [401] * limit and statuses[limit:] == [429] * 5, statuses
        # Another citizen behind the same proxy, and the proxy itself, are not slowed.
        assert sign_in(client, server, "who", "wrong password", "198.51.100.8") == 401
        assert sign_in(client, server, "who", "wrong password") == 401
        # A hop through another trusted proxy is skipped to the client before it.
        assert sign_in(client, server, "who", "wrong password",
                       "198.51.100.7, 192.0.2.250") == 429


def test_an_attacker_cannot_lock_a_colleague_out(server: str) -> None:
    attacker, sara = "192.0.2.66", "192.0.2.77"  # behind the trusted proxy
    with browser(via_proxy=True) as client:
        statuses = [sign_in(client, server, "sara", "guess " + str(i), attacker)
                    for i in range(10)]
        pair = staff_store.MAX_FAILURES_PER_PAIR
        assert statuses == [401] * pair + [429] * (10 - pair), statuses
        assert sign_in(client, server, "sara", PASSWORD, attacker) == 429  # still slowed
    with browser(via_proxy=True) as client:
        assert sign_in(client, server, "sara", PASSWORD, sara) == 303


# -- the account-wide slowdown, on a pinned clock ----------------------------------------------
async def test_many_addresses_slow_the_account_but_not_its_known_address(db: str) -> None:
    await staff_store.add_user("sara", PASSWORD, "operator")
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    # Sara signed in from the office last week.
    await LoginAttempt.create(username="sara", ip="10.0.0.1", ok=True, at=start - timedelta(7))
    after = staff_store.ACCOUNT_SLOWDOWN_AFTER
    for i in range(after):  # a botnet: one guess from each address
        await LoginAttempt.create(username="sara", ip=f"203.0.113.{i}", ok=False, at=start)
    fresh = "198.51.100.1"
    assert await staff_store.throttled("sara", fresh, start)
    assert not await staff_store.throttled("sara", fresh, start + timedelta(seconds=1.5))
    # Each further failure doubles the wait...
    wrong = await staff_store.authenticate("sara", "guess", fresh, start + timedelta(seconds=2))
    assert wrong.user is None and not wrong.throttled
    assert await staff_store.throttled("sara", "198.51.100.2", start + timedelta(seconds=3.5))
    assert not await staff_store.throttled("sara", "198.51.100.2", start + timedelta(seconds=4.5))
    # ... up to the cap, however many there were.
    for i in range(40):
        await LoginAttempt.create(username="sara", ip=f"198.18.0.{i}", ok=False, at=start)
    cap = staff_store.MAX_ACCOUNT_DELAY
    assert await staff_store.throttled("sara", fresh, start + cap - timedelta(seconds=1))
    assert not await staff_store.throttled("sara", fresh, start + cap + timedelta(seconds=3))
    # Through all of it, sara gets in from the office.
    signed = await staff_store.authenticate("sara", PASSWORD, "10.0.0.1",
                                            start + timedelta(seconds=3))
    assert signed.user is not None and signed.user.username == "sara"


async def test_a_success_starts_the_pairs_count_afresh(db: str) -> None:
    await staff_store.add_user("sara", PASSWORD, "operator")
    now = datetime.now(UTC)
    for _ in range(staff_store.MAX_FAILURES_PER_PAIR - 1):
        await staff_store.authenticate("sara", "typo", "10.0.0.1", now)
    assert (await staff_store.authenticate("sara", PASSWORD, "10.0.0.1", now)).user
    later = now + timedelta(seconds=1)
    for _ in range(staff_store.MAX_FAILURES_PER_PAIR - 1):
        assert not (await staff_store.authenticate("sara", "typo", "10.0.0.1", later)).throttled


# -- tracking-code guesses ---------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def report(chat: MemoryChannel, who: str) -> str:
    replies = await chat.say(who, "سطل زباله سر کوچه‌مون پر شده و بو میده")
    replies = await chat.say(who, "خیابان بهار، کوچه ۴")
    replies = await chat.say(who, callback="confirm")
    found = re.search(r"[۰-۹]{8}", replies[-1].text)
    assert found, replies[-1].text
    return ascii_digits(found.group(0))


def wrong_codes(mine: str) -> Iterator[str]:
    return (code for code in map(str, range(20_000_000, 99_999_999, 7_777)) if code != mine)


async def test_wrong_codes_slow_the_chat(chat: MemoryChannel,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    chat.dialogue.guesses = CodeGuesses(per_chat=Buckets(10, 1 / 60, clock=clock))
    code = await report(chat, "mallory")
    lookups: list[str] = []
    real_lookup = store.ticket_for_chat

    async def counted(tracking_code: str, channel: str, chat_id: str) -> object:
        lookups.append(tracking_code)
        return await real_lookup(tracking_code, channel, chat_id)

    monkeypatch.setattr(store, "ticket_for_chat", counted)
    for _ in range(5):  # looking at one's own ticket costs little
        assert "ثبت شده" in (await chat.say("mallory", f"پیگیری {code}"))[-1].text
    guesses = wrong_codes(code)
    tried = 0
    while "پیدا نشد" in (await chat.say("mallory", f"پیگیری {next(guesses)}"))[-1].text:
        tried += 1
        assert tried <= 10
    assert tried == 9  # 10 tries, less the five tenths the own lookups took
    assert len(lookups) == 5 + 9  # the slowed guess was not looked up
    slowed = await chat.say("mallory", f"پیگیری {code}")  # even a right one, for now
    assert slowed[-1].text == texts.TOO_MANY_LOOKUPS and len(lookups) == 14
    # Another chat is not slowed by mallory's guesses; mallory gets one try a minute back.
    assert "پیدا نشد" in (await chat.say("alice", f"پیگیری {next(guesses)}"))[-1].text
    clock.now += 61
    assert "ثبت شده" in (await chat.say("mallory", f"پیگیری {code}"))[-1].text


async def test_chats_from_one_address_share_its_allowance(chat: MemoryChannel) -> None:
    clock = Clock()
    chat.dialogue.guesses = CodeGuesses(per_chat=Buckets(10, 1 / 60, clock=clock),
                                        per_address=Buckets(12, 1 / 5, clock=clock))
    guesses = wrong_codes("")

    async def guess(who: str, origin: str) -> str:
        message = replace(chat.message(who, f"پیگیری {next(guesses)}"), origin=origin)
        return (await chat.send(message))[-1].text

    for n in range(6):  # six fresh chats (cookies are free), two guesses each
        for _ in range(2):
            assert "پیدا نشد" in await guess(f"web{n}", "198.51.100.23")
    assert await guess("web-new", "198.51.100.23") == texts.TOO_MANY_LOOKUPS
    assert "پیدا نشد" in await guess("web-new", "198.51.100.24")  # another address
    # An IPv6 subscriber's whole /64 is one address.
    for n in range(12):
        assert "پیدا نشد" in await guess(f"v6-{n}", f"2001:db8:1:2::{n + 1:x}")
    assert await guess("v6-new", "2001:db8:1:2:ffff::9") == texts.TOO_MANY_LOOKUPS


async def test_the_web_route_keys_the_address_a_trusted_proxy_names(db: str, tmp_path: Path
                                                                    ) -> None:
    settings = Settings(database_url=db, media_dir=tmp_path / "media",
                        trusted_proxies="10.0.0.0/8", _env_file=None)
    core = Core.build(settings)
    clock = Clock()
    core.dialogue.guesses = CodeGuesses(per_address=Buckets(3, 1 / 5, clock=clock))
    transport = httpx.ASGITransport(app=create_app(core), client=("10.1.1.1", 40000))
    guesses = wrong_codes("")

    async def guess(client: httpx.AsyncClient, n: int, forwarded_for: str) -> str:
        response = await client.post("/api/chat/send", headers={
            "X-Forwarded-For": forwarded_for}, json={"client_id": f"g{n}",
                                                     "text": f"پیگیری {next(guesses)}"})
        assert response.status_code == 200, response.text
        return response.json()["replies"][-1]["text"]

    for n in range(3):  # a new chat (no cookie) each time, from one citizen's address
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert "پیدا نشد" in await guess(client, n, "203.0.113.40")
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert await guess(client, 9, "203.0.113.40") == texts.TOO_MANY_LOOKUPS
        assert "پیدا نشد" in await guess(client, 10, "203.0.113.41")


def test_the_limiter_forgets_the_oldest_keys_and_stays_small() -> None:
    clock = Clock()
    buckets = Buckets(2, 1 / 60, max_keys=100, clock=clock)
    for n in range(10_000):
        buckets.take(f"chat{n}")
    assert len(buckets._levels) == 100
    assert buckets.level("chat9999") == 1 and buckets.level("chat0") == 2  # forgotten: fresh
    assert address_key("2001:db8::1") == address_key("2001:db8::ffff") == "2001:db8::/64"
    assert address_key("198.51.100.7") == "198.51.100.7"


@pytest.mark.parametrize(("peer", "forwarded", "proto", "client", "scheme"), [
    ("127.0.0.1", "203.0.113.9", "https", "127.0.0.1", "http"),  # not a trusted proxy
    ("10.0.0.5", "203.0.113.9", "https", "203.0.113.9", "https"),
    ("10.0.0.5", "1.2.3.4, 203.0.113.9:5555, 10.0.0.7", "http,https", "203.0.113.9", "https"),
    ("10.0.0.5", "[2001:db8::1]:443", "gopher", "2001:db8::1", "http"),
    ("10.0.0.5", "10.0.0.9, 10.0.0.8", None, "10.0.0.9", "http"),  # all proxies: the first
    ("10.0.0.5", "unknown", None, "10.0.0.5", "http"),  # garbage: the proxy stays the client
    ("::ffff:10.0.0.5", "203.0.113.9", None, "203.0.113.9", "http"),
])
async def test_forwarded_headers_are_read_right_to_left(
        peer: str, forwarded: str, proto: str | None, client: str, scheme: str) -> None:
    seen: dict[str, object] = {}

    async def app(scope: dict[str, Any], receive: object, send: object) -> None:
        seen.update(client=scope["client"][0], scheme=scope["scheme"])

    headers = [(b"x-forwarded-for", forwarded.encode())]
    if proto:
        headers.append((b"x-forwarded-proto", proto.encode()))
    scope = {"type": "http", "client": (peer, 1234), "scheme": "http", "headers": headers}
    await ForwardedHeaders(app, "10.0.0.0/8")(scope, None, None)  # type: ignore[arg-type]
    assert seen == {"client": client, "scheme": scheme}


def test_a_mistyped_trusted_proxy_stops_the_start() -> None:
    assert [str(n) for n in parse_networks(" 127.0.0.1, 10.0.0.0/8 ,")] == [
        "127.0.0.1/32", "10.0.0.0/8"]
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        parse_networks("127.0.0.1, localhost")

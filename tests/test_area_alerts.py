"""Area alerts (issue 20), end to end on SQLite and PostgreSQL: a citizen subscribes to a
district or to a radius around a point, through the web chat's HTTP API and through the
Telegram Bot API; reports are filed in and outside the area and one is resolved; the
scheduler's tick at the digest hour queues one digest per subscription and day (a second
tick, or two schedulers at once, send nothing more); the digest holds counts and coarse
lines, never a citizen's words, address or number; one tap unsubscribes for good."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from peygir.bots.scheduler import Scheduler
from peygir.channels.telegram.runner import Messengers
from peygir.conversation import alerts as words
from peygir.conversation.dialogue import Dialogue
from peygir.messages.digits import persian_digits
from peygir.nlu.normalize import ascii_digits
from peygir.ticket_store.models import AreaAlert, OutboxMessage, Ticket
from peygir.ticket_store.workflow import Workflow
from tests.botapi_support import TG, answer, buttons, settle
from tests.fakes.botapi import FakeBotApi
from tests.panel_support import build_app, client, file
from tests.webchat_support import data_of

TZ = ZoneInfo("Asia/Tehran")
CODE = re.compile(r"[۰-۹]{8}")

# The built-in pack's districts are boxes: r1 north-west, r2 north-east (lon > 48.51), r4
# south-east. The circle subscriber picks 2 km around CENTRE.
CENTRE = (34.822, 48.502)  # r1
IN_R1 = (34.820, 48.490)  # r1, 1.1 km from CENTRE
OLD_R1 = (34.825, 48.495)  # r1, 0.7 km from CENTRE
IN_R2 = (34.820, 48.512)  # r2, 0.9 km from CENTRE
FAR = (34.770, 48.530)  # r4, 6 km away

# The citizens' words: not one of them may reach a digest.
BIN = "سطل زباله سر کوچه ما از دیروز پر مونده و بوی بدی میده، جلوی خانه آقای کاظمی"
POTHOLE = "آسفالت کوچه ما پر از چاله شده و ماشین آقای کاظمی آسیب دید"
BIN_FAR = "سطل زباله کنار پارک پر شده و بوی بدی میده"
PRIVATE = ("کاظمی", "بوی بدی", "چاله شده", "ماشین", "0935", "۰۹۳۵", "کنار پارک")
NUMBER = "09351234567"


class Clock:
    """A pinned clock the dialogue, the workflow and the scheduler share."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, day: int, hour: int, minute: int = 0) -> datetime:
        """``day`` days after the first day, at this local time."""
        self.now = local(day, hour, minute)
        return self.now


def local(day: int, hour: int, minute: int = 0) -> datetime:
    base = datetime.now(TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    moment = (base + timedelta(days=day)).replace(hour=hour, minute=minute)
    return moment.astimezone(UTC)


def pin(clock: Clock, dialogue: Dialogue) -> None:
    dialogue.clock = clock
    dialogue.workflow.clock = clock


async def tick(workflow: Workflow, clock: Clock, on_queued: Callable[[], None] = lambda: None
               ) -> int:
    """One pass of the real scheduler at the clock's time: how many digests it queued."""
    done = await Scheduler(workflow, clock=clock, on_queued=on_queued).tick()
    return done.digests


async def resolve(workflow: Workflow, code: str) -> None:
    ticket = await Ticket.get(tracking_code=code)
    await workflow.assign(ticket, "r1_services", "staff:operator")
    await workflow.change_status(ticket, "resolved", "staff:unit", "تخلیه شد، جلوی خانه کاظمی")


def is_digest(text: str) -> bool:
    return text.startswith(words.DIGEST_HEAD.split("«")[0])


def assert_private(text: str) -> None:
    for secret in PRIVATE:
        assert secret not in text, (secret, text)


def count_line(template: str, count: int) -> str:
    return template.format(count=persian_digits(str(count)))


# -- the web chat, over its HTTP API -----------------------------------------------------------
@pytest.fixture
def app(db: str, tmp_path: Path):
    return build_app(db, tmp_path / "media")


_ids = itertools.count(1)


async def say(c: httpx.AsyncClient, **body: object) -> list[dict[str, Any]]:
    answer = await c.post("/api/chat/send", json={"client_id": f"m{next(_ids)}", **body})
    assert answer.status_code == 200, answer.text
    replies: list[dict[str, Any]] = answer.json()["replies"]
    return replies


async def poll(c: httpx.AsyncClient) -> list[dict[str, Any]]:
    answer = await c.get("/api/chat/poll")
    assert answer.status_code == 200, answer.text
    replies: list[dict[str, Any]] = answer.json()["replies"]
    return replies


async def web_report(c: httpx.AsyncClient, text: str, where: tuple[float, float]) -> str:
    """Describe, pick the first subject if asked, send the point, confirm: the code."""
    replies = await say(c, text=text)
    if svc := [d for d in data_of(replies) if d.startswith("svc:")]:
        replies = await say(c, callback=svc[0])
    replies = await say(c, location={"lat": where[0], "lon": where[1]})
    assert "confirm" in data_of(replies), replies
    filed = await say(c, callback="confirm")
    found = CODE.search(filed[-1]["text"])
    assert found, filed
    return ascii_digits(found.group(0))


def off_button(replies: list[dict[str, Any]]) -> str:
    offs = [d for d in data_of(replies) if d.startswith("alerts:off:")]
    assert len(offs) == 1, replies
    return offs[0]


async def test_web_chat_district_and_radius_digests_once_and_unsubscribe(app) -> None:
    core = app.state.core
    clock = Clock(local(0, 9))
    pin(clock, core.dialogue)
    async with client(app) as reporter, client(app) as district, client(app) as circle:
        # A report from before anyone subscribed: only its resolution is news later.
        old = await web_report(reporter, BIN, OLD_R1)
        await say(reporter, phone={"number": NUMBER, "consent": True})

        clock.at(0, 10)
        # By the typed command: the districts as buttons, and a place may be sent instead.
        menu = await say(district, text="اطلاع‌رسانی محله")
        assert "alerts:d:r1" in data_of(menu) and menu[-1]["request_location"] is True
        done = await say(district, callback="alerts:d:r1")
        assert "فعال شد" in done[-1]["text"] and "منطقه ۱" in done[-1]["text"]
        district_off = off_button(done)
        # Subscribing again changes nothing.
        again = await say(district, callback="alerts:d:r1")
        assert "از پیش" in again[-1]["text"]

        # By a point and a radius.
        await say(circle, text="/alerts")
        radii = await say(circle, location={"lat": CENTRE[0], "lon": CENTRE[1]})
        assert data_of(radii) == ["alerts:r:500", "alerts:r:1000", "alerts:r:2000"]
        done = await say(circle, callback="alerts:r:2000")
        assert "۲ کیلومتر" in done[-1]["text"]
        circle_off = off_button(done)
        assert await AreaAlert.all().count() == 2

        clock.at(0, 11)
        await web_report(reporter, BIN, IN_R1)
        await web_report(reporter, POTHOLE, IN_R2)
        await web_report(reporter, BIN_FAR, FAR)
        await resolve(core.workflow, old)
        await poll(reporter)

        # Before the digest hour nothing goes; at it, one digest each.
        clock.at(1, 7, 59)
        assert await tick(core.workflow, clock) == 0
        assert await poll(district) == [] and await poll(circle) == []
        clock.at(1, 8, 5)
        assert await tick(core.workflow, clock) == 2

        [seen] = await poll(district)
        text = seen["text"]
        assert is_digest(text) and "منطقه ۱ (شمال غرب)" in text, text
        assert count_line(words.DIGEST_NEW, 1) in text
        assert count_line(words.DIGEST_RESOLVED, 1) in text
        assert "مخزن و سطل زباله" in text
        assert "۳۴٫۸۲۰، ۴۸٫۴۹۰" in text  # to the public precision (3 places)
        assert "منطقه ۲" not in text and "منطقه ۴" not in text  # IN_R2, FAR: elsewhere
        assert_private(text)
        assert data_of([seen]) == [district_off]

        [seen] = await poll(circle)
        text = seen["text"]
        assert is_digest(text) and "۲ کیلومتر" in text
        assert count_line(words.DIGEST_NEW, 2) in text  # IN_R1 and IN_R2, not FAR
        assert count_line(words.DIGEST_RESOLVED, 1) in text
        assert "منطقه ۲ (شمال شرق)" in text and "منطقه ۴" not in text
        assert_private(text)
        assert data_of([seen]) == [circle_off]
        assert await poll(reporter) == []  # the reporter subscribed to nothing

        # The same day again (a restart, a second scheduler): nothing more.
        clock.at(1, 8, 30)
        assert await tick(core.workflow, clock) == 0
        assert await poll(district) == [] and await poll(circle) == []

        # One tap: the district digest stops; the circle's goes on.
        clock.at(1, 9)
        gone = await say(district, callback=district_off)
        assert "لغو شد" in gone[-1]["text"]
        assert not await AreaAlert.exists(channel="web", district="r1")
        pressed_again = await say(district, callback=district_off)
        assert "فعالی" in pressed_again[-1]["text"]
        clock.at(1, 10)
        await web_report(reporter, POTHOLE, IN_R1)
        await poll(reporter)

        clock.at(2, 8, 5)
        assert await tick(core.workflow, clock) == 1
        assert await poll(district) == []
        [seen] = await poll(circle)
        assert count_line(words.DIGEST_NEW, 1) in seen["text"]
        assert words.DIGEST_RESOLVED.split(":")[0] not in seen["text"]

        # A day with nothing new: no message at all.
        clock.at(3, 8, 5)
        assert await tick(core.workflow, clock) == 0
        assert await poll(circle) == []

        # Typed, the command takes every subscription of the chat away.
        off = await say(circle, text=words.OFF_LABEL)
        assert "لغو شد" in off[-1]["text"]
        assert await AreaAlert.all().count() == 0
        clock.at(3, 10)
        await web_report(reporter, POTHOLE, OLD_R1)  # inside both areas
        clock.at(4, 8, 5)
        assert await tick(core.workflow, clock) == 0
        assert await poll(circle) == [] and await poll(district) == []


async def test_two_schedulers_at_once_queue_one_digest(app) -> None:
    core = app.state.core
    clock = Clock(local(0, 10))
    pin(clock, core.dialogue)
    async with client(app) as reporter, client(app) as district:
        await say(district, text="/alerts")
        await say(district, callback="alerts:d:r1")
        clock.at(0, 11)
        await web_report(reporter, BIN, IN_R1)
        clock.at(1, 9)
        counts = await asyncio.gather(tick(core.workflow, clock), tick(core.workflow, clock))
        assert sorted(counts) == [0, 1]
        assert len(await poll(district)) == 1
        digests = [m for m in await OutboxMessage.filter(channel="web")
                   if is_digest(m.payload["text"])]
        assert len(digests) == 1


async def test_a_point_outside_the_city_and_a_report_after_the_menu(app) -> None:
    """The menu's point is asked once: a report started instead keeps its own place."""
    core = app.state.core
    clock = Clock(local(0, 10))
    pin(clock, core.dialogue)
    async with client(app) as citizen:
        await say(citizen, text="/alerts")
        outside = await say(citizen, location={"lat": 35.70, "lon": 51.40})
        assert "بیرون" in outside[-1]["text"] and outside[-1]["request_location"] is True
        # They write a report instead: the point they send next is the report's.
        code = await web_report(citizen, BIN, IN_R1)
        ticket = await Ticket.get(tracking_code=code)
        assert ticket.district == "r1"
        assert await AreaAlert.all().count() == 0
        # An erasure request takes the subscriptions too.
        await say(citizen, text="/alerts")
        mine = off_button(await say(citizen, callback="alerts:d:r2"))
        async with client(app) as other:  # someone else's button data does nothing
            refused = await say(other, callback=mine)
            assert "لغو شد" not in refused[-1]["text"]
        assert await AreaAlert.all().count() == 1
        erased = await say(citizen, text="اطلاعات من را پاک کنید")
        assert words.ERASED in erased[-1]["text"]
        assert await AreaAlert.all().count() == 0


async def test_a_busy_day_lists_ten_lines_and_counts_the_rest(db: str, default_pack) -> None:
    """Twelve reports in the district: ten lines, «و ۲ مورد دیگر», every one counted; a
    circle gets the same from the same points."""
    from peygir.ticket_store import alerts

    start = local(0, 10)
    for n in range(12):
        await file("waste_bin", chat=f"c{n}", now=start + timedelta(minutes=n),
                   description=f"{BIN} {n}", location=(34.815 + n * 0.001, 48.49),
                   district="r1")
    await file("waste_bin", chat="far", now=start, description=BIN_FAR, location=FAR,
               district="r4")
    for area in (alerts.Area(district="r1"), alerts.Area.circle(34.82, 48.49, 2000)):
        facts = await alerts.digest(area, start, local(1, 8), decimals=3)
        assert (facts.new_count, len(facts.new), facts.resolved_count) == (12, 10, 0)
        sub = alerts.Subscription(1, "web", "x", area, start)
        text = words.digest_reply(default_pack, sub, facts, 3).text
        assert count_line(words.DIGEST_NEW, 12) in text
        assert count_line(words.DIGEST_MORE, 2) in text
        assert text.count("• ") == 10
        assert_private(text)
        assert "خیابان آزادی" not in text  # the address the citizen gave
    # On a channel without buttons the way out is the command, not a numbered choice.
    plain = alerts.Subscription(1, "instagram", "x", alerts.Area(district="r1"), start)
    assert words.digest_reply(default_pack, plain, facts, 3).buttons == ()


# -- Telegram, through the real aiogram stack and the fake Bot API -----------------------------


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(tokens=(TG,)) as fake:
        yield fake


@pytest.fixture
async def bots(api: FakeBotApi, dialogue: Dialogue) -> AsyncIterator[Messengers]:
    messengers = Messengers(dialogue)
    messengers.add("telegram", TG, api.base_url, markdown_by_default=False)
    await messengers.start()
    yield messengers
    await messengers.stop()


async def tg_report(api: FakeBotApi, chat: int, text: str, where: tuple[float, float]) -> str:
    """A report from a chat of its own (one chat's burst would meet the flood limit)."""
    asked = await answer(api, chat, lambda: api.push_message(TG, chat, text), "موقعیت|کدام")
    if svc := [d for d in buttons(asked) if d.startswith("svc:")]:
        await answer(api, chat, lambda: api.push_callback(TG, chat, svc[0]), "موقعیت")
    await answer(api, chat, lambda: api.push_location(TG, chat, *where), "ثبت شود")
    filed = await answer(api, chat, lambda: api.push_callback(TG, chat, "confirm"), "کد پیگیری")
    found = CODE.search(filed["params"]["text"])
    assert found
    return ascii_digits(found.group(0))


def digests_to(api: FakeBotApi, chat: int) -> list[dict[str, Any]]:
    return [c for c in api.sent(TG, chat_id=chat, method="sendMessage")
            if is_digest(c["params"].get("text", ""))]


async def test_telegram_subscribe_digest_once_and_unsubscribe_by_button(
        api: FakeBotApi, bots: Messengers, dialogue: Dialogue) -> None:
    clock = Clock(local(0, 9))
    pin(clock, dialogue)
    circle, district = 901, 902
    reporters = [903, 904, 905, 906, 907]
    old = await tg_report(api, reporters[0], BIN, OLD_R1)

    clock.at(0, 10)
    # /start's welcome carries the menu's button.
    welcome = await answer(api, circle, lambda: api.push_message(TG, circle, "/start"), "سلام")
    assert "alerts" in buttons(welcome)
    menu = await answer(api, circle, lambda: api.push_callback(TG, circle, "alerts"),
                        "اطلاع‌رسانی محله")
    assert "alerts:d:r1" in buttons(menu)
    # The menu asks for a place with Telegram's own location button.
    await api.wait_for_sent(TG, lambda c: "keyboard" in (c["params"].get("reply_markup") or {}),
                            method="sendMessage", chat_id=circle, timeout=15)
    radii = await answer(api, circle, lambda: api.push_location(TG, circle, *CENTRE), "شعاع")
    assert buttons(radii) == ["alerts:r:500", "alerts:r:1000", "alerts:r:2000"]
    await answer(api, circle, lambda: api.push_callback(TG, circle, "alerts:r:1000"), "فعال شد")

    await answer(api, district, lambda: api.push_message(TG, district, "/alerts"), "منطقه")
    done = await answer(api, district, lambda: api.push_callback(TG, district, "alerts:d:r1"),
                        "فعال شد")
    [district_off] = [d for d in buttons(done) if d.startswith("alerts:off:")]

    clock.at(0, 11)
    await tg_report(api, reporters[1], BIN, IN_R1)  # 1.1 km from CENTRE: the district's only
    await tg_report(api, reporters[2], POTHOLE, IN_R2)  # 0.9 km from CENTRE: the circle's only
    await tg_report(api, reporters[3], BIN_FAR, FAR)  # nobody's
    await resolve(dialogue.workflow, old)  # 0.7 km from CENTRE, in r1: both
    await settle(api, channel=None)

    clock.at(1, 8)
    assert await tick(dialogue.workflow, clock, bots.wake) == 2
    for chat, area in ((circle, "۱ کیلومتر"), (district, "منطقه ۱ (شمال غرب)")):
        sent = await api.wait_for_sent(TG, lambda c: is_digest(c["params"].get("text", "")),
                                       method="sendMessage", chat_id=chat, timeout=15)
        text = sent["params"]["text"]
        assert area in text
        assert count_line(words.DIGEST_NEW, 1) in text
        assert count_line(words.DIGEST_RESOLVED, 1) in text
        assert_private(text)
        assert [d for d in buttons(sent) if d.startswith("alerts:off:")]
    circle_text = digests_to(api, circle)[0]["params"]["text"]
    assert "منطقه ۲" in circle_text and "منطقه ۴" not in circle_text
    district_text = digests_to(api, district)[0]["params"]["text"]
    assert "منطقه ۲" not in district_text and "منطقه ۴" not in district_text
    assert all(digests_to(api, chat) == [] for chat in reporters)

    # A second pass the same day sends nothing.
    clock.at(1, 12)
    assert await tick(dialogue.workflow, clock, bots.wake) == 0
    await settle(api, channel=None)
    assert len(digests_to(api, circle)) == 1 and len(digests_to(api, district)) == 1

    # The digest's own button: one tap, and the district's digests stop.
    gone = await answer(api, district, lambda: api.push_callback(TG, district, district_off),
                        "لغو شد")
    assert "منطقه ۱" in gone["params"]["text"]
    clock.at(1, 13)
    await tg_report(api, reporters[4], POTHOLE, OLD_R1)  # inside both areas
    await settle(api, channel=None)
    clock.at(2, 8, 30)
    mark = len(api.calls(TG))
    assert await tick(dialogue.workflow, clock, bots.wake) == 1
    await api.wait_for_sent(TG, lambda c: is_digest(c["params"].get("text", "")),
                            method="sendMessage", chat_id=circle, since=mark, timeout=15)
    await settle(api, channel=None)
    assert len(digests_to(api, circle)) == 2
    assert len(digests_to(api, district)) == 1
    assert await AreaAlert.filter(chat_id=str(district)).count() == 0

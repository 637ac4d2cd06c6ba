"""Area alerts in the conversation (issue 20): a citizen subscribes to a district, or to a
radius around a point they send, and gets a daily digest of what was reported and resolved
there; one tap (or «لغو اطلاع‌رسانی») unsubscribes.

The subscription is the chat (channel and chat id), nothing else. A digest holds counts and
short lines — service, district, a point rounded to the public precision, status — never a
citizen's words, address, phone or name. It is queued in the outbox like any reply
(:func:`send_digests`, run by the scheduler), once per subscription and local day.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from tortoise.transactions import in_transaction

from peygir.config.pack import Pack
from peygir.conversation.chat_state import ChatState
from peygir.messages.digits import persian_digits
from peygir.messages.persian import STATUS_LABELS, citizen_facing
from peygir.messages.types import PLAIN_TEXT_CHANNELS, Button, IncomingMessage, Location, Reply
from peygir.nlu.normalize import ZWNJ, ascii_digits, normalize
from peygir.ticket_store import alerts, store
from peygir.ticket_store.alerts import Area, Digest, Item, Subscription

log = logging.getLogger(__name__)
EPOCH = date(1970, 1, 1)

# -- the words --------------------------------------------------------------------------------
LABEL = "اطلاع‌رسانی محله"  # the command, and the button on /start's welcome
OFF_LABEL = "لغو اطلاع‌رسانی"  # the command, and the button on every digest
MENU_DATA = "alerts"
MENU_DISTRICTS = (
    "با «اطلاع‌رسانی محله»، هر روز یک پیام کوتاه از گزارش‌های تازه و کارهای انجام‌شده در "
    "محدوده‌ای که انتخاب می‌کنید برایتان می‌فرستیم؛ بی‌نام، بی‌شماره و بی‌متن گزارش‌دهندگان.\n"
    "لطفاً منطقه را از دکمه‌های زیر انتخاب کنید، یا موقعیت مکانی را بفرستید تا شعاعی پیرامون "
    "آن را برگزینید."
)
MENU_POINT = (
    "با «اطلاع‌رسانی محله»، هر روز یک پیام کوتاه از گزارش‌های تازه و کارهای انجام‌شده در "
    "محدوده‌ای که انتخاب می‌کنید برایتان می‌فرستیم؛ بی‌نام، بی‌شماره و بی‌متن گزارش‌دهندگان.\n"
    "لطفاً موقعیت مکانی را بفرستید تا شعاعی پیرامون آن را برگزینید."
)
YOURS = "اطلاع‌رسانی‌های فعال شما:"
PICK_RADIUS = "موقعیت دریافت شد. خبرهای چه شعاعی پیرامون این نقطه را می‌خواهید؟"
OUTSIDE = (
    "این نقطه بیرون از محدوده شهر است. لطفاً نقطه‌ای در شهر بفرستید یا یکی از مناطق را "
    "انتخاب کنید."
)
SEND_POINT_AGAIN = "لطفاً دوباره موقعیت مکانی را بفرستید تا شعاع پیرامون آن را انتخاب کنید."
SUBSCRIBED = (
    "اطلاع‌رسانی «{area}» فعال شد. از این پس روزی یک بار، اگر گزارش یا رسیدگی تازه‌ای در این "
    "محدوده باشد، خلاصه‌اش را برایتان می‌فرستیم. هر وقت خواستید، با دکمه زیر یا فرستادن "
    "«لغو اطلاع‌رسانی» آن را لغو کنید."
)
ALREADY = "اطلاع‌رسانی «{area}» از پیش برای شما فعال است."
TOO_MANY = (
    "شما {limit} اطلاع‌رسانی فعال دارید که بیشترین تعداد ممکن است. لطفاً برای افزودن "
    "محدوده‌ای تازه، نخست یکی را لغو کنید."
)
OFF_DONE = "اطلاع‌رسانی «{area}» لغو شد. هر وقت خواستید، با «اطلاع‌رسانی محله» دوباره فعالش کنید."
OFF_ALL_DONE = (
    "اطلاع‌رسانی محله برای شما لغو شد ({count} محدوده). هر وقت خواستید، با "
    "«اطلاع‌رسانی محله» دوباره فعالش کنید."
)
OFF_NONE = "اطلاع‌رسانی فعالی برای این گفت‌وگو نیست."
ERASED = "اطلاع‌رسانی‌های محله شما هم لغو شد."
GONE = "این گزینه دیگر در دسترس نیست؛ لطفاً «اطلاع‌رسانی محله» را دوباره بفرستید."
CIRCLE = "شعاع {radius} پیرامون نقطه‌ای که فرستادید"
OFF_BUTTON = "لغو: {area}"
DIGEST_HEAD = "خلاصه روزانه «{area}»"
DIGEST_NEW = "گزارش‌های تازه: {count}"
DIGEST_RESOLVED = "رسیدگی‌شده‌ها: {count}"
DIGEST_MORE = "و {count} مورد دیگر"
DIGEST_FOOT = "برای لغو، دکمه «لغو اطلاع‌رسانی» را بزنید یا همین عبارت را بفرستید."
NEAR = "حدود {lat}، {lon}"
NO_PLACE = "بدون موقعیت"

_ON = ("/alerts", LABEL, "اطلاع رسانی محله", "اطلاعرسانی محله", "اطلاع رسانی", "خبر محله")
_OFF = ("/alerts_off", "/unsubscribe", OFF_LABEL, "لغو اطلاع رسانی", "لغو اطلاعرسانی")

BATCH = 200  # subscriptions read at a time by the digest job
MAX_PER_TICK = 5000  # digests one scheduler pass works through; the rest wait a minute
# A report filed a moment before the digest may not be committed yet: the window ends this
# long ago, and the next day's window starts there, so nothing falls between two digests.
GRACE = timedelta(minutes=1)


def _key(text: str) -> str:
    """A command as typed, compared loosely: half-spaces, «@bot» and end punctuation aside."""
    clean = ascii_digits(normalize(text[:100])).replace(ZWNJ, " ")
    clean = " ".join(clean.split()).strip(" .!؟?").lower()
    return clean.split("@", 1)[0] if clean.startswith("/") else clean


_ON_KEYS = frozenset(_key(c) for c in _ON)
_OFF_KEYS = frozenset(_key(c) for c in _OFF)


def menu_buttons() -> tuple[tuple[Button, ...], ...]:
    """The button that opens the alerts menu (on /start's welcome)."""
    return ((Button(LABEL, MENU_DATA),),)


def radius_label(metres: int) -> str:
    if metres % 1000 == 0:
        return persian_digits(f"{metres // 1000}") + " کیلومتر"
    return persian_digits(str(metres)) + " متر"


def area_name(pack: Pack, area: Area) -> str:
    if area.district is not None:
        district = pack.city.district_by_code.get(area.district)
        return district.name if district else area.district
    return CIRCLE.format(radius=radius_label(area.radius_m or 0))


class AreaAlerts:
    """The dialogue's part: the menu, the choice of area, unsubscribing."""

    def __init__(self, pack: Pack, clock: Callable[[], datetime]) -> None:
        self.pack = pack
        self.clock = clock

    async def respond(self, msg: IncomingMessage, state: ChatState) -> list[Reply] | None:
        """The alerts' answer to a typed command, or to the point the menu asked for; None
        for anything else (buttons come through :meth:`callback`)."""
        if msg.callback_data or msg.from_voice:
            return None
        if msg.location is not None:
            if state.pop("alert_awaiting", False):
                return self._point(msg.location, state)
            return None
        command = _key(msg.text) if msg.text else ""
        if command in _ON_KEYS:
            return await self.menu(msg, state)
        if command in _OFF_KEYS:
            return await self._off_all(msg, state)
        if msg.text.strip() or msg.attachments:
            state.pop("alert_awaiting", None)  # they moved on: a later place is a report's
        return None

    async def callback(self, msg: IncomingMessage, arg: str, state: ChatState) -> list[Reply]:
        """A button of the alerts (data ``alerts`` or ``alerts:<arg>``)."""
        kind, _, value = arg.partition(":")
        if not kind:
            return await self.menu(msg, state)
        if kind == "d" and value in self.pack.city.district_by_code:
            return await self._subscribe(msg, Area(district=value), state)
        if kind == "r" and value.isdigit() and int(value) in alerts.RADII_M:
            point = state.get("alert_point")
            if point is None:
                state["alert_awaiting"] = True
                return [Reply(SEND_POINT_AGAIN, request_location=True)]
            return await self._subscribe(
                msg, Area.circle(point["lat"], point["lon"], int(value)), state)
        if kind == "off" and value == "all":
            return await self._off_all(msg, state)
        if kind == "off" and value.isdigit():
            return await self._off_one(msg, int(value))
        return [Reply(GONE)]

    async def menu(self, msg: IncomingMessage, state: ChatState) -> list[Reply]:
        state["alert_awaiting"] = True  # a location sent next picks a circle
        state.pop("alert_point", None)
        districts = self.pack.city.districts
        rows = [(Button(d.name, f"{MENU_DATA}:d:{d.code}"),) for d in districts]
        lines = [MENU_DISTRICTS if districts else MENU_POINT]
        subscribed = await alerts.of_chat(msg.channel, msg.chat_id)
        if subscribed:
            lines.append(YOURS)
            for sub in subscribed:
                name = area_name(self.pack, sub.area)
                lines.append(f"• {name}")
                rows.append((Button(OFF_BUTTON.format(area=name), f"{MENU_DATA}:off:{sub.id}"),))
        return [Reply("\n".join(lines), buttons=tuple(rows), request_location=True)]

    def _point(self, location: Location, state: ChatState) -> list[Reply]:
        city = self.pack.city
        if city.districts and city.district_at(location.lat, location.lon) is None:
            state["alert_awaiting"] = True  # they may send another point
            return [Reply(OUTSIDE, request_location=True)]
        state["alert_point"] = {"lat": location.lat, "lon": location.lon}
        rows = ((tuple(Button(radius_label(m), f"{MENU_DATA}:r:{m}") for m in alerts.RADII_M)),)
        return [Reply(PICK_RADIUS, buttons=rows)]

    async def _subscribe(self, msg: IncomingMessage, area: Area, state: ChatState
                         ) -> list[Reply]:
        state.pop("alert_awaiting", None)
        state.pop("alert_point", None)
        sub, created = await alerts.subscribe(msg.channel, msg.chat_id, area, self.clock())
        if sub is None:
            return [Reply(TOO_MANY.format(limit=alerts.MAX_PER_CHAT))]
        name = area_name(self.pack, area)
        text = (SUBSCRIBED if created else ALREADY).format(area=name)
        return [Reply(text, buttons=_off_buttons(sub.id))]

    async def _off_one(self, msg: IncomingMessage, alert_id: int) -> list[Reply]:
        subscribed = {s.id: s for s in await alerts.of_chat(msg.channel, msg.chat_id)}
        sub = subscribed.get(alert_id)
        if sub is None or not await alerts.unsubscribe(msg.channel, msg.chat_id, alert_id):
            return [Reply(OFF_NONE if not subscribed else GONE)]
        return [Reply(OFF_DONE.format(area=area_name(self.pack, sub.area)))]

    async def _off_all(self, msg: IncomingMessage, state: ChatState) -> list[Reply]:
        state.pop("alert_awaiting", None)
        state.pop("alert_point", None)
        removed = await alerts.unsubscribe_all(msg.channel, msg.chat_id)
        if not removed:
            return [Reply(OFF_NONE)]
        return [Reply(OFF_ALL_DONE.format(count=removed))]


def _off_buttons(alert_id: int) -> tuple[tuple[Button, ...], ...]:
    return ((Button(OFF_LABEL, f"{MENU_DATA}:off:{alert_id}"),),)


async def erase(channel: str, chat_id: str) -> list[str]:
    """A citizen's erasure request takes their subscriptions too: the line that says so."""
    return [ERASED] if await alerts.unsubscribe_all(channel, chat_id) else []


# -- the daily digest --------------------------------------------------------------------------
def _coordinate(value: float, decimals: int) -> str:
    return persian_digits(f"{value:.{decimals}f}").replace(".", "٫")


def _line(pack: Pack, item: Item, decimals: int) -> str:
    service = pack.service_by_code.get(item.service_code)
    parts = [service.service_name if service else item.service_code]
    district = pack.city.district_by_code.get(item.district) if item.district else None
    place = [district.name] if district else []
    if item.lat is not None and item.lon is not None:
        place.append(NEAR.format(lat=_coordinate(item.lat, decimals),
                                 lon=_coordinate(item.lon, decimals)))
    parts.append("، ".join(place) or NO_PLACE)
    parts.append(STATUS_LABELS.get(item.status, item.status))
    return "• " + " — ".join(parts)


def digest_reply(pack: Pack, sub: Subscription, facts: Digest, decimals: int) -> Reply:
    """The digest as the citizen reads it, with its one-tap unsubscribe button."""
    lines = [DIGEST_HEAD.format(area=area_name(pack, sub.area))]
    for heading, items, count in ((DIGEST_NEW, facts.new, facts.new_count),
                                  (DIGEST_RESOLVED, facts.resolved, facts.resolved_count)):
        if not count:
            continue
        lines += ["", heading.format(count=count)]
        lines += [_line(pack, item, decimals) for item in items]
        if count > len(items):
            lines.append(DIGEST_MORE.format(count=count - len(items)))
    lines += ["", DIGEST_FOOT]
    # Numbered choices on a channel without buttons would be read against the chat's last
    # menu: there the command typed is the way out.
    buttons = () if sub.channel in PLAIN_TEXT_CHANNELS else _off_buttons(sub.id)
    return citizen_facing(Reply("\n".join(lines), buttons=buttons))


async def send_digests(pack: Pack, now: datetime, *, timezone: str, hour: int,
                       decimals: int) -> int:
    """Queue today's digests once the local clock reaches ``hour``: one per subscription and
    local day, however often (or by however many schedulers) this runs. An empty digest is
    not sent. Returns how many were queued."""
    local = now.astimezone(ZoneInfo(timezone))
    if local.hour < hour:
        return 0
    day = (local.date() - EPOCH).days  # as HappeningCount.day
    queued = worked = 0
    while worked < MAX_PER_TICK:
        batch = await alerts.due(day, BATCH)
        if not batch:
            break
        for sub in batch:
            worked += 1
            until = max(now - GRACE, sub.since)
            async with in_transaction():
                if not await alerts.claim(sub.id, day, until):
                    continue  # another scheduler took it
                facts = await alerts.digest(sub.area, sub.since, until, decimals)
                if facts.empty:
                    continue
                await store.enqueue(sub.channel, sub.chat_id,
                                    digest_reply(pack, sub, facts, decimals))
                queued += 1
    if queued:
        log.info("area alerts: %d digests queued", queued)
    return queued

"""Area alerts (issue 20): a chat's subscriptions to a district or a circle around a point,
and the facts of its daily digest — the tickets reported and resolved there since the last one.

Only coarse facts leave this module: the service, the district, coordinates rounded to the
public precision, the status. Never a citizen's words, address, phone or name. The wording
is the conversation's (``conversation/alerts.py``).

Once a day per subscription: :func:`claim` moves ``last_day`` to today by a conditional
update, in the transaction that queues the digest. A second scheduler, or the same one after
a restart, finds the day taken and sends nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from tortoise.expressions import Q

from peygir.ticket_store.models import AreaAlert, Ticket
from peygir.ticket_store.workflow import distance_m

MAX_PER_CHAT = 5  # subscriptions one chat may hold
RADII_M = (500, 1000, 2000)  # the radii a citizen may pick
LISTED = 10  # lines of each kind in a digest; the rest are only counted
SCAN_CAP = 5000  # tickets of one circle's bounding box read for one digest
METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class Area:
    """A district (``district``), or a circle of ``radius_m`` metres around a point."""

    district: str | None = None
    lat: float | None = None
    lon: float | None = None
    radius_m: int | None = None

    @classmethod
    def circle(cls, lat: float, lon: float, radius_m: int) -> Area:
        # Kept to ~1 m: the same point sent twice is the same subscription.
        return cls(lat=round(lat, 5), lon=round(lon, 5), radius_m=radius_m)

    @property
    def key(self) -> str:
        if self.district is not None:
            return f"d:{self.district}"
        return f"p:{self.lat:.5f},{self.lon:.5f},{self.radius_m}"


@dataclass(frozen=True)
class Subscription:
    id: int
    channel: str
    chat_id: str
    area: Area
    since: datetime


@dataclass(frozen=True)
class Item:
    """One ticket as a digest may show it: nothing that could name or quote its citizen."""

    service_code: str
    district: str | None
    lat: float | None  # rounded to the public precision
    lon: float | None
    status: str


@dataclass(frozen=True)
class Digest:
    new: list[Item]
    new_count: int
    resolved: list[Item]
    resolved_count: int

    @property
    def empty(self) -> bool:
        return not (self.new_count or self.resolved_count)


def _subscription(row: AreaAlert) -> Subscription:
    area = Area(district=row.district) if row.district is not None else Area(
        lat=row.latitude, lon=row.longitude, radius_m=row.radius_m)
    return Subscription(row.id, row.channel, row.chat_id, area, row.since)


# -- a chat's subscriptions ------------------------------------------------------------------
async def subscribe(channel: str, chat_id: str, area: Area, now: datetime
                    ) -> tuple[Subscription | None, bool]:
    """The chat's subscription to ``area`` and whether it is new; (None, False) when the chat
    already holds MAX_PER_CHAT others. Its first digest covers what happens from ``now``."""
    row = await AreaAlert.get_or_none(channel=channel, chat_id=chat_id, area_key=area.key)
    if row is not None:
        return _subscription(row), False
    if await AreaAlert.filter(channel=channel, chat_id=chat_id).count() >= MAX_PER_CHAT:
        return None, False
    row = await AreaAlert.create(
        channel=channel, chat_id=chat_id, area_key=area.key, district=area.district,
        latitude=area.lat, longitude=area.lon, radius_m=area.radius_m, since=now,
        created_at=now)
    return _subscription(row), True


async def of_chat(channel: str, chat_id: str) -> list[Subscription]:
    rows = await AreaAlert.filter(channel=channel, chat_id=chat_id).order_by("id")
    return [_subscription(row) for row in rows]


async def unsubscribe(channel: str, chat_id: str, alert_id: int) -> bool:
    """Remove one subscription, only if it is this chat's."""
    return bool(await AreaAlert.filter(id=alert_id, channel=channel, chat_id=chat_id).delete())


async def unsubscribe_all(channel: str, chat_id: str) -> int:
    return await AreaAlert.filter(channel=channel, chat_id=chat_id).delete()


# -- the daily digest ------------------------------------------------------------------------
async def due(day: int, limit: int) -> list[Subscription]:
    """Subscriptions whose digest of ``day`` (a local day number) has not run yet."""
    rows = await AreaAlert.filter(Q(last_day__isnull=True) | Q(last_day__lt=day)
                                  ).order_by("id").limit(limit)
    return [_subscription(row) for row in rows]


async def claim(alert_id: int, day: int, until: datetime) -> bool:
    """Take ``day``'s digest of one subscription: true for exactly one caller, however many
    schedulers try. Its next digest starts at ``until``. Call inside the transaction that
    queues the digest, so a crash before the commit leaves the day unclaimed."""
    taken = await AreaAlert.filter(Q(last_day__isnull=True) | Q(last_day__lt=day),
                                   id=alert_id).update(last_day=day, since=until)
    return taken == 1


def _coarse(value: float | None, decimals: int) -> float | None:
    return None if value is None else round(value, decimals)


def _item(ticket: Ticket, decimals: int) -> Item:
    return Item(ticket.service_code, ticket.district, _coarse(ticket.latitude, decimals),
                _coarse(ticket.longitude, decimals), str(ticket.status))


async def digest(area: Area, since: datetime, until: datetime, decimals: int) -> Digest:
    """What was reported (created) and resolved in ``area`` in [since, until), the earliest
    first. A later report of the same thing (``duplicate_of``) is not a new line."""
    base = Ticket.filter(duplicate_of_id__isnull=True)
    if area.district is not None:
        base = base.filter(district=area.district)
    else:
        assert area.lat is not None and area.lon is not None and area.radius_m is not None
        # A bounding box the index narrows; the circle itself is checked below.
        span_lat = area.radius_m / METRES_PER_DEGREE
        span_lon = span_lat / max(math.cos(math.radians(area.lat)), 0.01)
        base = base.filter(latitude__gte=area.lat - span_lat, latitude__lte=area.lat + span_lat,
                           longitude__gte=area.lon - span_lon,
                           longitude__lte=area.lon + span_lon)
    new = base.filter(created_at__gte=since, created_at__lt=until).order_by("created_at", "id")
    resolved = base.filter(resolved_at__gte=since, resolved_at__lt=until
                           ).order_by("resolved_at", "id")
    if area.district is not None:
        new_rows = await new.limit(LISTED)
        resolved_rows = await resolved.limit(LISTED)
        return Digest([_item(t, decimals) for t in new_rows], await new.count(),
                      [_item(t, decimals) for t in resolved_rows], await resolved.count())
    inside = [t for t in await new.limit(SCAN_CAP) if _within(area, t)]
    done = [t for t in await resolved.limit(SCAN_CAP) if _within(area, t)]
    return Digest([_item(t, decimals) for t in inside[:LISTED]], len(inside),
                  [_item(t, decimals) for t in done[:LISTED]], len(done))


def _within(area: Area, ticket: Ticket) -> bool:
    assert area.lat is not None and area.lon is not None and area.radius_m is not None
    if ticket.latitude is None or ticket.longitude is None:
        return False
    return distance_m(area.lat, area.lon, ticket.latitude, ticket.longitude) <= area.radius_m

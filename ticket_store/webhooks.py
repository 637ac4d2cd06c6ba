"""Signed webhooks: subscriptions, and the deliveries queued when a ticket moves.

:func:`record` is called by the workflow inside the transaction of the change it tells of,
so an event is queued exactly when its change commits. Each subscription gets its own
delivery row with a random event id (in the body and a header: receivers drop a repeat).
The sender (``bots/webhook_sender.py``) delivers a subscription's events for one ticket in
the order they happened: a row waits while an earlier one for the same pair is undelivered.

What a delivery carries: the ticket's public facts (code, service, state, unit, district,
dates). The citizen's words, address, exact place, and — if they agreed to be contacted on
that ticket — their phone and name, only to a subscription allowed personal data.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.expressions import Q

from peygir.config.clock import utcnow
from peygir.ticket_store.db import placeholders
from peygir.ticket_store.models import (
    Citizen,
    Ticket,
    WebhookDelivery,
    WebhookSubscription,
)

EVENTS = ("filed", "assigned", "status_changed", "evidence_added", "rated", "escalated")
ERROR_LENGTH = 1000


# -- subscriptions ---------------------------------------------------------------------------
async def subscribe(url: str, events: Sequence[str], *, personal_data: bool = False,
                    secret: str | None = None) -> WebhookSubscription:
    unknown = [e for e in events if e not in EVENTS and e != "*"]
    if unknown:
        raise ValueError(f"unknown event {unknown[0]!r}; known: {', '.join(EVENTS)}")
    if not url.startswith(("http://", "https://")) or len(url) > 2048:
        raise ValueError("the URL must be http(s), at most 2048 characters")
    return await WebhookSubscription.create(
        url=url, events=list(events) or ["*"], personal_data=personal_data,
        secret=secret or secrets.token_hex(32))


async def subscriptions() -> list[WebhookSubscription]:
    return await WebhookSubscription.filter(active=True).order_by("id")


async def unsubscribe(subscription_id: int) -> bool:
    """Removes the subscription and what it had not received yet."""
    return bool(await WebhookSubscription.filter(id=subscription_id).delete())


async def subscription(subscription_id: int) -> WebhookSubscription | None:
    return await WebhookSubscription.get_or_none(id=subscription_id)


async def note_result(subscription_id: int, result: str, now: datetime) -> None:
    await WebhookSubscription.filter(id=subscription_id).update(last_at=now,
                                                                last_result=result[:200])


# -- queueing, inside the workflow's transaction ---------------------------------------------
async def wanted(event: str) -> bool:
    """Whether any subscription wants ``event``."""
    subs = await WebhookSubscription.filter(active=True).values_list("events", flat=True)
    return any(event in events or "*" in events for events in subs)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


async def _view(ticket: Ticket, personal: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "tracking_code": ticket.tracking_code, "service_code": ticket.service_code,
        "status": str(ticket.status), "urgent": ticket.urgent, "unit_code": ticket.unit_code,
        "district": ticket.district, "created_at": _iso(ticket.created_at),
        "answer_due": _iso(ticket.answer_due),
    }
    if personal and ticket.anonymised_at is None:
        view |= {"description": ticket.description, "address": ticket.address,
                 "lat": ticket.latitude, "long": ticket.longitude, "channel": ticket.channel}
        if ticket.contact_consent:  # the phone leaves only with the citizen's word
            citizen = await Citizen.get(id=ticket.citizen_id)  # type: ignore[attr-defined]
            view["contact"] = {"phone": citizen.phone, "name": citizen.display_name}
    return view


async def record(event: str, ticket: Ticket, data: dict[str, Any] | None = None, *,
                 private: dict[str, Any] | None = None, now: datetime | None = None) -> int:
    """Queue ``event`` about ``ticket`` for every subscription that wants it; ``private``
    joins ``data`` only for subscriptions allowed personal data. Returns how many."""
    subs = await WebhookSubscription.filter(active=True).values("id", "events",
                                                                "personal_data")
    wanted = [s for s in subs if event in s["events"] or "*" in s["events"]]
    now = now or utcnow()
    for sub in wanted:
        personal = bool(sub["personal_data"])
        event_id = str(uuid.uuid4())
        payload = {"id": event_id, "event": event, "created": now.isoformat(),
                   "ticket": await _view(ticket, personal),
                   "data": {**(data or {}), **((private or {}) if personal else {})}}
        await WebhookDelivery.create(subscription_id=sub["id"], event_id=event_id,
                                     event=event, ticket_id=ticket.id, payload=payload)
    return len(wanted)


# -- the sender's ----------------------------------------------------------------------------
async def claim(now: datetime, lease: float, limit: int) -> list[list[WebhookDelivery]]:
    """Due deliveries, claimed, as runs to send in order: one run per (subscription,
    ticket), starting at that pair's oldest undelivered event (a later one never overtakes
    it). A run stops at the first row that is not due yet or held by another sender."""
    rows = await WebhookDelivery.filter(delivered_at__isnull=True, failed_at__isnull=True
                                        ).order_by("id").limit(limit)
    runs: dict[tuple[int, int | None], list[WebhookDelivery]] = {}
    blocked: set[tuple[int, int | None]] = set()
    for row in rows:
        pair = (row.subscription_id, row.ticket_id)
        if pair in blocked:
            continue
        due = (row.next_attempt_at is None or row.next_attempt_at <= now) and (
            row.lease_until is None or row.lease_until < now)
        if not due:
            blocked.add(pair)
            continue
        runs.setdefault(pair, []).append(row)
    ids = [row.id for run in runs.values() for row in run]
    if not ids:
        return []
    connection = connections.get("default")
    marks = placeholders(connection, len(ids) + 2)
    got = await connection.execute_query_dict(
        # Placeholders in the order of their values: SQLite's "?" are positional.
        f"UPDATE {WebhookDelivery._meta.db_table} SET lease_until = {marks[0]} "
        f"WHERE delivered_at IS NULL AND (lease_until IS NULL OR lease_until < {marks[1]}) "
        f"AND id IN ({', '.join(marks[2:])}) RETURNING id",
        [now + timedelta(seconds=lease), now, *ids])
    held = {row["id"] for row in got}
    out: list[list[WebhookDelivery]] = []
    for run in runs.values():
        kept: list[WebhookDelivery] = []
        for row in run:  # what another sender took ends the run: order before speed
            if row.id not in held:
                break
            kept.append(row)
        out.append(kept)
        await release([row.id for row in run[len(kept):] if row.id in held])
    return [run for run in out if run]


async def delivered(delivery_id: int, now: datetime) -> None:
    await WebhookDelivery.filter(id=delivery_id).update(delivered_at=now, lease_until=None,
                                                        last_error=None)


async def release(ids: list[int]) -> None:
    if ids:
        await WebhookDelivery.filter(id__in=ids, delivered_at__isnull=True).update(
            lease_until=None)


async def retry_later(row: WebhookDelivery, delay: float, error: str, now: datetime,
                      max_attempts: int) -> bool:
    """Try again later; after ``max_attempts`` it is given up (the next event may go).
    Returns whether it was given up."""
    attempts = row.attempts + 1
    done = attempts >= max_attempts
    await WebhookDelivery.filter(id=row.id).update(
        attempts=attempts, lease_until=None, last_error=error[:ERROR_LENGTH],
        next_attempt_at=now + timedelta(seconds=delay), failed_at=now if done else None)
    return done


async def backlog() -> dict[int, int]:
    """Undelivered events per subscription."""
    rows = await WebhookDelivery.filter(
        Q(delivered_at__isnull=True) & Q(failed_at__isnull=True)).values("subscription_id")
    found: dict[int, int] = {}
    for row in rows:
        found[row["subscription_id"]] = found.get(row["subscription_id"], 0) + 1
    return found


async def prune(cut: datetime) -> int:
    """Delete deliveries delivered or given up before ``cut``: their payloads may hold
    personal data, kept no longer than the receiver needed them."""
    return await WebhookDelivery.filter(
        Q(delivered_at__lt=cut) | Q(failed_at__lt=cut)).delete()

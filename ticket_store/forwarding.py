"""Reports forwarded to a city's Open311 back office: the rows the forwarder works from.

A ticket of a service ``endpoints.yaml`` sends elsewhere gets a :class:`ForwardedReport` in
the transaction that files it (the outbox rule), with an idempotency key of its own. The
forwarder (``bots/forwarder.py``) claims rows with a lease, POSTs them and records the back
office's id; a passing fault puts the row back with a later time, never away, so a back
office that is down delays a report and never loses it. A row whose lease ran out (its
process died mid-send) is sent again under the same key, which a back office that honours
keys files once; for one that does not, the row waits as ``uncertain`` for staff instead.

The back office's updates come back through ``ticket_store/remote_updates.py``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.expressions import Q

from peygir.config.pack import Pack
from peygir.ticket_store.db import placeholders
from peygir.ticket_store.models import (
    Attachment,
    Citizen,
    ForwardCursor,
    ForwardedReport,
    ForwardState,
    Ticket,
    TicketStatus,
)

ERROR_LENGTH = 1000
DONE = (TicketStatus.CLOSED, TicketStatus.REJECTED, TicketStatus.REFERRED)


async def enqueue(pack: Pack, ticket: Ticket) -> ForwardedReport | None:
    """Queue a newly filed ticket for its back office, if its service has one. Call inside
    the filing transaction."""
    endpoint = pack.endpoint_by_service.get(ticket.service_code)
    if endpoint is None:
        return None
    return await ForwardedReport.create(
        ticket=ticket, endpoint=endpoint.name, remote_code=endpoint.remote_code(
            ticket.service_code), idempotency_key=uuid.uuid4().hex)


@dataclass(frozen=True)
class Outgoing:
    """One claimed report, with what may go to the back office."""

    id: int
    endpoint: str
    remote_code: str
    idempotency_key: str
    attempts: int
    interrupted: bool  # an earlier claim's lease ran out: it may have arrived
    tracking_code: str
    description: str
    latitude: float | None
    longitude: float | None
    address: str | None
    phone: str | None  # only when the citizen agreed to be contacted on this ticket
    name: str | None
    # The citizen's photos on this ticket, oldest first, as (attachment id, content hash): the
    # forwarder may send them as signed links. Voice notes and videos are never among them.
    photos: tuple[tuple[int, str], ...] = ()


async def _photos(ticket_ids: list[int]) -> dict[int, tuple[tuple[int, str], ...]]:
    """Each ticket's kept photos, read in one query. Only what the citizen sent as a photo
    (not a unit's evidence, which is public anyway, nor a voice note: it is their voice)."""
    found: dict[int, list[tuple[int, str]]] = {}
    for row in await Attachment.filter(
            ticket_id__in=ticket_ids, kind="photo", evidence=False, sha256__isnull=False,
            path__isnull=False).order_by("id").values("id", "ticket_id", "sha256"):
        found.setdefault(row["ticket_id"], []).append((row["id"], row["sha256"]))
    return {ticket: tuple(rows) for ticket, rows in found.items()}


async def claim(now: datetime, lease: float, limit: int) -> list[Outgoing]:
    """Claim pending reports that are due, oldest first; each is held for ``lease`` seconds."""
    rows = await ForwardedReport.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        Q(lease_until__isnull=True) | Q(lease_until__lt=now),
        state=ForwardState.PENDING,
    ).order_by("id").limit(limit).values("id", "lease_until")
    if not rows:
        return []
    connection = connections.get("default")
    ids = [row["id"] for row in rows]
    marks = placeholders(connection, len(ids) + 3)
    table = ForwardedReport._meta.db_table
    got = await connection.execute_query_dict(
        # Placeholders in the order of their values: SQLite's "?" are positional.
        f"UPDATE {table} SET lease_until = {marks[0]} WHERE state = {marks[1]} "
        f"AND (lease_until IS NULL OR lease_until < {marks[2]}) "
        f"AND id IN ({', '.join(marks[3:])}) RETURNING id",
        [now + timedelta(seconds=lease), ForwardState.PENDING.value, now, *ids])
    held = {row["id"] for row in got}
    interrupted = {row["id"] for row in rows if row["lease_until"] is not None}
    out: list[Outgoing] = []
    claimed = await ForwardedReport.filter(id__in=list(held)).order_by("id").values(
        "id", "endpoint", "remote_code", "idempotency_key", "attempts", "ticket__tracking_code",
        "ticket__description", "ticket__latitude", "ticket__longitude", "ticket__address",
        "ticket__contact_consent", "ticket__citizen_id", "ticket_id")
    photos = await _photos([row["ticket_id"] for row in claimed]) if claimed else {}
    for row in claimed:
        phone = name = None
        if row["ticket__contact_consent"]:  # the citizen's contact goes only with consent
            citizen = await Citizen.get(id=row["ticket__citizen_id"])
            phone, name = citizen.phone, citizen.display_name
        out.append(Outgoing(
            id=row["id"], endpoint=row["endpoint"], remote_code=row["remote_code"],
            idempotency_key=row["idempotency_key"], attempts=row["attempts"],
            interrupted=row["id"] in interrupted, tracking_code=row["ticket__tracking_code"],
            description=row["ticket__description"] or "", latitude=row["ticket__latitude"],
            longitude=row["ticket__longitude"], address=row["ticket__address"], phone=phone,
            name=name, photos=photos.get(row["ticket_id"], ())))
    return out


async def sent(row_id: int, remote_id: str | None, token: str | None, now: datetime) -> bool:
    """The back office took it: keep its id (or the token that will name it)."""
    return bool(await ForwardedReport.filter(id=row_id, state=ForwardState.PENDING).update(
        state=ForwardState.SENT, remote_id=remote_id, remote_token=token, sent_at=now,
        lease_until=None, last_error=None))


async def retry_later(row_id: int, attempts: int, delay: float, error: str,
                      now: datetime) -> None:
    """A passing fault: try again ``delay`` seconds from now (never given up)."""
    await ForwardedReport.filter(id=row_id, state=ForwardState.PENDING).update(
        attempts=attempts + 1, next_attempt_at=now + timedelta(seconds=delay),
        lease_until=None, last_error=error[:ERROR_LENGTH])


async def set_aside(row_id: int, state: ForwardState, error: str) -> None:
    """Refused for good (``failed``) or perhaps arrived (``uncertain``): staff decide."""
    await ForwardedReport.filter(id=row_id, state=ForwardState.PENDING).update(
        state=state, lease_until=None, last_error=error[:ERROR_LENGTH])


async def send_again(row_id: int) -> bool:
    """Staff checked the back office: send a failed or uncertain report again (same key)."""
    return bool(await ForwardedReport.filter(
        id=row_id, state__in=[ForwardState.FAILED, ForwardState.UNCERTAIN]).update(
        state=ForwardState.PENDING, next_attempt_at=None, lease_until=None))


# -- the back office's updates ---------------------------------------------------------------
@dataclass(frozen=True)
class Watched:
    id: int
    endpoint: str
    remote_id: str | None
    remote_token: str | None


async def to_watch(endpoint: str, limit: int) -> list[Watched]:
    """Sent reports whose ticket the back office may still move, least recently asked first."""
    rows = await ForwardedReport.filter(
        endpoint=endpoint, state=ForwardState.SENT,
        ticket__status__not_in=[s.value for s in DONE],
    ).order_by("checked_at", "id").limit(limit).values("id", "remote_id", "remote_token")
    return [Watched(r["id"], endpoint, r["remote_id"], r["remote_token"]) for r in rows]


async def token_resolved(row_id: int, remote_id: str) -> None:
    await ForwardedReport.filter(id=row_id, remote_id__isnull=True).update(remote_id=remote_id)


async def checked(ids: list[int], now: datetime) -> None:
    if ids:
        await ForwardedReport.filter(id__in=ids).update(checked_at=now)


async def by_remote_ids(endpoint: str, remote_ids: list[str]) -> dict[str, int]:
    rows = await ForwardedReport.filter(endpoint=endpoint, remote_id__in=remote_ids).values(
        "id", "remote_id")
    return {r["remote_id"]: r["id"] for r in rows}


async def cursor(endpoint: str) -> datetime | None:
    row = await ForwardCursor.get_or_none(endpoint=endpoint)
    return row.fetched_until if row else None


async def move_cursor(endpoint: str, until: datetime) -> None:
    if not await ForwardCursor.filter(endpoint=endpoint).update(fetched_until=until):
        await ForwardCursor.create(endpoint=endpoint, fetched_until=until)


# -- what the panel shows --------------------------------------------------------------------
async def waiting(limit: int = 200) -> list[dict[str, Any]]:
    """Reports not (yet) with their back office, oldest first."""
    return await ForwardedReport.filter(state__in=[
        ForwardState.PENDING, ForwardState.UNCERTAIN, ForwardState.FAILED,
    ]).order_by("id").limit(limit).values(
        "id", "endpoint", "state", "attempts", "next_attempt_at", "last_error", "created_at",
        "ticket__tracking_code")


async def counts() -> dict[str, int]:
    found = {state.value: 0 for state in ForwardState}
    for state in ForwardState:
        found[state.value] = await ForwardedReport.filter(state=state).count()
    return found


async def release(ids: list[int]) -> None:
    """Give claimed reports back untouched (their back office is away: not their fault)."""
    if ids:
        await ForwardedReport.filter(id__in=ids, state=ForwardState.PENDING).update(
            lease_until=None)

"""The ticket store as Open311 GeoReport v2 sees it: filing a service request and finding them.

Open311 tickets are ordinary tickets (channel ``open311``) and follow the same workflow;
what only Open311 has (the token, the media URL, which API key filed it) lives beside them
in ``Open311Request``.

What GET serves of any ticket is what may be public: never the words a citizen typed (the
description, the address), nor their photo, nor what staff said to them; only the notes staff
published, and the units' photos of their work.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from peygir.messages.types import Location
from peygir.ticket_store import store
from peygir.ticket_store.db import column
from peygir.ticket_store.models import (
    Attachment,
    Open311Idempotency,
    Open311Request,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from peygir.ticket_store.workflow import OPEN_STATES, Filed, Workflow

CHANNEL = "open311"
MAX_RESULTS = 1000  # the spec's default cap on GET requests

# Open311 knows only open and closed. A ticket is open while the city still owes work on it
# (the workflow's OPEN_STATES: new, assigned, in_progress, reopened); resolved (waiting for
# the citizen's word), closed, rejected and referred (handed to an outside body) are closed.
OPEN_STATUSES = tuple(s for s in TicketStatus if s in OPEN_STATES)
CLOSED_STATUSES = tuple(s for s in TicketStatus if s not in OPEN_STATES)
BY_OPEN311_STATUS = {"open": OPEN_STATUSES, "closed": CLOSED_STATUSES}


def open311_status(status: str) -> str:
    return "open" if status in OPEN_STATUSES else "closed"


def fingerprint(secret: str) -> str:
    """A short stable name for an API key or a submitter, from which neither can be read."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Open311Draft:
    client: str  # the API key's fingerprint
    submitter: str  # who filed it, as a fingerprint (see ``submitter_id``)
    service_code: str
    description: str
    urgent: bool
    location: Location | None
    address: str | None
    media_url: str | None
    phone: str | None  # kept on the citizen only, never returned


def submitter_id(client: str, phone: str | None, email: str | None,
                 device_id: str | None) -> str:
    """One citizen per client and person; anonymous reports of one client share one.

    Email and device id only tell people apart and are not stored; the phone number is kept
    on the citizen as in the chat channels.
    """
    who = phone or (f"email:{email.lower()}" if email else None) or (
        f"device:{device_id}" if device_id else None)
    return f"{client}:{fingerprint(who)}" if who else f"{client}:anonymous"


async def file_request(draft: Open311Draft, workflow: Workflow, now: datetime | None = None,
                       *, idempotency_key: str | None = None) -> tuple[Filed, Open311Request]:
    """File through the workflow, as every channel does: routed to a unit by district, with
    the city's deadlines; a report of the same thing within 50 m is linked to the open one.

    ``idempotency_key``: a client's retry of a POST whose answer it never got (a timeout)
    answers the request the first one filed, rather than filing it twice."""
    if idempotency_key:
        try:
            return await _file_once(draft, workflow, now, idempotency_key)
        except IntegrityError:  # the same key raced in at the same moment: the first stands
            pass
        earlier = await _earlier(draft.client, idempotency_key)
        assert earlier is not None
        return earlier
    return await _file(draft, workflow, now)


async def _earlier(client: str, key: str) -> tuple[Filed, Open311Request] | None:
    row = await Open311Idempotency.get_or_none(client=client, key=key)
    if row is None:
        return None
    ticket = await Ticket.get(id=row.ticket_id)  # type: ignore[attr-defined]
    extra = await Open311Request.get(ticket_id=ticket.id)
    return Filed(ticket, duplicate=ticket.duplicate_of_id is not None), extra  # type: ignore[attr-defined]


async def _file_once(draft: Open311Draft, workflow: Workflow, now: datetime | None, key: str
                     ) -> tuple[Filed, Open311Request]:
    earlier = await _earlier(draft.client, key)
    if earlier is not None:
        return earlier
    async with in_transaction():
        filed, extra = await _file(draft, workflow, now)
        await Open311Idempotency.create(client=draft.client, key=key, ticket=filed.ticket)
    return filed, extra


async def _file(draft: Open311Draft, workflow: Workflow, now: datetime | None
                ) -> tuple[Filed, Open311Request]:
    async with in_transaction():
        citizen = await store.citizen_for(CHANNEL, draft.submitter)
        if draft.phone and citizen.phone != draft.phone:
            citizen.phone = draft.phone
            await citizen.save(update_fields=["phone"])
        filed = await workflow.file_report(
            citizen, CHANNEL, draft.submitter,
            store.NewTicket(service_code=draft.service_code, description=draft.description,
                            urgent=draft.urgent, location=draft.location,
                            address=draft.address),
            now=now,
        )
        extra = await Open311Request.create(ticket=filed.ticket, token=secrets.token_hex(12),
                                            media_url=draft.media_url, client=draft.client)
    return filed, extra


@dataclass(frozen=True)
class RequestQuery:
    tracking_codes: tuple[str, ...] = ()  # when given, every other filter is ignored
    service_codes: tuple[str, ...] = ()
    statuses: tuple[TicketStatus, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    limit: int = MAX_RESULTS


@dataclass(frozen=True)
class Found:
    ticket: dict[str, Any]  # the columns Open311 may show, by name
    note: str | None  # the last note staff published
    evidence: str | None  # the path of a unit's newest photo of its work (staff's, not a citizen's)


# Deliberately without the description, the address and the chat: they are the citizen's.
_COLUMNS = ("id", "tracking_code", "service_code", "latitude", "longitude", "district",
            "status", "urgent", "answer_due", "created_at", "updated_at", "unit_code",
            "duplicate_of_id")
def requests_query(query: RequestQuery) -> Any:
    """The tickets' query, newest first, as plain rows (a page is up to 1000 tickets); the
    date window and status are served by the (created_at) and (status, created_at) indexes."""
    tickets = Ticket.all()
    if query.tracking_codes:
        tickets = tickets.filter(tracking_code__in=query.tracking_codes)
    else:
        if query.service_codes:
            tickets = tickets.filter(service_code__in=query.service_codes)
        if query.statuses:
            tickets = tickets.filter(status__in=query.statuses)
        if query.start is not None:
            tickets = tickets.filter(created_at__gte=query.start)
        if query.end is not None:
            tickets = tickets.filter(created_at__lte=query.end)
    return tickets.order_by("-created_at", "-id").limit(query.limit).values(*_COLUMNS)


async def find_requests(query: RequestQuery) -> list[Found]:
    return await _with_extras(await requests_query(query))


async def find_request(tracking_code: str) -> Found | None:
    found = await find_requests(RequestQuery(tracking_codes=(tracking_code,), limit=1))
    return found[0] if found else None


async def tracking_code_for_token(token: str) -> str | None:
    rows = await column(Open311Request.filter(token=token).values_list(
        "ticket__tracking_code", flat=True))
    return str(rows[0]) if rows else None


async def _with_extras(rows: list[dict[str, Any]]) -> list[Found]:
    ids = [row["id"] for row in rows]
    if not ids:
        return []
    notes = await _public_notes(ids)
    # A linked report shows the photos of the work on the first one (the same spot).
    firsts = {row["id"]: row["duplicate_of_id"] for row in rows if row["duplicate_of_id"]}
    photos = await _evidence([*ids, *firsts.values()])
    return [Found(row, notes.get(row["id"]),
                  photos.get(row["id"]) or photos.get(firsts.get(row["id"], 0)))
            for row in rows]


async def _public_notes(ids: list[int]) -> dict[int, str]:
    """Each ticket's last note that staff published; nothing else on a timeline is public."""
    notes: dict[int, str] = {}
    events = (TicketEvent.filter(ticket_id__in=ids, public=True).exclude(note="")
              .order_by("ticket_id", "at", "id").values_list("ticket_id", "note"))
    for ticket_id, note in await events:
        notes[ticket_id] = note  # by time: the last one stays
    return notes


async def _evidence(ids: list[int]) -> dict[int, str]:
    """Each ticket's newest evidence photo, by path; a citizen's own files are never here."""
    newest: dict[int, str] = {}
    for ticket_id, path in await (Attachment.filter(ticket_id__in=ids, evidence=True,
                                                    path__isnull=False)
                                  .order_by("id").values_list("ticket_id", "path")):
        newest[ticket_id] = path
    return newest

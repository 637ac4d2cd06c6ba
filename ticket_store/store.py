"""Queries the dialogue and the web app need. Call inside ``in_transaction()`` where the
effects must land together (the dedup record, the ticket and its replies)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tortoise import connections

from peygir.messages.types import Attachment as AttachmentIn
from peygir.messages.types import Location
from peygir.ticket_store.db import placeholders as placeholders
from peygir.ticket_store.deadlines import Deadlines
from peygir.ticket_store.models import (
    Attachment,
    ChatState,
    Citizen,
    ProcessedUpdate,
    Ticket,
    TicketEvent,
    TicketStatus,
    TranscriptionJob,
)

# The outbox's API is ticket_store.outbox; these names stay here for their many callers.
from peygir.ticket_store.outbox import enqueue as enqueue
from peygir.ticket_store.outbox import mark_sent as mark_sent
from peygir.ticket_store.outbox import pending as pending

CITIZEN_ACTOR = "citizen"


def new_tracking_code() -> str:
    """Eight random digits, never starting with 0: unguessable and easy to read out."""
    return str(10_000_000 + secrets.randbelow(90_000_000))


async def claim_update(dedup_key: str) -> bool:
    """Record that an update is being handled; False if it was handled before.

    One statement, ``INSERT … ON CONFLICT DO NOTHING RETURNING`` (SQLite ≥ 3.35 and
    PostgreSQL alike): a racing duplicate neither fails the transaction nor needs a savepoint.
    """
    connection = connections.get("default")
    marks = placeholders(connection, 2)
    table = ProcessedUpdate._meta.db_table
    rows = await connection.execute_query_dict(
        f"INSERT INTO {table} (dedup_key, processed_at) VALUES ({marks[0]}, {marks[1]})"
        " ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
        [dedup_key, datetime.now(UTC)],
    )
    return bool(rows)


async def update_seen(dedup_key: str) -> bool:
    """Whether an update was claimed before (read only; :func:`claim_update` records it)."""
    return await ProcessedUpdate.exists(dedup_key=dedup_key)


async def claim_update_and_load_state(dedup_key: str, channel: str, chat_id: str
                                      ) -> dict[str, Any] | None:
    """:func:`claim_update` and :func:`load_state` in one statement: None when the update was
    handled before, else the chat's state.

    Every update runs both, and on SQLite each statement is a round trip to aiosqlite's
    thread while the transaction holds the one connection: one fewer shortens every
    transaction. The state comes back through a sub-select in ``RETURNING``."""
    connection = connections.get("default")
    marks = placeholders(connection, 4)
    rows = await connection.execute_query_dict(
        f"INSERT INTO {ProcessedUpdate._meta.db_table} (dedup_key, processed_at) "
        f"VALUES ({marks[0]}, {marks[1]}) ON CONFLICT (dedup_key) DO NOTHING "
        f"RETURNING (SELECT state FROM {ChatState._meta.db_table} "
        f"WHERE channel = {marks[2]} AND chat_id = {marks[3]}) AS state",
        [dedup_key, datetime.now(UTC), channel, chat_id],
    )
    if not rows:
        return None
    return _state(rows[0]["state"])


async def citizen_for(channel: str, user_id: str) -> Citizen:
    citizen, _ = await Citizen.get_or_create(channel=channel, user_id=user_id)
    return citizen


@dataclass(frozen=True)
class NewTicket:
    service_code: str
    description: str
    urgent: bool
    location: Location | None = None
    address: str | None = None
    transcript: str | None = None
    deep_link: str | None = None


async def file_ticket(
    citizen: Citizen, channel: str, chat_id: str, draft: NewTicket, now: datetime,
    deadlines: Deadlines, priority: int = 0, district: str | None = None,
    note: str = "",
) -> Ticket:
    """A new ticket and its first timeline line (``note``: where it came from, worded by the
    workflow's voice)."""
    onsite_due, answer_due = deadlines.due(draft.urgent, now)
    for _ in range(20):
        code = new_tracking_code()
        if not await Ticket.exists(tracking_code=code):
            break
    ticket = await Ticket.create(
        created_at=now,
        tracking_code=code,
        citizen=citizen,
        channel=channel,
        chat_id=chat_id,
        service_code=draft.service_code,
        description=draft.description,
        transcript=draft.transcript,
        latitude=draft.location.lat if draft.location else None,
        longitude=draft.location.lon if draft.location else None,
        address=draft.address,
        urgent=draft.urgent,
        priority=priority,
        district=district,
        onsite_due=onsite_due,
        answer_due=answer_due,
        deep_link=draft.deep_link,
        status=TicketStatus.NEW,
    )
    await TicketEvent.create(
        ticket=ticket, actor=CITIZEN_ACTOR, to_status=TicketStatus.NEW.value, at=now,
        note=note,
    )
    return ticket


async def keep_attachment(channel: str, chat_id: str, item: AttachmentIn) -> Attachment:
    return await Attachment.create(
        channel=channel, chat_id=chat_id, kind=item.kind, file_ref=item.file_ref[:512],
        mime=item.mime, size=item.size, duration=item.duration, path=item.path,
        sha256=Path(item.path).stem if item.path else None,
    )


async def queue_transcription(channel: str, chat_id: str, user_id: str, attachment: Attachment
                              ) -> TranscriptionJob:
    return await TranscriptionJob.create(channel=channel, chat_id=chat_id, user_id=user_id,
                                         attachment=attachment)


async def attach_to_ticket(ticket: Ticket, attachment_ids: list[int], *,
                           channel: str | None = None, chat_id: str | None = None) -> int:
    """Link a chat's kept files to a ticket: by default the chat that filed it; a chat
    that reported the same thing again (``channel``, ``chat_id``) adds its own files."""
    if not attachment_ids:
        return 0
    return await Attachment.filter(
        id__in=attachment_ids, channel=channel or ticket.channel,
        chat_id=chat_id or ticket.chat_id, ticket_id=None,
    ).update(ticket_id=ticket.id)


async def ticket_for_chat(tracking_code: str, channel: str, chat_id: str) -> Ticket | None:
    """A ticket by its code, only for the chat that filed it: a code is not a key."""
    ticket = await Ticket.get_or_none(tracking_code=tracking_code)
    return ticket if ticket is not None and owns(ticket, channel, chat_id) else None


def owns(ticket: Ticket, channel: str, chat_id: str) -> bool:
    """Whether this chat filed the ticket (the only chat that may see or act on it)."""
    return ticket.channel == channel and ticket.chat_id == chat_id


async def recent_tickets(channel: str, chat_id: str, limit: int = 3) -> list[Ticket]:
    return await Ticket.filter(channel=channel, chat_id=chat_id).order_by("-id").limit(limit)


async def timeline(ticket: Ticket) -> list[TicketEvent]:
    return await TicketEvent.filter(ticket=ticket).order_by("at", "id")


# -- chat state ------------------------------------------------------------------------------
async def load_state(channel: str, chat_id: str) -> dict[str, Any]:
    """One plain SELECT (the hot path runs it for every update; no model is built)."""
    connection = connections.get("default")
    marks = placeholders(connection, 2)
    rows = await connection.execute_query_dict(
        f"SELECT state FROM {ChatState._meta.db_table} "
        f"WHERE channel = {marks[0]} AND chat_id = {marks[1]}",
        [channel, chat_id],
    )
    return _state(rows[0]["state"]) if rows else {}


def _state(stored: str | dict[str, Any] | None) -> dict[str, Any]:
    """A chat state as the driver returns it (JSON text, a dict, or NULL for none yet)."""
    if stored is None:
        return {}
    return dict(stored) if isinstance(stored, dict) else json.loads(stored)


async def save_state(channel: str, chat_id: str, state: dict[str, Any]) -> None:
    """One upsert statement (the hot path runs it for every update)."""
    connection = connections.get("default")
    marks = placeholders(connection, 4)
    await connection.execute_query(
        f"INSERT INTO {ChatState._meta.db_table} (channel, chat_id, state, updated_at) "
        f"VALUES ({', '.join(marks)}) ON CONFLICT (channel, chat_id) "
        "DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
        [channel, chat_id, json.dumps(state, ensure_ascii=False, separators=(",", ":")),
         datetime.now(UTC)],
    )


class Params:
    """Collects a statement's parameters as it is written, each placeholder in the default
    connection's own style (``$1, $2`` on PostgreSQL, ``?`` on SQLite)."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.postgres = connections.get("default").capabilities.dialect == "postgres"

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}" if self.postgres else "?"

    def seconds(self, later: str, earlier: str) -> str:
        """SQL for the seconds between two timestamp expressions."""
        if self.postgres:
            return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
        return f"((julianday({later}) - julianday({earlier})) * 86400.0)"




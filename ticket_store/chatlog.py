"""The conversation's transcript: every read and write of the ``chat_line`` table.

Each message of a chat is one line: what the citizen wrote or sent (recorded by the dialogue in
the transaction that handles the update, so an update handled twice is logged once) and what
the bot or staff answered (recorded by :func:`ticket_store.outbox.enqueue`, in the transaction
that queues the reply). A line tied to a ticket belongs to that report's conversation: from
the report's first message to its filing, then whatever is said about the ticket. A unit
reads only those; the retention job and a citizen's erasure remove them
(:mod:`ticket_store.retention`). Texts are clipped to :data:`MAX_TEXT`; reads return at most
:data:`MAX_LINES` lines, the newest.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise import connections
from tortoise.expressions import Q

from peygir.config.clock import utcnow
from peygir.ticket_store.db import column, placeholders
from peygir.ticket_store.models import ChatLine, Citizen

MAX_TEXT = 4000  # characters kept of one message (a report keeps as much)
MAX_LINES = 300  # lines one read returns: a chat's newest
IN, OUT = "in", "out"
CITIZEN, BOT = "citizen", "bot"

# Who is speaking in the replies queued now: the bot, unless staff wrote the words
# (:func:`speaking`, around a staff reply).
_SPEAKER: ContextVar[str] = ContextVar("peygir_chat_speaker", default=BOT)


@contextmanager
def speaking(who: str) -> Iterator[None]:
    """Record the replies queued inside as said by ``who`` (``staff:<username>``)."""
    token = _SPEAKER.set(who[:80])
    try:
        yield
    finally:
        _SPEAKER.reset(token)


@dataclass(frozen=True, slots=True)
class Line:
    """One transcript line, as readers see it."""

    id: int
    direction: str  # IN or OUT
    who: str  # CITIZEN, BOT or staff:<username>
    kind: str
    text: str
    at: datetime
    ticket_id: int | None = None
    attachment_id: int | None = None
    buttons: tuple[tuple[tuple[str, str], ...], ...] = ()  # rows of (label, data)
    photos: tuple[str, ...] = ()  # evidence photo paths under the media folder


def _line(row: ChatLine) -> Line:
    rows = tuple(tuple((str(b.get("label", "")), str(b.get("data", ""))) for b in r
                       if isinstance(b, dict))
                 for r in (row.buttons or []) if isinstance(r, list))
    return Line(id=row.id, direction=row.direction, who=row.who, kind=row.kind,
                text=row.text, at=row.at,
                ticket_id=row.ticket_id,  # type: ignore[attr-defined]
                attachment_id=row.attachment_id,  # type: ignore[attr-defined]
                buttons=rows, photos=tuple(str(p) for p in row.photos or []))


async def _insert(values: dict[str, Any], citizen_of: tuple[str, str] | None = None
                  ) -> tuple[int, int | None]:
    """One INSERT (the hot path runs it for every message); ``citizen_of``: (channel,
    user_id) whose citizen row, if any, the line names, found by a sub-select."""
    connection = connections.get("default")
    names = list(values)
    marks = placeholders(connection, len(names) + (2 if citizen_of else 0))
    args = [values[name] for name in names]
    exprs = marks[:len(names)]
    if citizen_of is not None:
        names.append("citizen_id")
        exprs.append(f"(SELECT id FROM {Citizen._meta.db_table} WHERE channel = "
                     f"{marks[-2]} AND user_id = {marks[-1]})")
        args += list(citizen_of)
    rows = await connection.execute_query_dict(
        f"INSERT INTO {ChatLine._meta.db_table} ({', '.join(names)}) "
        f"VALUES ({', '.join(exprs)}) RETURNING id, citizen_id", args)
    return rows[0]["id"], rows[0]["citizen_id"]


# -- writing ---------------------------------------------------------------------------------
def _storable(text: str) -> str:
    """At most MAX_TEXT characters that every database takes: no NUL (PostgreSQL refuses
    it), no lone surrogate (no encoding holds one)."""
    clipped = text[:MAX_TEXT].replace("\x00", "")
    return clipped.encode("utf-8", "replace").decode("utf-8")


async def record_in(channel: str, chat_id: str, user_id: str, *, kind: str, text: str = "",
                    attachments: Sequence[tuple[int, str]] = (),
                    ticket_id: int | None = None, at: datetime | None = None
                    ) -> tuple[int, int | None]:
    """What the citizen sent: one line, and one more for each file past the first
    (``attachments``: (id, kind) of the files kept). Returns the first line's id and the
    citizen it names (None: no citizen row yet). Call in the update's transaction."""
    files = list(attachments)
    when = at or utcnow()
    base = {"channel": channel, "chat_id": chat_id, "direction": IN, "who": CITIZEN,
            "text": _storable(text), "ticket_id": ticket_id, "at": when}
    first = files[0] if files else None
    line_id, citizen_id = await _insert(
        base | {"kind": first[1] if first and not text else kind,
                "attachment_id": first[0] if first else None},
        citizen_of=(channel, user_id))
    for attachment_id, file_kind in files[1:]:
        await _insert(base | {"kind": file_kind, "text": "", "attachment_id": attachment_id,
                              "citizen_id": citizen_id})
    return line_id, citizen_id


async def record_out(channel: str, chat_id: str, payload: dict[str, Any], *,
                     ticket_id: int | None = None, citizen_id: int | None = None) -> None:
    """A reply queued to the chat (``payload``: ``Reply.to_payload()``), said by whoever
    :func:`speaking` names (the bot by default)."""
    buttons = payload.get("buttons") or None
    photos = payload.get("photos") or None
    await _insert({"channel": channel, "chat_id": chat_id, "direction": OUT,
                   "who": _SPEAKER.get(), "kind": "text",
                   "text": _storable(str(payload.get("text", ""))),
                   "buttons": json.dumps(buttons, ensure_ascii=False) if buttons else None,
                   "photos": json.dumps(photos, ensure_ascii=False) if photos else None,
                   "ticket_id": ticket_id, "citizen_id": citizen_id, "at": utcnow()})


async def tie(line_ids: list[int], ticket_id: int) -> None:
    """These lines are about this ticket (a button on its notice, a correction)."""
    if line_ids:
        await ChatLine.filter(id__in=line_ids, ticket_id=None).update(ticket_id=ticket_id)


async def link_report(channel: str, chat_id: str, since: int, ticket_id: int,
                      citizen_id: int | None) -> int:
    """A report was filed: the chat's lines since its first message (``since``, a line id)
    not yet tied to another ticket become this ticket's conversation."""
    changes: dict[str, Any] = {"ticket_id": ticket_id}
    if citizen_id is not None:
        changes["citizen_id"] = citizen_id
    return await ChatLine.filter(channel=channel, chat_id=chat_id, id__gte=since,
                                 ticket_id=None).update(**changes)


# -- reading ---------------------------------------------------------------------------------
async def of_chat(channel: str, chat_id: str, limit: int = MAX_LINES) -> list[Line]:
    """A chat's newest lines, oldest first."""
    rows = await ChatLine.filter(channel=channel, chat_id=chat_id).order_by(
        "-at", "-id").limit(max(1, min(limit, MAX_LINES)))
    return [_line(row) for row in reversed(rows)]


async def of_ticket(ticket_id: int, limit: int = MAX_LINES) -> list[Line]:
    """The lines of one report's conversation (what a unit may read), oldest first."""
    rows = await ChatLine.filter(ticket_id=ticket_id).order_by("-at", "-id").limit(
        max(1, min(limit, MAX_LINES)))
    return [_line(row) for row in reversed(rows)]


# -- retention -------------------------------------------------------------------------------
def _expired(cut: datetime) -> Q:
    # A line tied to a ticket stays as long as the ticket keeps its citizen's words; the
    # ticket's anonymisation takes it (drop_for_tickets).
    return Q(at__lt=cut, ticket_id=None)


async def count_older(cut: datetime) -> int:
    return await ChatLine.filter(_expired(cut)).count()


async def drop_older(cut: datetime, batch: int) -> tuple[int, bool]:
    """Delete up to ``batch`` untied lines older than ``cut``; returns how many, and whether
    the batch was full (more may be due)."""
    ids = await column(ChatLine.filter(_expired(cut)).order_by("id").limit(batch).values_list(
        "id", flat=True))
    deleted = await ChatLine.filter(id__in=list(ids)).delete()
    return deleted, len(ids) == batch


async def drop_for_tickets(ids: list[int]) -> int:
    """These tickets are anonymised: their conversations go."""
    return await ChatLine.filter(ticket_id__in=ids).delete() if ids else 0


async def drop_for_citizen(channel: str, chat_id: str, citizen_id: int | None,
                           keep_tickets: list[int]) -> int:
    """A citizen asked to be erased: every line of their chat and of their citizen row,
    but the conversations of tickets still open (``keep_tickets``: the unit still needs
    them; they go when the ticket is anonymised)."""
    mine = Q(channel=channel, chat_id=chat_id)
    if citizen_id is not None:
        mine |= Q(citizen_id=citizen_id)
    query = ChatLine.filter(mine)
    if keep_tickets:
        query = query.filter(Q(ticket_id=None) | ~Q(ticket_id__in=keep_tickets))
    return await query.delete()

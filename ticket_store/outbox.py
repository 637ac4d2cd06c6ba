"""The reply outbox: every read and write of the ``outbox_message`` table goes through here.

A reply is queued in the transaction that decided it (the outbox rule), and leaves the table
once, by one of two roads:

- a channel's delivery worker (:mod:`bots.outbox`, the Eitaa notifications) claims replies
  (:func:`claim`) before handing them to the messenger and marks them :func:`sent` after; a
  claim is a row update, so it survives a restart, and :func:`close_interrupted` closes the
  claims a dead process left (they may have arrived: never sent twice);
- a channel that shows replies when asked (the web chat, the memory channel, the Eitaa
  mini-app) takes a chat's replies (:func:`take`), each by a
  conditional update, so two readers never both show one.

Callers see :class:`Queued` values, never the table's model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.expressions import Q

from peygir.config.clock import utcnow
from peygir.messages.types import Reply
from peygir.ticket_store import chatlog, leases
from peygir.ticket_store.db import column, placeholders
from peygir.ticket_store.models import OutboxMessage

ERROR_LENGTH = 1000  # what is kept of a messenger's error


@dataclass(frozen=True, slots=True)
class Queued:
    """One queued reply, as its sender sees it."""

    id: int
    channel: str
    chat_id: str
    payload: dict[str, Any]  # Reply.to_payload()
    created_at: datetime
    attempts: int = 0  # counted failures so far
    claimed_at: datetime | None = None  # a worker is handing it to the messenger
    next_attempt_at: datetime | None = None  # not to be tried before this

    @property
    def reply(self) -> Reply:
        return Reply.from_payload(self.payload)


def _queued(row: OutboxMessage) -> Queued:
    return Queued(id=row.id, channel=row.channel, chat_id=row.chat_id, payload=row.payload,
                  created_at=row.created_at, attempts=row.attempts, claimed_at=row.claimed_at,
                  next_attempt_at=row.next_attempt_at)


# -- queueing --------------------------------------------------------------------------------
async def enqueue(channel: str, chat_id: str, reply: Reply, *, ticket_id: int | None = None,
                  citizen_id: int | None = None) -> None:
    """Queue a reply: one plain INSERT (the hot path runs it for every reply), and its line
    in the chat's transcript (``ticket_id``: the ticket it is about). Call inside the
    transaction whose effects the reply tells of."""
    connection = connections.get("default")
    marks = placeholders(connection, 5)
    payload = reply.to_payload()
    await connection.execute_query(
        f"INSERT INTO {OutboxMessage._meta.db_table} "
        f"(channel, chat_id, payload, created_at, attempts) VALUES ({', '.join(marks)})",
        [channel, chat_id, json.dumps(payload, ensure_ascii=False), utcnow(), 0],
    )
    await chatlog.record_out(channel, chat_id, payload, ticket_id=ticket_id,
                             citizen_id=citizen_id)


# -- taken when a chat asks (web chat, memory channel, Eitaa mini-app) -----------------------
async def pending(channel: str, chat_id: str | None = None, limit: int = 100) -> list[Queued]:
    """Replies not yet sent, oldest first (of one chat, or of the whole channel)."""
    query = OutboxMessage.filter(channel=channel, sent_at__isnull=True)
    if chat_id is not None:
        query = query.filter(chat_id=chat_id)
    return [_queued(row) for row in await query.order_by("id").limit(limit)]


async def mark_sent(message: Queued, now: datetime | None = None) -> bool:
    """Mark one reply sent; False if another reader or sender got there first."""
    updated = await OutboxMessage.filter(id=message.id, sent_at__isnull=True).update(
        sent_at=now or utcnow())
    return bool(updated)


async def take(channel: str, chat_id: str | None = None, limit: int | None = 100, *,
               unclaimed: bool = False, now: datetime | None = None) -> list[Queued]:
    """The replies waiting (for one chat, or any), each marked sent by a conditional update
    as it is taken: what two readers race for goes to one of them. ``unclaimed``: leave out
    what a worker has claimed or given up on, for a chat whose replies also have a worker
    (the Eitaa mini-app beside its notifications)."""
    query = OutboxMessage.filter(channel=channel, sent_at__isnull=True)
    if chat_id is not None:
        query = query.filter(chat_id=chat_id)
    if unclaimed:
        query = query.filter(claimed_at__isnull=True, failed_at__isnull=True)
    query = query.order_by("id")
    taken: list[Queued] = []
    for row in await (query.limit(limit) if limit is not None else query):
        still = OutboxMessage.filter(id=row.id, sent_at__isnull=True)
        if unclaimed:
            still = still.filter(claimed_at__isnull=True)
        if await still.update(sent_at=now or utcnow()):
            taken.append(_queued(row))
    return taken


# -- a delivery worker's -------------------------------------------------------------------
async def close_interrupted(channel: str, now: datetime,
                            claimed_before: datetime | None = None) -> int:
    """Close the replies a dead process claimed but never marked: they may have arrived, so
    they are given up, not sent again. ``claimed_before`` (a shared database): only claims
    that old, or whose process is gone (``leases.dead_claim_sql``); younger claims of live
    processes are in flight. Every claim when None (one process: all are a dead one's).
    Returns how many."""
    why = "interrupted by a restart; may have arrived"
    if claimed_before is None:
        return await OutboxMessage.filter(
            channel=channel, claimed_at__isnull=False, sent_at__isnull=True,
            failed_at__isnull=True).update(failed_at=now, last_error=why)
    connection = connections.get("default")
    marks = placeholders(connection, 4)
    dead = (f" OR {leases.dead_claim_sql('claimed_by')}"
            if connection.capabilities.dialect == "postgres" else "")
    rows = await connection.execute_query_dict(
        f"UPDATE {OutboxMessage._meta.db_table} SET failed_at = {marks[0]}, "
        f"last_error = {marks[1]} WHERE channel = {marks[2]} AND claimed_at IS NOT NULL "
        "AND sent_at IS NULL AND failed_at IS NULL "
        f"AND (claimed_at <= {marks[3]}{dead}) RETURNING id",
        [now, why, channel, claimed_before])
    return len(rows)


async def unsent(channel: str, limit: int, *, created_before: datetime | None = None,
                 unclaimed: bool = False) -> list[Queued]:
    """Replies neither sent nor given up, oldest first; ``created_before``: only those queued
    by then; ``unclaimed``: leave out those a worker holds."""
    query = OutboxMessage.filter(channel=channel, sent_at__isnull=True, failed_at__isnull=True)
    if created_before is not None:
        query = query.filter(created_at__lte=created_before)
    if unclaimed:
        query = query.filter(claimed_at__isnull=True)
    return [_queued(row) for row in await query.order_by("id").limit(limit)]


async def claim(ids: list[int], now: datetime) -> set[int]:
    """Claim these replies in one statement; returns the ids the caller now holds (a reply
    claimed, sent or taken by someone else is not among them)."""
    if not ids:
        return set()
    connection = connections.get("default")
    marks = placeholders(connection, len(ids) + 1)
    rows = await connection.execute_query_dict(
        f"UPDATE {OutboxMessage._meta.db_table} SET claimed_at = {marks[0]}, "
        f"claimed_by = {leases.PROCESS} "
        f"WHERE id IN ({', '.join(marks[1:])}) AND claimed_at IS NULL AND sent_at IS NULL "
        "RETURNING id",
        [now, *ids],
    )
    return {row["id"] for row in rows}


async def sent(ids: list[int], now: datetime) -> None:
    """Mark claimed replies sent: they reached the messenger."""
    if ids:
        await OutboxMessage.filter(id__in=ids).update(sent_at=now)


async def give_up(message: Queued, error: str, now: datetime) -> None:
    """The messenger will never take this reply (blocked bot, unknown chat): never retried."""
    await OutboxMessage.filter(id=message.id).update(failed_at=now,
                                                     last_error=error[:ERROR_LENGTH])


async def retry_later(message: Queued, seconds: float, error: str, now: datetime, *,
                      count: bool, max_attempts: int) -> bool:
    """Release a claimed reply for another try ``seconds`` from now. ``count``: the failure
    was ours to count (a fault, not a messenger's "wait"); at ``max_attempts`` counted tries
    it is given up instead. Returns whether it was given up."""
    attempts = message.attempts + (1 if count else 0)
    exhausted = attempts >= max_attempts
    await OutboxMessage.filter(id=message.id).update(
        claimed_at=None, attempts=attempts, last_error=error[:ERROR_LENGTH],
        next_attempt_at=now + timedelta(seconds=seconds), failed_at=now if exhausted else None)
    return exhausted


# -- retention -------------------------------------------------------------------------------
async def count_older(cut: datetime) -> int:
    """How many replies were queued before ``cut``."""
    return await OutboxMessage.filter(created_at__lt=cut).count()


async def drop_older(cut: datetime, batch: int) -> int:
    """Delete replies queued before ``cut``, read from the front of the id order (ids grow
    with time, so no index on the time is needed and a pass costs what it deletes). Returns
    how many went; fewer than ``batch`` means the front is past ``cut``."""
    ids = await column(OutboxMessage.all().order_by("id").limit(batch).values_list(
        "id", flat=True))
    return await OutboxMessage.filter(id__in=list(ids), created_at__lt=cut).delete()


async def drop_delivered(channel: str, chat_id: str) -> int:
    """Delete a chat's copies of replies already delivered or given up (an erasure)."""
    return await OutboxMessage.filter(Q(sent_at__isnull=False) | Q(failed_at__isnull=False),
                                      channel=channel, chat_id=chat_id).delete()

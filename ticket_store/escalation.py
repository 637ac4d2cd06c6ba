"""Escalation and auto-closing, run by the scheduler on the database.

Each rung of the ladder (``deadlines.yaml``: 24 h the unit's manager, 72 h the deputy) is
claimed for all due tickets with one ``INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING``:
the unique (ticket, level) pair means a rung fires once per ticket however many processes
scan at the same moment, and a restart simply scans again. Each recipient gets one digest
message per scan, not one message per ticket.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from peygir.ticket_store import store, webhooks
from peygir.ticket_store.models import EscalationAlert, Ticket, TicketEvent, TicketStatus
from peygir.ticket_store.voice import Line
from peygir.ticket_store.workflow import SYSTEM_ACTOR, Workflow

log = logging.getLogger(__name__)

# Unanswered means no first answer yet and still waiting in a queue.
WAITING = (TicketStatus.NEW.value, TicketStatus.ASSIGNED.value)
CHUNK = 5000  # rows per statement when thousands come due at once


@dataclass(frozen=True)
class Fired:
    ticket_id: int
    level: int
    recipient: str


async def escalate(workflow: Workflow, now: datetime) -> list[Fired]:
    """Fire every rung that is due; returns what this call fired (and no other call will)."""
    fired: list[Fired] = []
    for level, step in enumerate(workflow.rules.escalate, start=1):
        cutoff = now - timedelta(hours=step.after_hours)
        async with in_transaction() as connection:
            ids = await _claim(connection, level, step.to, cutoff, now)
            if not ids:
                continue
            tickets: list[Ticket] = []
            for start in range(0, len(ids), CHUNK):  # drivers cap the parameters of a query
                tickets += await Ticket.filter(id__in=ids[start:start + CHUNK]).only(
                    "id", "tracking_code", "unit_code")
            await _record(workflow, tickets, step.to, step.after_hours, now)
            if await webhooks.wanted("escalated"):  # whole rows only when someone listens
                for start in range(0, len(ids), CHUNK):
                    for full in await Ticket.filter(id__in=ids[start:start + CHUNK]):
                        await webhooks.record("escalated", full, {"level": level,
                                                                  "to": step.to}, now=now)
        fired += [Fired(t.id, level, step.to) for t in tickets]
        log.info("escalation: %d ticket(s) reached the %s after %s h", len(ids), step.to,
                 step.after_hours)
    return fired


async def _claim(connection: object, level: int, recipient: str, cutoff: datetime,
                 now: datetime) -> list[int]:
    """Raise the tickets due for this rung to it; returns their ids.

    An ``UPDATE … WHERE escalation_level < level`` is its own lock: a second scanner
    racing for the same row waits, re-reads it and finds it already raised."""
    marks = store.placeholders(connection, 3)
    waiting = ", ".join(f"'{s}'" for s in WAITING)  # constants, not input
    alert, ticket = EscalationAlert._meta.db_table, Ticket._meta.db_table
    rows = await connection.execute_query_dict(  # type: ignore[attr-defined]
        f"UPDATE {ticket} SET escalation_level = {marks[0]} "
        f"WHERE escalation_level < {marks[1]} AND created_at <= {marks[2]} "
        f"AND status IN ({waiting}) AND first_answer_at IS NULL RETURNING id",
        [level, level, cutoff],
    )
    ids = [row["id"] for row in rows]
    if ids:
        marks = store.placeholders(connection, 4)
        # The unique (ticket, level) pair is the second guard: a rung is recorded once.
        await connection.execute_many(  # type: ignore[attr-defined]
            f"INSERT INTO {alert} (ticket_id, level, recipient, fired_at) "
            f"VALUES ({', '.join(marks)}) ON CONFLICT (ticket_id, level) DO NOTHING",
            [[ticket_id, level, recipient, now] for ticket_id in ids],
        )
    return ids


async def _record(workflow: Workflow, tickets: list[Ticket], recipient: str, hours: float,
                  now: datetime) -> None:
    """The timeline line on each ticket and one digest per person alerted."""
    by_person: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    events = []
    for ticket in tickets:
        unit = workflow.city.unit_by_code.get(ticket.unit_code or "")
        contact = getattr(unit, recipient, None) if unit else None
        name = contact.name if contact else None  # None: the centre's own queue
        events.append(TicketEvent(ticket_id=ticket.id, actor=SYSTEM_ACTOR, at=now,
                                  note=workflow.voice.line(Line.ESCALATED, recipient=recipient,
                                                           name=name, hours=hours)))
        if contact and contact.channel and contact.chat_id:
            by_person[(contact.channel, contact.chat_id, contact.name)].append(
                ticket.tracking_code)
    await TicketEvent.bulk_create(events, batch_size=1000)
    for (channel, chat_id, name), codes in by_person.items():
        await workflow.voice.escalation_digest(channel, chat_id, name, codes, hours)


async def auto_close(workflow: Workflow, now: datetime, batch: int = 500) -> int:
    """Close resolved tickets nobody contested in time; each citizen then gets the survey."""
    cutoff = now - timedelta(hours=workflow.rules.auto_close_hours)
    closed = 0
    tickets = await Ticket.filter(status=TicketStatus.RESOLVED, resolved_at__lte=cutoff
                                  ).order_by("id").limit(batch)
    for ticket in tickets:
        try:
            await workflow.change_status(ticket, TicketStatus.CLOSED, SYSTEM_ACTOR,
                                         workflow.voice.line(Line.AUTO_CLOSED), now)
            closed += 1
        except Exception as exc:  # the citizen answered at the same moment: theirs stands
            log.info("auto-close of %s skipped: %s", ticket.tracking_code, exc)
    return closed

"""A back office's updates to a forwarded report, applied to the ticket through the workflow.

A compare-and-set on the state last applied (``ForwardedReport.remote_status`` and the
digest of its notes), in one transaction with the workflow's change, so each update reaches
the citizen once however many processes fetch it, and exactly as peygir's own units' moves do.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from tortoise.transactions import in_transaction

from peygir.ticket_store.forwarding import DONE
from peygir.ticket_store.models import ForwardedReport, Ticket, TicketStatus
from peygir.ticket_store.workflow import OPEN_STATES, TRANSITIONS, Workflow, WorkflowError


def _digest(notes: str) -> str:
    return hashlib.sha256(notes.encode()).hexdigest()


async def apply_update(workflow: Workflow, row_id: int, status: str, notes: str,
                       now: datetime) -> bool:
    """The back office's state (``open``/``closed``) and notes for one forwarded report,
    applied once: ``closed`` resolves the ticket (the citizen is asked to accept it, then to
    rate it, as for peygir's own units); a new note on an open one is a reply to the
    citizen. Returns whether anything changed."""
    row = await ForwardedReport.get_or_none(id=row_id)
    if row is None:
        return False
    digest = _digest(notes) if notes else row.notes_digest
    if status == row.remote_status and digest == row.notes_digest:
        return False
    actor = f"backoffice:{row.endpoint}"[:64]
    async with in_transaction():
        # Compare-and-set on what was last applied: another fetcher's copy loses here.
        won = await ForwardedReport.filter(
            id=row.id, remote_status=row.remote_status, notes_digest=row.notes_digest,
        ).update(remote_status=status, notes_digest=digest, checked_at=now)
        if not won:
            return False
        ticket = await Ticket.get(id=row.ticket_id)
        current = TicketStatus(ticket.status)
        note_is_new = bool(notes) and digest != row.notes_digest
        try:
            if status == "closed" and current in OPEN_STATES:
                if TicketStatus.RESOLVED not in TRANSITIONS[current]:
                    await workflow.change_status(ticket, TicketStatus.IN_PROGRESS, actor,
                                                 now=now)
                await workflow.change_status(ticket, TicketStatus.RESOLVED, actor, notes,
                                             now=now, public=bool(notes))
            elif note_is_new and current not in DONE and ticket.anonymised_at is None:
                await workflow.reply_to_citizen(ticket, actor, notes, now, public=True)
        except WorkflowError:
            pass  # staff moved it meanwhile: the update is recorded, the ticket stays theirs
    return True

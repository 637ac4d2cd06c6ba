"""What the store says about the service's health: reachable or not, what waits in its
queues and how long, tickets by state, escalations fired. Aggregates only: no row, no chat
id, nothing a citizen wrote ever leaves here (readiness and metrics are read by machines
that need no personal data)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise import connections
from tortoise.expressions import Q
from tortoise.functions import Count, Min

from peygir.ticket_store.models import (
    EscalationAlert,
    JobStatus,
    OutboxMessage,
    Ticket,
    TicketStatus,
    TranscriptionJob,
)


async def ping(timeout: float = 2.0) -> None:
    """Raise unless the database answers ``SELECT 1`` within ``timeout`` seconds."""
    await asyncio.wait_for(connections.get("default").execute_query("SELECT 1"), timeout)


@dataclass(frozen=True)
class Queues:
    """Work waiting now. The outbox counts replies due for a sender (not sent, not claimed,
    not failed for good, not waiting out a retry's backoff); ``lag`` is the age in seconds of
    the oldest of them, 0 when none waits."""

    outbox_waiting: int = 0
    outbox_lag: float = 0.0
    outbox_lag_by_channel: dict[str, float] = field(default_factory=dict)
    transcription_waiting: int = 0
    transcription_lag: float = 0.0


def _age(now: datetime, moment: Any) -> float:
    if moment is None:
        return 0.0
    if isinstance(moment, str):  # SQLite hands aggregates back as text
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (now - moment).total_seconds())


async def queues(pulled: Iterable[str] = (), now: datetime | None = None) -> Queues:
    """The queues' depths and ages. ``pulled``: outbox channels whose replies wait for the
    citizen's own client to fetch them (the web chat), so their age says nothing of ours."""
    now = now or datetime.now(UTC)
    due = OutboxMessage.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        sent_at__isnull=True, claimed_at__isnull=True, failed_at__isnull=True)
    skipped = list(pulled)
    if skipped:
        due = due.exclude(channel__in=skipped)
    rows = await due.group_by("channel").annotate(
        n=Count("id"), oldest=Min("created_at")).values("channel", "n", "oldest")
    by_channel = {str(r["channel"]): round(_age(now, r["oldest"]), 3) for r in rows}
    waiting = TranscriptionJob.filter(status=JobStatus.PENDING)
    jobs = await waiting.annotate(n=Count("id"), oldest=Min("created_at")).group_by(
        "status").values("n", "oldest")
    return Queues(
        outbox_waiting=sum(int(r["n"]) for r in rows),
        outbox_lag=max(by_channel.values(), default=0.0),
        outbox_lag_by_channel=by_channel,
        transcription_waiting=int(jobs[0]["n"]) if jobs else 0,
        transcription_lag=round(_age(now, jobs[0]["oldest"]), 3) if jobs else 0.0,
    )


async def tickets_by_state() -> dict[str, int]:
    """Every state the workflow knows, with its count (0 for none): a fixed set of labels."""
    rows = await Ticket.all().group_by("status").annotate(n=Count("id")).values("status", "n")
    counts = {str(state): 0 for state in TicketStatus}
    for row in rows:
        counts[str(row["status"])] = int(row["n"])
    return counts


async def escalations() -> int:
    """Escalation alerts fired so far (one per ticket and rung, whichever process fired it)."""
    return await EscalationAlert.all().count()

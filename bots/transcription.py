"""Voice notes to text, as jobs in the database, off the event loop.

The citizen hears «در حال تبدیل پیام صوتی…» at once; Whisper runs in a worker thread so every
other chat keeps being answered; the transcript then enters the dialogue as a message of its
own, with a dedup key of the job, in the same transaction that marks the job done. A job left
``running`` by a process that died is run again at start-up: nothing lost, nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from tortoise import connections
from tortoise.transactions import in_transaction

from peygir.config import loop
from peygir.config.clock import utcnow
from peygir.conversation import metrics
from peygir.conversation.dialogue import Dialogue
from peygir.messages import texts
from peygir.messages.types import IncomingMessage, Reply
from peygir.ticket_store import leases, store
from peygir.ticket_store.db import placeholders
from peygir.ticket_store.models import JobStatus, TranscriptionJob

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
RECOVER_EVERY = timedelta(seconds=5)  # between looks for jobs of processes that are gone


class SpeechToText(Protocol):
    def transcribe(self, path: str) -> object: ...  # returns something with a .text


class TranscriptionWorker:
    def __init__(
        self,
        dialogue: Dialogue,
        transcriber: Callable[[], SpeechToText],
        on_reply: Callable[[str], None] = lambda channel: None,
        stale_after: float = 900.0,
    ) -> None:
        self.dialogue = dialogue
        self._make_transcriber = transcriber
        self._transcriber: SpeechToText | None = None
        self.on_reply = on_reply  # wakes the channel's outbox
        self.wake = asyncio.Event()
        # A job running longer than this was left by a process that died (shared database).
        self.stale_after = timedelta(seconds=stale_after)
        self._recover_due = utcnow()

    async def recover(self) -> int:
        """Jobs a dead process left running go back in the queue. Alone on the database
        (SQLite), every running job at start-up is a dead process's; on a shared one, only
        jobs running longer than ``stale_after`` are (the others may be another worker's)."""
        if leases.database_shared():
            connection = connections.get("default")
            marks = placeholders(connection, 3)
            rows = await connection.execute_query_dict(
                f"UPDATE {TranscriptionJob._meta.db_table} SET status = {marks[0]}, "
                f"started_at = NULL, claimed_by = NULL WHERE status = {marks[1]} "
                f"AND (started_at < {marks[2]} OR {leases.dead_claim_sql('claimed_by')}) "
                "RETURNING id",
                [JobStatus.PENDING.value, JobStatus.RUNNING.value, utcnow() - self.stale_after])
            recovered = len(rows)
        else:
            recovered = await TranscriptionJob.filter(status=JobStatus.RUNNING).update(
                status=JobStatus.PENDING, started_at=None, claimed_by=None)
        if recovered:
            log.warning("%d voice notes were being transcribed by a process that stopped; "
                        "they are queued again", recovered)
        return recovered

    async def _claim(self) -> TranscriptionJob | None:
        """The oldest waiting job whose chat has no other note ahead of it or in Whisper now
        (a chat's notes enter the dialogue in the order they came), marked running by this
        worker. On PostgreSQL, workers in other processes skip the rows one of them is
        claiming (``SKIP LOCKED``) instead of queueing behind it."""
        connection = connections.get("default")
        table = TranscriptionJob._meta.db_table
        shared = connection.capabilities.dialect == "postgres"
        marks = placeholders(connection, 6)
        rows = await connection.execute_query_dict(
            f"UPDATE {table} SET status = {marks[0]}, started_at = {marks[1]}, "
            f"attempts = attempts + 1, claimed_by = {leases.PROCESS} "
            f"WHERE id = (SELECT j.id FROM {table} j WHERE j.status = {marks[2]} "
            f"AND NOT EXISTS (SELECT 1 FROM {table} o WHERE o.channel = j.channel "
            "AND o.chat_id = j.chat_id AND (o.status = "
            f"{marks[3]} OR (o.status = {marks[4]} AND o.id < j.id))) "
            f"ORDER BY j.id LIMIT 1{' FOR UPDATE SKIP LOCKED' if shared else ''}) "
            f"AND status = {marks[5]} RETURNING id",
            [JobStatus.RUNNING.value, utcnow(), JobStatus.PENDING.value,
             JobStatus.RUNNING.value, JobStatus.PENDING.value, JobStatus.PENDING.value],
        )
        if not rows:
            return None
        return await TranscriptionJob.get(id=rows[0]["id"])

    def _speech(self) -> SpeechToText:
        if self._transcriber is None:
            self._transcriber = self._make_transcriber()  # loads the model once, on first use
        return self._transcriber

    async def run_once(self) -> bool:
        """Transcribe one pending job; False when there was none."""
        job = await self._claim()
        if job is None:
            return False
        attachment = await job.attachment
        try:
            result = await asyncio.to_thread(self._speech().transcribe, attachment.path or "")
            text = str(getattr(result, "text", "")).strip()
        except Exception as exc:
            log.warning("transcription job %d failed: %s", job.id, exc)
            await self._failed(job, repr(exc))
            return True
        message = IncomingMessage(
            channel=job.channel, chat_id=job.chat_id, user_id=job.user_id,
            message_id=f"transcript-{job.id}", dedup_key=f"transcript:{job.id}",
            text=text or "…", from_voice=True,
        )
        async with in_transaction():
            await self.dialogue.handle(message)
            await TranscriptionJob.filter(id=job.id).update(
                status=JobStatus.DONE, transcript=text, finished_at=datetime.now(UTC))
        # What the citizen waited: in the queue, then Whisper, then the dialogue.
        metrics.TRANSCRIPTION_SECONDS.observe(
            (datetime.now(UTC) - job.created_at).total_seconds())
        self.on_reply(job.channel)
        return True

    async def _failed(self, job: TranscriptionJob, error: str) -> None:
        if job.attempts < MAX_ATTEMPTS:  # counted when it was claimed
            await TranscriptionJob.filter(id=job.id).update(status=JobStatus.PENDING,
                                                            error=error[:1000])
            return
        async with in_transaction():
            await TranscriptionJob.filter(id=job.id).update(
                status=JobStatus.FAILED, error=error[:1000], finished_at=datetime.now(UTC))
            await store.enqueue(job.channel, job.chat_id, Reply(texts.TRANSCRIPTION_FAILED))
        self.on_reply(job.channel)

    async def run(self, stop: asyncio.Event, idle: float = 1.0) -> None:
        await self.recover()
        await loop.work("transcription worker", self._drain, stop, idle, self.wake)

    async def _drain(self) -> None:
        if leases.database_shared() and utcnow() >= self._recover_due:
            # Another process may have died holding jobs: look now and then, not only at start.
            await self.recover()
            self._recover_due = utcnow() + RECOVER_EVERY
        while await self.run_once():
            pass

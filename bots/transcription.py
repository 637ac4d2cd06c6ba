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
from datetime import UTC, datetime
from typing import Protocol

from tortoise.transactions import in_transaction

from peygir.config import loop
from peygir.conversation import metrics
from peygir.conversation.dialogue import Dialogue
from peygir.messages import texts
from peygir.messages.types import IncomingMessage, Reply
from peygir.ticket_store import store
from peygir.ticket_store.models import JobStatus, TranscriptionJob

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


class SpeechToText(Protocol):
    def transcribe(self, path: str) -> object: ...  # returns something with a .text


class TranscriptionWorker:
    def __init__(
        self,
        dialogue: Dialogue,
        transcriber: Callable[[], SpeechToText],
        on_reply: Callable[[str], None] = lambda channel: None,
    ) -> None:
        self.dialogue = dialogue
        self._make_transcriber = transcriber
        self._transcriber: SpeechToText | None = None
        self.on_reply = on_reply  # wakes the channel's outbox
        self.wake = asyncio.Event()

    async def recover(self) -> int:
        """At start-up: jobs a dead process left running go back in the queue."""
        return await TranscriptionJob.filter(status=JobStatus.RUNNING).update(
            status=JobStatus.PENDING, started_at=None)

    async def _claim(self) -> TranscriptionJob | None:
        job = await TranscriptionJob.filter(status=JobStatus.PENDING).order_by("id").first()
        if job is None:
            return None
        claimed = await TranscriptionJob.filter(id=job.id, status=JobStatus.PENDING).update(
            status=JobStatus.RUNNING, started_at=datetime.now(UTC), attempts=job.attempts + 1)
        return job if claimed else None

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
        if job.attempts + 1 < MAX_ATTEMPTS:
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
        while await self.run_once():
            pass

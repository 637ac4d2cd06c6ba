"""A voice note becomes a report: a job in the database, Whisper off the event loop, one tap."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from peygir.bots.transcription import TranscriptionWorker
from peygir.channels.memory import MemoryChannel
from peygir.conversation.dialogue import Dialogue
from peygir.media_ingest.intake import store_by_hash
from peygir.media_ingest.transcribe import Transcriber
from peygir.messages.types import Attachment, Reply
from peygir.ticket_store import leases
from peygir.ticket_store.models import Attachment as AttachmentRow
from peygir.ticket_store.models import JobStatus, Ticket, TranscriptionJob


@dataclass
class Heard:
    text: str


class ScriptedEars:
    """Stands in for Whisper where the test is about the job, not about speech."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.calls = 0

    def transcribe(self, path: str) -> Heard:
        assert Path(path).is_file()
        self.calls += 1
        return Heard(self.text)


def buttons(reply: Reply) -> list[str]:
    return [b.data for row in reply.buttons for b in row]


async def send_voice(chat: MemoryChannel, who: str, note: Path, media: Path) -> list[Reply]:
    stored = store_by_hash(note, media)
    voice = Attachment("voice", f"file-{who}", "audio/ogg", stored.stat().st_size, 4.0,
                       path=str(stored))
    return await chat.send(chat.message(who, attachments=(voice,)))


async def test_voice_note_is_filed_only_after_a_tap(
    chat: MemoryChannel, dialogue: Dialogue, voice_note: Path, tmp_path: Path
) -> None:
    replies = await send_voice(chat, "vo", voice_note, tmp_path / "media")
    assert "در حال تبدیل پیام صوتی" in replies[-1].text
    assert await TranscriptionJob.filter(status=JobStatus.PENDING).count() == 1

    ears = ScriptedEars("سلام یه درخت بزرگ تو کوچه ما افتاده و راه بسته شده")
    worker = TranscriptionWorker(dialogue, lambda: ears)
    assert await worker.run_once()
    assert await worker.run_once() is False
    replies = await chat.flush("vo")
    assert "متن پیام صوتی شما" in replies[-1].text and "درخت" in replies[-1].text
    choices = buttons(replies[-1])
    assert choices[0].startswith("svc:") and choices[-1] == "svc:none"
    assert await Ticket.all().count() == 0  # a voice report is never filed without a tap

    await chat.say("vo", callback=choices[0])
    await chat.say("vo", callback="loc:skip")
    filed = await chat.say("vo", callback="confirm")
    assert "کد پیگیری" in filed[-1].text
    ticket = await Ticket.get(chat_id="vo")
    assert ticket.transcript and "درخت" in ticket.transcript
    assert await AttachmentRow.filter(ticket=ticket, kind="voice").count() == 1


@pytest.mark.parametrize(("heard", "expected"), [
    ("سلام وقتتون بخیر آشقال کوچه", "svc:garbage_collection"),  # reads as a greeting
    ("سلام خسته نباشید درخت کجس بیشه", "svc:fallen_tree"),  # too unclear to act on
])
async def test_a_garbled_note_still_offers_three_guesses(
    chat: MemoryChannel, dialogue: Dialogue, voice_note: Path, tmp_path: Path,
    heard: str, expected: str,
) -> None:
    """Typed, these get a greeting or «I did not understand»; heard, the citizen picks."""
    await send_voice(chat, "gx", voice_note, tmp_path / "media")
    assert await TranscriptionWorker(dialogue, lambda: ScriptedEars(heard)).run_once()
    choices = buttons((await chat.flush("gx"))[-1])
    assert len(choices) == 4 and choices[-1] == "svc:none"
    assert expected in choices
    await chat.say("gx", callback=expected)
    await chat.say("gx", callback="loc:skip")
    assert "کد پیگیری" in (await chat.say("gx", callback="confirm"))[-1].text
    assert (await Ticket.get(chat_id="gx")).service_code == expected.removeprefix("svc:")


async def test_a_job_interrupted_by_a_crash_runs_again_once(
    chat: MemoryChannel, dialogue: Dialogue, voice_note: Path, tmp_path: Path
) -> None:
    await send_voice(chat, "kx", voice_note, tmp_path / "media")
    job = await TranscriptionJob.get(chat_id="kx")
    # The process died mid-transcription: the job is left running, claimed by it.
    await TranscriptionJob.filter(id=job.id).update(
        status=JobStatus.RUNNING, started_at=datetime.now(UTC), claimed_by=leases.PROCESS)
    ears = ScriptedEars("آسفالت کوچه ما پر از چاله شده")
    worker = TranscriptionWorker(dialogue, lambda: ears, stale_after=60)
    assert await worker.run_once() is False  # running elsewhere, as far as anyone knows
    if leases.database_shared():
        # PostgreSQL, shared by processes: a job whose process lives (this one) stays its...
        await leases.announce()
        assert await worker.recover() == 0
        # ...and one whose process is gone is queued again at once, as is one running past
        # stale_after (its process hung).
        await TranscriptionJob.filter(id=job.id).update(claimed_by=leases.PROCESS + 1)
        assert await worker.recover() == 1
        await TranscriptionJob.filter(id=job.id).update(
            status=JobStatus.RUNNING, claimed_by=leases.PROCESS,
            started_at=datetime.now(UTC) - timedelta(seconds=61))
    assert await worker.recover() == 1  # ...until a restart
    assert await worker.run_once()
    assert ears.calls == 1
    heard = [r for r in await chat.flush("kx") if "متن پیام صوتی" in r.text]
    assert len(heard) == 1
    assert (await TranscriptionJob.get(id=job.id)).status == JobStatus.DONE


async def test_a_failing_transcription_ends_politely(
    chat: MemoryChannel, dialogue: Dialogue, voice_note: Path, tmp_path: Path
) -> None:
    await send_voice(chat, "fx", voice_note, tmp_path / "media")

    class Deaf:
        def transcribe(self, path: str) -> Heard:
            raise RuntimeError("the model crashed")

    worker = TranscriptionWorker(dialogue, Deaf)
    for _ in range(3):
        assert await worker.run_once()
    assert (await TranscriptionJob.get(chat_id="fx")).status == JobStatus.FAILED
    replies = await chat.flush("fx")
    assert any("نتوانستم" in r.text for r in replies)


async def test_real_whisper_transcript_reaches_the_citizen(
    chat: MemoryChannel, dialogue: Dialogue, voice_note: Path, whisper_dir: Path,
    tmp_path: Path,
) -> None:
    await send_voice(chat, "rw", voice_note, tmp_path / "media")
    worker = TranscriptionWorker(dialogue, lambda: Transcriber(str(whisper_dir)))
    assert await worker.run_once()
    job = await TranscriptionJob.get(chat_id="rw")
    assert job.status == JobStatus.DONE and job.transcript
    replies = await chat.flush("rw")
    assert "متن پیام صوتی شما" in replies[-1].text

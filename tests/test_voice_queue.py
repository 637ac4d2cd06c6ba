"""A voice note behind a long queue is answered with roughly how long it will take.

The queue and the recent jobs are real rows, on SQLite and PostgreSQL; the estimate is
(pending up to this note + running) × recent seconds per job ÷ workers, the workers being
the jobs running or the recent jobs' side-by-side count, whichever is more.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from peygir.channels.memory import MemoryChannel
from peygir.conversation.voice_wait import TELL_AFTER
from peygir.media_ingest.intake import store_by_hash
from peygir.messages import texts
from peygir.messages.persian import about_wait
from peygir.messages.types import Attachment, Reply
from peygir.ticket_store import voice_queue
from peygir.ticket_store.models import Attachment as AttachmentRow
from peygir.ticket_store.models import JobStatus, TranscriptionJob

CHANNEL = MemoryChannel.name


def queued(wait: str) -> str:
    return texts.TRANSCRIBING_QUEUED.format(wait=wait)


async def send_voice(chat: MemoryChannel, who: str, note: Path, media: Path) -> list[Reply]:
    stored = store_by_hash(note, media)
    voice = Attachment("voice", f"file-{who}", "audio/ogg", stored.stat().st_size, 9.0,
                       path=str(stored))
    return await chat.send(chat.message(who, attachments=(voice,)))


async def jobs(count: int, status: JobStatus, *, took: float = 0.0,
               finished_ago: timedelta = timedelta(minutes=5), chat: str = "other",
               lanes: int = 1) -> list[TranscriptionJob]:
    """``count`` jobs of other citizens. Finished ones took ``took`` seconds each, one after
    another in each of ``lanes`` workers, the newest ``finished_ago``."""
    now = datetime.now(UTC)
    made = []
    for n in range(count):
        who = f"{chat}-{status.value}-{n}"
        row = await AttachmentRow.create(channel=CHANNEL, chat_id=who, kind="voice",
                                         file_ref=f"f-{who}", mime="audio/ogg", size=1000,
                                         duration=10.0, path=f"/nowhere/{who}.ogg")
        earlier = timedelta(seconds=took * ((count - 1 - n) // lanes))  # higher ids finish later
        finished = (now - finished_ago - earlier
                    if status in (JobStatus.DONE, JobStatus.FAILED) else None)
        started = (finished - timedelta(seconds=took) if finished
                   else now if status == JobStatus.RUNNING else None)
        made.append(await TranscriptionJob.create(
            channel=CHANNEL, chat_id=who, user_id=who, attachment=row, status=status,
            attempts=1 if started else 0, started_at=started, finished_at=finished))
    return made


async def test_an_empty_queue_gets_the_usual_words(
    chat: MemoryChannel, voice_note: Path, tmp_path: Path
) -> None:
    replies = await send_voice(chat, "q0", voice_note, tmp_path / "media")
    assert [r.text for r in replies] == [texts.TRANSCRIBING]


async def test_a_short_queue_still_gets_the_usual_words(
    chat: MemoryChannel, voice_note: Path, tmp_path: Path
) -> None:
    # 4 ahead + this one, 5 s a job with no history: 25 s, under the 30 s from which it is said.
    await jobs(4, JobStatus.PENDING)
    replies = await send_voice(chat, "q1", voice_note, tmp_path / "media")
    assert [r.text for r in replies] == [texts.TRANSCRIBING]


async def test_a_long_queue_with_no_history_uses_the_default(
    chat: MemoryChannel, voice_note: Path, tmp_path: Path
) -> None:
    # 10 ahead + this one = 11 × 5 s = 55 s.
    await jobs(10, JobStatus.PENDING)
    replies = await send_voice(chat, "q2", voice_note, tmp_path / "media")
    assert [r.text for r in replies] == [queued("کمتر از یک دقیقه")]
    assert "در نوبت" in replies[0].text


async def test_the_wait_is_named_from_recent_jobs(
    chat: MemoryChannel, voice_note: Path, tmp_path: Path
) -> None:
    # Recent jobs took 18 s; 8 pending + this one + 1 running = 10 × 18 s = 3 minutes.
    await jobs(20, JobStatus.DONE, took=18.0)
    await jobs(1, JobStatus.RUNNING)
    await jobs(8, JobStatus.PENDING)
    replies = await send_voice(chat, "q3", voice_note, tmp_path / "media")
    assert [r.text for r in replies] == [
        "پیام صوتی شما در نوبت تبدیل به متن است؛ حدود ۳ دقیقه طول می‌کشد. "
        "از شکیبایی شما سپاسگزاریم."]
    job = await TranscriptionJob.get(chat_id="q3")
    assert job.status == JobStatus.PENDING  # told, and queued all the same


async def test_two_jobs_running_mean_two_workers(
    chat: MemoryChannel, voice_note: Path, tmp_path: Path
) -> None:
    # 11 pending + this one + 2 running = 14 jobs × 60 s ÷ 2 workers = 7 minutes (not 14).
    await jobs(20, JobStatus.DONE, took=60.0)
    await jobs(2, JobStatus.RUNNING)
    await jobs(11, JobStatus.PENDING)
    replies = await send_voice(chat, "q4", voice_note, tmp_path / "media")
    assert [r.text for r in replies] == [queued("حدود ۷ دقیقه")]


async def test_recent_jobs_side_by_side_mean_two_workers_before_any_runs(
    chat: MemoryChannel, voice_note: Path, tmp_path: Path
) -> None:
    # The last burst ran two at a time; a new burst meets them idle: still 2 workers.
    # 13 pending + this one = 14 × 60 s ÷ 2 = 7 minutes.
    await jobs(20, JobStatus.DONE, took=60.0, lanes=2)
    await jobs(13, JobStatus.PENDING)
    replies = await send_voice(chat, "q6", voice_note, tmp_path / "media")
    assert [r.text for r in replies] == [queued("حدود ۷ دقیقه")]
    wait = await voice_queue.expected_wait(CHANNEL, "q6")
    assert (wait.side_by_side, wait.running, wait.workers) == (2, 0, 2)


async def test_old_and_failed_jobs_say_nothing_of_the_pace(
    chat: MemoryChannel, voice_note: Path, tmp_path: Path
) -> None:
    # Slow jobs two hours ago and slow failures now are not today's pace: the default
    # 5 s holds, and 3 ahead + this one is 20 s, under the threshold.
    await jobs(20, JobStatus.DONE, took=600.0, finished_ago=timedelta(hours=2), chat="old")
    await jobs(5, JobStatus.FAILED, took=600.0, chat="failed")
    await jobs(3, JobStatus.PENDING)
    replies = await send_voice(chat, "q5", voice_note, tmp_path / "media")
    assert [r.text for r in replies] == [texts.TRANSCRIBING]
    wait = await voice_queue.expected_wait(CHANNEL, "q5")
    assert (wait.samples, wait.per_job) == (0, voice_queue.DEFAULT_PER_JOB)


async def test_only_the_newest_finished_jobs_set_the_pace(db: str) -> None:
    await jobs(voice_queue.RECENT_JOBS, JobStatus.DONE, took=100.0, chat="older")
    await jobs(voice_queue.RECENT_JOBS, JobStatus.DONE, took=10.0, chat="newer")
    per_job, samples, side_by_side = await voice_queue._per_job(datetime.now(UTC))
    assert (per_job, samples, side_by_side) == (pytest.approx(10.0), voice_queue.RECENT_JOBS, 1)


async def test_jobs_queued_later_are_not_ahead(db: str) -> None:
    await jobs(2, JobStatus.PENDING, chat="before")
    await jobs(1, JobStatus.RUNNING)
    await jobs(1, JobStatus.PENDING, chat="me")
    await jobs(5, JobStatus.PENDING, chat="after")
    wait = await voice_queue.expected_wait(CHANNEL, "me-pending-0")
    assert (wait.ahead, wait.running, wait.workers) == (3, 1, 1)
    assert wait.seconds == pytest.approx(4 * voice_queue.DEFAULT_PER_JOB)


async def test_a_worker_finishing_real_jobs_feeds_the_estimate(
    chat: MemoryChannel, voice_note: Path, tmp_path: Path
) -> None:
    """Through the worker: the jobs it finishes give the pace the next citizen is told."""
    from peygir.bots.transcription import TranscriptionWorker

    class Ears:
        def transcribe(self, path: str) -> object:
            return type("Heard", (), {"text": "چاله بزرگ در خیابان"})()

    for n in range(3):
        await send_voice(chat, f"w{n}", voice_note, tmp_path / "media")
    worker = TranscriptionWorker(chat.dialogue, Ears)
    while await worker.run_once():
        pass
    # Pretend each took 40 s, one after another, as long notes on a busy core would.
    done = await TranscriptionJob.filter(status=JobStatus.DONE).order_by("id")
    assert len(done) == 3
    start = datetime.now(UTC) - timedelta(seconds=3 * 40 + 1)
    for k, job in enumerate(done):
        await TranscriptionJob.filter(id=job.id).update(
            started_at=start + timedelta(seconds=40 * k),
            finished_at=start + timedelta(seconds=40 * (k + 1)))
    replies = await send_voice(chat, "w9", voice_note, tmp_path / "media")
    assert [r.text for r in replies] == [queued("کمتر از یک دقیقه")]  # 1 × 40 s
    await jobs(2, JobStatus.PENDING)
    replies = await send_voice(chat, "w10", voice_note, tmp_path / "media")
    assert [r.text for r in replies] == [queued("حدود ۳ دقیقه")]  # (1 + 2 + 1) × 40 s


@pytest.mark.parametrize(("seconds", "said"), [
    (TELL_AFTER + 1, "کمتر از یک دقیقه"),
    (59.0, "کمتر از یک دقیقه"),
    (61.0, "حدود یک دقیقه"),
    (100.0, "حدود ۲ دقیقه"),
    (180.0, "حدود ۳ دقیقه"),
    (59 * 60.0, "حدود ۵۹ دقیقه"),
    (3600.0, "حدود یک ساعت"),
    (4800.0, "حدود یک ساعت و ۲۰ دقیقه"),
    (7200.0, "حدود ۲ ساعت"),
])
def test_waits_are_said_in_whole_minutes(seconds: float, said: str) -> None:
    assert about_wait(seconds) == said

"""How long a voice note just queued will wait for its transcript: counted here, worded above.

The estimate is deliberately simple (and said to the citizen as «about N minutes», never as a
promise)::

    seconds = (pending jobs up to this chat's newest + jobs running) × seconds per job ÷ workers

- *seconds per job*: the mean of ``finished_at − started_at`` (claim to transcript, the
  dialogue's turn included) over the newest ``RECENT_JOBS`` finished jobs, counting those done
  within ``RECENT_WINDOW``; ``DEFAULT_PER_JOB`` when there are none (a fresh install, a quiet
  night);
- *workers*: no table lists them (each ``peygir serve`` process runs one), so the larger of
  the jobs running now and how many of those recent jobs ran side by side on average (their
  summed durations ÷ the span from the first start to the last finish, rounded), at least 1.
  The second matters when a burst meets idle workers: nothing is running yet, but the last
  burst showed two at work (bench.voice_queue: without it two workers' waits were told about
  twice too long). Recent jobs spread over a quiet hour run side by side "0.1 times": 1.

The running jobs are counted whole although they are part-way through, and this note's own
job is counted too: the citizen is told a little more rather than less.

Bounded work, whatever the history: two statements. The first reads only pending and running
rows, through the index on ``status``; the second walks the primary key backwards and stops
after ``RECENT_JOBS`` finished rows, passing over at most the queue on its way (it
deliberately filters on ``finished_at`` rather than ``status``, so no planner is tempted to
gather every done job of the past through the status index and sort them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise import connections

from peygir.ticket_store.db import placeholders
from peygir.ticket_store.models import JobStatus, TranscriptionJob

RECENT_JOBS = 20
RECENT_WINDOW = timedelta(hours=1)
DEFAULT_PER_JOB = 5.0  # seconds: a 10-20 s note on the Whisper base model, one core


@dataclass(frozen=True)
class QueueWait:
    ahead: int  # pending jobs queued up to this chat's newest one, itself included
    running: int  # jobs being transcribed right now
    per_job: float  # seconds, from recent jobs or the default
    samples: int  # recent finished jobs behind ``per_job`` (0: the default)
    side_by_side: int = 1  # how many of the recent jobs ran at once, on average (rounded)

    @property
    def workers(self) -> int:
        return max(1, self.running, self.side_by_side)

    @property
    def seconds(self) -> float:
        return (self.ahead + self.running) * self.per_job / self.workers


def _moment(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite may hand datetimes back as text
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _counts(channel: str, chat_id: str) -> tuple[int, int]:
    """(ahead, running). Inside the caller's transaction, so the job it just queued counts."""
    connection = connections.get("default")
    marks = placeholders(connection, 2)
    table = TranscriptionJob._meta.db_table
    pending, running = JobStatus.PENDING.value, JobStatus.RUNNING.value
    rows = await connection.execute_query_dict(
        f"SELECT"
        f" SUM(CASE WHEN status = '{running}' THEN 1 ELSE 0 END) AS running,"
        f" SUM(CASE WHEN status = '{pending}' AND id <= ("
        f"SELECT MAX(id) FROM {table} WHERE status = '{pending}'"
        f" AND channel = {marks[0]} AND chat_id = {marks[1]}) THEN 1 ELSE 0 END) AS ahead"
        f" FROM {table} WHERE status IN ('{pending}', '{running}')",
        [channel, chat_id],
    )
    row = rows[0] if rows else {}
    return int(row.get("ahead") or 0), int(row.get("running") or 0)


async def _per_job(now: datetime) -> tuple[float, int, int]:
    """(mean seconds per job, how many jobs it is from, how many ran side by side) over the
    newest finished jobs."""
    rows = await (TranscriptionJob.filter(finished_at__isnull=False).order_by("-id")
                  .limit(RECENT_JOBS).values_list("status", "started_at", "finished_at"))
    since = now - RECENT_WINDOW
    took: list[float] = []
    first: datetime | None = None
    last: datetime | None = None
    for status, started_at, finished_at in rows:
        started, finished = _moment(started_at), _moment(finished_at)
        if status != JobStatus.DONE or started is None or finished is None or finished < since:
            continue  # a failed job's time says nothing of a transcript's
        took.append(max(0.0, (finished - started).total_seconds()))
        first = started if first is None else min(first, started)
        last = finished if last is None else max(last, finished)
    if not took or first is None or last is None:
        return DEFAULT_PER_JOB, 0, 1
    span = (last - first).total_seconds()
    side_by_side = max(1, round(sum(took) / span)) if span > 0 else 1
    return sum(took) / len(took), len(took), side_by_side


async def expected_wait(channel: str, chat_id: str, now: datetime | None = None) -> QueueWait:
    """The wait for this chat's newest pending voice note, from the queue as it stands."""
    ahead, running = await _counts(channel, chat_id)
    per_job, samples, side_by_side = await _per_job(now or datetime.now(UTC))
    return QueueWait(ahead=ahead, running=running, per_job=per_job, samples=samples,
                     side_by_side=side_by_side)

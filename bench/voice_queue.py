"""Voice notes in a queue: the wait from arrival to transcript, in bursts, with one and two
transcription workers, and how many notes an hour one core can take.

Run from the repository root::

    .venv/bin/python -m bench.voice_queue [--sizes 10,50,200] [--workers 1,2]
                                          [--databases sqlite,postgres] [--json FILE]

Each burst is ``--sizes`` notes (espeak-ng Persian, 5-20 s, OGG/Opus) queued as
``TranscriptionJob`` rows in one transaction, all stamped with its commit instant; then
``--workers`` worker processes, each a ``bots.transcription.TranscriptionWorker`` with its own
``Transcriber`` (the model already loaded and warmed), drain the queue on a real database. A
note's wait is ``finished_at − created_at``: the transcript has entered the dialogue in the
transaction that sets ``finished_at``. Nearest-rank p50/p99 over the burst's notes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHANNEL = "bench"
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/test"  # the admin connection only
SCRATCH_PREFIX = "peygir_bench_voice"  # its own database, never the tests' ``test``
READY_TIMEOUT = 600.0  # seconds for a worker to load the model on a busy machine

# Civic reports written for this benchmark (not from the dev set). At espeak-ng's 150 words a
# minute they last about 5 to 20 seconds; the burst cycles through them.
NOTES = (
    "سلام، لامپ تیر برق سر کوچه‌ی ما سوخته و شب‌ها همه جا تاریک است.",
    "آب لوله‌ی اصلی جلوی نانوایی از دیروز صبح بیرون می‌زند و خیابان را خیس کرده است.",
    "سلام وقت بخیر. سطل زباله‌ی بزرگ کنار پارک محله سه روز است خالی نشده و گربه‌ها "
    "کیسه‌ها را پاره کرده‌اند. لطفاً ماشین زباله را بفرستید.",
    "یک گودال عمیق وسط خیابان اصلی باز شده و دیشب دو موتورسوار در آن افتادند. هیچ علامت "
    "هشداری هم کنارش نگذاشته‌اند.",
    "خسته نباشید. شاخه‌ی بزرگی از درخت چنار جلوی مدرسه شکسته و روی پیاده‌رو افتاده است. "
    "بچه‌ها مجبورند از وسط خیابان رد شوند و این خیلی خطرناک است. لطفاً هر چه زودتر کسی را "
    "برای جمع کردنش بفرستید.",
    "سلام. کارگاه ساختمانی کوچه‌ی بغلی هر شب تا ساعت دو بامداد سر و صدا دارد و نخاله‌هایش "
    "را کنار جوی آب ریخته است. آب باران راهی ندارد و جلوی خانه‌ها جمع می‌شود. لطفاً یک "
    "بازرس بفرستید.",
    "چراغ راهنمایی چهارراه بیمارستان از صبح خاموش است و ماشین‌ها بی‌نظم رد می‌شوند.",
    "سلام، نیمکت‌های ایستگاه اتوبوس خیابان بهار شکسته‌اند و سایبانش هم افتاده است. "
    "سالمندان زیر آفتاب منتظر می‌مانند.",
)


# ---------------------------------------------------------------- the notes


@dataclass(frozen=True)
class Note:
    path: str
    seconds: float  # audio length


def make_notes() -> list[Note]:
    """The notes spoken once and cached (``bench.voice.synthesise``); their lengths read back."""
    import av

    from bench.voice import synthesise

    notes = []
    for text in NOTES:
        path = synthesise(text)
        with av.open(str(path)) as container:
            seconds = float(container.duration or 0) / 1_000_000
        notes.append(Note(str(path), round(seconds, 2)))
    return notes


# ---------------------------------------------------------------- one worker (a process)


async def worker_process(url: str, model: str, warm: str, pin: int | None) -> None:
    """A worker as ``peygir serve`` runs one: it says ``ready`` once its model is loaded and
    warm, then on each ``go`` drains the queue and answers with a JSON line of what it did."""
    if pin is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {pin})  # before the model starts its threads: they inherit it
    from peygir.bots.transcription import TranscriptionWorker
    from peygir.config.pack import load_pack
    from peygir.conversation.dialogue import Dialogue
    from peygir.media_ingest.transcribe import Transcriber
    from peygir.nlu.classifier import Classifier
    from peygir.nlu.learned import one_blas_thread
    from peygir.ticket_store.db import close_db, open_db
    from peygir.ticket_store.models import JobStatus, TranscriptionJob

    pack = load_pack()
    one_blas_thread()
    dialogue = Dialogue(pack, Classifier(pack))
    transcriber = Transcriber(model, hotwords=pack.hotwords)  # as bots.core starts it
    await asyncio.to_thread(transcriber.transcribe, warm)  # model load and first-call costs
    await open_db(url, upgrade=False)
    worker = TranscriptionWorker(dialogue, lambda: transcriber)
    print("ready", flush=True)
    try:
        while (await asyncio.to_thread(sys.stdin.readline)).strip() == "go":
            cpu, began, done = time.process_time(), time.perf_counter(), 0
            while True:
                if await worker.run_once():
                    done += 1
                    continue
                # None claimed: the queue is empty, or another worker won this claim.
                if not await TranscriptionJob.filter(status=JobStatus.PENDING).exists():
                    break
                await asyncio.sleep(0.01)
            print(json.dumps({"jobs": done, "cpu_s": time.process_time() - cpu,
                              "wall_s": time.perf_counter() - began}), flush=True)
    finally:
        await close_db()


# ---------------------------------------------------------------- the runs


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass
class Burst:
    database: str
    workers: int
    notes: int
    audio_s: float
    p50_s: float
    p99_s: float
    max_s: float
    drain_s: float  # from the commit to the last transcript
    notes_per_hour: float  # notes ÷ drain, an hour of it
    cpu_s_per_note: float  # the workers' CPU (all their threads) ÷ notes
    told_last_s: float  # what voice_queue.expected_wait said to the burst's last note
    told_last_words: str
    failed: int
    per_worker: list[int]  # jobs each worker did


@contextlib.asynccontextmanager
async def database(kind: str, admin_url: str, folder: Path) -> AsyncIterator[str]:
    """A SQLite file in ``folder``, or a scratch PostgreSQL database dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite://{folder / f'voice-{uuid.uuid4().hex[:6]}.db'}"
        return
    from bench.scratch import scratch_postgres

    async with scratch_postgres(admin_url, SCRATCH_PREFIX) as url:
        yield url


async def queue_burst(size: int, notes: Sequence[Note], tag: str) -> tuple[list[int], float]:
    """``size`` jobs in one transaction, all stamped with one instant just before the commit:
    they arrive together, as a burst of citizens' notes would. Returns their ids and audio s."""
    from tortoise.transactions import in_transaction

    from peygir.ticket_store.models import Attachment, TranscriptionJob

    ids: list[int] = []
    audio = 0.0
    async with in_transaction():
        for n in range(size):
            note = notes[n % len(notes)]
            chat = f"{tag}-{n}"
            row = await Attachment.create(channel=CHANNEL, chat_id=chat, kind="voice",
                                          file_ref=f"bench-{chat}", mime="audio/ogg",
                                          size=Path(note.path).stat().st_size,
                                          duration=note.seconds, path=note.path)
            job = await TranscriptionJob.create(channel=CHANNEL, chat_id=chat, user_id=chat,
                                                attachment=row)
            ids.append(job.id)
            audio += note.seconds
        await TranscriptionJob.filter(id__in=ids).update(created_at=datetime.now(UTC))
    return ids, audio


def _seconds(later: datetime | None, earlier: datetime | None) -> float:
    if later is None or earlier is None:
        return math.nan
    return (later - earlier).total_seconds()


async def run_bursts(kind: str, url: str, workers: int, sizes: Sequence[int],
                     notes: Sequence[Note], model: str, pin: bool) -> list[Burst]:
    from peygir.conversation.voice_wait import TELL_AFTER
    from peygir.messages.persian import about_wait
    from peygir.ticket_store.db import close_db, open_db
    from peygir.ticket_store.models import JobStatus, TranscriptionJob
    from peygir.ticket_store.voice_queue import expected_wait

    await open_db(url)  # migrated here, once, before the workers connect
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    procs = []
    for n in range(workers):
        argv = [sys.executable, "-m", "bench.voice_queue", "--worker-of", url,
                "--model", model, "--warm", notes[0].path]
        if pin:
            argv += ["--pin-cpu", str(cpus[n % len(cpus)])]
        procs.append(await asyncio.create_subprocess_exec(
            *argv, cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE))

    async def line(proc: asyncio.subprocess.Process, timeout: float) -> str:
        """The worker's next word (``ready`` or a JSON line); whatever else a library may
        print on its stdout is passed over."""
        assert proc.stdout is not None
        while True:
            got = await asyncio.wait_for(proc.stdout.readline(), timeout)
            if not got:
                raise RuntimeError(f"worker {proc.pid} ended (exit {await proc.wait()})")
            text = got.decode().strip()
            if text == "ready" or text.startswith("{"):
                return text

    def say(proc: asyncio.subprocess.Process, word: str) -> None:
        assert proc.stdin is not None
        proc.stdin.write(f"{word}\n".encode())

    bursts = []
    try:
        for proc in procs:
            if (answer := await line(proc, READY_TIMEOUT)) != "ready":
                raise RuntimeError(f"worker {proc.pid} said {answer!r}")
        for size in sizes:
            tag = f"{kind}-w{workers}-n{size}"
            ids, audio = await queue_burst(size, notes, tag)
            told = await expected_wait(CHANNEL, f"{tag}-{size - 1}")  # the last note's reply
            for proc in procs:
                say(proc, "go")
            done = [json.loads(await line(proc, 24 * 3600.0)) for proc in procs]
            rows = await TranscriptionJob.filter(id__in=ids).values_list(
                "status", "created_at", "finished_at")
            arrival = min(created for _, created, _ in rows)
            waits = [_seconds(finished, created) for status, created, finished in rows
                     if status == JobStatus.DONE]
            last = max((f for _, _, f in rows if f is not None), default=None)
            drain = _seconds(last, arrival)
            bursts.append(Burst(
                database=kind, workers=workers, notes=size, audio_s=round(audio, 1),
                p50_s=percentile(waits, 0.50), p99_s=percentile(waits, 0.99),
                max_s=max(waits, default=math.nan), drain_s=drain,
                notes_per_hour=3600 * len(waits) / drain if drain > 0 else math.nan,
                cpu_s_per_note=sum(d["cpu_s"] for d in done) / max(1, len(waits)),
                told_last_s=told.seconds,
                told_last_words=(about_wait(told.seconds) if told.seconds > TELL_AFTER
                                 else "-"),
                failed=sum(1 for status, _, _ in rows if status != JobStatus.DONE),
                per_worker=[int(d["jobs"]) for d in done]))
            print(row_text(bursts[-1]), flush=True)
    finally:
        for proc in procs:
            if proc.returncode is None:
                with contextlib.suppress(ConnectionError):
                    say(proc, "quit")
                    assert proc.stdin is not None
                    proc.stdin.close()
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()  # only the worker this run started
                await proc.wait()
        await close_db()
    return bursts


# ---------------------------------------------------------------- report


HEADER = (f"{'database':<9}{'workers':>8}{'notes':>7}{'audio s':>9}{'p50 s':>8}{'p99 s':>8}"
          f"{'max s':>8}{'drain s':>9}{'notes/h':>9}{'CPU s/note':>11}{'told last':>11}"
          f"{'failed':>8}  per worker")


def row_text(b: Burst) -> str:
    return (f"{b.database:<9}{b.workers:>8}{b.notes:>7}{b.audio_s:>9.0f}{b.p50_s:>8.1f}"
            f"{b.p99_s:>8.1f}{b.max_s:>8.1f}{b.drain_s:>9.1f}{b.notes_per_hour:>9.0f}"
            f"{b.cpu_s_per_note:>11.2f}{b.told_last_s:>10.0f}s{b.failed:>8}  "
            f"{'+'.join(map(str, b.per_worker))}")


def one_core(bursts: Sequence[Burst]) -> list[str]:
    """Notes an hour one core can take: an hour of CPU over the 1-worker runs' CPU per note."""
    out = []
    for kind in dict.fromkeys(b.database for b in bursts):
        single = [b for b in bursts if b.database == kind and b.workers == 1]
        notes = sum(b.notes - b.failed for b in single)
        if notes:
            per_note = sum(b.cpu_s_per_note * (b.notes - b.failed) for b in single) / notes
            out.append(f"{kind}: {per_note:.2f} CPU s a note (1 worker, {notes} notes) -> "
                       f"{3600 / per_note:,.0f} notes an hour per core")
    return out or ["(no 1-worker run: add 1 to --workers)"]


# ---------------------------------------------------------------- main


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.voice_queue",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", type=_ints, default=[10, 50, 200],
                        help="notes per burst, comma-separated (default 10,50,200)")
    parser.add_argument("--workers", type=_ints, default=[1, 2],
                        help="worker processes, comma-separated (default 1,2)")
    parser.add_argument("--databases", default="sqlite,postgres",
                        help="sqlite (a file in a temp folder) and/or postgres")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES,
                        help=f"admin URL; a scratch database {SCRATCH_PREFIX}_… is made and "
                             f"dropped (default {DEFAULT_POSTGRES})")
    parser.add_argument("--model", type=Path,
                        help="CTranslate2 Whisper folder (default: the PyPI base, assembled as "
                             "bench.voice does)")
    parser.add_argument("--pin", action="store_true",
                        help="pin each worker process to one CPU of its own (as far as there "
                             "are CPUs)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    # Internal: the worker processes this benchmark starts.
    parser.add_argument("--worker-of", help=argparse.SUPPRESS)
    parser.add_argument("--warm", help=argparse.SUPPRESS)
    parser.add_argument("--pin-cpu", dest="pin_cpu", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    bad = set(args.databases.split(",")) - {"sqlite", "postgres"}
    if bad:
        parser.error(f"unknown database {', '.join(sorted(bad))}")
    return args


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.nlu import machine_info
    from bench.steal import cpu_ticks, steal_share
    from bench.voice import model_folder

    began = time.perf_counter()
    ticks = cpu_ticks()
    info = machine_info(None)
    print(f"machine: Python {info['python']}, {info['cpu']}, {info['cpu_count']} CPUs; "
          f"load average at start {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    model = str(model_folder(args.model))
    notes = make_notes()
    lengths = sorted(n.seconds for n in notes)
    print(f"model: {model} (Transcriber as bots.core starts it: the pack's hint words)")
    print(f"notes: {len(notes)} texts spoken by espeak-ng -v fa, {lengths[0]:.1f}-"
          f"{lengths[-1]:.1f} s (mean {sum(lengths) / len(lengths):.1f} s), cycled in each "
          f"burst; workers: one process each{', pinned to a CPU each' if args.pin else ''}")
    print("wait = finished_at - created_at (transcript in the dialogue); told last = "
          "voice_queue.expected_wait for the burst's last note, as the citizen hears it\n")
    print(HEADER, flush=True)
    bursts: list[Burst] = []
    with tempfile.TemporaryDirectory(prefix="peygir-bench-voice-queue-") as folder:
        for kind in args.databases.split(","):
            for workers in args.workers:
                async with database(kind, args.postgres, Path(folder)) as url:
                    bursts += await run_bursts(kind, url, workers, args.sizes, notes, model,
                                               args.pin)
    print("\nONE CORE (notes an hour = 3600 / CPU s a note, the worker's process, all its "
          "threads; the PostgreSQL server's own CPU is not in it)")
    for text in one_core(bursts):
        print(text)
    elapsed = time.perf_counter() - began
    print(f"\nwall time {elapsed:.0f} s; load average at end "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(steal_share(ticks, cpu_ticks()))
    return {"machine": info, "model": model, "notes": [asdict(n) for n in notes],
            "bursts": [asdict(b) for b in bursts], "wall_s": elapsed}


def main(argv: Sequence[str] | None = None) -> int:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # run as ``python bench/voice_queue.py``
    args = parse_args(argv)
    if args.worker_of:
        asyncio.run(worker_process(args.worker_of, str(args.model) if args.model else "",
                                   args.warm, args.pin_cpu))
        return 0
    figures = asyncio.run(run(args))
    if args.json:
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=2), encoding="utf-8")
        print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

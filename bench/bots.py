"""End to end through the Telegram bot: messages and reports per second, and where time goes.

Run from the repository root::

    .venv/bin/python -m bench.bots [--database-url URL] [--json FILE]

The bot runs as in production, in a process of its own: ``channels.telegram.runner.Messengers`` with
the built-in pack, ``Dialogue`` and ``Classifier``, polling ``getUpdates`` through aiogram and
aiohttp, writing to a real database (a SQLite file in a temporary folder by default) and
delivering replies through its outbox worker. This process serves
``tests.fakes.botapi.FakeBotApi`` on 127.0.0.1 and plays the citizens. A message's latency is
the time from pushing it to the fake until the fake answered the bot's ``sendMessage`` that
carries the reply (the fake stamps each call with ``time.time()`` as it answers it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import itertools
import json
import logging
import math
import multiprocessing
import os
import platform
import pstats
import random
import re
import sqlite3
import sys
import tempfile
import threading
import time
import traceback
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from peygir.config.pack import Pack
    from tests.fakes.botapi import FakeBotApi, _BotState

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "137137:BENCH"
TARGET_RATE = 300.0  # messages per second, from the issue
TARGET_P99_MS = 50.0  # milliseconds, from the issue
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # as `peygir serve` logs
GREETINGS = ("سلام", "سلام وقت بخیر", "درود", "سلام خسته نباشید")
MIX = (("greeting", 0.4), ("faq", 0.4), ("report", 0.2))  # kinds of the text messages sent
STEPS = ("text", "location", "confirm")
PLACES = itertools.count()  # one per report in the whole run: no two reports share a spot
# What each step of a report must be answered with (messages/texts.py).
STEP_REPLY = {"text": "موقعیت", "location": "ثبت شود", "confirm": r"کد پیگیری: [۰-۹]{8}"}
OUR_CODE = ("bots", "conversation", "nlu", "ticket_store", "channels")
REPLY_TIMEOUT = 60.0  # seconds a citizen waits for one reply before the run counts it lost


# ---------------------------------------------------------------- the bot's process


@dataclass(frozen=True)
class BotConfig:
    api_base: str
    token: str
    database_url: str
    media_dir: str
    log_file: str
    flood_limit: int  # per chat per 3 s; the product's 8 would drop the benchmark's bursts


def serve_bot(conn: Connection, config: BotConfig) -> None:
    """The bot process: start the bots, then obey the parent's commands until "stop"."""
    try:
        asyncio.run(_serve_bot(conn, config))
    except BaseException:
        with contextlib.suppress(OSError):
            conn.send(("error", traceback.format_exc()))
        raise


async def _serve_bot(conn: Connection, config: BotConfig) -> None:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, filename=config.log_file)
    started = time.perf_counter()
    from peygir.channels.telegram.runner import FloodGate, Messengers
    from peygir.config.pack import load_pack
    from peygir.conversation.dialogue import Dialogue
    from peygir.nlu.classifier import Classifier
    from peygir.ticket_store.db import close_db, open_db

    await open_db(config.database_url)
    pack = load_pack()
    messengers = Messengers(Dialogue(pack, Classifier(pack)), media_dir=Path(config.media_dir))
    messengers.flood = FloodGate(limit=config.flood_limit)
    messengers.add("telegram", config.token, config.api_base, markdown_by_default=False)
    await messengers.start()
    conn.send(("ready", time.perf_counter() - started))
    profiler: cProfile.Profile | None = None
    try:
        while True:
            command, arg = await receive(conn, None)
            if command == "cpu":
                conn.send(("cpu", cpu_snapshot()))
            elif command == "profile":
                profiler = cProfile.Profile()
                profiler.enable()
                conn.send(("ok", None))
            elif command == "dump" and profiler is not None:
                profiler.disable()
                profiler.dump_stats(arg)
                profiler = None
                conn.send(("ok", None))
            elif command == "stop":
                break
    finally:
        await messengers.stop()
        await close_db()
    conn.send(("stopped", None))


def cpu_snapshot() -> dict[str, float]:
    """CPU seconds of this process and of its threads by role (Linux /proc; else process only)."""
    snapshot = {"process": time.process_time()}
    try:
        tick = os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):
        return snapshot
    for thread in threading.enumerate():
        try:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # fields from the 3rd on: utime 14th, stime 15th
        seconds = (int(fields[11]) + int(fields[12])) / tick
        if thread is threading.main_thread():
            role = "event loop"
        elif "_connection_worker_thread" in thread.name:
            role = "aiosqlite"
        else:
            role = "other threads"
        snapshot[role] = snapshot.get(role, 0.0) + seconds
    return snapshot


async def receive(conn: Connection, timeout: float | None) -> tuple[str, Any]:
    """The next message on a pipe without blocking the event loop."""
    if not conn.poll():
        loop = asyncio.get_running_loop()
        readable = loop.create_future()
        loop.add_reader(conn.fileno(), lambda: readable.done() or readable.set_result(None))
        try:
            await asyncio.wait_for(readable, timeout)
        finally:
            loop.remove_reader(conn.fileno())
    message: tuple[str, Any] = conn.recv()
    return message


class BotProcess:
    """The parent's handle on the bot process."""

    def __init__(self, config: BotConfig) -> None:
        self.config = config
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=serve_bot, args=(child, config), name="peygir-bot",
                                       daemon=True)
        self._child = child

    async def start(self) -> float:
        self.process.start()
        self._child.close()
        return float(await self._expect("ready", 120))

    async def _expect(self, answer: str, timeout: float) -> Any:
        try:
            kind, value = await receive(self.conn, timeout)
        except (EOFError, TimeoutError) as exc:
            raise RuntimeError(f"the bot process did not answer ({exc!r}); its log: "
                               f"{self.config.log_file}") from exc
        if kind == "error":
            raise RuntimeError(f"the bot process failed:\n{value}")
        if kind != answer:
            raise RuntimeError(f"the bot process answered {kind!r}, expected {answer!r}")
        return value

    async def call(self, command: str, arg: Any = None, answer: str = "ok",
                   timeout: float = 60) -> Any:
        self.conn.send((command, arg))
        return await self._expect(answer, timeout)

    async def cpu(self) -> dict[str, float]:
        snapshot: dict[str, float] = await self.call("cpu", answer="cpu")
        return snapshot

    async def stop(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(RuntimeError, OSError):
                await self.call("stop", answer="stopped", timeout=30)
        await asyncio.to_thread(self.process.join, 10)
        if self.process.is_alive():
            self.process.terminate()
            await asyncio.to_thread(self.process.join, 5)


# ---------------------------------------------------------------- the citizens' side


@dataclass(frozen=True)
class Answer:
    at: float  # time.time() when the fake answered the sendMessage
    text: str


def recording_api() -> FakeBotApi:
    """A FakeBotApi that also files each reply by chat as it arrives, with the fake's stamp.

    ``FakeBotApi.sent()`` deep-copies the whole call log on every look, which at thousands of
    calls would cost more than the bot itself; hooking the fake's recording keeps the
    citizens' side cheap. A reply's ``sendMessage`` counts once: the location prompt that
    ``TelegramSender`` sends after a reply asking for a location is part of that reply.
    """
    from peygir.messages.texts import LOCATION_PROMPT
    from tests.fakes.botapi import FakeBotApi

    class RecordingBotApi(FakeBotApi):
        def __init__(self) -> None:
            super().__init__(tokens=(TOKEN,))
            self.answers: dict[int, list[Answer]] = defaultdict(list)
            self.total = 0
            self._waiters: list[tuple[int | None, int, asyncio.Future[None]]] = []

        def _record(self, st: _BotState, method: str, params: dict[str, Any], result: Any,
                    error: Any, via_webhook_reply: bool) -> None:
            super()._record(st, method, params, result, error, via_webhook_reply)
            if method != "sendMessage" or error is not None:
                return
            call = st.calls[-1]
            if call["params"].get("text") == LOCATION_PROMPT or not isinstance(call["chat_id"],
                                                                               int):
                return
            self.answers[call["chat_id"]].append(Answer(call["at"], call["params"]["text"]))
            self.total += 1
            for waiter in list(self._waiters):
                chat, count, future = waiter
                if self._count(chat) >= count:
                    if not future.done():
                        future.set_result(None)
                    self._waiters.remove(waiter)

        def _count(self, chat: int | None) -> int:
            return self.total if chat is None else len(self.answers[chat])

        async def wait_answers(self, chat: int | None, count: int, timeout: float) -> bool:
            """Until ``chat`` (every chat: None) has had ``count`` replies; False on timeout."""
            if self._count(chat) >= count:
                return True
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            waiter = (chat, count, future)
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(future, timeout)
            except TimeoutError:
                return False
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            return True

    return RecordingBotApi()


@dataclass
class Texts:
    greeting: list[str]
    faq: list[str]
    report: list[str]  # each classified at once as a non-urgent municipal service

    def pick(self, rng: random.Random) -> str:
        kind = rng.choices([k for k, _ in MIX], weights=[w for _, w in MIX])[0]
        choices: list[str] = getattr(self, kind)
        return rng.choice(choices)


def choose_texts(pack: Pack) -> Texts:
    """Pack phrases that the bot answers with one reply and no question back."""
    from peygir.nlu.classifier import Classifier
    from peygir.nlu.normalize import normalize

    classifier = Classifier(pack)
    faq = []
    for entry in pack.faqs:
        for text in (entry.question, *entry.variants):
            intent = classifier.classify(normalize(text))
            if intent.kind == "faq" and intent.faq_id == entry.id and intent.confident:
                faq.append(text)
    report = []
    for service in pack.services:
        if service.urgent or service.is_referral:
            continue  # urgent ones add a note (two replies); referrals file nothing
        for text in service.examples:
            intent = classifier.classify(normalize(text))
            if intent.kind == "service" and intent.code == service.service_code \
                    and intent.confident:
                report.append(text)
    if not faq or not report:
        raise RuntimeError("the pack gave no confidently classified FAQ or service phrases")
    return Texts(list(GREETINGS), faq, report)


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(after[k] - before.get(k, 0.0), 3) for k in after}


@dataclass
class MessageRun:
    name: str
    chats: int
    messages: int
    offered_rate: float | None  # messages per second pushed; None: all pushed at once
    wall_s: float
    msgs_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    lost: int  # messages without a reply within the timeout
    extra: int  # replies beyond one per message
    bot_cpu_s: dict[str, float]
    driver_cpu_s: float  # this process: the fake Bot API and the citizens


@dataclass
class ReportRun:
    name: str
    chats: int
    reports: int
    completed: int
    wall_s: float
    reports_per_s: float
    step_p50_ms: float
    step_p99_ms: float
    by_step: dict[str, dict[str, float]]
    failed: list[str]
    bot_cpu_s: dict[str, float]
    driver_cpu_s: float


class Bench:
    def __init__(self, api: FakeBotApi, bot: BotProcess, texts: Texts, seed: int) -> None:
        self.api: Any = api  # a RecordingBotApi
        self.bot = bot
        self.texts = texts
        self.rng = random.Random(seed)
        self._next_chat = 10_000

    def _chats(self, count: int) -> list[int]:
        first, self._next_chat = self._next_chat, self._next_chat + count + 1000
        return list(range(first, first + count))

    async def messages(self, name: str, chats: int, count: int, rate: float | None = None
                       ) -> MessageRun:
        ids = self._chats(chats)
        plan = [(ids[i % chats], self.texts.pick(self.rng)) for i in range(count)]
        pushed: dict[int, list[float]] = defaultdict(list)
        cpu_before, driver_before = await self.bot.cpu(), time.process_time()
        expected = self.api.total + count
        loop = asyncio.get_running_loop()
        start = time.time()
        begun = loop.time()
        for k, (chat, text) in enumerate(plan):
            if rate is not None and (delay := begun + k / rate - loop.time()) > 0:
                await asyncio.sleep(delay)
            pushed[chat].append(time.time())
            self.api.push_message(TOKEN, chat, text)
        await self.api.wait_answers(None, expected, REPLY_TIMEOUT + count / 50)
        cpu_after, driver_after = await self.bot.cpu(), time.process_time()
        latencies, lost, extra, last = [], 0, 0, start
        for chat, times in pushed.items():
            answers = self.api.answers[chat]
            for sent, answer in zip(times, answers, strict=False):
                latencies.append(answer.at - sent)
                last = max(last, answer.at)
            lost += max(0, len(times) - len(answers))
            extra += max(0, len(answers) - len(times))
        wall = last - start
        return MessageRun(
            name=name, chats=chats, messages=count, offered_rate=rate, wall_s=round(wall, 3),
            msgs_per_s=round(len(latencies) / wall, 1) if wall > 0 else math.nan,
            p50_ms=_ms(percentile(latencies, 0.50)), p99_ms=_ms(percentile(latencies, 0.99)),
            max_ms=_ms(max(latencies, default=math.nan)), lost=lost, extra=extra,
            bot_cpu_s=cpu_delta(cpu_before, cpu_after),
            driver_cpu_s=round(driver_after - driver_before, 3),
        )

    async def reports(self, name: str, chats: int, per_chat: int) -> ReportRun:
        ids = self._chats(chats)
        steps: dict[str, list[float]] = {step: [] for step in STEPS}
        failed: list[str] = []
        first_push, last_answer = math.inf, 0.0
        completed = 0

        places = PLACES

        async def citizen(chat: int, texts: list[str]) -> None:
            nonlocal first_push, last_answer, completed
            for text in texts:
                for step in STEPS:
                    count = len(self.api.answers[chat]) + 1
                    pushed = time.time()
                    first_push = min(first_push, pushed)
                    if step == "text":
                        self.api.push_message(TOKEN, chat, text)
                    elif step == "location":
                        # Each report its own spot (≥ 110 m apart): nearby reports of one
                        # service would join an open ticket instead of filing a new one.
                        spot = next(places)
                        self.api.push_location(TOKEN, chat, 34.77 + (spot % 500) * 0.001,
                                               48.47 + (spot // 500) * 0.001)
                    else:
                        self.api.push_callback(TOKEN, chat, "confirm")
                    if not await self.api.wait_answers(chat, count, REPLY_TIMEOUT):
                        failed.append(f"chat {chat}: no reply to the {step} step")
                        return
                    answer = self.api.answers[chat][count - 1]
                    if not re.search(STEP_REPLY[step], answer.text):
                        failed.append(f"chat {chat}: the {step} step got {answer.text[:60]!r}")
                        return
                    steps[step].append(answer.at - pushed)
                    last_answer = max(last_answer, answer.at)
                completed += 1

        plans = {chat: [self.rng.choice(self.texts.report) for _ in range(per_chat)]
                 for chat in ids}
        cpu_before, driver_before = await self.bot.cpu(), time.process_time()
        await asyncio.gather(*(citizen(chat, plan) for chat, plan in plans.items()))
        cpu_after, driver_after = await self.bot.cpu(), time.process_time()
        wall = last_answer - first_push if completed else math.nan
        every = [t for values in steps.values() for t in values]
        return ReportRun(
            name=name, chats=chats, reports=chats * per_chat, completed=completed,
            wall_s=round(wall, 3), reports_per_s=round(completed / wall, 1) if wall > 0 else 0,
            step_p50_ms=_ms(percentile(every, 0.50)), step_p99_ms=_ms(percentile(every, 0.99)),
            by_step={step: {"p50_ms": _ms(percentile(values, 0.50)),
                            "p99_ms": _ms(percentile(values, 0.99))}
                     for step, values in steps.items()},
            failed=failed, bot_cpu_s=cpu_delta(cpu_before, cpu_after),
            driver_cpu_s=round(driver_after - driver_before, 3),
        )


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


# ---------------------------------------------------------------- where the time goes


AREAS = (
    ("database", "tortoise, pypika, aiosqlite, asyncpg, ticket_store/"),
    ("NLU", "nlu/, rapidfuzz, numpy"),
    ("HTTP", "aiohttp, aiogram, pydantic, yarl, multidict"),
    ("bot code", "bots/, channels/, config/"),
    ("logging", "logging (INFO to a file)"),
    ("event loop", "asyncio, selectors"),
    ("other", "everything else"),
)
_LIBRARIES = {
    "tortoise": "database", "pypika_tortoise": "database", "pypika": "database",
    "aiosqlite": "database", "asyncpg": "database", "sqlite3": "database",
    "nlu": "NLU", "rapidfuzz": "NLU", "numpy": "NLU",
    "aiohttp": "HTTP", "aiogram": "HTTP", "pydantic": "HTTP", "pydantic_core": "HTTP",
    "yarl": "HTTP", "multidict": "HTTP", "aiohappyeyeballs": "HTTP", "propcache": "HTTP",
    "frozenlist": "HTTP", "aiosignal": "HTTP", "magic_filter": "HTTP",
    "ticket_store": "database", "bots": "bot code", "conversation": "bot code",
    "channels": "bot code",
    "config": "bot code", "logging": "logging", "asyncio": "event loop",
    "selectors": "event loop",
}
_IDLE = ("<method 'poll' of 'select.epoll' objects>", "<method 'select' of 'select.")

Func = tuple[str, int, str]


def area_of(func: Func) -> str | None:
    """The area a function's own code belongs to; None for built-ins and the rest of stdlib."""
    filename = func[0]
    if filename == "~":
        name = func[2]
        for module in ("sqlite3", "asyncpg", "rapidfuzz", "numpy", "pydantic_core",
                       "multidict", "yarl", "propcache"):
            if module in name:
                return _LIBRARIES[module]
        return None
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        top = parts[parts.index("site-packages") + 1].split(".")[0]
        return _LIBRARIES.get(top, "other")
    with contextlib.suppress(ValueError):
        top = path.relative_to(ROOT).parts[0]
        return _LIBRARIES.get(top, "other")
    for part in reversed(parts[:-1]):
        if part in _LIBRARIES:
            return _LIBRARIES[part]
    return _LIBRARIES.get(path.stem)


def where_time_goes(stats: pstats.Stats) -> dict[str, Any]:
    """Self time by area (idle excluded), and our functions by cumulative time.

    Built-ins and stdlib helpers (json, re, copy, ...) are charged to whoever called them, in
    proportion to the time each caller spent in them, up to four callers up.
    """
    table: dict[Func, Any] = stats.stats  # type: ignore[attr-defined]
    memo: dict[Func, dict[str, float]] = {}

    def shares(func: Func, depth: int) -> dict[str, float]:
        if func in memo:
            return memo[func]
        area = area_of(func)
        if area is not None:
            return {area: 1.0}
        callers = table.get(func, (0, 0, 0.0, 0.0, {}))[4]
        weights = {caller: edge[2] for caller, edge in callers.items() if caller != func}
        total = sum(weights.values())
        if depth >= 4 or total <= 0:
            return {"other": 1.0}
        result: dict[str, float] = defaultdict(float)
        for caller, weight in weights.items():
            for caller_area, share in shares(caller, depth + 1).items():
                result[caller_area] += share * weight / total
        memo[func] = dict(result)
        return memo[func]

    by_area: dict[str, float] = defaultdict(float)
    idle = 0.0
    for func, (_, _, own, _, _) in table.items():
        if func[0] == "~" and func[2].startswith(_IDLE):
            idle += own
            continue
        for area, share in shares(func, 0).items():
            by_area[area] += own * share
    busy = sum(by_area.values())
    ours = []
    for func, (_, calls, own, cumulative, _) in table.items():
        with contextlib.suppress(ValueError):
            relative = Path(func[0]).relative_to(ROOT)
            if relative.parts and relative.parts[0] in OUR_CODE:
                ours.append({"function": f"{relative}:{func[1]}({func[2]})", "calls": calls,
                             "own_s": round(own, 3), "cumulative_s": round(cumulative, 3)})
    ours.sort(key=lambda row: -row["cumulative_s"])
    return {
        "profiled_busy_s": round(busy, 3),
        "idle_s": round(idle, 3),
        "areas": {area: {"seconds": round(by_area.get(area, 0.0), 3),
                         "share": round(by_area.get(area, 0.0) / busy, 4) if busy else 0.0}
                  for area, _ in AREAS},
        "top": ours[:15],
    }


# ---------------------------------------------------------------- report


def machine_info(database_url: str) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in ("aiogram", "aiohttp", "tortoise-orm", "aiosqlite", "asyncpg"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "database": database_url.split(":", 1)[0],
        "sqlite": sqlite3.sqlite_version,
        "packages": versions,
    }


def _cpu_cell(run: MessageRun | ReportRun) -> str:
    process = run.bot_cpu_s.get("process", math.nan)
    return f"{100 * process / run.wall_s:5.0f}%" if run.wall_s > 0 else "    -"


def _mark(ok: bool | None) -> str:
    return "-" if ok is None else "yes" if ok else "NO"


def _fast_enough(run: MessageRun) -> bool | None:
    """A burst must reach the target rate; a run paced at or above it must keep up (a run
    paced at 300/s measures 299.9/s: its last reply lands a moment after the clock). A run
    paced below the target measures latency only."""
    if run.offered_rate is None:
        return run.msgs_per_s >= TARGET_RATE
    if run.offered_rate < TARGET_RATE:
        return None
    return run.msgs_per_s >= 0.99 * run.offered_rate


def _quick_enough(run: MessageRun) -> bool | None:
    """p99 is judged on paced runs: in a burst every message waits behind those pushed with
    it, so its latency measures the burst's size, not the bot."""
    return None if run.offered_rate is None else run.p99_ms <= TARGET_P99_MS


def message_table(runs: Iterable[MessageRun]) -> str:
    head = (f"{'run':<16}{'chats':>6}{'msgs':>7}{'msgs/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
            f"{'max ms':>9}{'bot CPU':>9}{'fake CPU':>9}{'lost':>6}  ≥300/s  p99≤50")
    lines = [head, "-" * len(head)]
    for run in runs:
        fake = f"{100 * run.driver_cpu_s / run.wall_s:7.0f}%" if run.wall_s > 0 else "       -"
        lines.append(
            f"{run.name:<16}{run.chats:>6}{run.messages:>7}{run.msgs_per_s:>9.1f}"
            f"{run.p50_ms:>9.1f}{run.p99_ms:>9.1f}{run.max_ms:>9.1f}{_cpu_cell(run):>9}"
            f"{fake:>9}{run.lost + run.extra:>6}  "
            f"{_mark(_fast_enough(run)):>6}  {_mark(_quick_enough(run)):>6}"
        )
    return "\n".join(lines)


def report_table(runs: Iterable[ReportRun]) -> str:
    head = (f"{'run':<16}{'chats':>6}{'reports':>8}{'reports/s':>10}{'step p50':>9}"
            f"{'step p99':>9}   {'p50/p99 ms by step: text, location, confirm':<44}"
            f"{'bot CPU':>8}{'failed':>7}")
    lines = [head, "-" * len(head)]
    for run in runs:
        by_step = ", ".join(f"{run.by_step[s]['p50_ms']:.0f}/{run.by_step[s]['p99_ms']:.0f}"
                            for s in STEPS)
        lines.append(
            f"{run.name:<16}{run.chats:>6}{run.reports:>8}{run.reports_per_s:>10.1f}"
            f"{run.step_p50_ms:>9.1f}{run.step_p99_ms:>9.1f}   {by_step:<44}"
            f"{_cpu_cell(run):>8}{len(run.failed):>7}"
        )
    return "\n".join(lines)


def profile_text(profile: dict[str, Any], run: MessageRun) -> str:
    cpu = run.bot_cpu_s
    threads = ", ".join(f"{role} {seconds:.2f} s" for role, seconds in cpu.items()
                        if role != "process")
    lines = [
        f"bot process over {run.wall_s:.2f} s wall ({run.msgs_per_s:.0f} msgs/s under cProfile): "
        f"CPU {cpu.get('process', math.nan):.2f} s ({threads or 'no per-thread figures'}); "
        f"this process (fake Bot API + citizens) {run.driver_cpu_s:.2f} s",
        f"event-loop thread, cProfile self time by area ({profile['profiled_busy_s']:.2f} s busy, "
        f"{profile['idle_s']:.2f} s idle in epoll left out; built-ins charged to their callers):",
    ]
    for area, what in AREAS:
        row = profile["areas"][area]
        lines.append(f"  {area:<11}{100 * row['share']:5.1f}%  {row['seconds']:7.2f} s   {what}")
    lines.append("top 15 of our functions by cumulative time (a coroutine's time counts only "
                 "while it runs, not while it awaits I/O; each resumption counts as a call):")
    lines.append(f"  {'cum s':>7}{'own s':>7}{'calls':>8}  function")
    for row in profile["top"]:
        lines.append(f"  {row['cumulative_s']:>7.2f}{row['own_s']:>7.2f}{row['calls']:>8}  "
                     f"{row['function']}")
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.bots",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database-url", help="e.g. postgres://postgres@127.0.0.1:5432/test "
                        "(a scratch database is created there and dropped); a sqlite:// URL is "
                        "used as given (its file stays); default: a SQLite file in a temporary "
                        "folder")
    parser.add_argument("--messages", type=int, default=2000, help="messages over --chats chats")
    parser.add_argument("--chats", type=int, default=200, help="concurrent chats")
    parser.add_argument("--messages-one-chat", type=int, default=300,
                        help="messages in the one-chat run")
    parser.add_argument("--rate", type=float, default=TARGET_RATE,
                        help="messages per second offered in the paced run (0: skip it)")
    parser.add_argument("--paced-seconds", type=float, default=5.0, help="length of a paced run")
    parser.add_argument("--no-half-capacity", dest="half_capacity", action="store_false",
                        help="skip the paced run at half the throughput the burst reached")
    parser.add_argument("--reports-one-chat", type=int, default=20,
                        help="reports one after another in one chat")
    parser.add_argument("--reports-per-chat", type=int, default=1,
                        help="reports each of --chats chats makes in the concurrent run")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile run")
    parser.add_argument("--profile-out", type=Path, help="keep the bot's cProfile stats here")
    parser.add_argument("--seed", type=int, default=137)
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--sync", default="full,normal",
                        help="on SQLite, the synchronous settings to compare side by side in "
                        "bursts of their own, each on a fresh file (empty: skip)")
    parser.add_argument("--sync-only", action="store_true",
                        help="run only the side-by-side comparison of --sync")
    return parser.parse_args(argv)


SYNC_NOTE = {"full": "the default: every commit synced", "normal": "PEYGIR_SQLITE_SYNC=normal"}


async def sync_comparison(args: argparse.Namespace, api: FakeBotApi, texts: Texts,
                          folder: Path, flood_limit: int) -> list[MessageRun]:
    """The same bursts on a fresh SQLite file per synchronous setting, one bot at a time."""
    runs: list[MessageRun] = []
    for index, mode in enumerate(m.strip().lower() for m in args.sync.split(",") if m.strip()):
        path = folder / f"sync-{mode}.db"
        bot = BotProcess(BotConfig(
            api_base=api.base_url, token=TOKEN, database_url=f"sqlite://{path}?synchronous={mode}",
            media_dir=str(folder / "media"), log_file=str(folder / f"bot-{mode}.log"),
            flood_limit=flood_limit,
        ))
        try:
            await bot.start()
            bench = Bench(api, bot, texts, args.seed)
            bench._next_chat = 5_000_000 * (index + 1)  # chats of their own: answers count per chat
            await bench.messages("warm-up", 10, 100)
            for chats, count in ((1, args.messages_one_chat), (args.chats, args.messages)):
                run = await bench.messages(f"{mode.upper()} burst", chats, count)
                runs.append(run)
        finally:
            await bot.stop()
    return runs


def print_sync(runs: list[MessageRun], args: argparse.Namespace) -> None:
    modes = [m.strip().lower() for m in args.sync.split(",") if m.strip()]
    print("\nSQLITE SYNC: the same bursts (one chat, then many) on a fresh file per setting, "
          "side by side; " + "; ".join(f"{m.upper()} = {SYNC_NOTE.get(m, 'by URL')}"
                                      for m in modes))
    print(message_table(runs))


@contextlib.asynccontextmanager
async def database(url: str | None, folder: Path) -> AsyncIterator[str]:
    """The database the bot uses: a SQLite file, or a scratch PostgreSQL database."""
    if url is None or url.startswith("sqlite"):
        yield url or f"sqlite://{folder / 'bench.db'}"
        return
    from bench.scratch import scratch_postgres

    async with scratch_postgres(url, "peygir_bench") as scratch:
        yield scratch


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.steal import cpu_ticks, steal_share
    from peygir.config.pack import load_pack

    began = time.perf_counter()
    ticks_at_start = cpu_ticks()
    texts = choose_texts(load_pack())
    flood_limit = 1_000_000
    startup = math.nan
    messages: list[MessageRun] = []
    reports: list[ReportRun] = []
    profile: dict[str, Any] | None = None
    profiled: MessageRun | None = None
    sync_runs: list[MessageRun] = []
    with tempfile.TemporaryDirectory(prefix="peygir-bench-") as tmp:
        folder = Path(tmp)
        async with database(args.database_url, folder) as database_url, \
                recording_api() as api:
            info = machine_info(database_url)
            print(f"machine: Python {info['python']} ({info['implementation']}), {info['cpu']}, "
                  f"{info['cpu_count']} CPUs, {info['platform']}")
            print("packages: " + ", ".join(f"{k} {v}" for k, v in info["packages"].items())
                  + f"; SQLite {info['sqlite']}")
            shown = database_url if info["database"] != "sqlite" else "SQLite file in a temp dir"
            print(f"database: {shown}")
            print("setup: the bot in its own process (Messengers polling getUpdates, outbox "
                  "worker, built-in pack, INFO logging to a file as `peygir serve` does), the "
                  "fake Bot API and the citizens in this one, HTTP on 127.0.0.1; the per-chat "
                  f"flood gate (8 per 3 s) is raised to {flood_limit:,} so bursts are not "
                  "dropped")
            print(f"texts: {MIX[0][1]:.0%} greetings, {MIX[1][1]:.0%} FAQ questions "
                  f"({len(texts.faq)} phrases), {MIX[2][1]:.0%} report texts "
                  f"({len(texts.report)} phrases, non-urgent services classified at once)")
            print(f"targets (issue): ≥ {TARGET_RATE:.0f} messages/s and p99 ≤ "
                  f"{TARGET_P99_MS:.0f} ms on SQLite")
            if info["database"] == "sqlite" and args.sync.strip():
                sync_runs = await sync_comparison(args, api, texts, folder, flood_limit)
                print_sync(sync_runs, args)
            if args.sync_only:
                print(steal_share(ticks_at_start, cpu_ticks()))
                return {"machine": info, "sync": [asdict(r) for r in sync_runs]}
            bot = BotProcess(BotConfig(
                api_base=api.base_url, token=TOKEN, database_url=database_url,
                media_dir=str(folder / "media"), log_file=str(folder / "bot.log"),
                flood_limit=flood_limit,
            ))
            try:
                startup = await bot.start()
                print(f"bot process ready in {startup:.1f} s (imports, migrations, classifier)")
                bench = Bench(api, bot, texts, args.seed)
                await bench.messages("warm-up", 10, 100)
                await bench.reports("warm-up", 10, 1)
                messages = [
                    await bench.messages("burst", 1, args.messages_one_chat),
                    await bench.messages("burst", args.chats, args.messages),
                ]
                # Paced at the target rate, then at half the rate the burst reached: latency
                # with and without a queue building up.
                rates = [args.rate] if args.rate > 0 else []
                if args.half_capacity and messages[-1].msgs_per_s > 0:
                    rates.append(round(messages[-1].msgs_per_s / 2))
                for rate in rates:
                    messages.append(await bench.messages(
                        f"paced {rate:g}/s", args.chats, round(rate * args.paced_seconds),
                        rate=rate))
                print("\nMESSAGES: burst = all pushed at once, latency includes the wait behind "
                      "the burst; paced = pushed evenly at the given rate (the second one at half "
                      "the rate the burst over many chats reached). Latency = push → the "
                      "fake's stamp on the reply's sendMessage. bot CPU / fake CPU = CPU time "
                      "÷ wall (100% = one core). lost = messages without exactly one reply.")
                print(message_table(messages))
                reports = [
                    await bench.reports("one chat", 1, args.reports_one_chat),
                    await bench.reports("concurrent", args.chats, args.reports_per_chat),
                ]
                print("\nREPORTS: text → location → confirm tap, each step waiting for its "
                      "reply; reports/s = completed ÷ (last reply − first push)")
                print(report_table(reports))
                for failure in [f for r in reports for f in r.failed][:5]:
                    print(f"  failed: {failure}")
                if not args.no_profile:
                    path = folder / "bot.prof"
                    await bot.call("profile")
                    profiled = await bench.messages("profiled", args.chats, args.messages)
                    await bot.call("dump", str(path))
                    profile = where_time_goes(pstats.Stats(str(path)))
                    if args.profile_out:
                        args.profile_out.write_bytes(path.read_bytes())
                    print(f"\nWHERE THE TIME GOES: the burst of {args.messages} messages over "
                          f"{args.chats} chats again, the bot process under cProfile")
                    print(profile_text(profile, profiled))
            finally:
                await bot.stop()
    elapsed = time.perf_counter() - began
    print(f"\nwhole run: {elapsed:.0f} s")
    print(steal_share(ticks_at_start, cpu_ticks()))
    return {
        "machine": info,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "setup": {"flood_limit": flood_limit, "mix": dict(MIX), "faq_phrases": len(texts.faq),
                  "report_phrases": len(texts.report), "bot_startup_s": round(startup, 2)},
        "targets": {"msgs_per_s": TARGET_RATE, "p99_ms": TARGET_P99_MS},
        "messages": [asdict(r) for r in messages],
        "reports": [asdict(r) for r in reports],
        "profile": {"run": asdict(profiled), **profile} if profile and profiled else None,
        "sync": [asdict(r) for r in sync_runs],
        "elapsed_s": round(elapsed, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # run as ``python bench/bots.py``
    args = parse_args(argv)
    figures = asyncio.run(run(args))
    if args.json:
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=2), encoding="utf-8")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


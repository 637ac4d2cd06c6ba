"""Messages a second and p99 with one and with two `peygir serve --role web` processes on one
PostgreSQL (issue 21).

For each count of processes, starts them on a fresh database of their own (created here and
dropped afterwards), each on its own port, and sends web chat messages from ``--chats``
citizens at once, each citizen's next message after the answer to the last one, spread over
the processes in turn as a proxy would. Prints messages a second and the latency of each
answer (p50, p99), measured at the client. The client, PostgreSQL and the processes share this
machine's cores: what a second process adds here is bounded by them, and the table says so.

    .venv/bin/python -m bench.processes [--processes 1,2] [--chats 40] [--messages 1200]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.scratch import scratch_postgres

ROOT = Path(__file__).resolve().parents[1]
ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
DATABASE = "peygir_bench_processes"  # the scratch database's prefix
# Citizens' words written for this benchmark: reports, questions and thanks.
TEXTS = [
    "چراغ‌های پارک محله ما شب‌ها خاموش است",
    "جوی آب خیابان ما گرفته و آب راه افتاده",
    "ساعت کاری دفتر خدمات شهری چیست",
    "سطل زباله سر کوچه شکسته است",
    "ممنون از پیگیری شما",
    "درخت خشکیده کنار پیاده‌رو ممکن است بیفتد",
]


@dataclass
class Run:
    processes: int
    messages: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(url: str, folder: Path, role: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _port()
    env = {**os.environ, "PEYGIR_WEB_HOST": "127.0.0.1", "PEYGIR_WEB_PORT": str(port),
           "PEYGIR_DATABASE_URL": url, "PEYGIR_ROLE": role,
           "PEYGIR_MEDIA_DIR": str(folder / "media"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "peygir", "serve", "--log-level", "warning"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=2, trust_env=False).is_success:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("`peygir serve` did not start")
        time.sleep(0.2)


async def _load(bases: list[str], chats: int, messages: int) -> tuple[float, list[float]]:
    turn = itertools.cycle(bases)
    per_chat = max(1, messages // chats)
    latencies: list[float] = []

    async def citizen(n: int) -> None:
        async with httpx.AsyncClient(trust_env=False, timeout=60) as client:
            for i in range(per_chat):
                text = TEXTS[(n + i) % len(TEXTS)]
                began = time.perf_counter()
                answer = await client.post(f"{next(turn)}/api/chat/send",
                                           json={"client_id": f"c{n}-{i}", "text": text})
                answer.raise_for_status()
                latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(citizen(n) for n in range(chats)))
    return time.perf_counter() - began, latencies


async def measure(processes: int, chats: int, messages: int) -> Run:
    async with scratch_postgres(ADMIN, DATABASE) as url:
        return await _measure(url, processes, chats, messages)


async def _measure(url: str, processes: int, chats: int, messages: int) -> Run:
    with tempfile.TemporaryDirectory() as tmp:
        started = [_start(url, Path(tmp), "all")]  # the first one upgrades the schema
        started += [_start(url, Path(tmp), "web") for _ in range(processes - 1)]
        try:
            bases = [base for _, base in started]
            await _load(bases, min(chats, 10), 50)  # warm: the classifier's first calls
            seconds, latencies = await _load(bases, chats, messages)
        finally:
            for proc, _ in started:
                proc.terminate()
            for proc, _ in started:
                proc.wait(timeout=20)
    return Run(processes, len(latencies), seconds, latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", default="1,2", help="comma-separated counts to run")
    parser.add_argument("--chats", type=int, default=40, help="citizens writing at once")
    parser.add_argument("--messages", type=int, default=1200, help="messages in each run")
    options = parser.parse_args()
    counts = [int(n) for n in options.processes.split(",") if n.strip()]
    runs = [asyncio.run(measure(n, options.chats, options.messages)) for n in counts]
    print(f"web chat on PostgreSQL, {options.chats} citizens at once, {os.cpu_count()} cores "
          "shared by the client, PostgreSQL and the processes")
    print("| processes | messages | msg/s | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for run in runs:
        print(f"| {run.processes} | {run.messages} | {run.rate:.0f} | "
              f"{statistics.median(run.latencies) * 1000:.0f} | "
              f"{run.percentile(0.99) * 1000:.0f} |")


if __name__ == "__main__":
    main()

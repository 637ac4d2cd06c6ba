"""peygir as the front door of a city's Open311 back office (issue 19): reports forwarded
per second, time from a back-office update to the citizen's message, and how long the backlog
of an hour away takes to drain once the back office is back.

Run from the repository root::

    .venv/bin/python -m bench.interop [--reports 500] [--backlog 250] [--json FILE]

The back office is a real `peygir serve` in a process of its own (its own SQLite database,
Open311 keys); the front door is this process: its workflow files the tickets, and the same
``Forwarder`` that `peygir serve` runs sends them and fetches the updates, on a SQLite file.
Updates are made in the back office by a unit through its workflow (a child process on its
database), stamped with the time each was committed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-interop-key"
IN_R1 = (34.82, 48.49)

RESOLVE = """
import asyncio, sys, time
from peygir.conversation.notices import Notices
from peygir.config.pack import load_pack
from peygir.ticket_store.db import close_db, open_db
from peygir.ticket_store.models import Ticket
from peygir.ticket_store.workflow import Workflow

async def main(url, gap, codes):
    await open_db(url)
    pack = load_pack()
    workflow = Workflow(pack, voice=Notices(pack))
    for code in codes:
        ticket = await Ticket.get(tracking_code=code)
        await workflow.change_status(ticket, "resolved", "staff:bench", "done", public=True)
        print(code, time.time(), flush=True)
        await asyncio.sleep(gap)
    await close_db()

asyncio.run(main(sys.argv[1], float(sys.argv[2]), sys.argv[3:]))
"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=500, help="for the sending rate")
    parser.add_argument("--updates", type=int, default=30, help="for the update latency")
    parser.add_argument("--fetch-interval", type=float, default=5.0)
    parser.add_argument("--backlog", type=int, default=250, help="an hour's reports")
    parser.add_argument("--json", type=Path, help="write every figure here")
    return parser.parse_args(argv)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_back_office(folder: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PEYGIR_DATABASE_URL": f"sqlite://{folder / 'backoffice.db'}",
           "PEYGIR_WEB_HOST": "127.0.0.1", "PEYGIR_WEB_PORT": str(port),
           "PEYGIR_OPEN311_KEYS": KEY, "PEYGIR_MEDIA_DIR": str(folder / "bo-media"),
           "PEYGIR_SCHEDULER_INTERVAL": "3600", "PYTHONPATH": str(ROOT)}
    log = (folder / "backoffice.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "peygir", "serve"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 90
    while True:
        try:
            with opener.open(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return proc
        except OSError as exc:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the back office did not start; see backoffice.log") from exc
            time.sleep(0.2)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


async def file_reports(workflow: Any, count: int, start: int) -> list[int]:
    from peygir.messages.types import Location
    from peygir.ticket_store import store

    ids = []
    for i in range(start, start + count):
        citizen = await store.citizen_for("web", f"bench{i}")
        lat = IN_R1[0] + 0.001 * (i % 40)  # 110 m apart: none is a repeat of another
        lon = IN_R1[1] - 0.001 * (i // 40)
        filed = await workflow.file_report(citizen, "web", f"bench{i}", store.NewTicket(
            service_code="asphalt", description=f"چاله در کوچه {i}", urgent=False,
            location=Location(lat, lon), address=None))
        ids.append(filed.ticket.id)
    return ids


async def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from peygir.bots.forwarder import Forwarder
    from peygir.config.pack import DEFAULT_PACK_DIR, load_pack
    from peygir.conversation.notices import Notices
    from peygir.ticket_store.db import close_db, open_db
    from peygir.ticket_store.models import ForwardedReport, ForwardState, OutboxMessage, Ticket
    from peygir.ticket_store.workflow import Workflow

    port = free_port()
    pack_dir = folder / "pack"
    shutil.copytree(DEFAULT_PACK_DIR, pack_dir)
    (pack_dir / "endpoints.yaml").write_text(yaml.safe_dump({"endpoints": [{
        "name": "city137", "base_url": f"http://127.0.0.1:{port}/open311/v2",
        "api_key": KEY, "services": "all", "timeout": 10}]}), encoding="utf-8")
    pack = load_pack(pack_dir)
    await open_db(f"sqlite://{folder / 'front.db'}")
    workflow = Workflow(pack, voice=Notices(pack))
    figures: dict[str, Any] = {}
    office = start_back_office(folder, port)
    forwarder = Forwarder(workflow, pack.endpoints, fetch_interval=args.fetch_interval)
    try:
        # 1. Reports forwarded per second (a backlog of --reports, sent as fast as it goes).
        await file_reports(workflow, args.reports, 0)
        began = time.perf_counter()
        sent = 0
        while sent < args.reports:
            sent += await forwarder.send_pass()
        took = time.perf_counter() - began
        figures["forwarded_per_second"] = round(args.reports / took, 1)
        print(f"forwarded {args.reports} reports in {took:.2f} s: "
              f"{args.reports / took:.1f} reports/s to a peygir back office on loopback")

        # 2. Back-office update → the citizen's message, fetching every --fetch-interval s.
        rows = await ForwardedReport.filter(state=ForwardState.SENT).order_by("id").limit(
            args.updates).values("ticket_id", "remote_id")
        chats = {r["remote_id"]: f"bench{i}" for i, r in enumerate(rows)}
        stop_event = asyncio.Event()
        fetching = asyncio.create_task(_fetch_loop(forwarder, stop_event))
        resolver = await asyncio.create_subprocess_exec(
            sys.executable, "-c", RESOLVE, f"sqlite://{folder / 'backoffice.db'}", "0.5",
            *[r["remote_id"] for r in rows], cwd=ROOT, stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        out, _ = await resolver.communicate()
        committed = {line.split()[0]: float(line.split()[1])
                     for line in out.decode().splitlines() if line.strip()}
        told: dict[str, float] = {}
        deadline = time.time() + args.fetch_interval * 4 + 30
        while len(told) < len(committed) and time.time() < deadline:
            for remote_id, chat in chats.items():
                if remote_id in told:
                    continue
                ticket = await Ticket.get(chat_id=chat)
                if ticket.status == "resolved":
                    row = await OutboxMessage.filter(chat_id=chat).order_by("-id").first()
                    if row is not None:
                        told[remote_id] = row.created_at.timestamp()
            await asyncio.sleep(0.05)
        stop_event.set()
        await fetching
        lags = sorted(told[k] - committed[k] for k in told)
        if lags:
            figures["update_to_citizen_s"] = {
                "fetch_interval": args.fetch_interval, "n": len(lags),
                "median": round(lags[len(lags) // 2], 2), "max": round(lags[-1], 2)}
            print(f"back-office update → citizen's message ({len(lags)} updates, fetching "
                  f"every {args.fetch_interval:.0f} s): median {lags[len(lags) // 2]:.2f} s, "
                  f"max {lags[-1]:.2f} s")
        began = time.perf_counter()
        await forwarder.fetch_pass()
        figures["fetch_pass_s"] = round(time.perf_counter() - began, 3)
        watched = await ForwardedReport.filter(state=ForwardState.SENT).count()
        print(f"one fetch pass over {watched} forwarded reports: "
              f"{figures['fetch_pass_s']:.3f} s")

        # 3. An hour away: --backlog reports queue while the back office refuses, then drain.
        stop(office)
        away = Forwarder(workflow, pack.endpoints, send_interval=5.0, max_delay=60.0)
        stop_event = asyncio.Event()
        sending = asyncio.create_task(away.run(stop_event))
        await file_reports(workflow, args.backlog, args.reports)
        await asyncio.sleep(20)  # it tries, is refused, and backs off
        queued = await ForwardedReport.filter(state=ForwardState.PENDING).count()
        office = start_back_office(folder, port)
        back = time.perf_counter()
        first = None
        while await ForwardedReport.filter(state=ForwardState.PENDING).count():
            if first is None and await ForwardedReport.filter(
                    state=ForwardState.SENT).count() > args.reports:
                first = time.perf_counter() - back
            await asyncio.sleep(0.05)
        drained = time.perf_counter() - back
        stop_event.set()
        await sending
        figures["backlog"] = {"reports": queued, "drained_s": round(drained, 1),
                              "first_after_s": round(first or drained, 1)}
        print(f"an hour away ({queued} reports queued while refused): first sent "
              f"{first or drained:.1f} s after the back office answered again (the "
              f"forwarder's backoff, capped at 60 s), all {queued} sent {drained:.1f} s after")
        total = await ForwardedReport.filter(state=ForwardState.SENT).count()
        assert total == args.reports + args.backlog, total
    finally:
        await forwarder.close()
        stop(office)
        await close_db()
    return figures


async def _fetch_loop(forwarder: Any, stop_event: asyncio.Event) -> None:
    while not stop_event.is_set():
        await forwarder.fetch_pass()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop_event.wait(), forwarder.fetch_interval)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-interop-") as tmp:
        figures = asyncio.run(run(args, Path(tmp)))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`peygir serve --drain`: on SIGTERM the process says it is not ready, keeps serving while a
proxy's health check takes it out of rotation, then stops (README, *Deployment*, upgrades)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support import REPO_ROOT, serve_env

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
STOPPED = (0, -signal.SIGTERM)


def status(url: str) -> tuple[int, dict[str, object] | None]:
    try:
        with OPENER.open(url, timeout=5) as answer:
            body = answer.read()
            code = answer.status
    except urllib.error.HTTPError as refused:
        body, code = refused.read(), refused.code
    try:
        return code, json.loads(body)
    except ValueError:
        return code, None


def test_sigterm_drains_before_stopping(tmp_path: Path) -> None:
    env = serve_env(PEYGIR_DATABASE_URL=f"sqlite://{tmp_path / 'peygir.db'}")
    base = f"http://127.0.0.1:{env['PEYGIR_WEB_PORT']}"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "peygir", "serve", "--drain", "3"],
                                cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if status(f"{base}/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)

        proc.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        time.sleep(0.5)
        code, body = status(f"{base}/readyz")
        assert code == 503 and body is not None and "shutting down" in body["reasons"]
        assert status(f"{base}/healthz")[0] == 200  # still serving: only not ready
        assert status(f"{base}/")[0] == 200
        # uvicorn stops gracefully, then dies of the SIGTERM it caught (a clean stop to systemd)
        assert proc.wait(timeout=30) in STOPPED, log.read_text()
        assert time.monotonic() - stopped_at >= 2.5  # it waited out the drain
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_without_drain_sigterm_stops_at_once(tmp_path: Path) -> None:
    env = serve_env(PEYGIR_DATABASE_URL=f"sqlite://{tmp_path / 'peygir.db'}")
    base = f"http://127.0.0.1:{env['PEYGIR_WEB_PORT']}"
    proc = subprocess.Popen([sys.executable, "-m", "peygir", "serve"], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if status(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) in STOPPED
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

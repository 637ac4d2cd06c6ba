"""Small helpers shared by tests: free ports, a running `peygir serve`, Debian's Chromium."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")  # Debian's; playwright cannot download its own here
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_env(**settings: str) -> dict[str, str]:
    """This process's environment plus ``PEYGIR_*`` settings for a `peygir serve` child on a
    free loopback port (``PEYGIR_WEB_PORT`` may be given)."""
    return {**os.environ, "PEYGIR_WEB_HOST": "127.0.0.1", "PEYGIR_WEB_PORT": str(free_port()),
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT),
                                                      os.environ.get("PYTHONPATH", "")) if p),
            "PYTHONUNBUFFERED": "1", **settings}


@contextmanager
def serving(env: Mapping[str, str], log_path: Path, ready: str = "/healthz",
            timeout: float = 60.0) -> Iterator[str]:
    """Run `python -m peygir serve` with ``env`` until the block ends; yields its base URL
    once ``ready`` answers. Its output goes to ``log_path`` and is printed afterwards (pytest
    shows it only when a test failed)."""
    base = f"http://127.0.0.1:{env['PEYGIR_WEB_PORT']}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxies
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "peygir", "serve"], cwd=REPO_ROOT,
                                env=dict(env), stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"`peygir serve` exited with code {proc.returncode}:\n"
                                f"{log_path.read_text(errors='replace')}")
                try:
                    with opener.open(base + ready, timeout=2):
                        break
                except (urllib.error.URLError, OSError):
                    if time.monotonic() > deadline:
                        pytest.fail(f"`peygir serve` did not answer {ready} within "
                                    f"{timeout:.0f} s:\n{log_path.read_text(errors='replace')}")
                    time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            print(f"---- server output ({log_path}) ----\n"
                  f"{log_path.read_text(errors='replace')[-5000:]}")


def reset_postgres(url: str) -> None:
    """Empty a PostgreSQL database (its own thread and loop: callers may run inside one)."""
    async def reset() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, reset()).result()


def openapi_document(**settings: object) -> dict[str, object]:
    """The OpenAPI document `peygir serve` builds with these settings (it serves it only to
    signed-in staff, and only with PEYGIR_API_DOCS on; tests read the app's own copy)."""
    from peygir.bots.core import Core
    from peygir.config.settings import Settings
    from peygir.web.app import create_app

    return create_app(Core.build(Settings(**settings))).openapi()  # type: ignore[arg-type]


def database_for(request: pytest.FixtureRequest, folder: Path) -> str:
    """The database a module's `peygir serve` runs on, by the fixture's param: a SQLite file
    in ``folder``, or the session's PostgreSQL database, emptied."""
    if request.param == "sqlite":
        return f"sqlite://{folder}/peygir.db"
    url: str = request.getfixturevalue("postgres_database")
    reset_postgres(url)
    return url

"""Connecting to the database and bringing its schema up to date."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import sys
import urllib.parse
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext, get_current_context
from tortoise.migrations.api import migrate
from tortoise.queryset import ValuesListQuery

from peygir.ticket_store import leases

APP = "peygir"
log = logging.getLogger(__name__)


# SQLite runs in WAL mode (tortoise's default) with synchronous=FULL: every commit syncs the
# WAL to disk, so neither a process crash nor a power cut loses a committed report. NORMAL
# syncs only at checkpoints (a power cut may lose the last moments) and is faster on a disk
# with slow fsync (bench.bots prints both); it is an opt-in: PEYGIR_SQLITE_SYNC=normal, or
# ?synchronous=NORMAL in the URL. A parameter the URL gives always wins.
#
# Checkpoints (copying the WAL back into the database file) run from a connection of our own
# every second, off the commit path, in every process that opens a SQLite file. SQLite's own
# automatic checkpoint (1,000 pages, about 4 MB) stays on behind it: it runs inside whichever
# commit crosses that size, so it only fires when our checkpointer falls behind or a process
# without one writes (a script, tortoise's CLI). With it off, nothing would bound the WAL
# then, and readers would scan an ever larger WAL index. ?wal_autocheckpoint=0 in the URL
# turns it off for a process whose checkpointer you trust to keep up.
SQLITE_DEFAULTS = {"synchronous": "FULL"}
SQLITE_SWITCH_INTERVAL = 0.0005  # seconds; see open_db
CHECKPOINT_INTERVAL = 1.0  # seconds between background WAL checkpoints


async def column(query: ValuesListQuery[Any]) -> list[Any]:
    """The values of ``query = Model.filter(...).values_list(field, flat=True)``, one a row.
    Tortoise types every list query's result as a list of tuples, whatever ``flat`` says;
    awaited here, the flat list's items are what they are (an id, a day), not tuples."""
    return await query


def with_sqlite_defaults(database_url: str) -> str:
    if not database_url.startswith("sqlite:"):
        return database_url
    base, _, query = database_url.partition("?")
    given = {part.split("=", 1)[0].lower() for part in query.split("&") if part}
    extra = [f"{key}={value}" for key, value in SQLITE_DEFAULTS.items() if key not in given]
    return base + "?" + "&".join(p for p in [query, *extra] if p) if extra else database_url


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": with_sqlite_defaults(database_url)},
        "apps": {
            APP: {
                "models": ["peygir.ticket_store.models"],
                "migrations": "peygir.ticket_store.migrations",
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def _migrate(config: dict[str, Any], target: str | None = None) -> None:
    try:
        await migrate(config=config, target=target)
    finally:
        await Tortoise.close_connections()


async def migrate_to(database_url: str, target: str) -> None:
    """Bring the schema to one named migration (``peygir.0001_initial``), up or down."""
    await close_db()
    await asyncio.create_task(_migrate(tortoise_config(database_url), target))


async def open_db(database_url: str, *, upgrade: bool = True) -> None:
    """Apply pending migrations (an upgrade keeps the data), then connect the models.

    The connection is process-wide (tortoise's global fallback context), so web requests,
    bots and workers running in other tasks all see it.
    """
    await close_db()
    config = tortoise_config(database_url)
    sqlite_file = _sqlite_file(config["connections"]["default"])
    if database_url.startswith("sqlite"):
        # aiosqlite runs every statement in a thread of its own, and each statement is a
        # hand-over to that thread and back. While the event loop is busy, the thread waits
        # for the GIL for up to CPython's switch interval, 5 ms, on every hand-over, and a
        # transaction holds SQLite's one connection across all of them. 0.5 ms keeps
        # transactions short under load (bench.bots: p99 under a steady 300 messages/s).
        sys.setswitchinterval(min(sys.getswitchinterval(), SQLITE_SWITCH_INTERVAL))
    if upgrade:
        # In a task of its own: the migrator's tortoise context stays inside that task. On
        # PostgreSQL under a lock: processes starting together upgrade one after another.
        async with leases.Exclusive(database_url, leases.MIGRATIONS):
            await asyncio.create_task(_migrate(config))
    context = TortoiseContext()
    with context:  # current while the models are bound; global fallback afterwards
        try:
            await context.init(config=config, _enable_global_fallback=True)
        except Exception:
            await context.close_connections()
            raise
    leases.use(database_url)
    if sqlite_file:
        global _checkpointer
        _checkpointer = asyncio.create_task(_checkpoint_every(sqlite_file, CHECKPOINT_INTERVAL),
                                            name="sqlite-checkpoint")


async def close_db() -> None:
    """Close the connections and forget the models' binding, so another database can follow."""
    global _checkpointer
    await leases.release_all()
    if _checkpointer is not None:
        _checkpointer.cancel()
        await asyncio.gather(_checkpointer, return_exceptions=True)
        _checkpointer = None
    if get_current_context() is None:
        return
    await Tortoise._reset_apps()
    await Tortoise.close_connections()
    # tortoise caches each model's INSERT by connection *name*; a later database of another
    # dialect under the same name would reuse SQLite's placeholders on PostgreSQL.
    EXECUTOR_CACHE.clear()


_checkpointer: asyncio.Task[None] | None = None


def holds_data(database_url: str) -> bool:
    """False for a SQLite file that does not exist yet: a reader need not create it."""
    if not database_url.startswith("sqlite:"):
        return True
    path = expand_db_url(database_url)["credentials"]["file_path"]
    return path != ":memory:" and os.path.exists(path)


def _sqlite_file(url: str) -> str | None:
    """The file of a SQLite URL (which our checkpointer serves); None otherwise."""
    if not url.startswith("sqlite:"):
        return None
    path = expand_db_url(url)["credentials"]["file_path"]
    return None if path == ":memory:" else str(path)


async def _checkpoint_every(path: str, interval: float) -> None:
    """Passive WAL checkpoints from a connection of our own: writers never wait for them."""
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(_checkpoint, path, interval)
        except sqlite3.Error as trouble:  # busy or gone for a moment: the next one runs
            log.warning("SQLite checkpoint failed: %s", trouble)


def _checkpoint(path: str, timeout: float) -> None:
    # Opened and closed in the worker thread: a connection shared with the event loop could
    # be closed by a cancelled task while the thread still runs on it (a crash in SQLite).
    # mode=rw: a database removed meanwhile is not created again, empty.
    uri = f"file:{urllib.parse.quote(path)}?mode=rw"
    connection = sqlite3.connect(uri, uri=True, timeout=timeout)
    try:
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        connection.close()


# For tortoise's own CLI: `tortoise -c ticket_store.db.TORTOISE_ORM makemigrations`.
TORTOISE_ORM = tortoise_config(
    os.environ.get("PEYGIR_DATABASE_URL", "sqlite://./peygir.db")
)


def placeholders(connection: Any, count: int) -> list[str]:
    """Placeholders in the connection's own style."""
    if connection.capabilities.dialect == "postgres":
        return [f"${i}" for i in range(1, count + 1)]
    return ["?"] * count

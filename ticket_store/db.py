"""Connecting to the database and bringing its schema up to date."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext, get_current_context
from tortoise.migrations.api import migrate

APP = "peygir"


# SQLite in WAL mode with synchronous=NORMAL syncs at checkpoints, not at every commit: a
# process crash loses nothing committed; a power cut may lose the last moments. It trebles
# the bot's throughput on a disk with slow fsync (bench/bots.py). Add ?synchronous=FULL to
# PEYGIR_DATABASE_URL to sync every commit instead.
SQLITE_DEFAULTS = {"synchronous": "NORMAL"}


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
                "models": ["ticket_store.models"],
                "migrations": "ticket_store.migrations",
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
    if upgrade:
        # In a task of its own: the migrator's tortoise context stays inside that task.
        await asyncio.create_task(_migrate(config))
    context = TortoiseContext()
    with context:  # current while the models are bound; global fallback afterwards
        try:
            await context.init(config=config, _enable_global_fallback=True)
        except Exception:
            await context.close_connections()
            raise


async def close_db() -> None:
    """Close the connections and forget the models' binding, so another database can follow."""
    if get_current_context() is None:
        return
    await Tortoise._reset_apps()
    await Tortoise.close_connections()
    # tortoise caches each model's INSERT by connection *name*; a later database of another
    # dialect under the same name would reuse SQLite's placeholders on PostgreSQL.
    EXECUTOR_CACHE.clear()


# For tortoise's own CLI: `tortoise -c ticket_store.db.TORTOISE_ORM makemigrations`.
TORTOISE_ORM = tortoise_config(
    os.environ.get("PEYGIR_DATABASE_URL", "sqlite://./peygir.db")
)

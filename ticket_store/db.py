"""Connecting to the database and bringing its schema up to date."""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise
from tortoise.migrations.api import migrate

APP = "peygir"


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": database_url},
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


async def open_db(database_url: str, *, upgrade: bool = True) -> None:
    """Apply pending migrations (an upgrade keeps the data), then connect the models."""
    config = tortoise_config(database_url)
    if upgrade:
        await migrate(config=config)
        await Tortoise.close_connections()
    await Tortoise.init(config=config, _enable_global_fallback=True)


async def close_db() -> None:
    await Tortoise.close_connections()


# For tortoise's own CLI: `tortoise -c ticket_store.db.TORTOISE_ORM makemigrations`.
TORTOISE_ORM = tortoise_config(
    __import__("os").environ.get("PEYGIR_DATABASE_URL", "sqlite://./peygir.db")
)

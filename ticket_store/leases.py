"""Which process does a job only one may do at a time: poll a bot's ``getUpdates`` (the
messenger serves one poller and answers the others 409), run the scheduler, the forwarder.

On PostgreSQL a lease is a session advisory lock held on a connection of its own. When the
process dies, PostgreSQL sees its connection close and frees the lock, and another process's
next :func:`hold` takes it: a takeover within one retry interval, with no table and no clock
to trust. On SQLite only one process runs (config/roles.py), so every lease is its own.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import urllib.parse
import zlib
from collections.abc import Awaitable, Callable

import asyncpg

log = logging.getLogger(__name__)

NAMESPACE = 137_0021  # the first key of our two-key advisory locks; the second names the job
MIGRATIONS = "migrations"  # the lease the schema's upgrade runs under
# Each process holds a lock (PROCESS_NAMESPACE, PROCESS) while it lives, and writes PROCESS on
# what it claims (a reply, a voice note): a claim whose process holds no such lock is a dead
# process's, and is recovered at once instead of after a timeout.
PROCESS_NAMESPACE = 137_0022
PROCESS = secrets.randbits(31) or 1


def lock_key(name: str) -> int:
    """A stable 31-bit key for a lease's name (the same in every process and version)."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def asyncpg_dsn(database_url: str) -> str:
    """tortoise's ``postgres://…?minsize=…`` as a DSN asyncpg takes (its own options off)."""
    parts = urllib.parse.urlsplit(database_url)
    return urllib.parse.urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))


def city_schema(database_url: str) -> str | None:
    """The schema a city's data lives in (``?schema=isfahan,public``: isfahan), if any."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(database_url).query)
    schema = query.get("schema", [""])[0].split(",")[0].strip()
    return schema or None


def shared(database_url: str) -> bool:
    """Whether other processes may use this database at the same time (PostgreSQL)."""
    return database_url.startswith(("postgres:", "postgresql:", "asyncpg:", "psycopg:"))


class Leases:
    """This process's leases on one database."""

    def __init__(self, database_url: str) -> None:
        self.dsn = asyncpg_dsn(database_url) if shared(database_url) else None
        # Cities on one database each elect their own poller and scheduler.
        self.prefix = f"{city_schema(database_url) or ''}:"
        self._connection: asyncpg.Connection | None = None
        self._held: set[str] = set()
        self._lock = asyncio.Lock()  # one query at a time on the one connection

    async def hold(self, name: str) -> bool:
        """Whether this process holds the lease ``name`` now, taking it when it is free.
        Ask again before each turn of the job: a lost connection loses every lease."""
        if self.dsn is None:
            return True

        async def take(connection: asyncpg.Connection) -> bool:
            if name in self._held:
                await connection.fetchval("SELECT 1")  # still connected: still ours
                return True
            if not await connection.fetchval("SELECT pg_try_advisory_lock($1, $2)",
                                             NAMESPACE, lock_key(self.prefix + name)):
                return False
            self._held.add(name)
            log.info("this process now holds the %s lease", name)
            return True

        return await self._on_connection(take)

    async def _connect(self) -> asyncpg.Connection:
        if self._connection is None or self._connection.is_closed():
            self._held.clear()
            assert self.dsn is not None
            self._connection = await asyncpg.connect(self.dsn, timeout=10)
            await self._connection.execute("SELECT pg_advisory_lock($1, $2)",
                                           PROCESS_NAMESPACE, PROCESS)
        return self._connection

    async def announce(self) -> bool:
        """Show this process alive (its lock) before it claims anything, and again now and
        then: a lost connection is made again, with the lock. False while the database
        cannot be reached."""
        if self.dsn is None:
            return True

        async def ping(connection: asyncpg.Connection) -> bool:
            await connection.fetchval("SELECT 1")
            return True

        return await self._on_connection(ping)

    async def _on_connection(self, work: Callable[[asyncpg.Connection], Awaitable[bool]]
                             ) -> bool:
        """``work`` on the leases' connection (made again if lost, with the liveness lock);
        False when the database cannot be reached, and every lease is then given up."""
        async with self._lock:
            try:
                return await work(await self._connect())
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as lost:
                held = ", ".join(sorted(self._held)) or "none"
                log.warning("lost the database connection of this process's leases (held: "
                            "%s): %s", held, lost)
                await self._drop()
                return False

    async def _drop(self) -> None:
        self._held.clear()
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.terminate()

    async def close(self) -> None:
        """Give every lease up (the connection closes; others may take them at once)."""
        async with self._lock:
            connection, self._connection = self._connection, None
            self._held.clear()
            if connection is not None and not connection.is_closed():
                await connection.close()


class Exclusive:
    """An advisory lock held across a block on PostgreSQL (the schema's upgrade, which two
    processes starting together would otherwise both run), after making the city's schema
    when the URL names one; nothing on SQLite."""

    def __init__(self, database_url: str, name: str) -> None:
        self.dsn = asyncpg_dsn(database_url) if shared(database_url) else None
        self.name = name
        schema = city_schema(database_url)
        self.schema = schema if schema and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", schema) \
            else None  # a name to quote, never SQL
        self._connection: asyncpg.Connection | None = None

    async def __aenter__(self) -> Exclusive:
        if self.dsn is not None:
            self._connection = await asyncpg.connect(self.dsn, timeout=10)
            await self._connection.execute("SELECT pg_advisory_lock($1, $2)", NAMESPACE,
                                           lock_key(self.name))
            if self.schema is not None:  # a city's own schema, made at its first start
                await self._connection.execute(
                    f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._connection is not None:
            await self._connection.close()  # the lock goes with the session
            self._connection = None


_leases: Leases | None = None


def use(database_url: str | None) -> None:
    """The database whose leases :func:`hold` asks for (set by ``db.open_db``)."""
    global _leases
    _leases = Leases(database_url) if database_url is not None else None


async def hold(name: str) -> bool:
    """Whether this process holds the lease ``name`` on the open database (taking it when
    free). With no database open, nothing is held."""
    return _leases is not None and await _leases.hold(name)


async def release_all() -> None:
    """Give up every lease (``db.close_db``)."""
    global _leases
    leases, _leases = _leases, None
    if leases is not None:
        await leases.close()


def database_shared() -> bool:
    """Whether the open database is shared with other processes (PostgreSQL)."""
    return _leases is not None and _leases.dsn is not None


async def announce() -> bool:
    """Take this process's liveness lock on a shared database, or check it is still held
    (``Core`` does at start and every few seconds after)."""
    return _leases is not None and await _leases.announce()


def dead_claim_sql(column: str) -> str:
    """SQL true for a claim whose process holds no liveness lock: it died (or lost its
    connection, after which it claims nothing more). PostgreSQL only."""
    return (f"({column} IS NULL OR {column} NOT IN (SELECT objid::bigint FROM pg_locks "
            f"WHERE locktype = 'advisory' AND classid = {PROCESS_NAMESPACE} "
            "AND objsubid = 2 AND granted))")

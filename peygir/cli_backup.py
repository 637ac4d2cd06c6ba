"""``peygir migrate``, ``peygir backup`` and ``peygir restore`` (README, *Deployment*).

SQLite is copied with its online backup API (a consistent copy while `peygir serve` writes);
PostgreSQL with ``pg_dump --format=custom`` and ``pg_restore``. Expected trouble (a
destination that exists, a missing database or tool) is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"  # the first bytes of pg_dump's custom format
PG_CLIENT_HINT = "install PostgreSQL's client tools (Debian: apt-get install postgresql-client)"


class Trouble(Exception):
    """Expected trouble: said in one line, exit code 2."""


def shown(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _database_url() -> str:
    from peygir.config.settings import Settings

    return Settings().database_url


def _credentials(url: str) -> dict[str, Any]:
    from tortoise.backends.base.config_generator import expand_db_url

    try:
        return dict(expand_db_url(url)["credentials"])
    except Exception as exc:  # tortoise's ConfigurationError, or a URL it cannot read
        raise Trouble(f"cannot read PEYGIR_DATABASE_URL {shown(url)}: {exc}") from exc


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:")


def _sqlite_path(url: str) -> Path:
    path = str(_credentials(url)["file_path"])
    if path == ":memory:":
        raise Trouble("an in-memory SQLite database has nothing to back up or restore into")
    return Path(path)


def _pg_env(url: str) -> dict[str, str]:
    """libpq's environment for the database of a tortoise URL: its own query parameters
    (minsize, ...) mean nothing to pg_dump, and a password never shows in `ps`."""
    cred = _credentials(url)
    env = {**os.environ, "PGHOST": str(cred.get("host") or "localhost"),
           "PGPORT": str(cred.get("port") or 5432), "PGDATABASE": str(cred["database"])}
    if cred.get("user"):
        env["PGUSER"] = str(cred["user"])
    if cred.get("password"):
        env["PGPASSWORD"] = str(cred["password"])
    if str(cred.get("ssl", "")) in {"disable", "allow", "prefer", "require", "verify-ca",
                                    "verify-full"}:
        env["PGSSLMODE"] = str(cred["ssl"])
    return env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise Trouble(f"{name} is not installed: {PG_CLIENT_HINT}")
    return found


def _run_tool(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        said = lines[-1] if lines else f"exit code {done.returncode}"
        raise Trouble(f"{Path(command[0]).name} failed: {said}")


def _partial(dest: Path) -> Path:
    # Written beside the destination and renamed into place: a failed or interrupted backup
    # never leaves a half-written file under the real name.
    return dest.with_name(f".{dest.name}.{os.getpid()}.partial")


def _private_file(path: Path) -> None:
    # A backup holds citizens' personal data: readable by its owner only.
    path.touch(mode=0o600, exist_ok=True)  # a stale one of a crashed run is overwritten
    path.chmod(0o600)


# -- backup -------------------------------------------------------------------------------------

def backup(url: str, dest: Path, *, force: bool = False) -> str:
    """Copy the database into ``dest``; returns the line to print."""
    if dest.exists() and not force:
        raise Trouble(f"{dest} exists: choose another name, or --force to replace it")
    if dest.is_dir():
        raise Trouble(f"{dest} is a folder: name the backup file")
    if not dest.parent.is_dir():
        raise Trouble(f"no folder {dest.parent} to write the backup into")
    partial = _partial(dest)
    try:
        if _is_sqlite(url):
            what = _backup_sqlite(_sqlite_path(url), partial)
        else:
            what = _backup_postgres(url, partial)
        partial.replace(dest)
    finally:
        partial.unlink(missing_ok=True)
    return f"backup of {what} written to {dest} ({dest.stat().st_size} bytes)"


def _backup_sqlite(source: Path, partial: Path) -> str:
    if not source.is_file():
        raise Trouble(f"no SQLite database at {source}")
    _private_file(partial)
    try:
        # mode=rw: a database removed meanwhile is not created again, empty.
        src = sqlite3.connect(f"file:{urllib.parse.quote(str(source))}?mode=rw", uri=True,
                              timeout=30)
        try:
            dst = sqlite3.connect(partial)
            try:
                # One step (pages=-1) inside one read transaction: a consistent snapshot.
                # In WAL mode `peygir serve` keeps writing meanwhile; a copy in steps would
                # start again after every write from another connection.
                src.backup(dst)
                # A single self-contained file: no -wal beside it to lose on the way.
                dst.execute("PRAGMA journal_mode=DELETE")
                check = dst.execute("PRAGMA quick_check").fetchone()[0]
                if check != "ok":
                    raise Trouble(f"the copy of {source} fails SQLite's check: {check}")
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:  # not a database, unreadable, locked too long
        raise Trouble(f"cannot back up {source}: {exc}") from exc
    with partial.open("rb") as written:
        os.fsync(written.fileno())
    return f"SQLite {source}"


def _backup_postgres(url: str, partial: Path) -> str:
    pg_dump = _tool("pg_dump")
    env = _pg_env(url)
    _private_file(partial)
    # --format=custom: compressed, and pg_restore can restore it whole or in part.
    _run_tool([pg_dump, "--format=custom", "--no-password", f"--file={partial}"], env)
    return f"PostgreSQL {shown(url)}"


# -- restore ------------------------------------------------------------------------------------

def restore(url: str, source: Path, *, force: bool = False) -> str:
    """Replace the database's contents with a backup; returns the line to print."""
    if not source.is_file():
        raise Trouble(f"no backup file {source}")
    with source.open("rb") as head:
        magic = head.read(len(SQLITE_MAGIC))
    if _is_sqlite(url):
        if not magic.startswith(SQLITE_MAGIC):
            raise Trouble(f"{source} is not a SQLite backup (PEYGIR_DATABASE_URL is SQLite)")
        return _restore_sqlite(source, _sqlite_path(url), force)
    if not magic.startswith(PG_DUMP_MAGIC):
        raise Trouble(f"{source} is not a pg_dump --format=custom backup "
                      "(PEYGIR_DATABASE_URL is PostgreSQL)")
    return _restore_postgres(source, url, force)


def _restore_sqlite(source: Path, target: Path, force: bool) -> str:
    if target.exists() and not force:
        raise Trouble(f"{target} exists: stop every peygir process, then --force to replace "
                      "its contents")
    if not target.parent.is_dir():
        raise Trouble(f"no folder {target.parent} for the database")
    try:
        src = sqlite3.connect(f"file:{urllib.parse.quote(str(source))}?mode=ro", uri=True)
        try:
            if (check := src.execute("PRAGMA quick_check").fetchone()[0]) != "ok":
                raise Trouble(f"{source} fails SQLite's check: {check}")
            # Through the backup API, not a file copy: a -wal file left beside the old
            # database would otherwise be replayed over the restored one.
            dst = sqlite3.connect(target, timeout=30)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise Trouble(f"cannot restore {source} into {target}: {exc}") from exc
    return f"restored {source} into SQLite {target}"


def _restore_postgres(source: Path, url: str, force: bool) -> str:
    pg_restore = _tool("pg_restore")
    if _postgres_holds_peygir(url) and not force:
        raise Trouble(f"{shown(url)} already holds peygir's tables: stop every peygir "
                      "process, then --force to replace them")
    # --clean --if-exists: drop what the backup holds first; one transaction: all or nothing;
    # --no-owner: the objects belong to the user restoring, whoever owned them before.
    _run_tool([pg_restore, "--clean", "--if-exists", "--no-owner", "--single-transaction",
               "--exit-on-error", "--no-password", f"--dbname={_pg_env(url)['PGDATABASE']}",
               str(source)], _pg_env(url))
    return f"restored {source} into PostgreSQL {shown(url)}"


def _postgres_holds_peygir(url: str) -> bool:
    from tortoise import connections

    from peygir.ticket_store.db import close_db, open_db

    async def ask() -> bool:
        await open_db(url, upgrade=False)  # connects only: nothing is created
        try:
            _, rows = await connections.get("default").execute_query(
                "SELECT to_regclass('public.tortoise_migrations') IS NOT NULL AS held")
            return bool(rows[0]["held"])
        finally:
            await close_db()

    try:
        return asyncio.run(ask())
    except _connection_errors() as exc:  # unreachable, no such database, refused
        raise Trouble(f"cannot reach {shown(url)}: {exc}") from exc


def _connection_errors() -> tuple[type[BaseException], ...]:
    """What opening a database raises when it cannot be reached or does not exist."""
    import importlib

    from tortoise.exceptions import ConfigurationError, DBConnectionError

    # asyncpg's own errors (no such database, refused login) reach us unwrapped; the library
    # ships no types, so its module is looked up rather than imported for the type checker.
    postgres_error: type[BaseException] = importlib.import_module("asyncpg").PostgresError
    return (OSError, sqlite3.Error, postgres_error, ConfigurationError, DBConnectionError)


# -- migrate ------------------------------------------------------------------------------------

async def _applied(connection: Any) -> list[str]:
    try:
        _, rows = await connection.execute_query(
            "SELECT name FROM tortoise_migrations WHERE app = 'peygir' ORDER BY id")
    except Exception:  # a new database: no table yet
        return []
    return [str(row["name"]) for row in rows]


async def migrate(url: str) -> str:
    """Apply pending migrations and close; returns the line to print."""
    from tortoise import connections

    from peygir.ticket_store.db import close_db, open_db

    if _is_sqlite(url) and not _sqlite_path(url).parent.is_dir():
        # Checked first: SQLite cannot create the file there, and the migrator would wait.
        raise Trouble(f"no folder {_sqlite_path(url).parent} for the SQLite database")
    try:
        await open_db(url, upgrade=False)
        try:
            before = await _applied(connections.get("default"))
        finally:
            await close_db()
        await open_db(url)  # the same upgrade `peygir serve` applies at start-up
        try:
            after = await _applied(connections.get("default"))
        finally:
            await close_db()
    except _connection_errors() as exc:  # unreachable, no such database, refused, a bad URL
        raise Trouble(f"cannot migrate {shown(url)}: {exc}") from exc
    new = len(set(after) - set(before))
    latest = after[-1] if after else "none"
    return f"database {shown(url)} is up to date: {new} migration(s) applied now, latest {latest}"


# -- the commands -------------------------------------------------------------------------------

def _run(args: argparse.Namespace) -> int:
    try:
        url = _database_url()
        if args.command == "migrate":
            line = asyncio.run(migrate(url))
        elif args.command == "backup":
            line = backup(url, Path(args.dest), force=args.force)
        else:
            line = restore(url, Path(args.src), force=args.force)
    except Trouble as trouble:
        print(f"peygir: {trouble}", file=sys.stderr)
        return 2
    print(f"peygir: {line}")
    return 0


def add_commands(commands: Any) -> None:
    commands.add_parser(
        "migrate", help="apply pending database migrations, then exit (upgrades: before "
                        "restarting the processes)").set_defaults(func=_run)
    back = commands.add_parser(
        "backup", help="copy the database to a file while peygir runs (SQLite: online backup "
                       "API; PostgreSQL: pg_dump --format=custom)")
    back.add_argument("dest", help="the backup file to write")
    back.add_argument("--force", action="store_true", help="replace DEST if it exists")
    back.set_defaults(func=_run)
    rest = commands.add_parser(
        "restore", help="replace the database's contents with a backup (stop every peygir "
                        "process first)")
    rest.add_argument("src", help="a file `peygir backup` wrote")
    rest.add_argument("--force", action="store_true",
                      help="replace a database that already holds data")
    rest.set_defaults(func=_run)

"""`peygir backup`, `peygir restore` and `peygir migrate` as an operator runs them: the real
CLI in a child process, on a SQLite file and on PostgreSQL (README, *Deployment*)."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from tortoise.transactions import in_transaction

from peygir.ticket_store import store
from peygir.ticket_store.db import close_db, open_db
from peygir.ticket_store.deadlines import Deadlines
from peygir.ticket_store.models import OutboxMessage, Ticket
from tests.conftest import PG_ADMIN
from tests.support import REPO_ROOT, serve_env


def peygir(database_url: str, *args: str, path: str | None = None
           ) -> subprocess.CompletedProcess[str]:
    env = serve_env(PEYGIR_DATABASE_URL=database_url)
    if path is not None:
        env["PATH"] = path
    return subprocess.run([sys.executable, "-m", "peygir", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


async def peygir_async(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI while this event loop goes on (a writer may run beside it)."""
    return await asyncio.to_thread(peygir, database_url, *args)


async def file_one(chat: str = "c1") -> Ticket:
    citizen = await store.citizen_for("memory", chat)
    draft = store.NewTicket(service_code="asphalt", description="چاله جلوی مدرسه", urgent=False)
    return await store.file_ticket(citizen, "memory", chat, draft, datetime.now(UTC), Deadlines())


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
async def restore_url(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """Where a backup of ``database_url`` is restored: a new SQLite file, or a new
    PostgreSQL database, dropped afterwards."""
    if database_url.startswith("sqlite"):
        yield f"sqlite://{tmp_path / 'restored' / 'peygir.db'}"
        return
    name = f"peygir_restore_test_{uuid.uuid4().hex[:8]}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    finally:
        await close_db()
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_a_backup_restores_the_ticket(database_url: str, restore_url: str,
                                            tmp_path: Path) -> None:
    await open_db(database_url)
    code = (await file_one()).tracking_code
    await close_db()
    dest = tmp_path / "peygir.backup"

    made = await peygir_async(database_url, "backup", str(dest))
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("peygir: backup of ") and str(dest) in made.stdout
    assert dest.stat().st_mode & 0o077 == 0  # personal data: the owner's alone
    assert not list(tmp_path.glob(".*.partial"))
    if database_url.startswith("sqlite"):
        Path(restore_url.removeprefix("sqlite://")).parent.mkdir()

    restored = await peygir_async(restore_url, "restore", str(dest))
    assert restored.returncode == 0, restored.stderr
    assert "restored" in restored.stdout

    await open_db(restore_url)
    try:
        ticket = await Ticket.get(tracking_code=code)
        assert ticket.description == "چاله جلوی مدرسه"
        assert await store.ticket_for_chat(code, "memory", "c1")
    finally:
        await close_db()

    # A restored database is a working one: filing goes on, and nothing is left to migrate.
    migrated = await peygir_async(restore_url, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "0 migration(s) applied now" in migrated.stdout


async def test_refusals_are_one_line_and_change_nothing(database_url: str, restore_url: str,
                                                        tmp_path: Path) -> None:
    await open_db(database_url)
    await file_one()
    await close_db()
    dest = tmp_path / "taken.backup"
    dest.write_bytes(b"an older backup")

    again = await peygir_async(database_url, "backup", str(dest))
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [
        f"peygir: {dest} exists: choose another name, or --force to replace it"]
    assert dest.read_bytes() == b"an older backup"

    forced = await peygir_async(database_url, "backup", "--force", str(dest))
    assert forced.returncode == 0, forced.stderr
    assert dest.read_bytes() != b"an older backup"

    # Restoring over a database that holds data wants --force.
    if database_url.startswith("sqlite"):
        Path(restore_url.removeprefix("sqlite://")).parent.mkdir()
    assert (await peygir_async(restore_url, "restore", str(dest))).returncode == 0
    over = await peygir_async(restore_url, "restore", str(dest))
    assert over.returncode == 2
    assert len(over.stderr.strip().splitlines()) == 1 and "--force" in over.stderr
    assert (await peygir_async(restore_url, "restore", "--force", str(dest))).returncode == 0

    # A backup of the other kind is named as such, not half-restored.
    wrong = tmp_path / "wrong.backup"
    wrong.write_bytes(b"PGDMP" if database_url.startswith("sqlite") else b"SQLite format 3\x00")
    mismatch = await peygir_async(restore_url, "restore", "--force", str(wrong))
    assert mismatch.returncode == 2 and "is not a" in mismatch.stderr
    assert "Traceback" not in mismatch.stderr


async def test_sqlite_backup_is_consistent_while_peygir_writes(tmp_path: Path) -> None:
    """The online backup API copies one transaction-consistent state while writes go on:
    the writer commits rows in pairs, so a torn copy would hold an odd count."""
    url = f"sqlite://{tmp_path / 'live.db'}"
    await open_db(url)
    try:
        code = (await file_one()).tracking_code
        written = 0
        stop = asyncio.Event()

        async def writer() -> None:
            nonlocal written
            while not stop.is_set():
                async with in_transaction():
                    for _ in range(2):
                        await OutboxMessage.create(channel="web", chat_id=f"w{written}",
                                                   payload={"text": "x" * 2000})
                        written += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(writer())
        while written < 200:  # a WAL with uncheckpointed writes when the copy starts
            await asyncio.sleep(0.01)
        before = written
        dest = tmp_path / "live.backup"
        made = await peygir_async(url, "backup", str(dest))
        during = written - before
        stop.set()
        await task
    finally:
        await close_db()
    assert made.returncode == 0, made.stderr
    assert during > 0  # the writer really wrote while the backup ran

    copy = sqlite3.connect(f"file:{dest}?mode=ro", uri=True)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one file
        rows = copy.execute("SELECT count(*) FROM outbox_message WHERE chat_id LIKE 'w%'"
                            ).fetchone()[0]
        assert copy.execute("SELECT count(*) FROM ticket WHERE tracking_code = ?",
                            (code,)).fetchone()[0] == 1
    finally:
        copy.close()
    assert rows % 2 == 0 and before <= rows <= written


async def test_expected_trouble_is_one_line(tmp_path: Path, postgres_database: str) -> None:
    missing = tmp_path / "nowhere.db"
    absent = peygir(f"sqlite://{missing}", "backup", str(tmp_path / "b"))
    assert absent.returncode == 2
    assert absent.stderr.strip() == f"peygir: no SQLite database at {missing}"
    assert not missing.exists()  # looking did not create it

    # pg_dump not installed: said, with where it comes from.
    no_tools = peygir(postgres_database, "backup", str(tmp_path / "pg.backup"), path="/nonexistent")
    assert no_tools.returncode == 2
    assert no_tools.stderr.strip().startswith("peygir: pg_dump is not installed")
    assert not (tmp_path / "pg.backup").exists()

    # An unreachable or missing database: one line, the password hidden.
    gone = postgres_database.replace("postgres@", "postgres:hunter2@").rsplit("/", 1)[0]
    for command in (("migrate",), ("backup", str(tmp_path / "x.backup"))):
        failed = peygir(f"{gone}/peygir_no_such_database", *command)
        assert failed.returncode == 2, failed.stderr
        assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr
        assert "peygir_no_such_database" in failed.stderr and "hunter2" not in failed.stderr
        assert not list(tmp_path.glob("*.backup")) and not list(tmp_path.glob(".*.partial"))


async def test_migrate_applies_and_exits(database_url: str) -> None:
    first = await peygir_async(database_url, "migrate")
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("\n") == 1 and "up to date" in first.stdout
    assert "0 migration(s)" not in first.stdout
    await open_db(database_url, upgrade=False)  # the schema is there without serve's upgrade
    try:
        assert await Ticket.all().count() == 0
        await file_one()
    finally:
        await close_db()
    second = await peygir_async(database_url, "migrate")
    assert "0 migration(s) applied now" in second.stdout

"""The ticket store on SQLite and PostgreSQL: codes, dedup, outbox, schema."""

import asyncio
from datetime import UTC, datetime
from itertools import pairwise

from tortoise import connections
from tortoise.transactions import in_transaction

from peygir.messages.types import Button, Reply
from peygir.ticket_store import store
from peygir.ticket_store.db import APP, close_db, migrate_to, open_db
from peygir.ticket_store.deadlines import Deadlines
from peygir.ticket_store.models import (
    ChatState,
    Citizen,
    OutboxMessage,
    ProcessedUpdate,
    Ticket,
    TicketEvent,
)


def test_tracking_codes_are_random_eight_digits() -> None:
    codes = [store.new_tracking_code() for _ in range(2000)]
    assert all(len(c) == 8 and c.isdigit() and c[0] != "0" for c in codes)
    assert len(set(codes)) > 1990
    ordered = sum(1 for a, b in pairwise(codes) if int(b) == int(a) + 1)
    assert ordered < 5


async def file_one(chat: str = "c1") -> Ticket:
    citizen = await store.citizen_for("memory", chat)
    draft = store.NewTicket(service_code="asphalt", description="چاله", urgent=False)
    return await store.file_ticket(citizen, "memory", chat, draft, datetime.now(UTC), Deadlines())


async def test_ticket_has_code_deadline_and_first_event(db: str) -> None:
    ticket = await file_one()
    assert (ticket.answer_due - ticket.created_at).total_seconds() >= 120 * 3600 - 5
    events = await store.timeline(ticket)
    assert [e.to_status for e in events] == ["new"]
    assert await store.ticket_for_chat(ticket.tracking_code, "memory", "c1")
    assert await store.ticket_for_chat(ticket.tracking_code, "memory", "other") is None


async def test_claim_update_once_even_when_racing(db: str) -> None:
    async def claim() -> bool:
        async with in_transaction():
            return await store.claim_update("telegram:42")

    results = await asyncio.gather(*(claim() for _ in range(5)))
    assert results.count(True) == 1
    assert await ProcessedUpdate.filter(dedup_key="telegram:42").count() == 1


async def test_claim_and_state_in_one_statement(db: str) -> None:
    """The hot path's claim also brings the chat's state back; a repeat gets None."""
    async with in_transaction():
        assert await store.claim_update_and_load_state("telegram:1", "telegram", "5") == {}
    await store.save_state("telegram", "5", {"stage": "confirm", "draft": {"text": "چاله"}})
    async with in_transaction():
        assert await store.claim_update_and_load_state("telegram:2", "telegram", "5") == {
            "stage": "confirm", "draft": {"text": "چاله"}}
        assert await store.claim_update_and_load_state("telegram:2", "telegram", "5") is None
    assert await ProcessedUpdate.filter(dedup_key__startswith="telegram:").count() == 2


async def test_failed_handling_leaves_no_dedup_record(db: str) -> None:
    try:
        async with in_transaction():
            assert await store.claim_update("telegram:7")
            await file_one()
            raise RuntimeError("crash after the ticket, before the commit")
    except RuntimeError:
        pass
    # Nothing half-done: the update can be handled again, and no orphan ticket exists.
    assert await Ticket.all().count() == 0
    assert await ProcessedUpdate.all().count() == 0


async def test_outbox_sends_each_reply_once(db: str) -> None:
    reply = Reply("سلام", buttons=((Button("ثبت", "confirm"),),))
    await store.enqueue("memory", "c1", reply)
    rows = await store.pending("memory", "c1")
    assert len(rows) == 1 and Reply.from_payload(rows[0].payload) == reply
    assert await store.mark_sent(rows[0]) is True
    assert await store.mark_sent(rows[0]) is False  # a second sender loses
    assert await store.pending("memory", "c1") == []


async def test_chat_state_round_trip(db: str) -> None:
    await store.save_state("web", "x", {"stage": "confirm", "draft": {"text": "کوچه"}})
    await store.save_state("web", "x", {"stage": "idle"})
    assert await store.load_state("web", "x") == {"stage": "idle"}
    assert await ChatState.all().count() == 1


async def _columns(table: str) -> set[str]:
    conn = connections.get("default")
    if conn.capabilities.dialect == "sqlite":
        rows = await conn.execute_query_dict(f'PRAGMA table_info("{table}")')
        return {r["name"] for r in rows}
    rows = await conn.execute_query_dict(
        "SELECT column_name FROM information_schema.columns WHERE table_name = $1", [table]
    )
    return {r["column_name"] for r in rows}


async def test_migrations_build_every_model_column(db: str) -> None:
    for model in (Citizen, Ticket, TicketEvent, OutboxMessage, ProcessedUpdate, ChatState):
        expected = set(model._meta.db_fields)
        assert expected <= await _columns(model._meta.db_table), model.__name__


async def test_reopening_upgrades_in_place_and_keeps_data(database_url: str) -> None:
    await open_db(database_url)
    ticket = await file_one()
    await close_db()
    await open_db(database_url)  # runs the migrator again: nothing to apply, nothing lost
    kept = await Ticket.get(tracking_code=ticket.tracking_code)
    assert kept.description == "چاله"


async def test_upgrade_from_the_first_schema_keeps_data(database_url: str) -> None:
    await migrate_to(database_url, f"{APP}.0001_initial")
    await open_db(database_url, upgrade=False)
    columns = await _columns("outbox_message")
    assert "claimed_at" not in columns  # really the old schema
    await connections.get("default").execute_script(
        "INSERT INTO outbox_message (channel, chat_id, payload, created_at, attempts) "
        "VALUES ('memory', 'old', '{\"text\": \"سلام\"}', '2026-01-01 10:00:00+00:00', 0)"
    )
    await close_db()

    await open_db(database_url)  # the upgrade
    assert {"claimed_at", "failed_at"} <= await _columns("outbox_message")
    row = await OutboxMessage.get(chat_id="old")
    assert row.payload == {"text": "سلام"} and row.claimed_at is None


async def test_sqlite_commits_in_wal_with_full_sync(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """WAL + synchronous=FULL by default (a power cut loses nothing committed); NORMAL is an
    opt-in by setting or URL, and a parameter the URL gives wins over the setting."""
    from tortoise import connections

    from peygir.config.settings import Settings
    from peygir.ticket_store.db import close_db, open_db

    def url(name: str, query: str = "", **settings: str) -> str:
        return Settings(database_url=f"sqlite://{tmp_path / name}{query}",
                        **settings).database_url  # type: ignore[arg-type]

    full, normal = 2, 1
    for database_url, expected in ((url("a.db"), full),
                                   (url("b.db", sqlite_sync="normal"), normal),
                                   (url("c.db", "?synchronous=NORMAL"), normal),
                                   (url("d.db", "?synchronous=FULL", sqlite_sync="normal"), full),
                                   (url("e.db", "?synchronous=OFF"), 0)):
        await open_db(database_url)
        try:
            connection = connections.get("default")
            _, rows = await connection.execute_query("PRAGMA synchronous")
            _, mode = await connection.execute_query("PRAGMA journal_mode")
            assert (rows[0][0], mode[0][0]) == (expected, "wal"), database_url
        finally:
            await close_db()


async def test_sqlite_checkpoints_in_the_background(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A connection of our own copies the WAL into the database file within about a second,
    off the commit path; SQLite's automatic checkpoint stays on behind it, so the WAL stays
    bounded even when nothing else checkpoints (off only when the URL says so)."""
    import sqlite3

    from tortoise import connections

    from peygir.ticket_store.db import CHECKPOINT_INTERVAL, close_db, open_db

    for query, autocheckpoint in (("?wal_autocheckpoint=0", 0), ("", 1000)):
        await open_db(f"sqlite://{tmp_path / 'x.db'}{query}")
        try:
            connection = connections.get("default")
            _, rows = await connection.execute_query("PRAGMA wal_autocheckpoint")
            assert rows[0][0] == autocheckpoint
        finally:
            await close_db()
    path = tmp_path / "c.db"
    await open_db(f"sqlite://{path}")
    try:
        for i in range(50):
            await OutboxMessage.create(channel="web", chat_id=f"c{i}", payload={"text": "x"})

        def in_main_file() -> int:
            # immutable=1 reads the database file alone, leaving the WAL out.
            with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as main_file:
                return main_file.execute("SELECT count(*) FROM outbox_message").fetchone()[0]

        deadline = asyncio.get_running_loop().time() + 10 * CHECKPOINT_INTERVAL
        while in_main_file() < 50:
            assert asyncio.get_running_loop().time() < deadline, "no checkpoint ran"
            await asyncio.sleep(0.1)
    finally:
        await close_db()

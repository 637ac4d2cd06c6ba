"""Ticket search (ticket_store/search.py, /panel/search) on SQLite and PostgreSQL: every
filter, Persian normalisation at index and query time, who may see and search what, bounded
and garbled input, pagination, the index kept in step with the tickets and really used."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from peygir.nlu.normalize import normalize
from peygir.ticket_store import search
from peygir.ticket_store.db import migrate_to, open_db
from peygir.ticket_store.models import Citizen, StaffUser, Ticket
from peygir.ticket_store.search import BadSearch, SearchQuery, SearchRefused
from tests.panel_support import PHONE, build_app, file, signed_in

UNIT, OTHER_UNIT = "north_works", "south_works"


def user(role: str, unit: str | None = None) -> StaffUser:
    return StaffUser(username=f"u-{role}", role=role, unit_code=unit, password_hash="-")


OPERATOR, ADMIN, MANAGER = user("operator"), user("admin"), user("manager")
CREW, OTHER_CREW = user("unit", UNIT), user("unit", OTHER_UNIT)


async def codes(who: StaffUser, **fields: object) -> list[str]:
    page = await search.search(who, SearchQuery.build(**fields))  # type: ignore[arg-type]
    return [row["tracking_code"] for row in page.rows]


async def stored_text(ticket: Ticket) -> str:
    """What the database indexed for a ticket."""
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        sql = "SELECT search_text AS body FROM ticket WHERE id = $1"
    else:
        sql = "SELECT body FROM ticket_search WHERE rowid = ?"
    rows = await conn.execute_query_dict(sql, [ticket.id])
    assert len(rows) == 1
    return str(rows[0]["body"])


# -- the fold --------------------------------------------------------------------------------
def test_fold_agrees_with_the_nlu_normaliser() -> None:
    # The dialogue stores normalize()d text; staff type anything. Either way one key.
    for variant in ["كيك", "ي", "ى", "ة", "ۀ", "أ", "إ", "ؤ", "۱۲۳", "١٢٣", "می\u200cخواهم",
                    "ســـلام", "مَدرِسه", "A-B"]:
        assert search.fold(normalize(variant)) == search.fold(variant), variant
    assert search.fold("كوچه‌ي ۱۲ (آب)") == "کوچهی 12  اب "


async def test_database_folds_exactly_as_python(db: str) -> None:
    every = "".join(search.FOLD)  # every character the table names, plus plain text
    ticket = await file(description=f"الف {every} كوچه‌ها", phone=None)
    assert await stored_text(ticket) == search.fold(f" {ticket.description}  ")
    await Ticket.filter(id=ticket.id).update(transcript="صدای بلند ۱۲ ي")
    ticket = await Ticket.get(id=ticket.id)
    assert await stored_text(ticket) == \
        search.fold(f" {ticket.description} {ticket.transcript} ")


# -- words -----------------------------------------------------------------------------------
async def test_words_in_the_report_and_the_transcript(db: str) -> None:
    pothole = await file("asphalt", description="چاله‌ی بزرگ در كوچه ۱۲ پر از آب شده", phone=None)
    voice = await file("waste_bin", chat="c2", phone=None, description="پیام صوتی")
    await Ticket.filter(id=voice.id).update(transcript="زباله‌ها را نبردند")
    other = await file("fallen_tree", chat="c3", phone=None, description="درخت افتاده")
    assert await codes(OPERATOR, text="چاله") == [pothole.tracking_code]
    # Arabic ي/ك, Persian or ASCII digits, half-space or none: the same ticket.
    for text in ["كوچه", "کوچه ۱۲", "کوچه 12", "چاله‌ي", "چالهی", "كوچه١٢"[:4]]:
        assert await codes(OPERATOR, text=text) == [pothole.tracking_code], text
    # Every word must be there; a two-letter word matches at the start of a word.
    assert await codes(OPERATOR, text="چاله درخت") == []
    assert await codes(OPERATOR, text="آب") == [pothole.tracking_code]
    assert await codes(OPERATOR, text="اب کوچه") == [pothole.tracking_code]
    assert await codes(OPERATOR, text="زباله") == [voice.tracking_code]
    assert await codes(OPERATOR, text="ها") == []  # inside «زباله‌ها», not a word's start
    assert await codes(OPERATOR, text="افتاده") == [other.tracking_code]
    assert await codes(OPERATOR, text="گربه") == []


async def test_the_index_follows_every_change_of_the_text(db: str) -> None:
    ticket = await file(description="لامپ خیابان سوخته", phone=None)
    assert await codes(OPERATOR, text="لامپ") == [ticket.tracking_code]
    # Retention anonymises with a bulk UPDATE: the words must go from the index too.
    await Ticket.filter(id=ticket.id).update(description="", transcript=None)
    assert await codes(OPERATOR, text="لامپ") == []
    await Ticket.filter(id=ticket.id).update(transcript="چراغ")
    assert await codes(OPERATOR, text="چراغ") == [ticket.tracking_code]


# -- the other filters -----------------------------------------------------------------------
async def test_code_phone_service_district_unit_state_and_dates(db: str) -> None:
    now = datetime.now(UTC)
    a = await file("asphalt", chat="a", phone="+98 912 123-4567", unit=UNIT, district="r1",
                   now=now - timedelta(days=40))
    b = await file("waste_bin", chat="b", phone="989351112233", unit=OTHER_UNIT,
                   district="r2", now=now - timedelta(days=3))
    c = await file("asphalt", chat="c", phone=None, district="r2", now=now)
    await Ticket.filter(id=b.id).update(status="closed")
    newest_first = [c.tracking_code, b.tracking_code, a.tracking_code]
    assert await codes(OPERATOR) == newest_first
    persian_code = a.tracking_code.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    assert await codes(OPERATOR, code=persian_code) == [a.tracking_code]
    assert await codes(OPERATOR, code=b.tracking_code) == [b.tracking_code]
    for phone in ["09121234567", "۰۹۱۲۱۲۳۴۵۶۷", "+989121234567", "0912 123 4567"]:
        assert await codes(OPERATOR, phone=phone) == [a.tracking_code], phone
    assert await codes(ADMIN, phone="09351112233") == [b.tracking_code]
    assert await codes(OPERATOR, phone="09120000000") == []
    assert await codes(OPERATOR, service="asphalt") == [c.tracking_code, a.tracking_code]
    assert await codes(OPERATOR, district="r2") == [c.tracking_code, b.tracking_code]
    assert await codes(OPERATOR, unit=OTHER_UNIT) == [b.tracking_code]
    assert await codes(OPERATOR, state="closed") == [b.tracking_code]
    assert await codes(OPERATOR, state="open") == [c.tracking_code, a.tracking_code]
    assert await codes(OPERATOR, state="new") == [c.tracking_code]
    assert await codes(OPERATOR, since=now - timedelta(days=5)) == \
        [c.tracking_code, b.tracking_code]
    assert await codes(OPERATOR, before=now - timedelta(days=1)) == \
        [b.tracking_code, a.tracking_code]
    assert await codes(OPERATOR, service="asphalt", district="r2", state="open",
                       since=now - timedelta(days=1)) == [c.tracking_code]


async def test_pages_are_bounded_and_newest_first(db: str) -> None:
    now = datetime.now(UTC)
    count = search.PER_PAGE + 5
    made = [await file(chat=f"p{i}", phone=None, description=f"تیر برق شماره {i}",
                       now=now - timedelta(minutes=count - i)) for i in range(count)]
    newest_first = [t.tracking_code for t in reversed(made)]
    first = await search.search(OPERATOR, SearchQuery.build(text="تیر برق"))
    assert [r["tracking_code"] for r in first.rows] == newest_first[:search.PER_PAGE]
    assert first.has_next and first.rows[0]["excerpt"] == f"تیر برق شماره {count - 1}"
    second = await search.search(OPERATOR, SearchQuery.build(text="تیر برق", page=2))
    assert [r["tracking_code"] for r in second.rows] == newest_first[search.PER_PAGE:]
    assert not second.has_next
    # The same order with no words (the primary key's, not the FTS table's).
    assert await codes(OPERATOR) == newest_first[:search.PER_PAGE]
    assert SearchQuery.build(page=10**9).page == search.MAX_PAGE
    assert SearchQuery.build(page=-3).page == 1


# -- who sees what ---------------------------------------------------------------------------
async def test_a_unit_sees_only_its_own_tickets_and_never_searches_by_phone(db: str) -> None:
    mine = await file("asphalt", chat="m", description="آسفالت خراب", unit=UNIT)
    theirs = await file("asphalt", chat="t", description="آسفالت خراب", unit=OTHER_UNIT)
    unplaced = await file("asphalt", chat="u", description="آسفالت خراب")
    assert await codes(CREW, text="آسفالت") == [mine.tracking_code]
    assert await codes(OTHER_CREW, text="آسفالت") == [theirs.tracking_code]
    # Asking for the other unit's code or unit by name changes nothing.
    assert await codes(CREW, code=theirs.tracking_code) == []
    assert await codes(CREW, code=unplaced.tracking_code) == []
    assert await codes(CREW, unit=OTHER_UNIT) == [mine.tracking_code]
    assert await codes(user("unit", None)) == []  # a unit account without a unit: nothing
    assert len(await codes(OPERATOR, text="آسفالت")) == 3
    assert len(await codes(MANAGER, text="آسفالت")) == 3
    for who in (CREW, MANAGER):
        with pytest.raises(SearchRefused):
            await codes(who, phone=PHONE)


# -- input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("fields", "bad"), [
    ({"text": "ا" * 201}, "text"),
    ({"text": " ".join(f"کلمه{i}" for i in range(9))}, "text"),
    ({"text": "ا" * 41}, "text"),
    ({"text": "ی و ."}, "short"),
    ({"code": "1234"}, "code"),
    ({"code": "12a45678"}, "code"),
    ({"code": "1" * 40}, "code"),
    ({"phone": "1234"}, "phone"),
    ({"phone": "0912x"}, "phone"),
    ({"service": "x" * 65}, "service"),
    ({"district": "r1\x00"}, "district"),
    ({"unit": "واحد"}, "unit"),
    ({"state": "deleted"}, "state"),
    ({"since": datetime(2026, 2, 1, tzinfo=UTC), "before": datetime(2026, 1, 1, tzinfo=UTC)},
     "dates"),
])
def test_unusable_input_is_named(fields: dict[str, object], bad: str) -> None:
    with pytest.raises(BadSearch) as raised:
        SearchQuery.build(**fields)  # type: ignore[arg-type]
    assert raised.value.field == bad


async def test_odd_words_find_nothing_and_break_nothing(db: str) -> None:
    await file(description="کوچه تاریک", phone=None)
    for text in ['"', "NEAR(a b)", "a* OR b", "%_%", "'; DROP TABLE ticket; --", "کوچه^",
                 "\\", "ﻙﻮﭼﻪ", "AND", "ab OR cd", "-کوچه"]:
        try:
            await codes(OPERATOR, text=text)
        except BadSearch as bad:  # nothing left to look for: named, not a crash
            assert bad.field == "short", text
    assert await codes(OPERATOR, text="-کوچه") == await codes(OPERATOR, text="کوچه^") != []
    assert len(await codes(OPERATOR, text="\x00کوچه")) == 1
    assert await Ticket.all().count() == 1


# -- the index is there and used; the migration backfills and comes off ----------------------
async def test_the_search_uses_its_index(db: str) -> None:
    await file(description="کوچه", phone=None)
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        # One connection of the pool: a tiny table is otherwise read whole, rightly.
        async with in_transaction() as tx:
            await tx.execute_script("SET LOCAL enable_seqscan = off")
            plan = await tx.execute_query_dict(
                "EXPLAIN SELECT id FROM ticket WHERE search_text LIKE '%کوچه%'")
            phone = await tx.execute_query_dict(
                "EXPLAIN SELECT id FROM citizen WHERE "
                + search.phone_key_sql("phone", "postgres") + " = '9121234567'")
        assert "ticket_search_trgm" in str(plan)
    else:
        plan = await conn.execute_query_dict(
            "EXPLAIN QUERY PLAN SELECT rowid FROM ticket_search WHERE ticket_search MATCH "
            "'\"کوچه\"'")
        phone = await conn.execute_query_dict(
            "EXPLAIN QUERY PLAN SELECT id FROM citizen WHERE "
            + search.phone_key_sql("phone", "sqlite") + " = '9121234567'")
        assert "VIRTUAL TABLE INDEX" in str(plan)
    assert "citizen_phone_key" in str(phone)


async def test_the_migration_indexes_existing_tickets_and_reverses(database_url: str) -> None:
    await open_db(database_url)
    older = await file(description="صندوق پست شکسته", phone=PHONE)
    await migrate_to(database_url, "peygir.0010_example_sources")
    await open_db(database_url, upgrade=False)
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        gone = await conn.execute_query_dict(
            "SELECT (SELECT count(*) FROM pg_proc WHERE proname = 'peygir_search_text') + "
            "(SELECT count(*) FROM information_schema.columns WHERE table_name = 'ticket' "
            "AND column_name = 'search_text') AS n")
    else:
        gone = await conn.execute_query_dict(
            "SELECT count(*) AS n FROM sqlite_master WHERE name LIKE 'ticket_search%'")
    assert gone[0]["n"] == 0
    await Ticket.filter(id=older.id).update(description="صندوق پست سوخته")  # while unindexed
    await open_db(database_url)  # upgrades again
    assert await codes(OPERATOR, text="سوخته") == [older.tracking_code]
    assert await codes(OPERATOR, text="شکسته") == []
    assert await codes(OPERATOR, phone=PHONE) == [older.tracking_code]
    assert await Citizen.all().count() == 1


# -- the page --------------------------------------------------------------------------------
@pytest.fixture
def app(db: str, tmp_path: Path):
    return build_app(db, tmp_path / "media")


async def test_the_page_finds_and_links_tickets(app) -> None:
    ticket = await file("asphalt", description="چاله عمیق جلوی مدرسه", unit=UNIT)
    async with signed_in(app, "op", "operator") as c:
        empty = await c.get("/panel/search")
        assert empty.status_code == 200 and 'name="phone"' in empty.text
        assert 'id="results"' not in empty.text and 'href="/panel/search"' in empty.text
        found = await c.get("/panel/search", params={"q": "چاله مدرسه"})
        assert found.status_code == 200
        assert f'href="/panel/tickets/{ticket.tracking_code}"' in found.text
        by_phone = await c.get("/panel/search", params={"phone": "۰۹۱۲۱۲۳۴۵۶۷"})
        assert f'data-code="{ticket.tracking_code}"' in by_phone.text
        dated = await c.get("/panel/search", params={"since": "۱۴۰۰/۰۱/۰۱",
                                                     "until": "1450-01-01", "unit": UNIT})
        assert f'data-code="{ticket.tracking_code}"' in dated.text
        none = await c.get("/panel/search", params={"q": "گربه"})
        assert 'id="no-results"' in none.text


async def test_the_page_words_its_refusals_never_a_500(app) -> None:
    theirs = await file("asphalt", chat="t", description="چاله عمیق", unit=OTHER_UNIT)
    async with signed_in(app, "op", "operator") as c:
        for params, expected in [
            ({"q": "ا" * 300}, "۲۰۰ نویسه"),
            ({"since": "۱۴۰۵/۱۳/۴۰"}, "۱۴۰۵/۰۹/۱۵"),
            ({"since": "دیروز"}, "۱۴۰۵/۰۹/۱۵"),
            ({"since": "1405/09/20", "until": "1405/09/10"}, "۱۴۰۵/۰۹/۱۵"),
            ({"code": "abc"}, "هشت رقم"),
            ({"state": "<script>"}, "وضعیت"),
            ({"unit": "x" * 500}, "واحد"),
        ]:
            answer = await c.get("/panel/search", params=params)
            assert answer.status_code == 400, params
            assert expected in answer.text and 'id="search-error"' in answer.text
        assert (await c.get("/panel/search", params={"q": "چاله", "page": "abc"})
                ).status_code == 200
        assert (await c.get("/panel/search", params={"q": "چاله", "page": "9" * 50})
                ).status_code == 200
    async with signed_in(app, "crew", "unit", UNIT) as c:
        page = await c.get("/panel/search")
        assert page.status_code == 200
        assert 'name="phone"' not in page.text and 'name="unit"' not in page.text
        refused = await c.get("/panel/search", params={"phone": PHONE})
        assert refused.status_code == 403 and "تلفن" in refused.text
        assert theirs.tracking_code not in refused.text
        mine_only = await c.get("/panel/search", params={"code": theirs.tracking_code})
        assert mine_only.status_code == 200 and 'id="no-results"' in mine_only.text
        assert theirs.tracking_code not in (await c.get(
            "/panel/search", params={"q": "چاله"})).text
    async with signed_in(app, "boss", "manager") as c:
        assert 'name="phone"' not in (await c.get("/panel/search")).text
        assert (await c.get("/panel/search", params={"phone": PHONE})).status_code == 403


async def test_the_page_turns_pages(app) -> None:
    now = datetime.now(UTC)
    for i in range(search.PER_PAGE + 1):
        await file(chat=f"p{i}", phone=None, description="سطل زباله", now=now - timedelta(hours=i))
    async with signed_in(app, "op", "operator") as c:
        first = await c.get("/panel/search", params={"q": "زباله"})
        assert first.text.count("data-code=") == search.PER_PAGE
        assert 'id="next"' in first.text and 'id="prev"' not in first.text
        second = await c.get("/panel/search", params={"q": "زباله", "page": "۲"})
        assert second.text.count("data-code=") == 1
        assert 'id="prev"' in second.text and 'id="next"' not in second.text

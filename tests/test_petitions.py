"""Petitions (issue 20), end to end on SQLite and PostgreSQL: proposed in the web chat and in
Telegram, approved in the panel, signed once per identity (a second signature counted once),
passing a low threshold opens exactly one ticket for the responsible unit and tells every
signer, the city's answer reaches every signer, and the public page shows counts without
anyone's identity."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from peygir.bots.core import Core
from peygir.channels.memory import MemoryChannel
from peygir.channels.telegram.runner import Messengers
from peygir.config.pack import DEFAULT_PACK_DIR, Pack, check_pack, load_pack
from peygir.config.petitions import PETITION_SERVICE, PetitionRules
from peygir.config.settings import Settings
from peygir.conversation.dialogue import Dialogue
from peygir.conversation.notices import Notices
from peygir.messages import petition_texts as t
from peygir.messages.digits import persian_digits
from peygir.nlu.classifier import Classifier
from peygir.nlu.normalize import ascii_digits
from peygir.ticket_store import petitions as petitions_store
from peygir.ticket_store import store
from peygir.ticket_store.models import (
    Attachment,
    OutboxMessage,
    Petition,
    PetitionSignature,
    PetitionStatus,
    Ticket,
)
from peygir.ticket_store.workflow import Workflow
from peygir.web.app import create_app
from tests.botapi_support import TG, buttons, said, settle, tap_then, text_then
from tests.conftest import EVAL_PACK
from tests.fakes.botapi import FakeBotApi
from tests.panel_support import client, csrf_for, jpeg, signed_in
from tests.webchat_support import WebCitizen, data_of, texts

TITLE = "پارک محله برای کودکان"
TEXT = "در محله ما هیچ زمین بازی برای کودکان نیست؛ لطفاً در زمین خالی کنار مسجد پارک بسازید."
ANSWER_NOTE = "ساخت پارک در برنامهٔ سال آینده قرار گرفت."


def fa(n: int) -> str:
    return persian_digits(str(n))


# -- the pack: a copy of the built-in one with low thresholds -------------------------------
def low_threshold_pack(folder: Path, **rules: object) -> Path:
    shutil.copytree(DEFAULT_PACK_DIR, folder)
    path = folder / "deadlines.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["petitions"] = {"district_threshold": 3, "city_threshold": 3, "answer_days": 10,
                         "service": "park_maintenance", **rules}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def petition_pack(tmp_path_factory: pytest.TempPathFactory) -> Pack:
    return load_pack(low_threshold_pack(tmp_path_factory.mktemp("pack") / "pack"))


@pytest.fixture(scope="session")
def petition_classifier(petition_pack: Pack) -> Classifier:
    return Classifier(petition_pack)


@pytest.fixture
def core(db: str, petition_pack: Pack, petition_classifier: Classifier, tmp_path: Path) -> Core:
    """The app's core on the test database and the low-threshold pack (one classifier for
    the session: Core.build would train it again for every test)."""
    settings = Settings(database_url=db, media_dir=tmp_path / "media", pack=petition_pack.folder,
                        telegram_username="peygir_test_bot", _env_file=None)
    workflow = Workflow(petition_pack, voice=Notices(petition_pack))
    dialogue = Dialogue(petition_pack, petition_classifier, workflow=workflow)
    return Core(settings, petition_pack, petition_classifier, dialogue, workflow)


@pytest.fixture
def app(core: Core) -> Any:
    return create_app(core)


# -- the web chat's HTTP API ----------------------------------------------------------------
@pytest.fixture
async def browsers(app: Any) -> AsyncIterator[list[WebCitizen]]:
    clients = [client(app) for _ in range(3)]
    try:
        yield [WebCitizen(c) for c in clients]
    finally:
        for c in clients:
            await c.aclose()


async def approve(app: Any, petition_id: int, username: str = "op1") -> None:
    async with signed_in(app, username, "operator") as staff:
        page = await staff.get("/panel/petitions")
        assert page.status_code == 200 and f'data-petition="{petition_id}"' in page.text
        answer = await staff.post(f"/panel/petitions/{petition_id}/review", data={
            "decision": "approve", "csrf": await csrf_for(staff, "/panel/petitions")})
        assert answer.status_code == 303, answer.text
        assert "error" not in answer.headers["location"]


async def public(app: Any) -> tuple[list[dict[str, Any]], str]:
    async with client(app) as anyone:
        listed = await anyone.get("/petitions.json")
        page = await anyone.get("/petitions")
    assert listed.status_code == 200 and page.status_code == 200
    return listed.json()["petitions"], page.text


async def test_web_chat_propose_approve_sign_pass_and_answer(
        app: Any, core: Core, browsers: list[WebCitizen]) -> None:
    proposer, second, third = browsers
    # (1) Proposing: title, text, district, a photo, confirm.
    asked = await proposer.say("پیشنهاد")
    assert "عنوان" in texts(asked) and "pet:cancel" in data_of(asked)
    assert "متن پیشنهاد" in texts(await proposer.say(TITLE))
    where = await proposer.say(TEXT)
    assert {"pet:d:r1", "pet:d:*"} <= set(data_of(where))
    assert "pet:nophoto" in data_of(await proposer.press("pet:d:r1"))
    confirm = await proposer.photo(jpeg())
    assert "pet:submit" in data_of(confirm) and TITLE in texts(confirm), confirm
    submitted = texts(await proposer.press("pet:submit"))
    petition = await Petition.get()
    assert fa(petition.id) in submitted and petition.status == PetitionStatus.PENDING
    assert (petition.title, petition.text, petition.district) == (TITLE, TEXT, "r1")
    assert petition.photo_id and await Attachment.get(id=petition.photo_id)
    assert await Ticket.all().count() == 0  # a petition is not a report

    # Pending: not public, cannot be shown or signed.
    listed, page = await public(app)
    assert listed == [] and TITLE not in page
    assert texts(await second.press(f"pet:sign:{petition.id}")) == t.NOT_FOUND
    assert await PetitionSignature.all().count() == 0

    # (2) A unit cannot review; an operator approves (CSRF checked); the proposer is told.
    async with signed_in(app, "unit1", "unit", unit="r1_services") as unit:
        assert (await unit.get("/panel/petitions")).status_code == 403
    async with signed_in(app, "op0", "operator") as staff:
        forged = await staff.post(f"/panel/petitions/{petition.id}/review",
                                  data={"decision": "approve", "csrf": "forged"})
        assert forged.status_code == 403
        photo = await staff.get(f"/panel/petitions/{petition.id}/photo")
        assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    await approve(app, petition.id)
    told = texts(await proposer.poll())
    assert "تأیید و منتشر شد" in told and TITLE in told
    await petition.refresh_from_db()
    assert (petition.status, petition.threshold, petition.signature_count) == ("open", 3, 1)

    # (3) The public page: counts, a sign link, and nobody's identity.
    listed, page = await public(app)
    assert [(p["id"], p["signatures"], p["threshold"], p["status"]) for p in listed] == [
        (petition.id, 1, 3, "open")]
    assert listed[0]["sign"]["web"] == f"/?petition={petition.id}"
    assert listed[0]["sign"]["telegram"] == (
        f"https://t.me/peygir_test_bot?start=petition-{petition.id}")
    assert f"{fa(1)}</span> امضا از <span class=\"threshold\">{fa(3)}" in page

    # (4) Signing: the link shows it with a button; a second signature counts once.
    shown = await second.press(f"pet:show:{petition.id}")
    assert TITLE in texts(shown) and data_of(shown) == [f"pet:sign:{petition.id}"]
    assert texts(await second.press(f"pet:sign:{petition.id}")) == t.SIGNED.format(
        count=fa(2), threshold=fa(3))
    again = texts(await second.press(f"pet:sign:{petition.id}"))
    assert again == t.ALREADY_SIGNED.format(count=fa(2), threshold=fa(3))
    assert texts(await proposer.press(f"pet:sign:{petition.id}")).startswith("شما پیش‌تر")
    await petition.refresh_from_db()
    assert petition.signature_count == 2 == await PetitionSignature.all().count()
    assert await Ticket.all().count() == 0

    # (5) The third signature crosses the threshold: one ticket, due in answer_days, for the
    # unit serving the pack's petition service in the petition's district; every signer told.
    before = datetime.now(UTC)
    crossed = texts(await third.press(f"pet:sign:{petition.id}"))
    assert t.SIGNED.format(count=fa(3), threshold=fa(3)) in crossed
    assert "خدمات شهری منطقه ۱" in crossed
    ticket = await Ticket.get()
    assert (ticket.service_code, ticket.unit_code, ticket.district, ticket.status) == (
        "park_maintenance", "r1_services", "r1", "assigned")
    due = ticket.answer_due - before
    assert timedelta(days=10) - timedelta(minutes=1) < due < timedelta(days=10, minutes=1)
    assert TITLE in ticket.description and ticket.chat_id == proposer.chat
    assert [a.id for a in await Attachment.filter(ticket_id=ticket.id)] == [petition.photo_id]
    await petition.refresh_from_db()
    assert (petition.status, petition.ticket_id) == ("passed", ticket.id)
    for signer in (proposer, second):
        news = texts(await signer.poll())
        assert "برای پاسخ رسمی" in news and TITLE in news
    assert await third.poll() == []  # told in its own answer, once
    # Signing now is closed, politely; the page shows it passed.
    async with client(app) as newcomer:
        late = await WebCitizen(newcomer).press(f"pet:sign:{petition.id}")
    assert texts(late) == t.NOT_OPEN.format(status=t.STATUS_LABELS["passed"])
    listed, _ = await public(app)
    assert (listed[0]["signatures"], listed[0]["status"], listed[0]["sign"]) == (3, "passed", {})

    # (6) The city answers on the ticket: every signer hears it; the proposer through the
    # ticket's own notice.
    async with signed_in(app, "op2", "operator") as staff:
        replied = await staff.post(f"/panel/tickets/{ticket.tracking_code}/reply", data={
            "text": "بررسی آغاز شد.",
            "csrf": await csrf_for(staff, f"/panel/tickets/{ticket.tracking_code}")})
        assert replied.status_code == 303
    await core.workflow.change_status(ticket, "in_progress", "staff:op2")
    await core.workflow.change_status(ticket, "resolved", "staff:op2", note=ANSWER_NOTE)
    for signer in (second, third):
        heard = texts(await signer.poll())
        assert "بررسی آغاز شد." in heard and ANSWER_NOTE in heard and TITLE in heard
        assert ticket.tracking_code not in ascii_digits(heard)  # not their ticket
    own = texts(await proposer.poll())
    assert ANSWER_NOTE in own and own.count(ANSWER_NOTE) == 1
    await petition.refresh_from_db()
    assert petition.status == "answered"

    # No identity anywhere public: no chat's cookie id, no key naming one.
    listed, page = await public(app)
    dumped = repr(listed) + page
    for someone in browsers:
        assert someone.chat not in dumped
    assert not {"user_id", "chat_id", "channel", "citizen"} & set(listed[0])


async def test_rejected_petitions_stay_private_and_the_proposer_hears_why(
        app: Any, browsers: list[WebCitizen]) -> None:
    proposer, other, _ = browsers
    await proposer.say("/petition")
    await proposer.say("<script>alert(1)</script> عنوان")
    await proposer.say(TEXT)
    await proposer.press("pet:d:*")
    await proposer.press("pet:nophoto")
    await proposer.press("pet:submit")
    petition = await Petition.get()
    assert petition.district is None
    async with signed_in(app, "op1", "operator") as staff:
        page = await staff.get("/panel/petitions")
        assert "<script>alert(1)" not in page.text and "&lt;script&gt;" in page.text
        answer = await staff.post(f"/panel/petitions/{petition.id}/review", data={
            "decision": "reject", "note": "تکراری است",
            "csrf": await csrf_for(staff, "/panel/petitions")})
        assert answer.status_code == 303
        twice = await staff.post(f"/panel/petitions/{petition.id}/review", data={
            "decision": "approve", "csrf": await csrf_for(staff, "/panel/petitions")})
        assert twice.headers["location"].endswith("error=gone")
    told = texts(await proposer.poll())
    assert "منتشر نشد" in told and "تکراری است" in told
    assert texts(await other.press(f"pet:show:{petition.id}")) == t.NOT_FOUND
    listed, page = await public(app)
    assert listed == [] and "alert(1)" not in page
    await petition.refresh_from_db()
    assert petition.status == "rejected" and petition.signature_count == 0


async def test_the_public_page_escapes_what_citizens_wrote(app: Any,
                                                           browsers: list[WebCitizen]) -> None:
    proposer = browsers[0]
    await proposer.say("پیشنهاد")
    await proposer.say('<img src=x onerror="alert(1)">')
    await proposer.say(TEXT + " <script>alert(2)</script>")
    await proposer.press("pet:d:r2")
    await proposer.say("بدون عکس")
    await proposer.say("بله")
    petition = await Petition.get()
    await approve(app, petition.id)
    listed, page = await public(app)
    assert listed[0]["title"] == '<img src=x onerror="alert(1)">'
    assert "<img src=x" not in page and "<script>alert(2)" not in page
    assert "&lt;img src=x" in page and "&lt;script&gt;alert(2)" in page


# -- Telegram through the Bot API of the tests ----------------------------------------------
@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(tokens=(TG,)) as fake:
        yield fake


@pytest.fixture
async def bot(api: FakeBotApi, core: Core, tmp_path: Path) -> AsyncIterator[Messengers]:
    messengers = Messengers(core.dialogue, media_dir=tmp_path / "media")
    messengers.add("telegram", TG, api.base_url, markdown_by_default=False)
    await messengers.start()
    yield messengers
    await messengers.stop()


async def test_telegram_propose_sign_twice_and_cross_the_threshold(
        api: FakeBotApi, bot: Messengers, app: Any) -> None:
    # Proposing in Telegram: the welcome's button, then each step.
    welcome = await text_then(api, 801, "/start", "سلام")
    assert "pet:new" in buttons(welcome)
    await tap_then(api, 801, "pet:new", "عنوان")
    await text_then(api, 801, TITLE, "متن پیشنهاد")
    district = await text_then(api, 801, TEXT, "کدام منطقه")
    assert "pet:d:*" in buttons(district)
    await tap_then(api, 801, "pet:d:*", "عکس")
    confirm = await tap_then(api, 801, "pet:nophoto", "ثبت شود")
    assert "pet:submit" in buttons(confirm)
    await tap_then(api, 801, "pet:submit", "پس از بررسی")
    petition = await Petition.get()
    assert (petition.channel, petition.chat_id, petition.district) == ("telegram", "801", None)

    # Approved in the panel: the proposer hears it in Telegram.
    mark = len(api.calls(TG))
    await approve(app, petition.id)
    await said(api, 801, mark, "تأیید و منتشر شد")

    # A deep link shows it; the button signs; a second tap and a redelivered update count once.
    shown = await text_then(api, 802, f"/start petition-{petition.id}", TITLE)
    assert buttons(shown) == [f"pet:sign:{petition.id}"]
    mark = len(api.calls(TG))
    tap = api.push_callback(TG, 802, f"pet:sign:{petition.id}")
    await said(api, 802, mark, "امضای شما ثبت شد")
    api.redeliver(TG, tap["update_id"])
    await settle(api)
    await tap_then(api, 802, f"pet:sign:{petition.id}", "پیش‌تر این طومار را امضا")
    await petition.refresh_from_db()
    assert petition.signature_count == 2 == await PetitionSignature.filter(
        petition_id=petition.id).count()
    assert await Ticket.all().count() == 0

    # The third identity crosses the city-wide threshold: one ticket, every signer told.
    mark = len(api.calls(TG))
    await text_then(api, 803, f"/start petition-{petition.id}", TITLE)
    crossed = await tap_then(api, 803, f"pet:sign:{petition.id}", "برای پاسخ رسمی")
    assert t.CENTRE in crossed["params"]["text"]  # no unit serves it city-wide: the centre
    for chat in (801, 802):
        await said(api, chat, mark, "برای پاسخ رسمی")
    ticket = await Ticket.get()
    assert (ticket.service_code, ticket.unit_code, ticket.district) == (
        "park_maintenance", None, None)
    await petition.refresh_from_db()
    assert petition.status == "passed" and petition.ticket_id == ticket.id
    assert petition.signature_count == 3
    await settle(api)
    passed_news = [c for c in api.sent(TG, method="sendMessage")
                   if "برای پاسخ رسمی" in c["params"].get("text", "")]
    assert sorted(c["params"]["chat_id"] for c in passed_news) == [801, 802, 803]


# -- concurrency: many signing at once, one ticket --------------------------------------------
async def test_concurrent_signatures_open_exactly_one_ticket(core: Core) -> None:
    chat = MemoryChannel(core.dialogue)
    await chat.say("p", "پیشنهاد")
    await chat.say("p", TITLE)
    await chat.say("p", TEXT)
    await chat.say("p", callback="pet:d:r3")
    await chat.say("p", callback="pet:nophoto")
    await chat.say("p", callback="pet:submit")
    petition = await Petition.get()
    assert await core.dialogue.petitions.review(petition.id, True, "staff:t") is not None
    # Eight people and one of them twice, all at once; the threshold is 3.
    people = [f"s{i}" for i in range(8)] + ["s0"]
    results = await asyncio.gather(
        *(core.dialogue.handle(chat.message(who, callback=f"pet:sign:{petition.id}"))
          for who in people), return_exceptions=True)
    assert not [r for r in results if isinstance(r, BaseException)], results
    await petition.refresh_from_db()
    # Signatures stop once it passed (a few racing the passing one may still land): the
    # count is exactly the rows, s0 is one of them at most, and one ticket opened.
    rows = await PetitionSignature.filter(petition_id=petition.id).values_list("user_id",
                                                                               flat=True)
    assert petition.signature_count == len(rows) >= 3 and len(rows) == len(set(rows))
    assert await Ticket.all().count() == 1
    assert petition.status == "passed"
    news = [row for row in await OutboxMessage.all()
            if "برای پاسخ رسمی" in row.payload["text"]]
    # Every signer at the moment it passed is told once; nobody twice.
    told = [row.chat_id for row in news]
    assert len(told) == len(set(told)) and "p" in told and len(told) >= 3


async def test_an_erasure_unnames_signatures_but_they_still_count(core: Core) -> None:
    chat = MemoryChannel(core.dialogue)
    for step in ("پیشنهاد", TITLE, TEXT):
        await chat.say("p", step)
    for tap in ("pet:d:r3", "pet:nophoto", "pet:submit"):
        await chat.say("p", callback=tap)
    petition = await Petition.get()
    assert await core.dialogue.petitions.review(petition.id, True, "staff:t") is not None
    await chat.say("signer", callback=f"pet:sign:{petition.id}")
    await petition.refresh_from_db()
    counted = petition.signature_count
    assert await PetitionSignature.filter(user_id="signer").exists()

    await chat.say("signer", "اطلاعات من را پاک کنید")

    assert not await PetitionSignature.filter(user_id="signer").exists()
    assert not await PetitionSignature.filter(chat_id="signer").exists()
    assert await PetitionSignature.filter(petition_id=petition.id).count() == counted
    assert ("memory", "signer") not in await petitions_store.signers(petition.id)


# -- the pack ----------------------------------------------------------------------------------
def test_the_pack_sets_thresholds_with_defaults(tmp_path: Path, default_pack: Pack) -> None:
    rules = default_pack.city.rules.petitions
    assert (rules.district_threshold, rules.city_threshold, rules.answer_days) == (100, 1000, 30)
    assert rules.service_code == PETITION_SERVICE
    assert PetitionRules().threshold("r1") == 100 and PetitionRules().threshold(None) == 1000
    if EVAL_PACK.is_dir():  # the second city's pack names no petitions: the defaults
        assert load_pack(EVAL_PACK).city.rules.petitions == PetitionRules()
    pack, problems = check_pack(low_threshold_pack(tmp_path / "a", answer_days=0))
    assert pack is None
    assert ("deadlines.yaml", "petitions.answer_days") in {(p.file, p.field) for p in problems}
    pack, problems = check_pack(low_threshold_pack(tmp_path / "b", unit="nowhere"))
    assert pack is None
    assert [p.field for p in problems] == ["petitions.unit"]


async def test_migrations_build_the_petition_tables(db: str) -> None:
    from tortoise import connections

    conn = connections.get("default")
    for model in (Petition, PetitionSignature):
        table = model._meta.db_table
        if conn.capabilities.dialect == "sqlite":
            rows = await conn.execute_query_dict(f'PRAGMA table_info("{table}")')
            columns = {r["name"] for r in rows}
        else:
            rows = await conn.execute_query_dict(
                "SELECT column_name FROM information_schema.columns WHERE table_name = $1",
                [table])
            columns = {r["column_name"] for r in rows}
        assert set(model._meta.db_fields) <= columns, model.__name__


async def test_the_draft_cancels_re_asks_and_takes_typed_answers(core: Core) -> None:
    chat = MemoryChannel(core.dialogue)

    async def say(text: str = "", **kw: Any) -> str:
        return "\n".join(r.text for r in await chat.say("d", text, **kw))

    assert "عنوان" in await say("طومار")
    assert await say("کوتاه") and await Petition.all().count() == 0  # ≥ 5: taken as title
    assert "کامل‌تر" in await say("کم")  # a text too short is asked again
    await say(TEXT)
    assert "کدام منطقه" in await say(callback="pet:nophoto")  # an old button: asked again
    assert "عکس" in await say("منطقه ۲ (شمال شرق)")  # a district typed by its name
    confirm = await say("ندارم")
    assert "منطقه ۲" in confirm and "ثبت شود" in confirm
    assert await say("لغو") == t.CANCELLED
    assert await Petition.all().count() == 0
    assert await say(callback="pet:submit") == t.NO_DRAFT
    # /start drops a draft; a report is a report again afterwards.
    await say("پیشنهاد")
    assert "petition" in await store.load_state("memory", "d")
    await chat.say("d", start="")
    assert "petition" not in await store.load_state("memory", "d")

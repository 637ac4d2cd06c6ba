"""Active citizens and volunteers (issue 20), end to end on SQLite and PostgreSQL.

- Opting in under a chosen public name (web chat and Telegram), refusals of unsuitable names,
  opting out; the ranking counts only reports the city resolved (resolved, or closed after
  the citizen accepted), never rejected ones or duplicates, and only for citizens who opted
  in; a manager's page and CSV (and the CLI) carry rank, name and count, nothing personal.
- Volunteers: applying in the chat, an operator approving (or rejecting) in the panel, the
  citizen told, and their next report queued with the volunteer's priority.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from peygir.bots.core import Core
from peygir.channels.telegram.runner import Messengers
from peygir.config.pack import Pack
from peygir.config.settings import Settings
from peygir.conversation.active import month_label
from peygir.conversation.dialogue import Dialogue
from peygir.conversation.notices import Notices
from peygir.messages import active_texts as t
from peygir.messages.digits import persian_digits
from peygir.nlu.classifier import Classifier
from peygir.nlu.normalize import ascii_digits
from peygir.ticket_store import active, store
from peygir.ticket_store.deadlines import Deadlines
from peygir.ticket_store.models import (
    ApplicationStatus,
    Citizen,
    Standing,
    Ticket,
    VolunteerApplication,
)
from peygir.ticket_store.workflow import Workflow
from peygir.web.app import create_app
from tests.botapi_support import TG, answer, buttons, settle
from tests.fakes.botapi import FakeBotApi
from tests.panel_support import client, csrf_for, signed_in
from tests.support import REPO_ROOT, serve_env
from tests.webchat_support import WebCitizen, data_of, texts

TZ = "Asia/Tehran"
CODE = re.compile(r"[۰-۹]{8}")
BIN = "سطل زباله سر کوچه ما از دیروز پر مونده و بوی بدی میده"
POTHOLE = "آسفالت کوچه ما پر از چاله شده و ماشین‌ها آسیب می‌بینند"
# Points of the built-in pack's city, each more than 50 m from the others.
P1, P2, P3, P4, P5 = ((34.820, 48.490), (34.825, 48.495), (34.820, 48.512),
                      (34.770, 48.530), (34.822, 48.502))
NEAR_P1 = (34.8201, 48.4901)  # 14 m from P1: the same bin
PHONE = "09121234567"
MESSENGER_NAME = "مریم کاظمی واقعی"


def fa(n: int) -> str:
    return persian_digits(str(n))


def this_month() -> active.Period:
    return active.this_month(datetime.now(UTC), TZ)


@pytest.fixture
def core(db: str, default_pack: Pack, default_classifier: Classifier, tmp_path: Path) -> Core:
    """The app's core on the test database (one classifier for the session)."""
    settings = Settings(database_url=db, media_dir=tmp_path / "media", _env_file=None)
    workflow = Workflow(default_pack, voice=Notices(default_pack))
    dialogue = Dialogue(default_pack, default_classifier, workflow=workflow)
    return Core(settings, default_pack, default_classifier, dialogue, workflow)


@pytest.fixture
def app(core: Core) -> Any:
    return create_app(core)


# -- the web chat's HTTP API ----------------------------------------------------------------
class Browser(WebCitizen):
    async def report(self, text: str, where: tuple[float, float]) -> Ticket:
        """Describe, pick the first subject if asked, send the point, confirm."""
        replies = await self.say(text)
        if svc := [d for d in data_of(replies) if d.startswith("svc:")]:
            replies = await self.press(svc[0])
        replies = await self.place(where)
        assert "confirm" in data_of(replies), replies
        filed = await self.press("confirm")
        found = CODE.search(filed[-1]["text"])
        assert found, filed
        return await Ticket.get(tracking_code=ascii_digits(found.group(0)))


@pytest.fixture
async def browsers(app: Any) -> AsyncIterator[list[Browser]]:
    clients = [client(app) for _ in range(4)]
    try:
        yield [Browser(c) for c in clients]
    finally:
        for c in clients:
            await c.aclose()


async def resolve(workflow: Workflow, ticket: Ticket) -> None:
    await ticket.refresh_from_db()
    if ticket.status == "new":
        await workflow.assign(ticket, "r1_services", "staff:op")
    await workflow.change_status(ticket, "resolved", "staff:unit", "انجام شد")


async def reject(workflow: Workflow, ticket: Ticket) -> None:
    await ticket.refresh_from_db()
    await workflow.change_status(ticket, "rejected", "staff:op", "در حوزهٔ شهرداری نیست")


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


async def test_web_chat_opt_in_ranking_export_and_opt_out(
        app: Any, core: Core, browsers: list[Browser]) -> None:
    maryam, ali, quiet, _ = browsers
    workflow = core.workflow

    # (1) The welcome offers both; a name is asked for, unsuitable ones politely refused.
    welcome = await maryam.say("/start")
    assert {"act:rank", "act:vol"} <= set(data_of(welcome))
    asked = await maryam.press("act:rank")
    assert "نامی را که می‌خواهید در فهرست دیده شود" in texts(asked)
    assert "act:cancel" in data_of(asked)
    low, high = fa(active.NAME_MIN), fa(active.NAME_MAX)
    for bad, kind in (("https://spam.example", "link"), (PHONE, "number"),
                      ("۰۹۱۲ ۱۲۳ ۴۵ ۶۷ مریم", "number"), ("<b>مریم</b>", "characters"),
                      ("مریم 😀", "characters"), ("م", "length"), ("م" * 33, "length")):
        refused = texts(await maryam.say(bad))
        assert refused == t.NAME_BAD[kind].format(low=low, high=high), (bad, refused)
    assert await Citizen.filter(public_name__isnull=False).count() == 0
    joined = texts(await maryam.say("مریم  کاظمی‌نژاد"))  # a half-space is part of a name
    assert t.OPTED_IN.format(name="مریم کاظمی‌نژاد") in joined
    assert t.NO_COUNT_YET.split("{")[0] in joined

    # Arabic letters are kept as Persian ones; the same name cannot be taken twice.
    await ali.say("/rank")
    assert "علی رضایی" in texts(await ali.say("علي رضايي"))
    await quiet.say("شهروند فعال")
    assert texts(await quiet.say("علی  رضایی")) == t.NAME_BAD["taken"].format(low=low,
                                                                             high=high)
    assert texts(await quiet.press("act:cancel")) == t.CANCELLED
    # The quiet citizen now files reports as anyone: their words are reports, not names.
    me = await Citizen.get(public_name="مریم کاظمی‌نژاد")
    me.phone, me.display_name = PHONE, MESSENGER_NAME  # what the export must never show
    await me.save()

    # (2) Reports: resolved, closed after the citizen accepted, rejected, a duplicate.
    m1 = await maryam.report(BIN, P1)
    m2 = await maryam.report(BIN, P2)
    m3 = await maryam.report(BIN, P3)
    m4 = await maryam.report(BIN, P4)
    a1 = await ali.report(BIN, NEAR_P1)  # the same bin as m1: linked, follows m1's state
    await a1.refresh_from_db()
    assert a1.duplicate_of_id == m1.id  # type: ignore[attr-defined]
    a2 = await ali.report(BIN, P5)
    q1 = await quiet.report(POTHOLE, P1)
    q2 = await quiet.report(POTHOLE, P2)
    for ticket in (m1, m2, m4, a2, q1, q2):
        await resolve(workflow, ticket)
    await reject(workflow, m3)
    await a1.refresh_from_db()
    assert a1.status == "resolved"  # carried from m1, yet not Ali's work to count
    await maryam.poll()
    accepted = texts(await maryam.press(f"accept:{m4.tracking_code}"))
    assert accepted
    await m4.refresh_from_db()
    assert m4.status == "closed"

    # (3) Each sees their own rank and count this month.
    month = this_month()
    mine = texts(await maryam.press("act:rank"))
    assert month_label(month).split()[0] in mine
    assert f"رتبهٔ {fa(1)} از {fa(2)} نفر، با {fa(3)} گزارش" in mine, mine
    assert f"رتبهٔ {fa(2)} از {fa(2)} نفر، با {fa(1)} گزارش" in texts(await ali.say("/rank"))

    # (4) The store's ranking: counted tickets only, opted-in citizens only.
    ranked = await active.ranking(month.start, month.end)
    assert [(r.rank, r.name, r.count) for r in ranked] == [
        (1, "مریم کاظمی‌نژاد", 3), (2, "علی رضایی", 1)]

    # (5) The manager's page and CSV: rank, name, count; nothing that identifies anyone.
    async with signed_in(app, "op1", "operator") as operator:
        assert (await operator.get("/panel/ranking")).status_code == 403
        assert (await operator.get("/panel/ranking.csv")).status_code == 403
    async with signed_in(app, "unit1", "unit", unit="r1_services") as unit:
        assert (await unit.get("/panel/ranking.csv")).status_code == 403
    async with signed_in(app, "boss", "manager") as manager:
        page = await manager.get(f"/panel/ranking?period={month.key}")
        assert page.status_code == 200
        assert "مریم کاظمی‌نژاد" in page.text and "علی رضایی" in page.text
        download = await manager.get(f"/panel/ranking.csv?period={month.key}")
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("text/csv")
        assert f"active-citizens-{month.key}.csv" in download.headers["content-disposition"]
        rows = csv_rows(download.text)
        assert rows == [list(t.CSV_HEADER), ["1", "مریم کاظمی‌نژاد", "3"],
                        ["2", "علی رضایی", "1"]]
        year = await manager.get(f"/panel/ranking.csv?period={month.year}")
        assert csv_rows(year.text)[1:] == rows[1:]
        last_month = month.start - timedelta(days=2)
        before = active.this_month(last_month, TZ)
        assert csv_rows((await manager.get(f"/panel/ranking.csv?period={before.key}")).text
                        ) == [list(t.CSV_HEADER)]
        assert (await manager.get("/panel/ranking?period=1405-13")).status_code == 200
        assert (await manager.get("/panel/ranking.csv?period=x")).status_code == 404
        for shown in (page.text, download.text):
            for secret in (PHONE, MESSENGER_NAME, maryam.chat, ali.chat, quiet.chat, "web"):
                assert secret not in shown.replace("/panel/", ""), secret
        quiet_id = (await Citizen.get(user_id=quiet.chat)).id
        assert f'data-citizen="{quiet_id}"' not in page.text

    # (6) The CLI prints the same CSV.
    printed = await asyncio.to_thread(_cli, str(core.settings.database_url), "citizens",
                                      "ranking", "--period", month.key)
    assert printed.returncode == 0, printed.stderr
    assert csv_rows(printed.stdout) == rows
    bad = await asyncio.to_thread(_cli, str(core.settings.database_url), "citizens",
                                  "ranking", "--period", "soon")
    assert bad.returncode == 2

    # (7) Opting out: the name goes, and so does the line in every ranking.
    assert texts(await maryam.say("/rank_off")) == t.OPTED_OUT
    assert texts(await maryam.say("لغو شهروند فعال")) == t.NOT_IN
    ranked = await active.ranking(month.start, month.end)
    assert [(r.rank, r.name, r.count) for r in ranked] == [(1, "علی رضایی", 1)]
    # Coming back asks for a name again; a manager can take an unsuitable one off.
    assert "نامی را" in texts(await maryam.say("/rank"))
    await maryam.say("مریم")
    async with signed_in(app, "boss2", "manager") as manager:
        page = await manager.get(f"/panel/ranking?period={month.key}")
        removed = await manager.post(f"/panel/ranking/{me.id}/remove", data={
            "period": month.key, "csrf": await csrf_for(manager, "/panel/ranking")})
        assert removed.status_code == 303
        forged = await manager.post(f"/panel/ranking/{me.id}/remove", data={"csrf": "x"})
        assert forged.status_code == 403
    await me.refresh_from_db()
    assert me.public_name is None

    # (8) An erasure request takes the name off too.
    ali_id = (await Citizen.get(public_name="علی رضایی")).id
    erased = texts(await ali.say("لطفاً اطلاعات من را پاک کنید"))
    assert t.ERASED in erased
    assert (await Citizen.get(id=ali_id)).public_name is None
    assert await active.ranking(month.start, month.end) == []


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = serve_env(PEYGIR_DATABASE_URL=database_url)
    return subprocess.run([sys.executable, "-m", "peygir", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


async def test_web_chat_volunteer_applies_is_approved_and_comes_first(
        app: Any, browsers: list[Browser]) -> None:
    volunteer, other, _, _ = browsers
    before = await volunteer.report(BIN, P1)
    assert before.priority == 0

    # Applying: the welcome's button, a reason (too short first), one pending at a time.
    asked = await volunteer.press("act:vol")
    assert "چرا می‌خواهید همیار شوید" in texts(asked) and "act:cancel" in data_of(asked)
    assert texts(await volunteer.say("کمک")) == t.REASON_BAD.format(
        low=fa(active.REASON_MIN), high=fa(active.REASON_MAX))
    reason = "<script>alert(1)</script> در محله ۳ هر هفته پاکسازی داوطلبانه داریم"
    assert texts(await volunteer.say(reason)) == t.APPLIED
    assert texts(await volunteer.say("/hamyar")) == t.ALREADY_PENDING
    application = await VolunteerApplication.get()
    assert application.status == ApplicationStatus.PENDING
    assert "پاکسازی داوطلبانه" in application.reason
    assert (await Citizen.get(user_id=volunteer.chat)).standing == Standing.NONE

    await other.say("همیاری")
    await other.say("می‌خواهم در نگهداری فضای سبز محله کمک کنم")
    second = await VolunteerApplication.get(citizen__user_id=other.chat)

    # A unit cannot see them; an operator sees both (the reason escaped) and decides once.
    async with signed_in(app, "unit1", "unit", unit="r1_services") as unit:
        assert (await unit.get("/panel/volunteers")).status_code == 403
    async with signed_in(app, "op1", "operator") as operator:
        page = await operator.get("/panel/volunteers")
        assert page.status_code == 200
        assert f'data-application="{application.id}"' in page.text
        assert f'data-application="{second.id}"' in page.text
        assert "<script>alert(1)" not in page.text and "&lt;script&gt;" in page.text
        forged = await operator.post(f"/panel/volunteers/{application.id}/review",
                                     data={"decision": "approve", "csrf": "forged"})
        assert forged.status_code == 403
        csrf = await csrf_for(operator, "/panel/volunteers")
        approved = await operator.post(f"/panel/volunteers/{application.id}/review",
                                       data={"decision": "approve", "csrf": csrf})
        assert approved.status_code == 303
        assert approved.headers["location"].endswith("done=approve")
        twice = await operator.post(f"/panel/volunteers/{application.id}/review",
                                    data={"decision": "reject", "csrf": csrf})
        assert twice.headers["location"].endswith("error=gone")
        rejected = await operator.post(f"/panel/volunteers/{second.id}/review", data={
            "decision": "reject", "note": "ظرفیت این دوره تکمیل است", "csrf": csrf})
        assert rejected.status_code == 303
        after = await operator.get("/panel/volunteers")
        assert "درخواستی در انتظار بررسی نیست" in after.text

    # The citizens are told in their chats; the volunteer's next report comes first.
    assert t.APPROVED in texts(await volunteer.poll())
    told = texts(await other.poll())
    assert t.REJECTED in told and "ظرفیت این دوره تکمیل است" in told
    await application.refresh_from_db()
    assert (application.status, application.reviewed_by) == (ApplicationStatus.APPROVED,
                                                             "staff:op1")
    assert (await Citizen.get(user_id=volunteer.chat)).standing == Standing.VOLUNTEER
    assert (await Citizen.get(user_id=other.chat)).standing == Standing.NONE
    after_approval = await volunteer.report(POTHOLE, P3)
    assert after_approval.priority == 1
    assert (await other.report(POTHOLE, P4)).priority == 0
    await before.refresh_from_db()
    assert before.priority == 0  # set at filing: an earlier report keeps its place
    assert texts(await volunteer.say("/hamyar")) == t.ALREADY_VOLUNTEER


# -- the ranking's rules, on the store ------------------------------------------------------
async def _citizen_with(name: str | None, user: str, resolved: list[datetime],
                        workflow: Workflow, *, status: str = "resolved") -> Citizen:
    citizen = await store.citizen_for("memory", user)
    if name:
        await active.opt_in(citizen, name, datetime.now(UTC))
    for when in resolved:
        draft = store.NewTicket("waste_bin", "سطل پر است", False)
        ticket = await store.file_ticket(citizen, "memory", user, draft, when, Deadlines())
        await workflow.change_status(ticket, "in_progress", "staff:op", now=when)
        await workflow.change_status(ticket, "resolved", "staff:op", now=when)
        if status == "reopened":
            await workflow.change_status(ticket, "reopened", "citizen", "درست نشده",
                                         now=when)
        elif status == "closed":
            await workflow.change_status(ticket, "closed", "citizen", now=when)
    return citizen


async def test_ties_periods_and_what_does_not_count(db: str, default_pack: Pack) -> None:
    workflow = Workflow(default_pack, voice=Notices(default_pack))
    month = this_month()
    start = month.start + timedelta(hours=1)
    earlier = month.start - timedelta(days=3)  # the month before
    a = await _citizen_with("الف", "a", [start, start + timedelta(hours=1)], workflow)
    b = await _citizen_with("ب ب", "b", [start + timedelta(hours=5)], workflow)
    c = await _citizen_with("ج ج", "c", [start + timedelta(hours=3)], workflow,
                            status="closed")
    await _citizen_with("د د", "d", [start], workflow, status="reopened")  # contested
    await _citizen_with(None, "e", [start, start, start], workflow)  # never opted in
    await _citizen_with("هـ", "f", [earlier], workflow)  # last month
    referred = await store.file_ticket(await store.citizen_for("memory", "b"), "memory", "b",
                                       store.NewTicket("waste_bin", "x", False), start,
                                       Deadlines())
    await workflow.change_status(referred, "referred", "staff:op", "به آب و فاضلاب", now=start)

    ranked = await active.ranking(month.start, month.end)
    # Equal counts share a rank; the one who reached it first (c) comes first; d's contested
    # ticket, e (not opted in), f (last month) and b's referred ticket do not count.
    assert [(r.rank, r.citizen_id, r.count) for r in ranked] == [
        (1, a.id, 2), (2, c.id, 1), (2, b.id, 1)]
    assert ranked == await active.ranking(month.start, month.end)  # the same every time
    before = active.this_month(earlier, TZ)
    assert [r.name for r in await active.ranking(before.start, before.end)] == ["هـ"]
    year = active.parse_period(str(month.year), TZ)
    assert year is not None and year.start <= month.start
    if before.year == month.year:
        assert len(await active.ranking(year.start, year.end)) == 4


def test_names_and_periods() -> None:
    assert active.check_name("  علی   رضایی ") == "علی رضایی"
    assert active.check_name("Sara 1360") == "Sara 1360"
    for bad, kind in (("www example", "link"), ("a@b", "characters"), ("12345 علی", "number"),
                      ("12", "characters"), ("a", "length"), ("a." * 3, "characters")):
        with pytest.raises(active.NameProblem) as problem:
            active.check_name(bad)
        assert problem.value.kind == kind, bad
    azar = active.parse_period("۱۴۰۵-۰۹", TZ)
    assert azar is not None and azar.key == "1405-09"
    assert azar.start == datetime(2026, 11, 21, 20, 30, tzinfo=UTC)  # 1 Azar, Tehran midnight
    assert azar.end == datetime(2026, 12, 21, 20, 30, tzinfo=UTC)  # 1 Dey
    esfand = active.parse_period("1405/12", TZ)
    assert esfand is not None and esfand.end == active.period(1406, 1, TZ).start
    for bad in ("1405-13", "1405-0", "14050", "x", "", "1405-9-1"):
        assert active.parse_period(bad, TZ) is None, bad


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


async def tg_report(api: FakeBotApi, chat: int, text: str, where: tuple[float, float]
                    ) -> Ticket:
    asked = await answer(api, chat, lambda: api.push_message(TG, chat, text), "موقعیت|کدام")
    if svc := [d for d in buttons(asked) if d.startswith("svc:")]:
        await answer(api, chat, lambda: api.push_callback(TG, chat, svc[0]), "موقعیت")
    await answer(api, chat, lambda: api.push_location(TG, chat, *where), "ثبت شود")
    filed = await answer(api, chat, lambda: api.push_callback(TG, chat, "confirm"), "کد پیگیری")
    found = CODE.search(filed["params"]["text"])
    assert found
    return await Ticket.get(tracking_code=ascii_digits(found.group(0)))


async def test_telegram_opt_in_rank_and_volunteer_approved_in_the_panel(
        api: FakeBotApi, bot: Messengers, app: Any, core: Core) -> None:
    ranker, helper, stranger = 701, 702, 703
    # Opting in; the rank follows a resolved report.
    # (A chat may send ten updates in a burst: the welcome is checked on another chat.)
    welcome = await answer(api, stranger, lambda: api.push_message(TG, stranger, "/start"),
                           "سلام")
    assert {"act:rank", "act:vol"} <= set(buttons(welcome))
    await answer(api, ranker, lambda: api.push_message(TG, ranker, "/rank"), "نامی را")
    await answer(api, ranker, lambda: api.push_message(TG, ranker, "t.me/spam"), "فقط از حروف")
    await answer(api, ranker, lambda: api.push_message(TG, ranker, "سارا"), "سارا")
    mine = await tg_report(api, ranker, BIN, P1)
    theirs = await tg_report(api, stranger, BIN, P2)  # not opted in
    for ticket in (mine, theirs):
        await resolve(core.workflow, ticket)
    await settle(api)
    shown = await answer(api, ranker, lambda: api.push_message(TG, ranker, "/rank"),
                         "رتبهٔ")
    assert f"رتبهٔ {fa(1)} از {fa(1)} نفر، با {fa(1)} گزارش" in shown["params"]["text"]
    assert {"act:rename", "act:out"} <= set(buttons(shown))
    month = this_month()
    assert [(r.name, r.count) for r in await active.ranking(month.start, month.end)] == [
        ("سارا", 1)]

    # A volunteer applies with /hamyar; an operator approves in the panel; they hear it.
    before = await tg_report(api, helper, POTHOLE, P3)
    assert before.priority == 0
    await answer(api, helper, lambda: api.push_message(TG, helper, "/hamyar"), "همیار")
    await answer(api, helper, lambda: api.push_message(
        TG, helper, "در محله‌مان گروه داوطلب پاکسازی داریم"), "ثبت شد")
    application = await VolunteerApplication.get()
    assert (application.channel, application.chat_id) == ("telegram", str(helper))
    mark = len(api.calls(TG))
    async with signed_in(app, "op1", "operator") as operator:
        reviewed = await operator.post(f"/panel/volunteers/{application.id}/review", data={
            "decision": "approve", "csrf": await csrf_for(operator, "/panel/volunteers")})
        assert reviewed.status_code == 303
    await api.wait_for_sent(TG, lambda c: "پذیرفته شد" in c["params"].get("text", ""),
                            method="sendMessage", chat_id=helper, since=mark, timeout=15)
    after = await tg_report(api, helper, POTHOLE, P4)
    assert after.priority == 1
    citizen = await Citizen.get(channel="telegram", user_id=str(helper))
    assert citizen.standing == Standing.VOLUNTEER

    # Leaving by the button.
    gone = await answer(api, ranker, lambda: api.push_callback(TG, ranker, "act:out"),
                        "برداشته شد")
    assert gone
    assert await active.ranking(month.start, month.end) == []


async def test_plain_text_channels_pick_cancel_by_its_number(
        db: str, default_pack: Pack, default_classifier: Classifier) -> None:
    from peygir.channels.memory import MemoryChannel

    chat = MemoryChannel(Dialogue(default_pack, default_classifier,
                                  plain_channels=frozenset({"memory"})))
    asked = await chat.say("p1", "/rank")
    assert "نامی را" in asked[0].text
    assert [r.text for r in await chat.say("p1", "۱")] == [t.CANCELLED]  # «انصراف» by number
    await chat.say("p1", "همیاری")
    assert [r.text for r in await chat.say("p1", "1")] == [t.CANCELLED]
    assert await VolunteerApplication.all().count() == 0
    await chat.say("p1", "شهروند فعال")
    done = await chat.say("p1", "نیلوفر")
    assert t.OPTED_IN.format(name="نیلوفر") in done[0].text

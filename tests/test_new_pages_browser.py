"""Issue 20's pages in real Chromium, on SQLite and PostgreSQL: the panel's petition review,
volunteer applications and active citizens' ranking, and the public list of petitions.

The data is made by the project's own code (the petitions and active-citizens stores, the
dialogue's review, the workflow's status changes); Chromium gets every page from the app
itself (``http://testserver/**`` is routed to a signed-in httpx client), and the tests assert
on the rendered DOM. On SQLite each page is photographed into artifacts/screenshots/ (the
README shows copies from docs/screenshots/).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import ViewportSize

from peygir.bots.core import Core
from peygir.config.pack import Pack
from peygir.config.settings import Settings
from peygir.conversation.dialogue import Dialogue
from peygir.conversation.notices import Notices
from peygir.messages.digits import persian_digits
from peygir.nlu.classifier import Classifier
from peygir.ticket_store import active, store
from peygir.ticket_store import petitions as petitions_store
from peygir.ticket_store.deadlines import Deadlines
from peygir.ticket_store.models import (
    ApplicationStatus,
    Citizen,
    Petition,
    PetitionStatus,
    VolunteerApplication,
)
from peygir.ticket_store.workflow import Workflow
from peygir.web.app import create_app
from tests.panel_support import client, signed_in
from tests.support import CHROMIUM, CHROMIUM_ARGS, REPO_ROOT

pytestmark = pytest.mark.browser

SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
DESKTOP = ViewportSize(width=1280, height=900)
PHONE = ViewportSize(width=390, height=844)
TZ = "Asia/Tehran"
TITLE = "پارک محله برای کودکان"
TEXT = "در محله ما هیچ زمین بازی برای کودکان نیست؛ لطفاً در زمین خالی کنار مسجد پارک بسازید."
OTHER_TITLE = "روشنایی کوچه‌های اطراف بازار"
OTHER_TEXT = "کوچه‌های پشت بازار شب‌ها تاریک است و رفت‌وآمد سالمندان و کودکان سخت شده است."
REASON = "<b>x</b> در محله ما هر هفته پاکسازی داوطلبانهٔ پارک را برگزار می‌کنیم"
# Identities that must never reach the public page (distinctive, to be searched for).
PROPOSER, SIGNERS = "proposer-48151623", ("signer-42424201", "signer-42424202")


def fa(n: int) -> str:
    return persian_digits(str(n))


@pytest.fixture
def core(db: str, default_pack: Pack, default_classifier: Classifier, tmp_path: Path) -> Core:
    """The app's core on the test database (one classifier for the session)."""
    settings = Settings(database_url=db, media_dir=tmp_path / "media",
                        telegram_username="peygir_test_bot", _env_file=None)
    workflow = Workflow(default_pack, voice=Notices(default_pack))
    dialogue = Dialogue(default_pack, default_classifier, workflow=workflow)
    return Core(settings, default_pack, default_classifier, dialogue, workflow)


@pytest.fixture
def now() -> datetime:
    """One moment for the data and the panel's clock (no month boundary between them)."""
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def app(core: Core, now: datetime) -> Any:
    made = create_app(core)
    made.state.panel_clock = lambda: now
    return made


@pytest.fixture(autouse=True)
def chromium_present() -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is needed (scripts/test.sh installs Debian's chromium)")


@asynccontextmanager
async def chromium_page(c: httpx.AsyncClient, viewport: ViewportSize
                        ) -> AsyncIterator[Any]:
    """A Chromium page whose every request to http://testserver is answered by the app
    through ``c`` (its cookies: the signed-in staff member, if any)."""
    from playwright.async_api import Route, async_playwright

    async def serve(route: Route) -> None:
        request = route.request
        path = request.url.replace("http://testserver", "")
        headers = {k: v for k, v in request.headers.items() if k.lower() == "content-type"}
        answer = await c.request(request.method, path, content=request.post_data_buffer,
                                 headers=headers)
        passed = {"content-type": answer.headers.get("content-type", "text/html")}
        if "location" in answer.headers:
            passed["location"] = answer.headers["location"]
        await route.fulfill(status=answer.status_code, body=answer.content, headers=passed)

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await chromium.new_page(viewport=viewport, locale="fa-IR")
            await page.route("http://testserver/**", serve)
            yield page
        finally:
            await chromium.close()


async def open_page(page: Any, path: str) -> None:
    answer = await page.goto(f"http://testserver{path}")
    assert answer is not None and answer.status == 200, path
    await page.evaluate("document.fonts.ready")
    # The pages are right-to-left, in the panel's (or the public page's) own font.
    assert await page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    assert "Vazirmatn" in await page.evaluate("getComputedStyle(document.body).fontFamily")


async def fits_the_width(page: Any) -> None:
    """Nothing wider than the screen (a phone must not scroll sideways)."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width


async def photograph(page: Any, database_url: str, name: str) -> None:
    if database_url.startswith("sqlite"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


# -- seeding through the stores ---------------------------------------------------------------
async def proposed(user: str, title: str, text: str, district: str | None) -> Petition:
    citizen = await store.citizen_for("memory", user)
    return await petitions_store.propose(citizen, "memory", user, petitions_store.Proposal(
        title, text, district))


async def published(core: Core, now: datetime) -> Petition:
    """Approved (the proposer's signature is the first) and signed by two more."""
    petition = await proposed(PROPOSER, TITLE, TEXT, "r2")
    assert await core.dialogue.petitions.review(petition.id, True, "staff:op", now=now)
    for signer in SIGNERS:
        signed = await petitions_store.sign(petition.id, "memory", signer, signer, now)
        assert signed.outcome == petitions_store.Outcome.SIGNED
    await petition.refresh_from_db()
    assert (petition.status, petition.signature_count) == (PetitionStatus.OPEN, 3)
    return petition


async def ranked_citizen(workflow: Workflow, user: str, name: str | None, resolved: int,
                         now: datetime) -> Citizen:
    """A citizen (opted in under ``name``) with ``resolved`` reports the city resolved."""
    citizen = await store.citizen_for("memory", user)
    if name:
        await active.opt_in(citizen, name, now)
    for i in range(resolved):
        when = now - timedelta(minutes=10 * (i + 1))
        draft = store.NewTicket("waste_bin", "سطل زباله سر کوچه پر شده است", False)
        ticket = await store.file_ticket(citizen, "memory", user, draft, when, Deadlines())
        await workflow.change_status(ticket, "in_progress", "staff:op", now=when)
        await workflow.change_status(ticket, "resolved", "staff:op", now=when)
    return citizen


# -- the panel --------------------------------------------------------------------------------
async def test_the_petitions_review_page_in_chromium(app: Any, core: Core, now: datetime,
                                                     database_url: str) -> None:
    await published(core, now)  # the table of published ones is not empty
    pending = await proposed("p2", OTHER_TITLE, OTHER_TEXT, None)
    async with signed_in(app, "op1", "operator") as operator, \
            chromium_page(operator, DESKTOP) as page:
        await open_page(page, "/panel/petitions")
        articles = page.locator("#pending article.petition")
        assert await articles.count() == 1
        assert await articles.get_attribute("data-petition") == str(pending.id)
        heading = articles.locator("h3")
        assert await heading.is_visible() and OTHER_TITLE in await heading.inner_text()
        assert OTHER_TEXT in await articles.locator(".text").inner_text()
        approve = articles.locator('button[name="decision"][value="approve"]')
        reject = articles.locator('button[name="decision"][value="reject"]')
        assert await approve.is_visible() and await reject.is_visible()
        assert await articles.locator('input[name="csrf"]').get_attribute("value")
        row = page.locator("#published tbody tr[data-petition]")
        assert await row.count() == 1
        assert f"{fa(3)} از {fa(100)}" in await row.inner_text()
        await photograph(page, database_url, "panel-petitions-desktop.png")

        # The control works: approving in the browser publishes it.
        await approve.click()
        await page.wait_for_url("**/panel/petitions?done=approve")
        assert await page.locator("#pending article.petition").count() == 0
        assert await page.locator(".flash.ok").is_visible()
        assert await page.locator("#published tbody tr[data-petition]").count() == 2
    await pending.refresh_from_db()
    assert (pending.status, pending.signature_count) == (PetitionStatus.OPEN, 1)


async def test_the_volunteers_page_in_chromium(app: Any, now: datetime,
                                               database_url: str) -> None:
    decided = await active.apply(await store.citizen_for("memory", "v1"), "memory", "v1",
                                 "می‌خواهم در نگهداری فضای سبز محله کمک کنم")
    assert await active.review(decided.id, True, "staff:op1", now)
    citizen = await store.citizen_for("memory", "v2")
    application = await active.apply(citizen, "memory", "v2", REASON)
    async with signed_in(app, "op1", "operator") as operator, \
            chromium_page(operator, DESKTOP) as page:
        await open_page(page, "/panel/volunteers")
        pending = page.locator("#pending article.application")
        assert await pending.count() == 1
        assert await pending.get_attribute("data-application") == str(application.id)
        reason = pending.locator(".text")
        # What the citizen wrote is shown as text: no element of theirs in the page.
        assert await reason.inner_text() == REASON
        assert await page.locator("main b").count() == 0
        assert await pending.locator('button[value="approve"]').is_visible()
        assert await pending.locator('button[value="reject"]').is_visible()
        row = page.locator(f'#decided tr[data-application="{decided.id}"]')
        assert await row.count() == 1
        assert "پذیرفته" in await row.inner_text()
        await photograph(page, database_url, "panel-volunteers-desktop.png")
    application = await VolunteerApplication.get(id=application.id)
    assert application.status == ApplicationStatus.PENDING  # looking decides nothing


RANKED = (("سارا احمدی", 3), ("رضا کریمی", 2), ("علی محمدی", 1))


async def test_the_ranking_page_in_chromium(app: Any, core: Core, now: datetime,
                                            database_url: str) -> None:
    # Seeded out of order; the page orders them by count.
    for user, (name, count) in sorted(enumerate(RANKED), key=lambda e: e[1][1]):
        await ranked_citizen(core.workflow, f"r{user}", name, count, now)
    await ranked_citizen(core.workflow, "quiet", None, 4, now)  # never opted in
    month = active.this_month(now, TZ)
    async with signed_in(app, "boss", "manager") as manager:
        for viewport, name in ((DESKTOP, "panel-ranking-desktop.png"),
                               (PHONE, "panel-ranking-phone.png")):
            async with chromium_page(manager, viewport) as page:
                await open_page(page, "/panel/ranking")
                rows = page.locator("#ranking tbody tr[data-citizen]")
                assert await rows.count() == 3
                cells = [await rows.nth(i).locator("td").all_inner_texts() for i in range(3)]
                assert [c[1] for c in cells] == [name for name, _ in RANKED]
                assert [c[2] for c in cells] == [fa(count) for _, count in RANKED]
                assert [c[0] for c in cells] == [fa(1), fa(2), fa(3)]
                assert await page.locator("select[name=period]").input_value() == month.key
                assert await page.locator("#csv").get_attribute("href") == (
                    f"/panel/ranking.csv?period={month.key}")
                if viewport is PHONE:
                    await fits_the_width(page)
                await photograph(page, database_url, name)


# -- the public page --------------------------------------------------------------------------
async def test_the_public_petitions_page_in_chromium(app: Any, core: Core, now: datetime,
                                                     database_url: str) -> None:
    petition = await published(core, now)
    await proposed("p-pending", OTHER_TITLE, OTHER_TEXT, None)  # not public
    async with client(app) as anyone, chromium_page(anyone, PHONE) as page:
        await open_page(page, "/petitions")
        articles = page.locator("article.petition")
        assert await articles.count() == 1
        article = page.locator(f"#petition-{petition.id}")
        assert await article.locator("h2").inner_text() == TITLE
        assert await article.locator(".signatures").inner_text() == fa(3)
        assert await article.locator(".threshold").inner_text() == fa(100)
        assert await article.locator("progress").get_attribute("value") == "3"
        sign = article.locator(".sign a")
        assert await sign.first.get_attribute("href") == f"/?petition={petition.id}"
        html = await page.content()
        assert OTHER_TITLE not in html
        for identity in (PROPOSER, *SIGNERS):
            for form in (identity, persian_digits(identity), identity.split("-")[1]):
                assert form not in html, form
        await fits_the_width(page)
        await photograph(page, database_url, "public-petitions-phone.png")

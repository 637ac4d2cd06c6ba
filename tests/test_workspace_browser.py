"""The operator's workspace in real Chromium against the real `peygir serve`: a canned reply
picked on the ticket page reaches the citizen (in-memory channel, same SQLite file) with its
placeholders filled; a change of subject with its reason routes the ticket to the new
subject's unit; the citizen is marked a volunteer from their page; the citizen's story (what
they wrote, a photo inline, the bot's answers) and their other ticket are on the ticket page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from tests.panel_support import PASSWORD
from tests.support import CHROMIUM, CHROMIUM_ARGS, serving
from tests.test_panel_browser import Env, Staff

pytestmark = pytest.mark.browser

REPORT = "چاله‌ای بزرگ جلوی نانوایی محله دهان باز کرده است"
REASON = "در عکس سطل زبالهٔ شکسته دیده می‌شود، نه چاله"
STORY_QUESTION = "سلام، دفتر شهرداری منطقه تا چه ساعتی باز است"

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent (Debian's chromium package)", allow_module_level=True)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    env = Env(tmp_path_factory.mktemp("workspace"))
    env.peygir("users", "add", "operator1", "--role", "operator", "--password-stdin",
               stdin=PASSWORD + "\n")
    with serving(env.vars, env.media.parent / "server.log"):
        yield env


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def test_canned_reply_subject_change_and_volunteer(browser: Browser, env: Env) -> None:
    from peygir.channels.memory import MemoryChannel
    from peygir.messages.digits import persian_digits
    from peygir.messages.persian import jalali
    from peygir.messages.types import Location
    from peygir.ticket_store import store
    from peygir.ticket_store.models import Citizen, Ticket

    # -- a citizen's report in district r1: routed to its civil works unit
    async def file_report(core):
        citizen, _ = await Citizen.get_or_create(channel="memory", user_id="citizen-7")
        point = core.pack.city.district_by_code["r1"].geometry.representative_point()
        draft = store.NewTicket("asphalt", REPORT, False, location=Location(point.y, point.x))
        filed = await core.workflow.file_report(citizen, "memory", "citizen-7", draft)
        await MemoryChannel(core.dialogue).flush("citizen-7")  # what filing told them
        return filed.ticket.tracking_code, filed.ticket.answer_due, citizen.id

    code, answer_due, citizen_id = env.run(file_report)

    op = Staff(browser, env, "operator1")
    op.sign_in()
    page = op.page
    page.goto(f"/panel/tickets/{code}")
    expect(page.locator("#ticket-unit")).to_have_text("فنی و عمرانی مناطق ۱ و ۲")

    # -- a canned reply: picked, filled in for this ticket, sent through the reply form
    page.locator("#canned-reply").select_option("asphalt_scheduled")
    resolved = page.locator("#reply-text").input_value()
    assert persian_digits(code) in resolved
    assert "فنی و عمرانی مناطق ۱ و ۲" in resolved and jalali(answer_due) in resolved
    assert "{" not in resolved
    page.locator("#reply-form button").click()
    expect(page.locator(".flash.ok")).to_have_text("پاسخ برای شهروند فرستاده شد.")

    async def citizen_reads(core):
        return [r.text for r in await MemoryChannel(core.dialogue).flush("citizen-7")]

    received = env.run(citizen_reads)
    assert any(resolved in text for text in received), received

    # -- the subject changed with its reason: routed to the new subject's unit
    page.locator("#service-form select").select_option("waste_bin")
    page.locator("#service-form input[name=note]").fill(REASON)
    page.locator("#service-form button").click()
    expect(page.locator(".flash.ok")).to_be_visible()
    expect(page.locator("#ticket-unit")).to_have_text("خدمات شهری منطقه ۱")
    expect(page.locator("#timeline")).to_contain_text(REASON)
    expect(page.locator("#timeline")).to_contain_text("ارجاع به خدمات شهری منطقه ۱")

    # -- the citizen marked a volunteer from their page
    page.locator("#citizen-link").click()
    expect(page).to_have_url(re.compile(rf"/panel/citizens/{citizen_id}$"))
    expect(page.locator("#standing-now")).to_have_text("عادی")
    page.locator("#standing-form select").select_option("volunteer")
    page.locator("#standing-form button").click()
    expect(page.locator("#standing-now")).to_have_text("همیار شهرداری")
    expect(page.locator(f'#citizen-tickets a[href="/panel/tickets/{code}"]')).to_be_visible()
    op.shoot("citizen")
    op.close()

    async def standing_of(core):
        ticket = await Ticket.get(tracking_code=code)
        citizen = await Citizen.get(id=citizen_id)
        return citizen.standing, ticket.service_code, ticket.unit_code

    assert env.run(standing_of) == ("volunteer", "waste_bin", "r1_services")


def test_the_operator_reads_the_citizens_story(browser: Browser, env: Env) -> None:
    import hashlib

    from peygir.channels.memory import MemoryChannel
    from peygir.messages.types import Attachment as AttachmentIn
    from peygir.nlu.normalize import ascii_digits
    from tests.panel_support import jpeg
    from tests.test_citizen_story import BIN as STORY_OTHER
    from tests.test_citizen_story import POTHOLE as STORY_REPORT

    photo = jpeg((30, 120, 30))
    digest = hashlib.sha256(photo).hexdigest()
    stored = env.media / digest[:2] / f"{digest}.jpg"
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(photo)

    # -- a whole conversation on the in-memory channel: a question, a photo, two reports
    async def converse(core):
        chat = MemoryChannel(core.dialogue)

        async def report(text: str) -> str:
            await chat.say("citizen-9", text)
            await chat.say("citizen-9", callback="loc:skip")
            replies = await chat.say("citizen-9", callback="confirm")
            found = re.search(r"[0-9۰-۹]{8}", "\n".join(r.text for r in replies))
            assert found, [r.text for r in replies]
            return ascii_digits(found.group(0))

        await chat.say("citizen-9", STORY_QUESTION)
        await chat.say("citizen-9", attachments=(AttachmentIn(
            "photo", "tg-story-photo", mime="image/jpeg", path=str(stored)),))
        first = await report(STORY_REPORT)
        second = await report(STORY_OTHER)
        return first, second

    first, second = env.run(converse)

    op = Staff(browser, env, "operator1")
    op.sign_in()
    page = op.page
    page.goto(f"/panel/tickets/{first}")
    story = page.locator("#story-lines")
    expect(story).to_contain_text(STORY_QUESTION)  # what they wrote before the report
    expect(story).to_contain_text(STORY_REPORT)
    expect(story.locator(".from-citizen .who").first).to_have_text("شهروند")
    expect(story.locator(".to-citizen .who").first).to_have_text("پیگیر")
    photo_img = story.locator("img")
    expect(photo_img).to_have_count(1)
    photo_img.scroll_into_view_if_needed()  # it loads lazily
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=photo_img.element_handle())  # the photo itself, inline
    others = page.locator("#other-tickets a")
    expect(others).to_have_count(1)
    others.first.click()
    expect(page).to_have_url(re.compile(rf"/panel/tickets/{second}$"))
    op.shoot("ticket-story")
    op.close()

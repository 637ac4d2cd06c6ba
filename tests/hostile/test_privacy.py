"""A stranger reading another citizen's ticket (security issue 14, finding 3), on SQLite and
PostgreSQL.

The attack: file the same service at the same spot as someone else, and the old duplicate
rule handed over the first ticket's code; sending it showed the first citizen's timeline,
staff replies to them included, and later replies arrived in the stranger's chat too. And
Open311's public GET served the typed address, the citizen's words, precise coordinates and
staff replies as ``status_notes``.

The rules: a second reporter gets a code of their own and hears only the public changes of
state on it; each citizen hears only what is addressed to them; a code shows a ticket only to
the chat that filed it; Open311 serves nothing a citizen typed or was told unless staff
published it, and coordinates only to ``public_location_decimals`` places.
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from peygir.bots.core import Core
from peygir.channels.memory import MemoryChannel
from peygir.config.pack import Pack
from peygir.config.settings import Settings
from peygir.conversation.dialogue import Dialogue
from peygir.conversation.notices import Notices
from peygir.messages.types import Reply
from peygir.nlu.classifier import Classifier
from peygir.nlu.normalize import ascii_digits
from peygir.ticket_store import store
from peygir.ticket_store.db import close_db, migrate_to, open_db
from peygir.ticket_store.models import Attachment, Ticket, TicketFollower
from peygir.ticket_store.workflow import Workflow
from peygir.web.app import create_app
from tests.panel_support import csrf_for, signed_in

PUBLIC_URL = "https://137.city.example"
SPOT = (34.82137, 48.49162)  # district r1 of the default pack
NEAR = (34.82159, 48.49171)  # about 26 m away: the same pothole
A_WORDS = "چاله خیلی عمیق جلوی خونه ما، من مریم رضایی هستم"
A_ADDRESS = "کوچه نسترن، پلاک 12"  # digits as the dialogue keeps them
B_WORDS = "یه چاله بزرگ وسط خیابون هست"
REPLY_TO_A = "خانم رضایی، فردا ساعت ۱۰ با شماره ۰۹۱۲۱۱۱۲۲۳۳ تماس می‌گیریم"
PRIVATE_NOTE = "اکیپ آقای کریمی اعزام شد"
PUBLIC_NOTE = "لکه‌گیری این محل انجام شد"
UNIT = "staff:unit_north"
# What only the first citizen typed or was told (digits as ascii_digits leaves them).
SECRETS_OF_A = ("مریم", "رضایی", "نسترن", "کریمی", "09121112233", "عمیق")


@pytest.fixture
def core(db: str, default_pack: Pack, default_classifier: Classifier, tmp_path: Path) -> Core:
    settings = Settings(database_url=db, media_dir=tmp_path / "media", public_url=PUBLIC_URL,
                        _env_file=None)
    workflow = Workflow(default_pack, voice=Notices(default_pack, settings.timezone),
                        timezone=settings.timezone)
    dialogue = Dialogue(default_pack, default_classifier, workflow=workflow,
                        timezone=settings.timezone)
    return Core(settings, default_pack, default_classifier, dialogue, workflow)


@pytest.fixture
def citizens(core: Core) -> MemoryChannel:
    return MemoryChannel(core.dialogue)


@pytest.fixture
def app(core: Core) -> Any:
    return create_app(core)


@pytest.fixture
async def open311(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver/open311/v2") as client:
        yield client


async def report(chat: MemoryChannel, who: str, text: str, where: tuple[float, float],
                 address: str | None = None) -> list[Reply]:
    """Describe, pick the service, type an address (if given) and send the place, confirm."""
    await chat.say(who, text)
    await chat.say(who, callback="svc:asphalt")
    if address:
        await chat.say(who, address)
    await chat.say(who, location=where)
    return await chat.say(who, callback="confirm")


def codes_in(replies: list[Reply]) -> set[str]:
    return set(re.findall(r"\d{8}", ascii_digits(" ".join(r.text for r in replies))))


def said(replies: list[Reply]) -> str:
    return ascii_digits(" ".join(r.text for r in replies))


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 60)).save(buffer, "JPEG")
    return buffer.getvalue()


async def public_views(api: httpx.AsyncClient, *codes: str) -> list[str]:
    """Every public Open311 view of these tickets (list and single, JSON and XML)."""
    texts = []
    for fmt in ("json", "xml"):
        texts.append((await api.get(f"/requests.{fmt}")).text)
        for code in codes:
            for path in (f"/requests/{code}.{fmt}", f"/request/{code}.{fmt}"):
                answer = await api.get(path)
                assert answer.status_code == 200, answer.text
                texts.append(answer.text)
    return texts


async def test_a_second_reporter_learns_nothing_of_the_first_citizen(
        citizens: MemoryChannel, core: Core) -> None:
    workflow = core.workflow
    code_a = codes_in(await report(citizens, "maryam", A_WORDS, SPOT, A_ADDRESS)).pop()
    to_b = await report(citizens, "stranger", B_WORDS, NEAR)

    # B's own code, never A's, and a polite word that a similar report is followed up.
    [code_b] = codes_in(to_b)
    assert code_b != code_a and "مشابه" in said(to_b)
    ticket_a, ticket_b = (await Ticket.get(tracking_code=code_a),
                          await Ticket.get(tracking_code=code_b))
    assert ticket_b.duplicate_of_id == ticket_a.id and ticket_b.description == B_WORDS
    assert (await Ticket.get(id=ticket_a.id)).duplicate_count == 1

    # Staff answer A, privately, twice: nothing of it reaches B.
    await workflow.reply_to_citizen(ticket_a, UNIT, REPLY_TO_A)
    await workflow.change_status(ticket_a, "in_progress", UNIT, PRIVATE_NOTE)
    to_a = await citizens.flush("maryam")
    assert "۰۹۱۲۱۱۱۲۲۳۳" in " ".join(r.text for r in to_a) and PRIVATE_NOTE in said(to_a)
    heard = await citizens.flush("stranger")
    # B hears the change of state, on B's own code, without the note meant for A.
    assert len(heard) == 1 and "در حال انجام" in heard[0].text
    assert codes_in(heard) == {code_b}
    assert "کریمی" not in said(heard) and "09121112233" not in said(heard)

    # B sends A's code (or presses A's buttons): nothing.
    for attempt in (await citizens.say("stranger", code_a),
                    await citizens.say("stranger", callback=f"accept:{code_a}"),
                    await citizens.say("stranger", callback=f"rate:{code_a}:1")):
        assert "پیدا نشد" in said(attempt)
        assert not [s for s in SECRETS_OF_A if s in said(attempt)]
    # B's own status: B's timeline, with nothing of A in it.
    status_b = said(await citizens.say("stranger", code_b))
    assert code_b in status_b and code_a not in status_b
    assert not [s for s in SECRETS_OF_A if s in status_b]
    # A's status shows nothing of B either.
    status_a = said(await citizens.say("maryam", code_a))
    assert code_b not in status_a and "وسط خیابون" not in status_a

    # A public change of state reaches B on B's code, with the note staff published, and
    # B's own accept/contest buttons; a later reply to A still reaches only A.
    await workflow.change_status(ticket_a, "resolved", UNIT, PUBLIC_NOTE, public=True)
    await workflow.reply_to_citizen(ticket_a, UNIT, "خانم رضایی، سپاس از صبرتان")
    [resolved] = await citizens.flush("stranger")
    assert PUBLIC_NOTE in resolved.text and codes_in([resolved]) == {code_b}
    assert [b.data for row in resolved.buttons for b in row] == [f"accept:{code_b}",
                                                                 f"contest:{code_b}"]
    # All B was ever sent, but for the refusals that echo the code B typed.
    everything_b = said([r for r in citizens.inbox["stranger"] if "پیدا نشد" not in r.text])
    assert code_a not in everything_b and not [s for s in SECRETS_OF_A if s in everything_b]
    assert (await Ticket.get(id=ticket_b.id)).status == "resolved"
    assert await TicketFollower.all().count() == 0


async def test_a_code_shows_a_ticket_only_to_the_chat_that_filed_it(
        citizens: MemoryChannel) -> None:
    [code] = codes_in(await report(citizens, "owner", A_WORDS, SPOT, A_ADDRESS))
    mine = said(await citizens.say("owner", code))
    assert code in mine and "ارجاع" in mine
    for other in ("guesser", "owner-too"):  # another chat, even one that never reported
        answer = said(await citizens.say(other, code))
        assert "پیدا نشد" in answer and "ارجاع" not in answer and "رضایی" not in answer


async def test_open311_serves_only_what_staff_published(
        citizens: MemoryChannel, core: Core, open311: httpx.AsyncClient, app: Any) -> None:
    workflow = core.workflow
    [code_a] = codes_in(await report(citizens, "maryam", A_WORDS, SPOT, A_ADDRESS))
    [code_b] = codes_in(await report(citizens, "stranger", B_WORDS, NEAR))
    ticket_a = await Ticket.get(tracking_code=code_a)
    assert ticket_a.address == A_ADDRESS  # kept for the unit, not for the public
    # The citizen's own photo on the ticket (never public) and the unit's evidence (public).
    await Attachment.create(ticket=ticket_a, channel="memory", chat_id="maryam", kind="photo",
                            file_ref="f", path="/nowhere/" + "c" * 64 + ".jpg", sha256="c" * 64)
    evidence = await workflow.add_evidence(ticket_a, jpeg(), "after.jpg", UNIT,
                                           core.settings.media_dir)
    await workflow.reply_to_citizen(ticket_a, UNIT, REPLY_TO_A)
    await workflow.change_status(ticket_a, "in_progress", UNIT, PRIVATE_NOTE)

    views = await public_views(open311, code_a, code_b)
    secrets = [A_WORDS, B_WORDS, A_ADDRESS, "نسترن", "رضایی", "۰۹۱۲۱۱۱۲۲۳۳", "کریمی",
               "ارجاع به", "c" * 64, f"{SPOT[0]}", f"{SPOT[1]}", f"{NEAR[0]}"]
    for text in views:
        for secret in secrets:
            assert secret not in text, secret
    rows = {row["service_request_id"]: row for row in (await open311.get("/requests.json")
                                                       ).json()}
    one = rows[code_a]
    assert one["description"] is None and one["status_notes"] is None
    assert one["address"] == core.pack.city.district_by_code["r1"].name
    assert (one["lat"], one["long"]) == (round(SPOT[0], 3), round(SPOT[1], 3))
    assert one["media_url"] == f"{PUBLIC_URL}/media/{Path(evidence.path).name}"

    # Staff publish a note from the panel (an unticked box keeps a reply private).
    async with signed_in(app, "op", "operator") as panel:
        page = f"/panel/tickets/{code_a}"
        csrf = await csrf_for(panel, page)
        assert 'name="public"' in (await panel.get(page)).text
        sent = await panel.post(f"{page}/reply", data={"csrf": csrf, "text": "پاسخ خصوصی"})
        assert sent.status_code == 303
        moved = await panel.post(f"{page}/status", data={
            "csrf": csrf, "to_status": "resolved", "note": PUBLIC_NOTE, "public": "true"})
        assert moved.status_code == 303 and "error" not in moved.headers["location"]
        published = await panel.post(f"{page}/reply", data={
            "csrf": csrf, "text": "بازدید پایانی انجام شد", "public": "true"})
        assert published.status_code == 303
    rows = {row["service_request_id"]: row for row in (await open311.get("/requests.json")
                                                       ).json()}
    assert rows[code_a]["status_notes"] == "بازدید پایانی انجام شد"  # the reply's text only
    # The linked report followed the public change, with the published note on its own.
    assert rows[code_b]["status"] == "closed" and rows[code_b]["status_notes"] == PUBLIC_NOTE
    later = " ".join(await public_views(open311, code_a, code_b))
    assert "پاسخ خصوصی" not in later and PUBLIC_NOTE in later
    # The second citizen heard the public note on their own code, and no reply to the first.
    to_b = said(await citizens.flush("stranger"))
    assert PUBLIC_NOTE in to_b and "بازدید پایانی" not in to_b and "پاسخ خصوصی" not in to_b


async def test_open311_rounds_coordinates_as_configured(
        citizens: MemoryChannel, core: Core, app: Any, open311: httpx.AsyncClient) -> None:
    [code] = codes_in(await report(citizens, "maryam", A_WORDS, SPOT))
    core.settings.public_location_decimals = 2
    [one] = (await open311.get(f"/requests/{code}.json")).json()
    assert (one["lat"], one["long"]) == (34.82, 48.49)


async def test_the_upgrade_ends_what_old_followers_could_see(database_url: str) -> None:
    """Before 0008 a second reporter followed the first ticket; the upgrade ends that."""
    await migrate_to(database_url, "peygir.0007_panel_rollups")
    await open_db(database_url, upgrade=False)
    from tortoise import connections

    connection = connections.get("default")
    when = "'2026-01-01 00:00:00+00'"
    for sql in (
        f"INSERT INTO citizen (channel, user_id, standing, created_at) "
        f"VALUES ('memory', 'first', '', {when})",
        "INSERT INTO ticket (tracking_code, citizen_id, channel, chat_id, service_code, "
        "description, status, urgent, answer_due, priority, duplicate_count, contact_consent, "
        f"escalation_level, created_at, updated_at) VALUES ('12345678', 1, 'memory', 'first', "
        f"'asphalt', 'words', 'assigned', false, {when}, 0, 1, false, 0, {when}, {when})",
        "INSERT INTO ticket_follower (ticket_id, channel, chat_id, created_at) "
        f"VALUES (1, 'memory', 'stranger', {when})",
    ):
        await connection.execute_script(sql)
    await close_db()
    await open_db(database_url)
    assert await TicketFollower.all().count() == 0
    assert await store.ticket_for_chat("12345678", "memory", "stranger") is None
    ticket = await Ticket.get(tracking_code="12345678")
    assert ticket.duplicate_of_id is None and ticket.anonymised_at is None

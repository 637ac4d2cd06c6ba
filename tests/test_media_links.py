"""Citizens' photos sent to the city's back office as signed, expiring links (issue 19).

The forwarder sends the report's first photo as ``media_url`` and the others as links in the
description; the back office opens them through the real app. Every way to misuse a link
(expired, stretched, tampered, moved to another attachment, to a voice note, to a ticket that
was never forwarded, after a secret change) gets the same bare 404; on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pydantic
import pytest

from peygir.bots.core import Core
from peygir.bots.forwarder import Forwarder
from peygir.channels.downloads import keep_download
from peygir.channels.memory import MemoryChannel
from peygir.config.clock import utcnow
from peygir.config.pack import Pack, load_pack
from peygir.config.settings import Settings
from peygir.conversation.dialogue import Dialogue
from peygir.conversation.notices import Notices
from peygir.media_ingest.links import MediaLinks, link_key, link_path
from peygir.messages.types import Attachment as AttachmentIn
from peygir.nlu.classifier import Classifier
from peygir.ticket_store.models import Attachment, ForwardedReport, Ticket
from peygir.ticket_store.workflow import Workflow
from peygir.web.app import create_app
from tests.fakes.backoffice import FakeBackOffice
from tests.interop_support import Clock, front_door, pack_with_endpoints, report, spot
from tests.panel_support import file, jpeg

PUBLIC = "https://137.example-city.ir"
SECRET = "a long and private media link secret"


def settings_for(db: str, media: Path, **extra: object) -> Settings:
    given: dict[str, object] = {"public_url": PUBLIC, "media_link_secret": SECRET, **extra}
    return Settings(database_url=db, media_dir=media, _env_file=None, **given)  # type: ignore[arg-type]


def client(core: Core) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(core)),
                             base_url=PUBLIC)


def keep(media: Path, data: bytes, kind: str = "photo") -> AttachmentIn:
    """A file as a channel keeps it: by content hash, with the type its bytes have."""
    kept = keep_download(data, AttachmentIn(kind, f"ref-{uuid.uuid4().hex[:8]}"), media,  # type: ignore[arg-type]
                         "test")
    assert kept.path is not None, kept.problem
    return kept


@pytest.fixture
async def office() -> AsyncIterator[FakeBackOffice]:
    fake = FakeBackOffice()
    await fake.start()
    yield fake
    await fake.stop()


# -- the route ---------------------------------------------------------------------------------
async def _stored(ticket: Ticket, media: Path, data: bytes, kind: str = "photo",
                  evidence: bool = False) -> Attachment:
    item = keep(media, data) if kind == "photo" else None
    path = Path(item.path) if item and item.path else media / f"{uuid.uuid4().hex}.ogg"
    if item is None:
        path.write_bytes(data)
    return await Attachment.create(
        ticket=ticket, channel="memory", chat_id="c1", kind=kind, file_ref=path.name,
        mime=item.mime if item else "audio/ogg", path=str(path), sha256=path.stem,
        evidence=evidence)


async def test_a_signed_link_serves_that_photo_and_nothing_else(db: str, tmp_path: Path,
                                                                default_classifier: Classifier
                                                                ) -> None:
    media = tmp_path / "media"
    settings = settings_for(db, media)
    core = _core(settings, default_classifier, load_pack())
    links = MediaLinks.from_settings(settings)
    assert links is not None
    key = link_key(settings)
    assert key is not None
    ticket = await file(chat="c1")
    await ForwardedReport.create(ticket=ticket, endpoint="city137", remote_code="PH-01",
                                 idempotency_key=uuid.uuid4().hex)
    photo, other_photo = jpeg((10, 200, 40)), jpeg((220, 20, 90))
    first = await _stored(ticket, media, photo)
    second = await _stored(ticket, media, other_photo)
    voice = await _stored(ticket, media, b"OggS\x00voice of the citizen", kind="voice")
    evidence = await _stored(ticket, media, jpeg((1, 2, 3)), evidence=True)
    never_forwarded = await _stored(await file(chat="c2"), media, jpeg((90, 90, 250)))
    now = utcnow()
    live = int((now + timedelta(days=30)).timestamp())

    def path(row: Attachment, expires: int = live, sha: str | None = None) -> str:
        return link_path(key, row.id, sha or row.sha256 or "", expires)

    url = links.url(first.id, first.sha256 or "", now)
    assert url.startswith(f"{PUBLIC}/media/s/{first.id}/")
    async with client(core) as http:
        shown = await http.get(url.removeprefix(PUBLIC))
        assert shown.status_code == 200 and shown.content == photo
        assert shown.headers["content-type"] == "image/jpeg"
        assert shown.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in shown.headers["content-security-policy"]
        assert "attachment" not in shown.headers.get("content-disposition", "")
        assert shown.headers["cache-control"].startswith("private, max-age=")
        assert int(shown.headers["cache-control"].rpartition("=")[2]) <= 86400
        assert shown.headers["x-robots-tag"] == "noindex, nofollow"
        assert (await http.get(path(second))).content == other_photo

        unknown = await http.get("/media/s/no/such/thing")
        signature = path(first).rpartition("/")[2]
        flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
        bad = {
            "expired": path(first, int((now - timedelta(seconds=5)).timestamp())),
            "stretched past the lifetime": path(first, int((now + timedelta(days=40)
                                                            ).timestamp())),
            "expiry changed, signature kept": f"/media/s/{first.id}/{live + 1}/{signature}",
            "signature tampered": f"/media/s/{first.id}/{live}/{flipped}",
            "another attachment's id": f"/media/s/{second.id}/{live}/{signature}",
            "signed for other content": path(first, sha="0" * 64),
            "a voice note": path(voice),
            "a unit's evidence": path(evidence),
            "a ticket never forwarded": path(never_forwarded),
            "no such attachment": link_path(key, 987654, "a" * 64, live),
            "id beyond the column": link_path(key, 2**31, "a" * 64, live),
            "non-ASCII digits": f"/media/s/{'١' * 2}/{live}/{signature}",
            "short signature": f"/media/s/{first.id}/{live}/{signature[:20]}",
            "key of another secret": link_path(link_key(settings_for(
                db, media, media_link_secret="another secret, just as long")) or b"",
                first.id, first.sha256 or "", live),
        }
        for why, wrong in bad.items():
            answer = await http.get(wrong)
            assert answer.status_code == 404, why
            assert answer.content == unknown.content, why  # no detail of what was wrong
            assert "image" not in answer.headers.get("content-type", ""), why
        # The file changed under the row (the content hash no longer what was signed).
        await Attachment.filter(id=first.id).update(sha256=second.sha256)
        assert (await http.get(url.removeprefix(PUBLIC))).status_code == 404
        # A photo row whose file is not an image is never shown, even signed.
        page = media / "page.html"
        page.write_bytes(b"<script>alert(1)</script>")
        await Attachment.filter(id=second.id).update(path=str(page), mime="text/html")
        assert (await http.get(path(second))).status_code == 404

    # Without a secret, nothing signed is honoured (and no link could be made).
    bare = settings_for(db, media, media_link_secret=None)
    async with client(_core(bare, default_classifier, load_pack())) as http:
        assert (await http.get(path(never_forwarded))).status_code == 404
        assert (await http.get(path(voice))).status_code == 404


def _core(settings: Settings, classifier: Classifier, pack: Pack) -> Core:
    workflow = Workflow(pack, voice=Notices(pack))
    return Core(settings, pack, classifier, Dialogue(pack, classifier, workflow=workflow),
                workflow)


def test_links_need_a_secret_and_a_public_base(tmp_path: Path) -> None:
    db = f"sqlite://{tmp_path / 'x.db'}"
    media = tmp_path / "media"
    assert MediaLinks.from_settings(settings_for(db, media, media_link_secret=None)) is None
    assert MediaLinks.from_settings(settings_for(db, media, public_url="")) is None
    # The webhook secret serves when no media secret is set; the key is derived from it under
    # a label of its own, never the secret itself (which also derives the webhook paths).
    hooked = settings_for(db, media, media_link_secret=None, webhook_secret=SECRET)
    from_hook = MediaLinks.from_settings(hooked)
    own = MediaLinks.from_settings(settings_for(db, media))
    assert from_hook is not None and own is not None
    assert from_hook.base == PUBLIC and from_hook.lifetime == timedelta(days=30)
    assert from_hook.key != SECRET.encode() and from_hook.key == own.key
    other = MediaLinks.from_settings(settings_for(db, media, media_link_secret="x" * 16))
    assert other is not None and other.key != own.key
    with pytest.raises(pydantic.ValidationError):
        settings_for(db, media, media_link_secret="short")
    with pytest.raises(pydantic.ValidationError):
        settings_for(db, media, media_link_days=0)


# -- the forwarder -----------------------------------------------------------------------------
def _endpoint(office: FakeBackOffice) -> dict[str, object]:
    return {"name": "city137", "base_url": office.base_url, "api_key": office.api_key,
            "services": "all", "timeout": 2.0}


async def _report_with_photos(chat: MemoryChannel, media: Path, who: str, where: int,
                              photos: list[bytes]) -> Ticket:
    for data in photos:
        await chat.say(who, attachments=(keep(media, data),))
    await report(chat, who, "asphalt", spot(where))
    return await Ticket.get(chat_id=who)


async def test_the_back_office_gets_links_that_open_the_photos(
        db: str, tmp_path: Path, default_classifier: Classifier,
        office: FakeBackOffice) -> None:
    media = tmp_path / "media"
    settings = settings_for(db, media)
    clock = Clock()
    clock.now = utcnow()  # the app checks expiry against the real clock
    pack = pack_with_endpoints(tmp_path / "pack", _endpoint(office))
    chat = front_door(pack, default_classifier, clock)
    photos = [jpeg((200, 30, 30)), jpeg((30, 200, 30)), jpeg((30, 30, 200))]
    ticket = await _report_with_photos(chat, media, "ali", 1, photos)
    plain = await _report_with_photos(chat, media, "reza", 2, [])
    # A voice note kept on the ticket stays home: it is the citizen's voice.
    voice = media / "voice.ogg"
    voice.write_bytes(b"OggS\x00voice")
    await Attachment.create(ticket=ticket, channel="memory", chat_id="ali", kind="voice",
                            file_ref="v", mime="audio/ogg", path=str(voice), sha256="f" * 64)
    kept = await Attachment.filter(ticket_id=ticket.id, kind="photo").order_by("id")
    assert len(kept) == 3
    forwarder = Forwarder(chat.dialogue.workflow, pack.endpoints, clock=clock,
                          media_links=MediaLinks.from_settings(settings))
    try:
        assert await forwarder.send_pass() == 2
    finally:
        await forwarder.close()
    by_lat = sorted(office.posts, key=lambda f: float(f["lat"]))
    form, other = by_lat
    assert "media_url" not in other and other["description"] == plain.description
    media_url = form["media_url"]
    assert media_url.startswith(f"{PUBLIC}/media/s/{kept[0].id}/")
    description = form["description"]
    assert description.startswith(ticket.description or "")
    more = re.findall(r"photo (\d): (\S+)", description)
    assert [n for n, _ in more] == ["2", "3"]
    assert [u.split("/")[-3] for _, u in more] == [str(kept[1].id), str(kept[2].id)]
    assert "voice" not in description and str(voice) not in description
    # The back office opens them: the citizen's photos, each its own.
    core = _core(settings, default_classifier, pack)
    async with client(core) as http:
        for url, data in zip([media_url] + [u for _, u in more], photos, strict=True):
            shown = await http.get(url.removeprefix(PUBLIC))
            assert shown.status_code == 200 and shown.content == data
            assert shown.headers["content-type"] == "image/jpeg"


async def test_without_a_secret_or_a_public_base_no_media_goes(
        db: str, tmp_path: Path, default_classifier: Classifier,
        office: FakeBackOffice) -> None:
    media = tmp_path / "media"
    clock = Clock()
    pack = pack_with_endpoints(tmp_path / "pack", _endpoint(office))
    chat = front_door(pack, default_classifier, clock)
    tickets = [await _report_with_photos(chat, media, who, i, [jpeg((i * 40, 10, 10))])
               for i, who in enumerate(("a", "b"), start=1)]
    # Oldest first, one a pass: the first goes with no secret set, the second with no base.
    for ticket, settings in zip(tickets, (settings_for(db, media, media_link_secret=None),
                                          settings_for(db, media, public_url="")), strict=True):
        forwarder = Forwarder(chat.dialogue.workflow, pack.endpoints, clock=clock,
                              batch=1, media_links=MediaLinks.from_settings(settings))
        try:
            assert await forwarder.send_pass() == 1
        finally:
            await forwarder.close()
        sent = office.posts[-1]
        assert "media_url" not in sent and sent["description"] == ticket.description
        assert "/media/" not in sent["description"]

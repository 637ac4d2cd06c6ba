"""The web chat's uploads over HTTP (issue 17): photos, videos and voice notes taken in as the
messengers' files are — probed, bounded, EXIF place kept as a hint and stripped from the file,
a voice note queued for Whisper, a retry taken once — on the real app, SQLite and PostgreSQL.
The page itself is driven in Chromium by tests/test_web_chat_media.py."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import av
import httpx
import pytest
from PIL import Image

from peygir.conversation.dialogue import MAX_DOWNLOAD
from peygir.messages import texts
from peygir.ticket_store.models import (
    Attachment,
    ChatState,
    JobStatus,
    Ticket,
    TranscriptionJob,
)
from tests import media_samples
from tests.hostile import polyglots
from tests.panel_support import build_app, client

PLACE = (34.82, 48.49)  # inside district r1 of the default pack


@pytest.fixture
def media(tmp_path: Path) -> Path:
    return tmp_path / "media"


@pytest.fixture
async def citizen(db: str, media: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with client(build_app(db, media)) as c:
        yield c


async def upload(c: httpx.AsyncClient, body: bytes, kind: str, client_id: str,
                 caption: str = "") -> httpx.Response:
    params = {"client_id": client_id, "kind": kind}
    if caption:
        params["caption"] = caption
    return await c.post("/api/chat/upload", params=params, content=body,
                        headers={"Content-Type": "text/html"})  # declared types mean nothing


def texts_of(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [r["text"] for r in answer.json()["replies"]]


async def test_a_photo_gives_its_place_and_keeps_none_of_its_metadata(
        citizen: httpx.AsyncClient, tmp_path: Path, media: Path) -> None:
    photo = media_samples.jpeg_with_gps(tmp_path, *PLACE)
    assert texts_of(await upload(citizen, photo.read_bytes(), "photo", "p1")) == [
        texts.ATTACHMENT_LATER]
    row = await Attachment.get()
    assert row.kind == "photo" and row.mime == "image/jpeg"
    stored = Path(row.path or "")
    assert stored.is_relative_to(media) and stored.suffix == ".jpg"
    with Image.open(stored) as kept:
        assert dict(kept.getexif()) == {}  # no GPS, no camera, no orientation left
        assert kept.size == (20, 40)  # turned upright before the orientation tag went
    assert b"PhoneMaker" not in stored.read_bytes()
    # No scratch file is left behind in the media folder.
    assert not [p for p in media.iterdir() if p.name.startswith(".")]

    # The next report takes the photo and its place; the confirmation lists what goes with it.
    answer = await citizen.post("/api/chat/send", json={
        "client_id": "t1", "text": "سطل زباله سر کوچه ما پر شده و بو میده"})
    replies = answer.json()["replies"]
    picks = [b["data"] for r in replies for row in r["buttons"] for b in row]
    if "confirm" not in picks:
        svc = next(d for d in picks if d.startswith("svc:"))
        replies = (await citizen.post("/api/chat/send", json={
            "client_id": "t2", "callback": svc})).json()["replies"]
    assert "پیوست‌ها: ۱ عکس" in replies[-1]["text"], replies
    assert "موقعیت: دریافت شد" in replies[-1]["text"], replies
    await citizen.post("/api/chat/send", json={"client_id": "t3", "callback": "confirm"})
    ticket = await Ticket.get()
    assert (ticket.latitude, ticket.longitude) == pytest.approx(PLACE, abs=1e-4)
    assert ticket.district == "r1"
    assert [a.id for a in await Attachment.filter(ticket_id=ticket.id)] == [row.id]


async def test_what_is_not_what_it_claims_is_refused_politely(
        citizen: httpx.AsyncClient, tmp_path: Path) -> None:
    page = b"<html><script>alert(1)</script></html>"
    assert texts_of(await upload(citizen, page, "photo", "x1")) == ["این فایل تصویر نیست."]
    video = media_samples.small_video(tmp_path)
    refused = texts_of(await upload(citizen, video.read_bytes(), "voice", "x2"))
    assert refused == ["این فایل صوتی نیست."]
    assert texts_of(await upload(citizen, b"", "file", "x3"))  # nothing at all: answered
    assert await Attachment.all().count() == 0


async def test_a_video_and_a_voice_note(citizen: httpx.AsyncClient, tmp_path: Path) -> None:
    video = media_samples.small_video(tmp_path)
    # A video is heard too, as a messenger's is: what is said in it may be the report.
    assert texts_of(await upload(citizen, video.read_bytes(), "video", "v1")) == [
        texts.TRANSCRIBING]
    note = media_samples.headerless_webm(tmp_path, 3)  # what MediaRecorder writes
    assert texts_of(await upload(citizen, note.read_bytes(), "voice", "v2")) == [
        texts.TRANSCRIBING]
    kinds = {(a.kind, a.mime) for a in await Attachment.all()}
    assert kinds == {("video", "video/mp4"), ("voice", "audio/webm")}
    assert await TranscriptionJob.filter(status=JobStatus.PENDING).count() == 2


async def test_the_same_upload_twice_is_taken_once(
        citizen: httpx.AsyncClient, tmp_path: Path) -> None:
    photo = media_samples.jpeg_with_gps(tmp_path, *PLACE).read_bytes()
    first = await upload(citizen, photo, "photo", "same")
    again = await upload(citizen, photo, "photo", "same")
    assert texts_of(first) == [texts.ATTACHMENT_LATER] and texts_of(again) == []
    assert await Attachment.all().count() == 1


async def test_too_big_is_a_413_in_persian_declared_or_streamed(
        citizen: httpx.AsyncClient) -> None:
    declared = await citizen.post(
        "/api/chat/upload", params={"client_id": "big1", "kind": "video"},
        headers={"Content-Length": str(MAX_DOWNLOAD + 1)}, content=b"x")
    assert declared.status_code == 413

    async def stream() -> AsyncIterator[bytes]:
        piece = b"\0" * (1024 * 1024)
        for _ in range(MAX_DOWNLOAD // len(piece) + 1):
            yield piece

    streamed = await citizen.post("/api/chat/upload",
                                  params={"client_id": "big2", "kind": "video"},
                                  content=stream())
    assert streamed.status_code == 413
    assert "مگابایت" in streamed.json()["detail"]
    assert await Attachment.all().count() == 0


@pytest.mark.parametrize("params", [
    {"kind": "photo"},  # no client_id
    {"client_id": "a b", "kind": "photo"},
    {"client_id": "k", "kind": "exe"},
    {"client_id": "k", "kind": "photo", "caption": "ب" * 4001},
])
async def test_bad_parameters_are_a_422(citizen: httpx.AsyncClient, params: dict) -> None:
    answer = await citizen.post("/api/chat/upload", params=params, content=b"x")
    assert answer.status_code == 422, answer.text


async def test_a_polyglot_photo_keeps_only_its_pixels(
        citizen: httpx.AsyncClient, media: Path) -> None:
    """A JPEG that is also a script or a page: accepted as a photo, but what is kept is a new
    image from its pixels, so nothing after them survives to be served."""
    for n, body in enumerate((polyglots.jpeg_javascript("alert(document.cookie)"),
                              polyglots.jpeg_html("<script>alert(1)</script>"))):
        answer = await upload(citizen, body, "photo", f"poly{n}")
        assert answer.status_code == 200, answer.text
    rows = await Attachment.all()
    assert len(rows) == 2 and all(row.kind == "photo" for row in rows)
    for row in rows:
        kept = Path(row.path or "").read_bytes()
        assert b"alert" not in kept and b"<script" not in kept


async def test_a_video_gives_its_place_and_keeps_none_of_its_tags(
        citizen: httpx.AsyncClient, tmp_path: Path) -> None:
    filmed = tmp_path / "filmed.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=duration=1:size=160x120:rate=10", "-f", "lavfi", "-i",
                    "sine=duration=1", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-c:a", "aac",
                    "-metadata", f"location=+{PLACE[0]:.4f}+0{PLACE[1]:.4f}/",
                    "-metadata", "comment=PhoneMaker", str(filmed)], check=True)
    assert b"PhoneMaker" in filmed.read_bytes() and b"loci" in filmed.read_bytes()  # 3GPP place
    assert texts_of(await upload(citizen, filmed.read_bytes(), "video", "f1")) == [
        texts.TRANSCRIBING]
    row = await Attachment.get()
    kept = Path(row.path or "").read_bytes()
    assert row.mime == "video/mp4" and b"PhoneMaker" not in kept and b"loci" not in kept
    with av.open(row.path or "") as video:  # still a whole video: picture and sound
        assert {s.type for s in video.streams} == {"video", "audio"}
        assert sum(1 for _ in video.decode(video=0)) == 10
    # Its place waits for the report, as a photo's does.
    waiting = (await ChatState.get(channel="web")).state["pending_location"]
    assert (waiting["lat"], waiting["lon"]) == pytest.approx(PLACE, abs=1e-4)

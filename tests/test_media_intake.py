"""Safe intake of citizens' media, on real files made with espeak-ng, ffmpeg and Pillow."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import NoReturn

import pytest
from PIL import Image, ImageFile

from peygir.media_ingest import intake
from peygir.media_ingest import probe as probe_module
from peygir.media_ingest.images import exif_location, inspect_image, strip_exif
from peygir.media_ingest.intake import Limits, check, store_by_hash
from peygir.media_ingest.probe import MediaError, probe
from tests import media_samples as samples

PERSIAN = re.compile("[\u0600-\u06ff]")
LATIN = re.compile("[A-Za-z]")
ISFAHAN = (32.654627, 51.667983)


def assert_polite(exc: MediaError, reason: str, message: str | None = None) -> None:
    assert exc.reason == reason, exc.detail
    assert PERSIAN.search(exc.message), exc.message
    assert not LATIN.search(exc.message), exc.message  # no codec names, no traceback
    if message is not None:
        assert exc.message == message
    assert exc.detail  # the English half, for the logs


def must_not_run(*args: object, **kwargs: object) -> NoReturn:
    raise AssertionError("this step should never have been reached")


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media-samples")


@pytest.fixture(scope="module")
def voice(made: Path) -> Path:
    return samples.voice_note(made)


@pytest.fixture(scope="module")
def video(made: Path) -> Path:
    return samples.small_video(made)


# --- audio -------------------------------------------------------------------------------


def test_a_persian_voice_note_is_opus_in_ogg(voice: Path) -> None:
    info = probe(voice)
    assert (info.container, info.kind, info.audio_codec) == ("ogg", "audio", "opus")
    assert info.video_codec is None and info.width is None
    assert info.duration is not None and 2 < info.duration < 15
    assert info.size == voice.stat().st_size


def test_a_voice_note_is_accepted_whatever_it_is_called(voice: Path, tmp_path: Path) -> None:
    misnamed = tmp_path / "voice.jpg"
    misnamed.write_bytes(voice.read_bytes())
    checked = check(misnamed, "voice")
    assert checked.kind == "audio"
    assert checked.extension == ".ogg"


@pytest.mark.parametrize("share", [0.5, 0.9])
def test_a_cut_voice_note_is_truncated(voice: Path, tmp_path: Path, share: float) -> None:
    data = voice.read_bytes()
    cut = tmp_path / "cut.ogg"
    cut.write_bytes(data[: int(len(data) * share)])
    with pytest.raises(MediaError) as caught:
        check(cut, "voice")
    assert_polite(caught.value, "truncated", "فایل صوتی ناقص رسید؛ لطفاً دوباره بفرستید.")


def test_an_hour_of_audio_is_too_long_without_decoding_it(
    made: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hour = samples.hour_of_silence(made)
    assert probe(hour, verify=False).duration == pytest.approx(3600, abs=1)
    monkeypatch.setattr(probe_module, "_verify_streams", must_not_run)
    monkeypatch.setattr(probe_module, "_ogg_pages_complete", must_not_run)
    with pytest.raises(MediaError) as caught:
        check(hour, "voice")
    assert_polite(caught.value, "too_long", "پیام صوتی بیشتر از ۵ دقیقه است؛ لطفاً کوتاه‌تر بفرستید.")


def test_a_file_without_a_duration_is_still_held_to_the_limit(made: Path) -> None:
    webm = samples.headerless_webm(made, seconds=10)
    assert probe(webm, verify=False).duration is None
    with pytest.raises(MediaError) as caught:
        check(webm, "audio", Limits(max_duration=4))
    assert_polite(caught.value, "too_long")
    assert check(webm, "audio").info.duration == pytest.approx(10, abs=0.2)


def test_an_empty_file_is_refused_everywhere(made: Path) -> None:
    empty = samples.empty_file(made)
    for attempt in (lambda: check(empty, "voice"), lambda: probe(empty)):
        with pytest.raises(MediaError) as caught:
            attempt()
        assert_polite(caught.value, "empty")
    with pytest.raises(MediaError) as caught:
        inspect_image(empty)
    assert_polite(caught.value, "empty")


def test_size_is_checked_before_anything_reads_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.ogg"
    with big.open("wb") as out:
        out.truncate(20 * 1024 * 1024 + 1)  # sparse: no 20 MB written
    monkeypatch.setattr(intake, "inspect_image", must_not_run)
    monkeypatch.setattr(intake, "probe", must_not_run)
    with pytest.raises(MediaError) as caught:
        check(big, "voice")
    assert_polite(
        caught.value, "too_big", "حجم فایل بیشتر از ۲۰ مگابایت است؛ لطفاً فایل کوچک‌تری بفرستید."
    )


# --- images ------------------------------------------------------------------------------


def test_a_zip_called_jpeg_is_not_an_image(made: Path) -> None:
    fake = samples.zip_named_jpeg(made)
    with pytest.raises(MediaError) as caught:
        check(fake, "photo")
    assert_polite(caught.value, "not_media", "این فایل تصویر نیست.")
    with pytest.raises(MediaError) as caught:
        inspect_image(fake)
    assert_polite(caught.value, "not_media", "این فایل تصویر نیست.")
    # FFmpeg left to itself opens any "*.jpg" with its image demuxer; it must not see the name.
    with pytest.raises(MediaError) as caught:
        probe(fake)
    assert_polite(caught.value, "unreadable")


def test_a_voice_note_sent_as_a_photo_is_refused(voice: Path) -> None:
    with pytest.raises(MediaError) as caught:
        check(voice, "photo")
    assert_polite(caught.value, "not_media", "این فایل تصویر نیست.")


def test_a_huge_png_is_refused_from_its_header(made: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    huge = samples.huge_png(made)
    assert huge.stat().st_size < 200_000
    monkeypatch.setattr(ImageFile.ImageFile, "load", must_not_run)
    with pytest.raises(MediaError) as caught:
        check(huge, "photo")
    assert_polite(caught.value, "too_many_pixels")


def test_an_image_just_over_the_limit_is_refused_too(made: Path) -> None:
    # 1600 pixels against 1000: Pillow itself would only warn (it raises from twice the limit).
    small = samples.small_png(made, (40, 40))
    with pytest.raises(MediaError) as caught:
        check(small, "photo", Limits(max_pixels=1000))
    assert_polite(caught.value, "too_many_pixels")
    assert check(small, "photo").info.width == 40


@pytest.mark.parametrize("where", [ISFAHAN, (-33.868820, -151.209296)])
def test_exif_gps_is_read_as_decimal_degrees(tmp_path: Path, where: tuple[float, float]) -> None:
    photo = samples.jpeg_with_gps(tmp_path, *where)
    location = exif_location(photo)
    assert location is not None
    assert location == pytest.approx(where, abs=1e-4)


def test_a_photo_without_gps_has_no_location(made: Path) -> None:
    assert exif_location(samples.small_png(made)) is None


def test_a_stripped_copy_keeps_the_picture_and_loses_the_metadata(tmp_path: Path) -> None:
    photo = samples.jpeg_with_gps(tmp_path, *ISFAHAN)
    clean = strip_exif(photo, tmp_path / "for-the-unit.jpg")
    assert b"Exif" not in clean.read_bytes() and b"PhoneMaker" not in clean.read_bytes()
    assert exif_location(clean) is None
    with Image.open(clean) as image:
        assert len(image.getexif()) == 0 and "exif" not in image.info
        assert image.size == (20, 40)  # orientation 6 applied to the pixels
        red, _, blue = image.convert("RGB").getpixel((10, 2))  # type: ignore[misc]
        assert blue > 200 and red < 80  # the blue left edge is now on top


def test_a_real_photo_passes(tmp_path: Path) -> None:
    checked = check(samples.jpeg_with_gps(tmp_path, *ISFAHAN), "photo")
    assert (checked.kind, checked.info.container, checked.extension) == ("image", "JPEG", ".jpg")
    assert (checked.info.width, checked.info.height) == (40, 20)


def test_a_cut_photo_is_truncated(tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    Image.effect_noise((200, 200), 60).convert("RGB").save(photo, quality=95)
    cut = samples.cut_in_half(photo, tmp_path / "cut.jpg")
    with pytest.raises(MediaError) as caught:
        check(cut, "photo")
    assert_polite(caught.value, "truncated", "تصویر ناقص رسید؛ لطفاً دوباره بفرستید.")


# --- video -------------------------------------------------------------------------------


def test_a_small_video_probes_as_video(video: Path) -> None:
    info = probe(video)
    assert info.kind == "video"
    assert info.duration == pytest.approx(2, abs=0.1)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert (info.width, info.height) == (160, 120)
    assert check(video, "video").extension == ".mp4"


def test_a_video_sent_as_voice_is_the_wrong_kind(video: Path) -> None:
    with pytest.raises(MediaError) as caught:
        check(video, "voice")
    assert_polite(caught.value, "wrong_kind", "این فایل صوتی نیست.")


def test_a_cut_video_is_refused(made: Path, tmp_path: Path, video: Path) -> None:
    # Index first (as Telegram sends): the header promises 2 s that are not there.
    faststart = samples.small_video(made, faststart=True)
    with pytest.raises(MediaError) as caught:
        check(samples.cut_in_half(faststart, tmp_path / "cut-fast.mp4"), "video")
    assert_polite(caught.value, "truncated", "فایل ویدیویی ناقص رسید؛ لطفاً دوباره بفرستید.")
    # Index last: the cut takes the index with it and the file cannot be opened at all.
    with pytest.raises(MediaError) as caught:
        check(samples.cut_in_half(video, tmp_path / "cut.mp4"), "video")
    assert_polite(caught.value, "unreadable")


# --- storage -----------------------------------------------------------------------------


def test_the_same_content_is_stored_once(voice: Path, tmp_path: Path) -> None:
    store = tmp_path / "media"
    other = tmp_path / "another-name.ogg"
    other.write_bytes(voice.read_bytes())
    first = store_by_hash(voice, store)
    second = store_by_hash(other, store)
    digest = hashlib.sha256(voice.read_bytes()).hexdigest()
    assert first == second == store / digest[:2] / f"{digest}.ogg"
    assert first.read_bytes() == voice.read_bytes()
    assert voice.exists() and other.exists()  # copied, not moved
    assert not list(store.rglob("*.part"))


def test_store_can_move_and_picks_a_safe_extension(tmp_path: Path) -> None:
    source = tmp_path / "upload.weird ext"
    source.write_bytes(b"some bytes")
    stored = store_by_hash(source, tmp_path / "media", move=True)
    assert stored.suffix == "" and not source.exists()
    source.write_bytes(b"other bytes")
    assert store_by_hash(source, tmp_path / "media", ext=".JPG").suffix == ".jpg"
    assert store_by_hash(source, tmp_path / "media", ext="/../x").suffix == ""

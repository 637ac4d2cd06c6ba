"""A channel's download is checked before it is kept (channels.downloads.keep_download)."""

from pathlib import Path

from peygir.channels.downloads import keep_download
from peygir.messages.types import Attachment
from tests.media_samples import jpeg_with_gps, zip_named_jpeg


def test_a_photo_is_kept_by_hash_with_its_gps_as_a_hint(tmp_path: Path) -> None:
    data = jpeg_with_gps(tmp_path, 36.2970, 59.6060).read_bytes()
    kept = keep_download(data, Attachment("photo", "f1"), tmp_path / "media", "test", ".bin")
    assert kept.path and kept.problem is None and kept.size == len(data)
    assert Path(kept.path).suffix == ".jpg"  # what the content is, not what the name said
    assert Path(kept.path).read_bytes() == data
    assert kept.location_hint is not None and round(kept.location_hint[0], 3) == 36.297


def test_a_refusal_leaves_nothing_and_deletes_nothing(tmp_path: Path) -> None:
    media = tmp_path / "media"
    photo = jpeg_with_gps(tmp_path, 36.2970, 59.6060).read_bytes()
    accepted = keep_download(photo, Attachment("photo", "f1"), media, "test")
    # The same bytes again, claimed to be a voice note: refused politely...
    refused = keep_download(photo, Attachment("voice", "f2"), media, "test")
    assert refused.path is None and refused.problem
    # ...and the photo an earlier report holds under the same content hash is still there.
    assert accepted.path and Path(accepted.path).is_file()
    bogus = keep_download(zip_named_jpeg(tmp_path).read_bytes(), Attachment("photo", "f3"),
                          media, "test")
    assert bogus.path is None and bogus.problem
    assert sorted(p.name for p in media.rglob("*") if p.is_file()) == [Path(accepted.path).name]

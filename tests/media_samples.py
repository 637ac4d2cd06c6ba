"""Real sample files for the media intake tests, made on the spot (no binaries in git).

Needs `espeak-ng` (with its Persian voice) and `ffmpeg` on PATH.
"""

from __future__ import annotations

import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

from PIL import Image

VOICE_TEXT = "سلام. جلوی خانه‌ی ما چاله‌ی بزرگی هست و آب جمع شده. لطفاً رسیدگی کنید."


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-v", "error", *args], check=True)


def voice_note(directory: Path) -> Path:
    """Persian speech as Telegram sends a voice message: Opus in Ogg."""
    wav, ogg = directory / "voice.wav", directory / "voice.ogg"
    subprocess.run(["espeak-ng", "-v", "fa", "-w", str(wav), VOICE_TEXT], check=True)
    _ffmpeg("-i", str(wav), "-c:a", "libopus", str(ogg))
    return ogg


def cut_in_half(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def empty_file(directory: Path) -> Path:
    path = directory / "empty.ogg"
    path.touch()
    return path


def zip_named_jpeg(directory: Path) -> Path:
    path = directory / "photo.jpg"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a photo " * 50)
    return path


def hour_of_silence(directory: Path) -> Path:
    """One hour of Opus silence in well under a second.

    Encoding an hour takes ~6 s, so ten seconds are encoded and the packets repeated 360 times
    without re-encoding; the Ogg header then says 3600 s like a real one would.
    """
    piece, hour = directory / "silence10.ogg", directory / "hour.ogg"
    _ffmpeg(
        "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "10", "-c:a", "libopus", str(piece)
    )
    _ffmpeg("-stream_loop", "359", "-i", str(piece), "-c", "copy", str(hour))
    return hour


def small_video(directory: Path, seconds: float = 2, *, faststart: bool = False) -> Path:
    """testsrc pictures and a tone in MP4; `faststart` puts the index before the data."""
    path = directory / ("video_faststart.mp4" if faststart else "video.mp4")
    picture = f"testsrc=duration={seconds}:size=160x120:rate=10"
    tone = f"sine=frequency=440:duration={seconds}"
    flags = ["-movflags", "+faststart"] if faststart else []
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        picture,
        "-f",
        "lavfi",
        "-i",
        tone,
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        *flags,
        str(path),
    )
    return path


def headerless_webm(directory: Path, seconds: float = 10) -> Path:
    """Opus in WebM written to a pipe, so the muxer could not go back to write a duration."""
    path = directory / "headerless.webm"
    with path.open("wb") as out:
        subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                f"sine=duration={seconds}",
                "-c:a",
                "libopus",
                "-f",
                "webm",
                "pipe:1",
            ],
            stdout=out,
            check=True,
        )
    return path


def huge_png(directory: Path, side: int = 20_000) -> Path:
    """A valid side x side one-bit PNG of one colour, a few tens of KB on disk.

    Written chunk by chunk: Pillow would need side*side bytes of memory to build it.
    """
    row = b"\x00" + bytes((side + 7) // 8)  # filter "none", then all-black pixels
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    path = directory / "huge.png"
    chunks = _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunks)
    return path


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def jpeg_with_gps(
    directory: Path, lat: float, lon: float, *, orientation: int = 6, name: str = "gps.jpg"
) -> Path:
    """A 40x20 JPEG taken "rotated" (EXIF orientation) with an EXIF GPS block."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"  # camera make: metadata that must not survive stripping
    exif[0x8825] = {
        1: "N" if lat >= 0 else "S",
        2: _dms(abs(lat)),
        3: "E" if lon >= 0 else "W",
        4: _dms(abs(lon)),
    }
    path = directory / name
    image = Image.new("RGB", (40, 20), "red")
    image.paste((0, 0, 255), (0, 0, 10, 20))  # a blue left edge shows which way is up
    image.save(path, exif=exif, quality=95)
    return path


def _dms(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600, 4)
    return float(degrees), float(minutes), seconds


def small_png(directory: Path, size: tuple[int, int] = (40, 40)) -> Path:
    path = directory / "small.png"
    Image.new("RGB", size, "green").save(path)
    return path

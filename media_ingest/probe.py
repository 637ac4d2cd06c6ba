"""What a citizen's audio or video file really is, read with PyAV (FFmpeg).

The Telegram mime type and the file name are chosen by the sender, so neither is trusted:
FFmpeg is handed bytes with no name and must recognise the container from its content.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Literal

import av
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.stream import Disposition, Stream
from av.video.stream import VideoStream

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

Kind = Literal["audio", "video", "image", "unknown"]
Reason = Literal[
    "empty",
    "unreadable",
    "truncated",
    "too_long",
    "too_big",
    "too_many_pixels",
    "not_media",
    "wrong_kind",
]

MESSAGES: dict[Reason, str] = {
    "empty": "فایل خالی رسید؛ لطفاً دوباره بفرستید.",
    "unreadable": "این فایل باز نشد؛ شاید ناقص یا خراب باشد. لطفاً دوباره بفرستید.",
    "truncated": "فایل ناقص رسید؛ لطفاً دوباره بفرستید.",
    "too_long": "فایل طولانی‌تر از حد مجاز است؛ لطفاً کوتاه‌تر بفرستید.",
    "too_big": "حجم فایل بیشتر از حد مجاز است؛ لطفاً فایل کوچک‌تری بفرستید.",
    "too_many_pixels": "ابعاد تصویر خیلی بزرگ است؛ لطفاً تصویر کوچک‌تری بفرستید.",
    "not_media": "این فایل عکس، صدا یا ویدیو نیست؛ لطفاً عکس، پیام صوتی یا ویدیو بفرستید.",
    "wrong_kind": "نوع این فایل با پیام شما جور نیست؛ لطفاً دوباره بفرستید.",
}
TRUNCATED: dict[Kind, str] = {
    "audio": "فایل صوتی ناقص رسید؛ لطفاً دوباره بفرستید.",
    "video": "فایل ویدیویی ناقص رسید؛ لطفاً دوباره بفرستید.",
    "image": "تصویر ناقص رسید؛ لطفاً دوباره بفرستید.",
}
NOT_KIND: dict[Kind, str] = {
    "audio": "این فایل صوتی نیست.",
    "video": "این فایل ویدیویی نیست.",
    "image": "این فایل تصویر نیست.",
}

# Demuxers a citizen's recording can arrive in. Anything else (playlists such as HLS or
# concat, which make FFmpeg open other files, raw image pipes, subtitles) is refused.
FORMAT_WHITELIST = "ogg,mov,matroska,mp3,wav,aac,flac,amr,amrnb,amrwb,avi"
# A cut stream loses at least this much against the duration its header claims.
_MIN_MISSING_SECONDS = 0.5
_MIN_MISSING_SHARE = 0.05
# Enough frames to know the video decoder accepts the stream; all of it would cost seconds.
_VIDEO_FRAMES_TO_DECODE = 3
_FA_DIGITS = str.maketrans("0123456789.", "۰۱۲۳۴۵۶۷۸۹٫")


class MediaError(Exception):
    """A file we will not take: `message` is polite Persian for the citizen, `detail` for logs."""

    def __init__(self, reason: Reason, detail: str, message: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail = detail
        self.message = message or MESSAGES[reason]


@dataclass(frozen=True, slots=True)
class MediaInfo:
    container: str  # FFmpeg demuxer name ("ogg", "mov,mp4,m4a,3gp,3g2,mj2") or Pillow format
    kind: Kind
    duration: float | None  # seconds
    audio_codec: str | None
    video_codec: str | None
    width: int | None
    height: int | None
    size: int  # bytes


def fa_digits(value: object) -> str:
    return str(value).translate(_FA_DIGITS)


def duration_text(seconds: float) -> str:
    """Whole minutes as "۵ دقیقه", anything else as "۹۰ ثانیه"."""
    whole = round(seconds)
    if whole >= 60 and whole % 60 == 0:
        return f"{fa_digits(whole // 60)} دقیقه"
    return f"{fa_digits(whole)} ثانیه"


def too_long(kind: Kind, seconds: float, limit: float) -> MediaError:
    what = "ویدیو" if kind == "video" else "پیام صوتی"
    return MediaError(
        "too_long",
        f"{kind} lasts {seconds:.1f} s, the limit is {limit:.0f} s",
        f"{what} بیشتر از {duration_text(limit)} است؛ لطفاً کوتاه‌تر بفرستید.",
    )


def truncated(kind: Kind, detail: str) -> MediaError:
    return MediaError("truncated", detail, TRUNCATED.get(kind))


def file_size(path: str | os.PathLike[str]) -> int:
    """Size from the file system alone, so nothing reads an empty or oversized file."""
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise MediaError("unreadable", f"cannot stat the file: {exc}") from exc
    if size == 0:
        raise MediaError("empty", "the file has zero bytes")
    return size


def probe(
    path: str | os.PathLike[str], *, max_duration: float | None = None, verify: bool = True
) -> MediaInfo:
    """Open the real container and describe it; with `verify`, also decode to catch cut files.

    The duration limit is checked on the header before any decoding, so a one-hour file costs
    a header read; decoding also stops at the limit, so a header that lies gains nothing.
    """
    size = file_size(path)
    with open(path, "rb", buffering=0) as raw, _open_container(raw) as container:
        info = _describe(container, size)
        if max_duration is not None and (info.duration or 0.0) > max_duration:
            raise too_long(info.kind, info.duration or 0.0, max_duration)
        if not verify:
            return info
        if container.format.name == "ogg" and not _ogg_pages_complete(path, size):
            raise truncated(info.kind, "the last Ogg page is cut short")
        decoded = _verify_streams(container, info.kind, max_duration)
    return info if info.duration is not None else replace(info, duration=decoded)


class _Nameless(io.RawIOBase):
    """The file without its name: FFmpeg would pick the demuxer from a ".jpg" extension."""

    def __init__(self, raw: io.FileIO) -> None:
        self._raw = raw

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        return self._raw.readinto(buffer)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()


def _open_container(raw: io.FileIO) -> InputContainer:
    try:
        return av.open(
            io.BufferedReader(_Nameless(raw)),
            "r",  # the default, said so the type checker knows it is an InputContainer
            container_options={"format_whitelist": FORMAT_WHITELIST},
        )
    except av.EOFError as exc:
        raise truncated("unknown", f"the file ends inside the container header: {exc}") from exc
    except av.ArgumentError as exc:  # what FFmpeg says for a demuxer not on the whitelist
        raise MediaError("not_media", f"not an accepted audio/video container: {exc}") from exc
    except (av.FFmpegError, ValueError) as exc:
        raise MediaError("unreadable", f"FFmpeg cannot open it: {exc}") from exc


def _describe(container: InputContainer, size: int) -> MediaInfo:
    audio = _audio_stream(container)
    video = _video_stream(container)
    if audio is None and video is None:
        raise MediaError("not_media", f"{container.format.name} holds no audio or video stream")
    return MediaInfo(
        container=container.format.name,
        kind="video" if video is not None else "audio",
        duration=_header_duration(container),
        audio_codec=_codec_name(audio),
        video_codec=_codec_name(video),
        width=(video.codec_context.width or None) if video is not None else None,
        height=(video.codec_context.height or None) if video is not None else None,
        size=size,
    )


def _audio_stream(container: InputContainer) -> AudioStream | None:
    return next(iter(container.streams.audio), None)


def _video_stream(container: InputContainer) -> VideoStream | None:
    # An MP3's cover art is a one-frame "video" stream; it does not make the file a video.
    moving = (s for s in container.streams.video if not s.disposition & Disposition.attached_pic)
    return next(moving, None)


def _codec_name(stream: Stream | None) -> str | None:
    context = stream.codec_context if stream is not None else None
    return context.name if context is not None else None


def _header_duration(container: InputContainer) -> float | None:
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    claims = [c for c in (_claimed(s) for s in container.streams) if c is not None]
    return max(claims, default=None)


def _claimed(stream: Stream) -> float | None:
    if not stream.duration or stream.time_base is None:
        return None
    return float(stream.duration * stream.time_base)


def _verify_streams(container: InputContainer, kind: Kind, max_duration: float | None) -> float:
    """Decode all the audio and the first video frames; returns the seconds found.

    Decode errors mean the data stops making sense part-way: for a received file that is
    almost always a cut upload, so they count as "truncated".
    """
    audio, video = _audio_stream(container), _video_stream(container)
    streams = [s for s in (audio, video) if s is not None]
    spans = {s.index: _Span() for s in streams}
    frames = 0
    try:
        for packet in container.demux(*streams):
            span = spans[packet.stream.index]
            if audio is not None and packet.stream.index == audio.index:
                for frame in audio.decode(packet):  # what packet.decode() does, typed
                    span.seconds += frame.samples / frame.sample_rate
            else:
                if frames < _VIDEO_FRAMES_TO_DECODE:
                    frames += len(packet.decode())
                span.add_packet(packet.pts, packet.duration, packet.time_base)
            if max_duration is not None and span.seconds > max_duration:
                raise too_long(kind, span.seconds, max_duration)
    except av.FFmpegError as exc:
        raise truncated(kind, f"decoding failed: {exc}") from exc
    if video is not None and frames == 0:
        raise MediaError("unreadable", "no video frame could be decoded")
    for stream in streams:
        _check_complete(kind, stream, spans[stream.index].seconds)
    return max(span.seconds for span in spans.values())


class _Span:
    """Seconds of one stream: summed audio samples, or first-to-last video packet time."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start: float | None = None

    def add_packet(self, pts: int | None, duration: int | None, time_base: Fraction | None) -> None:
        if pts is None or time_base is None:
            return
        start = float(pts * time_base)
        end = float((pts + (duration or 0)) * time_base)
        self._start = start if self._start is None else min(self._start, start)
        self.seconds = max(self.seconds, end - self._start)


def _check_complete(kind: Kind, stream: Stream, found: float) -> None:
    claimed = _claimed(stream)
    if claimed is None:
        return
    if claimed - found > max(_MIN_MISSING_SECONDS, _MIN_MISSING_SHARE * claimed):
        raise truncated(kind, f"{stream.type} header claims {claimed:.2f} s, found {found:.2f} s")


def _ogg_pages_complete(path: str | os.PathLike[str], size: int) -> bool:
    """Walk the Ogg page chain to the end of the file.

    FFmpeg silently drops a half page and reports the duration of the last whole one, so a
    voice note cut in two would otherwise pass as a shorter, valid one.
    """
    offset = 0
    with open(path, "rb") as fh:
        while offset < size:
            fh.seek(offset)
            header = fh.read(27)
            if not header.startswith(b"OggS"):
                return True  # trailing bytes that are not a page: odd, but not a cut page
            if len(header) < 27:
                return False
            lacing = fh.read(header[26])
            if len(lacing) < header[26]:
                return False
            offset += 27 + len(lacing) + sum(lacing)
    return offset == size

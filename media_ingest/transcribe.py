"""Persian speech to text with faster-whisper (CTranslate2, int8 on CPU), loaded once a process.

openai-whisper can stand behind the same :class:`Transcriber` interface as an optional extra;
faster-whisper is the default because it runs int8 on a CPU at several times the speed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import av

from peygir.media_ingest.whisper_model import not_fetched, resolve

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

LANGUAGE = "fa"


class NoAudio(ValueError):
    """The file holds no sound Whisper could hear (a picture, a text, an empty file)."""


def check_audio(path: str | Path) -> None:
    """Raise :class:`NoAudio`, in plain words, unless FFmpeg finds an audio stream in ``path``."""
    if Path(path).stat().st_size == 0:
        raise NoAudio(f"{path} is empty: there is no audio in it")
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise NoAudio(f"{path} has no audio ({container.format.long_name}, no sound "
                              "track): give a voice note or a video with sound")
    except av.FFmpegError as exc:
        raise NoAudio(f"{path} has no audio: FFmpeg cannot read it as sound or video "
                      f"({exc.strerror or exc})") from exc


@dataclass(frozen=True)
class Transcript:
    text: str
    duration: float  # seconds of audio
    seconds: float  # how long transcription took


class Transcriber:
    """One Whisper model per process, shared by every caller (and thread)."""

    _models: dict[tuple[str, str, str], WhisperModel] = {}  # noqa: RUF012 - a process-wide cache
    _lock = threading.Lock()

    def __init__(self, model: str = "", device: str = "cpu", compute_type: str = "int8",
                 beam_size: int = 5, hotwords: str | None = None) -> None:
        self.model_name = resolve(model)
        self.device = device
        self.compute_type = compute_type
        self.beam_size = beam_size
        self.hotwords = hotwords

    @property
    def model(self) -> WhisperModel:
        key = (self.model_name, self.device, self.compute_type)
        with self._lock:
            if key not in self._models:
                from faster_whisper import WhisperModel  # heavy: only when first needed

                try:
                    self._models[key] = WhisperModel(self.model_name, device=self.device,
                                                     compute_type=self.compute_type)
                except (OSError, ValueError) as exc:
                    if Path(self.model_name).is_dir():  # a folder's own trouble: as it is
                        raise
                    # A name, and the hub unreachable or the name unknown: one plain line
                    # (ModelMissing) instead of huggingface_hub's traceback.
                    raise not_fetched(self.model_name, exc) from exc
            return self._models[key]

    def transcribe(self, path: str | Path) -> Transcript:
        started = time.perf_counter()
        check_audio(path)  # a picture would reach the decoder as an IndexError
        text, duration = self._decode(path, self.hotwords)
        if self.hotwords and echoes_hints(text, self.hotwords):
            # On a note it cannot make out, Whisper may read its hint words back instead
            # («… سرعت‌گیر اتوبوس تاکسی …»), which would offer the citizen services nobody
            # named. Such a note is decoded again without them.
            text, duration = self._decode(path, None)
        return Transcript(text=text, duration=duration, seconds=time.perf_counter() - started)

    def _decode(self, path: str | Path, hotwords: str | None) -> tuple[str, float]:
        # Chosen by measurement (bench/voice.py, espeak-ng Persian notes, base int8, 2 cores):
        # - temperature 0 only: faster-whisper's fallback re-decoded whole windows up to five
        #   times (notes at 0.7-1.6x real time) for no better text;
        # - 3-gram repetition blocked: it stopped the «شو ده شو ده…» loops;
        # - beam 5 with timestamp tokens: beam 3 without them was a quarter to a third faster
        #   but lost 3 of 50 dev lines' top-3 and the test's «درخت افتاده» note; the citizen
        #   waits a few seconds either way, and a wrong set of buttons costs more.
        segments, info = self.model.transcribe(
            str(path), language=LANGUAGE, beam_size=self.beam_size, temperature=0.0,
            no_repeat_ngram_size=3,
            condition_on_previous_text=False,  # keeps one misheard phrase from snowballing
            hotwords=hotwords,
        )
        text = " ".join(segment.text.strip() for segment in segments).strip()
        return text, float(info.duration)


ECHO_RUN = 3  # hint words in a row that no citizen says: Whisper reading its prompt back


def echoes_hints(text: str, hotwords: str) -> bool:
    """Whether ``text`` holds ``ECHO_RUN`` or more of the hint words one after another.

    Short words of multi-word hints («و» of «ساخت و ساز») are everyday speech, not echoes."""
    hints = {word for word in hotwords.split() if len(word) >= 3}
    run = 0
    for word in text.split():
        run = run + 1 if word in hints else 0
        if run >= ECHO_RUN:
            return True
    return False

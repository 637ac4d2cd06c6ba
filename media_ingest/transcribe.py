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

from media_ingest.whisper_model import resolve

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

LANGUAGE = "fa"


@dataclass(frozen=True)
class Transcript:
    text: str
    duration: float  # seconds of audio
    seconds: float  # how long transcription took


class Transcriber:
    """One Whisper model per process, shared by every caller (and thread)."""

    _models: dict[tuple[str, str, str], WhisperModel] = {}  # noqa: RUF012 - a process-wide cache
    _lock = threading.Lock()

    def __init__(self, model: str = "base", device: str = "cpu", compute_type: str = "int8",
                 beam_size: int = 5, prompt: str | None = None,
                 hotwords: str | None = None) -> None:
        self.model_name = resolve(model)
        self.device = device
        self.compute_type = compute_type
        self.beam_size = beam_size
        self.prompt = prompt
        self.hotwords = hotwords

    @property
    def model(self) -> WhisperModel:
        key = (self.model_name, self.device, self.compute_type)
        with self._lock:
            if key not in self._models:
                from faster_whisper import WhisperModel  # heavy: only when first needed

                self._models[key] = WhisperModel(self.model_name, device=self.device,
                                                 compute_type=self.compute_type)
            return self._models[key]

    def transcribe(self, path: str | Path) -> Transcript:
        started = time.perf_counter()
        # Chosen by measurement (bench/voice.py, espeak-ng Persian notes, base int8, 2 cores):
        # faster-whisper's temperature fallback re-decoded whole windows up to five times
        # (notes at 0.7-1.6x real time) for no better text; a single temperature of 0 with
        # 3-gram repetition blocked kept every note under 0.3x real time and stopped the
        # «شو ده شو ده…» loops, at a slightly better character error rate.
        segments, info = self.model.transcribe(
            str(path), language=LANGUAGE, beam_size=self.beam_size, temperature=0.0,
            no_repeat_ngram_size=3,
            condition_on_previous_text=False,  # keeps one misheard phrase from snowballing
            initial_prompt=self.prompt, hotwords=self.hotwords,
        )
        text = " ".join(segment.text.strip() for segment in segments).strip()
        return Transcript(text=text, duration=float(info.duration),
                          seconds=time.perf_counter() - started)

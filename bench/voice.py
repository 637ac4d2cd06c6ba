"""Benchmark voice notes: Whisper's speed and memory here, and the classifier on transcribed speech.

Run from the repository root::

    .venv/bin/python -m bench.voice [--pack DIR] [--dev FILE] [--model DIR] [--json FILE]
                                    [--skip-speed] [--skip-accuracy]

Speech is synthesised with espeak-ng (Persian voice) and converted with ffmpeg to 48 kHz mono
OGG/Opus, as Telegram sends voice notes. Prints three plain-text parts: speed (real-time factor
of ``media_ingest.transcribe.Transcriber`` on notes of about 5, 15 and 60 seconds, model load
time, peak memory, and decoding settings compared on the 15-second note), accuracy on speech
(the dev lines marked ``"voice": true``, transcribed and then classified, against the same lines
classified as typed), and the issue's targets beside the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.nlu import Prediction
    from peygir.media_ingest.transcribe import Transcriber

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PACK = ROOT.parent / "shared" / "eval" / "pack"
DEFAULT_DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"
CACHE = Path(tempfile.gettempdir()) / "peygir-bench-voice"  # synthesised notes, by text hash
MODEL_CACHE = Path(tempfile.gettempdir()) / "peygir-whisper-base"  # the assembled PyPI base

ESPEAK_VOICE = "fa"
ESPEAK_WPM = 150
REPEATS = 3
WORST = 10

# Targets from the issue.
TARGET_RTF = 0.15  # 15 s and 60 s notes, median
TARGET_PEAK_MB = 500.0
TARGET_VOICE_RATIO = 0.8  # voice top-3 / text top-3

# Notes for the speed figures, written for this benchmark (not taken from the dev set).
# At espeak-ng's 150 words a minute they last about 5, 15 and 60 seconds.
SPEED_NOTES: dict[str, str] = {
    "5 s": "سلام، چراغ کوچه‌ی ما دو شب است که روشن نمی‌شود.",
    "15 s": (
        "سلام وقت بخیر. از هفته‌ی پیش ماشین زباله به کوچه‌ی ما نیامده و کیسه‌ها کنار جدول "
        "مانده‌اند. بوی بدی همه جا را گرفته است. لطفاً زودتر کسی را بفرستید."
    ),
    "60 s": (
        "سلام، خسته نباشید. من در محله‌ی باغ ملی زندگی می‌کنم و می‌خواستم چند مشکل را با شما "
        "در میان بگذارم. اول این‌که درخت بزرگ سر کوچه‌ی ما کج شده و شاخه‌هایش روی سیم برق افتاده "
        "است. هر وقت باد می‌آید سیم‌ها تکان می‌خورند و جرقه می‌زنند. بچه‌های مدرسه هر روز صبح از "
        "زیر همین درخت رد می‌شوند و ما خیلی نگران هستیم. دوم این‌که آب باران در گوشه‌ی خیابان جمع "
        "می‌شود و چون آبراه پر از خاک و برگ است، آب به حیاط خانه‌ها می‌رود. سوم این‌که چند تا از "
        "نیمکت‌های پارک کنار رودخانه شکسته‌اند و سالمندان جایی برای نشستن ندارند. لطفاً یک نفر را "
        "بفرستید تا از نزدیک ببیند. اگر لازم بود عکس هم می‌فرستم. ممنون از زحمات شما."
    ),
}
RTF_TARGET_NOTES = ("15 s", "60 s")
COMPARE_NOTE = "15 s"


# ---------------------------------------------------------------- audio


def synthesise(text: str, cache: Path = CACHE) -> Path:
    """``text`` spoken by espeak-ng, as a 48 kHz mono OGG/Opus file; cached by the text's hash."""
    digest = hashlib.sha256(f"{ESPEAK_VOICE}|{ESPEAK_WPM}|{text}".encode()).hexdigest()[:20]
    target = cache / f"{digest}.ogg"
    if target.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as work:
        wav, ogg = Path(work) / "note.wav", Path(work) / "note.ogg"
        subprocess.run(
            ["espeak-ng", "-v", ESPEAK_VOICE, "-s", str(ESPEAK_WPM), "-w", str(wav), text],
            check=True, capture_output=True,
        )
        subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav),
             "-ar", "48000", "-ac", "1", "-c:a", "libopus", str(ogg)],
            check=True, capture_output=True,
        )
        ogg.replace(target)  # a half-written note is never left under the real name
    return target


def model_folder(model: Path | None) -> Path:
    if model is not None:
        return model
    from peygir.media_ingest.whisper_model import assemble_base

    return assemble_base(MODEL_CACHE)


# ---------------------------------------------------------------- scoring


def _spoken_form(text: str) -> str:
    """peygir's normalisation, then no whitespace, half-spaces or punctuation (none is spoken)."""
    from peygir.nlu.normalize import normalize

    return "".join(
        ch for ch in normalize(text)
        if not (ch.isspace() or ch == "\u200c" or unicodedata.category(ch).startswith("P"))
    )


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate: Levenshtein distance ÷ reference length, on :func:`_spoken_form`."""
    from rapidfuzz.distance import Levenshtein

    ref, hyp = _spoken_form(reference), _spoken_form(hypothesis)
    if not ref:
        return float("nan") if hyp else 0.0
    return Levenshtein.distance(ref, hyp) / len(ref)


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


# ---------------------------------------------------------------- speed


@dataclass
class NoteSpeed:
    note: str
    audio_s: float
    seconds: list[float]  # transcription wall time per repetition
    rtf: float  # median seconds / audio seconds
    rtf_max: float
    cer: float  # of the first repetition
    transcript: str


@dataclass
class Memory:
    before_load_mb: float
    after_load_mb: float
    peak_mb: float  # after transcribing the 60 s note
    hwm_mb: float | None  # VmHWM from /proc/self/status, where there is one
    audio_s: float
    seconds: float


@dataclass
class Decoding:
    beam_size: int
    temperature: str
    timestamps: bool
    seconds: list[float]
    rtf: float
    cers: list[float]
    cer: float  # median over repetitions
    fallback_segments: int  # segments decoded at a temperature above 0, over all repetitions
    segments: int


@dataclass
class Speed:
    import_s: float
    load_s: list[float]
    notes: list[NoteSpeed] = field(default_factory=list)
    memory: Memory | None = None
    decoding: list[Decoding] = field(default_factory=list)


def time_load(folder: Path, repeats: int) -> tuple[float, list[float], Transcriber]:
    """Seconds to import faster-whisper, then to load the model ``repeats`` times from scratch."""
    started = time.perf_counter()
    import faster_whisper  # noqa: F401 - timed: the import is part of the first load

    import_s = time.perf_counter() - started
    from peygir.media_ingest.transcribe import Transcriber

    loads: list[float] = []
    transcriber = Transcriber(str(folder))
    for _ in range(repeats):
        Transcriber._models.clear()  # drop the process-wide model so the next access loads it
        transcriber = Transcriber(str(folder))
        started = time.perf_counter()
        _ = transcriber.model
        loads.append(time.perf_counter() - started)
    return import_s, loads, transcriber


def time_note(transcriber: Transcriber, name: str, text: str, repeats: int) -> NoteSpeed:
    path = synthesise(text)
    seconds: list[float] = []
    rtfs: list[float] = []
    first = None
    for _ in range(repeats):
        result = transcriber.transcribe(path)
        if first is None:
            first = result
        seconds.append(result.seconds)
        rtfs.append(result.seconds / result.duration)
    assert first is not None
    return NoteSpeed(
        note=name, audio_s=first.duration, seconds=seconds, rtf=_median(rtfs),
        rtf_max=max(rtfs), cer=cer(text, first.text), transcript=first.text,
    )


_MEMORY_PROBE = """
import json, resource, sys

def peak_mb():
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1 << 20) if sys.platform == "darwin" else rss / 1024

def hwm_mb():  # Linux: this process's own high-water mark, whatever its parent's size
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None

before = peak_mb()
from peygir.media_ingest.transcribe import Transcriber
transcriber = Transcriber(sys.argv[1])
transcriber.model
loaded = peak_mb()
result = transcriber.transcribe(sys.argv[2])
print(json.dumps({"before_load_mb": before, "after_load_mb": loaded, "peak_mb": peak_mb(),
                  "hwm_mb": hwm_mb(), "audio_s": result.duration, "seconds": result.seconds}))
"""


def measure_memory(folder: Path, note: Path) -> Memory:
    """RSS high-water mark of a fresh process that loads the model and transcribes ``note``.

    Linux carries the parent's high-water mark into ``ru_maxrss`` of a child it spawns (the
    parent's memory is accounted at exec), so this runs before the parent loads any model, and
    the child's own ``VmHWM`` is reported beside it.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                    os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(folder), str(note)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )
    return Memory(**json.loads(done.stdout.strip().splitlines()[-1]))


def default_temperature() -> tuple[float, ...]:
    from faster_whisper import WhisperModel

    default = inspect.signature(WhisperModel.transcribe).parameters["temperature"].default
    return tuple(default) if isinstance(default, list | tuple) else (float(default),)


def compare_decoding(transcriber: Transcriber, text: str, repeats: int) -> list[Decoding]:
    """beam 5, 3 and 1, temperature fallback vs 0, timestamp tokens or none, called on the
    model directly (no hint words)."""
    path = synthesise(text)
    fallback = default_temperature()
    settings: list[tuple[int, tuple[float, ...] | float, str, bool]] = [
        (5, fallback, "fallback", True), (5, 0.0, "0", True), (1, fallback, "fallback", True),
        (1, 0.0, "0", True), (5, 0.0, "0", False), (3, 0.0, "0", False),
    ]
    rows = []
    for beam, temperature, label, timestamps in settings:
        seconds: list[float] = []
        cers: list[float] = []
        fallbacks = segments = 0
        duration = 1.0
        for _ in range(repeats):
            started = time.perf_counter()
            pieces, info = transcriber.model.transcribe(
                str(path), language="fa", beam_size=beam, temperature=temperature,
                condition_on_previous_text=False, without_timestamps=not timestamps,
            )
            decoded = list(pieces)  # segments are decoded lazily, as they are read
            seconds.append(time.perf_counter() - started)
            duration = float(info.duration)
            cers.append(cer(text, " ".join(s.text.strip() for s in decoded)))
            segments += len(decoded)
            fallbacks += sum(1 for s in decoded if s.temperature > 0)
        rows.append(Decoding(
            beam_size=beam, temperature=label, timestamps=timestamps, seconds=seconds,
            rtf=_median(seconds) / duration, cers=cers, cer=_median(cers),
            fallback_segments=fallbacks, segments=segments,
        ))
    return rows


def run_speed(folder: Path, repeats: int, hotwords: str | None = None
              ) -> tuple[Speed, Transcriber]:
    _progress("speed: peak memory in a fresh process (60 s note)")
    memory = measure_memory(folder, synthesise(SPEED_NOTES["60 s"]))  # before this one grows
    import_s, loads, transcriber = time_load(folder, repeats)
    transcriber.hotwords = hotwords  # as `peygir serve` runs it: the pack's words as hints
    speed = Speed(import_s=import_s, load_s=loads, memory=memory)
    for name, text in SPEED_NOTES.items():
        _progress(f"speed: {name} note x{repeats}")
        speed.notes.append(time_note(transcriber, name, text, repeats))
    _progress(f"speed: decoding settings on the {COMPARE_NOTE} note")
    speed.decoding = compare_decoding(transcriber, SPEED_NOTES[COMPARE_NOTE], repeats)
    return speed, transcriber


# ---------------------------------------------------------------- accuracy


@dataclass
class VoiceLine:
    text: str
    expected: str
    transcript: str
    audio_s: float
    seconds: float
    cer: float
    voice_got: str
    voice_score: float
    text_got: str
    voice_top1: bool
    voice_top3: bool
    text_top1: bool
    text_top3: bool


@dataclass
class Accuracy:
    lines: list[VoiceLine]

    def share(self, attribute: str) -> float:
        hits = sum(bool(getattr(line, attribute)) for line in self.lines)
        return hits / len(self.lines) if self.lines else float("nan")

    @property
    def ratio(self) -> float:
        text_top3 = self.share("text_top3")
        return self.share("voice_top3") / text_top3 if text_top3 else float("nan")

    @property
    def mean_cer(self) -> float:
        return statistics.fmean(line.cer for line in self.lines) if self.lines else float("nan")


def load_voice_lines(path: Path) -> list[tuple[str, tuple[str, str | None]]]:
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.strip():
            continue
        row = json.loads(raw)
        if not row.get("voice"):
            continue
        expect = row["expect"]
        kind = expect["kind"]
        key = {"service": expect.get("code"), "faq": expect.get("id")}.get(kind)
        lines.append((row["text"], (kind, key)))
    return lines


def run_accuracy(transcriber: Transcriber, pack_dir: Path, dev: Path) -> Accuracy:
    from bench.nlu import PeygirPredictor, _label_text, is_top1, is_top3
    from peygir.config.pack import load_pack

    pack = load_pack(pack_dir)
    predictor = PeygirPredictor(pack)
    transcriber.hotwords = pack.hotwords  # as `peygir serve` runs it: the pack's words as hints
    examples = load_voice_lines(dev)
    _progress(f"accuracy: synthesising {len(examples)} notes")
    notes = [synthesise(text) for text, _ in examples]
    lines = []
    for i, ((text, expected), note) in enumerate(zip(examples, notes, strict=True), 1):
        if i % 10 == 0 or i == 1:
            _progress(f"accuracy: transcribing {i}/{len(examples)}")
        heard = transcriber.transcribe(note)
        voice: Prediction = predictor.predict(heard.text)
        typed: Prediction = predictor.predict(text)
        lines.append(VoiceLine(
            text=text, expected=_label_text(expected), transcript=heard.text,
            audio_s=heard.duration, seconds=heard.seconds, cer=cer(text, heard.text),
            voice_got=_label_text(voice.label), voice_score=voice.score,
            text_got=_label_text(typed.label),
            voice_top1=is_top1(expected, voice), voice_top3=is_top3(expected, voice),
            text_top1=is_top1(expected, typed), text_top3=is_top3(expected, typed),
        ))
    return Accuracy(lines=lines)


# ---------------------------------------------------------------- report


def _progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def _ok(passed: bool | None) -> str:
    return "-" if passed is None else ("yes" if passed else "NO")


def speed_report(speed: Speed, settings: str) -> str:
    loads = speed.load_s
    lines = [
        f"faster-whisper import {speed.import_s:.2f} s; model load median {_median(loads):.2f} s "
        f"(runs: {', '.join(f'{s:.2f}' for s in loads)})",
        f"Transcriber settings: {settings}",
        "",
        f"{'note':<6}{'audio s':>9}{'median s':>10}{'RTF':>7}{'max RTF':>9}{'CER':>7}"
        f"{'target RTF':>12}{'ok':>5}  runs s",
    ]
    lines.append("-" * len(lines[-1]))
    for n in speed.notes:
        target = n.note in RTF_TARGET_NOTES
        lines.append(
            f"{n.note:<6}{n.audio_s:>9.1f}{_median(n.seconds):>10.2f}{n.rtf:>7.2f}{n.rtf_max:>9.2f}"
            f"{n.cer:>7.2f}{(f'<= {TARGET_RTF:g}' if target else '-'):>12}"
            f"{_ok(n.rtf <= TARGET_RTF if target else None):>5}  "
            + ", ".join(f"{s:.2f}" for s in n.seconds)
        )
    if speed.memory is not None:
        m = speed.memory
        lines += [
            "",
            f"peak memory (ru_maxrss, fresh process): {m.before_load_mb:.0f} MB at start, "
            f"{m.after_load_mb:.0f} MB after loading the model, {m.peak_mb:.0f} MB after "
            f"transcribing the {m.audio_s:.0f} s note (in {m.seconds:.1f} s); "
            f"target <= {TARGET_PEAK_MB:g} MB: {_ok(m.peak_mb <= TARGET_PEAK_MB)}"
            + (f"; VmHWM {m.hwm_mb:.0f} MB" if m.hwm_mb is not None else ""),
        ]
    if speed.decoding:
        temps = ", ".join(f"{t:g}" for t in default_temperature())
        audio = next((n.audio_s for n in speed.notes if n.note == COMPARE_NOTE), float("nan"))
        lines += [
            "",
            f"DECODING SETTINGS on the {COMPARE_NOTE} note ({audio:.1f} s), model.transcribe "
            "called directly, condition_on_previous_text=False; fallback = faster-whisper's "
            f"default ({temps}); CER = median over runs",
            f"{'beam':>4}  {'temperature':<12}{'timestamps':<11}{'median s':>9}{'RTF':>7}{'CER':>7}"
            f"{'fallback segs':>15}  runs s / CER",
        ]
        lines.append("-" * len(lines[-1]))
        for d in speed.decoding:
            runs = ", ".join(f"{s:.2f}/{c:.2f}" for s, c in zip(d.seconds, d.cers, strict=True))
            lines.append(
                f"{d.beam_size:>4}  {d.temperature:<12}{'yes' if d.timestamps else 'no':<11}"
                f"{_median(d.seconds):>9.2f}{d.rtf:>7.2f}"
                f"{d.cer:>7.2f}{f'{d.fallback_segments}/{d.segments}':>15}  {runs}"
            )
    return "\n".join(lines)


def accuracy_report(accuracy: Accuracy) -> str:
    lines_ = accuracy.lines
    audio = sum(line.audio_s for line in lines_)
    spent = sum(line.seconds for line in lines_)
    cers = sorted(line.cer for line in lines_)
    out = [
        f"{len(lines_)} notes, {audio:.0f} s of audio transcribed in {spent:.0f} s "
        f"(RTF {spent / audio if audio else float('nan'):.2f}, slowest note RTF "
        f"{max((line.seconds / line.audio_s for line in lines_), default=float('nan')):.2f}); "
        f"CER mean {accuracy.mean_cer:.3f}, median {_median(cers):.3f}",
        "",
        f"{'input':<8}{'top-1':>8}{'top-3':>8}",
        "-" * 24,
        f"{'text':<8}{100 * accuracy.share('text_top1'):>7.1f}%"
        f"{100 * accuracy.share('text_top3'):>7.1f}%",
        f"{'voice':<8}{100 * accuracy.share('voice_top1'):>7.1f}%"
        f"{100 * accuracy.share('voice_top3'):>7.1f}%",
        "",
        f"voice top-3 / text top-3 = {accuracy.ratio:.2f} (target >= {TARGET_VOICE_RATIO:g}: "
        f"{_ok(accuracy.ratio >= TARGET_VOICE_RATIO)})",
    ]
    return "\n".join(out)


def worst_report(accuracy: Accuracy, count: int) -> str:
    worst = sorted(accuracy.lines, key=lambda line: line.cer, reverse=True)[:count]
    out = []
    for line in worst:
        mark = "top-1" if line.voice_top1 else "top-3" if line.voice_top3 else "miss"
        out += [
            f"CER {line.cer:.2f} (RTF {line.seconds / line.audio_s:.2f})  expected "
            f"{line.expected}; voice -> {line.voice_got} "
            f"({line.voice_score:.2f}, {mark}); text -> {line.text_got}",
            f"  said:  {line.text}",
            f"  heard: {line.transcript}",
        ]
    return "\n".join(out)


def targets(speed: Speed | None, accuracy: Accuracy | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    rtfs: list[float] = []  # every Transcriber call measured
    if speed is not None:
        for n in speed.notes:
            rtfs += [s / n.audio_s for s in n.seconds]
            if n.note in RTF_TARGET_NOTES:
                rows.append({"target": f"RTF {n.note} note <= {TARGET_RTF:g}",
                             "figure": f"{n.rtf:.2f}", "met": n.rtf <= TARGET_RTF})
    if accuracy is not None:
        rtfs += [line.seconds / line.audio_s for line in accuracy.lines]
    if rtfs:
        rows.append({"target": "no note slower than real time (RTF <= 1)",
                     "figure": f"max {max(rtfs):.2f} over {len(rtfs)} transcriptions",
                     "met": max(rtfs) <= 1.0})
    if speed is not None and speed.memory is not None:
        rows.append({"target": f"peak memory <= {TARGET_PEAK_MB:g} MB",
                     "figure": f"{speed.memory.peak_mb:.0f} MB",
                     "met": speed.memory.peak_mb <= TARGET_PEAK_MB})
    if accuracy is not None:
        rows.append({"target": f"voice top-3 >= {TARGET_VOICE_RATIO:g} x text top-3",
                     "figure": f"{accuracy.share('voice_top3'):.2f} / "
                               f"{accuracy.share('text_top3'):.2f} = {accuracy.ratio:.2f}",
                     "met": accuracy.ratio >= TARGET_VOICE_RATIO})
    return rows


def targets_report(rows: Sequence[dict[str, Any]]) -> str:
    out = [f"{'target':<44}{'figure':<34}met", "-" * 82]
    out += [f"{r['target']:<44}{r['figure']:<34}{_ok(r['met'])}" for r in rows]
    return "\n".join(out)


# ---------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.voice",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pack", type=Path, default=DEFAULT_PACK, help="city pack folder")
    parser.add_argument("--dev", type=Path, default=DEFAULT_DEV,
                        help='labelled dev.jsonl (its "voice": true lines are spoken)')
    parser.add_argument("--model", type=Path,
                        help=f"CTranslate2 Whisper folder (default: the PyPI base, assembled "
                             f"into {MODEL_CACHE})")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="timed runs per figure")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--skip-speed", action="store_true", help="no speed or memory figures")
    parser.add_argument("--skip-accuracy", action="store_true", help="no accuracy on speech")
    return parser.parse_args(argv)


def _settings_text(transcriber: Transcriber) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in vars(transcriber).items() if k != "model_name")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.nlu import machine_info
    from bench.steal import cpu_ticks, steal_share

    started = time.perf_counter()
    ticks_at_start = cpu_ticks()
    info = machine_info(None)
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    print(f"machine: Python {info['python']} ({info['implementation']}), {info['cpu']}, "
          f"{info['cpu_count']} CPUs ({allowed} allowed), not pinned")
    folder = model_folder(args.model)
    print(f"model: {folder}; speech: espeak-ng -v {ESPEAK_VOICE} -s {ESPEAK_WPM} -> ffmpeg "
          f"48 kHz mono OGG/Opus, cached in {CACHE}")

    speed: Speed | None = None
    transcriber: Transcriber | None = None
    if not args.skip_speed:
        from peygir.config.pack import load_pack

        speed, transcriber = run_speed(folder, args.repeats, load_pack(args.pack).hotwords)
        print(f"\nSPEED (Transcriber.transcribe on synthesised notes; RTF = transcription s / "
              f"audio s, median of {args.repeats}; CER of the first run)")
        print(speed_report(speed, _settings_text(transcriber)))

    accuracy: Accuracy | None = None
    if not args.skip_accuracy:
        if transcriber is None:
            from peygir.media_ingest.transcribe import Transcriber

            transcriber = Transcriber(str(folder))
        accuracy = run_accuracy(transcriber, args.pack, args.dev)
        print(f"\nACCURACY ON SPEECH (dev lines marked voice, spoken, transcribed with "
              f"{_settings_text(transcriber)}, classified with the pack at {args.pack}; "
              "text = the same lines as typed)")
        print(accuracy_report(accuracy))
        print(f"\n{WORST} WORST TRANSCRIPTS BY CER")
        print(worst_report(accuracy, WORST))

    rows = targets(speed, accuracy)
    print("\nTARGETS")
    print(targets_report(rows))
    elapsed = time.perf_counter() - started
    print(f"\nwall time {elapsed:.0f} s")
    print(steal_share(ticks_at_start, cpu_ticks()))
    return {
        "machine": info,
        "settings": {
            "pack": str(args.pack), "dev": str(args.dev), "model": str(folder),
            "repeats": args.repeats, "espeak_voice": ESPEAK_VOICE, "espeak_wpm": ESPEAK_WPM,
            "transcriber": _settings_text(transcriber) if transcriber else None,
        },
        "speed": asdict(speed) if speed else None,
        "accuracy": {
            "n": len(accuracy.lines), "mean_cer": accuracy.mean_cer,
            **{k: accuracy.share(k) for k in ("text_top1", "text_top3", "voice_top1",
                                              "voice_top3")},
            "voice_top3_over_text_top3": accuracy.ratio,
            "lines": [asdict(line) for line in accuracy.lines],
        } if accuracy else None,
        "targets": rows,
        "wall_s": elapsed,
    }


def main(argv: Sequence[str] | None = None) -> int:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # run as ``python bench/voice.py``
    args = parse_args(argv)
    figures = run(args)
    if args.json:
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=2), encoding="utf-8")
        print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What hostile chat messages cost the classifier: time and memory per message, both packs.

Run from the repository root::

    .venv/bin/python -m bench.adversarial [--runs N] [--eval-pack DIR] [--json FILE]

Each input is classified as ``peygir classify`` does it, with ``Classifier.analyse`` (that is
``classify`` without its memory of recent messages, so every run does the work). Per input and
pack: the median and the worst wall time of ``--runs`` runs (the first run is the cold one,
with the word-lookup cache still empty), and, from one more run, the peak of Python
allocations above what was live before it (tracemalloc) and how far the process's peak RSS
rose. An ordinary short report, measured in the same run, is the baseline. The verdict is
against :data:`TARGET_MS` (worst run) and :data:`TARGET_MIB` (tracemalloc peak).

The dialogue also runs ``normalize`` over the whole message before it classifies (that is
the text it stores); its median time and tracemalloc peak are shown alongside, once per input
(they do not depend on the pack), and are not part of the verdict.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from peygir.config.pack import Pack
    from peygir.nlu.classifier import Classifier

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_EVAL_PACK = ROOT.parent / "shared" / "eval" / "pack"
TARGET_MS = 20.0
TARGET_MIB = 10.0
RUNS = 7
PERSIAN_LETTERS = "ابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهی"
LATIN_LETTERS = "abcdefghijklmnopqrstuvwxyz"
# One of everything normalising has to deal with: half-space, diacritics, Arabic letter forms,
# tatweel, emoji, combining marks, a presentation-form ligature, bidi marks.
MIXED = ["\u200c", "\u064e", "\u0651", "ي", "ك", "ة", "ـ", "😡", "\u0301", "\u20dd", "ﻻ",
         "\u200f", "ب", "س", " "]
BASELINE = "سلام، سر کوچه ما یه چاله بزرگ وسط آسفالت هست که ماشینا توش میفتن"


@dataclass(frozen=True)
class Row:
    pack: str
    name: str
    chars: int
    median_ms: float
    worst_ms: float
    peak_mib: float
    rss_mib: float
    kind: str
    normalize_ms: float
    normalize_mib: float

    @property
    def ok(self) -> bool:
        return self.worst_ms <= TARGET_MS and self.peak_mib <= TARGET_MIB


# ---------------------------------------------------------------- inputs


def _letters(rng: random.Random, alphabet: str | Sequence[str], n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _words_up_to(words: Sequence[str], rng: random.Random, chars: int) -> str:
    """Words of the pack, in random order, joined by spaces to ``chars`` characters."""
    out: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(words)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:chars]


def pack_words(pack: Pack) -> list[str]:
    """Real words to build long real-looking messages from (read from the pack at run time)."""
    texts = [s.service_name for s in pack.services] + [k for s in pack.services for k in s.keywords]
    return sorted({w for t in texts for w in t.split() if w.isalpha()})


def inputs(words: Sequence[str], seed: int = 137) -> list[tuple[str, str]]:
    """(name, text) of every input, the baseline first; the same texts on every run."""
    rng = random.Random(seed)
    return [
        ("baseline: short report", BASELINE),
        ("Persian word, 1,200 letters", _letters(rng, PERSIAN_LETTERS, 1_200)),
        ("Persian word, 1,600 letters", _letters(rng, PERSIAN_LETTERS, 1_600)),
        ("Persian word, 20,000 letters", _letters(rng, PERSIAN_LETTERS, 20_000)),
        ("Latin word, 20,000 letters", _letters(rng, LATIN_LETTERS, 20_000)),
        ("pack words, 50,000 chars", _words_up_to(words, rng, 50_000)),
        ("one letter x 50,000", "ب" * 50_000),
        ("digits only, 50,000", _letters(rng, "0123456789", 50_000)),
        ("8-digit numbers x 5,000", " ".join(_letters(rng, "0123456789", 8) for _ in range(5_000))),
        ("9-digit numbers x 5,000", " ".join(_letters(rng, "0123456789", 9) for _ in range(5_000))),
        ("mixed marks/ZWNJ/emoji, 50,000", _letters(rng, MIXED, 50_000)),
        ("lone surrogates, 50,000", _letters(rng, ["\ud800", "\udfff", "ب", " "], 50_000)),
        ("RTL overrides, 50,000", _letters(rng, ["\u202e", "\u202d", "\u2067", "چاله", " "],
                                           50_000)[:50_000]),
        ("10,000 short words", " ".join(_letters(rng, PERSIAN_LETTERS, 2) for _ in range(10_000))),
        ("tabs and newlines, 50,000", "\t\n " * 16_666),
        ("ligature U+FDFA x 50,000", "\ufdfa" * 50_000),
        ("detached suffixes x 16,665", "کوچه" + " ها" * 16_665),
    ]


# ---------------------------------------------------------------- measuring


def _rss_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _times_ms(step: Callable[[str], object], text: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        step(text)
        times.append(1000 * (time.perf_counter() - started))
    return times


def _peak_mib(step: Callable[[str], object], text: str) -> float:
    """Peak of Python allocations during one call, above what was live before it."""
    tracemalloc.start()
    live = tracemalloc.get_traced_memory()[0]
    step(text)
    peak = tracemalloc.get_traced_memory()[1] - live
    tracemalloc.stop()
    return peak / 2**20


def measure(pack_name: str, name: str, text: str, classifier: Classifier, runs: int,
            normalized: tuple[float, float]) -> Row:
    rss_before = _rss_peak_mib()
    times = _times_ms(classifier.analyse, text, runs)
    peak = _peak_mib(classifier.analyse, text)
    return Row(pack_name, name, len(text), statistics.median(times), max(times), peak,
               _rss_peak_mib() - rss_before, classifier.analyse(text).kind, *normalized)


def measure_normalize(text: str, runs: int) -> tuple[float, float]:
    from peygir.nlu.normalize import normalize

    return statistics.median(_times_ms(normalize, text, runs)), _peak_mib(normalize, text)


def table(rows: Sequence[Row]) -> str:
    head = (f"{'pack':<8}{'input':<32}{'chars':>7}{'median ms':>10}{'worst ms':>9}"
            f"{'peak MiB':>9}{'RSS+ MiB':>9}  {'kind':<8}{'verdict':<8}"
            f"{'normalize ms':>13}{'MiB':>7}")
    lines = [head, "-" * len(head)]
    for r in rows:
        verdict = "ok" if r.ok else "OVER"
        lines.append(f"{r.pack:<8}{r.name:<32}{r.chars:>7}{r.median_ms:>10.3f}{r.worst_ms:>9.3f}"
                     f"{r.peak_mib:>9.3f}{r.rss_mib:>9.1f}  {r.kind:<8}{verdict:<8}"
                     f"{r.normalize_ms:>13.3f}{r.normalize_mib:>7.2f}")
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.adversarial",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="timed runs per input")
    parser.add_argument("--eval-pack", type=Path, default=DEFAULT_EVAL_PACK,
                        help="the second city's pack")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> list[Row]:
    from bench.nlu import machine_info, pin_to_one_core
    from peygir.config.pack import load_pack
    from peygir.nlu.classifier import Classifier

    pinned = pin_to_one_core()
    info = machine_info(pinned)
    print(f"machine: Python {info['python']}, {info['cpu']}, {info['cpu_count']} CPUs, "
          + (f"pinned to CPU {pinned}" if pinned is not None else "not pinned"))
    packs = [("default", load_pack()), ("eval", load_pack(args.eval_pack))]
    texts = inputs(pack_words(packs[0][1]))
    normalized = {name: measure_normalize(text, args.runs) for name, text in texts}
    rows = []
    for pack_name, pack in packs:
        classifier = Classifier(pack)
        for name, text in texts:
            rows.append(measure(pack_name, name, text, classifier, args.runs, normalized[name]))
    print(f"\nClassifier.analyse per input: {args.runs} runs (median, worst), then one under "
          "tracemalloc (peak above live); RSS+ = rise of the process's peak RSS; verdict: worst "
          f"<= {TARGET_MS:g} ms and peak <= {TARGET_MIB:g} MiB. normalize: the dialogue's pass "
          "over the whole message (median ms, peak MiB), not in the verdict")
    print(table(rows))
    over = [r for r in rows if not r.ok]
    print(f"\nverdict: {len(rows) - len(over)}/{len(rows)} within {TARGET_MS:g} ms and "
          f"{TARGET_MIB:g} MiB" + (f"; OVER: {', '.join(r.name for r in over)}" if over else ""))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # run as ``python bench/adversarial.py``
    args = parse_args(argv)
    rows = run(args)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], ensure_ascii=False, indent=2),
                             encoding="utf-8")
        print(f"\nfigures written to {args.json}")
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

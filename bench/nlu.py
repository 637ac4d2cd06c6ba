"""Benchmark peygir's intent classifier against two baselines fitted on the same city pack.

Run from the repository root::

    .venv/bin/python -m bench.nlu [--pack DIR] [--dev FILE] [--grow N] [--json FILE] [--errors]

The pack's own phrases (service names, descriptions, keywords and examples; FAQ questions and
variants) are the only training data any system sees; ``dev.jsonl`` is only scored against.
Prints three plain-text parts: accuracy per expected kind (top-1 and top-3), per-message
latency of ``Classifier.classify`` on the pack as is and on a synthetically grown pack, and the
baselines' latency for comparison.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from peygir.config.pack import Pack
    from peygir.nlu.classifier import Classifier, Intent

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PACK = ROOT.parent / "shared" / "eval" / "pack"
DEFAULT_DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"

KINDS = ("service", "faq", "status", "greeting", "unknown")
LABELLED_KINDS = ("service", "faq")  # kinds whose answer names an entry
FUZZ_CUTOFF = 60.0  # WRatio below this: the rapidfuzz baseline answers "unknown"
SVC_THRESHOLD = 0.0  # best decision value below this: the SVC baseline answers "unknown"
LATENCY_REPEATS = 5
PERSIAN_LETTERS = "ابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهی"

Label = tuple[str, str | None]  # (kind, service code or FAQ id; None for the other kinds)


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class Example:
    text: str
    expected: Label


@dataclass(frozen=True)
class Prediction:
    label: Label
    score: float
    top3: tuple[Label, ...]  # three picks: the top-1 when it names an entry, then the next best


class Predictor(Protocol):
    name: str

    def predict(self, text: str) -> Prediction: ...


def load_dev(path: Path) -> list[Example]:
    examples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        expect = row["expect"]
        kind = expect["kind"]
        key = {"service": expect.get("code"), "faq": expect.get("id")}.get(kind)
        examples.append(Example(text=row["text"], expected=(kind, key)))
    return examples


def pack_phrases(pack: Pack) -> tuple[list[str], list[Label]]:
    """Every phrase of the pack with the entry it belongs to: the baselines' training data."""
    phrases: list[str] = []
    labels: list[Label] = []

    def add(texts: Iterable[str], label: Label) -> None:
        for text in texts:
            if text and text.strip():
                phrases.append(text)
                labels.append(label)

    for s in pack.services:
        add([s.service_name, s.description, *s.keywords, *s.examples], ("service", s.service_code))
    for f in pack.faqs:
        add([f.question, *f.variants], ("faq", f.id))
    return phrases, labels


def check_dev_against_pack(examples: Sequence[Example], pack: Pack) -> list[str]:
    known = {("service", s.service_code) for s in pack.services}
    known |= {("faq", f.id) for f in pack.faqs}
    return [
        f"dev expects {e.expected[0]} {e.expected[1]!r}, which the pack lacks"
        for e in examples
        if e.expected[0] in LABELLED_KINDS and e.expected not in known
    ]


def _dedupe(labels: Iterable[Label]) -> list[Label]:
    return list(dict.fromkeys(labels))


def _top3(top: Label, ranked: Sequence[Label]) -> tuple[Label, ...]:
    """Three slots: the top answer (if it names an entry) plus the best other candidates."""
    head = [top] if top[0] in LABELLED_KINDS else []
    return tuple((head + [label for label in ranked if label != top])[:3])


# ---------------------------------------------------------------- systems


class PeygirPredictor:
    name = "peygir"

    def __init__(self, pack: Pack, classifier: Classifier | None = None) -> None:
        from peygir.nlu.classifier import Classifier

        self.classifier = classifier or Classifier(pack)

    def predict(self, text: str) -> Prediction:
        return self.read(self.classifier.analyse(text))

    @staticmethod
    def read(intent: Intent) -> Prediction:
        """What an intent says, as the benches score it."""
        kind = intent.kind
        key = intent.code if kind == "service" else intent.faq_id if kind == "faq" else None
        # The same three the dialogue offers as buttons (Intent.choices).
        return Prediction(label=(kind, key), score=float(intent.score), top3=intent.choices(3))


class FuzzBaseline:
    """rapidfuzz WRatio nearest phrase; "unknown" when the best score is under FUZZ_CUTOFF."""

    name = "rapidfuzz-WRatio"

    def __init__(self, pack: Pack, cutoff: float = FUZZ_CUTOFF) -> None:
        self.phrases, self.labels = pack_phrases(pack)
        self.cutoff = cutoff

    def predict(self, text: str) -> Prediction:
        from rapidfuzz import fuzz, process, utils

        best = process.extractOne(
            text, self.phrases, scorer=fuzz.WRatio, processor=utils.default_process
        )
        matches = process.extract(
            text, self.phrases, scorer=fuzz.WRatio, processor=utils.default_process, limit=None
        )
        ranked = _dedupe(self.labels[index] for _, _, index in matches)
        score = float(best[1]) if best else 0.0
        top = self.labels[best[2]] if best and score >= self.cutoff else ("unknown", None)
        return Prediction(label=top, score=score / 100, top3=_top3(top, ranked))


class SvcBaseline:
    """TF-IDF char_wb 2-5-grams + LinearSVC; "unknown" when the best decision < SVC_THRESHOLD."""

    name = "tfidf-LinearSVC"

    def __init__(self, pack: Pack, threshold: float | None = SVC_THRESHOLD) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.svm import LinearSVC

        phrases, labels = pack_phrases(pack)
        self.classes: list[Label] = _dedupe(labels)
        index = {label: i for i, label in enumerate(self.classes)}
        self.vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
        features = self.vectorizer.fit_transform(phrases)
        self.model = LinearSVC(random_state=0)
        self.model.fit(features, [index[label] for label in labels])
        self.threshold = threshold

    def predict(self, text: str) -> Prediction:
        scores = self.model.decision_function(self.vectorizer.transform([text]))[0]
        order = scores.argsort()[::-1]
        ranked = [self.classes[self.model.classes_[i]] for i in order[:4]]
        best = float(scores[order[0]])
        below = self.threshold is not None and best < self.threshold
        top: Label = ("unknown", None) if below else ranked[0]
        return Prediction(label=top, score=best, top3=_top3(top, ranked))

    def without_threshold(self) -> SvcBaseline:
        """The same fitted model, never answering "unknown": how well it ranks entries alone."""
        variant = copy.copy(self)
        variant.threshold = None
        variant.name = f"{self.name.removeprefix('tfidf-')}-nocutoff"
        return variant


# ---------------------------------------------------------------- accuracy


@dataclass
class KindScore:
    n: int = 0
    top1: int = 0
    top3: int = 0

    def as_dict(self) -> dict[str, float | int]:
        return {"n": self.n, "top1": _ratio(self.top1, self.n), "top3": _ratio(self.top3, self.n)}


@dataclass
class Miss:
    text: str
    expected: str
    got: str
    score: float


@dataclass
class Evaluation:
    system: str
    by_kind: dict[str, KindScore] = field(default_factory=dict)
    misses: list[Miss] = field(default_factory=list)


def _ratio(hits: int, n: int) -> float:
    return hits / n if n else float("nan")


def _label_text(label: Label) -> str:
    return label[0] if label[1] is None else f"{label[0]}:{label[1]}"


def is_top1(expected: Label, prediction: Prediction) -> bool:
    return prediction.label == expected


def is_top3(expected: Label, prediction: Prediction) -> bool:
    if is_top1(expected, prediction):
        return True
    return expected[0] in LABELLED_KINDS and expected in prediction.top3


def evaluate(predictor: Predictor, examples: Sequence[Example]) -> Evaluation:
    result = Evaluation(system=predictor.name)
    result.by_kind = {kind: KindScore() for kind in (*KINDS, "overall")}
    for example in examples:
        prediction = predictor.predict(example.text)
        top1 = is_top1(example.expected, prediction)
        top3 = is_top3(example.expected, prediction)
        for kind in (example.expected[0], "overall"):
            score = result.by_kind.setdefault(kind, KindScore())
            score.n += 1
            score.top1 += top1
            score.top3 += top3
        if not top1:
            result.misses.append(Miss(
                text=example.text, expected=_label_text(example.expected),
                got=_label_text(prediction.label), score=prediction.score,
            ))
    return result


# ---------------------------------------------------------------- latency


@dataclass
class Latency:
    system: str
    pack_entries: int
    build_s: float
    calls: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    vocab: int  # distinct whitespace-separated words over the pack's phrases


def percentile(sorted_values: Sequence[int], p: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return float(sorted_values[rank - 1])


def time_calls(call: Callable[[str], Any], texts: Sequence[str], repeats: int) -> list[int]:
    """Nanoseconds per call, over ``repeats`` passes, after one untimed warm-up pass."""
    for text in texts:
        call(text)
    timings: list[int] = []
    clock = time.perf_counter_ns
    for _ in range(repeats):
        for text in texts:
            start = clock()
            call(text)
            timings.append(clock() - start)
    return timings


def measure(
    name: str, build: Callable[[], Predictor], pack: Pack, texts: Sequence[str], repeats: int,
) -> tuple[Predictor, Latency]:
    start = time.perf_counter()
    predictor = build()
    build_s = time.perf_counter() - start
    timings = sorted(time_calls(predictor.predict, texts, repeats))
    latency = Latency(
        system=name, pack_entries=len(pack.services) + len(pack.faqs), build_s=build_s,
        calls=len(timings), p50_ms=percentile(timings, 50) / 1e6,
        p99_ms=percentile(timings, 99) / 1e6, mean_ms=sum(timings) / len(timings) / 1e6,
        vocab=vocabulary_size(pack),
    )
    return predictor, latency


# ---------------------------------------------------------------- grown pack


class _Vocabulary:
    """Words and phrases of the real pack, plus new Persian-looking words made on demand."""

    def __init__(self, pack: Pack, rng: random.Random) -> None:
        self.rng = rng
        self.names = [s.service_name for s in pack.services]
        self.descriptions = [s.description for s in pack.services if s.description]
        self.keywords = [k for s in pack.services for k in s.keywords]
        self.examples = [e for s in pack.services for e in s.examples]
        self.questions = [f.question for f in pack.faqs]
        self.variants = [v for f in pack.faqs for v in f.variants]
        self.answers = [f.answer for f in pack.faqs]
        phrases, _ = pack_phrases(pack)
        self.words = sorted({w for p in phrases for w in p.split()})
        self.fresh: list[str] = []

    def new_word(self) -> str:
        length = self.rng.randint(3, 8)
        word = "".join(self.rng.choice(PERSIAN_LETTERS) for _ in range(length))
        self.fresh.append(word)
        return word

    def word(self) -> str:
        """A real word, a new word, or a new word seen before (so new words recur a little)."""
        roll = self.rng.random()
        if roll < 0.65:
            return self.rng.choice(self.words)
        if roll < 0.9 and self.fresh:
            return self.rng.choice(self.fresh)
        return self.new_word()

    def recombine(self, source: Sequence[str], new_words: int = 1) -> str:
        """A real phrase, words shuffled, some swapped for others, plus up to ``new_words``."""
        words = self.rng.choice(source).split()
        if self.rng.random() < 0.5:
            words += self.rng.choice(source).split()[: self.rng.randint(1, 3)]
        self.rng.shuffle(words)
        words = [self.word() if self.rng.random() < 0.3 else w for w in words]
        for _ in range(new_words):
            new = self.new_word() if self.rng.random() < 0.5 else self.word()
            words.insert(self.rng.randint(0, len(words)), new)
        return " ".join(words[:14])


def _synthetic_service(vocab: _Vocabulary, code: str, groups: Sequence[str]) -> Any:
    from peygir.config.pack import MUNICIPAL, Service

    rng = vocab.rng
    keywords = [
        rng.choice(vocab.keywords) if rng.random() < 0.5 else f"{vocab.word()} {vocab.word()}"
        for _ in range(rng.randint(3, 6))
    ]
    return Service(
        service_code=code,
        service_name=vocab.recombine(vocab.names),
        group=rng.choice(groups),
        jurisdiction=MUNICIPAL,
        description=vocab.recombine(vocab.descriptions, new_words=2),
        keywords=tuple(dict.fromkeys(keywords)),
        examples=tuple(vocab.recombine(vocab.examples) for _ in range(rng.randint(2, 4))),
    )


def _synthetic_faq(vocab: _Vocabulary, faq_id: str, groups: Sequence[str]) -> Any:
    from peygir.config.pack import FaqEntry

    rng = vocab.rng
    return FaqEntry(
        id=faq_id,
        question=vocab.recombine(vocab.questions),
        answer=vocab.recombine(vocab.answers, new_words=3),
        group=rng.choice(groups),
        variants=tuple(vocab.recombine(vocab.variants) for _ in range(rng.randint(3, 5))),
    )


def grow_pack(pack: Pack, total: int, seed: int, *, services: int | None = None) -> Pack:
    """The pack plus synthetic services and FAQs, ``total`` entries in all, same mix of kinds;
    with ``services``, that many services in all (the pack's own included) and FAQs the rest."""
    from peygir.config.pack import Pack

    have = len(pack.services) + len(pack.faqs)
    extra = max(0, total - have)
    rng = random.Random(seed)
    vocab = _Vocabulary(pack, rng)
    if services is None:
        n_services = round(extra * len(pack.services) / have)
    else:
        n_services = min(extra, max(0, services - len(pack.services)))
    service_groups = sorted({s.group for s in pack.services})
    faq_groups = sorted({f.group for f in pack.faqs}) or [""]
    new_services = [
        _synthetic_service(vocab, f"syn_{i:04d}", service_groups) for i in range(1, n_services + 1)
    ]
    faqs = [
        _synthetic_faq(vocab, f"synfaq_{i:04d}", faq_groups)
        for i in range(1, extra - n_services + 1)
    ]
    return Pack(
        folder=pack.folder, services=pack.services + tuple(new_services),
        faqs=pack.faqs + tuple(faqs),
    )


def vocabulary_size(pack: Pack) -> int:
    phrases, _ = pack_phrases(pack)
    return len({w for p in phrases for w in p.split()})


# ---------------------------------------------------------------- machine


def pin_to_one_core() -> int | None:
    """Pin this process to its first allowed CPU where the OS allows it; returns that CPU."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
    except (OSError, ValueError):
        return None
    return cpu


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(pinned: int | None) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "pinned_cpu": pinned,
    }


# ---------------------------------------------------------------- report


def _pct(value: float) -> str:
    return "    -" if math.isnan(value) else f"{100 * value:5.1f}"


def accuracy_table(evaluations: Sequence[Evaluation]) -> str:
    width = max(16, *(len(e.system) for e in evaluations))
    head1 = f"{'kind':<9}{'n':>5}  " + "  ".join(f"{e.system:^{width}}" for e in evaluations)
    head2 = f"{'':<9}{'':>5}  " + "  ".join(
        f"{'top-1':>{width // 2}}{'top-3':>{width - width // 2}}" for _ in evaluations
    )
    lines = [head1, head2, "-" * len(head1)]
    for kind in (*KINDS, "overall"):
        n = evaluations[0].by_kind[kind].n
        cells = []
        for e in evaluations:
            score = e.by_kind[kind]
            top1, top3 = _pct(_ratio(score.top1, n)), _pct(_ratio(score.top3, n))
            cells.append(f"{top1:>{width // 2}}{top3:>{width - width // 2}}")
        if kind == "overall":
            lines.append("-" * len(head1))
        lines.append(f"{kind:<9}{n:>5}  " + "  ".join(cells))
    return "\n".join(lines)


def latency_table(rows: Sequence[Latency]) -> str:
    head = (
        f"{'system':<18}{'entries':>8}{'vocab':>8}{'build s':>9}{'calls':>7}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.system:<18}{r.pack_entries:>8}{r.vocab:>8}{r.build_s:>9.3f}{r.calls:>7}{r.p50_ms:>9.3f}{r.p99_ms:>9.3f}{r.mean_ms:>9.3f}"
        )
    return "\n".join(lines)


def errors_listing(misses: Sequence[Miss]) -> str:
    lines = [f"{'expected':<28}{'got':<28}{'score':>6}  text"]
    for m in misses:
        lines.append(f"{m.expected:<28}{m.got:<28}{m.score:>6.2f}  {m.text}")
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.nlu", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pack", type=Path, default=DEFAULT_PACK, help="city pack folder")
    parser.add_argument("--dev", type=Path, default=DEFAULT_DEV, help="labelled dev.jsonl")
    parser.add_argument("--grow", type=int, default=2000, help="entries in the grown pack")
    parser.add_argument("--repeats", type=int, default=LATENCY_REPEATS, help="timed passes")
    parser.add_argument("--seed", type=int, default=137, help="seed for the grown pack")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--errors", action="store_true", help="list peygir's top-1 misses")
    return parser.parse_args(argv)


def _try_peygir(pack: Pack) -> tuple[Callable[[], Predictor] | None, str | None]:
    try:
        from peygir.nlu.classifier import Classifier  # noqa: F401
    except ImportError as exc:
        return None, f"nlu.classifier.Classifier not available ({exc})"
    return (lambda: PeygirPredictor(pack)), None


def run(args: argparse.Namespace) -> dict[str, Any]:
    from peygir.config.pack import load_pack

    pinned = pin_to_one_core()
    info = machine_info(pinned)
    print(
        f"machine: Python {info['python']} ({info['implementation']}), {info['cpu']}, "
        f"{info['cpu_count']} CPUs, "
        + (f"pinned to CPU {pinned}" if pinned is not None else "not pinned")
    )
    pack = load_pack(args.pack)
    examples = load_dev(args.dev)
    texts = [e.text for e in examples]
    print(f"pack: {args.pack} ({len(pack.services)} services, {len(pack.faqs)} FAQs, "
          f"{len(pack_phrases(pack)[0])} phrases); dev: {args.dev} ({len(examples)} messages)")
    for warning in check_dev_against_pack(examples, pack):
        print(f"warning: {warning}")

    build_peygir, missing = _try_peygir(pack)
    builders: list[tuple[str, Callable[[], Predictor]]] = []
    if build_peygir is not None:
        builders.append(("peygir", build_peygir))
    else:
        print(f"note: peygir skipped: {missing}")
    builders.append((FuzzBaseline.name, lambda: FuzzBaseline(pack)))
    builders.append((SvcBaseline.name, lambda: SvcBaseline(pack)))

    evaluations: list[Evaluation] = []
    latencies: list[Latency] = []
    for name, build in builders:
        predictor, latency = measure(name, build, pack, texts, args.repeats)
        evaluations.append(evaluate(predictor, examples))
        latencies.append(latency)
        if isinstance(predictor, SvcBaseline):  # same model and latency; accuracy only
            evaluations.append(evaluate(predictor.without_threshold(), examples))

    if build_peygir is not None and args.grow > len(pack.services) + len(pack.faqs):
        grown = grow_pack(pack, args.grow, args.seed)
        _, latency = measure("peygir (grown)", lambda: PeygirPredictor(grown), grown, texts,
                             args.repeats)
        latencies.insert(1, latency)

    print(f"\nACCURACY on {len(examples)} dev messages (% correct; "
          f"rapidfuzz: unknown when WRatio < {FUZZ_CUTOFF:g}; "
          f"LinearSVC: unknown when max decision < {SVC_THRESHOLD:g}, "
          "-nocutoff: never unknown; baselines never answer status/greeting)")
    print(accuracy_table(evaluations))
    print(f"\nLATENCY per message ({args.repeats} timed passes over the dev set after one warm-up "
          "pass; build = index construction; vocab = distinct whitespace words in the pack)")
    print(latency_table(latencies))

    peygir_eval = next((e for e in evaluations if e.system == "peygir"), None)
    if args.errors and peygir_eval is not None:
        print(f"\nPEYGIR TOP-1 MISSES ({len(peygir_eval.misses)})")
        print(errors_listing(peygir_eval.misses))

    return {
        "machine": info,
        "settings": {
            "pack": str(args.pack), "dev": str(args.dev), "grow": args.grow,
            "repeats": args.repeats, "seed": args.seed,
            "fuzz_cutoff": FUZZ_CUTOFF, "svc_threshold": SVC_THRESHOLD,
        },
        "accuracy": {
            e.system: {k: s.as_dict() for k, s in e.by_kind.items()} for e in evaluations
        },
        "latency": [asdict(r) for r in latencies],
        "peygir_misses": [asdict(m) for m in peygir_eval.misses] if peygir_eval else None,
        "notes": [missing] if missing else [],
    }


def main(argv: Sequence[str] | None = None) -> int:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # run as ``python bench/nlu.py``
    args = parse_args(argv)
    figures = run(args)
    if args.json:
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=2), encoding="utf-8")
        print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

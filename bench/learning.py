"""How peygir learns from labelled history: a learning curve, the fusion's tuning, latency.

Run from the repository root::

    .venv/bin/python -m bench.learning [--pack DIR] [--dev FILE] [--tune] [--json FILE]

The dev set is cut into 5 folds (a fixed shuffle). For each share of history (0, 25, 50 and
100 %), each fold is scored by a ``Classifier`` built on the pack plus that share of the
*other* folds' service and FAQ lines as examples: no line is ever scored by a model that
learned from it. ``--tune`` scores a grid of fusion settings the same way and picks, for each
fold, the setting best on the other four folds (nested cross-validation), so the tuned figure
is honest too. Latency is ``Classifier.analyse`` with the pack plus 10,000 synthetic examples
(pack phrases with typos); training time is the pack alone and the pack plus 100,000.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.nlu import (
    DEFAULT_DEV,
    DEFAULT_PACK,
    LABELLED_KINDS,
    PeygirPredictor,
    is_top1,
    is_top3,
    load_dev,
    percentile,
    pin_to_one_core,
    time_calls,
)
from bench.nlu import (
    Example as DevLine,
)
from config.pack import Pack, load_pack
from nlu import classifier as classifier_module
from nlu.classifier import Classifier
from nlu.learned import TEMPERATURE, Example, LearnedModel, pack_phrases

FOLDS = 5
SHARES = (0.0, 0.25, 0.5, 1.0)
PERSIAN_LETTERS = "ابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهی"
# The fusion grid for --tune: learned weight, entry probability for a learned-only entry,
# softmax temperature.
WEIGHTS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
ENTERS = (0.3, 0.5, 0.7)
TEMPERATURES = (2.0, 4.0, 8.0)

Setting = tuple[float, float, float]


@dataclass
class Score:
    n: int = 0
    top1: int = 0
    top3: int = 0

    def add(self, top1: bool, top3: bool) -> None:
        self.n += 1
        self.top1 += top1
        self.top3 += top3

    def text(self) -> str:
        return f"{self.top1 / self.n:.3f} / {self.top3 / self.n:.3f}" if self.n else "-"


def folds(lines: Sequence[DevLine], seed: int) -> list[list[DevLine]]:
    order = list(lines)
    random.Random(seed).shuffle(order)
    return [order[k::FOLDS] for k in range(FOLDS)]


def history(lines: Sequence[DevLine], share: float, seed: int) -> list[Example]:
    """``share`` of the labelled lines, as the store would hand them over."""
    labelled = [line for line in lines if line.expected[0] in LABELLED_KINDS]
    chosen = random.Random(seed).sample(labelled, round(share * len(labelled)))
    return [Example(line.text, line.expected[0], str(line.expected[1]), 1.0) for line in chosen]


def with_typos(text: str, rng: random.Random) -> str:
    """A pack phrase as a hurried citizen types it: a letter dropped, doubled or swapped."""
    chars = list(text)
    for _ in range(rng.randint(1, 3)):
        if len(chars) < 3:
            break
        at = rng.randrange(len(chars))
        roll = rng.random()
        if roll < 0.4:
            del chars[at]
        elif roll < 0.7:
            chars.insert(at, rng.choice(PERSIAN_LETTERS))
        else:
            chars[at] = rng.choice(PERSIAN_LETTERS)
    return "".join(chars)


def synthetic(pack: Pack, n: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    phrases = pack_phrases(pack)
    out = []
    for _ in range(n):
        text, label = rng.choice(phrases)
        kind, key = label.split(":", 1)
        out.append(Example(with_typos(text, rng), kind, key, 1.0))
    return out


def set_fusion(classifier: Classifier, setting: Setting) -> None:
    weight, enter, temperature = setting
    classifier.learned_weight = weight
    classifier.learned_enter = enter
    if classifier.learned is not None:
        classifier.learned.temperature = temperature


def score_line(predictor: PeygirPredictor, line: DevLine) -> tuple[bool, bool]:
    prediction = predictor.predict(line.text)
    return is_top1(line.expected, prediction), is_top3(line.expected, prediction)


def learning_curve(pack: Pack, lines: Sequence[DevLine], seed: int, tune: bool) -> dict:
    parts = folds(lines, seed)
    default: Setting = (classifier_module.LEARNED_WEIGHT, classifier_module.LEARNED_ENTER,
                        TEMPERATURE)
    grid = list(itertools.product(WEIGHTS, ENTERS, TEMPERATURES)) if tune else []
    report: dict = {}
    for share in SHARES:
        shipped = {"overall": Score(), "service": Score()}
        # grid[setting][fold] = (overall top-1, top-3) hits, for the nested choice
        hits: dict[Setting, list[tuple[int, int, Score, Score]]] = {s: [] for s in grid}
        for k, held_out in enumerate(parts):
            others = [line for j, part in enumerate(parts) if j != k for line in part]
            examples = history(others, share, seed + k)
            predictor = PeygirPredictor.__new__(PeygirPredictor)
            predictor.classifier = Classifier(pack, examples=examples)
            for line in held_out:  # as shipped: the defaults Classifier picks itself
                top1, top3 = score_line(predictor, line)
                shipped["overall"].add(top1, top3)
                if line.expected[0] == "service":
                    shipped["service"].add(top1, top3)
            if grid and predictor.classifier.learned is None:
                # Cold start ships without a model; the grid needs one to weigh.
                predictor.classifier = Classifier(pack, examples=examples, learned_weight=1.0)
            for setting in grid:
                set_fusion(predictor.classifier, setting)
                overall, service = Score(), Score()
                for line in held_out:
                    top1, top3 = score_line(predictor, line)
                    overall.add(top1, top3)
                    if line.expected[0] == "service":
                        service.add(top1, top3)
                hits[setting].append((overall.top1, overall.top3, overall, service))
        row = {name: score.__dict__ for name, score in shipped.items()}
        print(f"history {share:>4.0%} ({len(examples):>3} examples a fold)  shipped: "
              f"overall {shipped['overall'].text()}  service {shipped['service'].text()}")
        if grid:
            nested = {"overall": Score(), "service": Score()}
            chosen = []
            for k in range(FOLDS):
                best = max(grid, key=lambda s: (
                    sum(h[0] for j, h in enumerate(hits[s]) if j != k),
                    sum(h[1] for j, h in enumerate(hits[s]) if j != k),
                    -s[0],  # the smaller weight of equals: closer to the matcher alone
                ))
                chosen.append(best)
                for name, index in (("overall", 2), ("service", 3)):
                    picked = hits[best][k][index]
                    nested[name].n += picked.n
                    nested[name].top1 += picked.top1
                    nested[name].top3 += picked.top3
            overall_best = max(grid, key=lambda s: (
                sum(h[0] for h in hits[s]), sum(h[1] for h in hits[s]), -s[0]))
            print(f"{'':>30}nested-tuned: overall {nested['overall'].text()}  service "
                  f"{nested['service'].text()}  (settings per fold: {chosen})")
            print(f"{'':>30}best on all folds: {overall_best}; weight 0 (matcher alone): "
                  f"{_total(hits, (0.0, ENTERS[0], TEMPERATURES[0]))}; default {default}: "
                  f"{_total(hits, default) if default in hits else '-'}; that best: "
                  f"{_total(hits, overall_best)}")
            row["nested"] = {name: score.__dict__ for name, score in nested.items()}
            row["chosen"] = chosen
            row["best"] = overall_best
        report[f"{share:.2f}"] = row
    return report


def _total(hits: dict, setting: Setting) -> str:
    rows = hits[setting]
    n = sum(r[2].n for r in rows)
    return f"{sum(r[0] for r in rows) / n:.3f} / {sum(r[1] for r in rows) / n:.3f}"


def latency(pack: Pack, lines: Sequence[DevLine], seed: int, repeats: int) -> dict:
    examples = synthetic(pack, 10_000, seed)
    start = time.perf_counter()
    classifier = Classifier(pack, examples=examples)
    build = time.perf_counter() - start
    texts = [line.text for line in lines]
    timings = sorted(time_calls(classifier.analyse, texts, repeats))
    matcher = Classifier(pack, learned_weight=0.0)
    alone = sorted(time_calls(matcher.analyse, texts, repeats))
    figures = {
        "build_s_10k": build,
        "p50_ms": percentile(timings, 50) / 1e6, "p99_ms": percentile(timings, 99) / 1e6,
        "matcher_p50_ms": percentile(alone, 50) / 1e6,
        "matcher_p99_ms": percentile(alone, 99) / 1e6,
    }
    print(f"latency, pack + 10,000 examples: p50 {figures['p50_ms']:.3f} ms, p99 "
          f"{figures['p99_ms']:.3f} ms (matcher alone p50 {figures['matcher_p50_ms']:.3f}, "
          f"p99 {figures['matcher_p99_ms']:.3f}); Classifier built in {build:.2f} s")
    return figures


def train_time(pack: Pack, seed: int, sizes: Sequence[int]) -> dict:
    figures = {}
    for n in sizes:
        examples = synthetic(pack, n, seed) if n else []
        start = time.perf_counter()
        model = LearnedModel.train(pack, examples)
        elapsed = time.perf_counter() - start
        figures[str(n)] = elapsed
        size = model._weights.nbytes / 2**20 if model else 0.0
        print(f"train, pack + {n:>7,} examples: {elapsed:6.2f} s  (weights {size:.1f} MiB)")
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pack", type=Path, default=DEFAULT_PACK)
    parser.add_argument("--dev", type=Path, default=DEFAULT_DEV)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tune", action="store_true", help="score the fusion grid (nested CV)")
    parser.add_argument("--train-sizes", default="0,10000,100000")
    parser.add_argument("--skip-curve", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    print(f"pinned to one CPU: {pin_to_one_core()}")
    pack = load_pack(args.pack)
    lines = load_dev(args.dev)
    report: dict = {}
    if not args.skip_curve:
        report["curve"] = learning_curve(pack, lines, args.seed, args.tune)
    report["latency"] = latency(pack, lines, args.seed, args.repeats)
    report["train_s"] = train_time(pack, args.seed, [int(n) for n in args.train_sizes.split(",")])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=list), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

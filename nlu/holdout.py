"""Checking a retrained classifier before it serves: a held-back slice of the examples.

One example in ten, chosen by its digest (the same in every process and on every retrain), is
kept out of the model that is checked, and both the serving model's check and the new one's
are scored on it: neither has learned from those lines, so the comparison is fair. The model
that then serves is trained on every example, the held-back ones too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from peygir.nlu.classifier import Classifier

HELD_BACK_ONE_IN = 10
MAX_SCORED = 2000  # the newest held-back lines scored: bounded time for any history


class HeldExample(Protocol):
    @property
    def text(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def digest(self) -> str: ...


E = TypeVar("E", bound=HeldExample)


def held_back(digest: str) -> bool:
    """Whether an example belongs to the checking slice; its digest is a sha256 hex string."""
    try:
        return int(digest[:8], 16) % HELD_BACK_ONE_IN == 0
    except ValueError:
        return False


def split(examples: Sequence[E]) -> tuple[list[E], list[E]]:
    """(to train on, held back), each in the order given."""
    train: list[E] = []
    held: list[E] = []
    for example in examples:
        (held if held_back(example.digest) else train).append(example)
    return train, held[-MAX_SCORED:]


def top1_hits(classifier: Classifier, examples: Sequence[HeldExample]) -> int:
    """How many examples the classifier names first: the entry it acts on or offers first
    (an "unknown" or a greeting names none)."""
    hits = 0
    for example in examples:
        intent = classifier.analyse(example.text)
        named = intent.code if intent.kind == "service" else intent.faq_id
        hits += intent.kind == example.kind and named == example.key
    return hits

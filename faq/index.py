"""What of an FAQ entry the matcher indexes, and how much each part says about the entry.

The classifier ranks FAQ entries and services together in one index (their scores share one
scale), so this module only hands it the texts and their field weights; it builds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from peygir.config.faq_entry import FaqEntry

# Field weights, on the classifier's scale (a service keyword or name is 1.0): the question is
# the entry's own wording, a variant one citizen's way of asking it.
W_QUESTION = 0.85
W_VARIANT = 0.5


@dataclass(frozen=True)
class IndexedField:
    texts: tuple[str, ...]
    weight: float
    phrase: bool  # two adjacent words of one text, met in order, earn the phrase bonus


def indexed_fields(faq: FaqEntry) -> tuple[IndexedField, ...]:
    """The entry's texts and their weights, question first: the order they were always
    indexed in, so the shared index (and every ranking) comes out the same."""
    return (
        IndexedField((faq.question,), W_QUESTION, phrase=True),
        IndexedField(faq.variants, W_VARIANT, phrase=False),
    )

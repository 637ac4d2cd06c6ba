"""The choice of answer: what a citizen is told for an FAQ entry, and what the button that
offers it says. Plain text only; the conversation wraps it in its own reply and button types.

An id the pack does not hold (a button offered before the pack was edited, a classifier built
on another pack) gets ``None``, for the caller to answer as it sees fit rather than fail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from peygir.config.faq_entry import FaqEntry
    from peygir.config.pack import Pack


def _entry(pack: Pack, faq_id: str) -> FaqEntry | None:
    return pack.faq_by_id.get(faq_id)


def answer_text(pack: Pack, faq_id: str) -> str | None:
    """The answer to send for ``faq_id``, as the pack words it."""
    entry = _entry(pack, faq_id)
    return entry.answer if entry else None


def offer_label(pack: Pack, faq_id: str) -> str | None:
    """The label of the button that offers ``faq_id``: its question, which is what a citizen
    recognises as theirs among the choices."""
    entry = _entry(pack, faq_id)
    return entry.question if entry else None

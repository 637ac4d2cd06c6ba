"""Labelled examples: messages with the service or FAQ entry they meant, for the classifier.

Rows come from a city's history (``peygir learn``), from operators' corrections and from
citizens' choices. Each is keyed by a digest of its normalised text, kind and key, so the same
message labelled the same way is stored once however often it arrives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from tortoise.transactions import in_transaction

from peygir.ticket_store.db import column
from peygir.ticket_store.models import ExampleKind, ExampleSource, LabelledExample

MAX_TEXT = 4000  # characters: the longest report a citizen can send
BATCH = 1000  # rows per transaction: long imports commit as they go and hold no lock for long

# How much one example counts: a citizen's own pick is a weaker label than staff's.
WEIGHTS: dict[ExampleSource, float] = {
    ExampleSource.IMPORT: 1.0,
    ExampleSource.OPERATOR: 1.0,
    ExampleSource.CITIZEN: 0.5,
}


@dataclass(frozen=True)
class NewExample:
    """A labelled message to store."""

    text: str
    kind: str  # "service" or "faq"
    key: str  # the service code or FAQ id
    source: str = ExampleSource.IMPORT


@dataclass(frozen=True)
class Example:
    """A stored example, as the classifier reads it."""

    text: str
    kind: str
    key: str
    weight: float
    # Bookkeeping, not part of what the example says (two equal examples teach the same):
    # the row's id (rows after the newest one a model has seen are new) and its digest
    # (stable across processes: which examples are held back for checking).
    id: int = field(default=0, compare=False)
    digest: str = field(default="", compare=False)


@dataclass(frozen=True)
class AddResult:
    added: int
    duplicates: int  # already stored, or repeated within the rows given


def digest(normalised_text: str, kind: str, key: str) -> str:
    # NUL cannot occur in a code or id, so no two triples give the same bytes.
    raw = "\0".join((normalised_text, str(kind), key)).encode("utf-8")
    return hashlib.sha256(raw).hexdigest()


def _batches(rows: Iterable[NewExample], size: int) -> Iterator[list[NewExample]]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def _checked(row: NewExample) -> LabelledExample:
    # Callers check their input and say what is wrong; these are programming errors.
    kind, source = ExampleKind(row.kind), ExampleSource(row.source)
    if not row.text.strip() or len(row.text) > MAX_TEXT:
        raise ValueError(f"example text must have 1 to {MAX_TEXT} characters")
    if not row.key or len(row.key) > 64:
        raise ValueError("example key must have 1 to 64 characters")
    return LabelledExample(text=row.text, kind=kind, key=row.key, source=source,
                           weight=WEIGHTS[source])


async def add_examples(rows: Iterable[NewExample], *, normalise: Callable[[str], str],
                       batch_size: int = BATCH) -> AddResult:
    """Store the rows not stored yet, one transaction per batch.

    ``normalise`` is the NLU's text normalisation (the store knows no Persian): two spellings
    it makes equal are one example.
    """
    added = duplicates = 0
    for batch in _batches(rows, batch_size):
        fresh: dict[str, LabelledExample] = {}
        for row in batch:
            model = _checked(row)
            model.digest = digest(normalise(row.text), model.kind, model.key)
            fresh.setdefault(model.digest, model)
        async with in_transaction():
            known = set(await column(LabelledExample.filter(digest__in=list(fresh))
                                     .values_list("digest", flat=True)))
            new = [model for key, model in fresh.items() if key not in known]
            # A concurrent import may have written some meanwhile: skip those, not fail.
            await LabelledExample.bulk_create(new, ignore_conflicts=True)
        added += len(new)
        duplicates += len(batch) - len(new)
    return AddResult(added=added, duplicates=duplicates)


async def record_label(text: str, kind: str, key: str, source: ExampleSource, *,
                       normalised: str, ticket_id: int | None = None,
                       citizen_id: int | None = None) -> bool:
    """One label from the running service (an operator's correction, a citizen's pick), in
    the caller's transaction: it is written with the change it comes from, or not at all.
    ``normalised`` is ``text`` as the NLU normalises it (the digest's input); the ticket or
    citizen it came from lets retention remove it with their words. True when new."""
    row = _checked(NewExample(text=text[:MAX_TEXT], kind=kind, key=key, source=source))
    row.digest = digest(normalised, row.kind, row.key)
    row.ticket_id, row.citizen_id = ticket_id, citizen_id
    if await LabelledExample.filter(digest=row.digest).exists():
        return False
    await LabelledExample.bulk_create([row], ignore_conflicts=True)
    return True


async def load_examples() -> list[Example]:
    """Every stored example, oldest first (by id), so the model trained on them is the same
    in every process."""
    rows = await LabelledExample.all().order_by("id").values_list(
        "id", "text", "kind", "key", "weight", "digest")
    return [Example(text=text, kind=str(kind), key=key, weight=float(weight), id=row_id,
                    digest=row_digest)
            for row_id, text, kind, key, weight, row_digest in rows]


async def count_newer(example_id: int) -> int:
    """How many examples were stored after the one with this id: a cheap check for new
    labels, whichever process added them."""
    return await LabelledExample.filter(id__gt=example_id).count()


async def count_examples() -> int:
    return await LabelledExample.all().count()

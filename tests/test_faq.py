"""The FAQ package: its entries, what the matcher indexes of them, and the answer chosen."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from pydantic import ValidationError

import peygir.config.pack
from peygir.channels.memory import MemoryChannel
from peygir.config.faq_entry import FaqEntry
from peygir.config.pack import MUNICIPAL, Pack, Service
from peygir.conversation.dialogue import Dialogue
from peygir.faq.answers import answer_text, offer_label
from peygir.faq.index import W_QUESTION, W_VARIANT, IndexedField, indexed_fields
from peygir.nlu.classifier import W_KEYWORD, Classifier

# -- entries -------------------------------------------------------------------------------


def test_the_pack_holds_faq_entries(any_pack: Pack) -> None:
    assert peygir.config.pack.FaqEntry is FaqEntry  # the old import path still works
    assert any_pack.faqs and all(isinstance(f, FaqEntry) for f in any_pack.faqs)


def test_an_entry_is_strict() -> None:
    entry = FaqEntry(id="hours", question="  ساعت کاری؟ ", answer="شبانه‌روزی.", variants=None)
    assert entry.question == "ساعت کاری؟" and entry.variants == ()
    with pytest.raises(ValidationError, match="list of phrases"):
        FaqEntry(id="hours", question="ساعت کاری؟", answer="شبانه‌روزی.", variants="کی باز است")
    with pytest.raises(ValidationError, match="Extra inputs"):
        FaqEntry(id="hours", question="ساعت کاری؟", answer="شبانه‌روزی.", answr="")
    with pytest.raises(ValidationError):
        FaqEntry(id="ساعت", question="ساعت کاری؟", answer="شبانه‌روزی.")  # ids are ASCII


# -- index ---------------------------------------------------------------------------------


def test_question_is_a_phrase_and_variants_weigh_less(any_pack: Pack) -> None:
    faq = next(f for f in any_pack.faqs if f.variants)
    assert indexed_fields(faq) == (
        IndexedField((faq.question,), W_QUESTION, phrase=True),
        IndexedField(faq.variants, W_VARIANT, phrase=False),
    )
    # Below a service keyword: an FAQ's words join neither the trigram profiles nor the
    # strong words that speech-to-text repairs may rejoin into.
    assert W_VARIANT < W_QUESTION < W_KEYWORD


@pytest.mark.parametrize("which", ["default_pack", "eval_pack"])
def test_every_question_finds_its_entry(which: str, request: pytest.FixtureRequest) -> None:
    pack: Pack = request.getfixturevalue(which)
    classifier = Classifier(pack)
    missed = [f.id for f in pack.faqs if ("faq", f.id) not in classifier.classify(f.question)
              .choices(3)]
    assert not missed


# -- answers -------------------------------------------------------------------------------


def test_answer_and_label_come_from_the_entry(any_pack: Pack) -> None:
    for faq in any_pack.faqs:
        assert answer_text(any_pack, faq.id) == faq.answer
        assert offer_label(any_pack, faq.id) == faq.question


def test_an_id_the_pack_does_not_hold_has_no_answer(any_pack: Pack) -> None:
    assert answer_text(any_pack, "no_such_faq") is None
    assert offer_label(any_pack, "no_such_faq") is None
    assert answer_text(any_pack, any_pack.services[0].service_code) is None  # not an FAQ


async def test_a_dropped_faq_still_offered_in_a_chat_fails_nothing(
    db: str, default_pack: Pack, default_classifier: Classifier
) -> None:
    """The pack is edited and the service restarted while a citizen is choosing: the chat's
    saved choices still name the FAQ that is gone."""
    question, gone = "برای گرفتن پروانه ساختمانی چه مدارکی لازمه؟", "building_permit_documents"
    chat = MemoryChannel(Dialogue(default_pack, default_classifier))
    replies = await chat.say("erin", question)
    assert f"faq:{gone}" in [b.data for row in replies[-1].buttons for b in row]

    edited = replace(default_pack, faqs=tuple(f for f in default_pack.faqs if f.id != gone))
    chat.dialogue = Dialogue(edited, Classifier(edited))
    replies = await chat.say("erin", location=(35.7, 51.4))  # rebuilds the offered buttons
    offered = {b.data: b.label for row in replies[-1].buttons for b in row}
    assert offered[f"faq:{gone}"] == gone


# -- scale ---------------------------------------------------------------------------------


def grown(pack: Pack, services: int, faqs: int, seed: int = 15) -> Pack:
    """``pack`` grown to ``services`` services and ``faqs`` FAQ entries: each new entry is a
    real one with its phrases shuffled and one more word of the pack in each."""
    rng = random.Random(seed)
    words = sorted({w for f in pack.faqs for t in (f.question, *f.variants) for w in t.split()}
                   | {w for s in pack.services for t in (s.service_name, *s.keywords)
                      for w in t.split()})

    def mix(text: str) -> str:
        mixed = [*text.split(), rng.choice(words)]
        rng.shuffle(mixed)
        return " ".join(mixed)

    more_services = []
    for i in range(services - len(pack.services)):
        base = pack.services[i % len(pack.services)]
        more_services.append(Service(
            service_code=f"grown_{i:04d}", service_name=mix(base.service_name),
            group=base.group, jurisdiction=MUNICIPAL, description=base.description,
            keywords=tuple(mix(k) for k in base.keywords),
            examples=tuple(mix(e) for e in base.examples),
        ))
    more_faqs = []
    for i in range(faqs - len(pack.faqs)):
        base = pack.faqs[i % len(pack.faqs)]
        more_faqs.append(FaqEntry(
            id=f"grown_faq_{i:04d}", question=mix(base.question), answer=base.answer,
            group=base.group, variants=tuple(mix(v) for v in base.variants),
        ))
    return replace(pack, services=pack.services + tuple(more_services),
                   faqs=pack.faqs + tuple(more_faqs))


def test_a_thousand_faqs_beside_a_thousand_services(any_pack: Pack) -> None:
    """Tehran's centre aims at 1,000 FAQ entries: they are indexed with 1,000 services and
    each still answers its own question. (How fast: ``python -m bench.nlu --grow``.)"""
    pack = grown(any_pack, 1000, 1000)
    assert (len(pack.services), len(pack.faqs)) == (1000, 1000)
    classifier = Classifier(pack)
    found = 0
    for faq in pack.faqs:
        intent = classifier.classify(faq.question)
        if intent.kind == "faq":
            assert intent.faq_id is not None and answer_text(pack, intent.faq_id) is not None
        found += ("faq", faq.id) in intent.choices(3)
    # Twenty near-copies of each entry compete here; a real pack's entries differ more.
    assert found >= 0.95 * len(pack.faqs)

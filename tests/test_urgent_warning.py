"""The urgent-danger warning goes with the best guess, never with an alternative (issue 17).

A word an urgent subject shares with the message («افتاده», «شکسته») puts that subject among
the alternatives; the citizen whose pothole «افتاده» must not be told of a danger."""

import pytest

from peygir.channels.memory import MemoryChannel
from peygir.config.pack import Pack
from peygir.messages import texts
from peygir.nlu.classifier import Classifier
from peygir.nlu.normalize import normalize

WARNING = texts.PICK_ONE_URGENT.removesuffix(texts.PICK_ONE).strip()

# Not urgent at best, with an urgent subject (a fallen tree, an open pit) among the guesses.
CALM = [
    "سر کوچه ما یه چاله بزرگ افتاده",
    "یه دست‌انداز بزرگ افتاده توی کوچه",
]
# Urgent at best but not sure enough to file at once: the warning is due.
ALARMING = [
    "درپوش کانال نیست وسط پیاده رو",
    "یه سوراخ بزرگ وسط پیاده رو",
    "چاله کنار جدول درپوش نداره",
]


def urgent_alternative(classifier: Classifier, pack: Pack, text: str) -> bool:
    """Whether an urgent subject is among the choices offered after the best one."""
    offered = classifier.classify(normalize(text)).choices(3)[1:]
    return any(kind == "service" and pack.service_by_code[key].urgent for kind, key in offered)


@pytest.mark.parametrize("text", CALM)
async def test_no_warning_when_an_urgent_subject_is_only_an_alternative(
        chat: MemoryChannel, default_classifier: Classifier, default_pack: Pack,
        text: str) -> None:
    intent = default_classifier.classify(normalize(text))
    # The case the fix is about: not confident, best guess calm, an urgent one behind it.
    assert not intent.confident and intent.kind == "service", intent
    assert intent.code and not default_pack.service_by_code[intent.code].urgent, intent
    assert urgent_alternative(default_classifier, default_pack, text), intent
    replies = await chat.say("calm", text)
    assert replies[-1].text == texts.PICK_ONE, replies[-1].text
    assert WARNING not in replies[-1].text
    # The urgent subject is still offered: the citizen may pick it.
    offered = [b.data for row in replies[-1].buttons for b in row]
    urgent = [d for d in offered if d.startswith("svc:") and d[4:] in default_pack.service_by_code
              and default_pack.service_by_code[d[4:]].urgent]
    assert urgent, offered
    # Picked, it is flagged at once, as any urgent subject is.
    picked = await chat.say("calm", callback=urgent[0])
    assert any(r.text == texts.URGENT_NOTE for r in picked), picked


@pytest.mark.parametrize("text", ALARMING)
async def test_warning_when_the_best_guess_is_urgent(
        chat: MemoryChannel, default_classifier: Classifier, default_pack: Pack,
        text: str) -> None:
    intent = default_classifier.classify(normalize(text))
    assert not intent.confident and intent.kind == "service", intent
    replies = await chat.say("alarm", text)
    assert intent.code and default_pack.service_by_code[intent.code].urgent, intent
    assert WARNING in replies[-1].text, replies[-1].text

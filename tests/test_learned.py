"""The learned model beside the matcher (issue 15, item 1): it reads character n-grams the
matcher's words miss, it learns from labelled history, and it never decides alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from peygir.config.pack import Pack, Service
from peygir.nlu.classifier import Classifier, Intent
from peygir.nlu.learned import Example, LearnedModel, label_of
from peygir.nlu.normalize import match_tokens, normalize
from tests.hostile.test_classify_cost import HOSTILE, PEAK_BOUND, address_space_cap

ROOT = Path(__file__).resolve().parent.parent

# An invented word (no pack has it) that this test's citizens use for a pothole.
SLANG = "چولپه"
HISTORY = [
    f"کوچه ما پر از {SLANG} شده",
    f"{SLANG}‌های خیابان رو درست کنید",
    f"یه {SLANG} بزرگ جلو خونمونه",
    f"{SLANG} داره ماشینا رو داغون میکنه",
    f"تو بلوار {SLANG} زیاده",
]
MESSAGE = f"{SLANG}‌های محله ما"


def _pack_words(pack: Pack) -> set[str]:
    texts = [x for s in pack.services
             for x in (s.service_name, s.description, *s.keywords, *s.examples)]
    texts += [x for f in pack.faqs for x in (f.question, *f.variants)]
    return {t for text in texts for t in match_tokens(text)}


def _glued_keywords(pack: Pack) -> list[tuple[str, str]]:
    """Two-word keywords written as one word with each part's last letter dropped («چاله
    چوله» → «چالچول»): no whole word of the pack survives, most character n-grams do."""
    words = _pack_words(pack)
    out = []
    for service in pack.services:
        for keyword in service.keywords:
            parts = normalize(keyword).split()
            if len(parts) < 2:
                continue
            glued = "".join(w[:-1] if len(w) > 3 else w for w in parts)
            if not any(t in words for t in match_tokens(glued)):
                out.append((glued, service.service_code))
    return out


@pytest.fixture(scope="module")
def model(default_pack: Pack) -> LearnedModel:
    trained = LearnedModel.train(default_pack)
    assert trained is not None
    return trained


def test_reads_words_the_matcher_does_not_know(
        default_pack: Pack, model: LearnedModel, default_classifier: Classifier) -> None:
    cases = _glued_keywords(default_pack)
    assert len(cases) >= 100
    learned = sum(model.predict(normalize(text))[0][0] == label_of("service", code)
                  for text, code in cases)
    matcher = sum(default_classifier.classify(text).code == code for text, code in cases)
    # Measured: the learned model 437 of 495, the matcher 142.
    assert learned >= 0.75 * len(cases)
    assert learned > 2 * matcher


def test_probabilities_are_a_ranked_distribution(model: LearnedModel) -> None:
    ranked = model.predict(normalize("آسفالت کوچه چاله شده"), top=5)
    assert ranked[0][0] == "service:asphalt"
    probabilities = [p for _, p in ranked]
    assert probabilities == sorted(probabilities, reverse=True)
    assert 0.0 < sum(probabilities) <= 1.0 + 1e-9


def test_hand_transform_equals_sklearn(default_pack: Pack) -> None:
    """decision() redoes TfidfVectorizer + LinearSVC by hand; it must be the same sum."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    from peygir.nlu import learned as module

    phrases = module.pack_phrases(default_pack)
    texts = [normalize(t) for t, _ in phrases]
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=module.NGRAMS,
                                 sublinear_tf=True, max_features=module.MAX_FEATURES)
    svm = LinearSVC(random_state=0, tol=module.TOLERANCE, max_iter=module.MAX_PASSES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the stop is deliberate
        svm.fit(vectorizer.fit_transform(texts), [label for _, label in phrases])
    model = LearnedModel.train(default_pack)
    assert model is not None and list(model.labels) == list(svm.classes_)
    for text in ("درخت افتاده وسط کوچه", "ساعت کاری ۱۳۷", "zzz"):
        clean = normalize(text)
        expected = svm.decision_function(vectorizer.transform([clean]))[0]
        np.testing.assert_allclose(model.decision(clean), expected, atol=1e-3)


def test_history_changes_the_next_answer(default_pack: Pack) -> None:
    """The core of learning: a handful of labelled messages, and the next one like them is
    answered with their service."""
    examples = [Example(text, "service", "asphalt", 1.0) for text in HISTORY]
    before = Classifier(default_pack).classify(MESSAGE)
    after = Classifier(default_pack, examples=examples).classify(MESSAGE)
    assert ("service", "asphalt") not in before.choices(3)
    assert (after.kind, after.code) == ("service", "asphalt")
    # Learned alone (the matcher knows none of these words): offered, not acted on.
    assert not after.confident
    model = LearnedModel.train(default_pack, examples)
    assert model is not None and model.trained_on == len(HISTORY)
    assert model.predict(normalize(MESSAGE))[0][0] == "service:asphalt"


def test_history_where_the_matcher_agrees_can_make_it_confident(default_pack: Pack) -> None:
    """The matcher already scores «چاله» for asphalt; history saying the same lifts it."""
    text = "چاله چوله جلوی خونه"
    examples = [Example(t, "service", "asphalt", 1.0) for t in (*HISTORY, text + " ما")]
    plain = Classifier(default_pack, learned_weight=0.0).classify(text)
    fused = Classifier(default_pack, examples=examples).classify(text)
    assert fused.code == "asphalt"
    assert fused.score >= plain.score if plain.code == "asphalt" else fused.confident


def test_any_object_with_the_four_fields_is_an_example(default_pack: Pack) -> None:
    @dataclass(frozen=True)
    class StoreRow:  # what ticket_store hands over: not nlu.learned.Example
        text: str
        kind: str
        key: str
        weight: float

    rows = [StoreRow(text, "service", "asphalt", 2.0) for text in HISTORY]
    rows.append(StoreRow("مورد حذف شده", "service", "no_such_service", 1.0))  # skipped
    rows.append(StoreRow("وزن صفر", "service", "asphalt", 0.0))  # skipped
    model = LearnedModel.train(default_pack, rows)
    assert model is not None and model.trained_on == len(HISTORY)


def test_history_is_capped_per_entry_newest_kept(default_pack: Pack) -> None:
    old = [Example(f"{SLANG} قدیمی {i}", "service", "sidewalk", 1.0) for i in range(20)]
    new = [Example(text, "service", "asphalt", 1.0) for text in HISTORY]
    model = LearnedModel.train(default_pack, [*old, *new], max_per_entry=3)
    assert model is not None and model.trained_on == 6


def test_fewer_than_two_entries_is_no_model() -> None:
    service = Service(service_code="only", service_name="آسفالت", group="g", jurisdiction="m",
                      keywords=("چاله",))
    pack = Pack(folder=Path("."), services=(service,), faqs=())
    assert LearnedModel.train(pack) is None
    assert Classifier(pack).classify("چاله").code == "only"


def test_training_is_deterministic(default_pack: Pack) -> None:
    examples = [Example(text, "service", "asphalt", 1.0) for text in HISTORY]
    first = LearnedModel.train(default_pack, examples)
    second = LearnedModel.train(default_pack, examples)
    assert first is not None and second is not None
    assert list(first.labels) == sorted(first.labels)
    assert np.array_equal(first._weights, second._weights)


def test_fused_answers_are_the_same_under_every_hash_seed(tmp_path: Path) -> None:
    script = (
        "from config.pack import load_pack\n"
        "from nlu.classifier import Classifier\n"
        "from nlu.learned import Example\n"
        "import json, sys\n"
        "history = json.loads(sys.argv[1])\n"
        "c = Classifier(load_pack(), examples=[Example(t, 'service', 'asphalt', 1.0)"
        " for t in history])\n"
        "for text in history + ['چاله', 'درخت افتاده', 'سلام', 'آب گرفتگی معبر']:\n"
        "    print(json.dumps(c.analyse(text).to_json(), ensure_ascii=False))\n"
    )
    outputs = set()
    for seed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        result = subprocess.run([sys.executable, "-c", script, json.dumps(HISTORY)], env=env,
                                cwd=ROOT, capture_output=True, text=True, check=True,
                                timeout=120)
        outputs.add(result.stdout)
    assert len(outputs) == 1


def scored(intent: Intent) -> dict[tuple[str, str | None], float]:
    """Each entry an intent names, with its score."""
    head = {} if intent.kind not in ("service", "faq") else {
        (intent.kind, intent.code or intent.faq_id): intent.score}
    return head | {(c.kind, c.key): c.score for c in intent.alternatives}


def test_cold_start_reranks_but_never_makes_the_matcher_surer(
        default_pack: Pack, default_classifier: Classifier) -> None:
    """With the pack alone the learned model (fitted on the pack's phrases) only reorders the
    matcher's candidates: every score stays the matcher's, it never turns an answer the
    matcher was unsure of into one acted on, never answers what the matcher found nothing
    in, and the pack's own phrases keep their kinds."""
    assert default_classifier.cold and default_classifier.learned is not None
    assert default_classifier.learned.trained_on == 0 and default_classifier.learned_weight > 0
    matcher = Classifier(default_pack, learned_weight=0)
    assert matcher.learned is None and not matcher.cold
    phrases = [s.service_name for s in default_pack.services[:15]]
    phrases += [f.question for f in default_pack.faqs[:10]]
    messages = phrases + list(HISTORY) + ["qwzx فلان بهمان", "هوا امروز خوبه", MESSAGE]
    for text in messages:
        plain, fused = matcher.analyse(text), default_classifier.analyse(text)
        plain_scores = scored(plain)
        for entry, score in scored(fused).items():
            if entry in plain_scores:
                assert score == pytest.approx(plain_scores[entry]), text
        assert fused.confident <= plain.confident or fused.kind in ("status", "greeting"), text
        if plain.kind == "unknown":
            assert fused.kind == "unknown", text
    for text in phrases:
        plain, fused = matcher.analyse(text), default_classifier.analyse(text)
        assert fused.kind == plain.kind, text
    assert default_classifier.classify(default_pack.services[0].service_name).kind == "service"
    assert default_classifier.classify(default_pack.faqs[0].question).kind == "faq"


@pytest.mark.parametrize("text, kind", [
    ("سلام", "greeting"), ("خسته نباشید", "greeting"), ("کد پیگیری ۱۲۳۴۵۶۷۸", "status"),
    ("درخواستم چی شد؟", "status"), ("", "unknown"),
])
def test_history_never_overrides_greeting_status_or_nothing(
        default_pack: Pack, text: str, kind: str) -> None:
    # Even history that labels these very texts as a service.
    examples = [Example(t, "service", "asphalt", 5.0) for t in (*HISTORY, text or "x") * 3]
    assert Classifier(default_pack, examples=examples).classify(text).kind == kind


def test_gibberish_stays_unknown_or_at_most_a_button(default_pack: Pack) -> None:
    examples = [Example(t, "service", "asphalt", 5.0) for t in (*HISTORY, "qwzx") * 3]
    classifier = Classifier(default_pack, examples=examples)
    # Never taught: still unknown.
    for text in ("zqxj vbnm", "ژژژ ظظظ ثثث", "🙂🙂"):
        assert classifier.classify(text).kind == "unknown", text
    # Taught by history that «qwzx» means asphalt: offered, but not acted on.
    taught = classifier.classify("qwzx")
    assert taught.kind in ("unknown", "service") and not taught.confident


def test_learned_alone_is_never_confident(default_pack: Pack) -> None:
    examples = [Example(f"{word} {SLANG}", "service", "asphalt", 5.0)
                for word in ("زززز", "ققق", "ببب")] * 10
    classifier = Classifier(default_pack, examples=examples)
    intent = classifier.classify(f"ببب {SLANG} ققق")
    assert intent.code == "asphalt" and not intent.confident


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_learned_path_keeps_hostile_cost_bounded(default_pack: Pack, name: str) -> None:
    classifier = Classifier(default_pack,
                            examples=[Example(t, "service", "asphalt", 1.0) for t in HISTORY])
    assert classifier.learned_weight > 0
    text = HOSTILE[name](default_pack)
    with address_space_cap():
        tracemalloc.start()
        try:
            live = tracemalloc.get_traced_memory()[0]
            intent = classifier.analyse(text)
            peak = tracemalloc.get_traced_memory()[1] - live
        finally:
            tracemalloc.stop()
    assert peak < PEAK_BOUND, f"{peak / 2**20:.1f} MiB"
    assert intent.kind in {"service", "faq", "status", "greeting", "unknown"}

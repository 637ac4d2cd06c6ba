"""Classifying any message costs bounded work (security issue 14, finding 2).

A 20,000-letter "word" once made the fuzzy index build ~n² strings of n letters (gigabytes,
seconds on the event loop). Speed targets live in ``bench/adversarial.py``; these tests assert
deterministic proxies of the work instead: how long a word the fuzzy index expands, how many
candidate strings it makes, the peak of Python allocations, what the caches keep. Each test
runs under a cap on the address space, so a regression fails with MemoryError instead of
taking the machine down.
"""

from __future__ import annotations

import contextlib
import json
import random
import resource
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import peygir.conversation.dialogue
import peygir.nlu.fuzzy_index
from peygir.channels.memory import MemoryChannel
from peygir.config.pack import Pack
from peygir.nlu.classifier import Classifier
from peygir.nlu.normalize import normalize
from tests.conftest import pack_dir

ROOT = Path(__file__).resolve().parents[2]
PERSIAN_LETTERS = "ابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهی"
KINDS = {"service", "faq", "status", "greeting", "unknown"}
LONGEST_WORD = 64  # far longer than any Persian word; the fuzzy index must not expand more
MIB = 2**20
PEAK_BOUND = 20 * MIB  # the old code needed gigabytes for a 20,000-letter word
CHILD_CAP = 1024 * MIB


def _letters(alphabet: str, n: int, seed: int = 14) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(n))


def _pack_message(pack: Pack, chars: int, seed: int = 14) -> str:
    """Real words of the pack in random order, ``chars`` characters of them."""
    words = [w for s in pack.services for k in (s.service_name, *s.keywords) for w in k.split()]
    text = " ".join(random.Random(seed).choices(words, k=chars // 2))  # words have 2+ letters
    assert len(text) >= chars
    return text[:chars]


HOSTILE: dict[str, Callable[[Pack], str]] = {
    "persian_word_20000": lambda pack: _letters(PERSIAN_LETTERS, 20_000),
    "latin_word_20000": lambda pack: _letters("abcdefghijklmnopqrstuvwxyz", 20_000),
    "pack_words_50000": lambda pack: _pack_message(pack, 50_000),
    "persian_word_1600_in_a_sentence": lambda pack: "آسفالت " + _letters(PERSIAN_LETTERS, 1_600),
    "detached_suffixes_50000": lambda pack: "کوچه" + " ها" * 16_665,
}


def _cap_child() -> None:
    """A child ``peygir classify`` needs under 200 MB of address space; a regression dies."""
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_CAP, resource.getrlimit(resource.RLIMIT_AS)[1]))


@contextlib.contextmanager
def address_space_cap(extra: int = 2048 * MIB) -> Iterator[None]:
    """At most ``extra`` more bytes of address space while inside."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as statm:
        in_use = int(statm.read().split()[0]) * resource.getpagesize()
    cap = in_use + extra if hard == resource.RLIM_INFINITY else min(hard, in_use + extra)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.fixture(params=["default", "eval"])
def classifier(request: pytest.FixtureRequest) -> Classifier:
    return request.getfixturevalue(f"{request.param}_classifier")


def _sane(classifier: Classifier, text: str) -> None:
    intent = classifier.classify(text)
    assert intent.kind in KINDS
    row = json.loads(json.dumps(intent.to_json(), ensure_ascii=False))
    assert 0.0 <= row["score"] <= 1.0


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_fuzzy_index_expands_only_word_sized_tokens(
    classifier: Classifier, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deletions and rapidfuzz are only ever run on words, and the candidates stay few."""
    text = HOSTILE[name](classifier.pack)
    real_deletions = peygir.nlu.fuzzy_index._deletions
    real_fuzz = peygir.nlu.fuzzy_index.fuzz
    generated: list[int] = []
    compared: list[int] = []

    def deletions(word: str, depth: int) -> set[str]:
        # Refuse before doing the work: the old code would build ~n² strings here.
        assert depth == 0 or len(word) <= LONGEST_WORD, f"deletions of a {len(word)}-letter word"
        found = real_deletions(word, depth)
        generated.append(len(found))
        return found

    class Fuzz:
        @staticmethod
        def ratio(a: str, b: str, **kwargs: float) -> float:
            compared.append(max(len(a), len(b)))
            return real_fuzz.ratio(a, b, **kwargs)

    monkeypatch.setattr(peygir.nlu.fuzzy_index, "_deletions", deletions)
    monkeypatch.setattr(peygir.nlu.fuzzy_index, "fuzz", Fuzz)
    with address_space_cap():
        intent = classifier.analyse(text)
    assert intent.kind in KINDS
    assert sum(generated) < 100_000
    assert max(compared, default=0) <= LONGEST_WORD


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_message_allocates_a_bounded_amount(classifier: Classifier, name: str) -> None:
    text = HOSTILE[name](classifier.pack)
    with address_space_cap():
        tracemalloc.start()
        try:
            live = tracemalloc.get_traced_memory()[0]
            classifier.analyse(text)
            peak = tracemalloc.get_traced_memory()[1] - live
        finally:
            tracemalloc.stop()
    assert peak < PEAK_BOUND, f"{peak / MIB:.1f} MiB"
    _sane(classifier, text)


def test_a_giant_word_is_unknown(classifier: Classifier) -> None:
    with address_space_cap():
        for text in (_letters(PERSIAN_LETTERS, 20_000), _letters("abcdefghij", 20_000)):
            intent = classifier.classify(text)
            assert intent.kind == "unknown"
            assert intent.tracking_code is None


def test_a_report_before_a_giant_word_is_still_read(default_classifier: Classifier) -> None:
    ordinary = "سر کوچه ما چاله بزرگی وسط آسفالت افتاده"
    alone = default_classifier.analyse(ordinary)
    padded = ordinary + " " + _letters(PERSIAN_LETTERS, 20_000)
    with address_space_cap():
        intent = default_classifier.analyse(padded)
    assert (intent.kind, intent.code) == (alone.kind, alone.code) == ("service", "asphalt")


def test_a_number_cut_by_the_length_cap_is_no_tracking_code(any_classifier: Classifier) -> None:
    """Wherever the message is cut, a longer number never loses digits and becomes a code."""
    with address_space_cap():
        for filler in range(1_950, 2_000):
            text = "ب" * (filler - 1) + " " + "1234567890123" + " سلام" * 2_000
            assert any_classifier.classify(text).kind != "status", filler
    assert any_classifier.classify("سلام کد ۱۲۳۴۵۶۷۸ " + "ب " * 25_000).kind == "status"


def test_caches_do_not_keep_long_messages(default_classifier: Classifier) -> None:
    """40 distinct 50,000-character messages leave (almost) nothing behind in the caches."""
    with address_space_cap():
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for seed in range(40):  # each message made here, so what the caches keep counts
                default_classifier.classify(_pack_message(default_classifier.pack, 50_000, seed))
            kept = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    assert kept < 1.5 * MIB, f"{kept / MIB:.1f} MiB kept"  # the old code kept every one (4 MiB)


@pytest.mark.parametrize("text, expected", [
    ("a \u200c b", "a\u200cb"),
    ("a\t\n \u200c\u200c \t b", "a\u200cb"),
    ("a\u200c \u200c b", "a\u200c\u200cb"),
    ("\u200c a", "\u200ca"),
    ("a \t\n b", "a b"),
    ("ab\u200b cd", "ab\u200ccd"),
])
def test_spaces_around_half_spaces(text: str, expected: str) -> None:
    """The linear rewrite of the half-space rule behaves as the old one did."""
    assert normalize(text) == expected


@pytest.mark.parametrize("pack", ["default", "eval"])
def test_cli_classifies_giant_lines(pack: str) -> None:
    """``peygir classify`` answers a 20,000-letter line and 200,000 characters of tabs and
    newlines (the old half-space regex was quadratic in them) with valid JSON lines. The
    timeout only guards against a hang; speed is measured in bench/adversarial.py."""
    lines = [
        _letters(PERSIAN_LETTERS, 20_000),
        "چاله" + "\t\u00a0 " * 66_666 + "آسفالت",
        "asfalt kharabe",
    ]
    result = subprocess.run(
        [sys.executable, "-m", "peygir", "classify", "--pack", str(pack_dir(pack))],
        input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60, check=True,
        cwd=ROOT, preexec_fn=_cap_child,
    )
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == len(lines)
    assert rows[0]["kind"] == "unknown"
    assert all(row["kind"] in KINDS and isinstance(row["score"], float) for row in rows)


def test_normalize_finishes_on_long_whitespace_runs() -> None:
    """The dialogue normalises the whole message before it classifies. The old half-space
    rule retried every space of a run that no half-space follows: 400,000 characters of tabs
    and no-break spaces took many minutes. The child's timeout only guards against that hang."""
    script = ("from nlu.normalize import normalize\n"
              "text = normalize('چاله\\u200cها' + '\\t\\u00a0 ' * 133_333 + 'آسفالت')\n"
              "print(text)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, check=True, cwd=ROOT, preexec_fn=_cap_child)
    assert result.stdout == "چاله\u200cها آسفالت\n"


async def test_the_dialogue_normalises_no_more_than_a_report_keeps(
        chat: MemoryChannel, monkeypatch: pytest.MonkeyPatch) -> None:
    """50,000 ligatures (18 letters each once normalised) through a chat: the dialogue hands
    the normaliser at most what a report keeps, and the citizen still gets an answer."""
    seen: list[int] = []

    def measured(text: str) -> str:
        seen.append(len(text))
        return normalize(text)

    monkeypatch.setattr(peygir.conversation.dialogue, "normalize", measured)
    replies = await chat.say("ligatures", "\ufdfa" * 50_000)
    assert replies and all(reply.text for reply in replies)
    assert seen and max(seen) <= peygir.conversation.dialogue.MAX_DESCRIPTION, seen

"""A vocabulary that finds a misspelt word's neighbours without scanning the vocabulary.

Symmetric-deletion candidates (as in SymSpell): every term is indexed under the strings made by
deleting one letter (two for long words); a query word generates the same deletions and meets
its neighbours in a few dictionary look-ups. rapidfuzz then scores each candidate, so the cost
grows with the length of the word, not with the size of the city pack.

That length is capped: two deletions of an n-letter word are about n² strings of n letters,
so a 20,000-letter "word" in a chat message once took gigabytes. No Persian word is near
:data:`MAX_FUZZY_LEN` letters; a longer token only ever matches exactly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from functools import lru_cache

from rapidfuzz import fuzz

MIN_FUZZY_LEN = 4  # shorter words only match exactly: one letter changes their meaning
MAX_FUZZY_LEN = 32  # longer ones too: no word is that long (the packs' longest has 17 letters)
# Two words run together (speech-to-text cuts one in two) is the longest thing heard as one.
MAX_SOUND_LEN = 2 * MAX_FUZZY_LEN
LOOKUP_CACHE = 50_000  # words remembered; each at most MAX_FUZZY_LEN letters
# Suffixes of spoken Persian a word may carry that the pack's written form does not.
_QUERY_SUFFIXES = (
    "هاشون", "هامون", "هاتون", "هایشان", "هایمان", "هایتان", "هایی", "های", "ها",
    "ارو", "اشو", "امو", "رو", "را", "شون", "مون", "تون", "شان", "مان", "تان",
    "ایی", "یی", "هارو", "هاش", "هام", "اشون", "امون", "اتون",
    "ام", "ات", "اش", "ای", "یم", "ید", "ین", "ند", "ن", "ی", "ه", "م", "ت", "ش", "ا",
)


_SUFFIX_SET = frozenset(_QUERY_SUFFIXES)
_PLURALS = ("هایی", "های", "ها")


def _deletions(word: str, depth: int) -> set[str]:
    # About len(word) ** depth strings: only ever asked for with a bounded word (see _depth).
    found = {word}
    frontier = {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1:] for w in frontier for i in range(len(w))}
        found |= frontier
    return found


def _depth(word: str) -> int:
    if not MIN_FUZZY_LEN <= len(word) <= MAX_FUZZY_LEN:
        return 0
    return 1 if len(word) < 7 else 2


# Whisper writes Persian by sound: voiced and voiceless pairs swap («در اخد» for «درخت»),
# long vowels come and go, and one word may be cut in two («از فلت» for «آسفالت»). A
# phonetic key keeps only the consonant skeleton with those pairs folded together.
_PHONETIC = str.maketrans({
    "ز": "س", "د": "ت", "پ": "ب", "گ": "ک", "ق": "ک", "چ": "ج", "ژ": "ش",
    "ا": None, "ع": None, "ء": None, "أ": None,
})
MIN_PHONETIC_KEY = 3


def phonetic_key(word: str) -> str:
    """The consonant skeleton of a folded word (see above)."""
    if word.endswith("ه") and len(word) > 2:
        word = word[:-1]  # a final silent «ه» is the vowel «e»
    key = word.translate(_PHONETIC)
    return "".join(ch for i, ch in enumerate(key) if i == 0 or ch != key[i - 1])


def light_stem(word: str) -> str:
    """The written plural and clitic forms the pack itself uses: «چاله‌ها» → «چاله»."""
    for suffix in _PLURALS:
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            return word[: -len(suffix)]
    if word.endswith("هی") and len(word) > 3:  # «کوچه‌ی» (ezafe)
        return word[:-1]
    return word


class FuzzyVocab:
    def __init__(self, terms: Iterable[str], cutoff: float = 74.0) -> None:
        # 74, not 78: on Whisper's transcripts of spoken dev lines (and of 118 lines no
        # benchmark tuned on) it found more misheard keywords («مستفالت» for «آسفالت»),
        # and typed dev accuracy did not move; near misses still count for little.
        self.terms = frozenset(terms)
        self.cutoff = cutoff
        self._by_deletion: dict[str, set[str]] = defaultdict(set)
        for term in self.terms:
            for variant in _deletions(term, _depth(term)):
                self._by_deletion[variant].add(term)
        self._cached_lookup = lru_cache(maxsize=LOOKUP_CACHE)(self._lookup)
        self._by_sound: dict[str, set[str]] = defaultdict(set)
        for term in self.terms:
            if len(term) >= MIN_FUZZY_LEN and not term.startswith("~"):
                key = phonetic_key(term)
                if len(key) >= MIN_PHONETIC_KEY:
                    self._by_sound[key].add(term)

    def sounds_like(self, word: str) -> tuple[str, ...]:
        """Terms with the same consonant skeleton as ``word`` (heard, not read)."""
        if len(word) > MAX_SOUND_LEN:
            return ()
        key = phonetic_key(word)
        if len(key) < MIN_PHONETIC_KEY:
            return ()
        return tuple(sorted(self._by_sound.get(key, ())))

    def __contains__(self, word: str) -> bool:
        return word in self.terms

    def lookup(self, word: str) -> tuple[tuple[str, float], ...]:
        """Terms near ``word`` with a similarity in (0, 1], best first. Only words short
        enough to be words are remembered, so the cache's size is bounded in bytes too."""
        if len(word) > MAX_FUZZY_LEN:
            return self._lookup(word)
        return self._cached_lookup(word)

    def _lookup(self, word: str) -> tuple[tuple[str, float], ...]:
        """Terms near ``word`` with a similarity in (0, 1], best first."""
        found: dict[str, float] = {}
        if word in self.terms:
            found[word] = 1.0
        # Spoken suffixes and verb endings: «آشغالارو» → «آشغال», «دزدیدن» → «دزدی».
        for cut in range(1, min(5, len(word) - 2)):
            stem, rest = word[:-cut], word[-cut:]
            if stem in self.terms:
                similarity = 0.9 if rest in _SUFFIX_SET else 0.95 - 0.1 * cut
                found[stem] = max(found.get(stem, 0.0), similarity)
                break
        if MIN_FUZZY_LEN <= len(word) <= MAX_FUZZY_LEN and word not in self.terms:
            candidates: set[str] = set()
            forms = [word] + [word[: -len(suffix)] for suffix in _PLURALS
                              if word.endswith(suffix) and len(word) - len(suffix) >= 3]
            for form in forms:  # «مچاله‌های» is a misheard «چاله» with a plural on
                for variant in _deletions(form, _depth(form)):
                    candidates |= self._by_deletion.get(variant, set())
            for term in candidates:
                if len(term) < MIN_FUZZY_LEN:
                    continue
                score = fuzz.ratio(word, term, score_cutoff=self.cutoff)
                if score:
                    # A near miss is weaker evidence than the word itself.
                    similarity = 0.4 + 0.5 * (score - self.cutoff) / (100.0 - self.cutoff)
                    found[term] = max(found.get(term, 0.0), similarity)
        # Ties broken by the term itself: `found` was filled from a set, whose order changes
        # with each process's string-hash seed, and the cut to four keeps only some of a tie.
        return tuple(sorted(found.items(), key=lambda item: (-item[1], item[0]))[:4])

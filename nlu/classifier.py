"""From a citizen's message to an :class:`Intent` over the city pack.

Each pack entry (a service or an FAQ) is a bag of folded terms with a field weight (keywords
and names count most, examples less, descriptions least) and an inverse document frequency.
A message's words are looked up in a :class:`FuzzyVocab` (typos, spoken suffixes, sound-alike
letters), only entries that share a term are scored, and the summed evidence is squashed into
a confidence in [0, 1). ``threshold`` decides between acting and asking; ``margin`` says how
far ahead (as a fraction of its own score) the best entry must be before we act on it
without offering alternatives. With labelled history, a learned model (``nlu.learned``) is
fused into those scores (:meth:`Classifier._fuse`) without changing what they mean.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

import numpy as np

from peygir.config.pack import Pack
from peygir.faq.index import indexed_fields
from peygir.nlu.concepts import concept
from peygir.nlu.fuzzy_index import MAX_FUZZY_LEN, FuzzyVocab, light_stem
from peygir.nlu.learned import LabelledExample, LearnedModel, label_of
from peygir.nlu.lexicon import (
    FOLLOW_UP_WORDS,
    GREETING_WORDS,
    HOW_WHERE_WORDS,
    PROBLEM_WORDS,
    QUESTION_WORDS,
    STATUS_ASK_WORDS,
    STATUS_WORDS,
    STOPWORDS,
    says_it_was_reported,
)
from peygir.nlu.ngrams import TrigramIndex, trigrams
from peygir.nlu.normalize import ascii_digits, match_tokens, normalize

Kind = Literal["service", "faq", "status", "greeting", "unknown"]

TRACKING_CODE = re.compile(r"(?<!\d)(\d{8})(?!\d)")
WHAT_BECAME_OF = re.compile(r"چی\s?شد|چه\s?شد|کجا\s?رسید")

# Field weights: how much a word in this field says about the entry (an FAQ's: faq/index.py).
W_KEYWORD = 1.0
W_NAME = 1.0
W_EXAMPLE = 0.5
W_DESCRIPTION = 0.5
W_PHRASE = 0.6  # bonus for two adjacent words of one keyword or name, in order
SOUNDS_LIKE = 0.6  # similarity of a word matched by its consonant skeleton alone
W_CONCEPT = 0.5  # a word of the same kind («کبوتر» for «حیوان») is weaker evidence

SHAPE_WEIGHT = 0.6  # character-trigram cosine against names and keywords
FULL_HIT = 0.7  # a word's evidence for an entry at which it counts as a whole matched word
RESCORE = 40  # entries rescored after the raw evidence ranking
MAX_TOKENS = 60  # a 20,000-character message is classified on its first words
# ... and read no further than the room those words take at their longest, so that what
# comes before the token cap (normalising, the tracking-code search) costs no more either.
MAX_CHARS = MAX_TOKENS * (MAX_FUZZY_LEN + 1)
REMEMBER_CHARS = 500  # longer messages are not remembered: the memory holds 4096 of them

# Fusion with the learned model (nlu/learned.py): the learned probability's share of an
# entry's score, with the pack alone and with labelled history. Measured on the fresh set
# (bench/fresh), written apart from the matcher, not on the dev set, on which the matcher was
# shaped (there any share for the learned model looked like a loss): with the pack alone the
# model reranks the matcher's candidates, top-1 0.78 -> 0.80; with the dev lines as history,
# 0.81 -> 0.87, and the answers acted on are right 94 % of the time (the matcher's own: 86 %).
COLD_WEIGHT = 0.4
LEARNED_WEIGHT = 0.4
LEARNED_ENTER = 0.3  # learned probability from which an entry the matcher missed joins
FUSE_RANK = 10  # matcher candidates fused with the learned probabilities


@dataclass(frozen=True)
class Candidate:
    kind: Literal["service", "faq"]
    key: str  # service code or FAQ id
    score: float

    def to_json(self) -> dict[str, object]:
        name = "code" if self.kind == "service" else "faq_id"
        return {name: self.key, "score": round(self.score, 4)}


@dataclass(frozen=True)
class Intent:
    kind: Kind
    score: float
    code: str | None = None
    faq_id: str | None = None
    urgent: bool = False
    tracking_code: str | None = None
    referral: str | None = None  # the outside body, for ext_ / referral services
    alternatives: tuple[Candidate, ...] = field(default=())
    confident: bool = False  # act on it, or ask the citizen to pick

    def choices(self, limit: int = 3) -> tuple[tuple[Literal["service", "faq"], str], ...]:
        """What a citizen picks from: the top entry when the intent names one, then the
        alternatives, ``limit`` in all (a greeting or an unclear message offers its three
        best guesses, which is what a garbled voice note needs)."""
        head: tuple[tuple[Literal["service", "faq"], str], ...] = ()
        if self.kind == "service" and self.code:
            head = (("service", self.code),)
        elif self.kind == "faq" and self.faq_id:
            head = (("faq", self.faq_id),)
        return (head + tuple((c.kind, c.key) for c in self.alternatives))[:limit]

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "code": self.code,
            "faq_id": self.faq_id,
            "score": round(self.score, 4),
            "urgent": self.urgent,
            "alternatives": [c.to_json() for c in self.alternatives],
            **({"referral": self.referral} if self.referral else {}),
            **({"tracking_code": self.tracking_code} if self.tracking_code else {}),
        }


@dataclass(frozen=True)
class _Entry:
    kind: Literal["service", "faq"]
    key: str


_NOT_TOPICAL = STOPWORDS | QUESTION_WORDS


def _terms(text: str) -> list[str]:
    return [t for t in match_tokens(text) if not t.isdigit() and t not in _NOT_TOPICAL]


def _wordish(ch: str) -> bool:
    """Part of a word or number, or a mark or format character that normalising drops."""
    return ch.isalnum() or ch == "_" or unicodedata.category(ch) in ("Mn", "Mc", "Me", "Cf")


def clip(text: str, limit: int = MAX_CHARS) -> str:
    """The first ``limit`` characters of ``text``, less a word cut in two: its piece would be
    a different word, and a long number's piece a tracking code. A text with no break in
    its first ``limit`` characters is one giant non-word and clips to nothing."""
    if len(text) <= limit:
        return text
    end = limit
    if _wordish(text[limit]):
        while end and _wordish(text[end - 1]):
            end -= 1
    return text[:end]


class Classifier:
    def __init__(
        self,
        pack: Pack,
        threshold: float = 0.40,
        unknown_below: float = 0.30,
        margin: float = 0.2,
        softness: float = 1.5,
        lean: float = 1.2,
        report_lean: float = 1.5,
        examples: Sequence[LabelledExample] = (),
        learned_weight: float | None = None,
    ) -> None:
        self.pack = pack
        self._remembered = functools.lru_cache(maxsize=4096)(self.analyse)
        self.threshold = threshold
        self.unknown_below = unknown_below
        self.margin = margin
        self.softness = softness
        self.lean = lean
        self.report_lean = report_lean
        self._entries: list[_Entry] = []
        # term -> {entry index: field weight}
        postings: dict[str, dict[int, float]] = defaultdict(dict)
        phrases: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)

        documents: list[Counter[str]] = []
        strong: set[str] = set()  # words of names and keywords

        def add(index: int, texts: Iterable[str], weight: float, phrase: bool) -> None:
            while len(documents) <= index:
                documents.append(Counter())
            for text in texts:
                terms = _terms(text)
                if weight >= W_KEYWORD:  # the trigram profile and strong words: names, keywords
                    documents[index].update(trigrams(terms))
                    strong.update(terms)
                for term in terms:
                    forms = {term: weight, light_stem(term): weight}
                    if len(term) >= 4 and term[-1] in "یه":
                        # «قطعی» and «قطعه» meet at «قطع», as «خرابی» and «خرابه» at «خراب».
                        forms.setdefault(term[:-1], weight * 0.9)
                    kind_of = concept(term)
                    if kind_of:
                        forms[kind_of] = weight * W_CONCEPT
                    for form, form_weight in forms.items():
                        posting = postings[form]
                        posting[index] = max(posting.get(index, 0.0), form_weight)
                if phrase:
                    for pair in pairwise(terms):
                        phrases[pair][index] = W_PHRASE

        for service in pack.services:
            index = len(self._entries)
            self._entries.append(_Entry("service", service.service_code))
            add(index, service.keywords, W_KEYWORD, phrase=True)
            add(index, [service.service_name], W_NAME, phrase=True)
            add(index, service.examples, W_EXAMPLE, phrase=False)
            add(index, [service.description], W_DESCRIPTION, phrase=False)
        for faq in pack.faqs:
            index = len(self._entries)
            self._entries.append(_Entry("faq", faq.id))
            for part in indexed_fields(faq):  # which texts and weights: faq/index.py
                add(index, part.texts, part.weight, part.phrase)

        n = max(len(self._entries), 1)
        top_idf = math.log(1 + n)
        # term -> (entry indices, weights): numpy arrays, so scoring a common word costs one
        # vectorised step however many entries share it.
        self._postings = {
            term: (
                np.fromiter(p.keys(), dtype=np.intp, count=len(p)),
                np.fromiter(p.values(), dtype=float, count=len(p)) * math.log(1 + n / len(p))
                / top_idf,
            )
            for term, p in postings.items()
        }
        self._phrases = {
            pair: np.fromiter(p.keys(), dtype=np.intp, count=len(p)) for pair, p in phrases.items()
        }
        self.vocab = FuzzyVocab(self._postings)
        self.shapes = TrigramIndex(documents)
        self._strong = frozenset(strong)

        weight = learned_weight
        if weight is None:
            weight = LEARNED_WEIGHT if examples else COLD_WEIGHT
        # Trained only when it has a say (a 2,000-entry pack takes a minute or two to fit:
        # `peygir serve` starts on ``learned_weight=0`` and trains in the background).
        self.learned = LearnedModel.train(pack, examples) if weight > 0 else None
        if self.learned is None:
            weight = 0.0
        # With the pack alone (or history with nothing usable in it) the model knows no more
        # than the pack: it only reranks what the matcher found, never answers on its own.
        self.cold = self.learned is not None and not self.learned.trained_on
        if self.cold and learned_weight is None:
            weight = COLD_WEIGHT
        self.learned_weight = weight
        self.learned_enter = LEARNED_ENTER
        # The learned model's column for each entry, in pack order.
        column = {label: i for i, label in enumerate(self.learned.labels if self.learned else ())}
        self._learned_column = np.array(
            [column.get(label_of(e.kind, e.key), -1) for e in self._entries], dtype=np.intp)
        self._index = {(e.kind, e.key): i for i, e in enumerate(self._entries)}

    # -- scoring ---------------------------------------------------------------------------
    def _match(self, tokens: list[str]) -> list[tuple[tuple[str, float], ...]]:
        """Vocabulary matches for each token; adjacent words also tried joined («آب گرفتگی»)."""
        matches: list[tuple[tuple[str, float], ...]] = []
        skip = False
        for i, token in enumerate(tokens):
            if skip:
                skip = False
                continue
            if i + 1 < len(tokens) and (token + tokens[i + 1]) in self.vocab:
                matches.append(((token + tokens[i + 1], 1.0),))
                skip = True
                continue
            found = self.vocab.lookup(token)
            if not found:
                found = tuple((term, SOUNDS_LIKE) for term in self.vocab.sounds_like(token))
            kind_of = concept(token)
            if kind_of and kind_of in self._postings:
                found = (*found, (kind_of, 1.0))
            matches.append(found)
        return matches

    def _rejoin(self, tokens: list[str]) -> list[str]:
        """Two words neither of which the pack knows, that sound like one it does, become it:
        speech-to-text cuts words in two («از فلت» → «آسفالت»). Only into a word of a name or
        a keyword, and never swallowing a function word as the second half: typed Persian
        is full of unknown pairs that sound like some pack word («از دور» → «صدور», «اصلا ما»
        → «مساله»)."""
        out: list[str] = []
        i = 0
        while i < len(tokens):
            if i + 1 < len(tokens) and not (
                tokens[i] in self.vocab or tokens[i + 1] in self.vocab
                or tokens[i + 1] in _NOT_TOPICAL
            ):
                heard = [
                    word for word in self.vocab.sounds_like(tokens[i] + tokens[i + 1])
                    if word in self._strong
                ]
                if heard:
                    out.append(heard[0])
                    i += 2
                    continue
            out.append(tokens[i])
            i += 1
        return out

    def _score(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Evidence and the (strength-weighted) number of matched words, per entry."""
        size = len(self._entries)
        evidence = np.zeros(size)
        hits = np.zeros(size)
        matched = self._match(tokens)
        for found in matched:
            if not found:
                continue
            best = np.zeros(size)
            for term, similarity in found:
                indices, weights = self._postings[term]
                np.maximum.at(best, indices, weights * similarity)
            evidence += best
            # A word that says little about this entry (a place word many entries share, a
            # distant typo match) covers only part of the message for it.
            hits += np.minimum(1.0, best / FULL_HIT)
        evidence += SHAPE_WEIGHT * self.shapes.cosine(tokens)
        # Phrase bonus: two matched words that stand together in a keyword or a name.
        heads = [found[0][0] for found in matched if found]
        for pair in pairwise(heads):
            bonus = self._phrases.get(pair)
            if bonus is not None:
                evidence[bonus] += W_PHRASE
        return evidence, hits

    def _confidence(self, evidence: float) -> float:
        return 1.0 - math.exp(-evidence / self.softness)

    def _rank(
        self, content: list[str], limit: int, is_question: bool, is_report: bool = False
    ) -> list[Candidate]:
        evidence, hits = self._score(content)
        # A question leans towards the FAQ; a statement towards a report, and a statement
        # that names a problem («شکسته», «خراب», «نمیشه») more so.
        lean = "faq" if is_question else "service"
        # Words the pack has never seen count against a match: «قیمت دلار» is not about fees.
        expected_hits = min(len(content), 3)
        # Only the strongest entries by raw evidence can reach the top after the lean and the
        # coverage discount (together they change a score by at most about 2x), so a large
        # pack does not pay for scoring its long tail.
        nonzero = np.flatnonzero(evidence)
        if len(nonzero) > RESCORE:
            # Of the entries level with the RESCORE-th, the last in the pack (as the final sort
            # prefers): which of a tie argpartition keeps is an accident of its algorithm. Still
            # RESCORE in all, however many tie (one common word can tie a whole grown pack).
            values = evidence[nonzero]
            floor = np.partition(values, -RESCORE)[-RESCORE]
            above = nonzero[values > floor]
            level = nonzero[values == floor]
            nonzero = np.concatenate((above, level[len(level) - (RESCORE - len(above)):]))
        scored = []
        for index in nonzero.tolist():
            entry = self._entries[index]
            value = float(evidence[index])
            if entry.kind == lean:
                value *= self.report_lean if is_report else self.lean
            coverage = min(1.0, float(hits[index]) / expected_hits)
            score = self._confidence(value) * coverage**0.5
            if score > 0:
                scored.append((score, index))
        # Best first; of equal scores (FAQs sharing words tie often) the entry listed later in
        # the pack, as always: an order that depends on the pack alone, never on the process.
        scored.sort(reverse=True)
        return [
            Candidate(self._entries[i].kind, self._entries[i].key, score)
            for score, i in scored[:limit]
        ]

    def _fuse(self, clean: str, ranked: list[Candidate], limit: int) -> list[Candidate]:
        """The matcher's candidates rescored as (1 - w) * matcher + w * learned probability.

        An entry the matcher scored keeps a score on the same scale, so ``threshold``,
        ``margin`` and ``unknown_below`` still mean act / offer buttons / ask again. An entry
        the matcher did not score joins only when the learned model is sure of it (its
        probability at least ``learned_enter`` and its one-vs-rest SVM claiming the message),
        and then below ``threshold``: the learned model alone can offer an entry as a button,
        never act on it. A pack-only model (``cold``) adds no entry and only reorders.
        Status and greeting are decided before, on the matcher's scores.
        """
        assert self.learned is not None
        weight = self.learned_weight
        # The words the matcher reads (MAX_TOKENS), so its cost is bounded the same way.
        decision = self.learned.decision(" ".join(clean.split()[:MAX_TOKENS]))
        probability = self.learned.probabilities(decision)
        columns = self._learned_column

        def learned(index: int) -> float:
            return float(probability[columns[index]]) if columns[index] >= 0 else 0.0

        below = self.threshold - 0.01
        fused: dict[int, float] = {}
        for candidate in ranked:
            index = self._index[(candidate.kind, candidate.key)]
            score = (1 - weight) * candidate.score + weight * learned(index)
            # Acting needs the matcher's own word for it: from a matcher score the dialogue
            # would not even offer, the learned model lifts an entry to a button at most.
            fused[index] = score if candidate.score >= self.unknown_below else min(score, below)
        if not self.cold and float(decision.max()) >= 0:
            # Its probability scaled to just under ``threshold``: a sure one (about 0.8 and
            # up) is offered as a button, a weaker one only rides along as an alternative.
            for index in range(len(self._entries)):
                if index not in fused and learned(index) >= self.learned_enter:
                    fused[index] = below * learned(index)
        # Best first; equal scores as in _rank, the entry listed later in the pack first.
        order = sorted(((score, index) for index, score in fused.items() if score > 0),
                       reverse=True)
        if self.cold:
            # A pack-only model only reorders: each entry keeps the matcher's own score, so
            # a reordered top has a smaller lead than the entry behind it and is offered as
            # a button, never acted on, and confidence means what it meant without it.
            matcher = {self._index[(c.kind, c.key)]: c.score for c in ranked}
            order = [(matcher[index], index) for _, index in order]
        return [
            Candidate(self._entries[i].kind, self._entries[i].key, score)
            for score, i in order[:limit]
        ]

    # -- the decision ----------------------------------------------------------------------
    def classify(self, text: str) -> Intent:
        """The intent of one message. The last few thousand answers are remembered, so the
        dialogue can classify before it takes the database and again inside for free."""
        text = clip(text or "")
        if len(text) > REMEMBER_CHARS:
            return self.analyse(text)
        return self._remembered(text)

    def analyse(self, text: str) -> Intent:
        """:meth:`classify` without the memory (what the benchmarks time)."""
        # Clipped twice: NFKC may make the text longer (one ligature is 18 letters).
        clean = clip(normalize(ascii_digits(clip(text))))
        code = TRACKING_CODE.search(clean)
        if code:
            return Intent("status", 1.0, tracking_code=code.group(1), confident=True)

        words = [t for t in match_tokens(clean)[:MAX_TOKENS] if not t.isdigit()]
        tokens = self._rejoin(words)
        # A word said twice («بو بو», common in transcripts) is one piece of evidence.
        content = list(dict.fromkeys(t for t in tokens if t not in _NOT_TOPICAL))
        informative = [t for t in content if t not in GREETING_WORDS]
        has_greeting = any(t in GREETING_WORDS for t in tokens)
        is_question = "؟" in clean or "?" in clean or any(t in HOW_WHERE_WORDS for t in tokens)

        # A statement that says something is broken or in the way is a report.
        is_report = not is_question and any(t in PROBLEM_WORDS for t in tokens)
        fuse = self.learned is not None and self.learned_weight > 0 and bool(informative)
        limit = FUSE_RANK if fuse else 5
        ranked = self._rank(informative, limit, is_question, is_report) if informative else []
        top_score = matcher_top = ranked[0].score if ranked else 0.0

        # Status and greeting are the matcher's call alone, on its own scores.
        asks_status = any(t in STATUS_WORDS for t in tokens) and (
            any(t in STATUS_ASK_WORDS for t in tokens) or bool(WHAT_BECAME_OF.search(clean))
        )
        # «I reported it ... still nothing?»: a follow-up, however well it names the problem.
        follows_up = says_it_was_reported(words) and (
            any(t in FOLLOW_UP_WORDS or t in STATUS_ASK_WORDS for t in tokens)
            or bool(WHAT_BECAME_OF.search(clean)) or is_question)
        if fuse:
            ranked = self._fuse(clean, ranked, 5)
        if follows_up or (asks_status and top_score < 0.75):
            return Intent("status", 0.8, alternatives=tuple(ranked[:3]), confident=True)
        barely_informative = len(informative) <= 2 and top_score < self.threshold
        if has_greeting and (not informative or barely_informative):
            # The guesses ride along: typed, a greeting is answered as one; spoken, «سلام»
            # and a garbled rest still offers the citizen its three best guesses.
            return Intent("greeting", 1.0 if not informative else 1 - top_score,
                          alternatives=tuple(ranked[:3]), confident=True)
        top = ranked[0] if ranked else None
        top_score = top.score if top else 0.0
        alternatives = tuple(ranked[1:4])
        # Asked again only when neither has evidence: a learned model unsure of a garbled
        # transcript dilutes the matcher's guess, but does not turn it into "no idea".
        # (With a pack-only model every score is the matcher's: this is the matcher's call.)
        if top is None or max(top_score, matcher_top) < self.unknown_below:
            return Intent("unknown", 1.0 - top_score, alternatives=tuple(ranked[:3]))

        second = alternatives[0].score if alternatives else 0.0
        confident = top_score >= self.threshold and (top_score - second) >= self.margin * top_score
        if top.kind == "faq":
            return Intent("faq", top_score, faq_id=top.key, alternatives=alternatives,
                          confident=confident)
        service = self.pack.service_by_code[top.key]
        return Intent(
            "service",
            top_score,
            code=top.key,
            urgent=service.urgent,
            referral=service.jurisdiction if service.is_referral else None,
            alternatives=alternatives,
            confident=confident,
        )

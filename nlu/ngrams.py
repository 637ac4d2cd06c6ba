"""Character trigram similarity between a message and each pack entry (TF-IDF, cosine).

Words catch meaning; trigrams catch shape: «پیاده‌روی» against «پیاده‌رو», «تابلوی» against
«تابلو», a split or run-together compound. It is the second, weaker signal of the classifier.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable

import numpy as np


def trigrams(tokens: Iterable[str]) -> Counter[str]:
    grams: Counter[str] = Counter()
    for token in tokens:
        padded = f" {token} "
        grams.update(padded[i:i + 3] for i in range(len(padded) - 2))
    return grams


class TrigramIndex:
    def __init__(self, documents: list[Counter[str]]) -> None:
        self.size = len(documents)
        df: Counter[str] = Counter()
        for doc in documents:
            df.update(doc.keys())
        self.idf = {g: math.log(1 + self.size / n) for g, n in df.items()}
        rows: dict[str, dict[int, float]] = defaultdict(dict)
        for index, doc in enumerate(documents):
            weights = {g: (1 + math.log(c)) * self.idf[g] for g, c in doc.items()}
            norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
            for g, w in weights.items():
                rows[g][index] = w / norm
        self.postings = {
            g: (np.fromiter(r.keys(), dtype=np.intp, count=len(r)),
                np.fromiter(r.values(), dtype=float, count=len(r)))
            for g, r in rows.items()
        }

    def cosine(self, tokens: list[str]) -> np.ndarray:
        scores = np.zeros(self.size)
        query = {g: (1 + math.log(c)) * self.idf[g]
                 for g, c in trigrams(tokens).items() if g in self.idf}
        norm = math.sqrt(sum(w * w for w in query.values()))
        if not norm:
            return scores
        for g, w in query.items():
            indices, weights = self.postings[g]
            scores[indices] += weights * (w / norm)
        return scores

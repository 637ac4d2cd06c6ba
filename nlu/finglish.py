"""Finglish (Persian written in Latin letters) to Persian script, good enough to match.

Finglish has no standard spelling, and Persian leaves short vowels unwritten, so the result
is approximate: «koche ma pore chale» → «کوچه ما پره چاله». The fuzzy matcher downstream
absorbs the rest (a missing «ا», «و» for «o»).
"""

from __future__ import annotations

import re

_LATIN_WORD = re.compile(r"^[a-z'`]+$")

_DIGRAPHS = {
    "kh": "خ", "sh": "ش", "ch": "چ", "zh": "ژ", "gh": "ق", "aa": "ا", "oo": "و", "ou": "و",
    "ee": "ی", "ei": "ی", "ey": "ی", "ai": "ای", "ay": "ای",
}
_CONSONANTS = {
    "b": "ب", "p": "پ", "t": "ت", "s": "س", "j": "ج", "d": "د", "r": "ر", "z": "ز", "f": "ف",
    "k": "ک", "g": "گ", "l": "ل", "m": "م", "n": "ن", "v": "و", "w": "و", "h": "ه", "q": "ق",
    "x": "خ", "c": "ک", "y": "ی", "'": "ع", "`": "ع",
}
# Whole words that transliterate badly by rule but matter for meaning.
_WORDS = {
    "va": "و", "o": "و", "ke": "که", "ki": "کی", "chi": "چی", "in": "این", "on": "اون",
    "un": "اون", "ye": "یه", "yek": "یک", "ba": "با", "be": "به", "az": "از", "ro": "رو",
    "ra": "را", "ham": "هم", "man": "من", "ma": "ما", "shoma": "شما", "salam": "سلام",
    "mamnoon": "ممنون", "mamnun": "ممنون", "merci": "مرسی", "mersi": "مرسی",
    "lotfan": "لطفا", "lotfa": "لطفا", "kojast": "کجاست", "che": "چه", "hast": "هست",
    "nist": "نیست", "mikham": "میخوام", "dare": "داره", "shode": "شده", "kard": "کرد",
}


def is_latin_word(word: str) -> bool:
    return bool(_LATIN_WORD.match(word))


def to_persian(word: str) -> str:
    """One lower-case Latin word to Persian letters."""
    if word in _WORDS:
        return _WORDS[word]
    out: list[str] = []
    i = 0
    n = len(word)
    while i < n:
        pair = word[i:i + 2]
        ch = word[i]
        first = i == 0
        if pair in _DIGRAPHS and len(pair) == 2:
            letter = _DIGRAPHS[pair]
            out.append(("ا" + letter) if first and pair in ("oo", "ou", "ee", "ei") else letter)
            i += 2
            continue
        last = i == n - 1
        if ch == "a":
            out.append("آ" if first else "ا")
        elif ch == "e":
            if first:
                out.append("ا")
            elif last:
                out.append("ه")
            # a short «e» inside a word is not written in Persian
        elif ch == "o":
            out.append("او" if first else "و")
        elif ch in "iu":
            vowel = "ی" if ch == "i" else "و"
            out.append(("ا" + vowel) if first else vowel)
        else:
            consonant = _CONSONANTS.get(ch)
            if consonant and not (out and out[-1] == consonant and ch not in "'`"):
                out.append(consonant)  # doubled consonants are written once
        i += 1
    return "".join(out)

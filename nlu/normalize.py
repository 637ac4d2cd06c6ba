"""Persian text normalisation, written for messenger Persian rather than edited prose.

Two levels:
- :func:`normalize` gives readable text: Persian letters, ASCII digits, no diacritics or
  tatweel, one kind of half-space, stretched letters collapsed. It is what we store and show.
- :func:`match_tokens` gives matching keys: punctuation and emoji gone, half-spaces and split
  verb prefixes joined, Finglish transliterated, letters that sound alike folded together, and
  colloquial «ون» forms mapped to the written «ان». Both the pack and the citizen's message go
  through it, so folding a pair of letters only ever makes them meet, never drift apart.

Plain ``str.translate`` tables and a few regexes: hazm and parsivar do more, but pull in NLTK,
scikit-learn-era pins and hundreds of megabytes for what a page of tables does here.
"""

from __future__ import annotations

import re
import unicodedata

from peygir.nlu.finglish import is_latin_word, to_persian

ZWNJ = "\u200c"

_ARABIC_TO_PERSIAN = {
    "ي": "ی", "ى": "ی", "ې": "ی", "ۍ": "ی", "ێ": "ی", "ئ": "ی",
    "ك": "ک", "ڪ": "ک", "ګ": "گ",
    "ة": "ه", "ۀ": "ه", "ە": "ه", "ھ": "ه", "ہ": "ه", "ۂ": "ه",
    "أ": "ا", "إ": "ا", "ٱ": "ا", "ٲ": "ا", "ٳ": "ا",
    "ؤ": "و", "ۆ": "و", "ۇ": "و", "ۈ": "و",
}
_DIGITS = {ord(c): str(i) for i, c in enumerate("۰۱۲۳۴۵۶۷۸۹")}
_DIGITS.update({ord(c): str(i) for i, c in enumerate("٠١٢٣٤٥٦٧٨٩")})
# Harakat, tanwin, shadda, sukun, superscript alef, Quranic marks, tatweel.
_DROP = {cp: None for cp in [*range(0x064B, 0x0660), 0x0670, *range(0x0610, 0x061B), 0x0640]}
# Zero-width joiner, LRM/RLM and friends, soft hyphen, BOM: invisible noise.
_DROP.update({cp: None for cp in (0x200D, 0x200E, 0x200F, 0x00AD, 0xFEFF, 0x2066, 0x2067,
                                  0x2068, 0x2069, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E)})
_HALF_SPACES = {ord(c): ZWNJ for c in ("\u200b", "\u00ac", "\u2009", "\u200a", "\u202f")}

_TABLE = str.maketrans({**{ord(k): v for k, v in _ARABIC_TO_PERSIAN.items()}, **_DIGITS,
                        **_DROP, **_HALF_SPACES})

_STRETCH = re.compile(r"(\D)\1{2,}")  # three or more of one letter: «خیلیییی», «سلااام»
# Spaces around a half-space go. The look-behind lets a match start only where a run of
# spaces starts: the plain «\s*\u200c+\s*» retried every space of a long run and took
# seconds on a 50,000-character message of tabs and newlines.
_SPACES_AROUND_ZWNJ = re.compile(r"(?:(?<!\s)\s+)?\u200c+\s*")
_WHITESPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Readable, canonical Persian: the form we store, show to staff and match from."""
    text = unicodedata.normalize("NFKC", text)  # Arabic presentation forms → base letters
    text = text.translate(_TABLE)
    text = _STRETCH.sub(r"\1", text)
    if ZWNJ in text:  # a scan in C; the regex is far slower per character
        text = _SPACES_AROUND_ZWNJ.sub(ZWNJ, text)
    text = _blank_unprintable(text)
    return _WHITESPACE.sub(" ", text).strip()


def _blank_unprintable(text: str) -> str:
    """Control and format characters as spaces. The check runs once per distinct character
    and the replacing in C: after NFKC a 50,000-character message can be 18 times longer."""
    unprintable = {ord(ch): " " for ch in set(text)
                   if not (ch.isprintable() or ch in "\n\u200c")}
    return text.translate(unprintable) if unprintable else text


# Letters that sound alike in Persian and that citizens (and Whisper) swap freely.
_SOUND_ALIKE = str.maketrans({
    "ث": "س", "ص": "س",
    "ذ": "ز", "ض": "ز", "ظ": "ز",
    "ط": "ت",
    "ح": "ه",
    "غ": "ق",
    "آ": "ا",
    "ء": None,
})

# Verb prefixes and plural/clitic suffixes that people write detached, joined, or with ZWNJ.
_PREFIXES = ("می", "نمی", "بی")
_DETACHED_SUFFIXES = ("ها", "های", "هایی", "هایم", "هایت", "هایش", "هامون", "هاتون", "هاشون",
                      "ای", "ی", "ام", "ات", "اش", "تر", "ترین")

_NON_WORD = re.compile(r"[^\w\u200c]+")
# A token this long takes no more detached suffixes: no word is, and «x ها ها ها …» would
# otherwise rebuild an ever longer token once per suffix.
MAX_JOINED = 32


def _is_word_char_run(token: str) -> bool:
    return any(ch.isalnum() for ch in token)


def fold(token: str) -> str:
    """Matching key of one Persian token (already normalised, without ZWNJ)."""
    token = token.translate(_SOUND_ALIKE)
    if len(token) >= 4 and "ون" in token[1:]:
        # Spoken «ون» for written «ان»: خیابون/خیابان, خونه/خانه, بارون/باران.
        token = token[0] + token[1:].replace("ون", "ان")
    return token


def raw_tokens(text: str) -> list[str]:
    """Normalised word tokens, Finglish turned into Persian script, half-spaces joined."""
    words = [w for w in _NON_WORD.split(normalize(text).lower()) if w and _is_word_char_run(w)]
    tokens: list[str] = []
    for word in words:
        if word.isdigit():
            tokens.append(word)
            continue
        if is_latin_word(word):
            word = to_persian(word)
        word = word.replace(ZWNJ, "").replace("_", "")
        if not word:
            continue
        if tokens and tokens[-1] in _PREFIXES and not tokens[-1].isdigit():
            tokens[-1] += word  # «می خوام» → «میخوام»
        elif (tokens and word in _DETACHED_SUFFIXES and not tokens[-1].isdigit()
              and len(tokens[-1]) < MAX_JOINED):
            tokens[-1] += word  # «کوچه ها» → «کوچهها»
        else:
            tokens.append(word)
    return tokens


def match_tokens(text: str) -> list[str]:
    """Matching keys for a text: see the module docstring."""
    return [tok if tok.isdigit() else fold(tok) for tok in raw_tokens(text)]


def ascii_digits(text: str) -> str:
    return text.translate(_DIGITS)

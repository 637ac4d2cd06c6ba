"""Whether a citizen asks us to erase their own data («اطلاعات من را پاک کنید»).

Recognising the request is reading Persian, so it lives with the NLU; what erasing does is
``ticket_store.retention.erase_citizen``.
"""

from __future__ import annotations

import re

from peygir.nlu.normalize import ZWNJ, normalize

# «اطلاعات من را پاک کنید», «اطلاعاتم رو پاک کن», «حذف اطلاعات من», «شماره منو پاک کنید»:
# a word for the citizen's data, owned by them, and erasing asked for (not feared, not
# refused). Short messages only: a long one is a report that happens to use the words.
_DATA = r"(?:اطلاعات|مشخصات|شماره|شمار|تلفن|موبایل|اسم|نام|داده|دیتا|هویت|حساب|سوابق)"
_DATA_WORD = re.compile(rf"^{_DATA}(?:ه)?(?:ها|های)?(?:ی)?$")
_OWNED_WORD = re.compile(rf"^{_DATA}(?:ه)?(?:ها|های)?(?:ی)?(?:ا)?م(?:و|رو|را)?$")
_QUALIFIER = {"شخصی", "تماس", "همراه", "تلفن", "موبایل"}  # «اطلاعات شخصی من», «شماره تماس»
_OWNED_QUALIFIER = {"شخصیم", "شخصیمو", "شخصیمرو", "تماسم", "تماسمو", "همراهم", "همراهمو"}
_OWNER = {"من", "منو", "مرا", "منرو", "بنده", "خودم", "خودمو"}
_ERASE = {"پاک", "پاکش", "حذف", "حذفش"}
_ASK = {"کن", "کنید", "کنین", "کنی", "بکن", "بکنید", "بکنین", "بشه", "بشود", "شود", "شه",
        "نمایید", "بفرمایید"}
_NOUN = {"کردن", "شدن"}  # «پاک کردن اطلاعات من», a request written as a title
_REFUSE = ("نکن", "نشه", "نشود", "نمیخوا", "نخوا")
_MAX_WORDS = 15


def asks_erasure(text: str) -> bool:
    """Whether a message asks us to remove the citizen's own data."""
    words = _words(text)
    if not words or len(words) > _MAX_WORDS or any(w.startswith(_REFUSE) for w in words):
        return False
    return _owned_data(words) and _erasing(words)


def _owned_data(words: list[str]) -> bool:
    """A data word owned by the writer: «اطلاعاتم», or a run of data words followed by «من»
    («شماره تلفن من»); «شماره پلاک خونه من» is a house's number, not theirs."""
    for i, word in enumerate(words):
        if _OWNED_WORD.match(word):
            return True
        if not _DATA_WORD.match(word):
            continue
        j = i + 1
        while j < len(words) and (_DATA_WORD.match(words[j]) or words[j] in _QUALIFIER):
            j += 1
        if j < len(words) and (words[j] in _OWNER or words[j] in _OWNED_QUALIFIER):
            return True
    return False


def _erasing(words: list[str]) -> bool:
    """Erasing asked for: «پاک کنید», «حذف بشه», or a title «حذف اطلاعات من»."""
    for i, word in enumerate(words):
        if word not in _ERASE:
            continue
        after = words[i + 1] if i + 1 < len(words) else ""
        if after in _ASK:
            return True
        following = words[i + 2] if after in _NOUN and i + 2 < len(words) else after
        if _DATA_WORD.match(following) or _OWNED_WORD.match(following):
            return True
    return False


def _words(text: str) -> list[str]:
    joined = normalize(text or "").replace(ZWNJ, "")  # «شماره‌ام» and «شمارهام» meet
    return re.sub(r"[^\w\s]", " ", joined).split()

"""An Iranian mobile number as citizens write it, to the one form peygir keeps (+989xxxxxxxxx).

09121234567, 9121234567, +989121234567, 00989121234567 and 989121234567, in Latin, Persian
(۰۹۱۲…) or Arabic-Indic (٠٩١٢…) digits, with spaces, dashes, dots or brackets between them. A
landline, a short code or eleven digits of something else is not a mobile number.
"""

from __future__ import annotations

import re

_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_SEPARATORS = re.compile(r"[\s\-.()\u200c\u200e\u200f\u00a0]+")
# The national part: 9, then nine digits (the operators' prefixes 90x-99x). [0-9], not \d,
# which also takes Devanagari and other scripts' digits.
_MOBILE = re.compile(r"(?:\+98|0098|98|0)?(9[0-9]{9})")
MAX_INPUT = 40  # characters; a number with every separator written out is shorter


def _any(digit: str) -> str:
    latin = int(digit)
    return f"[{digit}{chr(0x06F0 + latin)}{chr(0x0660 + latin)}]"


# The same numbers written without separators, in any of the three digit sets: what an API
# declares it takes (a page compacts what the citizen typed), so a schema-valid number is one.
COMPACT_PATTERN = (
    f"^(?:\\+{_any('9')}{_any('8')}|{_any('0')}{_any('0')}{_any('9')}{_any('8')}"
    f"|{_any('9')}{_any('8')}|{_any('0')})?{_any('9')}[0-9۰-۹٠-٩]{{9}}$"
)


def iranian_mobile(text: str) -> str | None:
    """``+989xxxxxxxxx`` for a mobile number, written any of the usual ways; else None."""
    if len(text) > MAX_INPUT:
        return None
    compact = _SEPARATORS.sub("", text.translate(_DIGITS))
    found = _MOBILE.fullmatch(compact)
    return f"+98{found.group(1)}" if found else None


def looks_like_a_number(text: str) -> bool:
    """Nine to fifteen digits and little else: meant as a phone number, even if not a valid
    one (so the citizen is asked again rather than have it read as a report). Eight digits
    alone are a tracking code, not a mistyped number."""
    compact = _SEPARATORS.sub("", text.translate(_DIGITS)).lstrip("+")
    digits = sum("0" <= c <= "9" for c in compact)
    return 9 <= digits <= 15 and digits >= len(compact) - 1

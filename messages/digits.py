"""Persian digits for what a citizen reads (the NLU reads them back as ASCII)."""

_TO_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def persian_digits(text: str) -> str:
    """ASCII digits to Persian ones, for anything a citizen reads."""
    return text.translate(_TO_PERSIAN_DIGITS)

"""Canned replies of a city pack (``replies.yaml``, optional): texts an operator sends a
citizen with one pick, per service or for every ticket.

``replies.yaml``::

    replies:
      - id: visit_scheduled             # unique; what the panel's overrides refer to
        title: بازدید کارشناس            # what the operator picks from
        services: [asphalt, pothole]    # leave out for a reply that fits every ticket
        text: درخواست {code} به {unit} رسید و تا {deadline} بررسی می‌شود.

The text may name only the placeholders in PLACEHOLDERS; anything else in braces is a pack
error, so a typo never reaches a citizen as ``{dedline}``. An administrator may rewrite a
reply's title and text in the panel; those edits are kept in the database, the pack stays as
the city wrote it.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from peygir.config.strict import Strict

# What a reply's text may name: the ticket's tracking code, its answer deadline (Jalali),
# and the name of the unit it is with.
PLACEHOLDERS = ("code", "deadline", "unit")
TITLE_MAX = 120
TEXT_MAX = 2000  # the panel's reply box takes 4000; a resolved text stays well inside it
_BRACED = re.compile(r"\{([^{}]*)\}")


def placeholder_problem(text: str) -> str | None:
    """Why ``text`` is not a valid reply text, or None: an unknown name in braces, or a brace
    that opens or closes nothing."""
    unknown = [name for name in _BRACED.findall(text) if name not in PLACEHOLDERS]
    if unknown:
        known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        return f"unknown placeholder {{{unknown[0]}}}; use only {known}"
    if "{" in _BRACED.sub("", text) or "}" in _BRACED.sub("", text):
        return "a brace that is not part of a placeholder"
    return None


def fill(text: str, values: dict[str, str]) -> str:
    """The text with each known placeholder replaced (one pass, so a value that itself looks
    like a placeholder is left as it is)."""
    return _BRACED.sub(lambda m: values.get(m.group(1), m.group(0)), text)


class CannedReply(Strict):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    text: str = Field(min_length=1, max_length=TEXT_MAX)
    services: tuple[str, ...] = ()  # empty: fits every ticket

    @field_validator("text")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        problem = placeholder_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("services", mode="before")
    @classmethod
    def _codes(cls, value: object) -> object:
        if value is None:
            return ()
        if isinstance(value, str):
            raise ValueError("must be a list of service codes, not one string")
        return value

    def fits(self, service_code: str) -> bool:
        return not self.services or service_code in self.services

"""What every entry of a city pack shares, whichever package owns its model (services here,
FAQ entries in ``faq/``): unknown fields are errors, entries are frozen, and a list of phrases
given as one bare string is named rather than read letter by letter."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


def phrase_list(cls: type, value: Any) -> Any:
    """Lists of phrases may be left empty; one bare string is a mistake worth naming."""
    if value is None:
        return ()
    if isinstance(value, str):
        raise ValueError("must be a list of phrases, not one string")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

"""One FAQ entry of a city pack, as ``faq.yaml`` gives it (the schema; ``faq/`` answers with it).

``config/pack.py`` reads the file and collects its problems along with the rest of the pack's;
this model says what a valid entry is, so ``peygir pack check`` names an entry's bad field.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from peygir.config.strict import Strict, phrase_list


class FaqEntry(Strict):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    group: str = ""
    variants: tuple[str, ...] = ()  # other ways citizens ask the same question

    _phrases = field_validator("variants", mode="before")(phrase_list)

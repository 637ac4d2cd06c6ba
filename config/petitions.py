"""A city's rules for petitions (issue 20): how many signatures make a petition the city must
answer formally, and in how many days.

Set in the pack's ``deadlines.yaml`` under ``petitions:`` (every key optional)::

    petitions:
      district_threshold: 100   # signatures a petition about one district needs
      city_threshold: 1000      # ... and one about the whole city
      answer_days: 30           # the formal answer is due this many days after it passes
      unit: culture             # the unit that answers petitions (a code from units.yaml) ...
      service: park_maintenance # ... or a service code: routed like a report of it

With neither ``unit`` nor ``service`` the ticket a petition opens waits in the centre's queue,
where an operator assigns it to the unit responsible.
"""

from __future__ import annotations

from pydantic import Field

from peygir.config.strict import Strict

PETITION_SERVICE = "petition"  # a petition's ticket's service code when the pack names none


class PetitionRules(Strict):
    district_threshold: int = Field(default=100, ge=1, le=10_000_000)
    city_threshold: int = Field(default=1000, ge=1, le=10_000_000)
    answer_days: int = Field(default=30, ge=1, le=366)
    unit: str | None = Field(default=None, min_length=1, max_length=64)
    service: str | None = Field(default=None, min_length=1, max_length=64)

    def threshold(self, district: str | None) -> int:
        """Signatures needed: a district's petition, or (``None``) the whole city's."""
        return self.district_threshold if district else self.city_threshold

    @property
    def service_code(self) -> str:
        return self.service or PETITION_SERVICE

    def problems(self, units: set[str], services: set[str]) -> list[tuple[str, str]]:
        """(field, message) for each code the rules name that the pack does not have."""
        found: list[tuple[str, str]] = []
        if self.unit is not None and self.unit not in units:
            found.append(("petitions.unit", f"unknown unit code '{self.unit}'"))
        if self.service is not None and self.service not in services:
            found.append(("petitions.service", f"unknown service code '{self.service}'"))
        return found

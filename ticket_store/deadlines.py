"""The deadlines a 137 centre holds its units to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from peygir.config.city import DeadlineRules

_NATIONAL = DeadlineRules()  # the 137 centres' own figures, unless a city tightens them


@dataclass(frozen=True)
class Deadlines:
    urgent_onsite: timedelta = _NATIONAL.urgent_onsite
    urgent_answer: timedelta = _NATIONAL.urgent_answer
    first_answer: timedelta = _NATIONAL.first_answer

    @classmethod
    def from_rules(cls, rules: DeadlineRules) -> Deadlines:
        return cls(rules.urgent_onsite, rules.urgent_answer, rules.first_answer)

    def due(self, urgent: bool, now: datetime) -> tuple[datetime | None, datetime]:
        """(on site by, answered by) for a ticket filed at ``now``."""
        if urgent:
            return now + self.urgent_onsite, now + self.urgent_answer
        return None, now + self.first_answer

"""What the workflow says, named but not worded: the store speaks no Persian.

The workflow decides *that* a timeline line is written, a citizen is told, or a button's
answer is given, and with which facts; the conversation layer above (``bots.notices``) words
each one and queues it, inside the workflow's own transaction (the outbox rule holds). The
store defines what it needs here; the layer above provides it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol

from peygir.ticket_store.models import Ticket


class Line(StrEnum):
    """A timeline line staff read on a ticket."""

    FILED = "filed"  # channel
    ROUTED = "routed"  # unit (its name)
    LINKED = "linked"
    EVIDENCE = "evidence"
    STAFF_REPLY = "staff_reply"  # text
    SERVICE_CHANGED = "service_changed"  # old, new (service names)
    CONSENT_REQUESTED = "consent_requested"
    CONSENT_GIVEN = "consent_given"
    CONSENT_REFUSED = "consent_refused"
    ACCEPTED = "accepted"
    RATED = "rated"  # stars
    AUTO_CLOSED = "auto_closed"
    ESCALATED = "escalated"  # recipient (manager or deputy), name, hours


class Answer(StrEnum):
    """What became of a button a citizen pressed on a ticket's notification."""

    ALREADY_DONE = "already_done"  # the ticket has moved on: the button does nothing now
    ACCEPTED = "accepted"  # closed on their word (the survey follows as a notice)
    ASK_CORRECTION = "ask_correction"  # their next text is what still needs doing
    RATED = "rated"
    ALREADY_RATED = "already_rated"
    CONSENT_GIVEN = "consent_given"
    CONSENT_GIVEN_NEED_PHONE = "consent_given_need_phone"
    CONSENT_REFUSED = "consent_refused"


class Voice(Protocol):
    """The words for what the workflow does; implemented above the store."""

    def line(self, what: Line, **facts: object) -> str:
        """A timeline line, for staff."""
        ...

    async def status_changed(self, ticket: Ticket, status: str, note: str, when: datetime,
                             evidence: list[str]) -> None:
        """Tell the ticket's chat that it moved (and, resolved, ask them to accept it)."""
        ...

    async def survey(self, ticket: Ticket) -> None:
        """Ask the ticket's chat to rate the work."""
        ...

    async def staff_reply(self, ticket: Ticket, text: str) -> None:
        ...

    async def service_changed(self, ticket: Ticket, service_code: str) -> None:
        ...

    async def consent_asked(self, ticket: Ticket) -> None:
        ...

    async def escalation_digest(self, channel: str, chat_id: str, name: str,
                                codes: list[str], hours: float) -> None:
        """One message to a unit's manager or deputy listing their overdue tickets."""
        ...

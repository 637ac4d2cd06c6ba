"""Who a timeline line names, as staff read it: the staff members' own names for the
``staff:<username>`` actors the workflow writes (fmt.actor_label words the rest)."""

from __future__ import annotations

from collections.abc import Iterable

from peygir.ticket_store.models import StaffUser, TicketEvent
from peygir.web.panel.fmt import STAFF_PREFIX


async def staff_names(events: Iterable[TicketEvent]) -> dict[str, str]:
    """username → full name, for the staff members on these lines who have one."""
    usernames = {e.actor[len(STAFF_PREFIX):] for e in events if e.actor.startswith(STAFF_PREFIX)}
    if not usernames:
        return {}
    rows = await StaffUser.filter(username__in=sorted(usernames)).values_list("username",
                                                                              "full_name")
    return {str(u): str(n) for u, n in rows if n}

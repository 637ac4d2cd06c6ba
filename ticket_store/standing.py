"""A citizen's standing: municipal volunteers (همیار شهرداری) and trusted reporters
(شهربان) are served first. Set from the panel's citizen page or ``peygir citizens standing``;
it weighs on the reports they file from then on (Ticket.priority is set at filing)."""

from __future__ import annotations

from peygir.ticket_store.models import Citizen, Standing


def parse(value: str) -> Standing | None:
    """``none``, ``volunteer`` or ``trusted`` (as the CLI and the panel's form give it)."""
    if value == "none":
        return Standing.NONE
    try:
        standing = Standing(value)
    except ValueError:
        return None
    return standing if standing != Standing.NONE else None


async def set_standing(citizen: Citizen, standing: Standing) -> bool:
    """True if it changed."""
    if citizen.standing == standing:
        return False
    citizen.standing = standing
    await citizen.save(update_fields=["standing"])
    return True


async def by_channel_user(channel: str, user_id: str) -> Citizen | None:
    """The citizen who wrote from this channel's user id; None if nobody did."""
    return await Citizen.get_or_none(channel=channel, user_id=user_id)

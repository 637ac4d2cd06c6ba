"""The citizen's story beside a ticket: the conversation's transcript (what the citizen wrote
and sent, what the bot and staff answered) and the citizen's other tickets.

The 137 centre, managers and admins read the chat's whole transcript (its newest lines) and
every other ticket of the citizen; a unit reads only its own ticket's part (the report's
conversation up to its filing and what was said about that ticket afterwards) and only the
citizen's other tickets that are its own too. The phone never appears: a shared number is
logged as the fact that it was shared (see ``_contact`` in web.panel.tickets for who sees it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peygir.ticket_store import chatlog
from peygir.ticket_store.models import Attachment, Citizen, StaffRole, StaffUser, Ticket
from peygir.ticket_store.retention import ERASED
from peygir.web.panel import queries
from peygir.web.panel.fmt import STAFF_PREFIX
from peygir.web.panel.security import Staff

CITIZEN, BOT = "شهروند", "پیگیر"
OTHERS = 30  # other tickets listed
# What a line that carries no words of its own says happened.
DID = {
    "contact": "شمارهٔ تماس خود را فرستاد.",
    "location": "موقعیت مکانی فرستاد.",
    "other": "پیامی فرستاد که پیگیر نمی‌پذیرد (مانند برچسب یا نظرسنجی).",
    "button": "گزینه‌ای را زد.",
}
PRESSED = "گزینهٔ «{label}» را زد."
MEDIA = {"photo": "photo", "voice": "audio", "audio": "audio", "video": "video",
         "video_note": "video", "document": "file"}


@dataclass(frozen=True)
class StoryLine:
    citizen: bool  # the citizen's (else the bot's or staff's)
    who: str  # «شهروند», «پیگیر» or the staff member's name
    text: str
    at: datetime
    media: str = ""  # photo, audio, video, file; "gone" when the file is no longer kept
    media_id: int = 0
    offered: tuple[str, ...] = ()  # the labels of the buttons offered
    photos: int = 0  # the unit's evidence photos sent with it
    this_ticket: bool = False  # part of this ticket's conversation


@dataclass(frozen=True)
class Story:
    lines: list[StoryLine]
    others: list[dict[str, Any]]
    whole_chat: bool  # the chat's whole transcript (else this ticket's part only)


def _words(line: chatlog.Line) -> str:
    if line.kind == "button":
        return PRESSED.format(label=line.text) if line.text else DID["button"]
    if line.direction == chatlog.IN and not line.text and line.kind in DID:
        return DID[line.kind]
    return line.text


async def _names(lines: list[chatlog.Line]) -> dict[str, str]:
    users = {line.who[len(STAFF_PREFIX):] for line in lines if line.who.startswith(STAFF_PREFIX)}
    if not users:
        return {}
    rows = await StaffUser.filter(username__in=sorted(users)).values_list("username",
                                                                          "full_name")
    return {str(u): str(n) for u, n in rows if n}


def _who(who: str, names: dict[str, str]) -> str:
    if who.startswith(STAFF_PREFIX):
        username = who[len(STAFF_PREFIX):]
        return names.get(username) or username
    return CITIZEN if who == chatlog.CITIZEN else BOT


async def _files(lines: list[chatlog.Line]) -> dict[int, Attachment]:
    ids = sorted({line.attachment_id for line in lines if line.attachment_id})
    return {a.id: a for a in await Attachment.filter(id__in=ids)} if ids else {}


def _media(line: chatlog.Line, files: dict[int, Attachment]) -> tuple[str, int]:
    """How the panel shows a line's file: served by /panel/media/{id} only once it belongs
    to a ticket (that route's own check then applies) and is still on disk."""
    if not line.attachment_id:
        return "", 0
    found = files.get(line.attachment_id)
    if found is None or found.ticket_id is None or not found.path:
        return "gone", 0
    return MEDIA.get(found.kind, "file"), found.id


async def for_ticket(staff: Staff, ticket: Ticket) -> Story:
    whole = not staff.is_(StaffRole.UNIT)
    if ticket.anonymised_at is not None or ticket.chat_id == ERASED:
        lines: list[chatlog.Line] = []  # its words are gone (ticket_store.retention)
    elif whole:
        lines = await chatlog.of_chat(ticket.channel, ticket.chat_id)
    else:
        lines = await chatlog.of_ticket(ticket.id)
    names, files = await _names(lines), await _files(lines)
    story = []
    for line in lines:
        media, media_id = _media(line, files)
        story.append(StoryLine(
            citizen=line.direction == chatlog.IN, who=_who(line.who, names),
            text=_words(line), at=line.at, media=media, media_id=media_id,
            offered=tuple(label for row in line.buttons for label, _ in row),
            photos=len(line.photos), this_ticket=line.ticket_id == ticket.id))
    return Story(story, await _others(staff, ticket), whole)


async def _others(staff: Staff, ticket: Ticket) -> list[dict[str, Any]]:
    """The citizen's other tickets this staff member may open (none once anonymised: the
    shared anonymous citizen links nobody's tickets)."""
    citizen_id = ticket.citizen_id  # type: ignore[attr-defined]
    if ticket.anonymised_at is not None or await Citizen.exists(id=citizen_id,
                                                                 channel=ERASED):
        return []
    query = queries.scope(staff.user, Ticket.filter(citizen_id=citizen_id).exclude(
        id=ticket.id))
    return await query.order_by("-created_at").limit(OTHERS).values(
        "tracking_code", "service_code", "status", "created_at")

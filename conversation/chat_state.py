"""What the conversation remembers about one chat between messages, typed.

Stored as JSON in ``chat_state`` (the store keeps it as a plain dict and reads none of it);
the dialogue is the only writer. Every key is optional: a new chat has none of them.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, TypedDict, cast

from peygir.messages.types import Reply

Stage = Literal["idle", "choose", "location", "confirm", "correction"]


class Place(TypedDict):
    lat: float
    lon: float


class Draft(TypedDict, total=False):
    """The report being made."""

    text: str  # the citizen's words, normalised, at most MAX_DESCRIPTION characters
    service: str  # the subject chosen (a service code)
    candidates: list[str]  # button data of the subjects offered, in order
    lat: float
    lon: float
    address: str
    geocoded: str  # lat/lon came from the typed address: the district the geocoder found
    no_location: bool  # the citizen chose to go on without a place
    transcript: str  # Whisper's text, when the report came as a voice note


class PetitionDraft(TypedDict, total=False):
    """A petition being proposed (conversation/petitions.py)."""

    step: Literal["title", "text", "district", "photo", "confirm"]
    title: str
    text: str
    district: str  # a district code; "" for the whole city
    photo: int  # the Attachment row of the photo sent with it


class QrVisit(TypedDict, total=False):
    """A staff member's or a place's QR code was opened (conversation/qr.py)."""

    subject: int  # the QrSubject row
    step: Literal["kind", "text", "service", "describe", "other", "confirm"]
    feedback: str  # staff: praise, suggestion or complaint
    service: str  # a place: the service chosen
    photo: int  # staff: the Attachment row of the photo sent with the feedback


class Offered(TypedDict):
    label: str
    data: str


class ChatState(TypedDict, total=False):
    stage: Stage  # what the bot waits for
    draft: Draft
    choices: list[str]  # plain-text channels: what each number of the last choices stands for
    pending_location: Place  # a place sent before any subject
    attachments: list[int]  # files kept for the next report (attachment row ids)
    attached_kinds: list[str]  # their kinds, in the same order (the confirmation lists them)
    transcribing: int  # voice notes of this chat still being transcribed
    album: str | None  # the media group of the last message (one acknowledgement an album)
    deep_link: str  # the start payload the chat came with (a QR code, a staff link)
    correcting: str  # the tracking code whose correction the next text is
    awaiting_phone: str  # a unit may call about this ticket: the next number typed is theirs
    # The buttons last shown, until one is used: the web chat shows them live again after a
    # reload, and typing one's label is pressing it (see offer, use).
    offered: list[Offered]
    since: int  # the transcript line the report being made began with (ticket_store.chatlog)
    petition: PetitionDraft  # a petition being proposed, step by step
    # Area alerts (conversation/alerts.py): the next location sent picks an alert's area,
    # not a report's place; then the point whose radius the citizen is choosing.
    alert_awaiting: bool
    alert_point: Place
    qr: QrVisit  # a staff member's or a place's QR code being used (issue 20)
    # Active citizens and volunteers (conversation/active.py): the next text is the public
    # name asked for, or the reason of a volunteer's application.
    active_step: Literal["name", "reason"]


def as_chat_state(stored: dict[str, Any]) -> ChatState:
    """The store's JSON dict as the conversation reads it (written only by the dialogue)."""
    return cast(ChatState, stored)


def forget_all(state: ChatState) -> None:
    """Start the chat afresh (/start, an erasure request), in place."""
    cast(dict[str, Any], state).clear()


def remember_choices(state: ChatState, replies: list[Reply]) -> None:
    """On a channel without buttons, keep what each number of the last choices stands for
    (the dialogue's replies, and a ticket's notices with buttons)."""
    with_buttons = [r for r in replies if r.buttons]
    if with_buttons:
        state["choices"] = [b.data for row in with_buttons[-1].buttons for b in row]
    else:
        state.pop("choices", None)  # a later digit is then text, not an old choice


def offer(state: ChatState, replies: list[Reply]) -> None:
    """The last buttons among these replies are the chat's live ones now (none: unchanged)."""
    with_buttons = [r for r in replies if r.buttons]
    if with_buttons:
        state["offered"] = [{"label": b.label, "data": b.data}
                            for row in with_buttons[-1].buttons for b in row]


def use(state: ChatState, data: str) -> str | None:
    """A button was pressed: if it is a live one, the set is used up (a second press of any
    of them is an old button). Returns its label, for the transcript."""
    for button in state.get("offered", []):
        if button["data"] == data:
            del state["offered"]
            return button["label"]
    return None


@dataclass
class Turn:
    """The update being handled: its chat's state, live in memory (a notice queued for the
    same chat meanwhile updates it there, not in the database the dialogue then overwrites),
    and the ticket the update turned out to be about."""

    channel: str
    chat_id: str
    state: ChatState
    ticket_id: int | None = None
    filed: bool = False  # the update filed that ticket


TURN: ContextVar[Turn | None] = ContextVar("peygir_turn", default=None)


def turn_for(channel: str, chat_id: str) -> Turn | None:
    """The update being handled, if it is this chat's."""
    turn = TURN.get()
    return turn if turn is not None and (turn.channel, turn.chat_id) == (channel, chat_id) \
        else None


def about(ticket_id: int, filed: bool = False) -> None:
    """The update being handled is about this ticket (``filed``: it filed it): its lines in
    the transcript are tied to it."""
    turn = TURN.get()
    if turn is not None:
        turn.ticket_id = ticket_id
        turn.filed = turn.filed or filed

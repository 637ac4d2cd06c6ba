"""What the conversation remembers about one chat between messages, typed.

Stored as JSON in ``chat_state`` (the store keeps it as a plain dict and reads none of it);
the dialogue is the only writer. Every key is optional: a new chat has none of them.
"""

from __future__ import annotations

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
    no_location: bool  # the citizen chose to go on without a place
    transcript: str  # Whisper's text, when the report came as a voice note


class ChatState(TypedDict, total=False):
    stage: Stage  # what the bot waits for
    draft: Draft
    choices: list[str]  # plain-text channels: what each number of the last choices stands for
    pending_location: Place  # a place sent before any subject
    attachments: list[int]  # files kept for the next report (attachment row ids)
    transcribing: int  # voice notes of this chat still being transcribed
    album: str | None  # the media group of the last message (one acknowledgement an album)
    deep_link: str  # the start payload the chat came with (a QR code, a staff link)
    correcting: str  # the tracking code whose correction the next text is


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

"""The citizen's side of the transcript (``ticket_store.chatlog``), written by the dialogue in
the transaction that handles the update: a repeat of the update is never logged again.

A report's conversation runs from its first message (the first that left a draft, a file or a
place waiting in the chat's state) to its filing; at filing those lines are tied to the new
ticket, which is what its unit may read.
"""

from __future__ import annotations

from peygir.conversation.chat_state import ChatState, Turn
from peygir.messages.types import IncomingMessage
from peygir.ticket_store import chatlog

# What in the chat's state says a report is being made.
_MAKING = ("draft", "attachments", "pending_location")


def _kind(message: IncomingMessage) -> str:
    if message.contact:
        return "contact"  # never the number itself: staff see it only as _contact allows
    if message.callback_data:
        return "button"
    if message.location:
        return "location"
    if message.unsupported:
        return "other"
    return "text"


async def record_in(message: IncomingMessage, pressed: str | None, before: ChatState,
                    turn: Turn) -> tuple[int | None, int | None]:
    """The citizen's message as one line (a line more for each further file); returns its
    id and the citizen it names. Whisper's text of a voice note is not the citizen's: the
    note itself was logged when it came, and the bot's «I heard …» answer is logged too."""
    if message.from_voice:
        return None, None
    kind = _kind(message)
    text = (pressed or "") if kind == "button" else message.text if kind == "text" else ""
    kept = [i for i in turn.state.get("attachments", [])
            if i not in before.get("attachments", [])]
    # Kept in the order they came: one row id for each file that was fetched.
    files = list(zip(kept, [a.kind for a in message.attachments if a.path], strict=False))
    return await chatlog.record_in(message.channel, message.chat_id, message.user_id,
                                   kind=kind, text=text, attachments=files,
                                   ticket_id=turn.ticket_id)


async def follow_report(turn: Turn, before: ChatState, line_id: int | None,
                        citizen_id: int | None) -> None:
    """Keep where the report being made began; at its filing, tie its lines to the ticket."""
    state = turn.state
    if turn.filed and turn.ticket_id is not None:
        since = before.get("since") or line_id
        if since is not None:
            await chatlog.link_report(turn.channel, turn.chat_id, since, turn.ticket_id,
                                      citizen_id)
        state.pop("since", None)
    elif any(key in state for key in _MAKING):
        if "since" not in state and line_id is not None:
            state["since"] = line_id
    else:
        state.pop("since", None)

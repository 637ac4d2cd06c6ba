"""The words a citizen (and staff) read when a ticket moves: ``ticket_store.voice.Voice``.

The workflow names what happened; this composes the Persian and queues it in the outbox, in
the workflow's transaction. Only the chat that filed a ticket is ever told about it.
"""

from __future__ import annotations

from datetime import datetime

from peygir.config.pack import Pack
from peygir.conversation.chat_state import as_chat_state, offer, remember_choices, turn_for
from peygir.conversation.petitions import tell_signers_message, tell_signers_status
from peygir.messages import texts
from peygir.messages.persian import CHANNEL_LABELS, STATUS_LABELS, citizen_facing, jalali
from peygir.messages.persian import to_persian_digits as digits
from peygir.messages.types import PLAIN_TEXT_CHANNELS, Button, Reply
from peygir.ticket_store import store
from peygir.ticket_store.models import Ticket
from peygir.ticket_store.voice import Answer, Line

NO_CHAT_CHANNELS = frozenset({"open311"})  # tickets filed by an app: nobody to message
DIGEST_CODES = 30  # codes listed in one escalation message; the rest are counted

_LINES = {
    Line.ROUTED: texts.ROUTED_NOTE,
    Line.LINKED: texts.LINKED_NOTE,
    Line.EVIDENCE: texts.EVIDENCE_NOTE,
    Line.STAFF_REPLY: texts.STAFF_REPLY_NOTE,
    Line.SERVICE_CHANGED: texts.SERVICE_CHANGED_NOTE,
    Line.CONSENT_REQUESTED: texts.CONSENT_REQUESTED_NOTE,
    Line.CONSENT_GIVEN: texts.CONSENT_GIVEN_NOTE,
    Line.CONSENT_REFUSED: texts.CONSENT_REFUSED_NOTE,
    Line.ACCEPTED: texts.ACCEPTED_NOTE,
    Line.RATED: texts.RATED_NOTE,
    Line.AUTO_CLOSED: texts.AUTO_CLOSED_NOTE,
    Line.ESCALATED: texts.ESCALATED_NOTE,
}
_ANSWERS = {
    Answer.ALREADY_DONE: Reply(texts.ALREADY_DONE),
    Answer.ASK_CORRECTION: Reply(texts.ASK_CORRECTION),
    Answer.RATED: Reply(texts.THANKS_FOR_RATING),
    Answer.ALREADY_RATED: Reply(texts.ALREADY_RATED),
    Answer.CONSENT_GIVEN: Reply(texts.CONSENT_GIVEN),
    Answer.CONSENT_GIVEN_NEED_PHONE: Reply(texts.CONSENT_GIVEN_NEED_PHONE,
                                           request_contact=True),
    Answer.CONSENT_REFUSED: Reply(texts.CONSENT_REFUSED),
}


class Notices:
    """Words and delivery for the workflow (``ticket_store.voice.Voice``)."""

    def __init__(self, pack: Pack, timezone: str = "Asia/Tehran") -> None:
        self.pack = pack
        self.timezone = timezone

    # -- timeline lines ----------------------------------------------------------------------
    def line(self, what: Line, **facts: object) -> str:
        if what == Line.FILED:
            channel = str(facts["channel"])
            return f"ثبت از {CHANNEL_LABELS.get(channel, channel)}"
        if what == Line.ESCALATED:
            recipient = str(facts["recipient"])
            return texts.ESCALATED_NOTE.format(
                recipient=texts.RECIPIENT_LABELS.get(recipient, recipient),
                name=facts.get("name") or texts.CENTRE_QUEUE,
                hours=digits(f"{facts['hours']:g}"))
        return _LINES[what].format(**facts)

    # -- what a citizen is told --------------------------------------------------------------
    async def status_changed(self, ticket: Ticket, status: str, note: str, when: datetime,
                             evidence: list[str]) -> None:
        lines = [texts.STATUS_CHANGED.format(
            code=ticket.tracking_code, service=self.service_name(ticket.service_code),
            status=STATUS_LABELS.get(status, status), when=jalali(when, self.timezone),
        )]
        if note:
            lines.append(texts.STATUS_NOTE.format(note=note))
        buttons: tuple[tuple[Button, ...], ...] = ()
        photos: tuple[str, ...] = ()
        if status == "resolved":
            photos = tuple(evidence)
            lines.append(texts.RESOLVED_ASK)
            buttons = ((Button(texts.ACCEPT, f"accept:{ticket.tracking_code}"),),
                       (Button(texts.CONTEST, f"contest:{ticket.tracking_code}"),))
        await self.tell(ticket, Reply("\n".join(lines), buttons, photos=photos))
        await tell_signers_status(ticket, status, note, when)  # a petition's signers too

    async def survey(self, ticket: Ticket) -> None:
        await self.tell(ticket, self.survey_reply(ticket))

    def survey_reply(self, ticket: Ticket) -> Reply:
        # 1 to 5 in order: on a channel without buttons the digit typed is the rating given.
        stars = tuple(Button(str(n), f"rate:{ticket.tracking_code}:{n}") for n in range(1, 6))
        return Reply(texts.SURVEY.format(code=ticket.tracking_code), (stars,))

    async def staff_reply(self, ticket: Ticket, text: str) -> None:
        await self.tell(ticket, Reply(texts.STAFF_REPLY.format(code=ticket.tracking_code,
                                                               text=text)))
        await tell_signers_message(ticket, text)  # a petition's signers too

    async def service_changed(self, ticket: Ticket, service_code: str) -> None:
        await self.tell(ticket, Reply(texts.SERVICE_CHANGED.format(
            code=ticket.tracking_code, service=self.service_name(service_code))))

    async def consent_asked(self, ticket: Ticket) -> None:
        code = ticket.tracking_code
        await self.tell(ticket, Reply(
            texts.CONSENT_ASK.format(code=code),
            ((Button(texts.CONSENT_YES, f"consent:{code}:yes"),
              Button(texts.CONSENT_NO, f"consent:{code}:no")),),
        ))

    async def escalation_digest(self, channel: str, chat_id: str, name: str,
                                codes: list[str], hours: float) -> None:
        listed = "\n".join(f"• {code}" for code in codes[:DIGEST_CODES])
        if len(codes) > DIGEST_CODES:
            listed += "\n…"
        await store.enqueue(channel, chat_id, citizen_facing(Reply(texts.ESCALATION_DIGEST.format(
            name=name, count=len(codes), hours=digits(f"{hours:g}"), codes=listed))))

    # -- answers to a citizen's buttons ------------------------------------------------------
    @staticmethod
    def answer(what: Answer | None) -> list[Reply]:
        """The direct reply to a ticket button (none when a notice follows instead)."""
        if what is None or what == Answer.ACCEPTED:
            return []
        return [_ANSWERS[what]]

    # -- delivery ----------------------------------------------------------------------------
    async def tell(self, ticket: Ticket, reply: Reply) -> None:
        """Queue a message to the chat that filed the ticket, and to no other chat."""
        if ticket.channel in NO_CHAT_CHANNELS:
            return
        reply = citizen_facing(reply)
        await store.enqueue(ticket.channel, ticket.chat_id, reply, ticket_id=ticket.id,
                            citizen_id=ticket.citizen_id)  # type: ignore[attr-defined]
        if reply.buttons:
            # The chat's live buttons (and, with no buttons there, the numbered choices a
            # digit answers). In the update of that very chat, its state is in memory.
            turn = turn_for(ticket.channel, ticket.chat_id)
            state = turn.state if turn is not None else as_chat_state(
                await store.load_state(ticket.channel, ticket.chat_id))
            offer(state, [reply])
            if ticket.channel in PLAIN_TEXT_CHANNELS:
                remember_choices(state, [reply])
            if turn is None:
                await store.save_state(ticket.channel, ticket.chat_id, dict(state))

    def service_name(self, code: str) -> str:
        service = self.pack.service_by_code.get(code)
        return service.service_name if service else code

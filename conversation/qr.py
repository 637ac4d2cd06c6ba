"""QR codes for staff members and places in the conversation (issue 20).

A code opens the chat with its entry already known: Telegram/Bale through the start link
(``/start qr-<token>``), the web chat through ``/q/<token>`` (the page then presses
``qr:open:<token>``).

- A staff member's code: «بازخورد درباره <name>، <role>» and three buttons (praise,
  suggestion, complaint); the citizen's text (and an optional photo sent before it or with it)
  is kept for the review team (ticket_store/qr.py), never filed as a ticket, so never in the
  member's own unit's queue. The citizen sees only the name and the role.
- A place's code: «گزارش مشکل در <place>» and its likely services as buttons (and «موضوع
  دیگر»); the chosen service and the citizen's words make an ordinary report with the place's
  point and name already filled in, confirmed and filed by the dialogue, so it routes like any
  report; the ticket is tied to the place (:meth:`QrCodes.filed`).
- A revoked or unknown code: «این کد دیگر معتبر نیست», and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from peygir.config.clock import utcnow
from peygir.config.pack import Pack
from peygir.conversation.chat_state import ChatState, Draft, QrVisit, forget_all, use
from peygir.messages import qr_texts as t
from peygir.messages.types import PLAIN_TEXT_CHANNELS, Button, IncomingMessage, Reply
from peygir.nlu.normalize import ascii_digits, normalize
from peygir.ticket_store import qr, store
from peygir.ticket_store.models import FeedbackKind, QrSubject, QrSubjectKind, Ticket
from peygir.ticket_store.workflow import SYSTEM_ACTOR, Workflow

PREFIX = "qr:"  # every QR button's data
MAX_DESCRIPTION = 4000


def link_payload(token: str) -> str:
    """The start payload of a code's Telegram/Bale link (t.me/<bot>?start=…)."""
    return qr.LINK_PREFIX + token


def _short(text: str) -> str:
    return ascii_digits(normalize(text[:200])).strip(" .!؟?").lower()


class QrCodes:
    def __init__(self, pack: Pack, workflow: Workflow, *,
                 advance: Callable[[ChatState], list[Reply]],
                 clock: Callable[[], datetime] = utcnow,
                 plain_channels: frozenset[str] = PLAIN_TEXT_CHANNELS) -> None:
        self.pack = pack
        self.workflow = workflow
        self.advance = advance  # the dialogue's next step of a draft (the confirmation)
        self.clock = clock
        self.plain_channels = plain_channels

    # -- the dialogue's entry points ---------------------------------------------------------
    async def respond(self, msg: IncomingMessage, state: ChatState) -> list[Reply] | None:
        """The replies when this update is about a QR code; None leaves it to the dialogue."""
        if msg.start_payload is not None:
            payload = msg.start_payload.strip()
            if not payload.startswith(qr.LINK_PREFIX):
                return None
            return await self.open(payload[len(qr.LINK_PREFIX):], state)
        data = msg.callback_data or self._typed(msg, state)
        if data is not None:
            if not data.startswith(PREFIX):
                return None
            if not msg.callback_data:
                use(state, data)  # a typed label or digit pressed it: the set is used up
            return await self._button(msg, data[len(PREFIX):], state)
        visit = state.get("qr")
        if visit is None or msg.from_voice or msg.location:
            return None
        if (msg.text or "").strip().startswith("/"):
            return None  # /start, /help: the dialogue's
        step = visit.get("step")
        if step == "text":
            return await self._feedback(msg, visit, state)
        if step == "describe":
            return await self._describe(msg, visit, state)
        if step == "kind" and (msg.text or "").strip():
            return [Reply(t.PICK_KIND, _kind_rows())]
        if step == "service" and (msg.text or "").strip():
            # Words instead of a button: the dialogue finds the subject, the place stays.
            found = await qr.subject(visit.get("subject", 0))
            if found is not None:
                self._other(found, visit, state)
        return None

    async def filed(self, state: ChatState, ticket: Ticket) -> None:
        """The dialogue filed a report: one made through a place's code is tied to it, and
        one without a point is routed by the place's district."""
        visit = state.get("qr")
        if visit is None or visit.get("step") not in ("confirm", "other"):
            return
        state.pop("qr", None)
        place = await QrSubject.get_or_none(id=visit.get("subject", 0),
                                            kind=QrSubjectKind.PLACE)
        if place is None:
            return
        await qr.link_ticket(place.id, ticket)
        district = place.district
        if ticket.district or ticket.unit_code or getattr(ticket, "duplicate_of_id", None) \
                or not district or district not in self.pack.city.district_by_code:
            return
        await Ticket.filter(id=ticket.id).update(district=district)
        ticket.district = district
        service = self.pack.service_by_code.get(ticket.service_code)
        unit = self.pack.city.unit_for(ticket.service_code, service.group if service else "",
                                       district)
        if unit is not None:
            await self.workflow.assign(ticket, unit.code, SYSTEM_ACTOR, now=self.clock())

    # -- opening a code ----------------------------------------------------------------------
    async def open(self, token: str, state: ChatState) -> list[Reply]:
        subject = await qr.lookup(token.strip())
        if subject is None:
            state.pop("qr", None)
            return [Reply(t.INVALID)]
        forget_all(state)  # as /start: a half-made report gives way
        state["qr"] = {"subject": subject.id}
        if subject.kind == QrSubjectKind.STAFF:
            state["qr"]["step"] = "kind"
            return [Reply(t.STAFF_HEAD.format(name=subject.name, role=subject.role),
                          _kind_rows())]
        state["qr"]["step"] = "service"
        return [Reply(t.PLACE_HEAD.format(place=subject.name), self._service_rows(subject))]

    def _service_rows(self, place: QrSubject) -> tuple[tuple[Button, ...], ...]:
        rows = []
        for code in place.services or []:
            service = self.pack.service_by_code.get(code)
            if service is not None and not service.is_referral:
                rows.append((Button(service.service_name, f"{PREFIX}svc:{code}"),))
        return (*rows, (Button(t.OTHER, f"{PREFIX}other"),))

    def _typed(self, msg: IncomingMessage, state: ChatState) -> str | None:
        """A QR button chosen by typing its label, or its number on a channel without
        buttons; else None."""
        if msg.from_voice or not msg.text or "qr" not in state:
            return None
        short = _short(msg.text)
        if msg.channel in self.plain_channels and short.isdigit() and len(short) <= 2:
            choices = state.get("choices") or []
            pick = int(short) - 1
            if 0 <= pick < len(choices) and choices[pick].startswith(PREFIX):
                return choices[pick]
        for button in state.get("offered", []):
            if button["data"].startswith(PREFIX) and _short(button["label"]) == short:
                return button["data"]
        return None

    # -- buttons -----------------------------------------------------------------------------
    async def _button(self, msg: IncomingMessage, arg: str, state: ChatState) -> list[Reply]:
        action, _, value = arg.partition(":")
        if action == "open":
            return await self.open(value, state)
        visit = state.get("qr")
        subject = await qr.subject(visit.get("subject", 0)) if visit else None
        if visit is None or subject is None:
            state.pop("qr", None)
            return [Reply(t.GONE)]
        if action == "fb" and subject.kind == QrSubjectKind.STAFF and value in t.KIND_LABELS:
            visit["step"], visit["feedback"] = "text", value
            return [Reply(t.ASK_FEEDBACK[value].format(name=subject.name) + "\n"
                          + t.PHOTO_HINT)]
        if subject.kind == QrSubjectKind.PLACE and action == "svc" \
                and value in (subject.services or []) and value in self.pack.service_by_code:
            visit["step"], visit["service"] = "describe", value
            return [Reply(t.ASK_PROBLEM.format(
                service=self.pack.service_by_code[value].service_name, place=subject.name,
                photo_hint=t.PLACE_PHOTO_HINT))]
        if subject.kind == QrSubjectKind.PLACE and action == "other":
            self._other(subject, visit, state)
            return [Reply(t.ASK_OTHER.format(place=subject.name))]
        return [Reply(t.GONE)]

    def _other(self, place: QrSubject, visit: QrVisit, state: ChatState) -> None:
        """The citizen describes the problem in their words; the dialogue finds its subject
        and the report keeps the place's point."""
        visit["step"] = "other"
        if place.latitude is not None and place.longitude is not None:
            state["pending_location"] = {"lat": place.latitude, "lon": place.longitude}
        state["deep_link"] = f"place:{place.ref}"[:128]

    # -- a staff member's feedback -----------------------------------------------------------
    async def _feedback(self, msg: IncomingMessage, visit: QrVisit, state: ChatState
                        ) -> list[Reply] | None:
        subject = await qr.subject(visit.get("subject", 0))
        kind = visit.get("feedback", "")
        if subject is None or kind not in t.KIND_LABELS:
            state.pop("qr", None)
            return [Reply(t.GONE)]
        if any(a.kind != "photo" and a.path for a in msg.attachments):
            return None  # a voice note or a video: the dialogue's (it is kept for later)
        photo = next((a for a in msg.attachments if a.kind == "photo" and a.path), None)
        if photo is not None and not visit.get("photo"):
            visit["photo"] = (await store.keep_attachment(msg.channel, msg.chat_id, photo)).id
        text = " ".join((msg.text or "").split())[:qr.TEXT_MAX]
        if not text:
            return [Reply(t.PHOTO_KEPT if photo is not None
                          else t.ASK_FEEDBACK[kind].format(name=subject.name))]
        await qr.record_feedback(subject.id, FeedbackKind(kind), text, msg.channel,
                                 photo_id=visit.get("photo"), now=self.clock())
        state.pop("qr", None)
        return [Reply(t.FEEDBACK_THANKS.format(kind=t.KIND_LABELS[kind], name=subject.name))]

    # -- a report at a place -----------------------------------------------------------------
    async def _describe(self, msg: IncomingMessage, visit: QrVisit, state: ChatState
                        ) -> list[Reply] | None:
        place = await qr.subject(visit.get("subject", 0))
        code = visit.get("service", "")
        if place is None or code not in self.pack.service_by_code:
            state.pop("qr", None)
            return [Reply(t.GONE)]
        if any(a.kind != "photo" and a.path for a in msg.attachments):
            return None  # a voice note: transcribed by the dialogue, then offered as usual
        for item in msg.attachments:
            if item.kind == "photo" and item.path:  # joins the report, as the dialogue's do
                row = await store.keep_attachment(msg.channel, msg.chat_id, item)
                state.setdefault("attachments", []).append(row.id)
                state.setdefault("attached_kinds", []).append(item.kind)
        text = normalize((msg.text or "")[:MAX_DESCRIPTION])
        if not any(ch.isalpha() or ch.isdigit() for ch in text):
            return [Reply(t.PLACE_PHOTO_KEPT if msg.attachments else
                          t.ASK_PROBLEM.format(service=self.pack.service_by_code[code]
                                               .service_name, place=place.name,
                                               photo_hint=t.PLACE_PHOTO_HINT))]
        draft: Draft = {"text": text, "service": code, "address": place.name}
        if place.latitude is not None and place.longitude is not None:
            draft["lat"], draft["lon"] = place.latitude, place.longitude
        else:
            draft["no_location"] = True  # the place's name (and district) stand for it
        state["draft"] = draft
        state["deep_link"] = f"place:{place.ref}"[:128]
        visit["step"] = "confirm"
        return self.advance(state)


def _kind_rows() -> tuple[tuple[Button, ...], ...]:
    return tuple((Button(label, f"{PREFIX}fb:{kind}"),) for kind, label in t.KIND_LABELS.items())

"""Petitions in the conversation (issue 20, Isfahan's «به توان همه»).

- Proposing: «پیشنهاد» (or /petition) starts it; title, text, district (buttons: the pack's
  districts and «کل شهر»), an optional photo, then confirm. It is stored pending review.
- Staff approve or reject it in the panel (:meth:`Petitions.review`); the proposer is told,
  and on approval their own signature is the first.
- Signing: a deep link (``/start petition-<id>``) or the web chat's ``/?petition=<id>`` shows
  the petition with a «sign» button (a link alone never signs); one channel identity counts
  once (ticket_store/petitions.py).
- At the threshold a ticket opens for the responsible unit, due in the pack's
  ``answer_days``, and every signer is told; when staff answer that ticket every signer
  hears it (:func:`tell_signers_status`, :func:`tell_signers_message`, called by
  ``conversation.notices``).

Everything is queued in the transaction of the update (or the panel's action) that caused it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from peygir.config.city import Unit
from peygir.config.clock import utcnow
from peygir.config.pack import Pack
from peygir.config.petitions import PetitionRules
from peygir.conversation.chat_state import ChatState, PetitionDraft
from peygir.messages import petition_texts as t
from peygir.messages.persian import STATUS_LABELS, citizen_facing, jalali
from peygir.messages.types import PLAIN_TEXT_CHANNELS, Button, IncomingMessage, Reply
from peygir.nlu.normalize import ascii_digits, normalize
from peygir.ticket_store import petitions, store
from peygir.ticket_store.models import Citizen, Petition, PetitionStatus, Ticket
from peygir.ticket_store.petitions import (
    TEXT_MAX,
    TEXT_MIN,
    TITLE_MAX,
    TITLE_MIN,
    Outcome,
    Proposal,
)
from peygir.ticket_store.workflow import SYSTEM_ACTOR, Workflow

PREFIX = "pet:"  # every petition button's data
WHOLE_CITY = "*"  # the district button of a city-wide petition
_COMMANDS = frozenset(normalize(c) for c in t.COMMANDS)
_CANCEL = frozenset({"لغو", "انصراف", "/cancel", "بیخیال"})
_NO = frozenset({"نه", "خیر"})
_YES = frozenset({"بله", "آره", "ثبت", "ثبت کن", "تایید", "تأیید", "ok", "yes"})
# A ticket reaching one of these has had its formal answer; signers hear each of these.
ANSWERED = frozenset({"resolved", "rejected", "referred"})
TOLD = ANSWERED | {"in_progress"}


def link_payload(petition_id: int) -> str:
    """The start payload of a petition's deep link (t.me/<bot>?start=…)."""
    return f"{t.LINK_PREFIX}{petition_id}"


def _as_written(text: str) -> str:
    """The citizen's words as they wrote them (a petition is published as such), without
    control characters or runs of blank lines."""
    kept = "".join(ch if ch.isprintable() or ch in "\n\u200c" else " " for ch in text)
    lines = [" ".join(line.split()) for line in kept.strip().splitlines()]
    return "\n".join(line for i, line in enumerate(lines) if line or (i and lines[i - 1]))


def _number(text: str) -> int | None:
    text = ascii_digits(text).strip()
    return int(text) if text.isdigit() and len(text) <= 9 else None


class Petitions:
    def __init__(self, pack: Pack, workflow: Workflow, *,
                 clock: Callable[[], datetime] = utcnow, timezone: str = "Asia/Tehran",
                 plain_channels: frozenset[str] = PLAIN_TEXT_CHANNELS) -> None:
        self.pack = pack
        self.workflow = workflow
        self.clock = clock
        self.timezone = timezone
        self.plain_channels = plain_channels

    @property
    def rules(self) -> PetitionRules:
        return self.pack.city.rules.petitions

    def district_name(self, code: str | None) -> str:
        if not code:
            return t.WHOLE_CITY
        district = self.pack.city.district_by_code.get(code)
        return district.name if district else code

    # -- the dialogue's entry point --------------------------------------------------------
    async def respond(self, msg: IncomingMessage, state: ChatState) -> list[Reply] | None:
        """The replies when this update is about petitions; None leaves it to the dialogue."""
        if msg.start_payload is not None:
            payload = msg.start_payload.strip()
            if not payload.startswith(t.LINK_PREFIX):
                return None  # /start: the dialogue starts afresh (a draft is dropped too)
            state.pop("petition", None)
            number = _number(payload[len(t.LINK_PREFIX):])
            return await self._show(number) if number is not None else [Reply(t.NOT_FOUND)]
        data = msg.callback_data or self._digit(msg, state)
        if data is not None:
            if not data.startswith(PREFIX):
                return None
            return await self._button(msg, data[len(PREFIX):], state)
        draft = state.get("petition")
        short = normalize(msg.text or "").strip(" .!؟?")
        if draft is None:
            if msg.from_voice or short.lower() not in _COMMANDS:
                return None
            return self._begin(state)
        if short in _CANCEL or (short in _NO and draft.get("step") == "confirm"):
            return self._cancel(state)
        if short.startswith("/"):
            return None  # another command (/help): the dialogue's, the draft waits
        return await self._step(msg, draft, short, state)

    def _digit(self, msg: IncomingMessage, state: ChatState) -> str | None:
        """On a channel without buttons, a lone digit picks one of the numbered choices."""
        if msg.channel not in self.plain_channels or msg.callback_data:
            return None
        choices = state.get("choices") or []
        pick = _number((msg.text or "").strip(" .-)(!؟?\n"))
        if pick is None or not 1 <= pick <= len(choices):
            return None
        data = choices[pick - 1]
        return data if data.startswith(PREFIX) else None

    # -- proposing ---------------------------------------------------------------------------
    def _begin(self, state: ChatState) -> list[Reply]:
        state.pop("draft", None)  # a half-made report gives way to the petition
        state["stage"] = "idle"
        state["petition"] = {"step": "title"}
        return [Reply(t.ASK_TITLE.format(limit=TITLE_MAX), _cancel_row())]

    async def _step(self, msg: IncomingMessage, draft: PetitionDraft, short: str,
                    state: ChatState) -> list[Reply]:
        step = draft.get("step", "title")
        text = _as_written(msg.text or "")
        if step == "title":
            title = " ".join(text.split())
            if not TITLE_MIN <= len(title) <= TITLE_MAX:
                return [Reply(t.TITLE_BAD.format(low=TITLE_MIN, high=TITLE_MAX), _cancel_row())]
            draft["title"], draft["step"] = title, "text"
            return [Reply(t.ASK_TEXT, _cancel_row())]
        if step == "text":
            if not TEXT_MIN <= len(text) <= TEXT_MAX:
                return [Reply(t.TEXT_BAD.format(low=TEXT_MIN, high=TEXT_MAX), _cancel_row())]
            draft["text"] = text
            return self._ask_district(draft)
        if step == "district":
            code = self._typed_district(short)
            if code is None:
                return [Reply(t.DISTRICT_BAD, self._district_rows())]
            draft["district"] = code
            return self._ask_photo(draft)
        if step == "photo":
            photo = next((a for a in msg.attachments if a.kind == "photo" and a.path), None)
            if photo is not None:
                row = await store.keep_attachment(msg.channel, msg.chat_id, photo)
                draft["photo"] = row.id
                return self._confirm(draft)
            if short in _NO or short in (normalize(t.NO_PHOTO), "ندارم"):
                return self._confirm(draft)
            problem = next((a.problem for a in msg.attachments if a.problem), None)
            return [Reply(problem or t.PHOTO_BAD, _photo_rows())]
        # confirm
        if short in _YES or short == normalize(t.SUBMIT):
            return await self._submit(msg, draft, state)
        return self._confirm(draft)

    def _ask_district(self, draft: PetitionDraft) -> list[Reply]:
        if not self.pack.city.districts:  # a pack without districts: every petition is city-wide
            draft["district"] = ""
            return self._ask_photo(draft)
        draft["step"] = "district"
        return [Reply(t.ASK_DISTRICT, self._district_rows())]

    def _district_rows(self) -> tuple[tuple[Button, ...], ...]:
        rows = [(Button(d.name, f"{PREFIX}d:{d.code}"),) for d in self.pack.city.districts]
        return (*rows, (Button(t.WHOLE_CITY, f"{PREFIX}d:{WHOLE_CITY}"),), *_cancel_row())

    def _typed_district(self, short: str) -> str | None:
        """A district typed by its name or code (or «کل شهر»): "" is the whole city."""
        if short == normalize(t.WHOLE_CITY):
            return ""
        for district in self.pack.city.districts:
            if short in (normalize(district.name), district.code.lower()):
                return district.code
        return None

    def _ask_photo(self, draft: PetitionDraft) -> list[Reply]:
        draft["step"] = "photo"
        return [Reply(t.ASK_PHOTO, _photo_rows())]

    def _confirm(self, draft: PetitionDraft) -> list[Reply]:
        draft["step"] = "confirm"
        return [Reply(t.CONFIRM.format(
            title=draft.get("title", ""), district=self.district_name(draft.get("district")),
            photo=t.WITH_PHOTO if draft.get("photo") else "", text=draft.get("text", "")),
            ((Button(t.SUBMIT, f"{PREFIX}submit"),), *_cancel_row()))]

    async def _submit(self, msg: IncomingMessage, draft: PetitionDraft, state: ChatState
                      ) -> list[Reply]:
        if draft.get("step") != "confirm" or not draft.get("title") or not draft.get("text"):
            return [Reply(t.NO_DRAFT)]
        citizen = await store.citizen_for(msg.channel, msg.user_id)
        petition = await petitions.propose(citizen, msg.channel, msg.chat_id, Proposal(
            title=draft["title"], text=draft["text"], district=draft.get("district") or None,
            photo_id=draft.get("photo")))
        state.pop("petition", None)
        return [Reply(t.SUBMITTED.format(id=petition.id))]

    def _cancel(self, state: ChatState) -> list[Reply]:
        state.pop("petition", None)
        return [Reply(t.CANCELLED)]

    # -- buttons -----------------------------------------------------------------------------
    async def _button(self, msg: IncomingMessage, arg: str, state: ChatState) -> list[Reply]:
        action, _, value = arg.partition(":")
        if action == "show" and (number := _number(value)) is not None:
            return await self._show(number)
        if action == "sign" and (number := _number(value)) is not None:
            return await self.sign(msg, number)
        if action == "cancel":
            return self._cancel(state)
        if action == "new":
            return self._begin(state)
        draft = state.get("petition")
        if draft is None:
            return [Reply(t.NO_DRAFT)]
        step = draft.get("step")
        if action == "d" and step == "district":
            code = "" if value == WHOLE_CITY else value
            if code and code not in self.pack.city.district_by_code:
                return [Reply(t.DISTRICT_BAD, self._district_rows())]
            draft["district"] = code
            return self._ask_photo(draft)
        if action == "nophoto" and step == "photo":
            return self._confirm(draft)
        if action == "submit" and step == "confirm":
            return await self._submit(msg, draft, state)
        return self._again(draft)  # an old button of an earlier step: ask for this one

    def _again(self, draft: PetitionDraft) -> list[Reply]:
        """The question of the step the draft is at, asked again."""
        step = draft.get("step")
        if step == "district":
            return [Reply(t.ASK_DISTRICT, self._district_rows())]
        if step == "photo":
            return [Reply(t.ASK_PHOTO, _photo_rows())]
        if step == "confirm":
            return self._confirm(draft)
        question = t.ASK_TEXT if step == "text" else t.ASK_TITLE.format(limit=TITLE_MAX)
        return [Reply(question, _cancel_row())]

    # -- signing -----------------------------------------------------------------------------
    async def _show(self, petition_id: int) -> list[Reply]:
        petition = await petitions.get(petition_id)
        if petition is None or petition.status not in petitions.PUBLIC:
            return [Reply(t.NOT_FOUND)]  # a pending or rejected one is not public
        text = t.SHOW.format(title=petition.title, district=self.district_name(petition.district),
                             text=petition.text, count=petition.signature_count,
                             threshold=petition.threshold)
        if petition.status != PetitionStatus.OPEN:
            return [Reply(text + "\n" + t.STATUS_LABELS.get(petition.status, petition.status))]
        return [Reply(text, ((Button(t.SIGN, f"{PREFIX}sign:{petition.id}"),),))]

    async def sign(self, msg: IncomingMessage, petition_id: int) -> list[Reply]:
        """This chat's identity signs; inside the dialogue's transaction."""
        now = self.clock()
        result = await petitions.sign(petition_id, msg.channel, msg.user_id, msg.chat_id, now)
        petition = result.petition
        if petition is None or (result.outcome == Outcome.CLOSED
                                and petition.status not in petitions.PUBLIC):
            return [Reply(t.NOT_FOUND)]
        if result.outcome == Outcome.CLOSED:
            return [Reply(t.NOT_OPEN.format(
                status=t.STATUS_LABELS.get(petition.status, petition.status)))]
        counts = {"count": petition.signature_count, "threshold": petition.threshold}
        if result.outcome == Outcome.ALREADY:
            return [Reply(t.ALREADY_SIGNED.format(**counts))]
        replies = [Reply(t.SIGNED.format(**counts))]
        if result.passed:
            replies.append(await self._passed(petition, now, (msg.channel, msg.chat_id)))
        return replies

    async def _passed(self, petition: Petition, now: datetime,
                      signer: tuple[str, str] | None) -> Reply:
        """The threshold is reached (this caller won the conditional update): the ticket for
        the responsible unit, due in answer_days, and word to every signer. Returns the
        word for ``signer``, who is answered directly rather than through the outbox."""
        ticket, unit = await self._open_ticket(petition, now)
        news = Reply(t.PASSED.format(
            title=petition.title, count=petition.signature_count,
            unit=unit.name if unit else t.CENTRE, due=jalali(ticket.answer_due, self.timezone)))
        for channel, chat_id in await petitions.signers(petition.id):
            if (channel, chat_id) != signer:
                await store.enqueue(channel, chat_id, citizen_facing(news))
        return news

    async def _open_ticket(self, petition: Petition, now: datetime) -> tuple[Ticket, Unit | None]:
        citizen = None
        if petition.citizen_id is not None:
            citizen = await Citizen.get_or_none(id=petition.citizen_id)
        if citizen is None:  # retention removed the proposer's row: their chat stands in
            citizen = await store.citizen_for(petition.channel, petition.chat_id)
        rules = self.rules
        description = t.TICKET_DESCRIPTION.format(
            title=petition.title, count=petition.signature_count,
            district=self.district_name(petition.district), text=petition.text)
        photos = [petition.photo_id] if petition.photo_id else []
        filed = await self.workflow.file_report(
            citizen, petition.channel, petition.chat_id,
            store.NewTicket(service_code=rules.service_code, description=description,
                            urgent=False, deep_link=link_payload(petition.id)),
            attachment_ids=photos, now=now)
        ticket = filed.ticket
        due = now + timedelta(days=petition.answer_days or rules.answer_days)
        await Ticket.filter(id=ticket.id).update(answer_due=due, district=petition.district)
        ticket.answer_due, ticket.district = due, petition.district
        unit = self._unit(petition.district)
        if unit is not None:
            await self.workflow.assign(ticket, unit.code, SYSTEM_ACTOR, now=now)
        await petitions.link_ticket(petition, ticket.id)
        return ticket, unit

    def _unit(self, district: str | None) -> Unit | None:
        """Who answers: the pack's petitions unit, else the unit serving its petitions
        service in the petition's district (a city-wide one for the whole city)."""
        rules, city = self.rules, self.pack.city
        if rules.unit:
            return city.unit_by_code.get(rules.unit)
        if rules.service:
            service = self.pack.service_by_code.get(rules.service)
            return city.unit_for(rules.service, service.group if service else "", district)
        return None

    # -- the panel's review ------------------------------------------------------------------
    async def review(self, petition_id: int, approve: bool, actor: str, note: str = "",
                     now: datetime | None = None) -> Petition | None:
        """Staff approve or reject a pending petition; the proposer is told. None when it
        was not pending (already reviewed, or no such petition)."""
        now = now or self.clock()
        async with in_transaction():
            petition = await petitions.get(petition_id)
            if petition is None or petition.status != PetitionStatus.PENDING:
                return None
            reviewed = await petitions.review(
                petition_id, approve, actor, now, threshold=self.rules.threshold(
                    petition.district), answer_days=self.rules.answer_days, note=note)
            if reviewed is None:
                return None
            if not approve:
                lines = [t.REJECTED.format(title=reviewed.title)]
                if reviewed.review_note:
                    lines.append(t.REJECTED_WHY.format(note=reviewed.review_note))
                await store.enqueue(reviewed.channel, reviewed.chat_id,
                                    citizen_facing(Reply("\n".join(lines))))
                return reviewed
            # The proposer's own signature is the first.
            proposer = reviewed.chat_id
            if reviewed.citizen_id is not None:
                citizen = await Citizen.get_or_none(id=reviewed.citizen_id)
                proposer = citizen.user_id if citizen else proposer
            signed = await petitions.sign(reviewed.id, reviewed.channel, proposer,
                                          reviewed.chat_id, now)
            reviewed = signed.petition or reviewed
            await store.enqueue(reviewed.channel, reviewed.chat_id, citizen_facing(Reply(
                t.APPROVED.format(title=reviewed.title, threshold=reviewed.threshold,
                                  days=reviewed.answer_days, id=reviewed.id))))
            if signed.passed:  # a threshold of one: every signer (the proposer) is told
                await self._passed(reviewed, now, None)
        return reviewed


def petition_menu() -> tuple[tuple[Button, ...], ...]:
    """The button on /start's welcome that begins a petition."""
    return ((Button(t.MENU, f"{PREFIX}new"),),)


def _cancel_row() -> tuple[tuple[Button, ...], ...]:
    return ((Button(t.CANCEL, f"{PREFIX}cancel"),),)


def _photo_rows() -> tuple[tuple[Button, ...], ...]:
    return ((Button(t.NO_PHOTO, f"{PREFIX}nophoto"),), *_cancel_row())


# -- when staff answer a petition's ticket (called by conversation.notices) -----------------
async def tell_signers_status(ticket: Ticket, status: str, note: str, when: datetime
                              ) -> None:
    """Every signer but the ticket's own chat (told by the ticket's notice) hears the city's
    answer; an answer marks the petition answered."""
    if status not in TOLD:
        return
    petition = await petitions.for_ticket(ticket.id)
    if petition is None:
        return
    lines = [t.ANSWER.format(title=petition.title, status=STATUS_LABELS.get(status, status))]
    if note:
        lines.append(t.ANSWER_NOTE.format(note=note))
    await _tell(petition, ticket, Reply("\n".join(lines)))
    if status in ANSWERED:
        await petitions.mark_answered(petition, when)


async def tell_signers_message(ticket: Ticket, text: str) -> None:
    """Staff's message on a petition's ticket reaches every signer too."""
    petition = await petitions.for_ticket(ticket.id)
    if petition is not None:
        await _tell(petition, ticket, Reply(t.STAFF_MESSAGE.format(title=petition.title,
                                                                   text=text)))


async def _tell(petition: Petition, ticket: Ticket, reply: Reply) -> None:
    reply = citizen_facing(reply)
    for channel, chat_id in await petitions.signers(petition.id):
        if (channel, chat_id) != (ticket.channel, ticket.chat_id):
            await store.enqueue(channel, chat_id, reply)

"""The conversation, channel-agnostic: one :class:`IncomingMessage` in, replies out.

Everything an update changes (its dedup record, the chat's state, a new ticket and the
replies in the outbox) is written in one transaction, so an update handled twice changes
nothing the second time and a crash half-way leaves no half-filed report.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from tortoise.transactions import in_transaction

from peygir.config.clock import utcnow
from peygir.config.pack import Pack
from peygir.conversation import active, alerts, metrics, transcript
from peygir.conversation.chat_state import (
    TURN,
    ChatState,
    Draft,
    Place,
    Turn,
    about,
    as_chat_state,
    forget_all,
    offer,
    remember_choices,
    use,
)
from peygir.conversation.geocode import Geocoder
from peygir.conversation.limits import CodeGuesses
from peygir.conversation.notices import Notices
from peygir.conversation.petitions import Petitions, petition_menu
from peygir.conversation.qr import QrCodes
from peygir.conversation.voice_wait import transcribing_text
from peygir.faq.answers import answer_text, offer_label
from peygir.messages import texts
from peygir.messages.digits import persian_digits
from peygir.messages.persian import STATUS_LABELS, citizen_facing, jalali
from peygir.messages.phone import iranian_mobile, looks_like_a_number
from peygir.messages.types import PLAIN_TEXT_CHANNELS, Button, IncomingMessage, Location, Reply
from peygir.nlu.classifier import Classifier, Intent
from peygir.nlu.erasure import asks_erasure
from peygir.nlu.normalize import ascii_digits, normalize
from peygir.ticket_store import examples, happenings, retention, store
from peygir.ticket_store.models import ExampleSource, HappeningKind
from peygir.ticket_store.voice import Answer
from peygir.ticket_store.workflow import Workflow

log = logging.getLogger(__name__)

SPOKEN_KINDS = frozenset({"voice", "audio", "video", "video_note"})
MAX_DOWNLOAD = 20 * 1024 * 1024  # Bot API bots may download files up to 20 MB
MAX_DESCRIPTION = 4000  # characters kept of one report; a 20,000-character paste is cut here


def _normalized(text: str) -> str:
    """The message as the NLU and the report keep it: no more is normalised than a report
    keeps, so a 50,000-character paste (or 50,000 ligatures, 18 letters each once
    normalised) costs what 4,000 characters do."""
    return normalize(text[:MAX_DESCRIPTION])
_YES = {"بله", "بلی", "آره", "اره", "آری", "ثبت", "ثبت کن", "تایید", "تأیید", "باشه", "اوکی",
        "ok", "okay", "yes", "درسته", "صحیحه"}
_NO = {"نه", "خیر", "لغو", "انصراف", "نمیخوام", "نمی‌خوام", "no", "cancel", "بیخیال"}
_THANKS = ("ممنون", "مرسی", "متشکر", "سپاس", "تشکر", "دستتون", "دستت", "لطف کردید", "thanks")



class Dialogue:
    def __init__(
        self,
        pack: Pack,
        classifier: Classifier | None = None,
        workflow: Workflow | None = None,
        clock: Callable[[], datetime] = utcnow,
        timezone: str = "Asia/Tehran",
        plain_channels: frozenset[str] = PLAIN_TEXT_CHANNELS,
    ) -> None:
        self.pack = pack
        self.classifier = classifier or Classifier(pack)
        self.clock = clock
        self.timezone = timezone
        self.notices = Notices(pack, timezone)
        self.workflow = workflow or Workflow(pack, voice=self.notices, clock=clock,
                                             timezone=timezone)
        self.plain_channels = plain_channels
        self.petitions = Petitions(pack, self.workflow, clock=clock, timezone=timezone,
                                   plain_channels=plain_channels)  # issue 20
        self.guesses = CodeGuesses()  # tracking-code lookups, per chat and per address
        # Told when a citizen's pick adds a labelled example (the retrainer counts them).
        self.on_label: Callable[[], None] = lambda: None
        self.geocoder: Geocoder | None = None  # PEYGIR_GEOCODER: typed addresses to points
        self.alerts = alerts.AreaAlerts(pack, lambda: self.clock())  # area alerts (issue 20)
        # QR codes of staff and places (issue 20): feedback, or a report at the place.
        self.qr = QrCodes(pack, self.workflow, advance=self._advance,
                          clock=lambda: self.clock(), plain_channels=plain_channels)
        # Active citizens' ranking and volunteers' applications (issue 20).
        self.active = active.ActiveCitizens(lambda: self.clock(), timezone)

    async def handle(self, message: IncomingMessage) -> list[Reply]:
        """Handle one update exactly once; returns the replies it queued (none for a repeat)."""
        if message.text and not message.callback_data:
            # Classified now, outside the transaction, the answer is remembered for use inside:
            # on SQLite the transaction holds the one connection, so keep CPU work out of it.
            self.classifier.classify(_normalized(message.text))
            if self.geocoder is not None and not message.from_voice:
                await self._geocode(message)  # HTTP, so before the transaction too
        async with in_transaction():
            stored = await store.claim_update_and_load_state(
                message.dedup_key, message.channel, message.chat_id)
            if stored is None:
                log.info("update %s seen before; ignored", message.dedup_key)
                return []
            state = as_chat_state(stored)
            before = copy.deepcopy(state)
            turn = Turn(message.channel, message.chat_id, state)
            token = TURN.set(turn)
            try:
                pressed = use(state, message.callback_data) if message.callback_data else None
                replies = await self._respond(message, state)
            finally:
                TURN.reset(token)
            if message.channel in self.plain_channels:
                remember_choices(state, replies)
            offer(state, replies)
            replies = [citizen_facing(r) for r in replies]
            line_id, citizen_id = await transcript.record_in(message, pressed, before, turn)
            for reply in replies:
                await store.enqueue(message.channel, message.chat_id, reply,
                                    ticket_id=turn.ticket_id, citizen_id=citizen_id)
            await transcript.follow_report(turn, before, line_id, citizen_id)
            if state != before:  # most questions and greetings leave the state as it was
                await store.save_state(message.channel, message.chat_id, dict(state))
        metrics.message_handled(message.channel)  # committed: a repeat returned above
        return replies

    async def handled_before(self, dedup_key: str) -> bool:
        """Whether an update was handled already: a channel asks before it downloads files."""
        return await store.update_seen(dedup_key)

    async def slow_down(self, message: IncomingMessage) -> None:
        """Ask a chat that writes too fast to wait; its update itself is dropped."""
        await store.enqueue(message.channel, message.chat_id,
                            citizen_facing(Reply(texts.SLOW_DOWN)))

    # -- routing of one update ---------------------------------------------------------------
    async def _respond(self, msg: IncomingMessage, state: ChatState) -> list[Reply]:
        if not (msg.callback_data or msg.from_voice) and asks_erasure(msg.text):
            return await _erase_mine(msg, state, self.clock())  # before the NLU sees it
        if msg.unsupported:
            return [Reply(texts.UNSUPPORTED.get(msg.unsupported, texts.UNSUPPORTED["other"]))]
        if msg.contact:
            return await self._phone(msg, msg.contact.phone, state)
        if state.get("awaiting_phone") and msg.text and not (msg.callback_data
                                                             or msg.from_voice):
            # The bot asked for a number: a number typed now is that, not a new report.
            if (number := iranian_mobile(msg.text.strip())) is not None:
                return await self._phone(msg, number, state)
            if looks_like_a_number(msg.text):
                return [Reply(texts.PHONE_INVALID)]
            state.pop("awaiting_phone", None)  # they moved on: the text is a message again
        if (coded := await self.qr.respond(msg, state)) is not None:
            return coded  # a QR code's start link, button or next step
        if (petition := await self.petitions.respond(msg, state)) is not None:
            return petition  # a petition's link, button, command or next step
        if msg.start_payload is not None or msg.text.strip() in ("/start", "/help"):
            return self._start(msg.start_payload, state)
        if (alerted := await self.alerts.respond(msg, state)) is not None:
            return alerted  # «اطلاع‌رسانی محله», its off command, or the point it asked for
        if (ranked := await self.active.respond(msg, state)) is not None:
            return ranked  # «شهروند فعال», «همیاری», or the name or reason they asked for
        if msg.callback_data:
            return await self._callback(msg, msg.callback_data, state)
        if msg.channel in self.plain_channels and (picked := _numbered_choice(msg.text, state)):
            use(state, picked)  # a digit presses the button it stands for: once
            return await self._callback(msg, picked, state)
        if msg.location:
            return self._location(msg.location, state)
        text = msg.text or ""
        oversized = [a for a in msg.attachments if a.too_big]
        kept = await self._keep_attachments(msg, state)
        same_album = msg.media_group is not None and msg.media_group == state.get("album")
        state["album"] = msg.media_group
        notices = [Reply(texts.TOO_BIG.format(limit=_megabytes(MAX_DOWNLOAD)))] if oversized else []
        problems = dict.fromkeys(a.problem for a in msg.attachments if a.problem)
        notices += [Reply(problem) for problem in problems if problem]
        if notices:
            # The refused file is named; whatever else came with it is still taken.
            if not text.strip():
                return notices
            return [*notices, *await self._text(msg, _normalized(text), state)]
        if not text.strip():
            if not msg.attachments:
                return [Reply(texts.EMPTY)]
            if same_album:
                return []  # the rest of an album: one acknowledgement is enough
            if any(a.kind in SPOKEN_KINDS and a.path for a in msg.attachments):
                # A long queue is named: «about 3 minutes» rather than «a few moments».
                return [Reply(await transcribing_text(msg.channel, msg.chat_id, self.clock()))]
            if kept and state.get("draft", {}).get("service"):
                return [Reply(texts.ATTACHMENT_ADDED)]
            return [Reply(texts.ATTACHMENT_LATER)]
        clean = _normalized(text)
        if not any(ch.isalpha() or ch.isdigit() for ch in clean):
            return [Reply(texts.GARBLED if _looks_binary(text) else texts.NOT_UNDERSTOOD)]
        return await self._text(msg, clean, state)

    async def _geocode(self, msg: IncomingMessage) -> None:
        """A text that answers «where?» is looked up, outside any transaction; the answer
        waits in the geocoder's cache for ``_text``. Other texts are never sent out."""
        assert self.geocoder is not None
        if not msg.text.strip() or msg.callback_data or msg.location:
            return
        state = as_chat_state(await store.load_state(msg.channel, msg.chat_id))
        if state.get("stage") != "location" or not state.get("draft", {}).get("service"):
            return
        intent = self.classifier.classify(_normalized(msg.text))
        if intent.kind in ("service", "unknown", "greeting") or not intent.confident:
            await self.geocoder.lookup(msg.text)

    async def _keep_attachments(self, msg: IncomingMessage, state: ChatState) -> int:
        """Record the files this chat sent; they join the report being made, or the next one.

        Speech (voice, audio, video, video note) also gets a transcription job, in this same
        transaction: the job survives a restart, and its text comes back as a message."""
        kept = 0
        for item in msg.attachments:
            if item.path and item.location_hint and not msg.location:
                lat, lon = item.location_hint
                draft = state.get("draft")
                if draft is not None and "lat" not in draft:
                    draft["lat"], draft["lon"] = lat, lon
                else:
                    state.setdefault("pending_location", {"lat": lat, "lon": lon})
            if item.path:
                row = await store.keep_attachment(msg.channel, msg.chat_id, item)
                state.setdefault("attachments", []).append(row.id)
                state.setdefault("attached_kinds", []).append(item.kind)
                if item.kind in SPOKEN_KINDS:
                    await store.queue_transcription(msg.channel, msg.chat_id, msg.user_id, row)
                    state["transcribing"] = state.get("transcribing", 0) + 1
                kept += 1
        return kept

    def _start(self, payload: str | None, state: ChatState) -> list[Reply]:
        forget_all(state)
        if payload:
            state["deep_link"] = payload[:128]
            if payload.startswith("staff_"):
                return [Reply(texts.STAFF_FEEDBACK)]
        return [Reply(texts.WELCOME, buttons=(*alerts.menu_buttons(), *petition_menu(),
                                              *active.menu_buttons()))]

    async def _text(self, msg: IncomingMessage, clean: str, state: ChatState) -> list[Reply]:
        if msg.from_voice:
            return self._transcript(clean, state)
        stage = state.get("stage")
        short = ascii_digits(clean).strip(" .!؟?").lower()
        if stage == "correction":
            return await self._correction(msg, clean, state)
        if stage == "confirm":
            if short in _YES:
                return await self._file(msg, state)
            if short in _NO:
                return self._cancel(state)
        if stage == "choose" and short.isdigit():
            candidates = state.get("draft", {}).get("candidates", [])
            pick = int(short) - 1
            if 0 <= pick < len(candidates):
                return await self._callback(msg, candidates[pick], state)
        picked = typed_button(short, state)
        if picked is not None:  # the label of a live button, or «yes» to «is it fixed?»
            use(state, picked)
            return await self._callback(msg, picked, state)
        if stage == "location":
            if short in _NO:
                return self._cancel(state)
            intent = self.classifier.classify(clean)
            # While we wait for an address, text is the address unless it is clearly not one.
            if intent.kind in ("service", "unknown", "greeting") or not intent.confident:
                state["draft"]["address"] = clean[:500]
                found = self.geocoder.cached(msg.text) if self.geocoder else None
                if found is not None:  # routed by its district like a point sent
                    state["draft"]["lat"], state["draft"]["lon"] = found.lat, found.lon
                    state["draft"]["geocoded"] = found.district
                return self._advance(state)
            return await self._intent(msg, clean, intent, state)
        return await self._intent(msg, clean, self.classifier.classify(clean), state)

    async def _intent(
        self, msg: IncomingMessage, clean: str, intent: Intent, state: ChatState
    ) -> list[Reply]:
        if intent.kind == "status":
            if intent.tracking_code:
                return await self._status(msg, intent.tracking_code)
            return await self._status_without_code(msg, clean, intent, state)
        if intent.kind == "greeting":
            thanks = any(word in clean for word in _THANKS)
            return [Reply(texts.THANKS if thanks else texts.GREETING)]
        if intent.kind == "unknown":
            await self._unplaced(msg, happenings.UNKNOWN, msg.text)
            return [Reply(texts.NOT_UNDERSTOOD)]
        if not intent.confident:
            return self._offer_choices(clean, intent, state)
        if intent.kind == "faq" and intent.faq_id:
            await self._note(HappeningKind.FAQ, intent.faq_id)
            return [self._faq_answer(intent.faq_id)]
        assert intent.code is not None
        await self._note_referral(intent.code)
        return self._service_chosen(clean, intent.code, state, fresh=True)

    # -- what is not a ticket, counted for the dashboard (ticket_store/happenings.py) --------
    async def _note(self, kind: HappeningKind, code: str) -> None:
        await happenings.note(kind, code, self.clock(), self.timezone)

    async def _note_referral(self, code: str) -> None:
        if self.pack.service_by_code[code].is_referral:
            await self._note(HappeningKind.REFERRAL, code)

    async def _unplaced(self, msg: IncomingMessage, why: str, text: str) -> None:
        await happenings.keep_unplaced(why, text, msg.channel, msg.chat_id, self.clock(),
                                       self.timezone)

    def _transcript(self, clean: str, state: ChatState) -> list[Reply]:
        """Whisper's text: shown to the citizen, and never filed without their tap."""
        state["transcribing"] = max(0, state.get("transcribing", 1) - 1)
        heard = texts.HEARD.format(text=_shorten(clean, 600))
        intent = self.classifier.classify(clean)
        if intent.kind == "status":
            return [Reply(heard)]
        if intent.kind not in ("service", "faq") and not intent.alternatives:
            return [Reply(heard + "\n" + texts.HEARD_NOTHING)]
        replies = self._offer_choices(clean, intent, state)
        state["draft"]["transcript"] = clean[:MAX_DESCRIPTION]
        return [Reply(heard + "\n" + replies[0].text, buttons=replies[0].buttons)]

    # -- services and drafts -----------------------------------------------------------------
    def _offer_choices(self, clean: str, intent: Intent, state: ChatState) -> list[Reply]:
        options = intent.choices(3)
        rows = tuple((self._choice_button(kind, key),) for kind, key in options)
        rows += ((Button(texts.NONE_OF_THESE, "svc:none"),),)
        state["stage"] = "choose"
        state["draft"] = {"text": clean[:MAX_DESCRIPTION],
                          "candidates": [b[0].data for b in rows[:-1]]}
        # An urgent matter is flagged at once, even before the citizen has picked it, but
        # only when it is the best guess: an urgent subject among the alternatives (a word
        # it shares with the message) would alarm every citizen whose pothole «افتاده».
        urgent = bool(options) and options[0][0] == "service" \
            and self.pack.service_by_code[options[0][1]].urgent
        return [Reply(texts.PICK_ONE_URGENT if urgent else texts.PICK_ONE, buttons=rows)]

    def _button_for(self, data: str) -> Button:
        kind, _, key = data.partition(":")
        return self._choice_button("faq" if kind == "faq" else "service", key)

    def _choice_button(self, kind: str, key: str) -> Button:
        if kind == "faq":
            # An FAQ the pack dropped since it was offered keeps its button (pressing it
            # is answered as any stale button) rather than failing the whole update.
            return Button(offer_label(self.pack, key) or key, f"faq:{key}")
        return Button(self.pack.service_by_code[key].service_name, f"svc:{key}")

    def _service_chosen(
        self, clean: str, code: str, state: ChatState, fresh: bool
    ) -> list[Reply]:
        service = self.pack.service_by_code[code]
        if service.is_referral:
            state.pop("draft", None)
            state["stage"] = "idle"
            template = texts.REFERRAL if service.referral_phone else texts.REFERRAL_NO_PHONE
            return [Reply(template.format(service=service.service_name,
                                          body=service.referral_body,
                                          phone=service.referral_phone))]
        previous = state.get("draft") if not fresh else None
        draft: Draft = previous.copy() if previous else {}
        if fresh or "text" not in draft:
            draft["text"] = clean[:MAX_DESCRIPTION]
        pending = state.get("pending_location")
        if pending and "lat" not in draft:
            del state["pending_location"]
            draft["lat"], draft["lon"] = pending["lat"], pending["lon"]
        draft["service"] = code
        draft.pop("candidates", None)
        state["draft"] = draft
        replies = [Reply(texts.URGENT_NOTE)] if service.urgent else []
        return replies + self._advance(state)

    def _advance(self, state: ChatState) -> list[Reply]:
        draft = state["draft"]
        has_place = "lat" in draft or draft.get("address") or draft.get("no_location")
        if not has_place:
            state["stage"] = "location"
            return [Reply(
                texts.ASK_LOCATION,
                buttons=((Button(texts.SKIP_LOCATION, "loc:skip"),),),
                request_location=True,
            )]
        state["stage"] = "confirm"
        service = self.pack.service_by_code[draft["service"]]
        lines = [f"موضوع: {service.service_name}", f"شرح: {_shorten(draft['text'], 300)}"]
        if draft.get("geocoded"):
            district = self.pack.city.district_by_code.get(draft["geocoded"])
            lines.append("موقعیت: نشانی روی نقشه پیدا شد"
                         + (f" — {district.name}" if district else ""))
        elif "lat" in draft:
            lines.append("موقعیت: دریافت شد")
        if draft.get("address"):
            lines.append(f"نشانی: {_shorten(draft['address'], 200)}")
        if attached := _attached_line(state.get("attached_kinds", [])):
            lines.append(attached)  # what goes with the report, so nothing is a surprise
        lines.append(texts.CONFIRM_QUESTION)
        return [Reply("\n".join(lines), buttons=(
            (Button(texts.CONFIRM, "confirm"),),
            (Button(texts.CHANGE_SERVICE, "change"), Button(texts.CANCEL, "cancel")),
        ))]

    def _location(self, location: Location, state: ChatState) -> list[Reply]:
        place: Place = {"lat": location.lat, "lon": location.lon}
        draft = state.get("draft", {})
        draft.pop("geocoded", None)  # the citizen's own point wins over the address's
        if draft.get("service"):
            draft["lat"], draft["lon"] = place["lat"], place["lon"]
            return self._advance(state)
        if state.get("stage") == "choose" and draft.get("candidates"):
            # The citizen sent the place before picking the subject: keep it, ask again.
            draft["lat"], draft["lon"] = place["lat"], place["lon"]
            rows = tuple((self._button_for(data),) for data in draft["candidates"])
            rows += ((Button(texts.NONE_OF_THESE, "svc:none"),),)
            return [Reply(texts.LOCATION_THEN_PICK, buttons=rows)]
        state["pending_location"] = place
        return [Reply(texts.LOCATION_RECEIVED)]

    def _cancel(self, state: ChatState) -> list[Reply]:
        state.pop("draft", None)
        state["stage"] = "idle"
        return [Reply(texts.CANCELLED)]

    async def _file(self, msg: IncomingMessage, state: ChatState) -> list[Reply]:
        draft = state.get("draft") or {}
        code = draft.get("service")
        if not code:
            state["stage"] = "idle"
            return [Reply(texts.NOTHING_TO_CONFIRM)]
        service = self.pack.service_by_code[code]
        citizen = await store.citizen_for(msg.channel, msg.user_id)
        location = Location(draft["lat"], draft["lon"]) if "lat" in draft else None
        filed = await self.workflow.file_report(
            citizen, msg.channel, msg.chat_id,
            store.NewTicket(
                service_code=code, description=draft["text"], urgent=service.urgent,
                location=location, address=draft.get("address"),
                transcript=draft.get("transcript"),
                deep_link=state.get("deep_link"),
            ),
            attachment_ids=state.pop("attachments", []), now=self.clock(),
        )
        ticket = filed.ticket
        await self.qr.filed(state, ticket)  # made through a place's code
        about(ticket.id, filed=True)
        state.pop("attached_kinds", None)
        state.pop("draft", None)
        state.pop("deep_link", None)
        state["stage"] = "idle"
        if filed.duplicate:
            # Their own code; the earlier report's code, words and replies stay its citizen's.
            return [Reply(texts.DUPLICATE_FILED.format(code=ticket.tracking_code,
                                                       service=service.service_name))]
        text = texts.FILED.format(code=ticket.tracking_code, service=service.service_name)
        if ticket.urgent and ticket.onsite_due:
            deadline = texts.DEADLINE_URGENT.format(
                onsite=jalali(ticket.onsite_due, self.timezone),
                answer=jalali(ticket.answer_due, self.timezone),
            )
        else:
            deadline = texts.DEADLINE_NORMAL.format(
                answer=jalali(ticket.answer_due, self.timezone),
                hours=f"{self.workflow.rules.first_answer_hours:g}")
        return [Reply(f"{text}\n{deadline}\n{texts.KEEP_CODE}")]

    async def _correction(self, msg: IncomingMessage, clean: str, state: ChatState
                          ) -> list[Reply]:
        """The citizen's words after «needs correcting»: the ticket goes back to work."""
        code = state.pop("correcting", None)
        state["stage"] = "idle"
        ticket = await store.ticket_for_chat(code, msg.channel, msg.chat_id) if code else None
        if ticket is None or not store.owns(ticket, msg.channel, msg.chat_id) \
                or ticket.status != "resolved":
            return [Reply(texts.ALREADY_DONE)]
        about(ticket.id)
        await self.workflow.contest(ticket, clean, self.clock())
        return [Reply(texts.CORRECTION_FILED.format(code=ticket.tracking_code))]

    # -- callbacks ---------------------------------------------------------------------------
    async def _callback(self, msg: IncomingMessage, data: str, state: ChatState
                        ) -> list[Reply]:
        action, _, arg = data.partition(":")
        if action == alerts.MENU_DATA:
            return await self.alerts.callback(msg, arg, state)
        if action == active.PREFIX:
            return await self.active.callback(msg, arg, state)
        draft = state.get("draft") or {}
        if action in ("svc", "faq") and data in draft.get("candidates", ()) and draft.get("text"):
            await self._learn_pick(msg, "service" if action == "svc" else "faq", arg,
                                   draft["text"])
        if action == "svc" and arg == "none":
            if draft.get("text"):
                await self._unplaced(msg, happenings.NONE_FIT, draft["text"])
            state.pop("draft", None)
            state["stage"] = "idle"
            return [Reply(texts.DESCRIBE_AGAIN)]
        if action == "svc" and arg in self.pack.service_by_code:
            await self._note_referral(arg)
            return self._service_chosen(draft.get("text", ""), arg, state, fresh=False)
        if action == "faq" and arg in self.pack.faq_by_id:
            await self._note(HappeningKind.FAQ, arg)
            state.pop("draft", None)
            state["stage"] = "idle"
            return [self._faq_answer(arg)]
        if action == "loc" and arg == "skip" and draft.get("service"):
            draft["no_location"] = True
            return self._advance(state)
        if action == "confirm":
            return await self._file(msg, state)
        if action == "cancel":
            return self._cancel(state)
        if action in ("accept", "contest", "rate", "consent"):
            return await self._ticket_button(msg, action, arg, state)
        if action == "change" and draft.get("text"):
            intent = self.classifier.classify(draft["text"])
            return self._offer_choices(draft["text"], intent, state)
        # An old button from an earlier conversation: say what we can do instead of failing.
        return [Reply(texts.NOTHING_TO_CONFIRM)]

    async def _learn_pick(self, msg: IncomingMessage, kind: str, key: str, clean: str) -> None:
        """A citizen's pick among the subjects the bot offered is a label (weighted below an
        operator's). Only what the classifier itself offered can be picked, so a citizen can
        at most confirm one of its own guesses for their own words."""
        citizen = await store.citizen_for(msg.channel, msg.user_id)
        if await examples.record_label(clean, kind, key, ExampleSource.CITIZEN,
                                       normalised=clean, citizen_id=citizen.id):
            self.on_label()

    async def _ticket_button(self, msg: IncomingMessage, action: str, arg: str,
                             state: ChatState) -> list[Reply]:
        """A button on a ticket's notification; only the chat that filed it may press it."""
        code, _, value = arg.partition(":")
        ticket = await store.ticket_for_chat(code, msg.channel, msg.chat_id)
        if ticket is None or not store.owns(ticket, msg.channel, msg.chat_id):
            return [Reply(texts.STATUS_NOT_FOUND.format(code=code))]
        about(ticket.id)
        answer = await self.workflow.citizen_answer(ticket, action, value, self.clock())
        replies = self.notices.answer(answer)
        if answer == Answer.CONSENT_GIVEN_NEED_PHONE:
            state["awaiting_phone"] = ticket.tracking_code  # a typed number is taken as it
        elif answer == Answer.CONSENT_GIVEN:
            replies = [_withdrawable(r, ticket.tracking_code) for r in replies]
        elif answer == Answer.CONSENT_REFUSED:
            state.pop("awaiting_phone", None)
        if action == "contest" and ticket.status == "resolved":
            state["stage"] = "correction"
            state["correcting"] = ticket.tracking_code
        return replies

    async def _phone(self, msg: IncomingMessage, phone: str, state: ChatState) -> list[Reply]:
        """The citizen's number (a messenger's contact, the web form, or typed when asked);
        after a unit's request, it comes with a button to take the consent back."""
        citizen = await store.citizen_for(msg.channel, msg.user_id)
        citizen.phone = phone[:32]
        await citizen.save(update_fields=["phone"])
        code = state.pop("awaiting_phone", None)
        if not code:
            return [Reply(texts.CONTACT_RECEIVED)]
        return [_withdrawable(Reply(texts.CONTACT_RECEIVED_FOR.format(code=code)), code)]

    # -- answers -----------------------------------------------------------------------------
    def _faq_answer(self, faq_id: str) -> Reply:
        return Reply(answer_text(self.pack, faq_id) or texts.NOT_UNDERSTOOD)

    async def _status_without_code(self, msg: IncomingMessage, clean: str, intent: Intent,
                                   state: ChatState) -> list[Reply]:
        """The chat's own recent reports, with a request for the code. A chat with none here
        («I reported it, still nothing»: by phone to 137, say) is also offered to report it
        here under the subjects its words name."""
        recent = await store.recent_tickets(msg.channel, msg.chat_id)
        if recent:
            lines = [texts.ASK_CODE, texts.YOUR_RECENT] + [
                f"• {t.tracking_code}: {STATUS_LABELS.get(t.status, t.status)}" for t in recent
            ]
            return [Reply("\n".join(lines))]
        named = tuple(c for c in intent.alternatives if c.kind == "service")
        if not named:
            return [Reply(texts.ASK_CODE)]
        offer = self._offer_choices(clean, Intent("unknown", 0.0, alternatives=named), state)
        return [Reply(texts.ASK_CODE + "\n" + texts.REPORT_HERE, buttons=offer[0].buttons)]

    async def _status(self, msg: IncomingMessage, code: str) -> list[Reply]:
        if not self.guesses.take(msg):  # one chat tried 153 codes a second: not any more
            return [Reply(texts.TOO_MANY_LOOKUPS)]
        ticket = await store.ticket_for_chat(code, msg.channel, msg.chat_id)
        if ticket is None:
            return [Reply(texts.STATUS_NOT_FOUND.format(code=code))]
        self.guesses.found_own(msg)
        about(ticket.id)
        service = self.pack.service_by_code.get(ticket.service_code)
        lines = [texts.STATUS.format(
            code=ticket.tracking_code,
            status=STATUS_LABELS.get(ticket.status, ticket.status),
            service=service.service_name if service else ticket.service_code,
            created=jalali(ticket.created_at, self.timezone),
        ), texts.STATUS_TIMELINE]
        for event in await store.timeline(ticket):
            label = STATUS_LABELS.get(event.to_status or "", "")
            note = f" ({event.note})" if event.note else ""
            lines.append(f"• {jalali(event.at, self.timezone)}: {label}{note}")
        photos = tuple(await self.workflow.evidence_paths(ticket))
        buttons: tuple[tuple[Button, ...], ...] = ()
        if store.owns(ticket, msg.channel, msg.chat_id):
            if ticket.status == "resolved":
                lines.append(texts.RESOLVED_ASK)
                buttons = ((Button(texts.ACCEPT, f"accept:{ticket.tracking_code}"),),
                           (Button(texts.CONTEST, f"contest:{ticket.tracking_code}"),))
            elif ticket.status == "closed" and ticket.rating is None:
                return [Reply("\n".join(lines), photos=photos), self.notices.survey_reply(ticket)]
        return [Reply("\n".join(lines), buttons, photos=photos)]


_ACCEPT_WORDS = ("قبول", "قبوله", "قبول دارم", "قبول است", "تایید میکنم", "تأیید می‌کنم",
                 "برطرف شد", "درست شد", "حل شد", "انجام شد")
_NOT_DONE_WORDS = ("نه", "خیر", "نشده", "درست نشده", "حل نشده", "برطرف نشده", "انجام نشده")


def _short(text: str) -> str:
    """A short answer as _text compares it: normalised, Latin digits, no end punctuation."""
    return ascii_digits(_normalized(text)).strip(" .!؟?").lower()


def typed_button(short: str, state: ChatState) -> str | None:
    """The live button a typed answer stands for: its label typed out, or — to «is it
    fixed?» — a plain yes (accept) or no (contest). Else None: the text is a message."""
    offered = state.get("offered") or []
    for button in offered:
        if _short(button["label"]) == short:
            return button["data"]
    accept = next((b["data"] for b in offered if b["data"].startswith("accept:")), None)
    if accept is None:
        return None
    verdict = _fixed_or_not(short)
    if verdict is True:
        return accept
    if verdict is False:
        return "contest:" + accept.partition(":")[2]
    return None


# «برطرف شد، تأیید می‌کنم. ممنون»: a few short clauses, each a yes, a no or a thanks.
_CLAUSES = re.compile(r"[،,؛;.!؟?\n]+|\s+و\s+")
_MAX_CLAUSES = 4


def _fixed_or_not(short: str) -> bool | None:
    """True when every clause says the work is done (thanks aside), False when every one
    says it is not, None for anything else: a longer text is a message, not an answer."""
    clauses = [c.strip() for c in _CLAUSES.split(short) if c.strip()]
    if not clauses or len(clauses) > _MAX_CLAUSES:
        return None
    yes = _YES | {_short(w) for w in _ACCEPT_WORDS}
    no = {_short(w) for w in _NOT_DONE_WORDS}
    said: set[bool] = set()
    for clause in clauses:
        if clause in yes:
            said.add(True)
        elif clause in no:
            said.add(False)
        elif not clause.startswith(_THANKS):
            return None
    return said.pop() if len(said) == 1 else None


def _numbered_choice(text: str, state: ChatState) -> str | None:
    """The button a lone digit («۲», "2", "2.") picks from the numbered choices last shown."""
    choices = state.get("choices") or []
    short = ascii_digits(text or "").strip(" .-)(!؟?\n")
    if not short.isdigit() or len(short) > 2:
        return None
    pick = int(short) - 1
    return choices[pick] if 0 <= pick < len(choices) else None


# What the confirmation calls each kind of file the chat sent, in this order.
_ATTACHED_NAMES = {"photo": "عکس", "video": "ویدیو", "video_note": "ویدیو",
                   "voice": "پیام صوتی", "audio": "پیام صوتی", "document": "فایل"}


def _attached_line(kinds: list[str]) -> str:
    """«پیوست‌ها: ۲ عکس، ۱ پیام صوتی» for the files that go with the report; "" if none."""
    counts: dict[str, int] = {}
    for kind in kinds:
        name = _ATTACHED_NAMES.get(kind, "فایل")
        counts[name] = counts.get(name, 0) + 1
    parts = [f"{persian_digits(str(n))} {name}" for name, n in counts.items()]
    return f"پیوست‌ها: {'، '.join(parts)}" if parts else ""


def _withdrawable(reply: Reply, code: str) -> Reply:
    """A reply with a button that takes back the consent given on ticket ``code``: the unit
    then no longer sees the number (``Workflow.visible_contact``)."""
    return replace(reply, buttons=(*reply.buttons,
                                   (Button(texts.CONSENT_WITHDRAW, f"consent:{code}:no"),)))


def _megabytes(size: int) -> str:
    return f"{size // (1024 * 1024)} مگابایت"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _looks_binary(text: str) -> bool:
    odd = sum(1 for ch in text if ch == "\ufffd" or (not ch.isprintable() and ch not in "\n\t"))
    return odd > len(text) * 0.1


async def _erase_mine(msg: IncomingMessage, state: ChatState, now: datetime
                      ) -> list[Reply]:
    """«اطلاعات من را پاک کنید»: done at once, no confirmation asked (it removes only the
    citizen's own data); open tickets keep it until they close."""
    forget_all(state)  # a half-made report is theirs too
    done = await retention.erase_citizen(msg.channel, msg.user_id, msg.chat_id, now,
                                         open_note=texts.ERASE_REQUESTED_NOTE)
    lines = [texts.ERASED_CLOSED.format(count=done.erased) if done.erased
             else texts.ERASED_NONE]
    if done.still_open:
        lines.append(texts.ERASE_WHEN_CLOSED.format(count=done.still_open))
    lines += await alerts.erase(msg.channel, msg.chat_id)
    lines += await active.erase(msg.channel, msg.user_id)
    if done.contact_cleared:
        lines.append(texts.CONTACT_ERASED)
    elif done.contact_kept:
        lines.append(texts.CONTACT_KEPT)
    return [Reply("\n".join(lines))]

"""A ticket's life after filing: routing, the lifecycle, what the citizen is told, evidence,
consent, the survey and duplicates.

A second report of the same thing nearby is a ticket of its own, linked to the first
(``Ticket.duplicate_of``): its citizen gets their own code, never the first one's, and hears of
the first ticket's changes of state on that code, with a note only where staff published it.
What staff say to one citizen reaches that citizen alone.

Every change is one transaction: the ticket's new state, its timeline event and the
citizen's notification in the outbox land together or not at all. A change is a
compare-and-set on the ticket's status, so two people acting on one ticket at once cannot
both win. Times come from the caller (``now``) or the workflow's clock, so tests can drive
deadlines without sleeping.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from peygir.config.clock import utcnow
from peygir.config.pack import Pack
from peygir.messages.types import Location
from peygir.ticket_store import chatlog, examples, forwarding, rollups, store, webhooks
from peygir.ticket_store.deadlines import Deadlines
from peygir.ticket_store.models import (
    ESCALATION_DONE,
    OPEN_STATUSES,
    Attachment,
    Citizen,
    ExampleSource,
    Standing,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from peygir.ticket_store.scores import UnitScore, unit_scores
from peygir.ticket_store.voice import Answer, Line, Voice

S = TicketStatus
# Where each state may go. ``resolved`` waits for the citizen: accepted it becomes
# ``closed``, contested it becomes ``reopened`` and goes back to work.
TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    S.NEW: frozenset({S.ASSIGNED, S.IN_PROGRESS, S.REJECTED, S.REFERRED}),
    S.ASSIGNED: frozenset({S.NEW, S.IN_PROGRESS, S.RESOLVED, S.REJECTED, S.REFERRED}),
    S.IN_PROGRESS: frozenset({S.RESOLVED, S.REJECTED, S.REFERRED}),
    S.RESOLVED: frozenset({S.CLOSED, S.REOPENED}),
    S.REOPENED: frozenset({S.ASSIGNED, S.IN_PROGRESS, S.RESOLVED, S.REJECTED}),
    S.CLOSED: frozenset(),
    S.REJECTED: frozenset(),
    S.REFERRED: frozenset(),
}
# States in which the city still owes the citizen work.
OPEN_STATES = frozenset(TicketStatus(s) for s in OPEN_STATUSES)
# Reaching one of these is an answer to the citizen (it stops the escalation clock).
ANSWERS = frozenset({S.IN_PROGRESS, S.RESOLVED, S.REJECTED, S.REFERRED})
NEEDS_NOTE = {S.REJECTED: "a reason", S.REFERRED: "the outside body it went to",
              S.REOPENED: "what needs correcting"}
DUPLICATE_RADIUS_M = 50.0
SYSTEM_ACTOR = "system"


class WorkflowError(ValueError):
    """A change the workflow refuses; the message is plain English for staff and logs."""


class IllegalTransition(WorkflowError):
    pass


@dataclass(frozen=True)
class Filed:
    ticket: Ticket  # always the report's own ticket
    duplicate: bool  # True: it repeats an open ticket nearby and is linked to it



def distance_m(a_lat: float, a_lon: float, b_lat: float, b_lon: float) -> float:
    """Great-circle distance in metres (haversine; plenty for 50 m within a city)."""
    phi1, phi2 = math.radians(a_lat), math.radians(b_lat)
    dphi, dlmb = phi2 - phi1, math.radians(b_lon - a_lon)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


class Workflow:
    def __init__(self, pack: Pack, *, voice: Voice, clock: Callable[[], datetime] = utcnow,
                 timezone: str = "Asia/Tehran") -> None:
        self.pack = pack
        self.voice = voice  # the words for what happens, composed above the store
        self.city = pack.city
        self.rules = pack.city.rules
        self.deadlines = Deadlines.from_rules(self.rules)
        self.clock = clock
        self.timezone = timezone

    # -- filing ------------------------------------------------------------------------------
    async def file_report(
        self, citizen: Citizen, channel: str, chat_id: str, draft: store.NewTicket,
        attachment_ids: list[int] | None = None, now: datetime | None = None,
    ) -> Filed:
        """File a report as a ticket of its own; one that repeats an open ticket for the same
        thing within 50 m is linked to it and takes its state and unit."""
        now = now or self.clock()
        async with in_transaction():
            original = (await self.nearby_open(draft.service_code, draft.location)
                        if draft.location is not None else None)
            priority = 2 if draft.urgent else (1 if citizen.standing != Standing.NONE else 0)
            district: str | None = None
            unit = None
            if draft.location is not None:
                # With a place: the unit of its district (or a city-wide one). Without one,
                # the ticket waits in the centre's queue for an operator to place it.
                found = self.city.district_at(draft.location.lat, draft.location.lon)
                district = found.code if found else None
                service = self.pack.service_by_code.get(draft.service_code)
                unit = self.city.unit_for(draft.service_code, service.group if service else "",
                                          district)
            ticket = await store.file_ticket(citizen, channel, chat_id, draft, now=now,
                                             note=self.voice.line(Line.FILED, channel=channel),
                                             deadlines=self.deadlines, priority=priority,
                                             district=district)
            await store.attach_to_ticket(ticket, attachment_ids or [])
            await webhooks.record("filed", ticket, now=now)
            if original is not None:
                await self._link(ticket, original, now)
                return Filed(ticket, duplicate=True)
            # A first report goes to the city's back office, if one serves it (issue 19);
            # a repeat follows the first one's state and is not sent again.
            await forwarding.enqueue(self.pack, ticket)
            if unit is not None:  # routing is a change: _set marks the day's roll-up stale
                await self._set(ticket, S.ASSIGNED, SYSTEM_ACTOR,
                                self.voice.line(Line.ROUTED, unit=unit.name), now,
                                extra={"unit_code": unit.code}, notify=False)
            else:
                await rollups.mark(ticket.created_at)  # a new ticket: its day is stale
        return Filed(ticket, duplicate=False)

    async def nearby_open(self, service_code: str, where: Location) -> Ticket | None:
        """The nearest open first report for this service within 50 m, if any."""
        # A box of ±0.0005° (about 55 m north-south) narrows the search to what the index finds.
        span_lat = DUPLICATE_RADIUS_M / 111_000 + 1e-6
        span_lon = span_lat / max(0.1, math.cos(math.radians(where.lat)))
        # Only first reports: links are one level deep, so one move on the first reaches all.
        rows = await Ticket.filter(
            service_code=service_code, status__in=list(OPEN_STATES), duplicate_of_id=None,
            latitude__gte=where.lat - span_lat, latitude__lte=where.lat + span_lat,
            longitude__gte=where.lon - span_lon, longitude__lte=where.lon + span_lon,
        ).limit(50)
        best = None
        for row in rows:
            if row.latitude is None or row.longitude is None:  # the range filter rules it out
                continue
            gap = distance_m(where.lat, where.lon, row.latitude, row.longitude)
            if gap <= DUPLICATE_RADIUS_M and (best is None or gap < best[0]):
                best = (gap, row)
        return best[1] if best else None

    async def _link(self, ticket: Ticket, original: Ticket, now: datetime) -> None:
        """A later report joins the first one's state and unit. The first one's escalation
        covers both (one alert per problem); the first counts it for the panel."""
        await Ticket.filter(id=original.id).update(duplicate_count=F("duplicate_count") + 1)
        original.duplicate_count += 1
        status = TicketStatus(original.status)
        changes = self._changes(ticket, status, now, {"unit_code": original.unit_code})
        changes |= {"duplicate_of_id": original.id, "escalation_level": ESCALATION_DONE}
        await Ticket.filter(id=ticket.id).update(**changes)
        for name, value in changes.items():
            setattr(ticket, name, value)
        moved = status != S.NEW
        # The note names no code: this citizen reads their own timeline.
        await TicketEvent.create(ticket=ticket, actor=SYSTEM_ACTOR, at=now,
                                 note=self.voice.line(Line.LINKED), from_status=S.NEW.value if moved
                                 else None, to_status=status.value if moved else None)
        await rollups.mark(ticket.created_at)

    # -- lifecycle ---------------------------------------------------------------------------
    async def change_status(self, ticket: Ticket, to_status: TicketStatus | str, actor: str,
                            note: str = "", now: datetime | None = None, *,
                            public: bool = False) -> TicketEvent:
        """Move a ticket on, tell the citizen, and write the timeline; refuses illegal moves.
        ``public``: staff publish the note (Open311, and the citizens of linked reports)."""
        async with in_transaction():
            return await self._set(ticket, TicketStatus(to_status), actor, note.strip(),
                                   now or self.clock(), public=public)

    async def assign(self, ticket: Ticket, unit_code: str, actor: str, note: str = "",
                     now: datetime | None = None) -> TicketEvent:
        """Place a ticket with a unit (an operator's move); a reassignment keeps the state."""
        unit = self.city.unit_by_code.get(unit_code)
        if unit is None:
            raise WorkflowError(f"unknown unit {unit_code!r}")
        now = now or self.clock()
        note = (note.strip() + " — " if note.strip() else "") + self.voice.line(
            Line.ROUTED, unit=unit.name)
        current = TicketStatus(ticket.status)
        stay = current in (S.ASSIGNED, S.IN_PROGRESS)  # a reassignment: same state, new unit
        async with in_transaction():
            return await self._set(ticket, current if stay else S.ASSIGNED, actor, note, now,
                                   extra={"unit_code": unit.code}, notify=False, stay=stay)

    @staticmethod
    def _changes(ticket: Ticket, to_status: TicketStatus, now: datetime,
                 extra: dict[str, object] | None) -> dict[str, object]:
        """The columns a move to ``to_status`` sets (the clocks it starts or stops)."""
        changes: dict[str, object] = {"status": to_status, "updated_at": now, **(extra or {})}
        if to_status in ANSWERS and ticket.first_answer_at is None:
            changes["first_answer_at"] = now
            changes["escalation_level"] = ESCALATION_DONE
        if to_status == S.IN_PROGRESS and ticket.onsite_at is None:
            changes["onsite_at"] = now
        if to_status == S.RESOLVED:
            changes["resolved_at"] = now
        if to_status in (S.CLOSED, S.REJECTED, S.REFERRED):
            changes["closed_at"] = now
        if to_status == S.NEW:
            changes["unit_code"] = None  # back to the centre's queue
        return changes

    async def _set(self, ticket: Ticket, to_status: TicketStatus, actor: str, note: str,
                   now: datetime, *, extra: dict[str, object] | None = None,
                   notify: bool = True, stay: bool = False,
                   public: bool = False) -> TicketEvent:
        current = TicketStatus(ticket.status)
        if not stay and to_status not in TRANSITIONS[current]:
            raise IllegalTransition(
                f"ticket {ticket.tracking_code} cannot go from {current.value} to "
                f"{to_status.value}")
        if to_status in NEEDS_NOTE and not note:
            raise WorkflowError(f"{to_status.value} needs a note: {NEEDS_NOTE[to_status]}")
        changes = self._changes(ticket, to_status, now, extra)
        # Compare-and-set: if someone else moved the ticket meanwhile, this one loses.
        moved = await Ticket.filter(id=ticket.id, status=current).update(**changes)
        if not moved:
            fresh = await Ticket.get(id=ticket.id)
            raise IllegalTransition(
                f"ticket {ticket.tracking_code} changed meanwhile (now {fresh.status}); "
                "reload and try again")
        await rollups.mark(ticket.created_at)  # the dashboard's roll-up of its day is stale
        for name, value in changes.items():
            setattr(ticket, name, value)
        public = public and bool(note)
        event = await TicketEvent.create(
            ticket=ticket, actor=actor, at=now, note=note, public=public,
            from_status=None if stay else current.value,
            to_status=None if stay else to_status.value)
        if extra and "unit_code" in extra and extra["unit_code"] is not None:
            await webhooks.record("assigned", ticket, {"unit_code": extra["unit_code"]},
                                  now=now)
        if not stay:
            await webhooks.record("status_changed", ticket, {
                "from": current.value, "to": to_status.value,
                **({"note": note} if public else {})}, private={"note": note}, now=now)
        if notify and not stay:
            await self._notify_status(ticket, to_status, note, now)
        # The city's moves reach the linked reports; a citizen's own (accepting, contesting)
        # stays on their own ticket.
        first_report = ticket.duplicate_of_id is None  # type: ignore[attr-defined]
        if first_report and actor != store.CITIZEN_ACTOR:
            await self._carry(ticket, current, to_status, note if public else "", now,
                              extra=extra, notify=notify, stay=stay)
        return event

    async def _carry(self, original: Ticket, was: TicketStatus, to_status: TicketStatus,
                     public_note: str, now: datetime, *, extra: dict[str, object] | None,
                     notify: bool, stay: bool) -> None:
        """Linked reports still in the state the first one left follow it. Each citizen hears
        it on their own code, with the note only if staff published it."""
        for linked in await Ticket.filter(duplicate_of_id=original.id, status=was):
            try:
                note = public_note or self.voice.line(Line.LINKED)
                await self._set(linked, to_status, SYSTEM_ACTOR, note, now, extra=extra,
                                notify=False, stay=stay, public=bool(public_note))
            except IllegalTransition:  # its citizen or staff moved it meanwhile: it leads now
                continue
            if notify and not stay:
                await self._notify_status(linked, to_status, public_note, now)

    # -- what the citizen is told ------------------------------------------------------------
    async def _notify_status(self, ticket: Ticket, status: TicketStatus, note: str,
                             now: datetime) -> None:
        evidence = await self.evidence_paths(ticket) if status == S.RESOLVED else []
        await self.voice.status_changed(ticket, status.value, note, now, evidence)
        if status == S.CLOSED and ticket.rating is None:
            await self.voice.survey(ticket)

    async def reply_to_citizen(self, ticket: Ticket, actor: str, text: str,
                               now: datetime | None = None, *,
                               public: bool = False) -> TicketEvent:
        """A message from staff to this ticket's citizen alone; the first one stops the
        escalation clock. ``public``: staff publish it too (Open311's status_notes)."""
        text = text.strip()
        if not text:
            raise WorkflowError("a reply needs some text")
        now = now or self.clock()
        async with in_transaction():
            if ticket.first_answer_at is None:
                ticket.first_answer_at = now
                ticket.escalation_level = ESCALATION_DONE
                await Ticket.filter(id=ticket.id).update(first_answer_at=now,
                                                         escalation_level=ESCALATION_DONE)
                await rollups.mark(ticket.created_at)
            event = await TicketEvent.create(ticket=ticket, actor=actor, at=now, public=public,
                                             note=self.voice.line(Line.STAFF_REPLY, text=text))
            with chatlog.speaking(actor):  # the transcript names who wrote it
                await self.voice.staff_reply(ticket, text)
        return event

    async def change_service(self, ticket: Ticket, service_code: str, actor: str,
                             note: str = "", now: datetime | None = None) -> TicketEvent:
        """Staff correct a ticket's subject. The timeline keeps the old one (and the reason,
        ``note``), the citizen is told, and the report's words labelled with the new subject
        become an example the classifier learns from. A ticket already placed (it has a unit
        or a district) is routed again by the new subject (see _reroute); deadlines stay."""
        service = self.pack.service_by_code.get(service_code)
        if service is None:
            raise WorkflowError(f"unknown service {service_code!r}")
        old = ticket.service_code
        if old == service_code:
            raise WorkflowError(f"ticket {ticket.tracking_code} already has service {old}")
        now = now or self.clock()
        line = self.voice.line(Line.SERVICE_CHANGED, old=self._service_name(ticket),
                               new=service.service_name)
        async with in_transaction():
            # Compare-and-set, as for a status: two operators correcting at once, one wins.
            moved = await Ticket.filter(id=ticket.id, service_code=old).update(
                service_code=service_code, updated_at=now)
            if not moved:
                raise IllegalTransition(
                    f"ticket {ticket.tracking_code} changed meanwhile; reload and try again")
            ticket.service_code, ticket.updated_at = service_code, now
            await rollups.mark(ticket.created_at)
            event = await TicketEvent.create(
                ticket=ticket, actor=actor, at=now,
                note=line + (f" — {note.strip()}" if note.strip() else ""))
            if ticket.description and ticket.anonymised_at is None:
                # The description is the dialogue's normalised text already: its digest is
                # the one the same words get from `peygir learn` or a citizen's pick.
                await examples.record_label(ticket.description, "service", service_code,
                                            ExampleSource.OPERATOR,
                                            normalised=ticket.description, ticket_id=ticket.id)
            await self.voice.service_changed(ticket, service_code)
            await self._reroute(ticket, service.service_code, service.group, actor, now)
        return event

    async def _reroute(self, ticket: Ticket, service_code: str, group: str, actor: str,
                       now: datetime) -> None:
        """After a change of subject, the unit serving the new subject where the ticket is,
        as at filing. A ticket never placed (no district, no unit) stays in the centre's
        queue; one whose new subject no unit serves there goes back to it, if its state
        allows (work already started stays with its unit)."""
        if ticket.unit_code is None and ticket.district is None:
            return
        unit = self.city.unit_for(service_code, group, ticket.district)
        current = TicketStatus(ticket.status)
        if unit is not None:
            if unit.code == ticket.unit_code:
                return
            stay = current in (S.ASSIGNED, S.IN_PROGRESS)  # same state, another unit
            if stay or S.ASSIGNED in TRANSITIONS[current]:
                await self._set(ticket, current if stay else S.ASSIGNED, actor,
                                self.voice.line(Line.ROUTED, unit=unit.name), now,
                                extra={"unit_code": unit.code}, notify=False, stay=stay)
        elif ticket.unit_code is not None and S.NEW in TRANSITIONS[current]:
            await self._set(ticket, S.NEW, actor, "", now, notify=False)

    def _service_name(self, ticket: Ticket) -> str:
        service = self.pack.service_by_code.get(ticket.service_code)
        return service.service_name if service else ticket.service_code

    # -- evidence ----------------------------------------------------------------------------
    async def add_evidence(self, ticket: Ticket, data: bytes, filename: str, actor: str,
                           media_dir: Path | str, now: datetime | None = None) -> Attachment:
        """Keep a unit's photo of its work, stripped of EXIF; raises WorkflowError if the
        bytes are not an image we accept."""
        from peygir.media_ingest.images import strip_exif
        from peygir.media_ingest.intake import check, store_by_hash
        from peygir.media_ingest.probe import MediaError

        now = now or self.clock()
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / ("upload" + Path(filename).suffix[:8].lower())
            raw.write_bytes(data)
            try:
                check(raw, "photo")
                clean = strip_exif(raw, Path(tmp) / "clean.jpg")
            except MediaError as exc:
                raise WorkflowError(f"not an accepted photo: {exc.detail}") from exc
            stored = store_by_hash(clean, media_dir, ext=".jpg")
        async with in_transaction():
            attachment = await Attachment.create(
                ticket=ticket, channel="staff", chat_id=actor, kind="photo",
                file_ref=filename[:512] or stored.name, mime="image/jpeg",
                size=stored.stat().st_size, path=str(stored), sha256=stored.stem, evidence=True)
            await TicketEvent.create(ticket=ticket, actor=actor, at=now,
                                     note=self.voice.line(Line.EVIDENCE))
            await webhooks.record("evidence_added", ticket, {"sha256": stored.stem}, now=now)
        return attachment

    async def evidence_paths(self, ticket: Ticket) -> list[str]:
        """The units' photos of their work; a linked report shows the first one's too (the
        work is the city's, on the spot both citizens reported)."""
        ids = [ticket.id, ticket.duplicate_of_id]  # type: ignore[attr-defined]
        rows = await Attachment.filter(ticket_id__in=[i for i in ids if i], evidence=True
                                       ).order_by("id")
        return [row.path for row in rows if row.path]

    # -- consent -----------------------------------------------------------------------------
    async def request_contact(self, ticket: Ticket, actor: str,
                              now: datetime | None = None) -> TicketEvent:
        """A unit asks to call the citizen: the citizen decides, with two buttons."""
        now = now or self.clock()
        async with in_transaction():
            await Ticket.filter(id=ticket.id).update(consent_requested_at=now)
            ticket.consent_requested_at = now
            event = await TicketEvent.create(ticket=ticket, actor=actor, at=now,
                                             note=self.voice.line(Line.CONSENT_REQUESTED))
            await self.voice.consent_asked(ticket)
        return event

    async def visible_contact(self, ticket: Ticket) -> dict[str, str | None] | None:
        """The citizen's number and name for the unit, only if they consented on this ticket."""
        if not ticket.contact_consent:
            return None
        citizen = await Citizen.get(id=ticket.citizen_id)  # type: ignore[attr-defined]
        return {"phone": citizen.phone, "name": citizen.display_name}

    # -- the citizen's side ------------------------------------------------------------------
    async def citizen_answer(self, ticket: Ticket, action: str, arg: str,
                             now: datetime | None = None) -> Answer:
        """A button the citizen pressed on a notification: accept, contest, rate, consent.

        The caller has checked the ticket belongs to this chat, and words the answer."""
        now = now or self.clock()
        status = TicketStatus(ticket.status)
        if action == "accept":
            if status != S.RESOLVED:
                return Answer.ALREADY_DONE
            async with in_transaction():
                await self._set(ticket, S.CLOSED, store.CITIZEN_ACTOR,
                                self.voice.line(Line.ACCEPTED), now)
            return Answer.ACCEPTED
        if action == "contest":
            if status != S.RESOLVED:
                return Answer.ALREADY_DONE
            return Answer.ASK_CORRECTION  # the dialogue keeps the next text as the note
        if action == "rate":
            stars = int(arg) if arg.isdigit() else 0
            if status != S.CLOSED or not 1 <= stars <= 5:
                return Answer.ALREADY_DONE
            async with in_transaction():
                rated = await Ticket.filter(id=ticket.id, rating__isnull=True).update(
                    rating=stars, rated_at=now)
                if not rated:
                    return Answer.ALREADY_RATED
                await rollups.mark(ticket.created_at)
                await TicketEvent.create(ticket=ticket, actor=store.CITIZEN_ACTOR, at=now,
                                         note=self.voice.line(Line.RATED, stars=stars))
                ticket.rating = stars
                await webhooks.record("rated", ticket, {"rating": stars}, now=now)
            return Answer.RATED
        if action == "consent":
            agreed = arg == "yes"
            await Ticket.filter(id=ticket.id).update(contact_consent=agreed)
            await TicketEvent.create(
                ticket=ticket, actor=store.CITIZEN_ACTOR, at=now,
                note=self.voice.line(Line.CONSENT_GIVEN if agreed else Line.CONSENT_REFUSED))
            if not agreed:
                return Answer.CONSENT_REFUSED
            citizen = await Citizen.get(id=ticket.citizen_id)  # type: ignore[attr-defined]
            if citizen.phone:
                return Answer.CONSENT_GIVEN
            return Answer.CONSENT_GIVEN_NEED_PHONE
        return Answer.ALREADY_DONE

    async def contest(self, ticket: Ticket, note: str, now: datetime | None = None) -> None:
        """The citizen says the work is not done: back to the unit, with their words."""
        async with in_transaction():
            await self._set(ticket, S.REOPENED, store.CITIZEN_ACTOR,
                            note.strip()[:1000] or "—", now or self.clock())

    # -- scores ------------------------------------------------------------------------------
    async def unit_scores(self, jyear: int, jmonth: int) -> list[UnitScore]:
        return await unit_scores(jyear, jmonth, self.rules.late_rating_factor, self.timezone)

"""One ticket: the report, transcript, media, map, timeline and duplicates, and what staff may
do to it. Every action goes through the ticket workflow, which writes the timeline entry with
the actor ``staff:<username>``.

A unit user asking for another unit's ticket gets 404, the same as for a ticket that does not
exist; media are served only through the same check, never from a public folder.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from peygir.messages.persian import CHANNEL_LABELS
from peygir.ticket_store import store
from peygir.ticket_store.models import (
    OPEN_STATUSES,
    Attachment,
    StaffRole,
    Ticket,
    TicketStatus,
)
from peygir.ticket_store.workflow import TRANSITIONS, IllegalTransition, Workflow, WorkflowError
from peygir.web.media import MAX_ID, media_response, stored_file
from peygir.web.panel import actors, citizens, queries, replies, story
from peygir.web.panel.common import Names, core_of, names_of, now_of, render
from peygir.web.panel.fmt import STATUS_STAFF, remaining
from peygir.web.panel.geo import district_map
from peygir.web.panel.security import PATH, CsrfStaff, Staff, StaffDep

router = APIRouter()

MAX_EVIDENCE = 20 * 1024 * 1024
NOTE_MAX = 2000

MESSAGES = {
    "assigned": "به واحد ارجاع شد.",
    "status": "وضعیت تغییر کرد.",
    "evidence": "عکس شواهد بارگذاری شد.",
    "contact": "از شهروند برای اشتراک شماره اجازه خواسته شد.",
    "reply": "پاسخ برای شهروند فرستاده شد.",
    "service": "موضوع درخواست اصلاح شد و درخواست بر پایهٔ موضوع تازه دوباره ارجاع شد.",
}
ERRORS = {
    "illegal": "این تغییر وضعیت مجاز نیست.",
    "unit": "واحد انتخاب‌شده معتبر نیست.",
    "empty": "متن خالی است.",
    "file": "پرونده پذیرفته نشد (فقط عکس، تا ۲۰ مگابایت).",
    "note": "برای این وضعیت نوشتن یادداشت (دلیل یا نام دستگاه مسئول) لازم است.",
    "service": "موضوع انتخاب‌شده معتبر نیست یا همان موضوع فعلی است.",
    "changed": "درخواست هم‌زمان تغییر کرد؛ صفحه را دوباره باز کنید.",
    "reason": "برای اصلاح موضوع نوشتن دلیل لازم است.",
}
# The moves a unit may make; the 137 centre and managers may make any the workflow allows.
UNIT_TARGETS = ("in_progress", "resolved", "rejected")
CAN_ASSIGN = (StaffRole.OPERATOR, StaffRole.MANAGER, StaffRole.ADMIN)
CAN_ACT = (StaffRole.OPERATOR, StaffRole.UNIT, StaffRole.ADMIN)


def targets_for(staff: Staff, status: str) -> list[str]:
    allowed = [s.value for s in TRANSITIONS[TicketStatus(status)]]
    if staff.role == StaffRole.UNIT:
        allowed = [s for s in allowed if s in UNIT_TARGETS]
    return [s for s in STATUS_STAFF if s in allowed]  # in the lifecycle's order


def workflow_of(request: Request) -> Workflow:
    return core_of(request).workflow


async def _ticket(staff: Staff, code: str) -> Ticket:
    ticket = await queries.ticket_for(staff.user, code)
    if ticket is None:
        raise HTTPException(404, "درخواستی با این کد پیدا نشد.")
    return ticket


async def _contact(request: Request, staff: Staff, ticket: Ticket) -> dict[str, Any] | None:
    """The citizen's phone and name: the 137 centre sees what the citizen gave it; a unit or a
    manager only what the citizen agreed, on this ticket, to share."""
    if staff.is_(StaffRole.OPERATOR, StaffRole.ADMIN):
        citizen = await ticket.citizen
        if citizen.phone or citizen.display_name:
            return {"phone": citizen.phone, "name": citizen.display_name}
        return None
    return await workflow_of(request).visible_contact(ticket)


@router.get("/tickets/{code}", response_class=HTMLResponse)
async def ticket_page(request: Request, code: str, staff: StaffDep, done: str = "",
                      error: str = "") -> HTMLResponse:
    ticket = await _ticket(staff, code)
    now = now_of(request)
    names = names_of(request)
    attachments = await Attachment.filter(ticket=ticket).order_by("id")
    events = await store.timeline(ticket)
    # The same problem reported again nearby: each later report is a ticket of its own,
    # linked to the first; staff see both ways (citizens never see each other's).
    linked = await scope_linked(staff, ticket)
    point = (ticket.latitude, ticket.longitude) if ticket.latitude is not None \
        and ticket.longitude is not None else None
    open_ = ticket.status in OPEN_STATUSES
    due_onsite = remaining(ticket.onsite_due, now) if open_ and ticket.onsite_due else None
    due_answer = remaining(ticket.answer_due, now) if open_ else None
    return render(request, "panel/ticket.html", {
        "t": ticket,
        "service": names.service(ticket.service_code),
        "group": names.groups.get(ticket.service_code, ""),
        "unit_code": ticket.unit_code,
        "district": ticket.district,
        "attachments": attachments,
        "events": events,
        "staff_names": await actors.staff_names(events),  # timeline actors, by name
        "linked": linked,
        "original": await scope_original(staff, ticket),
        "channels": CHANNEL_LABELS,
        "contact": await _contact(request, staff, ticket),
        "consent": ticket.contact_consent,
        "map": district_map(names.areas, point, ticket.district),
        "point": point,
        "due_onsite": due_onsite,
        "due_answer": due_answer,
        "targets": [(s, STATUS_STAFF[s]) for s in targets_for(staff, ticket.status)]
        if staff.is_(*CAN_ACT, StaffRole.MANAGER) else [],
        "units": sorted(names.units.items(), key=lambda kv: kv[1]),
        "can_assign": staff.is_(*CAN_ASSIGN) and ticket.status in OPEN_STATUSES,
        "subjects": subjects(names, ticket.service_code)
        if staff.is_(*CAN_ASSIGN) and ticket.status in OPEN_STATUSES else [],
        "can_act": staff.is_(*CAN_ACT),
        # Canned replies for the reply box (web.panel.replies); the citizen's page link for
        # those who may mark volunteers (web.panel.citizens).
        "canned": await replies.for_ticket(request, ticket) if staff.is_(*CAN_ACT) else [],
        "citizen_page": staff.is_(*citizens.CAN_SEE),
        "story": await story.for_ticket(staff, ticket),  # the transcript, other tickets
        "message": MESSAGES.get(done, ""),
        "error": ERRORS.get(error, ""),
    })


def subjects(names: Names, current: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """The services a ticket's subject may be changed to, by group, for a grouped select."""
    grouped: dict[str, list[tuple[str, str]]] = {}
    for code, label in names.services.items():
        if code != current:
            grouped.setdefault(names.groups.get(code) or "—", []).append((code, label))
    return sorted((group, sorted(items, key=lambda kv: kv[1]))
                  for group, items in grouped.items())


async def scope_linked(staff: Staff, ticket: Ticket) -> list[dict[str, Any]]:
    """The later reports linked to this one that this staff member may open."""
    query = queries.scope(staff.user, Ticket.filter(duplicate_of_id=ticket.id))
    return await query.order_by("created_at").limit(100).values(
        "tracking_code", "channel", "status", "created_at")


async def scope_original(staff: Staff, ticket: Ticket) -> Ticket | None:
    """The first report this one repeats, if this staff member may open it."""
    first = ticket.duplicate_of_id  # type: ignore[attr-defined]
    if first is None:
        return None
    return await queries.scope(staff.user, Ticket.filter(id=first)).first()


@router.get("/media/{attachment_id}")
async def media(request: Request, attachment_id: int, staff: StaffDep) -> Response:
    """A citizen's file, for staff who may see its ticket: shown only as an inert image,
    audio or video (web.media), never as a page."""
    if not 1 <= attachment_id <= MAX_ID:  # the database would fail on it, not miss
        raise HTTPException(404)
    attachment = await Attachment.get_or_none(id=attachment_id)
    if attachment is None or attachment.ticket_id is None or not attachment.path:
        raise HTTPException(404)
    ticket = await queries.scope(staff.user, Ticket.filter(id=attachment.ticket_id)).first()
    if ticket is None:
        raise HTTPException(404)
    path = stored_file(attachment.path, core_of(request).settings.media_dir)
    if path is None:
        raise HTTPException(404)
    return media_response(path, attachment.mime, "private, max-age=3600")


def _back(code: str, **query: str) -> RedirectResponse:
    suffix = "&".join(f"{k}={quote(v)}" for k, v in query.items())
    return RedirectResponse(f"{PATH}/tickets/{code}" + (f"?{suffix}" if suffix else ""),
                            status_code=303)


@router.post("/tickets/{code}/assign")
async def assign(request: Request, code: str, staff: CsrfStaff,
                 unit: Annotated[str, Form(max_length=64)],
                 note: Annotated[str, Form(max_length=NOTE_MAX)] = "") -> Response:
    staff.require(*CAN_ASSIGN)
    ticket = await _ticket(staff, code)
    if unit not in names_of(request).units:
        return _back(code, error="unit")
    try:
        await workflow_of(request).assign(ticket, unit, staff.actor, note=note.strip(),
                                          now=now_of(request))
    except IllegalTransition:
        return _back(code, error="illegal")
    except WorkflowError:
        return _back(code, error="unit")
    return _back(code, done="assigned")


@router.post("/tickets/{code}/service")
async def change_service(request: Request, code: str, staff: CsrfStaff,
                         service: Annotated[str, Form(max_length=64)],
                         note: Annotated[str, Form(max_length=NOTE_MAX)] = "") -> Response:
    """The bot (or the citizen) chose the wrong subject: the operator's correction, with its
    reason (required), is kept in the timeline, routes the ticket again by the new subject,
    and becomes a labelled example the classifier learns from."""
    staff.require(*CAN_ASSIGN)
    ticket = await _ticket(staff, code)
    if ticket.status not in OPEN_STATUSES or service not in names_of(request).services \
            or service == ticket.service_code:
        return _back(code, error="service")
    if not note.strip():
        return _back(code, error="reason")
    try:
        await workflow_of(request).change_service(ticket, service, staff.actor,
                                                  note=note.strip(), now=now_of(request))
    except IllegalTransition:
        return _back(code, error="changed")
    except WorkflowError:
        return _back(code, error="service")
    core_of(request).labels_added()
    return _back(code, done="service")


@router.post("/tickets/{code}/status")
async def change_status(request: Request, code: str, staff: CsrfStaff,
                        to_status: Annotated[str, Form(max_length=16)],
                        note: Annotated[str, Form(max_length=NOTE_MAX)] = "",
                        public: Annotated[bool, Form()] = False) -> Response:
    staff.require(*CAN_ACT, StaffRole.MANAGER)
    ticket = await _ticket(staff, code)
    if to_status not in targets_for(staff, ticket.status):
        return _back(code, error="illegal")
    try:
        # public: staff chose to publish the note (Open311); unticked, it stays private.
        await workflow_of(request).change_status(ticket, to_status, staff.actor,
                                                 note=note.strip(), now=now_of(request),
                                                 public=public)
    except IllegalTransition:
        return _back(code, error="illegal")
    except WorkflowError:
        return _back(code, error="note")
    return _back(code, done="status")


@router.post("/tickets/{code}/evidence")
async def upload_evidence(request: Request, code: str, staff: CsrfStaff,
                          photo: Annotated[UploadFile, File()]) -> Response:
    staff.require(*CAN_ACT)
    ticket = await _ticket(staff, code)
    data = await photo.read(MAX_EVIDENCE + 1)
    if not data or len(data) > MAX_EVIDENCE:
        return _back(code, error="file")
    try:
        await workflow_of(request).add_evidence(
            ticket, data, photo.filename or "evidence", staff.actor,
            core_of(request).settings.media_dir, now=now_of(request))
    except WorkflowError:  # not a real photo, too many pixels, …
        return _back(code, error="file")
    return _back(code, done="evidence")


@router.post("/tickets/{code}/contact")
async def request_contact(request: Request, code: str, staff: CsrfStaff) -> Response:
    staff.require(*CAN_ACT)
    ticket = await _ticket(staff, code)
    await workflow_of(request).request_contact(ticket, staff.actor, now=now_of(request))
    return _back(code, done="contact")


@router.post("/tickets/{code}/reply")
async def reply(request: Request, code: str, staff: CsrfStaff,
                text: Annotated[str, Form(max_length=4000)],
                public: Annotated[bool, Form()] = False) -> Response:
    staff.require(*CAN_ACT)
    ticket = await _ticket(staff, code)
    if not text.strip():
        return _back(code, error="empty")
    await workflow_of(request).reply_to_citizen(ticket, staff.actor, text.strip(),
                                                now=now_of(request), public=public)
    return _back(code, done="reply")

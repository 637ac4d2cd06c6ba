"""One ticket: the report, transcript, media, map, timeline and duplicates, and what staff may
do to it. Every action goes through the ticket workflow, which writes the timeline entry with
the actor ``staff:<username>``.

A unit user asking for another unit's ticket gets 404, the same as for a ticket that does not
exist; media are served only through the same check, never from a public folder.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from ticket_store.models import Attachment, StaffRole, Ticket, TicketEvent
from web.panel import queries
from web.panel.common import core_of, names_of, now_of, render
from web.panel.fmt import OPEN_STATUSES, STATUS_STAFF, remaining
from web.panel.geo import areas_of, district_map
from web.panel.security import PATH, CsrfStaff, Staff, StaffDep

try:  # the ticket workflow (lifecycle, routing, evidence, consent) lives on main
    from ticket_store import workflow
except ImportError:  # pragma: no cover - until it is merged
    workflow = None  # type: ignore[assignment]

router = APIRouter()

MAX_EVIDENCE = 20 * 1024 * 1024
NOTE_MAX = 2000

MESSAGES = {
    "assigned": "به واحد ارجاع شد.",
    "status": "وضعیت تغییر کرد.",
    "evidence": "عکس شواهد بارگذاری شد.",
    "contact": "از شهروند برای اشتراک شماره اجازه خواسته شد.",
    "reply": "پاسخ برای شهروند فرستاده شد.",
}
ERRORS = {
    "illegal": "این تغییر وضعیت مجاز نیست.",
    "unit": "واحد انتخاب‌شده معتبر نیست.",
    "empty": "متن خالی است.",
    "file": "پرونده پذیرفته نشد (فقط عکس یا ویدیو، تا ۲۰ مگابایت).",
}
# The moves each role may ask for; the workflow still refuses illegal ones.
ROLE_TARGETS = {
    StaffRole.UNIT: ("in_progress", "resolved", "rejected"),
    StaffRole.OPERATOR: ("in_progress", "resolved", "closed", "rejected", "referred",
                         "reopened"),
}
CAN_ASSIGN = (StaffRole.OPERATOR, StaffRole.MANAGER, StaffRole.ADMIN)
CAN_ACT = (StaffRole.OPERATOR, StaffRole.UNIT, StaffRole.ADMIN)


async def _ticket(staff: Staff, code: str) -> Ticket:
    ticket = await queries.ticket_for(staff.user, code)
    if ticket is None:
        raise HTTPException(404, "درخواستی با این کد پیدا نشد.")
    return ticket


def _contact(staff: Staff, ticket: Ticket, citizen: Any) -> dict[str, Any] | None:
    """The citizen's phone and name: the 137 centre sees what the citizen gave it; a unit or a
    manager only what the citizen agreed to share."""
    if staff.is_(StaffRole.OPERATOR, StaffRole.ADMIN):
        if citizen.phone or citizen.display_name:
            return {"phone": citizen.phone, "name": citizen.display_name}
        return None
    if workflow is not None and hasattr(workflow, "visible_contact"):
        return workflow.visible_contact(ticket)
    return None


@router.get("/tickets/{code}", response_class=HTMLResponse)
async def ticket_page(request: Request, code: str, staff: StaffDep, done: str = "",
                      error: str = "") -> HTMLResponse:
    ticket = await _ticket(staff, code)
    now = now_of(request)
    core = core_of(request)
    citizen = await ticket.citizen
    attachments = await Attachment.filter(ticket=ticket).order_by("id")
    events = await TicketEvent.filter(ticket=ticket).order_by("at", "id")
    duplicates: list[Ticket] = []
    original = None
    if queries.has("duplicate_of"):
        duplicates = await queries.scope(staff.user, Ticket.filter(duplicate_of_id=ticket.id)) \
            .order_by("created_at").limit(50)
        if ticket.duplicate_of_id:
            original = await queries.scope(staff.user,
                                           Ticket.filter(id=ticket.duplicate_of_id)).first()
    point = (ticket.latitude, ticket.longitude) if ticket.latitude is not None \
        and ticket.longitude is not None else None
    areas = areas_of(getattr(core.pack, "districts", ()) or ())
    open_ = ticket.status in OPEN_STATUSES
    due_onsite = remaining(ticket.onsite_due, now) if open_ and ticket.onsite_due else None
    due_answer = remaining(ticket.answer_due, now) if open_ else None
    targets = ROLE_TARGETS.get(staff.role, tuple(STATUS_STAFF))
    return render(request, "panel/ticket.html", {
        "t": ticket,
        "service": names_of(request).service(ticket.service_code),
        "group": names_of(request).groups.get(ticket.service_code, ""),
        "unit_code": getattr(ticket, "unit_code", None),
        "district": getattr(ticket, "district", None),
        "attachments": attachments,
        "events": events,
        "duplicates": duplicates,
        "original": original,
        "contact": _contact(staff, ticket, citizen),
        "consent": getattr(ticket, "contact_consent", None),
        "map": district_map(areas, point, getattr(ticket, "district", None)),
        "point": point,
        "due_onsite": due_onsite,
        "due_answer": due_answer,
        "targets": [(s, STATUS_STAFF[s]) for s in targets if s != ticket.status],
        "units": sorted(names_of(request).units.items(), key=lambda kv: kv[1]),
        "can_assign": workflow is not None and staff.is_(*CAN_ASSIGN),
        "can_act": workflow is not None and staff.is_(*CAN_ACT),
        "message": MESSAGES.get(done, ""),
        "error": ERRORS.get(error, ""),
    })


@router.get("/media/{attachment_id}")
async def media(request: Request, attachment_id: int, staff: StaffDep) -> Response:
    attachment = await Attachment.get_or_none(id=attachment_id)
    if attachment is None or attachment.ticket_id is None or not attachment.path:
        raise HTTPException(404)
    ticket = await queries.scope(staff.user, Ticket.filter(id=attachment.ticket_id)).first()
    if ticket is None:
        raise HTTPException(404)
    root = Path(core_of(request).settings.media_dir).resolve()
    path = Path(attachment.path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise HTTPException(404)
    mime = attachment.mime or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=mime, headers={"Cache-Control": "private, max-age=3600"})


def _back(code: str, **query: str) -> RedirectResponse:
    suffix = "&".join(f"{k}={quote(v)}" for k, v in query.items())
    return RedirectResponse(f"{PATH}/tickets/{code}" + (f"?{suffix}" if suffix else ""),
                            status_code=303)


def _need_workflow() -> Any:
    if workflow is None:
        raise HTTPException(503, "گردش کار درخواست‌ها هنوز نصب نشده است.")
    return workflow


@router.post("/tickets/{code}/assign")
async def assign(request: Request, code: str, staff: CsrfStaff,
                 unit: Annotated[str, Form(max_length=64)],
                 note: Annotated[str, Form(max_length=NOTE_MAX)] = "") -> Response:
    flow = _need_workflow()
    staff.require(*CAN_ASSIGN)
    ticket = await _ticket(staff, code)
    if unit not in names_of(request).units:
        return _back(code, error="unit")
    try:
        await flow.assign(ticket, unit, staff.actor, note=note.strip(), now=now_of(request))
    except flow.IllegalTransition:
        return _back(code, error="illegal")
    return _back(code, done="assigned")


@router.post("/tickets/{code}/status")
async def change_status(request: Request, code: str, staff: CsrfStaff,
                        to_status: Annotated[str, Form(max_length=16)],
                        note: Annotated[str, Form(max_length=NOTE_MAX)] = "") -> Response:
    flow = _need_workflow()
    staff.require(*CAN_ACT, StaffRole.MANAGER)
    ticket = await _ticket(staff, code)
    allowed = ROLE_TARGETS.get(staff.role, tuple(STATUS_STAFF))
    if to_status not in allowed:
        return _back(code, error="illegal")
    try:
        await flow.change_status(ticket, to_status, staff.actor, note=note.strip(),
                                 now=now_of(request))
    except flow.IllegalTransition:
        return _back(code, error="illegal")
    return _back(code, done="status")


@router.post("/tickets/{code}/evidence")
async def upload_evidence(request: Request, code: str, staff: CsrfStaff,
                          photo: Annotated[UploadFile, File()]) -> Response:
    flow = _need_workflow()
    staff.require(*CAN_ACT)
    ticket = await _ticket(staff, code)
    data = await photo.read(MAX_EVIDENCE + 1)
    if not data or len(data) > MAX_EVIDENCE:
        return _back(code, error="file")
    try:
        await flow.add_evidence(ticket, data, photo.filename or "evidence", staff.actor,
                                core_of(request).settings.media_dir, now=now_of(request))
    except ValueError:  # refused by media_ingest: not a real photo/video, too big, …
        return _back(code, error="file")
    return _back(code, done="evidence")


@router.post("/tickets/{code}/contact")
async def request_contact(request: Request, code: str, staff: CsrfStaff) -> Response:
    flow = _need_workflow()
    staff.require(*CAN_ACT)
    ticket = await _ticket(staff, code)
    await flow.request_contact(ticket, staff.actor, now=now_of(request))
    return _back(code, done="contact")


@router.post("/tickets/{code}/reply")
async def reply(request: Request, code: str, staff: CsrfStaff,
                text: Annotated[str, Form(max_length=4000)]) -> Response:
    flow = _need_workflow()
    staff.require(*CAN_ACT)
    ticket = await _ticket(staff, code)
    if not text.strip():
        return _back(code, error="empty")
    await flow.reply_to_citizen(ticket, staff.actor, text.strip(), now=now_of(request))
    return _back(code, done="reply")

"""A citizen's page: their channel, their standing (volunteer, trusted reporter or neither)
with a form to change it, and their latest tickets. For the 137 centre, managers and admins;
a unit works on tickets, not on people, and is refused.

The citizen's phone and name show only to those who see them on the ticket page anyway (the
centre and admins); a manager sees the standing and the tickets.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from peygir.messages.persian import CHANNEL_LABELS
from peygir.ticket_store import standing as standings
from peygir.ticket_store.models import Citizen, StaffRole, Ticket
from peygir.web.media import MAX_ID
from peygir.web.panel.common import render
from peygir.web.panel.security import PATH, CsrfStaff, StaffDep

router = APIRouter()

CAN_SEE = (StaffRole.OPERATOR, StaffRole.MANAGER, StaffRole.ADMIN)
SEES_CONTACT = (StaffRole.OPERATOR, StaffRole.ADMIN)
RECENT = 30  # tickets listed on the page
STANDING_LABELS = {
    "none": "عادی",
    "volunteer": "همیار شهرداری",
    "trusted": "شهربان (گزارشگر مورد اعتماد)",
}
MESSAGES = {"standing": "جایگاه شهروند ثبت شد؛ گزارش‌های بعدی او زودتر رسیدگی می‌شود."}
ERRORS = {"standing": "جایگاه انتخاب‌شده معتبر نیست."}


def label_of(value: str) -> str:
    return STANDING_LABELS.get(value or "none", value)


async def _citizen(citizen_id: int) -> Citizen:
    if not 1 <= citizen_id <= MAX_ID:  # the database would fail on it, not miss
        raise HTTPException(404)
    citizen = await Citizen.get_or_none(id=citizen_id)
    if citizen is None:
        raise HTTPException(404)
    return citizen


@router.get("/citizens/{citizen_id}", response_class=HTMLResponse)
async def citizen_page(request: Request, citizen_id: int, staff: StaffDep, done: str = "",
                       error: str = "") -> HTMLResponse:
    staff.require(*CAN_SEE)
    citizen = await _citizen(citizen_id)
    tickets = await Ticket.filter(citizen_id=citizen.id).order_by("-created_at").limit(
        RECENT).values("tracking_code", "service_code", "status", "created_at")
    return render(request, "panel/citizen.html", {
        "c": citizen,
        "channel": CHANNEL_LABELS.get(citizen.channel, citizen.channel),
        "standing": citizen.standing.value or "none",
        "standing_label": label_of(citizen.standing.value),
        "choices": list(STANDING_LABELS.items()),
        "contact": staff.is_(*SEES_CONTACT),
        "tickets": tickets,
        "total": await Ticket.filter(citizen_id=citizen.id).count(),
        "message": MESSAGES.get(done, ""),
        "error": ERRORS.get(error, ""),
    })


@router.post("/citizens/{citizen_id}/standing")
async def change_standing(citizen_id: int, staff: CsrfStaff,
                          standing: Annotated[str, Form(max_length=16)]) -> Response:
    staff.require(*CAN_SEE)
    citizen = await _citizen(citizen_id)
    chosen = standings.parse(standing)
    back = f"{PATH}/citizens/{citizen.id}"
    if chosen is None:
        return RedirectResponse(back + "?error=standing", status_code=303)
    await standings.set_standing(citizen, chosen)
    return RedirectResponse(back + "?done=standing", status_code=303)

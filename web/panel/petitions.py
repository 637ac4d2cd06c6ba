"""Petitions in the panel (issue 20): the centre's staff review what citizens propose before
it is public, and follow the published ones (their counts, and the ticket each opened).

Operators, managers and administrators review; a unit sees a petition only as the ticket it
opened, in its own queue.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from peygir.messages import petition_texts as t
from peygir.ticket_store import petitions
from peygir.ticket_store.models import Attachment, StaffRole, Ticket
from peygir.web.media import MAX_ID, media_response, stored_file
from peygir.web.panel.common import core_of, now_of, render
from peygir.web.panel.security import PATH, CsrfStaff, StaffDep

router = APIRouter()
REVIEWERS = (StaffRole.OPERATOR, StaffRole.MANAGER, StaffRole.ADMIN)
MESSAGES = {"approve": "طومار تأیید و منتشر شد؛ به پیشنهاددهنده خبر داده شد.",
            "reject": "طومار منتشر نشد؛ به پیشنهاددهنده خبر داده شد."}
ERRORS = {"gone": "این پیشنهاد پیش‌تر بررسی شده است."}


@router.get("/petitions", response_class=HTMLResponse)
async def petitions_page(request: Request, staff: StaffDep, done: str = "", error: str = ""
                         ) -> HTMLResponse:
    staff.require(*REVIEWERS)
    published = await petitions.public()
    codes = dict(await Ticket.filter(
        id__in=[p.ticket_id for p in published if p.ticket_id]).values_list("id",
                                                                            "tracking_code"))
    return render(request, "panel/petitions.html", {
        "pending": await petitions.pending(), "published": published, "codes": codes,
        "labels": t.STATUS_LABELS, "whole_city": t.WHOLE_CITY,
        "message": MESSAGES.get(done, ""), "error": ERRORS.get(error, ""),
    })


@router.get("/petitions/{petition_id}/photo")
async def petition_photo(request: Request, petition_id: int, staff: StaffDep) -> Response:
    """The photo a proposer sent, for the staff who review it: only an inert image."""
    staff.require(*REVIEWERS)
    if not 1 <= petition_id <= MAX_ID:
        raise HTTPException(404)
    petition = await petitions.get(petition_id)
    row = await Attachment.get_or_none(id=petition.photo_id) if petition and petition.photo_id \
        else None
    path = stored_file(row.path, core_of(request).settings.media_dir) if row else None
    if row is None or path is None:
        raise HTTPException(404)
    return media_response(path, row.mime, "private, max-age=3600")


@router.post("/petitions/{petition_id}/review")
async def review(request: Request, petition_id: int, staff: CsrfStaff,
                 decision: Annotated[Literal["approve", "reject"], Form()],
                 note: Annotated[str, Form(max_length=petitions.NOTE_MAX)] = "") -> Response:
    staff.require(*REVIEWERS)
    core = core_of(request)
    reviewed = await core.dialogue.petitions.review(
        petition_id, decision == "approve", staff.actor, note, now=now_of(request))
    if reviewed is None:
        return RedirectResponse(f"{PATH}/petitions?error=gone", status_code=303)
    core.wake(reviewed.channel)  # the proposer's news (and, at a threshold of one, the rest)
    return RedirectResponse(f"{PATH}/petitions?done={decision}", status_code=303)

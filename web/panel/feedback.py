"""Feedback through QR codes in the panel (issue 20): the review team's page.

Managers and administrators see feedback on staff members (praise, suggestion, complaint),
each member's counts and a flag when their complaints in the pack's window reach its
threshold (``deadlines.yaml``, ``qr:``), and the reports filed at each place. Units and
operators never see it: feedback on a staff member does not go to their own unit.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from peygir.messages import qr_texts as t
from peygir.ticket_store import qr
from peygir.ticket_store.models import Attachment, QrSubject, StaffFeedback, StaffRole
from peygir.web.media import MAX_ID, media_response, stored_file
from peygir.web.panel.common import core_of, now_of, render
from peygir.web.panel.security import StaffDep

router = APIRouter()
REVIEWERS = (StaffRole.MANAGER, StaffRole.ADMIN)


@router.get("/feedback", response_class=HTMLResponse)
async def feedback_page(request: Request, staff: StaffDep) -> HTMLResponse:
    staff.require(*REVIEWERS)
    rules = core_of(request).pack.city.rules.qr
    since = now_of(request) - timedelta(days=rules.complaint_days)
    recent = await qr.recent_feedback()
    names = {s.id: s for s in await QrSubject.filter(
        id__in=list({f.subject_id for f in recent}))}
    return render(request, "panel/feedback.html", {
        "staff_rows": await qr.staff_counts(since, rules.complaint_threshold),
        "place_rows": await qr.place_counts(since),
        "recent": recent, "subjects": names, "rules": rules,
        "kinds": t.KIND_LABELS, "place_kinds": t.PLACE_KINDS,
    })


@router.get("/feedback/{feedback_id}/photo")
async def feedback_photo(request: Request, feedback_id: int, staff: StaffDep) -> Response:
    """The photo a citizen sent with feedback, for the review team only: an inert image."""
    staff.require(*REVIEWERS)
    if not 1 <= feedback_id <= MAX_ID:
        raise HTTPException(404)
    row = await StaffFeedback.get_or_none(id=feedback_id)
    photo = await Attachment.get_or_none(id=row.photo_id) if row and row.photo_id else None
    path = stored_file(photo.path, core_of(request).settings.media_dir) if photo else None
    if photo is None or path is None:
        raise HTTPException(404)
    return media_response(path, photo.mime, "private, max-age=3600")

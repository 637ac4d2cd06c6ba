"""The panel's view of peygir as the front door (issue 19): what waits to reach the city's
Open311 back office (``endpoints.yaml``), and, for administrators, the webhook subscriptions
with each one's last result. A report set aside (refused, or perhaps arrived) can be sent
again from here once staff checked the back office.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from peygir.ticket_store import forwarding, webhooks
from peygir.ticket_store.models import StaffRole
from peygir.web.panel.common import core_of, render
from peygir.web.panel.security import PATH, CsrfStaff, StaffDep

router = APIRouter()
SEES = (StaffRole.OPERATOR, StaffRole.MANAGER, StaffRole.ADMIN)
STATE_LABELS = {"pending": "در صف ارسال", "sent": "رسیده", "uncertain": "شاید رسیده؛ بررسی کنید",
                "failed": "پذیرفته نشد"}


@router.get("/interop", response_class=HTMLResponse)
async def interop_page(request: Request, staff: StaffDep, done: str = "") -> HTMLResponse:
    staff.require(*SEES)
    admin = staff.role == StaffRole.ADMIN
    subs = await webhooks.subscriptions() if admin else []
    return render(request, "panel/interop.html", {
        "endpoints": core_of(request).pack.endpoints, "counts": await forwarding.counts(),
        "waiting": await forwarding.waiting(), "labels": STATE_LABELS, "admin": admin,
        "subscriptions": subs, "backlog": await webhooks.backlog() if admin else {},
        "resent": done == "resent",
    })


@router.post("/interop/{row_id}/resend")
async def resend(row_id: int, staff: CsrfStaff) -> Response:
    staff.require(*SEES)
    await forwarding.send_again(row_id)
    return RedirectResponse(f"{PATH}/interop?done=resent", status_code=303)

"""The public list of petitions (issue 20): ``GET /petitions`` (HTML) and
``GET /petitions.json``.

Only approved petitions appear, with their title, text, district, signature count, threshold
and status, and the links to sign them (the web chat's ``/?petition=<id>``, and the bots'
deep links when their usernames are set). Nobody's identity is shown: neither the
proposer's nor any signer's — the rows below never read them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates

from peygir.bots.core import Core
from peygir.conversation.petitions import link_payload
from peygir.messages import petition_texts as t
from peygir.messages.digits import persian_digits
from peygir.ticket_store import petitions
from peygir.ticket_store.models import Petition

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
CACHE = {"Cache-Control": "public, max-age=60"}  # counts a minute old are fine


def sign_links(core: Core, petition_id: int) -> dict[str, str]:
    settings = core.settings
    start = link_payload(petition_id)
    links = {"web": f"/?petition={petition_id}"}
    if settings.telegram_username:
        links["telegram"] = f"https://t.me/{settings.telegram_username}?start={start}"
    if settings.bale_username:
        links["bale"] = f"https://ble.ir/{settings.bale_username}?start={start}"
    return links


def public_row(core: Core, petition: Petition) -> dict[str, Any]:
    """What the public may know of one petition: never who proposed or signed it."""
    district = core.pack.city.district_by_code.get(petition.district or "")
    return {
        "id": petition.id,
        "title": petition.title,
        "text": petition.text,
        "scope": "district" if petition.district else "city",
        "district": petition.district,
        "district_name": district.name if district else (petition.district or t.WHOLE_CITY),
        "signatures": petition.signature_count,
        "threshold": petition.threshold,
        "status": str(petition.status),
        "status_label": t.STATUS_LABELS.get(petition.status, str(petition.status)),
        "answer_days": petition.answer_days,
        "sign": sign_links(core, petition.id) if petition.status == "open" else {},
    }


def install(app: FastAPI, core: Core) -> None:
    @app.get("/petitions.json", include_in_schema=False)
    async def petitions_json() -> JSONResponse:
        rows = [public_row(core, p) for p in await petitions.public()]
        return JSONResponse({"petitions": rows}, headers=CACHE)

    @app.get("/petitions", response_class=HTMLResponse, include_in_schema=False)
    async def petitions_page(request: Request) -> HTMLResponse:
        rows = [public_row(core, p) for p in await petitions.public()]
        return templates.TemplateResponse(request, "petitions.html", {
            "rows": rows, "fa": persian_digits}, headers=CACHE)

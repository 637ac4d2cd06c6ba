"""The Eitaa mini-app: the web chat's page and dialogue, the citizen known by signed initData.

Every API call carries Eitaa's ``initData`` in the ``X-Eitaa-Init-Data`` header and is refused
(401) unless its signature and ``auth_date`` check out; the chat is the Eitaa user's id. The
routes answer 404 while ``PEYGIR_EITAA_TOKEN`` is not set.
"""

from __future__ import annotations

import logging
import tempfile
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from peygir.channels.eitaa.initdata import CHANNEL, EitaaUser, InitDataError, verify_init_data
from peygir.channels.eitaa.push import take_for_app
from peygir.channels.http import StrictJSONRoute, answers, client_address
from peygir.channels.webchat import ChatIn, for_browser, templates
from peygir.config.settings import Settings
from peygir.conversation.dialogue import MAX_DOWNLOAD, Dialogue
from peygir.media_ingest.images import exif_location
from peygir.media_ingest.intake import check, store_by_hash
from peygir.media_ingest.probe import MediaError
from peygir.messages.types import Attachment, IncomingMessage

log = logging.getLogger(__name__)

REFUSED = "ورود شما تأیید نشد؛ لطفاً برنامک را از داخل ایتا دوباره باز کنید."
# Module level: with postponed annotations FastAPI resolves them in the module's namespace.
InitData = Annotated[str | None, Header()]  # the X-Eitaa-Init-Data header
TOO_BIG = "حجم عکس بیشتر از حد مجاز است؛ لطفاً عکس کوچک‌تری بفرستید."


def eitaa_routes(dialogue: Dialogue, settings: Settings) -> APIRouter:
    """The mini-app's page and API; each answers 404 while ``PEYGIR_EITAA_TOKEN`` is unset."""
    router = APIRouter(route_class=StrictJSONRoute)  # JSON strictly: no NaN

    def token() -> str:
        if settings.eitaa_token is None:
            raise HTTPException(404)
        return settings.eitaa_token.get_secret_value()

    def citizen(init_data: str | None) -> EitaaUser:
        try:
            return verify_init_data(init_data or "", token(), settings.eitaa_max_age)
        except InitDataError as refused:
            log.info("eitaa: initData refused: %s", refused)
            raise HTTPException(401, REFUSED) from refused

    async def replies(chat: str) -> dict[str, object]:
        return {"replies": [for_browser(r) for r in await take_for_app(chat)]}

    @router.get("/eitaa", response_class=HTMLResponse, include_in_schema=False)
    async def eitaa_page(request: Request) -> HTMLResponse:
        token()
        return templates.TemplateResponse(request, "chat.html", {
            "api_base": "/api/eitaa", "sdk_url": settings.eitaa_sdk_url, "upload": True,
            "title": "پیگیر در ایتا — سامانه ۱۳۷ شهرداری"})

    @router.post("/api/eitaa/send", responses=answers(400, 401, 404, 413))
    async def eitaa_send(body: ChatIn, request: Request, x_eitaa_init_data: InitData = None
                         ) -> dict[str, object]:
        user = citizen(x_eitaa_init_data)
        await dialogue.handle(body.incoming(CHANNEL, user.id, client_address(request)))
        return await replies(user.id)

    @router.get("/api/eitaa/poll", responses=answers(401, 404))
    async def eitaa_poll(x_eitaa_init_data: InitData = None) -> dict[str, object]:
        return await replies(citizen(x_eitaa_init_data).id)

    @router.post("/api/eitaa/photo", responses=answers(401, 404, 413))
    async def eitaa_photo(
        request: Request,
        client_id: Annotated[str, Query(min_length=1, max_length=64,
                                        pattern=r"^[A-Za-z0-9_\-]+$")],
        caption: Annotated[str, Query(max_length=4000)] = "",
        x_eitaa_init_data: InitData = None,
    ) -> dict[str, object]:
        """One photo as the request body (no multipart: the page sends the file as it is)."""
        user = citizen(x_eitaa_init_data)
        declared = request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > MAX_DOWNLOAD:
            raise HTTPException(413, TOO_BIG)
        # The Content-Type the page declared is not kept: the probe says what the file is.
        item = Attachment("photo", f"eitaa-upload:{client_id}")
        with tempfile.NamedTemporaryFile(suffix=".upload") as tmp:
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_DOWNLOAD:
                    raise HTTPException(413, TOO_BIG)
                tmp.write(chunk)
            tmp.flush()
            try:
                checked = check(tmp.name, "photo")
            except MediaError as bad:
                item = Attachment("photo", item.file_ref, None, size, problem=bad.message)
            else:
                kept = store_by_hash(tmp.name, settings.media_dir, ext=checked.extension)
                item = Attachment("photo", item.file_ref, checked.mime, size, path=str(kept),
                                  location_hint=exif_location(kept))
        await dialogue.handle(IncomingMessage(
            channel=CHANNEL, chat_id=user.id, user_id=user.id, message_id=client_id,
            dedup_key=f"{CHANNEL}:{user.id}:{client_id}", text=caption, attachments=(item,),
        ))
        return await replies(user.id)

    return router

"""Telegram's and Bale's webhook: ``POST /bot/{channel}/{path}``, when ``PEYGIR_WEBHOOK_BASE``
is set. A request is refused (401) without the bot's secret path (and, for Telegram, the
``X-Telegram-Bot-Api-Secret-Token`` header) before any work; it is answered only after the
update is committed, so a non-200 makes the Bot API deliver it again."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import APIRouter, Header, Request, Response

from peygir.channels.http import StrictJSONRoute, answers, strict_json


class Hooks(Protocol):
    """What the route asks of the runner (:class:`channels.telegram.runner.Messengers`)."""

    def by_channel(self, channel: str) -> object | None: ...

    def authorised(self, channel: str, path: str, header: str | None) -> bool: ...

    async def handle_webhook(self, channel: str, body: dict[str, object]) -> int: ...


def webhook_routes(messengers: Hooks) -> APIRouter:
    router = APIRouter(route_class=StrictJSONRoute)

    @router.post("/bot/{channel}/{path}", response_class=Response,
                 responses=answers(400, 401, 404, 413, empty=True))
    async def bot_webhook(
        channel: str, path: str, request: Request,
        x_telegram_bot_api_secret_token: Annotated[str | None, Header()] = None,
    ) -> Response:
        """Telegram's and Bale's webhook: refused (401) without the secret, before any work."""
        if messengers.by_channel(channel) is None:
            return Response(status_code=404)
        if not messengers.authorised(channel, path, x_telegram_bot_api_secret_token):
            return Response(status_code=401)
        try:  # strict (no NaN); a lone surrogate in a text becomes '?' (Telegram retries a 400)
            body = strict_json(await request.body(), mend_text=True)
        except ValueError:
            return Response(status_code=400)
        return Response(status_code=await messengers.handle_webhook(channel, body))

    return router

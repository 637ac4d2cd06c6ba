"""aiogram's aiohttp session with two costs of the stock one taken off the reply path.

1. A method without files goes as one JSON body. The stock session sends every call as a form,
   percent-encoding each byte of Persian text and JSON-encoding each keyboard on its own; the
   Bot API takes ``application/json`` for any call that uploads nothing (Telegram documents
   it; Bale's public clients post JSON to ``sendMessage`` alike). Uploads still go as
   multipart forms through the stock path.
2. aiogram parses each answer as ``Response[<the method's result type>]``, a pydantic generic
   class that pydantic caches only weakly: once collected, it is rebuilt on the next call
   (tens of milliseconds of schema building, seen many times a minute under load in
   ``bench.bots``). Holding the classes of the methods we call keeps them built.
"""

from __future__ import annotations

from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteWebhook,
    EditMessageText,
    GetFile,
    GetMe,
    GetUpdates,
    SendMessage,
    SendPhoto,
    SetWebhook,
    TelegramMethod,
)
from aiogram.methods.base import Response, TelegramType
from aiohttp import ClientError

_CALLED = (AnswerCallbackQuery, DeleteWebhook, EditMessageText, GetFile, GetMe, GetUpdates,
           SendMessage, SendPhoto, SetWebhook)
# Strong references: see (2) above.
_RESPONSE_TYPES = tuple(Response[method.__returning__] for method in _CALLED)  # type: ignore[name-defined]

JSON_HEADERS = {"Content-Type": "application/json"}


class BotApiSession(AiohttpSession):
    """The session every peygir bot (Telegram or Bale) talks through."""

    def json_body(self, bot: Bot, method: TelegramMethod[Any]) -> str | None:
        """The call as a JSON object, or None when it carries a file to upload."""
        files: dict[str, Any] = {}
        fields: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is not None and prepared != "":  # what the stock form leaves out
                fields[key] = prepared
        return None if files else self.json_dumps(fields)

    async def make_request(self, bot: Bot, method: TelegramMethod[TelegramType],
                           timeout: int | None = None) -> TelegramType:
        body = self.json_body(bot, method)
        if body is None:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        try:
            async with session.post(url, data=body.encode(), headers=JSON_HEADERS,
                                    timeout=self.timeout if timeout is None else timeout
                                    ) as answer:
                content = await answer.text()
        except TimeoutError as e:
            raise TelegramNetworkError(method=method, message="Request timeout error") from e
        except ClientError as e:
            raise TelegramNetworkError(method=method, message=f"{type(e).__name__}: {e}") from e
        response = self.check_response(bot=bot, method=method, status_code=answer.status,
                                       content=content)
        return cast(TelegramType, response.result)


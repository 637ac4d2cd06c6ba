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

from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
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
from aiogram.methods.base import Response
from aiohttp import FormData
from aiohttp.payload import JsonPayload

_CALLED = (AnswerCallbackQuery, DeleteWebhook, EditMessageText, GetFile, GetMe, GetUpdates,
           SendMessage, SendPhoto, SetWebhook)
# Strong references: see (2) above.
_RESPONSE_TYPES = tuple(Response[method.__returning__] for method in _CALLED)  # type: ignore[name-defined]


class BotApiSession(AiohttpSession):
    """The session every peygir bot (Telegram or Bale) talks through."""

    def build_form_data(self, bot: Bot, method: TelegramMethod[Any]) -> FormData:
        """The body the stock ``make_request`` posts: JSON when nothing is uploaded (aiohttp
        takes any payload as ``data``), the stock multipart form otherwise."""
        files: dict[str, Any] = {}
        fields: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is not None and prepared != "":  # what the stock form leaves out
                fields[key] = prepared
        if files:
            return super().build_form_data(bot, method)
        return JsonPayload(fields, dumps=self.json_dumps)  # type: ignore[return-value]

"""The web chat's messages: what a page posts (:class:`ChatIn`), what it gets back
(:func:`for_browser`), and who it is (:func:`chat_id`, a cookie). The Eitaa mini-app is the same
page and takes the same messages; only its citizen is known another way."""

from __future__ import annotations

import secrets
from typing import Annotated, Literal

from fastapi import Cookie, Depends, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from peygir.channels.http import secure_cookies
from peygir.messages.phone import COMPACT_PATTERN, MAX_INPUT, iranian_mobile
from peygir.messages.types import Contact, IncomingMessage, Location, Reply, evidence_url

COOKIE = "peygir_chat"
MAX_TEXT = 50_000  # characters; more than any honest report, less than a denial of service


def _whole_characters(value: str) -> str:
    """A lone UTF-16 surrogate is no character: no keyboard types one, and neither the
    database nor a JSON reply can hold one."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("متن نویسهٔ نامعتبر دارد — the text holds an invalid character "
                         "(a lone surrogate)") from None
    return value


Text = Annotated[str, AfterValidator(_whole_characters)]


class LocationIn(BaseModel):
    # Finite only: NaN and ±Infinity are no place (and NaN slips past every comparison).
    # Strict: a number, not "35.7" or true (the document says number; so does the check).
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, strict=True)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False, strict=True)


class PhoneIn(BaseModel):
    """A number the citizen typed in the page's form, with their explicit consent."""

    # Without separators (the page takes them out), so the document's pattern is exactly
    # what is taken; Persian or Latin digits, 09…, 9…, +989…, 00989…, 989….
    number: str = Field(min_length=1, max_length=MAX_INPUT, pattern=COMPACT_PATTERN)
    consent: Literal[True]  # the form's box: no number is taken without it

    @field_validator("number")
    @classmethod
    def _mobile(cls, value: str) -> str:
        number = iranian_mobile(value)
        if number is None:
            raise ValueError("شماره همراه معتبر نیست؛ مانند ۰۹۱۲۱۲۳۴۵۶۷ بنویسید. "
                             "— not an Iranian mobile number")
        return number


class ChatIn(BaseModel):
    # The document says what the check below refuses: one of these must be there.
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
        for name in ("text", "callback", "location", "phone")]})

    client_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    text: Text | None = Field(default=None, max_length=MAX_TEXT)
    callback: Text | None = Field(default=None, max_length=128)
    location: LocationIn | None = None
    phone: PhoneIn | None = None

    @model_validator(mode="after")
    def _says_something(self) -> ChatIn:
        if self.text is None and self.callback is None and self.location is None \
                and self.phone is None:
            raise ValueError("پیام خالی است. — the message is empty")
        return self

    def incoming(self, channel: str, chat: str, origin: str | None = None) -> IncomingMessage:
        """The message as the dialogue takes it (the web chat's and the Eitaa mini-app's);
        ``origin`` is the client's address, for the code-guess throttle only."""
        return IncomingMessage(
            channel=channel, chat_id=chat, user_id=chat, message_id=self.client_id,
            dedup_key=f"{channel}:{chat}:{self.client_id}", text=self.text or "",
            callback_data=self.callback,
            location=Location(self.location.lat, self.location.lon) if self.location else None,
            contact=Contact(self.phone.number, chat) if self.phone else None,
            origin=origin,
        )


def for_browser(reply: Reply) -> dict[str, object]:
    """A reply as a page shows it: evidence photos are files on disk, the page gets their
    URLs (``/media/<hash>``), never the server's paths."""
    payload = reply.to_payload()
    payload["photos"] = [evidence_url("", p) for p in payload["photos"]]
    return payload


class ChatOut(BaseModel):
    replies: list[dict[str, object]]


def chat_id(request: Request, response: Response,
            peygir_chat: Annotated[str | None, Cookie()] = None) -> str:
    """The web chat's identity: a random id in an HttpOnly cookie, no account needed;
    ``Secure`` behind HTTPS, so it never travels in clear."""
    if peygir_chat and 16 <= len(peygir_chat) <= 64 and peygir_chat.isascii():
        return peygir_chat
    new_id = secrets.token_urlsafe(24)
    response.set_cookie(COOKIE, new_id, httponly=True, samesite="strict",
                        secure=secure_cookies(request), max_age=60 * 60 * 24 * 180)
    return new_id


ChatId = Annotated[str, Depends(chat_id)]

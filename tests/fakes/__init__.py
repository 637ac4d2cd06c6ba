"""Test doubles that speak real wire protocols on loopback."""

from tests.fakes.botapi import (
    BotApiError,
    Call,
    FakeBotApi,
    UploadedFile,
    parse_html,
    parse_markdown,
    parse_markdown_v2,
)

__all__ = [
    "BotApiError",
    "Call",
    "FakeBotApi",
    "UploadedFile",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
]

"""The one clock: an aware UTC now. Everything that stamps or compares times takes a clock
argument defaulting to this, so tests can pin it."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)

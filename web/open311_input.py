"""Checking what Open311 clients send: every problem is collected and named, none raises past
here, so bad input is a 400 with the spec's error list and never a 500."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from peygir.config.pack import Pack
from peygir.messages.types import Location
from peygir.nlu.normalize import ascii_digits
from peygir.ticket_store.models import TicketStatus
from peygir.ticket_store.open311 import BY_OPEN311_STATUS, MAX_RESULTS, RequestQuery

WINDOW = timedelta(days=90)  # the spec's default and widest date window
TRACKING_CODE = re.compile(r"^[1-9][0-9]{7}$")
# Longest value accepted per field, in characters (description: the spec's own 4000;
# address: the ticket's column).
LIMITS = {
    "api_key": 256, "jurisdiction_id": 64, "service_code": 64, "lat": 32, "long": 32,
    "address_string": 512, "address_id": 64, "email": 254, "device_id": 128,
    "account_id": 64, "first_name": 100, "last_name": 100, "phone": 32,
    "description": 4000, "media_url": 2048, "service_request_id": 9 * MAX_RESULTS,
    "status": 32, "start_date": 64, "end_date": 64,
}
_PHONE = re.compile(r"^\+?[0-9 ()\-]+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Control characters other than tab and newlines: PostgreSQL refuses NUL in text, and XML 1.0
# cannot carry the rest, so nobody's answer could be served.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class Problems(list[str]):
    """Descriptions of what is wrong, in the order found."""


def clean(fields: Mapping[str, str], problems: Problems) -> dict[str, str]:
    """Known fields, stripped, empty ones dropped; too long or NUL-carrying ones named."""
    out: dict[str, str] = {}
    for name, limit in LIMITS.items():
        value = fields.get(name)
        if value is None:
            continue
        if _CONTROL.search(value):
            problems.append(f"{name}: contains a NUL or other control character")
        elif len(value) > limit:  # as sent, spaces too: what the document's maxLength counts
            problems.append(f"{name}: longer than {limit} characters")
        elif value.strip():
            out[name] = value.strip()
    return out


def _number(fields: dict[str, str], name: str, bound: float, problems: Problems
            ) -> float | None:
    if name not in fields:
        return None
    try:
        value = float(ascii_digits(fields[name]))
    except ValueError:
        problems.append(f"{name}: not a number")
        return None
    if not math.isfinite(value) or not -bound <= value <= bound:
        problems.append(f"{name}: must be between -{bound:g} and {bound:g}")
        return None
    return value


@dataclass(frozen=True)
class PostedRequest:
    service_code: str
    description: str
    urgent: bool
    location: Location | None
    address: str | None
    media_url: str | None
    phone: str | None
    email: str | None
    device_id: str | None


def parse_post(raw: Mapping[str, str], pack: Pack) -> PostedRequest | Problems:
    problems = Problems()
    fields = clean(raw, problems)
    code = fields.get("service_code")
    service = pack.service_by_code.get(code) if code else None
    if code is None:
        problems.append("service_code: required")
    elif service is None:
        problems.append(f"service_code: unknown service '{code}'")
    elif service.is_referral:
        problems.append(f"service_code: '{code}' is not the city's to handle; it belongs to "
                        f"{service.referral_body} ({service.referral_phone or '-'})")
    lat = _number(fields, "lat", 90, problems)
    lon = _number(fields, "long", 180, problems)
    if ("lat" in fields) != ("long" in fields):
        problems.append("lat and long: give both or neither")
    address = fields.get("address_string")
    if "lat" not in fields and "long" not in fields and address is None:
        problems.append("a location is required: lat and long, or address_string"
                        " (address_id is not supported)")
    media_url = fields.get("media_url")
    if media_url is not None:
        parts = urlsplit(media_url) if " " not in media_url else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append("media_url: must be an http or https URL")
    phone = fields.get("phone")
    if phone is not None:
        phone = ascii_digits(phone)
        digits = sum(ch.isdigit() for ch in phone)
        if not _PHONE.match(phone) or not 5 <= digits <= 15:
            problems.append("phone: not a phone number")
    email = fields.get("email")
    if email is not None and not _EMAIL.match(email):
        problems.append("email: not an email address")
    if problems or service is None:
        return problems
    location = Location(lat, lon) if lat is not None and lon is not None else None
    return PostedRequest(
        service_code=service.service_code, description=fields.get("description", ""),
        urgent=service.urgent, location=location, address=address, media_url=media_url,
        phone=phone, email=email, device_id=fields.get("device_id"),
    )


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _moment(fields: dict[str, str], name: str, problems: Problems) -> datetime | None:
    if name not in fields:
        return None
    try:
        moment = datetime.fromisoformat(fields[name])
    except ValueError:
        problems.append(f"{name}: not an ISO 8601 date and time")
        return None
    if moment.tzinfo is None:
        problems.append(f"{name}: give a time zone (Z or an offset such as +03:30)")
        return None
    # Before 1970 there are no requests and after 9000 none yet: such a moment is read as
    # the nearest end of that span (no overflow when the window is added, and no 400 for a
    # well-formed date).
    moment = min(max(moment, EARLIEST), LATEST)
    return moment.astimezone(UTC)


def _listed(value: str | None) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()] if value else []


def parse_filters(raw: Mapping[str, str], pack: Pack, now: datetime) -> RequestQuery | Problems:
    """GET requests' filters, with the spec's defaults: the last 90 days, at most 1000."""
    problems = Problems()
    fields = clean(raw, problems)
    ids = _listed(fields.get("service_request_id"))
    if problems:
        return problems
    bad = [value for value in ids if not TRACKING_CODE.match(value)]
    if bad:
        problems.append(f"service_request_id: not a request id: {bad[0][:20]}")
    elif len(ids) > MAX_RESULTS:
        problems.append(f"service_request_id: at most {MAX_RESULTS} ids")
    codes = _listed(fields.get("service_code"))
    for code in codes:
        if code not in pack.service_by_code:
            problems.append(f"service_code: unknown service '{code}'")
    statuses: list[TicketStatus] = []
    for status in _listed(fields.get("status")):
        if status not in BY_OPEN311_STATUS:
            problems.append("status: must be open, closed, or both (comma-delimited)")
            break
        statuses.extend(BY_OPEN311_STATUS[status])
    start = _moment(fields, "start_date", problems)
    end = _moment(fields, "end_date", problems)
    if problems:
        return problems
    if ids:  # the spec: service_request_id overrides every other (well-formed) argument
        return RequestQuery(tracking_codes=tuple(dict.fromkeys(ids)))
    if start is None and end is None:
        end = now
    if start is None:
        assert end is not None
        start = end - WINDOW
    if end is None:
        end = start + WINDOW
    # The spec lets a server bound the window: a longer one is cut to the 90 days that end at
    # end_date (the list is newest first); a window that ends before it starts holds nothing.
    start = max(start, end - WINDOW)
    return problems or RequestQuery(
        service_codes=tuple(dict.fromkeys(codes)), statuses=tuple(dict.fromkeys(statuses)),
        start=start, end=end,
    )

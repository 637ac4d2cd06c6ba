"""Open311 GeoReport v2 under ``/open311/v2/``: services, service requests and tokens.

Every resource is served as ``.xml`` (the spec's required format) and ``.json`` from the same
Python value. Errors are the spec's list of ``{code, description}``: 403 for a missing or
wrong ``api_key``, 404 for an unknown id or path, 400 for anything else wrong with a request.
Nothing that identifies a citizen is ever returned, nor anything a citizen typed or was told
unless staff published it: no description, the district for the address, coordinates
rounded to ``public_location_decimals``, only published notes, only the units' photos.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from peygir.bots.core import Core
from peygir.config.pack import Service
from peygir.messages import texts
from peygir.messages.persian import to_persian_digits
from peygir.messages.types import Location, evidence_url
from peygir.ticket_store import open311 as tickets
from peygir.ticket_store.deadlines import Deadlines
from peygir.web.guards import allowed_methods
from peygir.web.open311_format import Format, format_of_path, render, render_errors
from peygir.web.open311_input import LIMITS, TRACKING_CODE, Problems, parse_filters, parse_post

# A client's own name for one POST: a retry under it answers the first (never files twice).
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_\-]{1,64}")

PREFIX = "/open311/v2"
MAX_BODY = 64 * 1024  # bytes of form body; a service request is a few hundred
MAX_FIELDS = 200
FORM = "application/x-www-form-urlencoded"


class Open311Error(Exception):
    def __init__(self, status_code: int, descriptions: Sequence[str]) -> None:
        super().__init__(status_code, descriptions)
        self.status_code = status_code
        self.descriptions = list(descriptions)


# -- dependencies ---------------------------------------------------------------------------
def get_core(request: Request) -> Core:
    core: Core = request.app.state.core  # app.state is untyped: say what was put there
    return core


# A published reply is kept on the timeline as STAFF_REPLY_NOTE; the public reads the text.
_REPLY_PREFIX = texts.STAFF_REPLY_NOTE.partition("{text}")[0]


def public_note(note: str | None) -> str | None:
    return note.removeprefix(_REPLY_PREFIX) if note is not None else None


def response_format(
    response_format: Annotated[str, Path(json_schema_extra={"enum": ["json", "xml"]})],
) -> Format:
    try:
        return Format(response_format.lower())
    except ValueError:
        raise Open311Error(400, ["response format: must be json or xml"]) from None


async def submitted_fields(request: Request) -> dict[str, str]:
    """A POST's fields: the query string and an ``application/x-www-form-urlencoded`` body
    (the spec's encoding; the body wins). Read by hand so every failure is a spec error."""
    fields = dict(request.query_params)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Open311Error(400, [f"request body: larger than {MAX_BODY} bytes"])
    if not body:
        return fields
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM:
        raise Open311Error(400, [f"request body: send the fields as {FORM}"])
    try:
        text = bytes(body).decode("utf-8")
        fields.update(parse_qsl(text, keep_blank_values=True, errors="strict",
                                max_num_fields=MAX_FIELDS))
    except ValueError:  # bad UTF-8, bad percent-escapes, too many fields
        raise Open311Error(400, ["request body: not UTF-8 form fields"]) from None
    return fields


def api_client(fields: Annotated[dict[str, str], Depends(submitted_fields)],
               core: Annotated[Core, Depends(get_core)]) -> str:
    """The fingerprint of a valid ``api_key`` (one of ``PEYGIR_OPEN311_KEYS``); else 403."""
    given = fields.get("api_key", "").strip().encode()
    for key in core.settings.open311_key_list:
        if given and secrets.compare_digest(given, key.encode()):
            return tickets.fingerprint(key)
    raise Open311Error(403, ["api_key: missing or not valid"])


CoreDep = Annotated[Core, Depends(get_core)]
FormatDep = Annotated[Format, Depends(response_format)]


# -- views ----------------------------------------------------------------------------------
def _iso(moment: datetime | None, zone: ZoneInfo) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).isoformat(timespec="seconds")


def _hours(span: timedelta) -> str:
    return to_persian_digits(f"{span.total_seconds() / 3600:g}")


# No code of the earlier report: it is another citizen's.
DUPLICATE_NOTICE = ("گزارشی مشابه از همین نزدیکی پیش‌تر رسیده و در حال پیگیری است؛ "
                    "این گزارش هم همراه آن پیگیری می‌شود.")


def service_notice(urgent: bool, deadlines: Deadlines) -> str:
    if urgent:
        return (f"فوری: حضور گروه اجرایی در محل تا {_hours(deadlines.urgent_onsite)} ساعت و "
                f"پاسخ نهایی تا {_hours(deadlines.urgent_answer)} ساعت پس از ثبت")
    return f"نخستین پاسخ تا {_hours(deadlines.first_answer)} ساعت پس از ثبت"


def service_view(service: Service) -> dict[str, Any]:
    return {
        "service_code": service.service_code, "service_name": service.service_name,
        "description": service.description or None, "metadata": service.metadata,
        "type": service.type, "keywords": ", ".join(service.keywords) or None,
        "group": service.group,
    }


def _public_degrees(value: float | None, decimals: int) -> float | None:
    # Rounded: enough to find the street, not the citizen's door.
    return None if value is None else round(value, decimals)


def request_view(found: tickets.Found, core: Core) -> dict[str, Any]:
    row, zone = found.ticket, ZoneInfo(core.settings.timezone)
    service = core.pack.service_by_code.get(row["service_code"])
    unit = core.pack.city.unit_by_code.get(row["unit_code"]) if row["unit_code"] else None
    district = core.pack.city.district_by_code.get(row["district"] or "")
    decimals = core.settings.public_location_decimals
    base = core.settings.public_base
    return {
        "service_request_id": row["tracking_code"],
        "status": tickets.open311_status(row["status"]),
        "status_notes": public_note(found.note),
        "service_name": service.service_name if service else None,
        "service_code": row["service_code"],
        "description": None,  # the citizen's words, whichever way they came
        "agency_responsible": unit.name if unit else None,
        "service_notice": service_notice(row["urgent"], core.workflow.deadlines),
        "requested_datetime": _iso(row["created_at"], zone),
        "updated_datetime": _iso(row["updated_at"], zone),
        "expected_datetime": _iso(row["answer_due"], zone),
        "address": district.name if district else None,  # never the address typed
        "address_id": None,
        "zipcode": None,
        "lat": _public_degrees(row["latitude"], decimals),
        "long": _public_degrees(row["longitude"], decimals),
        # A unit's photo of its work (an absolute URL needs the public address); a citizen's
        # photo or media_url is theirs and never served.
        "media_url": evidence_url(base, found.evidence) if found.evidence and base else None,
    }


def _requests(fmt: Format, rows: list[dict[str, Any]]) -> Response:
    return render(fmt, "service_requests", "request", rows)


# -- endpoints ------------------------------------------------------------------------------
router = APIRouter(prefix=PREFIX, tags=["open311"])

# What each operation answers, as the document says it: JSON or XML by the path's extension,
# the spec's error list for every failure (never FastAPI's 422: see on_validation below).
_ERRORS_JSON = {"type": "array", "minItems": 1, "items": {
    "type": "object", "required": ["code", "description"],
    "properties": {"code": {"type": "integer"}, "description": {"type": "string"}}}}
_WHY = {400: "Something in the request is wrong; every problem is listed.",
        403: "api_key missing or not valid.", 404: "No such service, request, token or path."}


def _answers(ok: str, *errors: int) -> dict[int | str, dict[str, Any]]:
    def both(schema: dict[str, Any]) -> dict[str, Any]:
        return {"application/json": {"schema": schema},
                "text/xml": {"schema": {"type": "string"}}}

    documented: dict[int | str, dict[str, Any]] = {
        200: {"description": ok, "content": both({"type": ["array", "object"]})}}
    for code in errors:
        documented[code] = {"description": _WHY[code], "content": both(_ERRORS_JSON)}
    return documented


@router.get("/services.{response_format}", summary="Service types",
            responses=_answers("The service list", 400))
async def services(fmt: FormatDep, core: CoreDep) -> Response:
    # Referrals (ext_ codes) are other bodies' duties: the city takes no requests for them.
    listed = [service_view(s) for s in core.pack.services if not s.is_referral]
    return render(fmt, "services", "service", listed)


@router.get("/services/{service_code}.{response_format}", summary="Service definition",
            responses=_answers("The service's definition", 400, 404))
async def service_definition(service_code: str, fmt: FormatDep, core: CoreDep) -> Response:
    service = core.pack.service_by_code.get(service_code)
    if service is None or service.is_referral:
        raise Open311Error(404, [f"service_code: unknown service '{service_code[:64]}'"])
    # The pack defines no attributes, so the definition is the code and an empty list.
    body = {"service_code": service.service_code, "attributes": []}
    return render(fmt, "service_definition", "attribute", body,
                  item_tags={"attributes": "attribute"})


def _filter(description: str, schema: dict[str, Any] | None = None, **keywords: Any) -> Any:
    # Declared as plain strings so that FastAPI never answers 422: parse_filters checks them.
    return Query(description=description, json_schema_extra={**(schema or {}), **keywords}
                 or None)


def _comma_delimited(item: str) -> str:
    """A pattern for a comma-delimited list of ``item`` (empty: the filter is not given)."""
    return rf"^ *(({item}) *(, *|$))*$"  # spaces only: other white space is refused


# A date and time with its zone; empty is the same as leaving it out (as a form sends it).
_MOMENT = ("ISO 8601 with a time zone; empty: not given", {"anyOf": [
    {"type": "string", "format": "date-time", "maxLength": LIMITS["start_date"]},
    {"type": "string", "maxLength": 0}]})


@router.get("/requests.{response_format}", summary="Service requests",
            responses=_answers("Service requests, newest first", 400))
async def list_requests(
    fmt: FormatDep, core: CoreDep,
    service_request_id: Annotated[str | None, _filter(
        "Comma-delimited ids; overrides every other filter",
        pattern=_comma_delimited(r"[1-9][0-9]{7}"),
        maxLength=LIMITS["service_request_id"])] = None,
    service_code: Annotated[str | None, _filter("Comma-delimited service codes",
                                                maxLength=LIMITS["service_code"])] = None,
    start_date: Annotated[str | None, _filter(*_MOMENT)] = None,
    end_date: Annotated[str | None, _filter(*_MOMENT)] = None,
    status: Annotated[str | None, _filter("open, closed, or both comma-delimited",
                                          pattern=_comma_delimited("open|closed"),
                                          maxLength=LIMITS["status"])] = None,
) -> Response:
    given = {"service_request_id": service_request_id, "service_code": service_code,
             "start_date": start_date, "end_date": end_date, "status": status}
    filters = {name: value for name, value in given.items() if value is not None}
    query = parse_filters(filters, core.pack, datetime.now(UTC))
    if isinstance(query, Problems):
        raise Open311Error(400, query)
    found = await tickets.find_requests(query)
    return _requests(fmt, [request_view(item, core) for item in found])


POST_FORM: dict[str, Any] = {
    "requestBody": {"required": True, "content": {FORM: {"schema": {
        "type": "object", "required": ["api_key", "service_code"],
        "properties": {
            "api_key": {"type": "string"}, "jurisdiction_id": {"type": "string"},
            "service_code": {"type": "string"},
            "lat": {"type": "number", "minimum": -90, "maximum": 90},
            "long": {"type": "number", "minimum": -180, "maximum": 180},
            "address_id": {"type": "string"},
            "email": {"type": "string"}, "device_id": {"type": "string"},
            "account_id": {"type": "string"}, "first_name": {"type": "string"},
            "last_name": {"type": "string"}, "phone": {"type": "string"},
            "address_string": {"type": "string", "maxLength": 512},
            "description": {"type": "string", "maxLength": 4000},
            "media_url": {"type": "string", "format": "uri"},
        },
    }}}},
}


@router.post("/requests.{response_format}", summary="Create a service request",
             openapi_extra=POST_FORM,
             responses=_answers("The new request's id or token", 400, 403))
async def create_request(
    request: Request, fmt: FormatDep, core: CoreDep,
    client: Annotated[str, Depends(api_client)],
    fields: Annotated[dict[str, str], Depends(submitted_fields)],
) -> Response:
    posted = parse_post(fields, core.pack)
    if isinstance(posted, Problems):
        raise Open311Error(400, posted)
    location = posted.location
    geocoder = core.dialogue.geocoder
    if location is None and posted.address and geocoder is not None:
        # Routed by district like a point; no answer in time: the centre's queue, as before.
        found = await geocoder.lookup(posted.address)
        location = Location(found.lat, found.lon) if found else None
    draft = tickets.Open311Draft(
        client=client,
        submitter=tickets.submitter_id(client, posted.phone, posted.email, posted.device_id),
        service_code=posted.service_code, description=posted.description,
        urgent=posted.urgent, location=location, address=posted.address,
        media_url=posted.media_url, phone=posted.phone,
    )
    key = request.headers.get("idempotency-key", "").strip()
    if key and not IDEMPOTENCY_KEY.fullmatch(key):
        raise Open311Error(400, ["Idempotency-Key: 1 to 64 letters, digits, '-' or '_'"])
    filed, extra = await tickets.file_request(draft, core.workflow,
                                              idempotency_key=key or None)
    notice = (DUPLICATE_NOTICE if filed.duplicate
              else service_notice(filed.ticket.urgent, core.workflow.deadlines))
    body = [{"service_request_id": filed.ticket.tracking_code, "token": extra.token,
             "service_notice": notice}]
    return _requests(fmt, body)


async def _one_request(service_request_id: str, fmt: Format, core: Core) -> Response:
    found = (await tickets.find_request(service_request_id)
             if TRACKING_CODE.match(service_request_id) else None)
    if found is None:
        raise Open311Error(404, [f"service_request_id: unknown request "
                                 f"'{service_request_id[:20]}'"])
    return _requests(fmt, [request_view(found, core)])


@router.get("/requests/{service_request_id}.{response_format}", summary="One service request",
            responses=_answers("The request", 400, 404))
async def one_request(service_request_id: str, fmt: FormatDep, core: CoreDep) -> Response:
    return await _one_request(service_request_id, fmt, core)


# The spec's swagger file spells this path in the singular; serve both.
@router.get("/request/{service_request_id}.{response_format}", include_in_schema=False)
async def one_request_singular(service_request_id: str, fmt: FormatDep, core: CoreDep
                               ) -> Response:
    return await _one_request(service_request_id, fmt, core)


@router.get("/tokens/{token}.{response_format}", summary="Service request id from a token",
            responses=_answers("The request id", 400, 404))
async def token(token: str, fmt: FormatDep) -> Response:
    code = await tickets.tracking_code_for_token(token) if token.isalnum() and len(
        token) <= 32 else None
    if code is None:
        raise Open311Error(404, [f"token: unknown token '{token[:32]}'"])
    return _requests(fmt, [{"service_request_id": code, "token": token}])


# -- wiring ---------------------------------------------------------------------------------
def install(app: FastAPI) -> None:
    """Mount the router; errors under the prefix become the spec's error list."""
    app.include_router(router)

    def ours(request: Request) -> bool:
        return request.url.path.startswith(PREFIX + "/")

    async def on_open311_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Open311Error)
        return render_errors(format_of_path(request.url.path), exc.status_code,
                             exc.descriptions)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not ours(request):
            return await request_validation_exception_handler(request, exc)
        described = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
                     for e in exc.errors()]
        return render_errors(format_of_path(request.url.path), 400, described)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not ours(request):
            return await http_exception_handler(request, exc)
        answer = render_errors(format_of_path(request.url.path), exc.status_code,
                               [str(exc.detail)])
        answer.headers.update(exc.headers or {})
        if exc.status_code == 405:
            answer.headers["Allow"] = allowed_methods(request)
        return answer

    app.add_exception_handler(Open311Error, on_open311_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    core: Core = app.state.core
    _finish_document(app, [s.service_code for s in core.pack.services])


def _finish_document(app: FastAPI, codes: Sequence[str]) -> None:
    """What the decorators cannot say: FastAPI documents a 422 for every operation with
    parameters, and Open311's are 400s (the spec's error list, above); and the codes a
    ``service_code`` filter may name are this city pack's."""
    build = app.openapi
    known = _comma_delimited("|".join(re.escape(code) for code in codes))

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        schema = build()
        if fresh:
            for path, operations in schema.get("paths", {}).items():
                if not path.startswith(PREFIX + "/"):
                    continue
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
                    for parameter in operation.get("parameters", ()):
                        if parameter.get("name") == "service_code" \
                                and parameter.get("in") == "query":
                            parameter["schema"]["pattern"] = known
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

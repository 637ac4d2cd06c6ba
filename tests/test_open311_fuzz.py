"""Schemathesis against `peygir serve` on loopback: valid and invalid input to every Open311
operation, from the app's own OpenAPI document and from a Swagger description of the spec
(ours, in tests/open311_schemas; and the shared copy of the spec's when it is beside the clone),
on SQLite and PostgreSQL. No 500s; every answer is 200 or the spec's error list with 400, 403
or 404; every JSON 200 fits the spec's schema."""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.open311_support import (
    KEYS,
    OWN_SCHEMAS,
    PREFIX,
    SHARED_SCHEMAS,
    shared_present,
    validate,
)
from tests.support import database_for, openapi_document, serve_env, serving

# The shared copy of the spec's swagger.json joins only when it is there (as in CI).
SOURCES = ["app-openapi", "spec-swagger"] + (["shared-swagger"] if shared_present() else [])
EXAMPLES = int(os.environ.get("PEYGIR_FUZZ_EXAMPLES", "40"))  # per operation and mode
SCHEMA_OF = {  # (method, path without the extension) -> the schema its JSON 200 must fit
    ("GET", "/services"): "services.json",
    ("GET", "/services/{service_code}"): "service-definition.json",
    ("GET", "/requests"): "requests.json",
    ("POST", "/requests"): "RequestResponse",
    ("GET", "/requests/{service_request_id}"): "requests.json",
    ("GET", "/request/{service_request_id}"): "requests.json",
    ("GET", "/tokens/{token}"): "TokenResponse",
    ("GET", "/tokens/{token_id}"): "TokenResponse",
}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[str]:
    """`python -m peygir serve` with two Open311 keys; its base URL."""
    tmp = tmp_path_factory.mktemp("open311fuzz")
    database_url = database_for(request, tmp)
    env = serve_env(PEYGIR_DATABASE_URL=database_url, PEYGIR_MEDIA_DIR=str(tmp / "media"),
                    PEYGIR_OPEN311_KEYS=",".join(KEYS))
    log_path = tmp / "server.log"
    with serving(env, log_path) as base:
        yield base
    tail = log_path.read_text(errors="replace")
    assert "Traceback" not in tail, tail[-4000:]  # nothing blew up inside, even if caught


def _schema(source: str, server: str) -> Any:
    if source == "app-openapi":
        schema = schemathesis.openapi.from_dict(openapi_document(open311_keys=",".join(KEYS)))
        schema = schema.include(path_regex=f"^{PREFIX}/")
        schema.config.update(base_url=server)
    else:
        folder = OWN_SCHEMAS if source == "spec-swagger" else SHARED_SCHEMAS
        schema = schemathesis.openapi.from_path(folder / "swagger.json")
        schema.config.update(base_url=server + PREFIX)
    return schema


def _format_for(case: Any) -> str:
    # Mostly a real format, so the handlers behind it are reached; now and then anything.
    given = str(case.path_parameters.get("response_format", ""))
    pick = zlib.crc32(repr((case.query, case.body, case.path_parameters)).encode()) % 5
    return given if pick == 0 else ("json" if pick % 2 else "xml")


def _check(case: Any) -> int:
    case.path_parameters = {**(case.path_parameters or {}),
                            "response_format": _format_for(case)}
    pick = zlib.crc32(repr(case.body).encode()) % 4
    if case.method == "POST" and isinstance(case.body, dict) and pick:
        # Most get past the key to validation; some name a real service and get filed.
        case.body = {**case.body, "api_key": KEYS[0]}
        if pick == 1:
            # A real service and a place, without the fields random text rarely passes.
            body = {k: v for k, v in case.body.items()
                    if k not in ("email", "phone", "media_url", "lat", "long")}
            case.body = {**body, "service_code": "asphalt", "address_string": "میدان"}
    response = case.call_and_validate(checks=[not_a_server_error])
    assert response.status_code in (200, 400, 403, 404, 405), response.text[:500]
    fmt = case.path_parameters["response_format"]
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if fmt == "json":
        assert content_type.startswith("application/json"), content_type
        document = json.loads(response.content)
        if response.status_code == 200:
            path = case.operation.path.removeprefix(PREFIX).rsplit(".", 1)[0]
            validate(SCHEMA_OF[(case.method.upper(), path)], document)
        else:
            validate("errors", document)
            assert all(e["code"] == response.status_code for e in document)
    else:
        assert content_type.startswith("text/xml"), content_type
        root = ET.fromstring(response.content)
        if response.status_code != 200:
            assert root.tag == "errors" and all(e.tag == "error" for e in root)
    return response.status_code


# schemathesis's own pytest plumbing (from_fixture) does not run on pytest 9 yet, so its
# strategies drive Hypothesis directly: one run per operation and generation mode.
@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["positive", "negative"])
def test_no_input_makes_a_500(server: str, source: str, mode: GenerationMode) -> None:
    operations = [result.ok() for result in _schema(source, server).get_all_operations()]
    assert len(operations) >= 6, [op.label for op in operations]
    seen: dict[str, set[int]] = {}
    for operation in operations:
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            seen.setdefault(f"{case.method.upper()} {case.operation.path}", set()).add(
                _check(case))

        try:
            run()
        except Exception as exc:
            exc.add_note(f"operation: {operation.label} ({mode.value}, {source})")
            raise
    if source == "app-openapi" and mode is GenerationMode.POSITIVE:
        # The fuzzer got through validation too, not only bounced off it.
        assert 200 in seen[f"POST {PREFIX}/requests.{{response_format}}"], seen
        assert 200 in seen[f"GET {PREFIX}/requests.{{response_format}}"], seen
        assert 200 in seen[f"GET {PREFIX}/services.{{response_format}}"], seen

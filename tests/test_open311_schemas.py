"""The project's own GeoReport v2 schemas (tests/open311_schemas): valid Draft 7, accept the
spec's shapes, reject what the spec rules out; and, with ../shared beside the clone, agree
with the shared copy of the spec's schemas on the same documents."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from jsonschema import Draft7Validator, ValidationError

from tests.open311_support import OWN_FILE, OWN_SCHEMAS, _check, _own_registry, validate

REQUEST = {
    "service_request_id": "48213377", "status": "open", "status_notes": None,
    "service_name": "آسفالت", "service_code": "asphalt", "description": None,
    "agency_responsible": "معاونت فنی منطقه ۱", "service_notice": "نخستین پاسخ تا ۱۲۰ ساعت",
    "requested_datetime": "2026-03-01T10:00:00+03:30",
    "updated_datetime": "2026-03-01T11:00:00+03:30",
    "expected_datetime": "2026-03-06T10:00:00+03:30", "address": "منطقه ۱",
    "address_id": None, "zipcode": None, "lat": 34.82, "long": 48.49,
    "media_url": "https://137.example-city.ir/media/ab12.jpg",
}
GOOD: dict[str, Any] = {
    "services.json": [{"service_code": "asphalt", "service_name": "آسفالت",
                       "description": None, "metadata": False, "type": "realtime",
                       "keywords": "چاله, آسفالت", "group": "فنی و عمرانی"}],
    "service-definition.json": {"service_code": "asphalt", "attributes": [
        {"variable": True, "code": "size", "datatype": "singlevaluelist", "required": False,
         "datatype_description": None, "order": 1, "description": "اندازه",
         "values": [{"key": "small", "name": "کوچک"}]}]},
    "requests.json": [REQUEST],
    "RequestResponse": [{"service_request_id": "48213377", "token": "t-1",
                         "service_notice": "…"}],
    "TokenResponse": [{"service_request_id": "48213377", "token": "t-1"}],
    "errors": [{"code": 400, "description": "lat and long: give both or neither"}],
}


def _broken(name: str, path: tuple[Any, ...], value: Any) -> Any:
    document = copy.deepcopy(GOOD[name])
    *parents, last = path
    target = document
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return document


BAD = [  # each breaks one rule of the spec
    ("services.json", (0, "type"), "sometimes"),
    ("services.json", (0, "metadata"), "no"),
    ("services.json", (0, "service_code"), KeyError),
    ("service-definition.json", ("attributes", 0, "datatype"), "colour"),
    ("service-definition.json", ("attributes", 0, "values"), KeyError),  # a list needs values
    ("requests.json", (0, "status"), "pending"),
    ("requests.json", (0, "requested_datetime"), "2026-03-01 10:00"),  # no zone
    ("requests.json", (0, "lat"), 134.0),
    ("requests.json", (0, "media_url"), "not a url"),
    ("requests.json", (0, "longitude"), 48.49),  # a misspelt field
    ("RequestResponse", (0, "service_request_id"), KeyError),  # fine while token remains
    ("TokenResponse", (0, "service_request_id"), KeyError),
    ("errors", (0, "code"), "400"),
    ("errors", (0, "description"), KeyError),
]


def test_every_schema_is_valid_draft7() -> None:
    files = sorted(p.name for p in OWN_SCHEMAS.glob("*.json") if p.name != "swagger.json")
    assert set(files) == {*OWN_FILE.values(), "request.json"}
    for name in files:
        Draft7Validator.check_schema(json.loads((OWN_SCHEMAS / name).read_text("utf-8")))
    swagger = json.loads((OWN_SCHEMAS / "swagger.json").read_text("utf-8"))
    assert swagger["swagger"] == "2.0" and len(
        [m for ops in swagger["paths"].values() for m in ops]) == 6  # the spec's six methods


@pytest.mark.parametrize("name", sorted(GOOD))
def test_the_specs_shapes_pass(name: str) -> None:
    validate(name, GOOD[name])  # ours, and the shared copy too when present


@pytest.mark.parametrize(("name", "path", "value"), BAD, ids=[
    f"{n}:{'/'.join(map(str, p))}" for n, p, _ in BAD])
def test_what_the_spec_rules_out_fails(name: str, path: tuple[Any, ...], value: Any) -> None:
    document = _broken(name, path, value)
    if name == "RequestResponse":  # a token alone is a valid answer; neither is not
        _check(_own_registry(), OWN_FILE[name], document)
        del document[0]["token"]
    with pytest.raises(ValidationError):
        _check(_own_registry(), OWN_FILE[name], document)

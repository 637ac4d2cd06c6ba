"""Open311 test helpers: the spec's JSON schemas, XML read back, and the app on loopback.

The schemas are the project's own (`tests/open311_schemas/`, written from the GeoReport v2
spec), so a clone alone can run these tests. When `../shared/open311/georeport-v2` is beside
the clone (as in CI), every document is validated against those too."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import uvicorn
from jsonschema import Draft7Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from peygir.bots.core import Core
from peygir.config.pack import Pack
from peygir.config.settings import Settings
from peygir.conversation.dialogue import Dialogue
from peygir.conversation.notices import Notices
from peygir.nlu.classifier import Classifier
from peygir.ticket_store.workflow import Workflow
from peygir.web.app import create_app
from tests.conftest import ROOT, SHARED
from tests.support import free_port

OWN_SCHEMAS = ROOT / "tests" / "open311_schemas"
SHARED_SCHEMAS = SHARED / "open311" / "georeport-v2"
KEYS = ("key-one-0123456789", "key-two-9876543210")
PREFIX = "/open311/v2"
# The names the tests use -> our file for each.
OWN_FILE = {"services.json": "services.json", "service-definition.json": "service-definition.json",
            "requests.json": "requests.json", "RequestResponse": "post-response.json",
            "TokenResponse": "tokens.json", "errors": "errors.json"}


def _resource(path: Path) -> Resource[Any]:
    contents = json.loads(path.read_text(encoding="utf-8"))
    return Resource.from_contents(contents, default_specification=DRAFT7)


@cache
def _own_registry() -> Registry[Any]:
    return Registry().with_resources(
        [(path.name, _resource(path)) for path in OWN_SCHEMAS.glob("*.json")
         if path.name != "swagger.json"])


def shared_present() -> bool:
    return (SHARED_SCHEMAS / "swagger.json").is_file()


@cache
def _shared_registry() -> Registry[Any]:
    resources = [(name, _resource(SHARED_SCHEMAS / name))
                 for name in ("request.json", "requests.json", "service.json", "services.json",
                              "service-definition.json")]
    swagger = json.loads((SHARED_SCHEMAS / "swagger.json").read_text(encoding="utf-8"))
    for name in ("RequestResponse", "TokenResponse"):
        one = {**swagger["definitions"][name], "required": ["service_request_id"]}
        listed = {"type": "array", "minItems": 1, "items": one}
        resources.append((name, Resource.from_contents(listed, default_specification=DRAFT7)))
    return Registry().with_resources(resources)


def _check(registry: Registry[Any], name: str, document: Any) -> None:
    Draft7Validator(registry.contents(name), registry=registry,
                    format_checker=FormatChecker()).validate(document)


def validate(schema_name: str, document: Any) -> None:
    """Raise unless ``document`` fits the named schema (formats date-time and uri checked):
    ours always, and the shared copy of the spec's schemas too when it is beside the clone."""
    _check(_own_registry(), OWN_FILE[schema_name], document)
    if shared_present() and schema_name != "errors":  # the shared folder has no errors schema
        _check(_shared_registry(), schema_name, document)


def xml_items(content: bytes, root: str, item: str) -> list[dict[str, Any]]:
    """``<root><item><field>text</field>…</item>…</root>`` as a list of dicts of strings."""
    assert content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    top = ET.fromstring(content)
    assert top.tag == root, top.tag
    out = []
    for node in top:
        assert node.tag == item, node.tag
        out.append({child.tag: child.text for child in node})
    return out


def as_xml_text(value: Any) -> str | None:
    """What a JSON value reads as in the XML form."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def assert_same(json_items: list[dict[str, Any]], xml: list[dict[str, Any]]) -> None:
    assert [{k: as_xml_text(v) for k, v in row.items()} for row in json_items] == xml


def make_core(database_url: str, pack: Pack, classifier: Classifier,
              keys: tuple[str, ...] = KEYS) -> Core:
    settings = Settings(database_url=database_url, open311_keys=",".join(keys))
    workflow = Workflow(pack, voice=Notices(pack, settings.timezone), timezone=settings.timezone)
    dialogue = Dialogue(pack, classifier, workflow=workflow, timezone=settings.timezone)
    return Core(settings, pack, classifier, dialogue, workflow)


@asynccontextmanager
async def serving(core: Core) -> AsyncIterator[httpx.AsyncClient]:
    """The real app under uvicorn on a free loopback port; a client whose base is the API."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(core), host="127.0.0.1", port=port,
                                           log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}{PREFIX}",
                                     trust_env=False, timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        await task

"""Open311 GeoReport v2 documents in both of the spec's formats, from one Python value.

Every endpoint builds plain dicts and lists once; ``render`` turns them into JSON (the spec's
optional format) or XML (its required one), so the two always carry the same content. XML
follows the spec's examples: a root element naming the collection, one child per item, one
element per field; ``None`` is an empty element, booleans are ``true``/``false``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any
from xml.etree import ElementTree as ET

from fastapi import Response

JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


class Format(StrEnum):
    JSON = "json"
    XML = "xml"


def format_of_path(path: str) -> Format:
    """The format a path asks for by its extension; XML (the required one) otherwise."""
    return Format.JSON if path.lower().endswith(".json") else Format.XML


# Characters XML 1.0 cannot carry at all (most C0 controls, lone surrogates, U+FFFE/F).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        # Input is checked for them, but a chat may have stored one: never break the document.
        return _NOT_XML.sub("\ufffd", value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    return str(value)


def _append(parent: ET.Element, tag: str, value: Any, item_tags: Mapping[str, str]) -> None:
    node = ET.SubElement(parent, tag)
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _append(node, key, inner, item_tags)
    elif isinstance(value, list | tuple):
        # A list field (a service definition's attributes) nests one element per item.
        for inner in value:
            _append(node, item_tags.get(tag, "item"), inner, item_tags)
    else:
        node.text = _text(value)


def to_xml(root: str, item: str, body: Sequence[Any] | Mapping[str, Any],
           item_tags: Mapping[str, str] | None = None) -> bytes:
    """``<root><item>…</item>…</root>`` for a list, ``<root>…fields…</root>`` for a dict."""
    tags = dict(item_tags or {})
    top = ET.Element(root)
    if isinstance(body, Mapping):
        for key, value in body.items():
            _append(top, key, value, tags)
    else:
        for value in body:
            _append(top, item, value, tags)
    # The spec asks for the declaration with encoding="UTF-8" spelt so.
    return XML_DECLARATION + ET.tostring(top, encoding="unicode").encode()


def render(fmt: Format, root: str, item: str, body: Sequence[Any] | Mapping[str, Any],
           status_code: int = 200, item_tags: Mapping[str, str] | None = None) -> Response:
    if fmt is Format.JSON:
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "replace")  # a lone surrogate echoed back must not fail the answer
        return Response(content, status_code=status_code, media_type=JSON_TYPE)
    return Response(to_xml(root, item, body, item_tags), status_code=status_code,
                    media_type=XML_TYPE)


def render_errors(fmt: Format, status_code: int, descriptions: Sequence[str]) -> Response:
    """The spec's error list: ``[{code, description}, …]`` / ``<errors><error>…``."""
    body = [{"code": status_code, "description": text} for text in descriptions]
    return render(fmt, "errors", "error", body, status_code=status_code)

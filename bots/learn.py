"""Reading a city's labelled history for ``peygir learn``: JSONL or CSV, checked line by line.

Every line is checked against the pack; a bad line is named (``FILE:LINE: reason``) and
skipped, so one typo in a year of history does not stop the import of the rest.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peygir.config.pack import Pack
from peygir.ticket_store.examples import MAX_TEXT, NewExample

LABELS = ("service", "faq")
NOT_LABELS = ("greeting", "status", "unknown")  # dev.jsonl's other kinds: nothing to learn
CSV_KEYS = {"service_code": "service", "faq_id": "faq"}


class Unreadable(Exception):
    """The file cannot be read at all, or is neither JSONL nor CSV."""


class BadLine(Exception):
    """One line that cannot be imported; the message is the reason."""


@dataclass
class FileLabels:
    path: str
    rows: list[NewExample] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "FILE:LINE: reason"
    not_labels: int = 0


def read_labels(path: str, pack: Pack) -> FileLabels:
    """Every labelled line of one file, with what was wrong with the others."""
    file = Path(path)
    try:
        content = file.read_bytes().decode("utf-8-sig")  # a BOM from Excel is dropped
    except FileNotFoundError:
        raise Unreadable(f"{path}: no such file") from None
    except IsADirectoryError:
        raise Unreadable(f"{path}: is a folder, not a file") from None
    except OSError as exc:
        raise Unreadable(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise Unreadable(f"{path}: not UTF-8 text") from None
    result = FileLabels(path)
    checker = _Checker(pack)
    if _looks_like_jsonl(file, content):
        _read_jsonl(content, checker, result)
    else:
        _read_csv(content, checker, result)
    return result


def _looks_like_jsonl(file: Path, content: str) -> bool:
    suffix = file.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return True
    if suffix == ".csv":
        return False
    first = next((line.strip() for line in content.splitlines() if line.strip()), "")
    if first.startswith("{"):
        return True
    if "text" in first and "," in first:  # a CSV header
        return False
    raise Unreadable(f"{file}: neither JSONL nor CSV (give it a .jsonl or .csv name)")


class _Checker:
    """Turns one (text, kind, key) into an example, or says what is wrong with it."""

    def __init__(self, pack: Pack) -> None:
        self.known = {"service": set(pack.service_by_code), "faq": set(pack.faq_by_id)}

    def example(self, text: Any, kind: str, key: Any) -> NewExample:
        if not isinstance(text, str):
            raise BadLine("'text' is not a string")
        if not text.strip():
            raise BadLine("empty text")
        if len(text) > MAX_TEXT:
            raise BadLine(f"text longer than {MAX_TEXT} characters ({len(text)})")
        if not isinstance(key, str) or not key.strip():
            what = "service code" if kind == "service" else "FAQ id"
            raise BadLine(f"no {what}")
        key = key.strip()
        if key not in self.known[kind]:
            what = "service code" if kind == "service" else "FAQ id"
            raise BadLine(f"unknown {what} '{key}' (not in the pack)")
        return NewExample(text=text, kind=kind, key=key)


def _read_jsonl(content: str, checker: _Checker, result: FileLabels) -> None:
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = _jsonl_row(line, checker)
        except BadLine as bad:
            result.problems.append(f"{result.path}:{number}: {bad}")
            continue
        if row is None:
            result.not_labels += 1
        else:
            result.rows.append(row)


def _jsonl_row(line: str, checker: _Checker) -> NewExample | None:
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        raise BadLine("not valid JSON") from None
    if not isinstance(data, dict):
        raise BadLine("not a JSON object")
    expect = data.get("expect")
    if "text" not in data:
        raise BadLine("missing field 'text'")
    if not isinstance(expect, dict):
        raise BadLine("missing field 'expect' (an object with 'kind')")
    kind = expect.get("kind")
    if kind in NOT_LABELS:
        return None
    if kind not in LABELS:
        raise BadLine("missing field 'expect.kind'" if kind is None
                      else f"unknown kind {json.dumps(kind)} (service or faq)")
    name = "code" if kind == "service" else "id"
    if name not in expect:
        raise BadLine(f"missing field 'expect.{name}'")
    return checker.example(data["text"], kind, expect[name])


def _read_csv(content: str, checker: _Checker, result: FileLabels) -> None:
    reader = csv.reader(io.StringIO(content, newline=""))
    header = [name.strip().lower() for name in next(reader, [])]
    columns = [name for name in CSV_KEYS if name in header]
    if "text" not in header or not columns:
        raise Unreadable(f"{result.path}: a CSV needs a header with 'text' and "
                         "'service_code' or 'faq_id'")
    width = len(header)
    start = reader.line_num + 1  # a quoted field may span lines: number rows by their start
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. a field over csv's size limit: skip that row
            result.problems.append(f"{result.path}:{start}: not valid CSV ({exc})")
            start = reader.line_num + 1
            continue
        number, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        try:
            if len(cells) < width:
                raise BadLine(f"missing column '{header[len(cells)]}'")
            if len(cells) > width:
                raise BadLine(f"{len(cells)} columns, the header has {width}"
                              " (quote a text that has a comma)")
            row = dict(zip(header, cells, strict=True))
            given = [name for name in columns if row[name].strip()]
            if len(given) != 1:
                raise BadLine("give one of " + " or ".join(columns) if not given
                              else "both service_code and faq_id given; give one")
            result.rows.append(checker.example(row["text"], CSV_KEYS[given[0]],
                                               row[given[0]]))
        except BadLine as bad:
            result.problems.append(f"{result.path}:{number}: {bad}")

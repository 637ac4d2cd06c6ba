"""The city pack: services and FAQ entries, loaded from YAML and validated with pydantic.

A pack is a folder with ``services.yaml`` (Open311 GeoReport v2 field names plus ``urgent``,
``jurisdiction`` and ``examples``) and ``faq.yaml``. Loading collects every problem it finds
instead of stopping at the first, so ``peygir pack check`` can name them all at once. The FAQ
entry's model lives with the rest of the FAQ, in ``faq/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator

from peygir.config.city import City, load_city
from peygir.config.endpoints import Endpoint, endpoint_problems
from peygir.config.faq_entry import FaqEntry  # and still importable from here
from peygir.config.replies import CannedReply
from peygir.config.strict import Strict, phrase_list

DEFAULT_PACK_DIR = Path(__file__).parent / "pack"
MUNICIPAL = "municipal"

_PHONE_IN_PARENS = re.compile(r"[(（]\s*([0-9۰-۹٠-٩][0-9۰-۹٠-٩\s\-]*)\s*[)）]")


class Service(Strict):
    """One entry of the service catalogue (Open311 ``service`` plus peygir's extensions)."""

    service_code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    service_name: str = Field(min_length=1)
    group: str = Field(min_length=1)
    jurisdiction: str = Field(min_length=1)
    description: str = ""
    keywords: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    urgent: bool = False
    # Open311 GeoReport v2 fields a city may carry over from its existing catalogue.
    type: str = "realtime"
    metadata: bool = False

    _phrases = field_validator("keywords", "examples", mode="before")(phrase_list)

    @property
    def is_referral(self) -> bool:
        return self.jurisdiction != MUNICIPAL

    @property
    def referral_body(self) -> str | None:
        """The outside body's name without its phone number, for referrals."""
        if not self.is_referral:
            return None
        return _PHONE_IN_PARENS.sub("", self.jurisdiction).strip() or self.jurisdiction

    @property
    def referral_phone(self) -> str | None:
        if not self.is_referral:
            return None
        found = _PHONE_IN_PARENS.search(self.jurisdiction)
        return found.group(1).strip() if found else None


@dataclass(frozen=True)
class PackProblem:
    """One thing wrong with a pack, worded for the person who edits the YAML."""

    file: str
    line: int | None
    entry: str | None  # service code or FAQ id, when known
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        what = f" {self.entry}" if self.entry else ""
        field = f" field '{self.field}'" if self.field else ""
        return f"{where}:{what}{field}: {self.message}"


class PackError(Exception):
    """Raised when a pack cannot be used; carries every problem found."""

    def __init__(self, folder: Path, problems: list[PackProblem]) -> None:
        self.folder = folder
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"city pack {folder} has {len(problems)} problem(s):\n{lines}")


@dataclass(frozen=True)
class Pack:
    folder: Path
    services: tuple[Service, ...]
    faqs: tuple[FaqEntry, ...]
    city: City = field(default_factory=City)  # units, districts and deadline rules (optional files)
    replies: tuple[CannedReply, ...] = ()  # canned replies (replies.yaml, optional)
    endpoints: tuple[Endpoint, ...] = ()  # back offices reports go to (endpoints.yaml)

    @cached_property
    def endpoint_by_service(self) -> dict[str, Endpoint]:
        """The back office each forwarded service goes to: a named list wins over "all"."""
        found: dict[str, Endpoint] = {}
        for endpoint in sorted(self.endpoints, key=lambda e: e.services == "all"):
            codes = (s.service_code for s in self.services if not s.is_referral) \
                if endpoint.services == "all" else endpoint.services
            for code in codes:
                found.setdefault(code, endpoint)
        return found

    @cached_property
    def service_by_code(self) -> dict[str, Service]:
        return {s.service_code: s for s in self.services}

    @cached_property
    def faq_by_id(self) -> dict[str, FaqEntry]:
        return {f.id: f for f in self.faqs}

    @cached_property
    def hotwords(self) -> str:
        """The first keyword of every municipal service, as hint words for Whisper's decoder.

        Measured with bench/voice.py (espeak-ng notes, Whisper base): voice top-1 0.26 → 0.34
        and top-3 0.42 → 0.54 on the evaluation pack. One word per service keeps every service
        inside the decoder's prompt (about 220 tokens); whole service names helped less."""
        words = (s.keywords[0] for s in self.services if s.keywords and not s.is_referral)
        return " ".join(dict.fromkeys(words))


def _read_yaml(path: Path, problems: list[PackProblem]) -> tuple[Any, yaml.Node | None]:
    name = path.name
    if not path.is_file():
        problems.append(PackProblem(name, None, None, None, "file is missing"))
        return None, None
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        message = f"YAML syntax error: {exc.problem or exc}"
        problems.append(PackProblem(name, line, None, None, message))
        return None, None
    return data, node


def _item_lines(root: yaml.Node | None, key: str) -> list[int | None]:
    """Line numbers (1-based) of each item in the top-level list ``key``."""
    if not isinstance(root, yaml.MappingNode):
        return []
    for key_node, value_node in root.value:
        if getattr(key_node, "value", None) == key and isinstance(value_node, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value_node.value]
    return []


def _entries(
    data: Any, node: yaml.Node | None, key: str, file: str, problems: list[PackProblem]
) -> list[tuple[Any, int | None]]:
    if data is None:
        return []
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        problems.append(PackProblem(file, 1, None, key, f"expected a top-level list '{key}:'"))
        return []
    extra = sorted(set(data) - {key})
    for name in extra:
        problems.append(PackProblem(file, None, None, name, "unknown top-level field"))
    lines = _item_lines(node, key)
    items = data[key]
    return [(item, lines[i] if i < len(lines) else None) for i, item in enumerate(items)]


def _validate(
    model: type[Strict], raw: Any, id_field: str, file: str, line: int | None, index: int,
    problems: list[PackProblem],
) -> Any:
    entry_name = raw.get(id_field) if isinstance(raw, dict) else None
    label = str(entry_name) if entry_name else f"entry #{index + 1}"
    if not isinstance(raw, dict):
        problems.append(PackProblem(file, line, label, None, "must be a mapping of fields"))
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            field = ".".join(str(part) for part in err["loc"]) or None
            kind = err["type"]
            if kind == "missing":
                message = "required field is missing"
            elif kind == "extra_forbidden":
                message = "unknown field"
            else:
                message = err["msg"]
            problems.append(PackProblem(file, line, label, field, message))
        return None


def check_pack(folder: str | Path) -> tuple[Pack | None, list[PackProblem]]:
    """Load and validate a pack; returns the pack (or None) and every problem found."""
    folder = Path(folder)
    problems: list[PackProblem] = []
    if not folder.is_dir():
        problems.append(PackProblem(str(folder), None, None, None, "pack folder does not exist"))
        return None, problems

    services: list[Service] = []
    data, node = _read_yaml(folder / "services.yaml", problems)
    seen_lines: dict[str, int | None] = {}
    for i, (raw, line) in enumerate(_entries(data, node, "services", "services.yaml", problems)):
        service = _validate(Service, raw, "service_code", "services.yaml", line, i, problems)
        if service is None:
            continue
        code = service.service_code
        if code in seen_lines:
            problems.append(PackProblem(
                "services.yaml", line, code, "service_code",
                f"duplicate service code (first at line {seen_lines[code]})",
            ))
            continue
        seen_lines[code] = line
        if code.startswith("ext_") and not service.is_referral:
            problems.append(PackProblem(
                "services.yaml", line, code, "jurisdiction",
                "an ext_ code is a referral: name the outside body and its number",
            ))
        if service.is_referral and not (service.referral_body or "").strip(" ()"):
            problems.append(PackProblem(
                "services.yaml", line, code, "jurisdiction", "referral names no outside body",
            ))
        if not (service.keywords or service.examples):
            problems.append(PackProblem(
                "services.yaml", line, code, "keywords",
                "give keywords or examples, or citizens' words cannot reach this service",
            ))
        services.append(service)

    faqs: list[FaqEntry] = []
    data, node = _read_yaml(folder / "faq.yaml", problems)
    seen_ids: dict[str, int | None] = {}
    for i, (raw, line) in enumerate(_entries(data, node, "faqs", "faq.yaml", problems)):
        faq = _validate(FaqEntry, raw, "id", "faq.yaml", line, i, problems)
        if faq is None:
            continue
        if faq.id in seen_ids:
            problems.append(PackProblem(
                "faq.yaml", line, faq.id, "id",
                f"duplicate FAQ id (first at line {seen_ids[faq.id]})",
            ))
            continue
        seen_ids[faq.id] = line
        faqs.append(faq)

    city, city_problems = load_city(folder, {s.service_code: s.group for s in services})
    problems += [PackProblem(p.file, None, p.entry, p.field, p.message) for p in city_problems]
    replies = _load_replies(folder, {s.service_code for s in services}, problems)
    endpoints = _load_endpoints(folder, services, problems)

    if problems:
        return None, problems
    return Pack(folder=folder, services=tuple(services), faqs=tuple(faqs), city=city,
                replies=replies, endpoints=endpoints), []


def _load_endpoints(folder: Path, services: list[Service], problems: list[PackProblem]
                    ) -> tuple[Endpoint, ...]:
    """endpoints.yaml is optional (see config/endpoints.py); a service goes to one back
    office at most, and only a municipal one."""
    if not (folder / "endpoints.yaml").exists():
        return ()
    municipal = {s.service_code for s in services if not s.is_referral}
    referral = {s.service_code for s in services if s.is_referral}
    found: list[tuple[Endpoint, int | None]] = []
    data, node = _read_yaml(folder / "endpoints.yaml", problems)
    for i, (raw, line) in enumerate(_entries(data, node, "endpoints", "endpoints.yaml",
                                             problems)):
        endpoint = _validate(Endpoint, raw, "name", "endpoints.yaml", line, i, problems)
        if endpoint is not None:
            found.append((endpoint, line))
    claimed: dict[str, str] = {}
    names: set[str] = set()
    alls = 0
    # Named lists first, so "all" takes only what no list named.
    for endpoint, line in sorted(found, key=lambda pair: pair[0].services == "all"):
        if endpoint.name in names:
            problems.append(PackProblem("endpoints.yaml", line, endpoint.name, "name",
                                        "duplicate endpoint name"))
        names.add(endpoint.name)
        if endpoint.services == "all":
            alls += 1
            if alls > 1:
                problems.append(PackProblem("endpoints.yaml", line, endpoint.name, "services",
                                            "only one endpoint may take all services"))
        for field_name, message in endpoint_problems(endpoint, municipal, referral, claimed):
            problems.append(PackProblem("endpoints.yaml", line, endpoint.name, field_name,
                                        message))
    return tuple(endpoint for endpoint, _ in found)


def _load_replies(folder: Path, codes: set[str], problems: list[PackProblem]
                  ) -> tuple[CannedReply, ...]:
    """replies.yaml is optional; each entry is checked like a service or an FAQ entry, and
    must name services the pack has."""
    if not (folder / "replies.yaml").exists():
        return ()
    replies: list[CannedReply] = []
    seen: dict[str, int | None] = {}
    data, node = _read_yaml(folder / "replies.yaml", problems)
    for i, (raw, line) in enumerate(_entries(data, node, "replies", "replies.yaml", problems)):
        reply = _validate(CannedReply, raw, "id", "replies.yaml", line, i, problems)
        if reply is None:
            continue
        if reply.id in seen:
            problems.append(PackProblem("replies.yaml", line, reply.id, "id",
                                        f"duplicate reply id (first at line {seen[reply.id]})"))
            continue
        seen[reply.id] = line
        unknown = [code for code in reply.services if code not in codes]
        if unknown:
            problems.append(PackProblem("replies.yaml", line, reply.id, "services",
                                        f"unknown service code {unknown[0]!r}"))
        replies.append(reply)
    return tuple(replies)


def load_pack(folder: str | Path | None = None) -> Pack:
    """Load a pack or raise :class:`PackError` naming every problem."""
    folder = Path(folder) if folder else DEFAULT_PACK_DIR
    pack, problems = check_pack(folder)
    if pack is None:
        raise PackError(folder, problems)
    return pack

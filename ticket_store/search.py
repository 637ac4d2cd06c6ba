"""Ticket search for the staff panel: words in the report or its voice transcript, tracking
code, the citizen's phone, service, district, unit, state and a date window; newest first
(in the order tickets were filed: by id, which the FTS table and the primary key both give),
a bounded page at a time, each staff member seeing only what their role may.

Words are matched as substrings of a folded copy of the ticket's text, so «چاله» finds
«چاله‌ها» and «پوره‌چاله», and Persian's glued suffixes need no stemmer (PostgreSQL has none
for Persian). The fold (``FOLD``) is one character table applied in SQL when a ticket is
written and in Python to the query: Arabic ي/ك and friends to Persian ی/ک, Persian and
Arabic-Indic digits to ASCII, half-spaces, diacritics and tatweel dropped, punctuation to
spaces, ASCII lower-cased, آ to ا. Both sides use the same table, so a letter variant or a
digit form never makes a miss.

- SQLite: an FTS5 table with the trigram tokenizer (``ticket_search``), kept in step with
  ``ticket`` by triggers (migration 0011), so every write (the dialogue, Open311, retention's
  anonymising) updates it with no code of ours to forget.
- PostgreSQL: ``ticket.search_text``, a stored generated column of
  ``peygir_search_text(description, transcript)`` (an immutable SQL function doing the same
  fold), with a GIN ``pg_trgm`` index that ``LIKE '%word%'`` uses. Without the extension (a
  database role that may not create it) the same query runs as a scan.

A word of three letters or more matches anywhere; a two-letter word («آب») only at the start
of a word (a trigram of a space and the two letters); a single letter is ignored.

The phone is matched on its last ten digits (``0912…``, ``+98912…`` and ``98912…`` meet)
through an expression index on ``citizen``; only the roles that see a citizen's number may
search by it (``PHONE_ROLES``). This module speaks no Persian: bad input is a ``BadSearch``
naming the field, which the panel words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from tortoise import connections

from peygir.ticket_store.models import OPEN_STATUSES, StaffRole, StaffUser, Ticket, TicketStatus
from peygir.ticket_store.store import Params

# -- the fold --------------------------------------------------------------------------------
# Changing this table changes what is stored: a new migration must then rebuild the FTS table
# and recreate the PostgreSQL function and index (see migration 0011).
_LETTERS = {
    "ي": "ی", "ى": "ی", "ې": "ی", "ۍ": "ی", "ێ": "ی", "ئ": "ی",
    "ك": "ک", "ڪ": "ک", "ګ": "گ",
    "ة": "ه", "ۀ": "ه", "ە": "ه", "ھ": "ه", "ہ": "ه", "ۂ": "ه",
    "أ": "ا", "إ": "ا", "ٱ": "ا", "ٲ": "ا", "ٳ": "ا", "آ": "ا",
    "ؤ": "و", "ۆ": "و", "ۇ": "و", "ۈ": "و",
}
_DIGITS = {d: str(i) for i, d in enumerate("۰۱۲۳۴۵۶۷۸۹")} | \
    {d: str(i) for i, d in enumerate("٠١٢٣٤٥٦٧٨٩")}
_LOWER = {chr(c): chr(c + 32) for c in range(ord("A"), ord("Z") + 1)}
# Diacritics, tatweel and hamza; half-space, zero-width and direction marks: writing noise.
_DROP = [chr(c) for c in (*range(0x064B, 0x0660), 0x0670, *range(0x0610, 0x061B), 0x0640,
                          0x0621, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x00AD, 0xFEFF,
                          0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068,
                          0x2069)]
# Whitespace and punctuation become spaces, so a word after «(» or a line break still starts
# a word, and no LIKE or FTS5 special character reaches a query.
_SPACES = "\t\n\r\u00a0\u2009\u200a\u202f.,،;؛:!?؟«»\"'`()[]{}<>-_/\\|*%+=#@&^~…٫٬"

FOLD: dict[str, str] = _LETTERS | _DIGITS | _LOWER | {c: " " for c in _SPACES} | \
    dict.fromkeys(_DROP, "")
_FOLD_TABLE = str.maketrans({ord(k): v for k, v in FOLD.items()})


def fold(text: str) -> str:
    """The searchable form of a text: what ``fold_sql`` and ``sqlite_fold_steps`` compute in
    the database."""
    return text.translate(_FOLD_TABLE)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def fold_sql(expression: str) -> str:
    """PostgreSQL applying FOLD to ``expression``: one ``translate``."""
    mapped = [(k, v) for k, v in FOLD.items() if v]
    dropped = [k for k, v in FOLD.items() if not v]
    source = "".join(k for k, _ in mapped) + "".join(dropped)
    target = "".join(v for _, v in mapped)
    return f"translate({expression}, {_literal(source)}, {_literal(target)})"


# SQLite has no translate, and its parser takes about 29 nested calls: FOLD is applied there
# as a chain of ``replace`` in steps of this many, each step one statement (migration 0011).
SQLITE_STEP = 24


def sqlite_fold_steps(expression: str, column: str = "body") -> list[str]:
    """SQLite expressions applying FOLD in steps: the first to ``expression``, each later one
    to ``column`` holding the previous step's result."""
    items = list(FOLD.items())
    steps = []
    for start in range(0, len(items), SQLITE_STEP):
        current = expression if start == 0 else column
        for key, value in items[start:start + SQLITE_STEP]:
            current = f"replace({current}, char({ord(key)}), {_literal(value)})"
        steps.append(current)
    return steps


def joined_sql(description: str, transcript: str) -> str:
    """A ticket's report and transcript in one text, padded with spaces so that the first
    word starts a word too (the two-letter words' match)."""
    return f"(' ' || coalesce({description}, '') || ' ' || coalesce({transcript}, '') || ' ')"


# The phone's key: its digits (the separators Open311 and messengers use removed), the last
# ten. The same expression text is in citizen's index (migration 0011) and in the query.
PHONE_DIGITS = 10


def phone_key_sql(column: str, dialect: str) -> str:
    digits = column
    for sep in "+ -().":
        digits = f"replace({digits}, {_literal(sep)}, '')"
    return f"right({digits}, {PHONE_DIGITS})" if dialect == "postgres" \
        else f"substr({digits}, -{PHONE_DIGITS})"


# -- the query -------------------------------------------------------------------------------
MAX_TEXT = 200  # characters of free words
MAX_WORDS = 8
MAX_WORD = 40
MAX_FIELD = 64  # service, district and unit codes
PER_PAGE = 25
MAX_PAGE = 200  # a search is for finding a ticket, not for reading 5,000 of them
CODE_LENGTH = 8
PHONE_MIN, PHONE_MAX = 5, 15  # digits, as Open311 accepts them
STATES = ("open", *(s.value for s in TicketStatus))
# Who sees a citizen's number on the ticket page sees it here too (web/panel/tickets.py
# _contact): the 137 centre; a unit or a manager only with the citizen's consent per ticket,
# so they may not look tickets up by phone at all.
PHONE_ROLES = (StaffRole.OPERATOR, StaffRole.ADMIN)

_ASCII_DIGITS = str.maketrans({ord(k): v for k, v in _DIGITS.items()})


class BadSearch(ValueError):
    """An input the search cannot use; ``field`` names it for the panel's message."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


class SearchRefused(PermissionError):
    """The role may not search this way (a unit or a manager by phone)."""


@dataclass(frozen=True)
class SearchQuery:
    words: tuple[str, ...] = ()  # folded; each at least two characters
    code: str = ""
    phone: str = ""  # the phone's key: its last ten digits
    service: str = ""
    district: str = ""
    unit: str = ""
    state: str = ""  # "", "open" or one status
    since: datetime | None = None  # created at or after
    before: datetime | None = None  # created before
    page: int = 1

    @classmethod
    def build(cls, *, text: str = "", code: str = "", phone: str = "", service: str = "",
              district: str = "", unit: str = "", state: str = "",
              since: datetime | None = None, before: datetime | None = None,
              page: int = 1) -> SearchQuery:
        """Check and normalise what staff typed; BadSearch names the first unusable field."""
        if len(text) > MAX_TEXT:
            raise BadSearch("text")
        # Control characters (a NUL, which PostgreSQL refuses in text) are spaces here.
        words = tuple(dict.fromkeys(w for w in _CONTROL.sub(" ", fold(text)).split()
                                    if len(w) >= 2))
        if len(words) > MAX_WORDS or any(len(w) > MAX_WORD for w in words):
            raise BadSearch("text")
        if text.strip() and not words:
            raise BadSearch("short")
        code = _digits_only(code, "code")
        if code and len(code) != CODE_LENGTH:
            raise BadSearch("code")
        phone = _digits_only(phone, "phone")
        if phone and not PHONE_MIN <= len(phone) <= PHONE_MAX:
            raise BadSearch("phone")
        for name, value in (("service", service), ("district", district), ("unit", unit)):
            if not _CODE.fullmatch(value.strip()):
                raise BadSearch(name)
        if state and state not in STATES:
            raise BadSearch("state")
        if since and before and before <= since:
            raise BadSearch("dates")
        return cls(words=words, code=code, phone=phone[-PHONE_DIGITS:], service=service.strip(),
                   district=district.strip(), unit=unit.strip(), state=state, since=since,
                   before=before, page=max(1, min(page, MAX_PAGE)))


_SEPARATORS = re.compile(r"[\s+\-().]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CODE = re.compile(rf"[A-Za-z0-9_\-]{{0,{MAX_FIELD}}}")  # the pack's codes


def _digits_only(value: str, name: str) -> str:
    """Persian or ASCII digits with the usual separators, as ASCII digits; else BadSearch."""
    if len(value) > 32:
        raise BadSearch(name)
    digits = _SEPARATORS.sub("", value.translate(_ASCII_DIGITS))
    if digits and not (digits.isascii() and digits.isdigit()):
        raise BadSearch(name)
    return digits


@dataclass
class SearchPage:
    rows: list[dict[str, Any]]
    page: int
    has_next: bool
    query: SearchQuery = field(default_factory=SearchQuery)


COLUMNS = ["id", "tracking_code", "service_code", "status", "urgent", "onsite_due",
           "answer_due", "created_at", "unit_code", "district", "priority", "duplicate_count",
           "description", "transcript"]
EXCERPT = 160  # characters of the report shown in a result


def may_search_phone(user: StaffUser) -> bool:
    return user.role in PHONE_ROLES


async def search(user: StaffUser, query: SearchQuery, per_page: int = PER_PAGE) -> SearchPage:
    """The tickets ``user`` may see that match every part of ``query``, newest first."""
    if query.phone and not may_search_phone(user):
        raise SearchRefused("phone")
    per_page = max(1, min(per_page, 100))
    p = Params()
    dialect = "postgres" if p.postgres else "sqlite"
    source = f"{Ticket._meta.db_table} t"
    order = "t.id DESC"  # newest first: tickets are numbered as they are filed
    where: list[str] = []
    if query.words:
        if p.postgres:
            for word in query.words:
                pattern = f"%{word}%" if len(word) >= 3 else f"% {word}%"
                # search_text: generated from the text, with its GIN trigram index
                where.append(f"t.search_text LIKE {p(pattern)}")
        else:
            match = " AND ".join(f'"{w}"' if len(w) >= 3 else f'" {w}"' for w in query.words)
            where.append(f"ticket_search MATCH {p(match)}")
            # Driven from the FTS table in its rowid order, so a common word stops at the
            # page's end instead of collecting every match first. (Walking a service's
            # tickets instead and asking FTS5 about each costs about a millisecond a ticket.)
            source = f"ticket_search s JOIN {source} ON t.id = s.rowid"
            order = "s.rowid DESC"
    if user.role == StaffRole.UNIT:
        # A unit sees only its own tickets, whatever it asks for; a unit with no unit none.
        if not user.unit_code:
            return SearchPage([], 1, False, query)
        where.append(f"t.unit_code = {p(user.unit_code)}")
    elif query.unit:
        where.append(f"t.unit_code = {p(query.unit)}")
    if query.code:
        where.append(f"t.tracking_code = {p(query.code)}")
    if query.phone:
        where.append("t.citizen_id IN (SELECT id FROM citizen "
                     f"WHERE {phone_key_sql('phone', dialect)} = {p(query.phone)})")
    if query.service:
        where.append(f"t.service_code = {p(query.service)}")
        if p.postgres:
            # Not the primary key's order: PostgreSQL would walk it from the newest ticket
            # hoping to meet the service soon, and read a million rows when a common word
            # and the service rarely meet. A service is a few percent of the tickets: its
            # index and a sort are bounded.
            order = "t.id + 0 DESC"
    if query.district:
        where.append(f"t.district = {p(query.district)}")
    if query.state == "open":
        where.append("t.status IN (" + ", ".join(p(s) for s in OPEN_STATUSES) + ")")
    elif query.state:
        where.append(f"t.status = {p(query.state)}")
    if query.since:
        where.append(f"t.created_at >= {p(query.since)}")
    if query.before:
        where.append(f"t.created_at < {p(query.before)}")
    sql = (f"SELECT t.id FROM {source}"
           + (" WHERE " + " AND ".join(where) if where else "")
           + f" ORDER BY {order} LIMIT {per_page + 1} OFFSET {(query.page - 1) * per_page}")
    found = await connections.get("default").execute_query_dict(sql, p.values)
    ids = [int(row["id"]) for row in found]
    has_next = len(ids) > per_page
    ids = ids[:per_page]
    by_id = {row["id"]: row for row in await Ticket.filter(id__in=ids).values(*COLUMNS)}
    rows = []
    for i in ids:
        if i in by_id:
            row = by_id[i]
            text = row.pop("description") or ""
            transcript = row.pop("transcript") or ""
            row["excerpt"] = (text or transcript)[:EXCERPT]
            rows.append(row)
    return SearchPage(rows, query.page, has_next, replace(query))

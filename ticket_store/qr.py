"""QR codes for staff members and places (issue 20): the rows behind ``peygir qr`` and the
conversation (conversation/qr.py).

- :func:`sync` stores the city's file: new entries are added, changed ones updated, entries
  gone from the file made inactive (their codes revoked); every active entry without a live
  code gets a new one. Tokens are ``secrets.token_urlsafe(18)``: 24 characters, 144 random
  bits, of the letters Telegram allows in a start payload. They are stored as they are (the
  sheet must print them again); a leaked one is revoked and replaced.
- :func:`revoke` ends an entry's live code; the next ``sync`` issues a fresh one.
- :func:`record_feedback` keeps feedback on a staff member for the review team: its own
  table, never a ticket, so never in a unit's queue.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.functions import Count
from tortoise.transactions import in_transaction

from peygir.config.clock import utcnow
from peygir.config.qr import Entries, PlaceEntry, StaffEntry
from peygir.ticket_store.models import (
    FeedbackKind,
    PlaceReport,
    QrCode,
    QrSubject,
    QrSubjectKind,
    StaffFeedback,
    Ticket,
)

TOKEN_BYTES = 18  # 144 bits; token_urlsafe gives 24 characters of [A-Za-z0-9_-]
TOKEN_PATTERN = r"^[A-Za-z0-9_\-]{16,64}$"
LINK_PREFIX = "qr-"  # the start payload of a code's Telegram/Bale link: qr-<token>
TEXT_MAX = 4000


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


@dataclass
class Synced:
    added: list[str] = field(default_factory=list)  # "staff:<ref>", "place:<ref>"
    updated: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)


def _values(entry: StaffEntry | PlaceEntry) -> dict[str, Any]:
    if isinstance(entry, StaffEntry):
        return {"name": entry.name, "role": entry.role, "unit_code": entry.unit or None}
    return {"name": entry.name, "place_kind": entry.kind, "latitude": entry.lat,
            "longitude": entry.lon, "district": entry.district, "services": list(entry.services)}


async def sync(entries: Entries) -> Synced:
    """Store the city's file and issue a code for each active entry that has none."""
    done = Synced()
    async with in_transaction():
        wanted: dict[tuple[str, str], StaffEntry | PlaceEntry] = {}
        for staff in entries.staff:
            wanted[(QrSubjectKind.STAFF.value, staff.id)] = staff
        for place in entries.places:
            wanted[(QrSubjectKind.PLACE.value, place.id)] = place
        existing = {(str(s.kind), s.ref): s for s in await QrSubject.all()}
        for key, entry in wanted.items():
            values = _values(entry)
            row = existing.get(key)
            label = f"{key[0]}:{key[1]}"
            if row is None:
                row = await QrSubject.create(kind=key[0], ref=key[1], **values)
                done.added.append(label)
            else:
                changed = {k: v for k, v in values.items() if getattr(row, k) != v}
                if changed or not row.active:
                    row.update_from_dict({**changed, "active": True})
                    await row.save()
                    done.updated.append(label)
            if not await QrCode.exists(subject_id=row.id, revoked_at=None):
                await QrCode.create(subject_id=row.id, token=new_token())
                done.issued.append(label)
        for key, row in existing.items():
            if key not in wanted and row.active:
                row.active = False
                await row.save(update_fields=["active", "updated_at"])
                await QrCode.filter(subject_id=row.id, revoked_at=None).update(
                    revoked_at=utcnow())
                done.retired.append(f"{key[0]}:{key[1]}")
    return done


async def revoke(ref: str, kind: str | None = None, now: datetime | None = None) -> int:
    """Revoke the live codes of the entry with the city's id ``ref`` (of ``kind``, when
    staff and a place share an id); the number of codes revoked."""
    subjects = QrSubject.filter(ref=ref)
    if kind:
        subjects = subjects.filter(kind=kind)
    ids = [s.id for s in await subjects]
    if not ids:
        return 0
    return await QrCode.filter(subject_id__in=ids, revoked_at=None).update(
        revoked_at=now or utcnow())


async def lookup(token: str) -> QrSubject | None:
    """The active entry a live code stands for; None for an unknown or revoked code."""
    if not 16 <= len(token) <= 64:
        return None
    code = await QrCode.get_or_none(token=token, revoked_at=None)
    if code is None:
        return None
    return await QrSubject.get_or_none(id=code.subject_id, active=True)


async def subject(subject_id: int) -> QrSubject | None:
    return await QrSubject.get_or_none(id=subject_id, active=True)


async def live_code(subject_id: int) -> str | None:
    code = await QrCode.filter(subject_id=subject_id, revoked_at=None).order_by("-id").first()
    return code.token if code else None


async def record_feedback(subject_id: int, kind: FeedbackKind, text: str, channel: str,
                          photo_id: int | None = None, now: datetime | None = None
                          ) -> StaffFeedback:
    values: dict[str, Any] = {"created_at": now} if now else {}
    return await StaffFeedback.create(subject_id=subject_id, kind=kind, text=text[:TEXT_MAX],
                                      channel=channel[:32], photo_id=photo_id, **values)


async def link_ticket(subject_id: int, ticket: Ticket) -> None:
    """The ticket was filed through this place's code."""
    await PlaceReport.get_or_create(ticket_id=ticket.id, defaults={"subject_id": subject_id})


@dataclass
class StaffCounts:
    subject: QrSubject
    praise: int = 0
    suggestion: int = 0
    complaint: int = 0
    recent_complaints: int = 0  # within the flag's window
    flagged: bool = False


@dataclass
class PlaceCounts:
    subject: QrSubject
    reports: int = 0
    recent: int = 0


async def staff_counts(since: datetime, threshold: int) -> list[StaffCounts]:
    """Every staff member's feedback by kind; ``flagged`` when the complaints since ``since``
    reach ``threshold``. The flagged first, then by complaints."""
    rows = {s.id: StaffCounts(s) for s in await QrSubject.filter(
        kind=QrSubjectKind.STAFF).order_by("name")}
    totals = await StaffFeedback.all().group_by("subject_id", "kind").annotate(
        n=Count("id")).values("subject_id", "kind", "n")
    for total in totals:
        counts = rows.get(total["subject_id"])
        if counts is not None:
            setattr(counts, str(total["kind"]), total["n"])
    recent = await StaffFeedback.filter(
        kind=FeedbackKind.COMPLAINT, created_at__gte=since).group_by("subject_id").annotate(
        n=Count("id")).values("subject_id", "n")
    for count in recent:
        found = rows.get(count["subject_id"])
        if found is not None:
            found.recent_complaints = count["n"]
            found.flagged = count["n"] >= threshold
    return sorted(rows.values(), key=lambda c: (not c.flagged, -c.complaint, c.subject.name))


async def place_counts(since: datetime) -> list[PlaceCounts]:
    rows = {s.id: PlaceCounts(s) for s in await QrSubject.filter(
        kind=QrSubjectKind.PLACE).order_by("name")}
    for total in await PlaceReport.all().group_by("subject_id").annotate(
            n=Count("id")).values("subject_id", "n"):
        if total["subject_id"] in rows:
            rows[total["subject_id"]].reports = total["n"]
    for total in await PlaceReport.filter(created_at__gte=since).group_by(
            "subject_id").annotate(n=Count("id")).values("subject_id", "n"):
        if total["subject_id"] in rows:
            rows[total["subject_id"]].recent = total["n"]
    return sorted(rows.values(), key=lambda c: (-c.reports, c.subject.name))


async def recent_feedback(limit: int = 100) -> list[StaffFeedback]:
    return await StaffFeedback.all().order_by("-id").limit(limit)

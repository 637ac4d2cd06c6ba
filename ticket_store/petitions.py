"""Petitions (issue 20): a citizen proposes, staff approve, others sign once each, and at the
threshold a ticket opens for the responsible unit.

The store's side: rows and the two statements that must hold under concurrency.

- A signature is one ``INSERT … ON CONFLICT DO NOTHING RETURNING`` against the unique
  (petition, channel, user_id) constraint: a second signature of the same identity — even one
  racing the first from another process — inserts nothing and is reported as already signed,
  without an IntegrityError aborting the caller's transaction (PostgreSQL would).
- Crossing the threshold is a conditional update (``open`` → ``passed`` where the count has
  reached the threshold): exactly one signature wins it and opens the ticket.

Nothing here is worded; the conversation layer says what happened (conversation/petitions.py).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tortoise import connections
from tortoise.expressions import F

from peygir.config.clock import utcnow
from peygir.ticket_store.db import placeholders
from peygir.ticket_store.models import (
    Citizen,
    Petition,
    PetitionSignature,
    PetitionStatus,
)

TITLE_MIN, TITLE_MAX = 5, 200
TEXT_MIN, TEXT_MAX = 20, 4000
NOTE_MAX = 1000
PUBLIC = (PetitionStatus.OPEN, PetitionStatus.PASSED, PetitionStatus.ANSWERED)
PAGE = 500  # petitions the public list shows, newest first


@dataclass(frozen=True)
class Proposal:
    title: str
    text: str
    district: str | None  # None: the whole city
    photo_id: int | None = None  # an Attachment kept from the proposer's chat


async def propose(citizen: Citizen, channel: str, chat_id: str, proposal: Proposal) -> Petition:
    """A new petition, waiting for staff: not public, not signable."""
    return await Petition.create(
        title=proposal.title[:TITLE_MAX], text=proposal.text[:TEXT_MAX],
        district=proposal.district, citizen=citizen, channel=channel, chat_id=chat_id,
        photo_id=proposal.photo_id, status=PetitionStatus.PENDING, created_at=utcnow())


async def get(petition_id: int) -> Petition | None:
    if not 1 <= petition_id <= 2**31 - 1:  # an IntField: a larger id can only be a miss
        return None
    return await Petition.get_or_none(id=petition_id)


async def pending() -> list[Petition]:
    """What staff have still to review, oldest first."""
    return await Petition.filter(status=PetitionStatus.PENDING).order_by("id")


async def public(limit: int = PAGE) -> list[Petition]:
    """Approved petitions, newest first (never a pending or rejected one)."""
    return await Petition.filter(status__in=list(PUBLIC)).order_by("-id").limit(limit)


async def review(petition_id: int, approve: bool, actor: str, now: datetime, *,
                 threshold: int, answer_days: int, note: str = "") -> Petition | None:
    """Approve (``threshold`` and ``answer_days`` are fixed then) or reject a pending
    petition; None when it was not pending (another reviewer was first)."""
    changes: dict[str, object] = {
        "status": PetitionStatus.OPEN if approve else PetitionStatus.REJECTED,
        "reviewed_by": actor[:64], "reviewed_at": now, "review_note": note.strip()[:NOTE_MAX],
    }
    if approve:
        changes |= {"threshold": threshold, "answer_days": answer_days}
    moved = await Petition.filter(id=petition_id, status=PetitionStatus.PENDING
                                  ).update(**changes)
    return await Petition.get(id=petition_id) if moved else None


class Outcome(StrEnum):
    SIGNED = "signed"
    ALREADY = "already"  # this identity signed before: counted once
    CLOSED = "closed"  # not open for signatures (pending, rejected, passed, answered)
    MISSING = "missing"


@dataclass(frozen=True)
class Signed:
    outcome: Outcome
    petition: Petition | None
    passed: bool = False  # this signature crossed the threshold (exactly one does)


async def sign(petition_id: int, channel: str, user_id: str, chat_id: str,
               now: datetime) -> Signed:
    """One identity's signature; call inside the transaction that answers it."""
    petition = await get(petition_id)
    if petition is None:
        return Signed(Outcome.MISSING, None)
    if petition.status != PetitionStatus.OPEN:
        return Signed(Outcome.CLOSED, petition)
    if not await _insert_signature(petition_id, channel, user_id, chat_id, now):
        return Signed(Outcome.ALREADY, petition)
    await Petition.filter(id=petition_id).update(signature_count=F("signature_count") + 1)
    passed = await _pass(petition_id, now)
    await petition.refresh_from_db()
    return Signed(Outcome.SIGNED, petition, passed=passed)


async def _insert_signature(petition_id: int, channel: str, user_id: str, chat_id: str,
                            now: datetime) -> bool:
    connection = connections.get("default")
    marks = placeholders(connection, 5)
    rows = await connection.execute_query_dict(
        f"INSERT INTO {PetitionSignature._meta.db_table} "
        f"(petition_id, channel, user_id, chat_id, created_at) VALUES ({', '.join(marks)}) "
        "ON CONFLICT (petition_id, channel, user_id) DO NOTHING RETURNING id",
        [petition_id, channel, user_id, chat_id, now],
    )
    return bool(rows)


async def _pass(petition_id: int, now: datetime) -> bool:
    """open → passed, only where the count has reached the threshold: one winner."""
    connection = connections.get("default")
    marks = placeholders(connection, 4)
    rows = await connection.execute_query_dict(
        f"UPDATE {Petition._meta.db_table} SET status = {marks[0]}, passed_at = {marks[1]} "
        f"WHERE id = {marks[2]} AND status = {marks[3]} AND signature_count >= threshold "
        "RETURNING id",
        [PetitionStatus.PASSED.value, now, petition_id, PetitionStatus.OPEN.value],
    )
    return bool(rows)


async def link_ticket(petition: Petition, ticket_id: int) -> None:
    await Petition.filter(id=petition.id).update(ticket_id=ticket_id)
    petition.ticket_id = ticket_id


async def signers(petition_id: int) -> list[tuple[str, str]]:
    """Every signer's chat (channel, chat_id), once each, in the order they signed."""
    rows = await PetitionSignature.filter(petition_id=petition_id).exclude(chat_id="").order_by(
        "id").values_list("channel", "chat_id")  # "": an erased signer, told nothing more
    return list(dict.fromkeys((str(channel), str(chat)) for channel, chat in rows))


async def for_ticket(ticket_id: int) -> Petition | None:
    """The petition whose ticket this is, if any."""
    return await Petition.filter(ticket_id=ticket_id).first()


async def mark_answered(petition: Petition, now: datetime) -> None:
    """passed → answered, once (the ticket was resolved, rejected or referred)."""
    moved = await Petition.filter(id=petition.id, status=PetitionStatus.PASSED).update(
        status=PetitionStatus.ANSWERED, answered_at=now)
    if moved:
        petition.status = PetitionStatus.ANSWERED
        petition.answered_at = now


async def forget_signer(channel: str, user_id: str) -> int:
    """An erasure: this person's signatures keep counting, but no longer name them (each gets
    an identity of its own that means nobody, so once-a-person still holds) and they are no
    longer told of the petitions' news. Returns how many."""
    mine = await PetitionSignature.filter(channel=channel, user_id=user_id)
    for signature in mine:
        await PetitionSignature.filter(id=signature.id).update(
            user_id=f"erased:{secrets.token_hex(12)}", chat_id="")
    return len(mine)

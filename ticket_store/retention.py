"""Data retention: what identifies a citizen is cut from a ticket once it no longer needs it.

A closed ticket (``closed``, ``rejected`` or ``referred``: the city owes no more work on it)
is anonymised ``retention_days`` after it closed (two years by default, as FixMyStreet does),
or as soon as it closes when its citizen asked to be erased. The ticket stays for the
statistics: service, district, unit, dates, status, rating and the city's own notes. What goes:

- the link to the person: the ticket moves to one shared anonymous ``Citizen`` and its chat id
  becomes ``erased``, so status by code, buttons and notifications no longer reach that chat;
- what the citizen typed or said: description, voice transcript, address, their timeline
  notes; coordinates are rounded as Open311 publishes them (district and hotspots still hold);
- their files (voice notes, photos; not the unit's evidence), Open311's media URL, and the
  chat id in each file and transcription job;
- a Citizen row no ticket needs any more (or, never having filed one, older than the window):
  deleted, or only its phone and name cleared if staff flagged it (volunteer, trusted
  reporter); a citizen with a ticket still open or recently closed keeps everything;
- chat states, outbox messages and update dedup keys (which embed chat ids) older than the
  window.

Every pass is idempotent (an anonymised ticket has ``anonymised_at`` and is never scanned
again) and runs in bounded batches, one transaction each. The store writes no Persian: the
note on a ticket whose citizen asked to be erased comes from the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tortoise import connections
from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from peygir.ticket_store import chatlog, happenings, outbox, petitions, store
from peygir.ticket_store.db import column
from peygir.ticket_store.models import (
    Attachment,
    ChatState,
    Citizen,
    JobStatus,
    LabelledExample,
    Open311Request,
    ProcessedUpdate,
    Standing,
    Ticket,
    TicketEvent,
    TicketStatus,
    TranscriptionJob,
    UnplacedMessage,
)

log = logging.getLogger(__name__)

ERASED = "erased"  # what a chat id, user id or file reference becomes
# The city owes no more work on these; ``resolved`` still waits for the citizen's word.
TERMINAL = (TicketStatus.CLOSED, TicketStatus.REJECTED, TicketStatus.REFERRED)
# The timeline line on an open ticket whose citizen asked to be erased: erased once it closes.
ERASE_ACTOR = "citizen:erase"
BATCH = 500  # tickets (or rows) per transaction
MAX_BATCHES = 40  # per purge call from the scheduler; the rest waits for the next pass
CHUNK = 500  # ids per statement (drivers cap the parameters of one query)


@dataclass(frozen=True)
class Policy:
    days: int = 730
    media_dir: Path | None = None  # None: files are left alone (rows are still scrubbed)
    decimals: int = 3  # coordinates kept, as Open311 publishes them
    batch: int = BATCH

    @classmethod
    def from_settings(cls, settings: Any) -> Policy:
        return cls(days=settings.retention_days, media_dir=Path(settings.media_dir),
                   decimals=settings.public_location_decimals)


@dataclass(frozen=True)
class Summary:
    """What a purge did (or, for a preview, would do), row counts by kind."""

    tickets: int = 0  # closed before the window
    requested: int = 0  # closed, and their citizen asked to be erased
    citizens_removed: int = 0
    citizens_scrubbed: int = 0
    files: int = 0  # a citizen's files on anonymised tickets
    stray_files: int = 0  # files never filed with a report (or erased on request)
    chat_states: int = 0
    outbox: int = 0
    dedup_keys: int = 0
    unplaced: int = 0  # words of messages nobody placed (ticket_store.happenings)
    chat_lines: int = 0  # transcript lines tied to no ticket (ticket_store.chatlog)
    sample: tuple[str, ...] = ()  # a few tracking codes (preview only)
    more: bool = False  # the scheduler's pass stopped at its batch cap: more is due

    def __add__(self, other: Summary) -> Summary:
        counts = {f.name: getattr(self, f.name) + getattr(other, f.name)
                  for f in fields(self) if f.name not in ("sample", "more")}
        return replace(self, **counts, more=self.more or other.more)

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self)
                   if f.name not in ("sample", "more"))


def cutoff(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


# -- the queries -------------------------------------------------------------------------------
def _window(cut: datetime) -> QuerySet[Ticket]:
    return Ticket.filter(status__in=TERMINAL, closed_at__lte=cut, anonymised_at=None)


def _requested() -> QuerySet[Ticket]:
    return Ticket.filter(status__in=TERMINAL, anonymised_at=None,
                         id__in=Subquery(TicketEvent.filter(actor=ERASE_ACTOR).values("ticket_id")))


def _orphans(cut: datetime) -> QuerySet[Citizen]:
    """Citizens with no ticket, older than the window (say, a number shared and never used);
    those whose tickets the purge moves are released at once (see :func:`anonymise`)."""
    return Citizen.filter(created_at__lt=cut, tickets__id__isnull=True).exclude(channel=ERASED)


def _citizen_files() -> QuerySet[Attachment]:
    return Attachment.filter(ticket__anonymised_at__isnull=False, evidence=False,
                             path__isnull=False)


def _stray_files(cut: datetime) -> QuerySet[Attachment]:
    return Attachment.filter(Q(created_at__lt=cut) | Q(chat_id=ERASED), ticket_id=None)


# -- the purge ---------------------------------------------------------------------------------
Step = Callable[[], Awaitable[tuple[Summary, bool]]]


async def purge(now: datetime, policy: Policy, max_batches: int | None = None) -> Summary:
    """Anonymise what is due; ``max_batches`` caps each kind's transactions (None: all)."""
    cut = cutoff(now, policy.days)
    steps: list[Step] = [
        lambda: _anonymise_next(_window(cut), "tickets", now, policy),
        lambda: _anonymise_next(_requested(), "requested", now, policy, forget_contact=True),
        lambda: _drop_strays(cut, policy),
        lambda: _drop_orphans(cut, policy.batch),
        lambda: _drop_states(cut, policy.batch),
        lambda: _drop_outbox(cut, policy.batch),
        lambda: _drop_oldest(ProcessedUpdate, "processed_at", cut, policy.batch),
        lambda: _drop_unplaced(cut, policy.batch),
        lambda: _drop_chat_lines(cut, policy.batch),
    ]
    if policy.media_dir is not None:
        steps.insert(2, lambda: _drop_files(policy))
    done = Summary()
    for step in steps:
        done += await _in_batches(step, max_batches)
    if done.total:
        log.info("retention: %s", done)
    return done


async def preview(now: datetime, policy: Policy, sample: int = 10) -> Summary:
    """What :func:`purge` would do now, counted; changes nothing."""
    cut = cutoff(now, policy.days)
    window, requested = _window(cut), _requested().filter(closed_at__gt=cut)
    due = Q(id__in=Subquery(window.values("id"))) | Q(id__in=Subquery(requested.values("id")))
    kept = Ticket.filter(anonymised_at=None).exclude(due)
    released = Q(created_at__lt=cut) | Q(id__in=Subquery(Ticket.filter(due).values(
        "citizen_id")))
    left = Citizen.filter(released).exclude(channel=ERASED).exclude(
        id__in=Subquery(kept.values("citizen_id")))
    files = Attachment.filter(evidence=False, path__isnull=False).filter(
        Q(ticket__anonymised_at__isnull=False) | Q(ticket_id__in=Subquery(
            Ticket.filter(due).values("id"))))
    codes = await column(window.order_by("closed_at", "id").limit(sample).values_list(
        "tracking_code", flat=True))
    return Summary(
        tickets=await window.count(), requested=await requested.count(),
        citizens_removed=await left.filter(standing=Standing.NONE).count(),
        citizens_scrubbed=await left.exclude(standing=Standing.NONE).filter(
            Q(phone__isnull=False) | Q(display_name__isnull=False)).count(),
        files=await files.count() if policy.media_dir is not None else 0,
        stray_files=await _stray_files(cut).count(),
        chat_states=await ChatState.filter(updated_at__lt=cut).count(),
        outbox=await outbox.count_older(cut),
        dedup_keys=await ProcessedUpdate.filter(processed_at__lt=cut).count(),
        unplaced=await UnplacedMessage.filter(at__lt=cut).count(),
        chat_lines=await chatlog.count_older(cut),
        sample=tuple(codes),
    )


async def _in_batches(step: Step, max_batches: int | None) -> Summary:
    """Run ``step`` (one bounded transaction: what it did, and whether its batch was full)
    until it comes back short, or ``max_batches`` times (then ``more`` says so)."""
    done, runs = Summary(), 0
    while True:
        part, full = await step()
        done, runs = done + part, runs + 1
        if not full:
            return done
        if max_batches is not None and runs >= max_batches:
            return replace(done, more=True)


async def _anonymise_next(due: QuerySet[Ticket], kind: str, now: datetime, policy: Policy, *,
                          forget_contact: bool = False) -> tuple[Summary, bool]:
    """One batch. ``forget_contact``: these citizens asked to be erased, so their phone and
    name go too once no open ticket's unit may call them."""
    async with in_transaction():
        rows = await due.order_by("closed_at", "id").limit(policy.batch).values_list(
            "id", "citizen_id")
        released = await anonymise([row[0] for row in rows], now, policy.decimals)
        if forget_contact:
            for citizen_id in {row[1] for row in rows}:
                await forget_contact_unless_needed(citizen_id)
    counted: dict[str, Any] = {kind: len(rows)}  # kind names one of Summary's counts
    return replace(released, **counted), len(rows) == policy.batch


async def anonymise(ids: list[int], now: datetime, decimals: int = 3) -> Summary:
    """Cut these tickets from their citizen and chat, and release the citizens no ticket
    needs any more; call inside a transaction."""
    if not ids:
        return Summary()
    anonymous = await _anonymous_citizen()
    owners: set[int] = set()
    for part in _chunks(ids):
        owners.update(await column(Ticket.filter(id__in=part).values_list("citizen_id",
                                                                          flat=True)))
        files = await column(Attachment.filter(ticket_id__in=part, evidence=False).values_list(
            "id", flat=True))
        await _scrub_files(list(files))
        await TicketEvent.filter(ticket_id__in=part, actor=store.CITIZEN_ACTOR).update(note="")
        # An operator's correction of these tickets' subjects is labelled with their words.
        await LabelledExample.filter(ticket_id__in=part).delete()
        await chatlog.drop_for_tickets(part)  # each report's conversation
        await Open311Request.filter(ticket_id__in=part).update(media_url=None)
        await Ticket.filter(id__in=part).update(
            citizen_id=anonymous.id, chat_id=ERASED, description="", transcript=None,
            address=None, contact_consent=False, anonymised_at=now)
        await _round_coordinates(part, decimals)
    owners.discard(anonymous.id)
    # What these citizens picked among the bot's guesses is their words too.
    for part in _chunks(list(owners)):
        await LabelledExample.filter(citizen_id__in=part).delete()
    return await _release(Citizen.filter(id__in=list(owners), tickets__id__isnull=True))


async def _release(left: QuerySet[Citizen]) -> Summary:
    """Citizens no ticket needs: deleted; those staff flagged (volunteer, trusted reporter)
    keep the flag, not the phone or name."""
    plain = await column(left.filter(standing=Standing.NONE).values_list("id", flat=True))
    removed = await Citizen.filter(id__in=list(plain)).delete()
    flagged = await column(left.exclude(standing=Standing.NONE).filter(
        Q(phone__isnull=False) | Q(display_name__isnull=False)).values_list("id", flat=True))
    scrubbed = await Citizen.filter(id__in=list(flagged)).update(phone=None, display_name=None)
    return Summary(citizens_removed=removed, citizens_scrubbed=scrubbed)


async def _scrub_files(ids: list[int]) -> None:
    """The chat ids in a citizen's files and their transcription jobs."""
    for part in _chunks(ids):
        await Attachment.filter(id__in=part).update(chat_id=ERASED, file_ref=ERASED)
        await TranscriptionJob.filter(attachment_id__in=part).update(
            chat_id=ERASED, user_id=ERASED, transcript=None, error=None)


async def _anonymous_citizen() -> Citizen:
    citizen, _ = await Citizen.get_or_create(channel=ERASED, user_id=ERASED)
    return citizen


async def _round_coordinates(ids: list[int], decimals: int) -> None:
    params = store.Params()
    # PostgreSQL rounds to a number of places only as numeric; SQLite rounds a REAL.
    cast = "CAST({} AS NUMERIC)" if params.postgres else "{}"
    places = int(decimals)  # an int literal, not input
    marks = ", ".join(params(i) for i in ids)
    await connections.get("default").execute_query(
        f"UPDATE {Ticket._meta.db_table} SET "
        f"latitude = ROUND({cast.format('latitude')}, {places}), "
        f"longitude = ROUND({cast.format('longitude')}, {places}) "
        f"WHERE id IN ({marks}) AND latitude IS NOT NULL", params.values)


# -- files and leftovers ---------------------------------------------------------------------
async def _drop_files(policy: Policy) -> tuple[Summary, bool]:
    """A citizen's files on anonymised tickets: off the disk, the row kept for the counts."""
    async with in_transaction():
        rows = await _citizen_files().limit(policy.batch).values_list("id", "path")
        await Attachment.filter(id__in=[row[0] for row in rows]).update(path=None)
    await _unlink_unused({row[1] for row in rows}, policy.media_dir)
    return Summary(files=len(rows)), len(rows) == policy.batch


async def _drop_strays(cut: datetime, policy: Policy) -> tuple[Summary, bool]:
    """Files a chat sent that never joined a report, once past the window (or erased)."""
    async with in_transaction():
        rows = await _stray_files(cut).limit(policy.batch).values_list("id", "path")
        await Attachment.filter(id__in=[row[0] for row in rows]).delete()  # jobs cascade
    await _unlink_unused({row[1] for row in rows if row[1]}, policy.media_dir)
    return Summary(stray_files=len(rows)), len(rows) == policy.batch


async def _unlink_unused(paths: set[str], media_dir: Path | None) -> None:
    """Remove files no row still points at (files are stored once per content), and only
    inside the media folder."""
    if media_dir is None:
        return
    root = media_dir.resolve()
    for path in paths:
        if await Attachment.exists(path=path):
            continue
        found = Path(path).resolve()
        if found.is_relative_to(root):
            found.unlink(missing_ok=True)


async def _drop_orphans(cut: datetime, batch: int) -> tuple[Summary, bool]:
    async with in_transaction():
        ids = await column(_orphans(cut).limit(batch).values_list("id", flat=True))
        done = await _release(Citizen.filter(id__in=list(ids)))
    # A flagged citizen already scrubbed stays an orphan: count the batch, not what changed.
    return done, len(ids) == batch and done.total > 0


async def _drop_states(cut: datetime, batch: int) -> tuple[Summary, bool]:
    """Chat states nobody has written to within the window."""
    ids = await column(ChatState.filter(updated_at__lt=cut).limit(batch).values_list(
        "id", flat=True))
    deleted = await ChatState.filter(id__in=list(ids)).delete()
    return Summary(chat_states=deleted), len(ids) == batch


async def _drop_oldest(model: Any, stamp: str, cut: datetime, batch: int
                       ) -> tuple[Summary, bool]:
    """Rows older than the window, read from the front of the id order (ids grow with time,
    so no index on the time is needed and a pass costs what it deletes)."""
    ids = await column(model.all().order_by("id").limit(batch).values_list("id", flat=True))
    deleted = await model.filter(id__in=list(ids), **{f"{stamp}__lt": cut}).delete()
    return Summary(dedup_keys=deleted), deleted == batch


async def _drop_unplaced(cut: datetime, batch: int) -> tuple[Summary, bool]:
    """The words of unplaced messages, like any citizen's words, go after the window."""
    deleted = await happenings.drop_older(cut, batch)
    return Summary(unplaced=deleted), deleted == batch


async def _drop_chat_lines(cut: datetime, batch: int) -> tuple[Summary, bool]:
    """Transcript lines tied to no ticket, past the window (a ticket's go with its
    anonymisation)."""
    deleted, full = await chatlog.drop_older(cut, batch)
    return Summary(chat_lines=deleted), full


async def _drop_outbox(cut: datetime, batch: int) -> tuple[Summary, bool]:
    deleted = await outbox.drop_older(cut, batch)
    return Summary(outbox=deleted), deleted == batch


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)]


# -- a citizen's own request ------------------------------------------------------------------
@dataclass(frozen=True)
class Erasure:
    erased: int  # closed tickets cut from the citizen now
    still_open: int  # tickets the city still works on: cut once they close
    contact_cleared: bool  # their phone and name were removed
    contact_kept: bool  # kept: a unit may call them about an open ticket, as they agreed


async def erase_citizen(channel: str, user_id: str, chat_id: str, now: datetime, *,
                        open_note: str, decimals: int = 3) -> Erasure:
    """A citizen asked for their data to be removed: every closed ticket of theirs is
    anonymised now; each open one gets a timeline line (``open_note``) and is anonymised by
    the next purge after it closes. Their phone and name go too, unless an open ticket's
    unit may call them with their consent. Call inside the update's transaction."""
    await _scrub_chat(channel, chat_id)
    await happenings.erase_chat(channel, chat_id)  # their words nobody placed
    await petitions.forget_signer(channel, user_id)  # their signatures count, unnamed
    citizen = await Citizen.get_or_none(channel=channel, user_id=user_id)
    await _forget_transcript(channel, chat_id, citizen.id if citizen else None)
    if citizen is None:
        return Erasure(0, 0, False, False)
    await LabelledExample.filter(citizen_id=citizen.id).delete()  # the subjects they picked
    closed = await column(Ticket.filter(citizen_id=citizen.id, status__in=TERMINAL,
                                        anonymised_at=None).values_list("id", flat=True))
    await anonymise(list(closed), now, decimals)
    still_open = await Ticket.filter(citizen_id=citizen.id).exclude(status__in=TERMINAL)
    await _mark_for_erasure(still_open, open_note, now)
    had_contact = bool(citizen.phone or citizen.display_name)
    cleared = await forget_contact_unless_needed(citizen.id)
    return Erasure(len(closed), len(still_open), had_contact and cleared,
                   had_contact and not cleared)


async def forget_contact_unless_needed(citizen_id: int) -> bool:
    """Clear a citizen's phone and name unless a ticket still open lets its unit call them
    (their consent relies on the number). Returns whether nothing relies on them now."""
    relied = await Ticket.exists(citizen_id=citizen_id, contact_consent=True,
                                 status__not_in=TERMINAL)
    if not relied:
        await Citizen.filter(id=citizen_id).exclude(channel=ERASED).update(
            phone=None, display_name=None)
    return not relied


async def _forget_transcript(channel: str, chat_id: str, citizen_id: int | None) -> None:
    """The chat's transcript goes now, but the conversations of tickets still open (their
    unit works from them): those go with the ticket's anonymisation once it closes."""
    mine = Q(channel=channel, chat_id=chat_id)
    if citizen_id is not None:
        mine |= Q(citizen_id=citizen_id)
    still_open = await column(Ticket.filter(mine).exclude(status__in=TERMINAL).values_list(
        "id", flat=True))
    await chatlog.drop_for_citizen(channel, chat_id, citizen_id, list(still_open))


async def _mark_for_erasure(tickets: list[Ticket], note: str, now: datetime) -> None:
    marked = set(await column(TicketEvent.filter(ticket_id__in=[t.id for t in tickets],
                                                 actor=ERASE_ACTOR).values_list("ticket_id",
                                                                                flat=True)))
    await TicketEvent.bulk_create([TicketEvent(ticket_id=t.id, actor=ERASE_ACTOR, at=now,
                                               note=note)
                                   for t in tickets if t.id not in marked])


async def _scrub_chat(channel: str, chat_id: str) -> None:
    """What the chat itself left: files never filed (once their transcription is done) and
    the copies of messages already delivered to it."""
    busy = TranscriptionJob.filter(channel=channel, chat_id=chat_id,
                                   status__in=(JobStatus.PENDING, JobStatus.RUNNING))
    loose = await column(Attachment.filter(channel=channel, chat_id=chat_id, ticket_id=None
                                           ).exclude(id__in=Subquery(busy.values("attachment_id"))
                                                     ).values_list("id", flat=True))
    await _scrub_files(list(loose))
    await outbox.drop_delivered(channel, chat_id)

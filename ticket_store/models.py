"""Database models. Times are stored in UTC; what people see is converted to Jalali/Tehran."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class TicketStatus(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REJECTED = "rejected"
    REFERRED = "referred"
    REOPENED = "reopened"


# States in which the city still owes the citizen work: the workflow, the panel's queues and
# roll-ups, and Open311's "open" all read this one list.
OPEN_STATUSES: tuple[str, ...] = (TicketStatus.NEW, TicketStatus.ASSIGNED,
                                  TicketStatus.IN_PROGRESS, TicketStatus.REOPENED)


class Standing(StrEnum):
    # Citizens the city flags for faster service: municipal volunteers (همیار شهرداری) and
    # trusted reporters (شهربان).
    NONE = ""
    VOLUNTEER = "volunteer"
    TRUSTED = "trusted"


ESCALATION_DONE = 100  # Ticket.escalation_level of a ticket that no longer escalates


class Citizen(Model):
    # Someone who wrote to us on one channel. No identity check: the messenger id is enough.

    id = fields.IntField(primary_key=True)
    channel = fields.CharField(max_length=32)
    user_id = fields.CharField(max_length=128)
    # Only set when the citizen taps "share my number"; never shown to a unit without consent.
    phone = fields.CharField(max_length=32, null=True)
    display_name = fields.CharField(max_length=128, null=True)
    standing = fields.CharEnumField(Standing, max_length=16, default=Standing.NONE)
    created_at = fields.DatetimeField(auto_now_add=True)
    # Active citizens (issue 20; ticket_store/active.py): the name they chose for the public
    # ranking (never the messenger's name or number), and when they opted in. None: not
    # ranked; opting out clears both.
    public_name = fields.CharField(max_length=64, null=True)
    ranked_since = fields.DatetimeField(null=True)

    class Meta:
        table = "citizen"
        unique_together = (("channel", "user_id"),)


class Ticket(Model):
    id = fields.IntField(primary_key=True)
    tracking_code = fields.CharField(max_length=8, unique=True)
    citizen: fields.ForeignKeyRelation[Citizen] = fields.ForeignKeyField(
        "peygir.Citizen", related_name="tickets", on_delete=fields.RESTRICT
    )
    channel = fields.CharField(max_length=32)
    chat_id = fields.CharField(max_length=128)
    service_code = fields.CharField(max_length=64, db_index=True)
    description = fields.TextField()
    transcript = fields.TextField(null=True)
    latitude = fields.FloatField(null=True)
    longitude = fields.FloatField(null=True)
    address = fields.CharField(max_length=512, null=True)
    status = fields.CharEnumField(TicketStatus, max_length=16, default=TicketStatus.NEW)
    urgent = fields.BooleanField(default=False)
    onsite_due = fields.DatetimeField(null=True)
    answer_due = fields.DatetimeField()
    deep_link = fields.CharField(max_length=128, null=True)
    # Routing: the district the location falls in and the executive unit serving it there;
    # a ticket with no unit waits in the centre's queue for an operator.
    district = fields.CharField(max_length=64, null=True, db_index=True)
    unit_code = fields.CharField(max_length=64, null=True, db_index=True)
    # Queues serve higher first: 2 urgent, 1 a volunteer's or trusted reporter's, 0 others.
    priority = fields.SmallIntField(default=0)
    first_answer_at = fields.DatetimeField(null=True)
    onsite_at = fields.DatetimeField(null=True)
    resolved_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    rating = fields.SmallIntField(null=True)  # the citizen's 1-5 after closing
    rated_at = fields.DatetimeField(null=True)
    # Later reports of the same thing nearby: each is a ticket of its own (its own code, its
    # citizen's words) linked here by duplicate_of, and counted here for the panel.
    duplicate_count = fields.IntField(default=0)
    # Set on a later report: the open ticket it repeats. It follows that ticket's public
    # changes of state; nothing said to the other citizen reaches its own.
    duplicate_of: fields.ForeignKeyNullableRelation[Ticket] = fields.ForeignKeyField(
        "peygir.Ticket", related_name="duplicates", null=True, on_delete=fields.SET_NULL,
        db_index=True,
    )
    # The citizen agreed that this ticket's unit may see their number and name.
    contact_consent = fields.BooleanField(default=False)
    consent_requested_at = fields.DatetimeField(null=True)
    # The last escalation rung fired (0 none); ESCALATION_DONE once answered, so the
    # scheduler's scan reads only tickets that may still need an alert.
    escalation_level = fields.SmallIntField(default=0)
    # When the retention job removed the personal data of this (closed) ticket; None: not yet.
    anonymised_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "ticket"
        indexes = (
            ("status", "priority", "answer_due"),  # queues
            ("escalation_level", "created_at"),  # the escalation scan
            ("service_code", "status", "latitude"),  # nearby duplicates
            # Open311's GET requests: a date window, newest first, often one status group.
            ("created_at",),
            ("status", "created_at"),
            # The panel's dashboards read a period's tickets from this index alone.
            ("created_at", "status", "answer_due", "first_answer_at", "unit_code", "district",
             "service_code", "rating"),
            ("resolved_at",),  # weekly trends
            ("closed_at",),  # unit scores, by month
            ("unit_code", "status", "priority", "answer_due"),  # a unit's queue
        )


class TicketEvent(Model):
    # One line of a ticket's timeline: who did what, when, with a note.

    id = fields.IntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "peygir.Ticket", related_name="events", on_delete=fields.CASCADE
    )
    at = fields.DatetimeField(auto_now_add=True)
    actor = fields.CharField(max_length=64)
    from_status = fields.CharField(max_length=16, null=True)
    to_status = fields.CharField(max_length=16, null=True)
    note = fields.TextField(default="")
    # Staff chose to publish this note (Open311's status_notes); every other note, and all
    # a citizen said or was told, stays private.
    public = fields.BooleanField(default=False)

    class Meta:
        table = "ticket_event"
        # A ticket's timeline (and Open311's last note for a page of tickets) by ticket.
        indexes = (("ticket_id", "at"),)


class Open311Request(Model):
    # What an Open311 client sent beside the ticket itself: the token it may poll, its
    # media_url (the submitter's: never served back), and which API key filed it (a
    # fingerprint, never the key). One per ticket: a repeat report is a ticket of its own.

    id = fields.IntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "peygir.Ticket", related_name="open311", on_delete=fields.CASCADE, db_index=True
    )
    token = fields.CharField(max_length=32, unique=True)
    media_url = fields.CharField(max_length=2048, null=True)
    client = fields.CharField(max_length=16)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "open311_request"


class Attachment(Model):
    id = fields.IntField(primary_key=True)
    ticket: fields.ForeignKeyNullableRelation[Ticket] = fields.ForeignKeyField(
        "peygir.Ticket", related_name="attachments", null=True, on_delete=fields.CASCADE
    )
    # Tortoise sets the key's column on each instance; declared so the type checker knows it.
    ticket_id: int | None
    channel = fields.CharField(max_length=32)
    chat_id = fields.CharField(max_length=128)
    kind = fields.CharField(max_length=16)  # voice, audio, photo, video, video_note, document
    file_ref = fields.CharField(max_length=512)
    mime = fields.CharField(max_length=128, null=True)
    size = fields.IntField(null=True)
    duration = fields.FloatField(null=True)
    path = fields.CharField(max_length=512, null=True)
    sha256 = fields.CharField(max_length=64, null=True)
    # A photo the executive unit took of its work; the citizen sees these with the status.
    evidence = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "attachment"


class ProcessedUpdate(Model):
    # A messenger update we have handled; written in the same transaction as its effects.

    id = fields.IntField(primary_key=True)
    dedup_key = fields.CharField(max_length=191, unique=True)
    processed_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "processed_update"


class OutboxMessage(Model):
    # A reply waiting to be sent; a sender marks it sent once, so a crash sends none twice.

    id = fields.IntField(primary_key=True)
    channel = fields.CharField(max_length=32)
    chat_id = fields.CharField(max_length=128)
    payload: fields.JSONField[dict[str, Any]] = fields.JSONField()  # Reply.to_payload()
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)
    # Set just before a sender hands the message to the messenger; a message claimed but not
    # sent when a process died may or may not have arrived, so it is not sent again.
    claimed_at = fields.DatetimeField(null=True)
    claimed_by = fields.BigIntField(null=True)  # the claiming process (ticket_store.leases)
    failed_at = fields.DatetimeField(null=True)  # the messenger refused it for good
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)

    class Meta:
        table = "outbox_message"
        indexes = (("channel", "chat_id", "sent_at"),)


class ChatState(Model):
    # The dialogue's memory of one chat (a half-made report survives a restart).

    id = fields.IntField(primary_key=True)
    channel = fields.CharField(max_length=32)
    chat_id = fields.CharField(max_length=128)
    state: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "chat_state"
        unique_together = (("channel", "chat_id"),)


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class TranscriptionJob(Model):
    # A voice note or video waiting for Whisper. Kept in the database so a restart finishes
    # what a crash interrupted, and its result enters the dialogue exactly once.
    id = fields.IntField(primary_key=True)
    channel = fields.CharField(max_length=32)
    chat_id = fields.CharField(max_length=128)
    user_id = fields.CharField(max_length=128)
    attachment: fields.ForeignKeyRelation[Attachment] = fields.ForeignKeyField(
        "peygir.Attachment", related_name="jobs", on_delete=fields.CASCADE
    )
    status = fields.CharEnumField(JobStatus, max_length=16, default=JobStatus.PENDING,
                                  db_index=True)
    transcript = fields.TextField(null=True)
    error = fields.TextField(null=True)
    attempts = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    claimed_by = fields.BigIntField(null=True)  # the transcribing process (ticket_store.leases)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "transcription_job"


class TicketFollower(Model):
    # Retired: a chat that reported the same thing once followed the first ticket, and so saw
    # another citizen's timeline. Nothing writes it any more (migration 0008 emptied it); a
    # later report is a ticket of its own linked by Ticket.duplicate_of.
    id = fields.IntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "peygir.Ticket", related_name="followers", on_delete=fields.CASCADE
    )
    channel = fields.CharField(max_length=32)
    chat_id = fields.CharField(max_length=128)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "ticket_follower"
        unique_together = (("ticket", "channel", "chat_id"),)
        indexes = (("channel", "chat_id"),)


class EscalationAlert(Model):
    # One rung of the escalation ladder fired for one ticket. The unique pair is what makes
    # each alert fire once, however many schedulers scan at the same moment.
    id = fields.IntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "peygir.Ticket", related_name="alerts", on_delete=fields.CASCADE
    )
    level = fields.SmallIntField()  # 1 = the first rung of deadlines.yaml's escalate list
    recipient = fields.CharField(max_length=16)  # manager or deputy
    fired_at = fields.DatetimeField()

    class Meta:
        table = "escalation_alert"
        unique_together = (("ticket", "level"),)


class StaffRole(StrEnum):
    OPERATOR = "operator"  # the 137 centre: places, assigns and answers tickets
    UNIT = "unit"  # an executive unit: acts on its own tickets only
    MANAGER = "manager"  # deadlines, hotspots, scores, the budget export
    ADMIN = "admin"


class StaffUser(Model):
    # Someone who works in the panel. Passwords are argon2id hashes, never stored in clear.

    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=64, unique=True)
    full_name = fields.CharField(max_length=128, default="")
    password_hash = fields.CharField(max_length=256)
    role = fields.CharEnumField(StaffRole, max_length=16)
    unit_code = fields.CharField(max_length=64, null=True)  # for role "unit"
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "staff_user"


class StaffSession(Model):
    # A signed-in browser. The cookie holds a random token; only its SHA-256 is kept here,
    # with the CSRF token every form of that session must carry.

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    user: fields.ForeignKeyRelation[StaffUser] = fields.ForeignKeyField(
        "peygir.StaffUser", related_name="sessions", on_delete=fields.CASCADE
    )
    csrf_token = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_seen = fields.DatetimeField()
    expires_at = fields.DatetimeField()

    class Meta:
        table = "staff_session"


class LoginAttempt(Model):
    # Every sign-in attempt, for throttling guessers by user name and by address.

    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=64)
    ip = fields.CharField(max_length=64)
    ok = fields.BooleanField()
    at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "login_attempt"
        indexes = (("username", "at"), ("ip", "at"))


# -- the dashboard's roll-ups (ticket_store/rollups.py) -------------------------------------
# Fixed buckets of the time to first answer, in minutes: a bucket runs from its edge to the
# next (the last is open-ended). Medians are read from them (ticket_store/rollups.py).
ANSWER_BUCKETS_MIN = (
    0, 15, 30, 45, 60, 90, 120, 180, 240, 300, 360, 480, 600, 720, 900, 1080, 1260, 1440,
    1800, 2160, 2520, 2880, 3600, 4320, 5040, 5760, 6480, 7200, 8640, 10080, 14400, 20160,
    30240, 43200, 86400,
)


class PanelRollup(Model):
    # One UTC day's tickets (by created_at) counted for one dashboard row: dim "u" a unit,
    # "d" a district, "s" a service (city-wide; code "" for none), "ud" and "us" a district
    # or service within one unit (unit_code). Rewritten whole by the roll-up job.
    id = fields.IntField(primary_key=True)
    day = fields.IntField()  # days since 1970-01-01, UTC
    dim = fields.CharField(max_length=2)
    unit_code = fields.CharField(max_length=64, default="")
    code = fields.CharField(max_length=64, default="")
    opened = fields.IntField(default=0)
    resolved = fields.IntField(default=0)
    open_now = fields.IntField(default=0)
    late_answered = fields.IntField(default=0)  # first answered after the answer deadline
    rating_sum = fields.IntField(default=0)
    rated = fields.IntField(default=0)
    # h00 … h34: tickets first answered within each ANSWER_BUCKETS_MIN bucket.
    for _i in range(len(ANSWER_BUCKETS_MIN)):
        vars()[f"h{_i:02d}"] = fields.IntField(default=0)
    del _i

    class Meta:
        table = "panel_rollup"
        unique_together = (("day", "dim", "unit_code", "code"),)
        indexes = (("dim", "unit_code", "day"),)


class PanelRollupDay(Model):
    # A UTC day whose roll-up rows are written (a day with no row here is read from tickets).
    # Not the primary key: tortoise's migration writer drops generated=False from an integer
    # key, and every later makemigrations would then "fix" it again.
    id = fields.IntField(primary_key=True)
    day = fields.IntField(unique=True)
    computed_at = fields.DatetimeField()

    class Meta:
        table = "panel_rollup_day"


class PanelRollupChange(Model):
    # A ticket created on this UTC day changed: its roll-up is stale until the job redoes the
    # day. Written in the same transaction as the change (ticket_store/workflow.py); the job
    # deletes exactly the rows it saw, so a change committed meanwhile is never lost.
    id = fields.IntField(primary_key=True)
    day = fields.IntField(db_index=True)

    class Meta:
        table = "panel_rollup_change"


# -- labelled examples the classifier learns from (ticket_store/examples.py) ----------------
class ExampleKind(StrEnum):
    SERVICE = "service"  # key is a service code
    FAQ = "faq"  # key is an FAQ id


class ExampleSource(StrEnum):
    IMPORT = "import"  # `peygir learn`: a city's history, labelled by its operators
    OPERATOR = "operator"  # an operator corrected the bot's guess in the panel
    CITIZEN = "citizen"  # a citizen picked a choice the bot offered


class LabelledExample(Model):
    # One message with the service or FAQ entry it meant. The digest (normalised text, kind,
    # key) is unique, so importing the same history twice adds nothing.
    id = fields.IntField(primary_key=True)
    text = fields.TextField()  # as given; at most examples.MAX_TEXT characters
    kind = fields.CharEnumField(ExampleKind, max_length=16)
    key = fields.CharField(max_length=64)
    source = fields.CharEnumField(ExampleSource, max_length=16)
    weight = fields.FloatField()
    digest = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    # Where a label from the running service came from: its words are the citizen's, so it
    # goes when the ticket is anonymised or the citizen is (ticket_store.retention).
    ticket: fields.ForeignKeyNullableRelation[Ticket] = fields.ForeignKeyField(
        "peygir.Ticket", related_name=False, null=True, on_delete=fields.SET_NULL)
    citizen: fields.ForeignKeyNullableRelation[Citizen] = fields.ForeignKeyField(
        "peygir.Citizen", related_name=False, null=True, on_delete=fields.CASCADE)

    class Meta:
        table = "labelled_example"


# -- canned replies (issue 18): an administrator's edits of the pack's replies.yaml ----------
class CannedReplyOverride(Model):
    # The pack holds each reply as the city wrote it; an administrator's rewrite of its title
    # and text is kept here, by the reply's id, and wins over the pack's until reset.
    id = fields.IntField(primary_key=True)
    reply_id = fields.CharField(max_length=64, unique=True)
    title = fields.CharField(max_length=120)
    text = fields.TextField()  # at most config.replies.TEXT_MAX characters
    updated_by = fields.CharField(max_length=64)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "canned_reply_override"


# -- what is not a ticket: referrals, FAQ answers, unplaced messages (ticket_store/happenings.py)
class HappeningKind(StrEnum):
    REFERRAL = "referral"  # code: the ext_ service code (its outside body is in the pack)
    FAQ = "faq"  # code: the FAQ entry's id
    UNPLACED = "unplaced"  # code: why (happenings.UNKNOWN or happenings.NONE_FIT)


class HappeningCount(Model):
    # How many of one kind and code happened on one local day (the city's time zone), raised
    # by one in the dialogue's transaction, so an update handled twice counts once.
    id = fields.IntField(primary_key=True)
    day = fields.IntField()  # the local date, as days since 1970-01-01
    kind = fields.CharEnumField(HappeningKind, max_length=16)
    code = fields.CharField(max_length=64, default="")
    count = fields.IntField(default=0)

    class Meta:
        table = "happening_count"
        unique_together = (("day", "kind", "code"),)


class UnplacedMessage(Model):
    # A message nobody could place, kept (cut short) for what the pack should learn next.
    # Its words are the citizen's: retention drops it after the window, and erasure at once
    # (by the chat it came from; no Citizen row is made for it).
    id = fields.IntField(primary_key=True)
    at = fields.DatetimeField()
    code = fields.CharField(max_length=64)  # as HappeningCount.code
    text = fields.TextField()  # at most happenings.MAX_TEXT characters
    channel = fields.CharField(max_length=32)
    chat_id = fields.CharField(max_length=128)

    class Meta:
        table = "unplaced_message"
        indexes = (("channel", "chat_id"), ("at",))


# -- the conversation's transcript (ticket_store/chatlog.py) --------------------------------
class ChatLine(Model):
    # One message of a chat, either way: what the citizen wrote or sent, what the bot or staff
    # answered. The citizen's story in the panel and the web chat's history after a reload.
    # A line tied to a ticket is that report's conversation (a unit sees only those); the
    # retention job and a citizen's erasure remove them (ticket_store.retention).
    id = fields.IntField(primary_key=True)
    channel = fields.CharField(max_length=32)
    chat_id = fields.CharField(max_length=128)
    citizen: fields.ForeignKeyNullableRelation[Citizen] = fields.ForeignKeyField(
        "peygir.Citizen", related_name=False, null=True, on_delete=fields.CASCADE)
    ticket: fields.ForeignKeyNullableRelation[Ticket] = fields.ForeignKeyField(
        "peygir.Ticket", related_name=False, null=True, on_delete=fields.CASCADE)
    direction = fields.CharField(max_length=3)  # "in" from the citizen, "out" to them
    who = fields.CharField(max_length=80)  # citizen, bot or staff:<username>
    kind = fields.CharField(max_length=16)  # text, button, location, contact, photo, voice, …
    text = fields.TextField(default="")  # at most chatlog.MAX_TEXT characters
    attachment: fields.ForeignKeyNullableRelation[Attachment] = fields.ForeignKeyField(
        "peygir.Attachment", related_name=False, null=True, on_delete=fields.SET_NULL)
    buttons: fields.JSONField[Any] = fields.JSONField(null=True)  # rows of {label, data}
    photos: fields.JSONField[Any] = fields.JSONField(null=True)  # evidence photo paths
    at = fields.DatetimeField()

    class Meta:
        table = "chat_line"
        indexes = (("channel", "chat_id", "at"),)


# -- forwarding to a city's Open311 back office (issue 19; ticket_store/forwarding.py) -------
class ForwardState(StrEnum):
    PENDING = "pending"  # to be sent, or sent again under the same idempotency key
    SENT = "sent"  # the back office has it: its service_request_id (or token) is kept
    # It may have arrived at a back office that ignores idempotency keys: staff check there
    # rather than peygir sending it twice.
    UNCERTAIN = "uncertain"
    FAILED = "failed"  # the back office refused it for good (a 4xx other than 429)


class ForwardedReport(Model):
    # One ticket sent to the back office that serves its service. Written in the filing
    # transaction; the forwarder claims it with a lease, so a process that dies mid-send
    # leaves it to the next one (which resends under the same key).
    id = fields.IntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "peygir.Ticket", related_name=False, on_delete=fields.CASCADE)
    ticket_id: int
    endpoint = fields.CharField(max_length=64)
    remote_code = fields.CharField(max_length=64)  # the back office's service code
    state = fields.CharEnumField(ForwardState, max_length=16, default=ForwardState.PENDING)
    idempotency_key = fields.CharField(max_length=64, unique=True)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    lease_until = fields.DatetimeField(null=True)
    remote_id = fields.CharField(max_length=64, null=True)
    remote_token = fields.CharField(max_length=64, null=True)
    # The back office's state last applied to the ticket (exactly once: compare-and-set).
    remote_status = fields.CharField(max_length=16, null=True)
    notes_digest = fields.CharField(max_length=64, null=True)
    last_error = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)
    checked_at = fields.DatetimeField(null=True)  # last asked for its updates

    class Meta:
        table = "forwarded_report"
        unique_together = (("ticket",),)
        indexes = (("state", "next_attempt_at"), ("endpoint", "remote_id"))


class ForwardCursor(Model):
    # Up to when a back office's GET requests window has been read.
    id = fields.IntField(primary_key=True)
    endpoint = fields.CharField(max_length=64, unique=True)
    fetched_until = fields.DatetimeField()

    class Meta:
        table = "forward_cursor"


class Open311Idempotency(Model):
    # peygir as a back office: a client's POST repeated under the same Idempotency-Key
    # answers the first request rather than filing another.
    id = fields.IntField(primary_key=True)
    client = fields.CharField(max_length=16)
    key = fields.CharField(max_length=64)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "peygir.Ticket", related_name=False, on_delete=fields.CASCADE)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "open311_idempotency"
        unique_together = (("client", "key"),)


# -- petitions (issue 20; ticket_store/petitions.py) -----------------------------------------
class PetitionStatus(StrEnum):
    PENDING = "pending"  # proposed, waiting for staff: not public
    OPEN = "open"  # approved: public, collecting signatures
    REJECTED = "rejected"  # staff refused it: never public
    PASSED = "passed"  # reached its threshold: a ticket awaits the unit's formal answer
    ANSWERED = "answered"  # that ticket was answered (resolved, rejected or referred)


class Petition(Model):
    # A citizen's proposal that others sign. Its count is raised in the signature's own
    # transaction; crossing the threshold is a conditional update on the status, so exactly
    # one signature opens the ticket, however many sign at once.
    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=200)
    text = fields.TextField()
    district = fields.CharField(max_length=64, null=True)  # None: the whole city
    # The proposer; None once retention removed a Citizen no ticket needed (the petition,
    # public by then, stays).
    citizen: fields.ForeignKeyNullableRelation[Citizen] = fields.ForeignKeyField(
        "peygir.Citizen", related_name=False, null=True, on_delete=fields.SET_NULL)
    citizen_id: int | None
    channel = fields.CharField(max_length=32)  # the proposer's chat: told of the review
    chat_id = fields.CharField(max_length=128)
    photo: fields.ForeignKeyNullableRelation[Attachment] = fields.ForeignKeyField(
        "peygir.Attachment", related_name=False, null=True, on_delete=fields.SET_NULL)
    photo_id: int | None
    status = fields.CharEnumField(PetitionStatus, max_length=16, default=PetitionStatus.PENDING)
    threshold = fields.IntField(default=0)  # fixed at approval, from the pack's rules
    answer_days = fields.IntField(default=0)
    signature_count = fields.IntField(default=0)
    ticket: fields.ForeignKeyNullableRelation[Ticket] = fields.ForeignKeyField(
        "peygir.Ticket", related_name=False, null=True, on_delete=fields.SET_NULL)
    ticket_id: int | None
    reviewed_by = fields.CharField(max_length=64, null=True)
    review_note = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    reviewed_at = fields.DatetimeField(null=True)
    passed_at = fields.DatetimeField(null=True)
    answered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "petition"
        indexes = (("status", "id"), ("ticket_id",))  # the list; a ticket's petition


class PetitionSignature(Model):
    # One person's signature: one channel identity (channel, user_id) signs a petition once,
    # which the unique constraint holds even against two signatures racing. chat_id is where
    # they hear that it passed and what the city answered.
    id = fields.IntField(primary_key=True)
    petition: fields.ForeignKeyRelation[Petition] = fields.ForeignKeyField(
        "peygir.Petition", related_name=False, on_delete=fields.CASCADE)
    channel = fields.CharField(max_length=32)
    user_id = fields.CharField(max_length=128)
    chat_id = fields.CharField(max_length=128)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "petition_signature"
        unique_together = (("petition", "channel", "user_id"),)


# -- signed webhooks (issue 19; ticket_store/webhooks.py) ------------------------------------
class WebhookSubscription(Model):
    id = fields.IntField(primary_key=True)
    url = fields.CharField(max_length=2048)
    secret = fields.CharField(max_length=128)
    events: fields.JSONField[list[str]] = fields.JSONField(default=list)
    personal_data = fields.BooleanField(default=False)  # may see the citizen's words and place
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_at = fields.DatetimeField(null=True)
    last_result = fields.CharField(max_length=200, null=True)  # "200", "timeout", …

    class Meta:
        table = "webhook_subscription"


# -- volunteers (issue 20; ticket_store/active.py) -------------------------------------------
class ApplicationStatus(StrEnum):
    PENDING = "pending"  # waiting for an operator
    APPROVED = "approved"  # the citizen's standing became VOLUNTEER
    REJECTED = "rejected"


class VolunteerApplication(Model):
    # A citizen's request, made in the chat, to be a municipal volunteer (همیار). An operator
    # decides in the panel; the decision is a conditional update on the status, so two
    # operators deciding at once decide once. The reason is the citizen's words: it goes with
    # the citizen (cascade) and on their erasure request.
    id = fields.IntField(primary_key=True)
    citizen: fields.ForeignKeyRelation[Citizen] = fields.ForeignKeyField(
        "peygir.Citizen", related_name=False, on_delete=fields.CASCADE)
    citizen_id: int
    channel = fields.CharField(max_length=32)  # where the citizen hears the decision
    chat_id = fields.CharField(max_length=128)
    reason = fields.TextField()
    status = fields.CharEnumField(ApplicationStatus, max_length=16,
                                  default=ApplicationStatus.PENDING)
    reviewed_by = fields.CharField(max_length=64, null=True)
    review_note = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    reviewed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "volunteer_application"
        indexes = (("status", "id"), ("citizen_id", "status"))


# -- area alerts (issue 20; ticket_store/alerts.py) ------------------------------------------
class AreaAlert(Model):
    # A chat's daily digest of what was reported and resolved in one area: a district (by
    # its code) or a circle (a point and a radius). The chat is the identity, nothing more.
    id = fields.IntField(primary_key=True)
    channel = fields.CharField(max_length=32)
    chat_id = fields.CharField(max_length=128)
    area_key = fields.CharField(max_length=96)  # "d:<district>" or "p:<lat>,<lon>,<metres>"
    district = fields.CharField(max_length=64, null=True)
    latitude = fields.FloatField(null=True)
    longitude = fields.FloatField(null=True)
    radius_m = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    # The digest covers tickets from ``since``; the local day of the last digest run is set
    # by a conditional update, so two schedulers or a restart send a day's digest once.
    since = fields.DatetimeField()
    last_day = fields.IntField(null=True)

    class Meta:
        table = "area_alert"
        unique_together = (("channel", "chat_id", "area_key"),)
        indexes = (("last_day",),)


# -- QR codes for staff and places (issue 20; ticket_store/qr.py) ----------------------------
class QrSubjectKind(StrEnum):
    STAFF = "staff"
    PLACE = "place"


class FeedbackKind(StrEnum):
    PRAISE = "praise"
    SUGGESTION = "suggestion"
    COMPLAINT = "complaint"


class QrSubject(Model):
    # A staff member or a place from the city's file (``peygir qr sync``); ``ref`` is the
    # city's own id. Citizens see only the name and the role (staff) or the name (places).
    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(QrSubjectKind, max_length=8)
    ref = fields.CharField(max_length=64)
    name = fields.CharField(max_length=128)
    role = fields.CharField(max_length=128, default="")  # staff: the title citizens see
    unit_code = fields.CharField(max_length=64, null=True)  # staff: for the review team only
    place_kind = fields.CharField(max_length=16, null=True)  # park, bus_line, ...
    latitude = fields.FloatField(null=True)
    longitude = fields.FloatField(null=True)
    district = fields.CharField(max_length=64, null=True)
    services: fields.JSONField[list[str]] = fields.JSONField(default=list)
    active = fields.BooleanField(default=True)  # False once it left the city's file
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "qr_subject"
        unique_together = (("kind", "ref"),)


class QrCode(Model):
    # One printed code: an unguessable token (secrets.token_urlsafe, 144 bits) until revoked.
    id = fields.IntField(primary_key=True)
    subject: fields.ForeignKeyRelation[QrSubject] = fields.ForeignKeyField(
        "peygir.QrSubject", related_name=False, on_delete=fields.CASCADE)
    subject_id: int
    token = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "qr_code"
        indexes = (("subject_id", "revoked_at"),)


class StaffFeedback(Model):
    # Praise, a suggestion or a complaint about a staff member, for the review team (managers
    # and administrators in the panel); never a ticket, never sent to the member's own unit.
    # Who wrote it is not kept: only the channel it came on.
    id = fields.IntField(primary_key=True)
    subject: fields.ForeignKeyRelation[QrSubject] = fields.ForeignKeyField(
        "peygir.QrSubject", related_name=False, on_delete=fields.CASCADE)
    subject_id: int
    kind = fields.CharEnumField(FeedbackKind, max_length=16)
    text = fields.TextField()
    photo: fields.ForeignKeyNullableRelation[Attachment] = fields.ForeignKeyField(
        "peygir.Attachment", related_name=False, null=True, on_delete=fields.SET_NULL)
    photo_id: int | None
    channel = fields.CharField(max_length=32)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "staff_feedback"
        indexes = (("subject_id", "kind", "created_at"), ("created_at",))


class PlaceReport(Model):
    # A ticket filed through a place's code: the place it was about (its counts in the panel).
    id = fields.IntField(primary_key=True)
    subject: fields.ForeignKeyRelation[QrSubject] = fields.ForeignKeyField(
        "peygir.QrSubject", related_name=False, on_delete=fields.CASCADE)
    subject_id: int
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "peygir.Ticket", related_name=False, on_delete=fields.CASCADE)
    ticket_id: int
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "place_report"
        unique_together = (("ticket",),)
        indexes = (("subject_id", "created_at"),)


class WebhookDelivery(Model):
    # One event for one subscription, queued in the transaction of the change it tells of;
    # delivered in id order per (subscription, ticket).
    id = fields.IntField(primary_key=True)
    subscription: fields.ForeignKeyRelation[WebhookSubscription] = fields.ForeignKeyField(
        "peygir.WebhookSubscription", related_name=False, on_delete=fields.CASCADE)
    subscription_id: int
    event_id = fields.CharField(max_length=36, unique=True)
    event = fields.CharField(max_length=32)
    ticket_id = fields.IntField(null=True)
    payload: fields.JSONField[dict[str, Any]] = fields.JSONField()
    created_at = fields.DatetimeField(auto_now_add=True)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    lease_until = fields.DatetimeField(null=True)
    delivered_at = fields.DatetimeField(null=True)
    failed_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)

    class Meta:
        table = "webhook_delivery"
        indexes = (("delivered_at", "failed_at", "id"), ("subscription_id", "ticket_id", "id"))

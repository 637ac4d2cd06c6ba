"""Staff accounts: argon2id passwords, database-held sessions, sign-in throttling, audit names.

The panel's cookie carries a random token; the database keeps only its SHA-256, so a leaked
database backup signs nobody in. Each session has its own CSRF token.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from tortoise.queryset import QuerySet

from peygir.ticket_store.models import LoginAttempt, StaffRole, StaffSession, StaffUser

# argon2id with the library's defaults (RFC 9106 "low memory" profile: 64 MiB, 3 passes).
_hasher = PasswordHasher()
# Verified against when the user name is unknown, so both cases take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

USERNAME_RE = re.compile(r"^[a-z0-9_.\-]{2,64}$")
MIN_PASSWORD = 10

SESSION_IDLE = timedelta(hours=8)
SESSION_MAX = timedelta(hours=12)

# Throttling (OWASP ASVS 2.2.1): failures counted over a sliding window slow a guesser
# without letting anyone lock a colleague out.
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_PAIR = 5  # one account from one address: that pair waits out the window
MAX_FAILURES_PER_IP = 30  # any accounts from one address: that address waits
# One account from every address (a guesser spread over many): past this many failures each
# attempt must wait twice as long after the last failure as the one before, up to the cap.
# An address the account signed in from lately is not kept waiting, so the owner gets in.
ACCOUNT_SLOWDOWN_AFTER = 20
MAX_ACCOUNT_DELAY = timedelta(minutes=2)
KNOWN_ADDRESS = timedelta(days=30)


class StaffError(ValueError):
    """A rule an account change broke: ``reason`` names it for callers that word it their own
    way (the panel, in Persian); the message is the CLI's plain English."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def actor_name(user: StaffUser) -> str:
    """How a staff member appears on a ticket's timeline."""
    return f"staff:{user.username}"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def add_user(username: str, password: str, role: StaffRole | str,
                   unit_code: str | None = None, full_name: str = "") -> StaffUser:
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        raise StaffError("username", "user name: 2–64 of a–z, 0–9, '.', '_' and '-'")
    if len(password) < MIN_PASSWORD:
        raise StaffError("password", f"the password needs at least {MIN_PASSWORD} characters")
    if role not in set(StaffRole):
        roles = ", ".join(StaffRole)
        raise StaffError("role", f"role {role!r} is not one of {roles}")
    role = StaffRole(role)
    if role is StaffRole.UNIT and not unit_code:
        raise StaffError("unit", "a unit user needs --unit (the unit's code)")
    if role is not StaffRole.UNIT and unit_code:
        raise StaffError("unit", "only unit users belong to a unit")
    if await StaffUser.exists(username=username):
        raise StaffError("exists", f"user {username!r} exists already")
    return await StaffUser.create(username=username, password_hash=hash_password(password),
                                  role=role, unit_code=unit_code, full_name=full_name)


async def set_password(username: str, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise StaffError("password", f"the password needs at least {MIN_PASSWORD} characters")
    user = await StaffUser.get_or_none(username=username.strip().lower())
    if user is None:
        raise StaffError("missing", f"no user {username!r}")
    user.password_hash = hash_password(password)
    await user.save(update_fields=["password_hash"])
    await StaffSession.filter(user=user).delete()  # a new password signs everyone out


async def set_active(username: str, active: bool) -> None:
    """Enable or disable an account; disabling signs it out everywhere at once."""
    username = username.strip().lower()
    if not await StaffUser.filter(username=username).update(active=active):
        raise StaffError("missing", f"no user {username!r}")
    if not active:
        await StaffSession.filter(user__username=username).delete()


@dataclass(frozen=True)
class SignIn:
    user: StaffUser | None
    throttled: bool = False


async def throttled(username: str, ip: str, now: datetime) -> bool:
    since = now - THROTTLE_WINDOW
    failures = LoginAttempt.filter(ok=False, at__gte=since)
    if await failures.filter(ip=ip).count() >= MAX_FAILURES_PER_IP:
        return True
    pair = failures.filter(username=username, ip=ip)
    signed_in = await LoginAttempt.filter(username=username, ip=ip, ok=True, at__gte=since
                                          ).order_by("-at").first()
    if signed_in is not None:  # a success from here starts the pair's count afresh
        pair = pair.filter(at__gt=signed_in.at)
    if await pair.count() >= MAX_FAILURES_PER_PAIR:
        return True
    return await _account_waits(username, ip, now, failures.filter(username=username))


async def _account_waits(username: str, ip: str, now: datetime,
                         failures: QuerySet[LoginAttempt]) -> bool:
    """The account-wide slowdown: exponential, capped, and never for a known address."""
    count = await failures.count()
    if count < ACCOUNT_SLOWDOWN_AFTER:
        return False
    if await LoginAttempt.exists(username=username, ip=ip, ok=True, at__gte=now - KNOWN_ADDRESS):
        return False
    latest = await failures.order_by("-at").first()
    delay = min(timedelta(seconds=2 ** min(count - ACCOUNT_SLOWDOWN_AFTER, 20)),
                MAX_ACCOUNT_DELAY)
    return latest is not None and now < latest.at + delay


async def authenticate(username: str, password: str, ip: str,
                       now: datetime | None = None) -> SignIn:
    """Check a password, refusing while this name from this address, this address, or (from
    an address it is not known at) this name has failed too often. A refused attempt checks
    no password and writes no row: a flood costs neither CPU nor storage."""
    now = now or datetime.now(UTC)
    username = username.strip().lower()[:64]
    ip = ip[:64]
    if await throttled(username, ip, now):
        return SignIn(None, throttled=True)
    user = await StaffUser.get_or_none(username=username, active=True)
    ok = _verify(user.password_hash if user else _DUMMY_HASH, password) and user is not None
    await LoginAttempt.create(username=username, ip=ip, ok=ok, at=now)
    if not ok or user is None:
        return SignIn(None)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        await user.save(update_fields=["password_hash"])
    return SignIn(user)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(user: StaffUser, now: datetime | None = None) -> tuple[str, StaffSession]:
    """A new session; returns the cookie's token (shown once, never stored) and the row."""
    now = now or datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    session = await StaffSession.create(
        token_hash=_digest(token), user=user, csrf_token=secrets.token_urlsafe(32),
        last_seen=now, expires_at=now + SESSION_MAX,
    )
    return token, session


async def session_for(token: str | None, now: datetime | None = None) -> StaffSession | None:
    """The live session a cookie names, with its (active) user; None when expired or unknown."""
    if not token or len(token) > 128:
        return None
    now = now or datetime.now(UTC)
    session = await StaffSession.get_or_none(token_hash=_digest(token)).select_related("user")
    if session is None:
        return None
    if session.expires_at <= now or session.last_seen + SESSION_IDLE <= now \
            or not session.user.active:
        await session.delete()
        return None
    if now - session.last_seen > timedelta(minutes=1):  # one write a minute, not per request
        session.last_seen = now
        await session.save(update_fields=["last_seen"])
    return session


async def close_session(token: str | None) -> None:
    if token:
        await StaffSession.filter(token_hash=_digest(token)).delete()

"""What one ``peygir serve`` process does: one or more roles (``--role web,worker``).

With SQLite, one process does everything (``all``, the default). With PostgreSQL, several
processes share the database, each with its roles:

- ``web``: the HTTP side (web chat, panel, Open311, the messengers' webhooks, Eitaa mini-app);
- ``bots``: the messengers' polling (Telegram, Bale, Instagram; exactly one process polls each
  bot, elected by an advisory lock) and the outbox delivery;
- ``worker``: the outbox delivery, voice transcription, the back-office forwarder and the
  signed webhooks (any number of processes: claims keep each item to one of them);
- ``scheduler``: escalations, auto-closing, roll-ups, retention, digests (elected).

Every process answers ``/healthz`` and ``/readyz`` on its port; only ``web`` serves the rest.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    WEB = "web"
    BOTS = "bots"
    WORKER = "worker"
    SCHEDULER = "scheduler"


ALL = frozenset(Role)


def parse_roles(text: str) -> frozenset[Role]:
    """``"web,worker"`` → {WEB, WORKER}; ``"all"`` or empty → every role. Raises ValueError
    naming the unknown word."""
    words = [word.strip().lower() for word in text.split(",") if word.strip()]
    if not words or words == ["all"]:
        return ALL
    known = {role.value: role for role in Role}
    unknown = [word for word in words if word not in known]
    if unknown:
        raise ValueError(f"unknown role {unknown[0]!r}: use all or any of "
                         f"{', '.join(known)}, comma-separated")
    return frozenset(known[word] for word in words)

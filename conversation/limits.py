"""In-memory rate limits on what a citizen can try fast: guessing tracking codes.

Token buckets keyed by chat and by network address. Each table keeps at most ``max_keys``
entries and forgets the least recently used first, so a flood of new chats or addresses
cannot grow memory without bound; forgetting a key only ever gives it a fresh allowance,
and one attacker's addresses are few next to a table's size.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from peygir.messages.types import IncomingMessage


@dataclass
class Buckets:
    """``capacity`` tries at once, then one more every ``1 / per_second`` seconds."""

    capacity: float
    per_second: float
    max_keys: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _levels: OrderedDict[str, tuple[float, float]] = field(default_factory=OrderedDict)

    def level(self, key: str) -> float:
        tokens, at = self._levels.get(key, (self.capacity, self.clock()))
        return min(self.capacity, tokens + (self.clock() - at) * self.per_second)

    def take(self, key: str, cost: float = 1.0) -> None:
        self._levels[key] = (self.level(key) - cost, self.clock())
        self._levels.move_to_end(key)
        while len(self._levels) > self.max_keys:
            self._levels.popitem(last=False)

    def give_back(self, key: str, amount: float) -> None:
        if key in self._levels:
            tokens, at = self._levels[key]
            self._levels[key] = (min(self.capacity, tokens + amount), at)


def address_key(origin: str) -> str:
    """An IPv6 client is its /64 (one subscriber's whole block), an IPv4 one its address."""
    try:
        address = ipaddress.ip_address(origin)
    except ValueError:
        return origin[:64]
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


OWN_LOOKUP = 0.1  # what a look at one's own ticket costs: a tenth of a wrong guess


@dataclass
class CodeGuesses:
    """Tracking-code lookups: a wrong code (not this chat's) costs a try from the chat's and
    the address's allowance; a look at one's own ticket costs a tenth of one. A lookup is
    paid for before it runs, so parallel requests cannot all slip past one check."""

    per_chat: Buckets = field(default_factory=lambda: Buckets(10, 1 / 60))
    # Generous: many citizens may share one carrier-grade NAT address.
    per_address: Buckets = field(default_factory=lambda: Buckets(60, 1 / 5))

    def _keys(self, msg: IncomingMessage) -> list[tuple[Buckets, str]]:
        keys = [(self.per_chat, f"{msg.channel}:{msg.chat_id}")]
        if msg.origin:
            keys.append((self.per_address, address_key(msg.origin)))
        return keys

    def take(self, msg: IncomingMessage) -> bool:
        """Pay for one lookup; False (nothing paid) while the chat or its address is slowed."""
        keys = self._keys(msg)
        if any(buckets.level(key) < 1 for buckets, key in keys):
            return False
        for buckets, key in keys:
            buckets.take(key)
        return True

    def found_own(self, msg: IncomingMessage) -> None:
        """The code was this chat's: most of what :meth:`take` paid comes back."""
        for buckets, key in self._keys(msg):
            buckets.give_back(key, 1 - OWN_LOOKUP)

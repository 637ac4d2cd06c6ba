"""A typed address to a point, through a Nominatim-compatible geocoder (``PEYGIR_GEOCODER``).

The dialogue asks before its transaction opens (an HTTP call must never hold the database),
then routes the point by district like one the citizen sent. Only a point inside one of the
city's districts counts: the search is bounded to the districts' box in Iran, and a result
outside every district is ignored. A geocoder that is down, slow (``PEYGIR_GEOCODER_TIMEOUT``
covers the whole ask), oversized or garbled gives no point, and the report goes to the centre's
queue with its typed address, as without a geocoder.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass

import httpx

from peygir.config.city import City

log = logging.getLogger(__name__)

MAX_QUERY = 200  # characters sent of a typed address; a street and a landmark fit
MAX_BODY = 256 * 1024  # bytes read of an answer: five results are a few kilobytes
CACHE_SIZE = 512  # addresses remembered (the same typed text is not asked twice)


@dataclass(frozen=True)
class Found:
    lat: float
    lon: float
    district: str  # the city district's code


class Geocoder:
    def __init__(self, base_url: str, city: City, *, timeout: float = 3.0,
                 interval: float = 1.0, user_agent: str = "peygir",
                 country: str = "ir", transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = base_url.rstrip("/") + "/search"
        self.city = city
        self.timeout = timeout
        self.interval = interval
        self.user_agent = user_agent
        self.country = country
        self.transport = transport
        self.viewbox = _viewbox(city)
        self._cache: OrderedDict[str, Found | None] = OrderedDict()
        self._lock = asyncio.Lock()  # one ask at a time, spaced by ``interval``
        self._last = -math.inf

    @staticmethod
    def key(address: str) -> str:
        return " ".join(address.split())[:MAX_QUERY]

    def cached(self, address: str) -> Found | None:
        """What :meth:`lookup` found for this address (None: nothing, or never asked)."""
        return self._cache.get(self.key(address))

    async def lookup(self, address: str) -> Found | None:
        query = self.key(address)
        if not query or self.viewbox is None:
            return None
        if query in self._cache:
            self._cache.move_to_end(query)
            return self._cache[query]
        try:
            async with asyncio.timeout(self.timeout):  # the queue for the lock counts too
                found = await self._ask(query)
        except (TimeoutError, httpx.HTTPError, ValueError, RecursionError) as exc:
            # Not remembered: the next citizen typing it gets a fresh try.
            log.warning("geocoder gave no answer (%s): the address goes as text",
                        type(exc).__name__)
            return None
        except Exception:  # whatever else goes wrong here must not lose the report
            log.exception("geocoder failed: the address goes as text")
            return None
        self._cache[query] = found
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return found

    async def _ask(self, query: str) -> Found | None:
        async with self._lock:
            wait = self._last + self.interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last = time.monotonic()
            params = {"q": query, "format": "jsonv2", "limit": "5",
                      "countrycodes": self.country, "viewbox": self.viewbox, "bounded": "1",
                      "accept-language": "fa"}
            headers = {"User-Agent": self.user_agent, "Accept": "application/json"}
            async with httpx.AsyncClient(timeout=self.timeout, transport=self.transport,
                                         follow_redirects=False) as client, \
                    client.stream("GET", self.url, params=params, headers=headers) as answer:
                answer.raise_for_status()
                body = bytearray()
                async for chunk in answer.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY:
                        raise ValueError("geocoder answer too large")
        return self._first_in_city(json.loads(bytes(body)))

    def _first_in_city(self, results: object) -> Found | None:
        """The best-ranked result that falls inside one of the city's districts."""
        if not isinstance(results, list):
            raise ValueError("geocoder answer is not a list")
        for item in results:
            if not isinstance(item, dict):
                continue
            try:
                lat, lon = float(item["lat"]), float(item["lon"])  # Nominatim sends strings
            except (KeyError, TypeError, ValueError):
                continue
            if not (math.isfinite(lat) and math.isfinite(lon)):
                continue
            district = self.city.district_at(lat, lon)
            if district is not None:
                return Found(round(lat, 6), round(lon, 6), district.code)
        return None


def _viewbox(city: City) -> str | None:
    """Nominatim's ``viewbox``: left,top,right,bottom in degrees, the districts' bounds."""
    if not city.districts:
        return None
    boxes = [d.geometry.bounds for d in city.districts]
    west, south = min(b[0] for b in boxes), min(b[1] for b in boxes)
    east, north = max(b[2] for b in boxes), max(b[3] for b in boxes)
    return f"{west:g},{north:g},{east:g},{south:g}"

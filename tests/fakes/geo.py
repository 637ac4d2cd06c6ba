"""A tile server and a Nominatim geocoder on loopback, for the map's tests: what a city would
run, answering as the real ones do on the wire.

- :class:`TileServer`: OpenStreetMap's slippy-map scheme, ``GET /{z}/{x}/{y}.png``, a
  256×256 PNG for every tile that exists at that zoom (0 ≤ x, y < 2^z, z ≤ 19), 404 otherwise.
- :class:`FakeNominatim`: ``GET /search?q=...&format=jsonv2`` as Nominatim's API answers it:
  a JSON list of places whose ``lat``/``lon`` are strings, best first; ``countrycodes`` and
  ``viewbox`` + ``bounded=1`` restrict the places, ``limit`` cuts the list; 400 with
  Nominatim's error object for an unknown ``format``; 403 for a request without a
  User-Agent of its own (the usage policy refuses stock library agents).
  Test knobs: ``delay`` (a slow geocoder), ``status`` (a broken one), ``body`` (raw bytes
  instead of the answer), ``ignore_bounds`` (a geocoder that disregards ``bounded``).
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image, ImageDraw

LICENCE = "Data © OpenStreetMap contributors, ODbL 1.0. http://osm.org/copyright"
STOCK_AGENTS = ("python-httpx", "python-requests", "python-urllib", "curl", "wget")


@dataclass
class Place:
    name: str  # what a query must contain (all its words)
    lat: float
    lon: float
    country_code: str = "ir"
    display_name: str = ""


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Base:
    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self._server: _Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def handle(self, req: BaseHTTPRequestHandler) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    @contextmanager
    def running(self) -> Iterator[str]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                owner.seen.append(Seen(parts.path, {k: v[-1] for k, v in
                                                    parse_qs(parts.query).items()},
                                       {k.lower(): v for k, v in self.headers.items()}))
                owner.handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self.url
        finally:
            self._server.shutdown()
            self._server.server_close()


def _send(req: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str,
          extra: dict[str, str] | None = None) -> None:
    try:
        req.send_response(status)
        req.send_header("Content-Type", ctype)
        req.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            req.send_header(k, v)
        req.end_headers()
        req.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up (a timeout under test): nothing to answer


class TileServer(_Base):
    def __init__(self) -> None:
        super().__init__()
        self._cache: dict[int, bytes] = {}

    def tiles_url(self) -> str:
        return self.url + "/{z}/{x}/{y}.png"

    def served(self) -> list[str]:
        return [s.path for s in self.seen]

    def png(self, z: int) -> bytes:
        """A light tile with a grid line, a shade per zoom (cached: a map asks for dozens)."""
        if z not in self._cache:
            img = Image.new("RGB", (256, 256), (238, 236, 228 - z))
            draw = ImageDraw.Draw(img)
            draw.rectangle([0, 0, 255, 255], outline=(200, 196, 186))
            draw.line([0, 128, 255, 128], fill=(255, 255, 255), width=6)  # a "street"
            out = io.BytesIO()
            img.save(out, "PNG")
            self._cache[z] = out.getvalue()
        return self._cache[z]

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(req.path).path.strip("/").split("/")
        try:
            z, x = int(parts[0]), int(parts[1])
            y_name = parts[2]
            if len(parts) != 3 or not y_name.endswith(".png"):
                raise ValueError
            y = int(y_name[:-4])
        except (ValueError, IndexError):
            _send(req, 404, b"not a tile", "text/plain")
            return
        if not (0 <= z <= 19 and 0 <= x < 2 ** z and 0 <= y < 2 ** z):
            _send(req, 404, b"no such tile", "text/plain")
            return
        _send(req, 200, self.png(z), "image/png", {"Cache-Control": "max-age=3600"})


@dataclass
class FakeNominatim(_Base):
    places: list[Place] = field(default_factory=list)
    delay: float = 0.0
    status: int = 200
    body: bytes | None = None
    ignore_bounds: bool = False

    def __post_init__(self) -> None:
        super().__init__()

    def searches(self) -> list[Seen]:
        return [s for s in self.seen if s.path == "/search"]

    def _matches(self, query: dict[str, str]) -> list[Place]:
        words = query.get("q", "").split()
        found = [p for p in self.places if words and all(w in p.name for w in words)]
        codes = {c.strip().lower() for c in query.get("countrycodes", "").split(",") if c.strip()}
        if codes:
            found = [p for p in found if p.country_code in codes]
        if query.get("bounded") == "1" and query.get("viewbox") and not self.ignore_bounds:
            x1, y1, x2, y2 = (float(v) for v in query["viewbox"].split(","))
            west, east = sorted((x1, x2))
            south, north = sorted((y1, y2))
            found = [p for p in found if west <= p.lon <= east and south <= p.lat <= north]
        return found[: max(1, min(int(query.get("limit", "10")), 40))]

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        seen = self.seen[-1]
        if self.delay:
            time.sleep(self.delay)
        if seen.path != "/search":
            _send(req, 404, b"", "text/html")
            return
        agent = seen.headers.get("user-agent", "")
        if not agent or agent.lower().startswith(STOCK_AGENTS):
            _send(req, 403, b"<html><body>Access blocked</body></html>", "text/html")
            return
        if self.status != 200:
            _send(req, self.status, b"<html><body>Service unavailable</body></html>",
                  "text/html")
            return
        if self.body is not None:
            _send(req, 200, self.body, "application/json; charset=utf-8")
            return
        fmt = seen.query.get("format", "xml")
        if fmt not in ("xml", "json", "jsonv2", "geojson", "geocodejson"):
            error = {"error": {"code": 400, "message": "Parameter 'format' must be one of: "
                                                       "xml, json, jsonv2, geojson, geocodejson"}}
            _send(req, 400, json.dumps(error).encode(), "application/json; charset=utf-8")
            return
        if fmt != "jsonv2":  # the tests' client asks only for jsonv2
            _send(req, 400, b"", "text/plain")
            return
        answer = []
        for i, place in enumerate(self._matches(seen.query)):
            answer.append({
                "place_id": 100000 + i, "licence": LICENCE, "osm_type": "way",
                "osm_id": 2000000 + i, "lat": f"{place.lat:.7f}", "lon": f"{place.lon:.7f}",
                "category": "highway", "type": "residential", "place_rank": 26,
                "importance": round(0.5 - i * 0.01, 4), "addresstype": "road",
                "name": place.name, "display_name": place.display_name or place.name,
                "boundingbox": [f"{place.lat - 0.001:.7f}", f"{place.lat + 0.001:.7f}",
                                f"{place.lon - 0.001:.7f}", f"{place.lon + 0.001:.7f}"],
            })
        _send(req, 200, json.dumps(answer, ensure_ascii=False).encode(),
              "application/json; charset=utf-8", {"Access-Control-Allow-Origin": "*"})

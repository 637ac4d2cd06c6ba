"""A fake of Instagram's private API at the wire, on loopback, over TLS.

instagrapi builds every private URL as ``https://{instagrapi.config.API_DOMAIN}/api/...``;
the tests point ``API_DOMAIN`` at this server and trust its self-signed certificate, so
instagrapi's own code (requests, its headers, its JSON parsing, its error mapping) runs as it
does against Instagram. Only the endpoints peygir uses are answered, with the fields
instagrapi's extractors read; anything else is a 404 and is recorded, so a test can see it.
"""

from __future__ import annotations

import base64
import itertools
import json
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

VIEWER_PK = "990001"
SESSION_ID = "990001%3Afakesession%3A1"
PLEASE_WAIT = (400, {"message": "Please wait a few minutes before you try again.",
                     "status": "fail"})
LOGIN_REQUIRED = (403, {"message": "login_required", "status": "fail",
                        "error_type": "login_required"})
CHALLENGE = (400, {"message": "challenge_required", "status": "fail",
                   "challenge": {"url": "https://i.instagram.com/challenge/123/abc/",
                                 "api_path": "/challenge/123/abc/"}})


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl, as Debian ships it)."""
    cert, key = folder / "fake-ig.crt", folder / "fake-ig.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def _user(pk: str, username: str) -> dict[str, Any]:
    return {"pk": pk, "pk_id": pk, "id": pk, "username": username, "full_name": username,
            "is_private": False, "is_verified": False,
            "profile_pic_url": "https://127.0.0.1/pic.jpg"}


@dataclass
class Thread:
    thread_id: str
    citizen: dict[str, Any]
    pending: bool = False
    items: list[dict[str, Any]] = field(default_factory=list)  # newest first, as Instagram does


@dataclass
class Sent:
    thread_id: str
    text: str


class FakeInstagram:
    def __init__(self, folder: Path) -> None:
        self.cert, key = make_certificate(folder)
        self.threads: dict[str, Thread] = {}
        self.sent: list[Sent] = []
        self.approved: list[str] = []
        self.pages: list[str] = []  # thread ids of every older-items page asked for
        self.requests: list[str] = []  # "METHOD /path" of every request, in order
        self.unknown: list[str] = []
        self.sessions = {SESSION_ID}
        # Errors to answer with, in order, before serving normally: (path part, (status, body)).
        self.failures: list[tuple[str, tuple[int, dict[str, Any]]]] = []
        self.media: dict[str, tuple[str, bytes]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"fake": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.domain = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FakeInstagram:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- what a test does to the world -------------------------------------------------------
    def thread(self, thread_id: str, username: str = "citizen", pending: bool = False
               ) -> Thread:
        if thread_id not in self.threads:
            pk = str(500000 + len(self.threads))
            self.threads[thread_id] = Thread(thread_id, _user(pk, username), pending)
        return self.threads[thread_id]

    def add_media(self, name: str, mime: str, data: bytes) -> str:
        self.media[name] = (mime, data)
        return f"https://{self.domain}/media/{name}"

    def say(self, thread_id: str, item_type: str = "text", pending: bool = False,
            **fields: Any) -> str:
        """A citizen's Direct item arrives; returns its item id."""
        thread = self.thread(thread_id, pending=pending)
        item_id = f"3{next(self._ids):038d}"
        item = {"item_id": item_id, "user_id": int(thread.citizen["pk"]),
                "timestamp": int(time.time() * 1_000_000), "item_type": item_type,
                "client_context": f"ctx{item_id[-6:]}", "is_sent_by_viewer": False, **fields}
        with self._lock:
            thread.items.insert(0, item)
        return item_id

    def texts_to(self, thread_id: str) -> list[str]:
        return [s.text for s in self.sent if s.thread_id == thread_id]

    # -- the wire ------------------------------------------------------------------------------
    def _thread_json(self, thread: Thread, limit: int) -> dict[str, Any]:
        items = [json.loads(json.dumps(i)) for i in thread.items[:limit]]
        newest = thread.items[0]["timestamp"] if thread.items else int(time.time() * 1e6)
        return {
            "thread_id": thread.thread_id, "thread_v2_id": f"1789{thread.thread_id[-8:]}",
            "users": [thread.citizen], "left_users": [], "admin_user_ids": [],
            "items": items, "last_activity_at": newest, "muted": False, "is_pin": False,
            "named": False, "canonical": True, "pending": thread.pending, "archived": False,
            "thread_type": "private", "viewer_id": int(VIEWER_PK),
            "thread_title": thread.citizen["username"], "folder": 0, "vc_muted": False,
            "is_group": False, "mentions_muted": False,
            "approval_required_for_new_members": False, "input_mode": 0,
            "has_older": len(thread.items) > limit, "last_seen_at": {},
            # Instagram's cursors are item ids: the oldest item sent, to page on from.
            "oldest_cursor": items[-1]["item_id"] if items else None,
            "newest_cursor": items[0]["item_id"] if items else None,
        }

    def answer(self, method: str, path: str, query: dict[str, list[str]],
               form: dict[str, list[str]], authorization: str) -> tuple[int, Any, str]:
        with self._lock:
            self.requests.append(f"{method} {path}")
            for n, (part, failure) in enumerate(self.failures):
                if part in path:
                    del self.failures[n]
                    return failure[0], failure[1], "application/json"
        if path.startswith("/media/"):
            mime, data = self.media.get(path.removeprefix("/media/"), ("", b""))
            return (200, data, mime) if data else (404, b"Not Found", "text/plain")
        if not self._authorised(authorization):
            return (*LOGIN_REQUIRED, "application/json")
        ok = {"status": "ok"}
        if path == "/api/v1/accounts/current_user/":
            user = _user(VIEWER_PK, "city137") | {"biography": "", "is_business": True}
            return 200, {"user": user, **ok}, "application/json"
        if path in ("/api/v1/direct_v2/inbox/", "/api/v1/direct_v2/pending_inbox/"):
            pending = "pending" in path
            limit = int(query.get("thread_message_limit", ["10"])[0]) if not pending else 20
            with self._lock:
                threads = [self._thread_json(t, limit) for t in self.threads.values()
                           if t.pending == pending]
            inbox = {"threads": threads, "has_older": False, "oldest_cursor": None}
            return 200, {"inbox": inbox, **ok}, "application/json"
        if path.startswith("/api/v1/direct_v2/threads/") and method == "GET":
            return self._thread_page(path.split("/")[-2], query)
        if path.startswith("/api/v1/direct_v2/threads/broadcast/"):
            return self._broadcast(path, form)
        if path.endswith("/approve/") and method == "POST":
            thread_id = path.split("/")[-3]
            with self._lock:
                if thread_id in self.threads:
                    self.threads[thread_id].pending = False
                    self.approved.append(thread_id)
            return 200, ok, "application/json"
        self.unknown.append(f"{method} {path}")
        return 404, {"message": "not faked", "status": "fail"}, "application/json"

    def _thread_page(self, thread_id: str, query: dict[str, list[str]]
                     ) -> tuple[int, Any, str]:
        """One thread, ``limit`` items older than the item id in ``cursor`` (direction older)."""
        with self._lock:
            thread = self.threads.get(thread_id)
            if thread is None:
                return 404, {"message": "thread not found", "status": "fail"}, "application/json"
            self.pages.append(thread_id)
            cursor = (query.get("cursor") or [""])[0]
            limit = int((query.get("limit") or ["20"])[0])
            ids = [item["item_id"] for item in thread.items]
            start = ids.index(cursor) + 1 if cursor in ids else 0
            page = self._thread_json(replace(thread, items=thread.items[start:]), limit)
        return 200, {"thread": page, "status": "ok"}, "application/json"

    def _authorised(self, authorization: str) -> bool:
        """instagrapi sends ``Bearer IGT:2:<base64 JSON with sessionid>``."""
        prefix = "Bearer IGT:2:"
        if not authorization.startswith(prefix):
            return False
        try:
            data = json.loads(base64.b64decode(authorization.removeprefix(prefix)))
        except ValueError:
            return False
        return data.get("sessionid") in self.sessions

    def _broadcast(self, path: str, form: dict[str, list[str]]) -> tuple[int, Any, str]:
        kind = path.rstrip("/").rsplit("/", 1)[-1]
        text = (form.get("text") or form.get("link_text") or [""])[0]
        thread_ids = json.loads((form.get("thread_ids") or ["[]"])[0])
        if kind not in ("text", "link") or len(thread_ids) != 1:
            return 400, {"message": "bad broadcast", "status": "fail"}, "application/json"
        thread_id = str(thread_ids[0])
        if thread_id not in self.threads:
            return 404, {"message": "thread not found", "status": "fail"}, "application/json"
        item_id = f"4{next(self._ids):038d}"
        stamp = int(time.time() * 1_000_000)
        with self._lock:
            self.sent.append(Sent(thread_id, text))
            self.threads[thread_id].items.insert(0, {
                "item_id": item_id, "user_id": int(VIEWER_PK), "timestamp": stamp,
                "item_type": "text", "text": text, "is_sent_by_viewer": True,
            })
        payload = {"item_id": item_id, "thread_id": thread_id, "timestamp": str(stamp),
                   "client_context": (form.get("client_context") or [""])[0]}
        return 200, {"action": "item_ack", "status_code": "200", "payload": payload,
                     "status": "ok"}, "application/json"


class _Handler(BaseHTTPRequestHandler):
    fake: FakeInstagram
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        status, payload, mime = self.fake.answer(
            method, url.path, parse_qs(url.query), parse_qs(body),
            self.headers.get("Authorization", ""))
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", mime)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

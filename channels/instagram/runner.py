"""Instagram Direct through instagrapi: log in, poll the inbox and requests, answer by Direct.

instagrapi is synchronous (requests), so every call to it runs on one worker thread of its
own: the event loop never waits on Instagram, and one session never makes two requests at
once. Polling is slow on purpose (``PEYGIR_INSTAGRAM_POLL_INTERVAL``, with jitter), and any
trouble — a lost session, a challenge, "please wait a few minutes", the network — is logged and
backed off from; nothing here can stop ``peygir serve``.

Each Direct item is handled once: its dedup key (thread id + item id) is recorded in the same
transaction as its effects, so an item seen again on the next poll changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import logging
import os
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import requests
from instagrapi import Client
from instagrapi.exceptions import (
    BadPassword,
    ChallengeRequired,
    ClientForbiddenError,
    ClientNotFoundError,
    ClientThrottledError,
    DirectThreadNotFound,
    FeedbackRequired,
    LoginRequired,
    PleaseWaitFewMinutes,
    RateLimitError,
    TwoFactorRequired,
)
from instagrapi.extractors import extract_direct_message
from instagrapi.types import DirectMessage

from peygir.channels.base import Duties
from peygir.channels.delivery import CLAIM_TIMEOUT, OutboxWorker, RetryLater, Undeliverable
from peygir.channels.downloads import keep_download
from peygir.channels.instagram.wire import CHANNEL, dedup_key, direct_texts, item_to_incoming
from peygir.conversation.dialogue import MAX_DOWNLOAD, SPOKEN_KINDS, Dialogue
from peygir.messages.types import Attachment, IncomingMessage, Reply
from peygir.ticket_store import leases

log = logging.getLogger(__name__)

T = TypeVar("T")
SLOW_DOWN = (PleaseWaitFewMinutes, RateLimitError, ClientThrottledError, FeedbackRequired)
# Only a person can clear these (in the Instagram app, or with new credentials).
NEEDS_A_PERSON = (ChallengeRequired, TwoFactorRequired, BadPassword)
MESSAGES_PER_THREAD = 20  # items fetched per thread and poll
STANDBY = 5.0  # seconds between a standby process's tries to become the poller
OLDER_PAGES = 10  # pages of older items fetched for a thread whose new items overflow a poll


def _ours(message: DirectMessage, viewer: str) -> bool:
    """Whether the city's account wrote this item (one of our replies)."""
    return bool(message.is_sent_by_viewer) or str(message.user_id) == viewer


class NotLoggedIn(Exception):
    pass


@dataclass(frozen=True)
class Found:
    """One Direct item as a poll found it, with the raw item instagrapi's model leaves out."""

    thread_id: str
    message: DirectMessage
    raw: dict[str, Any]
    pending: bool  # the thread is a message request not yet accepted


class InstagramBot:
    """The channel: the poll loop and the outbox worker. Direct needs no route of ours."""

    name = CHANNEL

    def __init__(
        self,
        dialogue: Dialogue,
        *,
        username: str,
        password: str | None,
        session_file: Path,
        media_dir: Path,
        interval: float = 60.0,
        jitter: float = 0.3,
        max_backoff: float = 1800.0,
        max_age: timedelta = timedelta(days=1),
        client_factory: Callable[[], Client] = Client,
        public_url: str = "",
        claim_timeout: float = CLAIM_TIMEOUT,
    ) -> None:
        self.dialogue = dialogue
        self.username = username
        self.password = password
        self.session_file = session_file
        self.media_dir = media_dir
        self.interval = interval
        self.jitter = jitter
        self.max_backoff = max_backoff
        self.max_age = max_age  # older items (history before peygir ran) are not answered
        self.client_factory = client_factory
        self.public_url = public_url  # evidence photos go as links under it
        self.client: Client | None = None
        self.failures = 0
        self.stopped = asyncio.Event()
        self.polled = asyncio.Event()  # set after each successful poll (tests wait on it)
        self.on_speech: Callable[[], None] = lambda: None
        self.duties = Duties()
        self.outbox = OutboxWorker(CHANNEL, InstagramSender(self), claim_timeout=claim_timeout)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="instagram")
        self._closed = False
        self._tasks: list[asyncio.Task[None]] = []

    # -- the instagrapi thread -------------------------------------------------------------
    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def _login(self) -> Client:
        """A client with a working session: the saved one if Instagram still takes it."""
        client = self.client_factory()
        # instagrapi would otherwise try to resolve a challenge itself, asking for a code on
        # stdin: a server has nobody at the keyboard, so the challenge is reported instead.
        client.with_challenge_flow = False
        if self.session_file.exists():
            client.load_settings(self.session_file)
        if self.password:
            client.login(self.username, self.password)  # checks a saved session before reusing
        elif client.user_id:
            client.account_info()  # a saved session and no password: it must still work
        else:
            raise NotLoggedIn(f"no saved session at {self.session_file} and no password")
        self._save_session(client)
        return client

    def _save_session(self, client: Client) -> None:
        """Keep cookies and tokens, so a restart does not log in afresh (Instagram frowns on
        frequent logins); the file is a credential, readable by its owner only."""
        self.session_file.parent.mkdir(parents=True, exist_ok=True)
        partial = self.session_file.with_suffix(".part")
        client.dump_settings(partial)
        os.chmod(partial, 0o600)
        partial.replace(self.session_file)

    async def ready_client(self) -> Client:
        if self.client is None:
            self.client = await self.call(self._login)
            log.info("instagram: logged in as %s", self.username)
        return self.client

    def _fetch(self, client: Client) -> tuple[list[Found], dict[str, str]]:
        """The newest items of every thread, oldest first within a thread, and the cursor to
        older items of each thread that has more than one poll shows."""
        found: list[Found] = []
        older: dict[str, str] = {}
        for pending in (False, True):
            if pending:
                threads, _ = client.direct_pending_chunk()
            else:
                threads, _ = client.direct_threads_chunk(thread_message_limit=MESSAGES_PER_THREAD)
            # The same response, as Instagram sent it: fields DirectMessage does not model.
            raw_threads = (client.last_json.get("inbox") or {}).get("threads") or []
            raw_items = {
                (str(t.get("thread_id")), str(item.get("item_id"))): item
                for t in raw_threads for item in t.get("items") or []
            }
            for t in raw_threads:
                if t.get("has_older") and t.get("oldest_cursor"):
                    older[str(t.get("thread_id"))] = str(t["oldest_cursor"])
            for thread in threads:
                # Newest first from Instagram; instagrapi's timestamps keep whole seconds only,
                # so the thread's own order, reversed, is the order the citizen wrote in.
                for message in reversed(thread.messages):
                    raw = raw_items.get((str(thread.id), str(message.id)), {})
                    found.append(Found(str(thread.id), message, raw, pending))
        return found, older

    def _too_old(self, message: DirectMessage) -> bool:
        """From before ``max_age`` (instagrapi's timestamps are naive local time)."""
        return message.timestamp.replace(tzinfo=None) < datetime.now() - self.max_age

    def _fetch_older(self, client: Client, thread_id: str, cursor: str, pending: bool
                     ) -> list[Found]:
        """A thread's items before ``cursor``, oldest first: page after page (Instagram's own
        thread endpoint, 20 a page) back to a reply of ours (the items before it were answered
        then), to ``max_age``, or ``OLDER_PAGES`` pages."""
        viewer = str(client.user_id)
        found: list[Found] = []
        for _ in range(OLDER_PAGES):
            thread = client.private_request(f"direct_v2/threads/{thread_id}/", params={
                "visual_message_return_type": "unseen", "direction": "older",
                "limit": str(MESSAGES_PER_THREAD), "cursor": cursor,
            })["thread"]
            page = thread.get("items") or []
            for raw in page:
                message = extract_direct_message(copy.deepcopy(raw))  # it rewrites its input
                found.append(Found(thread_id, message, raw, pending))
            cursor = thread.get("oldest_cursor")
            ours = any(_ours(f.message, viewer) for f in found[-len(page):])
            if (not page or ours or not thread.get("has_older") or not cursor
                    or self._too_old(found[-1].message)):
                break
        return found[::-1]

    async def _overflowed(self, items: list[Found], viewer: str) -> bool:
        """Whether a thread's oldest item in this poll is new: then older ones may be too (a
        citizen wrote more between two polls than one poll shows). An item of ours, or one
        already handled, marks where the last poll left off; items we never answer (a
        reaction, a like) say nothing either way."""
        for item in items:
            message = item.message
            if _ours(message, viewer) or self._too_old(message):
                return False
            if item_to_incoming(item.thread_id, message, item.raw) is not None:
                return not await self.dialogue.handled_before(
                    dedup_key(item.thread_id, str(message.id)))
        return False

    # -- polling ---------------------------------------------------------------------------
    async def poll_once(self) -> int:
        """One look at the inbox and the requests; returns how many items were handled."""
        client = await self.ready_client()
        newest, older = await self.call(self._fetch, client)
        viewer = str(client.user_id)
        found: list[Found] = []
        for thread_id in dict.fromkeys(item.thread_id for item in newest):
            items = [item for item in newest if item.thread_id == thread_id]
            if thread_id in older and await self._overflowed(items, viewer):
                earlier = await self.call(self._fetch_older, client, thread_id,
                                          older[thread_id], items[0].pending)
                log.info("instagram: thread %s had more new items than one poll shows; "
                         "%d older fetched", thread_id, len(earlier))
                items = earlier + items
            found += items
        handled = 0
        accept: set[str] = set()
        for item in found:
            message = item.message
            if _ours(message, viewer):
                continue
            if item.pending:
                accept.add(item.thread_id)
            if self._too_old(message):
                continue
            incoming = item_to_incoming(item.thread_id, message, item.raw)
            if incoming is None or await self.dialogue.handled_before(incoming.dedup_key):
                continue
            if incoming.attachments:
                incoming = await self._fetch_files(incoming)
            await self.dialogue.handle(incoming)
            handled += 1
            self.outbox.wake.set()
            if any(a.path and a.kind in SPOKEN_KINDS for a in incoming.attachments):
                self.on_speech()
        for thread_id in accept:
            # A message request is accepted once it is answered, so replies reach the inbox.
            try:
                await self.call(client.direct_pending_approve, int(thread_id))
            except Exception as exc:
                log.warning("instagram: could not accept request %s: %s", thread_id, exc)
        return handled

    async def _fetch_files(self, incoming: IncomingMessage) -> IncomingMessage:
        fetched = [await asyncio.to_thread(fetch_media, item, self.media_dir, MAX_DOWNLOAD)
                   for item in incoming.attachments]
        return replace(incoming, attachments=tuple(fetched))

    def next_delay(self) -> float:
        """The wait before the next poll: the interval with jitter, or a growing back-off."""
        base = self.interval if not self.failures else min(
            self.max_backoff, self.interval * 2 ** self.failures)
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)

    async def run(self) -> None:
        while not self.stopped.is_set():
            # One process polls the account (several logins look like a hijack to Instagram);
            # the others stand by until its lease frees.
            if not await leases.hold("poll:instagram"):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopped.wait(), timeout=STANDBY)
                continue
            try:
                await self.poll_once()
                self.failures = 0
                self.polled.set()
            except LoginRequired:
                log.warning("instagram: the session was refused (login_required); logging in "
                            "again after a pause")
                self.client = None
                self.failures += 1
            except NEEDS_A_PERSON as exc:
                log.error("instagram: Instagram wants a person to act (%s: %s). Open the account "
                          "in the Instagram app, confirm it was you, then restart peygir or wait "
                          "for the next try.", type(exc).__name__, exc)
                self.client = None
                self.failures = max(self.failures + 1, 5)
            except SLOW_DOWN as exc:
                log.warning("instagram: asked to slow down (%s); backing off", type(exc).__name__)
                self.failures += 1
            except NotLoggedIn as exc:
                log.error("instagram: cannot log in: %s", exc)
                self.failures = max(self.failures + 1, 5)
            except Exception as exc:  # network trouble, a 5xx, the database for a moment
                log.warning("instagram: poll failed (%s: %s); retrying later",
                            type(exc).__name__, exc)
                self.failures += 1
            delay = self.next_delay()
            if self.failures:
                log.info("instagram: next try in %.0f s", delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopped.wait(), timeout=delay)

    def wake(self, channel: str | None = None) -> None:
        if channel is None or channel == CHANNEL:
            self.outbox.wake.set()

    def routes(self) -> None:
        return None

    async def start(self) -> None:
        self.stopped = asyncio.Event()  # fresh ones: the bot may be started again after stop
        if self._closed:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="instagram")
            self._closed = False
        self._tasks = []
        if self.duties.receive:
            self._tasks.append(asyncio.create_task(self.run(), name="instagram-poll"))
        if self.duties.deliver:
            self._tasks.append(asyncio.create_task(self.outbox.run(self.stopped),
                                                   name="instagram-outbox"))

    async def stop(self) -> None:
        self.stopped.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._closed = True


class InstagramSender:
    """The outbox's sender: Direct texts, instagrapi's errors mapped to the outbox's signals."""

    def __init__(self, bot: InstagramBot, slow_down: float = 300.0) -> None:
        self.bot = bot
        self.slow_down = slow_down

    async def send(self, chat_id: str, reply: Reply) -> None:
        try:
            client = await self.bot.ready_client()
        except Exception as exc:  # not logged in yet: the poll loop is dealing with it
            raise RetryLater(60) from exc
        # instagrapi uploads Direct photos to a Facebook host of its own; a link to the photo
        # on our public address reaches the citizen the same way our text does.
        for text in direct_texts(reply.with_photo_links(self.bot.public_url)):
            try:
                await self.bot.call(client.direct_send, text, thread_ids=[int(chat_id)])
            except SLOW_DOWN as wait:
                raise RetryLater(self.slow_down) from wait
            except LoginRequired as lost:
                self.bot.client = None
                raise RetryLater(60) from lost
            except (DirectThreadNotFound, ClientNotFoundError, ClientForbiddenError) as refused:
                raise Undeliverable(str(refused)) from refused


def fetch_media(item: Attachment, media_dir: Path, max_bytes: int) -> Attachment:
    """Download one Direct attachment by content hash, within the size limit, then check it.

    Runs in a worker thread. A file over the limit comes back ``too_big``; one whose content
    is not what it claims comes back with a polite ``problem`` (see :func:`keep_download`).
    """
    try:
        with requests.get(item.file_ref, stream=True, timeout=(10, 60)) as response:
            response.raise_for_status()
            declared = int(response.headers.get("Content-Length") or 0)
            if declared > max_bytes:
                return replace(item, too_big=True, size=declared)
            data = bytearray()
            for chunk in response.iter_content(64 * 1024):
                data += chunk
                if len(data) > max_bytes:
                    return replace(item, too_big=True, size=len(data))
    except requests.RequestException as exc:
        log.warning("instagram: download of a %s failed: %s", item.kind, exc)
        return item  # no path: the dialogue asks for the text, the file is simply not kept
    return keep_download(data, item, media_dir, "instagram")

"""Telegram and Bale bots: one aiogram Dispatcher and router, each bot on its own API server.

Intake is at least once, handling exactly once:
- We poll ``getUpdates`` ourselves and feed each update to the dispatcher
  (``Dispatcher.feed_update``), moving the offset past an update only after it was handled
  and committed. aiogram's own ``start_polling`` moves it on before a task-handled update is
  done (``handle_as_tasks=True``) and after a failed one in any mode, which can lose reports.
- A crash or a redelivery brings an update back; its dedup key makes the second pass a no-op.
- Updates of different chats in one batch are handled concurrently, one chat's in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from aiogram import Bot, Dispatcher, Router
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramUnauthorizedError,
)
from aiogram.methods import GetUpdates
from aiogram.types import CallbackQuery, Message, Update
from fastapi import APIRouter

from peygir.channels.base import Duties
from peygir.channels.delivery import CLAIM_TIMEOUT, OutboxWorker
from peygir.channels.downloads import keep_download
from peygir.channels.telegram.sender import BotSender, TelegramSender
from peygir.channels.telegram.session import BotApiSession
from peygir.channels.telegram.webhook import webhook_routes
from peygir.channels.telegram.wire import fetch_file, to_incoming
from peygir.conversation.dialogue import MAX_DOWNLOAD, SPOKEN_KINDS, Dialogue
from peygir.messages.types import IncomingMessage
from peygir.ticket_store import leases

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
POLL_TIMEOUT = 25  # seconds of long polling
STANDBY = 2.0  # seconds between a standby process's tries to become the poller


class FloodGate:
    """Per-chat rate limit: a sliding window; other chats are never delayed."""

    def __init__(self, limit: int = 8, per_seconds: float = 3.0) -> None:
        self.limit = limit
        self.per_seconds = per_seconds
        self._seen: dict[str, deque[float]] = defaultdict(deque)
        self._warned: dict[str, float] = {}

    def admit(self, chat_id: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        window = self._seen[chat_id]
        while window and now - window[0] > self.per_seconds:
            window.popleft()
        if len(window) >= self.limit:
            return False
        window.append(now)
        return True

    def should_warn(self, chat_id: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if now - self._warned.get(chat_id, -1e9) > self.per_seconds:
            self._warned[chat_id] = now
            return True
        return False


@dataclass
class MessengerBot:
    """One bot (Telegram or Bale) with its outbox worker."""

    channel: str
    bot: Bot
    outbox: OutboxWorker
    offset: int | None = None
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    header_secret: bool = True  # whether the messenger sends X-Telegram-Bot-Api-Secret-Token


def make_bot(token: str, api_base: str) -> Bot:
    server = TelegramAPIServer.from_base(api_base)
    return Bot(token=token, session=BotApiSession(api=server))


class Messengers:
    """The dispatcher, its router and every configured bot: the channel named "telegram",
    which stands for Telegram and Bale (each bot's own channel name is on its replies)."""

    name = "telegram"

    def __init__(self, dialogue: Dialogue, media_dir: Path = Path("media"), *,
                 claim_timeout: float = CLAIM_TIMEOUT) -> None:
        self.dialogue = dialogue
        self.claim_timeout = claim_timeout  # the outbox workers': see channels.delivery
        self.media_dir = media_dir
        # Our state lives in the database (the dialogue), not in aiogram's FSM: leaving the FSM
        # out spares a middleware and a storage lookup on every update.
        self.dispatcher = Dispatcher(disable_fsm=True)
        # aiogram logs "Update id=… is handled" at INFO for every update: at hundreds of updates
        # a second that is most of the log and a few per cent of the CPU. Failures still log.
        logging.getLogger("aiogram.event").setLevel(logging.WARNING)
        self.dispatcher.include_router(self._router())
        self.bots: list[MessengerBot] = []
        self.flood = FloodGate()
        self._tasks: list[asyncio.Task[None]] = []
        self.webhook_base = ""
        self.webhook_secret = ""
        self.on_speech: Callable[[], None] = lambda: None  # a voice note was queued
        self.duties = Duties()

    def add(self, channel: str, token: str, api_base: str, *, markdown_by_default: bool
            ) -> MessengerBot:
        bot = make_bot(token, api_base)
        sender = BotSender(TelegramSender(bot, markdown_by_default=markdown_by_default))
        entry = MessengerBot(channel, bot, OutboxWorker(channel, sender,
                                                        claim_timeout=self.claim_timeout))
        # Bale's setWebhook takes no secret_token (reported in public code): it gets a
        # secret path instead, and Telegram gets both.
        entry.header_secret = not markdown_by_default
        self.bots.append(entry)
        return entry

    def use_webhooks(self, public_base: str, secret: str) -> None:
        """Receive updates by webhook at ``{public_base}/bot/{channel}/{path}``."""
        self.webhook_base = public_base.rstrip("/")
        self.webhook_secret = secret

    def webhook_path(self, entry: MessengerBot) -> str:
        digest = hmac.new(self.webhook_secret.encode(), entry.channel.encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def header_token(self, entry: MessengerBot) -> str:
        digest = hmac.new(self.webhook_secret.encode(), b"header:" + entry.channel.encode(),
                          hashlib.sha256)
        return digest.hexdigest()  # [A-Za-z0-9_-], as setWebhook's secret_token requires

    def by_channel(self, channel: str) -> MessengerBot | None:
        return next((entry for entry in self.bots if entry.channel == channel), None)

    def authorised(self, channel: str, path: str, header: str | None) -> bool:
        """Whether a webhook request carries this bot's secret path (and header)."""
        entry = self.by_channel(channel)
        if entry is None or not self.webhook_secret:
            return False
        if not hmac.compare_digest(path, self.webhook_path(entry)):
            return False
        return not entry.header_secret or hmac.compare_digest(header or "",
                                                              self.header_token(entry))

    async def handle_webhook(self, channel: str, body: dict[str, object]) -> int:
        """One authorised webhook request; returns the HTTP status to answer with."""
        entry = self.by_channel(channel)
        if entry is None:
            return 404
        try:
            update = Update.model_validate(body, context={"bot": entry.bot})
        except ValueError:
            return 400
        # Answer only after the update is committed: a non-200 makes Telegram deliver again.
        await self.feed(entry, update)
        return 200

    # -- the router: every update type ends in the dialogue ------------------------------------
    def _router(self) -> Router:
        router = Router(name="peygir")

        @router.message()
        @router.edited_message()
        async def on_message(message: Message, event_update: Update, channel: str) -> None:
            await self._handle(to_incoming(event_update, channel))

        @router.callback_query()
        async def on_callback(query: CallbackQuery, event_update: Update, channel: str
                              ) -> None:
            await self._handle(to_incoming(event_update, channel))
            try:
                await query.answer()  # stop the button's spinner; harmless if it fails
            except Exception as exc:
                log.debug("answerCallbackQuery failed: %s", exc)

        return router

    async def _handle(self, incoming: IncomingMessage | None) -> None:
        if incoming is None:
            return  # groups, channels and update kinds we leave alone on purpose
        if not self.flood.admit(incoming.chat_id):
            if self.flood.should_warn(incoming.chat_id):
                await self.dialogue.slow_down(incoming)
                self.wake(incoming.channel)
            log.info("flood: dropped update %s", incoming.dedup_key)
            return
        if incoming.attachments and not await self.dialogue.handled_before(incoming.dedup_key):
            incoming = await self._fetch_files(incoming)
        await self.dialogue.handle(incoming)
        self.wake(incoming.channel)
        if any(a.path and a.kind in SPOKEN_KINDS for a in incoming.attachments):
            self.on_speech()

    async def _fetch_files(self, incoming: IncomingMessage) -> IncomingMessage:
        entry = self.by_channel(incoming.channel)
        if entry is None:
            return incoming
        fetched = []
        for item in incoming.attachments:
            try:
                item, data, ext = await fetch_file(entry.bot, item, MAX_DOWNLOAD)
            except TelegramBadRequest as refused:  # "file is too big" and the like
                log.warning("%s: getFile refused %s: %s", entry.channel, item.file_ref, refused)
                item, data, ext = replace(item, too_big="too big" in str(refused).lower()), None, ""
            if data is not None:
                item = await asyncio.to_thread(keep_download, data, item, self.media_dir,
                                               entry.channel, ext)
            fetched.append(item)
        return replace(incoming, attachments=tuple(fetched))

    def wake(self, channel: str | None = None) -> None:
        """New replies are in the outbox for this channel (any bot's when None): deliver now."""
        for entry in self.bots:
            if channel is None or entry.channel == channel:
                entry.outbox.wake.set()

    def routes(self) -> APIRouter:
        """The webhook route (``/bot/{channel}/{path}``); it refuses everything while the bots
        poll (no secret is set then)."""
        return webhook_routes(self)

    # -- intake ------------------------------------------------------------------------------
    async def feed(self, entry: MessengerBot, update: Update) -> None:
        """Handle one update; raises if it could not be handled (so it is not confirmed)."""
        await self.dispatcher.feed_update(entry.bot, update, channel=entry.channel)

    async def handle_batch(self, entry: MessengerBot, updates: list[Update]) -> int | None:
        """Handle a batch; returns the offset that confirms what was handled."""
        by_chat: dict[str, list[Update]] = defaultdict(list)
        for update in updates:
            by_chat[_chat_key(update)].append(update)
        failed: list[int] = []

        async def run_chat(chat_updates: list[Update]) -> None:
            for update in chat_updates:
                try:
                    await self.feed(entry, update)
                except Exception:
                    log.exception("%s: update %d failed; it will come again", entry.channel,
                                  update.update_id)
                    failed.append(update.update_id)
                    return  # later updates of this chat wait for it

        await asyncio.gather(*(run_chat(u) for u in by_chat.values()))
        if failed:
            return min(failed)  # everything from the first failure is delivered again
        return updates[-1].update_id + 1 if updates else entry.offset

    async def poll(self, entry: MessengerBot) -> None:
        delay = 1.0
        lease = f"poll:{entry.channel}"
        while not entry.stopped.is_set():
            # One poller per bot among the processes on one database: the messenger answers
            # a second one 409. The others stand by and take over when the lease frees.
            if not await leases.hold(lease):
                await _sleep_or_stop(entry.stopped, STANDBY)
                continue
            try:
                updates = await entry.bot(GetUpdates(
                    offset=entry.offset, timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES,
                ), request_timeout=POLL_TIMEOUT + 10)
            except TelegramUnauthorizedError:
                log.error("%s: the token was refused (401); this bot stays off", entry.channel)
                return
            except TelegramConflictError as conflict:
                # A webhook is set, or another instance polls with this token.
                log.error("%s: getUpdates conflict: %s", entry.channel, conflict)
                await _sleep_or_stop(entry.stopped, delay)
                delay = min(delay * 2, 60)
                continue
            except Exception as exc:  # network trouble: back off, never crash serve
                log.warning("%s: getUpdates failed (%s); retrying in %.0f s", entry.channel,
                            exc, delay)
                await _sleep_or_stop(entry.stopped, delay)
                delay = min(delay * 2, 60)
                continue
            delay = 1.0
            if updates:
                offset = await self.handle_batch(entry, updates)
                if offset is not None and offset <= updates[0].update_id:
                    await _sleep_or_stop(entry.stopped, 1.0)  # a failing update: do not spin
                entry.offset = offset

    async def start(self) -> None:
        self._tasks = []
        for entry in self.bots:
            entry.stopped = asyncio.Event()  # a fresh one: the bots may be started again
            if self.duties.receive:
                if self.webhook_base:
                    await self._set_webhook(entry)
                else:
                    self._tasks.append(asyncio.create_task(self.poll(entry),
                                                           name=f"{entry.channel}-poll"))
            if self.duties.deliver:
                self._tasks.append(asyncio.create_task(entry.outbox.run(entry.stopped),
                                                       name=f"{entry.channel}-outbox"))

    async def _set_webhook(self, entry: MessengerBot) -> None:
        url = f"{self.webhook_base}/bot/{entry.channel}/{self.webhook_path(entry)}"
        secret = self.header_token(entry) if entry.header_secret else None
        try:
            await entry.bot.set_webhook(url=url, secret_token=secret,
                                        allowed_updates=ALLOWED_UPDATES)
            log.info("%s: webhook set", entry.channel)
        except Exception as exc:
            log.error("%s: setWebhook failed (%s); updates will not arrive", entry.channel, exc)

    async def stop(self) -> None:
        for entry in self.bots:
            entry.stopped.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for entry in self.bots:
            await entry.bot.session.close()


def _chat_key(update: Update) -> str:
    if update.message:
        return str(update.message.chat.id)
    if update.edited_message:
        return str(update.edited_message.chat.id)
    if update.callback_query and update.callback_query.message:
        return str(update.callback_query.message.chat.id)
    return f"update-{update.update_id}"


async def _sleep_or_stop(stopped: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopped.wait(), timeout=seconds)

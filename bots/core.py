"""The parts every channel shares, built once per process from the settings."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bots.dialogue import Dialogue
from bots.relearn import Relearner
from config.pack import Pack, load_pack
from config.settings import Settings
from nlu.classifier import Classifier
from ticket_store import retention
from ticket_store.db import close_db, open_db
from ticket_store.workflow import Workflow

if TYPE_CHECKING:
    from bots.eitaa_push import EitaaPush
    from bots.instagram_bot import InstagramBot
    from bots.telegram_bot import Messengers
    from bots.transcription import TranscriptionWorker

log = logging.getLogger(__name__)


@dataclass
class Core:
    settings: Settings
    pack: Pack
    classifier: Classifier
    dialogue: Dialogue
    workflow: Workflow
    started: bool = field(default=False)

    @classmethod
    def build(cls, settings: Settings | None = None) -> Core:
        """Load the pack and the classifier; raises PackError before anything starts."""
        settings = settings or Settings()
        pack = load_pack(settings.pack)
        classifier = Classifier(pack)
        workflow = Workflow(pack, timezone=settings.timezone)
        dialogue = Dialogue(pack, classifier, workflow=workflow, timezone=settings.timezone)
        return cls(settings, pack, classifier, dialogue, workflow)

    def install_classifier(self, classifier: Classifier) -> None:
        """Put a (re)trained classifier in service: the dialogue reads it for every message,
        so this one assignment swaps it for all of them."""
        self.classifier = classifier
        self.dialogue.classifier = classifier

    def labels_added(self) -> None:
        """New labelled examples were stored here (a subject corrected in the panel)."""
        if self.relearner is not None:
            self.relearner.labels_added()

    async def learn(self) -> None:
        """The city's labelled history (``peygir learn``) and what was learned while running
        join the pack's phrases: trained at start, off the event loop, before any message is
        read; later labels retrain it in the background (bots.relearn)."""
        settings = self.settings
        self.relearner = Relearner(
            self.pack, self.install_classifier, after_labels=settings.retrain_after_labels,
            every=settings.retrain_every, check_interval=settings.retrain_check)
        self.dialogue.on_label = self.relearner.labels_added
        await self.relearner.retrain()

    messengers: Messengers | None = field(default=None)  # Telegram and Bale, when configured
    transcription: TranscriptionWorker | None = field(default=None)
    instagram: InstagramBot | None = field(default=None)  # when PEYGIR_INSTAGRAM_USERNAME is set
    eitaa: EitaaPush | None = field(default=None)  # when PEYGIR_EITAA_TOKEN is set
    _transcription_task: asyncio.Task[None] | None = field(default=None, repr=False)
    relearner: Relearner | None = field(default=None)  # from start on
    _scheduler_task: asyncio.Task[None] | None = field(default=None, repr=False)
    _relearn_task: asyncio.Task[None] | None = field(default=None, repr=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    async def start(self) -> None:
        await open_db(self.settings.database_url)
        await self.learn()
        self.started = True
        self._stopping = asyncio.Event()  # a fresh one: a Core may be started again after stop
        self.messengers = self._messengers()
        if self.messengers:
            await self.messengers.start()
        self.instagram = self._instagram()
        if self.instagram:
            await self.instagram.start()
        self.eitaa = self._eitaa()
        if self.eitaa:
            await self.eitaa.start()
        self._start_transcription()
        self._start_scheduler()
        assert self.relearner is not None
        self._relearn_task = asyncio.create_task(self.relearner.run(self._stopping),
                                                 name="relearn")

    def _start_scheduler(self) -> None:
        from bots.scheduler import Scheduler

        messengers = self.messengers

        def wake_all() -> None:
            for entry in messengers.bots if messengers else ():
                entry.outbox.wake.set()

        scheduler = Scheduler(self.workflow, self.settings.scheduler_interval,
                              on_queued=wake_all,
                              retention_policy=retention.Policy.from_settings(self.settings))
        self._scheduler_task = asyncio.create_task(scheduler.run(self._stopping),
                                                   name="scheduler")

    def _start_transcription(self) -> None:
        from bots.transcription import TranscriptionWorker
        from media_ingest.transcribe import Transcriber

        model = self.settings.whisper_model
        messengers, instagram = self.messengers, self.instagram

        # The city's own words bias what Whisper hears (PEYGIR_WHISPER_HOTWORDS).
        hotwords = self.pack.hotwords if self.settings.whisper_hotwords else None

        def wake(channel: str) -> None:
            if messengers:
                messengers.wake(channel)
            if instagram and channel == instagram.outbox.channel:
                instagram.outbox.wake.set()

        self.transcription = TranscriptionWorker(
            self.dialogue, lambda: Transcriber(model, hotwords=hotwords), on_reply=wake)
        if messengers:
            messengers.on_speech = self.transcription.wake.set
        if instagram:
            instagram.on_speech = self.transcription.wake.set
        self._transcription_task = asyncio.create_task(
            self.transcription.run(self._stopping), name="transcription")

    def _messengers(self) -> Messengers | None:
        """The Telegram and Bale bots whose tokens are set; None when neither is."""
        from bots.telegram_bot import Messengers  # aiogram loads only when a bot is configured

        settings = self.settings
        configured = [
            ("telegram", settings.telegram_token, settings.telegram_api, False),
            # Bale parses Markdown by default (reported in public code), so we escape it.
            ("bale", settings.bale_token, settings.bale_api, True),
        ]
        messengers = Messengers(self.dialogue, media_dir=settings.media_dir)
        for channel, token, api, markdown in configured:
            if token is not None and token.get_secret_value():
                messengers.add(channel, token.get_secret_value(), api,
                               markdown_by_default=markdown)
                log.info("%s bot on %s", channel, api)
        if messengers.bots and settings.webhook_base:
            if settings.webhook_secret is None:
                raise ValueError("PEYGIR_WEBHOOK_BASE needs PEYGIR_WEBHOOK_SECRET as well")
            messengers.use_webhooks(settings.webhook_base,
                                    settings.webhook_secret.get_secret_value())
        return messengers if messengers.bots else None

    def _instagram(self) -> InstagramBot | None:
        """Instagram Direct when a username is set; instagrapi loads only then."""
        settings = self.settings
        if not settings.instagram_username:
            return None
        from bots.instagram_bot import InstagramBot

        password = settings.instagram_password
        log.info("instagram: Direct as %s, polling every %.0f s", settings.instagram_username,
                 settings.instagram_poll_interval)
        return InstagramBot(
            self.dialogue, username=settings.instagram_username,
            password=password.get_secret_value() if password else None,
            session_file=settings.instagram_session, media_dir=settings.media_dir,
            interval=settings.instagram_poll_interval, jitter=settings.instagram_poll_jitter,
            max_backoff=settings.instagram_max_backoff, public_url=settings.public_base,
        )

    def _eitaa(self) -> EitaaPush | None:
        """Eitaa's notifications when its token is set (the mini-app's routes check it too)."""
        token = self.settings.eitaa_token
        if token is None:
            return None
        from bots.eitaa_push import EitaaPush
        from channels.eitaa import EitaaSender

        log.info("eitaa: mini-app at /eitaa, notifications through %s", self.settings.eitaa_api)
        return EitaaPush(EitaaSender(token.get_secret_value(), self.settings.eitaa_api,
                                     public_url=self.settings.public_base),
                         push_after=self.settings.eitaa_push_after)

    async def stop(self) -> None:
        self._stopping.set()
        if self._relearn_task is not None:
            self._relearn_task.cancel()
            await asyncio.gather(self._relearn_task, return_exceptions=True)
            self._relearn_task = None
        if self._scheduler_task is not None:
            self._scheduler_task.cancel()
            await asyncio.gather(self._scheduler_task, return_exceptions=True)
            self._scheduler_task = None
        if self._transcription_task is not None:
            self._transcription_task.cancel()
            await asyncio.gather(self._transcription_task, return_exceptions=True)
            self._transcription_task = None
        if self.messengers:
            await self.messengers.stop()
            self.messengers = None
        if self.instagram:
            await self.instagram.stop()
            self.instagram = None
        if self.eitaa:
            await self.eitaa.stop()
            self.eitaa = None
        if self.started:
            await close_db()
            self.started = False

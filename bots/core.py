"""The parts every channel shares, built once per process from the settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from peygir.bots.relearn import Relearner
from peygir.channels.base import Duties
from peygir.config import loop
from peygir.config.pack import Pack, load_pack
from peygir.config.roles import Role
from peygir.config.settings import Settings
from peygir.conversation.dialogue import Dialogue
from peygir.conversation.geocode import Geocoder
from peygir.conversation.notices import Notices
from peygir.media_ingest.links import MediaLinks
from peygir.nlu.classifier import Classifier
from peygir.nlu.learned import one_blas_thread
from peygir.ticket_store import leases, retention
from peygir.ticket_store.db import close_db, open_db
from peygir.ticket_store.workflow import Workflow

if TYPE_CHECKING:
    from peygir.bots.forwarder import Forwarder
    from peygir.bots.transcription import TranscriptionWorker
    from peygir.channels.base import Channel

log = logging.getLogger(__name__)

ALIVE_EVERY = 2.0  # seconds between checks that this process's liveness lock is held


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
        one_blas_thread()  # a message's few hundred rows: threads only wait
        # The matcher alone, at once: the learned model (from the pack's phrases and any
        # history) is fitted in the background when the process starts (bots.relearn).
        classifier = Classifier(pack, learned_weight=0)
        workflow = Workflow(pack, voice=Notices(pack, settings.timezone),
                            timezone=settings.timezone)
        dialogue = Dialogue(pack, classifier, workflow=workflow, timezone=settings.timezone)
        if settings.geocoder:
            dialogue.geocoder = Geocoder(
                settings.geocoder, pack.city, timeout=settings.geocoder_timeout,
                interval=settings.geocoder_interval, user_agent=settings.geocoder_agent)
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

    def _relearner(self) -> Relearner:
        if self.relearner is None:  # once per Core: a restarted one keeps what it learned
            settings = self.settings
            # Until history is trained, the pack alone serves: the classifier built above.
            self.relearner = Relearner(
                self.pack, self.classifier, self.install_classifier,
                after_labels=settings.retrain_after_labels, every=settings.retrain_every,
                check_interval=settings.retrain_check)
            self.dialogue.on_label = self.relearner.labels_added
        return self.relearner

    async def learn(self) -> None:
        """Train on the city's labelled history (``peygir learn``) and what was learned while
        running, off the event loop, and wait for it. ``start`` does not wait: the pack alone
        serves until this first training is done (minutes for a 2,000-entry pack), then
        later labels retrain it in the background (bots.relearn)."""
        relearner = self._relearner()
        if relearner.history_trained:
            await relearner.retrain()
        else:
            await relearner.first()

    async def trained(self) -> None:
        """Wait until the history stored at start serves (at once when nothing learns here)."""
        if self.relearner is not None:
            await self.relearner.first_done.wait()

    @property
    def classifies(self) -> bool:
        """Whether this process reads citizens' messages (web chat and webhooks, polling, or
        transcripts): only then is a learned model worth its training time and memory."""
        return bool(self.settings.roles & {Role.WEB, Role.BOTS, Role.WORKER})

    # The web chat, and each messenger whose settings are there (built with the Core, so the
    # web app can mount their routes before anything starts; started and stopped with it).
    channels: list[Channel] = field(default_factory=list)
    transcription: TranscriptionWorker | None = field(default=None)
    relearner: Relearner | None = field(default=None)  # from start on
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    forwarder: Forwarder | None = field(default=None, repr=False)  # with endpoints.yaml
    # This process's background tasks (scheduler, transcription, relearn, forwarder, …).
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if not self.channels:
            self.channels = self.build_channels()

    CHANNELS = ("web", "telegram", "instagram", "eitaa")  # the order their routes are mounted

    def build_channel(self, name: str) -> Channel | None:
        """The channel ``name`` as the settings configure it; None when they leave it off.
        Each package imports its messenger's library only when it is configured."""
        if name == "web":
            from peygir.channels import webchat

            return webchat.from_settings(self.settings, self.dialogue)
        if name == "telegram":
            from peygir.channels import telegram

            return telegram.from_settings(self.settings, self.dialogue)
        if name == "instagram":
            from peygir.channels import instagram

            return instagram.from_settings(self.settings, self.dialogue)
        if name == "eitaa":
            from peygir.channels import eitaa

            return eitaa.from_settings(self.settings, self.dialogue)
        raise ValueError(f"no channel named {name!r}")

    def build_channels(self) -> list[Channel]:
        built = (self.build_channel(name) for name in self.CHANNELS)
        return [channel for channel in built if channel is not None]

    def channel(self, name: str) -> Channel | None:
        """The configured channel of this name ("telegram" for Telegram and Bale)."""
        return next((c for c in self.channels if c.name == name), None)

    def wake(self, channel: str | None = None) -> None:
        """Replies wait in the outbox for ``channel`` (for every channel when None)."""
        for each in self.channels:
            each.wake(channel)

    def workers(self) -> dict[str, bool]:
        """This process's background tasks by name, and whether each is still running (for
        /readyz: a task that ended while the process runs has crashed or was stopped)."""
        return {task.get_name(): not task.done() for task in self._tasks}

    def task(self, name: str) -> asyncio.Task[None] | None:
        """The running background task of this name ("scheduler", "transcription", …)."""
        return next((task for task in self._tasks if task.get_name() == name), None)

    def _run(self, work: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(work, name=name))

    def pulled_channels(self) -> list[str]:
        """Channels with no worker of their own (the web chat): their replies wait in the
        outbox until the citizen's page fetches them, however long that takes."""
        from peygir.channels.base import Quiet

        return [channel.name for channel in self.channels if isinstance(channel, Quiet)]

    async def start(self) -> None:
        """Open the database and start what this process's roles ask for (config/roles.py):
        ``bots`` polls the messengers, ``bots`` and ``worker`` deliver the outbox, ``worker``
        transcribes and forwards, ``scheduler`` runs the deadlines. Every process that handles
        a message learns, in the background: the pack alone answers until it has trained."""
        roles = self.settings.roles
        await open_db(self.settings.database_url)
        await leases.announce()  # alive, before anything is claimed under this process's name
        if self.classifies:
            self._relearner()
        self.started = True
        self._stopping = asyncio.Event()  # a fresh one: a Core may be started again after stop
        duties = Duties(receive=Role.BOTS in roles,
                        deliver=Role.BOTS in roles or Role.WORKER in roles)
        for channel in self.channels:
            channel.duties = duties
            await channel.start()
        self._start_transcription(run=Role.WORKER in roles)
        if Role.SCHEDULER in roles:
            self._start_scheduler()
        if Role.WORKER in roles:
            self._start_interop()
        if self.relearner is not None:  # trains on the stored history first, then follows
            self._run(self.relearner.run(self._stopping), "relearn")
        if leases.database_shared():
            # Others recover what a dead process claimed: keep showing this one alive.
            self._run(loop.work("liveness", leases.announce, self._stopping, ALIVE_EVERY),
                      "liveness")

    def _start_scheduler(self) -> None:
        from peygir.bots.scheduler import Scheduler

        scheduler = Scheduler(self.workflow, self.settings.scheduler_interval,
                              on_queued=self.wake,
                              retention_policy=retention.Policy.from_settings(self.settings),
                              alert_digest_hour=self.settings.alert_digest_hour,
                              public_location_decimals=self.settings.public_location_decimals)
        self._run(scheduler.run(self._stopping), "scheduler")

    def _start_interop(self) -> None:
        """The forwarder to the city's back office (when the pack names one) and the webhook
        sender (issue 19)."""
        from peygir.bots.forwarder import Forwarder
        from peygir.bots.webhook_sender import WebhookSender

        settings = self.settings
        if self.pack.endpoints:
            self.forwarder = Forwarder(
                self.workflow, self.pack.endpoints, send_interval=settings.forward_interval,
                fetch_interval=settings.forward_fetch_interval,
                max_delay=settings.forward_max_delay, on_queued=self.wake,
                media_links=MediaLinks.from_settings(settings))
            self._run(self.forwarder.run(self._stopping), "forwarder")
        sender = WebhookSender(interval=settings.webhook_interval)
        self._run(sender.run(self._stopping), "webhooks")

    def _start_transcription(self, *, run: bool) -> None:
        """The transcription worker; every role wakes it, only ``worker`` runs it (elsewhere
        a voice note waits for a worker process, which looks at the queue every second)."""
        from peygir.bots.transcription import TranscriptionWorker
        from peygir.media_ingest.transcribe import Transcriber

        model = self.settings.whisper_model

        # The city's own words bias what Whisper hears (PEYGIR_WHISPER_HOTWORDS).
        hotwords = self.pack.hotwords if self.settings.whisper_hotwords else None

        self.transcription = TranscriptionWorker(
            self.dialogue, lambda: Transcriber(model, hotwords=hotwords), on_reply=self.wake,
            stale_after=self.settings.transcription_timeout)
        for channel in self.channels:
            channel.on_speech = self.transcription.wake.set
        if run:
            self._run(self.transcription.run(self._stopping), "transcription")

    async def stop(self) -> None:
        self._stopping.set()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for channel in self.channels:
            await channel.stop()
        if self.started:
            await close_db()
            self.started = False

"""The parts every channel shares, built once per process from the settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from bots.dialogue import Dialogue
from config.pack import Pack, load_pack
from config.settings import Settings
from nlu.classifier import Classifier
from ticket_store.db import close_db, open_db


@dataclass
class Core:
    settings: Settings
    pack: Pack
    classifier: Classifier
    dialogue: Dialogue
    started: bool = field(default=False)

    @classmethod
    def build(cls, settings: Settings | None = None) -> Core:
        """Load the pack and the classifier; raises PackError before anything starts."""
        settings = settings or Settings()
        pack = load_pack(settings.pack)
        classifier = Classifier(pack)
        dialogue = Dialogue(pack, classifier, timezone=settings.timezone)
        return cls(settings, pack, classifier, dialogue)

    async def start(self) -> None:
        await open_db(self.settings.database_url)
        self.started = True

    async def stop(self) -> None:
        if self.started:
            await close_db()
            self.started = False

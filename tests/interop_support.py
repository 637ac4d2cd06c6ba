"""Helpers for the interop tests (issue 19): a copy of the built-in pack with endpoints.yaml,
the memory channel over a workflow with a test clock, and a citizen's report."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from peygir.channels.memory import MemoryChannel
from peygir.config.pack import DEFAULT_PACK_DIR, Pack, load_pack
from peygir.conversation.dialogue import Dialogue
from peygir.conversation.notices import Notices
from peygir.messages.types import Reply
from peygir.nlu.classifier import Classifier
from peygir.ticket_store.workflow import Workflow

IN_R1 = (34.82, 48.49)  # district r1 of the built-in pack


def spot(i: int) -> tuple[float, float]:
    """Places about 110 m apart in district r1: reports there are not duplicates."""
    return (IN_R1[0] + 0.001 * (i % 10), IN_R1[1] - 0.001 * (i // 10))


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def pack_with_endpoints(folder: Path, *endpoints: dict[str, object]) -> Pack:
    shutil.copytree(DEFAULT_PACK_DIR, folder, dirs_exist_ok=True)
    (folder / "endpoints.yaml").write_text(
        yaml.safe_dump({"endpoints": list(endpoints)}, allow_unicode=True), encoding="utf-8")
    return load_pack(folder)


def front_door(pack: Pack, classifier: Classifier, clock: Clock) -> MemoryChannel:
    workflow = Workflow(pack, voice=Notices(pack), clock=clock)
    return MemoryChannel(Dialogue(pack, classifier, workflow=workflow, clock=clock))


async def report(chat: MemoryChannel, who: str, service: str, where: tuple[float, float],
                 text: str = "یه مشکل اینجا هست لطفا رسیدگی کنید") -> list[Reply]:
    await chat.say(who, text)
    await chat.say(who, callback=f"svc:{service}")
    await chat.say(who, location=where)
    return await chat.say(who, callback="confirm")

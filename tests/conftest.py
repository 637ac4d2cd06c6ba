"""Shared fixtures: the two packs, and a real database (SQLite file and PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest

from peygir.channels.memory import MemoryChannel
from peygir.config.pack import DEFAULT_PACK_DIR, Pack, load_pack
from peygir.conversation.dialogue import Dialogue
from peygir.media_ingest.whisper_model import assemble_base
from peygir.nlu.classifier import Classifier
from peygir.ticket_store.db import close_db, open_db

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PEYGIR_SHARED", ROOT.parent / "shared"))
EVAL_PACK = SHARED / "eval" / "pack"
DEV_SET = SHARED / "eval" / "dev.jsonl"
# The second city's pack and the dev set live beside the clone (CI has them). Without them
# only the checks about that pack or that set skip; the rest run on the built-in pack.
EVAL_ABSENT = f"../shared/eval is absent (no second city's pack or dev set at {SHARED / 'eval'})"
PG_ADMIN = os.environ.get("PEYGIR_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def default_pack() -> Pack:
    return load_pack()


@pytest.fixture(scope="session")
def eval_pack() -> Pack:
    if not EVAL_PACK.is_dir():
        pytest.skip(EVAL_ABSENT)
    return load_pack(EVAL_PACK)


@pytest.fixture(scope="session")
def eval_classifier(eval_pack: Pack) -> Classifier:
    return Classifier(eval_pack)


@pytest.fixture(scope="session")
def default_classifier(default_pack: Pack) -> Classifier:
    return Classifier(default_pack)


def pack_dir(which: str) -> Path:
    """The folder of the "default" or the "eval" pack; skips for "eval" when it is absent."""
    if which == "default":
        return Path(DEFAULT_PACK_DIR)
    if not EVAL_PACK.is_dir():
        pytest.skip(EVAL_ABSENT)
    return EVAL_PACK


@pytest.fixture(scope="session", params=["default", "eval"])
def any_pack(request: pytest.FixtureRequest) -> Pack:
    """Each pack in turn, for checks that hold for any city's pack."""
    pack: Pack = request.getfixturevalue(f"{request.param}_pack")
    return pack


@pytest.fixture(scope="session")
def any_classifier(request: pytest.FixtureRequest, any_pack: Pack, default_pack: Pack
                   ) -> Classifier:
    """The classifier of ``any_pack``."""
    which = "default" if any_pack is default_pack else "eval"
    classifier: Classifier = request.getfixturevalue(f"{which}_classifier")
    return classifier


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A throw-away PostgreSQL database for this test run, dropped at the end."""
    name = f"peygir_test_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def run(sql: str) -> None:
        # Its own thread and loop: this fixture may be first asked for inside a running loop.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, admin(sql)).result()

    run(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _reset_postgres(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of each kind; the test opens it (and may reopen it)."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'peygir.db'}"
    else:
        url = request.getfixturevalue("postgres_database")
        await _reset_postgres(url)
        yield url
    await close_db()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[str]:
    """A migrated, connected database of each kind."""
    await open_db(database_url)
    yield database_url


@pytest.fixture
def dialogue(db: str, default_pack: Pack, default_classifier: Classifier) -> Dialogue:
    return Dialogue(default_pack, default_classifier)


@pytest.fixture
def chat(dialogue: Dialogue) -> MemoryChannel:
    return MemoryChannel(dialogue)


SPOKEN = "سلام، درخت بزرگ کوچه ما افتاده و راه را بسته است"


@pytest.fixture(scope="session")
def whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return assemble_base(tmp_path_factory.mktemp("whisper") / "base")


@pytest.fixture(scope="session")
def voice_note(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Persian voice note as Telegram sends it: OGG/Opus, spoken by espeak-ng."""
    if not (shutil.which("espeak-ng") and shutil.which("ffmpeg")):
        pytest.fail("espeak-ng and ffmpeg are needed (scripts/test.sh installs them)")
    folder = tmp_path_factory.mktemp("voice")
    wav, ogg = folder / "note.wav", folder / "note.ogg"
    subprocess.run(["espeak-ng", "-v", "fa", "-s", "140", "-w", str(wav), SPOKEN], check=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-c:a", "libopus",
                    "-b:a", "24k", str(ogg)], check=True)
    return ogg



"""`peygir learn` and the examples store, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import codecs
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tortoise import connections

from peygir.bots.learn import Unreadable, read_labels
from peygir.config.pack import Pack
from peygir.nlu.normalize import normalize
from peygir.ticket_store.db import APP, close_db, migrate_to, open_db
from peygir.ticket_store.examples import (
    AddResult,
    Example,
    NewExample,
    add_examples,
    count_examples,
    load_examples,
)
from peygir.ticket_store.models import LabelledExample
from tests.conftest import DEV_SET, EVAL_ABSENT, EVAL_PACK, ROOT, pack_dir

# Messages written for these tests (none is from the evaluation set).
LAMP = "چراغ‌های کوچه ما سه شب است خاموش است"
TREE = "شاخه درخت روی سیم برق افتاده"


def _dev_set() -> Path:
    if not DEV_SET.is_file():
        pytest.skip(EVAL_ABSENT)
    return DEV_SET


def _dev_counts() -> tuple[int, int]:
    """(labelled lines, other lines) of the evaluation set, read as the file has them today."""
    kinds = [json.loads(line)["expect"]["kind"]
             for line in _dev_set().read_text("utf-8").splitlines() if line.strip()]
    labelled = sum(kind in ("service", "faq") for kind in kinds)
    return labelled, len(kinds) - labelled


def _service(pack: Pack) -> str:
    return next(s.service_code for s in pack.services if not s.is_referral)


async def test_the_evaluation_set_goes_in_once(db: str, eval_pack: Pack) -> None:
    labelled, others = _dev_counts()
    read = read_labels(str(_dev_set()), eval_pack)
    assert read.problems == []
    assert (len(read.rows), read.not_labels) == (labelled, others)

    first = await add_examples(read.rows, normalise=normalize, batch_size=50)
    assert first == AddResult(added=labelled, duplicates=0)
    again = await add_examples(read_labels(str(DEV_SET), eval_pack).rows, normalise=normalize)
    assert again == AddResult(added=0, duplicates=labelled)
    assert await count_examples() == labelled
    stored = await load_examples()
    assert [(e.text, e.kind, e.key) for e in stored] == [(r.text, r.kind, r.key)
                                                          for r in read.rows]
    assert {e.weight for e in stored} == {1.0}


async def test_a_csv_names_its_bad_lines_and_imports_the_rest(
        db: str, any_pack: Pack, tmp_path: Path) -> None:
    code = _service(any_pack)
    path = tmp_path / "history.csv"
    path.write_bytes(codecs.BOM_UTF8 + (  # as Excel saves "CSV UTF-8"
        "text,service_code\n"
        f"{LAMP},{code}\n"              # 2: good
        f"{TREE},no_such_service\n"      # 3: unknown code
        f"  ,{code}\n"                   # 4: empty text
        f"{TREE}\n"                      # 5: the code column is missing
        "\n"                             # 6: blank, ignored
        f'"{TREE}, again",{code}\n'      # 7: good, with a quoted comma
        f"{TREE},{code},extra\n"         # 8: one column too many
    ).encode())
    read = read_labels(str(path), any_pack)
    assert read.problems == [
        f"{path}:3: unknown service code 'no_such_service' (not in the pack)",
        f"{path}:4: empty text",
        f"{path}:5: missing column 'service_code'",
        f"{path}:8: 3 columns, the header has 2 (quote a text that has a comma)",
    ]
    assert [(r.text, r.kind, r.key) for r in read.rows] == [
        (LAMP, "service", code), (f"{TREE}, again", "service", code)]
    assert await add_examples(read.rows, normalise=normalize) == AddResult(2, 0)


async def test_a_csv_of_faq_ids(db: str, any_pack: Pack, tmp_path: Path) -> None:
    faq = any_pack.faqs[0].id
    path = tmp_path / "faq.csv"
    path.write_text(f"faq_id,text\n{faq},{LAMP}\nnope,{TREE}\n", "utf-8")
    read = read_labels(str(path), any_pack)
    assert read.problems == [f"{path}:3: unknown FAQ id 'nope' (not in the pack)"]
    assert [(r.kind, r.key) for r in read.rows] == [("faq", faq)]


def test_jsonl_lines_are_checked(any_pack: Pack, tmp_path: Path) -> None:
    code, faq = _service(any_pack), any_pack.faqs[0].id
    lines = [
        {"text": LAMP, "expect": {"kind": "service", "code": code}},
        "{not json",
        {"expect": {"kind": "service", "code": code}},
        {"text": TREE, "expect": {"kind": "service"}},
        {"text": TREE, "expect": {"kind": "faq", "id": "nope"}},
        {"text": "ب" * 4001, "expect": {"kind": "faq", "id": faq}},
        {"text": "سلام", "expect": {"kind": "greeting"}},
        {"text": TREE, "expect": {"kind": "servise", "code": code}},
        [1, 2],
        {"text": TREE, "expect": {"kind": "faq", "id": faq}},
    ]
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line)
                              for line in lines) + "\n", "utf-8")
    read = read_labels(str(path), any_pack)
    assert read.problems == [
        f"{path}:2: not valid JSON",
        f"{path}:3: missing field 'text'",
        f"{path}:4: missing field 'expect.code'",
        f"{path}:5: unknown FAQ id 'nope' (not in the pack)",
        f"{path}:6: text longer than 4000 characters (4001)",
        f'{path}:8: unknown kind "servise" (service or faq)',
        f"{path}:9: not a JSON object",
    ]
    assert read.not_labels == 1
    assert [(r.kind, r.key) for r in read.rows] == [("service", code), ("faq", faq)]


def test_a_file_that_cannot_be_read_stops_the_command(any_pack: Pack, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("just some notes\n", "utf-8")
    latin1 = tmp_path / "old.csv"
    latin1.write_bytes(b"text,service_code\n\xe9t\xe9,x\n")
    for path, reason in ((tmp_path / "absent.jsonl", "no such file"),
                         (notes, "neither JSONL nor CSV"), (latin1, "not UTF-8 text"),
                         (tmp_path, "is a folder")):
        with pytest.raises(Unreadable, match=reason):
            read_labels(str(path), any_pack)


async def test_two_spellings_of_one_message_are_one_example(db: str) -> None:
    arabic = LAMP.replace("ی", "ي").replace("ک", "ك")  # Arabic yeh and kaf, as some keyboards
    rows = [NewExample(LAMP, "service", "lights"), NewExample(arabic, "service", "lights"),
            NewExample(LAMP, "service", "trees"), NewExample(LAMP, "faq", "lights")]
    assert await add_examples(rows, normalise=normalize) == AddResult(added=3, duplicates=1)


async def test_load_examples_is_in_the_order_they_came(db: str) -> None:
    rows = [NewExample(f"{TREE} {n}", "service", f"s{n % 7}",
                       source="citizen" if n % 2 else "operator") for n in range(40, 0, -1)]
    assert (await add_examples(rows, normalise=normalize, batch_size=9)).added == 40
    expected = [Example(r.text, r.kind, r.key, 0.5 if r.source == "citizen" else 1.0)
                for r in rows]
    loaded = await load_examples()
    assert loaded == expected
    assert await load_examples() == loaded  # the same list every time
    assert all(type(e.kind) is str for e in loaded)  # plain strings, not the store's enums


async def test_the_upgrade_from_0008_adds_the_examples_table(database_url: str) -> None:
    await migrate_to(database_url, f"{APP}.0008_privacy")
    await open_db(database_url, upgrade=False)
    with pytest.raises(Exception):  # noqa: B017 - each engine words "no such table" its own way
        await LabelledExample.all().count()
    await close_db()
    await open_db(database_url)
    assert await add_examples([NewExample(LAMP, "service", "lights")],
                              normalise=normalize) == AddResult(1, 0)
    with pytest.raises(Exception):  # noqa: B017 - the digest is unique in the schema itself
        await connections.get("default").execute_script(
            "INSERT INTO labelled_example (text, kind, key, source, weight, digest, created_at) "
            "SELECT text, kind, key, source, weight, digest, created_at FROM labelled_example")
    await migrate_to(database_url, f"{APP}.0008_privacy")  # and back down
    await open_db(database_url, upgrade=False)
    with pytest.raises(Exception):  # noqa: B017
        await LabelledExample.all().count()


def _peygir(*args: str, database_url: str, cwd: Path,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PEYGIR_DATABASE_URL": database_url}
    env.pop("PEYGIR_PACK", None)
    return subprocess.run([sys.executable, "-m", "peygir", *args], input=stdin, env=env,
                          cwd=cwd, capture_output=True, text=True, timeout=120)


async def test_peygir_learn_end_to_end(database_url: str, eval_pack: Pack,
                                       tmp_path: Path) -> None:
    labelled, others = _dev_counts()
    code = _service(eval_pack)
    extra = tmp_path / "extra.csv"
    extra.write_text(f"text,service_code\n{LAMP},{code}\n{TREE},no_such_service\n", "utf-8")
    args = ("learn", "--pack", str(EVAL_PACK), str(DEV_SET), str(extra))

    first = _peygir(*args, database_url=database_url, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stderr.splitlines() == [
        f"{extra}:3: unknown service code 'no_such_service' (not in the pack)",
        f"learned: {labelled + 1} added, 0 already known, 1 skipped (bad), {others} not labels",
    ]
    assert first.stdout == ""
    again = _peygir(*args, database_url=database_url, cwd=tmp_path)
    assert (again.returncode, again.stderr.splitlines()[-1]) == (
        0, f"learned: 0 added, {labelled + 1} already known, 1 skipped (bad), "
           f"{others} not labels")

    missing = _peygir("learn", "--pack", str(EVAL_PACK), str(extra), str(tmp_path / "no.csv"),
                      database_url=database_url, cwd=tmp_path)
    assert (missing.returncode, missing.stderr) == (2, f"peygir: {tmp_path / 'no.csv'}: "
                                                       "no such file\n")
    notes = tmp_path / "notes.txt"
    notes.write_text("just some notes\n", "utf-8")
    wrong = _peygir("learn", str(notes), database_url=database_url, cwd=tmp_path)
    assert wrong.returncode == 2 and len(wrong.stderr.splitlines()) == 1

    await open_db(database_url)
    assert await count_examples() == labelled + 1  # the failed runs wrote nothing

    answer = _peygir("classify", "--pack", str(EVAL_PACK), database_url=database_url,
                     cwd=tmp_path, stdin=LAMP + "\n")
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["kind"] in ("service", "faq", "unknown")
    assert "Tortoise-ORM" not in answer.stderr


@pytest.mark.parametrize("pack", ["default", "eval"])
def test_classify_creates_no_database(pack: str, tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'absent.db'}"
    answer = _peygir("classify", "--pack", str(pack_dir(pack)), database_url=url, cwd=tmp_path,
                     stdin=TREE + "\n")
    assert answer.returncode == 0, answer.stderr
    assert list(tmp_path.iterdir()) == []


async def test_serve_answers_with_the_history_in_its_database(
        database_url: str, tmp_path: Path) -> None:
    """What `peygir learn` put in the database reaches `peygir serve`: Core trains on it at
    start, and the next citizen who writes like that history is offered its service."""
    from peygir.bots.core import Core
    from peygir.channels.memory import MemoryChannel
    from peygir.config.settings import Settings
    from tests.test_learned import HISTORY, MESSAGE

    async def offered(core: Core, chat: str, update: int) -> str:
        await core.start()
        try:
            await core.trained()  # the pack alone answers until the history is trained
            channel = MemoryChannel(core.dialogue)
            replies = await channel.send(channel.message(chat, MESSAGE, update_id=update))
            return json.dumps([r.to_payload() for r in replies], ensure_ascii=False)
        finally:
            await core.stop()

    settings = Settings(database_url=database_url, media_dir=tmp_path / "media")
    core = Core.build(settings)
    before = await offered(core, "before", 1)
    assert core.classifier.cold  # the pack's own phrases only
    await open_db(database_url)
    await add_examples([NewExample(text, "service", "asphalt") for text in HISTORY],
                       normalise=normalize)
    await close_db()
    core = Core.build(settings)
    after = await offered(core, "after", 2)
    assert core.classifier.learned is not None and core.dialogue.classifier is core.classifier
    assert core.classifier.learned.trained_on == len(HISTORY)
    asphalt = next(s for s in core.pack.services if s.service_code == "asphalt").service_name
    assert asphalt not in before and asphalt in after, (before, after)


async def test_start_answers_with_the_pack_while_the_history_trains(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 2,000-entry pack with history takes minutes to train: `peygir serve` answers with
    the pack alone meanwhile, and the learned model serves once it is ready."""
    import threading

    from peygir.bots.core import Core
    from peygir.bots.relearn import Relearner
    from peygir.channels.memory import MemoryChannel
    from peygir.config.settings import Settings
    from tests.test_learned import HISTORY, MESSAGE

    await open_db(database_url)
    await add_examples([NewExample(text, "service", "asphalt") for text in HISTORY],
                       normalise=normalize)
    await close_db()
    release = threading.Event()
    train = Relearner._train

    def slow_train(self: Relearner, rows):  # type: ignore[no-untyped-def]
        assert release.wait(30), "the test never let training finish"
        return train(self, rows)

    monkeypatch.setattr(Relearner, "_train", slow_train)
    core = Core.build(Settings(database_url=database_url, media_dir=tmp_path / "media"))
    await core.start()
    try:
        channel = MemoryChannel(core.dialogue)
        meanwhile = await channel.send(channel.message("early", MESSAGE, update_id=1))
        assert meanwhile and core.classifier.learned is None  # answered by the pack alone
        assert not core.relearner.first_done.is_set()  # type: ignore[union-attr]
        release.set()
        await asyncio.wait_for(core.trained(), 30)
        assert core.classifier.learned is not None and core.dialogue.classifier is core.classifier
        assert core.classifier.learned.trained_on == len(HISTORY)
        later = await channel.send(channel.message("later", MESSAGE, update_id=2))
        asphalt = next(s for s in core.pack.services if s.service_code == "asphalt").service_name
        assert asphalt in json.dumps([r.to_payload() for r in later], ensure_ascii=False)
    finally:
        release.set()
        await core.stop()


async def test_a_scheduler_only_process_does_not_train(
        postgres_database: str, tmp_path: Path) -> None:
    """The scheduler reads no citizen's message, so it spends no time or memory on a model."""
    from peygir.bots.core import Core
    from peygir.config.settings import Settings
    from tests.conftest import _reset_postgres

    await _reset_postgres(postgres_database)
    core = Core.build(Settings(database_url=postgres_database, media_dir=tmp_path / "media",
                               role="scheduler"))
    await core.start()
    try:
        await asyncio.wait_for(core.trained(), 5)
        assert core.relearner is None and core.task("relearn") is None
        assert core.task("scheduler") is not None
    finally:
        await core.stop()

"""What an IT team meets on day one with `peygir`: each expected trouble is one plain line that
says what to do, a non-zero exit and no traceback; and no «Tortoise-ORM shutdown» chatter."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from peygir.bots.transcription import TranscriptionWorker
from peygir.channels.memory import MemoryChannel
from peygir.conversation.dialogue import Dialogue
from peygir.media_ingest.intake import store_by_hash
from peygir.media_ingest.transcribe import NoAudio, Transcriber, check_audio
from peygir.media_ingest.whisper_model import ModelMissing
from peygir.messages.types import Attachment
from peygir.ticket_store.models import TranscriptionJob

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "a long enough password"


def peygir(*args: str, cwd: Path, stdin: str | None = None,
           **env: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a clean folder (no .env), stdin a pipe or /dev/null: never a terminal."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("PEYGIR_", "HF_", "HUGGINGFACE_"))}
    clean.update(PYTHONPATH=str(ROOT), PEYGIR_DATABASE_URL=f"sqlite://{cwd / 'peygir.db'}",
                 **env)
    return subprocess.run([sys.executable, "-m", "peygir", *args], cwd=cwd, env=clean,
                          input=stdin, stdin=subprocess.DEVNULL if stdin is None else None,
                          capture_output=True, text=True, timeout=120)


def one_plain_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("peygir: "), stderr
    return lines[0]


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    path = tmp_path / "pothole.jpg"
    Image.new("RGB", (32, 24), "gray").save(path, "JPEG")
    return path


# 1. No Whisper model


def test_transcribe_without_a_model_says_how_to_get_one(tmp_path: Path, picture: Path) -> None:
    # The hub's "base" named, no hub to fetch it from, nothing in the hub's cache.
    result = peygir("transcribe", str(picture), cwd=tmp_path, HF_HUB_OFFLINE="1",
                    HF_HOME=str(tmp_path / "hf"), PEYGIR_WHISPER_MODEL="base")
    assert result.returncode != 0
    assert result.stdout == ""
    line = one_plain_line(result.stderr)
    assert "no Whisper model" in line
    assert "peygir whisper assemble" in line and "PEYGIR_WHISPER_MODEL" in line


def test_with_no_model_named_the_pypi_base_is_assembled_and_used(
    tmp_path: Path, voice_note: Path,
) -> None:
    # The offline-model extra is installed here (the test extra holds it); no hub either.
    cache = tmp_path / "cache"
    result = peygir("transcribe", str(voice_note), cwd=tmp_path, HF_HUB_OFFLINE="1",
                    HF_HOME=str(tmp_path / "hf"), XDG_CACHE_HOME=str(cache))
    assert result.returncode == 0, result.stderr
    [row] = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["file"] == str(voice_note) and row["text"].strip() and row["duration"] > 1
    assert (cache / "peygir" / "whisper-base" / "model.bin").stat().st_size > 100_000_000
    assert "Traceback" not in result.stderr


def test_transcribe_with_a_model_folder_that_is_not_there(tmp_path: Path, picture: Path) -> None:
    result = peygir("transcribe", str(picture), cwd=tmp_path,
                    PEYGIR_WHISPER_MODEL="./models/whisper-base")
    assert result.returncode != 0
    line = one_plain_line(result.stderr)
    assert "./models/whisper-base" in line and "peygir whisper assemble" in line


def test_an_unknown_model_name_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelMissing, match="neither a model folder nor a Whisper model name"):
        Transcriber("no-such-size").model  # noqa: B018


async def test_serve_logs_one_plain_line_when_the_model_cannot_be_fetched(
    chat: MemoryChannel, dialogue: Dialogue, voice_note: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    import faster_whisper.transcribe
    from huggingface_hub.errors import LocalEntryNotFoundError

    def offline(*args: object, **kwargs: object) -> str:
        raise LocalEntryNotFoundError("Got: ConnectError: [Errno -2] Name or service not known\n"
                                      "An error happened while trying to locate the files")

    monkeypatch.setattr(faster_whisper.transcribe, "download_model", offline)
    stored = store_by_hash(voice_note, tmp_path / "media")
    voice = Attachment("voice", "file-nm", "audio/ogg", stored.stat().st_size, 4.0,
                       path=str(stored))
    await chat.send(chat.message("nm", attachments=(voice,)))
    worker = TranscriptionWorker(dialogue, lambda: Transcriber("base"))
    with caplog.at_level(logging.WARNING, logger="peygir.bots.transcription"):
        assert await worker.run_once()
    [record] = [r for r in caplog.records if r.name == "peygir.bots.transcription"]
    logged = record.getMessage()
    assert "\n" not in logged and record.exc_info is None
    assert "no Whisper model" in logged and "peygir whisper assemble" in logged
    assert "ModelMissing" in ((await TranscriptionJob.get(chat_id="nm")).error or "")


# 2. A file with no audio


def test_a_picture_has_no_audio(whisper_dir: Path, picture: Path, tmp_path: Path) -> None:
    result = peygir("transcribe", "--model", str(whisper_dir), str(picture), cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "IndexError" not in result.stdout
    [row] = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["file"] == str(picture)
    assert row["error"].startswith(f"{picture} has no audio"), row


def test_files_without_audio_are_named_before_decoding(tmp_path: Path, picture: Path) -> None:
    text, empty = tmp_path / "notes.txt", tmp_path / "empty.ogg"
    text.write_text("not a recording\n" * 20)
    empty.write_bytes(b"")
    for path in (picture, text, empty):
        with pytest.raises(NoAudio, match="no audio"):
            check_audio(path)


# 3. A password without a terminal


def test_users_add_without_a_terminal_says_how_to_give_the_password(tmp_path: Path) -> None:
    result = peygir("users", "add", "sara", "--role", "operator", cwd=tmp_path)
    assert result.returncode != 0
    line = one_plain_line(result.stderr)
    assert "--password-stdin" in line and "EOFError" not in line
    assert not (tmp_path / "peygir.db").exists()  # refused before the database is touched
    empty = peygir("users", "add", "sara", "--role", "operator", "--password-stdin",
                   cwd=tmp_path, stdin="")
    assert empty.returncode != 0
    assert "stdin is empty" in one_plain_line(empty.stderr)


def test_users_add_takes_the_password_from_stdin(tmp_path: Path) -> None:
    added = peygir("users", "add", "sara", "--role", "operator", "--password-stdin",
                   cwd=tmp_path, stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "user sara (operator) added"
    changed = peygir("users", "passwd", "sara", "--password-stdin", cwd=tmp_path,
                     stdin="another long password\n")
    assert changed.returncode == 0, changed.stderr
    helps = peygir("users", "add", "--help", cwd=tmp_path).stdout
    assert "--password-stdin" in helps and "stdin" in helps.split("--password-stdin")[-1]


# 4. Units the pack has


def test_users_add_refuses_a_unit_the_pack_does_not_have(tmp_path: Path) -> None:
    result = peygir("users", "add", "crew", "--role", "unit", "--unit", "nosuch",
                    "--password-stdin", cwd=tmp_path, stdin=PASSWORD + "\n")
    assert result.returncode != 0
    line = one_plain_line(result.stderr)
    assert "'nosuch'" in line and "north_works" in line  # the known codes, named
    good = peygir("users", "add", "crew", "--role", "unit", "--unit", "north_works",
                  "--password-stdin", cwd=tmp_path, stdin=PASSWORD + "\n")
    assert good.returncode == 0, good.stderr
    listed = peygir("users", "list", cwd=tmp_path)
    assert [line.split("\t")[:3] for line in listed.stdout.splitlines()] == [
        ["crew", "unit", "north_works"]]


# 5. No ORM chatter


def test_commands_print_no_tortoise_shutdown_lines(tmp_path: Path) -> None:
    runs = [
        peygir("users", "add", "boss", "--role", "manager", "--password-stdin", cwd=tmp_path,
               stdin=PASSWORD + "\n"),
        peygir("users", "list", cwd=tmp_path),
        peygir("users", "disable", "boss", cwd=tmp_path),
        peygir("privacy", "purge", "--dry-run", cwd=tmp_path),
    ]
    for result in runs:
        assert result.returncode == 0, result.stderr
        assert "Tortoise-ORM" not in result.stderr + result.stdout
        assert result.stderr == "", result.stderr
    # Real trouble still shows: a user that does not exist is one line, exit 2.
    missing = peygir("users", "enable", "nobody", cwd=tmp_path)
    assert missing.returncode == 2 and "nobody" in one_plain_line(missing.stderr)

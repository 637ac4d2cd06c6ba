"""Real audio, decoded and transcribed by a real Whisper model (base, from PyPI)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from peygir.media_ingest.transcribe import Transcriber
from peygir.media_ingest.whisper_model import ModelMissing, assemble_base, resolve


def test_assembling_is_idempotent(whisper_dir: Path) -> None:
    size = (whisper_dir / "model.bin").stat().st_size
    assert size > 100_000_000
    assert assemble_base(whisper_dir) == whisper_dir
    assert (whisper_dir / "model.bin").stat().st_size == size
    assert {p.name for p in whisper_dir.iterdir()} >= {"model.bin", "config.json",
                                                       "tokenizer.json"}


def test_a_folder_without_a_model_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelMissing, match=r"model\.bin"):
        resolve(str(tmp_path))
    assert resolve("small") == "small"  # a name is left for faster-whisper to fetch


def test_persian_voice_note_becomes_persian_text(whisper_dir: Path, voice_note: Path) -> None:
    result = Transcriber(str(whisper_dir)).transcribe(voice_note)
    persian = sum(1 for ch in result.text if "\u0600" <= ch <= "\u06ff")
    assert persian >= 10, result.text  # Persian script, not a translation or silence
    assert 2.0 < result.duration < 10.0
    assert result.seconds > 0


def test_cli_transcribe_contract(whisper_dir: Path, voice_note: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.ogg"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.ogg"
    result = subprocess.run(
        [sys.executable, "-m", "peygir", "transcribe", "--model", str(whisper_dir),
         str(voice_note), str(empty), str(missing), str(voice_note)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["file"] for r in rows] == [str(voice_note), str(empty), str(missing),
                                         str(voice_note)]
    for row in (rows[0], rows[3]):
        assert set(row) == {"file", "text", "duration", "seconds"}
        assert row["text"] and isinstance(row["duration"], float) and row["seconds"] > 0
    assert "error" in rows[1] and "error" in rows[2]
    assert "it/s" not in result.stderr and "file/s" not in result.stderr  # no bar unless asked


def test_hint_words_read_back_are_recognised() -> None:
    from peygir.media_ingest.transcribe import echoes_hints

    hints = "آسفالت درخت افتاده سرعت‌گیر اتوبوس تاکسی زباله ساخت و ساز"
    # Three hint words in a row: Whisper reading its prompt back, not a citizen.
    assert echoes_hints("گودبرداری سرعت‌گیر اتوبوس تاکسی دیوار", hints)
    # Hint words a citizen does say, apart or two together, are speech.
    assert not echoes_hints("درخت افتاده روی آسفالت کوچه", hints)
    assert not echoes_hints("ایستگاه اتوبوس تاکسی نداره", hints)
    assert not echoes_hints("شاخه روی سیم افتاده درخت و تیر برق", hints)
    assert not echoes_hints("", hints)

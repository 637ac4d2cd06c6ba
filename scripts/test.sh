#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, then run the whole suite.
# Extra arguments go to pytest (e.g. `scripts/test.sh -k dialogue`).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: Chromium drives the web-chat tests (no browser download is possible here);
# espeak-ng speaks Persian test voice notes and ffmpeg turns them into OGG/Opus as Telegram does.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v pg_dump >/dev/null 2>&1 || missing+=(postgresql-client)  # peygir backup's tests
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"

.venv/bin/ruff check .
# The house's one direction of travel (pyproject.toml, [tool.importlinter]) and the types
# (mypy, strict on messages/, config/, nlu/, faq/).
.venv/bin/lint-imports
.venv/bin/mypy
exec .venv/bin/python -m pytest -ra "$@"

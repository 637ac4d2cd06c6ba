"""The served OpenAPI document says what the API does: schemathesis, every check, every
phase it can run without credentials, against `peygir serve` on loopback (SQLite and
PostgreSQL). Undocumented status codes or content types, 405 without ``Allow``, a 422 whose
``detail`` is not the declared shape, schema-violating input accepted, schema-valid input
refused and any 500 all fail it.

The staff panel's HTML forms are not an API and are left out of the document; its own tests
(tests/test_panel*.py) cover them with a signed-in session and CSRF tokens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import database_for, openapi_document, serve_env, serving

EXAMPLES = os.environ.get("PEYGIR_SCHEMATHESIS_EXAMPLES", "25")
SEED = "20261205"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("openapi")
    database_url = database_for(request, tmp)
    env = serve_env(PEYGIR_DATABASE_URL=database_url, PEYGIR_MEDIA_DIR=str(tmp / "media"),
                    PEYGIR_OPEN311_KEYS="key-one-0123456789",
                    PEYGIR_EITAA_TOKEN="123456:eitaa-test-token", PEYGIR_API_DOCS="true")
    log_path = tmp / "server.log"
    with serving(env, log_path) as base:
        yield base
    log = log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-4000:]


def _document(base: str) -> dict[str, object]:
    return openapi_document(open311_keys="key-one-0123456789",
                            eitaa_token="123456:eitaa-test-token", api_docs=True)


def test_the_document_leaves_the_panel_out_and_covers_the_api(server: str) -> None:
    paths = _document(server)["paths"]
    assert isinstance(paths, dict)
    assert not [p for p in paths if p.startswith("/panel")], paths.keys()
    for expected in ("/api/chat/send", "/api/chat/poll", "/media/{name}",
                     "/open311/v2/requests.{response_format}"):
        assert expected in paths, paths.keys()


def test_schemathesis_with_every_check_passes(server: str, tmp_path: Path) -> None:
    schema = tmp_path / "openapi.json"
    schema.write_text(json.dumps(_document(server)), encoding="utf-8")
    run = subprocess.run(
        [str(SCHEMATHESIS), "run", str(schema), "--url", server, "--checks", "all",
         "--max-examples", EXAMPLES, "--seed", SEED, "--generation-deterministic",
         "--phases", "examples,coverage,fuzzing", "--no-color", "--warnings", "off",
         "--request-timeout", "30"],
        capture_output=True, text=True, timeout=1200,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-12000:]
    # It tested the API, not an empty document.
    assert "Tested:" in run.stdout, run.stdout[-3000:]


def test_a_wrong_method_says_which_are_allowed(server: str) -> None:
    request = urllib.request.Request(f"{server}/open311/v2/services.json", method="DELETE")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(request, timeout=10)
    assert refused.value.code == 405
    assert "GET" in (refused.value.headers.get("Allow") or "")

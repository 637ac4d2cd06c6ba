"""Security headers, cookies and the API docs, against `peygir serve` on loopback (headers and
proxies as a browser meets them) and in-process on SQLite and PostgreSQL (staff sign-in).

PEYGIR_TRUSTED_PROXIES names 127.0.0.2: a client connecting from there is "the proxy".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from tests.panel_support import build_app, client, signed_in
from tests.support import serve_env, serving

PROXY = "127.0.0.2"
SDK = "https://sdk.eitaa.example/js/eitaa-web-app.js"
FRAMERS = "https://eitaa.com https://*.eitaa.com"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("headers")
    env = serve_env(PEYGIR_DATABASE_URL=f"sqlite://{tmp}/t.db", PEYGIR_MEDIA_DIR=str(tmp / "m"),
                    PEYGIR_TRUSTED_PROXIES=PROXY, PEYGIR_EITAA_TOKEN="eitaa-token",
                    PEYGIR_EITAA_SDK_URL=SDK, PEYGIR_EITAA_FRAME_ANCESTORS=FRAMERS)
    with serving(env, tmp / "server.log") as base:
        yield base


def browser(via_proxy: bool = False) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=PROXY if via_proxy else "127.0.0.1")
    return httpx.Client(transport=transport, trust_env=False, timeout=30)


def directives(csp: str) -> dict[str, list[str]]:
    parsed = (part.split() for part in csp.split(";") if part.strip())
    return {words[0]: words[1:] for words in parsed}


def test_every_response_carries_the_headers(server: str) -> None:
    with browser() as c:
        responses = {
            "page": c.get(server + "/"), "health": c.get(server + "/healthz"),
            "poll": c.get(server + "/api/chat/poll"), "script": c.get(server + "/static/chat.js"),
            "missing": c.get(server + "/no/such/page"), "login": c.get(server + "/panel/login"),
            "refused": c.post(server + "/api/chat/send", json={"client_id": "x"}),
            "too_large": c.post(server + "/api/chat/send", content=b"x" * (700 * 1024),
                                headers={"Content-Type": "application/json"}),
        }
    for name, response in responses.items():
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff", name
        assert headers["referrer-policy"] == "same-origin", name
        assert headers["x-frame-options"] == "DENY", name
        policy = directives(headers["content-security-policy"])
        assert policy["frame-ancestors"] == ["'none'"], name
        assert policy["script-src"] == ["'self'"] and policy["object-src"] == ["'none'"], name
    assert responses["refused"].status_code == 422
    assert responses["too_large"].status_code == 413
    assert responses["poll"].headers["cache-control"] == "no-store"  # a chat's replies
    assert responses["login"].headers["cache-control"] == "no-store"


def test_only_eitaa_may_frame_the_mini_app_and_its_sdk_may_run(server: str) -> None:
    with browser() as c:
        page = c.get(server + "/eitaa")
    assert page.status_code == 200
    policy = directives(page.headers["content-security-policy"])
    assert policy["frame-ancestors"] == FRAMERS.split()
    assert policy["script-src"] == ["'self'", "https://sdk.eitaa.example"]
    assert "x-frame-options" not in page.headers  # it cannot name who may; CSP does
    assert page.headers["x-content-type-options"] == "nosniff"


class Loads(HTMLParser):
    """What a page asks the browser to load or run."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.inline_scripts = 0
        self.inline_styles = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script":
            if named.get("src"):
                self.sources.append(named["src"] or "")
            else:
                self.inline_scripts += 1
        if tag in ("link", "img") and (named.get("href") or named.get("src")):
            self.sources.append(named.get("href") or named.get("src") or "")
        if tag == "style" or "style" in named or any(k.startswith("on") for k in named):
            self.inline_styles += 1


@pytest.mark.parametrize("path", ["/", "/eitaa"])
def test_the_policy_allows_what_the_chat_page_loads(server: str, path: str) -> None:
    with browser() as c:
        page = c.get(server + path)
    allowed = directives(page.headers["content-security-policy"])["script-src"]
    loads = Loads()
    loads.feed(page.text)
    assert loads.inline_scripts == 0 and loads.inline_styles == 0
    for source in loads.sources:
        same_origin = source.startswith(server + "/") or (
            source.startswith("/") and not source.startswith("//"))
        assert same_origin or source.startswith("data:") or any(
            source.startswith(origin) for origin in allowed if origin.startswith("https://")
        ), source
    assert (SDK in loads.sources) == (path == "/eitaa")


def test_the_chat_cookie_is_secure_behind_https_only(server: str) -> None:
    def cookie(via_proxy: bool, proto: str | None) -> str:
        with browser(via_proxy) as c:
            headers = {"X-Forwarded-Proto": proto} if proto else {}
            response = c.get(server + "/api/chat/poll", headers=headers)
            return response.headers["set-cookie"]

    assert "; secure" in cookie(True, "https").lower()
    assert "; secure" not in cookie(True, None).lower()
    assert "; secure" not in cookie(True, "http").lower()
    # Anyone else saying "https" is not believed.
    assert "; secure" not in cookie(False, "https").lower()
    assert "httponly" in cookie(True, "https").lower()


def test_the_api_docs_are_not_served_by_default(server: str) -> None:
    with browser() as c:
        for path in ("/api/docs", "/openapi.json", "/docs", "/redoc", "/panel/api",
                     "/panel/api/openapi.json"):
            assert c.get(server + path).status_code == 404, path


@pytest.fixture
def app(db: str, tmp_path: Path):
    return build_app(db, tmp_path / "media")


async def test_the_document_is_still_built_in_process(app) -> None:
    """Off by default means not served; the lead's schemathesis run reads it in-process."""
    paths = app.openapi()["paths"]
    assert "/api/chat/send" in paths and "/panel/api/openapi.json" not in paths


async def test_forced_secure_cookies_hold_on_plain_http(db: str, tmp_path: Path) -> None:
    from peygir.bots.core import Core
    from peygir.config.settings import Settings
    from peygir.web.app import create_app

    forced = create_app(Core.build(Settings(database_url=db, media_dir=tmp_path / "m",
                                            panel_secure_cookies=True, _env_file=None)))
    async with client(forced) as c:
        assert "secure" in (await c.get("/api/chat/poll")).headers["set-cookie"].lower()


async def test_api_docs_when_on_are_for_signed_in_staff(db: str, tmp_path: Path) -> None:
    from peygir.bots.core import Core
    from peygir.config.settings import Settings
    from peygir.web.app import create_app

    app = create_app(Core.build(Settings(database_url=db, media_dir=tmp_path / "m",
                                         api_docs=True, _env_file=None)))
    async with client(app) as anonymous:
        first = await anonymous.get("/api/docs")
        assert first.status_code == 303 and first.headers["location"] == "/panel/api"
        assert (await anonymous.get("/openapi.json")).headers["location"] == \
            "/panel/api/openapi.json"
        for path in ("/panel/api", "/panel/api/openapi.json"):
            refused = await anonymous.get(path)
            assert refused.status_code == 303, path
            assert refused.headers["location"].startswith("/panel/login?next=")
    async with signed_in(app, "op", "operator") as staff:
        page = await staff.get("/panel/api")
        assert page.status_code == 200 and "/api/chat/send" in page.text
        assert "<script" not in page.text and not re.search(r"(src|href)=\"(https?:)?//",
                                                             page.text)
        assert directives(page.headers["content-security-policy"])["script-src"] == ["'self'"]
        document = await staff.get("/panel/api/openapi.json")
        assert document.status_code == 200 and "/api/chat/send" in document.json()["paths"]

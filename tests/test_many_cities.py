"""Two cities on one PostgreSQL database (issue 21.8): each city's `peygir serve` runs with
its name (PEYGIR_CITY) and keeps its data in a schema of its own, so a citizen and a staff
member of one city never see the other's; each city elects its own scheduler."""

import asyncio
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.panel_support import PASSWORD, csrf_of
from tests.support import REPO_ROOT, reset_postgres, serve_env, serving

CITIES = ("isfahan", "shiraz")
REPORT = "آسفالت کوچه ما پر از چاله شده"


def _drop_city_schemas(url: str) -> None:
    async def drop() -> None:
        connection = await asyncpg.connect(url)
        try:
            for city in CITIES:
                await connection.execute(f"DROP SCHEMA IF EXISTS {city} CASCADE")
        finally:
            await connection.close()

    asyncio.run(drop())


@pytest.fixture
def one_database(postgres_database: str) -> Iterator[str]:
    reset_postgres(postgres_database)
    _drop_city_schemas(postgres_database)
    yield postgres_database
    _drop_city_schemas(postgres_database)


def city_env(city: str, url: str, tmp_path: Path) -> dict[str, str]:
    return serve_env(PEYGIR_CITY=city, PEYGIR_DATABASE_URL=url,
                     PEYGIR_MEDIA_DIR=str(tmp_path / city), PEYGIR_SCHEDULER_INTERVAL="1")


def add_manager(env: dict[str, str], username: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "peygir", "users", "add", username, "--role", "manager",
         "--password-stdin"], cwd=REPO_ROOT, env=env, input=PASSWORD + "\n", text=True,
        capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr


def report(chat: httpx.Client, base: str) -> str:
    """A full web chat report; its tracking code (Persian digits, as the citizen sees it)."""
    said: list[str] = []
    for n, body in enumerate([{"text": REPORT}, {"location": {"lat": 35.7, "lon": 51.4}},
                              {"callback": "confirm"}]):
        answer = chat.post(f"{base}/api/chat/send", json={"client_id": f"r{n}", **body})
        assert answer.status_code == 200, answer.text
        said += [reply["text"] for reply in answer.json()["replies"]]
    found = re.search(r"کد پیگیری: (\S+)", "\n".join(said))
    assert found, said
    return found.group(1)


def signs_in(base: str, username: str) -> bool:
    with httpx.Client(base_url=base, trust_env=False, timeout=30) as staff:
        page = staff.get("/panel/login")
        answer = staff.post("/panel/login", data={"username": username, "password": PASSWORD,
                                                   "csrf": csrf_of(page.text), "next": ""})
        return answer.status_code == 303 and staff.get("/panel/queue").status_code == 200


def test_two_cities_on_one_database_see_only_their_own(one_database: str,
                                                       tmp_path: Path) -> None:
    isfahan_env, shiraz_env = (city_env(city, one_database, tmp_path) for city in CITIES)
    with serving(isfahan_env, tmp_path / "isfahan.log") as isfahan, \
            serving(shiraz_env, tmp_path / "shiraz.log") as shiraz:
        add_manager(isfahan_env, "isfahan_manager")
        add_manager(shiraz_env, "shiraz_manager")
        # One citizen (one web chat cookie for both hosts) writes to both cities.
        with httpx.Client(trust_env=False, timeout=30) as citizen:
            isfahan_code = report(citizen, isfahan)
            shiraz_code = report(citizen, shiraz)

            def status(base: str, code: str, n: int) -> str:
                answer = citizen.post(f"{base}/api/chat/send",
                                      json={"client_id": f"s{n}", "text": code})
                return "\n".join(r["text"] for r in answer.json()["replies"])

            assert "پیدا نشد" not in status(isfahan, isfahan_code, 1)
            assert "پیدا نشد" not in status(shiraz, shiraz_code, 2)
            if isfahan_code != shiraz_code:  # random codes, per city: they might meet
                assert "پیدا نشد" in status(shiraz, isfahan_code, 3)
                assert "پیدا نشد" in status(isfahan, shiraz_code, 4)

        # Each city's public Open311 list holds its own report only.
        for base in (isfahan, shiraz):
            requests = httpx.get(f"{base}/open311/v2/requests.json", trust_env=False).json()
            assert len(requests) == 1, requests

        # Staff belong to their city.
        assert signs_in(isfahan, "isfahan_manager")
        assert not signs_in(shiraz, "isfahan_manager")
        assert signs_in(shiraz, "shiraz_manager")
        assert not signs_in(isfahan, "shiraz_manager")

    # Each city elected its own scheduler (one lease name each), at the same time.
    for city in CITIES:
        log = (tmp_path / f"{city}.log").read_text(errors="replace")
        assert "now holds the scheduler lease" in log, log[-3000:]

    async def tables() -> dict[str, int]:
        connection = await asyncpg.connect(one_database)
        try:
            return {city: await connection.fetchval(f"SELECT count(*) FROM {city}.ticket")
                    for city in CITIES} | {
                "public": await connection.fetchval(
                    "SELECT count(*) FROM information_schema.tables "
                    "WHERE table_schema = 'public' AND table_name = 'ticket'")}
        finally:
            await connection.close()

    assert asyncio.run(tables()) == {"isfahan": 1, "shiraz": 1, "public": 0}


def test_a_city_name_is_a_plain_schema_name() -> None:
    from peygir.config.settings import Settings

    with pytest.raises(ValueError):
        Settings(city='x"; DROP SCHEMA public; --', database_url="postgres://h/db")
    settings = Settings(city="hamedan", database_url="postgres://h/db?minsize=1")
    assert settings.database_url == "postgres://h/db?minsize=1&schema=hamedan,public"
    assert Settings(city="hamedan").database_url.startswith("sqlite:")  # a file a city

"""Helpers for the staff panel's tests: an app on the test database, signed-in clients,
tickets filed the way the dialogue files them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from peygir.bots.core import Core
from peygir.config.settings import Settings
from peygir.ticket_store import staff as staff_store
from peygir.ticket_store import store
from peygir.ticket_store.deadlines import Deadlines
from peygir.ticket_store.models import Citizen, Ticket
from peygir.web.app import create_app

PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
PHONE = "09121234567"
CITIZEN_NAME = "مریم رضایی"


def build_app(database_url: str, media_dir: Path):
    """The real app (web chat and panel) on an already open database; no lifespan."""
    settings = Settings(database_url=database_url, media_dir=media_dir, _env_file=None)
    core = Core.build(settings)
    return create_app(core)


def client(app, base_url: str = "http://testserver") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url,
                             follow_redirects=False)


def csrf_of(html: str) -> str:
    found = CSRF_RE.search(html)
    assert found, html[:2000]
    return found.group(1)


async def sign_in(c: httpx.AsyncClient, username: str, password: str = PASSWORD
                  ) -> httpx.Response:
    page = await c.get("/panel/login")
    return await c.post("/panel/login", data={"username": username, "password": password,
                                              "csrf": csrf_of(page.text), "next": ""})


@asynccontextmanager
async def signed_in(app, username: str, role: str, unit: str | None = None,
                    base_url: str = "http://testserver") -> AsyncIterator[httpx.AsyncClient]:
    """A new staff user, signed in."""
    await staff_store.add_user(username, PASSWORD, role, unit_code=unit)
    async with client(app, base_url) as c:
        response = await sign_in(c, username)
        assert response.status_code == 303, response.text
        yield c


async def csrf_for(c: httpx.AsyncClient, path: str = "/panel/queue") -> str:
    return csrf_of((await c.get(path)).text)


async def file(service: str = "waste_bin", *, chat: str = "c1", urgent: bool = False,
               now: datetime | None = None, phone: str | None = PHONE,
               description: str = "سطل زباله سر کوچه پر شده است",
               location: tuple[float, float] | None = None, unit: str | None = None,
               district: str | None = None) -> Ticket:
    """A ticket as the dialogue files it, with a citizen who shared a phone number."""
    from peygir.messages.types import Location

    now = now or datetime.now(UTC)
    citizen, _ = await Citizen.get_or_create(channel="memory", user_id=chat)
    if phone:
        citizen.phone, citizen.display_name = phone, CITIZEN_NAME
        await citizen.save()
    draft = store.NewTicket(service, description, urgent,
                            location=Location(*location) if location else None,
                            address="خیابان آزادی، کوچهٔ ۱۲")
    ticket = await store.file_ticket(citizen, "memory", chat, draft, now, Deadlines())
    # auto_now_add: place it in the past; priority as the workflow sets it for urgent work
    changes: dict[str, object] = {"created_at": now, "priority": 2 if urgent else 0}
    if unit:
        changes |= {"unit_code": unit, "status": "assigned"}
    if district:
        changes["district"] = district
    await Ticket.filter(id=ticket.id).update(**changes)
    await ticket.refresh_from_db()
    return ticket


def jpeg(colour: tuple[int, int, int] = (40, 160, 90)) -> bytes:
    """A real photo's bytes (a 64×48 JPEG)."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "JPEG")
    return out.getvalue()


def days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)

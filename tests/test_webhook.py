"""Webhook mode: the Bot API server posts updates to `peygir serve`'s web app on loopback."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from peygir.bots.core import Core
from peygir.config.settings import Settings
from peygir.ticket_store.models import ProcessedUpdate, Ticket
from peygir.web.app import create_app
from tests.fakes.botapi import FakeBotApi
from tests.support import free_port

TOKEN = "444:HOOK"




@pytest.fixture
async def served(database_url: str) -> AsyncIterator[tuple[FakeBotApi, Core, str]]:
    async with FakeBotApi(tokens=(TOKEN,)) as api:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        settings = Settings(
            database_url=database_url, telegram_token=TOKEN, telegram_api=api.base_url,
            webhook_base=base, webhook_secret="a long and private secret",
        )
        core = Core.build(settings)
        server = uvicorn.Server(uvicorn.Config(create_app(core), host="127.0.0.1", port=port,
                                               log_level="warning"))
        task = asyncio.create_task(server.serve())
        for _ in range(100):
            if server.started and api.webhook(TOKEN):
                break
            await asyncio.sleep(0.05)
        yield api, core, base
        server.should_exit = True
        await task


async def test_updates_arrive_by_webhook(served: tuple[FakeBotApi, Core, str]) -> None:
    api, _core, base = served
    hook = api.webhook(TOKEN)
    assert hook and hook["url"].startswith(f"{base}/bot/telegram/")
    api.push_message(TOKEN, 88, "آسفالت کوچه ما پر از چاله شده")
    reply = await api.wait_for_sent(
        TOKEN, lambda c: "موقعیت" in c["params"].get("text", ""), method="sendMessage",
        chat_id=88, timeout=15)
    assert reply


async def test_a_request_without_the_secret_is_refused(
    served: tuple[FakeBotApi, Core, str]
) -> None:
    api, _core, base = served
    url = api.webhook(TOKEN)["url"]
    update = {"update_id": 9999, "message": {
        "message_id": 1, "date": 1_760_000_000, "text": "چاله",
        "chat": {"id": 5, "type": "private"}, "from": {"id": 5, "is_bot": False,
                                                        "first_name": "x"}}}
    async with httpx.AsyncClient() as client:
        no_header = await client.post(url, json=update)
        wrong_path = await client.post(f"{base}/bot/telegram/guess", json=update,
                                       headers={"X-Telegram-Bot-Api-Secret-Token": "x"})
        unknown = await client.post(f"{base}/bot/whatsapp/x", json=update)
    assert no_header.status_code == 401 and wrong_path.status_code == 401
    assert unknown.status_code == 404
    assert not await ProcessedUpdate.filter(dedup_key="telegram:9999").exists()
    assert await Ticket.all().count() == 0

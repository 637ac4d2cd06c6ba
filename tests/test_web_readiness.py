"""Behind a proxy that checks /readyz (deploy/Caddyfile), a web-only process stays ready while
the worker's queues are stuck: else a stopped worker would take every web process, and the
web chat and panel, out of rotation. The worker process itself says it is not ready."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from peygir.config.pack import Pack
from peygir.nlu.classifier import Classifier
from peygir.ticket_store.db import close_db, open_db
from peygir.ticket_store.models import OutboxMessage
from tests.support import reset_postgres
from tests.test_observability import make_core, running


@pytest.fixture
async def pg(postgres_database: str) -> AsyncIterator[str]:
    reset_postgres(postgres_database)  # roles other than all need PostgreSQL
    await open_db(postgres_database)
    yield postgres_database
    await close_db()


async def test_a_stuck_queue_leaves_web_ready_and_the_worker_not(
        pg: str, default_pack: Pack, default_classifier: Classifier) -> None:
    stuck = await OutboxMessage.create(channel="telegram", chat_id="t", payload={"text": "x"})
    await OutboxMessage.filter(id=stuck.id).update(
        created_at=datetime.now(UTC) - timedelta(seconds=600))

    web = make_core(pg, default_pack, default_classifier, role="web")
    async with running(web) as api:
        answer = await api.get("/readyz")
        assert answer.status_code == 200, answer.text
        assert answer.json()["queues"]["outbox_waiting"] == 1  # still shown, not a reason

    # The delivering process is the one that says so (its own sender stays off here: the
    # row's channel has no bot configured, so nothing sends it meanwhile).
    worker = make_core(pg, default_pack, default_classifier, role="worker")
    async with running(worker) as api:
        answer = await api.get("/readyz")
        assert answer.status_code == 503, answer.text
        assert any(r.startswith("outbox: replies for telegram") for r in answer.json()["reasons"])

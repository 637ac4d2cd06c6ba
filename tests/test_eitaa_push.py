"""Eitaa notifications: replies the mini-app did not show go out through the sending API."""

from datetime import timedelta

from peygir.channels.delivery import RetryLater, Undeliverable
from peygir.channels.eitaa.push import EitaaPush, take_for_app
from peygir.messages.types import Reply
from peygir.ticket_store import store
from peygir.ticket_store.models import OutboxMessage
from tests.test_outbox import Clock, ScriptedSender


async def test_a_reply_the_app_showed_is_not_pushed(db: str) -> None:
    clock, sender = Clock(), ScriptedSender()
    push = EitaaPush(sender, push_after=20, clock=clock)
    await store.enqueue("eitaa", "e1", Reply("seen in the app"))
    await store.enqueue("eitaa", "e2", Reply("app closed"))
    assert [r.text for r in await take_for_app("e1")] == ["seen in the app"]
    clock.now = (await OutboxMessage.get(chat_id="e2")).created_at
    assert await push.push_due() == 0  # too young: the app may still show it
    clock.advance(21)
    assert await push.push_due() == 1
    assert sender.delivered == [("e2", "app closed")]
    assert await OutboxMessage.filter(sent_at__isnull=True).count() == 0


async def test_waits_faults_and_refusals(db: str) -> None:
    sender = ScriptedSender()
    clock = Clock()
    push = EitaaPush(sender, push_after=0, max_attempts=2, clock=clock)
    for chat in ("wait", "fault", "refused"):
        await store.enqueue("eitaa", chat, Reply(f"to {chat}"))
    clock.now = (await OutboxMessage.all().order_by("-id").first()).created_at
    sender.script = [RetryLater(30), ConnectionError("reset"), Undeliverable("blocked")]
    assert await push.push_due() == 0
    rows = {r.chat_id: r for r in await OutboxMessage.all()}
    assert rows["wait"].attempts == 0  # Eitaa's own "wait" is not counted as a failure
    assert rows["wait"].next_attempt_at == clock.now + timedelta(seconds=30)
    assert rows["fault"].attempts == 1 and rows["fault"].failed_at is None
    assert rows["refused"].failed_at is not None and "blocked" in rows["refused"].last_error
    clock.advance(10)
    sender.script = [ConnectionError("reset again")]
    assert await push.push_due() == 0  # "wait" is not due yet; "fault" fails a second time
    fault = await OutboxMessage.get(chat_id="fault")
    assert fault.attempts == 2 and fault.failed_at is not None  # given up at max_attempts
    clock.advance(30)
    assert await push.push_due() == 1
    assert sender.delivered == [("wait", "to wait")]

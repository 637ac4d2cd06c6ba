"""The outbox worker against a scripted sender, on SQLite and PostgreSQL, with a test clock."""

from datetime import UTC, datetime, timedelta

from peygir.channels.delivery import OutboxWorker, RetryLater, Undeliverable
from peygir.messages.types import Reply
from peygir.ticket_store import leases, store
from peygir.ticket_store.models import OutboxMessage


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class ScriptedSender:
    """Delivers, or raises what the script says for the next call."""

    def __init__(self) -> None:
        self.delivered: list[tuple[str, str]] = []
        self.script: list[Exception] = []

    async def send(self, chat_id: str, reply: Reply) -> None:
        if self.script:
            raise self.script.pop(0)
        self.delivered.append((chat_id, reply.text))


async def queue(chat: str, *texts: str) -> None:
    for text in texts:
        await store.enqueue("telegram", chat, Reply(text))


async def test_sends_each_reply_once_in_order(db: str) -> None:
    sender = ScriptedSender()
    worker = OutboxWorker("telegram", sender, clock=Clock())
    await queue("1", "a", "b", "c")
    await queue("2", "x")
    assert await worker.deliver_due() == 4
    assert await worker.deliver_due() == 0
    assert [t for c, t in sender.delivered if c == "1"] == ["a", "b", "c"]
    assert await OutboxMessage.filter(sent_at__isnull=True).count() == 0


async def test_retry_after_is_honoured(db: str) -> None:
    clock, sender = Clock(), ScriptedSender()
    worker = OutboxWorker("telegram", sender, clock=clock)
    await queue("1", "a", "b")
    sender.script = [RetryLater(30)]
    assert await worker.deliver_due() == 0  # told to wait: nothing of this chat goes out
    clock.advance(29)
    assert await worker.deliver_due() == 0
    clock.advance(2)
    assert await worker.deliver_due() == 2
    assert [t for _, t in sender.delivered] == ["a", "b"]
    assert all(row.attempts == 0 for row in await OutboxMessage.all())  # a wait is no fault


async def test_faults_back_off_and_refusals_do_not_block(db: str) -> None:
    clock, sender = Clock(), ScriptedSender()
    worker = OutboxWorker("telegram", sender, clock=clock, base_delay=2)
    await queue("1", "a")
    sender.script = [ConnectionError("reset")]
    assert await worker.deliver_due() == 0
    first = await OutboxMessage.get(chat_id="1")
    assert first.attempts == 1
    assert first.next_attempt_at == clock.now + timedelta(seconds=2)

    await queue("2", "blocked", "after")
    sender.script = [Undeliverable("Forbidden: bot was blocked by the user")]
    assert await worker.deliver_due() == 1  # chat 1 still waits; chat 2's second reply goes
    assert sender.delivered == [("2", "after")]
    refused = await OutboxMessage.get(failed_at__isnull=False)
    assert refused.chat_id == "2" and "blocked" in (refused.last_error or "")

    clock.advance(3)
    assert await worker.deliver_due() == 1
    assert sender.delivered[-1] == ("1", "a")


async def test_a_reply_claimed_by_a_dead_process_is_not_sent_again(db: str) -> None:
    sender = ScriptedSender()
    await queue("1", "in flight", "next")
    first = await OutboxMessage.filter(chat_id="1").order_by("id").first()
    assert first
    clock = Clock()
    await leases.announce()  # this process lives (PostgreSQL: its lock is held)
    await OutboxMessage.filter(id=first.id).update(claimed_at=clock.now,
                                                   claimed_by=leases.PROCESS)
    worker = OutboxWorker("telegram", sender, clock=clock)
    await worker.deliver_due()
    assert sender.delivered == []  # a fresh claim may be a live send elsewhere: wait
    clock.advance(600)
    assert await worker.report_interrupted() == 1
    await worker.deliver_due()
    assert sender.delivered == [("1", "next")]
    closed = await OutboxMessage.get(id=first.id)
    assert closed.failed_at is not None and "interrupted" in (closed.last_error or "")


async def test_a_claim_of_a_process_that_is_gone_is_closed_at_once(db: str) -> None:
    """PostgreSQL, shared by processes: a fresh claim whose process holds no liveness lock
    (killed) is closed at the next look, and the chat's next reply goes; SQLite has one
    process, whose restart closes every claim."""
    sender = ScriptedSender()
    await queue("1", "in flight", "next")
    first = await OutboxMessage.filter(chat_id="1").order_by("id").first()
    assert first
    clock = Clock()
    await leases.announce()
    await OutboxMessage.filter(id=first.id).update(claimed_at=clock.now,
                                                   claimed_by=leases.PROCESS + 1)
    worker = OutboxWorker("telegram", sender, clock=clock)
    if leases.database_shared():
        await worker.deliver_due()  # sees the claim, finds its process gone, closes it
        await worker.deliver_due()
    else:
        assert await worker.report_interrupted() == 1
        await worker.deliver_due()
    assert sender.delivered == [("1", "next")]
    assert (await OutboxMessage.get(id=first.id)).failed_at is not None


async def test_two_workers_racing_send_each_reply_once_in_order(db: str) -> None:
    """Two workers on one channel (a second process by mistake): the batch claim gives each
    reply to one of them, and a chat's later replies never overtake an earlier one."""
    import asyncio

    class SlowSender(ScriptedSender):
        async def send(self, chat_id: str, reply: Reply) -> None:
            await asyncio.sleep(0.001)
            await super().send(chat_id, reply)

    senders = [SlowSender(), SlowSender()]
    workers = [OutboxWorker("telegram", s, batch=7) for s in senders]
    chats = {str(c): [f"{c}-{i}" for i in range(6)] for c in range(5)}
    for chat, texts in chats.items():
        await queue(chat, *texts)
    for _ in range(40):
        await asyncio.gather(*(w.deliver_due() for w in workers))
        if not await OutboxMessage.filter(sent_at__isnull=True).exists():
            break
    delivered = senders[0].delivered + senders[1].delivered
    assert sorted(t for _, t in delivered) == sorted(t for ts in chats.values() for t in ts)
    for sender in senders:  # each worker's own sends keep each chat's order
        for chat, texts in chats.items():
            mine = [t for c, t in sender.delivered if c == chat]
            assert mine == sorted(mine, key=texts.index)
    assert await OutboxMessage.filter(sent_at__isnull=True).count() == 0


async def test_a_slow_send_does_not_hold_other_chats(db: str) -> None:
    """The running worker keeps delivering to other chats while one chat's send hangs, keeps
    that chat's later replies behind it, and marks everything sent when it stops."""
    import asyncio

    release = asyncio.Event()

    class OneSlowChat(ScriptedSender):
        async def send(self, chat_id: str, reply: Reply) -> None:
            if chat_id == "slow":
                await release.wait()
            await super().send(chat_id, reply)

    sender = OneSlowChat()
    worker = OutboxWorker("telegram", sender)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop, idle=0.05))
    await queue("slow", "s1", "s2")
    worker.wake.set()
    await asyncio.sleep(0.2)
    for i in range(3):  # queued after the slow send began: not held behind it
        await queue(f"quick{i}", f"q{i}")
        worker.wake.set()
    async with asyncio.timeout(5):
        while len(sender.delivered) < 3:
            await asyncio.sleep(0.01)
    assert sorted(t for _, t in sender.delivered) == ["q0", "q1", "q2"]
    release.set()
    async with asyncio.timeout(5):
        while len(sender.delivered) < 5:
            await asyncio.sleep(0.01)
    assert [t for c, t in sender.delivered if c == "slow"] == ["s1", "s2"]
    stop.set()
    await running
    assert await OutboxMessage.filter(sent_at__isnull=True).count() == 0

"""What is not a ticket (issue 18): referrals, FAQ answers and unplaced messages are counted
by the dialogue, once per update, and the dashboard's figures (and each deputy's share of the
requests) equal a direct count of what happened (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from peygir.channels.memory import MemoryChannel
from peygir.config.pack import Pack
from peygir.conversation.dialogue import Dialogue
from peygir.nlu.classifier import Classifier
from peygir.nlu.normalize import normalize
from peygir.ticket_store import happenings, retention, rollups
from peygir.ticket_store.models import HappeningCount, Ticket, UnplacedMessage
from peygir.web.panel import not_tickets, queries
from peygir.web.panel.dashboards import jday
from peygir.web.panel.fmt import fa
from tests.panel_support import build_app, file, signed_in

TZ = "Asia/Tehran"
NOW = datetime(2025, 3, 20, 20, 45, tzinfo=UTC)  # 00:15 the next day in Tehran
# Words no entry of the pack shares much with: the classifier must find them unknown.
NONSENSE = ("بادمجان کوهستان قلمبه", "آسمان آبی است", "قلمبه سلمبه بادمجان")
AMBIGUOUS = "درخت و آب"  # offers subjects to pick from


def _confident(classifier: Classifier, text: str, kind: str, key: str) -> bool:
    intent = classifier.classify(normalize(text))
    return intent.confident and intent.kind == kind and (intent.code or intent.faq_id) == key


def _phrases(pack: Pack, classifier: Classifier) -> tuple[list[tuple[str, str]],
                                                          list[tuple[str, str]]]:
    """(text, code) of referrals and (text, id) of FAQ questions the classifier places."""
    referrals = [(ex, s.service_code) for s in pack.services if s.is_referral
                 for ex in s.examples if _confident(classifier, ex, "service", s.service_code)]
    faqs = [(f.question, f.id) for f in pack.faqs[:12]
            if _confident(classifier, f.question, "faq", f.id)]
    return referrals, faqs


async def test_counts_equal_what_the_dialogue_did(db: str, default_pack: Pack,
                                                  default_classifier: Classifier,
                                                  tmp_path: Path) -> None:
    rng = random.Random(18)
    clock = [NOW - timedelta(days=6)]
    dialogue = Dialogue(default_pack, default_classifier, clock=lambda: clock[0], timezone=TZ)
    chat = MemoryChannel(dialogue)
    referrals, faqs = _phrases(default_pack, default_classifier)
    assert len({c for _, c in referrals}) >= 4 and len(faqs) >= 5
    for text in (*NONSENSE, AMBIGUOUS):
        assert not default_classifier.classify(normalize(text)).confident
    expected: Counter[tuple[int, str, str]] = Counter()
    kept: list[str] = []

    def day() -> int:
        return happenings.local_day(clock[0], TZ)

    sent = 0
    while clock[0] < NOW:
        who = f"c{rng.randint(1, 6)}"
        roll = rng.random()
        if roll < 0.35:
            text, code = rng.choice(referrals)
            replies = await chat.say(who, text)
            assert any(default_pack.service_by_code[code].referral_body in r.text
                       for r in replies)
            expected[(day(), "referral", code)] += 1
        elif roll < 0.65:
            text, faq_id = rng.choice(faqs)
            await chat.say(who, text)
            expected[(day(), "faq", faq_id)] += 1
        elif roll < 0.8:
            text = rng.choice(NONSENSE)
            await chat.say(who, text)
            expected[(day(), "unplaced", happenings.UNKNOWN)] += 1
            kept.append(text)
        else:
            replies = await chat.say(who, AMBIGUOUS)
            offered = [b.data for r in replies for row in r.buttons for b in row]
            if "svc:ext_water" in offered and rng.random() < 0.5:
                await chat.say(who, callback="svc:ext_water")
                expected[(day(), "referral", "ext_water")] += 1
            else:
                assert "svc:none" in offered
                await chat.say(who, callback="svc:none")
                expected[(day(), "unplaced", happenings.NONE_FIT)] += 1
                kept.append(normalize(AMBIGUOUS))
        sent += 1
        clock[0] += timedelta(minutes=rng.choice([7, 40, 95, 210]))
    assert sent > 40

    # The same update delivered again (a retry, a webhook twice) counts nothing more.
    repeat = chat.message("c1", NONSENSE[0], update_id=10_000)
    await dialogue.handle(repeat)
    expected[(day(), "unplaced", happenings.UNKNOWN)] += 1
    kept.append(NONSENSE[0])
    await dialogue.handle(repeat)
    again = chat.message("c1", referrals[0][0], update_id=10_001)
    await dialogue.handle(again)
    await dialogue.handle(again)
    expected[(day(), "referral", referrals[0][1])] += 1

    stored = Counter({(r.day, str(r.kind), r.code): r.count
                      for r in await HappeningCount.all()})
    assert stored == expected
    assert sorted(m.text for m in await UnplacedMessage.all()) == sorted(kept)

    # Every period the dashboard may ask for: its figures equal the direct count.
    tz = ZoneInfo(TZ)
    for days in (1, 2, 3, 7):
        since = NOW - timedelta(days=days)
        first, last = happenings.local_day(since, TZ), happenings.local_day(NOW, TZ)
        assert first == (since.astimezone(tz).date() - happenings.EPOCH).days
        window = Counter({k: n for k, n in expected.items() if first <= k[0] <= last})
        got = await not_tickets.read(default_pack, since, NOW, TZ, [])
        bodies: Counter[str] = Counter()
        for (_, kind, code), n in window.items():
            if kind == "referral":
                bodies[default_pack.service_by_code[code].referral_body or code] += n
        assert {r.label: r.count for r in got.referrals} == dict(bodies), days
        want_faq = Counter()
        for (_, kind, code), n in window.items():
            if kind == "faq":
                want_faq[code] += n
        assert {r.codes[0]: r.count for r in got.faqs} == dict(want_faq), days
        assert [r.count for r in got.faqs] == sorted(want_faq.values(), reverse=True)
        assert got.total_unplaced == sum(n for k, n in window.items() if k[1] == "unplaced")
        assert sum(r.share or 0 for r in got.referrals) == pytest.approx(100.0)

    # The manager's dashboard shows the same figures, labelled in Persian.
    app = build_app(db, tmp_path / "media")
    start, end = jday(happenings.local_day(NOW - timedelta(days=3), TZ)), jday(
        happenings.local_day(NOW, TZ))
    async with signed_in(app, "boss", "manager") as c:
        response = await c.get("/panel/dashboard", params={"start": start, "end": end})
        assert response.status_code == 200, response.text[:3000]
        page = response.text
    first, last = happenings.local_day(NOW - timedelta(days=3), TZ), happenings.local_day(
        NOW, TZ)
    window = Counter({k: n for k, n in expected.items() if first <= k[0] <= last})
    section = page.split('id="referrals"', 1)[1].split("</section>", 1)[0]
    shown = dict(re.findall(r'data-label="دستگاه">([^<]+)</td>\s*<td class="n count" '
                            r'data-label="شمار">([^<]+)</td>', section))
    bodies = Counter()
    for (_, kind, code), n in window.items():
        if kind == "referral":
            bodies[default_pack.service_by_code[code].referral_body] += n
    assert shown == {b: fa(n) for b, n in bodies.items()}
    recent = page.split('id="unplaced-recent"', 1)[1]
    assert NONSENSE[0] in recent and "آزمایشی" in recent  # the channel, in Persian


async def test_deputy_shares_equal_direct_counts(db: str, default_pack: Pack) -> None:
    """Each deputy's share: a placed ticket by its unit's deputy, one in the centre's queue by
    the deputy over its service; the same from the roll-ups as from the tickets."""
    rng = random.Random(5)
    city = default_pack.city
    now = datetime.now(UTC)
    services = [s for s in default_pack.services if not s.is_referral]
    for i in range(60):
        service = rng.choice(services)
        unit = rng.choice([None, *(u.code for u in city.units)])
        await file(service.service_code, chat=f"d{i}", unit=unit,
                   now=now - timedelta(days=rng.uniform(0, 40)))
    assert len(set(city.deputy_by_unit.values())) >= 3

    async def check(days: int) -> None:
        since = now - timedelta(days=days)
        want: Counter[str] = Counter()
        for t in await Ticket.filter(created_at__gte=since, created_at__lt=now):
            if t.unit_code:
                deputy = city.deputy_by_unit.get(t.unit_code)
            else:
                service = default_pack.service_by_code[t.service_code]
                deputy = city.deputy_for_service(service.service_code, service.group)
            want[deputy or not_tickets.NO_DEPUTY] += 1
        figures = await queries.dashboard(since, now, now)
        got = await not_tickets.deputy_shares(default_pack, since, now, figures.by_unit)
        assert {r.label: r.count for r in got} == dict(want), days
        assert sum(r.share or 0 for r in got) == pytest.approx(100.0)
        assert [r.count for r in got] == sorted(want.values(), reverse=True)

    for days in (7, 30, 90):
        await check(days)
    await rollups.refresh(now)
    for days in (7, 30, 90):
        await check(days)
    # Urban services (every district unit under one deputy) are placed even without a unit.
    waste = default_pack.service_by_code["waste_bin"]
    assert city.deputy_for_service("waste_bin", waste.group) == \
        city.deputy_by_unit["r1_services"]


async def test_unplaced_words_are_bounded_and_go_like_a_citizens(
        db: str, default_pack: Pack, default_classifier: Classifier) -> None:
    clock = [NOW]
    dialogue = Dialogue(default_pack, default_classifier, clock=lambda: clock[0], timezone=TZ)
    chat = MemoryChannel(dialogue)
    await chat.say("old", NONSENSE[0])
    clock[0] = NOW + timedelta(days=20)
    await chat.say("mine", "قلمبه " * 2000)  # a paste: kept cut short
    for _ in range(happenings.PER_CHAT_DAY + 5):  # a flood: counted, not all kept
        await chat.say("flood", NONSENSE[1])
    await chat.say("other", NONSENSE[2])
    kept = {m.chat_id: m for m in await UnplacedMessage.all()}
    assert len(kept["mine"].text) == happenings.MAX_TEXT
    assert await UnplacedMessage.filter(chat_id="flood").count() == happenings.PER_CHAT_DAY
    unknown = await HappeningCount.filter(code=happenings.UNKNOWN).values_list("count",
                                                                               flat=True)
    assert sum(unknown) == 1 + 1 + happenings.PER_CHAT_DAY + 5 + 1

    # A citizen's erasure takes their unplaced words at once, and nobody else's.
    await chat.say("mine", "اطلاعات من را پاک کنید")
    assert not await UnplacedMessage.filter(chat_id="mine").exists()
    assert await UnplacedMessage.filter(chat_id="other").exists()

    # Retention: after the window they go, as a citizen's words on a ticket do.
    policy = retention.Policy(days=10)
    preview = await retention.preview(NOW + timedelta(days=20), policy)
    assert preview.unplaced == 1  # "old" only
    done = await retention.purge(NOW + timedelta(days=20), policy)
    assert done.unplaced == 1
    assert not await UnplacedMessage.filter(chat_id="old").exists()
    assert await UnplacedMessage.filter(chat_id="other").exists()
    # The counts stay for the statistics.
    assert sum(await HappeningCount.all().values_list("count", flat=True)) == sum(unknown)


async def test_unplaced_words_are_stored_as_printable_text(db: str) -> None:
    """NUL and lone surrogates (PostgreSQL refuses both) are dropped, not the message."""
    await happenings.keep_unplaced(happenings.UNKNOWN, "قلمبه\x00 سلمبه\ud800\n\tبادمجان",
                                   "memory", "nul", NOW, TZ)
    stored = await UnplacedMessage.get(chat_id="nul")
    assert stored.text == "قلمبه سلمبه بادمجان"
    assert (await HappeningCount.get(code=happenings.UNKNOWN)).count == 1

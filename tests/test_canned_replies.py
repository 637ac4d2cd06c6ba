"""Canned replies: the pack's replies.yaml is checked like the rest of the pack; an admin
rewrites a reply in the panel (kept in the database over the pack's text); the ticket page
offers the replies fitting the ticket with the placeholders filled in; sending one goes
through the ordinary reply route to the citizen. Over HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from peygir.config.pack import check_pack, load_pack
from peygir.config.replies import TEXT_MAX, fill, placeholder_problem
from peygir.messages.digits import persian_digits
from peygir.messages.persian import jalali
from peygir.ticket_store.models import CannedReplyOverride, OutboxMessage
from tests.conftest import EVAL_ABSENT, EVAL_PACK, ROOT
from tests.panel_support import build_app, csrf_for, file, signed_in

SERVICES = """\
services:
  - service_code: asphalt
    service_name: آسفالت
    group: فنی و عمرانی
    jurisdiction: municipal
    keywords: [آسفالت]
"""
FAQ = """\
faqs:
  - id: hours
    question: ساعت کاری؟
    answer: شبانه‌روزی.
"""
BAD_REPLIES = """\
replies:
  - id: ok
    title: درست
    text: کد {code} تا {deadline} در {unit}.
  - id: typo
    title: غلط تایپی
    text: تا {dedline} پاسخ می‌دهیم.
  - id: ok
    title: تکراری
    text: دوباره.
  - id: stranger
    title: خدمت ناشناخته
    services: [no_such_service]
    text: متن.
  - id: brace
    title: آکولاد تنها
    text: "کد {code"
  - id: notext
    title: بی‌متن
  - id: colour
    title: فیلد ناشناخته
    text: متن.
    colour: red
"""


def pack_with(folder: Path, replies: str | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "services.yaml").write_text(SERVICES, encoding="utf-8")
    (folder / "faq.yaml").write_text(FAQ, encoding="utf-8")
    if replies is not None:
        (folder / "replies.yaml").write_text(replies, encoding="utf-8")
    return folder


# -- the pack ----------------------------------------------------------------------------------
def test_pack_check_names_each_bad_reply_and_field(tmp_path: Path) -> None:
    pack, problems = check_pack(pack_with(tmp_path / "bad", BAD_REPLIES))
    assert pack is None
    text = "\n".join(str(p) for p in problems)
    assert "replies.yaml:5: typo field 'text'" in text and "{dedline}" in text
    assert "replies.yaml:8: ok field 'id': duplicate reply id (first at line 2)" in text
    assert "stranger field 'services': unknown service code 'no_such_service'" in text
    assert "brace field 'text'" in text
    assert "notext field 'text': required field is missing" in text
    assert "colour field 'colour': unknown field" in text
    assert all(str(p).startswith("replies.yaml:") for p in problems)
    assert len(problems) == 6  # the good entry is not named

    cli = subprocess.run([sys.executable, "-m", "peygir", "pack", "check", str(tmp_path / "bad")],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert cli.returncode != 0 and "typo field 'text'" in cli.stderr


def test_replies_are_optional_and_the_default_and_eval_packs_pass(tmp_path: Path) -> None:
    without = load_pack(pack_with(tmp_path / "none", None))
    assert without.replies == ()
    default = load_pack()
    assert len(default.replies) >= 5
    assert any(r.services for r in default.replies) and any(not r.services for r in default.replies)
    if not EVAL_PACK.is_dir():
        pytest.skip(EVAL_ABSENT)
    assert check_pack(EVAL_PACK)[1] == []
    # The second city with our general replies (they name no service of ours) loads too.
    copy = shutil.copytree(EVAL_PACK, tmp_path / "eval")
    general = [line for line in (ROOT / "config/pack/replies.yaml").read_text(
        encoding="utf-8").split("\n  - ") if "services:" not in line]
    (copy / "replies.yaml").write_text("\n  - ".join(general), encoding="utf-8")
    loaded = load_pack(copy)
    assert loaded.replies and all(not r.services for r in loaded.replies)


def test_placeholders() -> None:
    assert placeholder_problem("کد {code} تا {deadline} در {unit}") is None
    assert "{name}" in (placeholder_problem("سلام {name}") or "")
    assert placeholder_problem("یک } تنها") and placeholder_problem("{{code}}")
    # One pass: a value that looks like a placeholder is not filled again.
    assert fill("{code} {unit}", {"code": "{unit}", "unit": "واحد"}) == "{unit} واحد"


# -- the panel ---------------------------------------------------------------------------------
@pytest.fixture
def app(db: str, tmp_path: Path):
    return build_app(db, tmp_path / "media")


def picker(page: str) -> dict[str, tuple[str, str]]:
    """The ticket page's canned replies: id -> (title, text as it will be sent)."""
    found = re.findall(r'<option value="([^"]+)" data-text="([^"]*)">([^<]*)</option>', page)
    return {rid: (html.unescape(title), html.unescape(text)) for rid, text, title in found}


async def test_ticket_page_offers_fitting_replies_with_placeholders_filled(app) -> None:
    ticket = await file("asphalt", unit="north_works")
    async with signed_in(app, "sara", "operator") as c:
        page = (await c.get(f"/panel/tickets/{ticket.tracking_code}")).text
        offered = picker(page)
        assert "asphalt_scheduled" in offered and "received" in offered
        assert "waste_collection_shift" not in offered  # another service's
        assert next(iter(offered)) == "asphalt_scheduled"  # the service's own first
        _, text = offered["received"]
        assert persian_digits(ticket.tracking_code) in text
        assert jalali(ticket.answer_due) in text  # Jalali, Persian digits
        assert "فنی و عمرانی مناطق ۱ و ۲" in text  # the unit's name
        assert "{" not in "".join(t for _, t in offered.values())

        # Sending it is the ordinary reply: it reaches this ticket's citizen.
        sent = await c.post(f"/panel/tickets/{ticket.tracking_code}/reply",
                            data={"text": text, "csrf": await csrf_for(c)})
        assert sent.status_code == 303 and sent.headers["location"].endswith("done=reply")
    told = await OutboxMessage.filter(chat_id=ticket.chat_id).order_by("-id").first()
    assert told is not None and text in told.payload["text"]


async def test_a_ticket_with_no_unit_names_the_responsible_unit_generally(app) -> None:
    ticket = await file("waste_bin")
    async with signed_in(app, "sara", "operator") as c:
        offered = picker((await c.get(f"/panel/tickets/{ticket.tracking_code}")).text)
    assert "waste_collection_shift" in offered and "asphalt_scheduled" not in offered
    assert "واحد مسئول" in offered["waste_collection_shift"][1]


async def test_admin_rewrites_a_reply_and_resets_it(app) -> None:
    ticket = await file("asphalt", unit="north_works")
    new_text = "درخواست {code} را {unit} تا {deadline} انجام می‌دهد؛ سپاس از صبر شما."
    async with signed_in(app, "root", "admin") as c:
        listing = await c.get("/panel/replies")
        assert listing.status_code == 200 and 'id="reply-received"' in listing.text
        token = await csrf_for(c, "/panel/replies")
        saved = await c.post("/panel/replies/received", data={
            "title": "پاسخ نخست", "text": new_text, "csrf": token})
        assert saved.status_code == 303 and saved.headers["location"].endswith("done=saved")
        row = await CannedReplyOverride.get(reply_id="received")
        assert (row.title, row.text, row.updated_by) == ("پاسخ نخست", new_text, "staff:root")
        assert "staff:root" in (await c.get("/panel/replies")).text

        offered = picker((await c.get(f"/panel/tickets/{ticket.tracking_code}")).text)
        title, text = offered["received"]
        assert title == "پاسخ نخست"
        assert text == new_text.replace("{code}", persian_digits(ticket.tracking_code)).replace(
            "{unit}", "فنی و عمرانی مناطق ۱ و ۲").replace("{deadline}", jalali(ticket.answer_due))

        # Bounded, and checked like the pack: a Persian message, nothing stored.
        for data, error in (({"title": "x" * 121, "text": "متن"}, "long"),
                            ({"title": "ت", "text": "م" * (TEXT_MAX + 1)}, "long"),
                            ({"title": "ت", "text": "تا {dedline}"}, "placeholder"),
                            ({"title": " ", "text": "متن"}, "empty")):
            refused = await c.post("/panel/replies/thanks", data=data | {"csrf": token})
            assert refused.headers["location"].endswith(f"error={error}"), data
            shown = await c.get(refused.headers["location"])
            assert 'class="flash error"' in shown.text
        huge = await c.post("/panel/replies/thanks",
                            data={"title": "ت", "text": "م" * 100_000, "csrf": token})
        assert huge.status_code in (413, 422)  # the body guard or the form bound
        assert (await c.post("/panel/replies/nosuch", data={
            "title": "ت", "text": "م", "csrf": token})).status_code == 404
        assert (await c.post("/panel/replies/thanks", data={
            "title": "ت", "text": "م"})).status_code == 403  # no CSRF token
        assert not await CannedReplyOverride.filter(reply_id="thanks").exists()

        reset = await c.post("/panel/replies/received/reset", data={"csrf": token})
        assert reset.headers["location"].endswith("done=reset")
        assert not await CannedReplyOverride.exists()
        offered = picker((await c.get(f"/panel/tickets/{ticket.tracking_code}")).text)
        assert offered["received"][0] == "دریافت و پیگیری"  # the pack's own title again


@pytest.mark.parametrize("role", ["operator", "manager", "unit"])
async def test_only_an_admin_edits_replies(app, role: str) -> None:
    async with signed_in(app, f"u_{role}", role, unit="north_works" if role == "unit" else None
                         ) as c:
        assert (await c.get("/panel/replies")).status_code == 403
        token = await csrf_for(c)
        edit = await c.post("/panel/replies/received",
                            data={"title": "ت", "text": "م", "csrf": token})
        assert edit.status_code == 403
        assert (await c.post("/panel/replies/received/reset",
                             data={"csrf": token})).status_code == 403
        assert "/panel/replies" not in (await c.get("/panel/queue")).text
    assert not await CannedReplyOverride.exists()

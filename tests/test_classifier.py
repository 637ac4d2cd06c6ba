import json
import subprocess
import sys

import pytest

from peygir.config.pack import Pack
from peygir.nlu.classifier import Classifier
from tests.conftest import DEV_SET, pack_dir


@pytest.mark.parametrize("text", ["کد پیگیری ۱۲۳۴۵۶۷۸", "12345678", "وضعیت ٨٧٦٥٤٣٢١ چی شد"])
def test_tracking_code_in_any_digits_is_status(any_classifier: Classifier, text: str) -> None:
    intent = any_classifier.classify(text)
    assert intent.kind == "status"
    assert intent.tracking_code is not None and len(intent.tracking_code) == 8


def test_phone_numbers_are_not_tracking_codes(any_classifier: Classifier) -> None:
    assert any_classifier.classify("شماره من ۰۹۱۲۳۴۵۶۷۸۹ است").kind != "status"


def test_where_is_my_request_without_a_code(default_classifier: Classifier) -> None:
    assert default_classifier.classify("درخواستم چی شد؟").kind == "status"


@pytest.mark.parametrize("text", [
    "سه روز پیش زنگ زدم برای لامپ سوخته کوچه، هنوز کسی نیومده",
    "هفته قبل گزارش داده بودم که سطل زباله سر خیابون شکسته، چرا درستش نکردن؟",
    "از طریق همین ربات ثبت کردم که درخت افتاده، خبری نشد",
    "ما شکایت کرده بودیم از سروصدای کارگاه، چی شد پس؟",
])
def test_asking_after_an_earlier_report_is_status(any_classifier: Classifier, text: str) -> None:
    """«I reported it ... still nothing»: a follow-up even without a code, however well it
    names the problem (the dialogue then lists the citizen's own recent reports)."""
    assert any_classifier.classify(text).kind == "status"


@pytest.mark.parametrize("text", [
    "زنگ زدم ۱۳۷ گفتن اینجا بنویسم: جلوی مدرسه چاله بزرگی هست",
    "تماس گرفتم ولی کسی جواب نداد، میخوام بگم لامپ کوچه سوخته",
])
def test_mentioning_a_call_is_not_a_follow_up(default_classifier: Classifier, text: str) -> None:
    """A new report that says how the citizen got here is still a report."""
    assert default_classifier.classify(text).kind == "service"


@pytest.mark.parametrize("text", ["سلام", "سلااام وقتتون بخیر", "مرسی 🙏", "خسته نباشید"])
def test_greetings(any_classifier: Classifier, text: str) -> None:
    assert any_classifier.classify(text).kind == "greeting"


@pytest.mark.parametrize("text", ["", "   ", "qwzx", "🙂🙂", "\x00\x01\x02"])
def test_nothing_to_match_is_unknown(any_classifier: Classifier, text: str) -> None:
    assert any_classifier.classify(text).kind == "unknown"


def test_long_and_mixed_input_does_not_break(any_classifier: Classifier) -> None:
    any_classifier.classify("آسفالت " * 5000)
    intent = any_classifier.classify("asfalt کوچه ما kharabe و چاله داره")
    assert intent.kind == "service" and intent.code == "asphalt"


def test_urgent_comes_from_the_pack(any_pack: Pack, any_classifier: Classifier) -> None:
    intent = any_classifier.classify("یک درخت بزرگ روی ماشین‌ها افتاده")
    assert intent.kind == "service"
    assert intent.urgent == any_pack.service_by_code[intent.code or ""].urgent


def test_referral_names_the_outside_body(any_classifier: Classifier) -> None:
    intent = any_classifier.classify("بوی گاز شدید توی کوچه پیچیده")
    assert intent.kind == "service" and intent.code == "ext_gas"
    assert intent.referral and "گاز" in intent.referral


def test_typos_and_finglish_still_match(default_classifier: Classifier) -> None:
    assert default_classifier.classify("صطل زبالع پر شده").code == "waste_bin"
    assert default_classifier.classify("koche ma pore chale").code == "asphalt"


def test_scores_are_ordered_and_bounded(any_classifier: Classifier) -> None:
    intent = any_classifier.classify("درخت خشک شده کوچه را هرس کنید")
    scores = [intent.score] + [c.score for c in intent.alternatives]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores == sorted(scores, reverse=True)


def test_dev_set_accuracy_floor(eval_classifier: Classifier) -> None:
    """A floor, not the target: the benchmark prints the real figures."""
    lines = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines()]
    correct = 0
    for line in lines:
        expect, intent = line["expect"], eval_classifier.classify(line["text"])
        key = expect.get("code") or expect.get("id")
        correct += intent.kind == expect["kind"] and key in (None, intent.code, intent.faq_id)
    assert correct / len(lines) >= 0.8


@pytest.mark.parametrize("pack", ["default", "eval"])
def test_cli_classify_contract(pack: str) -> None:
    messages = "چاله بزرگ وسط خیابان\nساعت کاری شهرداری چنده؟\nکد ۱۲۳۴۵۶۷۸\nسلام\nبادمجان\n"
    result = subprocess.run(
        [sys.executable, "-m", "peygir", "classify", "--pack", str(pack_dir(pack))],
        input=messages, capture_output=True, text=True, timeout=60, check=True,
    )
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["kind"] for r in rows] == ["service", "faq", "status", "greeting", "unknown"]
    for row in rows:
        assert set(row) >= {"kind", "code", "faq_id", "score", "urgent", "alternatives"}
        assert isinstance(row["score"], float) and isinstance(row["urgent"], bool)
        for alt in row["alternatives"]:
            assert ("code" in alt) != ("faq_id" in alt) and "score" in alt
    assert rows[0]["code"] == "asphalt" and rows[1]["faq_id"]


def test_words_heard_rather_than_read_still_match(default_classifier: Classifier) -> None:
    """Whisper writes by sound: voiced/voiceless pairs swapped, one word cut in two."""
    tree = default_classifier.classify("یه در اخد بزرگ تو کوچه افتاده")
    assert tree.code == "fallen_tree"
    road = default_classifier.classify("از فلت کوچه ما خراب شده")
    assert "asphalt" in [road.code] + [c.key for c in road.alternatives[:2]]

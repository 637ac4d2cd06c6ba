from peygir.messages.digits import persian_digits
from peygir.nlu.finglish import to_persian
from peygir.nlu.normalize import match_tokens, normalize


def test_arabic_letters_become_persian() -> None:
    assert normalize("كوچة علي") == "کوچه علی"
    assert normalize("خانۀ ما") == "خانه ما"
    assert normalize("مسؤول") == "مسوول"


def test_digits_of_every_script_meet() -> None:
    assert normalize("۱۲۳") == normalize("١٢٣") == normalize("123") == "123"
    assert persian_digits("کد 4567") == "کد ۴۵۶۷"


def test_diacritics_and_tatweel_removed() -> None:
    assert normalize("خِیابـــان") == "خیابان"
    assert normalize("شهرداریّ") == "شهرداری"


def test_half_space_variants_meet() -> None:
    forms = ["می خوام", "می\u200cخوام", "میخوام", "می \u200c خوام"]
    assert len({tuple(match_tokens(f)) for f in forms}) == 1
    assert match_tokens("کوچه ها") == match_tokens("کوچه‌ها") == match_tokens("کوچهها")


def test_stretched_letters_collapse() -> None:
    assert normalize("خیلیییییی") == "خیلی"
    assert match_tokens("سلاااااام") == match_tokens("سلام")


def test_punctuation_and_emoji_do_not_reach_matching() -> None:
    assert match_tokens("آسفالت!!! 😡😡 خراب، است؟") == match_tokens("آسفالت خراب است")


def test_sound_alike_letters_and_spoken_forms_meet() -> None:
    assert match_tokens("صطل") == match_tokens("سطل")
    assert match_tokens("خیابون") == match_tokens("خیابان")
    assert match_tokens("آسفالت") == match_tokens("اسفالت")


def test_finglish_becomes_matchable_persian() -> None:
    assert match_tokens("koche ma pore chale") == match_tokens("کوچه ما پوره چاله")
    assert to_persian("khiaboon") in ("خیابون", "خیابون")
    assert match_tokens("Asfalt") == match_tokens("اسفالت")


def test_garbage_is_harmless() -> None:
    assert match_tokens("\x00\x01\ufffd\ufffd") == []
    assert normalize("   ") == ""

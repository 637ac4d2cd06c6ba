"""Everyday words grouped by what they are about, so that a citizen's word meets the pack's.

A pack says «حیوان»; a citizen writes «کبوتر» or «گربه». Both sides are mapped to the same
concept term (weaker evidence than the word itself), so reports written in words the pack
never listed still find their service. The groups describe the city's vocabulary in general,
not any city's catalogue, and are matched exactly after folding (no fuzzy concept hits).
"""

from __future__ import annotations

from nlu.normalize import match_tokens

_GROUPS: dict[str, str] = {
    "animal": "حیوان حیوانات جانور جانوران سگ سگها گربه گربها کبوتر پرنده پرندها کلاغ گنجشک "
              "مرغ خروس اردک غاز اسب الاغ خر گاو گوسفند بز شتر روباه شغال توله میمون قناری طوطی",
    "carcass": "لاشه جنازه جسد مرده مردار تلف تلفشده",
    "pest": "سوسک موش موشها مگس پشه ساس کک کنه شپش موریانه عقرب رتیل حشره حشرات جونور "
            "موذی سمپاشی سم طعمه مورچه",
    "car": "ماشین خودرو اتومبیل پراید پژو سمند پیکان تیبا دنا رانا وانت نیسان کامیون کامیونت "
           "تریلی موتور موتورسیکلت پلاک اسقاط اوراقی",
    "furniture": "مبل مبلمان کاناپه یخچال فریزر کمد تخت تشک فرش موکت کابینت اثاثیه اثاث "
                 "لوازم اسباب وسایل لباسشویی ظرفشویی تلویزیون میز صندلی بخاری کولر آبگرمکن",
    "debris": "نخاله خاک آجر سیمان گچ کاشی سرامیک ضایعات مصالح بنایی بتن سنگ شن ماسه "
              "خاکبرداری تخریب",
    "waste": "زباله آشغال آشغالها پسماند کیسه زبالها کثافت کثیف",
    "fire": "آتش آتیش شعله دود سوختن سوخت میسوزه سوخته حریق آتشسوزی انفجار",
    "crime": "دزد دزدی سرقت زورگیری کیفقاپی چاقو قمه دعوا نزاع درگیری تهدید اسلحه تفنگ "
             "قاچاق معتاد مواد فروشنده مزاحم ضرب شتم",
    "water": "آب لوله شیر کنتور فاضلاب انشعاب ترکیدگی ترکیده نشتی آبرسانی",
    "power": "برق تیر سیم کابل ترانس ترانسفورماتور کنتور قطعی خاموشی",
    "building": "ساختمان خانه بنا ملک دیوار سقف خرابه کلنگی متروکه مخروبه فرسوده آپارتمان "
                "واحد طبقه",
    "beggar": "گدا گدایی تکدی متکدی کارتنخواب بیخانمان ولگرد فالفروش فال",
    "staff": "کارمند کارمندان مامور ماموران مأمور پرسنل کارکنان باجه کارشناس رفتگر پاکبان "
             "نگهبان متصدی",
    "rude": "بیادبی بیادب بداخلاقی بداخلاق توهین فحش رشوه بدرفتاری بیاحترامی تحقیر",
    "signal": "چراغ راهنمایی سیگنال چشمکزن قرمز زرد سبز",
    "sign": "تابلو تابلوی علامت ایست ممنوع یکطرفه خطکشی",
    "rail": "مترو قطار واگن تونل ریل",
    "taxi": "تاکسی آژانس مسافرکش تاکسیرانی",
    "bus": "اتوبوس اتوبوسرانی بیآرتی مینیبوس",
    "tree": "درخت درختان درختها شاخه شاخها تنه ریشه نهال چنار کاج سرو بید توت اقاقیا",
    "garden": "پارک بوستان چمن گلکاری باغچه فضایسبز گل",
    "play": "تاب سرسره الاکلنگ وسایلبازی زمینبازی",
    "noise": "صدا سروصدا بوق موسیقی ساز شلوغی آلودگیصوتی",
    "smell": "بو تعفن متعفن گند",
    "flood": "آبگرفتگی سیل سیلاب بارون باران آبراه",
    "snow": "برف یخ یخزدگی یخبندان کولاک",
    "gas": "گاز کپسول",
}


def _build() -> dict[str, str]:
    concept_of: dict[str, str] = {}
    for concept, words in _GROUPS.items():
        for token in match_tokens(words):
            concept_of.setdefault(token, "~" + concept)
    return concept_of


CONCEPT_OF = _build()


def concept(token: str) -> str | None:
    """The concept term of a folded token, trying it bare and without a spoken suffix."""
    found = CONCEPT_OF.get(token)
    if found:
        return found
    for cut in range(1, min(4, len(token) - 2)):
        found = CONCEPT_OF.get(token[:-cut])
        if found:
            return found
    return None

"""Small closed word lists of everyday Persian: function words, greetings, question cues.

These describe how people write, not what any city offers; the city's own words live in its
pack. Entries are written in plain Persian and folded with the same function as the messages.
"""

from __future__ import annotations

from itertools import pairwise

from peygir.nlu.normalize import match_tokens

_STOPWORDS_TEXT = """
و یا در به از که را رو با برای تا هم یه یک این اون آن همین همون اونجا اینجا اینا اونا
من ما تو شما او اون ایشون ایشان ما مون شون تون ام اش
است هست هستش هستن هستند بود بودن بوده باشه باشد میشه می‌شود میشود شده شد شدن شدند شدن
کنید کنین بکنید بکنین کنه کند کرده کردن کردم کردیم کردند میکنه می‌کند میکنن میکنید می‌کنید
داره دارد داریم دارن دارند دارم داشت داشتم نداره ندارد ندارن
هی خیلی بسیار کلا اصلا واقعا دیگه دیگر الان امروز دیروز دیشب هنوز باز همه هر چند
لطفا لطفاً خواهشا خواهشمند خواهشمندم خواهشمنده است استدعا تقاضا
آقا خانم جناب سرکار محترم عزیز ببخشید ببخشین
سر توی تو روی رو زیر پشت جلوی جلو کنار نزدیک بین داخل پیش بعد قبل وسط بالا پایین
ولی اما چون چونکه اگه اگر پس نه آره بله خب خوب
ی یی ها های
# everyday verbs and words that carry no topic of their own
میخوام میخواستم میخواهم می‌خواهم میخوایم بخوام خواستم خواهش
بیاید بیاین بیایید بیان بیا میاد میان اومد اومدن اومده نیومد نیومدن نیومده آمد آمده
برید برین برم بری بره رفت رفتم رفتن رفته میره میرن میرم
بگید بگین بگو بگم گفت گفتم گفتن گفته میگه میگن میگم بگه
کنم کنیم کنی کن بکن بکنم نکن نکنید نکردن نکرده نکرد نمیکنه نمیکنن نمیکنید
بدید بدین بده بدم داد دادم دادن داده میده میدن میدم نداد ندادن نداده
ببینم ببینید ببین دیدم دیدن دیده میبینم
شده‌ام شدم شدیم شو بشه نشد نشده نمیشه میشن بشن
بود بودم بودیم نبود نبوده هستم هستیم نیست نیستن نیستش
باشه باشن باشیم
دارین دارید داشتن داشته نداریم ندارم
برام براش برامون براتون بهم بهش بهمون بهتون ازش ازمون ازتون باهاش
الآن فعلا همیشه هیچ هیچی هیچکس کسی یکی چیزی همه‌چی چیز
اینو اونو اینه اونه اینم اونم خودم خودمون خودش خودشون خودتون
ممکن ممکنه حتما شاید انگار مثلا یعنی البته
بار دفعه
"""

_GREETINGS_TEXT = """
سلام سلامت سلامتی علیکم درود بخیر بخير شبتون روزتون وقتتون
خسته نباشید نباشین خداقوت قوت خدا
ممنون ممنونم ممنونیم مرسی متشکر متشکرم تشکر سپاس سپاسگزار سپاسگزارم
دست دستتون دستت دستتان درد نکنه نکند لطف کردید کردین محبت مهربانی
خوبین خوبید خوبی خوب هستین چطورین چطورید احوال حال
خداحافظ خدانگهدار فعلا بای شاد باشید موفق باشید
hi hello salam thanks
"""

# Words that make a message a question rather than a report.
_QUESTION_TEXT = """
چطور چطوری چگونه چجوری چه‌جوری کجا کجاست کجای کجاها چه چی چیه چیست آیا کدام کدوم
چند چنده چقدر چقد چقدره میتونم می‌توانم میتوانم میتونیم باید بایستی امکان امکانش نحوه
هست؟ لازمه لازم است
"""

# The subset that makes a message a question on its own («چند نفر» or «باید» do not).
_HOW_WHERE_TEXT = """
چطور چطوری چگونه چجوری کجا کجاست کجای کجاها چیست چیه آیا کدام کدوم چقدر چقد چقدره نحوه
"""

# Words that say something is broken, in the way or not working: a statement built on them
# is a report of a problem, not a question for the FAQ, even when an FAQ shares its topic.
_PROBLEM_TEXT = """
خراب خرابه خرابی خرابن داغون داغونه شکسته شکسته‌شده شکست شکسته‌اند شکستن کج کجه لق لقه
افتاده افتاد افتادن افتادند بیفته میفته میوفته ریخته ریختن ریخت بریزه میریزه ترک ترک‌خورده
سوخته سوخت سوختن میسوزه قطع قطعه قطعی نشت نشتی چکه میچکه گرفتگی گرفته مسدود بسته بند
لبریز سرریز پرشده کثیف کثافت بدبو بو بوی تعفن خطر خطرناک خطرناکه آسیب آسیب‌دیده زخمی
مزاحم مزاحمت سروصدا ول رها رهاشده مونده مانده خاموش خاموشه تاریک تاریکه نمیشه نمیتونیم
نمیتونم نمیکنه کار‌نمیکنه نیومده نیومدن نیامده نکردن نکرده نمیاد نمیان گیر گیرکرده
"""

STATUS_WORDS_TEXT = """
پیگیری رهگیری وضعیت کد شماره درخواست درخواستم گزارش گزارشم شکایت شکایتم
"""

# «where has my request got to»: a word for the request and a word asking what became of it.
STATUS_ASK_TEXT = """
چی‌شد چیشد کجا رسید رسیده نتیجه وضعیت مرحله انجام بررسی اقدام خبری
"""


# «I reported it» in the ways people say it: a word for the report and a first-person (or
# perfect) verb. With a follow-up cue below, a message asks what became of an earlier report
# («دو هفته پیش زنگ زدم ... هنوز کسی نیومده»), even when it names the problem again.
REPORTED_NOUNS_TEXT = """
ثبت گزارش اطلاع اعلام زنگ تماس پیام درخواست شکایت
"""
REPORTED_VERBS_TEXT = """
کردم کردیم کرده کردهام کردهایم دادم دادیم داده دادهام دادهایم زدم زدیم زده زدهام زدهایم
گرفتم گرفتیم گرفته گرفتهام گرفتهایم فرستادم فرستادیم فرستاده
"""
# What is asked of that earlier report: still nothing, why, when, any news.
FOLLOW_UP_TEXT = """
هنوز خبری اقدامی رسیدگی جوابی چرا کی پس
"""


def _fold_all(text: str) -> frozenset[str]:
    """The folded words of a list; lines starting with «#» are notes, not words (read as
    Finglish, «carry no topic» would make «کاری» and «نو» stopwords)."""
    lines = (line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return frozenset(match_tokens("\n".join(lines)))


STOPWORDS = _fold_all(_STOPWORDS_TEXT)
GREETING_WORDS = _fold_all(_GREETINGS_TEXT)
QUESTION_WORDS = _fold_all(_QUESTION_TEXT)
HOW_WHERE_WORDS = _fold_all(_HOW_WHERE_TEXT)
PROBLEM_WORDS = _fold_all(_PROBLEM_TEXT)
STATUS_WORDS = _fold_all(STATUS_WORDS_TEXT)
STATUS_ASK_WORDS = _fold_all(STATUS_ASK_TEXT)
REPORTED_NOUNS = _fold_all(REPORTED_NOUNS_TEXT)
REPORTED_VERBS = _fold_all(REPORTED_VERBS_TEXT)
FOLLOW_UP_WORDS = _fold_all(FOLLOW_UP_TEXT)


def says_it_was_reported(tokens: list[str]) -> bool:
    """Whether folded ``tokens`` say «I (we) reported it»: a report word, then its verb."""
    return any(word in REPORTED_NOUNS and verb in REPORTED_VERBS
               for word, verb in pairwise(tokens))

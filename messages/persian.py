"""What citizens read: Jalali dates in Tehran time, Persian digits, Persian status names."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import jdatetime

from peygir.messages.digits import persian_digits
from peygir.messages.types import Button, Reply

_JALALI_MONTHS = ("فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد", "شهریور",
                  "مهر", "آبان", "آذر", "دی", "بهمن", "اسفند")

STATUS_LABELS = {
    "new": "ثبت شده، در انتظار بررسی",
    "assigned": "ارجاع به واحد اجرایی",
    "in_progress": "در حال انجام",
    "resolved": "انجام شده",
    "closed": "بسته شده",
    "rejected": "امکان انجام ندارد",
    "referred": "ارجاع به دستگاه مسئول",
    "reopened": "بازگشایی برای اصلاح",
}

CHANNEL_LABELS = {
    "web": "گفت‌وگوی وب",
    "telegram": "تلگرام",
    "bale": "بله",
    "eitaa": "ایتا",
    "instagram": "اینستاگرام",
    "memory": "آزمایشی",
    "open311": "Open311",
}

# Digits inside Latin words, links or codes stay ASCII; the rest become Persian.
_FREE_DIGITS = re.compile(r"(?<![A-Za-z0-9/:._\-=?&%#])\d+(?![A-Za-z/_\-=&%#])")


def to_persian_digits(text: str) -> str:
    return _FREE_DIGITS.sub(lambda m: persian_digits(m.group(0)), text)


def local_jalali(moment: datetime, tz: str = "Asia/Tehran") -> jdatetime.datetime:
    """An aware moment as the Jalali date and wall-clock time people see in ``tz``."""
    local = moment.astimezone(ZoneInfo(tz))
    return jdatetime.datetime.fromgregorian(datetime=local.replace(tzinfo=None))


def jalali_midnight(year: int, month: int, day: int, tz: str = "Asia/Tehran") -> datetime:
    """The start of a Jalali day in ``tz``, as a UTC instant (the inverse of local_jalali);
    raises ValueError for a date that does not exist."""
    g = jdatetime.date(year, month, day).togregorian()
    return datetime(g.year, g.month, g.day, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def jalali(moment: datetime, tz: str = "Asia/Tehran", with_time: bool = True) -> str:
    """«۲ آذر ۱۴۰۵، ساعت ۱۴:۳۰» for an aware datetime."""
    j = local_jalali(moment, tz)
    text = f"{j.day} {_JALALI_MONTHS[j.month - 1]} {j.year}"
    if with_time:
        text += f"، ساعت {j.hour:02d}:{j.minute:02d}"
    return persian_digits(text)


def citizen_facing(reply: Reply) -> Reply:
    """Persian digits in everything a citizen reads (button data stays as it is)."""
    buttons = tuple(
        tuple(Button(to_persian_digits(b.label), b.data) for b in row) for row in reply.buttons
    )
    return replace(reply, text=to_persian_digits(reply.text), buttons=buttons)


def about_wait(seconds: float) -> str:
    """A wait as a citizen is told it: «کمتر از یک دقیقه», «حدود ۳ دقیقه», «حدود یک ساعت و ۲۰
    دقیقه». Whole minutes, and past an hour tens of minutes: it is an estimate."""
    if seconds < 60:
        return "کمتر از یک دقیقه"
    minutes = max(1, round(seconds / 60))
    if minutes >= 60:
        minutes = round(minutes / 10) * 10
    hours, rest = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append("یک ساعت" if hours == 1 else f"{hours} ساعت")
    if rest:
        parts.append("یک دقیقه" if rest == 1 else f"{rest} دقیقه")
    return persian_digits("حدود " + " و ".join(parts))

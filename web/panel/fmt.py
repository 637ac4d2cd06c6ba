"""How the panel writes things: Jalali dates, Persian digits, time left, Persian labels."""

from __future__ import annotations

from datetime import datetime

from peygir.messages.digits import persian_digits
from peygir.messages.persian import CHANNEL_LABELS, jalali, local_jalali

STATUS_STAFF = {
    "new": "جدید",
    "assigned": "ارجاع به واحد",
    "in_progress": "در حال انجام",
    "resolved": "انجام‌شده",
    "closed": "بسته",
    "rejected": "ردشده",
    "referred": "ارجاع به دستگاه دیگر",
    "reopened": "بازگشایی‌شده",
}

ROLE_LABELS = {
    "operator": "کارشناس ۱۳۷",
    "unit": "واحد اجرایی",
    "manager": "مدیر",
    "admin": "مدیر سامانه",
}


# Who did it, as a timeline shows it: the store writes these codes, staff read Persian.
ACTOR_LABELS = {
    "citizen": "شهروند",
    "system": "سامانه",
    "citizen:erase": "شهروند (درخواست پاک‌شدن داده‌ها)",
}
STAFF_PREFIX = "staff:"


def actor_label(actor: str, staff_names: dict[str, str] | None = None) -> str:
    """«شهروند», «سامانه», or the staff member's name (their user name if they have none)."""
    if actor.startswith(STAFF_PREFIX):
        username = actor[len(STAFF_PREFIX):]
        return (staff_names or {}).get(username) or username
    return ACTOR_LABELS.get(actor, actor)


def channel_label(channel: str | None) -> str:
    return CHANNEL_LABELS.get(channel or "", channel or "—")


def fa(value: object) -> str:
    """Persian digits; integers get the Persian thousands separator."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "بله" if value else "خیر"
    if isinstance(value, int):
        return persian_digits(f"{value:,}".replace(",", "٬"))
    if isinstance(value, float):
        return persian_digits(f"{value:,.1f}".replace(",", "٬").replace(".", "٫"))
    return persian_digits(str(value))


def jdate(moment: datetime | None, tz: str = "Asia/Tehran") -> str:
    return jalali(moment, tz) if moment else "—"


def jshort(moment: datetime | None, tz: str = "Asia/Tehran", with_time: bool = True) -> str:
    """۱۴۰۴/۰۸/۲۳ ۱۴:۳۰"""
    if moment is None:
        return "—"
    j = local_jalali(moment, tz)
    text = f"{j.year:04d}/{j.month:02d}/{j.day:02d}"
    if with_time:
        text += f" {j.hour:02d}:{j.minute:02d}"
    return persian_digits(text)


def duration(seconds: float | None) -> str:
    """A span in words: «۲ روز و ۳ ساعت», «۴۵ دقیقه»."""
    if seconds is None:
        return "—"
    seconds = abs(int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        text = f"{days} روز" + (f" و {hours} ساعت" if hours else "")
    elif hours:
        text = f"{hours} ساعت" + (f" و {minutes} دقیقه" if minutes else "")
    else:
        text = f"{minutes} دقیقه"
    return persian_digits(text)


def remaining(due: datetime | None, now: datetime) -> tuple[str, bool]:
    """(«۳ ساعت مانده» | «۲ روز تأخیر», late?)"""
    if due is None:
        return "—", False
    left = (due - now).total_seconds()
    if left >= 0:
        return f"{duration(left)} مانده", False
    return f"{duration(-left)} تأخیر", True


def filters(tz: str) -> dict[str, object]:
    return {
        "fa": fa,
        "jdate": lambda m: jdate(m, tz),
        "jshort": lambda m, with_time=True: jshort(m, tz, with_time),
        "status_label": lambda s: STATUS_STAFF.get(str(s), str(s)),
        "role_label": lambda r: ROLE_LABELS.get(str(r), str(r)),
        "duration": duration,
        "actor_label": actor_label,
        "channel_label": channel_label,
    }

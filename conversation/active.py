"""Active citizens and volunteers in the conversation (issue 20).

- «شهروند فعال» (/rank, or the welcome's button) asks a citizen who is not ranked for the
  public name they want; one who is sees their rank and count this Jalali month, with
  buttons to change the name or leave. «لغو شهروند فعال» (/rank_off) leaves at once.
- «همیاری» (/hamyar, or the welcome's button «درخواست همیاری») asks for a short reason and
  files a pending application; an operator decides it in the panel
  (:func:`review_application`) and the citizen hears the decision through the outbox.

What the store counts and how ties fall is in ticket_store/active.py. Everything here runs in
the transaction of the update (or of the panel's decision) that caused it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from tortoise.transactions import in_transaction

from peygir.conversation.chat_state import ChatState
from peygir.messages import active_texts as t
from peygir.messages.persian import citizen_facing
from peygir.messages.types import Button, IncomingMessage, Reply
from peygir.nlu.normalize import ZWNJ, ascii_digits, normalize
from peygir.ticket_store import active, standing, store
from peygir.ticket_store.models import Standing, VolunteerApplication

PREFIX = "act"  # every button's data: act:<action>
_MONTHS = ("فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد", "شهریور",
           "مهر", "آبان", "آذر", "دی", "بهمن", "اسفند")


def _key(text: str) -> str:
    """A command as typed, compared loosely: half-spaces, «@bot» and end punctuation aside."""
    clean = ascii_digits(normalize(text[:100])).replace(ZWNJ, " ")
    clean = " ".join(clean.split()).strip(" .!؟?").lower()
    return clean.split("@", 1)[0] if clean.startswith("/") else clean


_RANK = frozenset(_key(c) for c in t.RANK_COMMANDS)
_RANK_OFF = frozenset(_key(c) for c in t.RANK_OFF_COMMANDS)
_VOLUNTEER = frozenset(_key(c) for c in t.VOLUNTEER_COMMANDS)
_CANCEL = frozenset(_key(c) for c in ("لغو", "انصراف", "/cancel", "بیخیال", "نه", "خیر"))


def menu_buttons() -> tuple[tuple[Button, ...], ...]:
    """The welcome's buttons: the ranking, and applying to be a volunteer."""
    return ((Button(t.RANK_MENU, f"{PREFIX}:rank"),),
            (Button(t.VOLUNTEER_MENU, f"{PREFIX}:vol"),))


def _picks_a_choice(command: str, state: ChatState) -> bool:
    """On a channel without buttons a lone digit picks one of the numbered choices shown
    (the dialogue presses it); a name or a reason is never a lone small number."""
    choices = state.get("choices") or []
    return command.isdigit() and 1 <= int(command) <= len(choices)


def _cancel_row() -> tuple[tuple[Button, ...], ...]:
    return ((Button(t.CANCEL, f"{PREFIX}:cancel"),),)


def month_label(p: active.Period) -> str:
    if p.month is None:
        return str(p.year)
    return t.MONTH.format(month=_MONTHS[p.month - 1], year=p.year)


class ActiveCitizens:
    """The dialogue's part: typed commands and the next step (:meth:`respond`), buttons
    (:meth:`callback`)."""

    def __init__(self, clock: Callable[[], datetime], timezone: str) -> None:
        self.clock = clock
        self.timezone = timezone

    async def respond(self, msg: IncomingMessage, state: ChatState) -> list[Reply] | None:
        """The answer to a command of ours or to the step we asked for; None otherwise."""
        if msg.callback_data:
            return None
        step = state.get("active_step")
        if msg.from_voice or msg.location is not None or not (msg.text or "").strip():
            if step is not None:
                state.pop("active_step", None)  # they moved on: a place or a file is a report's
            return None
        command = _key(msg.text)
        if command in _RANK:
            return await self._rank(msg, state)
        if command in _RANK_OFF:
            return await self._off(msg, state)
        if command in _VOLUNTEER:
            return await self._volunteer(msg, state)
        if step is None:
            return None
        if state.get("petition"):  # a petition began meanwhile: it has the chat now
            state.pop("active_step", None)
            return None
        if command in _CANCEL:
            state.pop("active_step", None)
            return [Reply(t.CANCELLED)]
        if command.startswith("/") or _picks_a_choice(command, state):
            return None  # another command, or a numbered button («انصراف»): the step waits
        if step == "name":
            return await self._name(msg, state)
        return await self._reason(msg, state)

    async def callback(self, msg: IncomingMessage, arg: str, state: ChatState) -> list[Reply]:
        """A button of ours (data ``act:<arg>``)."""
        if arg == "rank":
            return await self._rank(msg, state)
        if arg == "rename":
            return self._ask_name(state)
        if arg == "out":
            return await self._off(msg, state)
        if arg == "vol":
            return await self._volunteer(msg, state)
        if arg == "cancel":
            state.pop("active_step", None)
            return [Reply(t.CANCELLED)]
        return [Reply(t.GONE)]

    # -- the ranking -------------------------------------------------------------------------
    async def _rank(self, msg: IncomingMessage, state: ChatState) -> list[Reply]:
        citizen = await store.citizen_for(msg.channel, msg.user_id)
        if not citizen.public_name:
            return self._ask_name(state)
        state.pop("active_step", None)
        lines = [t.YOUR_STANDING.format(name=citizen.public_name),
                 await self._my_rank(citizen.id)]
        return [Reply("\n".join(lines), (
            (Button(t.RENAME, f"{PREFIX}:rename"),), (Button(t.OPT_OUT, f"{PREFIX}:out"),)))]

    def _ask_name(self, state: ChatState) -> list[Reply]:
        state["active_step"] = "name"
        return [Reply(t.ASK_NAME.format(low=active.NAME_MIN, high=active.NAME_MAX),
                      _cancel_row())]

    async def _my_rank(self, citizen_id: int) -> str:
        month = active.this_month(self.clock(), self.timezone)
        mine, total = await active.standing_of(citizen_id, month.start, month.end)
        label = month_label(month)
        if mine is None:
            return t.NO_COUNT_YET.format(period=label)
        return t.YOUR_RANK.format(period=label, rank=mine.rank, total=total, count=mine.count)

    async def _name(self, msg: IncomingMessage, state: ChatState) -> list[Reply]:
        citizen = await store.citizen_for(msg.channel, msg.user_id)
        try:
            # normalize: Persian letters for Arabic ones, so «علي» and «علی» are one name.
            name = active.check_name(normalize(msg.text[:200]))
            if await active.name_taken(name, citizen.id):
                raise active.NameProblem("taken")
        except active.NameProblem as problem:
            return [Reply(t.NAME_BAD[problem.kind].format(low=active.NAME_MIN,
                                                          high=active.NAME_MAX),
                          _cancel_row())]
        renamed = citizen.public_name is not None
        await active.opt_in(citizen, name, self.clock())
        state.pop("active_step", None)
        head = (t.RENAMED if renamed else t.OPTED_IN).format(name=name)
        return [Reply(f"{head}\n{await self._my_rank(citizen.id)}")]

    async def _off(self, msg: IncomingMessage, state: ChatState) -> list[Reply]:
        state.pop("active_step", None)
        citizen = await store.citizen_for(msg.channel, msg.user_id)
        return [Reply(t.OPTED_OUT if await active.opt_out(citizen.id) else t.NOT_IN)]

    # -- volunteers --------------------------------------------------------------------------
    async def _volunteer(self, msg: IncomingMessage, state: ChatState) -> list[Reply]:
        citizen = await store.citizen_for(msg.channel, msg.user_id)
        if citizen.standing == Standing.VOLUNTEER:
            state.pop("active_step", None)
            return [Reply(t.ALREADY_VOLUNTEER)]
        if await active.pending_application(citizen.id) is not None:
            state.pop("active_step", None)
            return [Reply(t.ALREADY_PENDING)]
        state["active_step"] = "reason"
        return [Reply(t.ASK_REASON.format(low=active.REASON_MIN, high=active.REASON_MAX),
                      _cancel_row())]

    async def _reason(self, msg: IncomingMessage, state: ChatState) -> list[Reply]:
        reason = " ".join(normalize(msg.text[:2000]).split())
        if not active.REASON_MIN <= len(reason) <= active.REASON_MAX:
            return [Reply(t.REASON_BAD.format(low=active.REASON_MIN, high=active.REASON_MAX),
                          _cancel_row())]
        citizen = await store.citizen_for(msg.channel, msg.user_id)
        state.pop("active_step", None)
        if await active.pending_application(citizen.id) is None:  # a repeat files nothing
            await active.apply(citizen, msg.channel, msg.chat_id, reason)
        return [Reply(t.APPLIED)]


# -- the panel's decision, and an erasure request --------------------------------------------
async def review_application(application_id: int, approve: bool, actor: str, now: datetime,
                             note: str = "") -> VolunteerApplication | None:
    """An operator approves or rejects a pending application; the citizen is told in the
    same transaction. None when it was not pending (decided already, or no such one)."""
    async with in_transaction():
        application = await active.review(application_id, approve, actor, now, note)
        if application is None:
            return None
        lines = [t.APPROVED if approve else t.REJECTED]
        if not approve and application.review_note:
            lines.append(t.REJECTED_WHY.format(note=application.review_note))
        await store.enqueue(application.channel, application.chat_id,
                            citizen_facing(Reply("\n".join(lines))))
    return application


async def erase(channel: str, user_id: str) -> list[str]:
    """«اطلاعات من را پاک کنید»: the public name and any application go (a line saying so)."""
    citizen = await standing.by_channel_user(channel, user_id)
    if citizen is None or not await active.erase(citizen.id):
        return []
    return [t.ERASED]

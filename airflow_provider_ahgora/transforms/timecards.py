"""Daily reckon records -> Voors time cards (the body of ``POST /timeCards``, envelope ``timeCard``).

A *daily* record (``{employee, paymentDate, infotype, daily: [{day, results?, punches?}]}``, from a
reckon with ``daily.punches`` and/or ``daily.totals``) holds an employee's days. The daily records
of one employee and competence become **one** time card: when PontoWeb splits a month into several
records, they are merged (a day given twice identically is kept once; twice differently, refused).

======================= ==============================================================================
time card               from
======================= ==============================================================================
``remoteId``            ``remote_id``; default :func:`default_remote_id`, ``"<company>-<employee>-<YYYYMM>"``:
                        unique across the PontoWeb companies that feed one Voors account, and the same
                        on every run, so pushing the month again edits the card instead of adding one
``branch``              ``branch``: a CNPJ (``{"cnpj": ...}``), an object, or a function of the employee
``user``                ``{"cpf": ...}``: Voors identifies users by CPF, PontoWeb records carry only the
                        registration (``employee``), so ``user_lookup`` maps one to the other
``competence``          ``competence`` "MM/YYYY"; default the competence whose period holds the last day
``intervalStart/End``   "DD/MM/YYYY": the competence's closing period (``interval="month"``: the calendar
                        month, or with ``closing_day=N`` the period that ends on day N, e.g. 28/12/2022 to
                        27/01/2023 for 01/2023 with ``closing_day=27``, or ``period`` when given), or
                        the first and last day of the card's data (``interval="data"``, the default)
``days[].date``         the day, "DD/MM/YYYY" (days sorted)
``days[].entryN/exitN`` the day's punches "HH:mm" by label (``entrada-N`` -> ``entryN``, ``saida-N`` ->
                        ``exitN``), or in time order when no punch of the day is labelled
``days[].dailyTotal``   the day's results of type "hours", each ``{title, total "H:mm"}``; on a card with
                        no results at all (a ``daily.punches``-only reckon) every day gets one total,
                        ``worked_title``, the time between its entryN/exitN pairs
``totals``              the daily totals summed per (event, name) over the card, exactly, "H:mm"
``observations``        the day's break records that are no entry nor exit (see below), when there are
======================= ==============================================================================

**Every day on a card lies in its period.** A day outside the competence's period (December days on
a January card of a company that closes on the 27th, or a competence that does not match the days at
all) refuses the card, naming it: pass ``closing_day`` (or ``period``), or the right competence.

**Punches.** A punch's ``hour`` is read by :func:`~airflow_provider_ahgora.transforms.hours.
punch_to_minutes` ("0030" and the JSON number 30 are 00:30; "30" is refused), its ``type`` through
the status vocabulary (``O``, ``I``, ``BI``; anything else is refused, naming it). A day's punches
are put together so that their order in the list never matters:

1. *Exact duplicates are dropped*: the same date, hour and label (a double tap, or a clock punch
   "O" and a manual inclusion "I" of the same time), and an unlabelled punch at the very instant of
   a labelled one.
2. *Labels decide* when any punch of the day has a valid one (``entrada-N``/``saida-N``, also
   ``Entrada 1``, ``saída-1``, ``entry1``): slots follow the labels. A label given twice at
   different times (``entrada-1`` at 08:00 and 08:01), or an ordinary punch without a valid label
   among labelled ones, makes the day ambiguous: it is refused (named), never paired by position.
3. *Break records* (type ``BI``) labelled ``entrada-N``/``saida-N`` bound the periods like any punch
   (a clocked lunch break); a ``BI`` record with any other label is a pause inside a period: it is
   no slot, changes no time, and is listed in the card's ``observations``.
4. *Without labels*, the punches are paired in time order; they must all be dated and be an even
   number, otherwise which one is missing, or whether the shift crossed midnight, cannot be told
   and the day is refused.

Night shifts: a day's punches belong to that day even when dated the next calendar day. Times are
written as the clock showed them (``entry1`` ``"22:00"``, ``exit2`` ``"06:00"``), as in the Voors
document's own example (``exit4`` ``"00:47"``), and the time worked is computed on the real
timeline: 22:00 to 06:00 of the next day is 8 h. An undated punch that reads earlier than the one
before it in label order is taken to be past midnight. A slot earlier than the one before it, or an
entry without its exit when the time worked must be computed, refuses the day.

**Totals.** Results of type "days" (e.g. "Dias previstos") are left out: Voors totals are amounts of
hours. A card is built either from results (some day has ``results``: then every day must have
them, a day without is refused rather than left out of the month's totals) or from punches (no day
has ``results``: every day gets the computed ``worked_title``), never from a mix. Amounts are summed
exactly (centesimal values included) and rounded to whole minutes once, when written, with
``rounding`` (default ``ROUND_HALF_EVEN``).

**Nothing silently missing.** :func:`time_cards` names in a :class:`TransformError` every refused
card (every problem of it: each bad day with its day), every employee who has a monthly record with
results but no daily record (no card could be made), and a later record of an employee and
competence whose card was already made (records of one employee must come together, as PontoWeb
lists them).

Horaries and the hour bank are not in reckon records: add them to the returned dict if you have
them. The output validates through ``models.voors.TimeCardBody``; this module does not import it
(transforms import neither pydantic nor Airflow), the push operator validates it.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from airflow_provider_ahgora.companies import check_company
from airflow_provider_ahgora.transforms._records import (
    OnError,
    bad_value,
    check_on_error,
    employee_of,
    fingerprint,
    iter_records,
    punch_type,
    result_label,
    text,
    to_wire,
    unknown_value_error,
)
from airflow_provider_ahgora.transforms.errors import HoursFormatError, TransformError
from airflow_provider_ahgora.transforms.hours import (
    DEFAULT_ROUNDING,
    MINUTES_PER_DAY,
    minutes_to_clock,
    minutes_to_sexagesimal,
    punch_to_minutes,
    sum_minutes,
    value_in_minutes_or_days,
)

if TYPE_CHECKING:
    from airflow_provider_ahgora.models.pontoweb import DailyEntry, ReckonRecord

__all__ = [
    "BREAK_OBSERVATION",
    "DEFAULT_WORKED_TITLE",
    "UserLookup",
    "closing_period",
    "competence_of",
    "day_slots",
    "default_remote_id",
    "reckon_span",
    "time_card",
    "time_cards",
    "worked_minutes",
]

#: Title of the total computed from the punches, on a card built from punches only.
DEFAULT_WORKED_TITLE = "Horas trabalhadas"
#: Title of the observation that lists a day's break records that are no entry nor exit.
BREAK_OBSERVATION = "Registros de pausa (BI): {times}"

#: ``employee`` (registration) -> Voors user: a CPF, or a ``timeCard.user`` object holding ``cpf``
#: (and optionally ``pis``, ``workCard``, ``department``, ``jobRole``, ``jobFunction``).
UserLookup = Mapping[str, Any] | Callable[[str], Any]
#: A branch: a CNPJ string, a ``{"cnpj", "cei", "stateRegistry"}`` object, or a function of the employee.
BranchArg = str | Mapping[str, Any] | Callable[[str], Any] | None
#: A ``remoteId``: a fixed value (string, number, object) or a function ``(employee, competence)``.
RemoteIdArg = str | int | Mapping[str, Any] | Callable[[str, str], Any] | None
#: A period ``(first day, last day)``: dates or "YYYY-MM-DD" texts.
PeriodArg = tuple[date | str, date | str] | None

_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_COMPETENCE = re.compile(r"(0[1-9]|1[0-2])/([0-9]{4})")
_LABEL = re.compile(r"(entrada|sa[ií]da|entry|exit)[-_ ]?([0-9]{1,3})", re.IGNORECASE)
_MAX_DAYS_AWAY = 1
_MAX_NAMED_DAYS = 5
_TYPE_RANK = {"O": 0, "I": 1, "BI": 2}


def default_remote_id(employee: str, competence: str, *, company: str) -> str:
    """``"<company>-<employee>-<YYYY><MM>"``: ``default_remote_id("000123", "04/2025", company="a133595")``
    -> ``"a133595-000123-202504"``.

    One card per company, employee and competence, always the same id: a second push edits it, and
    two PontoWeb companies feeding one Voors account (a group with one HR platform) never overwrite
    each other's cards. ``company`` is PontoWeb's company code (in every reckon answer); it may hold
    letters, digits, ``_`` and ``.`` but no ``-``, so that no two (company, employee) pairs give one id.
    """
    check_company(company)
    month, year = _check_competence(competence)
    return f"{company}-{employee}-{year:04d}{month:02d}"


# --------------------------------------------------------------------------------------------------
# Periods
# --------------------------------------------------------------------------------------------------


def _check_competence(competence: Any) -> tuple[int, int]:
    match = _COMPETENCE.fullmatch(competence) if isinstance(competence, str) else None
    if match is None:
        raise ValueError(f"competence must be 'MM/YYYY' (e.g. '04/2025'), got {competence!r}")
    return int(match.group(1)), int(match.group(2))


def _check_closing_day(closing_day: Any) -> int | None:
    if closing_day is None:
        return None
    if isinstance(closing_day, bool) or not isinstance(closing_day, int) or not 1 <= closing_day <= 31:
        raise ValueError(
            "closing_day must be the day of the month on which the company closes its period, 1 to 31 "
            f"(31: the calendar month), or None; got {closing_day!r}"
        )
    return closing_day


def _month_end(year: int, month: int, closing_day: int | None) -> date:
    last = calendar.monthrange(year, month)[1]
    return date(year, month, last if closing_day is None else min(closing_day, last))


def closing_period(competence: str, closing_day: int | None = None) -> tuple[date, date]:
    """The first and last day of a competence's period.

    Without ``closing_day``, the calendar month. With ``closing_day=N`` the period ends on day N of
    the competence's month and starts the day after the previous period ended: the document's own
    time card, competence 01/2023 with ``closing_day=27``, covers 28/12/2022 to 27/01/2023. A month
    shorter than N ends on its last day (``closing_day=30``: 02/2025 ends on 28/02, 03/2025 starts on
    01/03), so periods follow each other without a gap or an overlap.

    :raises ValueError: for a bad competence or closing day.
    """
    month, year = _check_competence(competence)
    closing = _check_closing_day(closing_day)
    end = _month_end(year, month, closing)
    prev_year, prev_month = (year - 1, 12) if month == 1 else (year, month - 1)
    if prev_year < 1:
        return date(year, month, 1), end
    return _month_end(prev_year, prev_month, closing) + timedelta(days=1), end


def competence_of(day: date, closing_day: int | None = None) -> str:
    """The competence "MM/YYYY" whose period (see :func:`closing_period`) holds ``day``."""
    closing = _check_closing_day(closing_day)
    if day <= _month_end(day.year, day.month, closing):
        return f"{day.month:02d}/{day.year:04d}"
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return f"{month:02d}/{year:04d}"


def _check_period(period: Any, competence: str | None, closing_day: int | None) -> tuple[date, date] | None:
    if period is None:
        return None
    if closing_day is not None:
        raise ValueError("pass closing_day or period, not both: period already says where the month starts")
    if not isinstance(period, Sequence) or isinstance(period, str) or len(period) != 2:
        raise ValueError(f"period must be (first day, last day), got {period!r}")
    bounds = []
    for value in period:
        if isinstance(value, date):
            bounds.append(value)
        elif isinstance(value, str) and _ISO_DAY.fullmatch(value):
            try:
                bounds.append(date.fromisoformat(value))
            except ValueError:
                raise ValueError(f"period holds {value!r}, which is no date 'YYYY-MM-DD'") from None
        else:
            raise ValueError(f"period holds {value!r}: give dates or 'YYYY-MM-DD' texts")
    start, end = bounds
    if start > end:
        raise ValueError(f"period starts on {start} after it ends on {end}")
    if competence is not None:
        month, year = _check_competence(competence)
        if (end.month, end.year) != (month, year) or start < closing_period(competence, end.day)[0]:
            raise ValueError(
                f"period {start} to {end} is not a period of competence {competence}: it must end in "
                "that month and start after the same day of the month before"
            )
    return start, end


def reckon_span(
    records: Iterable[ReckonRecord | Mapping[str, Any] | str | bytes],
) -> tuple[date, date] | None:
    """The first and last day of every daily record among ``records``: the reckon's period as its
    days show it; ``None`` when there is no day.

    Streams ``records`` (e.g. an open ``results.jsonl``) keeping two dates. Unreadable records and
    days are passed over: :func:`time_cards` names them. Give the result as ``period`` to
    :func:`time_cards` when the company's ``closing_day`` is not known; the period it gives starts on
    the first day anyone worked, which is later than the real start when nobody worked that day.
    """
    first: date | None = None
    last: date | None = None
    for _, wire in iter_records(records):
        if isinstance(wire, TransformError) or not isinstance(wire.get("daily"), list):
            continue
        for entry in wire["daily"]:
            value = _get(entry, "day")
            if not (isinstance(value, str) and _ISO_DAY.fullmatch(value)):
                continue
            try:
                day = date.fromisoformat(value)
            except ValueError:
                continue
            first = day if first is None or day < first else first
            last = day if last is None or day > last else last
    return None if first is None or last is None else (first, last)


# --------------------------------------------------------------------------------------------------
# Days and punches
# --------------------------------------------------------------------------------------------------


class _Fail(Exception):
    """A problem in a day, with the field it concerns (turned into a TransformError by the caller)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class _Punch(NamedTuple):
    position: int
    """Index in the day's ``punches`` (for messages)."""
    minutes: int
    """Clock minutes 0..1439, as punched."""
    offset: int | None
    """Days from the punch's day to its ``date``; None when undated."""
    kind: str | None
    """"entry" or "exit" from a valid label; None otherwise."""
    number: int
    label: str
    """The label as given (stripped), "" when none."""
    type: str | None
    """"O", "I", "BI" (the vocabulary's value), None when not given."""

    @property
    def slot(self) -> str:
        return f"{self.kind}{self.number}"

    @property
    def clock(self) -> str:
        return minutes_to_clock(self.minutes)

    @property
    def is_break(self) -> bool:
        return self.type == "BI"

    def key(self) -> tuple[Any, ...]:
        """Two punches with the same key are duplicates: the same instant and the same label."""
        if self.kind is not None:
            return (self.offset, self.minutes, self.kind, self.number)
        return (self.offset, self.minutes, None, self.label.casefold(), self.is_break)

    def rank(self) -> tuple[int, int]:
        return (_TYPE_RANK.get(self.type or "", 3), self.position)


class _Slot(NamedTuple):
    punch: _Punch
    at: int
    """Minutes from the day's midnight on the real timeline (1560 = 02:00 of the next day)."""

    @property
    def name(self) -> str:
        return self.punch.slot


class _Plan(NamedTuple):
    slots: list[_Slot]
    """In slot order: entry1, exit1, entry2, ..."""
    pauses: list[_Punch]
    """Break records without an entry/exit label, in time order."""


def _parse_iso_day(value: Any, field: str) -> date:
    if isinstance(value, str) and _ISO_DAY.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _Fail(field, f"must be a date 'YYYY-MM-DD', got {value!r}")


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _entry_wire(entry: Any) -> Mapping[str, Any]:
    if hasattr(entry, "to_wire") and callable(entry.to_wire):
        entry = entry.to_wire()
    if not isinstance(entry, Mapping):
        raise _Fail("", f"must be an object {{day, results, punches}}, got {type(entry).__name__}")
    return entry


def _punches(entry: Mapping[str, Any], day: date) -> list[_Punch]:
    raw = entry.get("punches")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _Fail("punches", f"must be a list, got {type(raw).__name__}")
    out = []
    for j, punch in enumerate(raw):
        if not isinstance(punch, Mapping):
            raise _Fail(f"punches[{j}]", f"must be an object {{date, hour, type, label}}, got {punch!r}")
        try:
            hour: Any = punch.get("hour")
            minutes = punch_to_minutes(hour)
        except HoursFormatError as exc:
            raise _Fail(f"punches[{j}].hour", str(exc)) from exc
        when = punch.get("date")
        offset = None
        if when not in (None, ""):
            offset = (_parse_iso_day(when, f"punches[{j}].date") - day).days
            if abs(offset) > _MAX_DAYS_AWAY:
                raise _Fail(
                    f"punches[{j}].date",
                    f"punch dated {when} is more than a day away from its day {day.isoformat()}",
                )
        try:
            kind_of = punch_type(punch.get("type"))
        except unknown_value_error() as exc:
            raise _Fail(f"punches[{j}].type", str(exc)) from exc
        label = punch.get("label")
        label_text = text(label).strip() if label is not None else ""
        match = _LABEL.fullmatch(label_text) if isinstance(label, str) else None
        kind: str | None = None
        number = 0
        if match is not None and int(match.group(2)) > 0:
            kind = "entry" if match.group(1).lower() in ("entrada", "entry") else "exit"
            number = int(match.group(2))
        out.append(
            _Punch(j, minutes, offset, kind, number, label_text, None if kind_of is None else kind_of.value)
        )
    return out


def _describe(p: _Punch) -> str:
    label = f"label {p.label!r}" if p.label else "no label"
    return f"the punch at {p.clock} ({label}, type {p.type or 'not given'})"


def _plan(punches: list[_Punch]) -> _Plan:
    """The day's slots and pauses; ``_Fail`` when the punches cannot be paired unambiguously.

    The result does not depend on the order of ``punches``, and repeating a punch changes nothing.
    """
    unique: dict[tuple[Any, ...], _Punch] = {}
    for p in punches:
        key = p.key()
        kept = unique.get(key)
        if kept is None or p.rank() < kept.rank():
            unique[key] = p
    labelled = [p for p in unique.values() if p.kind is not None]
    instants = {(p.offset, p.minutes) for p in labelled}
    others = [p for p in unique.values() if p.kind is None and (p.offset, p.minutes) not in instants]
    pauses = sorted(
        (p for p in others if p.is_break),
        key=lambda p: (p.offset or 0, p.minutes, p.label, p.position),
    )
    loose = sorted(
        (p for p in others if not p.is_break), key=lambda p: (p.offset or 0, p.minutes, p.position)
    )
    if labelled:
        if loose:
            first = loose[0]
            raise _Fail(
                f"punches[{first.position}]",
                f"{_describe(first)} is neither 'entrada-N' nor 'saida-N' while the day's other punches "
                "are: whether it starts or ends a period cannot be told",
            )
        by_slot: dict[tuple[str | None, int], list[_Punch]] = {}
        for p in labelled:
            by_slot.setdefault((p.kind, p.number), []).append(p)
        for group in sorted(by_slot.values(), key=lambda g: (g[0].number, g[0].kind or "")):
            if len(group) > 1:
                group.sort(key=lambda p: (p.offset or 0, p.minutes, p.position))
                times = ", ".join(
                    p.clock if p.offset in (None, 0) else f"{p.clock} (dated {p.offset:+d} day)"
                    for p in group
                )
                raise _Fail(
                    f"punches[{group[1].position}]",
                    f"{group[0].slot} ({group[0].label!r}) is given {len(group)} times, at {times}: a double "
                    "tap? Which one counts cannot be told; correct the day's punches in PontoWeb",
                )
        ordered = sorted(labelled, key=lambda p: (p.number, 0 if p.kind == "entry" else 1))
        slots: list[_Slot] = []
        for p in ordered:
            at = p.minutes if p.offset is None else p.offset * MINUTES_PER_DAY + p.minutes
            if p.offset is None and slots and at < slots[-1].at:
                at += MINUTES_PER_DAY  # an undated punch that reads earlier is past midnight
            if slots and at < slots[-1].at:
                before = slots[-1].punch
                raise _Fail(
                    f"punches[{p.position}]",
                    f"{p.slot} ({p.clock}) is before {before.slot} ({before.clock}); check the punches' "
                    "dates and labels",
                )
            slots.append(_Slot(p, at))
        if slots[-1].at - slots[0].at >= MINUTES_PER_DAY:
            first_slot, last_slot = slots[0].punch, slots[-1].punch
            raise _Fail(
                f"punches[{last_slot.position}]",
                f"{first_slot.slot} ({first_slot.clock}) to {last_slot.slot} ({last_slot.clock}) spans a day "
                "or more in label order (an undated punch that reads earlier than the one before it is "
                "taken to be past midnight): check the punches' dates and labels",
            )
        return _Plan(slots, pauses)
    if not loose:
        return _Plan([], pauses)
    undated = [p for p in loose if p.offset is None]
    if undated:
        raise _Fail(
            f"punches[{undated[0].position}]",
            "the day's punches have no labels and some have no date: their order, and whether the shift "
            "crossed midnight, cannot be told",
        )
    if len(loose) % 2:
        raise _Fail(
            "punches",
            f"{len(loose)} punches without labels ({', '.join(p.clock for p in loose)}): an odd number "
            "cannot be paired, which entry or exit is missing cannot be told",
        )
    slots = []
    for k, p in enumerate(loose):
        named = p._replace(kind="entry" if k % 2 == 0 else "exit", number=k // 2 + 1)
        slots.append(_Slot(named, (p.offset or 0) * MINUTES_PER_DAY + p.minutes))
    return _Plan(slots, pauses)


def _worked(plan: _Plan) -> int:
    """Minutes between each entryN and its exitN; ``_Fail`` when one of a pair is missing."""
    by_name = {slot.name: slot for slot in plan.slots}
    total = 0
    for slot in plan.slots:
        p = slot.punch
        partner = f"{'exit' if p.kind == 'entry' else 'entry'}{p.number}"
        other = by_name.get(partner)
        if other is None:
            raise _Fail(
                f"punches[{p.position}]",
                f"{p.slot} ({p.clock}) has no {partner}: the time worked that day cannot be computed",
            )
        if p.kind == "entry":
            total += other.at - slot.at
    return total


def _day_of(entry: Mapping[str, Any]) -> date:
    return _parse_iso_day(entry.get("day"), "day")


def _as_value_error(exc: _Fail) -> ValueError:
    return ValueError(f"{exc.field}: {exc.message}" if exc.field else exc.message)


def day_slots(entry: DailyEntry | Mapping[str, Any]) -> dict[str, str]:
    """A day's punches as time card slots: ``{"entry1": "22:00", "exit1": "02:06", ...}`` in slot order.

    ``entry`` is one item of a daily record's ``daily`` (``{day, punches}``), a model or a dict. The
    rules are the module's: duplicates dropped, labels decide, pauses (``BI`` without an entry/exit
    label) are no slot; the order of the punches in the list does not matter.

    :raises ValueError: for a bad day, date, hour or type, or punches that cannot be paired
        unambiguously (the message names the field and says why).
    """
    try:
        wire = _entry_wire(entry)
        plan = _plan(_punches(wire, _day_of(wire)))
    except _Fail as exc:
        raise _as_value_error(exc) from None
    return {slot.name: slot.punch.clock for slot in plan.slots}


def worked_minutes(entry: DailyEntry | Mapping[str, Any]) -> int:
    """Minutes between a day's entryN/exitN pairs, on the real timeline (night shifts included).

    Pauses (``BI`` records without an entry/exit label) change nothing; any permutation or
    repetition of the day's punches gives the same figure or the same refusal.

    :raises ValueError: for a bad day, date, hour or type, punches that cannot be paired
        unambiguously, or an entry without its exit (or the reverse).
    """
    try:
        wire = _entry_wire(entry)
        return _worked(_plan(_punches(wire, _day_of(wire))))
    except _Fail as exc:
        raise _as_value_error(exc) from None


# --------------------------------------------------------------------------------------------------
# The card
# --------------------------------------------------------------------------------------------------


class _Refused(Exception):
    """A card that cannot be made, with every problem found (TransformErrors)."""

    def __init__(self, errors: list[TransformError]) -> None:
        super().__init__(str(errors[0]))
        self.errors = errors


class _Settings(NamedTuple):
    user_lookup: UserLookup | None
    company: str | None
    competence: str | None
    closing_day: int | None
    period: tuple[date, date] | None
    interval: Literal["data", "month"]
    remote_id: RemoteIdArg
    branch: BranchArg
    title_format: str
    worked_title: str | None
    rounding: str


class _Day(NamedTuple):
    day: date
    source: int | None
    """Index of the record the day came from."""
    prefix: str
    """``daily[d]`` of the record the day came from."""
    entry: Mapping[str, Any]


def _title(result: Mapping[str, Any], title_format: str) -> str:
    name, event = text(result.get("name")), text(result.get("event"))
    if not name:
        if not event:
            raise _Fail("name", "a result with neither name nor event cannot be titled")
        return event
    return title_format.format(name=name, event=event)


def _resolve_user(wire: Mapping[str, Any], employee: str, user_lookup: UserLookup | None) -> dict[str, Any]:
    """``timeCard.user`` of the employee; raises _Fail when there is no CPF."""
    if user_lookup is None:
        cpf = wire.get("cpf")
        if isinstance(cpf, str) and cpf:
            return {"cpf": cpf}
        raise _Fail(
            "employee",
            "has no CPF, and Voors identifies time card users by CPF: pass "
            "user_lookup={registration: cpf} (or a function) built from your HR master data",
        )
    try:
        found = user_lookup(employee) if callable(user_lookup) else user_lookup.get(employee)
    except Exception as exc:  # a user's function: say where it failed
        raise _Fail("employee", f"user_lookup failed for this employee: {exc!r}") from exc
    if isinstance(found, Mapping):
        user = dict(found)
        if not user.get("cpf"):
            raise _Fail("employee", f"user_lookup gave a user without 'cpf': {user!r}")
        return user
    if isinstance(found, str) and found:
        return {"cpf": found}
    raise _Fail("employee", "is not in user_lookup: no Voors user (CPF) for this registration")


def _resolve_branch(branch: BranchArg, employee: str) -> dict[str, Any] | None:
    value = branch(employee) if callable(branch) else branch
    if value is None:
        return None
    if isinstance(value, str):
        return {"cnpj": value}
    if isinstance(value, Mapping):
        return dict(value)
    raise _Fail("branch", f"branch must be a CNPJ string or an object {{cnpj, cei}}, got {value!r}")


def _daily_list(wire: Mapping[str, Any], index: int | None, employee: str | None) -> list[Any]:
    daily = wire.get("daily")
    if daily is None:
        raise TransformError(
            "is not a daily record: time cards are built from records of a reckon with features "
            "'daily.punches' and/or 'daily.totals' (monthly records have 'results' only)",
            index=index,
            employee=employee,
            field="daily",
            record=wire,
        )
    if not isinstance(daily, list):
        raise TransformError(
            f"must be a list, got {type(daily).__name__}",
            index=index,
            employee=employee,
            field="daily",
            record=wire,
        )
    return daily


def _last_day(wire: Mapping[str, Any]) -> date | None:
    """The record's last valid day (to tell its competence before it is built), or None."""
    last = None
    for entry in wire.get("daily") or ():
        value = _get(entry, "day")
        if isinstance(value, str) and _ISO_DAY.fullmatch(value):
            try:
                day = date.fromisoformat(value)
            except ValueError:
                continue
            last = day if last is None or day > last else last
    return last


def _competence_for(last: date | None, settings: _Settings) -> str | None:
    if settings.competence is not None:
        return settings.competence
    if settings.period is not None:
        end = settings.period[1]
        return f"{end.month:02d}/{end.year:04d}"
    return None if last is None else competence_of(last, settings.closing_day)


def _build(group: list[tuple[int | None, Mapping[str, Any]]], settings: _Settings) -> dict[str, Any]:
    """One card from the daily records of one employee (and competence); ``_Refused`` with every problem."""
    first_index, first = group[0]
    employee = employee_of(first)
    if employee is None:
        raise _Refused(
            [
                TransformError(
                    f"has no employee (got {first.get('employee')!r})",
                    index=first_index,
                    field="employee",
                    record=first,
                )
            ]
        )
    errors: list[TransformError] = []
    competence: str | None = None

    def problem(
        message: str, *, index: int | None, field: str = "", day: date | None = None, record: Any = None
    ) -> None:
        errors.append(
            TransformError(
                message,
                index=index,
                employee=employee,
                competence=competence,
                field=field,
                day=None if day is None else day.isoformat(),
                record=first if record is None else record,
            )
        )

    # the days of every record, each once
    days: dict[date, tuple[_Day, bytes]] = {}
    bad_days: list[tuple[str, int | None, str, Mapping[str, Any], date | None]] = []
    for index, wire in group:
        try:
            daily = _daily_list(wire, index, employee)
        except TransformError as exc:
            raise _Refused([exc]) from None
        for d, raw in enumerate(daily):
            prefix = f"daily[{d}]"
            try:
                entry = _entry_wire(raw)
                day = _day_of(entry)
            except _Fail as exc:
                bad_days.append(
                    (exc.message, index, f"{prefix}.{exc.field}" if exc.field else prefix, wire, None)
                )
                continue
            print_ = fingerprint(entry)
            seen = days.get(day)
            if seen is None:
                days[day] = (_Day(day, index, prefix, entry), print_)
            elif seen[1] != print_:
                where = (
                    seen[0].prefix if seen[0].source == index else f"record {seen[0].source} {seen[0].prefix}"
                )
                bad_days.append(
                    (
                        f"{day.isoformat()} is listed twice with different data ({where} and {prefix}): "
                        "which one is right cannot be told",
                        index,
                        f"{prefix}.day",
                        wire,
                        day,
                    )
                )
    ordered = [days[d][0] for d in sorted(days)]

    # the competence and its period: every day must lie in it
    last = ordered[-1].day if ordered else None
    competence = _competence_for(last, settings)
    for message, index, field, wire, bad_day in bad_days:
        problem(message, index=index, field=field, record=wire, day=bad_day)
    if competence is None:
        problem(
            "has no days: pass competence='MM/YYYY' to build an empty card", index=first_index, field="daily"
        )
        raise _Refused(errors)
    period = (
        settings.period if settings.period is not None else closing_period(competence, settings.closing_day)
    )
    outside = [item.day for item in ordered if not period[0] <= item.day <= period[1]]
    if outside:
        named = ", ".join(d.isoformat() for d in outside[:_MAX_NAMED_DAYS])
        more = f" and {len(outside) - _MAX_NAMED_DAYS} more" if len(outside) > _MAX_NAMED_DAYS else ""
        if settings.period is not None:
            hint = "check the period and the competence"
        elif settings.closing_day is None:
            hint = (
                "if the company closes its period on another day than the month's last, pass "
                "closing_day=N (or period=...); else check the competence"
            )
        else:
            hint = f"check closing_day={settings.closing_day} and the competence"
        problem(
            f"day(s) {named}{more} lie outside the period of the card, {period[0]:%d/%m/%Y} to "
            f"{period[1]:%d/%m/%Y}: {hint}",
            index=first_index,
            field="daily",
        )

    from_results = any(item.entry.get("results") is not None for item in ordered)
    card_days: list[dict[str, Any]] = []
    totals: dict[tuple[str | None, str], tuple[str, Decimal]] = {}
    observations: list[dict[str, str]] = []
    for item in ordered:
        prefix = item.prefix
        try:
            plan = _plan(_punches(item.entry, item.day))
            card_day: dict[str, Any] = {"date": item.day.strftime("%d/%m/%Y")}
            card_day.update((slot.name, slot.punch.clock) for slot in plan.slots)
            day_totals: list[tuple[tuple[str | None, str], str, Decimal]] = []
            if from_results:
                results = item.entry.get("results")
                if results is None:
                    raise _Fail(
                        "results",
                        "has no results while the card's other days have them: the month's totals would "
                        "leave this day out; reckon the month again with 'daily.totals'",
                    )
                if not isinstance(results, list):
                    raise _Fail("results", f"must be a list, got {type(results).__name__}")
                for i, result in enumerate(results):
                    if not isinstance(result, Mapping):
                        raise _Fail(
                            f"results[{i}]", f"must be an object {{name, event, value, type}}, got {result!r}"
                        )
                    try:
                        amount = value_in_minutes_or_days(result)
                    except HoursFormatError as exc:
                        raise _Fail(f"results[{i}].value", bad_value(exc, result)) from exc
                    except unknown_value_error() as exc:
                        raise _Fail(f"results[{i}].type", f"{result_label(result)}: {exc}") from exc
                    if amount.unit != "minutes":
                        continue
                    try:
                        title = _title(result, settings.title_format)
                    except _Fail as exc:
                        raise _Fail(f"results[{i}].{exc.field}", exc.message) from None
                    key: tuple[str | None, str] = (text(result.get("event")), text(result.get("name")))
                    day_totals.append((key, title, amount.value))
            elif settings.worked_title is not None:
                title = settings.worked_title
                day_totals.append(((None, title), title, Decimal(_worked(plan))))
        except _Fail as exc:
            field = f"{prefix}.{exc.field}" if exc.field else prefix
            problem(exc.message, index=item.source, field=field, day=item.day)
            continue
        if day_totals:
            card_day["dailyTotal"] = [
                {"title": title, "total": minutes_to_sexagesimal(value, rounding=settings.rounding)}
                for _, title, value in day_totals
            ]
        for key, title, value in day_totals:  # summed in day order, exactly; a total's place is its first
            previous = totals.get(key)
            totals[key] = (title, value if previous is None else sum_minutes((previous[1], value)))
        if plan.pauses:
            times = ", ".join(p.clock for p in plan.pauses)
            observations.append({"date": card_day["date"], "title": BREAK_OBSERVATION.format(times=times)})
        card_days.append(card_day)

    try:
        user = _resolve_user(first, employee, settings.user_lookup)
        branch_value = _resolve_branch(settings.branch, employee)
    except _Fail as exc:
        problem(exc.message, index=first_index, field=exc.field)
    if errors:
        raise _Refused(errors)

    if settings.remote_id is None:
        assert settings.company is not None  # checked with the arguments
        rid: Any = default_remote_id(employee, competence, company=settings.company)
    elif callable(settings.remote_id):
        rid = settings.remote_id(employee, competence)
    else:
        rid = settings.remote_id

    if settings.interval == "month":
        start: date | None = period[0]
        end: date | None = period[1]
    else:
        start = ordered[0].day if ordered else None
        end = last
    body: dict[str, Any] = {"remoteId": rid}
    if branch_value is not None:
        body["branch"] = branch_value
    body["user"] = user
    body["competence"] = competence
    if start is not None and end is not None:
        body["intervalStart"] = start.strftime("%d/%m/%Y")
        body["intervalEnd"] = end.strftime("%d/%m/%Y")
    body["totals"] = [
        {"title": title, "total": minutes_to_sexagesimal(value, rounding=settings.rounding)}
        for title, value in totals.values()
    ]
    body["days"] = card_days
    if observations:
        body["observations"] = observations
    return body


def _settings(
    *,
    user_lookup: UserLookup | None,
    company: str | None,
    competence: str | None,
    closing_day: int | None,
    period: PeriodArg,
    interval: str,
    remote_id: RemoteIdArg,
    branch: BranchArg,
    title_format: str,
    worked_title: str | None,
    rounding: str,
) -> _Settings:
    """Every argument checked at once (``ValueError``/``TypeError``), before any record is read."""
    if interval not in ("data", "month"):
        raise ValueError(f"interval must be 'data' or 'month', got {interval!r}")
    if competence is not None:
        _check_competence(competence)
    closing = _check_closing_day(closing_day)
    checked_period = _check_period(period, competence, closing)
    try:
        title_format.format(name="", event="")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"title_format may use only {{name}} and {{event}}, got {title_format!r} ({exc!r})"
        ) from None
    minutes_to_sexagesimal(0, rounding=rounding)  # refuses an unknown rounding mode
    if remote_id is None:
        if company is None:
            raise ValueError(
                "pass company='...' (PontoWeb's company code, in every reckon answer) for the default "
                "remoteId '<company>-<employee>-<YYYYMM>', unique across the companies that feed one "
                "Voors account; or pass remote_id"
            )
        default_remote_id("x", "01/2000", company=company)  # refuses a bad company code
    return _Settings(
        user_lookup,
        company,
        competence,
        closing,
        checked_period,
        interval,  # type: ignore[arg-type]
        remote_id,
        branch,
        title_format,
        worked_title,
        rounding,
    )


def time_card(
    record: ReckonRecord | Mapping[str, Any] | str,
    *,
    user_lookup: UserLookup | None = None,
    company: str | None = None,
    competence: str | None = None,
    closing_day: int | None = None,
    period: PeriodArg = None,
    interval: Literal["data", "month"] = "data",
    remote_id: RemoteIdArg = None,
    branch: BranchArg = None,
    title_format: str = "{name}",
    worked_title: str | None = DEFAULT_WORKED_TITLE,
    rounding: str = DEFAULT_ROUNDING,
) -> dict[str, Any]:
    """The Voors ``timeCard`` body (wire dict) of one daily reckon record.

    :param record: a daily ``ReckonRecord``, its wire dict, or its JSON text.
    :param user_lookup: ``employee`` -> CPF or ``timeCard.user`` object (a mapping or a function).
        Without it the record must carry a ``cpf`` field.
    :param company: PontoWeb's company code (``"a133595"``, in every reckon answer), for the default
        ``remoteId``; required unless ``remote_id`` is given.
    :param competence: "MM/YYYY"; default the competence whose period holds the record's last day
        (or the month ``period`` ends in).
    :param closing_day: the day of the month on which the company closes its period (e.g. 27:
        01/2023 is 28/12/2022 to 27/01/2023); default the calendar month. See :func:`closing_period`.
    :param period: ``(first day, last day)`` of the competence, instead of ``closing_day`` (e.g.
        :func:`reckon_span` of the reckon's records).
    :param interval: ``"data"`` (default): ``intervalStart``/``intervalEnd`` are the first and last
        day of the record; ``"month"``: the competence's period.
    :param remote_id: the card's ``remoteId``: a value, or a function ``(employee, competence)``;
        default :func:`default_remote_id` (``"a133595-000123-202504"``).
    :param branch: the card's branch: a CNPJ, an object ``{cnpj, cei, stateRegistry}``, or a
        function of the employee returning either (or None); default no branch.
    :param title_format: title of a total, from ``{name}`` and ``{event}`` (default ``"{name}"``;
        a result with no name is titled by its event).
    :param worked_title: title of the total computed from the punches on a card built from punches;
        ``None``: no such total.
    :param rounding: how fractional minutes are rounded when written (a :mod:`decimal` mode).
    :raises TransformError: naming the employee, the day and the field, for a monthly record, a bad
        day, punch or result, a day outside the period, or an employee with no CPF (the first
        problem found; :func:`time_cards` reports every one).
    :raises ValueError: for bad arguments (``competence``, ``closing_day``, ``period``,
        ``interval``, ``title_format``, ``rounding``, ``company``).
    """
    settings = _settings(
        user_lookup=user_lookup,
        company=company,
        competence=competence,
        closing_day=closing_day,
        period=period,
        interval=interval,
        remote_id=remote_id,
        branch=branch,
        title_format=title_format,
        worked_title=worked_title,
        rounding=rounding,
    )
    wire = to_wire(record)
    try:
        return _build([(None, wire)], settings)
    except _Refused as refused:
        raise refused.errors[0] from refused.errors[0].__cause__


def time_cards(
    records: Iterable[ReckonRecord | Mapping[str, Any] | str | bytes],
    *,
    user_lookup: UserLookup | None = None,
    company: str | None = None,
    competence: str | None = None,
    closing_day: int | None = None,
    period: PeriodArg = None,
    interval: Literal["data", "month"] = "data",
    remote_id: Callable[[str, str], Any] | None = None,
    branch: BranchArg = None,
    title_format: str = "{name}",
    worked_title: str | None = DEFAULT_WORKED_TITLE,
    rounding: str = DEFAULT_ROUNDING,
    skip_empty: bool = True,
    on_error: OnError = "raise",
    errors: list[TransformError] | None = None,
) -> Iterator[dict[str, Any]]:
    """Time card bodies of the daily records among ``records``, one per employee and competence,
    lazily, in input order.

    Consecutive daily records of one employee and competence (a month PontoWeb split in two) make
    one card; monthly records between them are passed over. A later record of an employee and
    competence whose card was already made is refused (named): records of one employee must come
    together, as PontoWeb lists them. Memory holds one employee's records and the keys of the cards
    made. Monthly records (no ``daily``) give no card, but an employee whose monthly record has
    results and who has no daily record is reported (no card could be made for them). With
    ``skip_empty`` (default) daily records with no days (``allowEmpty`` reckons) are skipped.
    Other arguments are those of :func:`time_card`, except ``remote_id``, which must be a function
    ``(employee, competence)`` here (one fixed id would make every card overwrite the previous one).

    :param on_error: ``"raise"`` (default): the first problem raises its :class:`TransformError`;
        ``"skip"``: a refused card is not yielded and every problem of it (each bad day, named) is
        appended to ``errors`` (then required).
    """
    check_on_error(on_error, errors)
    if remote_id is not None and not callable(remote_id):
        raise TypeError(
            "time_cards needs remote_id to be a function (employee, competence) -> id: one fixed "
            "remoteId would make every card overwrite the previous one"
        )
    settings = _settings(
        user_lookup=user_lookup,
        company=company,
        competence=competence,
        closing_day=closing_day,
        period=period,
        interval=interval,
        remote_id=remote_id,
        branch=branch,
        title_format=title_format,
        worked_title=worked_title,
        rounding=rounding,
    )

    def report(found: list[TransformError]) -> None:
        if on_error == "raise":
            raise found[0]
        assert errors is not None
        errors.extend(found)

    def generate() -> Iterator[dict[str, Any]]:
        made: dict[tuple[str, str], int | None] = {}
        with_daily: set[str] = set()
        monthly_only: dict[str, int] = {}
        group: list[tuple[int | None, Mapping[str, Any]]] = []
        group_key: tuple[str, str | None] | None = None

        def flush() -> Iterator[dict[str, Any]]:
            nonlocal group, group_key
            if not group:
                return
            pending, key = group, group_key
            group, group_key = [], None
            try:
                card = _build(pending, settings)
            except _Refused as refused:
                report(refused.errors)
                return
            assert key is not None
            card_key = (key[0], str(card["competence"]))
            if card_key in made:
                index, wire = pending[0]
                span = [d for d in (_last_day(w) for _, w in pending) if d is not None]
                report(
                    [
                        TransformError(
                            f"its time card was already made from record {made[card_key]}, and records of "
                            "one employee must come together (as PontoWeb lists them): this record's days"
                            f"{f' (to {max(span).isoformat()})' if span else ''} are on no card; sort the "
                            "records by employee",
                            index=index,
                            employee=key[0],
                            competence=card_key[1],
                            field="daily",
                            record=wire,
                        )
                    ]
                )
                return
            made[card_key] = pending[0][0]
            yield card

        for index, wire in iter_records(records):
            if isinstance(wire, TransformError):
                report([wire])
                continue
            employee = employee_of(wire)
            if "daily" not in wire and "results" in wire:  # a monthly record: no card
                results = wire.get("results")
                if (
                    employee is not None
                    and isinstance(results, list)
                    and results
                    and employee not in with_daily
                ):
                    monthly_only.setdefault(employee, index)
                continue
            if employee is None:
                yield from flush()
                report(
                    [
                        TransformError(
                            f"has no employee (got {wire.get('employee')!r})",
                            index=index,
                            field="employee",
                            record=wire,
                        )
                    ]
                )
                continue
            try:
                daily = _daily_list(wire, index, employee)
            except TransformError as exc:
                yield from flush()
                report([exc])
                continue
            with_daily.add(employee)
            monthly_only.pop(employee, None)
            if skip_empty and not daily:
                continue
            key = (employee, _competence_for(_last_day(wire), settings))
            if key != group_key:
                yield from flush()
            group.append((index, wire))
            group_key = key
        yield from flush()
        for employee, index in monthly_only.items():
            report(
                [
                    TransformError(
                        "has a monthly record with results (payroll) but no daily record: no time card "
                        "could be made; reckon with 'daily.punches' and/or 'daily.totals' for every "
                        "employee",
                        index=index,
                        employee=employee,
                        field="daily",
                    )
                ]
            )

    return generate()

"""Daily reckon records -> Voors time cards (the body of ``POST /timeCards``, envelope ``timeCard``).

One *daily* record (``{employee, paymentDate, infotype, daily: [{day, results?, punches?}]}``, from a
reckon with ``daily.punches`` and/or ``daily.totals``) is one employee's month: it becomes one time
card. The mapping:

======================= ==============================================================================
time card               from
======================= ==============================================================================
``remoteId``            ``remote_id``; default ``"<employee>-<YYYY><MM>"`` (deterministic, so pushing the
                        same month again edits the card instead of adding a second one)
``branch``              ``branch``: a CNPJ (``{"cnpj": ...}``), an object, or a function of the employee
``user``                ``{"cpf": ...}``: Voors identifies users by CPF, PontoWeb records carry only the
                        registration (``employee``), so ``user_lookup`` maps one to the other
``competence``          ``competence`` "MM/YYYY"; default the month of the record's last day
``intervalStart/End``   "DD/MM/YYYY": first and last day of the data (``interval="data"``, default) or
                        of the competence's calendar month (``interval="month"``)
``days[].date``         the day, "DD/MM/YYYY" (days sorted; a day listed twice is an error)
``days[].entryN/exitN`` the day's punches, "HH:mm", by label (``entrada-N`` -> ``entryN``, ``saida-N``
                        -> ``exitN``), or in time order when a label is missing, unknown or repeated
``days[].dailyTotal``   the day's results of type "hours", each ``{title, total "H:mm"}``; a day with
                        no results (a ``daily.punches``-only reckon) gets one total, ``worked_title``,
                        the time between its entryN/exitN pairs
``totals``              the daily totals summed per (event, name) over the month, exactly, "H:mm"
======================= ==============================================================================

Night shifts: a day's punches belong to that day even when dated the next calendar day (PontoWeb
gives each punch its own ``date``). Times are written as the clock showed them (``entry1``
``"22:00"``, ``exit2`` ``"06:00"``), as in the Voors document's own example (``exit4`` ``"00:47"``),
and the time worked is computed on the real timeline: 22:00 to 06:00 of the next day is 8 h. A
punch without a ``date`` that reads earlier than the punch before it is taken to be past midnight.

Results of type "days" (e.g. "Dias previstos") are left out of ``totals`` and ``dailyTotal``: Voors
totals are amounts of hours. Amounts are summed exactly (centesimal values included) and rounded to
whole minutes once, when written, with ``rounding`` (default ``ROUND_HALF_EVEN``); so a month's
total may differ from the sum of its rounded daily totals only when values are not whole minutes.
Horaries, hour bank and observations are not in reckon records: add them to the returned dict if
you have them. The output validates through ``models.voors.TimeCardBody``; this module does not
import it (transforms import neither pydantic nor Airflow), the push operator validates it.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from airflow_provider_ahgora.transforms._records import (
    OnError,
    bad_value,
    check_on_error,
    employee_of,
    iter_records,
    text,
    to_wire,
)
from airflow_provider_ahgora.transforms.errors import HoursFormatError, TransformError
from airflow_provider_ahgora.transforms.hours import (
    DEFAULT_ROUNDING,
    EXPECTED_TYPE,
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
    "DEFAULT_WORKED_TITLE",
    "UserLookup",
    "day_slots",
    "default_remote_id",
    "time_card",
    "time_cards",
    "worked_minutes",
]

#: Title of the total computed from the punches of a day that has no results.
DEFAULT_WORKED_TITLE = "Horas trabalhadas"

#: ``employee`` (registration) -> Voors user: a CPF, or a ``timeCard.user`` object holding ``cpf``
#: (and optionally ``pis``, ``workCard``, ``department``, ``jobRole``, ``jobFunction``).
UserLookup = Mapping[str, Any] | Callable[[str], Any]
#: A branch: a CNPJ string, a ``{"cnpj", "cei", "stateRegistry"}`` object, or a function of the employee.
BranchArg = str | Mapping[str, Any] | Callable[[str], Any] | None
#: A ``remoteId``: a fixed value (string, number, object) or a function ``(employee, competence)``.
RemoteIdArg = str | int | Mapping[str, Any] | Callable[[str, str], Any] | None

_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_COMPETENCE = re.compile(r"(0[1-9]|1[0-2])/([0-9]{4})")
_LABEL = re.compile(r"(entrada|sa[ií]da|entry|exit)[-_ ]?([0-9]{1,3})", re.IGNORECASE)
_MAX_DAYS_AWAY = 1


def default_remote_id(employee: str, competence: str) -> str:
    """``"<employee>-<YYYY><MM>"``: ``default_remote_id("000123", "04/2025")`` -> ``"000123-202504"``.

    One card per employee and month, always the same id, so a second push edits it (no duplicate).
    """
    match = _COMPETENCE.fullmatch(competence)
    if match is None:
        raise ValueError(f"competence must be 'MM/YYYY', got {competence!r}")
    return f"{employee}-{match.group(2)}{match.group(1)}"


# --------------------------------------------------------------------------------------------------
# Days and punches
# --------------------------------------------------------------------------------------------------


class _Punch(NamedTuple):
    kind: str | None
    """"entry" or "exit" from the label, None when the label is missing or unknown."""
    number: int | None
    minutes: int
    """Clock minutes 0..1439, as punched."""
    at: int
    """Minutes from the day's midnight on the real timeline (1560 = 02:00 of the next day)."""
    dated: bool
    position: int


class _Fail(Exception):
    """A problem in a day, with the field it concerns (turned into a TransformError by the caller)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


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
    raw = entry.get("punches") or []
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
        dated = when not in (None, "")
        offset = 0
        if dated:
            offset = (_parse_iso_day(when, f"punches[{j}].date") - day).days
            if abs(offset) > _MAX_DAYS_AWAY:
                raise _Fail(
                    f"punches[{j}].date",
                    f"punch dated {when} is more than a day away from its day {day.isoformat()}",
                )
        label = punch.get("label")
        match = _LABEL.fullmatch(label.strip()) if isinstance(label, str) else None
        kind = number = None
        if match is not None:
            kind = "entry" if match.group(1).lower() in ("entrada", "entry") else "exit"
            number = int(match.group(2))
        out.append(_Punch(kind, number, minutes, offset * MINUTES_PER_DAY + minutes, dated, j))
    return out


def _assign_slots(punches: list[_Punch]) -> list[tuple[str, _Punch]]:
    """``[(slot name, punch)]`` in slot order: by label when every label is known and unique, else by time."""
    keys = [(p.kind, p.number) for p in punches]
    by_label = all(p.kind is not None and p.number for p in punches) and len(set(keys)) == len(keys)
    if by_label:
        ordered = sorted(punches, key=lambda p: (p.number or 0, 0 if p.kind == "entry" else 1))
        slots = [(f"{p.kind}{p.number}", p) for p in ordered]
    else:
        if all(p.dated for p in punches):
            ordered = sorted(punches, key=lambda p: (p.at, p.position))
        else:
            ordered = list(punches)  # the API lists a day's punches in time order
        slots = [(f"{'entry' if k % 2 == 0 else 'exit'}{k // 2 + 1}", p) for k, p in enumerate(ordered)]
    # An undated punch that reads earlier than the one before it is past midnight.
    fixed: list[tuple[str, _Punch]] = []
    previous: int | None = None
    for name, p in slots:
        if not p.dated and previous is not None and p.at < previous:
            p = p._replace(at=p.at + MINUTES_PER_DAY)
        fixed.append((name, p))
        previous = p.at
    return fixed


def _worked(slots: list[tuple[str, _Punch]]) -> int:
    by_name = dict(slots)
    total = 0
    for name, entry in slots:
        if not name.startswith("entry"):
            continue
        number = name[len("entry") :]
        exit_ = by_name.get(f"exit{number}")
        if exit_ is None:
            continue  # an unpaired punch counts no time
        span = exit_.at - entry.at
        if span < 0:
            raise _Fail(
                f"punches[{exit_.position}]",
                f"exit{number} ({minutes_to_clock(exit_.minutes)}) is before entry{number} "
                f"({minutes_to_clock(entry.minutes)}); check the punches' dates and labels",
            )
        total += span
    return total


def _day_of(entry: Mapping[str, Any]) -> date:
    return _parse_iso_day(entry.get("day"), "day")


def day_slots(entry: DailyEntry | Mapping[str, Any]) -> dict[str, str]:
    """A day's punches as time card slots: ``{"entry1": "22:00", "exit1": "02:06", ...}`` in slot order.

    ``entry`` is one item of a daily record's ``daily`` (``{day, punches}``), a model or a dict.

    :raises ValueError: for a bad day, date or hour (the message names the field).
    """
    try:
        wire = _entry_wire(entry)
        slots = _assign_slots(_punches(wire, _day_of(wire)))
    except _Fail as exc:
        raise ValueError(f"{exc.field}: {exc.message}" if exc.field else exc.message) from None
    return {name: minutes_to_clock(p.minutes) for name, p in slots}


def worked_minutes(entry: DailyEntry | Mapping[str, Any]) -> int:
    """Minutes between a day's entryN/exitN pairs, on the real timeline (night shifts included).

    An unpaired punch counts nothing. ``entry`` is one item of a daily record's ``daily``.

    :raises ValueError: for a bad day, date or hour, or an exit before its entry.
    """
    try:
        wire = _entry_wire(entry)
        return _worked(_assign_slots(_punches(wire, _day_of(wire))))
    except _Fail as exc:
        raise ValueError(f"{exc.field}: {exc.message}" if exc.field else exc.message) from None


# --------------------------------------------------------------------------------------------------
# The card
# --------------------------------------------------------------------------------------------------


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


def _check_competence(competence: str) -> tuple[int, int]:
    match = _COMPETENCE.fullmatch(competence) if isinstance(competence, str) else None
    if match is None:
        raise ValueError(f"competence must be 'MM/YYYY' (e.g. '04/2025'), got {competence!r}")
    return int(match.group(1)), int(match.group(2))


def _card(
    wire: Mapping[str, Any],
    index: int | None,
    *,
    user_lookup: UserLookup | None,
    competence: str | None,
    interval: Literal["data", "month"],
    remote_id: RemoteIdArg,
    branch: BranchArg,
    title_format: str,
    worked_title: str | None,
    rounding: str,
) -> dict[str, Any]:
    employee = employee_of(wire)

    def fail(field: str, message: str, cause: BaseException | None = None) -> TransformError:
        err = TransformError(message, index=index, employee=employee, field=field, record=wire)
        err.__cause__ = cause
        return err

    if employee is None:
        raise fail("employee", f"has no employee (got {wire.get('employee')!r})")
    daily = wire.get("daily")
    if daily is None:
        raise fail(
            "daily",
            "is not a daily record: time cards are built from records of a reckon with features "
            "'daily.punches' and/or 'daily.totals' (monthly records have 'results' only)",
        )
    if not isinstance(daily, list):
        raise fail("daily", f"must be a list, got {type(daily).__name__}")

    days: list[tuple[date, dict[str, Any], list[tuple[tuple[str | None, str], str, Decimal]]]] = []
    seen: dict[date, int] = {}
    for d, raw in enumerate(daily):
        prefix = f"daily[{d}]"
        try:
            entry = _entry_wire(raw)
            day = _day_of(entry)
            if day in seen:
                raise _Fail("day", f"{day.isoformat()} is listed twice (daily[{seen[day]}] and {prefix})")
            seen[day] = d
            slots = _assign_slots(_punches(entry, day))
            card_day: dict[str, Any] = {"date": day.strftime("%d/%m/%Y")}
            card_day.update((name, minutes_to_clock(p.minutes)) for name, p in slots)
            day_totals: list[tuple[tuple[str | None, str], str, Decimal]] = []
            results = entry.get("results") or []
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
                    field = "type" if exc.expected == EXPECTED_TYPE else "value"
                    raise _Fail(f"results[{i}].{field}", bad_value(exc, result)) from exc
                if amount.unit != "minutes":
                    continue
                try:
                    title = _title(result, title_format)
                except _Fail as exc:
                    raise _Fail(f"results[{i}].{exc.field}", exc.message) from None
                key: tuple[str | None, str] = (text(result.get("event")), text(result.get("name")))
                day_totals.append((key, title, amount.value))
            if not results and worked_title is not None:
                day_totals.append(((None, worked_title), worked_title, Decimal(_worked(slots))))
            if day_totals:
                card_day["dailyTotal"] = [
                    {"title": title, "total": minutes_to_sexagesimal(value, rounding=rounding)}
                    for _, title, value in day_totals
                ]
        except _Fail as exc:
            field = f"{prefix}.{exc.field}" if exc.field else prefix
            raise fail(field, exc.message, exc.__cause__) from exc.__cause__
        except HoursFormatError as exc:  # pragma: no cover - every conversion above is checked
            raise fail(prefix, str(exc), exc) from exc
        days.append((day, card_day, day_totals))
    days.sort(key=lambda item: item[0])
    # summed in day order, exactly; a total's place is where it first appears
    totals: dict[tuple[str | None, str], tuple[str, Decimal]] = {}
    for _, _, day_totals in days:
        for key, title, value in day_totals:
            previous = totals.get(key)
            totals[key] = (title, value if previous is None else sum_minutes((previous[1], value)))

    if competence is None:
        if not days:
            raise fail("daily", "has no days: pass competence='MM/YYYY' to build an empty card")
        last = days[-1][0]
        competence = f"{last.month:02d}/{last.year:04d}"
    month, year = _check_competence(competence)

    if interval == "month":
        start: date | None = date(year, month, 1)
        end: date | None = date(year, month, calendar.monthrange(year, month)[1])
    else:
        start = days[0][0] if days else None
        end = days[-1][0] if days else None

    try:
        user = _resolve_user(wire, employee, user_lookup)
        branch_value = _resolve_branch(branch, employee)
    except _Fail as exc:
        raise fail(exc.field, exc.message, exc.__cause__) from exc.__cause__

    if remote_id is None:
        rid: Any = default_remote_id(employee, competence)
    elif callable(remote_id):
        rid = remote_id(employee, competence)
    else:
        rid = remote_id

    body: dict[str, Any] = {"remoteId": rid}
    if branch_value is not None:
        body["branch"] = branch_value
    body["user"] = user
    body["competence"] = competence
    if start is not None and end is not None:
        body["intervalStart"] = start.strftime("%d/%m/%Y")
        body["intervalEnd"] = end.strftime("%d/%m/%Y")
    body["totals"] = [
        {"title": title, "total": minutes_to_sexagesimal(value, rounding=rounding)}
        for title, value in totals.values()
    ]
    body["days"] = [card_day for _, card_day, _ in days]
    return body


def _check_common(interval: str, competence: str | None, title_format: str, rounding: str) -> None:
    if interval not in ("data", "month"):
        raise ValueError(f"interval must be 'data' or 'month', got {interval!r}")
    if competence is not None:
        _check_competence(competence)
    try:
        title_format.format(name="", event="")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"title_format may use only {{name}} and {{event}}, got {title_format!r} ({exc!r})"
        ) from None
    minutes_to_sexagesimal(0, rounding=rounding)  # refuses an unknown rounding mode


def time_card(
    record: ReckonRecord | Mapping[str, Any] | str,
    *,
    user_lookup: UserLookup | None = None,
    competence: str | None = None,
    interval: Literal["data", "month"] = "data",
    remote_id: RemoteIdArg = None,
    branch: BranchArg = None,
    title_format: str = "{name}",
    worked_title: str | None = DEFAULT_WORKED_TITLE,
    rounding: str = DEFAULT_ROUNDING,
) -> dict[str, Any]:
    """The Voors ``timeCard`` body (wire dict) of one daily reckon record: one employee, one month.

    :param record: a daily ``ReckonRecord``, its wire dict, or its JSON text.
    :param user_lookup: ``employee`` -> CPF or ``timeCard.user`` object (a mapping or a function).
        Without it the record must carry a ``cpf`` field.
    :param competence: "MM/YYYY"; default the month of the record's last day.
    :param interval: ``"data"`` (default): ``intervalStart``/``intervalEnd`` are the first and last
        day of the record; ``"month"``: the competence's calendar month.
    :param remote_id: the card's ``remoteId``: a value, or a function ``(employee, competence)``;
        default :func:`default_remote_id` (``"000123-202504"``).
    :param branch: the card's branch: a CNPJ, an object ``{cnpj, cei, stateRegistry}``, or a
        function of the employee returning either (or None); default no branch.
    :param title_format: title of a total, from ``{name}`` and ``{event}`` (default ``"{name}"``;
        a result with no name is titled by its event).
    :param worked_title: title of the total computed from the punches of a day without results;
        ``None``: no such total.
    :param rounding: how fractional minutes are rounded when written (a :mod:`decimal` mode).
    :raises TransformError: naming the employee and the field, for a monthly record, a bad day,
        punch or result, or an employee with no CPF.
    :raises ValueError: for bad arguments (``competence``, ``interval``, ``title_format``, ``rounding``).
    """
    _check_common(interval, competence, title_format, rounding)
    return _card(
        to_wire(record),
        None,
        user_lookup=user_lookup,
        competence=competence,
        interval=interval,
        remote_id=remote_id,
        branch=branch,
        title_format=title_format,
        worked_title=worked_title,
        rounding=rounding,
    )


def time_cards(
    records: Iterable[ReckonRecord | Mapping[str, Any] | str | bytes],
    *,
    user_lookup: UserLookup | None = None,
    competence: str | None = None,
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
    """Time card bodies of the daily records among ``records``, lazily, in input order.

    Monthly records (no ``daily``) are skipped: they are payroll input, not time cards. With
    ``skip_empty`` (default) so are daily records with no days (``allowEmpty`` reckons): there is
    nothing to put on their card. Other arguments are those of :func:`time_card`, except
    ``remote_id``, which must be a function ``(employee, competence)`` here (one fixed id would make
    every card overwrite the previous one).

    :param on_error: ``"raise"`` (default) or ``"skip"``: a bad record yields no card and its
        :class:`TransformError` is appended to ``errors`` (then required).
    """
    check_on_error(on_error, errors)
    _check_common(interval, competence, title_format, rounding)
    if remote_id is not None and not callable(remote_id):
        raise TypeError(
            "time_cards needs remote_id to be a function (employee, competence) -> id: one fixed "
            "remoteId would make every card overwrite the previous one"
        )

    def generate() -> Iterator[dict[str, Any]]:
        for index, wire in iter_records(records):
            try:
                if isinstance(wire, TransformError):
                    raise wire
                if "daily" not in wire and "results" in wire:
                    continue  # a monthly record
                if skip_empty and isinstance(wire.get("daily"), list) and not wire["daily"]:
                    continue
                card = _card(
                    wire,
                    index,
                    user_lookup=user_lookup,
                    competence=competence,
                    interval=interval,
                    remote_id=remote_id,
                    branch=branch,
                    title_format=title_format,
                    worked_title=worked_title,
                    rounding=rounding,
                )
            except TransformError as exc:
                if on_error == "raise":
                    raise
                assert errors is not None
                errors.append(exc)
                continue
            yield card

    return generate()

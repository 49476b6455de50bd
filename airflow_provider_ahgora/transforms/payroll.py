"""Reckon records -> payroll rows: one row per accounting event, ready for a CSV a payroll system imports.

Input: PontoWeb reckon records (``data[]`` of ``GET /reckons/{unique}``) as ``ReckonRecord``
models, wire dicts, or JSON Lines lines (the file the results operator writes: iterate it directly).

Output: one dict per result with the columns :data:`PAYROLL_COLUMNS`, for :class:`csv.DictWriter`:

============= ======================================================================================
column        content
============= ======================================================================================
employee      the record's ``employee`` (registration, "matrícula")
paymentDate   the record's ``paymentDate`` ("YYYY-MM-DD"), as given
infotype      the record's ``infotype`` (e.g. "0015"), as given
day           "YYYY-MM-DD" for a daily result (``include_daily=True``); ``""`` for a monthly one
event         the accounting code (``""`` for results reckoned with ``includeEmptyCode``)
name          the event's name
type          ``"hours"`` or ``"days"`` (normalised to lower case)
value         the value exactly as the API gave it: ``"16:30"``, ``"16,50"`` or ``2`` (an int stays
              an int; a float becomes its shortest text, so no row ever holds a float)
minutes       type "hours": the amount in minutes, exact (``990``, or ``"979.8"`` for a centesimal
              value that is not whole minutes); ``""`` for type "days"
days          type "days": the number of days, exact (``2``, ``"0.5"``); ``""`` for type "hours"
============= ======================================================================================

Numbers in ``minutes`` and ``days`` are ``int`` when whole, else an exact decimal text with a ``.``
(never a float, never an exponent), so a CSV holds exactly what PontoWeb computed.

Daily records are not payroll input by default: a reckon's monthly amount is the sum of the daily
amounts of the same employee and month, so importing both would count every hour twice, and the
monthly record is what the payroll closes on. ``include_daily=True`` adds one row per daily result,
with its ``day`` (e.g. for an audit, or when only daily totals were reckoned).

Result types are read through the status vocabulary (``hours``/``days``, any case); an unknown type
refuses the record, naming it.

**Never paid twice.** A second monthly record for the same employee, ``paymentDate`` and
``infotype`` is collapsed when it is an identical copy (the same record delivered twice) and refused
when it differs (which one is right cannot be told). With ``include_daily``, a day of an employee
(same ``paymentDate`` and ``infotype``) that already came in an earlier record refuses the record,
unless the whole record is an identical copy. A month PontoWeb splits into several daily records (no
day in common) is not a duplicate.

**Nothing silently missing.** When the input holds monthly records, an employee who has daily
records (with days) but no monthly record gets no payroll row: that employee is reported.

Errors: a record with a bad value (or no employee, or an unknown result type, or a duplicate that
differs) raises :class:`TransformError` naming the record, the employee, the day when it is a day's,
the result and the field (``on_error="raise"``, the default). With ``on_error="skip"`` the bad
record is left out **whole** (a payroll must never import half of an employee's events) and its
error is appended to the ``errors`` list, which is then required: nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow_provider_ahgora.transforms._records import (
    OnError,
    bad_value,
    check_on_error,
    employee_of,
    fingerprint,
    iter_records,
    result_label,
    text,
    unknown_value_error,
)
from airflow_provider_ahgora.transforms.errors import HoursFormatError, TransformError
from airflow_provider_ahgora.transforms.hours import format_decimal, value_in_minutes_or_days

if TYPE_CHECKING:
    from airflow_provider_ahgora.models.pontoweb import ReckonRecord

__all__ = ["PAYROLL_COLUMNS", "PAYROLL_NUMBER_COLUMNS", "PayrollRow", "payroll_csv_header", "payroll_rows"]

#: Columns of a payroll row, in CSV order.
PAYROLL_COLUMNS: tuple[str, ...] = (
    "employee",
    "paymentDate",
    "infotype",
    "day",
    "event",
    "name",
    "type",
    "value",
    "minutes",
    "days",
)

#: Columns that hold numbers (exact decimal text when not whole): a CSV dialect with a decimal comma
#: writes them with one (see :mod:`~airflow_provider_ahgora.transforms.csvfile`).
PAYROLL_NUMBER_COLUMNS: tuple[str, ...] = ("minutes", "days")

#: One payroll row: every value a ``str`` or an ``int``.
PayrollRow = dict[str, str | int]


def payroll_csv_header() -> list[str]:
    """The CSV header: :data:`PAYROLL_COLUMNS` as a list (``csv.DictWriter(f, payroll_csv_header())``)."""
    return list(PAYROLL_COLUMNS)


def _number_cell(value: Decimal) -> str | int:
    if value == value.to_integral_value():
        return int(value)
    return format_decimal(value)


def _value_cell(value: Any) -> str | int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return text(value)


def _result_row(
    base: Mapping[str, str], day: str, result: Any, where: str, index: int, employee: str, wire: Any
) -> PayrollRow:
    if not isinstance(result, Mapping):
        raise TransformError(
            f"must be an object {{name, event, value, type}}, got {type(result).__name__}",
            index=index,
            employee=employee,
            field=where,
            record=wire,
            day=day or None,
        )
    try:
        amount = value_in_minutes_or_days(result)
    except HoursFormatError as exc:
        raise TransformError(
            bad_value(exc, result),
            index=index,
            employee=employee,
            field=f"{where}.value",
            record=wire,
            day=day or None,
        ) from exc
    except unknown_value_error() as exc:
        raise TransformError(
            f"{result_label(result)}: {exc}",
            index=index,
            employee=employee,
            field=f"{where}.type",
            record=wire,
            day=day or None,
        ) from exc
    cell = _number_cell(amount.value)
    return {
        **base,
        "day": day,
        "event": text(result.get("event")),
        "name": text(result.get("name")),
        "type": "hours" if amount.unit == "minutes" else "days",
        "value": _value_cell(result.get("value")),
        "minutes": cell if amount.unit == "minutes" else "",
        "days": cell if amount.unit == "days" else "",
    }


def _list_field(wire: Mapping[str, Any], key: str, index: int, employee: str | None) -> list[Any]:
    value = wire.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise TransformError(
            f"must be a list, got {type(value).__name__}",
            index=index,
            employee=employee,
            field=key,
            record=wire,
        )
    return value


def _record_rows(
    wire: dict[str, Any],
    index: int,
    include_daily: bool,
    keep: Any,
) -> list[PayrollRow]:
    """Every row of one record, or TransformError: a record is converted whole or not at all."""
    employee = employee_of(wire)
    if employee is None:
        raise TransformError(
            f"has no employee (got {wire.get('employee')!r}); a payroll row needs the registration",
            index=index,
            field="employee",
            record=wire,
        )
    if "results" not in wire and "daily" not in wire:
        raise TransformError(
            "has neither 'results' (monthly) nor 'daily': not a reckon record",
            index=index,
            employee=employee,
            record=wire,
        )
    base = {
        "employee": employee,
        "paymentDate": text(wire.get("paymentDate")),
        "infotype": text(wire.get("infotype")),
    }
    rows: list[PayrollRow] = []
    for i, result in enumerate(_list_field(wire, "results", index, employee)):
        if keep(result):
            rows.append(_result_row(base, "", result, f"results[{i}]", index, employee, wire))
    if include_daily:
        for d, entry in enumerate(_list_field(wire, "daily", index, employee)):
            if not isinstance(entry, Mapping):
                raise TransformError(
                    f"must be an object {{day, results, punches}}, got {type(entry).__name__}",
                    index=index,
                    employee=employee,
                    field=f"daily[{d}]",
                    record=wire,
                )
            day = text(entry.get("day"))
            if not day:
                raise TransformError(
                    "has no day", index=index, employee=employee, field=f"daily[{d}].day", record=wire
                )
            results = entry.get("results") or []
            if not isinstance(results, list):
                raise TransformError(
                    f"must be a list, got {type(results).__name__}",
                    index=index,
                    employee=employee,
                    field=f"daily[{d}].results",
                    record=wire,
                    day=day,
                )
            for i, result in enumerate(results):
                if keep(result):
                    rows.append(
                        _result_row(base, day, result, f"daily[{d}].results[{i}]", index, employee, wire)
                    )
    return rows


def payroll_rows(
    records: Iterable[ReckonRecord | Mapping[str, Any] | str | bytes],
    *,
    include_daily: bool = False,
    skip_empty_event: bool = False,
    events: Collection[str] | None = None,
    on_error: OnError = "raise",
    errors: list[TransformError] | None = None,
) -> Iterator[PayrollRow]:
    """Payroll rows (columns :data:`PAYROLL_COLUMNS`) of reckon records, lazily, in input order.

    :param records: ``ReckonRecord`` models, wire dicts, or JSON Lines lines (e.g. an open
        ``results.jsonl``; blank lines are skipped).
    :param include_daily: also one row per result of daily records, with their ``day`` (default
        False: daily amounts repeat the monthly ones, see the module documentation).
    :param skip_empty_event: leave out results whose ``event`` is empty or missing (results reckoned
        with ``includeEmptyCode`` that have no accounting code, e.g. break time).
    :param events: keep only results whose ``event`` is in this collection (default: all).
    :param on_error: ``"raise"`` (default): the first bad record raises :class:`TransformError`;
        ``"skip"``: a bad record yields no row and its error is appended to ``errors``.
    :param errors: the list that collects skipped records' errors (required with ``"skip"``).
    :returns: an iterator of rows; arguments are checked at once, records as they are consumed.
        Each record's rows are built before any is yielded, so a bad record never leaves half of
        its rows behind.
    """
    check_on_error(on_error, errors)
    if isinstance(events, str):
        raise TypeError("events must be a collection of event codes, not a string; e.g. events={'1050'}")
    wanted = frozenset(events) if events is not None else None

    def keep(result: Any) -> bool:
        event = result.get("event") if isinstance(result, Mapping) else None
        if skip_empty_event and event in (None, ""):
            return False
        return wanted is None or text(event) in wanted

    def generate() -> Iterator[PayrollRow]:
        ledger = _Ledger()
        for index, wire in iter_records(records):
            try:
                if isinstance(wire, TransformError):
                    raise wire
                rows = _record_rows(wire, index, include_daily, keep)
                if not ledger.admit(wire, index):
                    continue  # an identical copy of a record already converted
            except TransformError as exc:
                if on_error == "raise":
                    raise
                assert errors is not None
                errors.append(exc)
                continue
            yield from rows
        for missing in ledger.missing_monthly():
            if on_error == "raise":
                raise missing
            assert errors is not None
            errors.append(missing)

    return generate()


class _Ledger:
    """What was converted, to refuse a second copy of a record and name employees left without rows.

    Memory per employee: a digest per monthly record, and per (employee, paymentDate, infotype) a
    bit mask of the days seen; never the records themselves.
    """

    def __init__(self) -> None:
        self.monthly: dict[tuple[str, str, str], tuple[int, bytes]] = {}
        self.daily_records: set[bytes] = set()
        self.days: dict[tuple[str, str, str], tuple[int, int]] = {}
        self.with_days: dict[str, int] = {}
        self.with_monthly: set[str] = set()

    def admit(self, wire: dict[str, Any], index: int) -> bool:
        """True to emit the record's rows, False for an identical copy; TransformError for a conflict."""
        employee = employee_of(wire)
        assert employee is not None  # _record_rows refused it otherwise
        key = (employee, text(wire.get("paymentDate")), text(wire.get("infotype")))
        daily = wire.get("daily")
        if "results" in wire and daily is None:
            digest = fingerprint(wire)
            seen = self.monthly.get(key)
            if seen is not None:
                if seen[1] == digest:
                    return False
                raise TransformError(
                    f"a second monthly record for this employee, paymentDate {key[1] or '(none)'} and "
                    f"infotype {key[2] or '(none)'}, different from record {seen[0]}: which one is right "
                    "cannot be told, and both would be paid; none of this record's rows were written",
                    index=index,
                    employee=employee,
                    field="results",
                    record=wire,
                )
            self.monthly[key] = (index, digest)
            self.with_monthly.add(employee)
            return True
        if not isinstance(daily, list):
            return True
        digest = fingerprint(wire)
        if digest in self.daily_records:
            return False
        ordinals = []
        for entry in daily:
            day: Any = entry.get("day") if isinstance(entry, Mapping) else None
            try:
                ordinals.append((date.fromisoformat(day).toordinal(), day))
            except (TypeError, ValueError):
                continue  # not a day: refused by _record_rows when its rows are asked for
        if ordinals:
            self.with_days.setdefault(employee, index)
        base, mask = self.days.get(key, (min(o for o, _ in ordinals) if ordinals else 0, 0))
        for ordinal, day in ordinals:
            if ordinal >= base and mask >> (ordinal - base) & 1:
                raise TransformError(
                    f"day {day} of this employee (paymentDate {key[1] or '(none)'}, infotype "
                    f"{key[2] or '(none)'}) already came in an earlier record: which one is right cannot be "
                    "told, and both would be paid; none of this record's rows were written",
                    index=index,
                    employee=employee,
                    field="daily",
                    record=wire,
                    day=day,
                )
        for ordinal, _ in ordinals:
            if ordinal < base:
                mask <<= base - ordinal
                base = ordinal
            mask |= 1 << (ordinal - base)
        self.days[key] = (base, mask)
        self.daily_records.add(digest)
        return True

    def missing_monthly(self) -> Iterator[TransformError]:
        """Employees with days but no monthly record, when the input held monthly records at all."""
        if not self.with_monthly:
            return
        for employee, index in self.with_days.items():
            if employee not in self.with_monthly:
                yield TransformError(
                    "has daily records but no monthly record: no payroll row for this employee; reckon "
                    "with 'monthly' for every employee",
                    index=index,
                    employee=employee,
                    field="results",
                )

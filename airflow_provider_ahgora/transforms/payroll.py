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

Errors: a record with a bad value (or no employee, or an unknown result type) raises
:class:`TransformError` naming the record, the employee, the result and the field
(``on_error="raise"``, the default). With ``on_error="skip"`` the bad record is left out **whole**
(a payroll must never import half of an employee's events) and its error is appended to the
``errors`` list, which is then required: nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow_provider_ahgora.transforms._records import (
    OnError,
    bad_value,
    check_on_error,
    employee_of,
    iter_records,
    text,
)
from airflow_provider_ahgora.transforms.errors import HoursFormatError, TransformError
from airflow_provider_ahgora.transforms.hours import (
    EXPECTED_TYPE,
    format_decimal,
    value_in_minutes_or_days,
)

if TYPE_CHECKING:
    from airflow_provider_ahgora.models.pontoweb import ReckonRecord

__all__ = ["PAYROLL_COLUMNS", "PayrollRow", "payroll_csv_header", "payroll_rows"]

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
        )
    try:
        amount = value_in_minutes_or_days(result)
    except HoursFormatError as exc:
        field = "type" if exc.expected == EXPECTED_TYPE else "value"
        raise TransformError(
            bad_value(exc, result), index=index, employee=employee, field=f"{where}.{field}", record=wire
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
        for index, wire in iter_records(records):
            try:
                if isinstance(wire, TransformError):
                    raise wire
                rows = _record_rows(wire, index, include_daily, keep)
            except TransformError as exc:
                if on_error == "raise":
                    raise
                assert errors is not None
                errors.append(exc)
                continue
            yield from rows

    return generate()

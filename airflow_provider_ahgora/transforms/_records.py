"""Reading reckon records in any of the forms the transforms accept (private helpers).

Result and punch types are read through the status vocabulary
(:mod:`airflow_provider_ahgora.models.vocabulary`), the one list of the values PontoWeb documents.
Importing it costs only :mod:`enum`; it imports the exceptions (and so Airflow) only to raise an
unknown value, so transforms that meet valid records never import Airflow.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

from airflow_provider_ahgora.models.vocabulary import PunchType, ResultType, parse, parse_or_none
from airflow_provider_ahgora.transforms.errors import HoursFormatError, TransformError

OnError = Literal["raise", "skip"]


def check_on_error(on_error: str, errors: list[TransformError] | None) -> None:
    """Refuse a bad ``on_error``; ``"skip"`` needs an ``errors`` list (nothing is dropped silently)."""
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if on_error == "skip" and errors is None:
        raise ValueError(
            "on_error='skip' needs errors=[...]: a list that collects the records skipped, so that none "
            "is dropped silently"
        )
    if errors is not None and not isinstance(errors, list):
        raise TypeError(f"errors must be a list, got {type(errors).__name__}")


def to_wire(record: Any, index: int | None = None) -> dict[str, Any]:
    """The wire dict of a record: a model (``to_wire()``), a mapping, or one JSON Lines line."""
    if hasattr(record, "to_wire") and callable(record.to_wire):
        wire = record.to_wire()
    elif isinstance(record, Mapping):
        wire = record
    elif isinstance(record, str | bytes | bytearray):
        try:
            wire = json.loads(record)
        except ValueError as exc:
            raise TransformError(f"not valid JSON ({exc})", index=index) from None
    else:
        raise TransformError(
            f"must be a ReckonRecord, a dict or a JSON text, got {type(record).__name__}", index=index
        )
    if not isinstance(wire, Mapping):
        raise TransformError(f"must be a JSON object, got {type(wire).__name__}", index=index, record=wire)
    return dict(wire)


def iter_records(records: Iterable[Any]) -> Iterator[tuple[int, dict[str, Any] | TransformError]]:
    """``(index, wire dict or the error that made it unreadable)`` for each record.

    Blank text lines (the end of a JSON Lines file) are skipped but still counted, so ``index`` is
    the line number minus one.
    """
    if isinstance(records, str | bytes | bytearray | Mapping) or hasattr(records, "to_wire"):
        raise TypeError(
            "records must be an iterable of records (models, dicts or JSON lines), not a single "
            f"{type(records).__name__}; wrap one record in a list"
        )
    for index, record in enumerate(records):
        if isinstance(record, str | bytes | bytearray) and not record.strip():
            continue
        try:
            yield index, to_wire(record, index)
        except TransformError as exc:
            yield index, exc


def employee_of(wire: Mapping[str, Any]) -> str | None:
    """The record's employee (registration) as text, or ``None``."""
    employee = wire.get("employee")
    if employee is None or isinstance(employee, bool):
        return None
    if isinstance(employee, int):
        return str(employee)
    if isinstance(employee, str) and employee.strip():
        return employee
    return None


def text(value: Any) -> str:
    """A scalar cell as text: ``None`` -> ``""``, numbers as written (never a float's binary noise)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def result_label(result: Any) -> str:
    """``name 'Horas extras 50%' (event '1050')`` for messages."""
    if not isinstance(result, Mapping):
        return "result"
    parts = []
    if result.get("name") not in (None, ""):
        parts.append(f"name {result.get('name')!r}")
    if result.get("event") not in (None, ""):
        parts.append(f"event {result.get('event')!r}")
    return " ".join(parts) or "result"


def bad_value(exc: HoursFormatError, result: Any) -> str:
    """The message of a bad result value: which result, what is wrong."""
    return f"{result_label(result)}: {exc}"


def result_type(value: Any) -> ResultType:
    """A result's ``type`` as :class:`~airflow_provider_ahgora.models.vocabulary.ResultType`.

    :raises AhgoraUnknownValueError: (from the vocabulary) for any other value, naming it.
    """
    return parse(ResultType, value, "result type")


def punch_type(value: Any) -> PunchType | None:
    """A punch's ``type`` as :class:`~airflow_provider_ahgora.models.vocabulary.PunchType`; ``None``
    when it is not given (missing or blank).

    :raises AhgoraUnknownValueError: (from the vocabulary) for any other value, naming it.
    """
    return parse_or_none(PunchType, value, "punch type")


def unknown_value_error() -> type[Exception]:
    """The vocabulary's ``AhgoraUnknownValueError``, for ``except unknown_value_error():``.

    An ``except`` clause evaluates its expression only when an exception is being matched, so the
    class (and the exceptions module) is imported only when something went wrong.
    """
    from airflow_provider_ahgora.exceptions import AhgoraUnknownValueError

    return AhgoraUnknownValueError


def fingerprint(value: Any) -> bytes:
    """A short digest of a JSON value, the same for equal values whatever their key order.

    Used to tell an identical copy of a record (collapsed) from a different one (refused) without
    keeping the record itself in memory.
    """
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()

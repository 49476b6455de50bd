"""Errors of the transforms: a bad amount of hours, and a record, day or card that cannot be transformed.

Both are :class:`ValueError` subclasses, so ``except ValueError`` catches them. Neither imports
Airflow: the transforms stay importable (and testable) without it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HoursFormatError", "InexactHoursError", "TransformError"]

_MAX_REPR = 60


def short_repr(value: Any) -> str:
    """``repr(value)``, cut to a readable length for error messages."""
    text = repr(value)
    if len(text) > _MAX_REPR:
        return text[: _MAX_REPR - 3] + "..."
    return text


class HoursFormatError(ValueError):
    """A value is not a valid amount of hours, minutes, clock time, punch or number of days.

    The message names the value and the formats that were expected.

    :ivar value: the offending value, as given.
    :ivar expected: a human description of the accepted formats.
    """

    def __init__(self, value: Any, expected: str, reason: str | None = None) -> None:
        self.value = value
        self.expected = expected
        self.reason = reason
        why = f" ({reason})" if reason else ""
        super().__init__(f"{short_repr(value)} is not valid{why}: expected {expected}")


class InexactHoursError(HoursFormatError):
    """An exact conversion was asked for (``exact=True``) but the value is not representable exactly.

    E.g. ``minutes_to_sexagesimal(Decimal("979.8"), exact=True)``: 979.8 minutes is not a whole
    number of minutes. Without ``exact`` the value is rounded with the documented rounding mode.
    """


class TransformError(ValueError):
    """A record, a day or a card could not be transformed. The message names the record, the
    employee, the day (when the problem is one day's) and the field, and says why.

    :ivar index: position of the record in the input (0-based; a JSON Lines line number minus one);
        ``None`` for a problem of the whole input (e.g. an employee with no daily record at all).
    :ivar employee: the record's ``employee`` (registration), if known.
    :ivar day: the day concerned, ``"YYYY-MM-DD"``, when the problem is one day's; else ``None``.
    :ivar competence: the time card concerned, ``"MM/YYYY"``, when the problem is a card's.
    :ivar field: wire path of the bad field, e.g. ``results[2].value`` or
        ``daily[3].punches[1].hour``; ``""`` when the record as a whole is bad.
    :ivar message: what is wrong and, where useful, what to do.
    :ivar record: the record as received (its wire form), for a failure report; not in the message.
    """

    def __init__(
        self,
        message: str,
        *,
        index: int | None = None,
        employee: str | None = None,
        field: str = "",
        record: Any = None,
        day: str | None = None,
        competence: str | None = None,
    ) -> None:
        self.index = index
        self.employee = employee
        self.day = day
        self.competence = competence
        self.field = field
        self.message = message
        self.record = record
        super().__init__(self._render())

    def _render(self) -> str:
        prefix = f"record {self.index}" if self.index is not None else "record"
        about = []
        if self.employee:
            about.append(f"employee {self.employee!r}")
        if self.competence:
            about.append(f"time card {self.competence}")
        if self.day:
            about.append(f"day {self.day}")
        if about:
            prefix = f"{prefix} ({', '.join(about)})"
        field = f", field {self.field}" if self.field else ""
        return f"{prefix}{field}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary (without the record) for a failure report or an XCom."""
        return {
            "index": self.index,
            "employee": self.employee,
            "day": self.day,
            "competence": self.competence,
            "field": self.field,
            "message": self.message,
        }

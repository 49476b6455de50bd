"""The status vocabulary: every enumerated value PontoWeb answers, parsed in one place.

Each enum lists the values the vendor documents give; :func:`parse` reads a value case-insensitively
(``"DONE"``, ``" done "``) into its enum member, and refuses anything else with
:class:`~airflow_provider_ahgora.exceptions.AhgoraUnknownValueError`, which names the value. An
unknown value is never taken to mean "still running" nor "finished well": code that meets one fails
and says what it got.

Operators, sensors, triggers, transforms and the sandbox all read these names from here. Importing
this module costs only :mod:`enum` (no Airflow, no pydantic): Dag files, the sandbox and the
transforms may import it freely.

======================  ====================================  ========================================
enum                    values                                where
======================  ====================================  ========================================
:class:`ReckonState`    processing, done, error               ``GET /reckons/process/status/...``
:class:`MonitorStatus`  done, warning, error (processing)     ``GET /process`` (the process monitor)
:class:`ResultType`     days, hours                           ``results[].type`` of reckon records
:class:`PunchType`      O, I, BI                              ``punches[].type`` of reckon records
:class:`Feature`        daily.punches, daily.totals, monthly  ``features`` of a reckon
:class:`FailOn`         error, warning, never                 our ``fail_on`` parameters
======================  ====================================  ========================================
"""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

__all__ = [
    "FAIL_ON",
    "FailOn",
    "Feature",
    "MonitorStatus",
    "PunchType",
    "ReckonState",
    "ResultType",
    "is_known",
    "parse",
    "parse_or_none",
]


class _Vocabulary(str, Enum):
    """A documented value: compares equal to its wire string, and serialises as it (JSON, XCom)."""

    def __str__(self) -> str:
        return str(self.value)

    @classmethod
    def _what(cls) -> str:
        return cls.__doc__.split(":", 1)[0].strip() if cls.__doc__ else cls.__name__


class ReckonState(_Vocabulary):
    """reckon status: ``processing`` while it runs, then ``done`` or ``error`` (seed 001)."""

    PROCESSING = "processing"
    DONE = "done"
    ERROR = "error"

    @property
    def is_terminal(self) -> bool:
        return self is not ReckonState.PROCESSING


class MonitorStatus(_Vocabulary):
    """process monitor status: how a push went once ``progress.done`` reached ``progress.total``.

    ``done``: every record succeeded; ``warning``: some failed; ``error``: all failed (seed 000). The
    monitor documents no in-progress value; ``processing`` (the reckon's, from the same vendor) is
    accepted while a push is not finished, and means nothing once it is.
    """

    PROCESSING = "processing"
    DONE = "done"
    WARNING = "warning"
    ERROR = "error"


class ResultType(_Vocabulary):
    """result type: ``days`` (a count of days) or ``hours`` ("16:30" or "16,50")."""

    DAYS = "days"
    HOURS = "hours"


class PunchType(_Vocabulary):
    """punch type: ``O`` clock or online, ``I`` manual inclusion, ``BI`` break (seed 001)."""

    CLOCK = "O"
    MANUAL = "I"
    BREAK = "BI"


class Feature(_Vocabulary):
    """reckon feature: what a reckon produces (seed 001)."""

    DAILY_PUNCHES = "daily.punches"
    DAILY_TOTALS = "daily.totals"
    MONTHLY = "monthly"


class FailOn(_Vocabulary):
    """fail_on: which finished pushes fail a task."""

    ERROR = "error"
    WARNING = "warning"
    NEVER = "never"


#: ``fail_on`` -> the monitor statuses of a finished push that fail the task.
FAIL_ON: dict[FailOn, frozenset[MonitorStatus]] = {
    FailOn.ERROR: frozenset({MonitorStatus.ERROR}),
    FailOn.WARNING: frozenset({MonitorStatus.ERROR, MonitorStatus.WARNING}),
    FailOn.NEVER: frozenset(),
}

E = TypeVar("E", bound=_Vocabulary)
_LOOKUP: dict[type[_Vocabulary], dict[str, _Vocabulary]] = {}


def _table(enum: type[E]) -> dict[str, E]:
    table = _LOOKUP.get(enum)
    if table is None:
        table = {member.value.casefold(): member for member in enum}
        _LOOKUP[enum] = table
    return table  # type: ignore[return-value]


def parse(enum: type[E], value: Any, what: str | None = None) -> E:
    """``value`` as a member of ``enum``, case-insensitively and without surrounding blanks.

    :raises AhgoraUnknownValueError: for any other value (``None`` and non-strings included), naming
        it and the documented values.
    """
    if isinstance(value, enum):
        return value
    if isinstance(value, str):
        member = _table(enum).get(value.strip().casefold())
        if member is not None:
            return member
    from airflow_provider_ahgora.exceptions import AhgoraUnknownValueError

    raise AhgoraUnknownValueError(what or enum._what(), value, [m.value for m in enum])


def parse_or_none(enum: type[E], value: Any, what: str | None = None) -> E | None:
    """:func:`parse`, except that ``None`` and a blank string (the value was not given) give ``None``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse(enum, value, what)


def is_known(enum: type[E], value: Any) -> bool:
    """True if :func:`parse` would accept ``value``."""
    return isinstance(value, enum) or (isinstance(value, str) and value.strip().casefold() in _table(enum))

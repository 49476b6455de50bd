"""Small pieces shared by the sandbox's emulators: the error a route raises, JSON helpers, the clock."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

#: Largest request body read at all; bigger ones are refused unread (413) and the connection closed.
MAX_READ_BODY = 8 * 1024 * 1024


class ApiError(Exception):
    """An error answer: a route raises it, the server sends ``status`` with the JSON ``body``."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}: {body!r}")
        self.status = status
        self.body = body
        self.headers = headers or {}


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, as the APIs send it."""
    return _ENCODER.encode(value).encode("utf-8")


def canonical(value: Any) -> str:
    """A JSON value as a canonical string (sorted keys, compact): ``remoteId``s compare by it."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def iso_ms(epoch: float) -> str:
    """``2025-04-28T13:49:32.334Z``: the timestamps of both APIs."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class SandboxClock:
    """The sandbox's notion of now: an injectable base clock (epoch seconds) plus an offset that
    tests move forward with :meth:`advance` (72-hour expiry, 15-minute uniques, daily limits)."""

    def __init__(self, base: Callable[[], float] | None = None) -> None:
        self._base = base or time.time
        self._offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self._base() + self._offset

    def advance(self, seconds: float) -> float:
        """Move the sandbox's time forward (or back, with a negative number); returns the new now."""
        with self._lock:
            self._offset += float(seconds)
        return self()

    @property
    def offset(self) -> float:
        return self._offset

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0


#: What ``Quirks.results_total`` may be: the readings of ``total`` that seed 001 documents.
RESULTS_TOTALS = ("records", "employees", "days", "days with punches", "days with results")
#: What ``Quirks.status_case`` may be.
STATUS_CASES = ("lower", "upper", "title")


class Quirks:
    """Where the vendor documents allow more than one reading, which one the sandbox plays. The
    defaults are what the documents' examples show; each other value is a reading a real server may
    pick, so that users can test their DAGs against it.

    :param results_total: what ``total`` of a results page counts (seed 001 says employees for
        monthly, days for daily.punches / daily.totals; its examples and FAQ say records).
    :param page_cap: the largest page a results read (PontoWeb) or a goals read (Voors) returns,
        whatever ``limit`` asks (``None``: as asked). A client that stops at the first short page
        loses the rest.
    :param status_case: the case of the statuses PontoWeb answers (reckon status, process monitor):
        ``lower`` as documented, ``upper`` (``DONE``), ``title`` (``Done``).
    :param empty_as_list: PHP encodes an empty object as ``[]``: the process monitor answers
        ``"data": []`` when a push has no errors.
    """

    FIELDS = ("results_total", "page_cap", "status_case", "empty_as_list")

    def __init__(
        self,
        results_total: str = "records",
        page_cap: int | None = None,
        status_case: str = "lower",
        empty_as_list: bool = False,
    ) -> None:
        if results_total not in RESULTS_TOTALS:
            raise ValueError(
                f"results_total must be one of {', '.join(RESULTS_TOTALS)}, got {results_total!r}"
            )
        if page_cap is not None and (
            isinstance(page_cap, bool) or not isinstance(page_cap, int) or page_cap < 1
        ):
            raise ValueError(f"page_cap must be a positive integer or None, got {page_cap!r}")
        if status_case not in STATUS_CASES:
            raise ValueError(f"status_case must be one of {', '.join(STATUS_CASES)}, got {status_case!r}")
        if not isinstance(empty_as_list, bool):
            raise ValueError(f"empty_as_list must be true or false, got {empty_as_list!r}")
        self.results_total = results_total
        self.page_cap = page_cap
        self.status_case = status_case
        self.empty_as_list = empty_as_list

    @classmethod
    def from_spec(cls, spec: Any) -> Quirks:
        """From a :class:`Quirks`, a mapping of its fields, or ``None`` (the defaults)."""
        if spec is None:
            return cls()
        if isinstance(spec, Quirks):
            return spec
        unknown = sorted(set(spec) - set(cls.FIELDS))
        if unknown:
            raise ValueError(f"unknown quirk(s) {', '.join(unknown)}; allowed: {', '.join(cls.FIELDS)}")
        return cls(**dict(spec))

    def describe(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.FIELDS}

    def status(self, value: str) -> str:
        """A status in the chosen case."""
        if self.status_case == "upper":
            return value.upper()
        if self.status_case == "title":
            return value.title()
        return value

    def page(self, limit: int) -> int:
        """The page size served for a read that asked for ``limit``."""
        return limit if self.page_cap is None else min(limit, self.page_cap)

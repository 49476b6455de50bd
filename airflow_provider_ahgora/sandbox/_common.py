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

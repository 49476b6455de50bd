"""The polling policy: how every wait of this provider paces its calls, blocking or async.

One rule, used by the blocking waits of operators and by the async waits of triggers alike:

* poll every ``interval`` seconds while the remote work makes progress;
* after a round that shows no progress (or whose polls failed), wait :data:`BACKOFF_FACTOR` (1.5)
  times longer, up to ``max_interval``; back to ``interval`` as soon as progress moves;
* never sleep past the deadline (``end_time``, epoch seconds as ``time.time()``, so that it survives
  a deferral); once it has passed, the last round has at most :data:`FINAL_POLL_GRACE` seconds and
  the wait ends with "timeout".

A wait is a loop of *rounds*: a round polls whatever is pending (one reckon, many pushes) and says
whether everything is finished and whether anything moved. :func:`wait_blocking` and
:func:`wait_async` run that loop; what an answer *means* (done, failed, lost) is the business of
:mod:`airflow_provider_ahgora.watches`, not of this module.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple

__all__ = [
    "BACKOFF_FACTOR",
    "DEFERRAL_TIMEOUT_MARGIN",
    "FINAL_POLL_GRACE",
    "Pacer",
    "Round",
    "deadline_after",
    "wait_async",
    "wait_blocking",
]

#: How much the interval grows after a round that shows no progress.
BACKOFF_FACTOR = 1.5
#: Seconds the last round may still take once the deadline has come.
FINAL_POLL_GRACE = 60.0
#: A deferred wait sets Airflow's own deferral timeout this many seconds after its deadline, as a
#: backstop only: the trigger's ``timeout`` event, which names the last progress, comes first.
DEFERRAL_TIMEOUT_MARGIN = 180.0


def _now() -> float:
    """The wall clock of deadlines (epoch seconds: a deadline survives a deferral). Tests replace it."""
    return time.time()


def _sleep(seconds: float) -> None:
    """How a blocking wait sleeps. Tests replace it."""
    time.sleep(seconds)


def deadline_after(timeout: float | None) -> float | None:
    """The deadline ``timeout`` seconds from now, epoch seconds (``None``: no deadline). A deferred wait
    carries it to the triggerer, which keeps it."""
    return None if timeout is None else _now() + float(timeout)


class Round(NamedTuple):
    """What one round of polls found: everything ``finished``, and whether anything ``moved``. (A
    named tuple: a dataclass costs every Dag file's parse about 1 ms to make.)"""

    finished: bool
    moved: bool


class Pacer:
    """The interval, its backoff and the deadline of one wait.

    :param interval: seconds between rounds while progress moves (> 0).
    :param max_interval: upper bound of the growing interval (raised to ``interval`` if lower).
    :param end_time: the deadline, epoch seconds (``None``: no deadline).
    :param factor: growth of the interval after a round without progress.
    """

    def __init__(
        self,
        interval: float,
        max_interval: float,
        end_time: float | None = None,
        *,
        factor: float = BACKOFF_FACTOR,
        final_grace: float = FINAL_POLL_GRACE,
    ) -> None:
        if not interval or interval <= 0:
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        self.interval = float(interval)
        self.max_interval = max(float(max_interval or interval), self.interval)
        self.end_time = None if end_time is None else float(end_time)
        self.factor = factor
        self.final_grace = final_grace
        self.current = self.interval
        self.rounds = 0

    @classmethod
    def for_timeout(
        cls, interval: float, max_interval: float, timeout: float | None, **kwargs: float
    ) -> Pacer:
        """A pacer whose deadline is ``timeout`` seconds from now (``None``: no deadline)."""
        return cls(interval, max_interval, deadline_after(timeout), **kwargs)

    def expired(self) -> bool:
        """The deadline has passed."""
        return self.end_time is not None and _now() >= self.end_time

    def budget(self) -> float | None:
        """Seconds the next round may take: until the deadline, and at least the final grace."""
        if self.end_time is None:
            return None
        return max(self.end_time - _now(), self.final_grace)

    def next_delay(self, moved: bool) -> float:
        """The pause before the next round: reset on progress, else grown; clipped to the deadline."""
        self.rounds += 1
        if moved:
            self.current = self.interval
        else:
            self.current = min(self.current * self.factor, self.max_interval)
        if self.end_time is None:
            return self.current
        return max(0.0, min(self.current, self.end_time - _now()))


def wait_blocking(poll_round: Callable[[Pacer], Round], pacer: Pacer) -> bool:
    """Run rounds until everything is finished (``True``) or the deadline passes (``False``).

    The first round runs at once; a deadline is checked after every round, failed polls included.
    """
    while True:
        result = poll_round(pacer)
        if result.finished:
            return True
        if pacer.expired():
            return False
        _sleep(pacer.next_delay(result.moved))


async def wait_async(poll_round: Callable[[Pacer], Awaitable[Round]], pacer: Pacer) -> bool:
    """:func:`wait_blocking` for the event loop: the pauses are ``asyncio.sleep``."""
    while True:
        result = await poll_round(pacer)
        if result.finished:
            return True
        if pacer.expired():
            return False
        await asyncio.sleep(pacer.next_delay(result.moved))

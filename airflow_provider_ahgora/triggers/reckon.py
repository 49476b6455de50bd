"""The async poller behind ``PontoWebReckonSensor(deferrable=True)``.

The trigger only polls ``GET /reckons/process/status/{process}`` and emits **one**
JSON-serialisable event, whatever happens:

=============  ==========================================================================
``status``     when
=============  ==========================================================================
``success``    PontoWeb says the reckon is ``done``
``error``      PontoWeb says the reckon ended in ``error``
``timeout``    ``end_time`` passed first (checked after every poll, failed or not)
``failed``     a fatal error: credentials refused, no permission, unknown process, bad
               connection, or anything unexpected (``error_type`` names the exception)
=============  ==========================================================================

Transient failures (5xx, 429, resets, timeouts) that survive the hook's own retries are never
fatal: they are logged and polling goes on until ``end_time``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_ahgora.exceptions import AhgoraConfigError, AhgoraTransientError

if TYPE_CHECKING:
    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
    from airflow_provider_ahgora.models.pontoweb import ReckonStatus

__all__ = ["BACKOFF_FACTOR", "PontoWebReckonTrigger"]

#: How much the polling interval grows after a poll that shows no progress.
BACKOFF_FACTOR = 1.5


def progress_of(status: ReckonStatus | None) -> dict[str, int | None]:
    """``{"done", "total"}`` as plain ints (or None when unknown)."""
    progress = status.progress if status is not None else None
    return {
        "done": progress.done if progress is not None else None,
        "total": progress.total if progress is not None else None,
    }


def describe_progress(status: ReckonStatus | None) -> str:
    """``"done/total (pct%)"``, e.g. ``"3/10 (30%)"``; ``?`` for unknown values."""
    if status is None:
        return "no status received yet"
    progress = progress_of(status)
    done = "?" if progress["done"] is None else progress["done"]
    total = "?" if progress["total"] is None else progress["total"]
    return f"{done}/{total} ({status.percent:.0f}%)"


class PontoWebReckonTrigger(BaseTrigger):
    """Wait, asynchronously, for a PontoWeb reckon to finish.

    :param process: the process id returned when the reckon was started.
    :param pontoweb_conn_id: the PontoWeb connection id.
    :param poll_interval: seconds between polls while the reckon makes progress. Default 30.
    :param max_poll_interval: the interval grows x1.5 after each poll that shows no progress, up to
        this many seconds (never below ``poll_interval``). Default 300.
    :param end_time: give up at this time (epoch seconds, as ``time.time()``) with a ``timeout``
        event. ``None``: wait as long as it takes.
    """

    #: Seconds a poll may still take once the deadline has come (the final poll at the deadline).
    final_poll_grace: float = 60.0

    def __init__(
        self,
        process: str,
        pontoweb_conn_id: str = "pontoweb_default",
        poll_interval: float = 30.0,
        max_poll_interval: float = 300.0,
        end_time: float | None = None,
    ) -> None:
        super().__init__()
        if not process or not isinstance(process, str):
            raise AhgoraConfigError(f"process must be the reckon's id, a non-empty string; got {process!r}.")
        if not poll_interval or poll_interval <= 0:
            raise AhgoraConfigError(
                f"poll_interval must be a positive number of seconds, got {poll_interval!r}."
            )
        if not max_poll_interval or max_poll_interval <= 0:
            raise AhgoraConfigError(
                f"max_poll_interval must be a positive number of seconds, got {max_poll_interval!r}."
            )
        self.process = process
        self.pontoweb_conn_id = pontoweb_conn_id
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = max(float(max_poll_interval), self.poll_interval)
        self.end_time = None if end_time is None else float(end_time)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airflow_provider_ahgora.triggers.reckon.PontoWebReckonTrigger",
            {
                "process": self.process,
                "pontoweb_conn_id": self.pontoweb_conn_id,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "end_time": self.end_time,
            },
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PontoWebReckonTrigger):
            return NotImplemented
        return self.serialize() == other.serialize()

    def __hash__(self) -> int:
        classpath, kwargs = self.serialize()
        return hash((classpath, *sorted(kwargs.items())))

    # -- running ----------------------------------------------------------------------------------

    def _get_hook(self) -> PontoWebHook:
        from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook

        return PontoWebHook(self.pontoweb_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the reckon is finished or ``end_time`` passes; yield exactly one event."""
        try:
            payload = await self._wait()
        except Exception as exc:  # every failure becomes the one event; cancellation still propagates
            self.log.error("Waiting for PontoWeb reckon %s failed: %s", self.process, exc)
            payload = {
                "status": "failed",
                "process": self.process,
                "message": str(exc),
                "error_type": type(exc).__name__,
            }
        yield TriggerEvent(payload)

    def _past_deadline(self) -> bool:
        return self.end_time is not None and time.time() >= self.end_time

    def _poll_budget(self) -> float | None:
        """How long one poll may take: until the deadline, and at least the final-poll grace."""
        if self.end_time is None:
            return None
        return max(self.end_time - time.time(), self.final_poll_grace)

    async def _poll(self, hook: PontoWebHook) -> ReckonStatus:
        budget = self._poll_budget()
        call = hook.aget_reckon_status(self.process)
        if budget is None:
            return await call
        try:
            return await asyncio.wait_for(call, timeout=budget)
        except asyncio.TimeoutError:
            raise AhgoraTransientError(
                f"no answer before the deadline (waited {budget:.0f} s)", service="PontoWeb"
            ) from None

    async def _wait(self) -> dict[str, Any]:
        hook = self._get_hook()
        try:
            interval = self.poll_interval
            last: ReckonStatus | None = None
            last_seen: tuple[Any, ...] | None = None
            last_failure: str | None = None
            polls = 0
            while True:
                polls += 1
                try:
                    status = await self._poll(hook)
                except AhgoraTransientError as exc:
                    last_failure = str(exc)
                    self.log.warning(
                        "PontoWeb reckon %s: poll %d failed (%s); not fatal, polling again",
                        self.process,
                        polls,
                        exc,
                    )
                    seen = last_seen  # no news counts as no progress
                else:
                    last, last_failure = status, None
                    self.log.info(
                        "PontoWeb reckon %s: %s, %s", self.process, status.status, describe_progress(status)
                    )
                    if status.is_done:
                        return self._payload(
                            "success",
                            status,
                            f"PontoWeb reckon {self.process} is done (unique {status.unique}).",
                        )
                    if status.is_error:
                        return self._payload(
                            "error",
                            status,
                            f"PontoWeb reckon {self.process} ended in error in PontoWeb at "
                            f"{describe_progress(status)}: start a new reckon once the cause is fixed.",
                        )
                    seen = (status.status, *progress_of(status).values())
                if self._past_deadline():
                    seen_last = (
                        f"last progress {describe_progress(last)}, status {last.status}"
                        if last is not None
                        else "no status was ever received"
                    )
                    reason = f"; the last poll failed: {last_failure}" if last_failure else ""
                    return self._payload(
                        "timeout",
                        last,
                        f"PontoWeb reckon {self.process} did not finish before the timeout: {seen_last}"
                        f"{reason}. The reckon itself keeps running in PontoWeb (it cannot be cancelled).",
                    )
                if seen is not None and seen != last_seen:  # progress moved (or first answer)
                    interval = self.poll_interval
                else:
                    interval = min(interval * BACKOFF_FACTOR, self.max_poll_interval)
                last_seen = seen
                delay = interval
                if self.end_time is not None:
                    delay = max(0.0, min(delay, self.end_time - time.time()))
                await asyncio.sleep(delay)
        finally:
            hook.close()

    def _payload(self, outcome: str, status: ReckonStatus | None, message: str) -> dict[str, Any]:
        return {
            "status": outcome,
            "process": self.process,
            "unique": status.unique if status is not None else None,
            "company": status.company if status is not None else None,
            "reckon_status": status.status if status is not None else None,
            "progress": progress_of(status),
            "message": message,
        }

"""The async poller behind ``PontoWebProcessSensor(deferrable=True)`` and the batch push operator.

PontoWeb pushes work asynchronously; their outcome comes from the process monitor
(``GET /process?subunique=`` or ``?unique=``). This trigger waits for **several** pushes at once
(a batch operator defers once for all its batches), polling each one only until it is finished,
and emits **one** JSON-serialisable event:

=============  ==========================================================================
``status``     when
=============  ==========================================================================
``success``    every process is finished (``progress.done`` reached ``progress.total``) or
               ``lost`` (the monitor no longer knows it: not found, expired, another client
               error); each process carries its own ``status``
``timeout``    ``end_time`` passed first; unfinished processes have status ``pending``
``failed``     a fatal error that concerns every process: credentials refused (401), no
               permission (403), bad connection, or anything unexpected (``error_type``
               names the exception)
=============  ==========================================================================

A process that finished with a status the documents do not list is ``unrecognized``: its outcome is
unknown (never taken as success); statuses are read case-insensitively. Transient failures (5xx, 429,
resets, timeouts, malformed answers such as ``"data": []`` where the document has an object is not
one: that is PHP's empty object, and read as such) that survive the hook's own retries are never
fatal: the process stays pending and is polled again next round. The pace is the polling policy's
(:mod:`airflow_provider_ahgora.polling`), the meaning of each answer the process watch's
(:mod:`airflow_provider_ahgora.watches`), shared with the batch push operator's blocking wait.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_ahgora.exceptions import AhgoraConfigError
from airflow_provider_ahgora.polling import FINAL_POLL_GRACE, Pacer, wait_async
from airflow_provider_ahgora.triggers._base import AhgoraTrigger, load_hook_module
from airflow_provider_ahgora.watches import MAX_ERROR_MESSAGE as MAX_ERROR_MESSAGE  # re-exported
from airflow_provider_ahgora.watches import ProcessWatch, check_processes
from airflow_provider_ahgora.watches import api_detail as api_detail  # re-exported
from airflow_provider_ahgora.watches import process_label as process_label  # re-exported

__all__ = ["MAX_ERROR_MESSAGE", "PontoWebProcessTrigger", "api_detail", "process_label"]


class PontoWebProcessTrigger(AhgoraTrigger):
    """Wait, asynchronously, until every given PontoWeb push is finished in the process monitor.

    :param processes: the pushes to wait for, each ``{"unique": str | None, "subunique": str |
        None}`` (``subunique`` is used when both are given) plus any other JSON keys (e.g.
        ``"batch": 3``), which come back untouched in the event.
    :param pontoweb_conn_id: the PontoWeb connection id.
    :param poll_interval: seconds between polling rounds while some process makes progress.
        Default 10.
    :param max_poll_interval: after a round in which no process moved, the interval grows x1.5, up
        to this many seconds (never below ``poll_interval``). Keep it well below 15 minutes: the
        monitor forgets a process 15 minutes after it finished. Default 120.
    :param end_time: give up at this time (epoch seconds, as ``time.time()``) with a ``timeout``
        event. ``None``: wait as long as it takes.
    :param max_concurrency: at most this many monitor calls at once. Default 8.

    The event: ``{"status": "success" | "timeout", "processes": [...], "message": str}``, the
    processes in input order, each the input item plus ``status`` (the monitor's ``done`` /
    ``warning`` / ``error`` or another string it gave; ``lost``; ``pending`` on timeout),
    ``progress`` (``{"done", "total"}``, ints or ``None``), ``errors`` (every
    ``{"identifier", "message"}`` the monitor reported, messages cut to 500 characters) and
    ``message`` (why a process is lost, or the last failed poll of a pending one; else ``None``).
    Or ``{"status": "failed", "message", "error_type"}``. The event is stored in the metadata
    database (the task's ``next_kwargs``): it holds every error of every process, so its size grows
    with the number of failed records (about 100 bytes each).
    """

    #: Seconds a poll may still take once the deadline has come (the final round at the deadline).
    final_poll_grace: float = FINAL_POLL_GRACE

    def __init__(
        self,
        processes: Sequence[Mapping[str, Any]],
        pontoweb_conn_id: str = "pontoweb_default",
        poll_interval: float = 10.0,
        max_poll_interval: float = 120.0,
        end_time: float | None = None,
        max_concurrency: int = 8,
    ) -> None:
        super().__init__()
        self.processes = check_processes(processes)
        if not poll_interval or poll_interval <= 0:
            raise AhgoraConfigError(
                f"poll_interval must be a positive number of seconds, got {poll_interval!r}."
            )
        if not max_poll_interval or max_poll_interval <= 0:
            raise AhgoraConfigError(
                f"max_poll_interval must be a positive number of seconds, got {max_poll_interval!r}."
            )
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise AhgoraConfigError(
                f"max_concurrency must be an integer of 1 or more, got {max_concurrency!r}."
            )
        self.pontoweb_conn_id = pontoweb_conn_id
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = max(float(max_poll_interval), self.poll_interval)
        self.end_time = None if end_time is None else float(end_time)
        self.max_concurrency = max_concurrency

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airflow_provider_ahgora.triggers.process.PontoWebProcessTrigger",
            {
                "processes": [dict(item) for item in self.processes],
                "pontoweb_conn_id": self.pontoweb_conn_id,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "end_time": self.end_time,
                "max_concurrency": self.max_concurrency,
            },
        )

    # -- running ----------------------------------------------------------------------------------

    def _what(self) -> str:
        if len(self.processes) == 1:
            return f"PontoWeb process {process_label(self.processes[0])}"
        return f"{len(self.processes)} PontoWeb processes"

    def _describe(self) -> str:
        return self._what()

    async def _wait(self) -> dict[str, Any]:
        await load_hook_module()
        hook = self._get_hook()
        try:
            await hook.asettings()  # a missing or bad connection fails once, for all processes
            watch = ProcessWatch(self.processes, self.log)
            pacer = Pacer(
                self.poll_interval, self.max_poll_interval, self.end_time, final_grace=self.final_poll_grace
            )
            await wait_async(watch.poll_async(hook, self.max_concurrency), pacer)
            return watch.event()
        finally:
            await hook.aclose()

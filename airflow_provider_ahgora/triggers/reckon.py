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
               connection, a status the documents do not list (named in ``message``), or
               anything unexpected (``error_type`` names the exception)
=============  ==========================================================================

Statuses are read case-insensitively (``DONE`` is done). Transient failures (5xx, 429, resets,
timeouts, malformed answers such as a gateway's page or ``{}``) that survive the hook's own retries
are never fatal: they are logged and polling goes on until ``end_time``. The pace is the polling
policy's (:mod:`airflow_provider_ahgora.polling`), the meaning of each answer the reckon watch's
(:mod:`airflow_provider_ahgora.watches`): the operator's and sensor's blocking waits read the same.
Nothing here blocks the triggerer's event loop: the hook and models are imported in a worker thread,
the connection is looked up asynchronously and every call runs off the loop.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_ahgora.exceptions import AhgoraConfigError
from airflow_provider_ahgora.polling import BACKOFF_FACTOR as BACKOFF_FACTOR  # re-exported
from airflow_provider_ahgora.polling import FINAL_POLL_GRACE, Pacer, wait_async
from airflow_provider_ahgora.triggers._base import AhgoraTrigger, load_hook_module
from airflow_provider_ahgora.watches import ReckonWatch
from airflow_provider_ahgora.watches import describe_progress as describe_progress  # re-exported
from airflow_provider_ahgora.watches import progress_of as progress_of  # re-exported

__all__ = ["BACKOFF_FACTOR", "PontoWebReckonTrigger"]


class PontoWebReckonTrigger(AhgoraTrigger):
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
    final_poll_grace: float = FINAL_POLL_GRACE

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

    @classmethod
    def for_task(cls, task: Any, process: str, end_time: float | None) -> PontoWebReckonTrigger:
        """The trigger of a task that waits for ``process`` (the reckon operator, the sensor): its
        connection and intervals."""
        return cls(
            process=process,
            pontoweb_conn_id=task.pontoweb_conn_id,
            poll_interval=task.poll_interval,
            max_poll_interval=task.max_poll_interval,
            end_time=end_time,
        )

    # -- running ----------------------------------------------------------------------------------

    def _describe(self) -> str:
        return f"PontoWeb reckon {self.process}"

    def _failed(self, exc: BaseException) -> dict[str, Any]:
        return {**super()._failed(exc), "process": self.process}

    async def _wait(self) -> dict[str, Any]:
        await load_hook_module()
        hook = self._get_hook()
        try:
            await hook.asettings()  # the connection, looked up without blocking the loop
            watch = ReckonWatch(self.process, self.log)
            pacer = Pacer(
                self.poll_interval, self.max_poll_interval, self.end_time, final_grace=self.final_poll_grace
            )
            finished = await wait_async(watch.poll_async(hook), pacer)
            return watch.event(timed_out=not finished)
        finally:
            await hook.aclose()

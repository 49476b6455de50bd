"""Wait for a PontoWeb reckon to finish: poke, reschedule or deferrable."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_provider_ahgora.exceptions import (
    AhgoraConfigError,
    AhgoraError,
    AhgoraTransientError,
    AhgoraUnknownValueError,
)
from airflow_provider_ahgora.polling import DEFERRAL_TIMEOUT_MARGIN as DEFERRAL_TIMEOUT_MARGIN  # re-exported
from airflow_provider_ahgora.sensors._common import execute_deferrable

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
    from airflow_provider_ahgora.models.pontoweb import ReckonStatus

__all__ = ["DEFERRAL_TIMEOUT_MARGIN", "PontoWebReckonSensor"]


def reckon_summary(status: ReckonStatus) -> dict[str, Any]:
    """The XCom value of the sensor: a small plain dict."""
    from airflow_provider_ahgora.watches import ReckonWatch

    watch = ReckonWatch(status.process or "", None)
    watch.last = status
    return watch.summary()


class PontoWebReckonSensor(BaseSensorOperator):
    """Wait until a PontoWeb reckon is ``done``; push its summary to XCom.

    Works in the usual sensor modes (``mode="poke"`` or ``"reschedule"``) and deferrable
    (``deferrable=True``: the wait runs in the triggerer, see
    :class:`~airflow_provider_ahgora.triggers.reckon.PontoWebReckonTrigger`).

    * The reckon ended in ``error`` in PontoWeb: the task fails at once, without retries
      (``AirflowFailException``).
    * Transient failures (5xx, 429, connection resets, timeouts) that survive the hook's retries
      are never fatal: the sensor keeps waiting until ``timeout``.
    * ``timeout`` holds in every mode, deferred included (``AirflowSensorTimeout``, no retry).
    * Other errors (credentials refused, no permission, unknown process, bad connection) fail the
      try (``AhgoraError``); the task's ``retries`` apply.

    XCom (``return_value``): ``{"process", "unique", "company", "status", "progress": {"done",
    "total"}}``; ``unique`` is what the results operator reads.

    :param process: the reckon's process id (templated), e.g. from the start operator's XCom.
    :param pontoweb_conn_id: the PontoWeb connection id (templated). Default ``pontoweb_default``.
    :param deferrable: wait in the triggerer. Default: ``[operators] default_deferrable``.
    :param poll_interval: seconds between status calls when deferred. Default: ``poke_interval``.
    :param max_poll_interval: when deferred, the interval grows x1.5 after each poll that shows no
        progress, up to this many seconds (and back to ``poll_interval`` when progress moves).
        Default: 300, or ``poll_interval`` if that is larger.
    """

    template_fields: Sequence[str] = ("process", "pontoweb_conn_id")
    ui_color = "#e3f1e6"

    def __init__(
        self,
        *,
        process: str,
        pontoweb_conn_id: str = "pontoweb_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | None = None,
        max_poll_interval: float = 300.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.process = process
        self.pontoweb_conn_id = pontoweb_conn_id
        self.deferrable = deferrable
        self.poll_interval = float(self.poke_interval if poll_interval is None else poll_interval)
        self.max_poll_interval = max(float(max_poll_interval), self.poll_interval)
        if deferrable and self.poll_interval <= 0:
            raise AhgoraConfigError(
                f"{self.task_id}: poll_interval (or poke_interval) must be positive in deferrable mode, "
                f"got {self.poll_interval!r}."
            )

    @cached_property
    def hook(self) -> PontoWebHook:
        from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook

        return PontoWebHook(self.pontoweb_conn_id)

    def _process_id(self) -> str:
        process = "" if self.process is None else str(self.process).strip()
        if not process:
            raise AhgoraConfigError(
                f"{self.task_id}: process is empty. Pass the process id returned by the reckon start "
                "(e.g. the start operator's XCom)."
            )
        return process

    # -- poke and reschedule ------------------------------------------------------------------------

    def poke(self, context: Context) -> bool | PokeReturnValue:
        from airflow_provider_ahgora.watches import ReckonWatch, describe_progress

        process = self._process_id()
        watch = ReckonWatch(process, self.log)
        try:
            watch.observe(self.hook.get_reckon_status(process))
        except AhgoraTransientError as exc:
            from airflow_provider_ahgora.watches import ends_the_wait

            if ends_the_wait(exc):
                raise
            self.log.warning(
                "PontoWeb reckon %s: status call failed (%s); not fatal, will poke again", process, exc
            )
            return False
        except AhgoraUnknownValueError as exc:
            raise AirflowFailException(f"PontoWeb reckon {process}: {exc}") from exc
        status = watch.last
        assert status is not None
        if status.is_error:
            raise AirflowFailException(
                f"PontoWeb reckon {process} ended in error in PontoWeb at {describe_progress(status)}: "
                "start a new reckon once the cause is fixed (retrying this sensor would not help)."
            )
        if status.is_done:
            return PokeReturnValue(is_done=True, xcom_value=watch.summary())
        return False

    # -- deferrable -------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        from airflow_provider_ahgora.triggers.reckon import PontoWebReckonTrigger

        process = self._process_id()
        return execute_deferrable(
            self,
            context,
            f"PontoWeb reckon {process}",
            lambda end_time: PontoWebReckonTrigger.for_task(self, process, end_time),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: return the summary, or fail as the event says."""
        if not event:
            raise AhgoraError(f"{self.task_id}: the reckon trigger ended without an event.")
        outcome = event.get("status")
        process = event.get("process") or self.process
        message = event.get("message") or ""
        if outcome == "success":
            self.log.info("%s", message or f"PontoWeb reckon {process} is done.")
            progress = event.get("progress") or {}
            return {
                "process": process,
                "unique": event.get("unique"),
                "company": event.get("company"),
                "status": event.get("reckon_status") or "done",
                "progress": {"done": progress.get("done"), "total": progress.get("total")},
            }
        if outcome == "error":
            raise AirflowFailException(message or f"PontoWeb reckon {process} ended in error in PontoWeb.")
        if outcome == "timeout":
            raise AirflowSensorTimeout(
                message or f"PontoWeb reckon {process} did not finish before the timeout."
            )
        if outcome == "failed":
            error_type = event.get("error_type") or "error"
            raise AhgoraError(f"Waiting for PontoWeb reckon {process} failed ({error_type}): {message}")
        raise AhgoraError(f"{self.task_id}: unexpected event from the reckon trigger: {event!r}")

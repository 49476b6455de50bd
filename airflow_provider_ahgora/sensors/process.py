"""Wait for a PontoWeb push to be processed (the process monitor): poke, reschedule or deferrable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    AhgoraExpiredError,
    AhgoraNotFoundError,
    AhgoraTransientError,
    AhgoraUnknownValueError,
)
from airflow_provider_ahgora.models.vocabulary import FAIL_ON as FAIL_ON  # re-exported
from airflow_provider_ahgora.models.vocabulary import FailOn, parse
from airflow_provider_ahgora.sensors._common import execute_deferrable

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
    from airflow_provider_ahgora.models.pontoweb import ProcessStatus

__all__ = ["FAIL_ON", "PontoWebProcessSensor"]

#: How many errors a failure message names (the log has them all).
ERRORS_IN_MESSAGE = 5
#: How many errors the task log lists.
ERRORS_IN_LOG = 100
#: Rendered values that mean "no value" (a template of a missing XCom key renders ``"None"``).
_ABSENT = ("", "None")


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() in _ABSENT)


def _is_literal(value: Any) -> bool:
    """Known at construction: ``None`` or a string that is not a Jinja template."""
    return value is None or (isinstance(value, str) and "{{" not in value and "{%" not in value)


def _lost_message(label: str, detail: str) -> str:
    return (
        f"PontoWeb process {label} is unknown to the process monitor ({detail}). The monitor keeps a "
        "process only 15 minutes after it finished (and a unique or subunique only 15 minutes): "
        "its outcome can no longer be read. Wait for a push right after sending it, with a poke or "
        "poll interval well under 15 minutes; check the records in PontoWeb, or push them again."
    )


class PontoWebProcessSensor(BaseSensorOperator):
    """Wait until a PontoWeb push is processed (``GET /process``); fail or not on its outcome.

    Works in the usual sensor modes (``mode="poke"`` or ``"reschedule"``) and deferrable
    (``deferrable=True``: the wait runs in the triggerer, see
    :class:`~airflow_provider_ahgora.triggers.process.PontoWebProcessTrigger`).

    The push is finished when ``progress.done`` reaches ``progress.total``; its ``status`` then
    says how it went: ``done`` (every record accepted), ``warning`` (some failed), ``error`` (all
    failed). ``fail_on`` chooses which statuses fail the task (``AirflowFailException``, no retry:
    pushing the same records again would fail the same way):

    * ``"error"`` (default): fail when every record failed;
    * ``"warning"``: fail when any record failed;
    * ``"never"``: never fail on the outcome; read it from the XCom.

    * Unknown or expired process (the monitor keeps a process 15 minutes after it finished): the
      task fails at once (``AirflowFailException``).
    * Transient failures (5xx, 429, connection resets, timeouts) that survive the hook's retries
      are never fatal: the sensor keeps waiting until ``timeout``.
    * ``timeout`` holds in every mode, deferred included (``AirflowSensorTimeout``, no retry).
    * Credentials refused, no permission, a bad connection fail the try (``AhgoraError``); the
      task's ``retries`` apply.

    XCom (``return_value``): ``{"unique", "subunique", "status", "progress": {"done", "total"},
    "errors": [{"identifier", "message"}]}``: ``unique``/``subunique`` as given (the other one
    ``None``), every error the monitor reported (messages cut to 500 characters).

    :param unique: the push's ``unique`` (templated). Give exactly one of ``unique`` and
        ``subunique``; a rendered ``""`` or ``"None"`` counts as not given.
    :param subunique: the push's ``subunique`` (templated): it names one request, ``unique``
        every request of its 15-minute window.
    :param pontoweb_conn_id: the PontoWeb connection id (templated). Default ``pontoweb_default``.
    :param deferrable: wait in the triggerer. Default: ``[operators] default_deferrable``.
    :param poll_interval: seconds between monitor calls when deferred. Default: ``poke_interval``.
    :param max_poll_interval: when deferred, the interval grows x1.5 after each call that shows no
        progress, up to this many seconds (and back to ``poll_interval`` when progress moves).
        Default: 120, or ``poll_interval`` if that is larger.
    :param fail_on: ``"error"`` (default), ``"warning"`` or ``"never"``; see above.
    """

    template_fields: Sequence[str] = ("unique", "subunique", "pontoweb_conn_id")
    ui_color = "#e3f1e6"

    def __init__(
        self,
        *,
        unique: str | None = None,
        subunique: str | None = None,
        pontoweb_conn_id: str = "pontoweb_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | None = None,
        max_poll_interval: float = 120.0,
        fail_on: str = "error",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.unique = unique
        self.subunique = subunique
        self.pontoweb_conn_id = pontoweb_conn_id
        self.deferrable = deferrable
        self.poll_interval = float(self.poke_interval if poll_interval is None else poll_interval)
        self.max_poll_interval = max(float(max_poll_interval), self.poll_interval)
        try:
            self.fail_on = parse(FailOn, fail_on, "fail_on").value
        except AhgoraError:
            raise AhgoraConfigError(
                f"{self.task_id}: fail_on must be one of "
                f"{', '.join(repr(f.value) for f in FailOn)}, got {fail_on!r}."
            ) from None
        if deferrable and self.poll_interval <= 0:
            raise AhgoraConfigError(
                f"{self.task_id}: poll_interval (or poke_interval) must be positive in deferrable mode, "
                f"got {self.poll_interval!r}."
            )
        if _is_literal(unique) and _is_literal(subunique):
            self._target()  # both known now: fail at parse time rather than at run time

    @cached_property
    def hook(self) -> PontoWebHook:
        from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook

        return PontoWebHook(self.pontoweb_conn_id)

    def _target(self) -> tuple[str | None, str | None]:
        """``(unique, subunique)`` as rendered: exactly one of them set."""
        unique = None if _absent(self.unique) else str(self.unique).strip()
        subunique = None if _absent(self.subunique) else str(self.subunique).strip()
        if unique and subunique:
            raise AhgoraConfigError(
                f"{self.task_id}: give either unique ({unique!r}) or subunique ({subunique!r}), not both: "
                "subunique names one push request, unique every request of its 15-minute window."
            )
        if not unique and not subunique:
            raise AhgoraConfigError(
                f"{self.task_id}: give the push's subunique (or its unique), as the push answered it "
                f"(e.g. the push task's XCom); got unique={self.unique!r}, subunique={self.subunique!r}."
            )
        return unique, subunique

    @staticmethod
    def _label(unique: str | None, subunique: str | None) -> str:
        return f"subunique {subunique}" if subunique else f"unique {unique}"

    # -- the outcome ------------------------------------------------------------------------------

    def _summary(self, status: ProcessStatus, unique: str | None, subunique: str | None) -> dict[str, Any]:
        from airflow_provider_ahgora.watches import error_list, progress_of

        label = self._label(unique, subunique)
        try:
            outcome = status.outcome.value
        except AhgoraUnknownValueError as exc:
            raise AirflowFailException(
                f"PontoWeb process {label} finished, but its outcome is unknown: {exc}"
            ) from exc
        return {
            "unique": unique,
            "subunique": subunique,
            "status": outcome,
            "progress": progress_of(status),
            "errors": error_list(status),
        }

    def _finish(self, summary: dict[str, Any]) -> dict[str, Any]:
        """Log the outcome; raise ``AirflowFailException`` if ``fail_on`` says so; else the summary."""
        label = self._label(summary.get("unique"), summary.get("subunique"))
        status = summary["status"]
        progress = summary.get("progress") or {}
        errors = summary.get("errors") or []
        total = progress.get("total")
        self.log.info(
            "PontoWeb process %s finished: %s, %s record(s), %d failed", label, status, total, len(errors)
        )
        for error in errors[:ERRORS_IN_LOG]:
            self.log.warning("  %s: %s", error.get("identifier"), error.get("message"))
        if len(errors) > ERRORS_IN_LOG:
            self.log.warning("  ... and %d more error(s) (all in the XCom)", len(errors) - ERRORS_IN_LOG)
        if status in FAIL_ON[FailOn(self.fail_on)]:
            first = "; ".join(
                f"{e.get('identifier')}: {e.get('message')}" for e in errors[:ERRORS_IN_MESSAGE]
            )
            more = f"; and {len(errors) - ERRORS_IN_MESSAGE} more" if len(errors) > ERRORS_IN_MESSAGE else ""
            named = f": {first}{more}" if errors else " (the monitor named no record)"
            raise AirflowFailException(
                f"PontoWeb process {label} finished with status {status!r} (fail_on={self.fail_on!r}): "
                f"{len(errors)} of {total} record(s) failed{named}. Fix those records and push them again."
            )
        return summary

    # -- poke and reschedule ------------------------------------------------------------------------

    def poke(self, context: Context) -> bool | PokeReturnValue:
        unique, subunique = self._target()
        label = self._label(unique, subunique)
        try:
            status = self.hook.get_process(unique=unique, subunique=subunique)
        except AhgoraTransientError as exc:
            from airflow_provider_ahgora.watches import ends_the_wait

            if ends_the_wait(exc):
                raise
            self.log.warning(
                "PontoWeb process %s: monitor call failed (%s); not fatal, will poke again", label, exc
            )
            return False
        except (AhgoraNotFoundError, AhgoraExpiredError) as exc:
            from airflow_provider_ahgora.watches import api_detail

            raise AirflowFailException(_lost_message(label, api_detail(exc))) from exc
        from airflow_provider_ahgora.watches import progress_of

        progress = progress_of(status)
        self.log.info(
            "PontoWeb process %s: %s, %s/%s record(s), %d error(s) so far",
            label,
            status.status,
            "?" if progress["done"] is None else progress["done"],
            "?" if progress["total"] is None else progress["total"],
            len(status.errors),
        )
        try:
            finished = status.is_finished
        except AhgoraUnknownValueError as exc:
            raise AirflowFailException(f"PontoWeb process {label}: {exc}") from exc
        if not finished:
            return False
        return PokeReturnValue(
            is_done=True, xcom_value=self._finish(self._summary(status, unique, subunique))
        )

    # -- deferrable -------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        from airflow_provider_ahgora.triggers.process import PontoWebProcessTrigger

        unique, subunique = self._target()
        return execute_deferrable(
            self,
            context,
            f"PontoWeb process {self._label(unique, subunique)}",
            lambda end_time: PontoWebProcessTrigger(
                processes=[{"unique": unique, "subunique": subunique}],
                pontoweb_conn_id=self.pontoweb_conn_id,
                poll_interval=self.poll_interval,
                max_poll_interval=self.max_poll_interval,
                end_time=end_time,
            ),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: return the summary, or fail as the event and ``fail_on`` say."""
        if not event:
            raise AhgoraError(f"{self.task_id}: the process trigger ended without an event.")
        outcome = event.get("status")
        message = event.get("message") or ""
        processes = event.get("processes")
        item: Mapping[str, Any] = processes[0] if isinstance(processes, list) and processes else {}
        if not item:
            try:
                unique, subunique = self._target()
            except AhgoraConfigError:
                unique, subunique = None, None
        else:
            unique, subunique = item.get("unique"), item.get("subunique")
        label = self._label(unique, subunique)
        if outcome == "success" and item:
            if item.get("status") == "lost":
                raise AirflowFailException(_lost_message(label, str(item.get("message") or "lost")))
            if item.get("status") == "unrecognized":
                raise AirflowFailException(
                    f"PontoWeb process {label} finished, but its outcome is unknown: {item.get('message')}"
                )
            progress = item.get("progress") or {}
            return self._finish(
                {
                    "unique": unique,
                    "subunique": subunique,
                    "status": item.get("status"),
                    "progress": {"done": progress.get("done"), "total": progress.get("total")},
                    "errors": [
                        {"identifier": e.get("identifier"), "message": e.get("message")}
                        for e in item.get("errors") or []
                        if isinstance(e, Mapping)
                    ],
                }
            )
        if outcome == "timeout":
            raise AirflowSensorTimeout(
                message or f"PontoWeb process {label} did not finish before the timeout."
            )
        if outcome == "failed":
            error_type = event.get("error_type") or "error"
            raise AhgoraError(f"Waiting for PontoWeb process {label} failed ({error_type}): {message}")
        raise AhgoraError(f"{self.task_id}: unexpected event from the process trigger: {event!r}")

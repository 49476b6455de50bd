"""Operators of the PontoWeb reckon: start it and wait, fetch its results exactly once, reconsume.

* :class:`PontoWebReckonOperator` starts a reckon (or, on a retry, reconnects to the one an earlier
  try started), pushes its ``process`` id to XCom and waits for it, polling or deferred.
* :class:`PontoWebReckonResultsOperator` reads every result record of a finished reckon into a
  JSON Lines file (and optionally a flat CSV) on any ``ObjectStoragePath`` filesystem, exactly once.
* :class:`PontoWebReconsumeOperator` makes the results of a reckon readable again.

Guarantees, and what happens at each failure point, are in ``docs/operators_reckon.rst``.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, BaseOperator, conf

from airflow_provider_ahgora.exceptions import (
    AhgoraBadRequestError,
    AhgoraConfigError,
    AhgoraDailyLimitError,
    AhgoraError,
    AhgoraExpiredError,
    AhgoraNotFoundError,
    AhgoraTransientError,
    AhgoraUnknownValueError,
    AhgoraValidationError,
)
from airflow_provider_ahgora.journal import JournalWriteError, RetryState, retry_state
from airflow_provider_ahgora.lineage import OpenLineageMixin
from airflow_provider_ahgora.polling import DEFERRAL_TIMEOUT_MARGIN as DEFERRAL_TIMEOUT_MARGIN  # re-exported
from airflow_provider_ahgora.results import CSV_COLUMNS as _CSV_COLUMNS
from airflow_provider_ahgora.results import TOTAL_READINGS
from airflow_provider_ahgora.results import csv_rows as csv_rows  # re-exported
from airflow_provider_ahgora.storage import default_output_path as default_output_path  # re-exported
from airflow_provider_ahgora.storage import sibling, storage_path

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context, ObjectStoragePath

    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
    from airflow_provider_ahgora.models.pontoweb import ReckonStartRequest, ReckonStatus

__all__ = [
    "CSV_COLUMNS",
    "STATE_KEY",
    "PontoWebReckonOperator",
    "PontoWebReckonResultsOperator",
    "PontoWebReconsumeOperator",
    "csv_rows",
    "default_output_path",
    "fail_fast_retry_policy",
]

#: Key of the reckon operator's entry in ``task_state_store`` (Airflow 3.3+). Renaming it would make
#: in-flight retries start a second reckon.
STATE_KEY = "ahgora_reckon"
#: Columns of the flat CSV written with ``csv=True`` (defined with the results engine).
CSV_COLUMNS = _CSV_COLUMNS
#: PontoWeb's largest results page (the hook's ``MAX_PAGE_SIZE``, not imported from it: constructing an
#: operator must not import the wire layer).
MAX_PAGE_SIZE = 1000
_BOOL_FIELDS = ("rescission", "allow_empty", "include_empty_code")
_LIST_FIELDS = ("registers", "locations", "features")
_BODY_FIELDS = (
    "month",
    "year",
    "registers",
    "rescission",
    "payment_date",
    "infotype",
    "allow_empty",
    "locations",
    "features",
    "include_empty_code",
)


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def fail_fast_retry_policy() -> Any:
    """Airflow 3.3+: a retry policy that fails at once on errors no retry can fix; ``None`` below 3.3.

    The operators of this module set it as their ``retry_policy`` unless one is given (directly or in
    ``default_args``). They already raise ``AirflowFailException`` for the daily limit (429, clears
    only tomorrow), expired results (410) and invalid bodies; the policy is the net under any of
    these that escapes raw, and also fails at once on a misconfigured connection
    (``AhgoraConfigError``).
    """
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_3_PLUS

    if not AIRFLOW_V_3_3_PLUS:
        return None
    from airflow.providers.common.compat.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

    return ExceptionRetryPolicy(
        rules=[
            RetryRule(
                exception=AhgoraDailyLimitError,
                action=RetryAction.FAIL,
                reason="PontoWeb's daily limit of full-base reckons: retrying today cannot succeed",
            ),
            RetryRule(
                exception=AhgoraExpiredError,
                action=RetryAction.FAIL,
                reason="The reckon results expired (72 h): start a new reckon",
            ),
            RetryRule(
                exception=[AhgoraValidationError, AhgoraConfigError],
                action=RetryAction.FAIL,
                reason="Invalid request or configuration: fix it, no retry helps",
            ),
        ]
    )


def _with_retry_policy(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Add :func:`fail_fast_retry_policy` on Airflow 3.3+ unless the task or its defaults set one."""
    default_args = kwargs.get("default_args") or {}
    if "retry_policy" in kwargs or "retry_policy" in default_args:
        return kwargs
    policy = fail_fast_retry_policy()
    if policy is not None:
        kwargs["retry_policy"] = policy
    return kwargs


def _fingerprint(body: Mapping[str, Any]) -> str:
    """A short digest of a start body, to tell whether a stored reckon was started for the same request."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _coerce(name: str, value: Any) -> Any:
    """Rendered templates are strings: read ``"true"``/``"false"``, JSON lists and a one-digit month
    back as values."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if name in ("month", "year") and text.isdigit() and len(text) < (3 if name == "month" else 5):
        return int(text)  # "{{ data_interval_start.month }}" renders "1": read it as the month 1
    if name in _BOOL_FIELDS and text.lower() in {"true", "false"}:
        return text.lower() == "true"
    if name in _LIST_FIELDS:
        if not text:
            return []
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                try:  # a rendered Python list: "['a', 'b']"
                    parsed = json.loads(text.replace("'", '"'))
                except ValueError:
                    return value
            return parsed
    return value


def _fail(message: str, cause: BaseException | None = None) -> AirflowFailException:
    """An ``AirflowFailException`` (fails the task without retrying) caused by ``cause``."""
    exc = AirflowFailException(message)
    exc.__cause__ = cause
    return exc


# --------------------------------------------------------------------------------------------------
# PontoWebReckonOperator
# --------------------------------------------------------------------------------------------------


class PontoWebTask:
    """What every PontoWeb operator has: its connection id, and a new hook when it runs (never while
    a Dag file is parsed)."""

    pontoweb_conn_id: str

    def get_hook(self) -> PontoWebHook:
        from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook

        return PontoWebHook(self.pontoweb_conn_id)


class PontoWebReckonOperator(PontoWebTask, BaseOperator):
    """Start a PontoWeb reckon, wait for it, and return its summary.

    The parameters of the body mirror ``POST /reckons/process/start`` in Python style; all are
    templated. Rendered strings are accepted where a template cannot give anything else:
    ``"true"``/``"false"`` for the booleans and a JSON list (``{{ params.ids | tojson }}``) for the
    lists. The body is validated after templating and before any request: an invalid field fails the
    task at once (``AirflowFailException``, no retry burnt), naming the field; nothing is spent.

    What a try does:

    1. **Reconnect or start.** If an earlier try of this task instance started a reckon for the same
       body, it reconnects to it ("reconnecting to reckon <process> started by an earlier try")
       instead of paying for a second one. A stored reckon that PontoWeb does not know (400
       "Process not found") or that ended in ``error`` is replaced by a new one, and the log says
       why. The id is kept in ``task_state_store`` on Airflow 3.3+, in an Airflow Variable
       ``ahgora_reckon__<dag>__<run>__<task>__<map>`` below; a "starting" mark is written just
       before the start call, the id right after it succeeds, and both are deleted when the task
       succeeds.

       **An unknown outcome is never started again blindly.** When the start of a *full-base* reckon
       (paid: 3 per feature per day) may have reached PontoWeb but its answer was lost (a 5xx, a
       reset or a timeout after sending, or the worker killed during the call), PontoWeb gives no way
       to find the reckon it may have started. The try fails without retrying and says so; the
       automatic retries do not start one either. Clearing the task in Airflow (which a human does
       after checking) starts a new reckon. A filtered reckon (``registers`` given) costs nothing:
       its start is simply repeated.
    2. **XCom** ``process``: pushed before waiting, so that a sensor or a human can follow it.
    3. **Wait** (``wait_for_completion=True``): poll the status every ``poll_interval`` seconds,
       growing x1.5 up to ``max_poll_interval`` while nothing moves, logging ``done/total (pct%)``;
       or, with ``deferrable=True``, defer to
       :class:`~airflow_provider_ahgora.triggers.reckon.PontoWebReckonTrigger` (same intervals).
    4. **Return** ``{"process", "unique", "company", "status", "progress": {"done", "total"}}``.

    Failures:

    * The daily limit (429, 3 full-base reckons per feature per day): fails at once without burning
      retries, naming the features and when the limit clears.
    * The reckon ends in ``error``: fails at once (a retry starts a new reckon only if you clear the
      task by hand).
    * ``timeout`` seconds pass: the try fails (retries apply); the reckon keeps running in PontoWeb
      and the next try reconnects to it.
    * Transient errors while waiting (5xx, 429, network) are logged and never fatal.

    PontoWeb runs at most 4 processes at once per company: run these tasks in a pool of 4 slots
    (see ``docs/operators_reckon.rst``). On Airflow 3.3+ the operator also sets a ``retry_policy``
    (:func:`fail_fast_retry_policy`) unless you give one.

    :param month: "MM" (or an int), templated.
    :param year: "YYYY" (or an int), templated.
    :param registers: employee ids; empty or ``None`` reckons the whole company (a *full base*
        reckon, limited to 3 per feature per day).
    :param rescission: include dismissed employees (needs ``registers``). Always sent; default False.
    :param payment_date: "YYYY-MM-DD" (or a date).
    :param infotype: four-digit event type (PontoWeb's default "0015").
    :param allow_empty: ``allowEmpty``.
    :param locations: location codes.
    :param features: subset of ``daily.punches``, ``daily.totals``, ``monthly`` (default monthly).
    :param include_empty_code: ``includeEmptyCode``.
    :param pontoweb_conn_id: the PontoWeb connection id (templated).
    :param wait_for_completion: wait for the reckon to finish (default). If False, the task ends
        once the reckon is started (or reconnected to).
    :param deferrable: wait in the triggerer. Default ``[operators] default_deferrable``.
    :param poll_interval: seconds between status calls. Default 30.
    :param max_poll_interval: upper bound of the growing interval. Default 300.
    :param timeout: seconds to wait for completion in one try, deferred or not (``None``: no limit).
    """

    template_fields: Sequence[str] = (*_BODY_FIELDS, "pontoweb_conn_id")
    ui_color = "#dbeafe"

    def __init__(
        self,
        *,
        month: str | int,
        year: str | int,
        registers: list[str] | str | None = None,
        rescission: bool | str | None = None,
        payment_date: Any = None,
        infotype: str | None = None,
        allow_empty: bool | str | None = None,
        locations: list[str] | str | None = None,
        features: list[str] | str | None = None,
        include_empty_code: bool | str | None = None,
        pontoweb_conn_id: str = "pontoweb_default",
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30.0,
        max_poll_interval: float = 300.0,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**_with_retry_policy(kwargs))
        self.month = month
        self.year = year
        self.registers = registers
        self.rescission = rescission
        self.payment_date = payment_date
        self.infotype = infotype
        self.allow_empty = allow_empty
        self.locations = locations
        self.features = features
        self.include_empty_code = include_empty_code
        self.pontoweb_conn_id = pontoweb_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        if not poll_interval or poll_interval <= 0:
            raise AhgoraConfigError(f"{self.task_id}: poll_interval must be a positive number of seconds.")
        if timeout is not None and timeout <= 0:
            raise AhgoraConfigError(f"{self.task_id}: timeout must be a positive number of seconds or None.")
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = max(float(max_poll_interval), self.poll_interval)
        self.timeout = None if timeout is None else float(timeout)

    # -- the request ------------------------------------------------------------------------------

    def build_request(self) -> ReckonStartRequest:
        """The validated start body (after templating). Raises ``AirflowFailException`` if invalid."""
        from airflow_provider_ahgora.models._base import validate_one
        from airflow_provider_ahgora.models.pontoweb import ReckonStartRequest

        body: dict[str, Any] = {}
        for name in _BODY_FIELDS:
            value = _coerce(name, getattr(self, name))
            if value is not None:
                body[name] = value
        try:
            return validate_one(ReckonStartRequest, body, "reckon start request")
        except AhgoraValidationError as exc:
            raise _fail(f"{self.task_id}: {exc}", exc) from exc

    # -- execute ----------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any] | None:
        from airflow_provider_ahgora.watches import describe_progress

        request = self.build_request()
        body = request.to_wire()
        fingerprint = _fingerprint(body)
        state = retry_state(context, STATE_KEY)
        max_tries = getattr(context.get("ti"), "max_tries", None)
        hook = self.get_hook()
        try:
            process, status = self._reconnect(hook, state, fingerprint, request, max_tries)
            if process is None:
                process = self._start(hook, request, state, fingerprint, max_tries)
            context["ti"].xcom_push(key="process", value=process)

            if status is not None and status.is_done:
                self.log.info("PontoWeb reckon %s is already done: %s.", process, describe_progress(status))
                return self._finish(state, process, status)
            if not self.wait_for_completion:
                return self._finish(state, process, status or self._status_or_none(hook, process))
            if self.deferrable:
                self._defer(process)  # raises TaskDeferred: execute_complete takes over
                return None
            return self._finish(state, process, self._wait(hook, process))
        finally:
            hook.close()

    def _reconnect(
        self,
        hook: PontoWebHook,
        state: RetryState,
        fingerprint: str,
        request: ReckonStartRequest,
        max_tries: int | None,
    ) -> tuple[str | None, ReckonStatus | None]:
        """The process an earlier try started, if it can be reused, with its status."""
        from airflow_provider_ahgora.watches import describe_progress

        stored = state.get()
        if not stored:
            return None, None
        if stored.get("request") not in (None, fingerprint):
            self.log.warning(
                "An earlier try worked on a different request (the templated body changed since): "
                "starting a new reckon for the current request."
            )
            return None, None
        process = str(stored.get("process") or "")
        if not process:
            if stored.get("unknown_start") or stored.get("starting"):
                self._after_unknown_start(stored, request, max_tries)
            return None, None
        try:
            status = hook.get_reckon_status(process)
            terminal_error = status.is_error
        except AhgoraNotFoundError as exc:
            self.log.warning(
                "Reckon %s, started by an earlier try, is unknown to PontoWeb (%s): starting a new one.",
                process,
                exc.api_message,
            )
            return None, None
        except AhgoraUnknownValueError as exc:
            raise _fail(f"{self.task_id}: PontoWeb reckon {process}: {exc}", exc) from exc
        if terminal_error:
            self.log.warning(
                "Reckon %s, started by an earlier try, ended in error in PontoWeb at %s: starting a new one.",
                process,
                describe_progress(status),
            )
            return None, None
        self.log.info(
            "Reconnecting to reckon %s started by an earlier try (status %s, %s; kept in %s): no new "
            "reckon is started.",
            process,
            status.status,
            describe_progress(status),
            state.where,
        )
        return process, status

    def _start(
        self,
        hook: PontoWebHook,
        request: ReckonStartRequest,
        state: RetryState,
        fingerprint: str,
        max_tries: int | None,
    ) -> str:
        scope = (
            "full base (the whole company)"
            if request.is_full_base
            else f"{len(request.registers)} employee(s)"
        )
        self.log.info(
            "Starting a PontoWeb reckon of %s/%s, %s, features %s.",
            request.month,
            request.year,
            scope,
            ", ".join(request.effective_features()),
        )
        # write-ahead: a worker killed during the call leaves this mark, and the retry knows that a
        # reckon may have been started; a paid (full-base) reckon is not started without it
        try:
            state.set(
                {
                    "request": fingerprint,
                    "starting": datetime.now(timezone.utc).isoformat(),
                    "max_tries": max_tries,
                },
                strict=request.is_full_base,
            )
        except JournalWriteError as exc:
            raise AirflowException(
                f"{self.task_id}: {exc}. A full-base reckon is not started without that mark (a retry could "
                "not tell whether it started): nothing was started; the next try tries again."
            ) from exc
        try:
            answer = hook.start_reckon(request)
        except AhgoraDailyLimitError as exc:
            state.delete()
            features = ", ".join(exc.features) or ", ".join(request.effective_features())
            raise _fail(
                f"{self.task_id}: PontoWeb's daily limit of full-base reckons is exhausted for "
                f"{features} (3 per feature per day). Retrying today cannot succeed, so the task fails "
                f"without retrying. The limit clears at the start of the next day (around "
                f"{exc.clears_at:%Y-%m-%d %H:%M} UTC): run it again then, or filter by `registers` "
                "(filtered reckons are not limited).",
                exc,
            ) from exc
        except AhgoraBadRequestError as exc:
            state.delete()
            raise _fail(f"{self.task_id}: PontoWeb refused the reckon request: {exc}", exc) from exc
        except AhgoraTransientError as exc:
            if not exc.may_have_been_processed:
                state.delete()  # PontoWeb surely did nothing: a retry starts it
                raise
            if not request.is_full_base:
                state.delete()
                self.log.warning(
                    "The start call failed after it may have reached PontoWeb (%s). This reckon is filtered "
                    "by registers (it costs nothing), so a retry simply starts it again.",
                    exc,
                )
                raise
            state.set(
                {
                    "request": fingerprint,
                    "unknown_start": str(exc)[:500],
                    "at": datetime.now(timezone.utc).isoformat(),
                    "max_tries": max_tries,
                }
            )
            raise _fail(self._unknown_start_message(str(exc)), exc) from exc
        except AhgoraError:
            state.delete()  # an answer that refuses the start (credentials, permission, ...): nothing started
            raise
        except BaseException as exc:
            # anything else may come while PontoWeb has the request: a timeout of the task
            # (execution_timeout), its termination, a bug. For a paid reckon the outcome is
            # unknown: the mark stays, so that the retry does not start a second one
            if request.is_full_base:
                state.set(
                    {
                        "request": fingerprint,
                        "unknown_start": (
                            f"the start call was interrupted ({type(exc).__name__}: {exc})"[:500]
                        ),
                        "at": datetime.now(timezone.utc).isoformat(),
                        "max_tries": max_tries,
                    }
                )
            else:
                state.delete()
            raise
        process = answer.process
        state.set(
            {
                "process": process,
                "company": answer.company,
                "request": fingerprint,
                "started_at": datetime.now(timezone.utc).isoformat(),
            }
        )
        self.log.info(
            "Started PontoWeb reckon %s (company %s); a retry of this task reconnects to it (kept in %s).",
            process,
            answer.company,
            state.where,
        )
        return process

    def _unknown_start_message(self, why: str) -> str:
        return (
            f"{self.task_id}: the start of a full-base reckon may have reached PontoWeb, but its answer was "
            f"lost ({why}). PontoWeb gives no way to find a reckon whose id was lost, and a full-base reckon "
            "counts toward the daily limit of 3 per feature: it is not started again automatically (the "
            "task fails without retrying). Check in PontoWeb; then clear this task in Airflow to start a "
            "new reckon (a cleared task starts one), or read the results of the reckon that did start with "
            "PontoWebReckonResultsOperator if you find its unique."
        )

    def _after_unknown_start(
        self, stored: Mapping[str, Any], request: ReckonStartRequest, max_tries: int | None
    ) -> None:
        """An earlier try left a start whose outcome is unknown: fail, unless a human cleared the task
        since (which raises ``max_tries``) or the reckon is filtered (free to start again)."""
        why = stored.get("unknown_start") or (
            f"the worker stopped during the start call at {stored.get('starting')} (killed, or lost)"
        )
        cleared = (
            isinstance(max_tries, int)
            and isinstance(stored.get("max_tries"), int)
            and max_tries > int(stored["max_tries"])
        )
        if not request.is_full_base:
            self.log.warning(
                "An earlier try's start had an unknown outcome (%s); this reckon is filtered (free): "
                "starting it.",
                why,
            )
        elif cleared:
            self.log.warning(
                "An earlier try's start of a full-base reckon had an unknown outcome (%s); the task was "
                "cleared since, which is the sign to start a new one: starting it.",
                why,
            )
        else:
            raise _fail(self._unknown_start_message(str(why)))

    def _status_or_none(self, hook: PontoWebHook, process: str) -> ReckonStatus | None:
        try:
            return hook.get_reckon_status(process)
        except AhgoraTransientError as exc:
            from airflow_provider_ahgora.watches import ends_the_wait

            if ends_the_wait(exc):
                raise
            self.log.warning("PontoWeb reckon %s: status call failed (%s).", process, exc)
            return None

    def _wait(self, hook: PontoWebHook, process: str) -> ReckonStatus:
        """Poll until done (the polling policy); fail on error, an unknown status or timeout."""
        from airflow_provider_ahgora.polling import Pacer, wait_blocking
        from airflow_provider_ahgora.watches import ReckonWatch, describe_progress

        watch = ReckonWatch(process, self.log)
        pacer = Pacer.for_timeout(self.poll_interval, self.max_poll_interval, self.timeout)
        try:
            finished = wait_blocking(watch.poll_blocking(hook), pacer)
        except AhgoraUnknownValueError as exc:
            raise _fail(f"{self.task_id}: PontoWeb reckon {process}: {exc}", exc) from exc
        if not finished:
            raise AirflowException(
                f"{self.task_id}: PontoWeb reckon {process} did not finish within {self.timeout:g} s "
                f"(last progress {describe_progress(watch.last)}). The reckon keeps running in PontoWeb; the "
                "next try of this task reconnects to it instead of starting another."
            )
        assert watch.last is not None
        if watch.last.is_error:
            raise self._error(process, watch.last)
        return watch.last

    def _error(self, process: str, status: ReckonStatus | None) -> AirflowFailException:
        from airflow_provider_ahgora.watches import describe_progress

        return _fail(
            f"{self.task_id}: PontoWeb reckon {process} ended in error at {describe_progress(status)}. "
            "The task fails without retrying; clear it once the cause is fixed and it starts a new reckon."
        )

    def _defer(self, process: str) -> None:
        from airflow_provider_ahgora.polling import deadline_after
        from airflow_provider_ahgora.triggers._base import defer_wait
        from airflow_provider_ahgora.triggers.reckon import PontoWebReckonTrigger

        self.log.info("Deferring: the triggerer waits for PontoWeb reckon %s.", process)
        defer_wait(
            self, PontoWebReckonTrigger.for_task(self, process, deadline_after(self.timeout)), self.timeout
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: the summary on success, else fail as the event says."""
        if not event:
            raise AirflowException(f"{self.task_id}: the reckon trigger ended without an event.")
        outcome = event.get("status")
        process = str(event.get("process") or "")
        message = event.get("message") or ""
        if outcome == "success":
            self.log.info("%s", message or f"PontoWeb reckon {process} is done.")
            progress = event.get("progress") or {}
            summary = {
                "process": process,
                "unique": event.get("unique"),
                "company": event.get("company"),
                "status": event.get("reckon_status") or "done",
                "progress": {"done": progress.get("done"), "total": progress.get("total")},
            }
            retry_state(context, STATE_KEY).delete()
            return summary
        if outcome == "error":
            raise _fail(
                f"{self.task_id}: {message or f'PontoWeb reckon {process} ended in error.'} The task fails "
                "without retrying; clear it once the cause is fixed and it starts a new reckon."
            )
        if outcome == "timeout":
            raise AirflowException(
                f"{self.task_id}: {message} The next try of this task reconnects to reckon {process} "
                "instead of starting another."
            )
        error_type = event.get("error_type") or "error"
        raise AirflowException(
            f"{self.task_id}: waiting for PontoWeb reckon {process} failed ({error_type}): {message}"
        )

    def _finish(self, state: RetryState, process: str, status: ReckonStatus | None) -> dict[str, Any]:
        from airflow_provider_ahgora.watches import ReckonWatch

        state.delete()
        watch = ReckonWatch(process, self.log)
        watch.last = status
        summary = watch.summary()
        summary["process"] = process
        return summary


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------


def _storage_path(target: Any) -> ObjectStoragePath:
    """An ``ObjectStoragePath`` for a path or URI (a target ending in ``/`` gets ``results.jsonl``)."""
    return storage_path(target, directory_file="results.jsonl")


_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _check_month(task_id: str, value: Any, *, rendered: bool = False) -> str | None:
    """``month`` is ``YYYY-MM`` or ``None``; a template is checked once rendered."""
    text = None if value is None else str(value).strip()
    if not text or (not rendered and ("{{" in text or "{%" in text)):
        return text or None
    if not _MONTH.match(text):
        raise AhgoraConfigError(f"{task_id}: month must be YYYY-MM (e.g. 2026-01), got {value!r}.")
    return text


def _required_unique(task_id: str, value: Any) -> str:
    """The rendered ``unique``; an empty one (a template of a missing XCom renders ``"None"``) fails."""
    unique = "" if value is None else str(value).strip()
    if not unique or unique == "None":
        raise _fail(
            f"{task_id}: unique is empty. Pass the reckon's unique id (the reckon operator's or the "
            "sensor's XCom 'unique')."
        )
    return unique


def _map_read_error(task_id: str, unique: str, exc: Exception) -> Exception:
    """Expired or unknown results fail at once; a reconsume limit reached too; anything else as is."""
    if isinstance(exc, AhgoraExpiredError):
        return _fail(
            f"{task_id}: the results of reckon {unique} expired (PontoWeb keeps them 72 hours): start a new "
            f"reckon and read its results. ({exc.api_message})",
            exc,
        )
    if isinstance(exc, AhgoraNotFoundError):
        return _fail(
            f"{task_id}: PontoWeb does not know the reckon unique {unique!r} ({exc.api_message}): check the "
            "id, or start a new reckon and read its results.",
            exc,
        )
    if isinstance(exc, AhgoraBadRequestError) and "reconsume" in exc.api_message.lower():
        return _fail(
            f"{task_id}: PontoWeb refused to reconsume reckon {unique} ({exc.api_message}); its results "
            "cannot be read again: start a new reckon.",
            exc,
        )
    return exc


class PontoWebReckonResultsOperator(OpenLineageMixin, PontoWebTask, BaseOperator):
    """Read every result record of a finished reckon into a JSON Lines file, exactly once.

    PontoWeb's results read *consumes* what it returns, so a read that fails half-way would lose
    records on a plain retry. This operator's rule (the engine is :mod:`airflow_provider_ahgora.results`):

    1. **Reconsume first, every try.** Before its first read each try calls ``reconsume(unique)``,
       which makes every record readable again, so a try always reads the whole set from the start
       whatever an earlier try (or anyone else) consumed. Each call counts toward PontoWeb's limit of
       1000 reconsumes per unique: one per try.
    2. **Stream to a temporary object.** Page by page until a page comes back empty (``page_size``
       records per request, memory bounded by one page), the records are written, exactly as PontoWeb
       sent them, to a hidden temporary object next to the target (and the CSV rows to another). A
       record served twice (someone reconsumed while this try was reading) is written once.
    3. **Check, then commit.** ``total`` (given by the first page) is documented with several
       meanings: the number of employees, of days counted or with punches, and of records. When what
       was read matches one of them (or the one ``total_reading`` names), the temporary objects are
       renamed onto their final names (an atomic rename on a local disk, a copy then delete on object
       stores, where the final object appears whole or not at all). When it matches none, records
       went missing (someone read concurrently): nothing is committed and the try fails.

    So any failure mid-way (a read interrupted after the server consumed its page, a network error,
    the worker killed) leaves no final file, and the next try reconsumes and reads everything
    again: the final file holds every record once, no more, no less. Expired results (410) or an
    unknown unique fail at once (``AirflowFailException``): start a new reckon.

    Each line is one object of the API's ``data[]``, exactly as received. With ``csv=True`` a flat CSV
    is written too, one row per result and per punch, with columns :data:`CSV_COLUMNS`, through the
    provider's CSV writer (formula injection neutralised; ``csv_dialect`` as the transforms' writer).

    :param unique: the reckon's unique id (templated), e.g. ``{{ ti.xcom_pull('reckon')['unique'] }}``.
    :param output_path: where to write (templated): a local path, or an ``ObjectStoragePath`` URI
        (``file://``, ``s3://``, ``gs://``, ``memory://``, ...) or object; a path ending in ``/`` is a
        directory that gets ``results.jsonl``. Default:
        ``$AIRFLOW_HOME/data/ahgora/<dag>/<run>/<task>[/<map>]/results.jsonl``.
    :param page_size: records per request, 1 to 1000. Default 1000.
    :param csv: also write the flat CSV next to it (``results.csv``). Default False.
    :param csv_dialect: the CSV's dialect: ``"rfc4180"`` (default), ``"excel"`` or ``"excel-br"``.
    :param total_reading: what ``total`` counts: ``"any"`` (default: any documented meaning),
        ``"records"``, ``"employees"``, ``"days"``, ``"days with punches"``, ``"days with results"``,
        or ``"none"`` (not checked). Pin it when your PontoWeb is known to use one meaning: ``"any"``
        could take a read that lost records for complete if what remains happens to match another
        meaning.
    :param month: the month the reckon is of, ``YYYY-MM`` (templated; optional): it is not sent to
        PontoWeb, it names the month in the asset events and the lineage.
    :param pontoweb_conn_id: the PontoWeb connection id (templated).

    Returns ``{"path", "records", "csv_path", "total", "duplicates", "company", "month"}``
    (``csv_path`` is None without ``csv``; ``total`` as PontoWeb announced it; ``duplicates``: records
    served twice, written once; ``company`` as PontoWeb answered it).

    **Asset events.** For each ``AssetAlias`` (``DatasetAlias`` on Airflow 2.11) in ``outlets``, one
    event per file committed (``results.jsonl``, ``results.csv``), for an asset whose URI is the file,
    with ``month``, ``company``, ``unique``, ``records``, ``total``, ``duplicates`` and ``path`` in its
    extra; an ``Asset`` in ``outlets`` gets that extra. Only after the commit: a failed try emits
    nothing (:mod:`airflow_provider_ahgora.assets`). With the OpenLineage provider installed, the
    lineage names the reckon as input and the files as outputs (:mod:`airflow_provider_ahgora.lineage`).
    """

    template_fields: Sequence[str] = ("unique", "output_path", "month", "pontoweb_conn_id")
    ui_color = "#dcfce7"

    def __init__(
        self,
        *,
        unique: str,
        output_path: Any = None,
        page_size: int = 1000,
        csv: bool = False,
        csv_dialect: str | None = None,
        total_reading: str = "any",
        month: str | None = None,
        pontoweb_conn_id: str = "pontoweb_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**_with_retry_policy(kwargs))
        _check_month(self.task_id, month)
        if (
            isinstance(page_size, bool)
            or not isinstance(page_size, int)
            or not 1 <= page_size <= MAX_PAGE_SIZE
        ):
            raise AhgoraConfigError(
                f"{self.task_id}: page_size must be an integer from 1 to {MAX_PAGE_SIZE}, got {page_size!r}."
            )
        if total_reading not in ("any", "none", *TOTAL_READINGS):
            raise AhgoraConfigError(
                f"{self.task_id}: total_reading must be 'any', 'none' or one of "
                f"{', '.join(repr(r) for r in TOTAL_READINGS)}, got {total_reading!r}."
            )
        self.unique = unique
        self.output_path = output_path
        self.page_size = page_size
        self.csv = csv
        self.csv_dialect = csv_dialect
        self.total_reading = total_reading
        self.month = month
        self.pontoweb_conn_id = pontoweb_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_ahgora.assets import emit_asset_events
        from airflow_provider_ahgora.results import ResultsRead

        unique = _required_unique(self.task_id, self.unique)
        try:
            month = _check_month(self.task_id, self.month, rendered=True)
        except AhgoraConfigError as exc:
            raise _fail(str(exc), exc) from exc
        target = self.output_path
        if target is None or (isinstance(target, str) and not target.strip()):
            target = default_output_path(context)
        final = _storage_path(target)
        csv_final = sibling(final, ".csv") if self.csv else None
        ti = context.get("ti")
        read = ResultsRead(
            unique,
            final,
            csv_final,
            page_size=self.page_size,
            total_reading=self.total_reading,
            csv_dialect=self.csv_dialect,
            token=f"{getattr(ti, 'try_number', 0)}-{uuid.uuid4().hex[:8]}",
            log=self.log,
        )
        hook = self.get_hook()
        try:
            read.server = hook.settings.base_url
            counts = read.run(hook)
            company = read.company or hook.company
        except AirflowException as exc:
            if not isinstance(exc, AhgoraError):
                raise AirflowException(f"{self.task_id}: {exc}") from exc
            mapped = _map_read_error(self.task_id, unique, exc)
            if mapped is exc:
                raise
            raise mapped from exc
        finally:
            hook.close()
        self.log.info(
            "Wrote %d record(s) of reckon %s to %s%s (total announced by PontoWeb: %s%s).",
            counts.records,
            unique,
            final,
            f" and {csv_final}" if csv_final is not None else "",
            "unknown" if counts.total is None else counts.total,
            f"; {counts.duplicates} served twice, written once" if counts.duplicates else "",
        )
        summary = {
            "path": str(final),
            "records": counts.records,
            "csv_path": str(csv_final) if csv_final else None,
            "total": counts.total,
            "duplicates": counts.duplicates,
            "company": company,
            "month": month,
        }
        self._lineage = {**summary, "unique": unique, "server": read.server, "rows_csv": None}
        files = [final] if csv_final is None else [final, csv_final]
        emit_asset_events(
            context,
            self.outlets,
            files,
            {
                "month": month,
                "company": company,
                "unique": unique,
                "records": counts.records,
                "total": counts.total,
                "duplicates": counts.duplicates,
            },
        )
        return summary

    # -- lineage (OpenLineage provider installed: airflow_provider_ahgora.lineage) -------------------

    def _lineage_datasets(self, done: dict[str, Any]) -> tuple[list[Any], list[Any], dict[str, Any]]:
        from airflow_provider_ahgora.lineage import file_dataset, pontoweb_dataset

        reckon = pontoweb_dataset(
            done["server"], f"reckons/{done['unique']}", done["company"], done["records"]
        )
        files = [file_dataset(storage_path(done["path"]), done["records"])]
        if done["csv_path"]:
            files.append(file_dataset(storage_path(done["csv_path"])))
        counts = {k: done[k] for k in ("unique", "month", "company", "records", "total", "duplicates")}
        return [reckon], files, counts

    def _lineage_inputs(self) -> list[Any]:
        from airflow_provider_ahgora.lineage import pontoweb_dataset

        hook = self.get_hook()
        try:
            unique = _required_unique(self.task_id, self.unique)
            return [pontoweb_dataset(hook.settings.base_url, f"reckons/{unique}", hook.company)]
        finally:
            hook.close()


# --------------------------------------------------------------------------------------------------
# Reconsume
# --------------------------------------------------------------------------------------------------


class PontoWebReconsumeOperator(PontoWebTask, BaseOperator):
    """Make every record of a reckon readable again (``GET /reckons/reconsume/{unique}``).

    Each call counts toward PontoWeb's limit of **1000 reconsumes per unique**.
    :class:`PontoWebReckonResultsOperator` already reconsumes before every
    try: use this one only to read the results some other way.

    Expired results or an unknown unique fail at once (``AirflowFailException``).

    :param unique: the reckon's unique id (templated).
    :param pontoweb_conn_id: the PontoWeb connection id (templated).

    Returns the API's answer as a dict (``{"company", "unique"}``).
    """

    template_fields: Sequence[str] = ("unique", "pontoweb_conn_id")
    ui_color = "#fef9c3"

    def __init__(self, *, unique: str, pontoweb_conn_id: str = "pontoweb_default", **kwargs: Any) -> None:
        super().__init__(**_with_retry_policy(kwargs))
        self.unique = unique
        self.pontoweb_conn_id = pontoweb_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        unique = _required_unique(self.task_id, self.unique)
        hook = self.get_hook()
        try:
            answer = hook.reconsume(unique)
        except Exception as exc:
            mapped = _map_read_error(self.task_id, unique, exc)
            if mapped is exc:
                raise
            raise mapped from exc
        finally:
            hook.close()
        self.log.info("Reconsumed reckon %s: its records are readable again.", unique)
        return answer.to_wire()

"""Push operators: PontoWeb batch pushes with the process monitor, Voors upserts and deletes at scale.

* :class:`PontoWebPushBatchOperator` validates records, sends them to a PontoWeb push route in
  batches of at most 1000 records and 1 MiB, waits on the process monitor for every batch (polling
  or deferred) and writes every record that failed to a JSON Lines report.
* :class:`VoorsPushOperator` and :class:`VoorsDeleteOperator` send records to a Voors resource one
  request per record (or in arrays where the resource takes them) with a bounded pool of workers,
  and report failures in input order.

The operators hold the Airflow parts (arguments, templating, XCom, deferral, the decision to fail);
the work is done by the engines, :mod:`airflow_provider_ahgora.batch_push` and
:mod:`airflow_provider_ahgora.voors_push`, through the delivery journal
(:mod:`airflow_provider_ahgora.journal`). The rules (batching, reporting, ``fail_on`` /
``max_failures``, retries) are in ``docs/operators_push.rst`` and ``docs/operators_voors.rst``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, BaseOperator, conf

from airflow_provider_ahgora.exceptions import AhgoraConfigError, AhgoraError
from airflow_provider_ahgora.journal import retry_state
from airflow_provider_ahgora.lineage import OpenLineageMixin
from airflow_provider_ahgora.models.vocabulary import FailOn, parse
from airflow_provider_ahgora.operators._records import (
    FailureReport,
    PlainStringTemplatesMixin,
    check_read_options,
    default_report_path,
    describe_source,
    read_report,
)
from airflow_provider_ahgora.operators.reckon import PontoWebTask, _fail
from airflow_provider_ahgora.polling import DEFERRAL_TIMEOUT_MARGIN as DEFERRAL_TIMEOUT_MARGIN  # re-exported
from airflow_provider_ahgora.registry import MAX_PUSH_BYTES, MAX_PUSH_RECORDS, push_route
from airflow_provider_ahgora.voors_push import (
    DEFAULT_ARRAY_SIZE,
    DEFAULT_MAX_WORKERS,
    check_resource_name,
    deletes_by_id,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_ahgora.batch_push import BatchPush
    from airflow_provider_ahgora.hooks.voors import VoorsHook
    from airflow_provider_ahgora.journal import DeliveryJournal
    from airflow_provider_ahgora.voors_push import VoorsDelivery

__all__ = [
    "FAIL_ON",
    "HOOK_PARAMS",
    "PUSH_STATE_KEY",
    "VOORS_STATE_KEY",
    "PontoWebPushBatchOperator",
    "VoorsDeleteOperator",
    "VoorsPushOperator",
]

#: Values of ``fail_on`` (the vocabulary's :class:`~airflow_provider_ahgora.models.vocabulary.FailOn`).
FAIL_ON = tuple(f.value for f in FailOn)
#: Key of the batch operator's journal in ``task_state_store`` (Airflow 3.3+): the batches earlier tries
#: of the task instance got accepted (or may have), so that a retry does not send them again.
PUSH_STATE_KEY = "ahgora_push"


def _n(value: int) -> str:
    """``12000`` -> ``"12 000"`` (log lines)."""
    return f"{value:,}".replace(",", " ")


class PontoWebPushBatchOperator(OpenLineageMixin, PlainStringTemplatesMixin, PontoWebTask, BaseOperator):
    """Push records to PontoWeb in batches, wait on the process monitor, report every failed record.

    What a try does:

    1. **Validate and plan.** Records are read one by one from ``records`` (a list, an XCom, a
       ``{"path": ...}`` mapping, or a path/URI of a ``.json``, ``.jsonl`` or ``.csv`` file,
       streamed). Each record of a documented resource is validated by its model (cost centers,
       subsidiaries, people, absences, users); an invalid record is *not sent* and goes to the
       failure report with the field and the reason, and the valid ones go on. Valid records are
       serialized once, exactly as they will be sent, and spooled to a local temporary file, so
       memory does not grow with the input. Batches are cut at ``batch_size`` records (at most 1000)
       **and** ``max_batch_bytes`` bytes of JSON body (at most 1 MiB, measured on the bytes sent).
       A record over the byte limit on its own is reported, not sent. Nothing is sent before the
       whole input was read, so a file that cannot be read fails the task with nothing sent.
    2. **Send.** Batch after batch, logging ``batch 12/50, 12 000/50 000 records``. A transient
       error (5xx, 429, network) is retried by the hook with backoff; for ``absences`` only when
       PontoWeb surely did not act on the request (an INS absence sent twice would be two
       absences), so a batch whose answer was lost is reported as *may have been accepted*, never
       resent. A batch that still fails has each of its records reported, and the next batch is
       sent. A 401/403 stops everything: the records not sent are reported. Every batch goes
       through the delivery journal (``task_state_store`` on Airflow 3.3+, a Variable below),
       written as the push proceeds: an accepted batch is not sent again by a retry on the same
       input, and on a route where a second copy is not harmless (``absences``) a batch is marked
       in flight before its request, so that a batch whose request was cut by a killed worker is
       reported as *may have been accepted* by the retry, never sent again.
    3. **Wait** (``wait_for_completion=True``): poll ``GET /process`` for every accepted batch (by
       its ``subunique``, else its ``unique``), concurrently, until ``progress.done`` reaches
       ``progress.total``; or, with ``deferrable=True``, defer once to
       :class:`~airflow_provider_ahgora.triggers.process.PontoWebProcessTrigger`, which watches all
       of them. Records the monitor names in ``data.errors`` go to the report with its message. A
       batch that ended in ``error`` without naming records has all its records reported. A batch
       whose outcome cannot be learnt (the monitor lost it, it finished with a status the documents do
       not list, or ``timeout`` passed) has its records reported as *outcome unknown* and counted in
       ``unconfirmed``. Statuses are read case-insensitively (``ERROR`` is an error).
    4. **Report, then decide.** The report (JSON Lines of ``{"record", "reason", "batch"}``, plus
       ``index``: the record's position in the input, when known) is committed at ``report_path``;
       the summary ``{"resource", "records", "sent", "batches": [{"batch", "unique",
       "subunique", "records", "status"}], "failed", "unconfirmed", "report_path"}`` is pushed to
       XCom (``return_value``) *even when the task then fails*, so a summary task downstream can
       read it.

    ``fail_on``:

    * ``"error"`` (default): the task fails if any record failed (invalid, not sent, rejected by
      the monitor), any outcome is unknown, or any batch ended in ``error``; after everything was
      sent and reported.
    * ``"warning"``: also fails on warnings that name no failed record (a monitor that answers
      ``warning`` without naming records, or counts other than the records sent).
    * ``"never"``: never fails for records; read the summary.

    A failure made only of data errors raises ``AirflowFailException`` (a retry would fail the same);
    one with records not sent or unconfirmed raises ``AirflowException``, so Airflow's retries apply
    and the retry sends only the batches not yet accepted.

    :param resource: costcenter, subsidiaries, people, absences, users, paymentDate, anticipate, or
        a custom path starting with ``/`` (templated). Records of paymentDate, anticipate and custom
        paths are sent as given (no model documents them).
    :param records: the records (templated; see above).
    :param pontoweb_conn_id: the PontoWeb connection id (templated).
    :param wait_for_completion: wait on the process monitor (default True).
    :param deferrable: wait in the triggerer. Default ``[operators] default_deferrable``.
    :param poll_interval: seconds between monitor rounds; grows x1.5 while nothing moves. Default 5.
    :param max_poll_interval: upper bound of the growing interval. Default 60.
    :param timeout: seconds to wait for the monitor in one try (``None``: no limit). Default 3600.
    :param batch_size: records per request, 1 to 1000. Default 1000.
    :param max_batch_bytes: bytes of JSON body per request, at most 1 MiB (1 048 576). Default 1 MiB.
    :param report_path: where the failure report goes (templated): a local path or an
        ``ObjectStoragePath`` URI. Default ``$AIRFLOW_HOME/data/ahgora/<dag>/<run>/<task>[/<map>]/
        failures.jsonl``. The report is always written (empty when nothing failed).
    :param fail_on: ``"error"``, ``"warning"`` or ``"never"`` (see above).
    :param retry: the hook's retry mode for pushes: ``"all"`` (repeat after any transient error),
        ``"safe"`` (only when PontoWeb surely did not act) or ``"none"``. Default: ``"safe"`` for
        absences, ``"all"`` for the rest (their pushes are upserts by key).
    :param max_workers: concurrent process monitor calls while waiting. Default 8.
    :param encoding: the text encoding of a records file: ``"auto"`` (default: a byte order mark, else
        UTF-8, else Windows-1252 when the file holds no UTF-8 at all, as Brazilian HR systems often
        export; a file that mixes both is refused) or a codec name (``"latin-1"``, ``"cp1252"``).
    :param delimiter: the CSV delimiter; default: sniffed from the header among ``,`` ``;`` tab and
        ``|`` (a header holding several of them is refused: then give it).
    """

    template_fields: Sequence[str] = ("resource", "records", "report_path", "pontoweb_conn_id")
    ui_color = "#fef3c7"

    def __init__(
        self,
        *,
        resource: str,
        records: Any,
        pontoweb_conn_id: str = "pontoweb_default",
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 5.0,
        max_poll_interval: float = 60.0,
        timeout: float | None = 3600.0,
        batch_size: int = MAX_PUSH_RECORDS,
        max_batch_bytes: int = MAX_PUSH_BYTES,
        report_path: Any = None,
        fail_on: str = "error",
        retry: str | None = None,
        max_workers: int = 8,
        encoding: str | None = "auto",
        delimiter: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= 1000:
            raise AhgoraConfigError(
                f"{self.task_id}: batch_size must be an integer from 1 to {MAX_PUSH_RECORDS}, "
                f"got {batch_size!r}."
            )
        if (
            isinstance(max_batch_bytes, bool)
            or not isinstance(max_batch_bytes, int)
            or not 3 <= max_batch_bytes <= MAX_PUSH_BYTES
        ):
            raise AhgoraConfigError(
                f"{self.task_id}: max_batch_bytes must be an integer up to {MAX_PUSH_BYTES} (1 MiB), "
                f"got {max_batch_bytes!r}."
            )
        try:
            fail_on = parse(FailOn, fail_on, "fail_on").value
        except AhgoraError:
            raise AhgoraConfigError(
                f"{self.task_id}: fail_on must be one of {', '.join(FAIL_ON)}, got {fail_on!r}."
            ) from None
        if retry not in (None, "all", "safe", "none"):
            raise AhgoraConfigError(f"{self.task_id}: retry must be 'all', 'safe' or 'none', got {retry!r}.")
        if poll_interval <= 0 or max_poll_interval < poll_interval:
            raise AhgoraConfigError(
                f"{self.task_id}: poll_interval must be > 0 and max_poll_interval >= poll_interval."
            )
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise AhgoraConfigError(f"{self.task_id}: max_workers must be a positive integer.")
        if isinstance(resource, str) and "{{" not in resource:
            try:
                push_route(resource)  # an unknown resource fails at parse time
            except AhgoraConfigError as exc:
                raise AhgoraConfigError(f"{self.task_id}: {exc}") from None
        encoding, delimiter = check_read_options(encoding, delimiter, what=f"{self.task_id}: records")
        self.resource = resource
        self.records = records
        self.pontoweb_conn_id = pontoweb_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = float(max_poll_interval)
        self.timeout = timeout
        self.batch_size = batch_size
        self.max_batch_bytes = max_batch_bytes
        self.report_path = report_path
        self.fail_on = fail_on
        self.retry = retry
        self.max_workers = max_workers
        self.encoding = encoding
        self.delimiter = delimiter

    def _engine(self) -> BatchPush:
        from airflow_provider_ahgora.batch_push import BatchPush

        try:
            return BatchPush(
                resource=str(self.resource),
                records=self.records,
                batch_size=self.batch_size,
                max_batch_bytes=self.max_batch_bytes,
                retry_mode=self.retry,
                log=self.log,
                what=f"{self.task_id}: records",
                encoding=self.encoding,
                delimiter=self.delimiter,
            )
        except AhgoraConfigError as exc:
            raise _fail(f"{self.task_id}: {exc}", exc) from exc

    def _journal(self, context: Context, engine: BatchPush, input_id: str) -> DeliveryJournal:
        from airflow_provider_ahgora.journal import DeliveryJournal

        return DeliveryJournal(
            retry_state(context, PUSH_STATE_KEY), input_id, f"PontoWeb {engine.name}", flush_seconds=0
        ).load()

    # -- execute --------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any] | None:
        engine = self._engine()
        target = self.report_path
        if target is None or (isinstance(target, str) and not target.strip()):
            target = default_report_path(context)
        report = FailureReport(target)
        hook = self.get_hook()
        try:
            with tempfile.TemporaryFile(prefix="ahgora-push-") as spool:
                try:
                    plan = engine.plan(spool, report)
                except (AhgoraConfigError, OSError) as exc:
                    raise _fail(
                        f"{self.task_id}: cannot read the records ({describe_source(self.records)}): {exc}. "
                        "Nothing was sent.",
                        exc,
                    ) from exc
                self.log.info(
                    "%s record(s) read from %s: %s valid in %d batch(es) to /%s, %s refused before sending.",
                    _n(plan.records),
                    describe_source(self.records),
                    _n(plan.valid),
                    len(plan.batches),
                    engine.name,
                    _n(plan.invalid),
                )
                journal = self._journal(context, engine, engine.input_id(plan))
                max_tries = getattr(context.get("ti"), "max_tries", None)
                if not engine.idempotent and journal.changed_input_is_risky(max_tries):
                    raise _fail(
                        f"{self.task_id}: an earlier try of this task pushed other {engine.name} records "
                        "(the input changed since), and PontoWeb may have accepted them: sending this input "
                        f"could send some of them twice ({engine.name} sent twice are two). Nothing was "
                        "sent. Check in PontoWeb; to send this input anyway, clear the task in Airflow."
                    )
                journal.stamp(max_tries)
                summary = engine.send(hook, plan, spool, report, journal, need_ids=self.wait_for_completion)
                if engine.carried:
                    engine.carry(report, read_report(report.path))
            pending = [b for b in summary["batches"] if b["status"] == "sent"]
            if self.wait_for_completion and pending and self.deferrable:
                report_path = report.commit()
                self._defer(journal, summary, report_path)  # raises TaskDeferred
                return None
            outcomes: Mapping[str, Mapping[str, Any]] = {}
            if self.wait_for_completion and pending:
                outcomes = engine.wait(
                    pending,
                    self.get_hook,
                    poll_interval=self.poll_interval,
                    max_poll_interval=self.max_poll_interval,
                    timeout=self.timeout,
                    max_workers=self.max_workers,
                )
        except BaseException:
            if not report.closed:
                report.discard()
            raise
        finally:
            hook.close()
        return self._finish(context, engine, journal, summary, report, outcomes)

    def _defer(self, journal: DeliveryJournal, summary: dict[str, Any], report_path: str) -> None:
        from airflow_provider_ahgora.batch_push import monitor_keys
        from airflow_provider_ahgora.polling import deadline_after
        from airflow_provider_ahgora.triggers._base import defer_wait
        from airflow_provider_ahgora.triggers.process import PontoWebProcessTrigger

        # dag.test() (Airflow 2.11 and 3) resumes with the trigger's event only, without the defer
        # kwargs: keep them in the journal too, where execute_complete finds them
        journal.remember("deferred", {"summary": summary, "report_path": report_path})
        journal.flush(force=True)
        pending = [b for b in summary["batches"] if b["status"] == "sent"]
        self.log.info("Deferring: the triggerer waits for the process monitor of %d batch(es).", len(pending))
        trigger = PontoWebProcessTrigger(
            processes=monitor_keys(pending),
            pontoweb_conn_id=self.pontoweb_conn_id,
            poll_interval=self.poll_interval,
            max_poll_interval=self.max_poll_interval,
            end_time=deadline_after(self.timeout),
            max_concurrency=self.max_workers,
        )
        defer_wait(self, trigger, self.timeout, summary=summary, report_path=report_path)

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any] | None = None,
        summary: dict[str, Any] | None = None,
        report_path: str | None = None,
    ) -> dict[str, Any]:
        """Resume after the trigger: gather the monitor's outcome per batch, report, decide."""
        from airflow_provider_ahgora.batch_push import monitor_keys
        from airflow_provider_ahgora.watches import process_label

        engine = self._engine()
        if summary is None or report_path is None:
            stored = retry_state(context, PUSH_STATE_KEY).get() or {}
            deferred = (stored.get("extra") or {}).get("deferred") or {}
            summary, report_path = deferred.get("summary"), deferred.get("report_path")
        if summary is None or report_path is None:
            raise AirflowException(f"{self.task_id}: resumed without the push summary.")
        journal = self._journal(context, engine, str(summary.get("_input") or ""))
        event = event or {}
        if event.get("status") in ("success", "timeout"):
            outcomes = {process_label(p): dict(p) for p in event.get("processes") or []}
        else:
            # the wait failed as a whole (credentials refused, an unexpected error): every batch is
            # reported as unconfirmed and the summary is pushed before the task fails
            engine.stop_reason = (
                f"waiting for the process monitor failed ({event.get('error_type') or 'no event'}): "
                f"{event.get('message') or 'the trigger ended without an event'}"
            )
            sent = [b for b in summary["batches"] if b["status"] == "sent"]
            outcomes = {
                process_label(k): {**k, "status": "pending", "message": engine.stop_reason, "errors": []}
                for k in monitor_keys(sent)
            }
        report = FailureReport(report_path, keep=read_report(report_path))
        return self._finish(context, engine, journal, summary, report, outcomes)

    # -- outcome --------------------------------------------------------------------------------

    def _finish(
        self,
        context: Context,
        engine: BatchPush,
        journal: DeliveryJournal,
        summary: Mapping[str, Any],
        report: FailureReport,
        outcomes: Mapping[str, Mapping[str, Any]],
    ) -> dict[str, Any]:
        final, warnings, stopped = engine.settle(summary, report, outcomes)
        engine.remember_outcomes(journal, final["batches"])
        for warning in warnings:
            self.log.warning("%s", warning)
        self.log.info(
            "%s: %s record(s) read, %s sent in %d batch(es), %s failed, %s unconfirmed; report: %s",
            final["resource"],
            _n(final["records"]),
            _n(final["sent"]),
            len(final["batches"]),
            _n(final["failed"]),
            _n(final["unconfirmed"]),
            final["report_path"],
        )
        context["ti"].xcom_push(key="return_value", value=final)
        self._decide(journal, final, warnings, stopped)
        self._delivered(context, final)
        return final

    def _delivered(self, context: Context, summary: Mapping[str, Any]) -> None:
        """The push is settled and the task succeeds: what was delivered, for the lineage and the
        task's outlets (:mod:`airflow_provider_ahgora.assets`)."""
        from airflow_provider_ahgora.assets import emit_delivery_events

        counts = {k: summary[k] for k in ("resource", "records", "sent", "failed", "unconfirmed")}
        counts["batches"] = len(summary["batches"])
        self._lineage = {"delivered": counts["sent"] - counts["failed"], **counts}
        emit_delivery_events(
            context, self.outlets, lambda: self._destination(str(summary["resource"])), counts
        )

    def _destination(self, route: str) -> tuple[str, str]:
        """The route of this connection's PontoWeb host (and company), as the events and the lineage
        name it (:func:`airflow_provider_ahgora.assets.service_dataset`); reads the connection, so it
        is only asked for when an event or the lineage needs it."""
        from airflow_provider_ahgora.assets import service_dataset

        hook = self.get_hook()
        try:
            return service_dataset("pontoweb", hook.settings.base_url, route, hook.company)
        finally:
            hook.close()

    # -- lineage (OpenLineage provider installed: airflow_provider_ahgora.lineage) ---------------------

    def _lineage_datasets(self, done: dict[str, Any]) -> tuple[list[Any], list[Any], dict[str, Any]]:
        from airflow_provider_ahgora.lineage import Dataset, records_dataset

        counts = {k: v for k, v in done.items() if k != "delivered"}
        namespace, name = self._destination(str(done["resource"]))
        route = Dataset(namespace, name, rows=max(done["delivered"], 0))
        return records_dataset(self.records, done["records"]), [route], counts

    def _lineage_inputs(self) -> list[Any]:
        from airflow_provider_ahgora.lineage import records_dataset

        return records_dataset(self.records)

    def _decide(
        self,
        journal: DeliveryJournal,
        summary: Mapping[str, Any],
        warnings: Sequence[str],
        stopped: str | None,
    ) -> None:
        statuses = {b["status"] for b in summary["batches"]}
        problems = []
        if summary["failed"]:
            problems.append(f"{_n(summary['failed'])} record(s) failed")
        if summary["unconfirmed"]:
            problems.append(f"{_n(summary['unconfirmed'])} record(s) with an unknown outcome")
        if "error" in statuses:
            problems.append("a batch ended in error")
        if self.fail_on == "warning" and warnings:
            problems.append(f"{len(warnings)} warning(s)")
        if stopped:
            raise AirflowException(
                f"{self.task_id}: {stopped}. The records not sent or not confirmed are in "
                f"{summary['report_path']}; a retry does not send the accepted batches again."
            )
        if not problems or self.fail_on == "never":
            journal.clear()
            return
        message = (
            f"{self.task_id}: {', '.join(problems)} pushing {summary['resource']}; every one is in the "
            f"report {summary['report_path']}."
        )
        if summary["unconfirmed"]:
            message += (
                " Records with an unknown outcome are not sent again by a retry: check them in PontoWeb."
            )
        if statuses & {"failed", "not sent", "pending"}:
            # a transient failure outlived the hook's retries, or the wait timed out: a retry sends
            # the batches not accepted yet and waits again on the accepted ones
            raise AirflowException(
                message + " A retry sends only the batches not accepted yet and waits again on the others."
            )
        raise _fail(message)


# --------------------------------------------------------------------------------------------------
# Voors
# --------------------------------------------------------------------------------------------------

#: Key of the Voors operators' journal in ``task_state_store`` (Airflow 3.3+).
VOORS_STATE_KEY = "ahgora_voors_push"
#: Keyword arguments of :class:`~airflow_provider_ahgora.hooks.voors.VoorsHook` that ``hook_params``
#: may set.
HOOK_PARAMS = frozenset({"retry_limit", "retry_delay", "retry_max_delay", "timeout"})


def _check_voors_args(
    task_id: str, max_workers: Any, max_failures: Any, array_size: Any, hook_params: Any, retry_limit: Any
) -> None:
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise AhgoraConfigError(
            f"{task_id}: max_workers must be an integer of 1 or more, got {max_workers!r}."
        )
    if isinstance(max_failures, bool) or not isinstance(max_failures, int | float):
        raise AhgoraConfigError(
            f"{task_id}: max_failures must be a count (an int, 0 or more) or a fraction of the records "
            f"(a float from 0 up to, not including, 1), got {max_failures!r}."
        )
    if isinstance(max_failures, int) and max_failures < 0:
        raise AhgoraConfigError(
            f"{task_id}: max_failures as a count must be 0 or more, got {max_failures!r}."
        )
    if isinstance(max_failures, float) and not 0.0 <= max_failures < 1.0:
        raise AhgoraConfigError(
            f"{task_id}: max_failures as a fraction must be from 0.0 up to (not including) 1.0, got "
            f"{max_failures!r}; give a count as an int (e.g. 10)."
        )
    if isinstance(array_size, bool) or not isinstance(array_size, int) or array_size < 1:
        raise AhgoraConfigError(f"{task_id}: array_size must be an integer of 1 or more, got {array_size!r}.")
    if hook_params is not None:
        if not isinstance(hook_params, Mapping):
            raise AhgoraConfigError(
                f"{task_id}: hook_params must be a dict, got {type(hook_params).__name__}."
            )
        unknown = sorted(set(hook_params) - HOOK_PARAMS)
        if unknown:
            raise AhgoraConfigError(
                f"{task_id}: unknown hook_params {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(HOOK_PARAMS))}."
            )
    if retry_limit is not None and (
        isinstance(retry_limit, bool) or not isinstance(retry_limit, int) or retry_limit < 0
    ):
        raise AhgoraConfigError(f"{task_id}: retry_limit must be an integer of 0 or more, or None.")


class _VoorsBatchOperator(OpenLineageMixin, PlainStringTemplatesMixin, BaseOperator):
    """What the push and delete operators share: arguments, the engine's run, the summary, the verdict."""

    ui_color = "#ede9fe"
    _doing = "push"

    def __init__(
        self,
        *,
        resource: str,
        voors_conn_id: str = "voors_default",
        max_workers: int = DEFAULT_MAX_WORKERS,
        max_failures: int | float = 0,
        report_path: Any = None,
        array_size: int = DEFAULT_ARRAY_SIZE,
        retry_limit: int | None = None,
        hook_params: Mapping[str, Any] | None = None,
        encoding: str | None = "auto",
        delimiter: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _check_voors_args(self.task_id, max_workers, max_failures, array_size, hook_params, retry_limit)
        check_resource_name(self.task_id, resource, self._doing)
        self.encoding, self.delimiter = check_read_options(
            encoding, delimiter, what=f"{self.task_id}: records"
        )
        self.resource = resource
        self.voors_conn_id = voors_conn_id
        self.max_workers = max_workers
        self.max_failures = max_failures
        self.report_path = report_path
        self.array_size = array_size
        self.retry_limit = retry_limit
        self.hook_params = dict(hook_params) if hook_params else None

    def get_hook(self) -> VoorsHook:
        """A new hook; the operator makes one per worker thread (and one to resolve the connection)."""
        from airflow_provider_ahgora.hooks.voors import VoorsHook

        kwargs: dict[str, Any] = dict(self.hook_params or {})
        if self.retry_limit is not None:
            kwargs["retry_limit"] = self.retry_limit
        return VoorsHook(self.voors_conn_id, **kwargs)

    # -- what subclasses define -----------------------------------------------------------------

    def _kind(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _source_value(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _source_name(self) -> str:
        return "records"

    # -- execute --------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_ahgora.journal import DeliveryJournal
        from airflow_provider_ahgora.voors_push import VoorsDelivery, read_source, resource_for

        kind = self._kind()
        try:
            res = resource_for(kind, self.resource)
        except AhgoraConfigError as exc:
            raise _fail(f"{self.task_id}: {exc}", exc) from exc
        target = self.report_path
        if target is None or (isinstance(target, str) and not target.strip()):
            target = default_report_path(context)
        elif isinstance(target, str) and target.strip().endswith("/"):
            target = f"{target.strip()}failures.jsonl"  # a directory
        main = self.get_hook()
        try:
            try:
                settings = main.settings  # the connection, looked up once, on this thread
            except AhgoraConfigError as exc:
                raise _fail(f"{self.task_id}: {exc}", exc) from exc
            run = VoorsDelivery(kind, res, settings, main.retry_limit, self.get_hook, self.log)
            try:
                with FailureReport(target) as report:
                    source = self._source_value()
                    what = f"{self.task_id}: {self._source_name()}"
                    try:
                        run.prepare(read_source(source, what, self.encoding, self.delimiter), source)
                    except (AhgoraConfigError, FileNotFoundError) as exc:
                        raise _fail(f"{self.task_id}: {exc}; nothing was sent.", exc) from exc
                    journal = DeliveryJournal(
                        retry_state(context, VOORS_STATE_KEY), run.input_id, run.what
                    ).load()
                    max_tries = getattr(context.get("ti"), "max_tries", None)
                    if any(run.creates) and journal.changed_input_is_risky(max_tries):
                        raise _fail(
                            f"{self.task_id}: an earlier try of this task pushed other {run.res.name} "
                            "records (the input changed since), and Voors may have created them: creating "
                            "this input's records could create some twice. Nothing was sent. Check in Voors; "
                            "to send this input anyway, clear the task in Airflow."
                        )
                    journal.stamp(max_tries)
                    run.recall(journal)
                    run.send(self.max_workers, self.array_size)
                    run.finish_unsent()
                    run.write_report(report)
                    path = report.commit()
            finally:
                run.close()
        finally:
            main.close()
        return self._finish(context, run, journal, path)

    def _delivered(self, context: Context, run: VoorsDelivery, summary: Mapping[str, Any]) -> None:
        """The task succeeds: what was delivered, for the lineage and the task's outlets
        (:mod:`airflow_provider_ahgora.assets`)."""
        from airflow_provider_ahgora.assets import emit_delivery_events, service_dataset

        destination = service_dataset("voors", run.settings.base_url, run.res.name)
        counts = {k: summary[k] for k in ("resource", "records", "succeeded", "failed", "unconfirmed")}
        counts["operation"] = self._doing
        self._lineage = {"destination": destination, **counts}
        emit_delivery_events(context, self.outlets, lambda: destination, counts)

    # -- lineage (OpenLineage provider installed: airflow_provider_ahgora.lineage) ---------------------

    def _lineage_datasets(self, done: dict[str, Any]) -> tuple[list[Any], list[Any], dict[str, Any]]:
        from airflow_provider_ahgora.lineage import Dataset, records_dataset

        counts = {k: v for k, v in done.items() if k != "destination"}
        namespace, name = done["destination"]
        resource = Dataset(namespace, name, rows=done["succeeded"])
        return records_dataset(self._source_value(), done["records"]), [resource], counts

    def _lineage_inputs(self) -> list[Any]:
        from airflow_provider_ahgora.lineage import records_dataset

        return records_dataset(self._source_value())

    def _too_many(self, failed: int, records: int) -> bool:
        if isinstance(self.max_failures, float):
            return records > 0 and failed / records > self.max_failures
        return failed > self.max_failures

    def _finish(
        self, context: Context, run: VoorsDelivery, journal: DeliveryJournal, path: str
    ) -> dict[str, Any]:
        summary = {
            "resource": run.res.name,
            "records": run.n,
            "succeeded": run.succeeded,
            "failed": run.failed,
            "unconfirmed": run.unknown,
            "report_path": path,
        }
        run.progress(force=True)
        extra = f"; {run.absent} already absent (404, counted as deleted)" if run.absent else ""
        if run.reconciled:
            extra += f"; {run.reconciled} found in Voors (created by an earlier try whose answer was lost)"
        self.log.info(
            "%s: %s record(s): %s succeeded, %s failed (%d invalid, %d with an unknown outcome)%s. Failure "
            "report: %s",
            run.what,
            _n(run.n),
            _n(run.succeeded),
            _n(run.failed),
            run.invalid,
            run.unknown,
            extra,
            path,
        )
        limit = (
            f"{self.max_failures:.1%} of the records"
            if isinstance(self.max_failures, float)
            else str(self.max_failures)
        )
        if run.stop_reason is None and not self._too_many(run.failed, run.n):
            if run.failed:
                self.log.warning(
                    "%s: %d record(s) failed, within max_failures (%s): see %s.",
                    run.what,
                    run.failed,
                    limit,
                    path,
                )
            journal.clear()
            self._delivered(context, run, summary)
            return summary
        ti = context.get("ti")
        if ti is not None and self.do_xcom_push:
            # so that a downstream summary task (trigger_rule all_done) reads it
            ti.xcom_push(key="return_value", value=summary)
        head = f"{self.task_id}: {run.failed} of {run.n} {run.what} record(s) failed"
        report = f"The failure report {path} names each one with its reason."
        if run.stop_reason is not None:
            message = f"{head}. The push stopped: {run.stop_reason}. {report}"
        else:
            message = f"{head}, more than max_failures ({limit}) allows. {report}"
        if run.unknown > run.lookable:
            message += (
                f" {run.unknown - run.lookable} record(s) have an unknown outcome that cannot be learnt "
                "(Voors may have created them): they are never sent again automatically; check them in Voors."
            )
        if run.lookable:
            message += (
                f" {run.lookable} create(s) have an unknown outcome (the answer was lost): a retry of the "
                "task looks for them in Voors first, and sends only those it does not find."
            )
        retryable = run.transient + run.lookable
        if run.stop_fatal or (run.stop_reason is None and retryable == 0):
            raise _fail(f"{message} A retry would fail the same way: fix the data (or the connection) first.")
        raise AirflowException(
            f"{message} {retryable} of them failed for a reason that may pass (server errors, timeouts, lost "
            f"answers): a retry of the task sends {run.kind.resend_note()}."
        )


class VoorsPushOperator(_VoorsBatchOperator):
    """Push records to one Voors resource: upserts (``POST``), creates and edits (``PUT /{id}``).

    ``records`` are validated by the resource's model first, **all of them before any request**: an
    invalid record goes to the failure report with a reason naming the field (e.g.
    ``cpf: CPF '12345678900' has invalid check digits``) and the valid ones are still sent. Then they
    are sent concurrently, ``max_workers`` requests at a time, each retried by the hook on transient
    errors (5xx, 429 honouring ``Retry-After``, network) with backoff.

    What each record becomes:

    * Resources identified by ``remoteId`` or CPF (``branches``, ``users``, the user histories, ...):
      one ``POST`` upsert per record; sending a record again edits it (idempotent).
    * Resources identified by Voors' ``id`` (``departments``, ``jobRoles``, ``jobFunctions``,
      ``horaries``): a record with an ``"id"`` key is an edit, ``PUT /{id}`` with the other fields (the
      ``id`` is taken out of the body); a record without is a create, ``POST``. A create is never
      repeated after a failure Voors may have acted on (a 5xx, a cut answer, a timeout after
      sending): its outcome is *unknown*. Every delivery goes through the delivery journal (in
      ``task_state_store`` on Airflow 3.3+, else an Airflow Variable), written as the push runs, and
      creates are marked in flight before their requests leave: a retry of the task never creates a
      record twice, even after a worker was killed mid-push. A create whose outcome is unknown is
      looked for in the resource's list (by ``name``/``title`` and ``description``, leaving out what
      matched before it was sent): found, it counts as created; not found, it is sent; otherwise,
      and for posts (which cannot be listed), it is reported as *outcome unknown* and never sent
      again.
    * Array resources (``userWallets``, ``userWalletTransactions``, ``goalsUpdate``): ``array_size``
      records per request. If Voors refuses a whole array (400/404), its records are sent again one by
      one, so that one bad record does not sink the others.
    * Users: deactivate with ``{"cpf": "...", "active": False}``, change the leader with ``{"cpf": "...",
      "appraisedBy": "<leader's CPF>"}``. A user whose ``appraisedBy`` names a user also in this input
      is sent after that leader's record succeeded (in *waves*); if the leader's record failed, or the
      leaders form a cycle, the user is reported and not sent. Records naming the same identifier
      (CPF, ``remoteId``, ``id``) are sent in input order.

    A 401 or 403 stops the push at once: every record not yet sent is reported as ``not sent: ...``
    and the task fails without retrying. If 20 (or ``2 * max_workers``) requests in a row fail after
    their retries, Voors is taken as unavailable and the push stops the same way (the task may retry).

    The failure report (JSON Lines, written atomically, always, empty when nothing failed) holds one
    ``{"record", "reason", "batch", "index"}`` per failed record, in input order: ``record`` as given
    (an invalid one) or in wire form with its ``id`` (one that was sent), ``index`` its position in
    the input, ``batch`` the request number for array resources (else null).

    Returns (and pushes to XCom, even when the task then fails) ``{"resource", "records",
    "succeeded", "failed", "unconfirmed", "report_path"}`` (``unconfirmed``: records whose outcome is
    unknown, counted in ``failed`` too). After every record was tried the task fails when ``failed``
    exceeds ``max_failures``: with ``AirflowFailException`` (no retry) when every failure is one a
    retry would repeat (invalid data, 400/404, 401/403) or an outcome that cannot be learnt, else
    with ``AirflowException`` (the task's retries apply; a retry sends only what was not delivered,
    and looks for the creates whose outcome it must learn first).

    :param resource: the Voors resource (templated): registry key (``"users"``), path (``"/users"``)
        or envelope key (``"user"``); see :data:`airflow_provider_ahgora.models.voors.RESOURCES`.
    :param records: the records (templated): a list of dicts (Python or wire field names), an XCom
        value, a ``{"path": ...}`` mapping, or a path/URI of a ``.json`` array, ``.jsonl`` or ``.csv``
        file (streamed; CSV cells are strings, so use JSON for numbers, booleans and nested objects).
    :param voors_conn_id: the Voors connection id (templated).
    :param max_workers: requests in flight at once (threads). Default 8.
    :param max_failures: failures tolerated before the task fails: a count (int, default 0) or a
        fraction of the records (float, ``0.0 <= x < 1.0``; e.g. ``0.01`` for 1%).
    :param report_path: where to write the failure report (templated): a local path or an
        ``ObjectStoragePath`` URI. Default ``$AIRFLOW_HOME/data/ahgora/<dag>/<run>/<task>[/<map>]/
        failures.jsonl``.
    :param array_size: records per request for array resources. Default 100.
    :param retry_limit: retries per request on transient errors (``None``: the hook's default, 4).
    :param hook_params: other :class:`~airflow_provider_ahgora.hooks.voors.VoorsHook` arguments:
        ``retry_delay``, ``retry_max_delay``, ``timeout``.
    :param encoding: the text encoding of a records file: ``"auto"`` (default: a byte order mark, else
        UTF-8, else Windows-1252 when the file holds no UTF-8 at all; a file that mixes both is
        refused) or a codec name (``"latin-1"``, ``"cp1252"``).
    :param delimiter: the CSV delimiter; default: sniffed from the header among ``,`` ``;`` tab and
        ``|``.
    """

    template_fields: Sequence[str] = ("resource", "records", "report_path", "voors_conn_id")

    def __init__(self, *, resource: str, records: Any, **kwargs: Any) -> None:
        # voors_conn_id, max_workers, max_failures, report_path, array_size, retry_limit, hook_params,
        # encoding, delimiter: see _VoorsBatchOperator
        super().__init__(resource=resource, **kwargs)
        if records is None:
            raise AhgoraConfigError(
                f"{self.task_id}: records is required (a list, an XCom value or a file path)."
            )
        self.records = records

    def _kind(self) -> Any:
        from airflow_provider_ahgora.voors_push import Pushes

        return Pushes(self.voors_conn_id)

    def _source_value(self) -> Any:
        return self.records


class VoorsDeleteOperator(_VoorsBatchOperator):
    """Delete records of one Voors resource, concurrently, with the push operator's reporting.

    Give exactly one of:

    * ``remote_ids``: the ``remoteId`` values the records were pushed with (strings, numbers or
      objects, exactly as sent), for resources deleted by ``remoteId``;
    * ``ids``: Voors ids, for resources deleted by id (``DELETE /departments/{id}``: ``departments``,
      ``jobRoles``, ``jobFunctions``, ``horaries``);
    * ``records``: dicts holding ``remoteId`` (or ``id`` for the resources above); other keys are
      ignored, so the very records (or file) that were pushed can be given.

    Each may be a list, an XCom value or a path/URI of a ``.json``, ``.jsonl`` or ``.csv`` file
    (templated). Resources whose DELETE takes an array (``userCalculations``, ``readjustReasons``) get
    ``array_size`` records per request; if Voors refuses an array (e.g. one of its records does not
    exist), its records are deleted one by one.

    With ``missing_ok=True`` (the default) a record Voors does not know (its own 404) counts as
    deleted: a delete is idempotent, so re-running the task after a partial failure is safe. With
    ``missing_ok=False`` it is a failure. A 404 that is not the API's (a web server's page: a wrong
    base URL) never counts as deleted: it stops the task. Deletes delivered by an earlier try (the
    delivery journal) are not sent again.

    Reporting, ``max_failures``, the 401/403 stop and the summary ``{"resource", "records",
    "succeeded", "failed", "report_path"}`` are those of :class:`VoorsPushOperator`; report entries
    are ``{"record": {"remoteId": ...}, "reason", "batch", "index"}`` (or ``{"id": ...}``).

    :param resource: the Voors resource (templated), as for :class:`VoorsPushOperator`.
    :param remote_ids: the ``remoteId`` values to delete (templated).
    :param records: records holding ``remoteId`` / ``id`` (templated).
    :param ids: Voors ids to delete (templated).
    :param missing_ok: a 404 counts as deleted (default True).
    :param voors_conn_id: the Voors connection id (templated).
    :param max_workers: requests in flight at once. Default 8.
    :param max_failures: a count (int) or a fraction (float) of failures tolerated. Default 0.
    :param report_path: where to write the failure report (templated); default as for the push.
    :param array_size: records per request for array DELETEs. Default 100.
    :param retry_limit: retries per request on transient errors (``None``: the hook's default).
    :param hook_params: other :class:`~airflow_provider_ahgora.hooks.voors.VoorsHook` arguments.
    :param encoding: the text encoding of a file of ids or records (see :class:`VoorsPushOperator`).
    :param delimiter: the CSV delimiter of such a file (default: sniffed from the header).
    """

    template_fields: Sequence[str] = (
        "resource",
        "remote_ids",
        "records",
        "ids",
        "report_path",
        "voors_conn_id",
    )
    ui_color = "#fee2e2"
    _doing = "delete"

    def __init__(
        self,
        *,
        resource: str,
        remote_ids: Any = None,
        records: Any = None,
        ids: Any = None,
        missing_ok: bool = True,
        **kwargs: Any,
    ) -> None:
        # voors_conn_id, max_workers, max_failures, report_path, array_size, retry_limit, hook_params,
        # encoding, delimiter: see _VoorsBatchOperator
        super().__init__(resource=resource, **kwargs)
        given = [
            name
            for name, value in (("remote_ids", remote_ids), ("records", records), ("ids", ids))
            if value is not None
        ]
        if len(given) != 1:
            raise AhgoraConfigError(
                f"{self.task_id}: give exactly one of remote_ids, records or ids"
                + (f" (got {', '.join(given)})." if given else ".")
            )
        by_id = deletes_by_id(resource)
        if by_id and remote_ids is not None:
            raise AhgoraConfigError(
                f"{self.task_id}: Voors deletes {str(resource).strip('/')} by their Voors id: pass ids (or "
                "records "
                "with 'id')."
            )
        if by_id is False and ids is not None:
            raise AhgoraConfigError(
                f"{self.task_id}: Voors deletes {str(resource).strip('/')} by the remoteId they were sent "
                "with: "
                "pass remote_ids (or records with 'remoteId')."
            )
        self.remote_ids = remote_ids
        self.records = records
        self.ids = ids
        self.missing_ok = missing_ok
        self._mode = given[0]

    def _kind(self) -> Any:
        from airflow_provider_ahgora.voors_push import Deletes

        return Deletes(self.voors_conn_id, self._mode, self.missing_ok)

    def _source_value(self) -> Any:
        return getattr(self, self._mode)

    def _source_name(self) -> str:
        return self._mode

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
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, BaseOperator, conf

from airflow_provider_ahgora.exceptions import AhgoraConfigError, AhgoraError
from airflow_provider_ahgora.journal import retry_state
from airflow_provider_ahgora.models.vocabulary import FailOn, parse
from airflow_provider_ahgora.operators._records import (
    FailureReport,
    PlainStringTemplatesMixin,
    check_read_options,
    default_report_path,
    describe_source,
    read_report,
)
from airflow_provider_ahgora.operators._voors_push import VoorsDeleteOperator, VoorsPushOperator
from airflow_provider_ahgora.operators.reckon import DEFERRAL_TIMEOUT_MARGIN, _fail
from airflow_provider_ahgora.registry import MAX_PUSH_BYTES, MAX_PUSH_RECORDS, push_route

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_ahgora.batch_push import BatchPush
    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
    from airflow_provider_ahgora.journal import DeliveryJournal

__all__ = [
    "FAIL_ON",
    "PUSH_STATE_KEY",
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


class PontoWebPushBatchOperator(PlainStringTemplatesMixin, BaseOperator):
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

    def get_hook(self) -> PontoWebHook:
        from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook

        return PontoWebHook(self.pontoweb_conn_id)

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
                summary = engine.send(hook, plan, spool, report, journal, need_ids=self.wait_for_completion)
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
        from airflow_provider_ahgora.triggers.process import PontoWebProcessTrigger

        # dag.test() (Airflow 2.11 and 3) resumes with the trigger's event only, without the defer
        # kwargs: keep them in the journal too, where execute_complete finds them
        journal.remember("deferred", {"summary": summary, "report_path": report_path})
        journal.flush(force=True)
        pending = [b for b in summary["batches"] if b["status"] == "sent"]
        self.log.info("Deferring: the triggerer waits for the process monitor of %d batch(es).", len(pending))
        self.defer(
            trigger=PontoWebProcessTrigger(
                processes=monitor_keys(pending),
                pontoweb_conn_id=self.pontoweb_conn_id,
                poll_interval=self.poll_interval,
                max_poll_interval=self.max_poll_interval,
                end_time=deadline_after(self.timeout),
                max_concurrency=self.max_workers,
            ),
            method_name="execute_complete",
            kwargs={"summary": summary, "report_path": report_path},
            timeout=None
            if self.timeout is None
            else timedelta(seconds=float(self.timeout) + DEFERRAL_TIMEOUT_MARGIN),
        )

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
        return final

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

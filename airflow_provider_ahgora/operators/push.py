"""Push operators: PontoWeb batch pushes with the process monitor, Voors upserts and deletes at scale.

* :class:`PontoWebPushBatchOperator` validates records, sends them to a PontoWeb push route in
  batches of at most 1000 records and 1 MiB, waits on the process monitor for every batch (polling
  or deferred) and writes every record that failed to a JSON Lines report.
* :class:`VoorsPushOperator` and :class:`VoorsDeleteOperator` send records to a Voors resource one
  request per record (or in arrays where the resource takes them) with a bounded pool of workers,
  and report failures in input order.

The rules (batching, reporting, ``fail_on`` / ``max_failures``, retries) are in
``docs/operators_push.rst`` and ``docs/operators_voors.rst``.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any, BinaryIO

from airflow.providers.common.compat.sdk import AirflowException, BaseOperator, conf
from pydantic import ValidationError

from airflow_provider_ahgora._limits import MAX_PUSH_BYTES, MAX_PUSH_RECORDS, PUSH_RESOURCES
from airflow_provider_ahgora.exceptions import (
    AhgoraAPIError,
    AhgoraAuthError,
    AhgoraConfigError,
    AhgoraError,
    AhgoraPermissionError,
    AhgoraTransientError,
)
from airflow_provider_ahgora.operators._records import (
    FailureReport,
    PlainStringTemplatesMixin,
    default_report_path,
    describe_source,
    iter_records,
    read_report,
)
from airflow_provider_ahgora.operators._state import retry_state
from airflow_provider_ahgora.operators._voors_push import VoorsDeleteOperator, VoorsPushOperator
from airflow_provider_ahgora.operators.reckon import DEFERRAL_TIMEOUT_MARGIN, _fail
from airflow_provider_ahgora.triggers.reckon import BACKOFF_FACTOR

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
    from airflow_provider_ahgora.models.pontoweb import ProcessStatus

__all__ = [
    "FAIL_ON",
    "PUSH_STATE_KEY",
    "PontoWebPushBatchOperator",
    "VoorsDeleteOperator",
    "VoorsPushOperator",
]

#: Values of ``fail_on``.
FAIL_ON = ("error", "warning", "never")
#: Key of the batch operator's entry in ``task_state_store`` (Airflow 3.3+): the batches an earlier
#: try of the task instance got accepted, so that a retry does not send them again.
PUSH_STATE_KEY = "ahgora_push"
#: Resources whose repeated request is not harmless (an INS absence sent twice is two absences):
#: by default a request to them is repeated only when PontoWeb surely did not act on it.
NON_IDEMPOTENT = frozenset({"absences"})


def _sleep(seconds: float) -> None:
    """How the synchronous wait sleeps (tests replace it)."""
    time.sleep(seconds)


def _clock() -> float:
    """The clock of the synchronous wait's deadline (tests replace it)."""
    return time.monotonic()


def _n(value: int) -> str:
    """``12000`` -> ``"12 000"`` (log lines)."""
    return f"{value:,}".replace(",", " ")


def _dumps(value: Any) -> bytes:
    """One record exactly as it goes on the wire (compact UTF-8 JSON, as the hook serializes)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _reason_of_errors(errors: Sequence[Any]) -> str:
    return "; ".join(f"{e.field}: {e.message}" if e.field else str(e.message) for e in errors)


# --------------------------------------------------------------------------------------------------
# Planning: validate, measure and batch the input
# --------------------------------------------------------------------------------------------------


class _Batch:
    """One planned request: where its records sit in the spool and in the input."""

    __slots__ = ("bytes", "count", "end", "first", "last", "number", "start")

    def __init__(self, number: int) -> None:
        self.number = number
        self.count = 0
        self.bytes = 2  # "[" and "]"
        self.first = -1
        self.last = -1
        self.start = 0
        self.end = 0


class _Plan:
    """The outcome of one pass over the input: batches, counts, and the digest of what is sent."""

    def __init__(self) -> None:
        self.records = 0
        self.invalid = 0
        self.batches: list[_Batch] = []
        self.digest = hashlib.sha256()

    @property
    def valid(self) -> int:
        return sum(b.count for b in self.batches)


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
       sent. A 401/403 stops everything: the records not sent are reported. Each accepted batch is
       remembered (``task_state_store`` on Airflow 3.3+, a Variable below) so that an Airflow
       retry of the task does not send it again when the input is the same.
    3. **Wait** (``wait_for_completion=True``): poll ``GET /process`` for every accepted batch (by
       its ``subunique``, else its ``unique``), concurrently, until ``progress.done`` reaches
       ``progress.total``; or, with ``deferrable=True``, defer once to
       :class:`~airflow_provider_ahgora.triggers.process.PontoWebProcessTrigger`, which watches all
       of them. Records the monitor names in ``data.errors`` go to the report with its message. A
       batch that ended in ``error`` without naming records has all its records reported. A batch
       whose outcome cannot be learnt (the monitor lost it, or ``timeout`` passed) has its records
       reported as *outcome unknown* and counted in ``unconfirmed``.
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
    """

    template_fields: Sequence[str] = ("resource", "records", "report_path", "pontoweb_conn_id")
    ui_color = "#fef3c7"
    #: Why the wait on the process monitor stopped early (credentials refused, trigger failure).
    stop_reason: str | None = None

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
        if fail_on not in FAIL_ON:
            raise AhgoraConfigError(
                f"{self.task_id}: fail_on must be one of {', '.join(FAIL_ON)}, got {fail_on!r}."
            )
        if retry not in (None, "all", "safe", "none"):
            raise AhgoraConfigError(f"{self.task_id}: retry must be 'all', 'safe' or 'none', got {retry!r}.")
        if poll_interval <= 0 or max_poll_interval < poll_interval:
            raise AhgoraConfigError(
                f"{self.task_id}: poll_interval must be > 0 and max_poll_interval >= poll_interval."
            )
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise AhgoraConfigError(f"{self.task_id}: max_workers must be a positive integer.")
        literal = isinstance(resource, str) and "{{" not in resource and not resource.startswith("/")
        if literal and resource not in PUSH_RESOURCES:  # an unknown resource fails at parse time
            raise AhgoraConfigError(
                f"{self.task_id}: unknown PontoWeb push resource {resource!r}: use one of "
                f"{', '.join(PUSH_RESOURCES)}, or a custom path starting with '/'."
            )
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

    # -- helpers --------------------------------------------------------------------------------

    def get_hook(self) -> PontoWebHook:
        from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook

        return PontoWebHook(self.pontoweb_conn_id)

    @property
    def _name(self) -> str:
        return str(self.resource).strip("/")

    def _retry_mode(self) -> Any:
        if self.retry is not None:
            return self.retry
        return "safe" if self._name in NON_IDEMPOTENT else "all"

    def _validator(self) -> tuple[Callable[[Any], tuple[Any, bytes | None, str | None]], tuple[str, ...]]:
        """``check(record) -> (wire, data, reason)``: the wire form and its bytes, or why the record is
        refused (invalid, not JSON, or over the byte limit on its own); and the identifying keys."""
        from airflow_provider_ahgora.models._base import record_errors
        from airflow_provider_ahgora.models.pontoweb import PUSH_ID_KEYS, PUSH_MODELS

        model = PUSH_MODELS.get(self._name) if not str(self.resource).startswith("/") else None
        id_keys = PUSH_ID_KEYS.get(self._name, ("matricula", "codigo", "id"))
        limit = self.max_batch_bytes

        def check(record: Any) -> tuple[Any, bytes | None, str | None]:
            if model is None:
                wire = record.to_wire() if hasattr(record, "to_wire") else record
            elif not isinstance(record, Mapping):
                return None, None, f"must be a JSON object, got {type(record).__name__}"
            else:
                try:
                    wire = model.model_validate(record).to_wire()
                except ValidationError as exc:
                    return None, None, _reason_of_errors(record_errors(exc, model))
            try:
                data = _dumps(wire)
            except (TypeError, ValueError) as exc:
                return None, None, f"cannot be serialized to JSON: {exc}"
            if len(data) + 2 > limit:
                return (
                    None,
                    None,
                    (
                        f"the record alone is {len(data) + 2} bytes of JSON body; PontoWeb takes at most "
                        f"{limit} bytes per request, so it cannot be sent"
                    ),
                )
            return wire, data, None

        return check, id_keys

    def _plan(self, spool: BinaryIO | None, report: FailureReport | None) -> _Plan:
        """One pass over the input: validate, serialize, cut batches. With ``spool``, write each valid
        record's bytes (one per line); with ``report``, report the refused ones."""
        check, _ = self._validator()
        plan = _Plan()
        limit_bytes = self.max_batch_bytes
        current: _Batch | None = None
        offset = 0
        for index, record in enumerate(iter_records(self.records, what=f"{self.task_id}: records")):
            plan.records += 1
            _wire, data, reason = check(record)
            if data is None:
                plan.invalid += 1
                if report is not None:
                    report.add(record, f"not sent: {reason}", None, index=index)
                continue
            if (
                current is None
                or current.count >= self.batch_size
                or current.bytes + len(data) + 1 > limit_bytes
            ):
                current = _Batch(len(plan.batches) + 1)
                current.first = index
                current.start = offset
                plan.batches.append(current)
                plan.digest.update(b"\x00batch\x00")
            current.bytes += len(data) + (1 if current.count else 0)
            current.count += 1
            current.last = index
            plan.digest.update(data)
            plan.digest.update(b"\n")
            offset += len(data) + 1
            current.end = offset
            if spool is not None:
                spool.write(data)
                spool.write(b"\n")
        return plan

    def _state_entry(self, plan: _Plan) -> str:
        return f"{self._name}:{plan.digest.hexdigest()[:24]}"

    # -- execute --------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any] | None:
        from airflow_provider_ahgora.hooks.pontoweb import resolve_push_path

        self.stop_reason = None
        try:
            path = resolve_push_path(str(self.resource))
        except AhgoraConfigError as exc:
            raise _fail(f"{self.task_id}: {exc}", exc) from exc
        target = self.report_path
        if target is None or (isinstance(target, str) and not target.strip()):
            target = default_report_path(context)
        report = FailureReport(target)
        hook = self.get_hook()
        try:
            with tempfile.TemporaryFile(prefix="ahgora-push-") as spool:
                try:
                    plan = self._plan(spool, report)
                except (AhgoraConfigError, OSError) as exc:
                    raise _fail(
                        f"{self.task_id}: cannot read the records ({describe_source(self.records)}): {exc}. "
                        "Nothing was sent.",
                        exc,
                    ) from exc
                self.log.info(
                    "%s record(s) read from %s: %s valid in %d batch(es) to %s, %s refused before sending.",
                    _n(plan.records),
                    describe_source(self.records),
                    _n(plan.valid),
                    len(plan.batches),
                    path,
                    _n(plan.invalid),
                )
                summary = self._send(hook, plan, spool, report, retry_state(context, PUSH_STATE_KEY))
            pending = [b for b in summary["batches"] if b["status"] == "sent"]
            if self.wait_for_completion and pending and self.deferrable:
                report_path = report.commit()
                self._defer(context, summary, report_path)  # raises TaskDeferred: execute_complete takes over
                return None
            outcomes = self._wait(pending) if self.wait_for_completion and pending else {}
        except BaseException:
            if not report.closed:
                report.discard()
            raise
        finally:
            hook.close()
        return self._finish(context, summary, report, outcomes, warnings=[])

    def _send(
        self, hook: PontoWebHook, plan: _Plan, spool: BinaryIO, report: FailureReport, state: Any
    ) -> dict[str, Any]:
        """Send every batch not accepted by an earlier try; returns the summary so far."""
        entry = self._state_entry(plan)
        stored = state.get() or {}
        accepted: dict[str, Any] = stored.get("batches", {}) if stored.get("input") == entry else {}
        if stored and stored.get("input") != entry:
            self.log.info("An earlier try pushed other records (the input changed): sending every batch.")
        mode = self._retry_mode()
        total_batches = len(plan.batches)
        total_records = plan.valid
        sent_records = 0
        batches: list[dict[str, Any]] = []
        stop: BaseException | None = None
        for batch in plan.batches:
            info: dict[str, Any] = {
                "batch": batch.number,
                "unique": None,
                "subunique": None,
                "records": batch.count,
            }
            done_before = accepted.get(str(batch.number))
            if done_before is not None and done_before.get("unknown"):
                # an earlier try lost PontoWeb's answer to this batch (retry mode "safe"): sending it
                # again could duplicate it, so it is reported again, never resent
                info["status"] = "unknown"
                batches.append(info)
                self._report_lines(
                    report, self._batch_lines(spool, batch), batch, str(done_before["unknown"])
                )
                self.log.warning(
                    "batch %d/%d: an earlier try lost PontoWeb's answer to it; not sent again.",
                    batch.number,
                    total_batches,
                )
                continue
            if done_before is not None:
                info.update(
                    unique=done_before.get("unique"), subunique=done_before.get("subunique"), status="sent"
                )
                batches.append(info)
                sent_records += batch.count
                self.log.info(
                    "batch %d/%d already accepted by an earlier try (unique %s, subunique %s): "
                    "not sent again.",
                    batch.number,
                    total_batches,
                    info["unique"],
                    info["subunique"],
                )
                continue
            lines = self._batch_lines(spool, batch)
            if stop is not None:
                info["status"] = "not sent"
                batches.append(info)
                self._report_lines(report, lines, batch, f"not sent: {stop}")
                continue
            body = b"[" + b",".join(lines) + b"]"
            try:
                ticket = hook.push_serialized(str(self.resource), body, retry=mode)
            except (AhgoraAuthError, AhgoraPermissionError) as exc:
                stop = exc
                info["status"] = "not sent"
                batches.append(info)
                self._report_lines(report, lines, batch, f"not sent: {exc}")
                self.log.error(
                    "batch %d/%d refused (%s): no further batch is sent.", batch.number, total_batches, exc
                )
                continue
            except AhgoraTransientError as exc:
                maybe = getattr(exc, "may_have_been_processed", True)
                if maybe and mode != "all":
                    reason = (
                        f"may have been accepted by PontoWeb (the answer was lost: {exc}); not sent again to "
                        "avoid duplicates: check in PontoWeb before sending these records again"
                    )
                    info["status"] = "unknown"
                    accepted[str(batch.number)] = {"unique": None, "subunique": None, "unknown": reason}
                    state.set({"input": entry, "batches": accepted})
                else:
                    reason = f"not sent: {exc}"
                    info["status"] = "failed"
                batches.append(info)
                self._report_lines(report, lines, batch, reason)
                self.log.error("batch %d/%d failed: %s", batch.number, total_batches, exc)
                continue
            except (AhgoraAPIError, AhgoraError) as exc:
                info["status"] = "refused"
                batches.append(info)
                self._report_lines(report, lines, batch, f"batch refused by PontoWeb: {exc}")
                self.log.error("batch %d/%d refused by PontoWeb: %s", batch.number, total_batches, exc)
                continue
            info.update(unique=ticket.unique, subunique=ticket.subunique, status="sent")
            batches.append(info)
            sent_records += batch.count
            accepted[str(batch.number)] = {"unique": ticket.unique, "subunique": ticket.subunique}
            if self.wait_for_completion and not (ticket.unique or ticket.subunique):
                reason = (
                    "outcome unknown: PontoWeb accepted the batch but answered no unique or subunique to "
                    "follow it in the process monitor"
                )
                info["status"] = "unknown"
                accepted[str(batch.number)]["unknown"] = reason
                self._report_lines(report, lines, batch, reason)
            state.set({"input": entry, "batches": accepted})
            self.log.info(
                "batch %d/%d, %s/%s records",
                batch.number,
                total_batches,
                _n(sent_records),
                _n(total_records),
            )
        return {
            "resource": str(self.resource),
            "records": plan.records,
            "sent": sent_records,
            "batches": batches,
            "failed": report.count,
            "unconfirmed": sum(b["records"] for b in batches if b["status"] == "unknown"),
            "report_path": report.path,
            "_stopped": None if stop is None else f"PontoWeb refused the credentials ({stop})",
            "_input": entry,
            "_ranges": {str(b.number): [b.first, b.last] for b in plan.batches},
        }

    @staticmethod
    def _batch_lines(spool: BinaryIO, batch: _Batch) -> list[bytes]:
        spool.seek(batch.start)
        data = spool.read(batch.end - batch.start)
        spool.seek(0, 2)
        return data.split(b"\n")[:-1]

    @staticmethod
    def _report_lines(report: FailureReport, lines: Sequence[bytes], batch: _Batch, reason: str) -> None:
        for line in lines:
            report.add(json.loads(line), reason, batch.number)

    # -- waiting --------------------------------------------------------------------------------

    @staticmethod
    def _monitor_keys(batches: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """One monitor query per subunique, or per unique for batches that got no subunique."""
        keys: dict[tuple[str, str], dict[str, Any]] = {}
        for b in batches:
            if b.get("subunique"):
                key = ("subunique", str(b["subunique"]))
            elif b.get("unique"):
                key = ("unique", str(b["unique"]))
            else:
                continue
            item = keys.setdefault(
                key,
                {
                    "unique": None if key[0] == "subunique" else key[1],
                    "subunique": key[1] if key[0] == "subunique" else None,
                    "batches": [],
                },
            )
            item["batches"].append(b["batch"])
        return list(keys.values())

    def _wait(self, pending: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        """Poll the monitor until every batch finished (or ``timeout``); outcome per monitor query.

        A 401/403 from the monitor ends the wait (``stop_reason``): the batches not finished are
        ``pending``, and the task reports them and fails after pushing its summary."""
        keys = self._monitor_keys(pending)
        outcomes: dict[str, dict[str, Any]] = {}
        local = threading.local()
        hooks: list[PontoWebHook] = []
        lock = threading.Lock()

        def hook() -> PontoWebHook:
            h = getattr(local, "hook", None)
            if h is None:
                h = self.get_hook()
                local.hook = h
                with lock:
                    hooks.append(h)
            return h

        def poll(
            item: Mapping[str, Any],
        ) -> tuple[Mapping[str, Any], ProcessStatus | None, BaseException | None]:
            try:
                return item, hook().get_process(unique=item["unique"], subunique=item["subunique"]), None
            except AhgoraError as exc:
                return item, None, exc
            except (
                ValidationError
            ) as exc:  # an answer of an unexpected shape: poll again, as the trigger does
                return (
                    item,
                    None,
                    AhgoraTransientError(f"malformed process monitor answer: {exc}", service="PontoWeb"),
                )

        deadline = None if self.timeout is None else _clock() + float(self.timeout)
        interval = self.poll_interval
        last_done: dict[str, int] = {}
        todo = list(keys)
        try:
            with ThreadPoolExecutor(max_workers=min(self.max_workers, max(1, len(todo)))) as pool:
                while todo:
                    moved = False
                    still: list[dict[str, Any]] = []
                    for item, status, exc in pool.map(poll, todo):
                        name = _key_name(item)
                        if isinstance(exc, (AhgoraAuthError, AhgoraPermissionError)):
                            self.stop_reason = f"the process monitor refused the credentials ({exc})"
                            still = [dict(i) for i in todo if _key_name(i) not in outcomes]
                            break
                        if exc is not None and not isinstance(exc, AhgoraTransientError):
                            outcomes[name] = {**item, "status": "lost", "message": str(exc), "errors": []}
                            continue
                        if status is not None and status.is_finished:
                            outcomes[name] = {**item, **_status_dict(status)}
                            moved = True
                            continue
                        if exc is not None:
                            self.log.warning("process monitor for %s: %s; polling again.", name, exc)
                        done = status.progress.done if status is not None and status.progress else None
                        if done is not None and done != last_done.get(name):
                            last_done[name] = done
                            moved = True
                        still.append(dict(item))
                    todo = still
                    if self.stop_reason:
                        break
                    finished_batches = sum(len(o["batches"]) for o in outcomes.values())
                    all_batches = sum(len(k["batches"]) for k in keys)
                    self.log.info(
                        "process monitor: %d/%d batch(es) finished",
                        finished_batches,
                        all_batches,
                    )
                    if not todo:
                        break
                    interval = (
                        self.poll_interval
                        if moved
                        else min(interval * BACKOFF_FACTOR, self.max_poll_interval)
                    )
                    now = _clock()
                    if deadline is not None and now >= deadline:
                        break
                    _sleep(interval if deadline is None else max(0.0, min(interval, deadline - now)))
        finally:
            for h in hooks:
                h.close()
        for item in todo:
            outcomes[_key_name(item)] = {
                **item,
                "status": "pending",
                "message": self.stop_reason or f"not finished within the timeout of {self.timeout} s",
                "errors": [],
            }
        return outcomes

    def _defer(self, context: Context, summary: dict[str, Any], report_path: str) -> None:
        from airflow_provider_ahgora.triggers.process import PontoWebProcessTrigger

        # dag.test() (Airflow 2.11 and 3) resumes with the trigger's event only, without the defer
        # kwargs: keep them in the retry state too, where execute_complete finds them
        state = retry_state(context, PUSH_STATE_KEY)
        state.set({**(state.get() or {}), "deferred": {"summary": summary, "report_path": report_path}})
        pending = [b for b in summary["batches"] if b["status"] == "sent"]
        end_time = None if self.timeout is None else time.time() + float(self.timeout)
        self.log.info("Deferring: the triggerer waits for the process monitor of %d batch(es).", len(pending))
        self.defer(
            trigger=PontoWebProcessTrigger(
                processes=self._monitor_keys(pending),
                pontoweb_conn_id=self.pontoweb_conn_id,
                poll_interval=self.poll_interval,
                max_poll_interval=self.max_poll_interval,
                end_time=end_time,
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
        if summary is None or report_path is None:
            deferred = (retry_state(context, PUSH_STATE_KEY).get() or {}).get("deferred") or {}
            summary, report_path = deferred.get("summary"), deferred.get("report_path")
        if summary is None or report_path is None:
            raise AirflowException(f"{self.task_id}: resumed without the push summary.")
        event = event or {}
        if event.get("status") in ("success", "timeout"):
            outcomes = {_key_name(p): dict(p) for p in event.get("processes") or []}
        else:
            # the wait failed as a whole (credentials refused, an unexpected error): every batch is
            # reported as unconfirmed and the summary is pushed before the task fails
            self.stop_reason = (
                f"waiting for the process monitor failed ({event.get('error_type') or 'no event'}): "
                f"{event.get('message') or 'the trigger ended without an event'}"
            )
            sent = [b for b in summary["batches"] if b["status"] == "sent"]
            outcomes = {
                _key_name(k): {**k, "status": "pending", "message": self.stop_reason, "errors": []}
                for k in self._monitor_keys(sent)
            }
        report = FailureReport(report_path, keep=read_report(report_path))
        return self._finish(context, summary, report, outcomes, warnings=[])

    # -- outcome --------------------------------------------------------------------------------

    def _finish(
        self,
        context: Context,
        summary: dict[str, Any],
        report: FailureReport,
        outcomes: Mapping[str, Mapping[str, Any]],
        warnings: list[str],
    ) -> dict[str, Any]:
        summary = dict(summary)
        stopped = summary.pop("_stopped", None) or self.stop_reason
        ranges = summary.pop("_ranges", {})
        batches = [dict(b) for b in summary["batches"]]
        by_number = {b["batch"]: b for b in batches}
        input_entry = summary.pop("_input", None)
        groups: list[tuple[list[int], list[tuple[str, str]]]] = []
        whole_batch: dict[int, tuple[str, bool]] = {}
        unconfirmed = summary.get("unconfirmed", 0)
        unknown_entries = unconfirmed  # _send reported those records one by one
        try:
            for outcome in outcomes.values():
                numbers = [n for n in outcome.get("batches", []) if n in by_number]
                status = str(outcome.get("status") or "")
                errors = [
                    (str(e.get("identifier") or ""), str(e.get("message") or ""))
                    for e in outcome.get("errors") or []
                ]
                for n in numbers:
                    by_number[n]["status"] = status or "unknown"
                if status in ("lost", "pending"):
                    for n in numbers:
                        whole_batch[n] = (
                            "outcome unknown: the batch was accepted but the process monitor could not "
                            f"tell how it ended ({outcome.get('message')})",
                            True,
                        )
                        unconfirmed += by_number[n]["records"]
                    continue
                total = (outcome.get("progress") or {}).get("total")
                sent = sum(by_number[n]["records"] for n in numbers)
                if isinstance(total, int) and total != sent and outcome.get("subunique"):
                    warnings.append(
                        f"batch {numbers[0]}: the process monitor counted {total} record(s), {sent} were sent"
                    )
                if errors:
                    groups.append((numbers, errors))
                elif status == "error":
                    for n in numbers:
                        whole_batch[n] = (
                            "rejected by PontoWeb: the batch ended in error (the monitor names no record)",
                            False,
                        )
                elif status == "warning":
                    warnings.append(
                        f"batch(es) {', '.join(map(str, numbers))}: the process monitor answered 'warning' "
                        "without naming any record"
                    )
                elif status not in ("done", "success", ""):
                    warnings.append(
                        f"batch(es) {', '.join(map(str, numbers))}: unknown monitor status {status!r}"
                    )
            extra = 0
            if groups or whole_batch:
                written_unknown, extra = self._report_outcomes(
                    report, ranges, groups, whole_batch, by_number, input_entry, warnings
                )
                unknown_entries += written_unknown
            summary["batches"] = batches
            summary["failed"] = max(0, report.count - unknown_entries + extra)
            summary["unconfirmed"] = unconfirmed
            summary["report_path"] = report.commit()
        except BaseException:
            report.discard()
            raise
        for warning in warnings:
            self.log.warning("%s", warning)
        self._log_outcome(summary)
        context["ti"].xcom_push(key="return_value", value=summary)
        self._decide(context, summary, batches, warnings, stopped)
        return summary

    def _report_outcomes(
        self,
        report: FailureReport,
        ranges: Mapping[str, Sequence[int]],
        groups: Sequence[tuple[list[int], list[tuple[str, str]]]],
        whole: Mapping[int, tuple[str, bool]],
        by_number: Mapping[int, Mapping[str, Any]],
        input_entry: str | None,
        warnings: list[str],
    ) -> tuple[int, int]:
        """Report the records the monitor named (by identifier, within the batches of its query) and
        every record of the batches in ``whole``.

        The records are found by reading the input again: it is read, validated and batched the same
        way, so record N of batch B is the same; that is checked first (the digest of what was sent).
        If the input changed since, records cannot be named: one entry per batch, or per error, says
        so. A monitor that names one identifier several times (two absences of one employee) fails
        that many records with that identifier, in input order.

        :returns: ``(entries written for unknown outcomes, records failed beyond the entries written)``.
        """
        check, id_keys = self._validator()
        unknown_written = 0
        extra = 0
        same_input = False
        if input_entry is not None:
            try:
                same_input = self._state_entry(self._plan(None, None)) == input_entry
            except (AhgoraConfigError, OSError) as exc:
                warnings.append(f"the records cannot be read again to name the failed ones: {exc}")
        if not same_input:
            warnings.append(
                "the input changed (or cannot be read) since it was sent: failed records are reported by "
                "batch and identifier, not as records"
            )
            for n, (reason, unknown) in sorted(whole.items()):
                count = int(by_number[n]["records"])
                report.add(None, f"{reason}; {count} record(s) of this batch, not named", n, records=count)
                if unknown:
                    unknown_written += 1
                else:
                    extra += count - 1
            for numbers, pairs in groups:
                for ident, message in pairs:
                    report.add(
                        {"identifier": ident},
                        f"rejected by PontoWeb: {message}",
                        numbers[0] if len(numbers) == 1 else None,
                    )
            return unknown_written, extra

        group_of: dict[int, int] = {}
        wanted: list[dict[str, list[str]]] = []
        for g, (numbers, pairs) in enumerate(groups):
            by_ident: dict[str, list[str]] = {}
            for ident, message in pairs:
                by_ident.setdefault(ident, []).append(message)
            wanted.append(by_ident)
            for n in numbers:
                group_of[n] = g
        spans = sorted(
            (int(k), int(v[0]), int(v[1])) for k, v in ranges.items() if int(k) in group_of or int(k) in whole
        )
        position = 0
        if spans:
            for index, record in enumerate(iter_records(self.records, what=f"{self.task_id}: records")):
                while position < len(spans) and spans[position][2] < index:
                    position += 1
                if position >= len(spans):
                    break
                number, first, _last = spans[position]
                if index < first:
                    continue
                wire, data, _reason = check(record)
                if data is None:
                    continue  # refused before sending: already in the report
                if number in whole:
                    reason, unknown = whole[number]
                    report.add(wire, reason, number, index=index)
                    unknown_written += 1 if unknown else 0
                    continue
                name = _identifier(wire, id_keys)
                messages = wanted[group_of[number]].get(name) if name is not None else None
                if messages:
                    report.add(wire, f"rejected by PontoWeb: {messages.pop(0)}", number, index=index)
        for g, (numbers, _pairs) in enumerate(groups):
            for ident, messages in wanted[g].items():
                for message in messages:  # named by the monitor, but no record sent has that identifier
                    report.add(
                        {"identifier": ident},
                        f"rejected by PontoWeb: {message} (no record sent in this batch has this identifier)",
                        numbers[0] if len(numbers) == 1 else None,
                    )
        return unknown_written, extra

    def _log_outcome(self, summary: Mapping[str, Any]) -> None:
        self.log.info(
            "%s: %s record(s) read, %s sent in %d batch(es), %s failed, %s unconfirmed; report: %s",
            summary["resource"],
            _n(summary["records"]),
            _n(summary["sent"]),
            len(summary["batches"]),
            _n(summary["failed"]),
            _n(summary["unconfirmed"]),
            summary["report_path"],
        )

    def _decide(
        self,
        context: Context,
        summary: Mapping[str, Any],
        batches: Sequence[Mapping[str, Any]],
        warnings: Sequence[str],
        stopped: str | None,
    ) -> None:
        statuses = {b["status"] for b in batches}
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
            retry_state(context, PUSH_STATE_KEY).delete()
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


def _key_name(item: Mapping[str, Any]) -> str:
    if item.get("subunique"):
        return f"subunique {item['subunique']}"
    return f"unique {item.get('unique')}"


def _status_dict(status: ProcessStatus) -> dict[str, Any]:
    from airflow_provider_ahgora.triggers.process import outcome_of

    progress = status.progress
    return {
        "status": outcome_of(status),
        "progress": {
            "done": progress.done if progress else None,
            "total": progress.total if progress else None,
        },
        "errors": [{"identifier": e.identifier, "message": e.message} for e in status.errors],
        "message": None,
    }


def _identifier(wire: Any, keys: Sequence[str]) -> str | None:
    """The identifier the monitor names a record by: its first non-empty identifying field."""
    if not isinstance(wire, Mapping):
        return None
    for key in keys:
        value = wire.get(key)
        if value not in (None, ""):
            return str(value)
    return None

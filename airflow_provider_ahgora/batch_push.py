"""The PontoWeb batch push: plan, send, wait, report. The engine of
:class:`~airflow_provider_ahgora.operators.push.PontoWebPushBatchOperator`, which keeps only the Airflow
parts (arguments, templating, XCom, deferral, the decision to fail).

1. **Plan.** The input is read once, record by record: each record of a documented route is validated
   by its model (the registry names it), serialized once exactly as it will be sent, and spooled to a
   local temporary file; batches are cut at ``batch_size`` records and ``max_batch_bytes`` bytes of
   JSON body. Refused records go to the report. Nothing is sent before the whole input was read.
2. **Send.** Batch after batch, through the delivery journal (:mod:`airflow_provider_ahgora.journal`):
   a batch an earlier try got accepted is not sent again; on a route where a second copy is not
   harmless (the registry's ``idempotent``, or a retry mode other than ``"all"``), a batch is marked
   in flight before its request, and a batch whose answer was lost, or whose request was cut by a
   killed worker, is reported as *may have been accepted* and never sent again.
3. **Wait** on the process monitor for every accepted batch: the polling policy and the process
   watch (:mod:`~airflow_provider_ahgora.watches`), as the trigger does when the operator defers.
4. **Report** every record that failed, matched back by identifier within its batch.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

from airflow_provider_ahgora.exceptions import (
    AhgoraAPIError,
    AhgoraAuthError,
    AhgoraConfigError,
    AhgoraError,
    AhgoraPermissionError,
    AhgoraTransientError,
)
from airflow_provider_ahgora.hooks._base import wire_json
from airflow_provider_ahgora.journal import CONFIRMED, INFLIGHT, UNKNOWN, DeliveryJournal, JournalWriteError
from airflow_provider_ahgora.operators._records import FailureReport, iter_records
from airflow_provider_ahgora.registry import CUSTOM_ID_KEYS, push_route
from airflow_provider_ahgora.watches import LOST, PENDING, UNRECOGNIZED, process_label

if TYPE_CHECKING:
    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook

__all__ = ["BatchPush", "Plan", "monitor_keys"]

#: Batch statuses after sending: accepted and followed (``sent``), or why not.
SENT, NOT_SENT, FAILED, REFUSED, UNKNOWN_OUTCOME = "sent", "not sent", "failed", "refused", "unknown"
#: Monitor outcomes that leave the records' fate unknown.
UNSETTLED = (LOST, PENDING, UNRECOGNIZED)
#: Monitor outcomes of a finished batch (the vocabulary's, once finished).
FINISHED = ("done", "warning", "error")


def _n(value: int) -> str:
    """``12000`` -> ``"12 000"`` (log lines)."""
    return f"{value:,}".replace(",", " ")


def _reason_of_errors(errors: Sequence[Any]) -> str:
    return "; ".join(f"{e.field}: {e.message}" if e.field else str(e.message) for e in errors)


def _identifier(wire: Any, keys: Sequence[str]) -> str | None:
    """The identifier the monitor names a record by: its first non-empty identifying field."""
    if not isinstance(wire, Mapping):
        return None
    for key in keys:
        value = wire.get(key)
        if value not in (None, ""):
            return str(value)
    return None


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


class Plan:
    """The outcome of one pass over the input: batches, counts, and the digest of what is sent."""

    def __init__(self) -> None:
        self.records = 0
        self.invalid = 0
        self.batches: list[_Batch] = []
        self.digest = hashlib.sha256()

    @property
    def valid(self) -> int:
        return sum(b.count for b in self.batches)


def monitor_keys(batches: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One monitor query per subunique, or per unique for batches that got no subunique; each names its
    ``batches``."""
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


class BatchPush:
    """One try of a batch push (see the module documentation).

    :param resource: a route name of the registry, or a custom path starting with ``/``.
    :param records: the rendered ``records`` argument (a list, a ``{"path"}`` mapping, a path or URI).
    :param retry_mode: the hook's retry mode for the pushes (``all``, ``safe``, ``none``); ``None``: the
        registry's default for the route (``safe`` where a second copy is not harmless).
    :param log: where to log.
    :param what: how messages name the input (``"<task>: records"``).
    """

    def __init__(
        self,
        *,
        resource: str,
        records: Any,
        batch_size: int,
        max_batch_bytes: int,
        retry_mode: str | None,
        log: Any,
        what: str,
        encoding: str | None = "auto",
        delimiter: str | None = None,
    ) -> None:
        self.resource = resource
        self.route = push_route(resource)
        self.records = records
        self.batch_size = batch_size
        self.max_batch_bytes = max_batch_bytes
        idempotent = self.route.idempotent if self.route is not None else True
        self.retry_mode = retry_mode or ("all" if idempotent else "safe")
        #: A second copy of a batch is harmless (what a killed or unanswered request may leave).
        self.idempotent = self.retry_mode == "all"
        self.log = log
        self.what = what
        self.encoding = encoding
        self.delimiter = delimiter
        self.stop_reason: str | None = None
        #: batches whose monitor outcome an earlier try learnt (their report entries are carried over)
        self.carried: set[int] = set()

    @property
    def name(self) -> str:
        return self.resource.strip("/")

    # -- planning ---------------------------------------------------------------------------------

    def read(self) -> Any:
        """The input's records, one by one (streamed)."""
        return iter_records(self.records, what=self.what, encoding=self.encoding, delimiter=self.delimiter)

    def validator(self) -> tuple[Callable[[Any], tuple[bytes | None, str | None]], tuple[str, ...]]:
        """``check(record) -> (data, reason)``: the bytes of the record exactly as it will be sent, or why
        it is refused (invalid, not JSON, or over the byte limit on its own); and the identifying keys.

        A record of a documented route is validated by its model and serialized by the model's own
        serializer (in pydantic-core, straight to JSON bytes: the same bytes as ``to_wire()`` through
        ``json.dumps``, at a fraction of the cost); a record of a custom path is serialized as given."""
        from pydantic import ValidationError

        from airflow_provider_ahgora.models._base import record_errors

        model = self.route.model if self.route is not None else None
        id_keys = self.route.id_keys if self.route is not None else CUSTOM_ID_KEYS
        limit = self.max_batch_bytes
        # model_validate and the model's serializer, without their Python wrappers (called per record)
        validate = model.__pydantic_validator__.validate_python if model is not None else None
        serialize = model.__pydantic_serializer__.to_json if model is not None else None

        def encode(record: Any) -> bytes | str:
            """The record's bytes, or why it is refused."""
            if model is None or validate is None or serialize is None:
                return wire_json(record.to_wire() if hasattr(record, "to_wire") else record)
            if type(record) is not dict and not isinstance(record, Mapping):
                return f"must be a JSON object, got {type(record).__name__}"
            try:
                valid = validate(record)
            except ValidationError as exc:
                return _reason_of_errors(record_errors(exc, model))
            return serialize(valid, by_alias=True, exclude_unset=True)

        def check(record: Any) -> tuple[bytes | None, str | None]:
            try:
                data = encode(record)
            except (TypeError, ValueError) as exc:
                return None, f"cannot be serialized to JSON: {exc}"
            if isinstance(data, str):
                return None, data
            if len(data) + 2 > limit:
                return None, (
                    f"the record alone is {len(data) + 2} bytes of JSON body; PontoWeb takes at most "
                    f"{limit} bytes per request, so it cannot be sent"
                )
            return data, None

        return check, id_keys

    def plan(self, spool: BinaryIO | None, report: FailureReport | None) -> Plan:
        """One pass over the input: validate, serialize, cut batches. With ``spool``, write each valid
        record's bytes (one per line); with ``report``, report the refused ones."""
        check, _ = self.validator()
        plan = Plan()
        limit_bytes = self.max_batch_bytes
        batch_size = self.batch_size
        lines: list[bytes] = []  # the current batch's records, digested and spooled in one call each

        def close_batch() -> None:
            if not lines:
                return
            data = b"".join(lines)
            plan.digest.update(data)
            if spool is not None:
                spool.write(data)
            lines.clear()

        current: _Batch | None = None
        offset = 0
        for index, record in enumerate(self.read()):
            plan.records += 1
            data, reason = check(record)
            if data is None:
                plan.invalid += 1
                if report is not None:
                    report.add(record, f"not sent: {reason}", None, index=index)
                continue
            size = len(data)
            if current is None or current.count >= batch_size or current.bytes + size + 1 > limit_bytes:
                close_batch()
                current = _Batch(len(plan.batches) + 1)
                current.first = index
                current.start = offset
                plan.batches.append(current)
                plan.digest.update(b"\x00batch\x00")
            current.bytes += size + (1 if current.count else 0)
            current.count += 1
            current.last = index
            lines.append(data + b"\n")
            offset += size + 1
            current.end = offset
        close_batch()
        return plan

    def input_id(self, plan: Plan) -> str:
        """What names this input in the journal: the route and the digest of what is sent."""
        return f"{self.name}:{plan.digest.hexdigest()[:24]}"

    # -- sending ----------------------------------------------------------------------------------

    def send(
        self,
        hook: PontoWebHook,
        plan: Plan,
        spool: BinaryIO,
        report: FailureReport,
        journal: DeliveryJournal,
        *,
        need_ids: bool,
    ) -> dict[str, Any]:
        """Send every batch the journal does not know as accepted; returns the summary so far.

        :param need_ids: the accepted batches will be followed in the monitor (a ticket without a
            ``unique`` or ``subunique`` then leaves their outcome unknown).
        """
        if journal.had_entry and not (journal.confirmed or journal.unsettled()):
            self.log.info("An earlier try pushed other records (the input changed): sending every batch.")
        total_batches = len(plan.batches)
        valid = _n(plan.valid)
        sent_records = 0
        batches: list[dict[str, Any]] = []
        stop: str | None = None
        for batch in plan.batches:
            info: dict[str, Any] = {
                "batch": batch.number,
                "unique": None,
                "subunique": None,
                "records": batch.count,
            }
            batches.append(info)
            known = journal.status(batch.number)
            if known == CONFIRMED:
                ticket = journal.info.get(batch.number, {})
                outcome = ticket.get("outcome")
                info.update(
                    unique=ticket.get("unique"), subunique=ticket.get("subunique"), status=outcome or SENT
                )
                sent_records += batch.count
                if outcome:
                    # its outcome is known too: not polled again (the monitor forgets a process 15
                    # minutes after it finished); its failed records come from the earlier report
                    self.carried.add(batch.number)
                self.log.info(
                    "batch %d/%d already accepted by an earlier try (unique %s, subunique %s%s): not sent "
                    "again.",
                    batch.number,
                    total_batches,
                    info["unique"],
                    info["subunique"],
                    f", finished {outcome}" if outcome else "",
                )
                continue
            if known == INFLIGHT and not self.idempotent:
                journal.mark_unknown(
                    batch.number,
                    "may have been accepted by PontoWeb (an earlier try stopped during its request, e.g. "
                    "the worker was killed); not sent again to avoid duplicates: check in PontoWeb before "
                    "sending these records again",
                )
                known = UNKNOWN
            if known == UNKNOWN:
                # an earlier try lost PontoWeb's answer to this batch: sending it again could duplicate it
                info["status"] = UNKNOWN_OUTCOME
                self._report_lines(
                    report, self._batch_lines(spool, batch), batch, journal.unknown[batch.number]
                )
                self.log.warning(
                    "batch %d/%d: an earlier try lost PontoWeb's answer to it; not sent again.",
                    batch.number,
                    total_batches,
                )
                continue
            lines = self._batch_lines(spool, batch)
            if stop is not None:
                info["status"] = NOT_SENT
                self._report_lines(report, lines, batch, f"not sent: {stop}")
                continue
            if not self.idempotent:
                try:
                    journal.begin([batch.number])
                except JournalWriteError as exc:
                    stop = (
                        f"the delivery journal could not be written ({exc}), so no batch that must not be "
                        "sent twice is sent"
                    )
                    self.stop_reason = stop
                    info["status"] = NOT_SENT
                    self._report_lines(report, lines, batch, f"not sent: {stop}")
                    continue
            body = b"[" + b",".join(lines) + b"]"
            try:
                ticket_model = hook.push_serialized(self.resource, body, retry=self.retry_mode)  # type: ignore[arg-type]
            except (AhgoraAuthError, AhgoraPermissionError) as exc:
                journal.forget(batch.number)
                stop = str(exc)
                self.stop_reason = f"PontoWeb refused the credentials ({exc})"
                info["status"] = NOT_SENT
                self._report_lines(report, lines, batch, f"not sent: {exc}")
                self.log.error(
                    "batch %d/%d refused (%s): no further batch is sent.", batch.number, total_batches, exc
                )
                continue
            except AhgoraTransientError as exc:
                if getattr(exc, "may_have_been_processed", True) and not self.idempotent:
                    reason = (
                        f"may have been accepted by PontoWeb (the answer was lost: {exc}); not sent again to "
                        "avoid duplicates: check in PontoWeb before sending these records again"
                    )
                    info["status"] = UNKNOWN_OUTCOME
                    journal.mark_unknown(batch.number, reason)
                else:
                    reason = f"not sent: {exc}"
                    info["status"] = FAILED
                    journal.forget(batch.number)
                self._report_lines(report, lines, batch, reason)
                self.log.error("batch %d/%d failed: %s", batch.number, total_batches, exc)
                continue
            except (AhgoraAPIError, AhgoraError) as exc:
                journal.forget(batch.number)
                info["status"] = REFUSED
                self._report_lines(report, lines, batch, f"batch refused by PontoWeb: {exc}")
                self.log.error("batch %d/%d refused by PontoWeb: %s", batch.number, total_batches, exc)
                continue
            info.update(unique=ticket_model.unique, subunique=ticket_model.subunique, status=SENT)
            sent_records += batch.count
            if need_ids and not (ticket_model.unique or ticket_model.subunique):
                reason = (
                    "outcome unknown: PontoWeb accepted the batch but answered no unique or subunique to "
                    "follow it in the process monitor"
                )
                info["status"] = UNKNOWN_OUTCOME
                journal.mark_unknown(batch.number, reason)
                self._report_lines(report, lines, batch, reason)
            else:
                journal.confirm(batch.number, unique=ticket_model.unique, subunique=ticket_model.subunique)
            self.log.info("batch %d/%d, %s/%s records", batch.number, total_batches, _n(sent_records), valid)
        journal.flush(force=True)
        return {
            "resource": str(self.resource),
            "records": plan.records,
            "sent": sent_records,
            "batches": batches,
            "failed": report.count,
            "unconfirmed": sum(b["records"] for b in batches if b["status"] == UNKNOWN_OUTCOME),
            "report_path": report.path,
            "_stopped": self.stop_reason,
            "_input": self.input_id(plan),
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

    # -- waiting ----------------------------------------------------------------------------------

    def wait(
        self,
        pending: Sequence[Mapping[str, Any]],
        hook_factory: Callable[[], PontoWebHook],
        *,
        poll_interval: float,
        max_poll_interval: float,
        timeout: float | None,
        max_workers: int,
    ) -> dict[str, dict[str, Any]]:
        """Poll the monitor for every batch in ``pending`` until each is finished or ``timeout``;
        returns the outcome per monitor query (keyed by
        :func:`~airflow_provider_ahgora.watches.process_label`).

        A 401/403 (or a wrong endpoint) from the monitor ends the wait (:attr:`stop_reason`): the
        batches not finished are ``pending``, and the operator reports them and fails."""
        from airflow_provider_ahgora.polling import Pacer, wait_blocking
        from airflow_provider_ahgora.watches import ProcessWatch

        watch = ProcessWatch(monitor_keys(pending), self.log)
        local = threading.local()
        hooks: list[PontoWebHook] = []
        lock = threading.Lock()

        def hook_for_thread() -> PontoWebHook:
            hook = getattr(local, "hook", None)
            if hook is None:
                hook = hook_factory()
                local.hook = hook
                with lock:
                    hooks.append(hook)
            return hook

        pacer = Pacer.for_timeout(poll_interval, max_poll_interval, timeout)
        try:
            wait_blocking(watch.poll_blocking(hook_for_thread, max_workers), pacer)
        except AhgoraError as exc:
            self.stop_reason = f"the process monitor refused the credentials ({exc})"
        finally:
            for hook in hooks:
                hook.close()
        outcomes: dict[str, dict[str, Any]] = {}
        for item in watch.describe():
            if item["status"] == PENDING:
                item["message"] = self.stop_reason or (
                    item.get("message") or f"not finished within the timeout of {timeout} s"
                )
            outcomes[process_label(item)] = item
        return outcomes

    # -- outcome ----------------------------------------------------------------------------------

    def carry(self, report: FailureReport, previous: Any) -> int:
        """Copy into this try's ``report`` the entries of the earlier report (``previous``: its entries)
        that belong to the batches whose outcome an earlier try learnt; returns how many."""
        carried = 0
        for entry in previous:
            if entry.get("batch") in self.carried:
                extra = {k: v for k, v in entry.items() if k not in ("record", "reason", "batch")}
                report.add(entry.get("record"), str(entry.get("reason")), entry.get("batch"), **extra)
                carried += 1
        return carried

    @staticmethod
    def remember_outcomes(journal: DeliveryJournal, batches: Sequence[Mapping[str, Any]]) -> None:
        """Journal the monitor's outcome of every finished batch (once its report is committed): a
        retry does not poll them again, and takes their failed records from the report."""
        for batch in batches:
            if batch.get("status") in FINISHED and journal.status(batch["batch"]) == CONFIRMED:
                journal.confirm(
                    batch["batch"],
                    unique=batch.get("unique"),
                    subunique=batch.get("subunique"),
                    outcome=batch["status"],
                )
        journal.flush(force=True)

    def settle(
        self,
        summary: Mapping[str, Any],
        report: FailureReport,
        outcomes: Mapping[str, Mapping[str, Any]],
    ) -> tuple[dict[str, Any], list[str], str | None]:
        """Apply the monitor's outcomes to the summary and the report (committed here); returns the
        final summary, the warnings, and why the push stopped early (``None`` if it did not)."""
        warnings: list[str] = []
        summary = dict(summary)
        stopped = summary.pop("_stopped", None) or self.stop_reason
        ranges = summary.pop("_ranges", {})
        input_entry = summary.pop("_input", None)
        batches = [dict(b) for b in summary["batches"]]
        by_number = {b["batch"]: b for b in batches}
        groups: list[tuple[list[int], list[tuple[str, str]]]] = []
        whole_batch: dict[int, tuple[str, bool]] = {}
        unconfirmed = summary.get("unconfirmed", 0)
        unknown_entries = unconfirmed  # the send reported those records one by one
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
                if status in UNSETTLED:
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
        return summary, warnings, stopped

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
        check, id_keys = self.validator()
        unknown_written = 0
        extra = 0
        same_input = False
        if input_entry is not None:
            try:
                same_input = self.input_id(self.plan(None, None)) == input_entry
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
            for index, record in enumerate(self.read()):
                while position < len(spans) and spans[position][2] < index:
                    position += 1
                if position >= len(spans):
                    break
                number, first, _last = spans[position]
                if index < first:
                    continue
                data, _reason = check(record)
                if data is None:
                    continue  # refused before sending: already in the report
                wire = json.loads(data)
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

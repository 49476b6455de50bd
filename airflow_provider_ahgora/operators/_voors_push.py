"""Voors pushes at scale: :class:`VoorsPushOperator` (upserts, creates, edits) and
:class:`VoorsDeleteOperator`. Import them from :mod:`airflow_provider_ahgora.operators.push`.

How a try runs (both operators):

1. **Pass 1, before any request.** Every input record is read (streamed from a list, an XCom value
   or a ``.json``/``.jsonl``/``.csv`` file) and validated by its resource's model. An invalid record
   goes to the failure report with a reason that names the field (``cpf: CPF '123...' has invalid
   check digits``); the valid ones are written, in wire form, to a local temporary spool file (one
   JSON line each), so memory does not grow with the input. Only small per-record integers (spool
   offsets, waves, statuses, 64-bit key digests) stay in memory.
2. **Waves.** Records are sent in *waves*: a user whose ``appraisedBy`` names a leader that is also in
   this input goes in a later wave than that leader's record, and is sent only if the leader's
   record succeeded; records naming the same identifier (CPF, ``remoteId``, Voors id) go in input
   order. Everything else is wave 0. A cycle of leaders is reported, not sent.
3. **Pass 2.** Each wave is sent from the spool by a thread pool of ``max_workers`` threads, with at
   most ``2 * max_workers`` requests queued (one :class:`~airflow_provider_ahgora.hooks.voors.VoorsHook`,
   hence one HTTP session, per worker thread; the connection is looked up once, on the task's
   thread). The hook retries transient errors per request (5xx, 429 honouring ``Retry-After``,
   network), except a create that Voors may already have acted on.
4. **Report.** The JSON Lines failure report is always written (empty when nothing failed), in
   input order, atomically; the summary ``{"resource", "records", "succeeded", "failed",
   "report_path"}`` is returned, and pushed to XCom even when the task then fails.

See ``docs/operators_voors.rst`` for the order in which Voors resources must be pushed.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
import time
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, BaseOperator

from airflow_provider_ahgora.exceptions import (
    AhgoraAPIError,
    AhgoraAuthError,
    AhgoraBadRequestError,
    AhgoraConfigError,
    AhgoraError,
    AhgoraNotFoundError,
    AhgoraPermissionError,
    AhgoraTransientError,
    AhgoraValidationError,
)
from airflow_provider_ahgora.operators._records import (
    FailureReport,
    PlainStringTemplatesMixin,
    default_report_path,
    describe_source,
    iter_records,
)
from airflow_provider_ahgora.operators.reckon import _fail

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_ahgora.hooks._base import WireSettings
    from airflow_provider_ahgora.hooks.voors import VoorsHook
    from airflow_provider_ahgora.models.voors import VoorsResource
    from airflow_provider_ahgora.operators._state import RetryState

__all__ = [
    "DEFAULT_ARRAY_SIZE",
    "DEFAULT_MAX_WORKERS",
    "PROGRESS_SECONDS",
    "STATE_KEY",
    "VoorsDeleteOperator",
    "VoorsPushOperator",
]

DEFAULT_MAX_WORKERS = 8
#: Records per request for resources whose body (or DELETE body) takes an array.
DEFAULT_ARRAY_SIZE = 100
#: A progress line is logged at least this often (and at every 10% of the records).
PROGRESS_SECONDS = 10.0
#: Key of the push operator's entry in ``task_state_store`` (Airflow 3.3+): the records an earlier try
#: *created* (resources identified by Voors' id, and posts), so that a retry does not create them twice.
STATE_KEY = "ahgora_voors_push"
#: Keyword arguments of :class:`~airflow_provider_ahgora.hooks.voors.VoorsHook` that ``hook_params``
#: may set.
HOOK_PARAMS = frozenset({"retry_limit", "retry_delay", "retry_max_delay", "timeout"})

# What each Voors resource accepts, mirroring ``models.voors.RESOURCES`` so that constructing an
# operator (at every Dag parse) does not import pydantic and the models; a unit test keeps the two equal.
# name: (aliases besides the name and "/name", abilities: p push, d delete by remoteId in the body,
# a the DELETE body takes an array, i delete by Voors id in the path)
_CATALOGUE: dict[str, tuple[str, str]] = {
    "branches": ("branch", "p"),
    "branchGroups": ("branchGroup", "p"),
    "departments": ("department", "pi"),
    "jobRoles": ("jobRole", "pi"),
    "jobFunctions": ("jobFunction", "pi"),
    "horaries": ("horary", "pi"),
    "users": ("user", "p"),
    "experienceContracts": ("experienceContract", "pd"),
    "calculationProcesses": ("calculationProcess", "p"),
    "causes": ("cause", "pd"),
    "userCalculations": ("userCalculation", "pda"),
    "timeCards": ("timeCard", "pd"),
    "annualIncomes": ("annualIncome", "pd"),
    "compensatoryTimes": ("compensatoryTime", "pd"),
    "readjustReasons": ("readjustReason", "pda"),
    "userDepartmentHistories": ("userDepartmentHistory", "pd"),
    "userJobRoles": ("userJobRole", "p"),
    "userJobFunctions": ("userJobFunction", "pd"),
    "userSalaries": ("userSalary", "pd"),
    "userHoraries": ("userHorary", "pd"),
    "userSituations": ("userSituation", "pd"),
    "userStabilities": ("userStability", "pd"),
    "userExams": ("userExam", "pd"),
    "userProgrammingVacations": ("userProgrammingVacation", "pd"),
    "userVacationAllowances": ("userVacationAllowance", "pd"),
    "userVacations": ("userVacation", "pd"),
    "userWallets": ("", "p"),
    "userWalletTransactions": ("", "p"),
    "posts": ("", "p"),
    "goals": ("", ""),
    "goalsUpdate": ("goals/updateGoals goalsAchieved", "p"),
}

_USERS_HINT = (
    " Users are deactivated, not deleted: push {'cpf': ..., 'active': False} with VoorsPushOperator."
)

# statuses of a record (one byte per input record)
_PENDING, _OK, _FAILED, _TRANSIENT = 0, 1, 2, 3
# waves
_UNKNOWN, _VISITING, _NOT_SENT_WAVE = -3, -2, -1


class _NotSent:
    """Outcome of a record a worker did not send because the run was stopped."""

    def __repr__(self) -> str:
        return "NOT_SENT"


_NOT_SENT = _NotSent()


class _Invalid(Exception):
    """A record refused in pass 1; ``reason`` names the field."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def _templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _catalogue_name(name: Any) -> str | None:
    """The registry key of a resource given by key, path or envelope key (without the models)."""
    if not isinstance(name, str):
        return None
    key = name.strip().strip("/")
    if not key:
        return None
    for entry, (aliases, _abilities) in _CATALOGUE.items():
        if key == entry or key in aliases.split():
            return entry
    return None


def _check_resource_name(task_id: str, resource: Any, ability: str, doing: str) -> None:
    """At construction: a resource that is not templated must exist and support what is asked."""
    if _templated(resource):
        return
    name = _catalogue_name(resource)
    if name is None:
        raise AhgoraConfigError(
            f"{task_id}: unknown Voors resource {resource!r}. Use one of: {', '.join(sorted(_CATALOGUE))} "
            "(the registry key, its path such as '/departments', or its envelope key such as 'department')."
        )
    abilities = _CATALOGUE[name][1]
    if not any(a in abilities for a in ability):
        hint = _USERS_HINT if name == "users" and doing == "delete" else ""
        raise AhgoraConfigError(f"{task_id}: Voors resource '{name}' cannot {doing} records.{hint}")


def _check_common(
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


def _n(value: int) -> str:
    """``10 000``: thousands separated by a space, for log lines."""
    return f"{value:,}".replace(",", " ")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _digest(key: str) -> int:
    """A 64-bit digest of an identifier: what the ordering keeps in memory, whatever the key's size."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


def _dumps_line(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode("utf-8")


def _errors_reason(exc: AhgoraValidationError) -> str:
    """``cpf: CPF '123' has invalid check digits; email: must be an e-mail address, got 'x'``."""
    parts = [f"{e.field}: {e.message}" if e.field else e.message for e in exc.errors]
    return "; ".join(parts) or str(exc)


def _valid_voors_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, str) and value.strip().isdigit()


def _ranges(indexes: Sequence[int]) -> list[list[int]]:
    """``[0, 1, 2, 5]`` -> ``[[0, 2], [5, 5]]`` (sorted input)."""
    out: list[list[int]] = []
    for i in indexes:
        if out and out[-1][1] == i - 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


class _Spool:
    """JSON lines in a local temporary file, read back by offset (bounded memory)."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile("w+b")  # noqa: SIM115 - closed by close()
        self._end = 0

    def append(self, value: Any) -> int:
        offset = self._end
        line = _dumps_line(value)
        self.file.seek(offset)
        self.file.write(line)
        self._end += len(line)
        return offset

    def read(self, offset: int) -> Any:
        self.file.seek(offset)
        return json.loads(self.file.readline())

    def close(self) -> None:
        self.file.close()


# --------------------------------------------------------------------------------------------------
# One run: pass 1, waves, pass 2, report
# --------------------------------------------------------------------------------------------------


class _Run:
    """The state of one try of a Voors push or delete; everything but HTTP runs on the task's thread."""

    def __init__(self, op: _VoorsBatchOperator, res: VoorsResource, settings: WireSettings, retry_limit: int):
        self.op = op
        self.res = res
        self.settings = settings
        self.retry_limit = retry_limit
        self.log = op.log
        self.what = f"Voors {res.name}"
        self.n = 0
        self.spool = _Spool()
        self.failures = _Spool()
        self.offsets = array("q")
        self.status = bytearray()
        self.after = array("q")
        self.needs = array("q")
        self.creates = bytearray()
        self.fail_index = array("q")
        self.fail_offset = array("q")
        self.invalid = 0
        self.succeeded = 0
        self.failed = 0
        self.transient = 0
        self.absent = 0
        self.reused = 0
        self.had_state = False
        self.requests = 0
        self.streak = 0
        self.stop_reason: str | None = None
        self.stop_fatal = False
        self.stop = threading.Event()
        self.fingerprint = hashlib.sha256(res.name.encode("utf-8"))
        self._local = threading.local()
        self._hooks: list[VoorsHook] = []
        self._hooks_lock = threading.Lock()
        self._last_log = time.monotonic()
        self._next_pct = 10
        self._last_done = -1

    # -- hooks ----------------------------------------------------------------------------------

    def hook(self) -> VoorsHook:
        """This worker thread's hook (a ``requests.Session`` is not shared between threads)."""
        hook = getattr(self._local, "hook", None)
        if hook is None:
            hook = self.op.get_hook()
            # resolved once on the task's thread: no connection lookup from worker threads
            hook.__dict__["settings"] = self.settings
            self._local.hook = hook
            with self._hooks_lock:
                self._hooks.append(hook)
        return hook

    def close(self) -> None:
        with self._hooks_lock:
            hooks, self._hooks = self._hooks, []
        for hook in hooks:
            try:
                hook.close()
            except Exception as exc:  # closing must never hide the real outcome
                self.log.debug("Could not close a Voors hook: %s", exc)
        self.spool.close()
        self.failures.close()

    # -- pass 1 ---------------------------------------------------------------------------------

    def prepare(self, source: Any, what: str) -> None:
        """Validate every record and spool the valid ones; then resolve the ordering."""
        last_seen: dict[int, int] = {}
        first_valid: dict[int, int] = {}
        first_invalid: dict[int, int] = {}
        leader_of: dict[int, int] = {}
        shown = 0
        for index, raw in enumerate(iter_records(source, what=what)):
            self.n += 1
            self.status.append(_PENDING)
            self.offsets.append(-1)
            self.after.append(-1)
            self.needs.append(-1)
            self.creates.append(0)
            try:
                payload, key, leader, create = self.op._check(self.res, raw)
            except _Invalid as exc:
                self.invalid += 1
                self._failure(index, raw, exc.reason, None, _FAILED)
                if shown < 10:
                    self.log.warning(
                        "%s: record %d is invalid and will not be sent: %s", self.what, index, exc.reason
                    )
                    shown += 1
                raw_key = self.op._raw_key(self.res, raw)
                if raw_key is not None:
                    first_invalid.setdefault(_digest(raw_key), index)
                continue
            self.offsets[index] = self.spool.append(payload)
            if create:
                self.creates[index] = 1
                self.fingerprint.update(f"{index}:".encode())
                self.fingerprint.update(_dumps_line(payload))
            if key is not None:
                digest = _digest(key)
                previous = last_seen.get(digest)
                if previous is not None:
                    self.after[index] = previous
                last_seen[digest] = index
                first_valid.setdefault(digest, index)
            if leader is not None:
                leader_of[index] = _digest(leader)
        if self.invalid > shown:
            self.log.warning(
                "%s: %d more invalid record(s), see the report.", self.what, self.invalid - shown
            )
        for index, digest in leader_of.items():
            target = first_valid.get(digest)
            if target is None:
                target = first_invalid.get(digest)
            if target is not None and target != index:
                self.needs[index] = target

    # -- waves ----------------------------------------------------------------------------------

    def waves(self) -> list[array[int]]:
        """Indexes to send, grouped by wave, each wave in input order; cycles are reported here."""
        n = self.n
        wave = array("q", [_UNKNOWN]) * n if n else array("q")
        for i in range(n):
            if self.offsets[i] < 0 or self.status[i] != _PENDING:
                wave[i] = _NOT_SENT_WAVE
        for start in range(n):
            if wave[start] != _UNKNOWN:
                continue
            stack: list[tuple[int, bool]] = [(start, False)]
            while stack:
                i, expanded = stack.pop()
                if not expanded:
                    if wave[i] != _UNKNOWN:
                        continue
                    wave[i] = _VISITING
                    stack.append((i, True))
                    for dep in (self.after[i], self.needs[i]):
                        if dep < 0:
                            continue
                        if wave[dep] == _UNKNOWN:
                            stack.append((dep, False))
                        elif wave[dep] == _VISITING:
                            self._cycle(dep, [j for j, done in stack if done], wave)
                    continue
                if wave[i] != _VISITING:  # a member of a cycle, already reported
                    continue
                level = 0
                for dep in (self.after[i], self.needs[i]):
                    if dep >= 0 and wave[dep] >= 0:
                        level = max(level, wave[dep] + 1)
                wave[i] = level
        top = max((w for w in wave if w >= 0), default=-1)
        buckets = [array("q") for _ in range(top + 1)]
        for i in range(n):
            if wave[i] >= 0:
                buckets[wave[i]].append(i)
        return buckets

    def _cycle(self, head: int, path: list[int], wave: array[int]) -> None:
        """``path`` (the records being visited, in order) ends in a cycle that starts at ``head``."""
        members = path[path.index(head) :] if head in path else [head]
        members = [m for m in members if wave[m] == _VISITING]
        if not members:
            return
        described = []
        for m in sorted(members):
            record = self.spool.read(self.offsets[m])
            described.append(f"record {m} (cpf {record.get('cpf')!r})")
        reason = (
            "not sent: the leaders (appraisedBy) of these records form a cycle, so none of them can be "
            f"sent first: {', '.join(described)}. Send one of them without appraisedBy first."
        )
        for m in members:
            wave[m] = _NOT_SENT_WAVE
            self._failure(m, self.spool.read(self.offsets[m]), reason, None, _FAILED)

    # -- pass 2 ---------------------------------------------------------------------------------

    def send(self, max_workers: int, array_size: int) -> None:
        buckets = self.waves()
        to_send = sum(len(b) for b in buckets)
        if self.reused:
            self.log.info(
                "%s: %d record(s) were created by an earlier try of this task and are not created again.",
                self.what,
                self.reused,
            )
        self.log.info(
            "%s: %s record(s) read from %s, %d invalid; sending %s in %d wave(s) with %d worker(s).",
            self.what,
            _n(self.n),
            describe_source(self.op._source_value()),
            self.invalid,
            _n(to_send),
            len(buckets),
            max_workers,
        )
        if not to_send:
            return
        batched = self.op._batched(self.res)
        window = 2 * max_workers
        breaker = max(20, window)
        inflight: dict[Future[list[Any]], tuple[list[int], list[Any], int | None]] = {}
        with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="voors-push") as pool:
            try:
                for number, bucket in enumerate(buckets):
                    if self.stop.is_set():
                        break
                    if len(buckets) > 1:
                        self.log.info(
                            "%s: wave %d/%d, %s record(s).",
                            self.what,
                            number + 1,
                            len(buckets),
                            _n(len(bucket)),
                        )
                    for unit in self._units(bucket, array_size if batched else 1):
                        if self.stop.is_set():
                            break
                        while len(inflight) >= window:
                            self._drain(inflight, breaker)
                        payloads = [self.spool.read(self.offsets[i]) for i in unit]
                        self.requests += 1
                        batch = self.requests if batched else None
                        inflight[pool.submit(self._work, payloads)] = (unit, payloads, batch)
                    while inflight:  # a wave ends before the next starts: leaders first
                        self._drain(inflight, breaker)
            except BaseException:
                # killed or a bug: what is queued is not sent; what is running ends with its request
                self.stop.set()
                for future in inflight:
                    future.cancel()
                raise

    def _units(self, bucket: array[int], array_size: int) -> Iterator[list[int]]:
        """Requests of one wave: one record each, or up to ``array_size`` for array resources."""
        unit: list[int] = []
        for i in bucket:
            if self.status[i] != _PENDING:
                continue
            leader = self.needs[i]
            if leader >= 0 and self.status[leader] != _OK:
                self._blocked(i, leader)
                continue
            unit.append(i)
            if len(unit) >= array_size:
                yield unit
                unit = []
        if unit:
            yield unit

    def _blocked(self, i: int, leader: int) -> None:
        record = self.spool.read(self.offsets[i])
        code = _TRANSIENT if self.status[leader] == _TRANSIENT else _FAILED
        why = "was invalid" if self.offsets[leader] < 0 else "failed"
        if self.status[leader] == _PENDING:
            why = "was not sent"
        reason = (
            f"not sent: its leader (appraisedBy {record.get('appraisedBy')!r}, record {leader} of this "
            f"input) {why}, and Voors refuses a user whose leader does not exist yet"
        )
        self._failure(i, record, reason, None, code)

    def _work(self, payloads: list[Any]) -> list[Any]:
        """In a worker thread: send one request (or, after a refused batch, its records one by one)."""
        if self.stop.is_set():
            return [_NOT_SENT] * len(payloads)
        try:
            return self.op._send(self.hook(), self.res, payloads, self.stop)
        except Exception as exc:  # a bug or an unexpected library error: reported per record
            return [exc] * len(payloads)

    def _drain(
        self, inflight: dict[Future[list[Any]], tuple[list[int], list[Any], int | None]], breaker: int
    ) -> None:
        """Settle the requests that completed (waiting for at least one, or for the progress tick)."""
        done, _ = wait(list(inflight), timeout=PROGRESS_SECONDS, return_when=FIRST_COMPLETED)
        for future in done:
            unit, payloads, batch = inflight.pop(future)
            try:
                outcomes = future.result()
            except Exception as exc:
                outcomes = [exc] * len(unit)
            for i, payload, outcome in zip(unit, payloads, outcomes, strict=True):
                self._settle(i, payload, outcome, batch, breaker)
        self.progress()

    def _settle(self, i: int, payload: Any, outcome: Any, batch: int | None, breaker: int) -> None:
        if outcome is _NOT_SENT:
            return  # reported as "not sent" at the end
        if outcome is None:
            self.status[i] = _OK
            self.succeeded += 1
            self.streak = 0
            return
        verdict, reason = self.op._classify(outcome, self.res, payload, self.retry_limit, self._scrub)
        if verdict == "absent":
            self.status[i] = _OK
            self.succeeded += 1
            self.absent += 1
            self.streak = 0
            return
        if verdict == "stop":
            self._failure(i, payload, reason, batch, _FAILED)
            if self.stop_reason is None:
                self.stop_reason = reason
                self.stop_fatal = True
                self.stop.set()
                self.log.error("%s: %s. No more requests are sent.", self.what, reason)
            return
        code = _TRANSIENT if verdict == "transient" else _FAILED
        self._failure(i, payload, reason, batch, code)
        if code == _TRANSIENT:
            self.streak += 1
            if self.streak >= breaker and self.stop_reason is None:
                self.stop_reason = (
                    f"{self.streak} requests in a row failed after their retries (last: {reason}): Voors "
                    "looks unavailable, so the remaining records were not sent"
                )
                self.stop.set()
                self.log.error("%s: %s.", self.what, self.stop_reason)
        else:
            self.streak = 0

    def finish_unsent(self) -> None:
        """Records never sent because the run stopped: each named in the report."""
        if self.stop_reason is None:
            return
        code = _FAILED if self.stop_fatal else _TRANSIENT
        reason = f"not sent: {self.stop_reason}"
        for i in range(self.n):
            if self.status[i] == _PENDING and self.offsets[i] >= 0:
                self._failure(i, self.spool.read(self.offsets[i]), reason, None, code)

    def _scrub(self, text: str) -> str:
        for secret in self.settings.secrets:
            if secret and len(secret) >= 3:
                text = text.replace(secret, "***")
        return text

    # -- failures and report --------------------------------------------------------------------

    def _failure(self, i: int, record: Any, reason: str, batch: int | None, code: int) -> None:
        self.status[i] = code
        self.failed += 1
        if code == _TRANSIENT:
            self.transient += 1
        offset = self.failures.append({"record": record, "reason": reason, "batch": batch, "index": i})
        self.fail_index.append(i)
        self.fail_offset.append(offset)

    def write_report(self, report: FailureReport) -> None:
        """Copy the failures into the report in input order."""
        order = sorted(range(len(self.fail_index)), key=self.fail_index.__getitem__)
        for k in order:
            entry = self.failures.read(self.fail_offset[k])
            report.add(entry["record"], entry["reason"], entry["batch"], index=entry["index"])

    def progress(self, force: bool = False) -> None:
        done = self.succeeded + self.failed
        now = time.monotonic()
        pct = 100 * done // self.n if self.n else 100
        if force and done == self._last_done:
            return
        if not force and now - self._last_log < PROGRESS_SECONDS and pct < self._next_pct:
            return
        self._last_log = now
        self._last_done = done
        while self._next_pct <= pct:
            self._next_pct += 10
        self.log.info("%s: %s/%s records, %s failed", self.what, _n(done), _n(self.n), _n(self.failed))

    # -- records created by an earlier try ------------------------------------------------------

    def reuse(self, stored: Mapping[str, Any] | None) -> None:
        """Mark as done the creates an earlier try of this task made for the same input."""
        self.had_state = bool(stored)
        if not stored or stored.get("fingerprint") != self.fingerprint.hexdigest():
            if stored:
                self.log.warning(
                    "%s: the records an earlier try created were recorded for a different input; "
                    "ignoring them (every record is sent).",
                    self.what,
                )
            return
        for first, last in stored.get("created") or ():
            for i in range(int(first), int(last) + 1):
                if 0 <= i < self.n and self.creates[i] and self.status[i] == _PENDING:
                    self.status[i] = _OK
                    self.succeeded += 1
                    self.reused += 1

    def created(self) -> list[list[int]]:
        return _ranges([i for i in range(self.n) if self.creates[i] and self.status[i] == _OK])


# --------------------------------------------------------------------------------------------------
# The operators
# --------------------------------------------------------------------------------------------------


class _VoorsBatchOperator(PlainStringTemplatesMixin, BaseOperator):
    """What the push and delete operators share: the pool, the report, the summary, the verdict."""

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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _check_common(self.task_id, max_workers, max_failures, array_size, hook_params, retry_limit)
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

    def _source_value(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _resolve(self) -> VoorsResource:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check(self, res: VoorsResource, raw: Any) -> tuple[Any, str | None, str | None, bool]:
        """Pass 1 for one record: ``(payload, ordering key, leader key, is a create)`` or ``_Invalid``."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _raw_key(self, res: VoorsResource, raw: Any) -> str | None:
        return None

    def _batched(self, res: VoorsResource) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def _send(
        self, hook: VoorsHook, res: VoorsResource, payloads: list[Any], stop: threading.Event
    ) -> list[Any]:
        """One request; the outcome of each record (None: done, an exception, or not sent)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _classify(
        self,
        exc: BaseException,
        res: VoorsResource,
        payload: Any,
        retry_limit: int,
        scrub: Callable[[str], str],
    ) -> tuple[str, str]:
        """``(verdict, reason)``: verdict ``permanent``, ``transient``, ``stop`` or ``absent``."""
        from airflow_provider_ahgora.hooks._base import short_reason

        if isinstance(exc, AhgoraAuthError):
            return (
                "stop",
                f"Voors refused the API token ({short_reason(exc)}): "
                f"fix the connection '{self.voors_conn_id}'",
            )
        if isinstance(exc, AhgoraPermissionError):
            return "stop", (
                f"the API token lacks permission for {res.path} ({short_reason(exc)}): ask the Voors "
                "administrator to grant it"
            )
        if isinstance(exc, AhgoraTransientError):
            return "transient", f"{short_reason(exc)} (still failing after {retry_limit} retries)"
        if isinstance(exc, AhgoraAPIError):
            return "permanent", f"refused by Voors ({short_reason(exc)})"
        if isinstance(exc, AhgoraValidationError):
            return "permanent", _errors_reason(exc)
        if isinstance(exc, AhgoraError):
            return "permanent", scrub(str(exc))
        return "transient", f"unexpected error: {type(exc).__name__}: {scrub(str(exc))[:300]}"

    # -- execute --------------------------------------------------------------------------------

    def _resource_from_registry(self, need: Callable[[VoorsResource], bool]) -> VoorsResource:
        """The rendered ``resource`` from the registry; fails the task if unknown or unsuitable."""
        from airflow_provider_ahgora.models.voors import get_resource

        name = self.resource.strip() if isinstance(self.resource, str) else self.resource
        try:
            res = get_resource(name)
        except AhgoraConfigError as exc:
            raise _fail(f"{self.task_id}: {exc}", exc) from exc
        if not need(res):
            hint = ""
            if res.name == "users" and self._doing == "delete":
                hint = _USERS_HINT
            raise _fail(f"{self.task_id}: Voors resource '{res.name}' cannot {self._doing} records.{hint}")
        return res

    def _state(self, context: Context, res: VoorsResource) -> RetryState | None:
        return None

    def execute(self, context: Context) -> dict[str, Any]:
        res = self._resolve()
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
            run = _Run(self, res, settings, main.retry_limit)
            try:
                with FailureReport(target) as report:
                    try:
                        run.prepare(self._source_value(), f"{self.task_id}: {self._source_name()}")
                    except (AhgoraConfigError, FileNotFoundError) as exc:
                        raise _fail(f"{self.task_id}: {exc}; nothing was sent.", exc) from exc
                    state = self._state(context, res)
                    if state is not None:
                        run.reuse(state.get())
                    try:
                        run.send(self.max_workers, self.array_size)
                        run.finish_unsent()
                    finally:
                        if state is not None:
                            self._save_state(state, run)
                    run.write_report(report)
                    path = report.commit()
            finally:
                run.close()
        finally:
            main.close()
        return self._finish(context, res, run, path)

    def _source_name(self) -> str:
        return "records"

    def _save_state(self, state: RetryState, run: _Run) -> None:
        return None

    def _too_many(self, failed: int, records: int) -> bool:
        if isinstance(self.max_failures, float):
            return records > 0 and failed / records > self.max_failures
        return failed > self.max_failures

    def _finish(self, context: Context, res: VoorsResource, run: _Run, path: str) -> dict[str, Any]:
        summary = {
            "resource": res.name,
            "records": run.n,
            "succeeded": run.succeeded,
            "failed": run.failed,
            "report_path": path,
        }
        run.progress(force=True)
        extra = f"; {run.absent} already absent (404, counted as deleted)" if run.absent else ""
        self.log.info(
            "%s: %s record(s): %s succeeded, %s failed (%d invalid)%s. Failure report: %s",
            run.what,
            _n(run.n),
            _n(run.succeeded),
            _n(run.failed),
            run.invalid,
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
        if run.stop_fatal or (run.stop_reason is None and run.transient == 0):
            raise _fail(f"{message} A retry would fail the same way: fix the data (or the connection) first.")
        raise AirflowException(
            f"{message} {run.transient} of them failed for a reason that may pass (server errors, timeouts): "
            f"a retry of the task sends {self._resend_note()}."
        )

    def _resend_note(self) -> str:
        return "every record again"


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
      repeated after a failure Voors may have acted on (a 5xx, a cut answer): its reason in the report
      says the record *may have been created*. Records created by a try are remembered (in
      ``task_state_store`` on Airflow 3.3+, else an Airflow Variable) so that a retry of the task does
      not create them twice.
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
    "succeeded", "failed", "report_path"}``. After every record was tried the task fails when
    ``failed`` exceeds ``max_failures``: with ``AirflowFailException`` (no retry) when every failure is
    one a retry would repeat (invalid data, 400/404, 401/403), else with ``AirflowException`` (the
    task's retries apply; a retry sends every record again, which upserts make harmless).

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
    """

    template_fields: Sequence[str] = ("resource", "records", "report_path", "voors_conn_id")

    def __init__(
        self,
        *,
        resource: str,
        records: Any,
        voors_conn_id: str = "voors_default",
        max_workers: int = DEFAULT_MAX_WORKERS,
        max_failures: int | float = 0,
        report_path: Any = None,
        array_size: int = DEFAULT_ARRAY_SIZE,
        retry_limit: int | None = None,
        hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            resource=resource,
            voors_conn_id=voors_conn_id,
            max_workers=max_workers,
            max_failures=max_failures,
            report_path=report_path,
            array_size=array_size,
            retry_limit=retry_limit,
            hook_params=hook_params,
            **kwargs,
        )
        _check_resource_name(self.task_id, resource, "p", "push")
        if records is None:
            raise AhgoraConfigError(
                f"{self.task_id}: records is required (a list, an XCom value or a file path)."
            )
        self.records = records

    def _source_value(self) -> Any:
        return self.records

    def _resolve(self) -> VoorsResource:
        return self._resource_from_registry(
            lambda r: r.model is not None and any(r.supports(op) for op in ("upsert", "create", "update"))
        )

    def _batched(self, res: VoorsResource) -> bool:
        return res.array

    def _check(self, res: VoorsResource, raw: Any) -> tuple[Any, str | None, str | None, bool]:
        from airflow_provider_ahgora.hooks.voors import VoorsHook

        if not isinstance(raw, Mapping):
            raise _Invalid(f"record: must be a JSON object, got {type(raw).__name__}")
        body = dict(raw)
        voors_id = None
        if res.identifier == "id" and "id" in body:
            voors_id = body.pop("id")
            if voors_id is not None and not _valid_voors_id(voors_id):
                raise _Invalid(
                    f"id: must be the Voors id (an integer) of the record to edit, got {voors_id!r}"
                )
        try:
            wire = VoorsHook._validated(res, body)
        except AhgoraValidationError as exc:
            raise _Invalid(_errors_reason(exc)) from None
        except AhgoraConfigError as exc:
            raise _Invalid(str(exc)) from None
        key = leader = None
        if res.identifier == "id":
            key = None if voors_id is None else f"id:{voors_id}"
        elif res.identifier and wire.get(res.identifier) not in (None, "", {}):
            key = f"{res.identifier}:{_canonical(wire[res.identifier])}"
        if res.name == "users":
            boss = wire.get("appraisedBy")
            if boss not in (None, "") and boss != wire.get("cpf"):
                leader = f"cpf:{_canonical(boss)}"
        create = voors_id is None and not res.supports("upsert")
        payload = wire if voors_id is None else {"id": voors_id, **wire}
        return payload, key, leader, create

    def _raw_key(self, res: VoorsResource, raw: Any) -> str | None:
        if res.name == "users" and isinstance(raw, Mapping) and isinstance(raw.get("cpf"), str):
            return f"cpf:{_canonical(raw['cpf'])}"
        return None

    def _send(
        self, hook: VoorsHook, res: VoorsResource, payloads: list[Any], stop: threading.Event
    ) -> list[Any]:
        if res.array:
            try:
                hook.upsert(res, payloads)
                return [None] * len(payloads)
            except AhgoraBadRequestError as exc:
                if len(payloads) == 1:
                    return [exc]
            except Exception as exc:
                return [exc] * len(payloads)
            # the array was refused: send its records one by one, so one bad record sinks only itself
            out: list[Any] = []
            for payload in payloads:
                if stop.is_set():
                    out.append(_NOT_SENT)
                    continue
                try:
                    hook.upsert(res, [payload])
                    out.append(None)
                except Exception as exc:
                    out.append(exc)
            return out
        body = payloads[0]
        voors_id = None
        if res.identifier == "id" and "id" in body:
            body = dict(body)
            voors_id = body.pop("id")
        try:
            hook.upsert(res, body, id=voors_id)
        except Exception as exc:
            return [exc]
        return [None]

    def _classify(
        self,
        exc: BaseException,
        res: VoorsResource,
        payload: Any,
        retry_limit: int,
        scrub: Callable[[str], str],
    ) -> tuple[str, str]:
        create = not res.supports("upsert") and not (res.identifier == "id" and "id" in payload)
        if create and isinstance(exc, AhgoraTransientError) and getattr(exc, "may_have_been_processed", True):
            from airflow_provider_ahgora.hooks._base import short_reason

            return "transient", (
                f"{short_reason(exc)}; the create was not repeated because Voors may have acted on it: "
                "the record may have been created, check in Voors before sending it again"
            )
        return super()._classify(exc, res, payload, retry_limit, scrub)

    # -- creates kept across tries ----------------------------------------------------------------

    def _state(self, context: Context, res: VoorsResource) -> RetryState | None:
        if res.supports("upsert"):
            return None  # upserts are idempotent: a retry simply sends them again
        from airflow_provider_ahgora.operators._state import retry_state

        return retry_state(context, STATE_KEY)

    def _save_state(self, state: RetryState, run: _Run) -> None:
        failing = run.stop_reason is not None or self._too_many(run.failed, run.n)
        if not failing and run.status.count(_PENDING) == 0:
            if run.had_state:
                state.delete()
            return
        created = run.created()
        if created:
            state.set({"fingerprint": run.fingerprint.hexdigest(), "created": created})
            self.log.info(
                "%s: remembered the %d record(s) created by this try (%s), so that a retry does not "
                "create them again.",
                run.what,
                sum(b - a + 1 for a, b in created),
                state.where,
            )

    def _resend_note(self) -> str:
        return "every record again (upserts are idempotent; records this try created are not created again)"


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

    With ``missing_ok=True`` (the default) a record Voors does not know (404) counts as deleted: a
    delete is idempotent, so re-running the task after a partial failure is safe. With
    ``missing_ok=False`` it is a failure.

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
        voors_conn_id: str = "voors_default",
        max_workers: int = DEFAULT_MAX_WORKERS,
        max_failures: int | float = 0,
        report_path: Any = None,
        array_size: int = DEFAULT_ARRAY_SIZE,
        retry_limit: int | None = None,
        hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            resource=resource,
            voors_conn_id=voors_conn_id,
            max_workers=max_workers,
            max_failures=max_failures,
            report_path=report_path,
            array_size=array_size,
            retry_limit=retry_limit,
            hook_params=hook_params,
            **kwargs,
        )
        _check_resource_name(self.task_id, resource, "dai", "delete")
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
        name = None if _templated(resource) else _catalogue_name(resource)
        if name is not None:
            by_id = "i" in _CATALOGUE[name][1]
            if by_id and remote_ids is not None:
                raise AhgoraConfigError(
                    f"{self.task_id}: Voors deletes {name} by their Voors id: "
                    "pass ids (or records with 'id')."
                )
            if not by_id and ids is not None:
                raise AhgoraConfigError(
                    f"{self.task_id}: Voors deletes {name} by the remoteId they were sent with: "
                    "pass remote_ids (or records with 'remoteId')."
                )
        self.remote_ids = remote_ids
        self.records = records
        self.ids = ids
        self.missing_ok = missing_ok
        self._mode = given[0]

    def _source_value(self) -> Any:
        return getattr(self, self._mode)

    def _source_name(self) -> str:
        return self._mode

    def _resolve(self) -> VoorsResource:
        res = self._resource_from_registry(lambda r: r.supports("delete"))
        if res.delete_by_path_id and self._mode == "remote_ids":
            raise _fail(
                f"{self.task_id}: Voors deletes {res.name} by their Voors id: "
                "pass ids (or records with 'id')."
            )
        if not res.delete_by_path_id and self._mode == "ids":
            raise _fail(
                f"{self.task_id}: Voors deletes {res.name} by the remoteId they were sent with: "
                "pass remote_ids (or records with 'remoteId')."
            )
        return res

    def _batched(self, res: VoorsResource) -> bool:
        return res.delete_array

    def _check(self, res: VoorsResource, raw: Any) -> tuple[Any, str | None, str | None, bool]:
        if self._mode == "records":
            if not isinstance(raw, Mapping):
                raise _Invalid(f"record: must be a JSON object, got {type(raw).__name__}")
            field = "id" if res.delete_by_path_id else "remoteId"
            value = raw.get(field, raw.get("remote_id") if field == "remoteId" else None)
            if value is None:
                raise _Invalid(f"{field}: required: the record must hold its {field}")
        else:
            value = raw
            if (
                self._mode == "remote_ids"
                and isinstance(raw, Mapping)
                and {"remoteId", "remote_id"} & set(raw)
            ):
                # most likely a record given where its remoteId was expected: deleting the object
                # {"remoteId": ...} would find nothing, and count as already absent
                raise _Invalid(
                    "remoteId: remote_ids holds a record (a mapping with a 'remoteId' key); give the "
                    "remoteId itself, or pass the records as records="
                )
        if res.delete_by_path_id:
            if not _valid_voors_id(value):
                raise _Invalid(f"id: must be the Voors id (an integer) of the record, got {value!r}")
            return {"id": value}, None, None, False
        from airflow_provider_ahgora.models._base import validate_one
        from airflow_provider_ahgora.models.voors import RemoteIdRef

        try:
            ref = validate_one(RemoteIdRef, {"remoteId": value}, "remoteId")
        except AhgoraValidationError as exc:
            raise _Invalid(_errors_reason(exc)) from None
        return ref.to_wire(), None, None, False

    def _send(
        self, hook: VoorsHook, res: VoorsResource, payloads: list[Any], stop: threading.Event
    ) -> list[Any]:
        if res.delete_by_path_id:
            try:
                hook.delete(res, payloads[0]["id"])
            except Exception as exc:
                return [exc]
            return [None]
        if not res.delete_array:
            try:
                hook.delete(res, remote_id=payloads[0]["remoteId"])
            except Exception as exc:
                return [exc]
            return [None]
        try:
            hook.delete(res, remote_ids=[p["remoteId"] for p in payloads])
            return [None] * len(payloads)
        except AhgoraBadRequestError as exc:
            if len(payloads) == 1:
                return [exc]
        except Exception as exc:
            return [exc] * len(payloads)
        # refused as a whole (often: one of them does not exist): one by one
        out: list[Any] = []
        for payload in payloads:
            if stop.is_set():
                out.append(_NOT_SENT)
                continue
            try:
                hook.delete(res, remote_ids=[payload["remoteId"]])
                out.append(None)
            except Exception as exc:
                out.append(exc)
        return out

    def _classify(
        self,
        exc: BaseException,
        res: VoorsResource,
        payload: Any,
        retry_limit: int,
        scrub: Callable[[str], str],
    ) -> tuple[str, str]:
        if isinstance(exc, AhgoraNotFoundError) and self.missing_ok:
            return "absent", ""
        return super()._classify(exc, res, payload, retry_limit, scrub)

    def _resend_note(self) -> str:
        return "every delete again (harmless: a record already deleted counts as deleted with missing_ok)"

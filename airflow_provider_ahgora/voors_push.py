"""Voors pushes and deletes at scale: the engine of
:class:`~airflow_provider_ahgora.operators.push.VoorsPushOperator` and
:class:`~airflow_provider_ahgora.operators.push.VoorsDeleteOperator`, which keep only the Airflow parts.

How a try runs (both operators):

1. **Pass 1, before any request.** Every input record is read (streamed from a list, an XCom value
   or a ``.json``/``.jsonl``/``.csv`` file) and validated by its resource's model. An invalid record
   goes to the failure report with a reason that names the field (``cpf: CPF '123...' has invalid
   check digits``); the valid ones are written, in wire form, to a local temporary spool file (one
   JSON line each), so memory does not grow with the input. Only small per-record integers (spool
   offsets, waves, statuses, 64-bit key digests) stay in memory.
2. **The journal.** What earlier tries of the task instance delivered is read from the delivery
   journal (:mod:`airflow_provider_ahgora.journal`): a delivered record is not sent again. A record
   whose outcome an earlier try did not learn (its answer was lost, or the worker was killed during
   its request) is sent again only where that is harmless (an upsert, an edit, a delete); a *create*
   (departments, job roles, job functions, horaries without an ``id``; posts) is reconciled instead:
   the resource's list is read and the record looked for by the registry's read-back fields, leaving
   out the records that already matched before it was sent. Found: it was created. Not found: it was
   not, and it is sent. Ambiguous, or a resource that cannot be read back (posts): it is reported as
   "outcome unknown" and never sent again.
3. **Waves.** Records are sent in *waves*: a user whose ``appraisedBy`` names a leader that is also in
   this input goes in a later wave than that leader's record, and is sent only if the leader's
   record succeeded; records naming the same identifier (CPF, ``remoteId``, Voors id) go in input
   order. Everything else is wave 0. A cycle of leaders is reported, not sent.
4. **Pass 2.** Each wave is sent from the spool by a thread pool of ``max_workers`` threads, with at
   most ``2 * max_workers`` requests queued (one :class:`~airflow_provider_ahgora.hooks.voors.VoorsHook`,
   hence one HTTP session, per worker thread; the connection is looked up once, on the task's
   thread). The hook retries transient errors per request (5xx, 429 honouring ``Retry-After``,
   network), except a create that Voors may already have acted on. Creates are marked in flight in
   the journal *before* their requests leave; deliveries are journalled as they come.
5. **Report.** The JSON Lines failure report is always written (empty when nothing failed), in
   input order, atomically.

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
    AhgoraWrongEndpointError,
)
from airflow_provider_ahgora.journal import CONFIRMED, JournalWriteError
from airflow_provider_ahgora.operators._records import FailureReport, describe_source, iter_records
from airflow_provider_ahgora.registry import READABLE_RESOURCES, RESOURCES, get_resource

if TYPE_CHECKING:
    from airflow_provider_ahgora.hooks._base import WireSettings
    from airflow_provider_ahgora.hooks.voors import VoorsHook
    from airflow_provider_ahgora.journal import DeliveryJournal
    from airflow_provider_ahgora.registry import VoorsResource

__all__ = [
    "DEFAULT_ARRAY_SIZE",
    "DEFAULT_MAX_WORKERS",
    "PROGRESS_SECONDS",
    "Deletes",
    "Pushes",
    "VoorsDelivery",
    "check_resource_name",
]

DEFAULT_MAX_WORKERS = 8
#: Records per request for resources whose body (or DELETE body) takes an array.
DEFAULT_ARRAY_SIZE = 100
#: A progress line is logged at least this often (and at every 10% of the records).
PROGRESS_SECONDS = 10.0

_USERS_HINT = (
    " Users are deactivated, not deleted: push {'cpf': ..., 'active': False} with VoorsPushOperator."
)

# statuses of a record (one byte per input record)
_PENDING, _OK, _FAILED, _TRANSIENT, _UNKNOWN_OUTCOME = 0, 1, 2, 3, 4
# waves
_UNKNOWN, _VISITING, _NOT_SENT_WAVE = -3, -2, -1


class _NotSent:
    """Outcome of a record a worker did not send because the run was stopped."""

    def __repr__(self) -> str:
        return "NOT_SENT"


_NOT_SENT = _NotSent()


class Invalid(Exception):
    """A record refused in pass 1; ``reason`` names the field."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def _templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def check_resource_name(task_id: str, resource: Any, doing: str) -> None:
    """At construction: a resource that is not templated must exist and be able to ``doing``
    (``"push"``, ``"delete"`` or ``"read"``). The registry is cheap to import: no models are loaded."""
    if _templated(resource):
        return
    try:
        res = get_resource(resource)
    except AhgoraConfigError as exc:
        raise AhgoraConfigError(f"{task_id}: {exc}") from None
    if doing == "read":
        able = res.supports("list")
    elif doing == "delete":
        able = res.supports("delete")
    else:
        able = res.model_name is not None and bool(res.operations & {"upsert", "create", "update"})
    if not able:
        hint = _USERS_HINT if res.name == "users" and doing == "delete" else ""
        if doing == "read":
            hint = f" Resources that can be read: {', '.join(READABLE_RESOURCES)}."
        raise AhgoraConfigError(f"{task_id}: Voors resource '{res.name}' cannot {doing} records.{hint}")


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


def _same(sent: Any, stored: Any) -> bool:
    """A read-back field: what was sent equals what Voors keeps (text compared without surrounding
    blanks; a number and its string are the same)."""
    if isinstance(sent, str) or isinstance(stored, str):
        return str(sent).strip() == str(stored).strip()
    return bool(sent == stored)


def _same_remote_id(sent: Any, stored: Any) -> bool:
    """``remoteId`` as Voors may echo it: the same JSON, the same scalar as text, or an object's values
    joined by ``-`` (``{"id": 23, "title": "T"}`` comes back as ``"23-T"`` in seed 004)."""
    if _canonical(sent) == _canonical(stored):
        return True
    if not isinstance(sent, dict):
        return isinstance(stored, str | int) and _same(sent, stored)
    if not isinstance(stored, str | int):
        return False
    values = [str(v) for v in sent.values()]
    joined = {"-".join(values), "-".join(str(sent[k]) for k in sorted(sent))}
    if len(values) == 1:
        joined.add(values[0])
    return str(stored).strip() in joined


def matching_ids(
    res: VoorsResource, payload: Mapping[str, Any], listing: Sequence[Mapping[str, Any]]
) -> tuple[set[str], set[str]]:
    """The ids of the records of ``listing`` that match ``payload`` by the resource's read-back
    fields: ``(strong, weak)``. *Weak*: the first field (name or title) is equal. *Strong*: also every
    other read-back field that both sides have. A record that matches weakly but not strongly may be
    ours echoed in a form we do not know: the caller treats it as a doubt, never as absence."""
    if not res.readback:
        return set(), set()
    primary, *others = res.readback
    if payload.get(primary) in (None, ""):
        return set(), set()
    strong, weak = set(), set()
    for record in listing:
        if record.get("id") in (None, "") or record.get(primary) in (None, ""):
            continue
        if not _same(payload[primary], record[primary]):
            continue
        weak.add(str(record["id"]))
        compared = [f for f in others if payload.get(f) not in (None, "") and record.get(f) not in (None, "")]
        if all((_same_remote_id if f == "remoteId" else _same)(payload[f], record[f]) for f in compared):
            strong.add(str(record["id"]))
    return strong, weak


class _Spool:
    """JSON lines in a local temporary file, read back by offset (bounded memory)."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile("w+b")  # noqa: SIM115 - closed by close()
        self._end = 0

    def append(self, value: Any) -> tuple[int, bytes]:
        """Write ``value``; returns its offset and the bytes written."""
        offset = self._end
        line = _dumps_line(value)
        self.file.seek(offset)
        self.file.write(line)
        self._end += len(line)
        return offset, line

    def read(self, offset: int) -> Any:
        self.file.seek(offset)
        return json.loads(self.file.readline())

    def close(self) -> None:
        self.file.close()


# --------------------------------------------------------------------------------------------------
# What a push and a delete do to one record
# --------------------------------------------------------------------------------------------------


def _one_by_one(payloads: list[Any], stop: threading.Event, send: Callable[[Any], Any]) -> list[Any]:
    """After an array request was refused: each record in its own request, so that one bad record
    sinks only itself; the outcome of each (``None``, an exception, or not sent once stopped)."""
    out: list[Any] = []
    for payload in payloads:
        if stop.is_set():
            out.append(_NOT_SENT)
            continue
        try:
            send(payload)
            out.append(None)
        except Exception as exc:
            out.append(exc)
    return out


class _Kind:
    """What differs between pushing and deleting: checks, requests, verdicts. Base class."""

    doing = "push"
    #: the operator's connection id, for messages
    conn_id = "voors_default"

    def suitable(self, res: VoorsResource) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def check(self, res: VoorsResource, raw: Any) -> tuple[Any, str | None, str | None, bool]:
        """Pass 1 for one record: ``(payload, ordering key, leader key, is a create)`` or :class:`Invalid`."""
        raise NotImplementedError  # pragma: no cover - abstract

    def raw_key(self, res: VoorsResource, raw: Any) -> str | None:
        return None

    def batched(self, res: VoorsResource) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def send(
        self, hook: VoorsHook, res: VoorsResource, payloads: list[Any], stop: threading.Event
    ) -> list[Any]:
        """One request; the outcome of each record (None or a dict: done, an exception, or not sent)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def classify(
        self,
        exc: BaseException,
        res: VoorsResource,
        payload: Any,
        retry_limit: int,
        scrub: Callable[[str], str],
    ) -> tuple[str, str]:
        """``(verdict, reason)``: ``permanent``, ``transient``, ``unknown`` (never sent again),
        ``unknown-harmless`` (sent again by a retry), ``stop`` or ``absent``."""
        from airflow_provider_ahgora.hooks._base import short_reason

        if isinstance(exc, AhgoraAuthError):
            return (
                "stop",
                f"Voors refused the API token ({short_reason(exc)}): fix the connection '{self.conn_id}'",
            )
        if isinstance(exc, AhgoraPermissionError):
            return "stop", (
                f"the API token lacks permission for {res.path} ({short_reason(exc)}): ask the Voors "
                "administrator to grant it"
            )
        if isinstance(exc, AhgoraWrongEndpointError):
            return "stop", (
                f"the answer is not the Voors API's ({short_reason(exc)}): check the base URL of the "
                f"connection '{self.conn_id}'"
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

    def resend_note(self) -> str:
        return "every record again"


class Pushes(_Kind):
    """Upserts (``POST``), creates (``POST`` without ``id``) and edits (``PUT /{id}``)."""

    doing = "push"

    def __init__(self, conn_id: str) -> None:
        self.conn_id = conn_id

    def suitable(self, res: VoorsResource) -> bool:
        return res.model_name is not None and any(res.supports(op) for op in ("upsert", "create", "update"))

    def batched(self, res: VoorsResource) -> bool:
        return res.array

    def check(self, res: VoorsResource, raw: Any) -> tuple[Any, str | None, str | None, bool]:
        from airflow_provider_ahgora.hooks.voors import VoorsHook

        if not isinstance(raw, Mapping):
            raise Invalid(f"record: must be a JSON object, got {type(raw).__name__}")
        body = dict(raw)
        voors_id = None
        if res.identifier == "id" and "id" in body:
            voors_id = body.pop("id")
            if voors_id is not None and not _valid_voors_id(voors_id):
                raise Invalid(
                    f"id: must be the Voors id (an integer) of the record to edit, got {voors_id!r}"
                )
        try:
            wire = VoorsHook._validated(res, body)
        except AhgoraValidationError as exc:
            raise Invalid(_errors_reason(exc)) from None
        except AhgoraConfigError as exc:
            raise Invalid(str(exc)) from None
        key = leader = None
        if res.identifier == "id":
            key = None if voors_id is None else f"id:{voors_id}"
        elif res.identifier and wire.get(res.identifier) not in (None, "", {}):
            key = f"{res.identifier}:{_canonical(wire[res.identifier])}"
        if res.name == "users":
            boss = wire.get("appraisedBy")
            if boss not in (None, "") and boss != wire.get("cpf"):
                leader = f"cpf:{_canonical(boss)}"
        create = voors_id is None and res.creates
        payload = wire if voors_id is None else {"id": voors_id, **wire}
        return payload, key, leader, create

    def raw_key(self, res: VoorsResource, raw: Any) -> str | None:
        if res.name == "users" and isinstance(raw, Mapping) and isinstance(raw.get("cpf"), str):
            return f"cpf:{_canonical(raw['cpf'])}"
        return None

    def send(
        self, hook: VoorsHook, res: VoorsResource, payloads: list[Any], stop: threading.Event
    ) -> list[Any]:
        if res.array:
            try:
                hook.upsert(res, payloads, validated=True)
                return [None] * len(payloads)
            except AhgoraBadRequestError as exc:
                if len(payloads) == 1:
                    return [exc]
            except Exception as exc:
                return [exc] * len(payloads)
            # the array was refused: send its records one by one, so one bad record sinks only itself
            return _one_by_one(payloads, stop, lambda payload: hook.upsert(res, [payload], validated=True))
        body = payloads[0]
        voors_id = None
        if res.identifier == "id" and "id" in body:
            body = dict(body)
            voors_id = body.pop("id")
        try:
            answer = hook.upsert(res, body, id=voors_id, validated=True)  # validated in pass 1
        except Exception as exc:
            return [exc]
        if voors_id is None and res.creates:
            created = answer.records(res.envelope) if res.envelope else []
            new_id = getattr(created[0], "id", None) if created else None
            return [{"id": None if new_id is None else str(new_id)}]
        return [None]

    def classify(
        self,
        exc: BaseException,
        res: VoorsResource,
        payload: Any,
        retry_limit: int,
        scrub: Callable[[str], str],
    ) -> tuple[str, str]:
        create = res.creates and not (res.identifier == "id" and "id" in payload)
        if create and isinstance(exc, AhgoraTransientError) and getattr(exc, "may_have_been_processed", True):
            from airflow_provider_ahgora.hooks._base import short_reason

            return "unknown", (
                f"outcome unknown: {short_reason(exc)}; the create was not repeated because Voors may have "
                "acted on it: the record may have been created"
            )
        return super().classify(exc, res, payload, retry_limit, scrub)

    def resend_note(self) -> str:
        return (
            "every record again (upserts are idempotent; records created by an earlier try are not created "
            "again, and creates whose outcome was lost are looked for first)"
        )


class Deletes(_Kind):
    """Deletes by Voors id or by ``remoteId`` (one per request, or arrays where the resource takes them).

    :param mode: where the records come from: ``remote_ids``, ``ids`` or ``records``.
    """

    doing = "delete"

    def __init__(self, conn_id: str, mode: str, missing_ok: bool) -> None:
        self.conn_id = conn_id
        self.mode = mode
        self.missing_ok = missing_ok
        #: with ``missing_ok=False`` a DELETE is not repeated blindly: a repeat's 404 would read as "the
        #: record was never there" when it was this very request that deleted it
        self.retry = "all" if missing_ok else "safe"
        #: units whose earlier delete may have taken effect (its answer lost): their 404 is "deleted"
        self.maybe_deleted: set[int] = set()

    def suitable(self, res: VoorsResource) -> bool:
        return res.supports("delete")

    def batched(self, res: VoorsResource) -> bool:
        return res.delete_array

    def check(self, res: VoorsResource, raw: Any) -> tuple[Any, str | None, str | None, bool]:
        if self.mode == "records":
            if not isinstance(raw, Mapping):
                raise Invalid(f"record: must be a JSON object, got {type(raw).__name__}")
            field = "id" if res.delete_by_path_id else "remoteId"
            value = raw.get(field, raw.get("remote_id") if field == "remoteId" else None)
            if value is None:
                raise Invalid(f"{field}: required: the record must hold its {field}")
        else:
            value = raw
            if (
                self.mode == "remote_ids"
                and isinstance(raw, Mapping)
                and {"remoteId", "remote_id"} & set(raw)
            ):
                # most likely a record given where its remoteId was expected: deleting the object
                # {"remoteId": ...} would find nothing, and count as already absent
                raise Invalid(
                    "remoteId: remote_ids holds a record (a mapping with a 'remoteId' key); give the "
                    "remoteId itself, or pass the records as records="
                )
        if res.delete_by_path_id:
            if not _valid_voors_id(value):
                raise Invalid(f"id: must be the Voors id (an integer) of the record, got {value!r}")
            return {"id": value}, None, None, False
        from airflow_provider_ahgora.models._base import validate_one
        from airflow_provider_ahgora.models.voors import RemoteIdRef

        try:
            ref = validate_one(RemoteIdRef, {"remoteId": value}, "remoteId")
        except AhgoraValidationError as exc:
            raise Invalid(_errors_reason(exc)) from None
        return ref.to_wire(), None, None, False

    def _delete(self, call: Callable[[], Any]) -> None:
        """One DELETE. With ``missing_ok=False`` it is not repeated blindly by the hook: when its answer
        is lost after it may have taken effect, it is sent once more here, and Voors' 404 to that repeat
        means the lost request deleted the record (it is absent either way: never reported missing)."""
        try:
            call()
        except AhgoraTransientError as exc:
            if isinstance(exc, AhgoraWrongEndpointError):
                raise  # a redirect answers a repeat the same way (the hook never repeats one)
            if self.missing_ok or not exc.may_have_been_processed:
                raise
            try:
                call()
            except AhgoraNotFoundError:
                return  # the request whose answer was lost deleted it
            except AhgoraTransientError:
                raise exc from None  # still unknown: classified below as such
            return

    def send(
        self, hook: VoorsHook, res: VoorsResource, payloads: list[Any], stop: threading.Event
    ) -> list[Any]:
        retry: Any = self.retry
        if res.delete_by_path_id:
            try:
                self._delete(lambda: hook.delete(res, payloads[0]["id"], retry=retry))
            except Exception as exc:
                return [exc]
            return [None]
        if not res.delete_array:
            try:
                self._delete(lambda: hook.delete(res, remote_id=payloads[0]["remoteId"], retry=retry))
            except Exception as exc:
                return [exc]
            return [None]
        try:
            hook.delete(res, remote_ids=[p["remoteId"] for p in payloads], retry=retry)
            return [None] * len(payloads)
        except AhgoraBadRequestError as exc:
            if len(payloads) == 1:
                return [exc]
        except AhgoraTransientError as exc:
            if self.missing_ok or not exc.may_have_been_processed:
                return [exc] * len(payloads)
            # the array may have been deleted, or not: each record on its own settles it
        except Exception as exc:
            return [exc] * len(payloads)
        # refused as a whole (often: one of them does not exist), or its answer lost: one by one
        return _one_by_one(
            payloads,
            stop,
            lambda payload: self._delete(
                lambda: hook.delete(res, remote_ids=[payload["remoteId"]], retry=retry)
            ),
        )

    def classify(
        self,
        exc: BaseException,
        res: VoorsResource,
        payload: Any,
        retry_limit: int,
        scrub: Callable[[str], str],
    ) -> tuple[str, str]:
        if isinstance(exc, AhgoraNotFoundError) and self.missing_ok:
            return "absent", ""
        if not self.missing_ok and isinstance(exc, AhgoraTransientError) and exc.may_have_been_processed:
            from airflow_provider_ahgora.hooks._base import short_reason

            return "unknown-harmless", (
                f"outcome unknown: {short_reason(exc)}; the delete may have taken effect (a retry sends it "
                "again, and then counts Voors' 404 as deleted)"
            )
        return super().classify(exc, res, payload, retry_limit, scrub)

    def resend_note(self) -> str:
        return "every delete again (harmless: a record already deleted counts as deleted with missing_ok)"


def resource_for(kind: _Kind, name: Any) -> VoorsResource:
    """The rendered resource from the registry; :class:`AhgoraConfigError` if unknown or unsuitable."""
    res = get_resource(name.strip() if isinstance(name, str) else name)
    if not kind.suitable(res):
        hint = _USERS_HINT if res.name == "users" and kind.doing == "delete" else ""
        raise AhgoraConfigError(f"Voors resource '{res.name}' cannot {kind.doing} records.{hint}")
    if isinstance(kind, Deletes):
        if res.delete_by_path_id and kind.mode == "remote_ids":
            raise AhgoraConfigError(
                f"Voors deletes {res.name} by their Voors id: pass ids (or records with 'id')."
            )
        if not res.delete_by_path_id and kind.mode == "ids":
            raise AhgoraConfigError(
                f"Voors deletes {res.name} by the remoteId they were sent with: pass remote_ids (or "
                "records with 'remoteId')."
            )
    return res


def deletes_by_id(name: Any) -> bool | None:
    """For construction-time checks: whether the resource is deleted by Voors id (``None``: unknown or
    templated)."""
    if _templated(name):
        return None
    res = RESOURCES.get(str(name).strip().strip("/")) if isinstance(name, str) else None
    if res is None:
        try:
            res = get_resource(name)
        except AhgoraConfigError:
            return None
    return res.delete_by_path_id if res.supports("delete") else None


# --------------------------------------------------------------------------------------------------
# One try: pass 1, the journal, waves, pass 2, report
# --------------------------------------------------------------------------------------------------


class VoorsDelivery:
    """The state of one try of a Voors push or delete; everything but HTTP runs on the task's thread.

    :param kind: :class:`Pushes` or :class:`Deletes`.
    :param hook_factory: makes a hook (one per worker thread; the settings are set on it here).
    :param settings: the connection, resolved once on the task's thread.
    """

    def __init__(
        self,
        kind: _Kind,
        res: VoorsResource,
        settings: WireSettings,
        retry_limit: int,
        hook_factory: Callable[[], VoorsHook],
        log: Any,
    ) -> None:
        self.kind = kind
        self.res = res
        self.settings = settings
        self.retry_limit = retry_limit
        self.hook_factory = hook_factory
        self.log = log
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
        self.unknown = 0
        #: records of this try whose outcome a retry can learn (a create of a resource that can be
        #: listed): a retry looks for them
        self.lookable = 0
        self.absent = 0
        self.reused = 0
        self.reconciled = 0
        self.requests = 0
        self.streak = 0
        self.stop_reason: str | None = None
        self.stop_fatal = False
        self.stop = threading.Event()
        self.fingerprint = hashlib.sha256(f"{res.name}:{kind.doing}".encode())
        self.journal: DeliveryJournal | None = None
        self._local = threading.local()
        self._hooks: list[VoorsHook] = []
        self._hooks_lock = threading.Lock()
        self._last_log = time.monotonic()
        self._next_pct = 10
        self._last_done = -1
        self._baseline: dict[int, list[str] | None] = {}

    # -- hooks ----------------------------------------------------------------------------------

    def hook(self) -> VoorsHook:
        """This worker thread's hook (a ``requests.Session`` is not shared between threads)."""
        hook = getattr(self._local, "hook", None)
        if hook is None:
            hook = self.hook_factory()
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

    @property
    def input_id(self) -> str:
        """What names this input in the journal: the resource, the operation and what is sent."""
        return f"{self.res.name}:{self.fingerprint.hexdigest()[:32]}"

    # -- pass 1 ---------------------------------------------------------------------------------

    def prepare(self, records: Iterator[Any], source: Any) -> None:
        """Validate every record and spool the valid ones; then resolve the ordering."""
        last_seen: dict[int, int] = {}
        first_valid: dict[int, int] = {}
        first_invalid: dict[int, int] = {}
        leader_of: dict[int, int] = {}
        shown = 0
        self.source = source
        for index, raw in enumerate(records):
            self.n += 1
            self.status.append(_PENDING)
            self.offsets.append(-1)
            self.after.append(-1)
            self.needs.append(-1)
            self.creates.append(0)
            try:
                payload, key, leader, create = self.kind.check(self.res, raw)
            except Invalid as exc:
                self.invalid += 1
                self._failure(index, raw, exc.reason, None, _FAILED)
                if shown < 10:
                    self.log.warning(
                        "%s: record %d is invalid and will not be sent: %s", self.what, index, exc.reason
                    )
                    shown += 1
                raw_key = self.kind.raw_key(self.res, raw)
                if raw_key is not None:
                    first_invalid.setdefault(_digest(raw_key), index)
                continue
            offset, line = self.spool.append(payload)
            self.offsets[index] = offset
            self.fingerprint.update(f"{index}:".encode())
            self.fingerprint.update(line)
            if create:
                self.creates[index] = 1
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

    # -- what earlier tries did -----------------------------------------------------------------

    def recall(self, journal: DeliveryJournal) -> None:
        """Take what earlier tries journalled for this input: delivered records are done; records whose
        outcome was not learnt are resent (harmless), reconciled (creates that can be read back) or
        reported (creates that cannot)."""
        self.journal = journal
        settle: list[int] = []
        for i in range(self.n):
            if self.offsets[i] < 0 or self.status[i] != _PENDING:
                continue
            state = journal.status(i)
            if state == CONFIRMED:
                self.status[i] = _OK
                self.succeeded += 1
                self.reused += 1
            elif state is not None and self.creates[i]:
                settle.append(i)
            elif state is not None:
                if isinstance(self.kind, Deletes):
                    self.kind.maybe_deleted.add(i)  # its 404 now means the earlier delete took effect
                journal.forget(i)  # harmless to send again
        if self.reused:
            self.log.info(
                "%s: %d record(s) were delivered by an earlier try of this task and are not sent again.",
                self.what,
                self.reused,
            )
        if settle:
            self._reconcile(settle)

    def _reconcile(self, indexes: list[int]) -> None:
        """Creates whose outcome an earlier try did not learn: look for them in Voors."""
        journal = self.journal
        assert journal is not None
        res = self.res
        if not res.can_read_back:
            for i in indexes:
                reason = journal.unknown.get(i) or (
                    "outcome unknown: an earlier try stopped during the request that creates this record "
                    "(e.g. the worker was killed)"
                )
                self._unknown(
                    i,
                    self.spool.read(self.offsets[i]),
                    f"{reason}; Voors gives no way to look for a {res.name} record, so it is not sent again: "
                    "check in Voors before sending it again",
                    None,
                )
            return
        try:
            listing = self._listing()
        except AhgoraError as exc:
            for i in indexes:
                self._failure(
                    i,
                    self.spool.read(self.offsets[i]),
                    "not sent: an earlier try may have created it, and looking for it in Voors failed "
                    f"({exc}); "
                    "a retry looks again",
                    None,
                    _TRANSIENT,
                )
            return
        claimed = {str(v["id"]) for v in journal.info.values() if isinstance(v, Mapping) and v.get("id")}
        # what each record could be, leaving out what matched before it was sent and what is known to
        # be another record's
        candidates: dict[int, tuple[set[str], set[str], bool]] = {}
        for i in indexes:
            payload = self.spool.read(self.offsets[i])
            pre = (journal.info.get(i) or {}).get("pre")
            strong, weak = matching_ids(res, payload, listing)
            before = set(pre) if pre is not None else set()
            candidates[i] = (strong - claimed - before, weak - claimed - before, pre is not None)
        # a record of Voors that could be the create of several records of this input is none of theirs
        # for sure; one that is surely another record's (its only strong match) is not this one's
        shared: dict[str, list[int]] = {}
        for i, (strong, _weak, _known) in candidates.items():
            for voors_id in strong:
                shared.setdefault(voors_id, []).append(i)
        found = absent = 0
        for i in indexes:
            strong, weak, baseline = candidates[i]
            weak = {v for v in weak if v in strong or len(shared.get(v, ())) != 1}
            payload = self.spool.read(self.offsets[i])
            if not weak:
                journal.forget(i)  # not created: it is sent again below
                absent += 1
            elif baseline and len(strong) == 1 and len(weak) == 1 and len(shared[next(iter(strong))]) == 1:
                [voors_id] = strong
                claimed.add(voors_id)
                journal.confirm(i, id=voors_id)
                self.status[i] = _OK
                self.succeeded += 1
                self.reconciled += 1
                found += 1
            else:
                why = (
                    "the earlier try could not read which existed before it"
                    if not baseline
                    else f"{len(weak)} new {res.name} record(s) in Voors could be it"
                    + (" (and another record of this input could be the same one)" if strong else "")
                )
                self._unknown(
                    i,
                    payload,
                    f"outcome unknown: an earlier try may have created it, and {why}; not sent again: "
                    "check in Voors",
                    None,
                )
        self.log.info(
            "%s: %d create(s) whose outcome an earlier try did not learn: %d found in Voors (created), %d "
            "not found (sent again), %d unknown.",
            self.what,
            len(indexes),
            found,
            absent,
            len(indexes) - found - absent,
        )

    def _listing(self) -> list[dict[str, Any]]:
        """Every record of the resource, in wire form (one ``GET``)."""
        return [entity.to_wire() for entity in self.hook().list(self.res)]

    def _capture_baseline(self) -> None:
        """Before creates leave: which records of the resource already match each one, so that a create
        whose answer is lost can later be told apart from a record that existed before."""
        if not self.res.can_read_back or not any(
            self.creates[i] and self.status[i] == _PENDING for i in range(self.n)
        ):
            return
        try:
            listing = self._listing()
        except AhgoraError as exc:
            self.log.warning(
                "%s: could not list the existing records before creating (%s): a create whose answer is lost "
                "will be reported instead of looked for.",
                self.what,
                exc,
            )
            return
        for i in range(self.n):
            if self.creates[i] and self.status[i] == _PENDING:
                # the weak matches: a record that looks like it at all was there before
                self._baseline[i] = sorted(
                    matching_ids(self.res, self.spool.read(self.offsets[i]), listing)[1]
                )

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
        self.log.info(
            "%s: %s record(s) read from %s, %d invalid; sending %s in %d wave(s) with %d worker(s).",
            self.what,
            _n(self.n),
            describe_source(self.source),
            self.invalid,
            _n(to_send),
            len(buckets),
            max_workers,
        )
        if not to_send:
            return
        self._capture_baseline()
        batched = self.kind.batched(self.res)
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
                    group: list[list[int]] = []
                    for unit in self._units(bucket, array_size if batched else 1):
                        group.append(unit)
                        if len(group) >= window:
                            self._submit(pool, group, inflight, batched, window, breaker)
                            group = []
                    self._submit(pool, group, inflight, batched, window, breaker)
                    while inflight:  # a wave ends before the next starts: leaders first
                        self._drain(inflight, breaker)
            except BaseException:
                # killed or a bug: what is queued is not sent; what is running ends with its request
                self.stop.set()
                cancelled = [
                    i for future, (unit, _p, _b) in inflight.items() if future.cancel() for i in unit
                ]
                self._never_left(cancelled)
                raise
            finally:
                if self.journal is not None:
                    self.journal.flush(force=True)

    def _submit(
        self,
        pool: ThreadPoolExecutor,
        group: list[list[int]],
        inflight: dict[Future[list[Any]], tuple[list[int], list[Any], int | None]],
        batched: bool,
        window: int,
        breaker: int,
    ) -> None:
        """Send ``group``'s requests; the creates among them are marked in flight first, in one write."""
        if not group or self.stop.is_set():
            return
        creates = [i for unit in group for i in unit if self.creates[i]]
        if creates and self.journal is not None:
            try:
                self.journal.begin(creates, {i: {"pre": self._baseline.get(i)} for i in creates})
            except JournalWriteError as exc:
                self.stop_reason = (
                    f"the delivery journal could not be written ({exc}), so no record that must not be sent "
                    "twice is sent"
                )
                self.stop.set()
                self.log.error("%s: %s.", self.what, self.stop_reason)
                return
        submitted = 0
        try:
            for unit in group:
                while len(inflight) >= window and not self.stop.is_set():
                    self._drain(inflight, breaker)
                if self.stop.is_set():
                    break
                payloads = [self.spool.read(self.offsets[i]) for i in unit]
                self.requests += 1
                batch = self.requests if batched else None
                inflight[pool.submit(self._work, payloads)] = (unit, payloads, batch)
                submitted += 1
        finally:
            # stopped, timed out or killed before these left: the marks go
            self._never_left([i for rest in group[submitted:] for i in rest])

    def _never_left(self, indexes: list[int]) -> None:
        """Creates marked in flight whose requests were never sent (the run stopped first, or their
        queued work was cancelled): nothing to learn about them, so the journal forgets them."""
        if self.journal is None:
            return
        creates = [i for i in indexes if self.creates[i]]
        for i in creates:
            self.journal.forget(i)
        if creates:
            self.journal.flush(force=True)

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
            return self.kind.send(self.hook(), self.res, payloads, self.stop)
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
        journal = self.journal
        if outcome is _NOT_SENT:
            if journal is not None and self.creates[i]:
                journal.forget(i)  # it never left
            return  # reported as "not sent" at the end
        if outcome is None or isinstance(outcome, Mapping):
            self.status[i] = _OK
            self.succeeded += 1
            self.streak = 0
            if journal is not None:
                journal.confirm(
                    i, **({"id": outcome["id"]} if isinstance(outcome, Mapping) and outcome.get("id") else {})
                )
            return
        verdict, reason = self.kind.classify(
            outcome, self.res, payload, self.retry_limit, self.settings.scrub
        )
        if (
            isinstance(self.kind, Deletes)
            and i in self.kind.maybe_deleted
            and isinstance(outcome, AhgoraNotFoundError)
        ):
            verdict = "absent"  # an earlier try's delete of it took effect, its answer was lost
        if verdict == "unknown-harmless":  # sending it again is harmless: the retry does
            if journal is not None:
                journal.mark_unknown(i, reason)
            self._failure(i, payload, reason, batch, _TRANSIENT)
            self._count_toward_breaker(reason, breaker)
            return
        if verdict == "absent":
            self.status[i] = _OK
            self.succeeded += 1
            self.absent += 1
            self.streak = 0
            if journal is not None:
                journal.confirm(i)
            return
        if verdict == "unknown":
            self._unknown(i, payload, reason, batch)
            if self.res.can_read_back:
                self.lookable += 1
            self._count_toward_breaker(reason, breaker)
            return
        if journal is not None and self.creates[i]:
            journal.forget(i)  # refused, or surely never processed: not created
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
            self._count_toward_breaker(reason, breaker)
        else:
            self.streak = 0

    def _count_toward_breaker(self, reason: str, breaker: int) -> None:
        """A request that failed after its retries (or whose answer was lost): after ``breaker`` in a
        row, Voors is taken as unavailable and nothing more is sent. For creates the bar is lower:
        each one lost is an outcome someone must check."""
        self.streak += 1
        limit = max(4, breaker // 4) if self.res.creates else breaker
        if self.streak >= limit and self.stop_reason is None:
            self.stop_reason = (
                f"{self.streak} requests in a row failed after their retries or lost their answer (last: "
                f"{reason}): Voors looks unavailable, so the remaining records were not sent"
            )
            self.stop.set()
            self.log.error("%s: %s.", self.what, self.stop_reason)

    def finish_unsent(self) -> None:
        """Records never sent because the run stopped: each named in the report."""
        if self.stop_reason is None:
            return
        code = _FAILED if self.stop_fatal else _TRANSIENT
        reason = f"not sent: {self.stop_reason}"
        for i in range(self.n):
            if self.status[i] == _PENDING and self.offsets[i] >= 0:
                self._failure(i, self.spool.read(self.offsets[i]), reason, None, code)

    # -- failures and report --------------------------------------------------------------------

    def _unknown(self, i: int, record: Any, reason: str, batch: int | None) -> None:
        """A record whose outcome is unknown: journalled as such (never resent), and reported."""
        if self.journal is not None:
            self.journal.mark_unknown(i, reason)
        self._failure(i, record, reason, batch, _UNKNOWN_OUTCOME)

    def _failure(self, i: int, record: Any, reason: str, batch: int | None, code: int) -> None:
        self.status[i] = code
        self.failed += 1
        if code == _TRANSIENT:
            self.transient += 1
        elif code == _UNKNOWN_OUTCOME:
            self.unknown += 1
        offset, _line = self.failures.append({"record": record, "reason": reason, "batch": batch, "index": i})
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


def read_source(source: Any, what: str, encoding: str | None, delimiter: str | None) -> Iterator[Any]:
    """The records of a source, one by one (streamed)."""
    return iter_records(source, what=what, encoding=encoding, delimiter=delimiter)

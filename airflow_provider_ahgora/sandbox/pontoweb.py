"""The PontoWeb side of the sandbox: reckons (start, status, results, reconsume), pushes and the
process monitor, with the limits and quirks of the vendor documents.

Every route is a method that returns the JSON answer (a ``dict``) or raises :class:`ApiError`. The
server does the HTTP, the auth and the faults; this module holds the state, behind one lock, and
never does I/O. Work on the hot paths (status, results pages) is O(1) or O(page).
"""

from __future__ import annotations

import bisect
import functools
import json
import math
import random
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_ahgora.models.vocabulary import Feature
from airflow_provider_ahgora.registry import MAX_PUSH_BYTES, MAX_PUSH_RECORDS, PUSH_ROUTES
from airflow_provider_ahgora.sandbox._common import ApiError, Quirks, SandboxClock, iso_ms

if TYPE_CHECKING:
    from airflow_provider_ahgora.sandbox.data import SyntheticCompany

__all__ = ["PUSH_RESOURCES", "PontoWebEmulator", "Push", "Reckon"]

FEATURES = tuple(f.value for f in Feature)
MAX_PAGE = 1000
#: The monitor message of a record that a rejection rule (``reject``) refuses.
DEFAULT_REJECTION = "Record rejected by PontoWeb"

#: Push route -> the message of its answer (the documents give the first two), from the registry.
PUSH_RESOURCES: dict[str, str] = {name: route.message for name, route in PUSH_ROUTES.items()}

_MONTH = re.compile(r"^(0[1-9]|1[0-2])$")
_YEAR = re.compile(r"^\d{4}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def pw_error(status: int, message: str, version: str, headers: dict[str, str] | None = None) -> ApiError:
    """An error in the shape ``Accept-Version`` asks for: v1 ``{"error": {"message", "code"}}``,
    v2 ``{"error": "text"}``."""
    if version == "v2":
        return ApiError(status, {"error": message}, headers)
    return ApiError(status, {"error": {"message": message, "code": status}}, headers)


def push_error(status: int, message: str) -> ApiError:
    """An error of the push routes: ``{"message", "code"}`` (documented for costcenter/subsidiaries)."""
    return ApiError(status, {"message": message, "code": status})


# --------------------------------------------------------------------------------------------------
# Reckons
# --------------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Reckon:
    """One reckon process and its results."""

    process: str
    unique: str
    company: str
    created: float
    request: dict[str, Any]
    features: tuple[str, ...]
    full_base: bool
    employees: int
    """Employees covered: what ``progress.total`` counts."""
    speed: float
    """Employees processed per second of sandbox time."""
    finished_at: float | None = None
    failed_at: float | None = None
    error_message: str | None = None
    records: list[dict[str, Any]] | None = None
    cursor: int = 0
    """Records consumed so far (the next read starts here)."""
    delivered: int = 0
    """Records sent over all reads, reconsumes included."""
    reads: int = 0
    reconsumes: int = 0
    last_reconsume: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def progress(self, now: float) -> int:
        if self.finished_at is not None and now >= self.finished_at:
            return self.employees
        if self.employees == 0 or math.isinf(self.speed):
            return self.employees
        return max(0, min(self.employees, int((now - self.created) * self.speed)))

    def status(self, now: float) -> str:
        if self.failed_at is not None and now >= self.failed_at:
            return "error"
        return "done" if self.progress(now) >= self.employees else "processing"

    def done_at(self) -> float:
        """When processing ends (or ended)."""
        natural = (
            self.created
            if self.employees == 0 or math.isinf(self.speed) or self.speed <= 0
            else self.created + self.employees / self.speed
        )
        if self.finished_at is not None:
            return min(natural, self.finished_at)
        return natural

    def expires_at(self, ttl: float) -> float:
        """Results live ``ttl`` after the reckon; each reconsume makes them live ``ttl`` again."""
        base = self.created if self.last_reconsume is None else max(self.created, self.last_reconsume)
        return base + ttl

    def describe(self, now: float, ttl: float) -> dict[str, Any]:
        total = len(self.records) if self.records is not None else None
        return {
            "process": self.process,
            "unique": self.unique,
            "company": self.company,
            "status": self.status(now),
            "progress": {"done": self.progress(now), "total": self.employees},
            "created_at": iso_ms(self.created),
            "expires_at": iso_ms(self.expires_at(ttl)),
            "expired": now >= self.expires_at(ttl),
            "request": self.request,
            "features": list(self.features),
            "full_base": self.full_base,
            "total": total,
            "consumed": self.cursor,
            "remaining": None if total is None else total - self.cursor,
            "delivered": self.delivered,
            "reads": self.reads,
            "reconsumes": self.reconsumes,
            "error_message": self.error_message,
        }


# --------------------------------------------------------------------------------------------------
# Pushes
# --------------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Push:
    """One push request and its outcome, as the process monitor reports it."""

    resource: str
    unique: str
    subunique: str
    created: float
    records: list[Any]
    speed: float
    error_indexes: list[int] = field(default_factory=list)
    """Indexes of the invalid records, in order."""
    errors: list[dict[str, str]] = field(default_factory=list)
    """``{identifier, message}`` of each invalid record, same order as ``error_indexes``."""

    @property
    def total(self) -> int:
        return len(self.records)

    def done(self, now: float) -> int:
        if math.isinf(self.speed):
            return self.total
        return max(0, min(self.total, int((now - self.created) * self.speed)))

    def finished_at(self) -> float:
        if math.isinf(self.speed) or self.speed <= 0:
            return self.created
        return self.created + self.total / self.speed

    def visible_errors(self, now: float) -> list[dict[str, str]]:
        """Errors of the records processed so far."""
        done = self.done(now)
        return self.errors[: bisect.bisect_left(self.error_indexes, done)]

    def describe(self, now: float) -> dict[str, Any]:
        done = self.done(now)
        failed = len(self.visible_errors(now))
        return {
            "resource": self.resource,
            "unique": self.unique,
            "subunique": self.subunique,
            "created_at": iso_ms(self.created),
            "status": _push_status(done, failed),
            "finished": done >= self.total,
            "progress": {"done": done, "total": self.total},
            "records": self.records,
            "valid": self.total - len(self.errors),
            "errors": list(self.errors),
        }


def _push_status(done: int, failed: int) -> str:
    """done: no failure so far; error: every processed record failed; warning: some did."""
    if failed == 0:
        return "done"
    return "error" if failed >= done else "warning"


# --------------------------------------------------------------------------------------------------
# The emulator
# --------------------------------------------------------------------------------------------------


class PontoWebEmulator:
    """State and routes of the PontoWeb API.

    :param data: the synthetic company whose employees are reckoned.
    :param clock: the sandbox clock.
    :param speed: employees a reckon processes per second of sandbox time (``inf``: instantly).
    :param push_speed: records a push processes per second of sandbox time (``inf``: instantly).
    """

    def __init__(
        self,
        data: SyntheticCompany,
        clock: SandboxClock,
        *,
        company: str,
        seed: int = 42,
        speed: float = 200.0,
        push_speed: float = 1000.0,
        daily_limit: int = 3,
        max_running: int = 4,
        results_ttl: float = 72 * 3600.0,
        unique_window: float = 15 * 60.0,
        max_reconsumes: int = 1000,
        quirks: Quirks | None = None,
    ) -> None:
        if speed <= 0 or push_speed <= 0:
            raise ValueError("speed and push_speed must be positive (use float('inf') for instant)")
        self.data = data
        self.clock = clock
        self.company = company
        self.seed = seed
        self.speed = float(speed)
        self.push_speed = float(push_speed)
        self.daily_limit = daily_limit
        self.max_running = max_running
        self.results_ttl = results_ttl
        self.unique_window = unique_window
        self.max_reconsumes = max_reconsumes
        #: the readings of the documents this emulator plays (shared with the server, changeable live)
        self.quirks = quirks or Quirks()
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._rng = random.Random(self.seed * 7919 + 17)  # noqa: S311 - ids, not crypto
            self.reckons: dict[str, Reckon] = {}
            self._by_unique: dict[str, Reckon] = {}
            self._daily: dict[tuple[str, str], int] = {}
            self.pushes: list[Push] = []
            self._by_subunique: dict[str, Push] = {}
            self._by_push_unique: dict[str, list[Push]] = {}
            self._window: tuple[str, float] | None = None
            self._totals: dict[tuple[str, str], int] = {}
            #: Valid pushed records by resource, keyed by their identifier (last write wins).
            self.stored: dict[str, dict[str, Any]] = {name: {} for name in PUSH_RESOURCES}
            #: Rejection rules: resource -> identifier -> the monitor's message for that record.
            self.rejections: dict[str, dict[str, str]] = {}

    # -- rejection rules ------------------------------------------------------------------------

    def reject(
        self, resource: str, identifiers: Iterable[str], message: str = DEFAULT_REJECTION
    ) -> dict[str, dict[str, str]]:
        """Business rejections: records of ``resource`` whose identifier is in ``identifiers`` fail
        in the process monitor with ``message`` and are not stored (records pushed from now on).

        The identifier is the monitor's (``_check_records``'s key: ``matricula``, ``codigo``, ...).
        Returns every rule."""
        if resource not in PUSH_RESOURCES:
            raise ValueError(f"unknown push resource {resource!r}: use one of {', '.join(PUSH_RESOURCES)}")
        names = [identifiers] if isinstance(identifiers, str) else list(identifiers)
        if not isinstance(message, str) or not message:
            raise ValueError("message must be a non-empty string")
        with self._lock:
            rules = self.rejections.setdefault(resource, {})
            for name in names:
                rules[str(name)] = message
            return self.describe_rejections()

    def clear_rejections(self) -> None:
        with self._lock:
            self.rejections = {}

    def describe_rejections(self) -> dict[str, dict[str, str]]:
        with self._lock:
            return {resource: dict(rules) for resource, rules in self.rejections.items() if rules}

    # -- ids ------------------------------------------------------------------------------------

    def _new_unique(self) -> str:
        while True:
            unique = f"{self._rng.getrandbits(32):08x}"
            if unique not in self._by_unique and unique not in self._by_push_unique:
                return unique

    def _new_process(self, unique: str) -> str:
        r = self._rng
        return (
            f"{unique}-{r.getrandbits(16):04x}-4{r.getrandbits(12):03x}-"
            f"{8 + r.getrandbits(2):x}{r.getrandbits(12):03x}-{r.getrandbits(48):012x}"
        )

    def _new_subunique(self) -> str:
        while True:
            sub = f"{self._rng.randrange(10_000_000, 100_000_000)}"
            if sub not in self._by_subunique:
                return sub

    # -- reckon routes --------------------------------------------------------------------------

    def start(self, body: Any, version: str) -> dict[str, Any]:
        """``POST /reckons/process/start``."""
        request = _validate_start(body, version)
        features = tuple(request.get("features") or ("monthly",))
        registers = request.get("registers") or []
        full_base = not registers
        try:
            employees = self.data.reckon_total(
                request["month"],
                request["year"],
                features=["monthly"],
                registers=registers or None,
                locations=request.get("locations") or None,
                rescission=request["rescission"],
                allow_empty=True,
            )
        except ValueError as exc:  # e.g. a year the calendar cannot hold
            raise pw_error(400, str(exc), version) from None
        with self._lock:
            now = self.clock()
            day = datetime.fromtimestamp(now, tz=timezone.utc).date().isoformat()
            if full_base:
                over = [
                    f for f in FEATURES if f in features and self._daily.get((day, f), 0) >= self.daily_limit
                ]
                if over:
                    raise pw_error(
                        429,
                        f"The daily limit of {self.daily_limit} has been exceeded for the following "
                        f"features: {', '.join(over)}.",
                        version,
                    )
            running = [r for r in self.reckons.values() if r.status(now) == "processing"]
            if len(running) >= self.max_running:
                wait = min(r.done_at() for r in running) - now
                retry_after = max(1, min(60, math.ceil(wait))) if math.isfinite(wait) else 60
                raise pw_error(
                    429,
                    f"At most {self.max_running} processes may run at once and {len(running)} are "
                    "running: wait for one to finish, then start again.",
                    version,
                    {"Retry-After": str(retry_after)},
                )
            if full_base:
                for f in features:
                    self._daily[(day, f)] = self._daily.get((day, f), 0) + 1
            unique = self._new_unique()
            process = self._new_process(unique)
            reckon = Reckon(
                process=process,
                unique=unique,
                company=self.company,
                created=now,
                request=request,
                features=features,
                full_base=full_base,
                employees=employees,
                speed=self.speed,
            )
            self.reckons[process] = reckon
            self._by_unique[unique] = reckon
        return {"process": process, "company": self.company, "created_at": iso_ms(now)}

    def status(self, process: str, version: str) -> dict[str, Any]:
        """``GET /reckons/process/status/{process}``."""
        reckon = self.reckons.get(process)
        if reckon is None:
            raise pw_error(400, "Process not found", version)
        now = self.clock()
        return {
            "status": self.quirks.status(reckon.status(now)),
            "unique": reckon.unique,
            "process": reckon.process,
            "company": reckon.company,
            "progress": {"done": reckon.progress(now), "total": reckon.employees},
        }

    def _readable(self, unique: str, version: str, what: str) -> Reckon:
        reckon = self._by_unique.get(unique)
        if reckon is None:
            raise pw_error(400, "Process not found", version)
        now = self.clock()
        expires = reckon.expires_at(self.results_ttl)
        if now >= expires:
            raise pw_error(
                410,
                f"The results of {unique} expired at {iso_ms(expires)}: reckon results are kept 72 hours "
                "after the reckon (or after the last reconsume). Start a new reckon.",
                version,
            )
        status = reckon.status(now)
        if status == "error":
            raise pw_error(
                400,
                f"The reckon of {unique} ended with status error "
                f"({reckon.error_message or 'processing failed'}): there are no results to {what}. "
                "Start a new reckon.",
                version,
            )
        if status == "processing" and what == "read":
            raise pw_error(
                400,
                f"The reckon of {unique} is still processing ({reckon.progress(now)}/{reckon.employees} "
                "employees): wait for status done before reading its results.",
                version,
            )
        return reckon

    def _ensure_records(self, reckon: Reckon) -> list[dict[str, Any]]:
        # under reckon.lock
        if reckon.records is None:
            req = reckon.request
            reckon.records = list(
                self.data.reckon_records(
                    req["month"],
                    req["year"],
                    features=list(reckon.features),
                    registers=req.get("registers") or None,
                    locations=req.get("locations") or None,
                    rescission=req["rescission"],
                    allow_empty=req.get("allowEmpty", False),
                    include_empty_code=req.get("includeEmptyCode", False),
                    payment_date=req.get("paymentDate"),
                    infotype=req.get("infotype", "0015"),
                )
            )
        return reckon.records

    def results(self, unique: str, query: Mapping[str, str], version: str) -> dict[str, Any]:
        """``GET /reckons/{unique}?limit=N``. Reading consumes: each record is returned once."""
        raw = query.get("limit")
        if raw is None or raw == "":
            limit = MAX_PAGE
        else:
            try:
                limit = int(raw)
            except ValueError:
                limit = 0
            if not 1 <= limit <= MAX_PAGE:
                raise pw_error(400, f'"limit" must be an integer from 1 to {MAX_PAGE}, got {raw!r}', version)
        limit = self.quirks.page(limit)
        reckon = self._readable(unique, version, "read")
        with reckon.lock:
            records = self._ensure_records(reckon)
            start = reckon.cursor
            page = records[start : start + limit]
            reckon.cursor = start + len(page)
            reckon.delivered += len(page)
            reckon.reads += 1
            reading = self.quirks.results_total
            total = self._totals.get((reckon.unique, reading))
            if total is None:  # counted once per reckon and reading: a page stays O(page)
                total = self._totals[(reckon.unique, reading)] = _total(records, reading)
        return {"company": reckon.company, "unique": reckon.unique, "total": total, "data": page}

    def reconsume(self, unique: str, version: str) -> dict[str, Any]:
        """``GET /reckons/reconsume/{unique}``: every record readable again (at most 1000 times)."""
        reckon = self._readable(unique, version, "reconsume")
        with reckon.lock:
            if reckon.reconsumes >= self.max_reconsumes:
                raise pw_error(
                    400,
                    f"The reconsume limit of {self.max_reconsumes} has been reached for {unique}: its "
                    "results cannot be made readable again. Start a new reckon.",
                    version,
                )
            reckon.reconsumes += 1
            reckon.cursor = 0
            reckon.last_reconsume = self.clock()
        return {"company": reckon.company, "unique": reckon.unique}

    # -- pushes ---------------------------------------------------------------------------------

    def push(self, resource: str, raw: bytes, parsed: Any = None) -> dict[str, Any]:
        """``POST /<resource>``: an array of at most 1000 records and 1 MiB, processed asynchronously.

        ``parsed``: the body already decoded by the caller (``None``: decode ``raw`` here)."""
        if len(raw) > MAX_PUSH_BYTES:
            raise push_error(
                413,
                f"Request body too large: {len(raw)} bytes; the maximum is {MAX_PUSH_BYTES} bytes (1 MB) "
                "per request. Send fewer records per request.",
            )
        body = parsed
        if body is None:
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError as exc:
                raise push_error(400, f"Invalid JSON in the request body: {exc}") from None
        if not isinstance(body, list):
            raise push_error(400, "Request format must be an Array")
        if not body:
            raise push_error(400, "Request array is empty: send at least one record")
        if len(body) > MAX_PUSH_RECORDS:
            raise push_error(
                400,
                f"Too many records: {len(body)} in one request; the maximum is {MAX_PUSH_RECORDS} records "
                "per request. Split them into batches.",
            )
        error_indexes, errors, keys = _check_records(resource, body)
        with self._lock:
            rules = self.rejections.get(resource)
            if rules:
                error_indexes, errors = _apply_rejections(rules, keys, error_indexes, errors)
            now = self.clock()
            if self._window is None or now >= self._window[1] + self.unique_window:
                self._window = (self._new_unique(), now)
            unique = self._window[0]
            push = Push(
                resource=resource,
                unique=unique,
                subunique=self._new_subunique(),
                created=now,
                records=body,
                speed=self.push_speed,
                error_indexes=error_indexes,
                errors=errors,
            )
            self.pushes.append(push)
            self._by_subunique[push.subunique] = push
            self._by_push_unique.setdefault(unique, []).append(push)
            failed = set(error_indexes)
            store = self.stored.setdefault(resource, {})
            for i, record in enumerate(body):
                if i not in failed:
                    store[keys[i]] = record
        return {
            "company": self.company,
            "unique": push.unique,
            "subunique": push.subunique,
            "message": PUSH_RESOURCES.get(resource, "Integration on progress"),
        }

    def monitor(self, query: Mapping[str, str], version: str) -> dict[str, Any]:
        """``GET /process?subunique=`` (or ``?unique=``): progress as strings, per-record errors."""
        sub = query.get("subunique")
        unique = query.get("unique")
        with self._lock:
            if sub:
                one = self._by_subunique.get(sub)
                pushes = [one] if one is not None else []
            elif unique:
                pushes = list(self._by_push_unique.get(unique, ()))
            else:
                raise pw_error(400, '"subunique" or "unique" is required', version)
        if not pushes:
            raise pw_error(400, "Process not found", version)
        now = self.clock()
        finished = max(p.finished_at() for p in pushes)
        if now >= finished + self.unique_window:
            which = f"subunique {sub}" if sub else f"unique {unique}"
            raise pw_error(
                410,
                f"Gone: {which} expired (the process monitor keeps a process 15 minutes after it "
                "finished). Its outcome can no longer be read.",
                version,
            )
        done = sum(p.done(now) for p in pushes)
        total = sum(p.total for p in pushes)
        errors = [e for p in pushes for e in p.visible_errors(now)]
        return {
            "company": self.company,
            "unique": pushes[0].unique,
            "subunique": sub or pushes[-1].subunique,
            "status": self.quirks.status(_push_status(done, len(errors))),
            "progress": {"done": str(done), "total": str(total)},
            "data": [] if self.quirks.empty_as_list and not errors else {"errors": errors},
        }

    # -- control and inspection -----------------------------------------------------------------

    def has(self, key: str) -> bool:
        """Whether a reckon with this process or unique exists."""
        return key in self.reckons or key in self._by_unique

    def find(self, key: str) -> Reckon:
        """A reckon by process or unique; ``KeyError`` if none."""
        reckon = self.reckons.get(key) or self._by_unique.get(key)
        if reckon is None:
            raise KeyError(f"no reckon with process or unique {key!r}")
        return reckon

    def finish(self, key: str) -> dict[str, Any]:
        reckon = self.find(key)
        with reckon.lock:
            reckon.finished_at = self.clock()
        return reckon.describe(self.clock(), self.results_ttl)

    def fail(self, key: str, message: str | None = None) -> dict[str, Any]:
        reckon = self.find(key)
        with reckon.lock:
            reckon.failed_at = self.clock()
            reckon.error_message = message or "the sandbox was told to fail this reckon"
        return reckon.describe(self.clock(), self.results_ttl)

    def describe_reckon(self, key: str) -> dict[str, Any]:
        return self.find(key).describe(self.clock(), self.results_ttl)

    def snapshot(self) -> dict[str, Any]:
        now = self.clock()
        with self._lock:
            reckons = [r.describe(now, self.results_ttl) for r in self.reckons.values()]
            pushes = [p.describe(now) for p in self.pushes]
            daily = {f"{day} {feature}": n for (day, feature), n in sorted(self._daily.items())}
            stored = {name: len(records) for name, records in self.stored.items()}
            window = self._window
            rejections = self.describe_rejections()
        return {
            "company": self.company,
            "reckons": reckons,
            "pushes": pushes,
            "daily_full_base": daily,
            "stored": stored,
            "current_unique": window[0] if window else None,
            "rejections": rejections,
        }


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------


def _total(records: list[dict[str, Any]], reading: str) -> int:
    """What ``total`` counts under ``reading`` (see the sandbox's ``Quirks``)."""
    if reading == "records":
        return len(records)
    if reading == "employees":
        return len({r.get("employee") for r in records})
    days = [d for r in records for d in r.get("daily") or ()]
    if reading == "days with punches":
        return sum(1 for d in days if d.get("punches"))
    if reading == "days with results":
        return sum(1 for d in days if d.get("results"))
    return len(days)


def _validate_start(body: Any, version: str) -> dict[str, Any]:
    """The reckon start body, checked the way the API's validator words it (``"rescission" is
    required``); unknown keys are kept."""

    def bad(message: str) -> ApiError:
        return pw_error(400, message, version)

    if not isinstance(body, dict):
        raise bad('"value" must be of type object')
    out = dict(body)
    if "rescission" not in body:
        raise bad('"rescission" is required')
    if not isinstance(body["rescission"], bool):
        raise bad('"rescission" must be a boolean')
    for key, pattern, text in (
        ("month", _MONTH, "/^(0[1-9]|1[0-2])$/"),
        ("year", _YEAR, "/^\\d{4}$/"),
    ):
        if key not in body:
            raise bad(f'"{key}" is required')
        value = body[key]
        if not isinstance(value, str):
            raise bad(f'"{key}" must be a string')
        if not pattern.match(value):
            raise bad(f'"{key}" with value "{value}" fails to match the required pattern: {text}')
    for key in ("registers", "locations"):
        if key in body:
            items = body[key]
            if not isinstance(items, list):
                raise bad(f'"{key}" must be an array')
            for i, item in enumerate(items):
                if not isinstance(item, str):
                    raise bad(f'"{key}[{i}]" must be a string')
                if not item:
                    raise bad(f'"{key}[{i}]" is not allowed to be empty')
    if body["rescission"] and not body.get("registers"):
        raise bad('"registers" must contain at least 1 items')
    if "paymentDate" in body and body["paymentDate"] is not None:
        value = body["paymentDate"]
        valid = isinstance(value, str) and _DATE.match(value) is not None
        if valid:
            try:
                datetime.strptime(value, "%Y-%m-%d")
            except ValueError:
                valid = False
        if not valid:
            raise bad('"paymentDate" must be in YYYY-MM-DD format')
    if "infotype" in body and not isinstance(body["infotype"], str):
        raise bad('"infotype" must be a string')
    for key in ("allowEmpty", "includeEmptyCode"):
        if key in body and not isinstance(body[key], bool):
            raise bad(f'"{key}" must be a boolean')
    if "features" in body:
        features = body["features"]
        if not isinstance(features, list):
            raise bad('"features" must be an array')
        for i, feature in enumerate(features):
            if feature not in FEATURES:
                raise bad(f'"features[{i}]" must be one of [{", ".join(FEATURES)}]')
            if feature in features[:i]:
                raise bad(f'"features[{i}]" contains a duplicate value')
    return out


def _apply_rejections(
    rules: Mapping[str, str], keys: list[str], indexes: list[int], errors: list[dict[str, str]]
) -> tuple[list[int], list[dict[str, str]]]:
    """Validation errors plus the records that ``rules`` reject (one error per record), by index."""
    by_index = dict(zip(indexes, errors, strict=True))
    for i, key in enumerate(keys):
        if i not in by_index and key in rules:
            by_index[i] = {"identifier": key, "message": rules[key]}
    ordered = sorted(by_index)
    return ordered, [by_index[i] for i in ordered]


@functools.cache
def _list_validator(model: type[Any]) -> Any:
    """Validates a list of ``model`` records in one call (what ``validate_many`` does record by record)."""
    from pydantic import TypeAdapter

    return TypeAdapter(list[model]).validate_python  # type: ignore[valid-type]


def _check_records(resource: str, records: list[Any]) -> tuple[list[int], list[dict[str, str]], list[str]]:
    """Validate pushed records with the provider's request models: ``(error indexes, errors, keys)``.

    ``keys`` names each record by its identifying field (the monitor's ``identifier``)."""
    from pydantic import ValidationError

    from airflow_provider_ahgora.models._base import validate_many
    from airflow_provider_ahgora.models.pontoweb import PUSH_ID_KEYS, PUSH_MODELS

    id_keys = PUSH_ID_KEYS.get(resource, ("matricula",))
    keys: list[str] = []
    for i, record in enumerate(records):
        ident = None
        if isinstance(record, dict):
            ident = next((record[k] for k in id_keys if record.get(k) not in (None, "")), None)
        keys.append(str(ident) if ident is not None else f"#{i}")
    model = PUSH_MODELS.get(resource)
    if model is None:
        bad = [
            (i, f"must be a JSON object, got {type(r).__name__}")
            for i, r in enumerate(records)
            if not isinstance(r, dict)
        ]
        return [i for i, _ in bad], [{"identifier": keys[i], "message": m} for i, m in bad], keys
    try:  # the common case, every record valid, in one call; the records' own errors else
        _list_validator(model)(records)
        return [], [], keys
    except ValidationError:
        pass
    _valid, invalid = validate_many(model, records, id_keys)
    indexes = [i for i, _, _ in invalid]
    errors = [
        {
            "identifier": keys[i],
            "message": "; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in errs),
        }
        for i, _, errs in invalid
    ]
    return indexes, errors, keys

"""The delivery journal: what a task sent, what was confirmed, and what may have been sent, kept
durably across the tries of one task instance, and written *as the work proceeds*.

Every push operator keeps its journal here, and so does the reckon operator its started reckon:

* **Where.** On Airflow 3.3 and later, the task instance's ``task_state_store`` (AIP-103), scoped to
  dag, run, task and map index: every try of the task instance sees what an earlier try wrote, and
  a new Dag run starts empty. Below 3.3 (or in a context without it), an Airflow Variable whose key
  names the same scope, ``ahgora_reckon__<dag>__<run>__<task>__<map>`` (the prefix is historical:
  the reckon operator came first). Both are deleted when the task succeeds.
* **What.** A journal is kept per input: it names the input by a digest of what is sent, so a retry
  on another input starts afresh. Each *unit* (a PontoWeb batch, a Voors record: an integer) is
  ``confirmed`` (delivered, with what the API answered), ``inflight`` (sent, or about to be: its
  outcome is not known yet) or ``unknown`` (its outcome may never be known: the answer was lost).
* **When.** A unit that must not be sent twice (a create, an INS absence) is marked ``inflight``
  *before* its request, and the mark is on disk before the request leaves (:meth:`begin` writes at
  once and raises if it cannot): a worker killed mid-request leaves the mark, and the retry knows
  the request may have taken effect. Confirmations are written as they come, at most every few
  seconds (:attr:`DeliveryJournal.flush_seconds`), and always at the end of a try.
* **What a retry does with it** is the operator's decision, in one rule: a confirmed unit is not
  sent again; a unit whose outcome is unknown (``inflight`` left by a killed try, or ``unknown``) is
  sent again only where that is harmless (an idempotent upsert), else reconciled by reading it back
  where the API allows, else reported as "outcome unknown", never resent on hope.

A store that cannot be read is treated as empty, with a warning (the reckon operator would rather
reconnect than fail). A store that cannot be written fails a :meth:`begin` (nothing is sent without
its mark) and only warns for confirmations (an unconfirmed unit is reconciled or reported later).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "VARIABLE_PREFIX",
    "DeliveryJournal",
    "JournalWriteError",
    "RetryState",
    "TaskStateStoreState",
    "VariableState",
    "ranges",
    "retry_state",
    "unranges",
    "variable_key",
]

log = logging.getLogger(__name__)

#: Prefix of the Variable keys of the fallback store.
VARIABLE_PREFIX = "ahgora_reckon"
#: Airflow Variable keys are at most 250 characters.
_MAX_KEY = 250
#: The journal's format; an entry of another version is ignored (with a warning).
JOURNAL_VERSION = 1
#: Beyond this many bytes a task_state_store value is over Airflow's default policy (64 KB).
LARGE_VALUE = 60_000


class JournalWriteError(RuntimeError):
    """The journal could not be written: what depends on it (a request that must not be sent twice
    without a mark) is not done."""


# ==================================================================================================
# The stores
# ==================================================================================================


def variable_key(dag_id: str, run_id: str, task_id: str, map_index: int | None) -> str:
    """``ahgora_reckon__<dag>__<run>__<task>__<map>``; hashed when longer than a Variable key may be."""
    index = -1 if map_index is None else int(map_index)
    key = f"{VARIABLE_PREFIX}__{dag_id}__{run_id}__{task_id}__{index}"
    if len(key) <= _MAX_KEY:
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    head = f"{VARIABLE_PREFIX}__{dag_id}"[: _MAX_KEY - len(digest) - 2]
    return f"{head}__{digest}"


class RetryState:
    """One JSON object kept across the tries of one task instance. Base class: keeps nothing."""

    #: What backs it, for log lines: ``task_state_store``, ``Variable <key>`` or ``nothing``.
    where: str = "nothing"
    #: False when nothing survives a retry.
    durable: bool = False

    def get(self) -> dict[str, Any] | None:
        return None

    def set(self, value: Mapping[str, Any], *, strict: bool = False) -> bool:
        """Write ``value``; ``True`` if it was written. A failure is logged (``False``), or raised as
        :class:`JournalWriteError` if ``strict``."""
        return False

    def delete(self) -> None:
        return None

    def _failed_write(self, exc: BaseException, strict: bool) -> bool:
        if strict:
            raise JournalWriteError(f"could not write {self.where}: {exc}") from exc
        log.warning(
            "Could not write %s (%s): a retry of this task will not know what an earlier try did.",
            self.where,
            exc,
        )
        return False


class TaskStateStoreState(RetryState):
    """The task instance's ``task_state_store`` (Airflow 3.3+), under one key."""

    durable = True

    def __init__(self, store: Any, key: str) -> None:
        self.store = store
        self.key = key
        self.where = f"task_state_store key {key!r}"

    def get(self) -> dict[str, Any] | None:
        try:
            value = self.store.get(self.key)
        except Exception as exc:
            log.warning("Could not read %s (%s): treating it as empty.", self.where, exc)
            return None
        return _as_dict(value)

    def set(self, value: Mapping[str, Any], *, strict: bool = False) -> bool:
        try:
            self.store.set(self.key, dict(value))
        except Exception as exc:
            return self._failed_write(exc, strict)
        return True

    def delete(self) -> None:
        try:
            self.store.delete(self.key)
        except Exception as exc:
            log.warning("Could not delete %s (%s).", self.where, exc)


class VariableState(RetryState):
    """An Airflow Variable keyed by dag, run, task and map index (Airflow below 3.3)."""

    durable = True

    def __init__(self, key: str) -> None:
        self.key = key
        self.where = f"Variable {key!r}"

    @staticmethod
    def _variable() -> Any:
        from airflow.providers.common.compat.sdk import Variable

        return Variable

    def get(self) -> dict[str, Any] | None:
        try:
            raw = self._variable().get(self.key, None)
        except Exception as exc:
            log.warning("Could not read %s (%s): treating it as empty.", self.where, exc)
            return None
        if raw in (None, ""):
            return None
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                log.warning("%s does not hold JSON: ignoring it.", self.where)
                return None
        return _as_dict(raw)

    def set(self, value: Mapping[str, Any], *, strict: bool = False) -> bool:
        try:
            self._variable().set(
                self.key,
                json.dumps(dict(value), sort_keys=True),
                description="airflow-provider-ahgora: state a retry of this task reuses "
                "(deleted when the task succeeds).",
            )
        except Exception as exc:
            return self._failed_write(exc, strict)
        return True

    def delete(self) -> None:
        try:
            self._variable().delete(self.key)
        except Exception as exc:
            log.warning("Could not delete %s (%s): delete it by hand.", self.where, exc)


def _as_dict(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, dict) and value else None


def retry_state(context: Mapping[str, Any], key: str = VARIABLE_PREFIX) -> RetryState:
    """The store of this task instance: ``task_state_store`` when the context has one, else a Variable.

    :param context: the task's context.
    :param key: the key inside ``task_state_store`` (the Variable's key names the task instance).
    """
    store = context.get("task_state_store")
    if store is not None:
        return TaskStateStoreState(store, key)
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", None)
    run_id = getattr(ti, "run_id", None) or context.get("run_id")
    task_id = getattr(ti, "task_id", None)
    if not (dag_id and run_id and task_id):
        log.warning("No task instance in the context: nothing will survive a retry of this task.")
        return RetryState()
    map_index = getattr(ti, "map_index", -1)
    return VariableState(variable_key(str(dag_id), str(run_id), str(task_id), map_index))


# ==================================================================================================
# The journal
# ==================================================================================================


def ranges(units: Iterable[int]) -> list[list[int]]:
    """``[0, 1, 2, 5]`` -> ``[[0, 2], [5, 5]]`` (any order in, sorted out): a compact set of units."""
    out: list[list[int]] = []
    for unit in sorted(set(units)):
        if out and out[-1][1] == unit - 1:
            out[-1][1] = unit
        else:
            out.append([unit, unit])
    return out


def unranges(value: Any) -> set[int]:
    """The units of :func:`ranges`' output (anything malformed is skipped)."""
    units: set[int] = set()
    for item in value or ():
        try:
            first, last = int(item[0]), int(item[1])
        except (TypeError, ValueError, IndexError):
            continue
        units.update(range(first, last + 1))
    return units


CONFIRMED = "confirmed"
INFLIGHT = "inflight"
UNKNOWN = "unknown"


class DeliveryJournal:
    """The journal of one task instance for one input (see the module documentation).

    :param state: where it is kept (:func:`retry_state`).
    :param input_id: what names the input (a digest of what is sent); an entry kept for another
        input is ignored, and replaced at the first write.
    :param what: how log lines name the work (``"Voors departments"``).
    :param flush_seconds: confirmations are written at most this often (the first one, a :meth:`begin`
        and the end of a try write at once); 0: every confirmation is written as it comes (PontoWeb
        batches: a write per request of up to 1000 records is nothing).
    """

    def __init__(
        self, state: RetryState, input_id: str, what: str = "the push", *, flush_seconds: float = 5.0
    ) -> None:
        self.state = state
        self.input_id = input_id
        self.what = what
        self.confirmed: set[int] = set()
        self.inflight: set[int] = set()
        self.unknown: dict[int, str] = {}
        self.info: dict[int, dict[str, Any]] = {}
        self.extra: dict[str, Any] = {}
        self.loaded = False
        self.had_entry = False
        #: what the journal of another input held (the input changed between tries): units that
        #: were delivered or may have been, and the ``max_tries`` it was written under
        self.other_input: dict[str, Any] | None = None
        self.flush_seconds = flush_seconds
        self._dirty = False
        self._last_flush = float("-inf")

    # -- reading --------------------------------------------------------------------------------

    def load(self) -> DeliveryJournal:
        """Read what earlier tries wrote for this input."""
        stored = self.state.get() or {}
        self.loaded = True
        self.had_entry = bool(stored)
        if not stored:
            return self
        if stored.get("v") != JOURNAL_VERSION or stored.get("input") != self.input_id:
            held = len(unranges(stored.get(CONFIRMED))) + len(unranges(stored.get(INFLIGHT)))
            held += len(stored.get(UNKNOWN) or {})
            self.other_input = {"units": held, "max_tries": (stored.get("extra") or {}).get("max_tries")}
            log.warning(
                "%s: %s holds the journal of another input (the records changed since an earlier try, or "
                "it was written by another version; %d unit(s) delivered or maybe delivered).",
                self.what,
                self.state.where,
                held,
            )
            return self
        self.confirmed = unranges(stored.get(CONFIRMED))
        self.inflight = unranges(stored.get(INFLIGHT))
        reasons = [str(r) for r in stored.get("reasons") or ()]
        self.unknown = {}
        for key, value in (stored.get(UNKNOWN) or {}).items():
            if isinstance(value, int) and 0 <= value < len(reasons):
                value = reasons[value]
            self.unknown[int(key)] = str(value)
        self.info = {int(k): dict(v) for k, v in (stored.get("info") or {}).items() if isinstance(v, Mapping)}
        self.extra = dict(stored.get("extra") or {})
        return self

    def changed_input_is_risky(self, max_tries: int | None) -> bool:
        """An earlier try of this task instance delivered (or may have) units of *another* input, and
        no human cleared the task since (which raises ``max_tries``): sending this input could send
        again what was delivered. The caller fails where a second copy is harmful."""
        other = self.other_input
        if not other or not other["units"]:
            return False
        before = other.get("max_tries")
        cleared = isinstance(max_tries, int) and isinstance(before, int) and max_tries > before
        return not cleared

    def stamp(self, max_tries: int | None) -> None:
        """Note the ``max_tries`` of this try (a later try that sees it raised knows a human cleared the
        task)."""
        if max_tries is not None and self.extra.get("max_tries") != max_tries:
            self.extra["max_tries"] = max_tries
            self._dirty = True

    def status(self, unit: int) -> str | None:
        """``confirmed``, ``inflight``, ``unknown``, or ``None`` (never sent as far as the journal knows)."""
        if unit in self.confirmed:
            return CONFIRMED
        if unit in self.unknown:
            return UNKNOWN
        if unit in self.inflight:
            return INFLIGHT
        return None

    def unsettled(self) -> set[int]:
        """Units whose outcome earlier tries did not learn: ``inflight`` or ``unknown``."""
        return self.inflight | set(self.unknown)

    # -- writing --------------------------------------------------------------------------------

    def begin(self, units: Iterable[int], info: Mapping[int, Mapping[str, Any]] | None = None) -> None:
        """Mark ``units`` in flight and write the journal *now*: call it before their requests.

        :raises JournalWriteError: if it cannot be written (then do not send them).
        """
        for unit in units:
            self.inflight.add(unit)
            self.unknown.pop(unit, None)
            if info and unit in info:
                self.info[unit] = dict(info[unit])
        self._dirty = True
        self.flush(force=True, strict=True)

    def confirm(self, unit: int, **info: Any) -> None:
        """``unit`` was delivered (``info``: what the API answered that a retry needs)."""
        self.confirmed.add(unit)
        self.inflight.discard(unit)
        self.unknown.pop(unit, None)
        if info:
            self.info[unit] = info
        else:
            self.info.pop(unit, None)
        self._dirty = True
        self.flush()

    def forget(self, unit: int) -> None:
        """``unit`` surely did not take effect (refused, or never left): nothing to remember."""
        self.inflight.discard(unit)
        self.unknown.pop(unit, None)
        self.info.pop(unit, None)
        self._dirty = True

    def mark_unknown(self, unit: int, reason: str) -> None:
        """``unit`` may have taken effect, and the answer that would tell was lost."""
        self.inflight.discard(unit)
        self.unknown[unit] = reason[:300]
        self._dirty = True
        self.flush()

    def remember(self, key: str, value: Any) -> None:
        """Keep a JSON value with the journal (e.g. what a deferred task needs when it resumes)."""
        self.extra[key] = value
        self._dirty = True

    def flush(self, *, force: bool = False, strict: bool = False) -> None:
        """Write the journal if it changed (at most every :attr:`flush_seconds` unless ``force``)."""
        if not self._dirty:
            return
        now = time.monotonic()
        if not force and now - self._last_flush < self.flush_seconds:
            return
        value = self.as_dict()
        size = len(json.dumps(value, separators=(",", ":")))
        if size > LARGE_VALUE and not getattr(self, "_warned_size", False):
            self._warned_size = True
            log.warning(
                "%s: the journal in %s is %d bytes, more than Airflow's default limit for a task_state_store "
                "value (64 KB, a policy that only warns for workers): raise [state_store] "
                "max_value_storage_bytes if your deployment enforces it.",
                self.what,
                self.state.where,
                size,
            )
        if self.state.set(value, strict=strict):
            self._dirty = False
            self._last_flush = now

    def as_dict(self) -> dict[str, Any]:
        # an unknown unit keeps an index into one table of reasons: many units lost to one outage
        # cost a few bytes each, not a sentence each
        reasons: dict[str, int] = {}
        unknown = {str(k): reasons.setdefault(v, len(reasons)) for k, v in sorted(self.unknown.items())}
        return {
            "v": JOURNAL_VERSION,
            "input": self.input_id,
            CONFIRMED: ranges(self.confirmed),
            INFLIGHT: ranges(self.inflight),
            UNKNOWN: unknown,
            "reasons": list(reasons),
            "info": {str(k): v for k, v in sorted(self.info.items())},
            "extra": self.extra,
        }

    def clear(self) -> None:
        """The task succeeded: nothing is left to remember."""
        self.state.delete()
        self.confirmed.clear()
        self.inflight.clear()
        self.unknown.clear()
        self.info.clear()
        self._dirty = False

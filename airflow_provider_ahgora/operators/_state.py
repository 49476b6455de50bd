"""State that survives a task's retries: which reckon an earlier try started, which push batches
an earlier try got accepted, which Voors records it created.

Two stores, one interface (:class:`RetryState`):

* Airflow 3.3 and later: the task instance's ``task_state_store`` (AIP-103, the store behind
  ``ResumableJobMixin``). It is scoped to dag, run, task and map index, so every try of the task
  sees what an earlier try wrote, and a new Dag run starts empty.
* Older Airflow (or a context without ``task_state_store``): an Airflow Variable whose key names
  the same scope, ``ahgora_reckon__<dag>__<run>__<task>__<map>``. It is written right after the
  reckon starts and deleted when the task succeeds.

A store that cannot be reached never fails the task (the reckon has been paid for, and failing
now would make a retry pay again): the problem is logged and the task goes on without recovery.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "VARIABLE_PREFIX",
    "RetryState",
    "TaskStateStoreState",
    "VariableState",
    "retry_state",
    "variable_key",
]

log = logging.getLogger(__name__)

#: Prefix of the Variable keys of the fallback store.
VARIABLE_PREFIX = "ahgora_reckon"
#: Airflow Variable keys are at most 250 characters.
_MAX_KEY = 250


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

    def set(self, value: Mapping[str, Any]) -> None:
        return None

    def delete(self) -> None:
        return None


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

    def set(self, value: Mapping[str, Any]) -> None:
        try:
            self.store.set(self.key, dict(value))
        except Exception as exc:
            log.warning(
                "Could not write %s (%s): a retry of this task will not know what an earlier try did.",
                self.where,
                exc,
            )

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

    def set(self, value: Mapping[str, Any]) -> None:
        try:
            self._variable().set(
                self.key,
                json.dumps(dict(value), sort_keys=True),
                description="airflow-provider-ahgora: state a retry of this task reuses "
                "(deleted when the task succeeds).",
            )
        except Exception as exc:
            log.warning(
                "Could not write %s (%s): a retry of this task will not know what an earlier try did.",
                self.where,
                exc,
            )

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
    :param key: the key inside ``task_state_store``.
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

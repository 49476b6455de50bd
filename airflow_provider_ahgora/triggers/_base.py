"""What the provider's triggers share, and how a task hands its wait to one.

* :class:`AhgoraTrigger`: equality and hashing by the serialized form (Airflow deduplicates triggers
  by it), one hook per run built off the event loop, and **one** event whatever happens: a failure
  becomes a ``failed`` event (``message``, ``error_type``); cancellation still propagates.
* :func:`defer_wait`: how an operator or a sensor defers to a trigger, with Airflow's own deferral
  timeout set :data:`DEFERRAL_TIMEOUT_MARGIN` after the wait's ``timeout``, as a backstop only: the
  trigger's ``timeout`` event, which names the last progress, comes first.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_ahgora._offloop import import_off_loop
from airflow_provider_ahgora.polling import DEFERRAL_TIMEOUT_MARGIN

if TYPE_CHECKING:
    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook

__all__ = ["DEFERRAL_TIMEOUT_MARGIN", "HOOK_MODULES", "AhgoraTrigger", "defer_wait", "load_hook_module"]


#: What a trigger needs to poll, imported off the loop before its first call: the hook, its models
#: (pydantic) and the async wire (aiohttp), together most of a second the first time in a process.
HOOK_MODULES = (
    "airflow_provider_ahgora.hooks.pontoweb",
    "airflow_provider_ahgora.models.pontoweb",
    "airflow_provider_ahgora.hooks._async",
)


async def load_hook_module() -> None:
    """Import :data:`HOOK_MODULES` in a worker thread, once per process: triggers that start while
    the import runs wait for it instead of importing on the loop (see
    :func:`~airflow_provider_ahgora._offloop.import_off_loop`)."""
    await import_off_loop(*HOOK_MODULES)


class AhgoraTrigger(BaseTrigger):
    """Base of the provider's triggers (see the module documentation). Subclasses define
    :meth:`serialize`, :meth:`_wait` (the event's payload) and :meth:`_describe` (for the log)."""

    pontoweb_conn_id: str

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.serialize() == other.serialize()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        classpath, kwargs = self.serialize()
        return hash((classpath, json.dumps(kwargs, sort_keys=True, default=str)))

    def _get_hook(self) -> PontoWebHook:
        from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook

        return PontoWebHook(self.pontoweb_conn_id)

    def _describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _failed(self, exc: BaseException) -> dict[str, Any]:
        """The ``failed`` event of a wait that raised ``exc``."""
        return {"status": "failed", "message": str(exc), "error_type": type(exc).__name__}

    async def _wait(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait; yield exactly one event."""
        try:
            payload = await self._wait()
        except Exception as exc:  # every failure becomes the one event; cancellation still propagates
            self.log.error("Waiting for %s failed: %s", self._describe(), exc)
            payload = self._failed(exc)
        yield TriggerEvent(payload)


def defer_wait(task: Any, trigger: BaseTrigger, timeout: float | None, **kwargs: Any) -> NoReturn:
    """``task.defer`` to ``trigger``, resuming in ``execute_complete``; ``kwargs`` go to it."""
    task.defer(
        trigger=trigger,
        method_name="execute_complete",
        kwargs=kwargs or None,
        timeout=None if timeout is None else timedelta(seconds=float(timeout) + DEFERRAL_TIMEOUT_MARGIN),
    )
    raise AssertionError("defer() returned")  # pragma: no cover - it raises TaskDeferred

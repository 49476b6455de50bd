"""Work that must not run on an event loop, and how this provider's async code hands it to a thread.

One triggerer runs every deferred task of a deployment on one event loop: a step that blocks it (an
import, a connection lookup, a synchronous call to Airflow's supervisor, CPU-heavy setup) delays all
of them. What the triggers and the hooks' async path cannot avoid doing goes through here:

* :func:`import_off_loop`: modules imported in a worker thread, once per process. Every caller that
  comes while the import runs awaits that same import, so that no caller imports on the loop, where
  it would wait on the import lock of a module another thread is half-way through.
* :func:`run_off_loop`: a function in a worker thread; callers that give the same ``key`` while a
  call is running share its result (one connection lookup for many triggers that start at once).

Worker threads are asgiref's ``sync_to_async`` (as the Apache providers' own async hooks use): code
that runs there and talks to Airflow's supervisor synchronously (a connection lookup, the masking
of a secret) is carried back to the loop by Airflow where it must be (Airflow 3.1), instead of
blocking it.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

__all__ = ["import_off_loop", "run_off_loop"]

T = TypeVar("T")

#: Calls running now, by (loop, key): later callers with the same key await the first one's future.
_FLIGHTS: dict[tuple[int, Hashable], asyncio.Future[Any]] = {}
#: The tasks behind them (the loop keeps only weak references to tasks).
_TASKS: set[asyncio.Task[None]] = set()


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    if "asgiref.sync" not in sys.modules:  # not even that is imported on the loop
        await asyncio.to_thread(importlib.import_module, "asgiref.sync")
    from asgiref.sync import sync_to_async

    return await sync_to_async(fn, thread_sensitive=False)(*args)


async def run_off_loop(fn: Callable[..., T], *args: Any, key: Hashable | None = None) -> T:
    """``fn(*args)`` in a worker thread. With ``key``: while a call with that key runs, other callers
    with the same key await its outcome (its result, or its exception) instead of calling again;
    nothing is kept once it is over."""
    if key is None:
        return await _in_thread(fn, *args)
    loop = asyncio.get_running_loop()
    flight_key = (id(loop), key)
    running = _FLIGHTS.get(flight_key)
    if running is not None:
        return await asyncio.shield(running)  # one caller's cancellation leaves the others' call alone
    future: asyncio.Future[Any] = loop.create_future()
    _FLIGHTS[flight_key] = future

    async def call() -> None:
        try:
            future.set_result(await _in_thread(fn, *args))
        except BaseException as exc:  # delivered to every caller, this one included
            future.set_exception(exc)
        finally:
            _FLIGHTS.pop(flight_key, None)

    task = loop.create_task(call())  # runs to its end even if the first caller is cancelled
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
    future.add_done_callback(_retrieved)
    return await asyncio.shield(future)


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Mark an exception as seen: when every caller was cancelled, asyncio would warn about it."""
    if not future.cancelled():
        future.exception()


def _import_all(names: tuple[str, ...]) -> None:
    for name in names:
        importlib.import_module(name)


async def import_off_loop(*names: str) -> None:
    """Import ``names`` in a worker thread (each once per process; see the module documentation)."""
    missing = tuple(name for name in names if name not in sys.modules or _importing(name))
    if missing:
        await run_off_loop(_import_all, missing, key=("import", missing))


def _importing(name: str) -> bool:
    """Whether ``name`` is in ``sys.modules`` but still being imported (by another thread)."""
    spec = getattr(sys.modules.get(name), "__spec__", None)
    return bool(getattr(spec, "_initializing", False))

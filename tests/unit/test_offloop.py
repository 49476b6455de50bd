"""What must not run on the event loop runs in a worker thread, once for all who need it at once."""

from __future__ import annotations

import asyncio
import importlib
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_ahgora import _offloop


async def _max_lag(until: asyncio.Future[Any]) -> float:
    worst = 0.0
    while not until.done():
        start = time.perf_counter()
        await asyncio.sleep(0.005)
        worst = max(worst, time.perf_counter() - start - 0.005)
    return worst


@pytest.fixture
def slow_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module whose import takes 0.6 s and counts its executions."""
    name = f"ahgora_slow_import_{time.monotonic_ns()}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            import builtins, time
            builtins.AHGORA_SLOW_IMPORTS = getattr(builtins, "AHGORA_SLOW_IMPORTS", 0) + 1
            time.sleep(0.6)
            VALUE = 42
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


async def test_a_caller_arriving_during_the_import_waits_for_it_off_the_loop(slow_module):
    """The bug this prevents: the second trigger saw the module in ``sys.modules`` (half imported by
    the first one's thread), skipped the preload and imported on the loop: blocked on the import lock
    until the other thread finished."""
    import builtins

    async def late_caller() -> Any:
        await asyncio.sleep(0.2)  # the first import is under way
        await _offloop.import_off_loop(slow_module)
        # what the trigger does next: import what it needs, on the loop, expecting it loaded
        return importlib.import_module(slow_module).VALUE

    first = asyncio.ensure_future(_offloop.import_off_loop(slow_module))
    second = asyncio.ensure_future(late_caller())
    both = asyncio.ensure_future(asyncio.gather(first, second))
    lag = await _max_lag(both)
    assert (await both)[1] == 42
    # on the loop, the late caller would wait for the rest of the import (0.4 s); a busy machine's
    # own stalls stay well below that
    assert lag < 0.3, f"the loop was blocked {lag:.2f} s"
    assert builtins.AHGORA_SLOW_IMPORTS == 1  # type: ignore[attr-defined]
    del builtins.AHGORA_SLOW_IMPORTS  # type: ignore[attr-defined]


async def test_an_imported_module_costs_no_thread(monkeypatch):
    def no_thread(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a thread for a module already imported")

    monkeypatch.setattr(_offloop, "run_off_loop", no_thread)
    await _offloop.import_off_loop("json", "asyncio")


async def test_callers_with_one_key_share_one_call_in_a_worker_thread():
    threads: list[int] = []

    def lookup(value: int) -> int:
        threads.append(threading.get_ident())
        time.sleep(0.2)
        return value * 2

    results = await asyncio.gather(*(_offloop.run_off_loop(lookup, 21, key="k") for _ in range(30)))
    assert results == [42] * 30
    assert len(threads) == 1
    assert threads[0] != threading.get_ident()
    assert _offloop._FLIGHTS == {}  # nothing kept once it is over
    assert await _offloop.run_off_loop(lookup, 1, key="k") == 2  # a later caller calls again
    assert len(threads) == 2


async def test_every_caller_gets_the_failure_and_a_cancelled_one_stops_nobody():
    def broken() -> None:
        time.sleep(0.2)
        raise ValueError("no such connection")

    first = asyncio.ensure_future(_offloop.run_off_loop(broken, key="bad"))
    await asyncio.sleep(0.05)
    others = [asyncio.ensure_future(_offloop.run_off_loop(broken, key="bad")) for _ in range(3)]
    await asyncio.sleep(0.05)
    first.cancel()
    for other in others:
        with pytest.raises(ValueError, match="no such connection"):
            await other
    with pytest.raises(asyncio.CancelledError):
        await first
    assert _offloop._FLIGHTS == {}

"""Status calls made while waiting for a 10-minute reckon: our trigger against a fixed 5-second poller.

``PontoWebReckonTrigger`` polls ``GET /reckons/process/status/{process}`` every ``poll_interval``
seconds while the progress moves, and grows the interval x1.5 (up to ``max_poll_interval``) after
each poll that shows no progress. Nothing here waits 10 real minutes: the trigger's ``run()`` is
driven with a fake clock (the polling policy's clock and ``asyncio.sleep`` replaced; a
sleep moves the clock), and the sandbox is given the same clock (``Sandbox(clock=...)``), so that
the reckon progresses over 10 simulated minutes exactly as it would over real ones. The status calls
are counted with the sandbox's inspection API (``Sandbox.requests``); every poll is a real HTTP call
to the sandbox, through the hook's async path.

Two reckons, each finishing 600 s after it started:

* **steady**: progress grows steadily (``speed`` = employees / 600 s);
* **stalled**: progress stays at 0, then the reckon is done at 600 s (``Sandbox.finish_reckon``,
  called when the fake clock crosses 600 s).

Each is waited for by the trigger with the operator's defaults (``PontoWebReckonOperator``:
``poll_interval`` 30, ``max_poll_interval`` 300), with the deferrable sensor's defaults
(``PontoWebReckonSensor``: ``poke_interval``, 60, and 300), and by a fixed 5-second poller (600/5 + 1 =
121 calls, the poll at 0 s included). The trigger starts at the reckon's start, as after
``PontoWebReckonOperator`` defers (the sensor makes one more call before deferring: its first poke).

    python bench/poll_calls.py [--minutes 10] [--fixed 5]

Prints, for each case, the status calls, when they were made, the detection delay (the time between
the reckon finishing and the trigger's event) and the worst delay a reckon finishing at any moment
of that schedule could see; the last line is the ratio ours/fixed for the operator's defaults
(lower is better, as long as completion is seen within one poll interval).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

START = 1_750_000_000.0  # the fake clock's origin (epoch seconds); any value works
EMPLOYEES = 1200
MONTH, YEAR = "04", "2025"
_REAL_SLEEP = asyncio.sleep
STATUS_PATH = "/reckons/process/status/"


class FakeClock:
    """``time.time`` and ``asyncio.sleep`` for the trigger, and the sandbox's clock.

    A sleep moves the clock; if it crosses ``finish_at``, ``on_finish`` runs at exactly that moment
    (nobody polls during a sleep, so the reckon is done at ``finish_at`` to the microsecond).
    """

    def __init__(self, now: float = START) -> None:
        self.now = now
        self.slept: list[float] = []
        self.finish_at: float | None = None
        self.on_finish: Any = None

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float, result: Any = None) -> Any:
        assert seconds >= 0, seconds
        self.slept.append(seconds)
        target = self.now + seconds
        if self.finish_at is not None and self.now < self.finish_at <= target:
            self.now = self.finish_at
            self.on_finish()
            self.finish_at = None
        self.now = target
        await _REAL_SLEEP(0)  # the real one: let the loop breathe, as a real sleep would
        return result


@contextlib.contextmanager
def fake_time_in_trigger(clock: FakeClock) -> Iterator[None]:
    """The fake clock where every wait reads time: the polling policy's clock and ``asyncio.sleep``."""
    from airflow_provider_ahgora import polling

    saved = polling._now, asyncio.sleep
    polling._now = clock.time  # type: ignore[assignment]
    asyncio.sleep = clock.sleep  # type: ignore[assignment]
    try:
        yield
    finally:
        polling._now, asyncio.sleep = saved


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _reckon_total(employees: int) -> int:
    """Employees a full-base monthly reckon covers (what ``progress.total`` counts)."""
    from airflow_provider_ahgora.sandbox.data import SyntheticCompany

    company = SyntheticCompany(employees=employees)
    return company.reckon_total(MONTH, YEAR, features=["monthly"], allow_empty=True)


def run_case(scenario: str, waiter: str, poll: float, max_poll: float, seconds: float) -> dict[str, Any]:
    """Start a reckon that finishes ``seconds`` after it starts; wait for it; count the status calls."""
    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
    from airflow_provider_ahgora.sandbox import Sandbox
    from airflow_provider_ahgora.triggers.reckon import PontoWebReckonTrigger

    clock = FakeClock()
    total = _reckon_total(EMPLOYEES)
    speed = total / seconds if scenario == "steady" else 1e-9  # stalled: no progress at all
    sandbox = Sandbox(employees=EMPLOYEES, speed=speed, clock=clock.time, record_limit=100_000)
    with sandbox as sb, fake_time_in_trigger(clock):
        saved_env = {k: os.environ.get(k) for k in sb.airflow_env()}
        os.environ.update(sb.airflow_env())
        try:
            hook = PontoWebHook()
            process = hook.start_reckon({"month": MONTH, "year": YEAR, "rescission": False}).process
            hook.close()
            started = clock.now
            clock.finish_at = started + seconds
            clock.on_finish = lambda: sb.finish_reckon(process)
            sb.clear_requests()

            if waiter == "trigger":
                trigger = PontoWebReckonTrigger(
                    process=process, poll_interval=poll, max_poll_interval=max_poll
                )

                async def wait() -> dict[str, Any]:
                    events = [event async for event in trigger.run()]
                    assert len(events) == 1, events
                    return events[0].payload

            else:

                async def wait() -> dict[str, Any]:
                    fixed = PontoWebHook()
                    try:
                        while True:
                            status = await fixed.aget_reckon_status(process)
                            if status.is_done:
                                return {"status": "success"}
                            await clock.sleep(poll)
                    finally:
                        fixed.close()

            payload = asyncio.run(wait())
            detected = clock.now
            calls = sb.requests(method="GET", path=STATUS_PATH)
        finally:
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    assert payload["status"] == "success", payload
    times = [_epoch(c["time"]) - started for c in calls]
    finished = seconds
    # a reckon finishing at t in (p_i, p_i+1] is seen at p_i+1: the worst wait is the longest gap
    # between two polls among those up to (and including) the one that saw it
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return {
        "calls": len(calls),
        "times": times,
        "delay": detected - started - finished,
        "worst": max(gaps) if gaps else 0.0,
        "non_200": sum(1 for c in calls if c["status"] != 200),
    }


def _defaults() -> dict[str, tuple[float, float]]:
    """``(poll_interval, max_poll_interval)`` as the operator and the deferrable sensor set them."""
    from airflow_provider_ahgora.operators.reckon import PontoWebReckonOperator
    from airflow_provider_ahgora.sensors.reckon import PontoWebReckonSensor

    op = PontoWebReckonOperator(task_id="reckon", month=MONTH, year=YEAR, deferrable=True)
    sensor = PontoWebReckonSensor(task_id="wait", process="p", deferrable=True)
    return {
        "operator": (op.poll_interval, op.max_poll_interval),
        "sensor": (sensor.poll_interval, sensor.max_poll_interval),
    }


def _schedule(times: list[float]) -> str:
    shown = [f"{t:.0f}" if abs(t - round(t)) < 0.05 else f"{t:.1f}" for t in times]
    if len(shown) > 12:
        shown = [*shown[:5], "...", *shown[-3:]]
    return ", ".join(shown)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the reckon runs (10)")
    parser.add_argument("--fixed", type=float, default=5.0, help="interval of the fixed poller (5 s)")
    args = parser.parse_args()
    seconds = args.minutes * 60.0
    # the trigger logs every poll at INFO: keep the figures readable (set before Airflow is imported)
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

    defaults = _defaults()
    waiters = [
        ("operator", "trigger", *defaults["operator"]),
        ("sensor", "trigger", *defaults["sensor"]),
        ("fixed", "fixed", args.fixed, args.fixed),
    ]
    results: dict[tuple[str, str], dict[str, Any]] = {}
    print(
        f"a reckon of {_reckon_total(EMPLOYEES)} employees finishing {seconds:.0f} s after it starts "
        f"(fake clock; a fixed poller makes {seconds:.0f}/{args.fixed:g} + 1 = "
        f"{seconds / args.fixed + 1:.0f} calls)"
    )
    for scenario in ("steady", "stalled"):
        print(f"{scenario}:")
        for name, waiter, poll, max_poll in waiters:
            r = run_case(scenario, waiter, poll, max_poll, seconds)
            results[(scenario, name)] = r
            label = (
                f"trigger, {name} defaults ({poll:g} s -> {max_poll:g} s)"
                if waiter == "trigger"
                else f"fixed {poll:g} s poller"
            )
            print(
                f"  {label:<42} {r['calls']:>4} status calls, detected {r['delay']:.1f} s after the end "
                f"(worst wait {r['worst']:.1f} s); polls at {_schedule(r['times'])} s"
            )
            if r["non_200"]:
                print(f"    !! {r['non_200']} status calls did not answer 200")
    for scenario in ("steady", "stalled"):
        ours, fixed = results[(scenario, "operator")], results[(scenario, "fixed")]
        sensor = results[(scenario, "sensor")]
        print(
            f"{scenario}: ours/fixed = {ours['calls']}/{fixed['calls']} = "
            f"{ours['calls'] / fixed['calls']:.3f} (sensor defaults {sensor['calls'] / fixed['calls']:.3f}); "
            f"detection delay {ours['delay']:.1f} s (sensor {sensor['delay']:.1f} s, "
            f"fixed {fixed['delay']:.1f} s)"
        )
    steady, stalled = results[("steady", "operator")], results[("stalled", "operator")]
    fixed_steady, fixed_stalled = results[("steady", "fixed")], results[("stalled", "fixed")]
    print(
        f"ratio ours/fixed (operator defaults): steady {steady['calls'] / fixed_steady['calls']:.3f}, "
        f"stalled {stalled['calls'] / fixed_stalled['calls']:.3f}; detection delay {steady['delay']:.1f} s / "
        f"{stalled['delay']:.1f} s (goal: as low as possible, completion seen within one poll interval)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Wall time of pushing 100 000 cost centers to PontoWeb and 5 000 users to Voors, with 20 ms of
latency on every request, as a ratio to the ideal.

The sandbox runs in a **separate process** (``python -m airflow_provider_ahgora.sandbox``, on
loopback), as a real server would: its CPU does not compete with the operator's for this process's
GIL (``--in-process`` runs it in a thread of this process instead). It gets one ``latency`` fault
that delays **every** request by 20 ms, and processes pushes at once (``--push-speed inf``), so the
wait on the process monitor costs only its calls. Then:

* ``PontoWebPushBatchOperator(resource="costcenter", wait_for_completion=True)`` (synchronous wait,
  ``max_workers=8``) pushes 100 000 valid cost centers given as a list (an XCom value);
* ``VoorsPushOperator(resource="users", max_workers=8)`` pushes 5 000 valid users.

Each runs its real ``execute`` with a small fake context. The requests are counted by the sandbox
(zero-delay ``latency`` faults on each route count their calls; ``GET /_sandbox/faults``).

**The ideal** is the latency of the requests that cannot be avoided, divided by the concurrency the
operator may use for them:

* PontoWeb: ``pushes x 20 ms / 1 + monitor reads x 20 ms / 8``. Pushes go one at a time: a batch's
  acceptance is recorded (for the retry that must not send it again) before the next one is sent,
  and PontoWeb's ``unique`` window and per-company processing give nothing to gain from parallel
  pushes; so the concurrency allowed for them is 1. The monitor reads (one per batch at least) may
  run ``max_workers`` = 8 at a time. With 100 batches: 100 x 0.02 + 100 x 0.02 / 8 = 2.25 s.
* Voors: ``5 000 x 20 ms / 8`` = 12.5 s (one request per user, 8 in flight).

The run is repeated without the latency fault (``--no-floor`` skips it): that *floor* is the CPU
of the client (validation, serialization, HTTP) and of the sandbox (which validates every record it
receives), which the ideal leaves out; the ratio minus the floor's share says what the operator's
design costs on top.

    python bench/push_throughput.py [--cost-centers 100000] [--users 5000] [--latency 0.02]
                                    [--max-workers 8] [--no-floor] [--in-process]

The last line gives both ratios (goal: 1.3 or less).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

#: Set to WARNING unless given, so that the output is the figures only (the operators log a line per
#: batch, and Voors a progress line every 10%).
LOG_LEVEL = "AIRFLOW__LOGGING__LOGGING_LEVEL"
#: The routes the benchmark calls; a zero-delay latency fault on each counts its requests.
COUNTED = ("POST /costcenter", "GET /process", "POST /voors/users")


class _Server:
    """A running sandbox: the Airflow connection variables, and its request counters."""

    def __init__(self, env: dict[str, str], control: str) -> None:
        self.env = env
        self.control = control

    def calls(self) -> dict[str, int]:
        with urllib.request.urlopen(f"{self.control}/faults", timeout=10) as answer:  # noqa: S310 - loopback
            faults = json.load(answer)
        return {
            f"{f['method']} {f['path']}": int(f["calls"])
            for f in faults
            if f["kind"] == "latency" and not f["delay"]
        }


def _fault_specs(latency: float) -> list[dict[str, Any]]:
    specs: list[dict[str, Any]] = [{"kind": "latency", "delay": latency}] if latency else []
    return specs + [{"kind": "latency", "delay": 0, "route": route} for route in COUNTED]


@contextlib.contextmanager
def sandbox_process(latency: float) -> Iterator[_Server]:
    """``python -m airflow_provider_ahgora.sandbox`` in a subprocess, stopped (SIGTERM) on exit."""
    cmd = [sys.executable, "-m", "airflow_provider_ahgora.sandbox", "--employees", "5", "--push-speed", "inf"]
    for spec in _fault_specs(latency):
        cmd += ["--fault", json.dumps(spec)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # noqa: S603
    try:
        env: dict[str, str] = {}
        base = ""
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("Ahgora sandbox listening on "):
                base = line.split()[-1]
            elif line.startswith("export "):
                name, _, value = line[len("export ") :].strip().partition("=")
                env[name] = shlex.split(value)[0]
            elif line.startswith("Press Ctrl-C"):
                break
        if not base or not env:
            raise RuntimeError(f"the sandbox did not start (exit code {proc.poll()})")
        yield _Server(env, f"{base}/_sandbox")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextlib.contextmanager
def sandbox_thread(latency: float) -> Iterator[_Server]:
    """The sandbox in a thread of this process (its CPU then competes with the operator's)."""
    from airflow_provider_ahgora.sandbox import run_sandbox
    from airflow_provider_ahgora.sandbox.faults import Fault

    with run_sandbox(employees=5, push_speed=float("inf"), record_limit=0) as sb:
        for spec in _fault_specs(latency):
            sb.faults.add(Fault.from_spec(spec))
        yield _Server(sb.airflow_env(), sb.control_url)


class _TI(SimpleNamespace):
    def __init__(self, task_id: str) -> None:
        super().__init__(dag_id="bench", run_id="bench", task_id=task_id, map_index=-1, try_number=1)

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        pass


class _Store(dict):
    def set(self, key: str, value: Any, **_: Any) -> None:
        self[key] = json.loads(json.dumps(value))

    def delete(self, key: str) -> None:
        self.pop(key, None)


def cost_centers(n: int) -> list[dict[str, str]]:
    return [{"codigo": f"CC{i:06d}", "nome": f"Centro de custo {i} - Operações"} for i in range(n)]


def users(n: int) -> list[dict[str, Any]]:
    from airflow_provider_ahgora.sandbox.data import make_cpf

    return [
        {
            "cpf": make_cpf(i),
            "firstName": f"Pessoa{i}",
            "lastName": "Silva",
            "email": f"pessoa{i}@example.com",
            "active": True,
        }
        for i in range(n)
    ]


def _timed_operator() -> type:
    """The batch operator, with the seconds spent in each phase of ``execute`` recorded (its engine's
    plan, send and wait, and the operator's report)."""
    from airflow_provider_ahgora.batch_push import BatchPush
    from airflow_provider_ahgora.operators.push import PontoWebPushBatchOperator

    phases: dict[str, float] = defaultdict(float)

    def timed(name: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            phases[name] += time.perf_counter() - started

    class TimedEngine(BatchPush):
        def plan(self, *args: Any) -> Any:
            return timed("validate+spool", super().plan, *args)

        def send(self, *args: Any, **kwargs: Any) -> Any:
            return timed("send", super().send, *args, **kwargs)

        def wait(self, *args: Any, **kwargs: Any) -> Any:
            return timed("wait", super().wait, *args, **kwargs)

    class Timed(PontoWebPushBatchOperator):
        def _engine(self) -> Any:
            engine = super()._engine()
            engine.__class__ = TimedEngine
            return engine

        def _finish(self, *args: Any, **kwargs: Any) -> Any:
            return timed("report", super()._finish, *args, **kwargs)

    Timed.phases = phases  # type: ignore[attr-defined]
    return Timed


def pontoweb(server: _Server, records: list[dict[str, str]], max_workers: int) -> dict[str, Any]:
    before = server.calls()
    op = _timed_operator()(
        task_id="push_cost_centers",
        resource="costcenter",
        records=records,
        max_workers=max_workers,
        poll_interval=1.0,
        report_path=os.path.join(tempfile.mkdtemp(prefix="ahgora-bench-"), "failures.jsonl"),
    )
    op.phases.clear()
    context: Any = {"ti": _TI("push_cost_centers"), "task_state_store": _Store()}
    cpu, started = time.process_time(), time.perf_counter()
    summary = op.execute(context)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    after = server.calls()
    pushes = after["POST /costcenter"] - before["POST /costcenter"]
    reads = after["GET /process"] - before["GET /process"]
    assert summary["sent"] == len(records), summary
    assert summary["failed"] == 0, summary
    return {
        "seconds": seconds,
        "cpu": cpu,
        "pushes": pushes,
        "reads": reads,
        "batches": len(summary["batches"]),
        **op.phases,
    }


def voors(server: _Server, records: list[dict[str, Any]], max_workers: int) -> dict[str, Any]:
    from airflow_provider_ahgora.operators.push import VoorsPushOperator

    before = server.calls()["POST /voors/users"]
    op = VoorsPushOperator(
        task_id="push_users",
        resource="users",
        records=records,
        max_workers=max_workers,
        report_path=os.path.join(tempfile.mkdtemp(prefix="ahgora-bench-"), "failures.jsonl"),
    )
    context: Any = {"ti": _TI("push_users"), "task_state_store": _Store()}
    cpu, started = time.process_time(), time.perf_counter()
    summary = op.execute(context)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    calls = server.calls()["POST /voors/users"] - before
    assert summary["succeeded"] == len(records), summary
    return {"seconds": seconds, "cpu": cpu, "requests": calls}


def run(
    n_cost_centers: int, n_users: int, latency: float, max_workers: int, in_process: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    ccs, us = cost_centers(n_cost_centers), users(n_users)
    with (sandbox_thread if in_process else sandbox_process)(latency) as server:
        os.environ.update(server.env)
        pw = pontoweb(server, ccs, max_workers)
        vo = voors(server, us, max_workers)
    return pw, vo


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cost-centers", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to every request (0.02)")
    parser.add_argument("--max-workers", type=int, default=8)
    parser.add_argument("--no-floor", action="store_true", help="skip the run without latency")
    parser.add_argument(
        "--in-process", action="store_true", help="run the sandbox in a thread of this process"
    )
    args = parser.parse_args()
    if LOG_LEVEL not in os.environ:
        os.environ[LOG_LEVEL] = "WARNING"

    lat, workers = args.latency, args.max_workers
    floor = None if args.no_floor else run(args.cost_centers, args.users, 0.0, workers, args.in_process)
    pw, vo = run(args.cost_centers, args.users, lat, workers, args.in_process)

    batches = math.ceil(args.cost_centers / 1000)  # the fewest requests: 1000 cost centers fit in 1 MiB
    pw_ideal = batches * lat / 1 + batches * lat / min(workers, batches)
    vo_ideal = args.users * lat / workers
    pw_ratio, vo_ratio = pw["seconds"] / pw_ideal, vo["seconds"] / vo_ideal

    where = "in this process" if args.in_process else "in a subprocess"
    print(f"latency {lat * 1000:.0f} ms per request, max_workers {workers}, sandbox {where}")
    phases = ", ".join(f"{k} {pw[k]:.2f} s" for k in ("validate+spool", "send", "wait", "report"))
    print(
        f"PontoWeb: {args.cost_centers:,} cost centers in {pw['batches']} batches: {pw['pushes']} pushes + "
        f"{pw['reads']} monitor reads in {pw['seconds']:.2f} s ({phases})".replace(",", " ", 1)
    )
    print(
        f"          ideal {batches} x {lat:g} s / 1 + {batches} x {lat:g} s / {min(workers, batches)} = "
        f"{pw_ideal:.2f} s; ratio {pw_ratio:.2f}; sending and waiting alone "
        f"{(pw['send'] + pw['wait']) / pw_ideal:.2f}; client CPU {pw['cpu']:.2f} s"
    )
    if floor is not None:
        f = floor[0]
        fphases = ", ".join(f"{k} {f[k]:.2f} s" for k in ("validate+spool", "send", "wait", "report"))
        print(f"          without latency: {f['seconds']:.2f} s ({fphases}); client CPU {f['cpu']:.2f} s")
    print(
        f"Voors:    {args.users:,} users: {vo['requests']} requests in {vo['seconds']:.2f} s".replace(
            ",", " ", 1
        )
    )
    print(
        f"          ideal {args.users} x {lat:g} s / {workers} = {vo_ideal:.2f} s; ratio {vo_ratio:.2f}; "
        f"client CPU {vo['cpu']:.2f} s"
    )
    if floor is not None:
        print(f"          without latency: {floor[1]['seconds']:.2f} s; client CPU {floor[1]['cpu']:.2f} s")
    print(f"ratio to the ideal: PontoWeb {pw_ratio:.2f}, Voors {vo_ratio:.2f} (goal: 1.3 or less)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

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

**The reference** is what a data engineer writes by hand with ``requests``, with none of the
operators' guarantees (no validation, no journal, no report, no deadline), run against the same
sandbox in the same run:

* PontoWeb: one ``session.post(f"{base}/costcenter", json=batch)`` per 1 000 records, one after the
  other, ``raise_for_status()``, the tickets kept; then each ticket's monitor read until its
  ``progress`` is complete (``time.sleep(poll_interval)`` between reads of an unfinished one);
* Voors: a ``ThreadPoolExecutor(max_workers)`` posting each user (``{"data": {"user": ...}}``), one
  ``requests.Session`` per thread, ``raise_for_status()``.

Ours and the reference run in pairs (``--pairs``, default 3; the order alternates from pair to
pair), and the medians are compared: ours/hand below 1 means the operator is faster than the hand
loop. The sandbox's own CPU per request (read from ``/proc``) is printed too: the ideal counts the
server's time as zero, and a real PontoWeb or Voors spends its own.

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
                                    [--max-workers 8] [--pairs 3] [--no-floor] [--in-process]

The last line gives both ratios to the ideal (goal: PontoWeb 1.3 or less, Voors 1.1 or less) and
both ratios ours/hand (goal: below 1).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import _common
from _common import SandboxServer, task_context

#: Set to WARNING unless given, so that the output is the figures only (the operators log a line per
#: batch, and Voors a progress line every 10%).
LOG_LEVEL = "AIRFLOW__LOGGING__LOGGING_LEVEL"
#: The routes the benchmark calls; a zero-delay latency fault on each counts its requests.
COUNTED = ("POST /costcenter", "GET /process", "POST /voors/users")


class _Server(SandboxServer):
    """A running sandbox, with the requests of the :data:`COUNTED` routes it answered."""

    def calls(self) -> dict[str, int]:
        return {
            f"{f['method']} {f['path']}": int(f["calls"])
            for f in self.call("GET", "/faults")
            if f["kind"] == "latency" and not f["delay"]
        }


def _fault_specs(latency: float) -> list[dict[str, Any]]:
    specs: list[dict[str, Any]] = [{"kind": "latency", "delay": latency}] if latency else []
    return specs + [{"kind": "latency", "delay": 0, "route": route} for route in COUNTED]


@contextlib.contextmanager
def sandbox_process(latency: float) -> Iterator[_Server]:
    """``python -m airflow_provider_ahgora.sandbox`` in a subprocess, stopped (SIGTERM) on exit."""
    options = ["--employees", "5", "--push-speed", "inf"]
    for spec in _fault_specs(latency):
        options += ["--fault", json.dumps(spec)]
    with _common.sandbox_process(*options) as server:
        yield _Server(server.env, server.control, server.pid)


@contextlib.contextmanager
def sandbox_thread(latency: float) -> Iterator[_Server]:
    """The sandbox in a thread of this process (its CPU then competes with the operator's)."""
    from airflow_provider_ahgora.sandbox import run_sandbox
    from airflow_provider_ahgora.sandbox.faults import Fault

    with run_sandbox(employees=5, push_speed=float("inf"), record_limit=0) as sb:
        for spec in _fault_specs(latency):
            sb.faults.add(Fault.from_spec(spec))
        yield _Server(sb.airflow_env(), sb.control_url)


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


def _measured(server: _Server, func: Any, *args: Any) -> tuple[Any, dict[str, float]]:
    """``func(*args)`` with its wall seconds, this process's CPU and the sandbox's CPU."""
    server_cpu, cpu, started = server.cpu(), time.process_time(), time.perf_counter()
    result = func(*args)
    return result, {
        "seconds": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,
        "server_cpu": server.cpu() - server_cpu,
    }


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
    context: Any = task_context("push_cost_centers")
    summary, times = _measured(server, op.execute, context)
    after = server.calls()
    pushes = after["POST /costcenter"] - before["POST /costcenter"]
    reads = after["GET /process"] - before["GET /process"]
    assert summary["sent"] == len(records), summary
    assert summary["failed"] == 0, summary
    return {**times, "pushes": pushes, "reads": reads, "batches": len(summary["batches"]), **op.phases}


@contextlib.contextmanager
def _timed_voors() -> Iterator[dict[str, float]]:
    """The seconds of each pass of a Voors push: validate and spool every record, then send."""
    from airflow_provider_ahgora.voors_push import VoorsDelivery

    phases: dict[str, float] = defaultdict(float)
    originals = {"validate+spool": VoorsDelivery.prepare, "send": VoorsDelivery.send}

    def timed(name: str, func: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                phases[name] += time.perf_counter() - started

        return wrapper

    VoorsDelivery.prepare = timed("validate+spool", VoorsDelivery.prepare)  # type: ignore[method-assign]
    VoorsDelivery.send = timed("send", VoorsDelivery.send)  # type: ignore[method-assign]
    try:
        yield phases
    finally:
        VoorsDelivery.prepare = originals["validate+spool"]  # type: ignore[method-assign]
        VoorsDelivery.send = originals["send"]  # type: ignore[method-assign]


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
    context: Any = task_context("push_users")
    with _timed_voors() as phases:
        summary, times = _measured(server, op.execute, context)
    calls = server.calls()["POST /voors/users"] - before
    assert summary["succeeded"] == len(records), summary
    return {**times, "requests": calls, **phases}


# --------------------------------------------------------------------------------------------------
# The references: what a data engineer writes by hand with requests (the module documentation)
# --------------------------------------------------------------------------------------------------


def hand_pontoweb_loop(
    base: str, auth: tuple[str, str], records: list[dict[str, str]], poll_interval: float
) -> int:
    import requests

    session = requests.Session()
    session.auth = auth
    tickets = []
    for start in range(0, len(records), 1000):
        answer = session.post(f"{base}/costcenter", json=records[start : start + 1000], timeout=60)
        answer.raise_for_status()
        tickets.append(answer.json())
    for ticket in tickets:
        while True:
            answer = session.get(
                f"{base}/process",
                params={"subunique": ticket["subunique"]},
                headers={"Accept-Version": "v2"},
                timeout=60,
            )
            answer.raise_for_status()
            progress = answer.json()["progress"]
            if int(progress["done"]) >= int(progress["total"]):
                break
            time.sleep(poll_interval)
    session.close()
    return len(tickets)


def hand_voors_loop(base: str, token: str, records: list[dict[str, Any]], max_workers: int) -> int:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import requests

    local = threading.local()

    def post(user: dict[str, Any]) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.headers["Authorization"] = token
        answer = session.post(f"{base}/users", json={"data": {"user": user}}, timeout=60)
        answer.raise_for_status()

    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        for _ in pool.map(post, records):
            pass
    return len(records)


def hand_pontoweb(server: _Server, records: list[dict[str, str]], max_workers: int) -> dict[str, Any]:
    conn = json.loads(server.env["AIRFLOW_CONN_PONTOWEB_DEFAULT"])
    before = server.calls()
    _, times = _measured(
        server, hand_pontoweb_loop, conn["host"].rstrip("/"), (conn["login"], conn["password"]), records, 1.0
    )
    after = server.calls()
    return {
        **times,
        "pushes": after["POST /costcenter"] - before["POST /costcenter"],
        "reads": after["GET /process"] - before["GET /process"],
    }


def hand_voors(server: _Server, records: list[dict[str, Any]], max_workers: int) -> dict[str, Any]:
    conn = json.loads(server.env["AIRFLOW_CONN_VOORS_DEFAULT"])
    before = server.calls()["POST /voors/users"]
    _, times = _measured(
        server, hand_voors_loop, conn["host"].rstrip("/"), conn["password"], records, max_workers
    )
    return {**times, "requests": server.calls()["POST /voors/users"] - before}


# --------------------------------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------------------------------

SIDES = {"pontoweb": (pontoweb, hand_pontoweb), "voors": (voors, hand_voors)}


def run(
    n_cost_centers: int, n_users: int, latency: float, max_workers: int, in_process: bool, pairs: int
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """``{"pontoweb"|"voors": {"ours"|"hand": [run, ...]}}``; without pairs, ours only, once."""
    inputs = {"pontoweb": cost_centers(n_cost_centers), "voors": users(n_users)}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {k: {"ours": [], "hand": []} for k in SIDES}
    with (sandbox_thread if in_process else sandbox_process)(latency) as server:
        os.environ.update(server.env)
        for name, (ours, hand) in SIDES.items():  # warm-up, not measured: imports, models, sessions
            for func in (ours, hand):
                func(server, inputs[name][:1000], max_workers)
        for pair in range(max(pairs, 1)):
            for name, (ours, hand) in SIDES.items():
                sides = [("ours", ours)] if not pairs else [("hand", hand), ("ours", ours)]
                for side, func in sides if pair % 2 == 0 else sides[::-1]:
                    runs[name][side].append(func(server, inputs[name], max_workers))
    return runs


def _n(value: int) -> str:
    return f"{value:,}".replace(",", " ")


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cost-centers", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to every request (0.02)")
    parser.add_argument("--max-workers", type=int, default=8)
    parser.add_argument("--pairs", type=int, default=3, help="runs of ours and of the hand loop (3)")
    parser.add_argument("--no-floor", action="store_true", help="skip the run without latency")
    parser.add_argument(
        "--in-process", action="store_true", help="run the sandbox in a thread of this process"
    )
    args = parser.parse_args()
    if LOG_LEVEL not in os.environ:
        os.environ[LOG_LEVEL] = "WARNING"

    lat, workers, n_cc, n_users = args.latency, args.max_workers, args.cost_centers, args.users
    load = os.getloadavg()[0]
    floor = None if args.no_floor else run(n_cc, n_users, 0.0, workers, args.in_process, 0)
    runs = run(n_cc, n_users, lat, workers, args.in_process, args.pairs)
    load_after = os.getloadavg()[0]

    batches = math.ceil(n_cc / 1000)  # the fewest requests: 1000 cost centers fit in 1 MiB
    pw_ideal = batches * lat / 1 + batches * lat / min(workers, batches)
    vo_ideal = n_users * lat / workers
    pw, vo = runs["pontoweb"], runs["voors"]
    pw_ratio, vo_ratio = median(pw["ours"], "seconds") / pw_ideal, median(vo["ours"], "seconds") / vo_ideal

    where = "in this process" if args.in_process else "in a subprocess"
    print(
        f"latency {lat * 1000:.0f} ms per request, max_workers {workers}, sandbox {where}, {args.pairs} "
        f"pair(s) (median); load average {load:.2f} before, {load_after:.2f} after"
    )
    phases = ("validate+spool", "send", "wait", "report")
    ours = pw["ours"]
    pushes, reads = ours[0]["pushes"], ours[0]["reads"]
    print(
        f"PontoWeb: {_n(n_cc)} cost centers in {ours[0]['batches']} batches: {pushes} pushes + {reads} "
        f"monitor reads in {median(ours, 'seconds'):.2f} s ("
        + ", ".join(f"{k} {median(ours, k):.2f} s" for k in phases)
        + ")"
    )
    print(
        f"          ideal {batches} x {lat:g} s / 1 + {batches} x {lat:g} s / {min(workers, batches)} = "
        f"{pw_ideal:.2f} s; ratio {pw_ratio:.2f}; sending and waiting alone "
        f"{(median(ours, 'send') + median(ours, 'wait')) / pw_ideal:.2f}; client CPU "
        f"{median(ours, 'cpu'):.2f} s; sandbox CPU {median(ours, 'server_cpu') / pushes * 1000:.1f} ms a push"
    )
    if floor is not None:
        f = floor["pontoweb"]["ours"][0]
        fphases = ", ".join(f"{k} {f[k]:.2f} s" for k in phases)
        print(f"          without latency: {f['seconds']:.2f} s ({fphases}); client CPU {f['cpu']:.2f} s")
    hand = pw["hand"]
    if hand:
        print(
            f"          hand-written loop: {median(hand, 'seconds'):.2f} s ({hand[0]['pushes']} pushes, then "
            f"{hand[0]['reads']} monitor reads one by one); client CPU {median(hand, 'cpu'):.2f} s"
        )
    ours = vo["ours"]
    print(
        f"Voors:    {_n(n_users)} users: {ours[0]['requests']} requests in {median(ours, 'seconds'):.2f} s "
        f"(validate+spool {median(ours, 'validate+spool'):.2f} s, send {median(ours, 'send'):.2f} s)"
    )
    cpu = median(ours, "cpu")
    print(
        f"          ideal {n_users} x {lat:g} s / {workers} = {vo_ideal:.2f} s; ratio {vo_ratio:.2f}; "
        f"client CPU {cpu:.2f} s ({cpu / n_users * 1000:.2f} ms a request); sandbox CPU "
        f"{median(ours, 'server_cpu') / n_users * 1000:.2f} ms a request"
    )
    if floor is not None:
        f = floor["voors"]["ours"][0]
        print(f"          without latency: {f['seconds']:.2f} s; client CPU {f['cpu']:.2f} s")
    hand = vo["hand"]
    if hand:
        cpu = median(hand, "cpu")
        print(
            f"          hand-written loop: {median(hand, 'seconds'):.2f} s; client CPU {cpu:.2f} s "
            f"({cpu / n_users * 1000:.2f} ms a request)"
        )
    line = f"ratio to the ideal: PontoWeb {pw_ratio:.2f}, Voors {vo_ratio:.2f} (goal: 1.3 and 1.1 or less)"
    if pw["hand"] and vo["hand"]:
        line += "; ours/hand: " + ", ".join(
            f"{label} {median(r['ours'], 'seconds') / median(r['hand'], 'seconds'):.2f} "
            f"(CPU {median(r['ours'], 'cpu') / median(r['hand'], 'cpu'):.2f})"
            for label, r in (("PontoWeb", pw), ("Voors", vo))
        )
    print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""One event loop running many of our triggers, as a triggerer does, against a minimal native-async poller.

For each size N (default 50, 200 and 500) one loop runs N ``PontoWebReckonTrigger`` and N
``PontoWebProcessTrigger`` (one push each), all started at once as after a triggerer restart, every
one polling every ``--interval`` seconds (5; ``max_poll_interval`` equal, so the interval never
grows) a sandbox that answers each status call after ``--latency`` seconds (0.2). Beside them, in a
fresh process too, the **reference**: 2N minimal pollers written directly on aiohttp (one
``ClientSession`` each, ``GET``, ``json``, check the status, ``asyncio.sleep``), or on httpx with
``--reference httpx`` (one ``AsyncClient`` each).

The sandbox runs in its own process (its CPU is not the client's) and timestamps each status call
when it arrives and when it is answered. Per poller, the first poll's **lateness** is its arrival
minus the moment the pollers were started (how long 2N pollers take to start at once), and each later
poll's is its arrival minus (the previous answer + the interval): how late the poll went out against
the schedule the poller itself set; the median and p95 are of the later polls ("steady p95": of
those that arrived after the warm-up, the window of CPU per poll). The
loop's **lag** is sampled by a task that sleeps 10 ms in a loop (how late it wakes up). **CPU per
poll** is the client process's CPU time (every thread, from the start to the end of the run) over
the polls answered.

    python bench/triggerer_scale.py [--sizes 50 200 500] [--seconds 40] [--interval 5] [--latency 0.2]
                                    [--reference aiohttp|httpx]

The last line gives, at the largest size, the ratio of CPU per poll, ours / the reference's (goal:
1.5 or less), beside p95 lateness (goal <= 1 s), loop lag p99 (< 50 ms) and worst (no more than the
reference's).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATUS_PREFIX = "/reckons/process/status/"
MONITOR_PATH = "/process"
LAG_TICK = 0.01

# ==================================================================================================
# The sandbox process: latency on the two status routes, every status call timestamped
# ==================================================================================================


def serve(latency: float) -> None:
    """Run the sandbox; commands on stdin, one JSON answer per line on stdout."""
    from airflow_provider_ahgora.sandbox.faults import Fault
    from airflow_provider_ahgora.sandbox.server import Sandbox

    timings: list[tuple[str, float, float]] = []

    class TimedSandbox(Sandbox):
        def _dispatch(self, method: str, target: str, headers: Any, body: bytes, client: str) -> Any:
            arrived = time.time()
            answer = super()._dispatch(method, target, headers, body, client)
            if method == "GET":
                path, _, query = target.partition("?")
                if path.startswith(STATUS_PREFIX):
                    timings.append((path[len(STATUS_PREFIX) :], arrived, time.time()))
                elif path == MONITOR_PATH:
                    timings.append((query.partition("subunique=")[2], arrived, time.time()))
            return answer

    # reckons and pushes that never finish during a run; no request log (the timings are the log)
    sandbox = TimedSandbox(
        employees=5, speed=1e-9, push_speed=1e-9, daily_limit=10**9, max_running=10**9, record_limit=0
    )
    for route in (f"GET {STATUS_PREFIX}*", f"GET {MONITOR_PATH}"):
        sandbox.faults.add(Fault.from_spec({"kind": "latency", "delay": latency, "route": route}))
    sandbox.start()
    print(json.dumps({"env": sandbox.airflow_env(), "base": sandbox.base_url}), flush=True)
    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        if command == "setup":
            n = int(arg)
            processes = [
                sandbox.pontoweb.start({"month": "01", "year": "2026", "rescission": False}, "v2")["process"]
                for _ in range(n)
            ]
            subuniques = [
                sandbox.pontoweb.push(
                    "costcenter", json.dumps([{"codigo": f"C{i}", "descricao": "x"}]).encode()
                )["subunique"]
                for i in range(n)
            ]
            answer: Any = {"processes": processes, "subuniques": subuniques}
        elif command == "take":
            answer, timings[:] = list(timings), []
        else:
            break
        print(json.dumps(answer), flush=True)
    sandbox.stop()


# ==================================================================================================
# The client process: ours or the reference, the loop's lag, the CPU
# ==================================================================================================


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _lag_monitor(lags: list[float], cpu: list[tuple[float, float]]) -> None:
    """How late a 10 ms sleep wakes up, again and again; and the CPU used so far, each second."""
    while True:
        start = time.perf_counter()
        await asyncio.sleep(LAG_TICK)
        lags.append(time.perf_counter() - start - LAG_TICK)
        if not cpu or time.time() - cpu[-1][0] >= 1.0:
            cpu.append((time.time(), _cpu()))


def _ours(ids: dict[str, list[str]], interval: float) -> list[Any]:
    from airflow_provider_ahgora.triggers.process import PontoWebProcessTrigger
    from airflow_provider_ahgora.triggers.reckon import PontoWebReckonTrigger

    async def drive(trigger: Any) -> None:
        async for event in trigger.run():
            raise RuntimeError(f"a trigger ended during the run: {event.payload}")

    triggers: list[Any] = [
        PontoWebReckonTrigger(process=p, poll_interval=interval, max_poll_interval=interval)
        for p in ids["processes"]
    ]
    triggers += [
        PontoWebProcessTrigger(
            processes=[{"subunique": s}], poll_interval=interval, max_poll_interval=interval
        )
        for s in ids["subuniques"]
    ]
    return [drive(t) for t in triggers]


def _reference(
    ids: dict[str, list[str]], interval: float, base: str, conn: dict[str, Any], library: str
) -> list[Any]:
    headers = {"Accept": "application/json", "Accept-Version": "v2"}
    urls = [f"{base}{STATUS_PREFIX}{p}" for p in ids["processes"]]
    urls += [f"{base}{MONITOR_PATH}?subunique={s}" for s in ids["subuniques"]]

    def finished(body: Any) -> bool:
        if "subunique" in body:  # the process monitor: finished when every record is processed
            return int(body["progress"]["done"]) >= int(body["progress"]["total"])
        return body["status"] in ("done", "error")

    async def aiohttp_poller(url: str) -> None:
        auth = aiohttp.BasicAuth(conn["login"], conn["password"])
        async with aiohttp.ClientSession(headers=headers, auth=auth) as session:
            while True:
                async with session.get(url) as response:
                    body = await response.json()
                if response.status != 200 or finished(body):
                    raise RuntimeError(f"a poller ended during the run: {response.status} {body}")
                await asyncio.sleep(interval)

    async def httpx_poller(url: str) -> None:
        auth = (conn["login"], conn["password"])
        # one TLS context for all: httpx builds one per client otherwise (certifi's bundle read again)
        async with httpx.AsyncClient(headers=headers, auth=auth, verify=tls) as client:
            while True:
                response = await client.get(url)
                body = response.json()
                if response.status_code != 200 or finished(body):
                    raise RuntimeError(f"a poller ended during the run: {response.status_code} {body}")
                await asyncio.sleep(interval)

    import aiohttp
    import httpx

    tls = httpx.create_ssl_context()
    poller = aiohttp_poller if library == "aiohttp" else httpx_poller
    return [poller(url) for url in urls]


def client(spec: dict[str, Any]) -> None:
    """Run the pollers for ``spec["seconds"]``; print one JSON line of figures."""
    os.environ.update(spec["env"])
    conn = json.loads(spec["env"]["AIRFLOW_CONN_PONTOWEB_DEFAULT"])
    # both run in a process like a triggerer's: Airflow loaded (its heap is what the garbage collector
    # walks), and, for ours, the trigger classes imported, as the triggerer does before starting them
    import airflow.triggers.base  # noqa: F401

    if spec["kind"] == "ours":
        import airflow_provider_ahgora.triggers.process
        import airflow_provider_ahgora.triggers.reckon  # noqa: F401

    lags: list[float] = []
    cpu: list[tuple[float, float]] = []
    errors: list[str] = []

    async def run() -> float:
        monitor = asyncio.ensure_future(_lag_monitor(lags, cpu))
        await asyncio.sleep(0.2)
        started = time.time()
        if spec["kind"] == "ours":
            coros = _ours(spec["ids"], spec["interval"])
        else:
            coros = _reference(spec["ids"], spec["interval"], conn["host"], conn, spec["kind"])
        tasks = [asyncio.ensure_future(c) for c in coros]
        done, _ = await asyncio.wait(tasks, timeout=spec["seconds"])
        errors.extend(repr(t.exception())[:300] for t in done if t.exception() is not None)
        for task in (*tasks, monitor):
            task.cancel()
        await asyncio.gather(*tasks, monitor, return_exceptions=True)
        return started

    started = asyncio.run(run())
    cpu.append((time.time(), _cpu()))
    print(
        json.dumps(
            {
                "cpu": cpu,
                "started": started,
                "lags": lags,
                "errors": errors,
            }
        ),
        flush=True,
    )


# ==================================================================================================
# The driver
# ==================================================================================================


class _Server:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        assert proc.stdout is not None
        hello = json.loads(proc.stdout.readline())
        self.env: dict[str, str] = hello["env"]
        self.base: str = hello["base"]

    def ask(self, command: str) -> Any:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())


@contextlib.contextmanager
def sandbox_process(latency: float) -> Iterator[_Server]:
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, __file__, "--serve", "--latency", str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        yield _Server(proc)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(
    server: _Server, kind: str, ids: dict[str, list[str]], args: argparse.Namespace
) -> dict[str, Any]:
    server.ask("take")  # forget earlier calls
    spec = {
        "kind": kind,
        "ids": ids,
        "env": server.env,
        "interval": args.interval,
        "seconds": args.seconds,
    }
    proc = subprocess.run(  # noqa: S603
        [sys.executable, __file__, "--client", json.dumps(spec)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=args.seconds + 300,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"the {kind} client failed ({proc.returncode}): {proc.stderr[-3000:]}")
    out = json.loads(lines[-1])
    calls: dict[str, list[tuple[float, float]]] = {}
    for key, arrived, answered in server.ask("take"):
        calls.setdefault(key, []).append((arrived, answered))
    lateness: list[float] = []  # of every poll after the first
    steady: list[float] = []  # of the polls that arrived after the warm-up
    first: list[float] = []  # of the first poll of each poller: how long all of them took to start
    for chain in calls.values():
        chain.sort()
        first.append(chain[0][0] - out["started"])
        for i in range(1, len(chain)):
            late = chain[i][0] - chain[i - 1][1] - args.interval
            lateness.append(late)
            if chain[i][0] >= out["started"] + args.warmup:
                steady.append(late)
    # CPU per poll in the steady state: from the end of the warm-up (imports, connection lookups,
    # first round) to the end of the run, over the polls answered in that window
    samples = out["cpu"]
    begin = next((s for s in samples if s[0] >= out["started"] + args.warmup), samples[-1])
    end = samples[-1]
    polls = sum(1 for chain in calls.values() for _, answered in chain if begin[0] <= answered <= end[0])
    startup = next((s for s in samples if s[0] >= out["started"]), samples[0])
    expected = len(ids["processes"]) + len(ids["subuniques"])
    return {
        "kind": kind,
        "pollers": expected,
        "silent": expected - len(calls),
        "polls": sum(len(chain) for chain in calls.values()),
        "late_median": statistics.median(lateness) if lateness else float("nan"),
        "late_p95": _percentile(lateness, 0.95),
        "steady_p95": _percentile(steady, 0.95),
        "first_p95": _percentile(first, 0.95),
        "first_worst": max(first) if first else float("nan"),
        "lag_p99": _percentile(out["lags"], 0.99),
        "lag_worst": max(out["lags"], default=float("nan")),
        "warmup_cpu": begin[1] - startup[1],
        "cpu_per_poll": (end[1] - begin[1]) / polls if polls else float("nan"),
        "errors": out["errors"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 500])
    parser.add_argument("--seconds", type=float, default=40.0, help="how long each run polls (40)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between polls (5)")
    parser.add_argument(
        "--latency", type=float, default=0.2, help="seconds the sandbox takes to answer (0.2)"
    )
    parser.add_argument(
        "--warmup", type=float, default=10.0, help="seconds left out of CPU per poll at the start (10)"
    )
    parser.add_argument("--reference", choices=("aiohttp", "httpx"), default="aiohttp")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.latency)
        return 0
    if args.client:
        client(json.loads(args.client))
        return 0

    load = os.getloadavg()
    print(
        f"each size: N reckon triggers + N process triggers in one loop, all started at once; poll every "
        f"{args.interval:g} s, answered after {args.latency:g} s, {args.seconds:g} s per run; load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs"
    )
    header = (
        f"{'size':>9} {'kind':>9} {'polls':>6} {'late med':>9} {'late p95':>9} {'steady p95':>10} "
        f"{'1st p95':>8} {'1st max':>8} "
        f"{'lag p99':>8} {'lag max':>8} {'CPU/poll':>9} {'warm-up CPU':>11}"
    )
    print(header)
    results: dict[int, dict[str, dict[str, Any]]] = {}
    with sandbox_process(args.latency) as server:
        for size in args.sizes:
            ids = server.ask(f"setup {size}")
            results[size] = {}
            for kind in ("ours", args.reference):
                r = measure(server, kind, ids, args)
                results[size][kind] = r
                print(
                    f"{f'{size}+{size}':>9} {kind:>9} {r['polls']:>6} {r['late_median']:>8.3f}s "
                    f"{r['late_p95']:>8.3f}s {r['steady_p95']:>9.3f}s "
                    f"{r['first_p95']:>7.2f}s {r['first_worst']:>7.2f}s "
                    f"{r['lag_p99'] * 1e3:>6.1f}ms "
                    f"{r['lag_worst'] * 1e3:>6.0f}ms {r['cpu_per_poll'] * 1e3:>7.2f}ms "
                    f"{r['warmup_cpu']:>10.2f}s",
                    flush=True,
                )
                if r["silent"] or r["errors"]:
                    print(f"          {r['silent']} pollers never polled; errors: {r['errors'][:3]}")
    size = args.sizes[-1]
    ours, ref = results[size]["ours"], results[size][args.reference]
    print(f"all pollers started within {ours['first_worst']:.2f} s (reference {ref['first_worst']:.2f} s)")
    print(
        f"at {size}+{size}: ratio CPU per poll ours/{args.reference} "
        f"{ours['cpu_per_poll'] / ref['cpu_per_poll']:.2f} (goal <= 1.5); p95 lateness "
        f"{ours['late_p95']:.2f} s, after the warm-up {ours['steady_p95']:.2f} s (goal <= 1; reference "
        f"{ref['late_p95']:.2f} s, {ref['steady_p95']:.2f} s); loop lag p99 {ours['lag_p99'] * 1e3:.1f} ms "
        f"(goal < 50), worst {ours['lag_worst'] * 1e3:.0f} ms (goal <= reference's "
        f"{ref['lag_worst'] * 1e3:.0f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Requests per second the sandbox serves on loopback with keep-alive, against the 2 000 req/s goal.

Several client threads, each with its own ``requests.Session`` (keep-alive), alternate between
``GET /reckons/process/status/<process>`` (PontoWeb, Basic auth) and ``GET /voors/departments/<id>``
(Voors, token auth), each prepared once and sent with ``Session.send``. ``requests`` itself costs
far more CPU per call than the server does, so the client threads are spread over several
processes (``--processes``); the sandbox runs in this process, in its usual background thread.

    python bench/sandbox_rps.py [--seconds 5] [--processes 2] [--threads 4]

Prints the requests per second and the ratio to 2 000 (>= 1.0 meets the goal), the CPU each side
spent per request, and the sandbox's capacity on one core (requests served per second of its own
CPU): on a small or busy machine the clients, not the sandbox, are what limits the first figure.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import threading
import time
from typing import Any

GOAL = 2000.0


def _client(
    base: str,
    voors: str,
    process: str,
    dep_id: int,
    auth: tuple[str, str],
    token: str,
    seconds: float,
    threads: int,
    out: Any,
) -> None:
    import resource

    import requests

    counts = [0] * threads
    errors = [0] * threads
    start_at = time.perf_counter() + 0.2
    deadline = start_at + seconds

    def run(i: int) -> None:
        pw = requests.Session()
        pw.trust_env = False  # no proxy or netrc lookups per call: measure the server, not os.environ
        pw.auth = auth
        pw.headers["Accept-Version"] = "v2"
        vs = requests.Session()
        vs.trust_env = False
        vs.headers["Authorization"] = token
        # each request is prepared once and sent again and again on its keep-alive session:
        # building a request costs requests more CPU than the sandbox spends answering it
        status = pw.prepare_request(requests.Request("GET", f"{base}/reckons/process/status/{process}"))
        dep = vs.prepare_request(requests.Request("GET", f"{voors}/departments/{dep_id}"))
        pw.send(status)  # warm both connections before the clock starts
        vs.send(dep)
        while time.perf_counter() < start_at:
            time.sleep(0.001)
        n = bad = 0
        while time.perf_counter() < deadline:
            r = pw.send(status) if n % 2 == 0 else vs.send(dep)
            n += 1
            if r.status_code != 200:
                bad += 1
        counts[i] = n
        errors[i] = bad

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.put((sum(counts), sum(errors), usage.ru_utime + usage.ru_stime))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="client threads per process (default 4)")
    args = parser.parse_args()

    import requests

    from airflow_provider_ahgora.sandbox import run_sandbox

    with run_sandbox(employees=50, speed=float("inf"), record_limit=1000) as sb:
        auth = (sb.login, sb.password)
        started = requests.post(
            f"{sb.base_url}/reckons/process/start",
            json={"rescission": False, "month": "04", "year": "2025"},
            auth=auth,
            timeout=30,
        ).json()
        created = requests.post(
            f"{sb.voors_url}/departments",
            json={"data": {"department": {"name": "Bench", "remoteId": {"id": 1}}}},
            headers={"Authorization": sb.token},
            timeout=30,
        ).json()
        dep_id = created["data"]["department"]["id"]
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        procs = [
            ctx.Process(
                target=_client,
                args=(
                    sb.base_url,
                    sb.voors_url,
                    started["process"],
                    dep_id,
                    auth,
                    sb.token,
                    args.seconds,
                    args.threads,
                    queue,
                ),
            )
            for _ in range(args.processes)
        ]
        import resource

        before = resource.getrusage(resource.RUSAGE_SELF)
        for p in procs:
            p.start()
        results = [queue.get(timeout=args.seconds + 120) for _ in procs]
        for p in procs:
            p.join()
        after = resource.getrusage(resource.RUSAGE_SELF)
    server_cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    client_cpu = sum(r[2] for r in results)
    total = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    rps = total / args.seconds
    print(
        f"sandbox: {total} requests in {args.seconds:.1f} s with {args.processes} x {args.threads} "
        f"keep-alive clients ({errors} non-200): {rps:.0f} requests/s"
    )
    if total:
        print(
            f"CPU per request: sandbox {server_cpu / total * 1e6:.0f} us, "
            f"clients {client_cpu / total * 1e6:.0f} us (requests is the heavier side)"
        )
        if server_cpu > 0:
            capacity = total / server_cpu
            print(
                f"sandbox capacity on one core (requests / its CPU seconds): {capacity:.0f} requests/s, "
                f"ratio {capacity / GOAL:.2f}"
            )
    print(f"ratio to the {GOAL:.0f} req/s goal: {rps / GOAL:.2f}")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())

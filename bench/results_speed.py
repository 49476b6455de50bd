"""Speed of reading every result record of a reckon, against a hand-written ``requests`` loop.

``PontoWebReckonResultsOperator`` reads a full-base reckon (``daily.punches``, ``daily.totals``,
``monthly``) into a JSON Lines file with its guarantees: reconsume first, exactly once (each record's
digest, duplicates dropped), the count checked against ``total`` under every reading of it, an atomic
commit, memory bounded by one page. The reference is what a data engineer writes by hand, with none
of those guarantees but the reconsume (without it the loop reads nothing the second time)::

    session = requests.Session(); session.auth = (login, password)
    session.get(f"{base}/reckons/reconsume/{unique}").raise_for_status()
    with open(tmp, "w", encoding="utf-8") as out:
        while True:
            answer = session.get(f"{base}/reckons/{unique}", params={"limit": 1000})
            answer.raise_for_status()
            data = answer.json()["data"]
            if not data:
                break
            for record in data:
                out.write(json.dumps(record) + "\\n")
    os.replace(tmp, path)

Our read is measured as it runs in a deployment once it has learnt what ``total`` counts on this
server (the Airflow Variable ``ahgora_total_reading__<digest>``, given to the subprocess as an
``AIRFLOW_VAR_...`` environment variable): the count is checked, and one read is enough. Its very first
read on a server, whose count fits one reading of ``total`` and falls short of another, reads a second
time to compare (``--first-read`` measures that one).

The sandbox runs in this (driver) process, with a ``latency`` fault that delays **every** request by
20 ms; it finishes the reckon at once and builds its records before the first measure (one read of
one record). Each side then runs in a **fresh subprocess** (only the client is measured there: the
sandbox's CPU is the driver's), in pairs, the order alternating from pair to pair, and each run is
measured for its wall seconds, its CPU seconds (``time.process_time``: every thread of the process)
and its **peak RSS delta** (``VmHWM``, reset with ``/proc/self/clear_refs`` right before the read,
minus the RSS just before it; see ``results_memory.py``).

    python bench/results_speed.py [--employees 2000] [--pairs 3] [--latency 0.02] [--page-size 1000]
                                  [--first-read]

The last line gives the ratios ours/hand of the medians: wall, CPU and peak RSS delta (goal: 1.0 or
less for each).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from results_memory import FEATURES, LOG_LEVEL, MIB, MONTH, YEAR, _proc_status, _reset_peak_rss


def hand_loop(base: str, auth: tuple[str, str], unique: str, path: str, page_size: int) -> int:
    """The reference: what a data engineer writes by hand with ``requests`` (the module docstring)."""
    import requests

    session = requests.Session()
    session.auth = auth
    session.get(f"{base}/reckons/reconsume/{unique}", timeout=60).raise_for_status()
    records = 0
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        while True:
            answer = session.get(f"{base}/reckons/{unique}", params={"limit": page_size}, timeout=60)
            answer.raise_for_status()
            data = answer.json()["data"]
            if not data:
                break
            for record in data:
                out.write(json.dumps(record) + "\n")
            records += len(data)
    os.replace(tmp, path)
    session.close()
    return records


def _child(side: str, unique: str, out_dir: str, page_size: int) -> dict[str, Any]:
    """One measured read in this (fresh) process."""
    import gc

    target = os.path.join(out_dir, "results.jsonl")
    if side == "hand":
        import requests  # noqa: F401 - imported before the baseline, as the operator's imports are

        conn = json.loads(os.environ["AIRFLOW_CONN_PONTOWEB_DEFAULT"])
        base, auth = conn["host"].rstrip("/"), (conn["login"], conn["password"])

        def read() -> int:
            return hand_loop(base, auth, unique, target, page_size)

    else:
        from types import SimpleNamespace

        from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
        from airflow_provider_ahgora.operators.reckon import PontoWebReckonResultsOperator
        from airflow_provider_ahgora.storage import storage_path

        # warm-up, as results_memory.py does: the connection lookup and the storage machinery
        hook = PontoWebHook()
        hook.settings  # noqa: B018
        warm = storage_path(os.path.join(out_dir, "warmup.jsonl"))
        with warm.open("w", encoding="utf-8") as f:
            f.write("{}\n")
        warm.unlink()
        hook.close()
        op = PontoWebReckonResultsOperator(
            task_id="results", unique=unique, output_path=target, page_size=page_size
        )
        context: Any = {
            "ti": SimpleNamespace(try_number=1, dag_id="bench", run_id="bench", task_id="results")
        }

        def read() -> int:
            return int(op.execute(context)["records"])

    gc.collect()
    reset = _reset_peak_rss()
    rss_before = _proc_status("VmRSS")
    cpu, started = time.process_time(), time.perf_counter()
    records = read()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = _proc_status("VmHWM")
    size = os.path.getsize(target)
    lines = 0
    with open(target, "rb") as f:  # the file holds every record, one JSON value per line
        for line in f:
            json.loads(line)
            lines += 1
    return {
        "side": side,
        "records": records,
        "lines": lines,
        "bytes": size,
        "seconds": seconds,
        "cpu": cpu,
        "rss_delta": peak - rss_before,
        "peak_reset": reset,
    }


def _run_child(env: dict[str, str], side: str, unique: str, page_size: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ahgora-results-speed-") as out_dir:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", side, unique, "--out", out_dir]
        cmd += ["--page-size", str(page_size)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)  # noqa: S603
    if proc.returncode != 0:
        raise RuntimeError(f"the {side} subprocess failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--employees", type=int, default=2000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to every request (0.02)")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument(
        "--first-read",
        action="store_true",
        help="ours without the learnt reading of total: its first read on a server (a second read)",
    )
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "UNIQUE"), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child[0], args.child[1], args.out, args.page_size)))
        return 0

    child_env = dict(os.environ)
    if LOG_LEVEL not in os.environ:
        os.environ[LOG_LEVEL] = "WARNING"  # this process: the figures only; the children log as a task

    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
    from airflow_provider_ahgora.results import ReadingMemory
    from airflow_provider_ahgora.sandbox import run_sandbox
    from airflow_provider_ahgora.sandbox.faults import Fault

    runs: dict[str, list[dict[str, Any]]] = {"hand": [], "ours": []}
    with run_sandbox(employees=args.employees, record_limit=0) as sb:
        os.environ.update(sb.airflow_env())
        child_env.update(sb.airflow_env())
        hook = PontoWebHook()
        if not args.first_read:  # what the first read on this server learnt (what total counts)
            memory = ReadingMemory(hook.settings.base_url, {"monthly", "punches", "daily results"})
            child_env[f"AIRFLOW_VAR_{memory.key.upper()}"] = json.dumps({"readings": ["records"]})
        body = {"month": MONTH, "year": YEAR, "rescission": False, "features": FEATURES}
        process = hook.start_reckon(body).process
        sb.finish_reckon(process)
        unique = str(hook.get_reckon_status(process).unique)
        pages = hook.iter_reckon_results(unique, page_size=1)  # the sandbox builds its records now
        next(pages)
        pages.close()
        hook.close()
        total = sb.reckon(unique)["total"]
        if args.latency:
            sb.faults.add(Fault.from_spec({"kind": "latency", "delay": args.latency}))
        load = os.getloadavg()
        for pair in range(args.pairs):
            for side in ("hand", "ours") if pair % 2 == 0 else ("ours", "hand"):
                reconsumes = sb.reckon(unique)["reconsumes"]
                run = _run_child(child_env, side, unique, args.page_size)
                run["reads"] = sb.reckon(unique)["reconsumes"] - reconsumes
                if run["records"] != total or run["lines"] != total:
                    raise RuntimeError(
                        f"{side} read {run['records']} records ({run['lines']} lines) of {total}"
                    )
                runs[side].append(run)
        load_after = os.getloadavg()

    def median(side: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[side])

    print(
        f"{args.employees} employees, {total} records, latency {args.latency * 1000:.0f} ms per request, "
        f"page size {args.page_size}, {args.pairs} pairs (median); load average {load[0]:.2f} before, "
        f"{load_after[0]:.2f} after"
    )
    for side, label in (("hand", "hand-written loop"), ("ours", "PontoWebReckonResultsOperator")):
        seconds = [f"{r['seconds']:.2f}" for r in runs[side]]
        print(
            f"{label:>30}: {median(side, 'seconds'):.2f} s wall ({', '.join(seconds)}), "
            f"{total / median(side, 'seconds'):.0f} records/s, CPU {median(side, 'cpu'):.2f} s, "
            f"peak RSS delta {median(side, 'rss_delta') / MIB:.1f} MiB, "
            f"{runs[side][0]['bytes'] / MIB:.1f} MiB written, read {runs[side][0]['reads']} time(s)"
        )
    wall = median("ours", "seconds") / median("hand", "seconds")
    cpu = median("ours", "cpu") / median("hand", "cpu")
    rss = median("ours", "rss_delta") / median("hand", "rss_delta")
    print(f"ratio ours/hand: wall {wall:.2f}, CPU {cpu:.2f}, peak RSS delta {rss:.2f} (goal: 1.0 or less)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

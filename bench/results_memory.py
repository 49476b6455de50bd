"""Peak memory of reading every result record of a reckon, for 2 000 and for 20 000 employees.

``PontoWebReckonResultsOperator`` promises memory bounded by one page: it reconsumes, then streams
page after page (``page_size`` records per request) into a temporary JSON Lines object, and commits.
If that holds, reading a company ten times larger costs ten times the time and the bytes, but the
same peak memory: the ideal ratio peak(20 000) / peak(2 000) is 1.0.

For each company size the sandbox (in this process, in its usual background thread) starts a
full-base reckon of all three features (``daily.punches``, ``daily.totals``, ``monthly``), is told
to finish it at once (``Sandbox.finish_reckon``), and builds its records (one read of one record:
the server makes its whole result list on the first read, and that is the sandbox's cost, not the
operator's). Then the operator's ``execute`` runs in a **fresh subprocess** (no sandbox there, so
nothing but the client is measured), twice:

* once plain, for the seconds and the **peak RSS delta** (``ru_maxrss`` after ``execute`` minus
  the RSS just before it, after a warm-up that imports and touches everything ``execute`` uses);
* once under ``tracemalloc``, for the **peak of Python allocations** during ``execute`` (and what
  is still allocated after it: anything retained per page shows up there).

    python bench/results_memory.py [--sizes 2000 20000] [--page-size 1000] [--no-tracemalloc]

Prints records, bytes written, seconds and both peaks for each size, then the ratios; the last
line is the ratio of the tracemalloc peaks (goal: near 1).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

FEATURES = ["daily.punches", "daily.totals", "monthly"]
MONTH, YEAR = "04", "2025"
MIB = 1024 * 1024


# --------------------------------------------------------------------------------------------------
# The measured side: one subprocess per run
# --------------------------------------------------------------------------------------------------


def _rss_bytes() -> int:
    """The current resident set size (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _maxrss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _child(unique: str, out_dir: str, page_size: int, trace: bool, top: int) -> dict[str, Any]:
    """Run the operator once in this (fresh) process; returns the figures."""
    import gc
    import logging
    import tracemalloc
    from types import SimpleNamespace

    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
    from airflow_provider_ahgora.models.pontoweb import ReckonResultsPage, ReckonStatus
    from airflow_provider_ahgora.operators.reckon import PontoWebReckonResultsOperator, _storage_path

    # The operator logs one line per page, as in a task: keep that path, send it nowhere.
    logging.basicConfig(level=logging.INFO, stream=open(os.devnull, "w"))  # noqa: SIM115

    # Warm-up: everything execute imports or builds once (connection lookup, session, pydantic
    # validators, the ObjectStoragePath machinery), so that the baseline holds it already.
    hook = PontoWebHook()
    hook.settings  # noqa: B018 - the connection lookup
    ReckonStatus.model_validate({"status": "done", "progress": {"done": 1, "total": 1}})
    ReckonResultsPage.model_validate({"total": 0, "data": [{"employee": "1", "daily": []}]})
    warm = _storage_path(os.path.join(out_dir, "warmup.jsonl"))
    warm.parent.mkdir(parents=True, exist_ok=True)
    with warm.open("w", encoding="utf-8") as f:
        f.write("{}\n")
    warm.unlink()
    hook.close()

    target = os.path.join(out_dir, "results.jsonl")
    op = PontoWebReckonResultsOperator(task_id="results", unique=unique, output_path=target, page_size=page_size)
    context: Any = {"ti": SimpleNamespace(try_number=1, dag_id="bench", run_id="bench", task_id="results")}

    gc.collect()
    rss_before = _rss_bytes()
    maxrss_before = _maxrss_bytes()
    if trace:
        tracemalloc.start(25 if top else 1)
        tracemalloc.reset_peak()
    started = time.perf_counter()
    result = op.execute(context)
    seconds = time.perf_counter() - started
    figures: dict[str, Any] = {
        "records": result["records"],
        "bytes": os.path.getsize(result["path"]),
        "seconds": seconds,
        "rss_before": rss_before,
        "maxrss_before": maxrss_before,
        "peak_rss": _maxrss_bytes(),
        "rss_delta": _maxrss_bytes() - rss_before,
    }
    if trace:
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
        figures["trace_peak"] = peak
        figures["trace_retained"] = current
        if top:
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)]
            )
            figures["retained_top"] = [
                f"{stat.size / 1024:.0f} KiB in {stat.count} blocks: "
                + " <- ".join(f"{fr.filename.rsplit('/', 2)[-1]}:{fr.lineno}" for fr in stat.traceback[:4])
                for stat in snapshot.statistics("traceback")[:top]
            ]
        tracemalloc.stop()
    os.unlink(result["path"])
    return figures


# --------------------------------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------------------------------


def _run_child(env: dict[str, str], unique: str, page_size: int, trace: bool, top: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ahgora-results-bench-") as out_dir:
        cmd = [
            sys.executable,
            os.path.abspath(__file__),
            "--child",
            unique,
            "--out",
            out_dir,
            "--page-size",
            str(page_size),
            "--top",
            str(top),
        ]
        if trace:
            cmd.append("--trace")
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the measured subprocess failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _case(employees: int, page_size: int, trace: bool, top: int) -> dict[str, Any]:
    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
    from airflow_provider_ahgora.sandbox import run_sandbox

    # speed: the default (200 employees/s); the reckon is finished at once through the control API
    with run_sandbox(employees=employees, record_limit=1000) as sb:
        env = {**os.environ, **sb.airflow_env()}
        os.environ.update(sb.airflow_env())
        hook = PontoWebHook()
        process = hook.start_reckon({"month": MONTH, "year": YEAR, "rescission": False, "features": FEATURES}).process
        sb.finish_reckon(process)
        status = hook.get_reckon_status(process)
        assert status.is_done, status
        unique = str(status.unique)
        started = time.perf_counter()
        # one read of one record: the sandbox builds the whole result list now, outside the measure
        hook._request("GET", f"/reckons/{unique}", params={"limit": 1})
        server_build = time.perf_counter() - started
        hook.close()
        total = sb.reckon(unique)["total"]
        plain = _run_child(env, unique, page_size, trace=False, top=0)
        traced = _run_child(env, unique, page_size, trace=True, top=top) if trace else None
        reckon = sb.reckon(unique)
    return {
        "employees": employees,
        "total": total,
        "server_build": server_build,
        "plain": plain,
        "traced": traced,
        "reconsumes": reckon["reconsumes"],
    }


def _mib(n: float) -> str:
    return f"{n / MIB:.1f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000], help="employees (2000 20000)")
    parser.add_argument("--page-size", type=int, default=1000, help="records per request (1000)")
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip the tracemalloc runs")
    parser.add_argument("--top", type=int, default=0, help="show the N largest allocations still held after execute")
    parser.add_argument("--child", metavar="UNIQUE", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(_child(args.child, args.out, args.page_size, args.trace, args.top)))
        return 0

    cases = []
    for employees in args.sizes:
        case = _case(employees, args.page_size, not args.no_tracemalloc, args.top)
        cases.append(case)
        plain, traced = case["plain"], case["traced"]
        print(
            f"{employees:>6} employees: {plain['records']} records (of {case['total']}), "
            f"{plain['bytes'] / MIB:.1f} MiB written in {plain['seconds']:.1f} s "
            f"({plain['records'] / plain['seconds']:.0f} records/s; sandbox built them in "
            f"{case['server_build']:.1f} s beforehand)"
        )
        print(
            f"        peak RSS delta {_mib(plain['rss_delta'])} (RSS {_mib(plain['rss_before'])} before, "
            f"peak {_mib(plain['peak_rss'])})"
        )
        if traced is not None:
            print(
                f"        tracemalloc peak {_mib(traced['trace_peak'])}, still allocated after execute "
                f"{_mib(traced['trace_retained'])} ({traced['seconds']:.1f} s under tracemalloc)"
            )
            for line in traced.get("retained_top", []):
                print(f"          {line}")
        if plain["records"] != case["total"]:
            print(f"        !! read {plain['records']} records, the sandbox holds {case['total']}")
    if len(cases) < 2:
        return 0
    small, large = cases[0], cases[-1]
    scale = large["total"] / small["total"] if small["total"] else float("nan")
    rss_ratio = large["plain"]["rss_delta"] / small["plain"]["rss_delta"]
    print(
        f"records x{scale:.1f}, seconds x{large['plain']['seconds'] / small['plain']['seconds']:.1f}, "
        f"peak RSS delta x{rss_ratio:.2f}"
    )
    label = f"peak({large['employees']:,})/peak({small['employees']:,})".replace(",", " ")
    if small["traced"] is not None and large["traced"] is not None:
        ratio = large["traced"]["trace_peak"] / small["traced"]["trace_peak"]
        print(f"ratio {label}: tracemalloc {ratio:.2f}, RSS delta {rss_ratio:.2f} (goal: near 1)")
    else:
        print(f"ratio {label}: RSS delta {rss_ratio:.2f} (goal: near 1)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

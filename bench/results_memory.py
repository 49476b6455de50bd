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

* once plain, for the seconds and the **peak RSS delta**: ``VmHWM`` (reset with
  ``/proc/self/clear_refs`` right before ``execute``) minus the RSS just before it, after a warm-up
  that imports and touches everything ``execute`` uses; a thread also samples the RSS, to show
  the peak of the first half of the run next to that of the second;
* once under ``tracemalloc``, for the **peak of Python allocations** during ``execute`` (and what
  is still allocated after it: anything retained per page shows up there). ``tracemalloc`` slows
  this code about 4x, so by default only the first size is traced (``--tracemalloc all``: every
  size, about 7 minutes in all on 2 cores; ``none``: no traced run).

    python bench/results_memory.py [--sizes 2000 20000] [--page-size 1000] [--tracemalloc first|all|none]

Prints records, bytes written, seconds, the largest page and the peaks for each size; the last line
is the ratio peak(20 000) / peak(2 000) of the RSS deltas (and of the tracemalloc peaks with
``--tracemalloc all``); goal: near 1.
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
#: Set to WARNING in this (driver) process unless given, so the output is the figures only; the
#: measured subprocesses log at Airflow's usual level, as a task does.
LOG_LEVEL = "AIRFLOW__LOGGING__LOGGING_LEVEL"
_CHILD_ENV_DROP: set[str] = set()
MONTH, YEAR = "04", "2025"
MIB = 1024 * 1024


# --------------------------------------------------------------------------------------------------
# The measured side: one subprocess per run
# --------------------------------------------------------------------------------------------------


def _proc_status(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``), in bytes (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current RSS (``/proc/self/clear_refs``, Linux 4.0+); False if refused.

    ``ru_maxrss`` is no use here: it survives ``execve``, so a subprocess started by a parent that
    holds a large sandbox would report the parent's peak. ``VmHWM`` belongs to the new process's
    address space, and can be reset right before the measured call.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


class _RssSampler:
    """Samples ``VmRSS`` every ``interval`` seconds in a thread: the peak of each half of the run."""

    def __init__(self, interval: float = 0.05) -> None:
        import threading

        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), _proc_status("VmRSS")))
            self._stop.wait(self.interval)

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def half_peaks(self) -> tuple[int, int]:
        if len(self.samples) < 2:
            return (0, 0)
        middle = (self.samples[0][0] + self.samples[-1][0]) / 2
        first = max((r for t, r in self.samples if t <= middle), default=0)
        second = max((r for t, r in self.samples if t > middle), default=0)
        return first, second


def _child(unique: str, out_dir: str, page_size: int, trace: bool, top: int) -> dict[str, Any]:
    """Run the operator once in this (fresh) process; returns the figures."""
    import gc
    import tracemalloc
    from types import SimpleNamespace

    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
    from airflow_provider_ahgora.models.pontoweb import ReckonResultsPage, ReckonStatus
    from airflow_provider_ahgora.operators.reckon import PontoWebReckonResultsOperator
    from airflow_provider_ahgora.storage import storage_path as _storage_path

    # The operator and the hook log a line per page, as in a task (to this process's stdout, which
    # the driver captures and discards): that is part of the measured path.

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
    op = PontoWebReckonResultsOperator(
        task_id="results", unique=unique, output_path=target, page_size=page_size
    )
    context: Any = {"ti": SimpleNamespace(try_number=1, dag_id="bench", run_id="bench", task_id="results")}

    gc.collect()
    if trace:
        tracemalloc.start(25 if top else 1)
    reset = _reset_peak_rss()
    rss_before = _proc_status("VmRSS")
    with _RssSampler() as sampler:
        started = time.perf_counter()
        result = op.execute(context)
        seconds = time.perf_counter() - started
    peak_rss = _proc_status("VmHWM")
    first_half, second_half = sampler.half_peaks()
    figures: dict[str, Any] = {
        "records": result["records"],
        "bytes": os.path.getsize(result["path"]),
        "seconds": seconds,
        "rss_before": rss_before,
        "peak_rss": peak_rss,
        "rss_delta": peak_rss - rss_before,
        "peak_reset": reset,
        "half_peaks": [first_half - rss_before, second_half - rss_before],
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
    figures["largest_page"] = _largest_page(result["path"], page_size)
    os.unlink(result["path"])
    return figures


def _largest_page(path: str, page_size: int) -> int:
    """Bytes of JSON of the largest run of ``page_size`` consecutive lines: the largest page read."""
    largest = size = lines = 0
    with open(path, "rb") as f:
        for line in f:
            size += len(line)
            lines += 1
            if lines == page_size:
                largest, size, lines = max(largest, size), 0, 0
    return max(largest, size)


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
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)  # noqa: S603
    if proc.returncode != 0:
        raise RuntimeError(f"the measured subprocess failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _case(employees: int, page_size: int, trace: bool, top: int) -> dict[str, Any]:
    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
    from airflow_provider_ahgora.sandbox import run_sandbox

    # speed: the default (200 employees/s); the reckon is finished at once through the control API
    with run_sandbox(employees=employees, record_limit=1000) as sb:
        env = {k: v for k, v in os.environ.items() if k not in _CHILD_ENV_DROP}
        env.update(sb.airflow_env())
        os.environ.update(sb.airflow_env())
        hook = PontoWebHook()
        body = {"month": MONTH, "year": YEAR, "rescission": False, "features": FEATURES}
        process = hook.start_reckon(body).process
        sb.finish_reckon(process)
        status = hook.get_reckon_status(process)
        assert status.is_done, status
        unique = str(status.unique)
        started = time.perf_counter()
        # one read of one record: the sandbox builds the whole result list now, outside the measure
        pages = hook.iter_reckon_results(unique, page_size=1)
        next(pages)
        pages.close()
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
    parser.add_argument(
        "--tracemalloc",
        choices=["first", "all", "none"],
        default="first",
        help="which sizes get a traced run too (default: the first only; all takes ~7 min)",
    )
    parser.add_argument(
        "--top", type=int, default=0, help="the N largest allocations still held after execute"
    )
    parser.add_argument("--child", metavar="UNIQUE", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(_child(args.child, args.out, args.page_size, args.trace, args.top)))
        return 0

    if LOG_LEVEL not in os.environ:
        os.environ[LOG_LEVEL] = "WARNING"
        _CHILD_ENV_DROP.add(LOG_LEVEL)
    cases = []
    for i, employees in enumerate(args.sizes):
        trace = args.tracemalloc == "all" or (args.tracemalloc == "first" and i == 0)
        case = _case(employees, args.page_size, trace, args.top)
        cases.append(case)
        plain, traced = case["plain"], case["traced"]
        print(
            f"{employees:>6} employees: {plain['records']} records (of {case['total']}), "
            f"{plain['bytes'] / MIB:.1f} MiB written in {plain['seconds']:.1f} s "
            f"({plain['records'] / plain['seconds']:.0f} records/s; sandbox built them in "
            f"{case['server_build']:.1f} s beforehand); largest page {_mib(plain['largest_page'])} of JSON"
        )
        first, second = plain["half_peaks"]
        print(
            f"        peak RSS delta {_mib(plain['rss_delta'])} (RSS {_mib(plain['rss_before'])} before, "
            f"peak {_mib(plain['peak_rss'])}; peak delta in the first half of the run {_mib(first)}, "
            f"in the second {_mib(second)})"
        )
        if not plain["peak_reset"]:
            print("        (could not reset VmHWM: the peak may include the warm-up's)")
        if traced is not None:
            print(
                f"        tracemalloc peak {_mib(traced['trace_peak'])}, still allocated after execute "
                f"{_mib(traced['trace_retained'])} ({traced['seconds']:.1f} s under tracemalloc)"
            )
            for line in traced.get("retained_top", []):
                print(f"          {line}")
        else:
            print(
                "        tracemalloc: not run for this size (--tracemalloc all: about 4x the seconds above)"
            )
        if plain["records"] != case["total"]:
            print(f"        !! read {plain['records']} records, the sandbox holds {case['total']}")
    if len(cases) < 2:
        return 0
    small, large = cases[0], cases[-1]
    scale = large["total"] / small["total"] if small["total"] else float("nan")
    rss_ratio = large["plain"]["rss_delta"] / small["plain"]["rss_delta"]
    page_ratio = large["plain"]["largest_page"] / small["plain"]["largest_page"]
    print(
        f"records x{scale:.1f}, seconds x{large['plain']['seconds'] / small['plain']['seconds']:.1f}, "
        f"largest page x{page_ratio:.2f}, peak RSS delta x{rss_ratio:.2f}"
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

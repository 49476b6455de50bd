"""Peak memory of pushing a 100 000-record file with ``PontoWebPushBatchOperator``, against 10 000.

The operator promises memory that does not grow with the input: it streams the file (a ``.json``
array is decoded one element at a time; ``.jsonl`` line by line), validates each record and spools
its wire form to a local temporary file, then sends one batch (at most 1000 records, 1 MiB) at a
time from the spool, keeping only a few numbers per batch. If that holds, pushing ten times more
records costs ten times the time but the same peak memory: the ideal ratio
peak(100 000) / peak(10 000) is 1.0.

The sandbox runs in this (driver) process, in its usual background thread, with pushes processed at
once; three of the cost centers are rejected by its process monitor, so the run also goes through
the failure report's second pass over the input (the records the monitor names are found by reading
the input again). For each size and format, the operator's ``execute`` runs in a **fresh
subprocess** (no sandbox there: only the client is measured), twice:

* plain, for the seconds and the **peak RSS delta**: ``VmHWM`` (reset with ``/proc/self/clear_refs``
  right before ``execute``) minus the RSS just before it, after a warm-up that imports and touches
  everything ``execute`` uses (see ``bench/results_memory.py`` for why not ``ru_maxrss``);
* under ``tracemalloc``, for the **peak of Python allocations** during ``execute`` and what is
  still allocated after it.

    python bench/push_memory.py [--sizes 10000 100000] [--formats json jsonl] [--no-tracemalloc]
                                [--pad 0]

The default records are realistic cost centers (about 80 bytes of JSON each: a batch of 1000 is an
80 KiB body). ``--pad 1000`` makes each about 1 KiB, so that batches are cut at 1 MiB and the bound
(one batch body, its bytes and its text, at a time) shows.

Prints the figures per run; the last line is the ratio peak(100 000) / peak(10 000) for each format
(goal: near 1).
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

LOG_LEVEL = "AIRFLOW__LOGGING__LOGGING_LEVEL"
_CHILD_ENV_DROP: set[str] = set()
MIB = 1024 * 1024
#: Cost centers the sandbox's process monitor rejects (so the report's second pass runs).
REJECTED = ("CC000017", "CC005005", "CC009999")


def cost_center(i: int, pad: int = 0) -> dict[str, str]:
    return {"codigo": f"CC{i:06d}", "nome": f"Centro de custo {i} - Operações e Manutenção" + "x" * pad}


def write_input(directory: str, size: int, fmt: str, pad: int) -> str:
    """The input file, written record by record (the driver does not hold it in memory either)."""
    path = os.path.join(directory, f"cost_centers_{size}.{fmt}")
    with open(path, "w", encoding="utf-8") as out:
        if fmt == "json":
            out.write("[\n")
            for i in range(size):
                out.write(("," if i else "") + json.dumps(cost_center(i, pad), ensure_ascii=False) + "\n")
            out.write("]\n")
        else:
            for i in range(size):
                out.write(json.dumps(cost_center(i, pad), ensure_ascii=False) + "\n")
    return path


# --------------------------------------------------------------------------------------------------
# The measured side: one subprocess per run
# --------------------------------------------------------------------------------------------------


def _proc_status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _child(path: str, out_dir: str, trace: bool) -> dict[str, Any]:
    import gc
    import tracemalloc
    from types import SimpleNamespace

    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
    from airflow_provider_ahgora.models.pontoweb import CostCenter, ProcessStatus, PushTicket
    from airflow_provider_ahgora.operators._records import FailureReport, iter_records
    from airflow_provider_ahgora.operators.push import PontoWebPushBatchOperator

    # Warm-up: the connection lookup, the session, the pydantic validators, the ObjectStoragePath
    # machinery, the JSON decoders: everything execute builds once.
    hook = PontoWebHook()
    hook.settings  # noqa: B018 - the connection lookup
    hook.get_conn()
    hook.close()
    CostCenter.model_validate(cost_center(0)).to_wire()
    PushTicket.model_validate({"unique": "u", "subunique": "1"})
    ProcessStatus.model_validate({"status": "done", "progress": {"done": "1", "total": "1"}})
    warm = os.path.join(out_dir, "warm.jsonl")
    with open(warm, "w") as f:
        f.write('{"a": 1}\n')
    list(iter_records(warm))
    report = FailureReport(os.path.join(out_dir, "warm-report.jsonl"))
    report.add({}, "warm-up")
    report.commit()

    class Store(dict):
        def set(self, key: str, value: Any, **_: Any) -> None:
            self[key] = value

        def delete(self, key: str) -> None:
            self.pop(key, None)

    summaries: list[Any] = []
    ti = SimpleNamespace(
        dag_id="bench",
        run_id="bench",
        task_id="push",
        map_index=-1,
        try_number=1,
        xcom_push=lambda key, value, **_: summaries.append(value),
    )
    op = PontoWebPushBatchOperator(
        task_id="push",
        resource="costcenter",
        records=path,
        poll_interval=0.2,
        report_path=os.path.join(out_dir, "failures.jsonl"),
        fail_on="never",
    )
    context: Any = {"ti": ti, "task_state_store": Store()}

    gc.collect()
    if trace:
        tracemalloc.start(1)
    reset = _reset_peak_rss()
    rss_before = _proc_status("VmRSS")
    started = time.perf_counter()
    summary: Any = op.execute(context)
    seconds = time.perf_counter() - started
    peak_rss = _proc_status("VmHWM")
    figures: dict[str, Any] = {
        "records": summary["records"],
        "sent": summary["sent"],
        "failed": summary["failed"],
        "batches": len(summary["batches"]),
        "seconds": seconds,
        "rss_before": rss_before,
        "rss_delta": peak_rss - rss_before,
        "peak_reset": reset,
    }
    if trace:
        del summary, summaries[:]
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        figures["trace_peak"] = peak
        figures["trace_retained"] = current
    return figures


# --------------------------------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------------------------------


def _run_child(env: dict[str, str], path: str, trace: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ahgora-push-bench-") as out_dir:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", path, "--out", out_dir]
        if trace:
            cmd.append("--trace")
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)  # noqa: S603
    if proc.returncode != 0:
        raise RuntimeError(f"the measured subprocess failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _mib(n: float) -> str:
    return f"{n / MIB:.1f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=int, nargs=2, default=[10_000, 100_000], help="records (10000 100000)"
    )
    parser.add_argument("--formats", nargs="+", default=["json", "jsonl"], choices=["json", "jsonl"])
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip the traced runs")
    parser.add_argument(
        "--pad", type=int, default=0, help="characters added to each name (1000: batches of ~1 MiB)"
    )
    parser.add_argument("--child", metavar="PATH", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(_child(args.child, args.out, args.trace)))
        return 0

    if LOG_LEVEL not in os.environ:
        os.environ[LOG_LEVEL] = "WARNING"
        _CHILD_ENV_DROP.add(LOG_LEVEL)
    from airflow_provider_ahgora.sandbox import run_sandbox

    results: dict[tuple[str, int], dict[str, Any]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="ahgora-push-input-") as data,
        run_sandbox(employees=5, push_speed=float("inf"), record_limit=0) as sb,
    ):
        sb.reject_records("costcenter", *REJECTED, message="Centro de custo em uso")
        env = {k: v for k, v in os.environ.items() if k not in _CHILD_ENV_DROP}
        env.update(sb.airflow_env())
        for fmt in args.formats:
            for size in args.sizes:
                path = write_input(data, size, fmt, args.pad)
                plain = _run_child(env, path, trace=False)
                traced = None if args.no_tracemalloc else _run_child(env, path, trace=True)
                results[(fmt, size)] = {"plain": plain, "traced": traced, "bytes": os.path.getsize(path)}
                sb.pontoweb.reset()  # forget the pushes (the sandbox's memory, not the measure's)
                sb.reject_records("costcenter", *REJECTED, message="Centro de custo em uso")
                file_size = _mib(os.path.getsize(path))
                print(
                    f".{fmt:<5} {size:>7} records ({file_size} file): {plain['sent']} sent in "
                    f"{plain['batches']} batches, {plain['failed']} rejected, {plain['seconds']:.1f} s; "
                    f"peak RSS delta {_mib(plain['rss_delta'])} (RSS before {_mib(plain['rss_before'])})"
                    + (
                        f"; tracemalloc peak {_mib(traced['trace_peak'])}, still allocated after "
                        f"{_mib(traced['trace_retained'])}"
                        if traced
                        else ""
                    )
                )
                if not plain["peak_reset"]:
                    print("        (could not reset VmHWM: the peak may include the warm-up's)")
    small, large = args.sizes
    parts = []
    for fmt in args.formats:
        a, b = results[(fmt, small)], results[(fmt, large)]
        rss = b["plain"]["rss_delta"] / max(a["plain"]["rss_delta"], 1)
        text = f".{fmt}: RSS delta {rss:.2f}"
        if a["traced"] and b["traced"]:
            grown = b["traced"]["trace_peak"] - a["traced"]["trace_peak"]
            per_batch = grown / max(1, b["plain"]["batches"] - a["plain"]["batches"])
            text += f", tracemalloc {b['traced']['trace_peak'] / a['traced']['trace_peak']:.2f}"
            more = b["plain"]["batches"] - a["plain"]["batches"]
            extra = f"{large - small:,}".replace(",", " ")
            print(
                f".{fmt}: the tracemalloc peak grew {_mib(grown)} for {extra} more records in "
                f"{more} more batches: {per_batch / 1024:.1f} KiB per batch, "
                f"{grown / (large - small):.1f} bytes per record"
            )
        parts.append(text)
    label = f"peak({large:,})/peak({small:,})".replace(",", " ")
    print(f"ratio {label}: {'; '.join(parts)} (goal: near 1)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

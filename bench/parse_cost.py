"""What our operators cost the scheduler's Dag parsing, against the same Dag written with hand-made
``@task``s.

The Dag processor parses every Dag file again and again, in fresh processes, with Airflow already
imported. This benchmark times, each time in a fresh interpreter with Airflow imported first
(untimed):

* **parse**: filling a ``DagBag`` from ``example_dags/monthly_closing.py`` (import of the file, the
  operators' construction, the Dag's validation), against the same file with its three provider
  operators (the reckon, its results, the Voors push) replaced by hand-made ``@task`` functions
  that would call the hooks themselves (their imports inside the functions, as one writes them so
  that parsing stays cheap). The hand-made file is made from the example by replacing the blocks
  between its ``[START howto_reckon_deferrable]``, ``[START howto_reckon_results]`` and
  ``[START howto_push_voors]`` markers, so both files are the same Dag otherwise;
* **import**: importing every operator and sensor module of the provider on top of ``import
  airflow.sdk`` (Airflow 3) or ``import airflow`` (2.11) (goal: 50 ms or less).

    python bench/parse_cost.py [--runs 15]

Runs alternate between the two files; the figures are medians. The last line is the ratio of the
parse times, ours / hand-made (goal: 1.1 or less).
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "example_dags", "monthly_closing.py")

#: What replaces each operator block of the example (by its marker name), and the lines that use
#: the operators' own attributes.
HAND_MADE = {
    "howto_reckon_deferrable": '''
    @task(pool="ahgora_pontoweb")
    def reckon(month: str, year: str) -> dict[str, Any]:
        """Start a full-base reckon and wait for it, polling its status."""
        import time

        from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook

        hook = PontoWebHook()
        features = ["daily.punches", "daily.totals", "monthly"]
        started = hook.start_reckon({"month": month, "year": year, "rescission": False, "features": features})
        while not (status := hook.get_reckon_status(started.process)).is_terminal:
            time.sleep(30)
        return {"process": status.process, "unique": status.unique, "company": status.company}

    reckon_done = reckon(closing["month"], closing["year"])
''',
    "howto_reckon_results": '''
    @task
    def results(reckon: dict[str, Any], output_path: str) -> dict[str, Any]:
        """Every result record of the reckon, one JSON line each."""
        import json

        from airflow.providers.common.compat.sdk import ObjectStoragePath

        from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook

        records = 0
        with ObjectStoragePath(output_path).open("w", encoding="utf-8") as out:
            for page in PontoWebHook().iter_reckon_results(reckon["unique"], raw=True):
                for record in page.records:
                    out.write(json.dumps(record, ensure_ascii=False) + "\\n")
                    records += 1
        return {"path": output_path, "records": records}
''',
    "howto_push_voors": '''
    @task
    def push_timecards(cards: dict[str, Any]) -> dict[str, Any]:
        """Upsert the time cards in Voors."""
        import json

        from airflow.providers.common.compat.sdk import ObjectStoragePath

        from airflow_provider_ahgora.hooks.voors import VoorsHook

        hook = VoorsHook()
        with ObjectStoragePath(cards["path"]).open("r", encoding="utf-8") as source:
            sent = [hook.upsert("timeCards", json.loads(line)) for line in source]
        return {"succeeded": len(sent), "failed": 0, "report_path": None}

    push_timecards = push_timecards(cards_file)
''',
}
USES = {
    "    reckon >> results\n": "",
    "    fetched: Any = results.output": "    fetched: Any = results(reckon_done, closing['results'])",
}
OPERATOR_IMPORTS = "from airflow_provider_ahgora.operators."


def hand_made(source: str) -> str:
    """The example with its operators replaced by hand-made ``@task``s (see the module documentation)."""
    for marker, replacement in HAND_MADE.items():
        start, end = f"    # [START {marker}]\n", f"    # [END {marker}]\n"
        if source.count(start) != 1 or source.count(end) != 1:
            raise SystemExit(f"the example lost its {marker} markers: update bench/parse_cost.py")
        head, rest = source.split(start)
        _, tail = rest.split(end)
        source = head + textwrap.dedent(replacement).replace("\n", "\n    ").rstrip(" ") + tail
    for old, new in USES.items():
        if old not in source:
            raise SystemExit(f"the example no longer has {old.strip()!r}: update bench/parse_cost.py")
        source = source.replace(old, new)
    lines = [line for line in source.splitlines(keepends=True) if not line.startswith(OPERATOR_IMPORTS)]
    return "".join(lines)


PARSE = """
import sys, time
try:
    import airflow.sdk  # noqa: F401 - Airflow 3
    from airflow.dag_processing.dagbag import DagBag
except ImportError:
    from airflow.models.dagbag import DagBag
path = sys.argv[1]
start, cpu = time.perf_counter(), time.process_time()
options = {"include_examples": False} if "include_examples" in DagBag.__init__.__code__.co_varnames else {}
bag = DagBag(dag_folder=path, **options)
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
assert not bag.import_errors, bag.import_errors
assert list(bag.dags) == ["monthly_closing"], list(bag.dags)
modules = sorted(m for m in sys.modules if m.startswith("airflow_provider_ahgora"))
print("RESULT", elapsed, cpu, " ".join(modules))
"""

IMPORT = """
import time
try:
    import airflow.sdk  # noqa: F401
except ImportError:
    import airflow  # noqa: F401
start = time.process_time()
import airflow_provider_ahgora.operators.push, airflow_provider_ahgora.operators.reckon
import airflow_provider_ahgora.sensors.process, airflow_provider_ahgora.sensors.reckon
print("RESULT", time.process_time() - start)
"""


def run(code: str, *args: str) -> list[str]:
    env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False, cwd=ROOT
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"a run failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return lines[-1].split()[1:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters per file (15)")
    args = parser.parse_args()
    # an installed provider has its bytecode compiled (pip does it); a source tree run with
    # PYTHONDONTWRITEBYTECODE=1 would compile every module at every import instead
    compileall.compile_dir(os.path.join(ROOT, "airflow_provider_ahgora"), quiet=1)
    with open(EXAMPLE, encoding="utf-8") as handle:
        source = handle.read()
    with tempfile.TemporaryDirectory(prefix="ahgora-parse-") as folder:
        ours, hand = (
            os.path.join(folder, "ours", "monthly_closing.py"),
            os.path.join(folder, "hand", "monthly_closing.py"),
        )
        for path, text in ((ours, source), (hand, hand_made(source))):
            os.makedirs(os.path.dirname(path))
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
        wall: dict[str, list[float]] = {"ours": [], "hand": []}
        cpu: dict[str, list[float]] = {"ours": [], "hand": []}
        loaded: dict[str, list[str]] = {}
        imports: list[float] = []
        for _ in range(args.runs):
            for name, path in (("ours", ours), ("hand", hand)):
                elapsed, spent, *modules = run(PARSE, path)
                wall[name].append(float(elapsed))
                cpu[name].append(float(spent))
                loaded[name] = modules
            imports.append(float(run(IMPORT)[0]))
    load = os.getloadavg()
    median = {name: statistics.median(values) for name, values in cpu.items()}
    print(
        f"{args.runs} fresh interpreters per file, alternating; CPU time of the parse (wall time in "
        f"brackets); load average {load[0]:.2f} on {os.cpu_count()} CPUs"
    )
    for name, label in (("ours", "with our operators"), ("hand", "hand-made @tasks")):
        ours_modules = [m for m in loaded[name] if m.startswith("airflow_provider_ahgora")]
        print(
            f"  parse {label:<20} median {median[name] * 1e3:6.1f} ms "
            f"(wall {statistics.median(wall[name]) * 1e3:.1f} ms); "
            f"provider modules loaded: {len(ours_modules)}"
        )
    print(
        f"  importing every operator and sensor module on top of Airflow: median "
        f"{statistics.median(imports) * 1e3:.1f} ms of CPU (goal: 50 ms or less)"
    )
    print("  provider modules a parse with our operators loads:", " ".join(sorted(loaded["ours"])))
    print(f"ratio parse ours/hand-made: {median['ours'] / median['hand']:.2f} (goal: 1.1 or less)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

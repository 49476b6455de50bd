"""Wall time and API calls of closing the month for 200 companies side by side, as a ratio to the ideal.

``monthly_closing_companies`` closes each company in one map index of a mapped task group: its
connections checked, a full-base reckon started and waited for, its results read to storage, payroll
rows and Voors time cards written, the cards pushed, a report. This benchmark runs that pipeline for
every company, **scheduler-free**: the same operators' ``execute`` (with a small fake context) and the
same ``airflow_provider_ahgora.closing`` functions as the DAG's tasks, ``--slots`` companies at a time
(threads: the pool ``ahgora_companies``, whose slots the deferred reckons hold), against one sandbox
serving every company (``python -m airflow_provider_ahgora.sandbox --companies 200``, in a
subprocess, each company with its own credentials and limits), with ``--latency`` added to every
request. What Airflow adds around each task (scheduling, starting a task, XCom; 7 tasks per company)
is not measured: that is Airflow's cost, the same for any provider.

The sandbox does not check that the users the time cards name are in Voors
(``--no-strict-references``): putting them there is ``master_data_sync``'s job, not the closing's.
What ``total`` counts is remembered per PontoWeb server in an Airflow Variable, which tells the
results engine when one read of the results is enough; here that Variable is a dictionary of this
process shared by every company, as the Variable is by every task of a deployment (the first
companies read twice, the later ones once). Each reckon takes ``employees / speed`` seconds of the
sandbox's time (``--speed`` employees per second: about 10 s for 20 employees at 2/s); the reckon
operator waits for it polling every ``--poll`` seconds (1 s: the deployment's 30 s scaled down as
the reckon is). Every company's secrets go to Airflow's log masker of this one process (about 600
for 200 companies, each added in time growing with those already there), where a deployment's task
process holds one company's: a cost of the benchmark's shape, paid by its first run (the floor).

**The ideal** for one company is its reckon's processing time plus the latency of the requests that
must follow one another: the start, the status that sees it done, the reconsume before reading (the
results engine's guarantee: every record readable), each results page, and the pushes of its time
cards 8 at a time (``max_workers``). Companies are alike, so with ``slots`` at a time the ideal run
is ``ceil(companies / slots)`` times that. The API calls per company are compared with the fewest
the APIs allow (start 1, status 1, reconsume 1, pages, one push per card).

    python bench/many_companies.py [--companies 200] [--employees 20] [--slots 16] [--latency 0.02]
                                   [--speed 2] [--poll 1]

A first run without latency and with instant reckons (the floor, ``--no-floor`` skips it) shows the
client's own CPU per company. The last line gives the wall-time ratio (goal: 1.3 or less) and the
calls ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import _common
from _common import SandboxServer, task_context

#: ERROR unless given: every task would warn that its ``execute`` runs outside Airflow's task runner
LOG_LEVEL = "AIRFLOW__LOGGING__LOGGING_LEVEL"
FEATURES = ["daily.punches", "daily.totals", "monthly"]
MONTH, YEAR, COMPETENCE = "01", "2026", "01/2026"
PAGE_SIZE = 1000  # the results operator's default page


@contextlib.contextmanager
def sandbox_process(companies: int, employees: int, speed: float) -> Iterator[SandboxServer]:
    """``python -m airflow_provider_ahgora.sandbox --companies N`` in a subprocess, stopped on exit."""
    options = ["--companies", str(companies), "--employees", str(employees), "--speed", str(speed)]
    with _common.sandbox_process(*options, "--push-speed", "inf", "--no-strict-references") as server:
        yield server


class _Variables(dict):
    """Airflow's Variables as this process's dictionary (there is no metadata database here)."""

    def get(self, key: str, default_var: Any = None, **_: Any) -> Any:  # type: ignore[override]
        return super().get(key, default_var)

    def set(self, key: str, value: Any, **_: Any) -> None:
        self[key] = value


def shared_reading_memory() -> None:
    """What ``total`` counts, remembered per server as a deployment's Variable remembers it."""
    from airflow_provider_ahgora.results import ReadingMemory

    variables = _Variables()
    ReadingMemory._variable = staticmethod(lambda: variables)  # type: ignore[method-assign]


def warm_up() -> None:
    """Import what the tasks import, before the clock starts (a worker has them imported)."""
    from airflow.providers.common.compat.sdk import BaseHook  # noqa: F401

    from airflow_provider_ahgora import closing, transforms  # noqa: F401
    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook  # noqa: F401
    from airflow_provider_ahgora.hooks.voors import VoorsHook  # noqa: F401
    from airflow_provider_ahgora.operators import push, reckon  # noqa: F401


def close_company(
    index: int, company: Any, folder: str, cpf_of: dict[str, str], poll: float
) -> dict[str, Any]:
    """One company's closing, the steps of the DAG's mapped task group, in order."""
    from airflow.providers.common.compat.sdk import BaseHook

    from airflow_provider_ahgora.closing import closing_report, write_payroll, write_timecards
    from airflow_provider_ahgora.operators.push import VoorsPushOperator
    from airflow_provider_ahgora.operators.reckon import PontoWebReckonOperator, PontoWebReckonResultsOperator

    started = time.perf_counter()
    for conn_id in (company.pontoweb_conn_id, company.voors_conn_id):  # company_plan
        BaseHook.get_connection(conn_id)
    reckon = PontoWebReckonOperator(
        task_id="reckon",
        pontoweb_conn_id=company.pontoweb_conn_id,
        month=MONTH,
        year=YEAR,
        features=FEATURES,
        poll_interval=poll,
        max_poll_interval=poll,
    ).execute(task_context("reckon", index))
    reckoned = time.perf_counter()
    results = PontoWebReckonResultsOperator(
        task_id="results",
        pontoweb_conn_id=company.pontoweb_conn_id,
        unique=reckon["unique"],
        output_path=f"{folder}/results.jsonl",
        csv=True,
    ).execute(task_context("results", index))
    payroll = write_payroll(results["path"], folder)
    cards = write_timecards(
        results["path"], folder, company=company.company, competence=COMPETENCE, employees=cpf_of
    )
    pushed = VoorsPushOperator(
        task_id="push_timecards",
        voors_conn_id=company.voors_conn_id,
        resource="timeCards",
        records=cards,
        max_workers=8,
        report_path=f"{folder}/push_timecards.failures.jsonl",
    ).execute(task_context("push_timecards", index))
    report = closing_report(
        {
            "reckon": reckon,
            "results": results,
            "payroll": payroll,
            "timecards": cards,
            "push_timecards": pushed,
        }
    )
    return {
        "company": company.company,
        "seconds": time.perf_counter() - started,
        "reckon_seconds": reckoned - started,
        "records": results["records"],
        "cards": cards["cards"],
        "pushed": pushed["succeeded"],
        "problems": report["problems"],
    }


def run(args: argparse.Namespace, latency: float, speed: float, poll: float) -> dict[str, Any]:
    """Close every company once against a fresh sandbox: wall and CPU seconds, outcomes, calls."""
    from airflow_provider_ahgora.companies import COMPANIES_VARIABLE, parse_companies
    from airflow_provider_ahgora.sandbox.data import SyntheticCompany

    with (
        sandbox_process(args.companies, args.employees, speed) as server,
        tempfile.TemporaryDirectory(prefix="ahgora-bench-companies-") as root,  # removed on exit
    ):
        os.environ.update(server.env)
        companies = parse_companies(server.env[f"AIRFLOW_VAR_{COMPANIES_VARIABLE.upper()}"])
        described = {c["company"]: c for c in server.call("GET", "/companies")}
        synthetic = [  # the sandbox's companies, rebuilt here (deterministic): registration -> CPF
            SyntheticCompany(employees=args.employees, seed=described[c.company]["seed"], company=c.company)
            for c in companies
        ]
        if latency:
            server.call("POST", "/faults", {"kind": "latency", "delay": latency})
        folders = [f"{root}/{c.company}" for c in companies]
        for folder in folders:
            os.makedirs(folder)
        cpfs = [{e.registration: e.cpf for e in s.employees} for s in synthetic]
        cpu, started = time.process_time(), time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.slots) as pool:
            outcomes = list(
                pool.map(
                    close_company, range(len(companies)), companies, folders, cpfs, [poll] * len(companies)
                )
            )
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        calls = {c["company"]: Counter(c["calls"]) for c in server.call("GET", "/companies")}
    incomplete = [o["company"] for o in outcomes if o["problems"] or o["pushed"] != o["cards"]]
    assert not incomplete, f"companies not closed: {incomplete}"
    return {"wall": wall, "cpu": cpu, "outcomes": outcomes, "calls": calls, "synthetic": synthetic}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--companies", type=int, default=200)
    parser.add_argument("--employees", type=int, default=20, help="employees of each company (20)")
    parser.add_argument("--slots", type=int, default=16, help="companies closed at once (16)")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to every request (0.02)")
    parser.add_argument("--speed", type=float, default=2.0, help="employees reckoned per second (2)")
    parser.add_argument("--poll", type=float, default=1.0, help="the reckon's poll interval (1 s)")
    parser.add_argument("--no-floor", action="store_true", help="skip the run without waits")
    args = parser.parse_args()
    os.environ.setdefault(LOG_LEVEL, "ERROR")
    shared_reading_memory()
    warm_up()

    floor = None if args.no_floor else run(args, 0.0, float("inf"), 0.05)
    measured = run(args, args.latency, args.speed, args.poll)

    outcomes, calls = measured["outcomes"], measured["calls"]
    per_company = [sum(c.values()) for c in calls.values()]
    routes: Counter[str] = sum(calls.values(), Counter())
    one = measured["synthetic"][0]
    reckoned = one.reckon_total(MONTH, YEAR, features=["monthly"], allow_empty=True)  # employees
    records, cards = outcomes[0]["records"], outcomes[0]["cards"]
    pages = max(1, math.ceil(records / PAGE_SIZE))
    fewest = 1 + 1 + 1 + pages + cards  # start, status, reconsume, pages, one push per card
    lat = args.latency
    ideal_one = reckoned / args.speed + lat * (3 + pages) + lat * math.ceil(cards / 8)
    waves = math.ceil(len(outcomes) / args.slots)
    ideal = waves * ideal_one
    mean_calls = sum(per_company) / len(per_company)
    wall = measured["wall"]

    print(
        f"{len(outcomes)} companies of {args.employees} employees, {args.slots} at a time, "
        f"{lat * 1000:.0f} ms per request, reckon {reckoned / args.speed:.1f} s, poll {args.poll:g} s; "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"closing: {wall:.1f} s (client CPU {measured['cpu']:.1f} s); per company "
        f"{min(o['seconds'] for o in outcomes):.2f} to {max(o['seconds'] for o in outcomes):.2f} s "
        f"(reckon start and wait {sum(o['reckon_seconds'] for o in outcomes) / len(outcomes):.2f} s "
        "on average)"
    )
    if floor is not None:
        print(
            f"floor (no latency, instant reckons): {floor['wall']:.1f} s, client CPU {floor['cpu']:.1f} s "
            f"({floor['cpu'] / len(outcomes):.2f} s per company: results, CSV, payroll, cards, pushes); "
            "calls: "
            + ", ".join(f"{k} {v}" for k, v in sorted(sum(floor["calls"].values(), Counter()).items()))
        )
    print(
        f"per company: {records} records, {cards} cards pushed; API calls {min(per_company)} to "
        f"{max(per_company)} (mean {mean_calls:.1f}); the fewest the APIs allow: {fewest} "
        f"(start 1, status 1, reconsume 1, pages {pages}, pushes {cards})"
    )
    print("calls by route, all companies: " + ", ".join(f"{k} {v}" for k, v in sorted(routes.items())))
    print(
        f"ideal: {waves} waves x ({reckoned / args.speed:.1f} s reckon + {3 + pages} x {lat:g} s + "
        f"{math.ceil(cards / 8)} x {lat:g} s pushes) = {ideal:.1f} s"
    )
    print(
        f"ratio to the ideal: wall time {wall / ideal if ideal else float('inf'):.2f} (goal: 1.3 or less), "
        f"API calls per company {mean_calls / fewest:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

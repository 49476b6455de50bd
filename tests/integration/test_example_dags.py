"""The example DAGs of ``example_dags/``: they import with no error, and they run green with
``dag.test()`` against the sandbox, with real outcomes checked against the sandbox's synthetic
company (files and their record counts, what the sandbox received, the summaries); and a run where
Voors rejects a record fails at its summary only, after naming the record.

The DAG files are copied into the dags folder of the throwaway ``AIRFLOW_HOME`` (where Airflow 3's
``dag.test`` finds them) and loaded with a ``DagBag``, as Airflow loads them.
"""

from __future__ import annotations

import csv
import datetime
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_ahgora.transforms import payroll_rows, reckon_span, time_cards
from tests.integration.conftest import EXAMPLES, dagbag, task_outcome

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:in a future version of UPath:PendingDeprecationWarning"),
]

ROOT = Path(__file__).resolve().parents[2]
DAG_IDS = {"monthly_closing", "master_data_sync", "rescission_reckon", "voors_goals"}
FEATURES = ["daily.punches", "daily.totals", "monthly"]  # what monthly_closing reckons
VOORS_ORGANISATION = ("branches", "departments", "jobRoles", "jobFunctions", "horaries", "users")


def utc(year: int, month: int, day: int) -> datetime.datetime:
    return datetime.datetime(year, month, day, tzinfo=datetime.timezone.utc)


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    return {"employees": 20, "seed": 42, "speed": float("inf"), "push_speed": float("inf")}


@pytest.fixture
def example_dags(examples_folder) -> dict[str, Any]:
    """The example DAGs, freshly loaded by a DagBag for each test (``dag.test(run_conf=...)`` merges
    the run's conf into the DAG object's params: a DAG object must not serve two tests)."""
    bag = dagbag(examples_folder)
    assert bag.import_errors == {}
    dags = {dag_id: bag.dags[dag_id] for dag_id in DAG_IDS}
    for dag in dags.values():
        for task in dag.tasks:  # dag.test waits out retry delays: a broken task fails the test at once
            task.retries = 0
    return dags


def run(dag: Any, when: datetime.datetime, **conf: Any) -> str:
    """``dag.test()`` at logical date ``when`` with the run's params; the run's state."""
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

    if AIRFLOW_V_3_0_PLUS:
        dag_run = dag.test(logical_date=when, run_after=when, run_conf=conf)
    else:
        # Airflow 2.11's dag.test does not write the Dag to the database, where an alias outlet's
        # dataset events need it (a deployment's Dag processor does that): write it first
        dag.sync_to_db()
        dag_run = dag.test(execution_date=when, run_conf=conf)
    return str(getattr(dag_run.state, "value", dag_run.state))


def state_of(dag_id: str, task_id: str, when: datetime.datetime) -> str:
    state = task_outcome(dag_id, task_id, when)[0]
    return str(getattr(state, "value", state))


def write_master_data(base: Path, sandbox: Any) -> dict[str, int]:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from demo_data import write_master_data as write
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return write(base / "master_data", sandbox.data.employees.__len__(), sandbox.data.seed)


def read_jsonl(path: str | Path) -> list[Any]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


# --------------------------------------------------------------------------------------------------
# Import
# --------------------------------------------------------------------------------------------------


def test_every_example_dag_imports_without_errors():
    bag = dagbag(EXAMPLES)
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == DAG_IDS
    for dag_id in DAG_IDS:
        dag = bag.dags[dag_id]
        assert "example" in dag.tags
        assert "storage_base" in dag.params
    closing = bag.dags["monthly_closing"]
    reckon = closing.get_task("reckon")
    assert (reckon.pool, reckon.deferrable) == ("ahgora_pontoweb", True)
    rescission = bag.dags["rescission_reckon"]
    assert {rescission.get_task(t).pool for t in ("start_reckon", "wait_reckon")} == {"ahgora_pontoweb"}
    for dag_id in ("monthly_closing", "master_data_sync"):
        assert bag.dags[dag_id].get_task("summary").trigger_rule == "all_done"


# --------------------------------------------------------------------------------------------------
# master_data_sync, twice (nothing doubled), then monthly_closing
# --------------------------------------------------------------------------------------------------


def test_master_data_sync_then_monthly_closing(sandbox, example_dags, tmp_path):
    counts = write_master_data(tmp_path, sandbox)
    master = sandbox.data.voors_master_data()

    when = utc(2026, 2, 1)
    assert run(example_dags["master_data_sync"], when, storage_base=str(tmp_path)) == "success"
    for resource in VOORS_ORGANISATION:
        assert len(sandbox.voors_records(resource)) == len(master[resource]), resource
    pontoweb = {p["resource"]: p for p in sandbox.pushes()}
    assert {r: pontoweb[r]["status"] for r in ("costcenter", "subsidiaries")} == {
        "costcenter": "done",
        "subsidiaries": "done",
    }
    assert len(pontoweb["costcenter"]["records"]) == counts["pontoweb/costcenter.json"]
    summary = json.loads((tmp_path / "master_data_sync" / "2026-02-01" / "summary.json").read_text())
    assert summary["problems"] == []
    assert summary["push_users"] == {
        "records": len(master["users"]),
        "failed": 0,
        "report_path": str(tmp_path / "master_data_sync" / "2026-02-01" / "push_users.failures.jsonl"),
    }

    # a second run edits what the first created (no duplicate department, job role, ...) and, with
    # prune, deletes the job function the master data dropped
    functions_file = tmp_path / "master_data" / "voors" / "jobFunctions.json"
    functions = json.loads(functions_file.read_text())
    dropped = functions.pop()
    functions_file.write_text(json.dumps(functions))
    second = utc(2026, 2, 2)
    assert run(example_dags["master_data_sync"], second, storage_base=str(tmp_path), prune=True) == "success"
    for resource in VOORS_ORGANISATION:
        want = len(master[resource]) - (resource == "jobFunctions")
        assert len(sandbox.voors_records(resource)) == want, f"{resource}: doubled or not pruned"
    assert dropped["remoteId"] not in {f["remoteId"] for f in sandbox.voors_records("jobFunctions")}
    matched = task_outcome("master_data_sync", "match_voors_ids", second)[2]
    assert matched["departments"] == {
        "records": len(master["departments"]),
        "existing": len(master["departments"]),
        "obsolete": 0,
    }
    assert matched["jobFunctions"]["obsolete"] == 1
    pruned = task_outcome("master_data_sync", "prune_jobFunctions", second)[2]
    assert (pruned["records"], pruned["succeeded"], pruned["failed"]) == (1, 1, 0)

    # monthly_closing of January 2026 (the run of 1 February)
    assert run(example_dags["monthly_closing"], when, storage_base=str(tmp_path)) == "success"
    folder = tmp_path / "monthly_closing" / "2026-02-01"
    records = list(sandbox.data.reckon_records("01", "2026", features=FEATURES))
    assert read_jsonl(folder / "results.jsonl") == records  # every record once, no more, no less
    assert (folder / "results.csv").exists()
    (reckon,) = sandbox.reckons()
    assert reckon["request"]["month"] == "01"
    assert reckon["request"]["year"] == "2026"

    with (folder / "payroll.csv").open(encoding="utf-8", newline="") as handle:
        payroll = list(csv.DictReader(handle))
    assert len(payroll) == len(list(payroll_rows(records))) > 0

    cpf_of = {e.registration: e.cpf for e in sandbox.data.employees}
    # as the DAG makes them: ids name the company, the period is the reckon's span of days
    cards = list(
        time_cards(
            records,
            user_lookup=cpf_of,
            company=sandbox.data.company,
            competence="01/2026",
            period=reckon_span(records),
            interval="month",
        )
    )
    assert read_jsonl(folder / "timecards.jsonl") == cards
    stored = sandbox.voors_records("timeCards")
    assert sorted(c["remoteId"] for c in stored) == sorted(c["remoteId"] for c in cards)

    summary = json.loads((folder / "summary.json").read_text())
    assert summary["month"] == "01/2026"
    assert summary["records_fetched"] == len(records)
    assert summary["payroll_rows"] == len(payroll)
    assert summary["timecards"] == summary["timecards_pushed"] == len(cards)
    assert summary["failed"] == 0
    assert summary["problems"] == []
    assert all(Path(path).exists() for path in summary["files"])
    assert all(Path(path).read_text() == "" for path in summary["failure_reports"])


# --------------------------------------------------------------------------------------------------
# A record rejected: reported, and the run fails at its summary only
# --------------------------------------------------------------------------------------------------


def test_monthly_closing_rejected_time_card_fails_only_at_the_summary(sandbox, example_dags, tmp_path):
    from airflow_provider_ahgora.hooks.voors import VoorsHook

    write_master_data(tmp_path, sandbox)
    records = list(sandbox.data.reckon_records("02", "2026", features=FEATURES))
    cpf_of = {e.registration: e.cpf for e in sandbox.data.employees}
    cards = list(
        time_cards(
            records,
            user_lookup=cpf_of,
            company=sandbox.data.company,
            competence="02/2026",
            period=reckon_span(records),
            interval="month",
        )
    )
    users = sandbox.data.voors_master_data()["users"]
    leaders = {u.get("appraisedBy") for u in users}
    missing = next(c["user"]["cpf"] for c in reversed(cards) if c["user"]["cpf"] not in leaders)
    hook = VoorsHook()
    for user in users:  # every user but one is in Voors: that one's time card is rejected (400)
        if user["cpf"] != missing:
            hook.upsert("users", user)
    hook.close()

    when = utc(2026, 3, 1)
    assert run(example_dags["monthly_closing"], when, storage_base=str(tmp_path)) == "failed"
    for task_id in ("reckon", "results", "payroll", "timecards", "push_timecards"):
        assert state_of("monthly_closing", task_id, when) == "success", task_id
    assert state_of("monthly_closing", "summary", when) == "failed"

    folder = tmp_path / "monthly_closing" / "2026-03-01"
    pushed = task_outcome("monthly_closing", "push_timecards", when)[2]
    assert (pushed["records"], pushed["succeeded"], pushed["failed"]) == (len(cards), len(cards) - 1, 1)
    (failure,) = read_jsonl(pushed["report_path"])
    assert failure["record"]["user"]["cpf"] == missing
    assert len(sandbox.voors_records("timeCards")) == len(cards) - 1

    summary = json.loads((folder / "summary.json").read_text())
    assert summary["failed"] == 1
    assert summary["timecards_pushed"] == len(cards) - 1
    assert summary["problems"] == [f"push_timecards: 1 record(s) failed, named in {pushed['report_path']}"]


# --------------------------------------------------------------------------------------------------
# rescission_reckon
# --------------------------------------------------------------------------------------------------


def test_rescission_reckon_for_registers_given_as_params(sandbox, example_dags, tmp_path):
    dismissed = [e.registration for e in sandbox.data.employees if e.dismissed]
    registers = [*dismissed, sandbox.data.employees[0].registration][:3]
    when = utc(2026, 2, 1)
    assert run(example_dags["rescission_reckon"], when, storage_base=str(tmp_path), registers=registers) == (
        "success"
    )
    (reckon,) = sandbox.reckons()
    # read by the results task (after its own reconsume; twice the first time a server's total fits
    # several of its meanings, see docs/operators_reckon.rst), then given back by release_results
    assert reckon["reconsumes"] in (2, 3)
    assert reckon["remaining"] == reckon["total"]
    assert reckon["request"]["rescission"] is True
    assert reckon["request"]["registers"] == registers
    assert not reckon["full_base"]
    want = list(
        sandbox.data.reckon_records(
            "02", "2026", features=["daily.totals", "monthly"], registers=registers, rescission=True
        )
    )
    folder = tmp_path / "rescission_reckon" / "2026-02-01"
    assert read_jsonl(folder / "results.jsonl") == want
    report = task_outcome("rescission_reckon", "report", when)[2]
    assert report["records"] == len(want)
    assert sum(report["per_register"].values()) == len(want)
    assert set(report["per_register"]) == set(registers)


def test_rescission_reckon_without_registers_fails_at_once(sandbox, example_dags, tmp_path):
    when = utc(2026, 2, 2)
    assert run(example_dags["rescission_reckon"], when, storage_base=str(tmp_path)) == "failed"
    state, tries, _ = task_outcome("rescission_reckon", "plan", when)
    assert str(getattr(state, "value", state)) == "failed"
    assert tries == 1  # AirflowFailException: no retry burnt
    assert sandbox.reckons() == []


# --------------------------------------------------------------------------------------------------
# voors_goals
# --------------------------------------------------------------------------------------------------


def test_voors_goals_reads_last_month_whole_and_writes_the_bonus_sheet(sandbox, example_dags, tmp_path):
    from airflow_provider_ahgora.hooks.voors import VoorsHook

    hook = VoorsHook()
    for i in range(3):
        hook.upsert("departments", {"name": f"Dept {i}", "remoteId": {"id": i}})
    sandbox.set_quirks(page_cap=7)  # a server that pages shorter than asked

    when = utc(2026, 3, 2).replace(hour=6)  # its schedule's time: the data interval ends then, on both lines
    assert run(example_dags["voors_goals"], when, storage_base=str(tmp_path)) == "success"
    folder = tmp_path / "voors_goals" / "2026-03-02"
    assert read_jsonl(folder / "departments.jsonl") == sandbox.voors_records("departments")
    assert read_jsonl(folder / "jobRoles.jsonl") == []
    goals = read_jsonl(folder / "goals.jsonl")
    active = [e for e in sandbox.data.employees if not e.dismissed]
    assert len(goals) == len({u["userId"] for u in goals}) == len(active)
    assert {g["goalTitle"] for u in goals for g in u["userGoals"]} == {"Meta 02/2026"}  # February only
    with (folder / "bonus_sheet.csv").open(encoding="utf-8", newline="") as handle:
        sheet = list(csv.DictReader(handle))
    assert len(sheet) == sum(len(u["userGoals"]) for u in goals)
    _, _, read = task_outcome("voors_goals", "goals", when)
    assert (read["records"], read["period_start"], read["period_end"]) == (
        len(goals),
        "2026-02-01",
        "2026-02-28",
    )

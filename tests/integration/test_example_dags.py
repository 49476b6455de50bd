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
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

from airflow_provider_ahgora.transforms import payroll_rows, reckon_span, time_cards
from tests.conftest import AIRFLOW_LINE
from tests.integration.conftest import (
    EXAMPLES,
    dagbag,
    run_tasks,
    schedule_once,
    sync_dags,
    task_outcome,
    unpause,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:in a future version of UPath:PendingDeprecationWarning"),
]

ROOT = Path(__file__).resolve().parents[2]
DAG_IDS = {
    "monthly_closing",
    "master_data_sync",
    "rescission_reckon",
    "voors_goals",
    "monthly_closing_companies",
    "payroll_import",
}
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


def test_every_example_dag_imports_without_errors(airflow_db):
    # airflow_db: Airflow 2.11 resolves payroll_import's DatasetAlias schedule in the database when
    # it parses the Dag (as a Dag processor does; without the tables the import fails)
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
# payroll_import: started by the scheduler on the closing's payroll event
# --------------------------------------------------------------------------------------------------


def consumed_events(dag_id: str) -> list[tuple[str, str, dict]]:
    """(run id, asset URI, extra) of the events each run of ``dag_id`` consumed, as the scheduler
    recorded them (``consumed_asset_events`` on Airflow 3, ``consumed_dataset_events`` on 2.11)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        runs = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.id)).all()
        found = []
        for dag_run in runs:
            events = getattr(dag_run, "consumed_asset_events", None)
            if events is None:
                events = dag_run.consumed_dataset_events
            for event in events:
                asset = getattr(event, "asset", None) or event.dataset
                found.append((dag_run.run_id, str(dag_run.run_type), asset.uri, dict(event.extra)))
        return found


def test_payroll_import_is_started_by_the_closings_payroll_event(
    sandbox, example_dags, tmp_path, monkeypatch
):
    """The real path, not dag.test alone: the Dags written to the database as a Dag processor does,
    monthly_closing run, then the scheduler's own run creation starts payroll_import from the
    payroll event, and its task reads the event's extra and picks the file up."""
    from airflow_provider_ahgora.hooks.voors import VoorsHook

    monkeypatch.setenv("AIRFLOW_VAR_AHGORA_STORAGE_BASE", str(tmp_path))  # a deployment's Variable
    write_master_data(tmp_path, sandbox)
    hook = VoorsHook()
    for user in sandbox.data.voors_master_data()["users"]:  # the time cards' users, so the run is green
        hook.upsert("users", user)
    hook.close()
    sync_dags()
    unpause("payroll_import")
    schedule_once()
    assert consumed_events("payroll_import") == []  # no event yet: no run

    when = utc(2026, 5, 1)  # April: a month no other test closes (they share the database)
    assert run(example_dags["monthly_closing"], when, storage_base=str(tmp_path)) == "success"
    folder = tmp_path / "monthly_closing" / "2026-05-01"
    payroll = task_outcome("monthly_closing", "payroll", when)[2]
    if not AIRFLOW_V_3_0_PLUS:
        # Airflow 2.11 resolves a Dag's alias schedule when it parses the Dag: the event asked the Dag
        # processor to parse payroll_import again (now resolving the new payroll file), which it does
        # before the scheduler can start it. Airflow 3 resolves the alias when the scheduler evaluates.
        assert _parsing_requested_for("payroll_import.py")
        sync_dags()
    schedule_once()

    consumed = consumed_events("payroll_import")
    assert len({run_id for run_id, *_ in consumed}) == 1  # one run, started by the scheduler
    # a first run also consumes the alias's earlier events (other tests' closings, in this database)
    ((run_id, run_type, uri, extra),) = [e for e in consumed if e[2].startswith(tmp_path.as_uri())]
    assert run_type.endswith("triggered")  # asset_triggered (3), dataset_triggered (2.11)
    assert uri == (folder / "payroll.csv").as_uri()
    assert extra == {
        "month": "2026-04",
        "company": sandbox.data.company,
        "rows": payroll["rows"],
        "failed": 0,
        "path": str(folder / "payroll.csv"),
    }
    run_tasks(example_dags["payroll_import"], run_id)
    inbox = tmp_path / "payroll_import" / "inbox" / sandbox.data.company / "2026-04" / "payroll.csv"
    assert inbox.read_bytes() == (folder / "payroll.csv").read_bytes()
    state, _, picked = task_outcome("payroll_import", "pick_up")
    assert str(getattr(state, "value", state)) == "success"
    assert [p for p in picked if p["month"] == "2026-04"] == [
        {"month": "2026-04", "company": sandbox.data.company, "rows": payroll["rows"], "path": str(inbox)}
    ]

    # the closing's other files: results (both) and time cards, each on its alias
    events = {
        e[2]: e[3]
        for e in _alias_events("ahgora_reckon_results") + _alias_events("ahgora_timecards")
        if e[2].startswith(tmp_path.as_uri())  # this test's closing
    }
    assert set(events) == {(folder / n).as_uri() for n in ("results.jsonl", "results.csv", "timecards.jsonl")}
    results = task_outcome("monthly_closing", "results", when)[2]
    assert events[(folder / "results.jsonl").as_uri()] == {
        "month": "2026-04",
        "company": sandbox.data.company,
        "unique": task_outcome("monthly_closing", "reckon", when)[2]["unique"],
        "records": results["records"],
        "total": results["total"],
        "duplicates": 0,
        "path": str(folder / "results.jsonl"),
    }
    cards = task_outcome("monthly_closing", "timecards", when)[2]
    assert events[(folder / "timecards.jsonl").as_uri()] == {
        "month": "2026-04",
        "company": sandbox.data.company,
        "cards": cards["cards"],
        "failed": 0,
        "path": str(folder / "timecards.jsonl"),
    }


def _parsing_requested_for(filename: str) -> bool:
    """Airflow 2.11: whether a Dag processor was asked to parse ``filename`` again at once."""
    from airflow.models.dagbag import DagPriorityParsingRequest
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return any(f.endswith(filename) for f in session.scalars(select(DagPriorityParsingRequest.fileloc)))


def _alias_events(alias: str) -> list[tuple[str, str, str, dict]]:
    """(source dag, source task, asset URI, extra) of every event added through ``alias``."""
    from airflow.utils.session import create_session

    try:  # Airflow 3
        from airflow.models.asset import AssetAliasModel as Alias
    except ImportError:  # Airflow 2.11
        from airflow.models.dataset import DatasetAliasModel as Alias  # type: ignore[no-redef]
    from sqlalchemy import select

    with create_session() as session:
        model = session.scalar(select(Alias).where(Alias.name == alias))
        if model is None:
            return []
        events = getattr(model, "asset_events", None)
        if events is None:
            events = model.dataset_events
        return [
            (
                e.source_dag_id,
                e.source_task_id,
                (getattr(e, "asset", None) or e.dataset).uri,
                dict(e.extra),
            )
            for e in events
        ]


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


# --------------------------------------------------------------------------------------------------
# monthly_closing_companies: four companies, one whose credentials fail, one holding another's
# --------------------------------------------------------------------------------------------------

COMPANIES = ["a000101", "a000102", "a000103", "a000104"]
STEPS = ("company_plan", "reckon", "results", "payroll", "timecards", "push_timecards", "report")


def mapped_states(dag_id: str, when: datetime.datetime, group: str, index: int) -> dict[str, str]:
    """The states of the tasks of one map index of a mapped task group, by task id (no group)."""
    from airflow.models.dagrun import DagRun
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS
    from airflow.utils.session import create_session
    from sqlalchemy import select

    date_col = DagRun.logical_date if AIRFLOW_V_3_0_PLUS else DagRun.execution_date
    with create_session() as session:
        dag_run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id, date_col == when)).one()
        return {
            ti.task_id.split(".", 1)[1]: str(getattr(ti.state, "value", ti.state))
            for ti in dag_run.get_task_instances(session=session)
            if ti.task_id.startswith(f"{group}.") and ti.map_index == index
        }


@pytest.mark.sandbox(companies=4, employees=8)
@pytest.mark.skipif(
    AIRFLOW_LINE in ((3, 1), (3, 2)),
    reason="CI time: dag.test starts each task in 2-5 s on 3.1 and 3.2 (3 companies: 108 s on 3.1, 16 s "
    "on 3.3); the DAG imports on every line (test_every_example_dag_imports_without_errors)",
)
def test_many_companies_failures_are_reported_without_blocking_the_others(
    sandbox, example_dags, tmp_path, monkeypatch
):
    from airflow_provider_ahgora.hooks.voors import VoorsHook

    for code in COMPANIES:  # each company's registration -> CPF file, and its users in its own Voors
        member = sandbox.companies[code]
        folder = tmp_path / "master_data" / code
        folder.mkdir(parents=True)
        lines = ["registration,cpf"] + [f"{e.registration},{e.cpf}" for e in member.data.employees]
        (folder / "employees.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        hook = VoorsHook(f"voors_{code}")
        for user in member.data.voors_master_data()["users"]:
            hook.upsert("users", user)
        hook.close()
    broken = json.loads(sandbox.companies["a000103"].airflow_env()["AIRFLOW_CONN_PONTOWEB_A000103"])
    monkeypatch.setenv("AIRFLOW_CONN_PONTOWEB_A000103", json.dumps({**broken, "password": "wrong"}))
    # a000104's PontoWeb connection holds a000102's credentials: PontoWeb reckons a000102 for it
    crossed = sandbox.companies["a000102"].airflow_env()["AIRFLOW_CONN_PONTOWEB_A000102"]
    monkeypatch.setenv("AIRFLOW_CONN_PONTOWEB_A000104", crossed)

    # the companies come from the Variable ahgora_companies, as the sandbox fixture sets it
    when = utc(2026, 2, 1).replace(hour=6)  # its schedule's time
    dag = example_dags["monthly_closing_companies"]
    assert run(dag, when, storage_base=str(tmp_path)) == "failed"

    run_folder = tmp_path / "monthly_closing_companies" / "2026-02-01"
    summary = json.loads((run_folder / "summary.json").read_text())
    assert summary["failed_companies"] == ["a000103", "a000104"]
    assert summary["complete"] == 2
    assert summary["month"] == "01/2026"
    for index, code in enumerate(COMPANIES[:2]):  # complete, untouched by the others' failures
        assert mapped_states(dag.dag_id, when, "close_company", index) == dict.fromkeys(STEPS, "success")
        member = sandbox.companies[code]
        # one full-base reckon each, of January (a000102's credentials started a000104's too)
        reckons = sandbox.reckons(company=code)
        assert len(reckons) == (2 if code == "a000102" else 1)
        for reckon in reckons:
            assert (reckon["request"]["month"], reckon["request"]["year"], reckon["full_base"]) == (
                "01",
                "2026",
                True,
            )
        records = list(member.data.reckon_records("01", "2026", features=FEATURES))
        assert read_jsonl(run_folder / code / "results.jsonl") == records
        cards = read_jsonl(run_folder / code / "timecards.jsonl")
        assert cards
        assert all(card["remoteId"].startswith(f"{code}-") for card in cards)
        stored = sandbox.voors_records("timeCards", company=code)  # in this company's Voors only
        assert sorted(c["remoteId"] for c in stored) == sorted(c["remoteId"] for c in cards)
        report = summary["companies"][code]
        assert report["problems"] == []
        assert report["records_fetched"] == len(records)
        assert report["timecards"] == report["timecards_pushed"] == len(cards)
        assert json.loads((run_folder / code / "summary.json").read_text()) == report

    # a000103: refused at its reckon's start (401), reported, and nothing of it went anywhere
    states = mapped_states(dag.dag_id, when, "close_company", 2)
    assert (states["company_plan"], states["reckon"], states["report"]) == ("success", "failed", "success")
    assert {states[s] for s in ("results", "payroll", "timecards", "push_timecards")} == {"upstream_failed"}
    assert sandbox.reckons(company="a000103") == []
    assert sandbox.voors_records("timeCards", company="a000103") == []
    problems = summary["companies"]["a000103"]["problems"]
    assert problems[0].startswith("reckon: no report")
    assert state_of(dag.dag_id, "summary", when) == "failed"

    # a000104: its reckon answered for a000102; neither payroll rows nor time cards were made of
    # a000102's records under a000104's name, nothing was pushed, and the summary says why
    states = mapped_states(dag.dag_id, when, "close_company", 3)
    assert (states["reckon"], states["results"], states["payroll"], states["timecards"]) == (
        "success",
        "success",
        "failed",
        "failed",
    )
    assert (states["push_timecards"], states["report"]) == ("upstream_failed", "success")
    assert sandbox.reckons(company="a000104") == []
    assert not (run_folder / "a000104" / "payroll.csv").exists()
    assert not (run_folder / "a000104" / "timecards.jsonl").exists()
    assert sandbox.voors_records("timeCards", company="a000104") == []
    problems = summary["companies"]["a000104"]["problems"]
    assert problems[:2] == [
        "payroll: no report (the task failed or did not run: see its log)",
        "timecards: no report (the task failed or did not run: see its log)",
    ]

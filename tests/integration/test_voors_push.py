"""The Voors push and delete operators against the sandbox, over real HTTP on loopback.

The sandbox enforces Voors' ordering rule (a user whose ``appraisedBy`` names a CPF it does not
know is refused), so a push of users that all succeed proves the leaders went first. Every test
accounts for every record: ``succeeded + failed == records``, the report holds exactly the failed
ones, in input order, and the sandbox holds exactly the succeeded ones.
"""

from __future__ import annotations

import csv
import datetime
import importlib.util
import json
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_ahgora.operators.push import VoorsDeleteOperator, VoorsPushOperator
from airflow_provider_ahgora.sandbox.data import make_cpf
from tests.integration.conftest import run_dag, task_outcome

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:in a future version of UPath:PendingDeprecationWarning"),
]

#: Fast backoff, and enough retries that a record never exhausts them under the injected faults.
FAST = {"retry_limit": 8, "hook_params": {"retry_delay": 0.001, "retry_max_delay": 0.01}}
BAD_CPF = "12345678900"


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    return {
        "employees": 5,
        "seed": 11,
        "speed": float("inf"),
        "push_speed": float("inf"),
        "record_limit": 100,
    }


class TI(SimpleNamespace):
    def __init__(self, task_id: str) -> None:
        super().__init__(dag_id="ahgora_it_voors", run_id="direct", task_id=task_id, map_index=-1, xcoms={})

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        self.xcoms[key] = value


class MemoryStateStore(dict):
    def set(self, key: str, value: Any, **_: Any) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


def context(task_id: str) -> dict[str, Any]:
    return {"ti": TI(task_id), "task_state_store": MemoryStateStore()}


def read_report(summary: dict[str, Any]) -> list[dict[str, Any]]:
    text = Path(summary["report_path"]).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def write_jsonl(path: Path, records: list[Any]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return str(path)


def accounted(summary: dict[str, Any], report: list[dict[str, Any]]) -> None:
    assert summary["succeeded"] + summary["failed"] == summary["records"]
    assert len(report) == summary["failed"]
    indexes = [line["index"] for line in report]
    assert indexes == sorted(indexes), "the report keeps input order"


def org_chart(n: int, span: int = 10) -> list[dict[str, Any]]:
    """``n`` users; user ``i >= span`` is led by user ``i // span``: waves of 10, 90, 900, 9000."""
    users = []
    for i in range(n):
        record: dict[str, Any] = {"cpf": make_cpf(i), "firstName": f"Employee {i}", "email": f"e{i}@ex.com"}
        if i >= span:
            record["appraisedBy"] = make_cpf(i // span)
        users.append(record)
    return users


def stored_users(sandbox: Any) -> dict[str, dict[str, Any]]:
    return {u["cpf"]: u for u in sandbox.voors_records("users")}


# --------------------------------------------------------------------------------------------------
# 10 000 users, leaders last in the input, under 5xx, 429, resets and latency
# --------------------------------------------------------------------------------------------------


def test_ten_thousand_users_leaders_first_under_faults(sandbox, tmp_path):
    users = org_chart(10_000)
    users.reverse()  # every leader comes after the users it leads: only waves can get this through
    orphan = make_cpf(30_000)  # led by a CPF that Voors does not know: refused by the sandbox
    bad = [
        (17, {"cpf": BAD_CPF, "firstName": "bad check digits"}),
        (4_000, {"cpf": make_cpf(20_001), "email": "not an e-mail"}),
        (9_000, {"cpf": "123", "firstName": "too short"}),
        (9_500, "not an object"),
        (600, {"cpf": orphan, "appraisedBy": make_cpf(40_000)}),
        *[(601 + k, {"cpf": make_cpf(30_001 + k), "appraisedBy": orphan}) for k in range(4)],
    ]
    for position, record in sorted(bad, key=lambda p: p[0], reverse=True):
        users.insert(position, record)
    path = write_jsonl(tmp_path / "users.jsonl", users)

    route = "POST /voors/users"
    faults = [
        sandbox.add_fault(route, kind="status", status=503, probability=0.04),  # after Voors stored it
        sandbox.add_fault(route, kind="status", status=502, probability=0.02, after_consume=False),
        sandbox.add_fault(route, kind="rate_limit", retry_after=0.01, probability=0.03),
        sandbox.add_fault(route, kind="reset", probability=0.005),
        sandbox.add_fault(route, kind="latency", delay=0.02, probability=0.01),
    ]
    started = time.monotonic()
    summary = VoorsPushOperator(
        task_id="push_users", resource="users", records=path, max_failures=0.01, **FAST
    ).execute(context("push_users"))
    elapsed = time.monotonic() - started

    report = read_report(summary)
    accounted(summary, report)
    assert (summary["records"], summary["succeeded"], summary["failed"]) == (10_009, 10_000, 9)
    assert all(f.fired > 0 for f in faults), [f.describe() for f in faults]
    stored = stored_users(sandbox)
    assert set(stored) == {make_cpf(i) for i in range(10_000)}
    assert stored[make_cpf(1_235)]["appraisedBy"] == make_cpf(123)

    reasons = {line["index"]: line["reason"] for line in report}
    by_cpf = {
        line["record"].get("cpf") if isinstance(line["record"], dict) else None: line for line in report
    }
    assert by_cpf[BAD_CPF]["reason"] == f"cpf: CPF '{BAD_CPF}' has invalid check digits"
    assert by_cpf[orphan]["reason"].startswith(
        "refused by Voors (HTTP 400: user.appraisedBy: no user with CPF"
    )
    for k in range(4):
        reason = by_cpf[make_cpf(30_001 + k)]["reason"]
        assert f"its leader (appraisedBy '{orphan}', record {by_cpf[orphan]['index']} of this" in reason
    assert sum("not an object" in json.dumps(line["record"]) for line in report) == 1
    assert len(reasons) == 9
    print(f"10 009 users pushed in {elapsed:.1f} s")


# --------------------------------------------------------------------------------------------------
# Deactivation and leader updates; CSV and JSON Lines inputs
# --------------------------------------------------------------------------------------------------


def test_deactivation_and_leader_update(sandbox, tmp_path):
    users = org_chart(40, span=4)
    first = VoorsPushOperator(task_id="push", resource="users", records=users, **FAST).execute(
        context("push")
    )
    assert first["succeeded"] == 40

    changes = [
        *[{"cpf": make_cpf(i), "active": False} for i in (5, 6, 7)],
        {"cpf": make_cpf(30), "appraisedBy": make_cpf(1)},  # a new leader
        {"cpf": make_cpf(31), "appraisedBy": make_cpf(39), "firstName": "renamed"},
        {"cpf": make_cpf(999), "active": False},  # nobody: Voors answers 404
    ]
    path = write_jsonl(tmp_path / "changes.jsonl", changes)
    summary = VoorsPushOperator(
        task_id="changes", resource="users", records=path, max_failures=1, **FAST
    ).execute(context("changes"))
    report = read_report(summary)
    accounted(summary, report)
    assert (summary["succeeded"], summary["failed"]) == (5, 1)
    assert report[0]["index"] == 5
    assert report[0]["reason"].startswith("refused by Voors (HTTP 404: User with CPF")
    stored = stored_users(sandbox)
    assert len(stored) == 40
    assert [stored[make_cpf(i)]["active"] for i in (4, 5, 6, 7)] == [True, False, False, False]
    assert stored[make_cpf(5)]["status"] == "inactive"
    assert stored[make_cpf(30)]["appraisedBy"] == make_cpf(1)
    assert stored[make_cpf(31)]["appraisedBy"] == make_cpf(39)
    assert stored[make_cpf(31)]["firstName"] == "renamed"


def test_csv_input(sandbox, tmp_path):
    users = org_chart(300, span=5)
    users.reverse()
    users.insert(100, {"cpf": BAD_CPF, "firstName": "bad"})
    path = tmp_path / "users.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["cpf", "firstName", "email", "appraisedBy"])
        writer.writeheader()
        writer.writerows(users)
    sandbox.add_fault("POST /voors/users", kind="rate_limit", retry_after=0.01, probability=0.1)
    summary = VoorsPushOperator(
        task_id="csv", resource="users", records=str(path), max_failures=1, max_workers=4, **FAST
    ).execute(context("csv"))
    report = read_report(summary)
    accounted(summary, report)
    assert (summary["records"], summary["succeeded"], summary["failed"]) == (301, 300, 1)
    assert report[0]["index"] == 100
    assert set(stored_users(sandbox)) == {make_cpf(i) for i in range(300)}


# --------------------------------------------------------------------------------------------------
# Deletes: arrays with faults, unknown ids counted as absent; creates and deletes by Voors id
# --------------------------------------------------------------------------------------------------


def test_delete_run(sandbox, tmp_path):
    reasons = [{"remoteId": f"rr-{i}", "description": f"Reason {i}"} for i in range(300)]
    path = write_jsonl(tmp_path / "reasons.jsonl", reasons)
    pushed = VoorsPushOperator(task_id="push", resource="readjustReasons", records=path, **FAST).execute(
        context("push")
    )
    assert pushed["succeeded"] == 300
    assert len(sandbox.voors_records("readjustReasons")) == 300

    sandbox.add_fault("DELETE /voors/readjustReasons", kind="status", status=503, probability=0.1)
    sandbox.add_fault("DELETE /voors/readjustReasons", kind="rate_limit", retry_after=0.01, probability=0.1)
    remote_ids = [f"rr-{i}" for i in range(300)] + ["never-sent-1", "never-sent-2"]
    summary = VoorsDeleteOperator(
        task_id="delete", resource="readjustReasons", remote_ids=remote_ids, array_size=50, **FAST
    ).execute(context("delete"))
    report = read_report(summary)
    accounted(summary, report)
    assert (summary["records"], summary["succeeded"], summary["failed"]) == (302, 302, 0)
    assert sandbox.voors_records("readjustReasons") == []
    deletes = sandbox.requests("DELETE", "/voors/readjustReasons")
    assert deletes, "the inspection API saw the deletes"

    # strict: an unknown remoteId is a failure, named in the report
    strict = VoorsDeleteOperator(
        task_id="strict", resource="causes", remote_ids=["nope"], missing_ok=False, max_failures=1, **FAST
    ).execute(context("strict"))
    [line] = read_report(strict)
    assert line == {
        "record": {"remoteId": "nope"},
        "reason": line["reason"],
        "batch": None,
        "index": 0,
    }
    assert "HTTP 404" in line["reason"]


def test_departments_created_then_deleted_by_id(sandbox):
    departments = [{"name": f"Dept {i}", "remoteId": f"d{i}"} for i in range(12)]
    created = VoorsPushOperator(
        task_id="create", resource="departments", records=departments, **FAST
    ).execute(context("create"))
    assert created["succeeded"] == 12
    stored = sandbox.voors_records("departments")
    assert len(stored) == 12
    # an edit by id
    first = stored[0]
    edited = VoorsPushOperator(
        task_id="edit", resource="departments", records=[{"id": first["id"], "description": "edited"}], **FAST
    ).execute(context("edit"))
    assert edited["succeeded"] == 1
    assert sandbox.voors.record("departments", first["id"])["description"] == "edited"
    summary = VoorsDeleteOperator(task_id="delete", resource="departments", records=stored, **FAST).execute(
        context("delete")
    )
    assert (summary["succeeded"], summary["failed"]) == (12, 0)
    assert sandbox.voors_records("departments") == []


def test_forbidden_token_stops_the_push(sandbox):
    sandbox.forbid(sandbox.token)
    ctx = context("push")
    with pytest.raises(AirflowFailException, match="lacks permission"):
        VoorsPushOperator(
            task_id="push", resource="users", records=org_chart(200), max_workers=4, **FAST
        ).execute(ctx)
    summary = ctx["ti"].xcoms["return_value"]
    report = read_report(summary)
    accounted(summary, report)
    assert summary["failed"] == 200
    sent = len(sandbox.requests("POST", "/voors/users"))
    assert sent <= 8, "no new request after the 403"
    assert sum(line["reason"].startswith("not sent: ") for line in report) == 200 - sent
    assert sandbox.voors_records("users") == []


# --------------------------------------------------------------------------------------------------
# A Dag run with dag.test(): the summary reaches a downstream all_done task even when the push fails
# --------------------------------------------------------------------------------------------------

DAG_SOURCE = '''
"""Dags of tests/integration/test_voors_push.py (written here by the test)."""
import datetime

from airflow.providers.common.compat.sdk import DAG, TriggerRule, task

from airflow_provider_ahgora.operators.push import VoorsDeleteOperator, VoorsPushOperator

FAST = {fast!r}

with DAG(
    "ahgora_it_voors",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1),
    catchup=False,
    params={{"users": {users!r}, "branches": {branches!r}}},
) as voors_dag:
    branches = VoorsPushOperator(
        task_id="push_branches", resource="branches", records="{{{{ params.branches }}}}", **FAST
    )
    users = VoorsPushOperator(
        task_id="push_users",
        resource="{{{{ 'users' }}}}",
        records="{{{{ params.users }}}}",
        max_workers=4,
        retries=2,
        retry_delay=datetime.timedelta(seconds=0),
        **FAST,
    )
    cleanup = VoorsDeleteOperator(
        task_id="delete_causes",
        resource="causes",
        remote_ids=["c-none"],
        trigger_rule=TriggerRule.ALL_DONE,
        **FAST,
    )

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def summary(ti=None):
        return ti.xcom_pull(task_ids="push_users")

    branches >> users >> [summary(), cleanup]
'''


@pytest.fixture
def voors_dag(airflow_db, tmp_path) -> Any:
    from airflow.providers.common.compat.sdk import conf

    users = org_chart(60, span=3)
    users.reverse()
    users.insert(7, {"cpf": BAD_CPF, "firstName": "bad"})
    users_path = write_jsonl(tmp_path / "users.jsonl", users)
    branches_path = write_jsonl(
        tmp_path / "branches.jsonl", [{"remoteId": {"id": i}, "name": f"Branch {i}"} for i in range(3)]
    )
    folder = Path(conf.get("core", "dags_folder"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ahgora_it_voors_dags.py"
    source = DAG_SOURCE.format(fast=FAST, users=users_path, branches=branches_path)
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("ahgora_it_voors_dags", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ahgora_it_voors_dags"] = module
    spec.loader.exec_module(module)
    return module.voors_dag


def test_dag_test_summary_reaches_a_downstream_task_when_the_push_fails(sandbox, voors_dag):
    when = datetime.datetime(2026, 3, 1, tzinfo=datetime.timezone.utc)
    run_dag(voors_dag, when)

    state, tries, branches = task_outcome("ahgora_it_voors", "push_branches", when)
    assert str(state).endswith(("success", "SUCCESS"))
    assert branches["succeeded"] == 3

    state, tries, pushed = task_outcome("ahgora_it_voors", "push_users", when)
    assert str(state).endswith(("failed", "FAILED"))
    assert tries == 1, "an invalid record fails the task without burning its retries"

    state, _, summary = task_outcome("ahgora_it_voors", "summary", when)
    assert str(state).endswith(("success", "SUCCESS"))
    assert summary == pushed
    assert (summary["resource"], summary["records"], summary["succeeded"], summary["failed"]) == (
        "users",
        61,
        60,
        1,
    )
    [line] = read_report(summary)
    assert line["index"] == 7
    assert "/ahgora_it_voors/" in summary["report_path"]
    assert len(sandbox.voors_records("users")) == 60
    assert len(sandbox.voors_records("branches")) == 3

    state, _, deleted = task_outcome("ahgora_it_voors", "delete_causes", when)
    assert str(state).endswith(("success", "SUCCESS"))
    assert (deleted["succeeded"], deleted["failed"]) == (1, 0)

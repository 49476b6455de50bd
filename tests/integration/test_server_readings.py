"""Other readings of the vendor documents, played by the sandbox (its ``quirks``), and the faults that
leave an outcome unknown: what a server we did not write may do, over real HTTP on loopback.

Each test plays one reading the documents allow and checks that nothing is lost, doubled or misread:
``total`` counting employees or days instead of records, a server capping the page size below what
was asked, statuses in upper case, PHP's ``[]`` for an empty object, a create whose answer is lost
after Voors wrote it.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
from airflow_provider_ahgora.hooks.voors import VoorsHook
from airflow_provider_ahgora.operators.push import PontoWebPushBatchOperator, VoorsPushOperator
from airflow_provider_ahgora.operators.reckon import PontoWebReckonOperator, PontoWebReckonResultsOperator

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:in a future version of UPath:PendingDeprecationWarning"),
]

MONTH, YEAR = "01", "2026"


@pytest.fixture(autouse=True)
def readings_learnt(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What ``total`` counts, learnt per server (an Airflow Variable in a real run; the operators run
    directly here, outside a task runner, where Airflow 3's Variables are not reachable)."""
    from airflow_provider_ahgora.results import ReadingMemory

    kept: dict[str, str] = {}

    class Variables:
        @staticmethod
        def get(key: str, default: Any = None, **_: Any) -> Any:
            return kept.get(key, default)

        @staticmethod
        def set(key: str, value: str, **_: Any) -> None:
            kept[key] = value

    monkeypatch.setattr(ReadingMemory, "_variable", staticmethod(lambda: Variables))
    return kept


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    return {"employees": 6, "seed": 5, "speed": float("inf"), "push_speed": float("inf"), "daily_limit": 1000}


class TI(SimpleNamespace):
    def __init__(self, task_id: str, try_number: int = 1) -> None:
        super().__init__(
            dag_id="ahgora_it_readings",
            run_id="direct",
            task_id=task_id,
            map_index=-1,
            try_number=try_number,
            max_tries=0,
            xcoms={},
        )

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        self.xcoms[key] = json.loads(json.dumps(value))


class MemoryStateStore(dict):
    def set(self, key: str, value: Any, **_: Any) -> None:
        self[key] = json.loads(json.dumps(value))

    def delete(self, key: str) -> None:
        self.pop(key, None)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def reckon_then_read(
    sandbox: Any, tmp_path: Path, features: list[str], **results_options: Any
) -> dict[str, Any]:
    """The reckon operator (waiting), then the results operator; returns the results' summary."""
    ti = TI("reckon")
    summary = PontoWebReckonOperator(
        task_id="reckon", month=MONTH, year=YEAR, features=features, poll_interval=0.05, max_poll_interval=0.1
    ).execute({"ti": ti, "task_state_store": MemoryStateStore()})
    assert summary["status"] == "done"
    return PontoWebReckonResultsOperator(
        task_id="results",
        unique=summary["unique"],
        output_path=str(tmp_path / "results.jsonl"),
        **results_options,
    ).execute({"ti": TI("results")})


# --------------------------------------------------------------------------------------------------
# What total counts
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reading", ["records", "employees", "days", "days with punches", "days with results"]
)
@pytest.mark.parametrize(
    "features",
    [["daily.punches"], ["daily.totals"], ["daily.punches", "daily.totals", "monthly"]],
    ids="+".join,
)
def test_every_documented_meaning_of_total_reads_complete(sandbox, tmp_path, reading, features):
    """With total as days, every try of a daily reckon used to fail and burn a reconsume."""
    sandbox.set_quirks(results_total=reading)
    result = reckon_then_read(sandbox, tmp_path, features, page_size=7)
    want = list(sandbox.data.reckon_records(MONTH, YEAR, features=features))
    assert read_jsonl(result["path"]) == want
    assert result["records"] == len(want)
    [first] = sandbox.reckons()
    assert first["reconsumes"] in (1, 2), "read twice at most, when the count fits several meanings"
    # what total counts on this server is learnt: the next reckon of the same kind is read once
    again = reckon_then_read(sandbox, tmp_path / "again", features, page_size=7)
    assert read_jsonl(again["path"]) == want
    second = next(r for r in sandbox.reckons() if r["unique"] != first["unique"])
    assert second["reconsumes"] == 1


@pytest.mark.sandbox(quirks={"results_total": "days"})
def test_records_taken_by_someone_else_still_fail_with_total_as_days(sandbox, tmp_path):
    """Someone reads a page of the results while the operator reads: missing records fail the try."""
    ti = TI("reckon")
    summary = PontoWebReckonOperator(
        task_id="reckon", month=MONTH, year=YEAR, features=["daily.punches"], poll_interval=0.05
    ).execute({"ti": ti, "task_state_store": MemoryStateStore()})
    unique = summary["unique"]
    thief = PontoWebHook()
    original = PontoWebHook.iter_reckon_results

    def interleaved(self: PontoWebHook, *args: Any, **kwargs: Any) -> Any:
        for number, page in enumerate(original(self, *args, **kwargs), 1):
            yield page
            if number == 1:  # another reader consumes a page between our reads
                next(thief.iter_reckon_results(unique, page_size=2))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(PontoWebHook, "iter_reckon_results", interleaved)
        with pytest.raises(AirflowException, match="matches none of them"):
            PontoWebReckonResultsOperator(
                task_id="results", unique=unique, page_size=2, output_path=str(tmp_path / "r.jsonl")
            ).execute({"ti": TI("results")})
    thief.close()
    assert not (tmp_path / "r.jsonl").exists()


# --------------------------------------------------------------------------------------------------
# Pages smaller than asked
# --------------------------------------------------------------------------------------------------


@pytest.mark.sandbox(employees=23, quirks={"page_cap": 4})
def test_results_pages_smaller_than_asked_lose_nothing(sandbox, tmp_path):
    result = reckon_then_read(sandbox, tmp_path, ["monthly"], page_size=1000)
    want = list(sandbox.data.reckon_records(MONTH, YEAR, features=["monthly"]))
    assert read_jsonl(result["path"]) == want
    [reckon] = sandbox.reckons()
    assert reckon["reads"] == 7  # 6 pages of at most 4, then the empty page


@pytest.mark.sandbox(employees=23, quirks={"page_cap": 5})
def test_goals_pages_smaller_than_asked_lose_nobody(sandbox):
    """A server capping limit returned 5 of 23 users, silently: read until an empty page."""
    hook = VoorsHook()
    try:
        users = list(hook.iter_goals("2026-01-01", "2026-01-31", page_size=100))
        sandbox.set_quirks(page_cap=None)
        everyone = list(hook.iter_goals("2026-01-01", "2026-01-31", page_size=1000))
    finally:
        hook.close()
    assert len(everyone) > 15
    assert [u.user_id for u in users] == [u.user_id for u in everyone]


# --------------------------------------------------------------------------------------------------
# Statuses in another case, PHP's empty object
# --------------------------------------------------------------------------------------------------


@pytest.mark.sandbox(quirks={"status_case": "upper"})
def test_upper_case_reckon_status_is_done(sandbox, tmp_path):
    """A reckon answering DONE was never seen as finished."""
    result = reckon_then_read(sandbox, tmp_path, ["monthly"])
    assert read_jsonl(result["path"]) == list(sandbox.data.reckon_records(MONTH, YEAR, features=["monthly"]))


@pytest.mark.parametrize("case", ["upper", "title"])
def test_upper_case_monitor_errors_are_reported(sandbox, tmp_path, case):
    """A process monitor answering ERROR made a push report 0 failures and succeed."""
    sandbox.set_quirks(status_case=case)
    sandbox.reject_records("costcenter", "c1", "c2", message="Centro de custo em uso")
    ti = TI("push")
    records = [{"codigo": f"c{i}", "nome": f"Centro {i}"} for i in range(5)]
    with pytest.raises(AirflowFailException, match="2 record"):
        PontoWebPushBatchOperator(
            task_id="push",
            resource="costcenter",
            records=records,
            poll_interval=0.05,
            report_path=str(tmp_path / "failures.jsonl"),
        ).execute({"ti": ti, "task_state_store": MemoryStateStore()})
    summary = ti.xcoms["return_value"]
    assert summary["batches"][0]["status"] == "warning"
    assert summary["failed"] == 2
    assert sorted(e["record"]["codigo"] for e in read_jsonl(summary["report_path"])) == ["c1", "c2"]


@pytest.mark.sandbox(quirks={"empty_as_list": True}, push_speed=200.0)
def test_monitor_data_as_phps_empty_list_is_finished(sandbox, tmp_path):
    """A monitor answering "data": [] never validated, so a push waited out its whole timeout."""
    records = [{"codigo": f"c{i}", "nome": f"Centro {i}"} for i in range(50)]
    summary = PontoWebPushBatchOperator(
        task_id="push",
        resource="costcenter",
        records=records,
        poll_interval=0.05,
        timeout=30,
        report_path=str(tmp_path / "failures.jsonl"),
    ).execute({"ti": TI("push"), "task_state_store": MemoryStateStore()})
    assert summary["batches"][0]["status"] == "done"
    assert (summary["failed"], summary["unconfirmed"]) == (0, 0)
    monitor = sandbox.requests("GET", "/process")
    assert any(r["status"] == 200 for r in monitor)


# --------------------------------------------------------------------------------------------------
# A create whose answer is lost after Voors wrote it
# --------------------------------------------------------------------------------------------------


def test_a_department_created_before_its_answer_was_lost_is_not_created_twice(sandbox, tmp_path):
    """Two departments used to be created: the task's own retry sent the create again."""
    sandbox.add_fault("POST /voors/departments", kind="status", status=502, on_calls=(2,), after_consume=True)
    records = [{"name": n, "description": f"Departamento {n}"} for n in ("Vendas", "Compras", "Financeiro")]
    store = MemoryStateStore()

    def push(try_number: int) -> dict[str, Any]:
        ti = TI("push", try_number)
        op = VoorsPushOperator(
            task_id="push",
            resource="departments",
            records=records,
            max_workers=1,
            report_path=str(tmp_path / "failures.jsonl"),
            hook_params={"retry_delay": 0.001},
        )
        try:
            return op.execute({"ti": ti, "task_state_store": store})
        finally:
            ti.xcoms.setdefault("return_value", None)

    with pytest.raises(AirflowException) as info:
        push(1)
    assert not isinstance(info.value, AirflowFailException), "a retry can look for it"
    names = [d["name"] for d in sandbox.voors_records("departments")]
    assert sorted(names) == ["Compras", "Financeiro", "Vendas"], "created once, answer lost"

    summary = push(2)
    assert (summary["succeeded"], summary["failed"]) == (3, 0)
    names = [d["name"] for d in sandbox.voors_records("departments")]
    assert sorted(names) == ["Compras", "Financeiro", "Vendas"], "found by the retry, not created twice"
    posts = [r for r in sandbox.requests("POST", "/voors/departments")]
    assert len(posts) == 3


def test_a_department_whose_create_never_arrived_is_created_by_the_retry(sandbox, tmp_path):
    sandbox.add_fault(
        "POST /voors/departments", kind="status", status=502, on_calls=(1,), after_consume=False
    )
    records = [{"name": "Vendas"}]
    store = MemoryStateStore()
    op = VoorsPushOperator(
        task_id="push",
        resource="departments",
        records=records,
        report_path=str(tmp_path / "f.jsonl"),
        hook_params={"retry_delay": 0.001},
    )
    with pytest.raises(AirflowException):
        op.execute({"ti": TI("push"), "task_state_store": store})
    assert sandbox.voors_records("departments") == []
    summary = op.execute({"ti": TI("push", 2), "task_state_store": store})
    assert summary["succeeded"] == 1
    assert [d["name"] for d in sandbox.voors_records("departments")] == ["Vendas"]

"""PontoWebPushBatchOperator against the sandbox, over loopback: batching at the record and byte
limits, invalid records, faults before and after PontoWeb acted, a retry after a dead try, the
process monitor's rejections, warnings, errors, losses and timeouts, and ``dag.test()`` through the
deferrable trigger on both Airflow lines.

What PontoWeb received is read from the sandbox's inspection API (``Sandbox.pushes()``: every
accepted push with its records; ``Sandbox.requests()``: every request), and compared with the input:
each batch once, none skipped, nothing invalid sent.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_ahgora.hooks.pontoweb import MAX_PUSH_BYTES, PontoWebHook
from airflow_provider_ahgora.operators.push import PUSH_STATE_KEY, PontoWebPushBatchOperator
from tests.integration.conftest import run_dag, task_outcome

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:in a future version of UPath:PendingDeprecationWarning"),
]

MIB = MAX_PUSH_BYTES


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    return {"employees": 5, "seed": 11, "speed": float("inf"), "push_speed": float("inf")}


class TI(SimpleNamespace):
    """A task instance for operators run directly: identity, try number, recorded XComs."""

    def __init__(self, try_number: int = 1) -> None:
        super().__init__(
            dag_id="ahgora_it_push",
            run_id="direct",
            task_id="push",
            map_index=-1,
            try_number=try_number,
            xcoms={},
        )

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        self.xcoms[key] = json.loads(json.dumps(value))


class MemoryStateStore(dict):
    """``task_state_store`` for operators run directly (the real one needs a task runner)."""

    def set(self, key: str, value: Any, **_: Any) -> None:
        self[key] = json.loads(json.dumps(value))

    def delete(self, key: str) -> None:
        self.pop(key, None)


def cost_centers(n: int, start: int = 0) -> list[dict[str, str]]:
    return [{"codigo": f"c{i:05d}", "nome": f"Centro de custo {i}"} for i in range(start, start + n)]


def absences(n: int) -> list[dict[str, str]]:
    return [
        {"matricula": f"{i:06d}", "inicio": "2026-01-05T08:00", "fim": "2026-01-05T12:00", "operation": "INS"}
        for i in range(n)
    ]


def wire_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def sized(i: int, size: int) -> dict[str, str]:
    base = wire_size({"codigo": f"c{i:05d}", "nome": ""})
    extra = size - base
    return {"codigo": f"c{i:05d}", "nome": "ã" * (extra // 2) + "a" * (extra % 2)}


def make_op(tmp_path: Path, **kwargs: Any) -> Any:  # Any: execute() takes these fake contexts
    options: dict[str, Any] = {
        "task_id": "push",
        "resource": "costcenter",
        "poll_interval": 0.05,
        "max_poll_interval": 0.2,
        "timeout": 30,
        "report_path": str(tmp_path / "failures.jsonl"),
    }
    options.update(kwargs)
    return PontoWebPushBatchOperator(**options)


def ctx(ti: TI, store: MemoryStateStore) -> Any:
    return {"ti": ti, "task_state_store": store}


def run(op: PontoWebPushBatchOperator, store: MemoryStateStore | None = None, try_number: int = 1) -> TI:
    """Execute ``op``; returns its task instance, whose XComs hold the summary."""
    ti = TI(try_number)
    op.execute(ctx(ti, store if store is not None else MemoryStateStore()))
    return ti


def pushed(sb: Any, resource: str = "costcenter") -> list[list[Any]]:
    """The records of every push the sandbox accepted, push by push."""
    return [p["records"] for p in sb.pushes() if p["resource"] == resource]


def flat(batches: list[list[Any]]) -> list[Any]:
    return [r for b in batches for r in b]


def read_report(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


# --------------------------------------------------------------------------------------------------
# Batching
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "sizes"), [(1000, [1000]), (1001, [1000, 1])])
def test_1000_and_1001_records(sandbox, tmp_path, count, sizes):
    records = cost_centers(count)
    ti = run(make_op(tmp_path, records=records))
    summary = ti.xcoms["return_value"]
    batches = pushed(sandbox)
    assert [len(b) for b in batches] == sizes
    assert flat(batches) == records
    assert [b["status"] for b in summary["batches"]] == ["done"] * len(sizes)
    assert [b["subunique"] for b in summary["batches"]] == [p["subunique"] for p in sandbox.pushes()]
    assert (summary["sent"], summary["failed"], summary["unconfirmed"]) == (count, 0, 0)
    assert len(sandbox.requests("GET", "/process")) == len(sizes)
    assert read_report(summary["report_path"]) == []


@pytest.mark.parametrize(("extra", "bodies"), [(0, 1), (1, 2)])
def test_the_1_mib_boundary(sandbox, tmp_path, extra, bodies):
    sizes = [262_000, 262_000, 262_000]
    last = MIB - (2 + sum(sizes) + 3) + extra
    records = [*(sized(i, s) for i, s in enumerate(sizes)), sized(3, last)]
    ti = run(make_op(tmp_path, records=records))
    batches = pushed(sandbox)
    assert flat(batches) == records
    lengths = [wire_size(b) for b in batches]  # the client sends compact JSON: this is the body length
    assert lengths == ([MIB] if not extra else [2 + sum(sizes) + 2, 2 + last])
    assert len(ti.xcoms["return_value"]["batches"]) == bodies


def test_a_record_over_the_limit_and_small_batches(sandbox, tmp_path):
    big = sized(2, MIB)
    records = [*cost_centers(2), big, *cost_centers(5, start=3)]
    with pytest.raises(AirflowFailException, match="1 record"):
        run(make_op(tmp_path, records=records, batch_size=3))
    assert [len(b) for b in pushed(sandbox)] == [3, 3, 1]
    assert big not in flat(pushed(sandbox))
    [entry] = read_report(tmp_path / "failures.jsonl")
    assert (entry["index"], entry["batch"]) == (2, None)
    assert "the record alone is" in entry["reason"]


def test_mixed_valid_and_invalid(sandbox, tmp_path):
    records: list[Any] = cost_centers(1500)
    bad = {10: {"codigo": "", "nome": "x"}, 700: {"codigo": "c99999"}, 1499: {"nome": "sem código"}}
    for index, record in bad.items():
        records[index] = record
    with pytest.raises(AirflowFailException, match="3 record"):
        run(make_op(tmp_path, records=records))
    valid = [r for i, r in enumerate(records) if i not in bad]
    assert flat(pushed(sandbox)) == valid, "nothing invalid was sent, every valid record was"
    assert [len(b) for b in pushed(sandbox)] == [1000, 497]
    report = read_report(tmp_path / "failures.jsonl")
    assert [(e["index"], e["batch"]) for e in report] == [(10, None), (700, None), (1499, None)]
    assert "codigo" in report[0]["reason"]
    assert "nome" in report[1]["reason"]
    assert "codigo" in report[2]["reason"]
    assert sandbox.pontoweb.snapshot()["stored"]["costcenter"] == 1497


# --------------------------------------------------------------------------------------------------
# Faults on pushes
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["status", "reset"])
def test_fault_before_processing_then_success(sandbox, tmp_path, kind):
    records = cost_centers(3500)
    sandbox.add_fault("POST /costcenter", kind=kind, status=503, on_calls=(2, 4), after_consume=False)
    ti = run(make_op(tmp_path, records=records))
    assert [len(b) for b in pushed(sandbox)] == [1000, 1000, 1000, 500], "each batch accepted exactly once"
    assert flat(pushed(sandbox)) == records, "none skipped, in order"
    assert len(sandbox.requests("POST", "/costcenter")) == 6
    summary = ti.xcoms["return_value"]
    assert [b["status"] for b in summary["batches"]] == ["done"] * 4


def test_absences_answer_lost_after_processing_is_not_resent(sandbox, tmp_path):
    records = absences(2500)
    sandbox.add_fault("POST /absences", kind="status", status=502, on_calls=(2,))  # after the push ran
    store = MemoryStateStore()
    op = make_op(tmp_path, resource="absences", records=records)
    ti = TI()
    with pytest.raises(AirflowFailException):
        op.execute(ctx(ti, store))
    # a retry could not learn more: no retry is spent
    assert len(sandbox.requests("POST", "/absences")) == 3, "batch 2 not sent again"
    assert flat(pushed(sandbox, "absences")) == records, "PontoWeb did get batch 2, once"
    summary = ti.xcoms["return_value"]
    assert [b["status"] for b in summary["batches"]] == ["done", "unknown", "done"]
    assert (summary["failed"], summary["unconfirmed"]) == (0, 1000)
    report = read_report(summary["report_path"])
    assert [e["record"] for e in report] == records[1000:2000]
    assert all("may have been accepted by PontoWeb" in e["reason"] for e in report)

    # Airflow's retry of the task: nothing is sent again, the batch is still reported
    ti2 = TI(2)
    with pytest.raises(AirflowException):
        op.execute(ctx(ti2, store))
    assert len(sandbox.requests("POST", "/absences")) == 3
    assert len(pushed(sandbox, "absences")) == 3
    assert ti2.xcoms["return_value"]["unconfirmed"] == 1000


def test_costcenter_answer_lost_after_processing_is_resent(sandbox, tmp_path):
    """Cost centers are upserts by codigo: the hook's retry sends the batch again (retry="all"); the
    sandbox got it twice and stores each cost center once."""
    records = cost_centers(2500)
    sandbox.add_fault("POST /costcenter", kind="status", status=503, on_calls=(2,))
    ti = run(make_op(tmp_path, records=records))
    batches = pushed(sandbox)
    assert [len(b) for b in batches] == [1000, 1000, 1000, 500]
    assert batches[1] == batches[2] == records[1000:2000]
    assert sandbox.pontoweb.snapshot()["stored"]["costcenter"] == 2500
    summary = ti.xcoms["return_value"]
    assert summary["batches"][1]["subunique"] == sandbox.pushes()[2]["subunique"]
    assert (summary["failed"], summary["unconfirmed"]) == (0, 0)


class _Died(BaseException):
    """A worker that dies mid-push: nothing in the operator catches it."""


def test_a_retry_after_a_dead_try_sends_only_the_rest(sandbox, tmp_path, monkeypatch):
    records = cost_centers(4200)
    store = MemoryStateStore()
    original = PontoWebHook.push_serialized
    calls: list[int] = []

    def dying(self: PontoWebHook, resource: str, body: bytes, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise _Died("SIGKILL")
        return original(self, resource, body, **kwargs)

    with monkeypatch.context() as mp:
        mp.setattr(PontoWebHook, "push_serialized", dying)
        with pytest.raises(_Died):
            run(make_op(tmp_path, records=records), store)
    assert [len(b) for b in pushed(sandbox)] == [1000, 1000]
    assert store[PUSH_STATE_KEY]["confirmed"] == [[1, 2]]

    ti = run(make_op(tmp_path, records=records), store, try_number=2)
    assert flat(pushed(sandbox)) == records, "every batch exactly once over both tries"
    assert [len(b) for b in pushed(sandbox)] == [1000, 1000, 1000, 1000, 200]
    summary = ti.xcoms["return_value"]
    assert [b["status"] for b in summary["batches"]] == ["done"] * 5
    assert [b["subunique"] for b in summary["batches"]] == [p["subunique"] for p in sandbox.pushes()]
    assert PUSH_STATE_KEY not in store

    # another input in the same task instance is sent in full
    store[PUSH_STATE_KEY] = {"input": "costcenter:other", "batches": {"1": {"unique": "x", "subunique": "1"}}}
    run(make_op(tmp_path, records=records[:10]), store, try_number=3)
    assert len(pushed(sandbox)) == 6


def test_401_stops_and_reports_the_rest(sandbox, tmp_path):
    records = cost_centers(3000)
    sandbox.add_fault("POST /costcenter", kind="status", status=401, on_calls=(2,), after_consume=False)
    ti = TI()
    with pytest.raises(AirflowException, match="refused the credentials") as info:
        make_op(tmp_path, records=records).execute(ctx(ti, MemoryStateStore()))
    assert not isinstance(info.value, AirflowFailException)
    assert len(sandbox.requests("POST", "/costcenter")) == 2
    summary = ti.xcoms["return_value"]  # pushed before the task failed
    assert [b["status"] for b in summary["batches"]] == ["done", "not sent", "not sent"]
    report = read_report(summary["report_path"])
    assert [e["record"] for e in report] == records[1000:]
    assert all(e["reason"].startswith("not sent: ") for e in report)


# --------------------------------------------------------------------------------------------------
# The process monitor
# --------------------------------------------------------------------------------------------------


def test_monitor_warning_with_errors(sandbox, tmp_path):
    records = cost_centers(2500)
    sandbox.reject_records("costcenter", "c01017", "c02400", message="Centro de custo em uso")
    ti = TI()
    with pytest.raises(AirflowFailException, match="2 record"):
        make_op(tmp_path, records=records).execute(ctx(ti, MemoryStateStore()))
    summary = ti.xcoms["return_value"]
    assert [b["status"] for b in summary["batches"]] == ["done", "warning", "warning"]
    assert (summary["sent"], summary["failed"], summary["unconfirmed"]) == (2500, 2, 0)
    report = read_report(summary["report_path"])
    assert report == [
        {
            "record": records[1017],
            "reason": "rejected by PontoWeb: Centro de custo em uso",
            "batch": 2,
            "index": 1017,
        },
        {
            "record": records[2400],
            "reason": "rejected by PontoWeb: Centro de custo em uso",
            "batch": 3,
            "index": 2400,
        },
    ]


def test_monitor_warning_with_errors_and_fail_on_never(sandbox, tmp_path):
    sandbox.reject_records("costcenter", "c00001", message="em uso")
    records = cost_centers(3)
    summary = make_op(tmp_path, records=records, fail_on="never").execute(ctx(TI(), MemoryStateStore()))
    assert summary["failed"] == 1
    assert summary["batches"][0]["status"] == "warning"
    assert read_report(summary["report_path"])[0]["record"] == records[1]


def _monitor_answer(status: str, done: int, total: int) -> dict[str, Any]:
    return {
        "company": "a000101",
        "status": status,
        "progress": {"done": str(done), "total": str(total)},
        "data": {"errors": []},
    }


def test_monitor_error_without_named_records(sandbox, tmp_path):
    records = cost_centers(3)
    sandbox.add_fault("GET /process", kind="status", status=200, body=_monitor_answer("error", 3, 3))
    ti = TI()
    with pytest.raises(AirflowFailException, match="a batch ended in error"):
        make_op(tmp_path, records=records).execute(ctx(ti, MemoryStateStore()))
    report = read_report(ti.xcoms["return_value"]["report_path"])
    assert [e["record"] for e in report] == records
    assert all("the batch ended in error" in e["reason"] for e in report)


@pytest.mark.parametrize(("fail_on", "fails"), [("error", False), ("warning", True), ("never", False)])
def test_monitor_warning_without_errors(sandbox, tmp_path, fail_on, fails):
    sandbox.add_fault("GET /process", kind="status", status=200, body=_monitor_answer("warning", 3, 3))
    op = make_op(tmp_path, records=cost_centers(3), fail_on=fail_on)
    ti = TI()
    if fails:
        with pytest.raises(AirflowFailException, match="warning"):
            op.execute(ctx(ti, MemoryStateStore()))
    else:
        op.execute(ctx(ti, MemoryStateStore()))
    summary = ti.xcoms["return_value"]
    assert summary["batches"][0]["status"] == "warning"
    assert summary["failed"] == 0


@pytest.mark.sandbox(push_speed=50.0)
def test_monitor_lost_after_15_minutes(sandbox, tmp_path, monkeypatch):
    """The monitor forgets a push 15 minutes after it finished: a wait that slept past that (here:
    the sandbox clock jumps 20 minutes during the first sleep) cannot learn the outcome."""
    from airflow_provider_ahgora import polling

    monkeypatch.setattr(polling, "_sleep", lambda seconds: sandbox.advance(20 * 60))
    records = cost_centers(100)  # 2 s of work at 50 records/s: still running at the first poll
    ti = TI()
    with pytest.raises(AirflowFailException, match="unknown outcome"):
        make_op(tmp_path, records=records).execute(ctx(ti, MemoryStateStore()))
    # a retry could not learn more: no retry is spent
    summary = ti.xcoms["return_value"]
    assert summary["batches"][0]["status"] == "lost"
    assert summary["unconfirmed"] == 100
    report = read_report(summary["report_path"])
    assert len(report) == 100
    assert all("outcome unknown" in e["reason"] and "expired" in e["reason"] for e in report)
    assert [r["status"] for r in sandbox.requests("GET", "/process")] == [200, 410]


@pytest.mark.sandbox(push_speed=1.0)
def test_timeout_then_the_retry_confirms_without_resending(sandbox, tmp_path):
    records = cost_centers(20)
    store = MemoryStateStore()
    op = make_op(tmp_path, records=records, timeout=0.3, poll_interval=0.05, max_poll_interval=0.1)
    ti = TI()
    with pytest.raises(AirflowException, match="unknown outcome") as info:
        op.execute(ctx(ti, store))
    assert not isinstance(info.value, AirflowFailException)
    summary = ti.xcoms["return_value"]
    assert summary["batches"][0]["status"] == "pending"
    assert summary["unconfirmed"] == 20
    sandbox.advance(60)  # PontoWeb finishes the work meanwhile
    summary = op.execute(ctx(TI(2), store))
    assert len(sandbox.pushes()) == 1, "not sent again"
    assert summary["batches"][0]["status"] == "done"
    assert (summary["failed"], summary["unconfirmed"]) == (0, 0)


# --------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".csv"])
def test_file_inputs(sandbox, tmp_path, suffix):
    records = cost_centers(2100)
    path = tmp_path / f"records{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(records, indent=1), encoding="utf-8")
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    else:
        path.write_text("codigo,nome,extra\n" + "".join(f"{r['codigo']},{r['nome']},\n" for r in records))
    summary = make_op(tmp_path, records={"path": str(path)}).execute(ctx(TI(), MemoryStateStore()))
    assert flat(pushed(sandbox)) == records  # the empty "extra" cells are left out
    assert summary["records"] == 2100


def test_bad_json_line_sends_nothing(sandbox, tmp_path):
    path = tmp_path / "records.jsonl"
    lines = [json.dumps(r) for r in cost_centers(2500)]
    lines[2222] = "{oops"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(AirflowFailException, match="line 2223 is not valid JSON"):
        run(make_op(tmp_path, records=str(path)))
    assert sandbox.requests("POST") == []


# --------------------------------------------------------------------------------------------------
# dag.test() with deferrable=True, through PontoWebProcessTrigger, on both Airflow lines
# --------------------------------------------------------------------------------------------------

PUSH_DAGS = '''
"""Dags of tests/integration/test_push_batch.py (written here by that test module)."""
import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_ahgora.operators.push import PontoWebPushBatchOperator

START = datetime.datetime(2026, 1, 1)
RECORDS = [{"codigo": f"c{i:05d}", "nome": f"Centro {i}"} for i in range(25)]
RECORDS.insert(12, {"codigo": "", "nome": "sem codigo"})
DEFERRED = dict(
    resource="costcenter",
    records=RECORDS,
    batch_size=10,
    deferrable=True,
    poll_interval=0.1,
    max_poll_interval=0.3,
    timeout=120,
)

with DAG("ahgora_it_push_deferred", schedule=None, start_date=START, catchup=False) as deferred_dag:
    PontoWebPushBatchOperator(task_id="push", retries=0, **DEFERRED)

with DAG("ahgora_it_push_deferred_never", schedule=None, start_date=START, catchup=False) as never_dag:
    PontoWebPushBatchOperator(task_id="push", retries=0, fail_on="never", **DEFERRED)
'''


@pytest.fixture(scope="module")
def push_dags(airflow_db) -> ModuleType:
    from airflow.providers.common.compat.sdk import conf

    folder = Path(conf.get("core", "dags_folder"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ahgora_it_push_dags.py"
    path.write_text(textwrap.dedent(PUSH_DAGS), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("ahgora_it_push_dags", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ahgora_it_push_dags"] = module
    spec.loader.exec_module(module)
    return module


def _expected_records(module: ModuleType) -> list[dict[str, str]]:
    return [r for r in module.RECORDS if r["codigo"]]


@pytest.fixture
def trigger_runs(monkeypatch) -> list[int]:
    """Counts the trigger's runs (dag.test runs triggers inline, in this process)."""
    from airflow_provider_ahgora.triggers.process import PontoWebProcessTrigger

    runs: list[int] = []
    original = PontoWebProcessTrigger.run

    def counting_run(self):
        runs.append(len(self.processes))
        return original(self)

    monkeypatch.setattr(PontoWebProcessTrigger, "run", counting_run)
    return runs


@pytest.mark.sandbox(push_speed=20.0)
def test_dag_test_deferrable_with_rejections(sandbox, push_dags, trigger_runs):
    sandbox.reject_records("costcenter", "c00022", message="Centro de custo em uso")
    run_dag(push_dags.deferred_dag)
    state, tries, summary = task_outcome("ahgora_it_push_deferred", "push")
    assert str(state) in {"failed", "TaskInstanceState.FAILED"}
    assert tries == 1
    assert trigger_runs == [3], "one deferral for the three batches"
    assert flat(pushed(sandbox)) == _expected_records(push_dags)
    # the summary was pushed to XCom before the task failed
    assert summary is not None
    assert [b["status"] for b in summary["batches"]] == ["done", "done", "warning"]
    assert (summary["records"], summary["sent"], summary["failed"]) == (26, 25, 2)
    report = read_report(summary["report_path"])
    # written before the deferral (the invalid record), extended after it (the rejected one)
    assert [(e["index"], e["batch"]) for e in report] == [(12, None), (23, 3)]
    assert report[1]["reason"] == "rejected by PontoWeb: Centro de custo em uso"
    assert report[1]["record"] == {"codigo": "c00022", "nome": "Centro 22"}


@pytest.mark.sandbox(push_speed=20.0)
def test_dag_test_deferrable_fail_on_never(sandbox, push_dags, trigger_runs):
    run_dag(push_dags.never_dag)
    state, _tries, summary = task_outcome("ahgora_it_push_deferred_never", "push")
    assert str(state) in {"success", "TaskInstanceState.SUCCESS"}
    assert trigger_runs == [3]
    assert [b["status"] for b in summary["batches"]] == ["done"] * 3
    assert (summary["sent"], summary["failed"], summary["unconfirmed"]) == (25, 1, 0)
    assert flat(pushed(sandbox)) == _expected_records(push_dags)
    assert len(sandbox.requests("POST", "/costcenter")) == 3

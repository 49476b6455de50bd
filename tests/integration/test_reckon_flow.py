"""The reckon operators against the sandbox: happy paths, faults at every page, killed workers, the
daily limit, a reckon in error, and ``dag.test()`` through the deferrable trigger.

Every file written is compared with the sandbox company's own records (``sb.data.reckon_records``):
each record once, no more, no less. The sandbox's inspection API says how many reckons were started,
read, consumed and reconsumed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_ahgora.exceptions import AhgoraReadInterruptedError
from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
from airflow_provider_ahgora.operators.reckon import (
    PontoWebReckonOperator,
    PontoWebReckonResultsOperator,
    csv_rows,
)
from airflow_provider_ahgora.sandbox import RECKON_RESULTS, wait_until
from tests.integration.conftest import (
    KILL_DATE,
    retry_task,
    run_dag,
    stored_reckon,
    subprocess_env,
    task_outcome,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:in a future version of UPath:PendingDeprecationWarning"),
]

MONTH, YEAR = "01", "2026"
FEATURE_SETS = [
    ["monthly"],
    ["daily.totals"],
    ["daily.punches"],
    ["daily.punches", "daily.totals", "monthly"],
]


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    # the daily limit is raised so that tests can start many reckons; its own test sets it back to 3
    return {"employees": 5, "seed": 7, "speed": float("inf"), "push_speed": float("inf"), "daily_limit": 1000}


class TI(SimpleNamespace):
    """A task instance for operators run directly: identity, try number, recorded XComs."""

    def __init__(self, task_id: str, try_number: int = 1) -> None:
        super().__init__(
            dag_id="ahgora_it",
            run_id="direct",
            task_id=task_id,
            map_index=-1,
            try_number=try_number,
            xcoms={},
        )

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        self.xcoms[key] = value


class MemoryStateStore(dict):
    """``task_state_store`` for operators run directly (the real one needs a task runner)."""

    def set(self, key: str, value: Any, **_: Any) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


def expected(sb: Any, features: list[str], **options: Any) -> list[dict[str, Any]]:
    return list(sb.data.reckon_records(MONTH, YEAR, features=features, **options))


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def start_reckon(features: list[str]) -> str:
    """Start a reckon straight through the hook (instant in a sandbox of infinite speed); its unique."""
    hook = PontoWebHook()
    try:
        process = hook.start_reckon({"month": MONTH, "year": YEAR, "features": features}).process
        assert wait_until(lambda: hook.get_reckon_status(process).is_done, timeout=10)
        unique = hook.get_reckon_status(process).unique
        assert unique
        return unique
    finally:
        hook.close()


def results_op(unique: str, path: Path, **kwargs: Any) -> PontoWebReckonResultsOperator:
    """The results operator; ``total`` counts records in the sandbox unless its quirks say otherwise,
    and these tests are about faults, so the reading is pinned (one read per try)."""
    kwargs.setdefault("total_reading", "records")
    return PontoWebReckonResultsOperator(task_id="results", unique=unique, output_path=str(path), **kwargs)


# --------------------------------------------------------------------------------------------------
# Happy paths
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("features", FEATURE_SETS, ids=lambda f: "+".join(f))
def test_happy_path_for_each_feature_set(sandbox, tmp_path, features):
    sandbox.pontoweb.speed = 25.0  # a few polls of progress before done
    ti = TI("reckon")
    store = MemoryStateStore()
    summary = PontoWebReckonOperator(
        task_id="reckon", month=MONTH, year=YEAR, features=features, poll_interval=0.05, max_poll_interval=0.1
    ).execute({"ti": ti, "task_state_store": store})
    assert summary["status"] == "done"
    assert ti.xcoms["process"] == summary["process"]
    assert store == {}

    target = tmp_path / "results.jsonl"
    result = results_op(summary["unique"], target, page_size=3, csv=True).execute({"ti": TI("results")})

    want = expected(sandbox, features)
    assert read_jsonl(target) == want
    assert result["records"] == len(want)
    csv_lines = Path(result["csv_path"]).read_text(encoding="utf-8").splitlines()
    assert len(csv_lines) == 1 + sum(len(list(csv_rows(r))) for r in want)
    state = sandbox.reckon(summary["unique"])
    assert (state["consumed"], state["reconsumes"], len(sandbox.reckons())) == (len(want), 1, 1)


def test_filtered_reckon_with_rescission(sandbox, tmp_path):
    registers = [e.registration for e in sandbox.data.employees[:2]]
    summary = PontoWebReckonOperator(
        task_id="reckon",
        month=MONTH,
        year=YEAR,
        registers=json.dumps(registers),
        rescission="true",
        features=["monthly"],
        poll_interval=0.05,
    ).execute({"ti": TI("reckon"), "task_state_store": MemoryStateStore()})
    target = tmp_path / "r.jsonl"
    results_op(summary["unique"], target).execute({"ti": TI("results")})
    want = expected(sandbox, ["monthly"], registers=registers, rescission=True)
    assert want
    assert read_jsonl(target) == want
    assert {r["employee"] for r in want} <= set(registers)


# --------------------------------------------------------------------------------------------------
# A fault at every page, then the retry: the file holds every record exactly once
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["reset", "status", "malformed", "timeout"])
def test_fault_at_every_page_then_the_retry(sandbox, tmp_path, kind):
    features = ["daily.punches", "monthly"]
    want = expected(sandbox, features)
    page_size = 3
    pages = -(-len(want) // page_size)
    assert pages >= 3
    for page in range(1, pages + 1):
        unique = start_reckon(features)
        target = tmp_path / f"{kind}-{page}" / "results.jsonl"
        fault = sandbox.add_fault(f"GET {RECKON_RESULTS}", kind=kind, on_calls=(page,), times=1, delay=0.1)
        try:
            with pytest.raises(AhgoraReadInterruptedError):
                results_op(unique, target, page_size=page_size, csv=True).execute({"ti": TI("results")})
        finally:
            sandbox.remove_fault(fault)
        assert not target.exists(), "a failed try must leave no final file"
        assert not any(target.parent.glob(".*.partial")), "nor a temporary one"
        assert sandbox.reckon(unique)["consumed"] == min(page * page_size, len(want))  # consumed, lost

        result = results_op(unique, target, page_size=page_size, csv=True).execute({"ti": TI("results", 2)})
        assert read_jsonl(target) == want, f"{kind} at page {page}"
        assert result["records"] == len(want)
        assert sandbox.reckon(unique)["reconsumes"] == 2


def test_memory_target_on_the_sandbox(sandbox, tmp_path):
    import fsspec

    unique = start_reckon(["monthly"])
    sandbox.add_fault(f"GET {RECKON_RESULTS}", kind="reset", on_calls=(2,), times=1)
    url = "memory://ahgora-it/closing/results.jsonl"
    with pytest.raises(AhgoraReadInterruptedError):
        PontoWebReckonResultsOperator(task_id="r", unique=unique, output_path=url, page_size=2).execute(
            {"ti": TI("r")}
        )
    fs = fsspec.filesystem("memory")
    assert not fs.exists("/ahgora-it/closing/results.jsonl")
    PontoWebReckonResultsOperator(task_id="r", unique=unique, output_path=url, page_size=2).execute(
        {"ti": TI("r", 2)}
    )
    lines = fs.cat("/ahgora-it/closing/results.jsonl").decode("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == expected(sandbox, ["monthly"])
    fs.rm("/ahgora-it", recursive=True)


# --------------------------------------------------------------------------------------------------
# The worker killed (SIGKILL)
# --------------------------------------------------------------------------------------------------

_FETCH_WORKER = textwrap.dedent(
    """
    import sys, types
    from airflow_provider_ahgora.operators.reckon import PontoWebReckonResultsOperator

    ti = types.SimpleNamespace(
        dag_id="ahgora_it", run_id="kill", task_id="results", map_index=-1, try_number=1
    )
    op = PontoWebReckonResultsOperator(
        task_id="results", unique=sys.argv[1], output_path=sys.argv[2], page_size=2, csv=True
    )
    op.execute({"ti": ti})
    raise SystemExit("the worker should have been killed before the end")
    """
)

_WAIT_WORKER = textwrap.dedent(
    """
    import importlib.util, sys
    from tests.integration.conftest import KILL_DATE, run_dag

    spec = importlib.util.spec_from_file_location("ahgora_it_dags_worker", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    run_dag(module.wait_dag, KILL_DATE)
    """
)


def _kill(proc: subprocess.Popen, log: Path) -> None:
    if proc.poll() is not None:
        pytest.fail(f"the worker ended by itself (rc {proc.returncode}):\n{log.read_text()[-3000:]}")
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


def test_worker_killed_during_the_fetch_then_retried(sandbox, tmp_path):
    features = ["daily.totals", "monthly"]
    want = expected(sandbox, features)
    unique = start_reckon(features)
    slow = sandbox.add_fault(f"GET {RECKON_RESULTS}", kind="latency", delay=0.3)
    target = tmp_path / "results.jsonl"
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", _FETCH_WORKER, unique, str(target)],
            env=subprocess_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        assert wait_until(lambda: sandbox.reckon(unique)["reads"] >= 3 or proc.poll() is not None, timeout=60)
        _kill(proc, log)
    finally:
        if proc.poll() is None:
            proc.kill()
    sandbox.remove_fault(slow)
    consumed = sandbox.reckon(unique)["consumed"]
    assert 0 < consumed < len(want), "killed mid-read: some records consumed and lost with the worker"
    assert not target.exists()
    assert list(tmp_path.glob(".results.jsonl.*.partial")), "the killed try's temporary object is left"

    result = results_op(unique, target, page_size=2, csv=True).execute({"ti": TI("results", 2)})
    assert read_jsonl(target) == want
    assert result["records"] == len(want)
    assert not list(tmp_path.glob(".*.partial")), "leftovers of the killed try are removed"
    assert sandbox.reckon(unique)["reconsumes"] == 2


@pytest.mark.sandbox(speed=0.05)
def test_worker_killed_during_the_wait_then_retried(sandbox, dags_module, tmp_path):
    """The first try starts the reckon and is killed while waiting; the retry, in the same run,
    reconnects to it (task_state_store on Airflow 3.3, a Variable below): one reckon only."""
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", _WAIT_WORKER, dags_module.__file__],
            env=subprocess_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        started = wait_until(lambda: bool(sandbox.reckons()) or proc.poll() is not None, timeout=90)
        assert started, log.read_text()[-3000:]
        assert sandbox.reckons(), log.read_text()[-3000:]
        process = sandbox.reckons()[0]["process"]
        status_path = f"/reckons/process/status/{process}"
        assert wait_until(lambda: len(sandbox.requests("GET", status_path)) >= 2, timeout=30)
        _kill(proc, log)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert sandbox.reckon(process)["status"] == "processing"
    assert stored_reckon("ahgora_it_wait", "reckon", KILL_DATE)["process"] == process  # kept by the dead try
    seen = sandbox.requests()[-1]["seq"]

    def finish_once_polled() -> None:  # let the retry poll a little, then end the reckon
        wait_until(lambda: len(sandbox.requests("GET", status_path, since=seen)) >= 3, timeout=60)
        sandbox.finish_reckon(process)

    finisher = threading.Thread(target=finish_once_polled, daemon=True)
    finisher.start()
    retry_task(dags_module.wait_dag, "reckon", KILL_DATE)
    finisher.join(timeout=60)

    assert len(sandbox.reckons()) == 1, "the retry must not start a second reckon"
    assert len(sandbox.requests("POST", "/reckons/process/start")) == 1
    state, _tries, value = task_outcome("ahgora_it_wait", "reckon", KILL_DATE)
    assert str(state) in {"success", "TaskInstanceState.SUCCESS"}
    assert value["process"] == process
    assert value["status"] == "done"
    assert stored_reckon("ahgora_it_wait", "reckon", KILL_DATE) is None  # deleted on success


# --------------------------------------------------------------------------------------------------
# Failing fast: the daily limit, a reckon in error
# --------------------------------------------------------------------------------------------------


@pytest.mark.sandbox(daily_limit=3)
def test_daily_limit_fails_without_burning_retries(sandbox, dags_module):
    for _ in range(3):  # today's three full-base monthly reckons are spent
        start_reckon(["monthly"])
    run_dag(dags_module.sync_dag)  # dag.test logs a failed task, it does not raise
    state, tries, _ = task_outcome("ahgora_it_sync", "reckon")
    assert str(state) in {"failed", "TaskInstanceState.FAILED"}
    assert tries == 1, "retries=3 but the daily limit must not burn them"
    assert len(sandbox.reckons()) == 3, "nothing more was started"
    assert len(sandbox.requests("POST", "/reckons/process/start")) == 4  # 3 + the refused one


@pytest.mark.sandbox(speed=0.5)
def test_reckon_in_error_fails_fast(sandbox, dags_module):
    def fail_when_started() -> None:
        wait_until(lambda: bool(sandbox.reckons()), timeout=60)
        sandbox.fail_reckon(sandbox.reckons()[0]["process"], "the sandbox failed it")

    failer = threading.Thread(target=fail_when_started, daemon=True)
    failer.start()
    run_dag(dags_module.sync_dag)
    failer.join(timeout=60)
    state, tries, _ = task_outcome("ahgora_it_sync", "reckon")
    assert str(state) in {"failed", "TaskInstanceState.FAILED"}
    assert tries == 1
    assert len(sandbox.reckons()) == 1


# --------------------------------------------------------------------------------------------------
# dag.test() with deferrable=True, through the trigger
# --------------------------------------------------------------------------------------------------


@pytest.mark.sandbox(speed=10.0)
def test_dag_test_deferrable_through_the_trigger(sandbox, dags_module, monkeypatch):
    from airflow_provider_ahgora.triggers.reckon import PontoWebReckonTrigger

    runs: list[str] = []
    original = PontoWebReckonTrigger.run

    def counting_run(self):  # the trigger really ran (inline, as dag.test runs triggers)
        runs.append(self.process)
        return original(self)

    monkeypatch.setattr(PontoWebReckonTrigger, "run", counting_run)
    sandbox.add_fault(f"GET {RECKON_RESULTS}", kind="reset", on_calls=(2,), times=1)  # and one retry
    run_dag(dags_module.deferrable_dag)

    state, _, summary = task_outcome("ahgora_it_deferrable", "reckon")
    assert str(state) in {"success", "TaskInstanceState.SUCCESS"}
    assert runs == [summary["process"]]
    assert summary["status"] == "done"
    assert summary["progress"] == {"done": 5, "total": 5}
    state, tries, result = task_outcome("ahgora_it_deferrable", "results")
    assert str(state) in {"success", "TaskInstanceState.SUCCESS"}
    assert tries == 2
    want = expected(sandbox, ["daily.punches", "monthly"])
    assert read_jsonl(result["path"]) == want
    assert result["records"] == len(want)
    assert os.path.exists(result["csv_path"])
    assert len(sandbox.reckons()) == 1


def test_timeout_then_the_retry_reconnects(sandbox, tmp_path):
    """A try that times out leaves the reckon running; the next try reconnects to it."""
    sandbox.pontoweb.speed = 0.05
    store = MemoryStateStore()
    op = PontoWebReckonOperator(task_id="reckon", month=MONTH, year=YEAR, poll_interval=0.1, timeout=0.5)
    with pytest.raises(AirflowException, match="did not finish"):
        op.execute({"ti": TI("reckon"), "task_state_store": store})
    process = sandbox.reckons()[0]["process"]
    sandbox.finish_reckon(process)
    summary = op.execute({"ti": TI("reckon", 2), "task_state_store": store})
    assert summary["process"] == process
    assert len(sandbox.reckons()) == 1

"""PontoWebProcessSensor and PontoWebProcessTrigger against the sandbox (real HTTP over loopback):
real pushes processed at a finite speed, the sensor in poke and deferrable mode through
``dag.test()``, business rejections (a ``warning`` with errors), ``fail_on``, the 15-minute monitor
window, the timeout, and the trigger waiting for several batches at once."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
from airflow_provider_ahgora.sandbox import wait_until
from airflow_provider_ahgora.sensors.process import PontoWebProcessSensor
from airflow_provider_ahgora.triggers.process import PontoWebProcessTrigger
from tests.integration.conftest import run_dag, task_outcome

pytestmark = [pytest.mark.integration]

RECORDS = 40
PUSH_SPEED = 20.0  # records per second: a push of 40 takes 2 s, a few polls

DAGS_SOURCE = '''
"""Dags of tests/integration/test_process_sensor.py (written here by that test module)."""
import datetime

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_ahgora.sensors.process import PontoWebProcessSensor

START = datetime.datetime(2026, 1, 1)
SUBUNIQUE = "{{ ti.xcom_pull(task_ids='push')['subunique'] }}"


@task(task_id="push")
def push(records: int) -> dict:
    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook

    hook = PontoWebHook()
    try:
        ticket = hook.push(
            "costcenter", [{"codigo": str(i), "nome": f"Centro {i}"} for i in range(1, records + 1)]
        )
    finally:
        hook.close()
    return {"unique": ticket.unique, "subunique": ticket.subunique}


def process_dag(dag_id, *, deferrable, fail_on="error", timeout=60, records=40):
    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:
        push(records) >> PontoWebProcessSensor(
            task_id="wait",
            subunique=SUBUNIQUE,
            deferrable=deferrable,
            fail_on=fail_on,
            poke_interval=0.2,
            max_poll_interval=0.5,
            timeout=timeout,
            retries=2,
            retry_delay=datetime.timedelta(seconds=0),
        )
    return dag


poke_dag = process_dag("ahgora_it_process_poke", deferrable=False)
deferrable_dag = process_dag("ahgora_it_process_deferrable", deferrable=True)
strict_dag = process_dag("ahgora_it_process_strict", deferrable=True, fail_on="warning")
timeout_dag = process_dag("ahgora_it_process_timeout", deferrable=True, timeout=1)
'''


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    return {"employees": 5, "seed": 7, "speed": float("inf"), "push_speed": PUSH_SPEED}


@pytest.fixture(scope="session")
def process_dags(airflow_db) -> ModuleType:
    """The Dags above, written into the dags folder (where Airflow 3's dag.test looks) and imported."""
    from airflow.providers.common.compat.sdk import conf

    folder = Path(conf.get("core", "dags_folder"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ahgora_it_process_dags.py"
    path.write_text(textwrap.dedent(DAGS_SOURCE), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("ahgora_it_process_dags", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ahgora_it_process_dags"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def trigger_runs(monkeypatch: pytest.MonkeyPatch) -> list[list[dict[str, Any]]]:
    """The processes of every PontoWebProcessTrigger that really ran (inline, as dag.test runs them)."""
    runs: list[list[dict[str, Any]]] = []
    original = PontoWebProcessTrigger.run

    def counting_run(self):
        runs.append(self.processes)
        return original(self)

    monkeypatch.setattr(PontoWebProcessTrigger, "run", counting_run)
    return runs


@pytest.fixture
def held_until_seen(sandbox: Any) -> Iterator[None]:
    """For the Dags whose sensor must see the push in progress, however long the Airflow line takes
    to start the next task (2 to 5 s in Airflow 3.1's and 3.2's dag.test, longer than a 2 s push):
    the push crawls (2 records a second, with the test's ``@pytest.mark.sandbox(push_speed=2.0)``)
    until the sensor has seen it twice, then the sandbox's clock jumps so that it is done."""
    stop = threading.Event()

    def finish_once_seen() -> None:
        seen = wait_until(lambda: monitor_calls(sandbox) >= 2 or stop.is_set(), timeout=120, interval=0.05)
        if seen and not stop.is_set():
            sandbox.advance(60)

    finisher = threading.Thread(target=finish_once_seen, daemon=True)
    finisher.start()
    yield
    stop.set()
    finisher.join(timeout=10)


def succeeded(state: Any) -> bool:
    return str(state) in {"success", "TaskInstanceState.SUCCESS"}


def failed(state: Any) -> bool:
    return str(state) in {"failed", "TaskInstanceState.FAILED"}


def centers(n: int, start: int = 1) -> list[dict[str, str]]:
    return [{"codigo": str(i), "nome": f"Centro {i}"} for i in range(start, start + n)]


def monitor_calls(sandbox: Any) -> int:
    return len(sandbox.requests("GET", "/process"))


# --------------------------------------------------------------------------------------------------
# dag.test(): poke and deferrable
# --------------------------------------------------------------------------------------------------


@pytest.mark.sandbox(push_speed=2.0)
@pytest.mark.usefixtures("held_until_seen")
def test_poke_mode_waits_for_the_push(sandbox, process_dags):
    run_dag(process_dags.poke_dag)
    state, tries, summary = task_outcome("ahgora_it_process_poke", "wait")
    assert succeeded(state), state
    assert tries == 1
    push = sandbox.pushes()[-1]
    assert summary == {
        "unique": None,
        "subunique": push["subunique"],
        "status": "done",
        "progress": {"done": RECORDS, "total": RECORDS},
        "errors": [],
    }
    assert monitor_calls(sandbox) >= 3, "held until seen twice: the sensor saw it in progress first"
    assert sandbox.state()["pontoweb"]["stored"]["costcenter"] == RECORDS


@pytest.mark.sandbox(push_speed=2.0)
@pytest.mark.usefixtures("held_until_seen")
def test_deferrable_warning_with_errors_succeeds_by_default(sandbox, process_dags, trigger_runs):
    sandbox.reject_records("costcenter", "7", "3", message="Centro de custo bloqueado")
    run_dag(process_dags.deferrable_dag)
    state, tries, summary = task_outcome("ahgora_it_process_deferrable", "wait")
    assert succeeded(state), state
    assert tries == 1
    push = sandbox.pushes()[-1]
    assert trigger_runs == [[{"unique": None, "subunique": push["subunique"]}]]
    assert summary == {
        "unique": None,
        "subunique": push["subunique"],
        "status": "warning",
        "progress": {"done": RECORDS, "total": RECORDS},
        "errors": [
            {"identifier": "3", "message": "Centro de custo bloqueado"},
            {"identifier": "7", "message": "Centro de custo bloqueado"},
        ],
    }
    assert sandbox.state()["pontoweb"]["stored"]["costcenter"] == RECORDS - 2
    assert monitor_calls(sandbox) >= 2  # the first check, then the trigger's polls


@pytest.mark.sandbox(push_speed=2.0)
@pytest.mark.usefixtures("held_until_seen")
def test_deferrable_fail_on_warning_fails_without_burning_retries(sandbox, process_dags, trigger_runs):
    sandbox.reject_records("costcenter", "5")
    run_dag(process_dags.strict_dag)  # dag.test logs a failed task, it does not raise
    state, tries, _ = task_outcome("ahgora_it_process_strict", "wait")
    assert failed(state), state
    assert tries == 1, "retries=2, but a warning with fail_on='warning' must not burn them"
    assert len(trigger_runs) == 1


def test_poke_mode_every_record_rejected_fails(sandbox, process_dags):
    sandbox.reject_records("costcenter", *[str(i) for i in range(1, RECORDS + 1)])
    run_dag(process_dags.poke_dag)
    state, tries, _ = task_outcome("ahgora_it_process_poke", "wait")
    assert failed(state), state
    assert tries == 1
    assert sandbox.state()["pontoweb"]["stored"]["costcenter"] == 0
    assert sandbox.pushes()[-1]["progress"] == {"done": RECORDS, "total": RECORDS}


@pytest.mark.sandbox(push_speed=0.25)
def test_deferrable_timeout_holds(sandbox, process_dags, trigger_runs):
    """A push of 40 records at 1 every 4 s (160 s), a timeout of 1 s: AirflowSensorTimeout, no retry,
    long before the push ends (the push is slow enough that a loaded machine starting tasks in 20 s,
    as 3.2's dag.test does under load, still sees it unfinished)."""
    started = time.monotonic()
    run_dag(process_dags.timeout_dag)
    state, tries, _ = task_outcome("ahgora_it_process_timeout", "wait")
    assert failed(state), state
    assert tries == 1, "a sensor timeout is not retried"
    assert len(trigger_runs) == 1
    assert time.monotonic() - started < 120, "the timeout held: the sensor did not wait for the push"
    assert sandbox.pushes()[-1]["finished"] is False  # PontoWeb keeps processing it


# --------------------------------------------------------------------------------------------------
# The sensor run directly: the 15-minute window
# --------------------------------------------------------------------------------------------------


def test_expired_process_fails_naming_the_monitor_window(sandbox):
    hook = PontoWebHook()
    try:
        ticket = hook.push("costcenter", centers(4))
    finally:
        hook.close()
    sandbox.advance(15 * 60 + 5)  # finished 4/20 s after the push; kept 15 minutes after that
    sensor = PontoWebProcessSensor(task_id="wait", subunique=ticket.subunique, poke_interval=0.1, timeout=10)
    with pytest.raises(AirflowFailException, match="15 minutes after it finished") as info:
        sensor.execute({})
    assert "410" in str(info.value)
    unknown = PontoWebProcessSensor(task_id="wait", subunique="12345678", poke_interval=0.1, timeout=10)
    with pytest.raises(AirflowFailException, match="Process not found"):
        unknown.execute({})


def test_sensor_by_unique_counts_every_push_of_the_window(sandbox):
    hook = PontoWebHook()
    try:
        first = hook.push("costcenter", centers(4))
        second = hook.push("costcenter", centers(6, start=5))
    finally:
        hook.close()
    assert first.unique == second.unique
    sensor = PontoWebProcessSensor(task_id="wait", unique=first.unique, poke_interval=0.1, timeout=30)
    summary = sensor.execute({})
    assert summary["status"] == "done"
    assert summary["progress"] == {"done": 10, "total": 10}
    assert summary["unique"] == first.unique


# --------------------------------------------------------------------------------------------------
# The trigger alone: several batches at once (what the batch push operator defers on)
# --------------------------------------------------------------------------------------------------


async def test_trigger_waits_for_every_batch(sandbox):
    sandbox.reject_records("costcenter", "12", "13", message="bloqueado")
    sandbox.reject_records("costcenter", *[str(i) for i in range(31, 36)], message="inativo")
    hook = PontoWebHook()
    try:
        tickets = [
            hook.push("costcenter", centers(10, start=1)),  # done
            hook.push("costcenter", centers(20, start=11)),  # warning: 12, 13
            hook.push("costcenter", centers(5, start=31)),  # error: all rejected
        ]
    finally:
        hook.close()
    sandbox.advance(15 * 60 + 5)  # every push so far is gone from the monitor...
    hook = PontoWebHook()
    try:
        fresh = [hook.push("costcenter", centers(30, start=41)) for _ in range(2)]  # ... but these
    finally:
        hook.close()
    processes = [
        {"unique": None, "subunique": t.subunique, "batch": i} for i, t in enumerate([*tickets, *fresh])
    ]
    processes.append({"unique": None, "subunique": "00000000", "batch": 5})  # never existed
    trigger = PontoWebProcessTrigger(processes, poll_interval=0.1, max_poll_interval=0.3, max_concurrency=2)
    events = [e async for e in trigger.run()]
    assert len(events) == 1
    event = events[0].payload
    assert event["status"] == "success"
    outcome = [(p["batch"], p["status"]) for p in event["processes"]]
    assert outcome == [(0, "lost"), (1, "lost"), (2, "lost"), (3, "done"), (4, "done"), (5, "lost")]
    assert "410" in event["processes"][0]["message"]
    assert "Process not found" in event["processes"][5]["message"]
    assert event["processes"][3]["progress"] == {"done": 30, "total": 30}
    # the finished ones were not polled again, the lost ones once
    polled = [r["query"].get("subunique") for r in sandbox.requests("GET", "/process")]
    for p in event["processes"]:
        if p["status"] == "lost":
            assert polled.count(p["subunique"]) == 1
    assert polled.count(fresh[0].subunique) >= 2  # 30 records at 20/s: seen in progress first


async def test_trigger_reports_warning_and_error_batches(sandbox):
    sandbox.reject_records("costcenter", "12", "13", message="bloqueado")
    sandbox.reject_records("costcenter", *[str(i) for i in range(31, 36)], message="inativo")
    hook = PontoWebHook()
    try:
        tickets = [
            hook.push("costcenter", centers(10, start=1)),
            hook.push("costcenter", centers(20, start=11)),
            hook.push("costcenter", centers(5, start=31)),
        ]
    finally:
        hook.close()
    processes = [{"unique": None, "subunique": t.subunique, "batch": i} for i, t in enumerate(tickets)]
    trigger = PontoWebProcessTrigger(processes, poll_interval=0.1, max_poll_interval=0.3)
    events = [e async for e in trigger.run()]
    assert len(events) == 1
    event = events[0].payload
    assert event["status"] == "success"
    done, warning, error = event["processes"]
    assert (done["status"], done["errors"]) == ("done", [])
    assert warning["status"] == "warning"
    assert warning["errors"] == [
        {"identifier": "12", "message": "bloqueado"},
        {"identifier": "13", "message": "bloqueado"},
    ]
    assert error["status"] == "error"
    assert [e["identifier"] for e in error["errors"]] == ["31", "32", "33", "34", "35"]
    assert {p["progress"]["total"] for p in event["processes"]} == {10, 20, 5}

"""PontoWebReckonSensor: poke, reschedule and deferrable, with `responses` standing in for the API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import responses
from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseHook,
    PokeReturnValue,
    TaskDeferred,
)

from airflow_provider_ahgora.exceptions import AhgoraAuthError, AhgoraConfigError, AhgoraError
from airflow_provider_ahgora.sensors.reckon import DEFERRAL_TIMEOUT_MARGIN, PontoWebReckonSensor
from airflow_provider_ahgora.triggers.reckon import PontoWebReckonTrigger
from tests.conftest import PONTOWEB_BASE
from tests.unit.conftest import EMPTY_PACKAGES, PARSE_TIME_MODULES

try:
    from airflow.sdk.exceptions import AirflowRescheduleException
except ImportError:  # Airflow 2
    from airflow.exceptions import AirflowRescheduleException  # type: ignore[no-redef]

PROCESS = "proc-123"
STATUS_URL = f"{PONTOWEB_BASE}/reckons/process/status/{PROCESS}"
REPO = Path(__file__).resolve().parents[3]


def status_body(status: str = "processing", done: Any = 0, total: Any = 10) -> dict[str, Any]:
    return {
        "status": status,
        "unique": "uniq-9",
        "process": PROCESS,
        "company": "a133595",
        "progress": {"done": done, "total": total},
    }


DONE_XCOM = {
    "process": PROCESS,
    "unique": "uniq-9",
    "company": "a133595",
    "status": "done",
    "progress": {"done": 10, "total": 10},
}


@pytest.fixture
def api(pontoweb_conn, async_wire_via_requests):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock_api:
        yield mock_api


def make_sensor(**kwargs: Any) -> PontoWebReckonSensor:
    args: dict[str, Any] = {
        "task_id": "wait_reckon",
        "process": PROCESS,
        "poke_interval": 45,
        "timeout": 3600,
    }
    args.update(kwargs)
    sensor = PontoWebReckonSensor(**args)
    sensor.hook.sleep = lambda seconds: None  # the hook's own retry backoff: do not really wait
    return sensor


# -- construction -----------------------------------------------------------------------------------


class TestConstruction:
    def test_templated_fields(self):
        assert "process" in PontoWebReckonSensor.template_fields
        assert "pontoweb_conn_id" in PontoWebReckonSensor.template_fields

    def test_defaults(self):
        sensor = PontoWebReckonSensor(task_id="t", process=PROCESS, poke_interval=20)
        assert sensor.pontoweb_conn_id == "pontoweb_default"
        assert sensor.deferrable is False  # [operators] default_deferrable is False here
        assert sensor.poll_interval == 20.0  # the poke interval
        assert sensor.max_poll_interval == 300.0
        assert sensor.mode == "poke"

    def test_poll_interval_and_max(self):
        sensor = PontoWebReckonSensor(task_id="t", process=PROCESS, poll_interval=5, max_poll_interval=50)
        assert (sensor.poll_interval, sensor.max_poll_interval) == (5.0, 50.0)
        big = PontoWebReckonSensor(task_id="t", process=PROCESS, poll_interval=900)
        assert big.max_poll_interval == 900.0

    def test_poke_interval_as_timedelta(self):
        sensor = PontoWebReckonSensor(task_id="t", process=PROCESS, poke_interval=timedelta(minutes=2))
        assert sensor.poll_interval == 120.0

    def test_deferrable_needs_a_positive_interval(self):
        with pytest.raises(AhgoraConfigError):
            PontoWebReckonSensor(task_id="t", process=PROCESS, poke_interval=0, deferrable=True)

    def test_reschedule_mode_accepted(self):
        assert PontoWebReckonSensor(task_id="t", process=PROCESS, mode="reschedule").reschedule

    def test_construction_looks_nothing_up(self, monkeypatch):
        def boom(*args, **kwargs):
            raise AssertionError("connection looked up at construction")

        monkeypatch.setattr(BaseHook, "get_connection", classmethod(boom))
        sensor = PontoWebReckonSensor(task_id="t", process=PROCESS, deferrable=True)
        assert "hook" not in sensor.__dict__

    def test_import_and_construction_are_cheap(self):
        code = textwrap.dedent(
            f"""
            import sys
            from airflow.providers.common.compat.sdk import BaseSensorOperator
            BaseSensorOperator(task_id="baseline")  # what any DAG file with a sensor costs anyway
            before = set(sys.modules)
            from airflow_provider_ahgora.sensors.reckon import PontoWebReckonSensor
            PontoWebReckonSensor(task_id="t", process="p", deferrable=True)
            new = set(sys.modules) - before
            light = {PARSE_TIME_MODULES!r}
            empty = {EMPTY_PACKAGES!r}
            heavy = sorted(
                m for m in new
                if (m.startswith("airflow_provider_ahgora.") and not m.startswith(light) and m not in empty)
                or m.split(".")[0] in {"requests", "tenacity", "pydantic"}
            )
            assert not heavy, heavy
            """
        )
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
        )
        assert proc.returncode == 0, proc.stderr[-2000:]


# -- poke -------------------------------------------------------------------------------------------


class TestPoke:
    def test_processing(self, api):
        api.get(STATUS_URL, json=status_body(done=3))
        assert make_sensor().poke({}) is False

    def test_an_unknown_status_fails_naming_it_never_still_running(self, api):
        api.get(STATUS_URL, json=status_body("queued"))
        with pytest.raises(AirflowFailException, match="'queued'"):
            make_sensor().poke({})

    def test_statuses_are_read_case_insensitively(self, api):
        api.get(STATUS_URL, json=status_body("DONE", "10", "10"))
        assert make_sensor().poke({}).xcom_value["status"] == "done"

    def test_done(self, api):
        api.get(STATUS_URL, json=status_body("done", "10", "10"))
        result = make_sensor().poke({})
        assert isinstance(result, PokeReturnValue)
        assert result.is_done
        assert result.xcom_value == DONE_XCOM
        json.dumps(result.xcom_value)

    def test_error_fails_fast(self, api):
        api.get(STATUS_URL, json=status_body("error", 4, 10))
        with pytest.raises(AirflowFailException, match=PROCESS) as info:
            make_sensor().poke({})
        assert "ended in error" in str(info.value)

    @pytest.mark.parametrize("status", [503, 429, 502])
    def test_transient_error_is_not_fatal(self, api, status):
        api.get(STATUS_URL, status=status, json={"error": "busy"})
        assert make_sensor().poke({}) is False
        assert len(api.calls) == 5  # the hook retried first (4 retries)

    def test_auth_error_raises(self, api):
        api.get(STATUS_URL, status=401, json={"error": {"code": 401, "message": "Unauthorized"}})
        with pytest.raises(AhgoraAuthError):
            make_sensor().poke({})

    def test_templated_process_is_used(self, api):
        api.get(f"{PONTOWEB_BASE}/reckons/process/status/other", json=status_body())
        assert make_sensor(process="other").poke({}) is False
        assert api.calls[0].request.url.endswith("/status/other")

    def test_empty_process_is_a_config_error(self, api):
        with pytest.raises(AhgoraConfigError, match="process is empty"):
            make_sensor(process="").poke({})

    def test_execute_in_poke_mode_returns_the_summary(self, api):
        api.get(STATUS_URL, json=status_body(done=3))
        api.get(STATUS_URL, status=503)
        api.get(STATUS_URL, json=status_body("done", 10, 10))
        sensor = make_sensor(poke_interval=0.01)
        sensor.hook.retry_limit = 0
        assert sensor.execute({}) == DONE_XCOM
        assert len(api.calls) == 3

    def test_execute_in_poke_mode_times_out(self, api):
        api.get(STATUS_URL, json=status_body(done=3))
        with pytest.raises(AirflowSensorTimeout):
            make_sensor(poke_interval=0.01, timeout=0.05).execute({})

    def test_execute_in_poke_mode_error_with_soft_fail_skips(self, api):
        api.get(STATUS_URL, json=status_body("error"))
        with pytest.raises(AirflowSkipException):
            make_sensor(soft_fail=True).execute({})

    def test_reschedule_mode(self, api, monkeypatch):
        sensor_module = sys.modules[type(make_sensor()).__mro__[1].__module__]
        if hasattr(sensor_module, "_orig_start_date"):  # Airflow 2 reads the first try's start from the DB
            monkeypatch.setattr(sensor_module, "_orig_start_date", lambda **kwargs: None)
        ti = mock.MagicMock(max_tries=0)
        ti.get_first_reschedule_date.return_value = None
        api.get(STATUS_URL, json=status_body(done=3))
        api.get(STATUS_URL, json=status_body("done", 10, 10))
        sensor = make_sensor(mode="reschedule")
        with pytest.raises(AirflowRescheduleException):
            sensor.execute({"ti": ti})
        assert sensor.execute({"ti": ti}) == DONE_XCOM


# -- deferrable -------------------------------------------------------------------------------------


class TestDeferrable:
    def test_defers_to_the_trigger(self, api):
        api.get(STATUS_URL, json=status_body(done=3))
        sensor = make_sensor(deferrable=True, pontoweb_conn_id="pontoweb_default", max_poll_interval=600)
        before = time.time()
        with pytest.raises(TaskDeferred) as info:
            sensor.execute({})
        after = time.time()
        deferred = info.value
        assert deferred.method_name == "execute_complete"
        trigger = deferred.trigger
        assert isinstance(trigger, PontoWebReckonTrigger)
        assert trigger.process == PROCESS
        assert trigger.pontoweb_conn_id == "pontoweb_default"
        assert trigger.poll_interval == 45.0
        assert trigger.max_poll_interval == 600.0
        assert trigger.end_time is not None
        assert before + 3600 <= trigger.end_time <= after + 3600
        # Airflow's own deferral timeout is only a backstop, after the trigger's deadline
        assert deferred.timeout == timedelta(seconds=3600 + DEFERRAL_TIMEOUT_MARGIN)
        assert len(api.calls) == 1  # checked once right away

    def test_already_done_does_not_defer(self, api):
        api.get(STATUS_URL, json=status_body("done", 10, 10))
        assert make_sensor(deferrable=True).execute({}) == DONE_XCOM

    def test_already_in_error_fails_fast(self, api):
        api.get(STATUS_URL, json=status_body("error"))
        with pytest.raises(AirflowFailException, match=PROCESS):
            make_sensor(deferrable=True).execute({})

    def test_already_in_error_with_soft_fail_skips(self, api):
        api.get(STATUS_URL, json=status_body("error"))
        with pytest.raises(AirflowSkipException):
            make_sensor(deferrable=True, soft_fail=True).execute({})

    def test_transient_error_at_first_check_still_defers(self, api):
        api.get(STATUS_URL, status=503)
        with pytest.raises(TaskDeferred):
            make_sensor(deferrable=True).execute({})

    def test_auth_error_at_first_check_raises(self, api):
        api.get(STATUS_URL, status=401, json={"error": "Unauthorized"})
        with pytest.raises(AhgoraAuthError):
            make_sensor(deferrable=True).execute({})

    def test_deferred_trigger_round_trips(self, api):
        api.get(STATUS_URL, json=status_body())
        with pytest.raises(TaskDeferred) as info:
            make_sensor(deferrable=True).execute({})
        trigger = info.value.trigger
        _, kwargs = trigger.serialize()
        json.dumps(kwargs)
        assert PontoWebReckonTrigger(**kwargs) == trigger


class TestExecuteComplete:
    def event(self, status: str, **extra: Any) -> dict[str, Any]:
        base = {
            "status": status,
            "process": PROCESS,
            "unique": "uniq-9",
            "company": "a133595",
            "reckon_status": "done" if status == "success" else "processing",
            "progress": {"done": 10, "total": 10},
            "message": f"message for {status}",
        }
        base.update(extra)
        return base

    def test_success_returns_the_summary(self):
        assert make_sensor().execute_complete({}, self.event("success")) == DONE_XCOM

    def test_error_fails_fast(self):
        event = self.event(
            "error", reckon_status="error", message=f"PontoWeb reckon {PROCESS} ended in error"
        )
        with pytest.raises(AirflowFailException, match=PROCESS):
            make_sensor().execute_complete({}, event)

    def test_timeout(self):
        with pytest.raises(AirflowSensorTimeout, match="message for timeout"):
            make_sensor().execute_complete({}, self.event("timeout"))

    def test_failed(self):
        event = {
            "status": "failed",
            "process": PROCESS,
            "message": "HTTP 401",
            "error_type": "AhgoraAuthError",
        }
        with pytest.raises(AhgoraError, match="AhgoraAuthError") as info:
            make_sensor().execute_complete({}, event)
        assert not isinstance(info.value, AirflowFailException)  # the task's retries apply
        assert PROCESS in str(info.value)

    @pytest.mark.parametrize("event", [None, {}, {"status": "weird"}])
    def test_missing_or_unknown_event(self, event):
        with pytest.raises(AhgoraError):
            make_sensor().execute_complete({}, event)

    async def test_trigger_event_drives_execute_complete(self, api, monkeypatch):
        """The real trigger's events, fed to execute_complete: the deferred path end to end."""
        import asyncio

        async def no_sleep(seconds: float, result: Any = None) -> Any:
            return result

        monkeypatch.setattr(asyncio, "sleep", no_sleep)
        api.get(STATUS_URL, json=status_body(done=3))
        api.get(STATUS_URL, json=status_body("done", 10, 10))
        events = [e async for e in PontoWebReckonTrigger(PROCESS).run()]
        assert make_sensor().execute_complete({}, events[0].payload) == DONE_XCOM


# -- a real Airflow run -------------------------------------------------------------------------------

DAG_FILE = r"""
import pendulum

from airflow_provider_ahgora.sensors.reckon import PontoWebReckonSensor

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

with DAG(
    "ahgora_reckon_sensor_test",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    params={"process": "proc-42"},
) as dag:
    PontoWebReckonSensor(
        task_id="wait",
        process="{{ params.process }}",
        mode="poke",
        poke_interval=0.1,
        timeout=60,
        deferrable=False,
    )
"""

DAG_TEST_SCRIPT = r"""
import importlib.util, json, os, sys
import responses
from airflow.utils import db

db.initdb()  # a fresh sqlite metadata DB, in this process: one Airflow start-up instead of two

base = "https://pontoweb.test"
os.environ["AIRFLOW_CONN_PONTOWEB_DEFAULT"] = json.dumps(
    {"conn_type": "pontoweb", "host": base, "login": "svc", "password": "pw-secret"}
)
spec = importlib.util.spec_from_file_location("ahgora_reckon_sensor_dag", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)

url = base + "/reckons/process/status/proc-42"
body = {"unique": "uniq-42", "process": "proc-42", "company": "c1"}
with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
    api.get(url, json={**body, "status": "processing", "progress": {"done": 1, "total": 4}})
    api.get(url, status=503, json={"error": "busy"})
    api.get(url, json={**body, "status": "done", "progress": {"done": 4, "total": 4}})
    run = module.dag.test()
    calls = len(api.calls)
ti = next(t for t in run.get_task_instances() if t.task_id == "wait")
xcom = ti.xcom_pull(task_ids="wait")
result = {"state": str(run.state), "ti_state": str(ti.state), "calls": calls, "xcom": xcom}
print("RESULT " + json.dumps(result))
"""


def test_dag_test_runs_the_sensor(tmp_path):
    """A tiny DAG with the sensor in poke mode, run by ``dag.test()`` on a fresh sqlite metadata DB."""
    dags = tmp_path / "dags"
    dags.mkdir()
    dag_file = dags / "ahgora_reckon_sensor_dag.py"
    dag_file.write_text(DAG_FILE, encoding="utf-8")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/airflow.db",
        "PYTHONPATH": str(REPO),
    }
    env.pop("AIRFLOW_CONN_PONTOWEB_DEFAULT", None)
    proc = subprocess.run(
        [sys.executable, "-c", DAG_TEST_SCRIPT, str(dag_file)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    output = proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, output
    assert lines, output
    result = json.loads(lines[-1][len("RESULT ") :])
    assert result["state"].endswith("success"), result
    assert result["ti_state"].endswith("success"), result
    assert result["calls"] >= 3
    assert result["xcom"] == {
        "process": "proc-42",
        "unique": "uniq-42",
        "company": "c1",
        "status": "done",
        "progress": {"done": 4, "total": 4},
    }
    assert "pw-secret" not in proc.stdout + proc.stderr

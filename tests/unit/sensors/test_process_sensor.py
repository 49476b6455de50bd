"""PontoWebProcessSensor: poke, reschedule and deferrable, with `responses` standing in for the
process monitor."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
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
from airflow_provider_ahgora.sensors.process import PontoWebProcessSensor
from airflow_provider_ahgora.sensors.reckon import DEFERRAL_TIMEOUT_MARGIN
from airflow_provider_ahgora.triggers.process import PontoWebProcessTrigger
from tests.conftest import PONTOWEB_BASE
from tests.unit.conftest import EMPTY_PACKAGES, PARSE_TIME_MODULES

try:
    from airflow.sdk.exceptions import AirflowRescheduleException
except ImportError:  # Airflow 2
    from airflow.exceptions import AirflowRescheduleException  # type: ignore[no-redef]

SUB = "99999999"
MONITOR_URL = f"{PONTOWEB_BASE}/process"
ERRORS = [("000123", "PIS inválido"), ("000456", "Data de admissão inválida")]


def state(status: str = "done", done: Any = "3", total: Any = "3", errors=()) -> dict[str, Any]:
    return {
        "company": "a000101",
        "unique": "bd751350",
        "subunique": SUB,
        "status": status,
        "progress": {"done": done, "total": total},
        "data": {"errors": [{"identifier": i, "message": m} for i, m in errors]},
    }


def xcom(status: str = "done", done: int = 3, total: int = 3, errors=(), unique=None, subunique=SUB):
    return {
        "unique": unique,
        "subunique": subunique,
        "status": status,
        "progress": {"done": done, "total": total},
        "errors": [{"identifier": i, "message": m} for i, m in errors],
    }


@pytest.fixture
def api(pontoweb_conn, async_wire_via_requests):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock_api:
        yield mock_api


def make_sensor(**kwargs: Any) -> PontoWebProcessSensor:
    args: dict[str, Any] = {"task_id": "wait_push", "subunique": SUB, "poke_interval": 20, "timeout": 3600}
    args.update(kwargs)
    sensor = PontoWebProcessSensor(**args)
    sensor.hook.sleep = lambda seconds: None  # the hook's own retry backoff: do not really wait
    return sensor


# -- construction -----------------------------------------------------------------------------------


class TestConstruction:
    def test_templated_fields(self):
        assert set(PontoWebProcessSensor.template_fields) == {"unique", "subunique", "pontoweb_conn_id"}

    def test_defaults(self):
        sensor = PontoWebProcessSensor(task_id="t", subunique=SUB, poke_interval=20)
        assert sensor.pontoweb_conn_id == "pontoweb_default"
        assert sensor.deferrable is False  # [operators] default_deferrable is False here
        assert sensor.poll_interval == 20.0
        assert sensor.max_poll_interval == 120.0
        assert sensor.fail_on == "error"
        assert sensor.unique is None
        assert sensor.mode == "poke"

    def test_poll_interval_and_max(self):
        sensor = PontoWebProcessSensor(task_id="t", subunique=SUB, poll_interval=5, max_poll_interval=50)
        assert (sensor.poll_interval, sensor.max_poll_interval) == (5.0, 50.0)
        assert PontoWebProcessSensor(task_id="t", subunique=SUB, poll_interval=300).max_poll_interval == 300.0

    def test_poke_interval_as_timedelta(self):
        sensor = PontoWebProcessSensor(task_id="t", unique="u", poke_interval=timedelta(seconds=30))
        assert sensor.poll_interval == 30.0

    @pytest.mark.parametrize(
        ("unique", "subunique", "match"),
        [("u", SUB, "not both"), (None, None, "give the push's subunique"), ("", "None", "give the push's")],
    )
    def test_literal_ids_checked_at_construction(self, unique, subunique, match):
        with pytest.raises(AhgoraConfigError, match=match):
            PontoWebProcessSensor(task_id="t", unique=unique, subunique=subunique)

    @pytest.mark.parametrize(
        ("unique", "subunique"),
        [
            ("{{ params.unique }}", SUB),
            (None, "{{ ti.xcom_pull('push')['subunique'] }}"),
            ("{{ params.u }}", "{% if true %}1{% endif %}"),
        ],
    )
    def test_templated_ids_checked_at_run_time(self, unique, subunique):
        PontoWebProcessSensor(task_id="t", unique=unique, subunique=subunique)

    def test_fail_on_is_checked(self):
        with pytest.raises(AhgoraConfigError, match="fail_on"):
            PontoWebProcessSensor(task_id="t", subunique=SUB, fail_on="always")

    def test_deferrable_needs_a_positive_interval(self):
        with pytest.raises(AhgoraConfigError):
            PontoWebProcessSensor(task_id="t", subunique=SUB, poke_interval=0, deferrable=True)

    def test_reschedule_mode_accepted(self):
        assert PontoWebProcessSensor(task_id="t", subunique=SUB, mode="reschedule").reschedule

    def test_construction_looks_nothing_up(self, monkeypatch):
        def boom(*args, **kwargs):
            raise AssertionError("connection looked up at construction")

        monkeypatch.setattr(BaseHook, "get_connection", classmethod(boom))
        sensor = PontoWebProcessSensor(task_id="t", subunique=SUB, deferrable=True)
        assert "hook" not in sensor.__dict__

    def test_import_and_construction_are_cheap(self):
        code = textwrap.dedent(
            f"""
            import sys
            from airflow.providers.common.compat.sdk import BaseSensorOperator
            BaseSensorOperator(task_id="baseline")  # what any DAG file with a sensor costs anyway
            before = set(sys.modules)
            from airflow_provider_ahgora.sensors.process import PontoWebProcessSensor
            PontoWebProcessSensor(task_id="t", subunique="1", deferrable=True)
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
    def test_not_finished(self, api):
        api.get(MONITOR_URL, json=state("done", "1", "3"))
        assert make_sensor().poke({}) is False
        assert api.calls[0].request.params == {"subunique": SUB}
        assert api.calls[0].request.headers["Accept-Version"] == "v2"

    def test_total_zero_is_not_finished(self, api):
        api.get(MONITOR_URL, json=state("done", "0", "0"))
        assert make_sensor().poke({}) is False

    def test_done(self, api):
        api.get(MONITOR_URL, json=state("done", "3", "3"))
        result = make_sensor().poke({})
        assert isinstance(result, PokeReturnValue)
        assert result.is_done
        assert result.xcom_value == xcom()
        json.dumps(result.xcom_value)

    def test_by_unique(self, api):
        api.get(MONITOR_URL, json=state("done", 2, 2))
        result = make_sensor(subunique=None, unique="bd751350").poke({})
        assert result.xcom_value == xcom(done=2, total=2, unique="bd751350", subunique=None)
        assert api.calls[0].request.params == {"unique": "bd751350"}

    @pytest.mark.parametrize(
        ("status", "fail_on", "fails"),
        [
            ("done", "error", False),
            ("done", "warning", False),
            ("done", "never", False),
            ("warning", "error", False),
            ("warning", "warning", True),
            ("warning", "never", False),
            ("error", "error", True),
            ("error", "warning", True),
            ("error", "never", False),
            ("ERROR", "error", True),
            ("Warning", "warning", True),
        ],
    )
    def test_outcome_by_status_and_fail_on(self, api, status, fail_on, fails):
        errors = [] if status == "done" else ERRORS
        api.get(MONITOR_URL, json=state(status, "3", "3", errors))
        sensor = make_sensor(fail_on=fail_on)
        if fails:
            with pytest.raises(AirflowFailException) as info:
                sensor.poke({})
            message = str(info.value)
            assert f"status '{status.lower()}'" in message
            assert "2 of 3 record(s) failed" in message
            assert "000123: PIS inválido; 000456: Data de admissão inválida" in message
            assert SUB in message
        else:
            result = sensor.poke({})
            assert result.xcom_value == xcom(status, errors=errors)

    @pytest.mark.parametrize("fail_on", ["error", "warning", "never"])
    def test_an_unknown_status_fails_naming_it_whatever_fail_on(self, api, fail_on):
        """Never success: an outcome the documents do not name is an error that names it."""
        api.get(MONITOR_URL, json=state("partial", "3", "3", ERRORS))
        with pytest.raises(AirflowFailException, match="'partial'"):
            make_sensor(fail_on=fail_on).poke({})

    def test_failure_message_names_the_first_few_errors(self, api):
        errors = [(f"{i:06d}", f"bad {i}") for i in range(12)]
        api.get(MONITOR_URL, json=state("error", "12", "12", errors))
        with pytest.raises(AirflowFailException) as info:
            make_sensor().poke({})
        message = str(info.value)
        assert "000004: bad 4" in message
        assert "000005" not in message
        assert "and 7 more" in message

    def test_errors_are_logged(self, api, caplog, capsys):
        api.get(MONITOR_URL, json=state("warning", "3", "3", ERRORS))
        with caplog.at_level("INFO"):
            make_sensor().poke({})
        logged = caplog.text + capsys.readouterr().out  # logging on Airflow 2, structlog on 3
        assert "000123: PIS inválido" in logged
        assert "000456: Data de admissão inválida" in logged

    @pytest.mark.parametrize("status", [503, 429, 502])
    def test_transient_error_is_not_fatal(self, api, status):
        api.get(MONITOR_URL, status=status, json={"error": "busy"})
        assert make_sensor().poke({}) is False
        assert len(api.calls) == 5  # the hook retried first (4 retries)

    @pytest.mark.parametrize(
        ("status", "body"), [(400, {"error": "Process not found"}), (410, {"error": "Gone"})]
    )
    def test_unknown_or_expired_fails_naming_the_15_minutes(self, api, status, body):
        api.get(MONITOR_URL, status=status, json=body)
        with pytest.raises(AirflowFailException) as info:
            make_sensor().poke({})
        message = str(info.value)
        assert "15 minutes after it finished" in message
        assert SUB in message
        assert body["error"] in message

    def test_auth_error_raises(self, api):
        api.get(MONITOR_URL, status=401, json={"error": {"code": 401, "message": "Unauthorized"}})
        with pytest.raises(AhgoraAuthError):
            make_sensor().poke({})

    @pytest.mark.parametrize(
        ("unique", "subunique", "match"),
        [("u", "1", "not both"), ("", "", "give the push's"), ("None", " ", "give the push's")],
    )
    def test_ids_checked_after_rendering(self, api, unique, subunique, match):
        sensor = make_sensor(unique="{{ params.u }}", subunique="{{ params.s }}")
        sensor.unique, sensor.subunique = unique, subunique  # as rendered
        with pytest.raises(AhgoraConfigError, match=match):
            sensor.poke({})
        assert not api.calls

    def test_rendered_none_counts_as_absent(self, api):
        api.get(MONITOR_URL, json=state())
        sensor = make_sensor(unique="{{ params.u }}", subunique="{{ params.s }}")
        sensor.unique, sensor.subunique = "None", f" {SUB} "
        assert sensor.poke({}).xcom_value == xcom()

    def test_templates_render(self, api):
        api.get(MONITOR_URL, json=state())
        sensor = make_sensor(subunique="{{ params.sub }}", unique="{{ params.none }}")
        sensor.render_template_fields({"params": {"sub": SUB, "none": None}})
        assert (sensor.unique, sensor.subunique) == ("None", SUB)
        assert sensor.poke({}).xcom_value == xcom()

    def test_execute_in_poke_mode_returns_the_summary(self, api):
        api.get(MONITOR_URL, json=state("done", "1", "3"))
        api.get(MONITOR_URL, status=503)
        api.get(MONITOR_URL, json=state("warning", "3", "3", ERRORS[:1]))
        sensor = make_sensor(poke_interval=0.01)
        sensor.hook.retry_limit = 0
        assert sensor.execute({}) == xcom("warning", errors=ERRORS[:1])
        assert len(api.calls) == 3

    def test_execute_in_poke_mode_times_out(self, api):
        api.get(MONITOR_URL, json=state("done", "1", "3"))
        with pytest.raises(AirflowSensorTimeout):
            make_sensor(poke_interval=0.01, timeout=0.05).execute({})

    def test_execute_in_poke_mode_error_with_soft_fail_skips(self, api):
        api.get(MONITOR_URL, json=state("error", "3", "3", ERRORS))
        with pytest.raises(AirflowSkipException):
            make_sensor(soft_fail=True).execute({})

    def test_reschedule_mode(self, api, monkeypatch):
        sensor_module = sys.modules[type(make_sensor()).__mro__[1].__module__]
        if hasattr(sensor_module, "_orig_start_date"):  # Airflow 2 reads the first try's start from the DB
            monkeypatch.setattr(sensor_module, "_orig_start_date", lambda **kwargs: None)
        ti = mock.MagicMock(max_tries=0)
        ti.get_first_reschedule_date.return_value = None
        api.get(MONITOR_URL, json=state("done", "1", "3"))
        api.get(MONITOR_URL, json=state())
        sensor = make_sensor(mode="reschedule")
        with pytest.raises(AirflowRescheduleException):
            sensor.execute({"ti": ti})
        assert sensor.execute({"ti": ti}) == xcom()


# -- deferrable -------------------------------------------------------------------------------------


class TestDeferrable:
    def test_defers_to_the_trigger(self, api):
        api.get(MONITOR_URL, json=state("done", "1", "3"))
        sensor = make_sensor(deferrable=True, pontoweb_conn_id="pontoweb_default", max_poll_interval=90)
        before = time.time()
        with pytest.raises(TaskDeferred) as info:
            sensor.execute({})
        after = time.time()
        deferred = info.value
        assert deferred.method_name == "execute_complete"
        trigger = deferred.trigger
        assert isinstance(trigger, PontoWebProcessTrigger)
        assert trigger.processes == [{"unique": None, "subunique": SUB}]
        assert trigger.pontoweb_conn_id == "pontoweb_default"
        assert trigger.poll_interval == 20.0
        assert trigger.max_poll_interval == 90.0
        assert trigger.end_time is not None
        assert before + 3600 <= trigger.end_time <= after + 3600
        assert deferred.timeout == timedelta(seconds=3600 + DEFERRAL_TIMEOUT_MARGIN)
        assert len(api.calls) == 1  # checked once right away

    def test_already_finished_does_not_defer(self, api):
        api.get(MONITOR_URL, json=state())
        assert make_sensor(deferrable=True).execute({}) == xcom()

    def test_already_in_error_fails_fast(self, api):
        api.get(MONITOR_URL, json=state("error", "3", "3", ERRORS))
        with pytest.raises(AirflowFailException, match=SUB):
            make_sensor(deferrable=True).execute({})

    def test_already_in_error_with_soft_fail_skips(self, api):
        api.get(MONITOR_URL, json=state("error", "3", "3", ERRORS))
        with pytest.raises(AirflowSkipException):
            make_sensor(deferrable=True, soft_fail=True).execute({})

    def test_expired_at_first_check_fails(self, api):
        api.get(MONITOR_URL, status=410, json={"error": "Gone"})
        with pytest.raises(AirflowFailException, match="15 minutes"):
            make_sensor(deferrable=True).execute({})

    def test_transient_error_at_first_check_still_defers(self, api):
        api.get(MONITOR_URL, status=503)
        with pytest.raises(TaskDeferred):
            make_sensor(deferrable=True).execute({})

    def test_auth_error_at_first_check_raises(self, api):
        api.get(MONITOR_URL, status=401, json={"error": "Unauthorized"})
        with pytest.raises(AhgoraAuthError):
            make_sensor(deferrable=True).execute({})

    def test_bad_ids_fail_before_any_call(self, api):
        sensor = make_sensor(deferrable=True, subunique="{{ params.s }}")
        sensor.subunique = ""
        with pytest.raises(AhgoraConfigError):
            sensor.execute({})
        assert not api.calls

    def test_deferred_trigger_round_trips(self, api):
        api.get(MONITOR_URL, json=state("done", "0", "3"))
        with pytest.raises(TaskDeferred) as info:
            make_sensor(deferrable=True, unique="u1", subunique=None).execute({})
        trigger = info.value.trigger
        _, kwargs = trigger.serialize()
        json.dumps(kwargs)
        assert kwargs["processes"] == [{"unique": "u1", "subunique": None}]
        assert PontoWebProcessTrigger(**kwargs) == trigger


class TestExecuteComplete:
    def event(
        self, outcome: str = "success", status: str = "done", errors=(), **extra: Any
    ) -> dict[str, Any]:
        return {
            "status": outcome,
            "processes": [
                {
                    "unique": None,
                    "subunique": SUB,
                    "status": status,
                    "progress": {"done": 3, "total": 3},
                    "errors": [{"identifier": i, "message": m} for i, m in errors],
                    "message": extra.pop("item_message", None),
                }
            ],
            "message": f"message for {outcome}",
            **extra,
        }

    def test_success_returns_the_summary(self):
        assert make_sensor().execute_complete({}, self.event()) == xcom()

    @pytest.mark.parametrize(
        ("status", "fail_on", "fails"),
        [
            ("warning", "error", False),
            ("warning", "warning", True),
            ("error", "error", True),
            ("error", "never", False),
        ],
    )
    def test_outcome_by_fail_on(self, status, fail_on, fails):
        event = self.event(status=status, errors=ERRORS)
        sensor = make_sensor(fail_on=fail_on)
        if fails:
            with pytest.raises(AirflowFailException, match="000123: PIS inválido"):
                sensor.execute_complete({}, event)
        else:
            assert sensor.execute_complete({}, event) == xcom(status, errors=ERRORS)

    def test_lost(self):
        event = self.event(status="lost", item_message="PontoWeb HTTP 410 on GET /process: Gone.")
        with pytest.raises(AirflowFailException) as info:
            make_sensor().execute_complete({}, event)
        assert "15 minutes after it finished" in str(info.value)
        assert "Gone" in str(info.value)

    def test_timeout(self):
        with pytest.raises(AirflowSensorTimeout, match="message for timeout"):
            make_sensor().execute_complete({}, self.event("timeout", status="pending"))

    def test_failed(self):
        event = {"status": "failed", "message": "HTTP 401", "error_type": "AhgoraAuthError"}
        with pytest.raises(AhgoraError, match="AhgoraAuthError") as info:
            make_sensor().execute_complete({}, event)
        assert not isinstance(info.value, AirflowFailException)  # the task's retries apply
        assert SUB in str(info.value)

    @pytest.mark.parametrize("event", [None, {}, {"status": "weird"}, {"status": "success", "processes": []}])
    def test_missing_or_unknown_event(self, event):
        with pytest.raises(AhgoraError):
            make_sensor().execute_complete({}, event)

    async def test_trigger_event_drives_execute_complete(self, api, monkeypatch):
        """The real trigger's event, fed to execute_complete: the deferred path end to end."""
        import asyncio

        async def no_sleep(seconds: float, result: Any = None) -> Any:
            return result

        monkeypatch.setattr(asyncio, "sleep", no_sleep)
        api.get(MONITOR_URL, json=state("warning", "1", "3", ERRORS[:1]))
        api.get(MONITOR_URL, json=state("warning", "3", "3", ERRORS))
        trigger = PontoWebProcessTrigger([{"unique": None, "subunique": SUB}])
        events = [e async for e in trigger.run()]
        sensor = make_sensor()
        assert sensor.execute_complete({}, events[0].payload) == xcom("warning", errors=ERRORS)
        with pytest.raises(AirflowFailException):
            make_sensor(fail_on="warning").execute_complete({}, events[0].payload)

"""PontoWebReckonOperator and PontoWebReconsumeOperator, with `responses` standing in for PontoWeb.

The context is a small fake: a task instance that records its XComs and, for the Airflow 3.3 path,
a dict-backed ``task_state_store``; the Variable fallback is exercised with a fake Variable class.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest
import requests
import responses
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, TaskDeferred

from airflow_provider_ahgora.exceptions import (
    AhgoraAuthError,
    AhgoraConfigError,
    AhgoraConnectionError,
    AhgoraDailyLimitError,
    AhgoraExpiredError,
    AhgoraValidationError,
    AhgoraWrongEndpointError,
)
from airflow_provider_ahgora.operators import _state
from airflow_provider_ahgora.operators import reckon as reckon_mod
from airflow_provider_ahgora.operators.reckon import (
    STATE_KEY,
    PontoWebReckonOperator,
    PontoWebReconsumeOperator,
    fail_fast_retry_policy,
)
from tests.conftest import PONTOWEB_BASE
from tests.unit.operators import conftest as shared
from tests.unit.operators.conftest import FakeStateStore, FakeVariable

START_URL = f"{PONTOWEB_BASE}/reckons/process/start"
STATUS_URL = f"{PONTOWEB_BASE}/reckons/process/status"
PROCESS = "3234ca5d-1111-4222-8333-444455556666"
UNIQUE = "3234ca5d"
OLD = "0badf00d-1111-4222-8333-444455556666"

DAILY_LIMIT = "The daily limit of 3 has been exceeded for the following features: daily.punches, monthly."


# --------------------------------------------------------------------------------------------------
# Fakes
# --------------------------------------------------------------------------------------------------


class FakeTI(shared.FakeTI):
    def __init__(self, map_index: int = -1, try_number: int = 1, **kwargs: Any) -> None:
        kwargs.setdefault("task_id", "reckon")
        super().__init__(map_index, try_number, **kwargs)


def make_context(store: FakeStateStore | None = None, ti: FakeTI | None = None) -> Any:
    return shared.make_context(store, ti or FakeTI())


def _fingerprint_of(op: PontoWebReckonOperator) -> str:
    return reckon_mod._fingerprint(op.build_request().to_wire())


def make_op(**kwargs: Any) -> PontoWebReckonOperator:
    options: dict[str, Any] = {"task_id": "reckon", "month": "01", "year": "2026", "poll_interval": 10.0}
    options.update(kwargs)
    return PontoWebReckonOperator(**options)


def status_body(status: str, done: int, total: int = 4, unique: str = UNIQUE, process: str = PROCESS) -> dict:
    return {
        "status": status,
        "unique": unique,
        "process": process,
        "company": "a000101",
        "progress": {"done": done, "total": total},
    }


def add_start(process: str = PROCESS) -> None:
    responses.post(START_URL, json={"process": process, "company": "a000101", "created_at": "x"})


def add_statuses(*bodies: dict, process: str = PROCESS) -> None:
    for body in bodies:
        responses.get(f"{STATUS_URL}/{process}", json=body)


def start_calls() -> list[Any]:
    return [c for c in responses.calls if c.request.url == START_URL]


def stored_for(op: PontoWebReckonOperator, process: str) -> dict[str, Any]:
    """What an earlier try of ``op`` would have stored after starting ``process``."""
    fingerprint = reckon_mod._fingerprint(op.build_request().to_wire())
    return {STATE_KEY: {"process": process, "company": "a000101", "request": fingerprint}}


# --------------------------------------------------------------------------------------------------
# Construction and templating
# --------------------------------------------------------------------------------------------------


class TestConstruction:
    def test_every_body_parameter_is_templated(self):
        expected = {
            "month",
            "year",
            "registers",
            "rescission",
            "payment_date",
            "infotype",
            "allow_empty",
            "locations",
            "features",
            "include_empty_code",
        }
        assert expected <= set(PontoWebReckonOperator.template_fields)

    def test_defaults(self):
        op = make_op()
        assert op.pontoweb_conn_id == "pontoweb_default"
        assert op.wait_for_completion is True
        assert op.poll_interval == 10.0
        assert op.timeout is None
        default = inspect.signature(PontoWebReckonOperator.__init__).parameters["deferrable"].default
        assert default is False  # [operators] default_deferrable is not set in the tests

    def test_construction_makes_no_call(self, monkeypatch):
        from airflow.providers.common.compat.sdk import BaseHook

        def boom(*_a, **_k):
            raise AssertionError("connection looked up at construction")

        monkeypatch.setattr(BaseHook, "get_connection", classmethod(boom))
        with responses.RequestsMock():  # any HTTP call would fail the test
            make_op(month="13")  # validated in execute, not here

    @pytest.mark.parametrize(("name", "value"), [("poll_interval", 0), ("timeout", -1)])
    def test_bad_intervals_refused(self, name, value):
        with pytest.raises(AhgoraConfigError, match=name):
            make_op(**{name: value})

    def test_retry_policy_on_3_3_plus(self):
        from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_3_PLUS

        op = make_op()
        if not AIRFLOW_V_3_3_PLUS:
            assert fail_fast_retry_policy() is None
            assert getattr(op, "retry_policy", None) is None
            return
        from airflow.providers.common.compat.sdk import RetryAction

        policy = op.retry_policy
        daily = AhgoraDailyLimitError(DAILY_LIMIT, http_status=429)
        assert policy.evaluate(daily, 1, 3).action is RetryAction.FAIL
        assert policy.evaluate(AhgoraExpiredError("gone", http_status=410), 1, 3).action is RetryAction.FAIL
        assert policy.evaluate(AhgoraValidationError("x", []), 1, 3).action is RetryAction.FAIL
        transient = AhgoraConnectionError("reset")
        assert policy.evaluate(transient, 1, 3).action is RetryAction.DEFAULT

    def test_user_retry_policy_kept(self):
        from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_3_PLUS

        if not AIRFLOW_V_3_3_PLUS:
            pytest.skip("retry policies arrived in Airflow 3.3")
        from airflow.providers.common.compat.sdk import ExceptionRetryPolicy

        mine = ExceptionRetryPolicy(rules=[])
        assert make_op(retry_policy=mine).retry_policy is mine
        assert make_op(default_args={"retry_policy": mine}).retry_policy is mine


class TestTemplating:
    def test_render_then_body(self, hooks, clock):
        op = make_op(
            month="{{ params.month }}",
            year="{{ params.year }}",
            registers="{{ params.ids | tojson }}",
            rescission="{{ params.rescission }}",
            payment_date="{{ params.year }}-{{ params.month }}-05",
            infotype="{{ params.infotype }}",
            allow_empty="false",
            locations=["{{ params.loc }}"],
            features=["daily.{{ params.kind }}", "monthly"],
            include_empty_code="True",
            wait_for_completion=False,
        )
        context = make_context(FakeStateStore())
        context["params"] = {
            "month": "02",
            "year": "2026",
            "ids": ["000123", "000456"],
            "rescission": True,
            "infotype": "0016",
            "loc": "SP01",
            "kind": "punches",
        }
        op.render_template_fields(context)
        assert op.month == "02"
        assert op.registers == '["000123", "000456"]'
        with responses.RequestsMock() as rsps:
            rsps.post(START_URL, json={"process": PROCESS, "company": "a000101"})
            rsps.get(f"{STATUS_URL}/{PROCESS}", json=status_body("processing", 0))
            op.execute(context)
            sent = json.loads(rsps.calls[0].request.body)
        assert sent == {
            "month": "02",
            "year": "2026",
            "registers": ["000123", "000456"],
            "rescission": True,
            "paymentDate": "2026-02-05",
            "infotype": "0016",
            "allowEmpty": False,
            "locations": ["SP01"],
            "features": ["daily.punches", "monthly"],
            "includeEmptyCode": True,
        }

    def test_unset_documented_defaults_are_not_sent(self):
        body = make_op(month=3, year=2026).build_request().to_wire()
        assert body == {"rescission": False, "month": "03", "year": "2026"}

    def test_rendered_numbers(self):
        assert make_op(month="1", year="2026").build_request().month == "01"
        with pytest.raises(AirflowFailException, match="'month'"):
            make_op(month="13").build_request()
        with pytest.raises(AirflowFailException, match="'year'"):
            make_op(year="26").build_request()

    def test_python_list_rendering_accepted(self):
        op = make_op(registers="['1', '2']", rescission=True)
        assert op.build_request().registers == ["1", "2"]


# --------------------------------------------------------------------------------------------------
# Validation: fails at once, spends nothing
# --------------------------------------------------------------------------------------------------


class TestValidation:
    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"month": "13"}, "month"),
            ({"year": "26"}, "year"),
            ({"rescission": True}, "registers"),
            ({"features": ["weekly"]}, "features"),
            ({"payment_date": "2026-02-30"}, "payment_date"),
            ({"infotype": "15"}, "infotype"),
            ({"allow_empty": "maybe"}, "allow_empty"),
        ],
    )
    def test_invalid_field_fails_at_once_without_any_call(self, hooks, kwargs, field):
        op = make_op(**kwargs)
        store = FakeStateStore()
        with responses.RequestsMock() as rsps, pytest.raises(AirflowFailException) as info:
            op.execute(make_context(store))
        assert len(rsps.calls) == 0
        assert f"'{field}'" in str(info.value)
        assert "nothing was sent" in str(info.value)
        assert store.sets == []
        assert isinstance(info.value.__cause__, AhgoraValidationError)


# --------------------------------------------------------------------------------------------------
# Start and wait, synchronously
# --------------------------------------------------------------------------------------------------


class TestSyncWait:
    @responses.activate
    def test_happy_path(self, hooks, clock, logs):
        add_start()
        add_statuses(status_body("processing", 1), status_body("processing", 2), status_body("done", 4))
        store = FakeStateStore()
        ti = FakeTI()
        result = make_op().execute(make_context(store, ti))
        assert result == {
            "process": PROCESS,
            "unique": UNIQUE,
            "company": "a000101",
            "status": "done",
            "progress": {"done": 4, "total": 4},
        }
        # the process id went to XCom right after the start, before the first status call
        assert ti.xcoms["process"] == PROCESS
        assert ti.calls_at_push["process"] == 1
        # a "starting" mark before the start call, the process right after it, deleted on success
        assert [key for key, _ in store.sets] == [STATE_KEY, STATE_KEY]
        assert "starting" in store.sets[0][1]
        assert "process" not in store.sets[0][1]
        assert store.sets[1][1]["process"] == PROCESS
        assert store.deletes == [STATE_KEY]
        assert STATE_KEY not in store.data
        assert "2/4 (50%)" in logs()
        assert "4/4 (100%)" in logs()
        assert len(start_calls()) == 1

    @responses.activate
    def test_backoff_grows_without_progress_and_resets_on_progress(self, hooks, clock):
        add_start()
        add_statuses(
            status_body("processing", 1),
            status_body("processing", 1),
            status_body("processing", 1),
            status_body("processing", 1),
            status_body("processing", 2),
            status_body("processing", 2),
            status_body("done", 4),
        )
        make_op(poll_interval=10, max_poll_interval=20).execute(make_context(FakeStateStore()))
        assert clock.calls == [10, 15, 20, 20, 10, 15]

    @responses.activate
    def test_transient_status_failures_are_not_fatal(self, hooks, clock, logs):
        add_start()
        responses.get(f"{STATUS_URL}/{PROCESS}", status=503, json={"error": "busy"})
        responses.get(f"{STATUS_URL}/{PROCESS}", status=503, json={"error": "busy"})
        responses.get(f"{STATUS_URL}/{PROCESS}", status=503, json={"error": "busy"})
        add_statuses(status_body("done", 4))
        result = make_op().execute(make_context(FakeStateStore()))
        assert result["status"] == "done"
        assert "polling again" in logs()

    @responses.activate
    def test_error_fails_fast_and_keeps_the_state(self, hooks, clock):
        add_start()
        add_statuses(status_body("processing", 1), status_body("error", 2))
        store = FakeStateStore()
        with pytest.raises(AirflowFailException, match=r"ended in error at 2/4 \(50%\)"):
            make_op().execute(make_context(store))
        assert store.data[STATE_KEY]["process"] == PROCESS  # a manual clear replaces it (see below)

    @responses.activate
    def test_timeout_fails_the_try_and_the_retry_reconnects(self, hooks, clock):
        add_start()
        add_statuses(status_body("processing", 1))
        store = FakeStateStore()
        op = make_op(timeout=25, poll_interval=10)
        with pytest.raises(AirflowException) as info:
            op.execute(make_context(store))
        assert not isinstance(info.value, AirflowFailException)  # retries apply
        assert "did not finish within 25 s" in str(info.value)
        assert "reconnects" in str(info.value)
        assert sum(clock.calls) == pytest.approx(25)
        assert store.data[STATE_KEY]["process"] == PROCESS

        # the retry: same store, no second start
        responses.replace(responses.GET, f"{STATUS_URL}/{PROCESS}", json=status_body("done", 4))
        result = op.execute(make_context(store, FakeTI(try_number=2)))
        assert result["status"] == "done"
        assert len(start_calls()) == 1

    @responses.activate
    def test_no_wait(self, hooks, clock):
        add_start()
        add_statuses(status_body("processing", 0))
        store = FakeStateStore()
        ti = FakeTI()
        result = make_op(wait_for_completion=False).execute(make_context(store, ti))
        assert result["process"] == PROCESS
        assert result["status"] == "processing"
        assert result["unique"] == UNIQUE
        assert ti.xcoms["process"] == PROCESS
        assert store.deletes == [STATE_KEY]
        assert clock.calls == []


# --------------------------------------------------------------------------------------------------
# Daily limit and refusals
# --------------------------------------------------------------------------------------------------


class TestStartFailures:
    @responses.activate
    def test_daily_limit_fails_without_retry_naming_features_and_when(self, hooks, clock):
        responses.post(START_URL, status=429, json={"error": DAILY_LIMIT})
        store = FakeStateStore()
        ti = FakeTI()
        with pytest.raises(AirflowFailException) as info:
            make_op(features=["daily.punches", "monthly"]).execute(make_context(store, ti))
        message = str(info.value)
        assert "daily.punches, monthly" in message
        assert "UTC" in message
        assert "clears" in message
        assert isinstance(info.value.__cause__, AhgoraDailyLimitError)
        assert len(responses.calls) == 1  # the 429 daily limit is not retried by the hook either
        assert STATE_KEY not in store.data  # the starting mark is gone: nothing was started
        assert ti.xcoms == {}

    @responses.activate
    def test_api_refusal_fails_at_once(self, hooks, clock):
        responses.post(START_URL, status=400, json={"error": '"rescission" is required'})
        with pytest.raises(AirflowFailException, match="refused the reckon request"):
            make_op().execute(make_context(FakeStateStore()))

    @responses.activate
    def test_full_base_start_lost_after_sending_fails_without_retry_and_retries_do_not_start(
        self, hooks, clock, logs
    ):
        """An unknown outcome is never started again blindly: PontoWeb cannot list reckons, and a
        full-base one costs one of 3 a day."""
        responses.post(START_URL, body=requests.exceptions.ReadTimeout("read timed out"))
        store = FakeStateStore()
        with pytest.raises(AirflowFailException, match="may have reached PontoWeb") as info:
            make_op().execute(make_context(store, FakeTI(max_tries=2)))
        assert "clear this task" in str(info.value)
        assert len(start_calls()) == 1  # never repeated by the hook
        assert "unknown_start" in store.data[STATE_KEY]
        # an automatic retry (same max_tries) does not start one either
        with pytest.raises(AirflowFailException, match="may have reached PontoWeb"):
            make_op().execute(make_context(store, FakeTI(try_number=2, max_tries=2)))
        assert len(start_calls()) == 1

    @pytest.mark.parametrize("interruption", ["timeout", "terminated"])
    @responses.activate
    def test_a_task_timeout_during_the_start_call_is_an_unknown_outcome(self, hooks, clock, interruption):
        """execution_timeout (or a termination) while PontoWeb has the request: the mark stays, and the
        retry does not pay for a second full-base reckon (found in review)."""
        from airflow.providers.common.compat.sdk import AirflowTaskTimeout

        class Terminated(BaseException):
            pass

        started: list[Any] = []

        def start(request: Any) -> Any:
            started.append(1)
            raise AirflowTaskTimeout("Timeout, PID: 1234") if interruption == "timeout" else Terminated()

        responses.add_callback(responses.POST, START_URL, callback=start)
        store = FakeStateStore()
        with pytest.raises((AirflowTaskTimeout, Terminated)):
            make_op().execute(make_context(store, FakeTI(max_tries=2)))
        assert "unknown_start" in store.data[STATE_KEY]
        with pytest.raises(AirflowFailException, match="may have reached PontoWeb"):
            make_op().execute(make_context(store, FakeTI(try_number=2, max_tries=2)))
        assert len(started) == 1

    @responses.activate
    def test_a_refused_start_leaves_no_mark(self, hooks, clock):
        responses.post(START_URL, status=401, json={"error": {"code": 401, "message": "Unauthorized"}})
        store = FakeStateStore()
        with pytest.raises(AhgoraAuthError):
            make_op().execute(make_context(store))
        assert STATE_KEY not in store.data

    @responses.activate
    def test_a_cleared_task_starts_a_new_reckon_after_an_unknown_start(self, hooks, clock, logs):
        """Clearing the task (which raises max_tries) is the human's go-ahead."""
        store = FakeStateStore(
            {STATE_KEY: {"request": _fingerprint_of(make_op()), "unknown_start": "x", "max_tries": 2}}
        )
        add_start()
        add_statuses(status_body("done", 4))
        result = make_op().execute(make_context(store, FakeTI(try_number=4, max_tries=5)))
        assert result["process"] == PROCESS
        assert len(start_calls()) == 1
        assert "the task was cleared since" in logs()

    @responses.activate
    def test_worker_killed_during_the_start_call_is_an_unknown_outcome(self, hooks, clock, logs):
        """The starting mark written before the call is all a killed try leaves."""
        store = FakeStateStore(
            {
                STATE_KEY: {
                    "request": _fingerprint_of(make_op()),
                    "starting": "2026-02-01T06:00:00Z",
                    "max_tries": 1,
                }
            }
        )
        with pytest.raises(AirflowFailException, match="worker stopped during the start call"):
            make_op().execute(make_context(store, FakeTI(try_number=2, max_tries=1)))
        assert start_calls() == []

    @responses.activate
    def test_filtered_start_lost_after_sending_stays_retryable(self, hooks, clock, logs):
        """A reckon filtered by registers costs nothing: its start is simply repeated by a retry."""
        responses.post(START_URL, body=requests.exceptions.ReadTimeout("read timed out"))
        store = FakeStateStore()
        with pytest.raises(AhgoraConnectionError):
            make_op(registers=["001"]).execute(make_context(store))
        assert "a retry simply starts it again" in logs()
        assert len(start_calls()) == 1
        assert STATE_KEY not in store.data


# --------------------------------------------------------------------------------------------------
# Reconnecting on a retry
# --------------------------------------------------------------------------------------------------


class TestReconnect:
    @responses.activate
    def test_reconnects_to_a_running_reckon(self, hooks, clock, logs):
        op = make_op()
        store = FakeStateStore(stored_for(op, OLD))
        add_statuses(
            status_body("processing", 2, process=OLD), status_body("done", 4, process=OLD), process=OLD
        )
        ti = FakeTI(try_number=2)
        result = op.execute(make_context(store, ti))
        assert result["process"] == OLD
        assert start_calls() == []
        assert ti.xcoms["process"] == OLD
        assert f"Reconnecting to reckon {OLD} started by an earlier try" in logs()
        assert STATE_KEY not in store.data

    @responses.activate
    def test_reconnects_to_a_done_reckon_without_waiting(self, hooks, clock):
        op = make_op()
        store = FakeStateStore(stored_for(op, OLD))
        add_statuses(status_body("done", 4, process=OLD), process=OLD)
        result = op.execute(make_context(store, FakeTI(try_number=2)))
        assert result["status"] == "done"
        assert start_calls() == []
        assert clock.calls == []
        assert len(responses.calls) == 1

    @responses.activate
    def test_unknown_stored_process_starts_a_new_one(self, hooks, clock, logs):
        op = make_op()
        store = FakeStateStore(stored_for(op, OLD))
        responses.get(f"{STATUS_URL}/{OLD}", status=400, json={"error": "Process not found"})
        add_start()
        add_statuses(status_body("done", 4))
        result = op.execute(make_context(store, FakeTI(try_number=2)))
        assert result["process"] == PROCESS
        assert len(start_calls()) == 1
        assert f"Reckon {OLD}, started by an earlier try, is unknown to PontoWeb" in logs()

    @responses.activate
    def test_a_web_servers_404_for_the_stored_process_starts_nothing(self, hooks, clock):
        # A wrong base URL answers HTML 404: that is not PontoWeb saying "unknown process", so no new
        # (paid, limited) reckon may start; the error says to check the host, and the mark is kept.
        op = make_op()
        store = FakeStateStore(stored_for(op, OLD))
        responses.get(
            f"{STATUS_URL}/{OLD}",
            status=404,
            body="<html><head><title>404 Not Found</title></head><body>nginx</body></html>",
            content_type="text/html",
        )
        with pytest.raises(AhgoraWrongEndpointError, match="check the host"):
            op.execute(make_context(store, FakeTI(try_number=2)))
        assert start_calls() == []
        assert store.data[STATE_KEY]["process"] == OLD

    @responses.activate
    def test_stored_process_in_error_starts_a_new_one(self, hooks, clock, logs):
        op = make_op()
        store = FakeStateStore(stored_for(op, OLD))
        add_statuses(status_body("error", 1, process=OLD), process=OLD)
        add_start()
        add_statuses(status_body("done", 4))
        result = op.execute(make_context(store, FakeTI(try_number=2)))
        assert result["process"] == PROCESS
        assert len(start_calls()) == 1
        assert "ended in error in PontoWeb" in logs()
        assert "starting a new one" in logs()

    @responses.activate
    def test_changed_request_starts_a_new_one(self, hooks, clock, logs):
        store = FakeStateStore(stored_for(make_op(month="01"), OLD))
        add_start()
        add_statuses(status_body("done", 4))
        result = make_op(month="02").execute(make_context(store, FakeTI(try_number=2)))
        assert result["process"] == PROCESS
        assert "different request" in logs()
        assert len(responses.calls) == 2  # no status call for the old one: start + status

    @responses.activate
    def test_transient_failure_on_reconnect_does_not_start_another(self, hooks, clock):
        op = make_op()
        store = FakeStateStore(stored_for(op, OLD))
        responses.get(f"{STATUS_URL}/{OLD}", status=503, json={"error": "busy"})
        with pytest.raises(AirflowException):
            op.execute(make_context(store, FakeTI(try_number=2)))
        assert start_calls() == []
        assert store.data[STATE_KEY]["process"] == OLD


# --------------------------------------------------------------------------------------------------
# The Variable fallback (Airflow below 3.3, or no task_state_store in the context)
# --------------------------------------------------------------------------------------------------


class TestVariableFallback:
    def test_key_names_the_scope(self):
        key = _state.variable_key("closing", "manual__2026-02-01", "reckon", 3)
        assert key == "ahgora_reckon__closing__manual__2026-02-01__reckon__3"
        assert _state.variable_key("d", "r", "t", None).endswith("__-1")

    def test_long_keys_are_hashed_within_the_limit(self):
        key = _state.variable_key("d" * 200, "r" * 200, "t", -1)
        assert len(key) <= 250
        assert key.startswith("ahgora_reckon__ddd")
        assert key == _state.variable_key("d" * 200, "r" * 200, "t", -1)
        assert key != _state.variable_key("d" * 200, "r" * 200, "u", -1)

    def test_context_picks_the_store(self):
        assert isinstance(
            _state.retry_state({"task_state_store": FakeStateStore()}), _state.TaskStateStoreState
        )
        chosen = _state.retry_state({"ti": FakeTI(map_index=2)})
        assert isinstance(chosen, _state.VariableState)
        assert chosen.key == "ahgora_reckon__closing__scheduled__2026-02-01T00:00:00+00:00__reckon__2"
        assert type(_state.retry_state({})) is _state.RetryState

    @responses.activate
    def test_written_after_start_read_on_retry_deleted_on_success(self, hooks, clock, variables, logs):
        key = "ahgora_reckon__closing__scheduled__2026-02-01T00:00:00+00:00__reckon__-1"
        add_start()
        add_statuses(status_body("processing", 1), status_body("error", 1))
        op = make_op()
        with pytest.raises(AirflowFailException):
            op.execute(make_context(None))
        assert json.loads(variables[key])["process"] == PROCESS

        # the task is cleared by hand: the stored reckon ended in error, so a new one is started
        responses.replace(responses.GET, f"{STATUS_URL}/{PROCESS}", json=status_body("error", 1))
        add_start(OLD)
        add_statuses(status_body("processing", 2, process=OLD), process=OLD)
        with pytest.raises(AirflowException, match="did not finish"):
            make_op(timeout=5).execute(make_context(None, FakeTI(try_number=2)))
        assert json.loads(variables[key])["process"] == OLD

        # the retry reconnects through the Variable, then deletes it
        responses.replace(responses.GET, f"{STATUS_URL}/{OLD}", json=status_body("done", 4, process=OLD))
        result = op.execute(make_context(None, FakeTI(try_number=3)))
        assert result["process"] == OLD
        assert len(start_calls()) == 2
        assert key not in variables
        assert f"Reconnecting to reckon {OLD} started by an earlier try" in logs()
        assert "Variable 'ahgora_reckon__closing" in logs()

    @responses.activate
    def test_unreachable_store_starts_no_paid_reckon_without_its_mark(self, hooks, clock, monkeypatch, logs):
        """Nothing is started yet, so failing (retryable) costs nothing; starting without the mark
        could make a retry pay for a second full-base reckon."""

        class Broken:
            @classmethod
            def get(cls, *a, **k):
                raise RuntimeError("no database")

            set = delete = get

        monkeypatch.setattr(_state.VariableState, "_variable", staticmethod(lambda: Broken))
        add_start()
        with pytest.raises(AirflowException, match="nothing was started") as info:
            make_op().execute(make_context(None))
        assert not isinstance(info.value, AirflowFailException)  # the next try tries again
        assert start_calls() == []

    @responses.activate
    def test_unreachable_store_never_fails_a_free_reckon(self, hooks, clock, monkeypatch, logs):
        class Broken:
            @classmethod
            def get(cls, *a, **k):
                raise RuntimeError("no database")

            set = delete = get

        monkeypatch.setattr(_state.VariableState, "_variable", staticmethod(lambda: Broken))
        add_start()
        add_statuses(status_body("done", 4))
        assert make_op(registers=["001"]).execute(make_context(None))["status"] == "done"
        assert "Could not write Variable" in logs()

    @responses.activate
    def test_a_store_failing_after_the_start_never_fails_the_task(
        self, hooks, clock, variables, monkeypatch, logs
    ):
        """Once the reckon is paid for, failing would make a retry pay again: only a warning."""
        writes: list[Any] = []
        real_set = FakeVariable.set.__func__  # type: ignore[attr-defined]

        def flaky_set(cls: Any, key: str, value: Any, **kwargs: Any) -> None:
            writes.append(value)
            if len(writes) > 1:
                raise RuntimeError("database went away")
            real_set(cls, key, value, **kwargs)

        monkeypatch.setattr(FakeVariable, "set", classmethod(flaky_set))
        add_start()
        add_statuses(status_body("done", 4))
        assert make_op().execute(make_context(None))["status"] == "done"
        assert "Could not write Variable" in logs()
        assert len(start_calls()) == 1

    def test_real_variable_class_is_the_compat_one(self):
        from airflow.providers.common.compat.sdk import Variable

        assert _state.VariableState._variable() is Variable


# --------------------------------------------------------------------------------------------------
# Deferrable
# --------------------------------------------------------------------------------------------------


class TestDeferrable:
    @responses.activate
    def test_defers_to_the_trigger_after_pushing_the_process(self, hooks, clock):
        from airflow_provider_ahgora.triggers.reckon import PontoWebReckonTrigger

        add_start()
        store = FakeStateStore()
        ti = FakeTI()
        op = make_op(deferrable=True, timeout=600, poll_interval=15, max_poll_interval=120)
        from airflow_provider_ahgora import polling

        before = polling._now()
        with pytest.raises(TaskDeferred) as info:
            op.execute(make_context(store, ti))
        trigger = info.value.trigger
        assert isinstance(trigger, PontoWebReckonTrigger)
        assert trigger.process == PROCESS
        assert trigger.poll_interval == 15
        assert trigger.max_poll_interval == 120
        assert before + 600 <= trigger.end_time <= polling._now() + 600
        assert info.value.method_name == "execute_complete"
        assert info.value.timeout.total_seconds() == 600 + reckon_mod.DEFERRAL_TIMEOUT_MARGIN
        assert ti.xcoms["process"] == PROCESS
        assert store.data[STATE_KEY]["process"] == PROCESS
        assert len(responses.calls) == 1  # started, then deferred: no polling in the worker

    @responses.activate
    def test_reconnect_then_defer(self, hooks, clock):
        op = make_op(deferrable=True)
        store = FakeStateStore(stored_for(op, OLD))
        add_statuses(status_body("processing", 1, process=OLD), process=OLD)
        with pytest.raises(TaskDeferred) as info:
            op.execute(make_context(store, FakeTI(try_number=2)))
        assert info.value.trigger.process == OLD
        assert info.value.trigger.end_time is None
        assert info.value.timeout is None
        assert start_calls() == []

    def test_complete_success(self):
        store = FakeStateStore({STATE_KEY: {"process": PROCESS}})
        event = {
            "status": "success",
            "process": PROCESS,
            "unique": UNIQUE,
            "company": "a000101",
            "reckon_status": "done",
            "progress": {"done": 4, "total": 4},
            "message": "done",
        }
        result = make_op().execute_complete(make_context(store), event)
        assert result == {
            "process": PROCESS,
            "unique": UNIQUE,
            "company": "a000101",
            "status": "done",
            "progress": {"done": 4, "total": 4},
        }
        assert STATE_KEY not in store.data

    def test_complete_error_fails_fast(self):
        store = FakeStateStore({STATE_KEY: {"process": PROCESS}})
        event = {"status": "error", "process": PROCESS, "message": "ended in error at 1/4 (25%)."}
        with pytest.raises(AirflowFailException, match="ended in error"):
            make_op().execute_complete(make_context(store), event)
        assert STATE_KEY in store.data

    @pytest.mark.parametrize(
        ("event", "match"),
        [
            ({"status": "timeout", "process": PROCESS, "message": "did not finish."}, "reconnects"),
            (
                {"status": "failed", "process": PROCESS, "message": "nope", "error_type": "AhgoraAuthError"},
                "AhgoraAuthError",
            ),
            (None, "without an event"),
        ],
    )
    def test_complete_other_outcomes_are_retryable(self, event, match):
        with pytest.raises(AirflowException, match=match) as info:
            make_op().execute_complete(make_context(FakeStateStore()), event)
        assert not isinstance(info.value, AirflowFailException)


# --------------------------------------------------------------------------------------------------
# PontoWebReconsumeOperator
# --------------------------------------------------------------------------------------------------


class TestReconsumeOperator:
    def test_docstring_names_the_limit(self):
        assert "1000" in (PontoWebReconsumeOperator.__doc__ or "")
        assert PontoWebReconsumeOperator.template_fields[0] == "unique"

    @responses.activate
    def test_returns_the_answer(self, hooks):
        responses.get(
            f"{PONTOWEB_BASE}/reckons/reconsume/{UNIQUE}", json={"company": "a000101", "unique": UNIQUE}
        )
        op = PontoWebReconsumeOperator(task_id="again", unique="{{ params.u }}")
        context = make_context()
        context["params"] = {"u": UNIQUE}
        op.render_template_fields(context)
        assert op.execute(context) == {"company": "a000101", "unique": UNIQUE}

    @responses.activate
    @pytest.mark.parametrize(
        ("status", "body", "match"),
        [
            (410, {"error": "Data expired"}, "expired"),
            (400, {"error": "Process not found"}, "does not know"),
            (
                400,
                {"error": f"The reconsume limit of 1000 has been reached for {UNIQUE}"},
                "refused to reconsume",
            ),
        ],
    )
    def test_dead_ends_fail_at_once(self, hooks, status, body, match):
        responses.get(f"{PONTOWEB_BASE}/reckons/reconsume/{UNIQUE}", status=status, json=body)
        with pytest.raises(AirflowFailException, match=match) as info:
            PontoWebReconsumeOperator(task_id="again", unique=UNIQUE).execute(make_context())
        assert "start a new reckon" in str(info.value)

    def test_empty_unique(self, hooks):
        with pytest.raises(AirflowFailException, match="unique is empty"):
            PontoWebReconsumeOperator(task_id="again", unique="").execute(make_context())

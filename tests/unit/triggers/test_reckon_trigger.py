"""PontoWebReckonTrigger: one JSON-serialisable event, transient errors never fatal, backoff, deadline.

`responses` stands in for the API (the hook's async path runs the sync call in a worker thread, and
`responses` patches `requests` globally, so it answers there too). The fake clock of this folder's
conftest replaces the polling policy's clock and `asyncio.sleep`, so nothing really waits.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from typing import Any

import pytest
import requests
import responses

from airflow_provider_ahgora.exceptions import AhgoraConfigError
from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
from airflow_provider_ahgora.triggers.reckon import PontoWebReckonTrigger, describe_progress
from tests.conftest import PONTOWEB_BASE, PONTOWEB_PASSWORD
from tests.unit.triggers.conftest import START

PROCESS = "proc-123"
STATUS_URL = f"{PONTOWEB_BASE}/reckons/process/status/{PROCESS}"


def status_body(status: str = "processing", done: Any = 0, total: Any = 10) -> dict[str, Any]:
    return {
        "status": status,
        "unique": "uniq-9",
        "process": PROCESS,
        "company": "a133595",
        "progress": {"done": done, "total": total},
    }


def answer_in_turn(api: responses.RequestsMock, *answers: Any) -> list[int]:
    """Answer the status calls with ``answers`` in turn (the last one repeats).

    An answer is a status dict (200), an int (that HTTP status), or an exception to raise.
    Returns a list that counts the calls.
    """
    calls: list[int] = []

    def callback(request: requests.PreparedRequest):
        index = min(len(calls), len(answers) - 1)
        calls.append(index)
        answer = answers[index]
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, int):
            return answer, {}, json.dumps({"error": f"status {answer}"})
        return 200, {}, json.dumps(answer)

    api.add_callback(responses.GET, STATUS_URL, callback=callback)
    return calls


async def run_trigger(trigger: PontoWebReckonTrigger) -> dict[str, Any]:
    """Run the trigger to its end: exactly one event, JSON-serialisable; return its payload."""

    async def collect() -> list[Any]:
        return [event async for event in trigger.run()]

    events = await asyncio.wait_for(collect(), timeout=30)
    assert len(events) == 1
    payload = events[0].payload
    assert json.loads(json.dumps(payload)) == payload
    assert PONTOWEB_PASSWORD not in json.dumps(payload)
    return payload


# -- construction and serialisation ---------------------------------------------------------------


class TestSerialize:
    def test_round_trip(self):
        trigger = PontoWebReckonTrigger(
            process=PROCESS, pontoweb_conn_id="pw", poll_interval=5, max_poll_interval=60, end_time=START
        )
        classpath, kwargs = trigger.serialize()
        assert classpath == "airflow_provider_ahgora.triggers.reckon.PontoWebReckonTrigger"
        assert kwargs == {
            "process": PROCESS,
            "pontoweb_conn_id": "pw",
            "poll_interval": 5.0,
            "max_poll_interval": 60.0,
            "end_time": START,
        }
        json.dumps(kwargs)
        module, name = classpath.rsplit(".", 1)
        again = getattr(importlib.import_module(module), name)(**kwargs)
        assert again == trigger
        assert hash(again) == hash(trigger)
        assert again.serialize() == trigger.serialize()

    def test_defaults(self):
        _, kwargs = PontoWebReckonTrigger(PROCESS).serialize()
        assert kwargs == {
            "process": PROCESS,
            "pontoweb_conn_id": "pontoweb_default",
            "poll_interval": 30.0,
            "max_poll_interval": 300.0,
            "end_time": None,
        }

    def test_not_equal_when_a_field_differs(self):
        assert PontoWebReckonTrigger(PROCESS) != PontoWebReckonTrigger("other")
        assert PontoWebReckonTrigger(PROCESS) != PontoWebReckonTrigger(PROCESS, end_time=START)

    def test_max_interval_never_below_poll_interval(self):
        trigger = PontoWebReckonTrigger(PROCESS, poll_interval=600, max_poll_interval=300)
        assert trigger.max_poll_interval == 600.0
        assert PontoWebReckonTrigger(**trigger.serialize()[1]) == trigger

    @pytest.mark.parametrize(
        "kwargs",
        [{"process": ""}, {"poll_interval": 0}, {"poll_interval": -1}, {"max_poll_interval": 0}],
    )
    def test_bad_arguments(self, kwargs):
        args = {"process": PROCESS, **kwargs}
        with pytest.raises(AhgoraConfigError):
            PontoWebReckonTrigger(**args)

    def test_construction_looks_nothing_up(self, monkeypatch):
        def boom(*args, **kwargs):
            raise AssertionError("no hook or connection at construction")

        monkeypatch.setattr(PontoWebReckonTrigger, "_get_hook", boom)
        monkeypatch.setattr(PontoWebHook, "get_connection", classmethod(boom))
        PontoWebReckonTrigger(PROCESS, end_time=START)


def test_describe_progress():
    from airflow_provider_ahgora.models.pontoweb import ReckonStatus

    assert describe_progress(ReckonStatus.model_validate(status_body(done="3", total="10"))) == "3/10 (30%)"
    assert describe_progress(ReckonStatus.model_validate({"status": "processing"})) == "?/? (0%)"
    assert describe_progress(None) == "no status received yet"


class LogRecorder:
    """Stands in for the trigger's logger (structlog on Airflow 3, logging on 2): keeps the lines."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def _record(self, level: str, msg: str, *args: Any, **kwargs: Any) -> None:
        self.lines.append((level, msg % args if args else msg))

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._record("info", msg, *args)

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._record("warning", msg, *args)

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._record("error", msg, *args)


@pytest.fixture
def trigger_log(monkeypatch: pytest.MonkeyPatch) -> LogRecorder:
    recorder = LogRecorder()
    monkeypatch.setattr(PontoWebReckonTrigger, "log", recorder)
    return recorder


# -- outcomes ---------------------------------------------------------------------------------------


class TestOutcomes:
    async def test_success(self, api, clock, trigger_log):
        calls = answer_in_turn(api, status_body(done=2), status_body(done=7), status_body("done", 10, 10))
        payload = await run_trigger(PontoWebReckonTrigger(PROCESS, poll_interval=30))
        assert payload == {
            "status": "success",
            "process": PROCESS,
            "unique": "uniq-9",
            "company": "a133595",
            "reckon_status": "done",
            "progress": {"done": 10, "total": 10},
            "message": f"PontoWeb reckon {PROCESS} is done (unique uniq-9).",
        }
        assert len(calls) == 3
        assert clock.sleeps == [30.0, 30.0]  # progress moved each time: no backoff
        assert ("info", f"PontoWeb reckon {PROCESS}: processing, 2/10 (20%)") in trigger_log.lines
        assert ("info", f"PontoWeb reckon {PROCESS}: processing, 7/10 (70%)") in trigger_log.lines
        assert ("info", f"PontoWeb reckon {PROCESS}: done, 10/10 (100%)") in trigger_log.lines

    async def test_done_at_first_poll_does_not_sleep(self, api, clock):
        answer_in_turn(api, status_body("done", 10, 10))
        payload = await run_trigger(PontoWebReckonTrigger(PROCESS))
        assert payload["status"] == "success"
        assert clock.sleeps == []

    async def test_progress_given_as_strings_becomes_ints(self, api, clock):
        answer_in_turn(api, status_body("done", "10", "10"))
        payload = await run_trigger(PontoWebReckonTrigger(PROCESS))
        assert payload["progress"] == {"done": 10, "total": 10}

    async def test_error(self, api, clock):
        answer_in_turn(api, status_body(done=1), status_body("error", 4, 10))
        payload = await run_trigger(PontoWebReckonTrigger(PROCESS))
        assert payload["status"] == "error"
        assert payload["reckon_status"] == "error"
        assert payload["process"] == PROCESS
        assert payload["unique"] == "uniq-9"
        assert payload["progress"] == {"done": 4, "total": 10}
        assert "ended in error in PontoWeb" in payload["message"]
        assert PROCESS in payload["message"]

    async def test_an_unknown_status_fails_naming_it_and_is_never_still_running(self, api, clock):
        calls = answer_in_turn(api, status_body("queued", 0, 0), status_body("done", 1, 1))
        payload = await run_trigger(PontoWebReckonTrigger(PROCESS))
        assert payload["status"] == "failed"
        assert payload["error_type"] == "AhgoraUnknownValueError"
        assert "'queued'" in payload["message"]
        assert "processing, done, error" in payload["message"]
        assert len(calls) == 1  # not polled again as if it were running

    @pytest.mark.parametrize(("done", "error"), [("DONE", "ERROR"), ("Done", "Error"), (" done ", "error ")])
    async def test_statuses_are_read_case_insensitively(self, api, clock, done, error):
        answer_in_turn(api, status_body("PROCESSING", 1, 10), status_body(done, 10, 10))
        payload = await run_trigger(PontoWebReckonTrigger(PROCESS))
        assert payload["status"] == "success"
        api.replace(responses.GET, STATUS_URL, json=status_body(error, 3, 10))
        payload = await run_trigger(PontoWebReckonTrigger(PROCESS))
        assert payload["status"] == "error"

    @pytest.mark.parametrize(
        "odd",
        [
            {},
            {"status": "processing", "progress": "5/10"},
            ["not", "an", "object"],
            "<html><body>Bad gateway</body></html>",
        ],
    )
    async def test_a_malformed_answer_while_waiting_is_transient(self, api, clock, no_hook_retries, odd):
        """One odd 200 from a gateway is polled through, exactly like a 5xx."""
        calls: list[int] = []

        def callback(request: requests.PreparedRequest):
            calls.append(1)
            if len(calls) == 1:
                return 200, {}, odd if isinstance(odd, str) else json.dumps(odd)
            return 200, {}, json.dumps(status_body("done", 10, 10))

        api.add_callback(responses.GET, STATUS_URL, callback=callback)
        payload = await run_trigger(PontoWebReckonTrigger(PROCESS))
        assert payload["status"] == "success"
        assert len(calls) == 2

    async def test_timeout(self, api, clock):
        calls = answer_in_turn(api, status_body(done=3))
        trigger = PontoWebReckonTrigger(
            PROCESS, poll_interval=30, max_poll_interval=300, end_time=START + 100
        )
        payload = await run_trigger(trigger)
        assert payload["status"] == "timeout"
        assert payload["reckon_status"] == "processing"
        assert payload["progress"] == {"done": 3, "total": 10}
        assert "last progress 3/10 (30%), status processing" in payload["message"]
        assert "did not finish" in payload["message"]
        # 30, then x1.5 = 45, then 67.5 cut to the 25 s left: it wakes at the deadline, polls a last time
        assert clock.sleeps == [30.0, 45.0, 25.0]
        assert clock.now == START + 100
        assert len(calls) == 4

    async def test_end_time_already_past_polls_once(self, api, clock):
        calls = answer_in_turn(api, status_body(done=3))
        payload = await run_trigger(PontoWebReckonTrigger(PROCESS, end_time=START - 5))
        assert payload["status"] == "timeout"
        assert len(calls) == 1
        assert clock.sleeps == []

    async def test_done_at_the_final_poll_wins_over_the_timeout(self, api, clock):
        answer_in_turn(api, status_body(done=3), status_body("done", 10, 10))
        payload = await run_trigger(PontoWebReckonTrigger(PROCESS, poll_interval=60, end_time=START + 10))
        assert payload["status"] == "success"
        assert clock.sleeps == [10.0]


# -- failures ---------------------------------------------------------------------------------------


class TestFailures:
    async def test_transient_errors_then_success(self, api, clock):
        """With the hook's own retries (4): 12 failures = 2 polls and a bit; the third poll succeeds."""
        calls = answer_in_turn(
            api,
            *([503] * 5),
            *([429] * 5),
            requests.exceptions.ConnectionError("Connection reset by peer"),
            502,
            status_body("done", 10, 10),
        )
        payload = await run_trigger(PontoWebReckonTrigger(PROCESS))
        assert payload["status"] == "success"
        assert len(calls) == 13

    async def test_transient_errors_are_never_fatal_without_deadline(
        self, api, clock, no_hook_retries, trigger_log
    ):
        calls = answer_in_turn(api, *([503] * 40), status_body("done", 10, 10))
        payload = await run_trigger(PontoWebReckonTrigger(PROCESS, poll_interval=10, max_poll_interval=100))
        assert payload["status"] == "success"
        assert len(calls) == 41
        assert max(clock.sleeps) == 100.0  # failing polls back off too, up to the cap
        warnings = [line for level, line in trigger_log.lines if level == "warning"]
        assert len(warnings) == 40
        assert "not fatal" in warnings[0]
        assert "503" in warnings[0]
        assert not [line for level, line in trigger_log.lines if level == "error"]

    async def test_timeout_while_polls_keep_failing(self, api, clock, no_hook_retries):
        calls = answer_in_turn(api, 503)
        payload = await run_trigger(PontoWebReckonTrigger(PROCESS, poll_interval=10, end_time=START + 60))
        assert payload["status"] == "timeout"
        assert payload["reckon_status"] is None
        assert payload["progress"] == {"done": None, "total": None}
        assert "the last poll failed" in payload["message"]
        assert "no status was ever received" in payload["message"]
        assert "503" in payload["message"]
        assert clock.now == START + 60
        assert len(calls) == len(clock.sleeps) + 1

    async def test_timeout_while_polls_keep_failing_with_hook_retries(self, api, clock):
        answer_in_turn(api, status_body(done=1), 503)
        payload = await run_trigger(PontoWebReckonTrigger(PROCESS, poll_interval=10, end_time=START + 120))
        assert payload["status"] == "timeout"
        assert "1/10 (10%)" in payload["message"]  # the last progress seen
        assert "the last poll failed" in payload["message"]

    async def test_a_poll_that_hangs_past_the_deadline_times_out(self, clock):
        class HangingHook:
            closed = False

            async def asettings(self) -> None:
                return None

            async def aget_reckon_status(self, process: str):
                await asyncio.Event().wait()

            async def aclose(self) -> None:
                HangingHook.closed = True

        trigger = PontoWebReckonTrigger(PROCESS, end_time=START + 5)
        trigger.final_poll_grace = 0.05
        clock.now = START + 5  # the deadline has come while the poll started
        trigger._get_hook = HangingHook  # type: ignore[method-assign]
        payload = await run_trigger(trigger)
        assert payload["status"] == "timeout"
        assert "no answer before the deadline" in payload["message"]
        assert HangingHook.closed

    @pytest.mark.parametrize(
        ("status", "body", "error_type"),
        [
            (401, {"error": {"code": 401, "message": "Unauthorized"}}, "AhgoraAuthError"),
            (403, {"error": "Forbidden"}, "AhgoraPermissionError"),
            (400, {"error": "Process not found"}, "AhgoraNotFoundError"),
        ],
    )
    async def test_fatal_api_errors_become_a_failed_event(self, api, clock, status, body, error_type):
        api.get(STATUS_URL, status=status, json=body)
        payload = await run_trigger(PontoWebReckonTrigger(PROCESS, end_time=START + 3600))
        assert payload["status"] == "failed"
        assert payload["error_type"] == error_type
        assert payload["process"] == PROCESS
        assert str(status) in payload["message"]
        assert len(api.calls) == 1  # never retried, not polled again
        assert clock.sleeps == []

    async def test_daily_limit_is_fatal(self, api, clock):
        message = "The daily limit of 3 has been exceeded for the following features: monthly"
        api.get(STATUS_URL, status=429, json={"error": message})
        payload = await run_trigger(PontoWebReckonTrigger(PROCESS))
        assert payload["status"] == "failed"
        assert payload["error_type"] == "AhgoraDailyLimitError"

    async def test_missing_connection_becomes_a_failed_event(self, clock, monkeypatch):
        monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_CONN", raising=False)
        payload = await run_trigger(PontoWebReckonTrigger(PROCESS, pontoweb_conn_id="no_such_conn"))
        assert payload["status"] == "failed"
        assert "no_such_conn" in payload["message"]

    async def test_bad_connection_becomes_a_failed_event(self, clock, monkeypatch):
        from tests.conftest import set_conn

        set_conn(monkeypatch, "pontoweb_default", conn_type="pontoweb", host=PONTOWEB_BASE, login="svc")
        payload = await run_trigger(PontoWebReckonTrigger(PROCESS))
        assert payload["status"] == "failed"
        assert payload["error_type"] == "AhgoraConfigError"

    async def test_unexpected_exception_becomes_a_failed_event(self, pontoweb_conn, clock, monkeypatch):
        async def broken(self, process):
            raise RuntimeError("something odd")

        monkeypatch.setattr(PontoWebHook, "aget_reckon_status", broken)
        payload = await run_trigger(PontoWebReckonTrigger(PROCESS))
        assert payload == {
            "status": "failed",
            "process": PROCESS,
            "message": "something odd",
            "error_type": "RuntimeError",
        }

    async def test_malformed_answer_is_transient(self, api, clock, no_hook_retries):
        calls = answer_in_turn(api, ["not", "an", "object"], status_body("done", 1, 1))
        payload = await run_trigger(PontoWebReckonTrigger(PROCESS))
        assert payload["status"] == "success"
        assert len(calls) == 2

    async def test_cancellation_is_not_swallowed(self, monkeypatch):
        started = asyncio.Event()

        class HangingHook:
            async def asettings(self) -> None:
                return None

            async def aget_reckon_status(self, process: str):
                started.set()
                await asyncio.Event().wait()

            async def aclose(self) -> None:
                pass

        trigger = PontoWebReckonTrigger(PROCESS)
        trigger._get_hook = HangingHook  # type: ignore[method-assign]
        events: list[Any] = []

        async def collect() -> None:
            async for event in trigger.run():
                events.append(event)

        task = asyncio.ensure_future(collect())
        await asyncio.wait_for(started.wait(), timeout=5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert events == []


# -- backoff ------------------------------------------------------------------------------------------


class TestBackoff:
    async def test_grows_without_progress_and_resets_on_progress(self, api, clock):
        answer_in_turn(
            api,
            status_body(done=0),
            status_body(done=0),
            status_body(done=0),
            status_body(done=0),
            status_body(done=2),
            status_body(done=2),
            status_body("done", 10, 10),
        )
        payload = await run_trigger(PontoWebReckonTrigger(PROCESS, poll_interval=10, max_poll_interval=30))
        assert payload["status"] == "success"
        # first answer: 10; no change: x1.5 (15, 22.5), capped at 30; progress: back to 10; then 15
        assert clock.sleeps == [10.0, 15.0, 22.5, 30.0, 10.0, 15.0]

    async def test_never_sleeps_past_the_deadline(self, api, clock, monkeypatch):
        answer_in_turn(api, status_body(done=0))
        end_time = START + 1000
        seen: list[tuple[float, float]] = []
        sleep = clock.sleep

        async def checked_sleep(seconds: float, result: Any = None) -> Any:
            seen.append((clock.now, seconds))
            return await sleep(seconds, result)

        monkeypatch.setattr(asyncio, "sleep", checked_sleep)
        payload = await run_trigger(
            PontoWebReckonTrigger(PROCESS, poll_interval=7, max_poll_interval=200, end_time=end_time)
        )
        assert payload["status"] == "timeout"
        assert all(now + seconds <= end_time for now, seconds in seen)
        assert clock.now == end_time  # it woke exactly at the deadline
        assert max(seconds for _, seconds in seen) == 200.0

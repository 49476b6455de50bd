"""PontoWebProcessTrigger: many processes polled concurrently until each is finished, one
JSON-serialisable event, transient errors never fatal, lost processes never fatal to the others,
backoff, deadline, concurrency bound.

`responses` stands in for the process monitor (the hook's async path runs the sync call in a worker
thread, and `responses` patches `requests` globally). The fake clock of this folder's conftest
replaces the polling policy's clock and `asyncio.sleep`, so nothing really waits.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
import time as real_time
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses

from airflow_provider_ahgora.exceptions import AhgoraConfigError
from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
from airflow_provider_ahgora.triggers.process import MAX_ERROR_MESSAGE, PontoWebProcessTrigger
from airflow_provider_ahgora.triggers.reckon import BACKOFF_FACTOR
from tests.conftest import PONTOWEB_BASE, PONTOWEB_PASSWORD
from tests.unit.triggers.conftest import START

MONITOR_URL = f"{PONTOWEB_BASE}/process"


def state(
    status: str | None = "done",
    done: Any = "3",
    total: Any = "3",
    errors: list[tuple[str, str]] | None = None,
    sub: str = "111",
) -> dict[str, Any]:
    """A process monitor answer (progress as strings, as documented)."""
    body: dict[str, Any] = {
        "company": "a000101",
        "unique": "bd751350",
        "subunique": sub,
        "progress": {"done": done, "total": total},
        "data": {"errors": [{"identifier": i, "message": m} for i, m in errors or []]},
    }
    if status is not None:
        body["status"] = status
    return body


def running(done: Any = "1", total: Any = "3", sub: str = "111") -> dict[str, Any]:
    return state("done", done, total, sub=sub)


class FakeMonitor:
    """Answers ``GET /process`` per process from a script: ``{"sub:111": [answer, ...]}`` (the
    last answer repeats). An answer is a dict (200), an int (that HTTP status, with ``{"error": ...}``),
    a ``(status, body)`` pair, or an exception to raise. Counts the calls per process."""

    def __init__(
        self, api: responses.RequestsMock, scripts: dict[str, list[Any]], delay: float = 0.0
    ) -> None:
        self.scripts = scripts
        self.calls: Counter[str] = Counter()
        self.delay = delay
        self.inflight = 0
        self.max_inflight = 0
        self._lock = threading.Lock()
        api.add_callback(responses.GET, MONITOR_URL, callback=self)

    def __call__(self, request: requests.PreparedRequest):
        query = parse_qs(urlparse(request.url).query)
        key = f"sub:{query['subunique'][0]}" if "subunique" in query else f"uniq:{query['unique'][0]}"
        assert request.headers["Accept-Version"] == "v2"
        with self._lock:
            script = self.scripts[key]
            answer = script[min(self.calls[key], len(script) - 1)]
            self.calls[key] += 1
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            if self.delay:
                real_time.sleep(self.delay)
        finally:
            with self._lock:
                self.inflight -= 1
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, int):
            return answer, {}, json.dumps({"error": f"status {answer}"})
        if isinstance(answer, tuple):
            return answer[0], {}, json.dumps(answer[1])
        return 200, {}, json.dumps(answer)


def subs(*names: str, **extra: Any) -> list[dict[str, Any]]:
    return [{"unique": None, "subunique": name, **extra} for name in names]


async def run_trigger(trigger: PontoWebProcessTrigger) -> dict[str, Any]:
    """Run the trigger to its end: exactly one event, JSON-serialisable; return its payload."""

    async def collect() -> list[Any]:
        return [event async for event in trigger.run()]

    events = await asyncio.wait_for(collect(), timeout=30)
    assert len(events) == 1
    payload = events[0].payload
    assert json.loads(json.dumps(payload)) == payload
    assert PONTOWEB_PASSWORD not in json.dumps(payload)
    return payload


class LogRecorder:
    """Stands in for the trigger's logger (structlog on Airflow 3, logging on 2): keeps the lines."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def _record(self, level: str, msg: str, *args: Any) -> None:
        self.lines.append((level, msg % args if args else msg))

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._record("info", msg, *args)

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._record("warning", msg, *args)

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._record("error", msg, *args)

    def of(self, level: str) -> list[str]:
        return [line for lvl, line in self.lines if lvl == level]


@pytest.fixture
def trigger_log(monkeypatch: pytest.MonkeyPatch) -> LogRecorder:
    recorder = LogRecorder()
    monkeypatch.setattr(PontoWebProcessTrigger, "log", recorder)
    return recorder


# -- construction and serialisation ---------------------------------------------------------------


class TestSerialize:
    def test_round_trip(self):
        processes = [
            {"unique": None, "subunique": "111", "batch": 0},
            {"unique": "abc", "subunique": None, "batch": 1, "records": ["000123"], "meta": {"k": [1, 2]}},
        ]
        trigger = PontoWebProcessTrigger(
            processes,
            pontoweb_conn_id="pw",
            poll_interval=5,
            max_poll_interval=60,
            end_time=START,
            max_concurrency=3,
        )
        classpath, kwargs = trigger.serialize()
        assert classpath == "airflow_provider_ahgora.triggers.process.PontoWebProcessTrigger"
        assert kwargs == {
            "processes": processes,
            "pontoweb_conn_id": "pw",
            "poll_interval": 5.0,
            "max_poll_interval": 60.0,
            "end_time": START,
            "max_concurrency": 3,
        }
        json.dumps(kwargs)
        module, name = classpath.rsplit(".", 1)
        again = getattr(importlib.import_module(module), name)(**kwargs)
        assert again == trigger
        assert hash(again) == hash(trigger)
        assert again.serialize() == trigger.serialize()

    def test_defaults(self):
        _, kwargs = PontoWebProcessTrigger(subs("1")).serialize()
        assert kwargs == {
            "processes": [{"unique": None, "subunique": "1"}],
            "pontoweb_conn_id": "pontoweb_default",
            "poll_interval": 10.0,
            "max_poll_interval": 120.0,
            "end_time": None,
            "max_concurrency": 8,
        }

    def test_items_are_copied(self):
        processes = subs("1", batch=0)
        trigger = PontoWebProcessTrigger(processes)
        processes[0]["subunique"] = "2"
        processes.append({"subunique": "3"})
        assert trigger.serialize()[1]["processes"] == [{"unique": None, "subunique": "1", "batch": 0}]

    def test_not_equal_when_a_field_differs(self):
        assert PontoWebProcessTrigger(subs("1")) != PontoWebProcessTrigger(subs("2"))
        assert PontoWebProcessTrigger(subs("1")) != PontoWebProcessTrigger(subs("1", batch=1))
        assert PontoWebProcessTrigger(subs("1")) != PontoWebProcessTrigger(subs("1"), max_concurrency=2)
        assert PontoWebProcessTrigger(subs("1")) != PontoWebProcessTrigger(subs("1"), end_time=START)

    def test_max_interval_never_below_poll_interval(self):
        trigger = PontoWebProcessTrigger(subs("1"), poll_interval=600, max_poll_interval=300)
        assert trigger.max_poll_interval == 600.0
        assert PontoWebProcessTrigger(**trigger.serialize()[1]) == trigger

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"processes": []},
            {"processes": "111"},
            {"processes": {"subunique": "111"}},
            {"processes": ["111"]},
            {"processes": [{"unique": None, "subunique": None}]},
            {"processes": [{"unique": " ", "subunique": ""}]},
            {"processes": [{"batch": 1}]},
            {"processes": [{"subunique": 111}]},
            {"processes": [{"subunique": "1", "when": object()}]},
            {"poll_interval": 0},
            {"poll_interval": -1},
            {"max_poll_interval": 0},
            {"max_concurrency": 0},
            {"max_concurrency": True},
            {"max_concurrency": 2.5},
        ],
    )
    def test_bad_arguments(self, kwargs):
        args = {"processes": subs("1"), **kwargs}
        with pytest.raises(AhgoraConfigError):
            PontoWebProcessTrigger(**args)

    def test_construction_looks_nothing_up(self, monkeypatch):
        def boom(*args, **kwargs):
            raise AssertionError("no hook or connection at construction")

        monkeypatch.setattr(PontoWebProcessTrigger, "_get_hook", boom)
        monkeypatch.setattr(PontoWebHook, "get_connection", classmethod(boom))
        PontoWebProcessTrigger(subs("1", "2"), end_time=START)


# -- outcomes ---------------------------------------------------------------------------------------


class TestOutcomes:
    async def test_many_processes_finishing_at_different_times(
        self, api, clock, no_hook_retries, trigger_log
    ):
        monitor = FakeMonitor(
            api,
            {
                "sub:1": [state("done", "2", "2", sub="1")],
                "sub:2": [
                    running("0", "3", "2"),
                    state("warning", "3", "3", [("000123", "PIS inválido")], "2"),
                ],
                "uniq:u3": [
                    running("0", "2", "3"),
                    running("1", "2", "3"),
                    state("error", "2", "2", [("a", "bad a"), ("b", "bad b")], "3"),
                ],
            },
        )
        processes = [
            {"unique": None, "subunique": "1", "batch": 0},
            {"unique": None, "subunique": "2", "batch": 1},
            {"unique": "u3", "subunique": None, "batch": 2, "records": 2},
        ]
        payload = await run_trigger(PontoWebProcessTrigger(processes, poll_interval=10))
        assert payload["status"] == "success"
        assert payload["processes"] == [
            {
                "unique": None,
                "subunique": "1",
                "batch": 0,
                "status": "done",
                "progress": {"done": 2, "total": 2},
                "errors": [],
                "message": None,
            },
            {
                "unique": None,
                "subunique": "2",
                "batch": 1,
                "status": "warning",
                "progress": {"done": 3, "total": 3},
                "errors": [{"identifier": "000123", "message": "PIS inválido"}],
                "message": None,
            },
            {
                "unique": "u3",
                "subunique": None,
                "batch": 2,
                "records": 2,
                "status": "error",
                "progress": {"done": 2, "total": 2},
                "errors": [{"identifier": "a", "message": "bad a"}, {"identifier": "b", "message": "bad b"}],
                "message": None,
            },
        ]
        assert "all finished (1 done, 1 error, 1 warning)" in payload["message"]
        # a finished process is not polled again
        assert monitor.calls == {"sub:1": 1, "sub:2": 2, "uniq:u3": 3}
        assert clock.sleeps == [10.0, 10.0]  # something moved in each round: no backoff
        assert any(
            "subunique 2: warning, 3/3 record(s), 1 error(s) (finished)" in line
            for line in trigger_log.of("info")
        )

    async def test_done_at_first_poll_does_not_sleep(self, api, clock):
        FakeMonitor(api, {"sub:1": [state(sub="1")], "sub:2": [state(sub="2")]})
        payload = await run_trigger(PontoWebProcessTrigger(subs("1", "2")))
        assert [p["status"] for p in payload["processes"]] == ["done", "done"]
        assert clock.sleeps == []

    async def test_progress_numbers_or_strings_become_ints(self, api, clock):
        FakeMonitor(api, {"sub:1": [state("done", 4, "4", sub="1")]})
        payload = await run_trigger(PontoWebProcessTrigger(subs("1")))
        assert payload["processes"][0]["progress"] == {"done": 4, "total": 4}

    async def test_an_unknown_status_of_a_finished_push_is_unrecognized_never_success(self, api, clock):
        FakeMonitor(api, {"sub:1": [state("partial", "3", "3", sub="1")], "sub:2": [state(sub="2")]})
        payload = await run_trigger(PontoWebProcessTrigger(subs("1", "2")))
        assert payload["status"] == "success"  # every push is accounted for...
        first, second = payload["processes"]
        assert first["status"] == "unrecognized"  # ...but this one's outcome is unknown
        assert "'partial'" in first["message"]
        assert second["status"] == "done"

    @pytest.mark.parametrize(
        ("given", "expected"), [("ERROR", "error"), ("Warning", "warning"), ("DONE", "done")]
    )
    async def test_statuses_are_read_case_insensitively(self, api, clock, given, expected):
        """A monitor answering ``ERROR`` made a push report 0 failures and succeed."""
        FakeMonitor(api, {"sub:1": [state(given, "3", "3", [("1", "x")], sub="1")]})
        payload = await run_trigger(PontoWebProcessTrigger(subs("1")))
        assert payload["processes"][0]["status"] == expected

    async def test_data_as_an_empty_list_is_phps_empty_object(self, api, clock):
        """``"data": []`` never validated, so a push waited out its whole timeout."""
        body = state("done", "3", "3", sub="1")
        body["data"] = []
        FakeMonitor(api, {"sub:1": [body]})
        payload = await run_trigger(PontoWebProcessTrigger(subs("1"), end_time=START + 600))
        assert payload["status"] == "success"
        assert payload["processes"][0]["status"] == "done"
        assert payload["processes"][0]["errors"] == []

    async def test_processing_at_done_equals_total_is_not_finished_yet(self, api, clock):
        FakeMonitor(
            api,
            {
                "sub:1": [
                    state("processing", "3", "3", sub="1"),
                    state("warning", "3", "3", [("1", "x")], "1"),
                ]
            },
        )
        payload = await run_trigger(PontoWebProcessTrigger(subs("1")))
        assert payload["processes"][0]["status"] == "warning"

    @pytest.mark.parametrize(
        ("errors", "expected"),
        [([], "done"), ([("1", "x")], "warning"), ([("1", "x"), ("2", "y"), ("3", "z")], "error")],
    )
    async def test_missing_status_is_inferred_from_the_errors(self, api, clock, errors, expected):
        FakeMonitor(api, {"sub:1": [state(None, "3", "3", errors, "1")]})
        payload = await run_trigger(PontoWebProcessTrigger(subs("1")))
        assert payload["processes"][0]["status"] == expected

    async def test_total_zero_is_not_finished(self, api, clock, no_hook_retries):
        monitor = FakeMonitor(api, {"sub:1": [state("done", "0", "0", sub="1"), state(sub="1")]})
        payload = await run_trigger(PontoWebProcessTrigger(subs("1")))
        assert payload["processes"][0]["status"] == "done"
        assert monitor.calls["sub:1"] == 2

    async def test_error_messages_are_cut(self, api, clock):
        long = "x" * 2000
        FakeMonitor(api, {"sub:1": [state("error", "1", "1", [("000123", long)], "1")]})
        payload = await run_trigger(PontoWebProcessTrigger(subs("1")))
        message = payload["processes"][0]["errors"][0]["message"]
        assert len(message) == MAX_ERROR_MESSAGE
        assert message.endswith("…")

    async def test_output_keys_replace_input_keys_of_the_same_name(self, api, clock):
        FakeMonitor(api, {"sub:1": [state(sub="1")]})
        payload = await run_trigger(PontoWebProcessTrigger(subs("1", status="sent", note="kept")))
        assert payload["processes"][0]["status"] == "done"
        assert payload["processes"][0]["note"] == "kept"

    async def test_timeout_with_pending_processes(self, api, clock, no_hook_retries):
        monitor = FakeMonitor(
            api,
            {
                "sub:1": [state(sub="1")],
                "sub:2": [state("warning", "1", "4", [("000123", "PIS inválido")], "2")],
                "sub:3": [503],
            },
        )
        trigger = PontoWebProcessTrigger(
            subs("1", "2", "3"), poll_interval=30, max_poll_interval=300, end_time=START + 100
        )
        payload = await run_trigger(trigger)
        assert payload["status"] == "timeout"
        first, second, third = payload["processes"]
        assert first["status"] == "done"
        assert second == {
            "unique": None,
            "subunique": "2",
            "status": "pending",
            "progress": {"done": 1, "total": 4},
            "errors": [{"identifier": "000123", "message": "PIS inválido"}],  # errors so far
            "message": None,
        }
        assert third["status"] == "pending"
        assert third["progress"] == {"done": None, "total": None}
        assert "503" in third["message"]
        assert "2 not finished before the timeout" in payload["message"]
        assert "subunique 2 at 1/4" in payload["message"]
        assert "subunique 3 at ?/? (last poll failed" in payload["message"]
        # first answers moved: 30; then nothing moves: x1.5 = 45; 67.5 cut to the 25 s left
        assert clock.sleeps == [30.0, 45.0, 25.0]
        assert clock.now == START + 100
        assert monitor.calls == {"sub:1": 1, "sub:2": 4, "sub:3": 4}

    async def test_end_time_already_past_polls_once(self, api, clock):
        monitor = FakeMonitor(api, {"sub:1": [running(sub="1")]})
        payload = await run_trigger(PontoWebProcessTrigger(subs("1"), end_time=START - 5))
        assert payload["status"] == "timeout"
        assert monitor.calls["sub:1"] == 1
        assert clock.sleeps == []

    async def test_finished_at_the_final_poll_wins_over_the_timeout(self, api, clock):
        FakeMonitor(api, {"sub:1": [running(sub="1"), state(sub="1")]})
        payload = await run_trigger(PontoWebProcessTrigger(subs("1"), poll_interval=60, end_time=START + 10))
        assert payload["status"] == "success"
        assert clock.sleeps == [10.0]


# -- failures ---------------------------------------------------------------------------------------


class TestFailures:
    async def test_transient_errors_then_success(self, api, clock, no_hook_retries, trigger_log):
        monitor = FakeMonitor(
            api,
            {
                "sub:1": [state(sub="1")],
                "sub:2": [
                    503,
                    429,
                    requests.exceptions.ConnectionError("Connection reset by peer"),
                    ["not", "an", "object"],
                    state(sub="2"),
                ],
            },
        )
        payload = await run_trigger(PontoWebProcessTrigger(subs("1", "2")))
        assert payload["status"] == "success"
        assert [p["status"] for p in payload["processes"]] == ["done", "done"]
        assert payload["processes"][1]["message"] is None  # the last poll worked
        assert monitor.calls == {"sub:1": 1, "sub:2": 5}
        warnings = trigger_log.of("warning")
        assert len(warnings) == 4
        assert all("not fatal" in w and "subunique 2" in w for w in warnings)
        assert not trigger_log.of("error")

    async def test_with_the_hooks_own_retries(self, api, clock):
        monitor = FakeMonitor(api, {"sub:1": [*([503] * 6), state(sub="1")]})
        payload = await run_trigger(PontoWebProcessTrigger(subs("1")))
        assert payload["status"] == "success"
        assert monitor.calls["sub:1"] == 7  # 5 calls (1 + 4 retries) failed the first poll

    async def test_an_answer_that_is_not_a_monitor_answer_is_transient(self, api, clock, no_hook_retries):
        bad = state(sub="1")
        bad["data"] = {"errors": "not a list"}
        FakeMonitor(api, {"sub:1": [bad, state(sub="1")]})
        payload = await run_trigger(PontoWebProcessTrigger(subs("1")))
        assert payload["processes"][0]["status"] == "done"

    @pytest.mark.parametrize(
        ("status", "body", "text"),
        [
            (400, {"error": "Process not found"}, "Process not found"),
            (410, {"error": "Gone"}, "Gone"),
            (400, {"error": '"subunique" or "unique" is required'}, "is required"),
            (404, {"error": "Not Found"}, "Not Found"),
        ],
    )
    async def test_lost_process_does_not_stop_the_others(
        self, api, clock, no_hook_retries, trigger_log, status, body, text
    ):
        monitor = FakeMonitor(
            api,
            {
                "sub:1": [running("0", "2", "1"), state("done", "2", "2", sub="1")],
                "sub:2": [(status, body)],
                "sub:3": [state(sub="3")],
            },
        )
        payload = await run_trigger(PontoWebProcessTrigger(subs("1", "2", "3")))
        assert payload["status"] == "success"
        assert [p["status"] for p in payload["processes"]] == ["done", "lost", "done"]
        lost = payload["processes"][1]
        assert text in lost["message"]
        assert str(status) in lost["message"]
        assert lost["progress"] == {"done": None, "total": None}
        assert lost["errors"] == []
        assert monitor.calls == {"sub:1": 2, "sub:2": 1, "sub:3": 1}  # lost: never polled again
        assert "1 lost" in payload["message"]
        assert any("subunique 2 is lost" in w for w in trigger_log.of("warning"))

    async def test_lost_after_progress_keeps_the_last_progress(self, api, clock, no_hook_retries):
        FakeMonitor(api, {"sub:1": [running("1", "3", "1"), 410]})
        payload = await run_trigger(PontoWebProcessTrigger(subs("1")))
        assert payload["processes"][0]["status"] == "lost"
        assert payload["processes"][0]["progress"] == {"done": 1, "total": 3}

    async def test_every_process_lost_is_still_success(self, api, clock):
        FakeMonitor(api, {"sub:1": [410], "sub:2": [(400, {"error": "Process not found"})]})
        payload = await run_trigger(PontoWebProcessTrigger(subs("1", "2")))
        assert payload["status"] == "success"
        assert [p["status"] for p in payload["processes"]] == ["lost", "lost"]

    @pytest.mark.parametrize(
        ("status", "body", "error_type"),
        [
            (401, {"error": {"code": 401, "message": "Unauthorized"}}, "AhgoraAuthError"),
            (403, {"error": {"message": "Forbidden", "code": 403}}, "AhgoraPermissionError"),
        ],
    )
    async def test_credentials_refused_is_fatal_for_all(self, api, clock, status, body, error_type):
        FakeMonitor(api, {"sub:1": [state(sub="1")], "sub:2": [(status, body)]})
        payload = await run_trigger(PontoWebProcessTrigger(subs("1", "2"), end_time=START + 3600))
        assert payload["status"] == "failed"
        assert payload["error_type"] == error_type
        assert str(status) in payload["message"]
        assert clock.sleeps == []

    async def test_missing_connection_becomes_a_failed_event(self, clock, monkeypatch):
        monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_CONN", raising=False)
        payload = await run_trigger(PontoWebProcessTrigger(subs("1"), pontoweb_conn_id="no_such_conn"))
        assert payload["status"] == "failed"
        assert "no_such_conn" in payload["message"]

    async def test_bad_connection_becomes_a_failed_event(self, clock, monkeypatch):
        from tests.conftest import set_conn

        set_conn(monkeypatch, "pontoweb_default", conn_type="pontoweb", host=PONTOWEB_BASE, login="svc")
        payload = await run_trigger(PontoWebProcessTrigger(subs("1")))
        assert payload["status"] == "failed"
        assert payload["error_type"] == "AhgoraConfigError"

    async def test_unexpected_exception_becomes_a_failed_event(self, pontoweb_conn, clock, monkeypatch):
        async def broken(self, unique=None, subunique=None):
            raise RuntimeError("something odd")

        monkeypatch.setattr(PontoWebHook, "aget_process", broken)
        payload = await run_trigger(PontoWebProcessTrigger(subs("1", "2")))
        assert payload == {"status": "failed", "message": "something odd", "error_type": "RuntimeError"}

    async def test_a_poll_that_hangs_past_the_deadline_times_out(self, clock):
        class HangingHook:
            closed = False

            async def asettings(self) -> None:
                return None

            async def aget_process(self, unique=None, subunique=None):
                if subunique == "1":
                    from airflow_provider_ahgora.models.pontoweb import ProcessStatus

                    return ProcessStatus.model_validate(state(sub="1"))
                await asyncio.Event().wait()

            async def aclose(self) -> None:
                HangingHook.closed = True

        trigger = PontoWebProcessTrigger(subs("1", "2"), end_time=START + 5)
        trigger.final_poll_grace = 0.05
        clock.now = START + 5  # the deadline has come while the polls started
        trigger._get_hook = HangingHook  # type: ignore[method-assign]
        payload = await run_trigger(trigger)
        assert payload["status"] == "timeout"
        assert [p["status"] for p in payload["processes"]] == ["done", "pending"]
        assert "no answer before the deadline" in payload["processes"][1]["message"]
        assert HangingHook.closed

    async def test_cancellation_is_not_swallowed(self):
        started = asyncio.Event()

        class HangingHook:
            async def asettings(self) -> None:
                return None

            async def aget_process(self, unique=None, subunique=None):
                started.set()
                await asyncio.Event().wait()

            async def aclose(self) -> None:
                pass

        trigger = PontoWebProcessTrigger(subs("1", "2"))
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


# -- backoff and deadline -------------------------------------------------------------------------------


class TestBackoff:
    async def test_grows_while_nothing_moves_and_resets_when_any_process_moves(
        self, api, clock, no_hook_retries
    ):
        stuck = running("0", "9", "1")
        FakeMonitor(
            api,
            {
                "sub:1": [
                    stuck,
                    stuck,
                    stuck,
                    stuck,
                    running("2", "9", "1"),
                    running("2", "9", "1"),
                    state(sub="1"),
                ],
                "sub:2": [running("0", "5", "2")],
            },
        )
        payload = await run_trigger(
            PontoWebProcessTrigger(
                subs("1", "2"), poll_interval=10, max_poll_interval=30, end_time=START + 10_000
            )
        )
        assert payload["status"] == "timeout"
        # first answers: 10; no change: x1.5 (15, 22.5), capped at 30; sub 1 moved: 10; then 15; sub 1
        # finished (a move): 10; then only sub 2, stuck: 15, 22.5, 30, 30, ...
        assert clock.sleeps[:9] == [10.0, 15.0, 22.5, 30.0, 10.0, 15.0, 10.0, 15.0, 22.5]
        assert max(clock.sleeps) == 30.0
        assert BACKOFF_FACTOR == 1.5

    async def test_failing_polls_back_off_too(self, api, clock, no_hook_retries):
        monitor = FakeMonitor(api, {"sub:1": [*([503] * 20), state(sub="1")]})
        payload = await run_trigger(
            PontoWebProcessTrigger(subs("1"), poll_interval=10, max_poll_interval=100)
        )
        assert payload["status"] == "success"
        assert monitor.calls["sub:1"] == 21
        assert clock.sleeps[:3] == [15.0, 22.5, 33.75]
        assert max(clock.sleeps) == 100.0

    async def test_never_sleeps_past_the_deadline(self, api, clock, monkeypatch, no_hook_retries):
        FakeMonitor(api, {"sub:1": [running(sub="1")], "sub:2": [503]})
        end_time = START + 1000
        seen: list[tuple[float, float]] = []
        sleep = clock.sleep

        async def checked_sleep(seconds: float, result: Any = None) -> Any:
            seen.append((clock.now, seconds))
            return await sleep(seconds, result)

        monkeypatch.setattr(asyncio, "sleep", checked_sleep)
        payload = await run_trigger(
            PontoWebProcessTrigger(subs("1", "2"), poll_interval=7, max_poll_interval=200, end_time=end_time)
        )
        assert payload["status"] == "timeout"
        assert all(now + seconds <= end_time for now, seconds in seen)
        assert clock.now == end_time  # it woke exactly at the deadline
        assert max(seconds for _, seconds in seen) == 200.0


# -- concurrency ---------------------------------------------------------------------------------------


class TestConcurrency:
    async def test_bounded_by_max_concurrency(self):
        """A fake hook: each call yields to the loop a few times; at most 3 are ever in flight."""
        inflight = 0
        peak = 0
        calls: list[str] = []

        class SlowHook:
            async def asettings(self) -> None:
                return None

            async def aget_process(self, unique=None, subunique=None):
                nonlocal inflight, peak
                from airflow_provider_ahgora.models.pontoweb import ProcessStatus

                inflight += 1
                peak = max(peak, inflight)
                calls.append(subunique)
                try:
                    for _ in range(5):
                        await asyncio.sleep(0.001)
                finally:
                    inflight -= 1
                return ProcessStatus.model_validate(state(sub=subunique))

            async def aclose(self) -> None:
                pass

        names = [str(i) for i in range(20)]
        trigger = PontoWebProcessTrigger(subs(*names), max_concurrency=3)
        trigger._get_hook = SlowHook  # type: ignore[method-assign]
        payload = await run_trigger(trigger)
        assert [p["status"] for p in payload["processes"]] == ["done"] * 20
        assert [p["subunique"] for p in payload["processes"]] == names  # input order
        assert sorted(calls) == sorted(names)
        assert peak == 3

    async def test_bounded_over_http(self, api, no_hook_retries):
        """The real hook, calls in worker threads: never more than max_concurrency at once."""
        names = [str(i) for i in range(12)]
        monitor = FakeMonitor(api, {f"sub:{n}": [state(sub=n)] for n in names}, delay=0.05)
        payload = await run_trigger(PontoWebProcessTrigger(subs(*names), max_concurrency=4))
        assert [p["status"] for p in payload["processes"]] == ["done"] * 12
        assert sum(monitor.calls.values()) == 12
        assert 1 < monitor.max_inflight <= 4

"""Fakes shared by the operator tests: a task instance, the two retry-state stores, a clock that never
waits, the log text, an in-memory filesystem, hooks that never really back off, and a stateful fake of
PontoWeb's push routes and process monitor (through ``responses``).

The clock replaces the polling policy's (:mod:`airflow_provider_ahgora.polling`): every blocking wait
of every operator is paced there, so this is the one place a test fakes time.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
import requests
import responses

from airflow_provider_ahgora import polling
from airflow_provider_ahgora.registry import MAX_PUSH_BYTES
from airflow_provider_ahgora.sandbox.pytest_plugin import sandbox, sandbox_options  # noqa: F401 - fixtures
from tests.conftest import PONTOWEB_BASE, SleepRecorder

PUSH_URL = re.compile(rf"^{re.escape(PONTOWEB_BASE)}/(?P<resource>[A-Za-z_/]+)$")
MONITOR_URL = re.compile(rf"^{re.escape(PONTOWEB_BASE)}/process(\?.*)?$")
UNIQUE = "9b43f28c"
MIB = MAX_PUSH_BYTES

RUN_ID = "scheduled__2026-02-01T00:00:00+00:00"


class FakeTI:
    """A task instance: what operators read from ``context["ti"]``, and the XComs they push (through a
    JSON round trip, as an XCom backend keeps them). ``calls_at_push`` counts the HTTP calls made
    (through ``responses``) when each key was pushed."""

    def __init__(
        self,
        map_index: int = -1,
        try_number: int = 1,
        *,
        task_id: str = "task",
        dag_id: str = "closing",
        run_id: str = RUN_ID,
        max_tries: int = 0,
    ) -> None:
        self.dag_id = dag_id
        self.run_id = run_id
        self.task_id = task_id
        self.map_index = map_index
        self.try_number = try_number
        self.max_tries = max_tries
        self.xcoms: dict[str, Any] = {}
        self.calls_at_push: dict[str, int] = {}

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        import responses

        self.xcoms[key] = json.loads(json.dumps(value))
        self.calls_at_push[key] = len(responses.calls)


class FakeStateStore:
    """Airflow 3.3's ``context["task_state_store"]`` (values through a JSON round trip, like the real
    one). ``sets`` lists every write, in order."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = dict(data or {})
        self.sets: list[tuple[str, Any]] = []
        self.deletes: list[str] = []

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any, **_: Any) -> None:
        value = json.loads(json.dumps(value))
        self.sets.append((key, value))
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.deletes.append(key)
        self.data.pop(key, None)


class FakeVariable:
    """``airflow.models.Variable`` / ``airflow.sdk.Variable``, for the retry state below Airflow 3.3."""

    store: dict[str, str] = {}

    @classmethod
    def get(cls, key: str, default: Any = None, **_: Any) -> Any:
        return cls.store.get(key, default)

    @classmethod
    def set(cls, key: str, value: Any, description: str | None = None, **_: Any) -> None:
        cls.store[key] = value

    @classmethod
    def delete(cls, key: str) -> None:
        cls.store.pop(key, None)


@pytest.fixture
def variables(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The Variable store of the retry state's fallback (what a context without task_state_store uses)."""
    from airflow_provider_ahgora import journal as _state

    FakeVariable.store = {}
    monkeypatch.setattr(_state.VariableState, "_variable", staticmethod(lambda: FakeVariable))
    return FakeVariable.store


def make_context(store: FakeStateStore | None = None, ti: FakeTI | None = None, **ti_options: Any) -> Any:
    """A task context: a task instance and, when given, a ``task_state_store``."""
    ctx: dict[str, Any] = {"ti": ti or FakeTI(**ti_options), "run_id": RUN_ID}
    if store is not None:
        ctx["task_state_store"] = store
    return ctx


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SleepRecorder:
    """A fake wall clock for the blocking waits: it moves only when an operator sleeps. Returns the
    recorder of those sleeps."""
    state = {"now": 1_700_000_000.0}
    sleeps = SleepRecorder()

    def fake_sleep(seconds: float) -> None:
        sleeps(seconds)
        state["now"] += seconds

    monkeypatch.setattr(polling, "_sleep", fake_sleep)
    monkeypatch.setattr(polling, "_now", lambda: state["now"])
    return sleeps


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Any:
    """Everything logged so far: Airflow 2 logs through ``logging``, Airflow 3 operators through
    structlog to the standard streams."""
    caplog.set_level(logging.DEBUG)

    def text() -> str:
        out, err = capsys.readouterr()
        text.seen += out + err  # type: ignore[attr-defined]
        return caplog.text + text.seen  # type: ignore[attr-defined]

    text.seen = ""  # type: ignore[attr-defined]
    return text


@pytest.fixture
def memfs() -> Any:
    """fsspec's in-memory filesystem, empty before and after the test (``memory://`` paths)."""
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.store.clear()
    fs.pseudo_dirs.clear()
    fs.pseudo_dirs.append("")
    yield fs
    fs.store.clear()


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch, pontoweb_conn: Any) -> list[Any]:
    """Every PontoWeb hook the operators make: 2 retries, no real backoff sleeps. Returns them."""
    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
    from airflow_provider_ahgora.operators.push import PontoWebPushBatchOperator
    from airflow_provider_ahgora.operators.reckon import (
        PontoWebReckonOperator,
        PontoWebReckonResultsOperator,
        PontoWebReconsumeOperator,
    )

    made: list[PontoWebHook] = []

    def get_hook(self: Any) -> PontoWebHook:
        hook = PontoWebHook(self.pontoweb_conn_id, retry_limit=2, retry_delay=0.01, retry_max_delay=0.01)
        hook.sleep = SleepRecorder()
        made.append(hook)
        return hook

    for operator in (
        PontoWebReckonOperator,
        PontoWebReconsumeOperator,
        PontoWebReckonResultsOperator,
        PontoWebPushBatchOperator,
    ):
        monkeypatch.setattr(operator, "get_hook", get_hook)
    return made


# --------------------------------------------------------------------------------------------------
# PontoWeb's push routes and process monitor
# --------------------------------------------------------------------------------------------------


class FakePontoWeb:
    """Push routes and the process monitor. Pushes are numbered by call (1-based, every attempt) and
    accepted pushes by acceptance (1-based): ``monitor_script[n]`` scripts the monitor of accepted
    push ``n`` (a list of answers, the last one repeated; an answer is a body dict or a
    ``(status, body)`` pair)."""

    def __init__(self) -> None:
        self.calls = 0
        self.bodies: list[bytes] = []  # every push request body, in order
        self.accepted: list[dict[str, Any]] = []  # {"records", "subunique", "unique", "resource"}
        #: push call number -> (when, what): when "before"/"after"; what an HTTP status or "reset"
        self.faults: dict[int, tuple[str, Any]] = {}
        self.monitor_script: dict[int, list[Any]] = {}
        self.monitor_calls: list[dict[str, str]] = []
        self.give_subunique = True

    def install(self, rsps: Any) -> None:
        rsps.add_callback(responses.GET, MONITOR_URL, callback=self._monitor)
        rsps.add_callback(responses.POST, PUSH_URL, callback=self._push)

    # -- routes ---------------------------------------------------------------------------------

    def _fault(self, what: Any) -> tuple[int, dict, str]:
        if what == "reset":
            raise requests.exceptions.ConnectionError("Connection reset by peer")
        return int(what), {}, json.dumps({"error": {"message": f"fault {what}", "code": int(what)}})

    def _push(self, request: Any) -> tuple[int, dict, str]:
        self.calls += 1
        body = request.body if isinstance(request.body, bytes) else request.body.encode("utf-8")
        self.bodies.append(body)
        fault = self.faults.get(self.calls)
        if fault is not None and fault[0] == "before":
            return self._fault(fault[1])
        resource = PUSH_URL.match(request.url)["resource"]  # type: ignore[index]
        sub = str(64000000 + len(self.accepted) + 1)
        self.accepted.append(
            {"resource": resource, "records": json.loads(body), "subunique": sub, "unique": UNIQUE}
        )
        if fault is not None:
            return self._fault(fault[1])
        answer = {"company": "a000101", "unique": UNIQUE, "message": "Integration on progress"}
        if self.give_subunique:
            answer["subunique"] = sub
        return 200, {}, json.dumps(answer)

    def _monitor(self, request: Any) -> tuple[int, dict, str]:
        params = dict(request.params)
        self.monitor_calls.append(params)
        if params.get("subunique"):
            numbers = [i for i, p in enumerate(self.accepted, 1) if p["subunique"] == params["subunique"]]
        else:
            numbers = [i for i, p in enumerate(self.accepted, 1) if p["unique"] == params.get("unique")]
        if not numbers:
            return 400, {}, json.dumps({"error": {"message": "Process not found", "code": 400}})
        script = self.monitor_script.get(numbers[0])
        if script:
            answer = script.pop(0) if len(script) > 1 else script[0]
            status, body = answer if isinstance(answer, tuple) else (200, answer)
            return status, {}, json.dumps(body)
        total = sum(len(self.accepted[n - 1]["records"]) for n in numbers)
        return 200, {}, json.dumps(monitor_body("done", total, total))

    # -- inspection -----------------------------------------------------------------------------

    def sent_records(self) -> list[Any]:
        return [r for p in self.accepted for r in p["records"]]

    def batch_records(self) -> list[list[Any]]:
        return [p["records"] for p in self.accepted]


def monitor_body(status: str, done: int, total: int, errors: list[dict[str, str]] | None = None) -> dict:
    return {
        "company": "a000101",
        "unique": UNIQUE,
        "subunique": "x",
        "status": status,
        "progress": {"done": str(done), "total": str(total)},
        "data": {"errors": errors or []},
    }


@pytest.fixture
def fake() -> Any:
    fake = FakePontoWeb()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        yield fake

"""Fakes shared by the operator tests: a task instance, the two retry-state stores, a clock that never
waits, the log text, an in-memory filesystem.

The clock replaces the polling policy's (:mod:`airflow_provider_ahgora.polling`): every blocking wait
of every operator is paced there, so this is the one place a test fakes time.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from airflow_provider_ahgora import polling
from tests.conftest import SleepRecorder

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

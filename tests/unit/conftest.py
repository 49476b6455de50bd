"""What unit tests of several folders share."""

from __future__ import annotations

from typing import Any

import pytest

#: Modules of ours that a Dag file may load at parse time: standard library (and our exceptions, which
#: Airflow's own AirflowException already costs) only; no pydantic, no HTTP stack, no models.
PARSE_TIME_MODULES: tuple[str, ...] = (
    "airflow_provider_ahgora.sensors",
    "airflow_provider_ahgora.operators",
    "airflow_provider_ahgora.exceptions",
    "airflow_provider_ahgora.registry",
    "airflow_provider_ahgora.polling",
    "airflow_provider_ahgora.models.vocabulary",
)
#: Package modules with nothing in them but a docstring (importing them costs nothing).
EMPTY_PACKAGES: tuple[str, ...] = ("airflow_provider_ahgora.models",)


@pytest.fixture(autouse=True)
def _isolated_reading_memory(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Each test starts with no learnt reading of ``total``: ``ReadingMemory`` keeps it in an Airflow
    Variable, which on Airflow 2.11 is the test run's real metadata database and would carry what one
    test learnt (same fake server URL) into the next. Returns the test's own store."""
    from airflow_provider_ahgora.results import ReadingMemory

    store: dict[str, Any] = {}

    class Variables:
        @staticmethod
        def get(key: str, default: Any = None, **_: Any) -> Any:
            return store.get(key, default)

        @staticmethod
        def set(key: str, value: Any, **_: Any) -> None:
            store[key] = value

    monkeypatch.setattr(ReadingMemory, "_variable", staticmethod(lambda: Variables))
    return store

"""Fixtures of the sandbox tests: the plugin's ``sandbox`` fixture, plus clients pointed at it."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import requests

from airflow_provider_ahgora.sandbox.pytest_plugin import (  # noqa: F401 - fixtures and the marker
    pytest_configure,
    sandbox,
    sandbox_options,
)


class ManualClock:
    """A clock that moves only when told: ``clock.now += 3600``."""

    def __init__(self, now: float = 1_745_850_000.0) -> None:  # 2025-04-28
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def pw(sandbox) -> Any:  # noqa: F811
    """A requests session speaking to the sandbox's PontoWeb as its service user (Accept-Version v2)."""
    session = requests.Session()
    session.auth = (sandbox.login, sandbox.password)
    session.headers["Accept-Version"] = "v2"
    session.base = sandbox.base_url  # type: ignore[attr-defined]
    yield session
    session.close()


@pytest.fixture
def vs(sandbox) -> Any:  # noqa: F811
    """A requests session speaking to the sandbox's Voors with its token."""
    session = requests.Session()
    session.headers["Authorization"] = sandbox.token
    session.base = sandbox.voors_url  # type: ignore[attr-defined]
    yield session
    session.close()


def basic(login: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


START = {"rescission": False, "month": "04", "year": "2025"}

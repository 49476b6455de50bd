"""Fakes shared by the trigger tests: a clock that never waits, the API through `responses`, and
hooks without retries of their own (one poll = one HTTP call).

The clock replaces the polling policy's wall clock (:func:`airflow_provider_ahgora.polling._now`) and
``asyncio.sleep``: every deadline and pause of a trigger is computed by the policy, so this is the
one place a test needs to fake time.
"""

from __future__ import annotations

from typing import Any

import pytest
import responses

from airflow_provider_ahgora import polling

START = 1_700_000_000.0


class FakeClock:
    """Stands in for the polling policy's clock and for asyncio.sleep (everywhere)."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float, result: Any = None) -> Any:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds
        return result


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    import asyncio

    fake = FakeClock()
    monkeypatch.setattr(polling, "_now", fake.time)
    monkeypatch.setattr(asyncio, "sleep", fake.sleep)
    return fake


@pytest.fixture
def api(pontoweb_conn, async_wire_via_requests):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def no_hook_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both triggers build hooks without retries of their own: only the trigger's pauses remain."""
    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
    from airflow_provider_ahgora.triggers.process import PontoWebProcessTrigger
    from airflow_provider_ahgora.triggers.reckon import PontoWebReckonTrigger

    def get_hook(self: Any) -> PontoWebHook:
        return PontoWebHook(self.pontoweb_conn_id, retry_limit=0)

    monkeypatch.setattr(PontoWebReckonTrigger, "_get_hook", get_hook)
    monkeypatch.setattr(PontoWebProcessTrigger, "_get_hook", get_hook)

"""The polling policy: backoff that resets on progress, never past the deadline."""

from __future__ import annotations

import pytest

from airflow_provider_ahgora import polling
from airflow_provider_ahgora.polling import Pacer, Round, wait_blocking


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    clock = {"t": 1000.0}
    monkeypatch.setattr(polling, "_now", lambda: clock["t"])

    def sleep(seconds: float) -> None:
        assert seconds >= 0
        clock["t"] += seconds

    monkeypatch.setattr(polling, "_sleep", sleep)
    return clock


def test_backoff_grows_without_progress_and_resets_on_progress(now):
    pacer = Pacer(10, 40)
    assert [pacer.next_delay(False) for _ in range(5)] == [15.0, 22.5, 33.75, 40.0, 40.0]
    assert pacer.next_delay(True) == 10.0


def test_never_sleeps_past_the_deadline(now):
    pacer = Pacer(10, 300, end_time=1025.0)
    delays = []
    rounds = iter(range(100))

    def poll_round(_p: Pacer) -> Round:
        next(rounds)
        return Round(False, False)

    start = now["t"]
    assert wait_blocking(poll_round, pacer) is False
    delays.append(now["t"] - start)
    assert now["t"] == 1025.0


def test_the_last_round_has_its_grace(now):
    pacer = Pacer(10, 60, end_time=1005.0, final_grace=60.0)
    assert pacer.budget() == 60.0
    now["t"] = 990.0
    assert pacer.budget() == 60.0  # at least the grace
    assert Pacer(10, 60).budget() is None


def test_a_wait_ends_as_soon_as_everything_is_finished(now):
    answers = iter([Round(False, True), Round(False, False), Round(True, True)])
    assert wait_blocking(lambda p: next(answers), Pacer(5, 5)) is True
    assert now["t"] == 1010.0  # 5 s after the first round, 5 after the second


def test_interval_must_be_positive():
    with pytest.raises(ValueError, match="interval"):
        Pacer(0, 10)

"""The delivery journal: what survives a try, and what a failed write leaves."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_ahgora.journal import (
    DeliveryJournal,
    JournalWriteError,
    RetryState,
    TaskStateStoreState,
    ranges,
    unranges,
)
from tests.unit.operators.conftest import FakeStateStore


def state(store: FakeStateStore | None = None) -> TaskStateStoreState:
    return TaskStateStoreState(store if store is not None else FakeStateStore(), "k")


class Flaky(FakeStateStore):
    """Fails the writes listed in ``failing`` (1-based)."""

    def __init__(self, failing: set[int]) -> None:
        super().__init__()
        self.failing = failing
        self.attempts = 0

    def set(self, key: str, value: Any, **kwargs: Any) -> None:
        self.attempts += 1
        if self.attempts in self.failing:
            raise RuntimeError("the API server is down")
        super().set(key, value, **kwargs)


def test_ranges_round_trip():
    units = {0, 1, 2, 5, 9, 10}
    assert ranges(units) == [[0, 2], [5, 5], [9, 10]]
    assert unranges(ranges(units)) == units
    assert unranges([[3, "x"], ["a"], None, [7, 7]]) == {7}  # malformed parts skipped


def test_a_journal_survives_a_try_and_belongs_to_its_input():
    store = FakeStateStore()
    journal = DeliveryJournal(state(store), "in-1", flush_seconds=0).load()
    journal.begin([3, 4], {3: {"pre": []}})
    journal.confirm(3, id="77")
    journal.mark_unknown(4, "lost")
    again = DeliveryJournal(state(store), "in-1").load()
    assert (again.confirmed, again.inflight, again.unknown) == ({3}, set(), {4: "lost"})
    assert again.info[3] == {"id": "77"}
    other = DeliveryJournal(state(store), "in-2").load()
    assert other.confirmed == set()
    assert other.other_input == {"units": 2, "max_tries": None}


def test_a_failed_confirmation_is_written_again_later():
    """A write that failed must not be taken as written: the end of the try writes it (found in
    review: the unit stayed in flight on disk, and was reported 'may have been accepted')."""
    store = Flaky({2})
    journal = DeliveryJournal(state(store), "in", flush_seconds=0).load()
    journal.begin([1])  # write 1
    journal.confirm(1)  # write 2 fails
    assert store.data["k"]["inflight"] == [[1, 1]]
    journal.flush(force=True)  # write 3
    assert store.data["k"]["confirmed"] == [[1, 1]]
    assert store.data["k"]["inflight"] == []


def test_begin_is_strict():
    journal = DeliveryJournal(state(Flaky({1})), "in").load()
    with pytest.raises(JournalWriteError):
        journal.begin([1])


def test_many_unknown_units_share_their_reason():
    store = FakeStateStore()
    journal = DeliveryJournal(state(store), "in", flush_seconds=0).load()
    reason = "outcome unknown: HTTP 502: Bad Gateway; the create was not repeated " * 3
    for unit in range(500):
        journal.mark_unknown(unit, reason)
    written = store.data["k"]
    assert len(json.dumps(written)) < 6_000
    assert DeliveryJournal(state(store), "in").load().unknown[499] == reason[:300]


def test_a_human_clear_is_told_by_max_tries():
    store = FakeStateStore()
    journal = DeliveryJournal(state(store), "old", flush_seconds=0).load()
    journal.stamp(2)
    journal.confirm(0)
    changed = DeliveryJournal(state(store), "new").load()
    assert changed.changed_input_is_risky(2)  # an automatic retry
    assert not changed.changed_input_is_risky(5)  # cleared: max_tries rose
    assert not DeliveryJournal(state(FakeStateStore()), "new").load().changed_input_is_risky(2)


def test_the_base_store_keeps_nothing():
    assert RetryState().set({"a": 1}) is False
    assert RetryState().get() is None

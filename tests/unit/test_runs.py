"""The run's date, the month it closes and its folder (airflow_provider_ahgora.runs): one rule for
every way a run starts. The contexts here are shaped as each Airflow line hands them to a task; the
integration tests (tests/integration/test_closing_month.py) start real runs every way."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_ahgora.runs import (
    STORAGE_VARIABLE,
    ClosingMonth,
    month_to_close,
    run_date,
    run_folder,
    storage_base,
)

UTC = timezone.utc


def context(logical_date: Any = "absent", **dag_run: Any) -> dict[str, Any]:
    """A task's context: Airflow 3 leaves logical_date (and ds, data_interval_*) out of it when the
    run has no logical date; 2.11 always has one."""
    ctx: dict[str, Any] = {
        "dag_run": SimpleNamespace(start_date=dag_run.pop("start_date", None), **dag_run),
        "params": {},
        "run_id": "manual__2026-11-29T02:00:55.875785+00:00",
        "dag": SimpleNamespace(dag_id="monthly_closing"),
    }
    if logical_date != "absent":
        ctx["logical_date"] = logical_date
        if logical_date is not None:
            ctx["ds"] = logical_date.strftime("%Y-%m-%d")
    return ctx


@pytest.mark.parametrize(
    ("logical_date", "closes"),
    [
        (datetime(2026, 2, 1, tzinfo=UTC), ("01", "2026")),  # airflow dags trigger -l 2026-02-01
        (datetime(2026, 2, 1, 6, tzinfo=UTC), ("01", "2026")),  # the scheduled run of 1 February
        (datetime(2026, 2, 28, 23, 59, tzinfo=UTC), ("01", "2026")),  # any day of the month
        (datetime(2026, 1, 1, 6, tzinfo=UTC), ("12", "2025")),  # across the year
        (datetime(2026, 12, 1, tzinfo=UTC), ("11", "2026")),
    ],
)
def test_the_month_before_the_logical_date(logical_date, closes):
    # the data interval is never read: Airflow 3 infers a manual run's from the trigger time
    ctx = context(logical_date, run_after=datetime(2026, 11, 29, tzinfo=UTC))
    ctx["data_interval_start"] = datetime(2026, 10, 1, tzinfo=UTC)
    assert month_to_close(ctx) == ClosingMonth(*closes)
    assert run_date(ctx) == logical_date


def test_the_logical_date_is_read_in_utc():
    # 2026-02-01 01:00 in Moscow is 31 January 22:00 UTC: ds says 2026-01-31, and so does the month
    moscow = timezone(timedelta(hours=3))
    assert month_to_close(context(datetime(2026, 2, 1, 1, tzinfo=moscow))) == ClosingMonth("12", "2025")
    # Airflow keeps dates in UTC: a naive one is UTC
    assert run_date(context(datetime(2026, 3, 1))) == datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize("logical_date", ["absent", None], ids=["key absent", "None"])
def test_a_manual_run_without_logical_date_closes_the_month_before_its_trigger(logical_date):
    asked = datetime(2026, 3, 15, 10, tzinfo=UTC)
    ctx = context(logical_date, run_after=asked, start_date=asked + timedelta(minutes=1))
    assert run_date(ctx) == asked
    assert month_to_close(ctx) == ClosingMonth("02", "2026")


def test_without_run_after_the_start_date_stands_in():
    started = datetime(2026, 1, 20, tzinfo=UTC)
    assert month_to_close(context(None, start_date=started)) == ClosingMonth("12", "2025")


def test_an_explicit_month_wins():
    ctx = context(datetime(2026, 2, 1, tzinfo=UTC))
    closing = month_to_close(ctx, "2025-11")
    assert closing == ClosingMonth("11", "2025")
    assert (closing.month, closing.year, closing.competence) == ("11", "2025", "11/2025")
    assert (closing.first_day.isoformat(), closing.last_day.isoformat()) == ("2025-11-01", "2025-11-30")
    leap = month_to_close(context(datetime(2024, 3, 1, tzinfo=UTC)))
    assert (leap.first_day.isoformat(), leap.last_day.isoformat()) == ("2024-02-01", "2024-02-29")


@pytest.mark.parametrize("bad", ["2025-13", "11/2025", "2025-1", "202511", "2025-00"])
def test_a_bad_month_is_refused_naming_the_format(bad):
    with pytest.raises(ValueError, match=r"'YYYY-MM'.*" + repr(bad).replace("/", ".")):
        month_to_close(context(datetime(2026, 2, 1, tzinfo=UTC)), bad)


def test_the_folder_is_named_for_ds_or_for_the_run_id(monkeypatch):
    # AIRFLOW_HOME stays as tests/conftest.py set it: Airflow reads it once, at its first import
    home = os.environ["AIRFLOW_HOME"]
    monkeypatch.delenv(f"AIRFLOW_VAR_{STORAGE_VARIABLE.upper()}", raising=False)
    dated = context(datetime(2026, 2, 1, 6, tzinfo=UTC))
    dated["params"] = {"storage_base": "s3://payroll/ahgora/"}
    assert run_folder(dated) == "s3://payroll/ahgora/monthly_closing/2026-02-01"
    assert storage_base(dated) == "s3://payroll/ahgora"  # where master_data is, no trailing "/"
    # no logical date: the run id, with what a path cannot hold replaced
    undated = context(None, run_after=datetime(2026, 11, 29, tzinfo=UTC))
    assert run_folder(undated) == (
        f"{home}/data/ahgora/monthly_closing/manual__2026-11-29T02_00_55.875785_00_00"
    )
    monkeypatch.setenv(f"AIRFLOW_VAR_{STORAGE_VARIABLE.upper()}", "gs://bucket/base")
    assert run_folder(undated).startswith("gs://bucket/base/monthly_closing/manual__")
    assert storage_base(undated) == "gs://bucket/base"

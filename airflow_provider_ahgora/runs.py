"""What a DAG run stands for: its date, the month it closes, the folder its files go to.

One rule for every way a run starts, on Airflow 2.11 and 3.x alike, used by every example DAG:

* **The run's date** (:func:`run_date`) is its *logical date*. An Airflow 3 manual run may have
  none (``airflow dags trigger`` without ``-l``, the UI's trigger form with the date left empty):
  then it is the moment the run was asked for (``run_after``).
* **The month a run closes** (:func:`month_to_close`) is the calendar month before the month of
  the run's date, in UTC (the time zone of ``ds``, which names the run's folder): the run of
  2026-02-01 closes January 2026, whether the scheduler started it, a backfill did, someone typed
  ``airflow dags trigger monthly_closing -l 2026-02-01`` or ``airflow dags test monthly_closing
  2026-02-01``. An explicit ``YYYY-MM`` (the DAG's ``month`` param) wins over the date.

The data interval is not used: Airflow 3 infers a manual run's data interval from the moment it
was triggered, not from its logical date (``-l 2026-02-01`` triggered in November gets October's
interval), and an Airflow 3 manual run without a logical date has no data interval at all.

* **The run's folder** (:func:`run_folder`) is ``<storage base>/<dag_id>/<ds>``, or the run id
  when the run has no logical date; the storage base is the run's ``storage_base`` param, else the
  Airflow Variable ``ahgora_storage_base``, else ``$AIRFLOW_HOME/data/ahgora``. It is resolved when
  a task runs, never when the DAG file is parsed (no Variable lookup at parse time).

Importing this module imports nothing of Airflow.
"""

from __future__ import annotations

import calendar
import os
import re
from datetime import date, datetime, timezone
from typing import Any, NamedTuple

__all__ = ["STORAGE_VARIABLE", "ClosingMonth", "month_to_close", "run_date", "run_folder", "storage_base"]

#: The Airflow Variable with the storage base shared by the Ahgora example DAGs.
STORAGE_VARIABLE = "ahgora_storage_base"

_YEAR_MONTH = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


class ClosingMonth(NamedTuple):
    """A month to close, as PontoWeb's reckon takes it: ``month="01"``, ``year="2026"``."""

    month: str
    year: str

    @property
    def competence(self) -> str:
        """``"MM/YYYY"``, the competence of Voors time cards (``"01/2026"``)."""
        return f"{self.month}/{self.year}"

    @property
    def first_day(self) -> date:
        """The month's first calendar day."""
        return date(int(self.year), int(self.month), 1)

    @property
    def last_day(self) -> date:
        """The month's last calendar day."""
        year, month = int(self.year), int(self.month)
        return date(year, month, calendar.monthrange(year, month)[1])

    @classmethod
    def parse(cls, value: str) -> ClosingMonth:
        """A ``YYYY-MM`` text (``"2026-01"``), as the DAG's ``month`` param takes it."""
        match = _YEAR_MONTH.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            raise ValueError(f"a month to close is 'YYYY-MM' (e.g. '2026-01'), got {value!r}")
        return cls(month=match.group(2), year=match.group(1))


def run_date(context: Any) -> datetime:
    """The date a run stands for, in UTC: its logical date; for an Airflow 3 manual run without
    one, when it was asked for (``run_after``).

    :param context: the task's context (``**context`` of a TaskFlow task, ``context`` of ``execute``).
    """
    when = context.get("logical_date")
    if when is None:  # Airflow 3 only: a manual run with no logical date (2.11 always has one)
        dag_run = context["dag_run"]
        when = getattr(dag_run, "run_after", None) or dag_run.start_date
    if when.tzinfo is None:  # Airflow keeps dates in UTC; a naive one is UTC
        return when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)


def month_to_close(context: Any, month: str = "") -> ClosingMonth:
    """The month a run closes: ``month`` (``YYYY-MM``) when given, else the calendar month before
    the month of :func:`run_date` (the run of 2026-02-01, or of 2026-02-15, closes January 2026).

    :raises ValueError: for a ``month`` that is not ``YYYY-MM``.
    """
    if month:
        return ClosingMonth.parse(month)
    when = run_date(context)
    year, number = (when.year - 1, 12) if when.month == 1 else (when.year, when.month - 1)
    return ClosingMonth(month=f"{number:02d}", year=f"{year:04d}")


def storage_base(context: Any) -> str:
    """The storage base every example DAG writes under (see the module's docstring): the run's
    ``storage_base`` param, else the Variable, else ``$AIRFLOW_HOME/data/ahgora``; no trailing ``/``."""
    from airflow.providers.common.compat.sdk import Variable

    base = context["params"].get("storage_base") or Variable.get(STORAGE_VARIABLE, "")
    if not base:
        home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
        base = os.path.join(home, "data", "ahgora")
    return str(base).rstrip("/")


def run_folder(context: Any) -> str:
    """``<storage base>/<dag_id>/<ds or run id>``: where this run's files go (see the module's
    docstring for the storage base). Two runs never share a folder: a run id is unique per DAG,
    and so is the logical date of the runs that have one.
    """
    run = context.get("ds") or re.sub(r"[^A-Za-z0-9._-]+", "_", context["run_id"])
    return f"{storage_base(context)}/{context['dag'].dag_id}/{run}"

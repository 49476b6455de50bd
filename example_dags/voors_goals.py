"""Voors goals for payroll: last month's goals and the organisation they refer to, read into storage.

Runs on the 2nd of each month for the month before (payroll pays bonuses on goals achieved):

1. ``departments`` and ``job_roles``: every department and job role, as Voors holds them
   (``departments.jsonl``, ``jobRoles.jsonl``), to name what the goals' ids refer to.
2. ``goals``: every user's goals of the month, paged with ``limit``/``skip`` until an empty page
   (``goals.jsonl``), and an asset event for the file on the alias ``voors_goals`` (a Dag scheduled
   on it runs when a month's goals land).
3. ``bonus_sheet``: one CSV row per user and goal (``bonus_sheet.csv``), what the payroll team checks.

The month is the one before the run's logical date, as in ``monthly_closing`` (the rule of
``airflow_provider_ahgora.runs``). Files go to ``<storage base>/voors_goals/<ds or run id>/`` (the
storage base as in ``monthly_closing``: the param ``storage_base``, else the Variable
``ahgora_storage_base``, else ``$AIRFLOW_HOME/data/ahgora``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.providers.common.compat.sdk import DAG, AssetAlias, Param, task

from airflow_provider_ahgora.operators.read import VoorsReadOperator
from airflow_provider_ahgora.runs import month_to_close, run_folder

try:  # Airflow 3
    from airflow.sdk import CronTriggerTimetable
except ImportError:  # Airflow 2.11
    from airflow.timetables.trigger import CronTriggerTimetable  # type: ignore[no-redef,assignment]

#: The alias of the goals files: one asset per month's file, known only when the task runs.
GOALS = AssetAlias("voors_goals")
#: This run's folder and period, from the ``plan`` task's XCom.
FOLDER = "{{ ti.xcom_pull(task_ids='plan', key='folder') }}"
PERIOD_START = "{{ ti.xcom_pull(task_ids='plan', key='period_start') }}"
PERIOD_END = "{{ ti.xcom_pull(task_ids='plan', key='period_end') }}"

with DAG(
    dag_id="voors_goals",
    description="Read last month's Voors goals (and departments, job roles) for payroll's bonuses",
    # a run's logical date is the moment it runs, on both lines (a cron string on 2.11 would make it
    # the start of a data interval, a month earlier)
    schedule=CronTriggerTimetable("0 6 2 * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    params={"storage_base": Param("", type="string", description="Path or URI; empty: Variable, else local")},
    tags=["ahgora", "voors", "example"],
) as dag:

    @task(multiple_outputs=True, retries=0)
    def plan(**context: Any) -> dict[str, str]:
        """The month before the run's logical date (for an Airflow 3 manual run without one: before
        the day it was triggered), and where this run's files go (resolved when the task runs, never
        while the file is parsed)."""
        month = month_to_close(context)  # the rule every example DAG shares (runs.py)
        return {
            "period_start": month.first_day.isoformat(),
            "period_end": month.last_day.isoformat(),
            "folder": run_folder(context),  # <storage base>/voors_goals/<ds or run id>
        }

    # [START howto_voors_read]
    departments = VoorsReadOperator(
        task_id="departments", resource="departments", output_path=f"{FOLDER}/departments.jsonl"
    )
    job_roles = VoorsReadOperator(task_id="job_roles", resource="jobRoles", output_path=f"{FOLDER}/")
    goals = VoorsReadOperator(
        task_id="goals",
        resource="goals",
        period_start=PERIOD_START,
        period_end=PERIOD_END,
        page_size=100,  # users per page; a server that caps it lower is read to the end all the same
        output_path=f"{FOLDER}/goals.jsonl",
        outlets=[GOALS],  # an asset event for the file, with the period and the count
    )
    # [END howto_voors_read]

    @task
    def bonus_sheet(goals: dict[str, Any]) -> dict[str, Any]:
        """goals.jsonl -> bonus_sheet.csv: one row per user and goal, streamed (one user in memory)."""
        import csv
        import json

        from airflow.providers.common.compat.sdk import ObjectStoragePath

        from airflow_provider_ahgora.storage import commit, partial_path

        source = ObjectStoragePath(goals["path"])
        target = source.parent / "bonus_sheet.csv"
        partial = partial_path(target)  # written whole, then committed: readers never see half a file
        rows = 0
        with (
            source.open("r", encoding="utf-8") as lines,
            partial.open("w", encoding="utf-8", newline="") as out,
        ):
            writer = csv.writer(out)
            writer.writerow(
                ["userId", "userFullName", "department", "goalId", "goalTitle", "unit", "achieved"]
            )
            for line in iter(lines.readline, ""):
                user = json.loads(line)
                for goal in user.get("userGoals") or []:
                    writer.writerow(
                        [
                            user.get("userId"),
                            user.get("userFullName"),
                            user.get("departmentName"),
                            goal.get("goalId"),
                            goal.get("goalTitle"),
                            goal.get("unit"),
                            goal.get("achieved", ""),
                        ]
                    )
                    rows += 1
        commit(partial, target)
        return {"path": str(target), "rows": rows, "users": goals["records"]}

    plan() >> [departments, job_roles] >> goals
    bonus_sheet(goals.output)

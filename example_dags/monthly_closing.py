"""Monthly closing: last month's time and attendance, from PontoWeb to payroll and to Voors.

Runs on the 1st of each month at 06:00 UTC for the month that just ended. The month to close is
the one before the month of the run's logical date, however the run started: the scheduler, a
backfill, ``airflow dags trigger monthly_closing -l 2026-02-01`` and ``airflow dags test
monthly_closing 2026-02-01`` all close January 2026. An Airflow 3 manual run without a logical date
closes the month before the day it was triggered (``airflow_provider_ahgora.runs`` holds the rule).

1. ``plan``: the month to close and this run's folder (``<storage base>/monthly_closing/<ds>/``, the
   run id when the run has no logical date).
2. ``reckon``: a full-base PontoWeb reckon of that month (deferrable, in the ``ahgora_pontoweb``
   pool: PontoWeb runs at most 4 processes at once); a retry reconnects to the reckon an earlier try
   started instead of paying for a second one.
3. ``results``: every result record, exactly once, to ``results.jsonl`` (and ``results.csv``).
4. ``payroll`` and ``timecards``: the records, streamed from storage, become ``payroll.csv`` (what the
   payroll system imports) and ``timecards.jsonl`` (Voors time cards). A record that cannot be
   transformed is named in a failure report next to them, never dropped silently.
5. ``push_timecards``: the time cards, upserted in Voors (pushing them again edits them).
6. ``summary``: runs whatever happened upstream, writes ``summary.json``, logs a table of counts
   and failures, and fails the run if anything failed, after reporting it.

Settings (DAG params; the Variables give deployment-wide defaults):

* ``storage_base``: where files go. Default: the Variable ``ahgora_storage_base``, else
  ``$AIRFLOW_HOME/data/ahgora``. Use an object store (``s3://payroll/ahgora``) when tasks run on
  different machines (Celery, Kubernetes).
* ``employees``: a file mapping registrations to CPFs (Voors knows users by CPF, PontoWeb records
  carry registrations): CSV with ``registration`` and ``cpf`` columns, or a JSON object
  ``{"000123": "12345678909"}``. Default: the Variable ``ahgora_employees``, else
  ``<storage base>/master_data/employees.csv``.
* ``month``: ``YYYY-MM`` to close another month than the run's (e.g. to close it again): it wins
  over the logical date.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.providers.common.compat.sdk import (
    DAG,
    AirflowFailException,
    AssetAlias,
    Param,
    TriggerRule,
    Variable,
    task,
)

from airflow_provider_ahgora.assets import emit_asset_events
from airflow_provider_ahgora.operators.push import VoorsPushOperator
from airflow_provider_ahgora.operators.reckon import PontoWebReckonOperator, PontoWebReckonResultsOperator
from airflow_provider_ahgora.runs import month_to_close, run_folder, storage_base

try:  # Airflow 3
    from airflow.sdk import CronTriggerTimetable
except ImportError:  # Airflow 2.11
    from airflow.timetables.trigger import CronTriggerTimetable  # type: ignore[no-redef,assignment]


# [START howto_assets]
#: What the closing commits, as asset aliases (dataset aliases on Airflow 2.11): each month's file is
#: an asset of its own (its path is this run's), added to the alias by the task that committed it,
#: with the month, the company and the counts in the event's extra. A Dag scheduled on an alias runs
#: when a month's file lands: ``payroll_import`` on ``PAYROLL``.
RESULTS = AssetAlias("ahgora_reckon_results")
PAYROLL = AssetAlias("ahgora_payroll")
TIMECARDS = AssetAlias("ahgora_timecards")
# [END howto_assets]

#: The month closed, ``YYYY-MM``, as a template (rendered from the ``plan`` task's XCom).
MONTH = "{{ ti.xcom_pull(task_ids='plan', key='year') }}-{{ ti.xcom_pull(task_ids='plan', key='month') }}"
#: The folder of this run, as a template (rendered from the ``plan`` task's XCom).
FOLDER = "{{ ti.xcom_pull(task_ids='plan', key='folder') }}"


with DAG(
    dag_id="monthly_closing",
    description="Reckon last month in PontoWeb, write payroll rows, push Voors time cards",
    # the 1st of each month at 06:00 UTC; a scheduled run's logical date is that moment (no data
    # interval: with one, the logical date would be the interval's start, in the month to close).
    # The month to close is the one before the logical date (see plan), never read from the data
    # interval: Airflow 3 infers a manual run's interval from when it was triggered.
    schedule=CronTriggerTimetable("0 6 1 * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": 3,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
    },
    params={
        "storage_base": Param("", type="string", description="Path or URI; empty: Variable, else local"),
        "employees": Param("", type="string", description="registration -> CPF file (.csv or .json)"),
        "month": Param("", type="string", pattern=r"^([0-9]{4}-(0[1-9]|1[0-2]))?$", description="YYYY-MM"),
    },
    tags=["ahgora", "pontoweb", "voors", "example"],
) as dag:
    # [START howto_month_to_close]
    @task(multiple_outputs=True, retries=0)
    def plan(**context: Any) -> dict[str, str]:
        """The month to close and where this run's files go: small values, never data."""
        params = context["params"]
        # the month param (YYYY-MM) when given, else the month before the run's logical date (for
        # an Airflow 3 manual run without one: before the day it was triggered)
        closing = month_to_close(context, params["month"])
        folder = run_folder(context)  # <storage base>/monthly_closing/<ds or run id>
        employees = params["employees"] or Variable.get("ahgora_employees", "")
        return {
            "month": closing.month,
            "year": closing.year,
            "competence": closing.competence,
            "folder": folder,
            "results": f"{folder}/results.jsonl",
            "employees": employees or f"{storage_base(context)}/master_data/employees.csv",
        }

    # [END howto_month_to_close]

    closing: Any = plan()  # an XComArg: closing["month"] is the plan's "month" at run time

    # [START howto_reckon_deferrable]
    reckon = PontoWebReckonOperator(
        task_id="reckon",
        month=closing["month"],
        year=closing["year"],
        features=["daily.punches", "daily.totals", "monthly"],
        deferrable=True,  # the wait runs in the triggerer: no worker slot held for hours
        poll_interval=30,  # grows x1.5 while nothing moves, up to max_poll_interval
        max_poll_interval=300,
        timeout=6 * 60 * 60,  # per try; the reckon keeps running and the next try reconnects
        pool="ahgora_pontoweb",  # 4 slots: PontoWeb runs at most 4 processes at once
    )
    # [END howto_reckon_deferrable]

    # [START howto_reckon_results]
    results = PontoWebReckonResultsOperator(
        task_id="results",
        unique="{{ ti.xcom_pull(task_ids='reckon')['unique'] }}",
        output_path=closing["results"],  # results.jsonl; csv=True adds results.csv next to it
        csv=True,
        month=MONTH,  # YYYY-MM: names the month in the asset events and the lineage
        outlets=[RESULTS],  # an asset event per file, once both are committed
    )
    # [END howto_reckon_results]
    reckon >> results

    # [START howto_transforms]
    @task(outlets=[PAYROLL])
    def payroll(results: dict[str, Any], folder: str, **context: Any) -> dict[str, Any]:
        """results.jsonl -> payroll.csv (monthly records: one row per accounting event), in the CSV
        dialect named by the Variable ``ahgora_csv_dialect`` (``excel-br`` by default, ``rfc4180``
        for a program). A refused record is named in payroll.failures.jsonl, never dropped."""
        from airflow_provider_ahgora.closing import write_payroll

        out = write_payroll(results["path"], folder, dialect=Variable.get("ahgora_csv_dialect", "excel-br"))
        # only now that payroll.csv is committed: Airflow records the event when the task succeeds
        counts = {"rows": out["rows"], "failed": out["failed"]}
        emit_asset_events(
            context,
            [PAYROLL],
            [out["path"]],
            {"month": results["month"], "company": results["company"], **counts},
        )
        return out

    @task(outlets=[TIMECARDS])
    def timecards(
        results: dict[str, Any], folder: str, competence: str, employees: str, **context: Any
    ) -> dict[str, Any]:
        """results.jsonl -> timecards.jsonl (daily records: one Voors time card per employee and
        month), over the period that ends on the Variable ``ahgora_closing_day`` (e.g. ``25``) when
        it is set, else the reckon's own span of days. Card ids name the company of the reckon's
        answer. A refused card is named in timecards.failures.jsonl, never dropped."""
        from airflow_provider_ahgora.closing import read_employees, write_timecards

        company = (context["ti"].xcom_pull(task_ids="reckon") or {}).get("company")
        if not company:
            raise AirflowFailException(
                "The reckon's answer names no PontoWeb company: time card ids need it."
            )
        closing_day = Variable.get("ahgora_closing_day", "")
        out = write_timecards(
            results["path"],
            folder,
            company=company,
            competence=competence,
            employees=read_employees(employees),
            closing_day=int(closing_day) if closing_day else None,
        )
        counts = {"cards": out["cards"], "failed": out["failed"]}
        emit_asset_events(
            context, [TIMECARDS], [out["path"]], {"month": results["month"], "company": company, **counts}
        )
        return out

    fetched: Any = results.output  # {"path", "records", "csv_path", "company", "month", ...} at run time
    payroll_file = payroll(fetched, closing["folder"])
    cards_file = timecards(fetched, closing["folder"], closing["competence"], closing["employees"])
    # [END howto_transforms]

    # [START howto_push_voors]
    push_timecards = VoorsPushOperator(
        task_id="push_timecards",
        resource="timeCards",
        records=cards_file,  # {"path": ".../timecards.jsonl", ...}: streamed from storage
        max_workers=8,
        # a few rejected cards are reported by the summary (the run still ends red); more than 10%
        # means something systemic (wrong connection, users missing in Voors): fail here at once
        max_failures=0.1,
        report_path=f"{FOLDER}/push_timecards.failures.jsonl",
    )
    # [END howto_push_voors]

    # [START howto_summary]
    @task(trigger_rule=TriggerRule.ALL_DONE, retries=0)
    def summary(**context: Any) -> dict[str, Any]:
        """Counts and failures of every step, from their XComs (push tasks push theirs even when
        they fail). Runs whatever happened upstream; fails the run if anything failed, after
        reporting it in the log and in ``summary.json``."""
        import json

        from airflow.providers.common.compat.sdk import ObjectStoragePath

        from airflow_provider_ahgora.closing import STEPS, closing_report

        def pulled(task_id: str, key: str = "return_value") -> Any:
            return context["ti"].xcom_pull(task_ids=task_id, key=key)

        steps = closing_report({step: pulled(step) for step in STEPS})
        print("\n".join(steps.pop("lines")))
        folder = pulled("plan", "folder")
        report = {
            "dag_id": context["dag"].dag_id,
            "run_id": context["run_id"],
            "month": pulled("plan", "competence"),
            "folder": folder,
            **steps,
        }
        if folder:
            with ObjectStoragePath(f"{folder}/summary.json").open("w", encoding="utf-8") as handle:
                handle.write(json.dumps(report, indent=2, ensure_ascii=False))
        if report["problems"]:
            raise AirflowFailException("Monthly closing incomplete: " + "; ".join(report["problems"]))
        return report

    [payroll_file, push_timecards] >> summary()
    # [END howto_summary]

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

from airflow.providers.common.compat.sdk import DAG, AirflowFailException, Param, TriggerRule, Variable, task

from airflow_provider_ahgora.operators.push import VoorsPushOperator
from airflow_provider_ahgora.operators.reckon import PontoWebReckonOperator, PontoWebReckonResultsOperator
from airflow_provider_ahgora.runs import month_to_close, run_folder

# a file is written whole to a hidden temporary object, then committed onto its name: readers (and
# the next task, on another worker) never see half a file, on a local disk or an object store
from airflow_provider_ahgora.storage import commit, partial_path

try:  # Airflow 3
    from airflow.sdk import CronTriggerTimetable
except ImportError:  # Airflow 2.11
    from airflow.timetables.trigger import CronTriggerTimetable  # type: ignore[no-redef,assignment]


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
        base = folder.rsplit("/", 2)[0]
        employees = params["employees"] or Variable.get("ahgora_employees", "")
        return {
            "month": closing.month,
            "year": closing.year,
            "competence": closing.competence,
            "folder": folder,
            "results": f"{folder}/results.jsonl",
            "employees": employees or f"{base}/master_data/employees.csv",
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
    )
    # [END howto_reckon_results]
    reckon >> results

    # [START howto_transforms]
    @task
    def payroll(results: dict[str, Any], folder: str) -> dict[str, Any]:
        """results.jsonl -> payroll.csv (monthly records: one row per accounting event).

        Written by the transforms' one CSV writer, in the dialect named by the Variable
        ``ahgora_csv_dialect``: ``excel-br`` by default (``;``, a UTF-8 BOM and decimal commas, what
        Excel in Brazil opens right), ``rfc4180`` for a program (``,``, no BOM). Formula-like cells
        are neutralised. A refused record (a duplicate that differs, an employee with days but no
        monthly record, a bad value) is named in payroll.failures.jsonl, never dropped silently.
        """
        import json

        from airflow.providers.common.compat.sdk import ObjectStoragePath

        from airflow_provider_ahgora.transforms import (
            PAYROLL_COLUMNS,
            PAYROLL_NUMBER_COLUMNS,
            CsvDialect,
            CsvWriter,
            TransformError,
            payroll_rows,
        )

        dialect = CsvDialect.named(Variable.get("ahgora_csv_dialect", "excel-br"))
        target = ObjectStoragePath(f"{folder}/payroll.csv")
        report = ObjectStoragePath(f"{folder}/payroll.failures.jsonl")
        partial = partial_path(target)
        errors: list[TransformError] = []
        with (
            ObjectStoragePath(results["path"]).open("r", encoding="utf-8") as source,
            partial.open("w", encoding=dialect.encoding, newline="") as out,
        ):
            writer = CsvWriter(out, PAYROLL_COLUMNS, dialect=dialect, number_columns=PAYROLL_NUMBER_COLUMNS)
            writer.writeheader()
            lines = iter(source.readline, "")  # streamed: one record in memory at a time
            writer.writerows(payroll_rows(lines, on_error="skip", errors=errors))
        with report.open("w", encoding="utf-8") as out:  # always written: empty when nothing failed
            for error in errors:  # each names the employee, the day (when a day's) and the reason
                out.write(json.dumps({**error.as_dict(), "reason": str(error)}, ensure_ascii=False) + "\n")
        commit(partial, target)
        return {"path": str(target), "rows": writer.rows, "failed": len(errors), "report_path": str(report)}

    @task
    def timecards(
        results: dict[str, Any], folder: str, competence: str, employees: str, **context: Any
    ) -> dict[str, Any]:
        """results.jsonl -> timecards.jsonl (daily records: one Voors time card per employee and month).

        The card's period: the Variable ``ahgora_closing_day`` (the day of the month on which the
        company closes its period, e.g. ``25``) when it is set, else the reckon's own span of days.
        Card ids are ``<company>-<registration>-<YYYYMM>`` (the company from the reckon's answer), so
        that companies sharing a Voors account never overwrite each other's cards. A refused card is
        named in timecards.failures.jsonl with each bad day, never dropped silently.
        """
        import csv
        import json

        from airflow.providers.common.compat.sdk import ObjectStoragePath

        from airflow_provider_ahgora.transforms import TransformError, reckon_span, time_cards

        mapping = ObjectStoragePath(employees)
        with mapping.open("r", encoding="utf-8", newline="") as handle:
            if mapping.name.endswith(".json"):
                cpf_of = {str(k): str(v) for k, v in json.loads(handle.read()).items()}
            else:
                reader = csv.DictReader(iter(handle.readline, ""))
                cpf_of = {row["registration"]: row["cpf"] for row in reader}

        company = (context["ti"].xcom_pull(task_ids="reckon") or {}).get("company")
        if not company:
            raise AirflowFailException(
                "The reckon's answer names no PontoWeb company: time card ids need it."
            )
        source = ObjectStoragePath(results["path"])
        closing_day = Variable.get("ahgora_closing_day", "")
        period: dict[str, Any] = {}
        if closing_day:
            period["closing_day"] = int(closing_day)
        else:
            with source.open("r", encoding="utf-8") as handle:  # a first pass, streamed: two dates kept
                span = reckon_span(iter(handle.readline, ""))
            if span is not None:
                period["period"] = span

        target = ObjectStoragePath(f"{folder}/timecards.jsonl")
        report = ObjectStoragePath(f"{folder}/timecards.failures.jsonl")
        partial = partial_path(target)
        errors: list[TransformError] = []
        cards = 0
        with source.open("r", encoding="utf-8") as handle, partial.open("w", encoding="utf-8") as out:
            lines = iter(handle.readline, "")
            for card in time_cards(
                lines,
                user_lookup=cpf_of,
                company=company,
                competence=competence,
                interval="month",
                on_error="skip",
                errors=errors,
                **period,
            ):
                out.write(json.dumps(card, ensure_ascii=False) + "\n")
                cards += 1
        with report.open("w", encoding="utf-8") as out:
            for error in errors:  # each names the employee, the card, the day (when a day's), the reason
                out.write(json.dumps({**error.as_dict(), "reason": str(error)}, ensure_ascii=False) + "\n")
        commit(partial, target)
        return {"path": str(target), "cards": cards, "failed": len(errors), "report_path": str(report)}

    fetched: Any = results.output  # {"path", "records", "csv_path"} at run time
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

        def pulled(task_id: str, key: str = "return_value") -> Any:
            return context["ti"].xcom_pull(task_ids=task_id, key=key)

        out = {t: pulled(t) for t in ("reckon", "results", "payroll", "timecards", "push_timecards")}
        # step -> (what is counted, its key, the key of failures, the key of where it is)
        rows = {
            "reckon": ("employees", "progress", None, "unique"),
            "results": ("records", "records", None, "path"),
            "payroll": ("rows", "rows", "failed", "path"),
            "timecards": ("cards", "cards", "failed", "path"),
            "push_timecards": ("pushed", "succeeded", "failed", "report_path"),
        }
        problems: list[str] = []
        print(f"{'step':<15}{'count':>7} {'':<10}{'failed':>6}  where")
        for step, (unit, count_key, failed_key, where_key) in rows.items():
            value = out[step]
            if not value:
                problems.append(f"{step}: no report (the task failed or did not run: see its log)")
                print(f"{step:<15}{'-':>7} {'':<10}{'-':>6}  did not complete")
                continue
            count = value[count_key]["total"] if count_key == "progress" else value[count_key]
            failed = value[failed_key] if failed_key else 0
            print(f"{step:<15}{count:>7} {unit:<10}{failed:>6}  {value[where_key]}")
            if failed:
                problems.append(f"{step}: {failed} record(s) failed, named in {value['report_path']}")

        results, payroll_out, cards, pushed = (out[t] or {} for t in rows if t != "reckon")
        folder = pulled("plan", "folder")
        report = {
            "dag_id": context["dag"].dag_id,
            "run_id": context["run_id"],
            "month": pulled("plan", "competence"),
            "folder": folder,
            "records_fetched": results.get("records"),
            "payroll_rows": payroll_out.get("rows"),
            "timecards": cards.get("cards"),
            "timecards_pushed": pushed.get("succeeded"),
            "failed": sum(int((out[s] or {}).get("failed") or 0) for s in rows),
            "files": [
                p
                for p in (
                    results.get("path"),
                    results.get("csv_path"),
                    payroll_out.get("path"),
                    cards.get("path"),
                )
                if p
            ],
            "failure_reports": [
                o["report_path"] for o in (payroll_out, cards, pushed) if o.get("report_path")
            ],
            "problems": problems,
        }
        if folder:
            with ObjectStoragePath(f"{folder}/summary.json").open("w", encoding="utf-8") as handle:
                handle.write(json.dumps(report, indent=2, ensure_ascii=False))
        if problems:
            raise AirflowFailException("Monthly closing incomplete: " + "; ".join(problems))
        return report

    [payroll_file, push_timecards] >> summary()
    # [END howto_summary]

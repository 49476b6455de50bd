"""Monthly closing for many companies: ``monthly_closing``'s steps once per company, side by side,
with dynamic task mapping; one company's failure neither hides nor blocks the others.

For a payroll bureau closing the month for its client companies. Each company has its own PontoWeb
and Voors connections, named by convention: ``pontoweb_<company>`` and ``voors_<company>`` (e.g.
``pontoweb_a000101``; see ``airflow_provider_ahgora.companies``). Runs on the 1st of each month at
06:00 UTC; the month to close is the one before the run's logical date, as in ``monthly_closing``:

1. ``plan``: the companies (the ``companies`` param, else the Variable ``ahgora_companies``: a JSON
   list of company codes), the month and the run's folder. A company, or a PontoWeb connection,
   listed twice is refused (one company would get two full-base reckons).
2. ``close_company``: a mapped task group, one map index per company, holding the steps of
   ``monthly_closing``: ``company_plan`` (the company's connections exist), ``reckon`` (deferrable),
   ``results``, ``payroll``, ``timecards``, ``push_timecards``, then ``report``, which runs whatever
   happened to the company's steps and writes the company's ``summary.json``. Each step of a
   company waits only for that company's earlier steps: a failure stays in its company.
   ``payroll`` and ``timecards`` first check that the reckon answered for this company: a
   connection holding another company's credentials reckons that other company.
3. ``summary``: every company's report in one table and one ``summary.json``; fails the run if any
   company failed, after reporting them all.

**PontoWeb's limits are per company**: at most 4 processes at once, 3 full-base reckons per feature
per day. A run starts one full-base reckon per company (``max_active_runs=1``, each company listed
once), and a retry of a company's reckon reconnects to the one it started (the operator keeps it per
map index). Companies run in parallel: their reckons share the pool ``ahgora_companies``, whose
slots say how many companies are reckoned at once (deferred tasks counted: ``airflow pools set
ahgora_companies 16 "Companies reckoned at once" --include-deferred``). A pool cannot be chosen per
map index, so PontoWeb's per-company limits are kept by the shape of the run, not by a pool: see
docs/examples.rst, "Many companies".

Files go to ``<storage base>/monthly_closing_companies/<ds or run id>/<company>/`` (the files of
``monthly_closing`` for each company); each company's registration -> CPF file is its ``employees``
in the list, else ``<storage base>/master_data/<company>/employees.csv``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.providers.common.compat.sdk import (
    DAG,
    AirflowFailException,
    Param,
    TriggerRule,
    Variable,
    task,
    task_group,
)

from airflow_provider_ahgora.operators.push import VoorsPushOperator
from airflow_provider_ahgora.operators.reckon import PontoWebReckonOperator, PontoWebReckonResultsOperator

try:  # Airflow 3
    from airflow.sdk import CronTriggerTimetable
except ImportError:  # Airflow 2.11
    from airflow.timetables.trigger import CronTriggerTimetable  # type: ignore[no-redef,assignment]

#: The pool of the companies' reckons: how many companies are reckoned at once.
COMPANIES_POOL = "ahgora_companies"

with DAG(
    dag_id="monthly_closing_companies",
    description="The monthly closing of many companies, side by side, one mapped task group each",
    schedule=CronTriggerTimetable("0 6 1 * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,  # one run at a time: one full-base reckon per company at a time
    default_args={
        "retries": 3,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
    },
    params={
        "companies": Param(
            [],
            type="array",
            description="Company codes (or objects, see airflow_provider_ahgora.companies); "
            "empty: the Variable ahgora_companies",
        ),
        "storage_base": Param("", type="string", description="Path or URI; empty: Variable, else local"),
        "month": Param("", type="string", pattern=r"^([0-9]{4}-(0[1-9]|1[0-2]))?$", description="YYYY-MM"),
    },
    tags=["ahgora", "pontoweb", "voors", "example"],
) as dag:
    # [START howto_companies_plan]
    @task(retries=0)
    def plan(**context: Any) -> list[dict[str, str]]:
        """One small dict per company, the input of the mapped task group: its code, connections,
        month and folders (never data: XCom is no storage)."""
        from airflow_provider_ahgora.companies import COMPANIES_VARIABLE, parse_companies
        from airflow_provider_ahgora.runs import month_to_close, run_folder, storage_base

        params = context["params"]
        try:
            companies = parse_companies(params["companies"] or Variable.get(COMPANIES_VARIABLE, ""))
            closing = month_to_close(context, params["month"])  # the month before the logical date
        except ValueError as exc:
            raise AirflowFailException(str(exc)) from None
        run = run_folder(context)  # <storage base>/monthly_closing_companies/<ds or run id>
        base = storage_base(context)
        return [
            {
                **company.as_dict(),
                "month": closing.month,
                "year": closing.year,
                "competence": closing.competence,
                "run_folder": run,
                "folder": f"{run}/{company.company}",
                "results": f"{run}/{company.company}/results.jsonl",
                "push_report": f"{run}/{company.company}/push_timecards.failures.jsonl",
                "employees": company.employees or f"{base}/master_data/{company.company}/employees.csv",
            }
            for company in companies
        ]

    # [END howto_companies_plan]

    def same_company(reckon: dict[str, Any], company: dict[str, str]) -> None:
        """The reckon answered for this company (PontoWeb knows a company by its credentials)."""
        from airflow_provider_ahgora.companies import check_reckon_company

        try:
            check_reckon_company(company["company"], reckon.get("company"), company["pontoweb_conn_id"])
        except ValueError as exc:
            raise AirflowFailException(str(exc)) from None

    # [START howto_companies_group]
    @task_group
    def close_company(company: dict[str, str]) -> None:
        """The closing of one company (one map index): its steps wait only for its own."""

        @task(multiple_outputs=True, retries=0)
        def company_plan(company: dict[str, str]) -> dict[str, str]:
            """The company's connections exist (a lookup, no call): else it fails here, named."""
            from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook

            for conn_id in (company["pontoweb_conn_id"], company["voors_conn_id"]):
                try:
                    BaseHook.get_connection(conn_id)
                except AirflowNotFoundException:
                    raise AirflowFailException(
                        f"{company['company']}: no Airflow connection {conn_id!r}; create it (type "
                        f"{conn_id.split('_', 1)[0]}) with this company's credentials"
                    ) from None
            return company

        info: Any = company_plan(company)  # an XComArg: info["month"] is this company's at run time

        reckon = PontoWebReckonOperator(
            task_id="reckon",
            pontoweb_conn_id=info["pontoweb_conn_id"],
            month=info["month"],
            year=info["year"],
            features=["daily.punches", "daily.totals", "monthly"],
            deferrable=True,  # hours of waiting in the triggerer, not in a worker slot
            poll_interval=30,
            max_poll_interval=300,
            timeout=6 * 60 * 60,
            pool=COMPANIES_POOL,  # how many companies are reckoned at once
        )
        results = PontoWebReckonResultsOperator(
            task_id="results",
            pontoweb_conn_id=info["pontoweb_conn_id"],
            # this company's reckon: the same map index (pulling a mapped task pulls every index)
            unique="{{ ti.xcom_pull(task_ids='close_company.reckon', map_indexes=ti.map_index)['unique'] }}",
            output_path=info["results"],
            csv=True,
        )
        reckon >> results

        @task
        def payroll(
            results: dict[str, Any], reckon: dict[str, Any], company: dict[str, str]
        ) -> dict[str, Any]:
            """results.jsonl -> payroll.csv, as in monthly_closing, once the reckon answered for this
            company (else its credentials are another company's)."""
            from airflow_provider_ahgora.closing import write_payroll

            same_company(reckon, company)
            dialect = Variable.get("ahgora_csv_dialect", "excel-br")
            return write_payroll(results["path"], company["folder"], dialect=dialect)

        @task
        def timecards(
            results: dict[str, Any], reckon: dict[str, Any], company: dict[str, str]
        ) -> dict[str, Any]:
            """results.jsonl -> timecards.jsonl, as in monthly_closing, once the reckon answered for
            this company (else its credentials are another company's: nothing is pushed)."""
            from airflow_provider_ahgora.closing import read_employees, write_timecards

            same_company(reckon, company)
            closing_day = Variable.get("ahgora_closing_day", "")
            return write_timecards(
                results["path"],
                company["folder"],
                company=company["company"],
                competence=company["competence"],
                employees=read_employees(company["employees"]),
                closing_day=int(closing_day) if closing_day else None,
            )

        payroll_file = payroll(results.output, reckon.output, info)
        cards_file = timecards(results.output, reckon.output, info)
        push_timecards = VoorsPushOperator(
            task_id="push_timecards",
            voors_conn_id=info["voors_conn_id"],
            resource="timeCards",
            records=cards_file,
            max_workers=8,
            max_failures=0.1,
            report_path=info["push_report"],
        )

        @task(trigger_rule=TriggerRule.ALL_DONE, retries=0)
        def report(company: dict[str, str], **context: Any) -> dict[str, Any]:
            """This company's counts and problems, from its steps' XComs (this map index's), whatever
            happened to them; its summary.json. Never fails: the run's summary decides."""
            import json

            from airflow.providers.common.compat.sdk import ObjectStoragePath

            from airflow_provider_ahgora.closing import STEPS, closing_report

            ti = context["ti"]
            group = ti.task_id.rsplit(".", 1)[0]  # this task group's id

            def pulled(step: str) -> Any:
                return ti.xcom_pull(task_ids=f"{group}.{step}", map_indexes=ti.map_index)

            steps = closing_report({step: pulled(step) for step in STEPS})
            print(f"{company['company']}:\n" + "\n".join(steps.pop("lines")))
            out = {"company": company["company"], "month": company["competence"], **steps}
            path = ObjectStoragePath(f"{company['folder']}/summary.json")
            path.parent.mkdir(parents=True, exist_ok=True)  # a company that failed early has none
            with path.open("w", encoding="utf-8") as handle:
                handle.write(json.dumps(out, indent=2, ensure_ascii=False))
            return out

        [payroll_file, push_timecards] >> report(company)

    closing_run = close_company.expand(company=plan())
    # [END howto_companies_group]

    # [START howto_companies_summary]
    @task(trigger_rule=TriggerRule.ALL_DONE, retries=0)
    def summary(**context: Any) -> dict[str, Any]:
        """Every company's report (or its absence), one table, ``summary.json``; fails the run if any
        company failed, after reporting every company."""
        import json

        from airflow.providers.common.compat.sdk import ObjectStoragePath

        ti = context["ti"]
        companies = ti.xcom_pull(task_ids="plan") or []
        reports: dict[str, Any] = {}
        for index, company in enumerate(companies):  # one pull per map index: a missing one is named
            reports[company["company"]] = ti.xcom_pull(
                task_ids="close_company.report", map_indexes=index
            ) or {"problems": ["no report (its report task did not run: see the log of close_company)"]}
        failed = sorted(code for code, report in reports.items() if report["problems"])
        print(f"{'company':<12}{'records':>9}{'cards':>7}{'pushed':>8}{'failed':>8}  problems")
        for code, report in reports.items():
            counts = [report.get(k) for k in ("records_fetched", "timecards", "timecards_pushed", "failed")]
            shown = "".join(
                f"{'-' if c is None else c:>{w}}" for c, w in zip(counts, (9, 7, 8, 8), strict=True)
            )
            print(f"{code:<12}{shown}  {'; '.join(report['problems']) or 'none'}")
        out = {
            "dag_id": context["dag"].dag_id,
            "run_id": context["run_id"],
            "month": companies[0]["competence"] if companies else None,
            "companies": reports,
            "complete": len(reports) - len(failed),
            "failed_companies": failed,
        }
        if companies:
            path = ObjectStoragePath(f"{companies[0]['run_folder']}/summary.json")
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", encoding="utf-8") as handle:
                handle.write(json.dumps(out, indent=2, ensure_ascii=False))
        if not companies:
            raise AirflowFailException("No company was closed: the plan failed (see its log).")
        if failed:
            raise AirflowFailException(
                f"Monthly closing incomplete for {len(failed)} of {len(reports)} companies: "
                f"{', '.join(failed)} (summary.json and the table above say why)"
            )
        return out

    closing_run >> summary()
    # [END howto_companies_summary]

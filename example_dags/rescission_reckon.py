"""Termination reckon ("apuração de rescisão") for the employees named in the run's params.

Trigger it by hand when employees leave, with their registrations (matrículas):

.. code-block:: console

   $ airflow dags trigger rescission_reckon -c '{"registers": ["000123", "98a159Q"]}'
   $ airflow dags trigger rescission_reckon -c '{"registers": ["000123"], "month": "03", "year": "2026"}'

It starts a reckon filtered by those registers with ``rescission`` on (dismissed employees are only
reckoned when named), waits for it with the reckon sensor in the triggerer, reads every result record
exactly once into ``results.jsonl`` (and a flat ``results.csv``), reports how many records each
register got, and finally makes the results readable again in PontoWeb (reading consumes them), for
a termination system that reads them from PontoWeb itself. Reckons filtered by registers do not
count toward PontoWeb's daily limit of full-base reckons, but they do count toward its 4 processes
at once: hence the pool, for the start and for the wait.

Files go to ``<storage base>/rescission_reckon/<ds or run id>/``; the storage base is the
``storage_base`` param, else the Airflow Variable ``ahgora_storage_base`` (``s3://bucket/ahgora``
when workers run on different machines), else ``$AIRFLOW_HOME/data/ahgora``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.providers.common.compat.sdk import DAG, AirflowFailException, Param, task

from airflow_provider_ahgora.operators.reckon import (
    PontoWebReckonOperator,
    PontoWebReckonResultsOperator,
    PontoWebReconsumeOperator,
)
from airflow_provider_ahgora.runs import run_date, run_folder
from airflow_provider_ahgora.sensors.reckon import PontoWebReckonSensor

with DAG(
    dag_id="rescission_reckon",
    description="PontoWeb termination reckon for the registers given as params",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=4,
    default_args={"retries": 3, "retry_delay": timedelta(minutes=2), "retry_exponential_backoff": True},
    params={
        "registers": Param(
            [],
            type="array",
            items={"type": "string"},
            title="Registrations",
            description="Registrations (matrículas) of the employees who leave: at least one.",
        ),
        "month": Param("", type="string", pattern=r"^(0[1-9]|1[0-2])?$", description="MM; empty: the run's"),
        "year": Param("", type="string", pattern=r"^([0-9]{4})?$", description="YYYY; empty: the run's"),
        "storage_base": Param(
            "",
            type="string",
            description="Where files go (a path or s3://, gs://... URI). Empty: the Variable "
            "ahgora_storage_base, else $AIRFLOW_HOME/data/ahgora.",
        ),
    },
    tags=["ahgora", "pontoweb", "example"],
) as dag:

    @task(multiple_outputs=True)
    def plan(**context: Any) -> dict[str, Any]:
        """The month to reckon and where the files go (small values only: XCom is no storage)."""
        params = context["params"]
        if not params["registers"]:
            raise AirflowFailException('Give the registers to reckon: -c \'{"registers": ["000123"]}\'.')
        when = run_date(context)  # the logical date; without one (Airflow 3), when it was triggered
        folder = run_folder(context)
        return {
            "month": params["month"] or f"{when.month:02d}",
            "year": params["year"] or str(when.year),
            "folder": folder,
            "results": f"{folder}/results.jsonl",
        }

    run: Any = plan()  # an XComArg: run["month"] is the plan's "month" at run time

    # [START howto_reckon_sensor]
    start = PontoWebReckonOperator(
        task_id="start_reckon",
        month=run["month"],
        year=run["year"],
        registers="{{ params.registers | tojson }}",  # rendered JSON list, read back as a list
        rescission=True,
        features=["daily.totals", "monthly"],
        wait_for_completion=False,  # start, push the process id, and end: the sensor waits
        pool="ahgora_pontoweb",
    )
    wait = PontoWebReckonSensor(
        task_id="wait_reckon",
        process="{{ ti.xcom_pull(task_ids='start_reckon', key='process') }}",
        deferrable=True,
        poll_interval=15,
        timeout=2 * 60 * 60,
        pool="ahgora_pontoweb",  # the reckon still runs in PontoWeb: keep its slot while waiting
    )
    start >> wait
    # [END howto_reckon_sensor]

    results = PontoWebReckonResultsOperator(
        task_id="results",
        unique="{{ ti.xcom_pull(task_ids='wait_reckon')['unique'] }}",
        output_path=run["results"],
        csv=True,
    )

    @task
    def report(results: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Records per register, read back from storage one line at a time."""
        import json

        from airflow.providers.common.compat.sdk import ObjectStoragePath

        counts = dict.fromkeys(context["params"]["registers"], 0)
        with ObjectStoragePath(results["path"]).open("r", encoding="utf-8") as handle:
            for line in iter(handle.readline, ""):  # streamed, one line at a time
                employee = str(json.loads(line).get("employee", ""))
                counts[employee] = counts.get(employee, 0) + 1
        missing = sorted(register for register, count in counts.items() if count == 0)
        for register, count in sorted(counts.items()):
            print(f"{register:>12}  {count:5d} records")
        if missing:
            print(f"WARNING: no record for {', '.join(missing)}: check the registrations and the month.")
        return {"records": results["records"], "per_register": counts, "missing": missing, **results}

    # [START howto_reconsume]
    # PontoWeb's read consumes what it returns: give the records back to whoever reads them next
    release = PontoWebReconsumeOperator(
        task_id="release_results",
        unique="{{ ti.xcom_pull(task_ids='wait_reckon')['unique'] }}",
    )
    # [END howto_reconsume]

    wait >> results
    fetched: Any = results.output  # {"path", "records", "csv_path"} at run time
    report(fetched) >> release

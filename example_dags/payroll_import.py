"""Payroll import: the payroll team's side of the monthly closing, run when a month's payroll lands.

Scheduled on the closing's payroll asset alias (``ahgora_payroll``, dataset alias on Airflow 2.11):
Airflow starts a run when ``monthly_closing`` commits a month's ``payroll.csv``, with no schedule
and no polling. Each event's extra says what was committed: the file (``path``), the ``month``
(``YYYY-MM``), the PontoWeb ``company``, the ``rows`` written and the records that ``failed``.

``pick_up`` reads the events of the run (several when more than one month landed since the last
run), checks each file against its event (a file whose rows differ from what was committed is not
picked up) and copies it, whole, to where the payroll system imports from:
``<storage base>/payroll_import/inbox/<company>/<YYYY-MM>/payroll.csv``. A month with failed records
is picked up all the same, and named in the log: the closing's summary already failed its run and
its ``payroll.failures.jsonl`` names each record.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from airflow.providers.common.compat.sdk import DAG, AirflowFailException, AssetAlias, Param, task

#: The alias ``monthly_closing`` adds each month's payroll file to (``example_dags/monthly_closing.py``).
PAYROLL = AssetAlias("ahgora_payroll")


# [START howto_triggering_events]
def landed(context: Any) -> list[tuple[str, dict[str, Any]]]:
    """``(asset URI, extra)`` of every event that started this run, oldest first, each once:
    ``triggering_asset_events`` on Airflow 3 (an event added through an alias is listed under the
    alias and under its asset), ``triggering_dataset_events`` on 2.11."""
    events = context.get("triggering_asset_events") or context.get("triggering_dataset_events") or {}
    found = {}
    for key, items in events.items():
        for event in items:
            asset = getattr(event, "asset", None) or getattr(event, "dataset", None)
            uri = getattr(asset, "uri", None) or str(getattr(key, "uri", key))
            found[(event.timestamp, uri)] = dict(event.extra or {})
    return [(uri, extra) for (_, uri), extra in sorted(found.items(), key=lambda item: item[0][0])]


# [END howto_triggering_events]

with DAG(
    dag_id="payroll_import",
    description="Pick up each month's payroll file when the monthly closing commits it",
    schedule=PAYROLL,  # a run when a month's payroll.csv lands
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    params={"storage_base": Param("", type="string", description="Path or URI; empty: Variable, else local")},
    tags=["ahgora", "payroll", "example"],
) as dag:

    @task(retries=2)
    def pick_up(**context: Any) -> list[dict[str, Any]]:
        """Each payroll file of the run's events, checked against its event and copied to the inbox."""
        import csv
        import itertools
        import shutil

        from airflow.providers.common.compat.sdk import ObjectStoragePath

        from airflow_provider_ahgora.runs import storage_base
        from airflow_provider_ahgora.storage import commit, partial_path

        events = landed(context)
        if not events:
            raise AirflowFailException(
                "No payroll event started this run: payroll_import runs when monthly_closing commits a "
                "payroll file (trigger monthly_closing, not this Dag)."
            )
        inbox = ObjectStoragePath(f"{storage_base(context)}/payroll_import/inbox")  # as every example Dag
        picked = []
        for uri, extra in events:
            source = ObjectStoragePath(extra["path"])
            with source.open("r", encoding="utf-8-sig", newline="") as handle:  # streamed, row by row
                header = handle.readline()
                dialect = csv.Sniffer().sniff(header, delimiters=",;\t|")
                lines = itertools.chain([header], iter(handle.readline, ""))
                rows = sum(1 for _ in csv.reader(lines, dialect)) - 1  # less the header
            if rows != extra["rows"]:
                raise AirflowFailException(
                    f"{uri}: {rows} row(s) in the file, {extra['rows']} committed by the closing of "
                    f"{extra['month']}: the file changed since; not picked up."
                )
            target = inbox / str(extra["company"]) / str(extra["month"]) / "payroll.csv"
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = partial_path(target)
            with source.open("rb") as src, partial.open("wb") as out:  # the bytes committed, BOM and all
                shutil.copyfileobj(src, out)
            commit(partial, target)
            if extra.get("failed"):
                print(
                    f"{extra['month']} of {extra['company']}: {extra['failed']} record(s) failed in the "
                    "closing (named in its payroll.failures.jsonl)"
                )
            print(f"picked up {extra['month']} of {extra['company']}: {rows} row(s) -> {target}")
            picked.append(
                {"month": extra["month"], "company": extra["company"], "rows": rows, "path": str(target)}
            )
        return picked

    pick_up()

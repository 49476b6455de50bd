"""OpenLineage, for real: the OpenLineage provider's listener, a file transport, a Dag run.

A Dag of the provider's operators (reckon results, a PontoWeb push, a Voors push, a Voors read) runs
with ``dag.test()`` against the sandbox in a fresh interpreter configured with the OpenLineage file
transport, as a deployment configures it; the events written are then read back: each COMPLETE
event carries our datasets (the reckon, the PontoWeb route and the Voors resource of the sandbox's
host, the files) with their counts, and no secret appears anywhere in them.

Runs where ``apache-airflow-providers-openlineage`` is installed (the extra ``openlineage``; CI
installs it on Airflow 3.3+ and 2.11).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import has_module
from tests.integration.conftest import subprocess_env

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not has_module("airflow.providers.openlineage"),
        reason="the OpenLineage provider is not installed (extra 'openlineage')",
    ),
]

DAG_SOURCE = """
import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_ahgora.operators.push import PontoWebPushBatchOperator, VoorsPushOperator
from airflow_provider_ahgora.operators.read import VoorsReadOperator
from airflow_provider_ahgora.operators.reckon import PontoWebReckonOperator, PontoWebReckonResultsOperator

with DAG("ahgora_openlineage", schedule=None, start_date=datetime.datetime(2026, 1, 1), catchup=False) as dag:
    reckon = PontoWebReckonOperator(task_id="reckon", month="01", year="2026", poll_interval=0.1)
    results = PontoWebReckonResultsOperator(
        task_id="results",
        unique="{{ ti.xcom_pull(task_ids='reckon')['unique'] }}",
        output_path="{{ params.folder }}/results.jsonl",
        month="2026-01",
        csv=True,
    )
    cost_centers = PontoWebPushBatchOperator(
        task_id="cost_centers",
        resource="costcenter",
        records="{{ params.folder }}/costcenter.jsonl",
        poll_interval=0.1,
        report_path="{{ params.folder }}/",
    )
    branches = VoorsPushOperator(
        task_id="branches",
        resource="branches",
        records="{{ params.folder }}/branches.jsonl",
        report_path="{{ params.folder }}/",
    )
    read = VoorsReadOperator(
        task_id="read_branches_departments",
        resource="departments",
        output_path="{{ params.folder }}/departments.jsonl",
    )
    reckon >> results >> cost_centers >> branches >> read
"""

RUN = """
import importlib.util, sys, datetime
spec = importlib.util.spec_from_file_location("ahgora_openlineage_dag", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS
when = datetime.datetime(2026, 2, 1, tzinfo=datetime.timezone.utc)
conf = {"folder": sys.argv[2]}
if AIRFLOW_V_3_0_PLUS:
    run = module.dag.test(logical_date=when, run_after=when, run_conf=conf)
else:
    run = module.dag.test(execution_date=when, run_conf=conf)
print("STATE", getattr(run.state, "value", run.state))
"""


def test_emitted_events_carry_our_datasets_and_no_secret(sandbox, airflow_db, tmp_path):
    from airflow.providers.common.compat.sdk import conf

    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "costcenter.jsonl").write_text(
        "".join(json.dumps({"codigo": f"CC{i}", "nome": f"Centro {i}"}) + "\n" for i in range(5))
    )
    (folder / "branches.jsonl").write_text(
        "".join(json.dumps({"remoteId": i, "name": f"Filial {i}"}) + "\n" for i in range(3))
    )
    dags = Path(conf.get("core", "dags_folder"))
    dags.mkdir(parents=True, exist_ok=True)
    dag_file = dags / "ahgora_openlineage_dag.py"
    dag_file.write_text(textwrap.dedent(DAG_SOURCE), encoding="utf-8")
    events_file = tmp_path / "openlineage.jsonl"
    env = {
        **subprocess_env(),
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "ahgora-tests",
    }
    proc = subprocess.run(
        [sys.executable, "-c", RUN, str(dag_file), str(folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert "STATE success" in proc.stdout, proc.stdout[-4000:] + proc.stderr[-4000:]

    text = events_file.read_text(encoding="utf-8")
    for secret in (sandbox.password, sandbox.token):
        assert secret not in text  # not in a namespace, a facet or anywhere else
    events = [json.loads(line) for line in text.splitlines() if line.strip()]
    complete = {e["job"]["name"].rsplit(".", 1)[-1]: e for e in events if e["eventType"] == "COMPLETE"}

    host = urlsplit(sandbox.base_url).netloc
    company = sandbox.data.company
    records = len(list(sandbox.data.reckon_records("01", "2026")))

    results = complete["results"]
    reckon = task_xcom(events, "reckon")
    assert datasets(results["inputs"]) == [(f"pontoweb://{host}/{company}", f"reckons/{reckon}", records)]
    assert datasets(results["outputs"]) == [
        ("file", str(folder / "results.jsonl"), records),
        ("file", str(folder / "results.csv"), None),
    ]
    facet = results["run"]["facets"]["ahgora"]["counts"]
    assert (facet["records"], facet["month"], facet["company"]) == (records, "2026-01", company)
    assert results["outputs"][0]["outputFacets"]["outputStatistics"]["size"] == (
        (folder / "results.jsonl").stat().st_size
    )

    pushed = complete["cost_centers"]
    assert datasets(pushed["inputs"]) == [("file", str(folder / "costcenter.jsonl"), 5)]
    assert datasets(pushed["outputs"]) == [(f"pontoweb://{host}", "costcenter", 5)]
    assert pushed["run"]["facets"]["ahgora"]["counts"]["sent"] == 5

    voors = urlsplit(sandbox.voors_url)
    branches = complete["branches"]
    assert datasets(branches["inputs"]) == [("file", str(folder / "branches.jsonl"), 3)]
    assert datasets(branches["outputs"]) == [(f"voors://{voors.netloc}{voors.path}", "branches", 3)]

    read = complete["read_branches_departments"]
    assert datasets(read["inputs"]) == [(f"voors://{voors.netloc}{voors.path}", "departments", 0)]
    assert datasets(read["outputs"]) == [("file", str(folder / "departments.jsonl"), 0)]


def datasets(items: list[dict[str, Any]]) -> list[tuple[str, str, int | None]]:
    """(namespace, name, rows) of each dataset of an event."""
    out = []
    for item in items:
        facets = {**(item.get("inputFacets") or {}), **(item.get("outputFacets") or {})}
        stats = facets.get("inputStatistics") or facets.get("outputStatistics") or {}
        out.append((item["namespace"], item["name"], stats.get("rowCount")))
    return out


def task_xcom(events: list[dict[str, Any]], task: str) -> str:
    """The reckon's unique, as the results task's input names it (the reckon task has no datasets)."""
    for event in events:
        if event["eventType"] == "COMPLETE" and event["job"]["name"].endswith(".results"):
            return str(event["run"]["facets"]["ahgora"]["counts"]["unique"])
    raise AssertionError(f"no COMPLETE event for {task}")

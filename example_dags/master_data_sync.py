"""Master data sync: the organisation, from HR master data files to PontoWeb and to Voors.

* **PontoWeb**: cost centers, then subsidiaries (branch offices). Cost centers are pushed and their
  outcome awaited by the push operator itself (deferred); subsidiaries are pushed without waiting
  and followed by the process monitor sensor: the two ways of reading PontoWeb's asynchronous
  outcome.
* **Voors**, in dependency order: branches before the departments that name them, job roles
  before job functions, then horaries, then users (the operator sends leaders before the users
  whose ``appraisedBy`` names them). Departments, job roles, job functions and horaries are known
  to Voors by its own ``id``: ``match_voors_ids`` looks up the ones already there by ``remoteId``,
  so that a second run edits them instead of creating duplicates. Branches and users are upserted
  by ``remoteId`` and CPF.
* With the ``prune`` param, records of those four resources that the sync created earlier (they
  have a ``remoteId``) and that are no longer in the master data are deleted from Voors, once the
  users no longer name them. Records created in Voors by hand (no ``remoteId``) are never touched.
* ``summary`` reports counts and failures of every push and fails the run if any record failed.

The source is a folder (the ``source`` param; default ``<storage base>/master_data``) holding
``pontoweb/costcenter.json``, ``pontoweb/subsidiaries.json`` and ``voors/<resource>.json`` for
``branches``, ``departments``, ``jobRoles``, ``jobFunctions``, ``horaries`` and ``users``: JSON
arrays of request bodies as the APIs document them. Failure reports go to
``<storage base>/master_data_sync/<ds or run id>/``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.providers.common.compat.sdk import DAG, AirflowFailException, Param, TriggerRule, task

from airflow_provider_ahgora.operators.push import (
    PontoWebPushBatchOperator,
    VoorsDeleteOperator,
    VoorsPushOperator,
)
from airflow_provider_ahgora.runs import run_folder, storage_base
from airflow_provider_ahgora.sensors.process import PontoWebProcessSensor

#: Voors resources known by Voors' own id: matched by remoteId before pushing (no duplicates).
BY_VOORS_ID = ("departments", "jobRoles", "jobFunctions", "horaries")


#: Templates rendered from the ``plan`` task's XCom.
SOURCE = "{{ ti.xcom_pull(task_ids='plan', key='source') }}"
FOLDER = "{{ ti.xcom_pull(task_ids='plan', key='folder') }}"

with DAG(
    dag_id="master_data_sync",
    description="Cost centers and subsidiaries to PontoWeb; the organisation and users to Voors",
    schedule="0 5 * * *",
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5), "retry_exponential_backoff": True},
    params={
        "storage_base": Param("", type="string", description="Path or URI; empty: Variable, else local"),
        "source": Param(
            "", type="string", description="Master data folder; empty: <storage base>/master_data"
        ),
        "prune": Param(
            False, type="boolean", description="Delete what the sync created and the data dropped"
        ),
    },
    tags=["ahgora", "pontoweb", "voors", "example"],
) as dag:

    @task(multiple_outputs=True, retries=0)
    def plan(**context: Any) -> dict[str, str]:
        folder = run_folder(context)
        source = context["params"]["source"] or f"{storage_base(context)}/master_data"
        return {"source": source.rstrip("/"), "folder": folder}

    sync: Any = plan()  # an XComArg: sync["folder"] is the plan's "folder" at run time

    # [START howto_push_pontoweb]
    push_cost_centers = PontoWebPushBatchOperator(
        task_id="push_cost_centers",
        resource="costcenter",
        records=f"{SOURCE}/pontoweb/costcenter.json",  # streamed, validated, sent in batches of 1000
        deferrable=True,  # waits on the process monitor for every batch, in the triggerer
        poll_interval=5,
        timeout=60 * 60,
        fail_on="never",  # the summary decides, after reporting every failed record
        report_path=f"{FOLDER}/push_cost_centers.failures.jsonl",
    )
    # [END howto_push_pontoweb]

    # [START howto_process_sensor]
    push_subsidiaries = PontoWebPushBatchOperator(
        task_id="push_subsidiaries",
        resource="subsidiaries",
        records=f"{SOURCE}/pontoweb/subsidiaries.json",
        wait_for_completion=False,  # send and return: the sensor below follows the outcome
        fail_on="never",
        report_path=f"{FOLDER}/push_subsidiaries.failures.jsonl",
    )
    monitor_subsidiaries = PontoWebProcessSensor(
        task_id="monitor_subsidiaries",
        # one batch (up to 1000 subsidiaries): its subunique names exactly that request
        subunique="{{ ti.xcom_pull(task_ids='push_subsidiaries')['batches'][0]['subunique'] }}",
        deferrable=True,
        poke_interval=5,
        timeout=60 * 60,  # the monitor forgets a process 15 minutes after it finished: wait right away
        fail_on="never",  # errors are in the XCom; the summary counts them
    )
    push_subsidiaries >> monitor_subsidiaries
    # [END howto_process_sensor]

    # [START howto_voors_ids]
    @task
    def match_voors_ids(source: str, folder: str, **context: Any) -> dict[str, Any]:
        """For resources Voors knows by its own id: add the ``id`` of records already in Voors (by
        remoteId), so that they are edited (PUT) instead of created again. Writes
        ``<folder>/voors/<resource>.jsonl``, and ``<resource>.obsolete.jsonl``: with the ``prune``
        param, the ids of records the sync created (they have a remoteId) that the master data no
        longer holds. Returns counts (small XCom)."""
        import json

        from airflow.providers.common.compat.sdk import ObjectStoragePath

        from airflow_provider_ahgora.hooks.voors import VoorsHook

        hook = VoorsHook()
        counts = {}
        for resource in BY_VOORS_ID:
            with ObjectStoragePath(f"{source}/voors/{resource}.json").open("r", encoding="utf-8") as handle:
                records = json.loads(handle.read())  # master data: hundreds of records, not millions
            known = {
                json.dumps(entity.remote_id, sort_keys=True): entity.id
                for entity in hook.list(resource)
                if entity.remote_id is not None
            }
            existing = 0
            target = ObjectStoragePath(f"{folder}/voors/{resource}.jsonl")
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("w", encoding="utf-8") as out:
                for record in records:
                    voors_id = known.get(json.dumps(record.get("remoteId"), sort_keys=True))
                    if voors_id is not None:
                        record = {**record, "id": voors_id}
                        existing += 1
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
            wanted = {json.dumps(record.get("remoteId"), sort_keys=True) for record in records}
            obsolete = (
                [i for key, i in known.items() if key not in wanted] if context["params"]["prune"] else []
            )
            with ObjectStoragePath(f"{folder}/voors/{resource}.obsolete.jsonl").open(
                "w", encoding="utf-8"
            ) as out:
                out.writelines(json.dumps({"id": voors_id}) + "\n" for voors_id in obsolete)
            counts[resource] = {"records": len(records), "existing": existing, "obsolete": len(obsolete)}
        return counts

    matched = match_voors_ids(sync["source"], sync["folder"])
    # [END howto_voors_ids]

    # [START howto_voors_order]
    def voors_push(resource: str, records: str) -> VoorsPushOperator:
        return VoorsPushOperator(
            task_id=f"push_{resource}",
            resource=resource,
            records=records,
            max_workers=8,
            max_failures=0.1,  # a few rejected records: reported by the summary; more: fail here
            report_path=f"{FOLDER}/push_{resource}.failures.jsonl",
        )

    branches = voors_push("branches", f"{SOURCE}/voors/branches.json")
    departments = voors_push("departments", f"{FOLDER}/voors/departments.jsonl")
    job_roles = voors_push("jobRoles", f"{FOLDER}/voors/jobRoles.jsonl")
    job_functions = voors_push("jobFunctions", f"{FOLDER}/voors/jobFunctions.jsonl")
    horaries = voors_push("horaries", f"{FOLDER}/voors/horaries.jsonl")
    users = voors_push("users", f"{SOURCE}/voors/users.json")  # leaders first: the operator orders them

    sync >> [push_cost_centers, push_subsidiaries, branches]
    matched >> [departments, job_roles, horaries]
    branches >> departments  # a department names its branch
    job_roles >> job_functions  # a job function names its job role
    [departments, job_functions, horaries] >> users  # a user names all of them
    # [END howto_voors_order]

    # [START howto_voors_delete]
    prune = {
        resource: VoorsDeleteOperator(
            task_id=f"prune_{resource}",
            resource=resource,
            records=f"{FOLDER}/voors/{resource}.obsolete.jsonl",  # {"id": ...} per line; empty: nothing
            report_path=f"{FOLDER}/prune_{resource}.failures.jsonl",
        )
        for resource in BY_VOORS_ID
    }
    users >> list(prune.values())  # once no user names them any more
    prune["jobFunctions"] >> prune["jobRoles"]  # a job function names its job role
    # [END howto_voors_delete]

    @task(trigger_rule=TriggerRule.ALL_DONE, retries=0)
    def summary(**context: Any) -> dict[str, Any]:
        """Counts and failures of every push (from their XComs, pushed even when they fail)."""
        import json

        from airflow.providers.common.compat.sdk import ObjectStoragePath

        ti = context["ti"]
        pushes = ["push_cost_centers", "push_subsidiaries"]
        pushes += [f"push_{r}" for r in ("branches", "departments", "jobRoles", "jobFunctions", "horaries")]
        pushes += ["push_users"] + [f"prune_{r}" for r in BY_VOORS_ID]
        problems: list[str] = []
        report: dict[str, Any] = {}
        print(f"{'step':<22}{'records':>8}{'failed':>8}  failure report")
        for step in pushes:
            out = ti.xcom_pull(task_ids=step)
            if not out:
                problems.append(f"{step}: no report (the task failed or did not run: see its log)")
                print(f"{step:<22}{'-':>8}{'-':>8}  did not complete")
                continue
            failed = int(out.get("failed") or 0)
            if step == "push_subsidiaries":  # the sensor has the outcome of what was sent
                monitor = ti.xcom_pull(task_ids="monitor_subsidiaries")
                if not monitor:
                    problems.append("monitor_subsidiaries: no outcome (see its log)")
                else:
                    failed += len(monitor.get("errors") or [])
            print(f"{step:<22}{out['records']:>8}{failed:>8}  {out.get('report_path')}")
            report[step] = {
                "records": out["records"],
                "failed": failed,
                "report_path": out.get("report_path"),
            }
            if failed:
                problems.append(f"{step}: {failed} record(s) failed, named in {out.get('report_path')}")
        report["problems"] = problems
        folder = ti.xcom_pull(task_ids="plan", key="folder")
        if folder:
            with ObjectStoragePath(f"{folder}/summary.json").open("w", encoding="utf-8") as handle:
                handle.write(json.dumps(report, indent=2, ensure_ascii=False))
        if problems:
            raise AirflowFailException("Master data sync incomplete: " + "; ".join(problems))
        return report

    [push_cost_centers, monitor_subsidiaries, *prune.values()] >> summary()

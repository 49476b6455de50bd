"""Integration fixtures: an Airflow metadata database, Dag files in the dags folder, the sandbox.

Airflow 3 runs ``dag.test()`` only for a Dag it can find in a bundle, so the Dags of these tests are
written as a file into the dags folder of the throwaway ``AIRFLOW_HOME`` (set by ``tests/conftest.py``)
and imported from there. The database is created once per session, and only when it is a SQLite
file: these tests never touch a real deployment's database.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import shutil
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

# the sandbox fixtures (a running sandbox with both Airflow connections pointing at it)
from airflow_provider_ahgora.sandbox.pytest_plugin import sandbox, sandbox_options  # noqa: F401

#: The example DAGs of the repository.
EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"

#: The logical date (and run_after) of runs that a test kills and then retries.
KILL_DATE = datetime.datetime(2026, 2, 1, tzinfo=datetime.timezone.utc)

DAGS_SOURCE = '''
"""Dags of tests/integration/test_reckon_flow.py (written here by its conftest)."""
import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_ahgora.operators.reckon import PontoWebReckonOperator, PontoWebReckonResultsOperator

START = datetime.datetime(2026, 1, 1)
FAST_RETRIES = {"retries": 2, "retry_delay": datetime.timedelta(seconds=0)}
UNIQUE = "{{ ti.xcom_pull(task_ids='reckon')['unique'] }}"

with DAG("ahgora_it_deferrable", schedule=None, start_date=START, catchup=False) as deferrable_dag:
    reckon = PontoWebReckonOperator(
        task_id="reckon",
        month="{{ params.month }}",
        year="2026",
        features=["daily.punches", "monthly"],
        deferrable=True,
        poll_interval=0.1,
        max_poll_interval=0.3,
        timeout=60,
        params={"month": "01"},
        **FAST_RETRIES,
    )
    results = PontoWebReckonResultsOperator(
        task_id="results", unique=UNIQUE, page_size=3, csv=True, **FAST_RETRIES
    )
    reckon >> results

with DAG("ahgora_it_sync", schedule=None, start_date=START, catchup=False) as sync_dag:
    reckon = PontoWebReckonOperator(
        task_id="reckon", month="01", year="2026", poll_interval=0.1, max_poll_interval=0.2, retries=3,
        retry_delay=datetime.timedelta(seconds=0),
    )
    reckon >> PontoWebReckonResultsOperator(task_id="results", unique=UNIQUE, page_size=2, **FAST_RETRIES)

with DAG("ahgora_it_wait", schedule=None, start_date=START, catchup=False) as wait_dag:
    PontoWebReckonOperator(
        task_id="reckon", month="01", year="2026", poll_interval=0.2, max_poll_interval=0.2, **FAST_RETRIES
    )
'''


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sandbox(**options): options of the sandbox fixture (employees, ...)")


def _is_sqlite() -> bool:
    from airflow.providers.common.compat.sdk import conf

    try:
        uri = conf.get("database", "sql_alchemy_conn")
    except Exception:
        uri = conf.get("core", "sql_alchemy_conn")
    return uri.startswith("sqlite")


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A fresh metadata database in the throwaway AIRFLOW_HOME (SQLite only)."""
    if not _is_sqlite():
        pytest.skip("the integration tests create their own SQLite metadata database; this one is not SQLite")
    from airflow.utils import db

    db.initdb()


@pytest.fixture(scope="session")
def dags_module(airflow_db) -> ModuleType:
    """The test Dags, written into the dags folder (where Airflow 3's dag.test looks) and imported."""
    from airflow.providers.common.compat.sdk import conf

    folder = Path(conf.get("core", "dags_folder"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ahgora_it_dags.py"
    path.write_text(textwrap.dedent(DAGS_SOURCE), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("ahgora_it_dags", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ahgora_it_dags"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def examples_folder(airflow_db) -> Path:
    """The example DAG files, copied into the dags folder (where Airflow 3's dag.test looks)."""
    from airflow.providers.common.compat.sdk import conf

    folder = Path(conf.get("core", "dags_folder")) / "ahgora_examples"
    folder.mkdir(parents=True, exist_ok=True)
    for source in EXAMPLES.glob("*.py"):
        shutil.copy(source, folder / source.name)
    return folder


def dagbag(folder: Path) -> Any:
    """The DAGs of a folder, loaded by a DagBag as Airflow loads them."""
    try:  # Airflow 3.2+ (airflow.models.dagbag keeps only the DB-backed bag there)
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2.11 and 3.1
        from airflow.models.dagbag import DagBag as OldDagBag  # type: ignore[attr-defined,unused-ignore]

        return OldDagBag(dag_folder=str(folder), include_examples=False)
    return DagBag(dag_folder=str(folder))


def run_dag(dag: Any, when: datetime.datetime | None = None) -> Any:
    """``dag.test()`` on both lines; ``when`` fixes the logical date (and, on Airflow 3, run_after),
    hence the run id."""
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

    if when is None:
        return dag.test()
    if AIRFLOW_V_3_0_PLUS:
        return dag.test(logical_date=when, run_after=when)
    return dag.test(execution_date=when)


def retry_task(dag: Any, task_id: str, when: datetime.datetime) -> None:
    """Run the next try of a task instance whose worker died, in the run of logical date ``when``.

    Airflow 3: the next try of the same task instance, in the same Dag run, through the in-process
    execution API (what ``dag.test`` does for each try); ``task_state_store`` is the real one.
    Airflow 2: ``dag.test`` again for the same logical date: the run is recreated with the same run
    id, which is what keys the Variable that the operator keeps across tries.
    """
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

    if not AIRFLOW_V_3_0_PLUS:
        run_dag(dag, when)
        return
    from airflow.models.dagrun import DagRun
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag.dag_id, DagRun.logical_date == when))
        assert run is not None, "the killed try left no Dag run"
        ti = run.get_task_instance(task_id, session=session)
        assert ti is not None
        ti.try_number += 1
        ti.state = TaskInstanceState.SCHEDULED
        session.commit()
        session.expunge(ti)
    _run_task(ti=ti, task=dag.get_task(task_id), run_triggerer=True)


def task_outcome(dag_id: str, task_id: str, when: datetime.datetime | None = None) -> tuple[Any, int, Any]:
    """(state, try_number, return value) of a task of the latest run (or of the run at ``when``)."""
    from airflow.models.dagrun import DagRun
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS
    from airflow.utils.session import create_session
    from sqlalchemy import select

    date_col = DagRun.logical_date if AIRFLOW_V_3_0_PLUS else DagRun.execution_date
    with create_session() as session:
        query = select(DagRun).where(DagRun.dag_id == dag_id)
        query = query.where(date_col == when) if when is not None else query.order_by(DagRun.id.desc())
        run = session.scalars(query).first()
        assert run is not None
        ti = run.get_task_instance(task_id, session=session)
        assert ti is not None
        return ti.state, ti.try_number, ti.xcom_pull(task_ids=task_id)


def stored_reckon(dag_id: str, task_id: str, when: datetime.datetime) -> Any:
    """What the reckon operator keeps across tries for a task of the run at ``when`` (None: nothing):
    its ``task_state_store`` entry on Airflow 3.3+, its Variable below."""
    from airflow.models.dagrun import DagRun
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_3_PLUS
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_provider_ahgora.operators._state import variable_key
    from airflow_provider_ahgora.operators.reckon import STATE_KEY

    date_col = DagRun.logical_date if AIRFLOW_V_3_0_PLUS else DagRun.execution_date
    with create_session() as session:
        run_id = session.scalar(select(DagRun.run_id).where(DagRun.dag_id == dag_id, date_col == when))
    assert run_id is not None
    if AIRFLOW_V_3_3_PLUS:
        from airflow._shared.state import TaskScope
        from airflow.state import get_state_backend

        raw = get_state_backend().get(TaskScope(dag_id=dag_id, run_id=run_id, task_id=task_id), STATE_KEY)
    else:
        from airflow.models import Variable

        raw = Variable.get(variable_key(dag_id, run_id, task_id, -1), None)
    return None if raw is None else json.loads(raw)


def subprocess_env() -> dict[str, str]:
    """The environment of a worker subprocess: this one (AIRFLOW_HOME, connections), plus the repo."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


# -- scheduling on asset events -------------------------------------------------------------------
#
# A Dag scheduled on assets is started by the scheduler, not by dag.test: these helpers play the
# parts of a deployment in this process, each with Airflow's own code. The Dag processor's part is
# ``airflow dags reserialize`` (the Dags and their asset references written to the database); the
# scheduler's is one pass of SchedulerJobRunner._create_dagruns_for_dags (what each scheduler loop
# runs: the asset-triggered runs created from the queued events) and _start_queued_dagruns; the
# worker's runs the run's tasks.


def sync_dags() -> None:
    """``airflow dags reserialize``: every Dag of the dags folder parsed and written to the database,
    as a Dag processor does (a subprocess: the CLI, as a deployment runs it)."""
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "reserialize"],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def unpause(dag_id: str) -> None:
    """A Dag scheduled on assets is queued only while it is not paused (new Dags start paused)."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        changed = session.execute(update(DagModel).where(DagModel.dag_id == dag_id).values(is_paused=False))
        assert changed.rowcount == 1, f"{dag_id} is not in the database"


def schedule_once() -> None:
    """One pass of the scheduler's run creation: Dag runs for the asset-triggered Dags whose queued
    events satisfy their schedule, then the queued runs started."""
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.utils.session import create_session
    from airflow.utils.sqlalchemy import prohibit_commit

    runner = SchedulerJobRunner(job=Job(), num_runs=1)
    with create_session() as session:
        with prohibit_commit(session) as guard:
            runner._create_dagruns_for_dags(guard, session)
        runner._start_queued_dagruns(session)


def run_tasks(dag: Any, run_id: str) -> None:
    """Run every task of an existing Dag run, in order, in this process (a worker's part)."""
    from airflow.models.dagrun import DagRun
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    for task in dag.topological_sort():
        with create_session() as session:
            run = session.scalar(select(DagRun).where(DagRun.dag_id == dag.dag_id, DagRun.run_id == run_id))
            assert run is not None
            ti = run.get_task_instance(task.task_id, session=session)
            assert ti is not None
            if AIRFLOW_V_3_0_PLUS:
                ti.state = TaskInstanceState.SCHEDULED
                session.commit()
                session.expunge(ti)
        if AIRFLOW_V_3_0_PLUS:
            from airflow.sdk.definitions.dag import _run_task

            _run_task(ti=ti, task=task)
        else:
            with create_session() as session:
                ti = session.merge(ti)
                ti.task = task
                ti.run(ignore_ti_state=True, session=session)

"""The month ``monthly_closing`` closes follows the run's logical date, however the run started.

Each way of starting a run is taken as Airflow takes it, in this process: the scheduler's own code
creating a scheduled run (``SchedulerJobRunner._create_dag_runs``, for the next date of the DAG's
timetable), and the CLI commands users type (``airflow dags trigger`` with and without ``-l``,
``airflow backfill create`` on Airflow 3 / ``airflow dags backfill`` on 2.11, ``airflow dags test``)
parsed by Airflow's own CLI parser. Then the run's ``plan`` task runs (it needs no server: it only
decides the month and the folder) and its XCom is read back.

Airflow 3 infers a manual run's data interval from when it was triggered, not from its logical date,
and a manual run may have no logical date at all: a plan that read the data interval closed the
month before the day of the trigger (or failed); these tests catch that on every Airflow line.
"""

from __future__ import annotations

import datetime
import re
import subprocess
import sys
from typing import Any

import pytest

from tests.integration.conftest import dagbag, subprocess_env

pytestmark = [pytest.mark.integration]

DAG_ID = "monthly_closing"
PLAN_KEYS = ("month", "year", "competence", "folder")


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, tzinfo=datetime.timezone.utc)


def airflow_3() -> bool:
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

    return bool(AIRFLOW_V_3_0_PLUS)


def cli(*argv: str) -> None:
    """``airflow <argv>``, parsed by Airflow's CLI parser and run in this process."""
    from airflow.cli import cli_parser

    args = cli_parser.get_parser().parse_args(list(argv))
    args.func(args)


@pytest.fixture(scope="module")
def closing_dag(examples_folder) -> Any:
    """monthly_closing as the DAG processor stores it (``airflow dags reserialize``), and as a worker
    loads it from its file."""
    cli("dags", "reserialize")
    bag = dagbag(examples_folder)
    assert bag.import_errors == {}
    return bag.dags[DAG_ID]


def runs_of(**where: Any) -> list[Any]:
    """The DAG's runs matching ``where`` (column=value), oldest first."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(DagRun).where(DagRun.dag_id == DAG_ID)
        for column, value in where.items():
            query = query.where(getattr(DagRun, column) == value)
        runs = list(session.scalars(query.order_by(DagRun.id)))
        session.expunge_all()
    return runs


def run_plan(dag: Any, run_id: str) -> dict[str, Any]:
    """Run the ``plan`` task of the run ``run_id`` (as a worker would) and return its XCom."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == DAG_ID, DagRun.run_id == run_id))
        assert run is not None, run_id
        ti = run.get_task_instance("plan", session=session)
        assert ti is not None
        if not airflow_3():  # what dag.test does for each task on 2.11
            from airflow.models.dag import _run_task as run_task_2

            ti.task = dag.get_task("plan")
            run_task_2(ti=ti, session=session)
            return plan_of(run_id)
        if run.state == DagRunState.QUEUED:  # what the scheduler does before it runs a task
            run.state = DagRunState.RUNNING
            run.start_date = run.start_date or datetime.datetime.now(datetime.timezone.utc)
        ti.try_number += 1  # what dag.test does for each task on Airflow 3
        ti.state = TaskInstanceState.SCHEDULED
        session.commit()
        session.expunge(ti)
    from airflow.sdk.definitions.dag import _run_task

    _run_task(ti=ti, task=dag.get_task("plan"))
    return plan_of(run_id)


def plan_of(run_id: str) -> dict[str, Any]:
    """What the ``plan`` task of the run ``run_id`` pushed."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == DAG_ID, DagRun.run_id == run_id))
        assert run is not None, run_id
        ti = run.get_task_instance("plan", session=session)
        plan = {key: ti.xcom_pull(task_ids="plan", key=key) for key in PLAN_KEYS}
    assert plan["folder"], f"the plan task of {run_id} pushed nothing: it failed (see the log above)"
    return plan


def assert_closes(plan: dict[str, Any], competence: str, folder_name: str) -> None:
    month, year = competence.split("/")
    assert (plan["competence"], str(plan["month"]).zfill(2), str(plan["year"])) == (competence, month, year)
    assert plan["folder"].rsplit("/", 2)[1:] == [DAG_ID, folder_name]


# --------------------------------------------------------------------------------------------------
# Scheduled, by the scheduler's own code
# --------------------------------------------------------------------------------------------------


def test_scheduled_run_closes_the_month_before_its_logical_date(closing_dag):
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.dag import DagModel
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.timetables.base import DataInterval, TimeRestriction
    from airflow.utils.session import create_session

    # where the scheduler stands after the run of 2026-07-01: the timetable's next date
    serialized = SerializedDagModel.get_dag(DAG_ID)
    assert serialized is not None
    info = serialized.timetable.next_dagrun_info(
        last_automated_data_interval=DataInterval(utc(2026, 6, 1, 6), utc(2026, 7, 1, 6)),
        restriction=TimeRestriction(earliest=serialized.start_date, latest=None, catchup=True),
    )
    assert info is not None
    assert info.logical_date == utc(2026, 8, 1, 6)
    with create_session() as session:
        model = session.get(DagModel, DAG_ID)
        assert model is not None
        model.next_dagrun = info.logical_date
        model.next_dagrun_data_interval = info.data_interval
        model.next_dagrun_create_after = info.run_after
        session.flush()
        SchedulerJobRunner(job=Job())._create_dag_runs([model], session)
    (run,) = runs_of(run_type="scheduled")
    assert_closes(run_plan(closing_dag, run.run_id), "07/2026", "2026-08-01")


# --------------------------------------------------------------------------------------------------
# Manual: airflow dags trigger, with and without a logical date
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("logical_date", "competence"),
    [("2026-05-01", "04/2026"), ("2026-01-10", "12/2025")],
    ids=["first-of-month", "mid-january"],
)
def test_triggered_with_a_logical_date_closes_the_month_before_it(closing_dag, logical_date, competence):
    when = datetime.datetime.fromisoformat(logical_date).replace(tzinfo=datetime.timezone.utc)
    flag = "-l" if airflow_3() else "-e"  # --logical-date on 3, --exec-date on 2.11
    cli("dags", "trigger", DAG_ID, flag, logical_date)
    (run,) = [r for r in runs_of(run_type="manual") if r.logical_date == when]
    if airflow_3():  # Airflow infers the data interval from the moment of the trigger
        assert run.data_interval_end != when
    assert_closes(run_plan(closing_dag, run.run_id), competence, logical_date)


def test_triggered_without_a_logical_date_closes_the_month_before_the_trigger(closing_dag):
    before = {r.run_id for r in runs_of(run_type="manual")}
    cli("dags", "trigger", DAG_ID)
    (run,) = [r for r in runs_of(run_type="manual") if r.run_id not in before]
    if airflow_3():  # no logical date: the month before the day it was asked for
        assert run.logical_date is None
        asked = run.run_after
        folder_name = run.run_id.replace(":", "_").replace("+", "_")
    else:  # Airflow 2.11 gives every run a logical date: the moment of the trigger
        asked = run.logical_date
        folder_name = asked.strftime("%Y-%m-%d")
    year, month = (asked.year - 1, 12) if asked.month == 1 else (asked.year, asked.month - 1)
    assert_closes(run_plan(closing_dag, run.run_id), f"{month:02d}/{year}", folder_name)


# --------------------------------------------------------------------------------------------------
# Backfill
# --------------------------------------------------------------------------------------------------


def test_backfilled_runs_close_the_month_before_each_logical_date(closing_dag):
    if airflow_3():  # creates the runs; the scheduler would run them: the plans run here
        cli("backfill", "create", "--dag-id", DAG_ID, "--from-date", "2026-10-01", "--to-date", "2026-11-15")
        runs = runs_of(run_type="backfill")
        plans = {run.logical_date: run_plan(closing_dag, run.run_id) for run in runs}
    else:  # the backfill job creates the runs and runs the plans (its own process, DebugExecutor)
        env = {**subprocess_env(), "AIRFLOW__CORE__EXECUTOR": "DebugExecutor"}
        argv = ["dags", "backfill", DAG_ID, "-t", "^plan$", "-s", "2026-10-01", "-e", "2026-11-15"]
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *argv], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        runs = runs_of(run_type="backfill")
        plans = {run.logical_date: plan_of(run.run_id) for run in runs}
    assert sorted(plans) == [utc(2026, 10, 1, 6), utc(2026, 11, 1, 6)]
    assert_closes(plans[utc(2026, 10, 1, 6)], "09/2026", "2026-10-01")
    assert_closes(plans[utc(2026, 11, 1, 6)], "10/2026", "2026-11-01")


# --------------------------------------------------------------------------------------------------
# airflow dags test
# --------------------------------------------------------------------------------------------------


def test_dags_test_closes_the_month_before_its_logical_date(closing_dag):
    # every task but plan marked success without running: no server needed
    others = "|".join(re.escape(task_id) for task_id in closing_dag.task_ids if task_id != "plan")
    cli("dags", "test", DAG_ID, "2026-09-01", "--mark-success-pattern", others)
    (run,) = [r for r in runs_of() if r.logical_date == utc(2026, 9, 1)]
    assert_closes(plan_of(run.run_id), "08/2026", "2026-09-01")


def test_the_month_param_wins_over_the_logical_date(closing_dag):
    cli("dags", "trigger", DAG_ID, "-l" if airflow_3() else "-e", "2026-06-01", "-c", '{"month": "2025-11"}')
    (run,) = [r for r in runs_of() if r.logical_date == utc(2026, 6, 1)]
    assert_closes(run_plan(closing_dag, run.run_id), "11/2025", "2026-06-01")

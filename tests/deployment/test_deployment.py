"""The example DAGs in a real Airflow deployment, with the faults of real life.

Until this test every DAG test ran with ``dag.test()`` (one process, triggers run inline). Here the
api-server, scheduler, dag-processor and triggerer run as processes of their own (``deployment.py``
says which settings matter), with the sandbox, also a process of its own, as PontoWeb and Voors. The
test drives it as an operator does: ``airflow dags trigger ... -l DATE``, then the REST API.

The LocalExecutor scenario (on SQLite):

1. ``master_data_sync`` (Voors must know the employees before their time cards are pushed);
2. ``monthly_closing`` of 1 February 2026, undisturbed: its files are the reference;
3. ``monthly_closing`` again for the same month (logical date 1 February 06:00), with two faults:
   the triggerer is SIGKILLed while the reckon is deferred (then started again: the trigger resumes
   in the new triggerer, and the reckon task goes on with its first try), and the task process of
   ``results`` is SIGKILLed mid-read, after PontoWeb consumed the records it sent (the sandbox
   holds the next page back so that the kill lands there); clearing the failed try, as an operator
   does rather than wait out its retry delay, runs the next try.

What must hold: every run succeeds; one reckon start per run (the sandbox's inspection API); the
files of the disturbed run are byte for byte those of the undisturbed one; the month closed is the
one before the run's logical date (January 2026); the triggerer never logged a blocked event loop.

The CeleryExecutor scenario is the same with two Celery workers in working directories of their own
(Redis as the broker) and every file on S3 (moto's server): no task can read another's disk.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_ahgora.sandbox import RECKON_RESULTS
from tests.deployment.deployment import AIRFLOW_3, LOOP_BLOCKED, ROOT, Deployment, Sandbox, wait
from tests.servers import Bucket, RedisServer, S3Server, redis_server_binary

pytestmark = [
    pytest.mark.integration,
    pytest.mark.deployment,
    # one deployment per executor, set up by its first test: 6 to 10 minutes on a busy 2-core machine
    pytest.mark.timeout(1200),
    pytest.mark.skipif(
        not AIRFLOW_3,
        reason="the real deployment runs on Airflow 3.3 (on SQLite, Airflow 2.11 allows only the "
        "SequentialExecutor; its line runs the example DAGs with dag.test())",
    ),
]

EMPLOYEES, SEED = "30", "42"
#: The reckon takes ~60 s in the sandbox (an employee every 2 s): long enough to kill the triggerer
#: while it is deferred, even on a busy machine (the trigger polls after 0, 30 and 75 s anyway).
RECKON_SPEED = "0.5"
FIRST, SECOND = "2026-02-01T00:00:00+00:00", "2026-02-01T06:00:00+00:00"
#: PontoWeb pushes take ~20 s in the sandbox (half a record a second). Airflow 3.3 races when a
#: trigger fires within seconds of its deferral on a busy scheduler: the executor's late "success"
#: of the deferring try finds the task queued again and the scheduler marks it up for retry
#: ("finished with state success, but the task instance's state attribute is queued").
PUSH_SPEED = "0.5"
SANDBOX_ARGS = ("--employees", EMPLOYEES, "--seed", SEED, "--speed", RECKON_SPEED, "--push-speed", PUSH_SPEED)
#: The month before both logical dates: what both runs must close.
MONTH = "01/2026"
FOLDER = "monthly_closing/2026-02-01"
FILES = (
    "results.jsonl",
    "results.csv",
    "payroll.csv",
    "payroll.failures.jsonl",
    "timecards.jsonl",
    "timecards.failures.jsonl",
)


def base_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """This environment without any Airflow setting of the test session (its AIRFLOW_HOME...), with
    bytecode kept (in a folder of the test's own), as a deployment's installed packages have it: a
    machine that sets PYTHONDONTWRITEBYTECODE would otherwise compile Airflow from source in every
    task process, and our modules at each first import in the triggerer."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "_AIRFLOW")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path_factory.getbasetemp() / "pycache")
    return env


def write_master_data(folder: Path) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from demo_data import write_master_data as write
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    write(folder, int(EMPLOYEES), int(SEED))


class Scenario:
    """What the scenario saw, for the tests to assert on."""

    def __init__(self, deployment: Deployment, sandbox: Sandbox) -> None:
        self.deployment = deployment
        self.sandbox = sandbox
        self.runs: dict[str, str] = {}
        self.states: dict[str, str] = {}
        self.tasks: dict[str, dict[str, dict[str, Any]]] = {}
        self.files: dict[str, dict[str, bytes]] = {}
        self.seconds: dict[str, float] = {}
        self.at_results_kill: dict[str, Any] = {}
        self.reckon_starts: list[dict[str, Any]] = []
        self.reckons: dict[str, dict[str, Any]] = {}
        self.competence: dict[str, Any] = {}
        self.triggerer_log = ""
        #: the last request the sandbox had received when the triggerer was killed
        self.kill_seq = 0
        #: status polls of the reckon after that: only a triggerer started since could send them
        self.polls_after_kill = 0
        #: where the files are (CeleryExecutor), else None (a local folder)
        self.bucket: Bucket | None = None

    def run(self, name: str, dag_id: str, logical_date: str, timeout: float = 900) -> str:
        started = time.monotonic()
        run_id = self.deployment.trigger(dag_id, logical_date)
        self.runs[name] = run_id
        self.finish(name, dag_id, timeout, started)
        return run_id

    def finish(self, name: str, dag_id: str, timeout: float, started: float) -> None:
        run_id = self.runs[name]
        self.states[name] = self.deployment.wait_run(dag_id, run_id, timeout)["state"]
        self.tasks[name] = self.deployment.tasks(dag_id, run_id)
        self.seconds[name] = round(time.monotonic() - started, 1)
        print(f"{name}: {self.states[name]} in {self.seconds[name]} s")


def run_closing_with_faults(scenario: Scenario, read_files: Any) -> None:
    """The second monthly closing: the triggerer killed while the reckon is deferred, the results
    task's process killed mid-read."""
    deployment, sandbox = scenario.deployment, scenario.sandbox
    # the first results read answers at once (and consumes every record: one page), the second (the
    # page after) is held back 50 s, less than the hook's 60 s timeout: the kill lands there
    fault = sandbox.post(
        "faults", {"route": f"GET {RECKON_RESULTS}", "kind": "latency", "delay": 50, "on_calls": [2]}
    )
    started = time.monotonic()
    run_id = deployment.trigger("monthly_closing", SECOND)
    scenario.runs["disturbed"] = run_id

    deployment.wait_task("monthly_closing", run_id, "reckon", {"deferred"}, timeout=600)
    polls = len(sandbox.get("requests", method="GET", path="/reckons/process/status"))
    wait(
        lambda: (
            len(sandbox.get("requests", method="GET", path="/reckons/process/status")) > polls
            or deployment.task("monthly_closing", run_id, "reckon")["state"] != "deferred"
        ),
        300,
        "the triggerer polling the deferred reckon",
    )
    assert deployment.task("monthly_closing", run_id, "reckon")["state"] == "deferred"
    seen = sandbox.get("requests")
    scenario.kill_seq = seen[-1]["seq"] if seen else 0
    deployment.components["triggerer"].kill()  # SIGKILL, process group and all
    deployment.start("triggerer", "triggerer")

    results = deployment.wait_task("monthly_closing", run_id, "results", {"running"}, timeout=600)
    unique = deployment.xcom("monthly_closing", run_id, "reckon")["unique"]

    def held() -> bool:
        faults = {f["id"]: f for f in sandbox.get("faults")}
        return faults[fault["id"]]["calls"] >= 2

    wait(held, 300, "the results task's second read, held back by the sandbox")
    pid = deployment.task("monthly_closing", run_id, "results")["pid"]
    scenario.at_results_kill = {"reckon": sandbox.reckon(unique), "pid": pid, "try": results["try_number"]}
    os.kill(pid, signal.SIGKILL)
    deployment.wait_task("monthly_closing", run_id, "results", {"up_for_retry", "failed"}, timeout=300)
    sandbox.delete("faults")
    deployment.clear("monthly_closing", run_id, "results")
    scenario.finish("disturbed", "monthly_closing", 900, started)
    scenario.files["disturbed"] = read_files()


@pytest.fixture(scope="module")
def local_scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    started = time.monotonic()
    work = tmp_path_factory.mktemp("deployment-local")
    data = work / "data"
    write_master_data(data / "master_data")
    env = base_env(tmp_path_factory)
    sandbox = Sandbox(work, env, *SANDBOX_ARGS)
    deployment = None
    try:
        env.update(sandbox.airflow_env)
        env.update({"AIRFLOW_VAR_AHGORA_STORAGE_BASE": str(data), "AIRFLOW_VAR_AHGORA_CLOSING_DAY": "25"})
        deployment = Deployment(work / "home", env, "LocalExecutor")
        scenario = Scenario(deployment, sandbox)
        deployment.prepare()
        deployment.start_core()
        deployment.wait_ready(("master_data_sync", "monthly_closing"))
        scenario.seconds["start"] = round(time.monotonic() - started, 1)

        def read_files() -> dict[str, bytes]:
            return {name: (data / FOLDER / name).read_bytes() for name in FILES}

        scenario.run("master_data_sync", "master_data_sync", FIRST)
        scenario.run("undisturbed", "monthly_closing", FIRST)
        scenario.files["undisturbed"] = read_files()
        run_closing_with_faults(scenario, read_files)
        collect(scenario)
        scenario.seconds["all"] = round(time.monotonic() - started, 1)
        print(f"real deployment (LocalExecutor): {scenario.seconds}")
        yield scenario
    finally:
        if deployment is not None:
            deployment.stop()
        sandbox.stop()


def collect(scenario: Scenario) -> None:
    """What the assertions look at, read once everything ran."""
    deployment = scenario.deployment
    scenario.reckon_starts = scenario.sandbox.reckon_starts()
    for name in ("undisturbed", "disturbed"):
        if name not in scenario.runs:
            continue
        run_id = scenario.runs[name]
        unique = deployment.xcom("monthly_closing", run_id, "reckon")["unique"]
        scenario.reckons[name] = scenario.sandbox.reckon(unique)
        scenario.competence[name] = deployment.xcom("monthly_closing", run_id, "plan", "competence")
    process = deployment.xcom("monthly_closing", scenario.runs["disturbed"], "reckon")["process"]
    polls = scenario.sandbox.get("requests", method="GET", path=f"/reckons/process/status/{process}")
    scenario.polls_after_kill = len([poll for poll in polls if poll["seq"] > scenario.kill_seq])
    scenario.triggerer_log = deployment.logs_of("triggerer")


@pytest.fixture(scope="module")
def celery_scenario(local_scenario: Scenario, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    """Two Celery workers, each in a working directory of its own, Redis as the broker, every file on
    S3. Only the disturbed closing runs: its files are compared with the LocalExecutor's undisturbed
    ones (the same sandbox company, the same month)."""
    started = time.monotonic()
    redis = redis_server_binary()
    if redis is None:
        pytest.skip(
            "CeleryExecutor: no redis-server (the broker). scripts/test.sh installs Debian's redis-server "
            "package when it runs as root with apt-get; install it (apt-get install redis-server) to run this"
        )
    work = tmp_path_factory.mktemp("deployment-celery")
    with contextlib.ExitStack() as stack:
        s3 = S3Server(work)
        stack.callback(s3.stop)
        broker = RedisServer(work / "redis", redis)
        stack.callback(broker.stop)
        env = base_env(tmp_path_factory)
        sandbox = Sandbox(work, env, *SANDBOX_ARGS)
        stack.callback(sandbox.stop)
        bucket = Bucket(s3, s3.new_bucket("payroll"))
        master = work / "master_data"
        write_master_data(master)
        for path in master.rglob("*"):
            if path.is_file():
                key = f"ahgora/master_data/{path.relative_to(master).as_posix()}"
                bucket.client.upload_file(str(path), bucket.name, key)
        env.update(sandbox.airflow_env)
        env.update(s3.airflow_env())
        env.update(
            {
                "AIRFLOW_VAR_AHGORA_STORAGE_BASE": bucket.uri("ahgora"),
                "AIRFLOW_VAR_AHGORA_CLOSING_DAY": "25",
                "AIRFLOW__CELERY__BROKER_URL": broker.url,
                "AIRFLOW__CELERY__RESULT_BACKEND": broker.url.rsplit("/", 1)[0] + "/1",
            }
        )
        deployment = Deployment(work / "home", env, "CeleryExecutor")
        stack.callback(deployment.stop)
        scenario = Scenario(deployment, sandbox)
        scenario.bucket = bucket
        deployment.prepare()
        deployment.start_core()
        for name in ("worker1", "worker2"):
            deployment.start_celery_worker(name, work / name)
        deployment.wait_ready(("master_data_sync", "monthly_closing"))
        scenario.seconds["start"] = round(time.monotonic() - started, 1)

        def read_files() -> dict[str, bytes]:
            return {name: bucket.read(f"ahgora/{FOLDER}/{name}") or b"" for name in FILES}

        scenario.run("master_data_sync", "master_data_sync", FIRST)
        scenario.files["undisturbed"] = local_scenario.files["undisturbed"]
        run_closing_with_faults(scenario, read_files)
        collect(scenario)
        scenario.seconds["all"] = round(time.monotonic() - started, 1)
        print(f"real deployment (CeleryExecutor): {scenario.seconds}")
        yield scenario


@pytest.fixture(params=["LocalExecutor", "CeleryExecutor"])
def scenario(request: pytest.FixtureRequest) -> Scenario:
    """Each executor's scenario (one deployment each, shared by its tests)."""
    fixture = {"LocalExecutor": "local_scenario", "CeleryExecutor": "celery_scenario"}[request.param]
    found: Scenario = request.getfixturevalue(fixture)
    return found


# --------------------------------------------------------------------------------------------------
# What must hold, with each executor
# --------------------------------------------------------------------------------------------------


def test_every_run_succeeds(scenario):
    states = {name: {t: ti["state"] for t, ti in tasks.items()} for name, tasks in scenario.tasks.items()}
    assert set(scenario.states.values()) == {"success"}, states
    assert "disturbed" in scenario.states


def test_one_reckon_start_per_run(scenario):
    starts = scenario.reckon_starts
    assert len(starts) == len(scenario.reckons), [s["body"] for s in starts]
    uniques = {name: reckon["unique"] for name, reckon in scenario.reckons.items()}
    assert len(set(uniques.values())) == len(uniques), uniques


def test_the_trigger_resumed_after_the_triggerer_was_killed(scenario):
    reckon = scenario.tasks["disturbed"]["reckon"]
    assert (reckon["state"], reckon["try_number"]) == ("success", 1), "no retry: the trigger resumed"
    assert scenario.polls_after_kill >= 1, "the restarted triggerer took the trigger over and polled"


def test_the_results_task_killed_mid_read_was_read_again(scenario):
    at_kill = scenario.at_results_kill
    assert at_kill["reckon"]["consumed"] == at_kill["reckon"]["total"] > 0, "records consumed, then lost"
    results = scenario.tasks["disturbed"]["results"]
    assert results["state"] == "success"
    assert results["try_number"] == at_kill["try"] + 1
    assert at_kill["reckon"]["reconsumes"] == 1, "the killed try reconsumed before its read"
    # the next try reconsumes and reads everything again; in a deployment that has not yet seen a
    # complete read of this kind of reckon (the Celery one), it also reads a second time to compare,
    # since what total counts is not known yet (ReadingMemory): one more reconsume
    learnt = "undisturbed" in scenario.runs
    assert scenario.reckons["disturbed"]["reconsumes"] == (2 if learnt else 3)


def test_the_files_are_those_of_an_undisturbed_run(scenario):
    undisturbed, disturbed = scenario.files["undisturbed"], scenario.files["disturbed"]
    assert len(undisturbed["results.jsonl"].splitlines()) == scenario.reckons["disturbed"]["total"]
    for name in FILES:
        assert disturbed[name] == undisturbed[name], name


def test_with_celery_tasks_ran_on_both_workers_and_shared_only_s3(celery_scenario):
    hosts = {ti["hostname"] for tasks in celery_scenario.tasks.values() for ti in tasks.values()}
    assert hosts == {"worker1", "worker2"}, hosts
    bucket = celery_scenario.bucket
    assert bucket is not None
    keys = bucket.keys(f"ahgora/{FOLDER}/")
    assert {f"ahgora/{FOLDER}/{name}" for name in FILES} <= set(keys)
    assert not [k for k in keys if k.endswith(".partial")], keys
    assert bucket.uploads() == []
    home = celery_scenario.deployment.home
    homes = [home, home.parent / "worker1", home.parent / "worker2"]
    local = [p for h in homes for p in (h / "data").rglob("*") if p.is_file()]
    assert local == [], "no file on a local disk"


def test_the_month_closed_is_the_one_before_the_logical_date(scenario):
    assert set(scenario.competence.values()) == {MONTH}, scenario.competence
    for reckon in scenario.reckons.values():
        assert (reckon["request"]["month"], reckon["request"]["year"]) == ("01", "2026")


def test_nothing_blocked_the_triggerers_event_loop(scenario):
    blocked = [line for line in scenario.triggerer_log.splitlines() if LOOP_BLOCKED.search(line)]
    assert blocked == []

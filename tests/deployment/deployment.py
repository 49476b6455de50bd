"""A real Airflow deployment on this machine, as users run one: each component a process of its own
(api-server, scheduler, dag-processor, triggerer; Celery workers with their broker), one metadata
database, the example DAGs, the sandbox as PontoWeb and Voors, driven the way operators drive it
(``airflow dags trigger``, the REST API) and looked at through the REST API and the sandbox's
inspection API.

The settings that matter, on Airflow 3.3:

* ``[core] executor``: ``LocalExecutor`` runs on SQLite on Airflow 3 (``airflow standalone`` does
  the same); Airflow 2.11 refuses any executor but ``SequentialExecutor`` on SQLite, so this runs on
  Airflow 3 only.
* ``[core] execution_api_server_url``: where task processes reach the Execution API (the
  api-server's ``/execution/``); every worker needs it, on any machine.
* ``[api_auth] jwt_secret``: one secret for every component, which signs and checks the tokens of
  task processes and of the REST API.
* ``[core] simple_auth_manager_all_admins``: the simple auth manager gives every caller an admin
  token (``GET /auth/token``); a test deployment only.
* ``[scheduler] use_job_schedule = False``: only triggered runs run, so the DAGs' own schedules (a
  monthly reckon, a daily sync) start nothing the test did not ask for; ``[core]
  dags_are_paused_at_creation = False`` so triggered runs are not held by a pause.
* ``[triggerer] triggerer_health_check_threshold``: how long a dead triggerer keeps its triggers
  before another (or the restarted one) takes them over: lowered so a SIGKILL recovers in seconds.
* ``[triggerer] blocked_main_thread_warning_threshold``: the event loop's lag that the triggerer
  logs as "blocked" (0.2 s by default): raised to 0.4 s, above what CPU starvation alone causes on
  a busy 2-core machine, below the 0.5 s a blocking trigger of ours caused.

Every process is started in a process group of its own and stopped with it (tests/servers.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import requests

from tests.servers import LocalProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "example_dags"
AIRFLOW_3 = int(__import__("importlib.metadata").metadata.version("apache-airflow").split(".")[0]) >= 3

#: What the triggerer logs when something blocks its event loop (Airflow 2.11 and 3.x).
LOOP_BLOCKED = re.compile(r"async thread was blocked|badly-written trigger", re.IGNORECASE)
TERMINAL = {"success", "failed"}


def wait(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """Poll ``predicate`` until it returns something true; on timeout, fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


class Sandbox:
    """The sandbox as a process of its own (``python -m airflow_provider_ahgora.sandbox``), driven
    through its HTTP control API (``/_sandbox``)."""

    def __init__(self, workdir: Path, env: Mapping[str, str], *args: str) -> None:
        self.process = LocalProcess(
            "sandbox",
            [sys.executable, "-u", "-m", "airflow_provider_ahgora.sandbox", "--port", "0", *args],
            workdir / "sandbox.log",
            env=env,
        )
        try:
            self.url = self.process.wait_for(r"listening on (http://\S+)", timeout=60).group(1)
            self.process.wait_for(r"^Press Ctrl-C", timeout=60)
        except BaseException:
            self.process.stop()
            raise
        #: AIRFLOW_CONN_PONTOWEB_DEFAULT and AIRFLOW_CONN_VOORS_DEFAULT as the sandbox prints them
        self.airflow_env = {
            name: json.loads(value) if value.startswith('"') else value.strip("'")
            for name, value in re.findall(r"^export (AIRFLOW_CONN_\w+)=(.+)$", self.process.output(), re.M)
        }

    def get(self, endpoint: str, **params: Any) -> Any:
        answer = requests.get(f"{self.url}/_sandbox/{endpoint}", params=params, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def post(self, endpoint: str, body: Any = None) -> Any:
        answer = requests.post(f"{self.url}/_sandbox/{endpoint}", json=body, timeout=30)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def delete(self, endpoint: str) -> None:
        requests.delete(f"{self.url}/_sandbox/{endpoint}", timeout=30).raise_for_status()

    def reckon_starts(self) -> list[dict[str, Any]]:
        """Every ``POST /reckons/process/start`` received, oldest first."""
        return list(self.get("requests", method="POST", path="/reckons/process/start"))

    def reckon(self, unique: str) -> dict[str, Any]:
        return dict(self.get(f"reckons/{unique}"))

    def stop(self) -> None:
        self.process.stop()


class Deployment:
    """Airflow's components as processes of their own, sharing one AIRFLOW_HOME and database."""

    def __init__(self, home: Path, env: Mapping[str, str], executor: str) -> None:
        self.home = home
        self.logs = home / "component-logs"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.executor = executor
        self.env = {
            **env,
            "AIRFLOW_HOME": str(home),
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
            "PYTHONUNBUFFERED": "1",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            # explicit, so that a worker with an AIRFLOW_HOME of its own still names the same database
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "6",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # the log servers of the triggerer and of local task runs: free ports, not 8793/8794
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.base,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            # the triggerer warns when its event loop lags: 0.2 s by default, which a 2-core machine
            # running two test jobs reaches by CPU starvation alone, with no trigger blocking
            # anything; what a blocking trigger did (issue 11) was 0.5 s as each of ours started
            "AIRFLOW__TRIGGERER__BLOCKED_MAIN_THREAD_WARNING_THRESHOLD": "0.4",
        }
        self.components: dict[str, LocalProcess] = {}
        self.session = requests.Session()
        self._starts: dict[str, int] = {}

    # -- the components -----------------------------------------------------------------------

    def airflow(self, *args: str, timeout: float = 300) -> str:
        """One ``airflow`` CLI command, as an operator types it; its output (fails on a non-zero exit)."""
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(
                f"airflow {' '.join(args)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
            )
        return done.stdout

    def prepare(self) -> None:
        """The dags folder (the example DAGs), the database, the pool."""
        dags = self.home / "dags"
        dags.mkdir(parents=True, exist_ok=True)
        for source in EXAMPLES.glob("*.py"):
            (dags / source.name).write_bytes(source.read_bytes())
        self.airflow("db", "migrate")
        self.airflow(
            "pools",
            "set",
            "ahgora_pontoweb",
            "4",
            "PontoWeb: at most 4 processes at once",
            "--include-deferred",
        )

    def start(
        self, name: str, *command: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> LocalProcess:
        """Start a component (``airflow <command>``) with its log in ``component-logs/<name>.<n>.log``."""
        self._starts[name] = self._starts.get(name, 0) + 1
        process = LocalProcess(
            name,
            [sys.executable, "-m", "airflow", *command],
            self.logs / f"{name}.{self._starts[name]}.log",
            env={**self.env, **(env or {})},
            cwd=cwd,
        )
        self.components[name] = process
        return process

    def start_celery_worker(self, name: str, workdir: Path, concurrency: int = 2) -> LocalProcess:
        """``airflow celery worker`` in a working directory of its own: its own AIRFLOW_HOME (task
        logs), its own copy of the DAG files (as a worker machine or image has), its own log server
        port, and its own name as the task instances' hostname."""
        dags = workdir / "dags"
        dags.mkdir(parents=True, exist_ok=True)
        for source in EXAMPLES.glob("*.py"):
            (dags / source.name).write_bytes(source.read_bytes())
        own = {
            "AIRFLOW_HOME": str(workdir),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.deployment.deployment.worker_hostname",
            "AHGORA_WORKER_NAME": name,
        }
        command = ("celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", str(concurrency))
        return self.start(name, *command, env=own, cwd=workdir)

    def start_core(self) -> None:
        """The api-server, the scheduler, the dag-processor and the triggerer."""
        self.start("api-server", "api-server")
        self.start("scheduler", "scheduler")
        self.start("dag-processor", "dag-processor")
        self.start("triggerer", "triggerer")

    def logs_of(self, name: str) -> str:
        """Every log of a component (each start's), in order."""
        return "".join(
            path.read_text(encoding="utf-8", errors="replace")
            for path in sorted(self.logs.glob(f"{name}.*.log"))
        )

    def check_alive(self) -> None:
        for name, process in self.components.items():
            if not process.alive():
                raise RuntimeError(f"{name} ended (exit {process.proc.returncode})\n{process.tail()}")

    def stop(self) -> None:
        """Every component: SIGTERM to all at once, then each waited for (SIGKILL past its grace)."""
        for process in self.components.values():
            process.terminate()
        for process in reversed(list(self.components.values())):
            process.stop()

    # -- the REST API -------------------------------------------------------------------------

    def _authenticate(self) -> None:
        """A token from the simple auth manager (every caller is an admin in this deployment)."""
        answer = self.session.get(f"{self.base}/auth/token", timeout=30)
        answer.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call of the REST API (``/api/v2``); its JSON."""
        url = f"{self.base}/api/v2/{path.lstrip('/')}"
        answer = self.session.request(method, url, timeout=30, **kwargs)
        if answer.status_code in (401, 403):
            self._authenticate()
            answer = self.session.request(method, url, timeout=30, **kwargs)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def wait_ready(self, dag_ids: tuple[str, ...], timeout: float = 600) -> None:
        """Every component healthy (the API's health check) and the DAGs parsed, without errors."""

        def healthy() -> bool:
            self.check_alive()
            try:
                answer = self.session.get(f"{self.base}/api/v2/monitor/health", timeout=10)
                health = answer.json()
            except (requests.RequestException, ValueError):
                return False
            wanted = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            return all((health.get(part) or {}).get("status") == "healthy" for part in wanted)

        wait(healthy, timeout, "the api-server, scheduler, triggerer and dag-processor healthy")
        self._authenticate()

        def parsed() -> bool:
            self.check_alive()
            errors = self.api("GET", "importErrors").get("import_errors", [])
            if errors:
                raise RuntimeError(f"the DAGs do not import: {errors}")
            try:
                return all(self.api("GET", f"dags/{dag_id}") for dag_id in dag_ids)
            except requests.HTTPError:
                return False

        wait(parsed, timeout, f"the DAGs {dag_ids} parsed")

    def trigger(self, dag_id: str, logical_date: str, conf: Mapping[str, Any] | None = None) -> str:
        """``airflow dags trigger DAG -l DATE``; the run id, found through the REST API."""
        args = ["dags", "trigger", dag_id, "-l", logical_date]
        if conf:
            args += ["-c", json.dumps(dict(conf))]
        self.airflow(*args)
        runs = self.api("GET", f"dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]
        wanted = _instant(logical_date)
        matches = [
            run["dag_run_id"]
            for run in runs
            if run.get("logical_date") and _instant(run["logical_date"]) == wanted
        ]
        assert len(matches) == 1, f"one run of {dag_id} at {logical_date}: {runs}"
        return str(matches[0])

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}"))

    def task(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        return dict(self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"))

    def tasks(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        answer = self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        return {ti["task_id"]: ti for ti in answer["task_instances"]}

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        answer = self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")
        value = answer["value"]
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return json.loads(value)
        return value

    def wait_task(
        self, dag_id: str, run_id: str, task_id: str, states: set[str], timeout: float
    ) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            self.check_alive()
            ti = self.task(dag_id, run_id, task_id)
            return ti if ti.get("state") in states else None

        return dict(wait(reached, timeout, f"{dag_id}.{task_id} of {run_id} in {sorted(states)}"))

    def wait_run(self, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            self.check_alive()
            run = self.run(dag_id, run_id)
            return run if run.get("state") in TERMINAL else None

        try:
            return dict(wait(finished, timeout, f"the run {run_id} of {dag_id} finished", interval=1.0))
        except TimeoutError as exc:
            states = {t: ti.get("state") for t, ti in self.tasks(dag_id, run_id).items()}
            raise TimeoutError(f"{exc}; its tasks: {states}") from exc

    def clear(self, dag_id: str, run_id: str, task_id: str) -> None:
        """Clear one task instance (it runs again now, as its next try), as an operator does in the UI."""
        body: dict[str, Any] = {
            "dry_run": False,
            "task_ids": [task_id],
            "only_failed": False,
            "reset_dag_runs": True,
            "include_downstream": False,
        }
        body["dag_run_id"] = run_id
        self.api("POST", f"dags/{dag_id}/clearTaskInstances", json=body)


def worker_hostname() -> str:
    """``[core] hostname_callable`` of the test's Celery workers: two workers on one machine would
    otherwise record the same hostname on the task instances they run."""
    import socket

    return os.environ.get("AHGORA_WORKER_NAME") or socket.getfqdn()


def _instant(text: str) -> float:
    from datetime import datetime, timezone

    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()

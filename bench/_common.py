"""What the benchmarks share: the sandbox in a subprocess, and a task's context without Airflow's
task runner (the operators' ``execute`` called directly).

Imported by the scripts as ``_common`` (``python bench/<script>.py`` puts ``bench/`` on the path).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any


class SandboxServer:
    """A running sandbox: the environment pointing Airflow at it (the connections and Variables it
    prints), its control API and, in a subprocess, its process id (for its CPU)."""

    def __init__(self, env: dict[str, str], control: str, pid: int | None = None) -> None:
        self.env = env
        self.control = control
        self.pid = pid

    def cpu(self) -> float:
        """CPU seconds the sandbox process has used (user and system; 0 when it runs in this process)."""
        if self.pid is None:
            return 0.0
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """A control call (``/_sandbox<path>``), its JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.control}{path}", data=data, method=method)  # noqa: S310
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 - loopback
            return json.load(answer)


@contextlib.contextmanager
def sandbox_process(*options: str) -> Iterator[SandboxServer]:
    """``python -m airflow_provider_ahgora.sandbox <options>`` in a subprocess, stopped (SIGTERM) on
    exit; the environment it prints is read from its output."""
    cmd = [sys.executable, "-m", "airflow_provider_ahgora.sandbox", *options]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # noqa: S603
    try:
        env: dict[str, str] = {}
        base = ""
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("Ahgora sandbox listening on "):
                base = line.split()[-1]
            elif line.startswith("export "):
                name, _, value = line[len("export ") :].strip().partition("=")
                env[name] = shlex.split(value)[0]
            elif line.startswith("Press Ctrl-C"):
                break
        if not base or not env:
            raise RuntimeError(f"the sandbox did not start (exit code {proc.poll()})")
        yield SandboxServer(env, f"{base}/_sandbox", proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


class _TI(SimpleNamespace):
    def __init__(self, task_id: str, map_index: int) -> None:
        super().__init__(dag_id="bench", run_id="bench", task_id=task_id, map_index=map_index, try_number=1)

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        pass


class _Store(dict):
    """``task_state_store`` of one task instance (what a retry would find)."""

    def set(self, key: str, value: Any, **_: Any) -> None:
        self[key] = json.loads(json.dumps(value))

    def delete(self, key: str) -> None:
        self.pop(key, None)


def task_context(task_id: str, map_index: int = -1) -> dict[str, Any]:
    """A task's context for ``execute``: its task instance (XCom pushes dropped) and state store."""
    return {"ti": _TI(task_id, map_index), "task_state_store": _Store()}

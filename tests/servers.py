"""Local servers that tests start as processes of their own: an S3 API (moto's server mode), Redis,
and whatever else a real-deployment test runs (an Airflow component, the sandbox).

Every process starts in a process group of its own, on 127.0.0.1, writing its output to a file; it
is stopped with its whole group (SIGTERM, then SIGKILL after a grace period) by whoever started it,
and, should that code never run (an error before its ``finally``), when the Python process that
started it exits (``atexit``). Nothing here listens anywhere but on loopback.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: Every process started here and not yet stopped (stopped at exit, whatever happened).
_RUNNING: list[LocalProcess] = []


class LocalProcess:
    """A command running in a process group of its own, its output in ``log``."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        log: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = None,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.log = Path(log)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.command,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped with every child it starts
            )
        _RUNNING.append(self)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, chars: int = 4000) -> str:
        return f"--- the end of {self.name}'s log ({self.log}) ---\n{self.output()[-chars:]}"

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first match of ``pattern`` in the output; fails with the log's end when the process
        ends or ``timeout`` seconds pass first."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern, re.MULTILINE)
        while True:
            match = regex.search(self.output())
            if match:
                return match
            if not self.alive():
                raise RuntimeError(f"{self.name} ended (exit {self.proc.returncode})\n{self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: no {pattern!r} within {timeout} s\n{self.tail()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the process group at once (a crash, as the machine would see it)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=30)

    def terminate(self) -> None:
        """SIGTERM to the group, without waiting (``stop`` waits)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGTERM)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the group, SIGKILL what is left after ``grace`` seconds; idempotent."""
        if self in _RUNNING:
            _RUNNING.remove(self)
        if self.alive():
            self.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace)
        # the leader may be gone while its children live on in the group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=30)


@atexit.register
def _stop_everything() -> None:
    for process in list(_RUNNING):
        process.stop(grace=2.0)


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds: fixtures' finally blocks and atexit stop the processes


# a test run ended with SIGTERM (a CI job cancelled, a timeout's kill) would otherwise leave every
# process started here running: turn it into an exit that runs the clean-ups
if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


# --------------------------------------------------------------------------------------------------
# S3: moto's server mode
# --------------------------------------------------------------------------------------------------

#: moto accepts any credentials; these are what the connection and boto3 clients of tests send.
S3_KEY, S3_SECRET, S3_REGION = "ahgora-test-key", "ahgora-test-secret", "us-east-1"


class S3Server:
    """moto's S3 API on a free loopback port, in a process of its own."""

    def __init__(self, workdir: Path) -> None:
        self.process = LocalProcess(
            "moto (S3)",
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
            workdir / "moto.log",
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            match = self.process.wait_for(r"Running on (http://127\.0\.0\.1:\d+)", timeout=60)
        except BaseException:
            self.process.stop()
            raise
        self.endpoint = match.group(1)

    def connection(self) -> dict[str, Any]:
        """An Airflow ``aws`` connection (JSON form) for ObjectStoragePath's ``s3://conn_id@bucket/``."""
        return {
            "conn_type": "aws",
            "login": S3_KEY,
            "password": S3_SECRET,
            "extra": {"endpoint_url": self.endpoint, "region_name": S3_REGION},
        }

    def airflow_env(self, conn_id: str = "aws_default") -> dict[str, str]:
        return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(self.connection())}

    def client(self) -> Any:
        """A boto3 client: the tests' own view of the bucket, independent of fsspec's caches."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=S3_KEY,
            aws_secret_access_key=S3_SECRET,
            region_name=S3_REGION,
        )

    def new_bucket(self, prefix: str = "ahgora") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        self.process.stop()


class Bucket:
    """One bucket of the S3 server, read with boto3."""

    def __init__(self, server: S3Server, name: str, conn_id: str = "aws_default") -> None:
        self.server = server
        self.name = name
        self.conn_id = conn_id
        self.client = server.client()

    def uri(self, key: str = "") -> str:
        """``s3://<conn_id>@<bucket>/<key>``: what ObjectStoragePath opens with the connection."""
        return f"s3://{self.conn_id}@{self.name}/{key.lstrip('/')}"

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))

    def read(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no object of that name."""
        try:
            return bytes(self.client.get_object(Bucket=self.name, Key=key)["Body"].read())
        except self.client.exceptions.NoSuchKey:
            return None

    def uploads(self, prefix: str = "") -> list[str]:
        """Keys of multipart uploads begun and neither completed nor aborted."""
        answer = self.client.list_multipart_uploads(Bucket=self.name, Prefix=prefix)
        return sorted(upload["Key"] for upload in answer.get("Uploads", ()))


# --------------------------------------------------------------------------------------------------
# Redis (Debian's redis-server), the Celery broker
# --------------------------------------------------------------------------------------------------


def redis_server_binary() -> str | None:
    """The ``redis-server`` program (Debian's package ``redis-server``, which ``scripts/test.sh``
    installs when it can), or None."""
    return shutil.which("redis-server")


class RedisServer:
    """redis-server on a free loopback port, no persistence, in a process of its own."""

    def __init__(self, workdir: Path, binary: str) -> None:
        self.port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        self.process = LocalProcess(
            "redis",
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
            ],
            workdir / "redis.log",
        )
        try:
            self.process.wait_for(r"Ready to accept connections", timeout=30)
        except BaseException:
            self.process.stop()
            raise
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.stop()


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

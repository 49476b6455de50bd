"""Object storage for real: a local S3 API (moto's server mode, a process of its own on loopback),
one per test session, a fresh bucket per test, and the Airflow connection ``aws_default`` pointing at
it. ``s3://aws_default@<bucket>/...`` then opens through ``ObjectStoragePath`` exactly as it would on
AWS, with the Amazon provider and s3fs; the tests look at the bucket with their own boto3 client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# the sandbox fixtures (a running sandbox with both Airflow connections pointing at it)
from airflow_provider_ahgora.sandbox.pytest_plugin import pytest_configure, sandbox  # noqa: F401
from tests.servers import Bucket, S3Server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    if not os.environ.get("CI"):  # CI installs the deploy extra (scripts/test.sh): missing there fails
        pytest.importorskip("moto.server", reason="moto[server] (the deploy extra) runs the local S3 API")
        pytest.importorskip("s3fs", reason="s3fs (the deploy extra) is the s3:// filesystem")
    server = S3Server(Path(tmp_path_factory.mktemp("s3")))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A new, empty bucket, and ``aws_default`` pointing at the server (for this test)."""
    for name, value in s3_server.airflow_env().items():
        monkeypatch.setenv(name, value)
    return Bucket(s3_server, s3_server.new_bucket())


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    return {"employees": 30, "seed": 11, "speed": float("inf"), "push_speed": float("inf")}

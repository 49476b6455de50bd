"""Results and reports on ``s3://`` through ``ObjectStoragePath``, against a real S3 API served
locally (moto's server mode): what workers that share no disk (Celery, Kubernetes) rely on.

The commit on S3 is a server-side copy of the whole temporary object onto the final name, then a
delete of the temporary object (``airflow_provider_ahgora.storage``). These tests check what that
must give: the final object is identical to the file written on a local disk; a reader polling the
final name sees nothing or the whole file, never part of it; a try that fails (an exception: S3
files *close*, and so upload, what was written) or is killed (SIGKILL, mid-read or between the
temporary object and the commit) leaves no final object, and the next try writes the identical file
and removes what the killed one left, incomplete multipart uploads included.
"""

from __future__ import annotations

import json
import sys
import textwrap
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_ahgora.exceptions import AhgoraReadInterruptedError
from airflow_provider_ahgora.operators._records import FailureReport
from airflow_provider_ahgora.operators.reckon import PontoWebReckonResultsOperator
from airflow_provider_ahgora.sandbox import RECKON_RESULTS, wait_until
from tests.integration.test_reckon_flow import start_reckon  # a reckon of 01/2026, done at once
from tests.servers import LocalProcess

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:in a future version of UPath:PendingDeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

FEATURES = ["daily.punches", "daily.totals", "monthly"]
FOLDER = "ahgora/monthly_closing/2026-02-01"


def task_instance(try_number: int = 1) -> SimpleNamespace:
    return SimpleNamespace(
        dag_id="ahgora_s3", run_id="s3", task_id="results", map_index=-1, try_number=try_number
    )


def read(unique: str, target: str, try_number: int = 1, **kwargs: Any) -> dict[str, Any]:
    """One try of the results operator (``total`` pinned to records: one read per try)."""
    operator = PontoWebReckonResultsOperator(
        task_id="results", unique=unique, output_path=target, csv=True, total_reading="records", **kwargs
    )
    return operator.execute({"ti": task_instance(try_number)})


@pytest.fixture
def reference(sandbox, tmp_path) -> dict[str, Any]:
    """The files of an undisturbed read to a local disk, and the reckon's unique."""
    unique = start_reckon(FEATURES)
    local = tmp_path / "local" / "results.jsonl"
    result = read(unique, str(local))
    return {
        "unique": unique,
        "jsonl": local.read_bytes(),
        "csv": local.with_suffix(".csv").read_bytes(),
        "records": result["records"],
    }


def test_results_on_s3_are_the_local_files_and_never_seen_in_part(sandbox, s3_bucket, reference):
    key = f"{FOLDER}/results.jsonl"
    seen: list[bytes | None] = []
    done = threading.Event()

    def reader() -> None:  # polls the final name through the whole try, from another client
        while not done.is_set():
            seen.append(s3_bucket.read(key))

    # slow pages: the try lasts long enough for the reader to poll before, during and after the commit
    sandbox.add_fault(f"GET {RECKON_RESULTS}", kind="latency", delay=0.05)
    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        result = read(reference["unique"], s3_bucket.uri(key), page_size=50)
    finally:
        done.set()
        thread.join(timeout=30)
    seen.append(s3_bucket.read(key))

    assert result["path"] == s3_bucket.uri(key)
    assert result["csv_path"] == s3_bucket.uri(f"{FOLDER}/results.csv")
    assert result["records"] == reference["records"] > 50
    assert s3_bucket.read(key) == reference["jsonl"], "the same bytes as on a local disk"
    assert s3_bucket.read(f"{FOLDER}/results.csv") == reference["csv"]
    assert s3_bucket.keys() == [f"{FOLDER}/results.csv", key], "no temporary object left"
    assert s3_bucket.uploads() == []
    observed = {
        None if body is None else ("whole" if body == reference["jsonl"] else body[:80]) for body in seen
    }
    assert observed == {None, "whole"}, f"the reader saw part of a file: {observed}"


def test_a_failed_try_leaves_no_object_and_the_retry_writes_the_same_file(sandbox, s3_bucket, reference):
    """A page lost on the wire fails the try. Closing an S3 file uploads what was written so far, so
    the truncated temporary object is there until the try removes it: nothing may remain."""
    key = f"{FOLDER}/results.jsonl"
    fault = sandbox.add_fault(f"GET {RECKON_RESULTS}", kind="reset", on_calls=(3,), times=1)
    with pytest.raises(AhgoraReadInterruptedError):
        read(reference["unique"], s3_bucket.uri(key), page_size=10)
    sandbox.remove_fault(fault)
    assert s3_bucket.keys() == [], "neither a final nor a temporary object"

    read(reference["unique"], s3_bucket.uri(key), try_number=2, page_size=10)
    assert s3_bucket.read(key) == reference["jsonl"]
    assert s3_bucket.read(f"{FOLDER}/results.csv") == reference["csv"]
    assert s3_bucket.keys() == [f"{FOLDER}/results.csv", key]


# A worker that runs one try of the read and must be killed before it ends. With ``hold`` it stops
# when both temporary objects are whole, before the commit, and says so (then the test kills it).
_WORKER = textwrap.dedent(
    """
    import sys, time, types
    import airflow_provider_ahgora.results as results
    from airflow_provider_ahgora.operators.reckon import PontoWebReckonResultsOperator

    unique, target, hold = sys.argv[1], sys.argv[2], sys.argv[3] == "hold"
    if hold:
        def held(partial, final, log=None):
            print("HOLDING BEFORE THE COMMIT", flush=True)
            time.sleep(600)
        results.commit = held
    ti = types.SimpleNamespace(dag_id="ahgora_s3", run_id="s3", task_id="results", map_index=-1, try_number=1)
    PontoWebReckonResultsOperator(
        task_id="results", unique=unique, output_path=target, csv=True, total_reading="records", page_size=10
    ).execute({"ti": ti})
    raise SystemExit("the worker should have been killed before the end")
    """
)


def _worker(tmp_path: Path, unique: str, target: str, mode: str) -> LocalProcess:
    import os

    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    return LocalProcess(
        "results worker",
        [sys.executable, "-c", _WORKER, unique, target, mode],
        tmp_path / f"{mode}.log",
        env=env,
    )


@pytest.mark.parametrize("moment", ["mid-read", "before the commit"])
def test_a_worker_killed_mid_write_leaves_no_final_object(sandbox, s3_bucket, reference, tmp_path, moment):
    key = f"{FOLDER}/results.jsonl"
    unique = reference["unique"]
    if moment == "mid-read":
        sandbox.add_fault(f"GET {RECKON_RESULTS}", kind="latency", delay=0.2)
    reads_before = sandbox.reckon(unique)["reads"]
    worker = _worker(tmp_path, unique, s3_bucket.uri(key), "hold" if moment == "before the commit" else "go")
    try:
        if moment == "mid-read":
            assert wait_until(lambda: sandbox.reckon(unique)["reads"] >= reads_before + 3, timeout=60), (
                worker.tail()
            )
        else:
            worker.wait_for("HOLDING BEFORE THE COMMIT", timeout=120)
        assert worker.alive(), worker.tail()
        worker.kill()
        assert worker.proc.returncode == -9
    finally:
        worker.stop()
    sandbox.clear_faults()

    assert s3_bucket.read(key) is None, "no final object"
    assert s3_bucket.read(f"{FOLDER}/results.csv") is None
    left = s3_bucket.keys()
    if moment == "mid-read":
        # the temporary objects were still in the worker's memory (s3fs uploads a file on close, or
        # in parts of 50 MiB): nothing reached the bucket
        assert left == []
    else:
        assert len(left) == 2, left
        assert all(k.rsplit("/", 1)[1].startswith((".results.jsonl.", ".results.csv.")) for k in left), left
        assert all(k.endswith(".partial") for k in left), left

    read(unique, s3_bucket.uri(key), try_number=2)
    assert s3_bucket.read(key) == reference["jsonl"], "the retry writes the identical file"
    assert s3_bucket.read(f"{FOLDER}/results.csv") == reference["csv"]
    assert s3_bucket.keys() == [f"{FOLDER}/results.csv", key], "the killed try's leftovers are removed"


def test_incomplete_uploads_of_killed_tries_are_aborted_by_the_next_commit(sandbox, s3_bucket, reference):
    """A worker killed while uploading a large temporary object in parts leaves an incomplete multipart
    upload (invisible, billed): the next commit of the same target aborts it, and no other."""
    client = s3_bucket.client
    name = s3_bucket.name
    killed = f"{FOLDER}/.results.jsonl.1-0a1b2c3d.partial"
    unrelated = f"{FOLDER}/other/big.bin"
    for key in (killed, unrelated):
        upload = client.create_multipart_upload(Bucket=name, Key=key)
        client.upload_part(Bucket=name, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 1024)
    assert s3_bucket.uploads() == [killed, unrelated]

    read(reference["unique"], s3_bucket.uri(f"{FOLDER}/results.jsonl"), try_number=2)
    assert s3_bucket.uploads() == [unrelated]
    assert s3_bucket.read(f"{FOLDER}/results.jsonl") == reference["jsonl"]


def test_a_failure_report_on_s3_is_committed_whole_and_replaces_the_last(s3_bucket):
    key = f"{FOLDER}/push.failures.jsonl"
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=key, Body=b'{"old": 1}\n')
    leftover = f"{FOLDER}/.push.failures.jsonl.deadbeef.partial"
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=leftover, Body=b"half a rep")

    report = FailureReport(s3_bucket.uri(key))
    report.add({"id": 1}, "refused")
    report.add({"id": 2}, "refused")
    assert s3_bucket.read(key) == b'{"old": 1}\n', "the last report stays until the new one is whole"
    report.commit()

    lines = [json.loads(line) for line in (s3_bucket.read(key) or b"").decode().splitlines()]
    assert [entry["record"]["id"] for entry in lines] == [1, 2]
    assert s3_bucket.keys() == [key], "the temporary objects (its own and a killed try's) are gone"

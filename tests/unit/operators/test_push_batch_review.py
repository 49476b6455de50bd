# ruff: noqa: E501, PT017, SIM115 - kept as the reviewer wrote the reproducers
"""Regression tests for bugs found in review of PontoWebPushBatchOperator: repeated identifiers in
the monitor's errors, the summary pushed when the wait stops early, tickets without ids, counts."""

import json
from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, TaskDeferred

from airflow_provider_ahgora.operators.push import PontoWebPushBatchOperator
from tests.unit.operators.conftest import monitor_body
from tests.unit.operators.test_push_batch import FakeTI, cost_centers, make_context, make_op, read_report


# --- from the review: test_r1_repeated_identifiers ---
def absence(mat, day):
    return {
        "matricula": mat,
        "motivo": "Atestado",
        "inicio": f"2026-01-{day:02d}T08:00",
        "fim": f"2026-01-{day:02d}T12:00",
        "operation": "INS",
    }


def test_same_matricula_twice_in_one_batch_both_rejected(hooks, fake, clock, tmp_path):
    records = [absence("000001", 5), absence("000001", 6), absence("000002", 5)]
    errs = [
        {"identifier": "000001", "message": "periodo bloqueado"},
        {"identifier": "000001", "message": "periodo bloqueado"},
    ]
    fake.monitor_script[1] = [monitor_body("warning", 3, 3, errs)]
    ti = FakeTI()
    with pytest.raises(AirflowFailException):
        make_op(tmp_path, resource="absences", records=records).execute(make_context(ti=ti))
    summary = ti.xcoms["return_value"]
    report = read_report(summary["report_path"])
    print(summary["failed"], report)
    assert summary["failed"] == 2, f"failed={summary['failed']}"
    assert [e["index"] for e in report] == [0, 1]


def test_same_matricula_in_two_batches_polled_by_unique(hooks, fake, clock, tmp_path):
    """No subunique: both batches are polled through the same unique; both records fail."""
    fake.give_subunique = False
    records = [absence("000001", 5), absence("000001", 6)]
    errs = [{"identifier": "000001", "message": "x"}, {"identifier": "000001", "message": "x"}]
    fake.monitor_script[1] = [monitor_body("warning", 2, 2, errs)]
    ti = FakeTI()
    with pytest.raises(AirflowFailException):
        make_op(tmp_path, resource="absences", records=records, batch_size=1).execute(make_context(ti=ti))
    summary = ti.xcoms["return_value"]
    report = read_report(summary["report_path"])
    print(summary["failed"], report)
    assert summary["failed"] == 2, f"failed={summary['failed']}"
    assert sorted(e["batch"] for e in report) == [1, 2]


# --- from the review: test_r2_no_summary_on_monitor_errors ---
def test_monitor_401_sync(hooks, fake, clock, tmp_path):
    records = [{"codigo": "", "nome": "bad"}, *cost_centers(3)]
    fake.monitor_script[1] = [(401, {"error": {"message": "Unauthorized", "code": 401}})]
    ti = FakeTI()
    with pytest.raises(AirflowException):
        make_op(tmp_path, records=records).execute(make_context(ti=ti))
    assert "return_value" in ti.xcoms, "summary not pushed"
    assert Path(tmp_path / "report" / "failures.jsonl").exists(), "report with the invalid record discarded"


def test_monitor_data_as_empty_php_array_sync(hooks, fake, clock, tmp_path):
    """PHP encodes an empty object as []: ProcessStatus validation fails; the trigger treats this as a
    malformed (transient) answer, the synchronous wait lets the pydantic ValidationError escape."""
    body = monitor_body("done", 3, 3)
    body["data"] = []
    fake.monitor_script[1] = [body]
    ti = FakeTI()
    try:
        make_op(tmp_path, records=[{"codigo": "", "nome": "bad"}, *cost_centers(3)]).execute(
            make_context(ti=ti)
        )
    except AirflowException:
        pass
    except Exception as exc:
        pytest.fail(
            f"escaped: {type(exc).__name__}: {str(exc)[:200]}; xcom={list(ti.xcoms)}; "
            f"report exists={Path(tmp_path / 'report' / 'failures.jsonl').exists()}"
        )


def test_deferred_event_failed_still_pushes_the_summary(hooks, fake, clock, tmp_path):
    from airflow.providers.common.compat.sdk import TaskDeferred

    store_ctx = make_context(ti=FakeTI())
    op = make_op(tmp_path, deferrable=True, records=[{"codigo": "", "nome": "bad"}, *cost_centers(3)])
    with pytest.raises(TaskDeferred) as info:
        op.execute(store_ctx)
    ti = FakeTI()
    ctx = {**store_ctx, "ti": ti}
    with pytest.raises(AirflowException):
        op.execute_complete(
            ctx,
            event={"status": "failed", "message": "401", "error_type": "AhgoraAuthError"},
            **info.value.kwargs,
        )
    assert "return_value" in ti.xcoms, "summary not pushed on a failed trigger event"


# --- from the review: test_r4_ticket_without_ids ---
@pytest.fixture
def no_ids(monkeypatch):
    from tests.unit.operators.conftest import FakePontoWeb

    orig = FakePontoWeb._push

    def push(self, request):
        status, headers, body = orig(self, request)
        answer = json.loads(body)
        answer.pop("unique", None)
        answer.pop("subunique", None)
        return status, headers, json.dumps(answer)

    monkeypatch.setattr(FakePontoWeb, "_push", push)


def test_sync_ticket_without_ids_is_unconfirmed(no_ids, hooks, fake, clock, tmp_path):
    ti = FakeTI()
    try:
        summary = make_op(tmp_path, records=cost_centers(3)).execute(make_context(ti=ti))
    except AirflowException:
        summary = ti.xcoms["return_value"]
    print(summary)
    assert fake.monitor_calls == []
    assert summary["unconfirmed"] == 3, (
        f"batch status {summary['batches'][0]['status']!r}, unconfirmed={summary['unconfirmed']}, task succeeded"
    )


def test_deferrable_ticket_without_ids_is_unconfirmed(no_ids, hooks, fake, clock, tmp_path):
    ti = FakeTI()
    op = make_op(tmp_path, records=[{"codigo": ""}, *cost_centers(3)], deferrable=True)
    try:
        op.execute(make_context(ti=ti))
    except TaskDeferred:
        pytest.fail("deferred")
    except Exception as exc:
        assert "return_value" in ti.xcoms, f"escaped {type(exc).__name__}: {exc}; no summary XCom"


# --- from the review: test_r5_counts ---
def test_one_shot_iterable_never_gives_negative_failed(hooks, fake, clock, tmp_path):
    fake.monitor_script[1] = [(410, {"error": {"message": "Gone", "code": 410}})]
    ti = FakeTI()
    with pytest.raises(AirflowException):
        make_op(tmp_path, records=iter(cost_centers(3))).execute(make_context(ti=ti))
    s = ti.xcoms["return_value"]
    print(s)
    assert s["failed"] >= 0, f"failed={s['failed']} unconfirmed={s['unconfirmed']}"


def test_status_missing_sync_vs_deferred(hooks, fake, clock, tmp_path):
    body = monitor_body("done", 3, 3)
    body.pop("status")
    fake.monitor_script[1] = [body]
    s = make_op(tmp_path).execute(make_context())
    assert s["batches"][0]["status"] == "done", s["batches"][0]["status"]


# --- from the review: test_r1_sandbox ---
def test_sandbox_two_absences_of_one_employee_rejected(sandbox, tmp_path):
    sandbox.reject_records("absences", "000001", message="periodo bloqueado")
    ti = FakeTI()
    op = PontoWebPushBatchOperator(
        task_id="push",
        resource="absences",
        poll_interval=0.1,
        max_poll_interval=0.2,
        report_path=str(tmp_path / "f.jsonl"),
        records=[absence("000001", 5), absence("000001", 6), absence("000002", 5)],
    )
    with pytest.raises(AirflowFailException):
        op.execute(make_context(ti=ti))
    s = ti.xcoms["return_value"]
    print(s, open(tmp_path / "f.jsonl").read())
    assert s["failed"] == 2, s["failed"]

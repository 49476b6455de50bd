"""Our own PontoWebHook and VoorsHook, unchanged, pointed at the sandbox through AIRFLOW_CONN_*
environment variables (JSON form): the whole flows, the errors they map, and the recovery from a
results read lost after the server consumed it."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest

from airflow_provider_ahgora.exceptions import (
    AhgoraAuthError,
    AhgoraDailyLimitError,
    AhgoraExpiredError,
    AhgoraNotFoundError,
    AhgoraPermissionError,
    AhgoraRateLimitError,
    AhgoraReadInterruptedError,
    AhgoraServerError,
)
from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
from airflow_provider_ahgora.hooks.voors import VoorsHook
from airflow_provider_ahgora.sandbox import RECKON_RESULTS
from tests.conftest import SleepRecorder

pytestmark = pytest.mark.integration

START = {"month": "04", "year": "2025", "features": ["daily.punches", "daily.totals", "monthly"]}


def hooks(**kwargs) -> tuple[PontoWebHook, VoorsHook]:
    pw = PontoWebHook(
        retry_limit=kwargs.get("retry_limit", 2), retry_delay=0.01, timeout=kwargs.get("timeout")
    )
    vh = VoorsHook(retry_limit=kwargs.get("retry_limit", 2), retry_delay=0.01)
    pw.sleep = SleepRecorder()
    vh.sleep = SleepRecorder()
    return pw, vh


@pytest.fixture
def pw_hook(sandbox):
    hook = hooks()[0]
    yield hook
    hook.close()


@pytest.fixture
def voors_hook(sandbox):
    hook = hooks()[1]
    yield hook
    hook.close()


def run_async(hook: PontoWebHook, call: Any) -> Any:
    """Await ``call`` in a loop of its own, then close the hook's async session there."""

    async def run() -> Any:
        try:
            return await call
        finally:
            await hook.aclose()

    return asyncio.run(run())


def reckon(hook: PontoWebHook, sandbox, body=None) -> str:
    process = hook.start_reckon(body or START).process
    status = hook.get_reckon_status(process)
    assert status.is_done
    assert status.progress is not None
    assert status.progress.total == status.progress.done
    return str(status.unique)


def test_the_connections_come_from_the_environment(sandbox):
    assert json.loads(os.environ["AIRFLOW_CONN_PONTOWEB_DEFAULT"]) == sandbox.pontoweb_conn
    assert json.loads(os.environ["AIRFLOW_CONN_VOORS_DEFAULT"])["host"] == f"{sandbox.base_url}/voors"
    pw, vh = hooks()
    assert pw.test_connection() == (
        True,
        f"Connection to PontoWeb at {sandbox.base_url} works: credentials accepted.",
    )
    ok, message = vh.test_connection()
    assert ok, message


def test_wrong_credentials_and_no_permission(sandbox, monkeypatch):
    conn = {**sandbox.pontoweb_conn, "password": "wrong"}
    monkeypatch.setenv("AIRFLOW_CONN_BAD_PW", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW_CONN_BAD_VOORS", json.dumps({**sandbox.voors_conn, "password": "wrong"}))
    ok, message = PontoWebHook("bad_pw").test_connection()
    assert not ok
    assert "401" in message
    assert not VoorsHook("bad_voors").test_connection()[0]
    with pytest.raises(AhgoraAuthError):
        PontoWebHook("bad_pw", retry_limit=0).get_reckon_status("x")
    sandbox.set_forbidden(sandbox.login, sandbox.token)
    pw, vh = hooks()
    with pytest.raises(AhgoraPermissionError):
        pw.get_reckon_status("x")
    with pytest.raises(AhgoraPermissionError):
        vh.list("departments")


def test_reckon_flow_returns_every_record(sandbox, pw_hook):
    unique = reckon(pw_hook, sandbox)
    pages = list(pw_hook.iter_reckon_results(unique, page_size=9))
    got = [r.model_dump(mode="json", by_alias=True, exclude_unset=True) for p in pages for r in p.data]
    assert got == list(sandbox.data.reckon_records("04", "2025", features=START["features"]))
    assert all(p.total == len(got) for p in pages)
    assert list(pw_hook.iter_reckon_results(unique)) == []  # consumed
    assert pw_hook.reconsume(unique).unique == unique
    assert sum(len(p.data) for p in pw_hook.iter_reckon_results(unique)) == len(got)


@pytest.mark.parametrize("kind", ["reset", "timeout", "malformed", "status"])
def test_a_read_lost_after_consume_is_recovered_with_reconsume(sandbox, kind):
    # every call of this hook has the deadline: 2 s leaves room for a loaded machine's ordinary calls,
    # and the held answer (6 s) is well past it (it was 0.5 s: it failed once at load 10)
    pw, _ = hooks(timeout=2.0)
    unique = reckon(pw, sandbox)
    sandbox.add_fault(f"GET {RECKON_RESULTS}", kind=kind, on_calls=(2,), delay=6.0)
    pages = pw.iter_reckon_results(unique, page_size=10)
    assert len(next(pages).data) == 10
    with pytest.raises(AhgoraReadInterruptedError) as info:
        next(pages)
    assert (info.value.pages_read, info.value.records_read) == (1, 10)
    assert sandbox.reckon(unique)["consumed"] == 20  # the second page was consumed, then lost
    assert "reconsume" in str(info.value)
    pw.reconsume(unique)
    again = [
        r.model_dump(mode="json", by_alias=True, exclude_unset=True)
        for page in pw.iter_reckon_results(unique, page_size=10)
        for r in page.data
    ]
    expected = list(sandbox.data.reckon_records("04", "2025", features=START["features"]))
    assert again == expected
    assert len(again) == sandbox.reckon(unique)["total"]
    assert [json.dumps(r, sort_keys=True) for r in again].count(json.dumps(expected[15], sort_keys=True)) == 1
    state = sandbox.reckon(unique)
    assert (state["reconsumes"], state["remaining"]) == (1, 0)


def test_a_429_before_the_read_is_retried_safely(sandbox, pw_hook):
    unique = reckon(pw_hook, sandbox)
    sandbox.add_fault(f"GET {RECKON_RESULTS}", kind="rate_limit", retry_after=0, on_calls=(1, 2))
    records = sum(len(p.data) for p in pw_hook.iter_reckon_results(unique, page_size=1000))
    assert records == sandbox.reckon(unique)["total"]
    assert [r["status"] for r in sandbox.requests(path="re:^/reckons/[0-9a-f]{8}$")] == [429, 429, 200, 200]


def test_status_polls_survive_5xx_with_retries(sandbox, pw_hook):
    process = pw_hook.start_reckon(START).process
    sandbox.add_fault("GET /reckons/process/status/*", kind="status", status=503, on_calls=(1,))
    assert pw_hook.get_reckon_status(process).is_done
    assert pw_hook.sleep.calls  # one backoff
    sandbox.add_fault("GET /reckons/process/status/*", kind="status", status=503)
    with pytest.raises(AhgoraServerError):
        pw_hook.get_reckon_status(process)


def test_async_status(sandbox, pw_hook):
    process = pw_hook.start_reckon(START).process
    assert run_async(pw_hook, pw_hook.aget_reckon_status(process)).is_done


def test_errors_map_to_the_exceptions(sandbox, pw_hook):
    with pytest.raises(AhgoraNotFoundError):
        pw_hook.get_reckon_status("00000000-0000-0000-0000-000000000000")
    unique = reckon(pw_hook, sandbox, {**START, "features": ["monthly"]})
    for _ in range(2):
        pw_hook.start_reckon({**START, "features": ["monthly"]})
    with pytest.raises(AhgoraDailyLimitError) as info:
        pw_hook.start_reckon({**START, "features": ["monthly"]})
    assert info.value.features == ["monthly"]
    assert pw_hook.sleep.calls == []  # failed fast, no retry
    sandbox.advance(72 * 3600)
    with pytest.raises(AhgoraExpiredError):
        list(pw_hook.iter_reckon_results(unique))


def test_the_concurrency_limit_is_a_retryable_429(sandbox):
    sandbox.pontoweb.speed = 0.001  # nothing finishes by itself
    pw, _ = hooks(retry_limit=1)
    one = {**START, "registers": [sandbox.data.employees[0].registration]}
    processes = [pw.start_reckon(one).process for _ in range(4)]
    with pytest.raises(AhgoraRateLimitError) as info:
        pw.start_reckon(one)
    assert info.value.retry_after is not None
    assert pw.sleep.calls == [min(info.value.retry_after, 60.0)]  # type: ignore[attr-defined]
    sandbox.finish_reckon(processes[0])
    assert pw.start_reckon(one).process


def test_push_and_process_monitor(sandbox, pw_hook):
    master = sandbox.data.pontoweb_master_data()
    ticket = pw_hook.push("costcenter", master["costcenter"])
    assert ticket.subunique
    assert ticket.company == sandbox.company
    state = pw_hook.get_process(subunique=ticket.subunique)
    assert state.is_finished
    assert state.status == "done"
    assert state.errors == []
    assert pw_hook.get_process(unique=ticket.unique).progress.total == len(master["costcenter"])  # type: ignore[union-attr]
    people = pw_hook.push("people", sandbox.data.pontoweb_people())
    assert run_async(pw_hook, pw_hook.aget_process(subunique=people.subunique)).is_finished
    assert sandbox.pushes()[-1]["records"] == sandbox.data.pontoweb_people()


def test_voors_master_data_in_order(sandbox, voors_hook):
    master = sandbox.data.voors_master_data()
    for resource, records in master.items():
        for record in records:
            answer = voors_hook.upsert(resource, record)
            assert answer.status == "success", (resource, answer)
    for resource, records in master.items():
        assert len(sandbox.voors_records(resource)) == len(records), resource
    departments = voors_hook.list("departments")
    assert [d.name for d in departments] == [r["name"] for r in master["departments"]]
    one = voors_hook.get("departments", departments[0].id)  # type: ignore[arg-type]
    assert one.name == departments[0].name
    renamed = voors_hook.upsert("departments", {"name": "Renomeado"}, id=departments[0].id)
    assert renamed.records("department")[0].name == "Renomeado"
    voors_hook.delete("departments", departments[0].id)
    with pytest.raises(AhgoraNotFoundError):
        voors_hook.get("departments", departments[0].id)  # type: ignore[arg-type]
    # goals see the users just sent, with their Voors ids
    users = {u["cpf"]: u["id"] for u in sandbox.voors_records("users")}
    goals = list(voors_hook.iter_goals("2025-01-01", "2025-02-28", page_size=7))
    assert len(goals) == sum(1 for e in sandbox.data.employees if not e.dismissed)
    assert {g.user_id for g in goals} <= set(users.values())


def test_voors_remote_id_deletes_goals_and_posts(sandbox, voors_hook):
    voors_hook.upsert("causes", {"remoteId": {"id": 1}, "description": "Rescisão"})
    assert voors_hook.delete("causes", remote_id={"id": 1}).data_message == "Registro deletado"
    with pytest.raises(AhgoraNotFoundError):
        voors_hook.delete("causes", remote_id={"id": 1})
    for n in (1, 2):
        voors_hook.upsert("readjustReasons", {"remoteId": n, "description": f"motivo {n}"})
    voors_hook.delete("readjustReasons", remote_ids=[1, 2])
    assert sandbox.voors_records("readjustReasons") == []
    goal = next(voors_hook.iter_goals("2025-01-01", "2025-01-31")).user_goals[0]  # type: ignore[index]
    voors_hook.update_goals([{"userGoal": goal.user_goal_id, "unit": "percentage", "value": 0.82}])
    assert voors_hook.create_post({"type": "message", "body": "Olá"}).status == "success"
    assert len(sandbox.voors_records("posts")) == 1

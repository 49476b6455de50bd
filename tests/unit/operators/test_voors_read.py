"""VoorsReadOperator: every record of a listable Voors resource (and the goals of a period) to JSON
Lines, streamed page by page, committed only when the whole answer was read.

The sandbox plays Voors over real HTTP (its quirks and faults play the hostile servers: a page
smaller than asked, a server that ignores ``skip``, a page served again, an HTML page, a malformed
answer); a fake hook measures the engine's memory.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import requests
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, AssetAlias

from airflow_provider_ahgora.exceptions import AhgoraAPIError, AhgoraConfigError, AhgoraMalformedAnswerError
from airflow_provider_ahgora.hooks.voors import Page, VoorsHook
from airflow_provider_ahgora.operators.read import VoorsReadOperator
from airflow_provider_ahgora.registry import RESOURCES
from airflow_provider_ahgora.voors_read import VoorsRead
from tests.conftest import alias_events, outlet_events
from tests.unit.operators.conftest import make_context

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:in a future version of UPath:PendingDeprecationWarning"),
]

PERIOD = {"period_start": "2026-01-01", "period_end": "2026-01-31"}


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    return {"employees": 45, "seed": 7, "speed": float("inf"), "push_speed": float("inf")}


@pytest.fixture
def fast_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's hook retries twice without really waiting."""
    original = VoorsReadOperator.get_hook

    def get_hook(self: VoorsReadOperator) -> VoorsHook:
        hook = original(self)
        hook.retry_limit = 2
        hook.sleep = lambda seconds: None
        return hook

    monkeypatch.setattr(VoorsReadOperator, "get_hook", get_hook)


def every_goal_user(sandbox: Any) -> list[dict[str, Any]]:
    """What the sandbox holds for the period, in one unpaged answer."""
    answer = requests.get(
        f"{sandbox.voors_url}/goals",
        params={"startDate": PERIOD["period_start"], "endDate": PERIOD["period_end"]},
        headers={"Authorization": sandbox.token},
        timeout=10,
    )
    answer.raise_for_status()
    return answer.json()


def lines(path: str | Path) -> list[Any]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial"))


# --------------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------------


def test_departments_are_read_whole_exactly_as_voors_sent_them(sandbox, tmp_path, fast_hooks):
    hook = VoorsHook()
    for i in range(5):
        hook.upsert("departments", {"name": f"Dept {i}", "description": f"D{i}", "remoteId": {"id": i}})
    target = tmp_path / "out" / "departments.jsonl"

    op = VoorsReadOperator(task_id="read", resource="departments", output_path=str(target))
    summary = op.execute(make_context())

    written = lines(target)
    assert written == sandbox.voors.records("departments")  # raw: remoteId objects, ids, timestamps
    assert summary == {
        "resource": "departments",
        "path": str(target),
        "records": 5,
        "pages": 1,
        "repeated": 0,
        "period_start": None,
        "period_end": None,
    }
    assert leftovers(target.parent) == []


def test_goals_of_a_period_are_paged_until_an_empty_page(sandbox, tmp_path, fast_hooks):
    everyone = every_goal_user(sandbox)
    sandbox.set_quirks(page_cap=7)  # the server caps limit at 7 whatever is asked
    op = VoorsReadOperator(
        task_id="goals", resource="goals", page_size=10, output_path=f"{tmp_path}/", **PERIOD
    )

    summary = op.execute(make_context())

    assert lines(tmp_path / "goals.jsonl") == everyone
    assert summary["records"] == len(everyone) > 30
    assert summary["pages"] == -(-len(everyone) // 7) + 1  # every short page read, then the empty one
    skips = [int(r["query"]["skip"]) for r in sandbox.requests(path="/voors/goals") if "skip" in r["query"]]
    assert skips == [*range(0, len(everyone), 7), len(everyone)]  # skip advances by the users received


def test_goal_filters_reach_voors(sandbox, tmp_path, fast_hooks):
    everyone = every_goal_user(sandbox)
    leader = next(u["leaderId"] for u in everyone if u["leaderId"])
    op = VoorsReadOperator(
        task_id="team",
        resource="goals",
        filters={"leader_id": leader},
        output_path=str(tmp_path / "team.jsonl"),
        **PERIOD,
    )
    summary = op.execute(make_context())
    team = [u for u in everyone if u["leaderId"] == leader]
    assert lines(tmp_path / "team.jsonl") == team
    assert summary["records"] == len(team)


def test_an_asset_event_for_the_file_only_after_the_commit(sandbox, tmp_path, fast_hooks):
    alias = AssetAlias("voors_goals")
    events = outlet_events()
    op = VoorsReadOperator(
        task_id="goals", resource="goals", output_path=str(tmp_path / "g.jsonl"), outlets=[alias], **PERIOD
    )
    summary = op.execute({**make_context(), "outlet_events": events})
    assert alias_events(events, alias) == [
        (
            (tmp_path / "g.jsonl").as_uri(),
            {
                "resource": "goals",
                "records": summary["records"],
                "period_start": "2026-01-01",
                "period_end": "2026-01-31",
                "path": str(tmp_path / "g.jsonl"),
            },
        )
    ]

    # a try that fails emits nothing
    sandbox.add_fault("GET /voors/goals", kind="malformed", on_calls=(2, 3, 4))  # the empty page
    failed = outlet_events()
    with pytest.raises(AhgoraMalformedAnswerError):
        op.execute({**make_context(), "outlet_events": failed})
    assert alias_events(failed, alias) == []


# --------------------------------------------------------------------------------------------------
# Hostile servers: nothing is committed, the next try reads everything again
# --------------------------------------------------------------------------------------------------


def test_a_server_that_ignores_skip_fails_the_try_with_nothing_written(sandbox, tmp_path, fast_hooks):
    first = requests.get(
        f"{sandbox.voors_url}/goals",
        params={"startDate": "2026-01-01", "endDate": "2026-01-31", "limit": 10, "skip": 0},
        headers={"Authorization": sandbox.token},
        timeout=10,
    ).json()
    # from the second page on, the server answers the first page again, whatever skip says
    fault = sandbox.add_fault("GET /voors/goals", kind="status", status=200, body=first, on_calls=(2, 3, 4))
    target = tmp_path / "goals.jsonl"
    op = VoorsReadOperator(task_id="goals", resource="goals", page_size=10, output_path=str(target), **PERIOD)

    with pytest.raises(AhgoraAPIError, match="ignores skip"):
        op.execute(make_context())
    assert not target.exists()
    assert leftovers(tmp_path) == []
    assert fault.fired == 1  # no loop: the repeated page ended the read

    sandbox.remove_fault(fault)
    assert op.execute(make_context())["records"] == len(every_goal_user(sandbox))


def test_a_page_that_repeats_part_of_the_one_before_is_written_once(sandbox, tmp_path, fast_hooks):
    everyone = every_goal_user(sandbox)
    # the second page starts 3 users early (users were added while paging)
    sandbox.add_fault("GET /voors/goals", kind="status", status=200, body=everyone[7:17], on_calls=(2,))
    op = VoorsReadOperator(
        task_id="goals", resource="goals", page_size=10, output_path=str(tmp_path / "g.jsonl"), **PERIOD
    )
    summary = op.execute(make_context())
    written = [u["userId"] for u in lines(tmp_path / "g.jsonl")]
    served = [u["userId"] for u in everyone[:10] + everyone[7:17] + everyone[20:]]
    assert written == list(dict.fromkeys(served))  # what the server served, each user once
    assert summary["repeated"] == 3
    assert summary["records"] == len(written)


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 200, "html": True, "body": "<html><body>Sign in</body></html>"},
        {"kind": "malformed"},
        {"kind": "status", "status": 200, "body": {"status": "ok"}},  # JSON, but no users
        {"kind": "status", "status": 200, "body": {"data": "later"}},
        {"kind": "status", "status": 200, "body": [{"userId": 1}, "two"]},
        {"kind": "status", "status": 502},
    ],
    ids=["html-page", "not-json", "no-users", "data-not-a-list", "item-not-an-object", "bad-gateway"],
)
def test_an_answer_that_is_not_a_page_is_retried_then_fails_never_an_empty_page(
    sandbox, tmp_path, fast_hooks, fault
):
    target = tmp_path / "goals.jsonl"
    op = VoorsReadOperator(task_id="goals", resource="goals", page_size=10, output_path=str(target), **PERIOD)
    sandbox.add_fault("GET /voors/goals", **fault, on_calls=(3, 4, 5))  # page 3 and both its retries
    with pytest.raises(AirflowException):
        op.execute(make_context())
    assert not target.exists()
    assert leftovers(tmp_path) == []

    sandbox.clear_faults()
    sandbox.add_fault("GET /voors/goals", **fault, on_calls=(2,))  # once: the hook's retry reads it
    assert lines(op.execute(make_context())["path"]) == every_goal_user(sandbox)


@pytest.mark.parametrize(
    "body",
    [{"data": {}}, {"data": {"department": "x"}}, {"data": {"department": [1]}}, {"message": "ok"}],
    ids=["no-envelope", "envelope-not-a-list", "item-not-an-object", "no-data"],
)
def test_a_list_answer_without_the_records_is_malformed(sandbox, tmp_path, fast_hooks, body):
    sandbox.add_fault("GET /voors/departments", kind="status", status=200, body=body)
    op = VoorsReadOperator(task_id="read", resource="departments", output_path=str(tmp_path / "d.jsonl"))
    with pytest.raises(AhgoraMalformedAnswerError, match="GET /departments"):
        op.execute(make_context())
    assert not (tmp_path / "d.jsonl").exists()


def test_an_empty_list_is_an_empty_file(sandbox, tmp_path, fast_hooks):
    for body in ({"data": {"jobRole": []}}, {"data": {"jobRole": None}}):
        sandbox.clear_faults()
        sandbox.add_fault("GET /voors/jobRoles", kind="status", status=200, body=body)
        op = VoorsReadOperator(task_id="read", resource="jobRoles", output_path=str(tmp_path / "r.jsonl"))
        assert op.execute(make_context())["records"] == 0
        assert (tmp_path / "r.jsonl").read_text() == ""


def test_a_refused_token_fails_naming_no_secret(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_VOORS_DEFAULT",
        json.dumps({**sandbox.voors_conn, "password": "tok-wrong-123456"}),
    )
    op = VoorsReadOperator(task_id="read", resource="horaries", output_path=str(tmp_path / "h.jsonl"))
    with pytest.raises(AirflowException) as info:
        op.execute(make_context())
    assert "tok-wrong-123456" not in str(info.value)
    assert "401" in str(info.value)


# --------------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"resource": "users"}, "cannot read records. Resources that can be read: departments"),
        ({"resource": "nope"}, "Unknown Voors resource"),
        ({"resource": "goals"}, "needs period_start"),
        ({"resource": "goals", "period_start": "2026-01-01"}, "needs period_end"),
        ({"resource": "goals", "period_start": "01/01/2026", "period_end": "2026-01-31"}, "YYYY-MM-DD"),
        ({"resource": "departments", "period_start": "2026-01-01"}, "are for goals"),
        ({"resource": "jobRoles", "filters": {"userId": 1}}, "are for goals"),
        ({"resource": "goals", "page_size": 0, **PERIOD}, "page_size"),
    ],
)
def test_wrong_arguments_fail_at_parse_time(kwargs, message):
    with pytest.raises(AhgoraConfigError, match=message):
        VoorsReadOperator(task_id="t", **kwargs)


def test_templated_arguments_are_checked_once_rendered(tmp_path):
    op = VoorsReadOperator(
        task_id="t", resource="{{ params.resource }}", period_start="{{ ds }}", period_end="{{ ds }}"
    )
    op.resource = "posts"  # as rendered
    with pytest.raises(AirflowFailException, match="cannot read"):
        op.execute(make_context())
    op.resource, op.period_start = "goals", "yesterday"
    with pytest.raises(AirflowFailException, match="YYYY-MM-DD"):
        op.execute(make_context())


def test_every_listable_resource_of_the_registry_is_readable():
    for name, res in RESOURCES.items():
        if res.supports("list"):
            extra = PERIOD if name == "goals" else {}
            VoorsReadOperator(task_id=f"read_{name}", resource=name, **extra)


# --------------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------------


class PagingHook:
    """A hook whose goals come in pages of ``page`` users made on demand (each ~1 KiB)."""

    def __init__(self, users: int, page: int = 100) -> None:
        self.users, self.page = users, page

    def iter_goal_pages(self, start: str, end: str, page_size: int, *, raw: bool, **filters: Any):
        for skip in range(0, self.users, self.page):
            yield Page(
                [
                    {"userId": i, "userFullName": "x" * 1000}
                    for i in range(skip, min(skip + self.page, self.users))
                ],
                skip,
                0,
            )


def _peak(users: int, folder: Path) -> int:
    read = VoorsRead(
        RESOURCES["goals"], _local(folder / f"{users}.jsonl"), start_date="a", end_date="b", log=_Quiet()
    )
    tracemalloc.start()
    try:
        counts = read.run(PagingHook(users))  # type: ignore[arg-type]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert counts.records == users
    return peak


def _local(path: Path) -> Any:
    from airflow_provider_ahgora.storage import storage_path

    return storage_path(str(path))


class _Quiet:
    def info(self, *args: Any) -> None: ...

    def warning(self, *args: Any) -> None: ...

    def debug(self, *args: Any) -> None: ...


def test_memory_stays_flat_in_the_size_of_the_answer(tmp_path):
    small = _peak(2_000, tmp_path)  # ~2 MiB written
    large = _peak(40_000, tmp_path)  # ~40 MiB written
    assert (tmp_path / "40000.jsonl").stat().st_size > 40_000_000
    assert large < small * 1.5 + 256 * 1024, (small, large)
    assert large < 2 * 1024 * 1024  # a page of 100 users is ~100 KiB; the file is 40 MiB

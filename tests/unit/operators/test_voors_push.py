"""VoorsPushOperator and VoorsDeleteOperator, with `responses` standing in for Voors.

The context is a small fake task instance that records its XComs (and, for creates, a dict-backed
``task_state_store``). Hooks made by the operators get a recorder instead of ``time.sleep``, so the
backoff delays (and ``Retry-After``) are checked without waiting.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import responses
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, Asset, AssetAlias

from airflow_provider_ahgora import voors_push as vp
from airflow_provider_ahgora.exceptions import AhgoraConfigError
from airflow_provider_ahgora.operators import push as push_ops
from airflow_provider_ahgora.operators.push import VOORS_STATE_KEY, VoorsDeleteOperator, VoorsPushOperator
from airflow_provider_ahgora.sandbox.data import make_cpf
from tests.conftest import alias_events, outlet_events
from tests.unit.operators import conftest as shared

pytestmark = pytest.mark.filterwarnings("ignore:in a future version of UPath:PendingDeprecationWarning")

BASE = "https://voors.unit.test/api"
TOKEN = "tok-Unit-S3cr3t-4f5e6d"
USERS = f"{BASE}/users"
CPFS = [make_cpf(i) for i in range(200)]
BAD_CPF = "12345678900"


# --------------------------------------------------------------------------------------------------
# Local fixtures and fakes
# --------------------------------------------------------------------------------------------------


class SleepRecorder:
    """Stands in for time.sleep in the hooks: records the delays instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.calls.append(seconds)


class FakeTI(shared.FakeTI):
    def __init__(self, task_id: str = "push") -> None:
        super().__init__(task_id=task_id, dag_id="voors", run_id="manual__2026-02-01")


class MemoryStateStore(dict):
    def set(self, key: str, value: Any, **_: Any) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


@pytest.fixture
def voors_env(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_VOORS_DEFAULT", json.dumps({"conn_type": "voors", "host": BASE, "password": TOKEN})
    )


@pytest.fixture
def sleeps(monkeypatch) -> SleepRecorder:
    """Every hook the operators make sleeps into this recorder."""
    recorder = SleepRecorder()
    original = push_ops._VoorsBatchOperator.get_hook

    def get_hook(self):
        hook = original(self)
        hook.sleep = recorder
        return hook

    monkeypatch.setattr(push_ops._VoorsBatchOperator, "get_hook", get_hook)
    return recorder


@pytest.fixture
def logs(caplog, capsys):
    """Everything logged so far: Airflow 2 logs through ``logging``, Airflow 3 operators through
    structlog to the standard streams."""
    caplog.set_level(logging.DEBUG)

    def text() -> str:
        out, err = capsys.readouterr()
        text.seen += out + err  # type: ignore[attr-defined]
        return caplog.text + text.seen  # type: ignore[attr-defined]

    text.seen = ""  # type: ignore[attr-defined]
    return text


@pytest.fixture
def ctx(tmp_path, monkeypatch, voors_env, sleeps) -> dict[str, Any]:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    return {"ti": FakeTI(), "task_state_store": MemoryStateStore()}


def push(records: Any, resource: str = "users", **kwargs: Any) -> VoorsPushOperator:
    kwargs.setdefault("task_id", "push")
    return VoorsPushOperator(resource=resource, records=records, **kwargs)


def body(call: Any) -> Any:
    return json.loads(call.request.body)


def report_lines(summary: dict[str, Any]) -> list[dict[str, Any]]:
    text = Path(summary["report_path"]).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def ok_user(request: Any) -> tuple[int, dict[str, str], str]:
    user = json.loads(request.body)["data"]["user"]
    return 200, {}, json.dumps({"status": "success", "data": {"user": {"id": 1, **user}}})


def user(i: int, **extra: Any) -> dict[str, Any]:
    return {"cpf": CPFS[i], "firstName": f"User {i}", **extra}


# --------------------------------------------------------------------------------------------------
# Construction: cheap, and wrong parameters refused at once
# --------------------------------------------------------------------------------------------------


class TestConstruction:
    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"max_workers": 0}, "max_workers"),
            ({"max_workers": True}, "max_workers"),
            ({"max_failures": -1}, "count must be 0 or more"),
            ({"max_failures": 1.0}, "fraction"),
            ({"max_failures": -0.1}, "fraction"),
            ({"max_failures": "5"}, "max_failures"),
            ({"max_failures": True}, "max_failures"),
            ({"array_size": 0}, "array_size"),
            ({"retry_limit": -1}, "retry_limit"),
            ({"hook_params": {"verify": False}}, "unknown hook_params verify"),
        ],
    )
    def test_bad_parameters(self, kwargs, match):
        with pytest.raises(AhgoraConfigError, match=match):
            push([], **kwargs)

    def test_unknown_resource(self):
        with pytest.raises(AhgoraConfigError, match=r"(?i)unknown Voors resource 'usres'"):
            push([], resource="usres")

    @pytest.mark.parametrize("resource", ["users", "/users", "user", "goals/updateGoals", "goalsAchieved"])
    def test_resource_aliases(self, resource):
        assert push([], resource=resource).resource == resource

    def test_resource_that_cannot_be_pushed(self):
        with pytest.raises(AhgoraConfigError, match="'goals' cannot push"):
            push([], resource="goals")

    def test_templated_resource_is_checked_at_run_time(self):
        push([], resource="{{ params.resource }}")

    def test_records_required(self):
        with pytest.raises(AhgoraConfigError, match="records is required"):
            push(None)

    def test_good_parameters(self):
        op = push("{{ ti.xcom_pull('x') }}", max_failures=0.05, max_workers=3, hook_params={"timeout": 5})
        assert op.max_failures == 0.05
        assert set(op.template_fields) == {"resource", "records", "report_path", "voors_conn_id"}

    def test_delete_needs_exactly_one_input(self):
        with pytest.raises(AhgoraConfigError, match="exactly one of remote_ids, records or ids"):
            VoorsDeleteOperator(task_id="d", resource="timeCards")
        with pytest.raises(AhgoraConfigError, match=r"got remote_ids, ids"):
            VoorsDeleteOperator(task_id="d", resource="timeCards", remote_ids=["a"], ids=[1])

    def test_delete_input_must_fit_the_resource(self):
        with pytest.raises(AhgoraConfigError, match="by their Voors id: pass ids"):
            VoorsDeleteOperator(task_id="d", resource="departments", remote_ids=["a"])
        with pytest.raises(AhgoraConfigError, match="by the remoteId"):
            VoorsDeleteOperator(task_id="d", resource="timeCards", ids=[1])

    def test_users_cannot_be_deleted(self):
        with pytest.raises(AhgoraConfigError, match="deactivated, not deleted"):
            VoorsDeleteOperator(task_id="d", resource="users", remote_ids=["x"])

    def test_construction_checks_agree_with_the_registry_for_every_resource(self):
        """One registry: what construction refuses (cheaply, without the models) is exactly what the
        registry says a resource cannot do, under every name it answers to."""
        from airflow_provider_ahgora.registry import RESOURCES

        for res in RESOURCES.values():
            for alias in res.aliases:
                for kind in (vp.Pushes("c"), vp.Deletes("c", "records", True)):
                    able = kind.suitable(res)
                    try:
                        vp.check_resource_name("t", alias, kind.doing)
                    except AhgoraConfigError:
                        assert not able, (res.name, alias, kind.doing)
                    else:
                        assert able, (res.name, alias, kind.doing)

    def test_construction_imports_no_models_and_makes_no_call(self):
        code = """
            import socket, sys
            def no_network(*a, **k):
                raise AssertionError("network used")
            socket.socket.connect = no_network
            socket.create_connection = no_network
            from airflow_provider_ahgora.operators.push import VoorsDeleteOperator, VoorsPushOperator
            VoorsPushOperator(task_id="p", resource="users", records="/data/users.jsonl", max_failures=0.01)
            VoorsDeleteOperator(task_id="d", resource="userCalculations", remote_ids=["a"])
            ours = ("airflow_provider_ahgora.models.voors", "airflow_provider_ahgora.hooks.voors")
            heavy = [m for m in ours if m in sys.modules]
            assert not heavy, heavy
            """
        proc = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]


# --------------------------------------------------------------------------------------------------
# Wire format
# --------------------------------------------------------------------------------------------------


class TestWire:
    @responses.activate
    def test_user_upsert_envelope_header_and_wire_names(self, ctx):
        responses.add_callback(responses.POST, USERS, callback=ok_user)
        summary = push([{"cpf": CPFS[0], "first_name": "Ana", "birth_date": "01/02/1990"}]).execute(ctx)
        assert summary == {
            "resource": "users",
            "records": 1,
            "succeeded": 1,
            "failed": 0,
            "unconfirmed": 0,
            "report_path": summary["report_path"],
        }
        call = responses.calls[0]
        assert body(call) == {
            "data": {"user": {"cpf": CPFS[0], "firstName": "Ana", "birthDate": "01/02/1990"}}
        }
        assert call.request.headers["Authorization"] == TOKEN
        assert "token" not in call.request.url
        assert report_lines(summary) == []
        assert summary["report_path"].endswith("voors/manual__2026-02-01/push/failures.jsonl")

    @responses.activate
    def test_each_record_is_validated_once(self, ctx, monkeypatch):
        """Pass 1 validates every record; the requests send what it produced, not validated again."""
        from airflow_provider_ahgora.models import _base

        calls: list[int] = []
        original = _base.validate_many

        def counting(model, records, id_keys=()):
            records = list(records)
            calls.append(len(records))
            return original(model, records, id_keys)

        monkeypatch.setattr(_base, "validate_many", counting)
        responses.add_callback(responses.POST, USERS, callback=ok_user)
        records = [{"cpf": CPFS[i], "first_name": f"P{i}", "birth_date": "01/02/1990"} for i in range(5)]
        assert push(records).execute(ctx)["succeeded"] == 5
        assert sum(calls) == 5
        sent = {body(c)["data"]["user"]["cpf"]: body(c)["data"]["user"] for c in responses.calls}
        assert sent == {
            CPFS[i]: {"cpf": CPFS[i], "firstName": f"P{i}", "birthDate": "01/02/1990"} for i in range(5)
        }

    @responses.activate
    def test_deactivation_and_leader_update(self, ctx):
        responses.add_callback(responses.POST, USERS, callback=ok_user)
        push([{"cpf": CPFS[1], "active": False}, {"cpf": CPFS[2], "appraisedBy": CPFS[3]}]).execute(ctx)
        bodies = sorted((body(c) for c in responses.calls), key=lambda b: b["data"]["user"]["cpf"])
        assert bodies == sorted(
            [
                {"data": {"user": {"cpf": CPFS[1], "active": False}}},
                {"data": {"user": {"cpf": CPFS[2], "appraisedBy": CPFS[3]}}},
            ],
            key=lambda b: b["data"]["user"]["cpf"],
        )

    @responses.activate
    def test_id_resources_put_with_id_and_post_without(self, ctx):
        responses.put(f"{BASE}/departments/12", json={"data": {"department": {"id": 12}}})
        responses.put(f"{BASE}/departments/13", json={"data": {"department": {"id": 13}}})
        responses.post(f"{BASE}/departments", json={"data": {"department": {"id": 99}}})
        baseline = responses.get(f"{BASE}/departments", json={"data": {"department": []}})
        records = [
            {"id": 12, "name": "Finance"},
            {"name": "New", "remoteId": "d-new", "branch": {"remoteId": "b1"}},
            {"id": "13", "description": "from a CSV"},
        ]
        summary = push(records, resource="departments", max_workers=1).execute(ctx)
        assert summary["succeeded"] == 3
        assert baseline.call_count == 1  # the list before the create: what existed before it
        sent = {(c.request.method, c.request.url): body(c) for c in responses.calls if c.request.body}
        assert sent[("PUT", f"{BASE}/departments/12")] == {"data": {"department": {"name": "Finance"}}}
        assert sent[("PUT", f"{BASE}/departments/13")] == {
            "data": {"department": {"description": "from a CSV"}}
        }
        assert sent[("POST", f"{BASE}/departments")] == {
            "data": {"department": {"name": "New", "remoteId": "d-new", "branch": {"remoteId": "b1"}}}
        }

    @responses.activate
    def test_array_resource_grouped_by_array_size(self, ctx):
        responses.post(f"{BASE}/userWallets", json={"data": {"message": "created with success!"}})
        wallets = [{"remoteId": f"w{i}", "user": CPFS[i % 50], "limit": 100} for i in range(250)]
        summary = push(wallets, resource="userWallets", array_size=100).execute(ctx)
        assert summary["succeeded"] == 250
        sizes = sorted(len(body(c)["data"]["userWallets"]) for c in responses.calls)
        assert sizes == [50, 100, 100]
        sent = sorted(r["remoteId"] for c in responses.calls for r in body(c)["data"]["userWallets"])
        assert sent == sorted(f"w{i}" for i in range(250))

    @responses.activate
    def test_refused_array_is_sent_again_one_by_one(self, ctx):
        def answer(request):
            items = json.loads(request.body)["data"]["userWallets"]
            if any(item["remoteId"] == "w3" for item in items):
                return 400, {}, json.dumps({"status": "error", "message": "userWallets[3].user: no user"})
            return 200, {}, json.dumps({"data": {"message": "ok"}})

        responses.add_callback(responses.POST, f"{BASE}/userWallets", callback=answer)
        wallets = [{"remoteId": f"w{i}", "user": CPFS[i]} for i in range(5)]
        summary = push(wallets, resource="userWallets", array_size=5, max_failures=1).execute(ctx)
        assert (summary["succeeded"], summary["failed"]) == (4, 1)
        assert len(responses.calls) == 1 + 5
        [line] = report_lines(summary)
        assert line["index"] == 3
        assert line["batch"] == 1
        assert line["record"] == {"remoteId": "w3", "user": CPFS[3]}
        assert "HTTP 400" in line["reason"]
        assert "no user" in line["reason"]

    @responses.activate
    def test_delete_bodies(self, ctx):
        responses.delete(f"{BASE}/timeCards", json={"data": {"message": "Registro deletado"}})
        responses.delete(f"{BASE}/userCalculations", json={"data": {"message": "Registro deletado"}})
        responses.delete(f"{BASE}/userDepartmentHistories", json={"data": {"message": "ok"}})
        responses.delete(f"{BASE}/departments/7", body="")
        VoorsDeleteOperator(task_id="d1", resource="timeCards", remote_ids=[{"id": 1, "y": 2026}]).execute(
            ctx
        )
        VoorsDeleteOperator(
            task_id="d2", resource="userCalculations", remote_ids=[f"p{i}" for i in range(5)], array_size=2
        ).execute(ctx)
        VoorsDeleteOperator(
            task_id="d3", resource="userDepartmentHistories", records=[{"remoteId": "h1", "user": CPFS[0]}]
        ).execute(ctx)
        VoorsDeleteOperator(task_id="d4", resource="departments", records=[{"id": 7, "name": "x"}]).execute(
            ctx
        )
        by_url: dict[str, list[Any]] = {}
        for call in responses.calls:
            by_url.setdefault(call.request.url, []).append(
                json.loads(call.request.body) if call.request.body else None
            )
        assert by_url[f"{BASE}/timeCards"] == [{"data": {"timeCard": {"remoteId": {"id": 1, "y": 2026}}}}]
        calc = sorted(
            [r["remoteId"] for r in b["data"]["userCalculation"]] for b in by_url[f"{BASE}/userCalculations"]
        )
        assert calc == [["p0", "p1"], ["p2", "p3"], ["p4"]]
        assert by_url[f"{BASE}/userDepartmentHistories"] == [
            {"data": {"userDepartmentHistories": {"remoteId": "h1"}}}
        ]
        assert by_url[f"{BASE}/departments/7"] == [None]

    @responses.activate
    def test_delete_404_counts_as_deleted_unless_missing_ok_false(self, ctx):
        responses.delete(f"{BASE}/causes", status=404, json={"status": "error", "message": "cause not found"})
        op = VoorsDeleteOperator(task_id="d", resource="causes", remote_ids=["c1", "c2"])
        summary = op.execute(ctx)
        assert (summary["succeeded"], summary["failed"]) == (2, 0)
        strict = VoorsDeleteOperator(
            task_id="d", resource="causes", remote_ids=["c1", "c2"], missing_ok=False, max_failures=2
        )
        summary = strict.execute(ctx)
        assert (summary["succeeded"], summary["failed"]) == (0, 2)
        lines = report_lines(summary)
        assert [line["record"] for line in lines] == [{"remoteId": "c1"}, {"remoteId": "c2"}]
        assert all("HTTP 404" in line["reason"] for line in lines)

    @responses.activate
    def test_array_delete_refused_is_split(self, ctx):
        def answer(request):
            refs = json.loads(request.body)["data"]["readjustReason"]
            if any(r["remoteId"] == "gone" for r in refs) and len(refs) > 1:
                return 404, {}, json.dumps({"status": "error", "message": "not found: nothing was deleted"})
            if refs[0]["remoteId"] == "gone":
                return 404, {}, json.dumps({"status": "error", "message": "not found"})
            return 200, {}, json.dumps({"data": {"message": "Registro deletado"}})

        responses.add_callback(responses.DELETE, f"{BASE}/readjustReasons", callback=answer)
        op = VoorsDeleteOperator(task_id="d", resource="readjustReasons", remote_ids=["a", "gone", "b"])
        summary = op.execute(ctx)
        assert (summary["succeeded"], summary["failed"]) == (3, 0)
        assert len(responses.calls) == 4

    @responses.activate
    def test_records_given_as_remote_ids_are_refused(self, ctx):
        op = VoorsDeleteOperator(task_id="d", resource="causes", remote_ids=[{"remoteId": "c1"}])
        with pytest.raises(AirflowFailException):
            op.execute(ctx)
        [line] = report_lines(ctx["ti"].xcoms["return_value"])
        assert "give the remoteId itself, or pass the records as records=" in line["reason"]
        assert len(responses.calls) == 0

    @responses.activate
    def test_invalid_delete_references(self, ctx):
        responses.delete(f"{BASE}/timeCards", json={"data": {"message": "ok"}})
        op = VoorsDeleteOperator(
            task_id="d", resource="timeCards", records=[{"remoteId": "a"}, {"x": 1}, "str", {"remoteId": ""}]
        )
        with pytest.raises(AirflowFailException):
            op.execute(ctx)
        summary = ctx["ti"].xcoms["return_value"]
        assert (summary["succeeded"], summary["failed"]) == (1, 3)
        reasons = [line["reason"] for line in report_lines(summary)]
        assert reasons[0].startswith("remoteId: required")
        assert reasons[1] == "record: must be a JSON object, got str"
        assert reasons[2].startswith("remoteId:")
        assert len(responses.calls) == 1


# --------------------------------------------------------------------------------------------------
# Validation before any request
# --------------------------------------------------------------------------------------------------


class TestValidation:
    @responses.activate
    def test_mixed_batch_every_record_validated_before_the_first_request(self, ctx):
        events: list[str] = []

        def source():
            records = [
                user(0),
                {"cpf": BAD_CPF, "firstName": "bad cpf"},
                "not a record",
                user(1, email="not-an-email"),
                user(2, birthDate="1990-02-01", salary="a lot"),
                user(3),
            ]
            for i, record in enumerate(records):
                events.append(f"read {i}")
                yield record

        def answer(request):
            events.append("sent")
            return ok_user(request)

        responses.add_callback(responses.POST, USERS, callback=answer)
        summary = push(source(), max_failures=4).execute(ctx)
        assert events.index("sent") == 6, events
        assert (summary["records"], summary["succeeded"], summary["failed"]) == (6, 2, 4)
        assert sorted(body(c)["data"]["user"]["cpf"] for c in responses.calls) == sorted([CPFS[0], CPFS[3]])
        lines = report_lines(summary)
        assert [line["index"] for line in lines] == [1, 2, 3, 4]
        assert lines[0] == {
            "record": {"cpf": BAD_CPF, "firstName": "bad cpf"},
            "reason": f"cpf: CPF '{BAD_CPF}' has invalid check digits",
            "batch": None,
            "index": 1,
        }
        assert lines[1]["reason"] == "record: must be a JSON object, got str"
        assert lines[2]["reason"].startswith("email: must be an e-mail address")
        assert "birthDate: must be a date in the format DD/MM/YYYY" in lines[3]["reason"]
        assert "salary: must be a number" in lines[3]["reason"]

    @responses.activate
    def test_only_invalid_records_fail_without_retry(self, ctx):
        op = push([{"cpf": BAD_CPF}], max_failures=0)
        with pytest.raises(AirflowFailException, match="1 of 1 Voors users record"):
            op.execute(ctx)
        assert len(responses.calls) == 0
        assert ctx["ti"].xcoms["return_value"]["failed"] == 1

    @responses.activate
    def test_bad_voors_id(self, ctx):
        summary = push(
            [{"id": "abc", "name": "x"}, {"id": True}], resource="jobRoles", max_failures=2
        ).execute(ctx)
        reasons = [line["reason"] for line in report_lines(summary)]
        assert reasons == [
            "id: must be the Voors id (an integer) of the record to edit, got 'abc'",
            "id: must be the Voors id (an integer) of the record to edit, got True",
        ]
        assert len(responses.calls) == 0

    def test_malformed_file_fails_before_any_request(self, ctx, tmp_path):
        path = tmp_path / "users.jsonl"
        path.write_text(json.dumps(user(0)) + "\n{not json\n", encoding="utf-8")
        with (
            responses.RequestsMock() as mock,
            pytest.raises(AirflowFailException, match="line 2 is not valid JSON"),
        ):
            push(str(path)).execute(ctx)
        assert len(mock.calls) == 0

    def test_missing_file(self, ctx, tmp_path):
        with pytest.raises(AirflowFailException, match="nothing was sent"):
            push(str(tmp_path / "absent.csv")).execute(ctx)

    def test_unknown_or_unsuitable_rendered_resource(self, ctx):
        op = push([], resource="{{ params.resource }}")
        op.resource = "nope"  # what the template rendered
        with pytest.raises(AirflowFailException, match="Unknown Voors resource 'nope'"):
            op.execute(ctx)
        op.resource = "goals"
        with pytest.raises(AirflowFailException, match="'goals' cannot push"):
            op.execute(ctx)
        delete = VoorsDeleteOperator(task_id="d", resource="{{ params.resource }}", remote_ids=["a"])
        delete.resource = "users"
        with pytest.raises(AirflowFailException, match="deactivated, not deleted"):
            delete.execute(ctx)
        delete.resource = "departments"
        with pytest.raises(AirflowFailException, match="pass ids"):
            delete.execute(ctx)

    def test_connection_without_token_fails_before_reading(self, ctx, monkeypatch):
        monkeypatch.setenv("AIRFLOW_CONN_VOORS_DEFAULT", json.dumps({"conn_type": "voors", "host": BASE}))

        def never():
            raise AssertionError("records read")
            yield  # pragma: no cover

        with pytest.raises(AirflowFailException, match="no API token"):
            push(never()).execute(ctx)

    @responses.activate
    def test_csv_and_json_files(self, ctx, tmp_path):
        responses.add_callback(responses.POST, USERS, callback=ok_user)
        csv_path = tmp_path / "users.csv"
        csv_path.write_text(f"cpf,firstName,email\n{CPFS[0]},Ana,\n{BAD_CPF},Bad,b@x.io\n", encoding="utf-8")
        summary = push(str(csv_path), max_failures=1).execute(ctx)
        assert (summary["succeeded"], summary["failed"]) == (1, 1)
        json_path = tmp_path / "users.json"
        json_path.write_text(json.dumps([user(5), user(6)]), encoding="utf-8")
        summary = push({"path": str(json_path)}).execute(ctx)
        assert summary["succeeded"] == 2


# --------------------------------------------------------------------------------------------------
# Ordering: the report in input order, leaders first, same key in order
# --------------------------------------------------------------------------------------------------


class TestOrdering:
    @responses.activate
    def test_report_keeps_input_order_under_concurrency(self, ctx):
        failing = {CPFS[i] for i in (3, 17, 18, 40, 77, 98)}

        def answer(request):
            cpf = json.loads(request.body)["data"]["user"]["cpf"]
            time.sleep(0.002 * (hash(cpf) % 5))
            if cpf in failing:
                return 400, {}, json.dumps({"status": "error", "message": f"refused {cpf}"})
            return ok_user(request)

        responses.add_callback(responses.POST, USERS, callback=answer)
        records = [user(i) for i in range(100)]
        records[50] = {"cpf": BAD_CPF}
        summary = push(records, max_workers=8, max_failures=10).execute(ctx)
        lines = report_lines(summary)
        assert [line["index"] for line in lines] == [3, 17, 18, 40, 50, 77, 98]
        assert (summary["succeeded"], summary["failed"]) == (93, 7)
        assert lines[0]["reason"] == f"refused by Voors (HTTP 400: refused {CPFS[3]})"
        assert lines[0]["record"] == user(3)

    @responses.activate
    def test_leaders_first_even_when_they_come_later_in_the_input(self, ctx):
        order: list[str] = []
        lock = threading.Lock()

        def answer(request):
            with lock:
                order.append(json.loads(request.body)["data"]["user"]["cpf"])
            return ok_user(request)

        responses.add_callback(responses.POST, USERS, callback=answer)
        # 0 <- 1 <- 2 (2 is the top leader), 3 led by 0; 4 led by someone outside the input
        records = [
            user(3, appraisedBy=CPFS[0]),
            user(0, appraisedBy=CPFS[1]),
            user(1, appraisedBy=CPFS[2]),
            user(2),
            user(4, appraisedBy=CPFS[150]),
            user(5, appraisedBy=CPFS[5]),  # their own leader: not a dependency
        ]
        summary = push(records).execute(ctx)
        assert summary["succeeded"] == 6
        pos = {cpf: order.index(cpf) for cpf in order}
        assert pos[CPFS[2]] < pos[CPFS[1]] < pos[CPFS[0]] < pos[CPFS[3]]

    @responses.activate
    def test_users_of_a_failed_or_invalid_leader_are_not_sent(self, ctx):
        def answer(request):
            cpf = json.loads(request.body)["data"]["user"]["cpf"]
            if cpf == CPFS[0]:
                return 400, {}, json.dumps({"status": "error", "message": "bad leader"})
            return ok_user(request)

        responses.add_callback(responses.POST, USERS, callback=answer)
        records = [
            user(0),
            user(1, appraisedBy=CPFS[0]),
            user(2, appraisedBy=CPFS[1]),  # transitively blocked
            {"cpf": CPFS[3], "email": "nope"},  # invalid leader
            user(4, appraisedBy=CPFS[3]),
            user(5),
        ]
        with pytest.raises(AirflowFailException):
            push(records).execute(ctx)
        summary = ctx["ti"].xcoms["return_value"]
        assert (summary["succeeded"], summary["failed"]) == (1, 5)
        lines = {line["index"]: line["reason"] for line in report_lines(summary)}
        assert lines[1] == (
            f"not sent: its leader (appraisedBy '{CPFS[0]}', record 0 of this input) failed, and Voors "
            "refuses a user whose leader does not exist yet"
        )
        assert "record 1 of this input) failed" in lines[2]
        assert "record 3 of this input) was invalid" in lines[4]
        sent = sorted(body(c)["data"]["user"]["cpf"] for c in responses.calls)
        assert sent == sorted([CPFS[0], CPFS[5]])

    @responses.activate
    def test_a_cycle_of_leaders_is_reported_not_sent(self, ctx):
        responses.add_callback(responses.POST, USERS, callback=ok_user)
        records = [
            user(0, appraisedBy=CPFS[1]),
            user(1, appraisedBy=CPFS[2]),
            user(2, appraisedBy=CPFS[0]),
            user(3, appraisedBy=CPFS[0]),  # led by a member of the cycle
            user(4),
        ]
        with pytest.raises(AirflowFailException):
            push(records).execute(ctx)
        summary = ctx["ti"].xcoms["return_value"]
        assert (summary["succeeded"], summary["failed"]) == (1, 4)
        lines = report_lines(summary)
        assert [line["index"] for line in lines] == [0, 1, 2, 3]
        assert all("form a cycle" in line["reason"] for line in lines[:3])
        assert CPFS[2] in lines[0]["reason"]
        assert "record 0 of this input) failed" in lines[3]["reason"]
        assert [body(c)["data"]["user"]["cpf"] for c in responses.calls] == [CPFS[4]]

    @responses.activate
    def test_records_of_the_same_user_go_in_input_order(self, ctx):
        order: list[Any] = []

        def answer(request):
            record = json.loads(request.body)["data"]["user"]
            time.sleep(0.01 if record.get("firstName") == "first" else 0)
            order.append(record)
            return ok_user(request)

        responses.add_callback(responses.POST, USERS, callback=answer)
        records = [{"cpf": CPFS[0], "firstName": "first"}, {"cpf": CPFS[0], "active": False}]
        push(records).execute(ctx)
        assert order == records


# --------------------------------------------------------------------------------------------------
# Failing or not: max_failures, transient vs permanent, 401 stop, XCom summary
# --------------------------------------------------------------------------------------------------


def _refuse(cpfs: set[str], status: int = 400) -> Any:
    def answer(request):
        cpf = json.loads(request.body)["data"]["user"]["cpf"]
        if cpf in cpfs:
            return status, {}, json.dumps({"status": "error", "message": "refused"})
        return ok_user(request)

    return answer


class TestVerdict:
    @pytest.mark.parametrize(
        ("max_failures", "fails"),
        [(2, False), (1, True), (0, True), (0.2, False), (0.19, True), (0.0, True)],
    )
    @responses.activate
    def test_max_failures_boundaries(self, ctx, max_failures, fails):
        responses.add_callback(responses.POST, USERS, callback=_refuse({CPFS[1], CPFS[4]}))
        op = push([user(i) for i in range(10)], max_failures=max_failures)
        if fails:
            with pytest.raises(AirflowFailException, match="more than max_failures"):
                op.execute(ctx)
            summary = ctx["ti"].xcoms["return_value"]
        else:
            summary = op.execute(ctx)
            assert "return_value" not in ctx["ti"].xcoms
        assert (summary["records"], summary["succeeded"], summary["failed"]) == (10, 8, 2)
        assert len(responses.calls) == 10, "every record is tried before the verdict"

    @responses.activate
    def test_empty_input(self, ctx):
        summary = push([], max_failures=0.5).execute(ctx)
        assert summary["records"] == summary["failed"] == 0
        assert report_lines(summary) == []

    @responses.activate
    def test_transient_failures_fail_with_a_retryable_exception(self, ctx, sleeps):
        responses.add_callback(responses.POST, USERS, callback=_refuse({CPFS[2]}, status=503))
        op = push([user(i) for i in range(4)], retry_limit=2)
        with pytest.raises(AirflowException) as info:
            op.execute(ctx)
        assert not isinstance(info.value, AirflowFailException)
        assert "may pass" in str(info.value)
        [line] = report_lines(ctx["ti"].xcoms["return_value"])
        assert line["reason"] == "HTTP 503: refused (still failing after 2 retries)"
        assert len(sleeps.calls) == 2

    @responses.activate
    def test_429_retry_after_is_honoured(self, ctx, sleeps):
        responses.post(USERS, status=429, headers={"Retry-After": "7"}, json={"message": "slow down"})
        responses.add_callback(responses.POST, USERS, callback=ok_user)
        summary = push([user(0)]).execute(ctx)
        assert summary["succeeded"] == 1
        assert sleeps.calls == [7.0]
        assert len(responses.calls) == 2

    @pytest.mark.parametrize(("status", "match"), [(401, "refused the API token"), (403, "lacks permission")])
    @responses.activate
    def test_401_or_403_stops_every_submission(self, ctx, status, match):
        responses.post(USERS, status=status, json={"status": "error", "message": "no"})
        records = [user(i) for i in range(60)]
        with pytest.raises(AirflowFailException, match=match):
            push(records, max_workers=2, max_failures=100).execute(ctx)
        summary = ctx["ti"].xcoms["return_value"]
        assert (summary["succeeded"], summary["failed"]) == (0, 60)
        assert len(responses.calls) <= 4, "no submission after the refusal (only those already running)"
        lines = report_lines(summary)
        assert [line["index"] for line in lines] == list(range(60))
        not_sent = [line for line in lines if line["reason"].startswith("not sent: ")]
        assert len(not_sent) == 60 - len(responses.calls)
        assert match in not_sent[0]["reason"]

    @responses.activate
    def test_voors_down_stops_the_push(self, ctx):
        responses.post(USERS, status=503, json={"message": "down"})
        with pytest.raises(AirflowException, match="Voors looks unavailable") as info:
            push([user(i) for i in range(100)], retry_limit=0, max_workers=2).execute(ctx)
        assert not isinstance(info.value, AirflowFailException)
        summary = ctx["ti"].xcoms["return_value"]
        assert summary["failed"] == 100
        assert len(responses.calls) < 30
        assert len(report_lines(summary)) == 100

    @responses.activate
    def test_summary_not_pushed_without_do_xcom_push(self, ctx):
        with pytest.raises(AirflowFailException):
            push([{"cpf": BAD_CPF}], do_xcom_push=False).execute(ctx)
        assert ctx["ti"].xcoms == {}

    @responses.activate
    def test_token_never_in_logs_xcom_or_errors(self, ctx, logs):
        responses.post(USERS, status=400, json={"status": "error", "message": f"bad token {TOKEN} echoed"})
        with pytest.raises(AirflowFailException) as info:
            push([user(0)]).execute(ctx)
        report = Path(ctx["ti"].xcoms["return_value"]["report_path"]).read_text(encoding="utf-8")
        text = logs()
        assert "Voors users" in text
        for seen in (text, str(info.value), json.dumps(ctx["ti"].xcoms), report):
            assert TOKEN not in seen
        assert "***" in report

    @responses.activate
    def test_report_path_templated_directory(self, ctx, tmp_path):
        summary = push([], report_path=f"{tmp_path}/reports/").execute(ctx)
        assert summary["report_path"] == f"{tmp_path}/reports/failures.jsonl"
        assert Path(summary["report_path"]).exists()

    @responses.activate
    def test_progress_lines(self, ctx, logs):
        responses.add_callback(responses.POST, USERS, callback=ok_user)
        push([user(i) for i in range(100)] + [{"cpf": BAD_CPF}], max_failures=1).execute(ctx)
        # (Airflow 2 shows each line twice: through logging and on the standard streams)
        progress = list(dict.fromkeys(re.findall(r"Voors users: [\d ]+/101 records, \d+ failed", logs())))
        assert progress[-1] == "Voors users: 101/101 records, 1 failed"
        assert 2 <= len(progress) <= 12


# --------------------------------------------------------------------------------------------------
# Creates: never repeated when Voors may have acted, and not created twice across tries
# --------------------------------------------------------------------------------------------------


class TestCreates:
    """A create (departments, job roles, job functions, horaries without ``id``; posts) sent twice is
    two records. The delivery journal keeps what each try did; creates are marked in flight before
    their requests; a create whose outcome is unknown is looked for in the list, or reported."""

    @staticmethod
    def job_roles(fail: dict[str, str]) -> list[str]:
        """A fake /jobRoles: POST creates (``fail[title]`` = ``"before"``: 503 without creating;
        ``"after"``: creates, then 503, once each); GET lists what exists. Returns the titles created."""
        created: list[str] = []
        failed: set[str] = set()

        def answer(request):
            title = json.loads(request.body)["data"]["jobRole"]["title"]
            when = fail.get(title)
            if when and title not in failed:
                failed.add(title)
                if when == "after":
                    created.append(title)
                return 503, {}, json.dumps({"message": "busy"})
            created.append(title)
            return 201, {}, json.dumps({"data": {"jobRole": {"id": len(created), "title": title}}})

        def listing(request):
            roles = [{"id": i, "title": t} for i, t in enumerate(created, 1)]
            return 200, {}, json.dumps({"data": {"jobRole": roles}})

        responses.add_callback(responses.POST, f"{BASE}/jobRoles", callback=answer)
        responses.add_callback(responses.GET, f"{BASE}/jobRoles", callback=listing)
        responses.put(f"{BASE}/jobRoles/5", json={"data": {"jobRole": {"id": 5}}})
        return created

    @responses.activate
    def test_a_create_whose_answer_was_lost_is_never_sent_again_and_a_retry_looks_for_it(self, ctx, sleeps):
        created = self.job_roles({"flaky": "before"})
        records = [{"title": "a"}, {"title": "flaky"}, {"title": "b"}, {"id": 5, "title": "edited"}]
        op = push(records, resource="jobRoles", max_workers=1)
        with pytest.raises(AirflowException) as info:
            op.execute(ctx)
        assert not isinstance(info.value, AirflowFailException), "a retry can look for it: retryable"
        summary = ctx["ti"].xcoms["return_value"]
        assert (summary["failed"], summary["unconfirmed"]) == (1, 1)
        [line] = report_lines(summary)
        assert line["index"] == 1
        assert "outcome unknown" in line["reason"]
        assert "may have been created" in line["reason"]
        assert created == ["a", "b"], "the create was not repeated"
        assert sleeps.calls == []
        journal = ctx["task_state_store"][VOORS_STATE_KEY]
        assert journal["confirmed"] == [[0, 0], [2, 3]]
        assert list(journal["unknown"]) == ["1"]

        # the retry: the lost create is looked for (not found: it was not created), then sent; nothing
        # delivered is sent again (the PUT neither)
        ctx["ti"].xcoms.clear()
        puts = len([c for c in responses.calls if c.request.method == "PUT"])
        summary = op.execute(ctx)
        assert (summary["succeeded"], summary["failed"]) == (4, 0)
        assert created == ["a", "b", "flaky"]
        assert len([c for c in responses.calls if c.request.method == "PUT"]) == puts
        assert VOORS_STATE_KEY not in ctx["task_state_store"], "forgotten once the task succeeds"

    @responses.activate
    def test_a_create_done_before_its_answer_was_lost_is_found_not_doubled(self, ctx, logs):
        created = self.job_roles({"flaky": "after"})
        op = push([{"title": "a"}, {"title": "flaky"}], resource="jobRoles", max_workers=1)
        with pytest.raises(AirflowException):
            op.execute(ctx)
        assert created == ["a", "flaky"]
        summary = op.execute(ctx)
        assert (summary["succeeded"], summary["failed"]) == (2, 0)
        assert created == ["a", "flaky"], "found in the list: not created twice"
        assert "1 found in Voors" in logs()

    @responses.activate
    def test_a_record_that_existed_before_is_not_taken_for_the_lost_create(self, ctx):
        """The list before the creates is the baseline: a 'flaky' that was already there is not ours."""
        created = self.job_roles({"flaky": "before"})
        created.append("flaky")  # an old job role with the same title, there before the push
        op = push([{"title": "flaky"}], resource="jobRoles", max_workers=1)
        with pytest.raises(AirflowException):
            op.execute(ctx)
        summary = op.execute(ctx)
        assert summary["succeeded"] == 1
        assert created == ["flaky", "flaky"], "ours was not created by the first try: sent by the retry"

    @responses.activate
    def test_posts_cannot_be_looked_for_so_an_unknown_outcome_fails_without_retry(self, ctx):
        posts: list[Any] = []

        def answer(request):
            posts.append(json.loads(request.body))
            return 502, {}, "<html>Bad Gateway</html>"

        responses.add_callback(responses.POST, f"{BASE}/posts", callback=answer)
        op = push([{"type": "message", "body": "Feliz natal"}], resource="posts")
        with pytest.raises(AirflowFailException, match="unknown outcome"):
            op.execute(ctx)
        assert len(posts) == 1
        with pytest.raises(AirflowFailException, match="unknown outcome"):
            op.execute(ctx)
        assert len(posts) == 1, "never published twice, not even by a retry"
        [line] = report_lines(ctx["ti"].xcoms["return_value"])
        assert "no way to look for a posts record" in line["reason"]

    @responses.activate
    def test_a_worker_killed_mid_push_leaves_its_creates_in_the_journal(self, ctx, monkeypatch):
        """SIGKILL (OOM, eviction) between requests: no exception handler runs. What left before is in
        the journal as in flight; the retry finds the created ones and creates only the rest."""
        from airflow_provider_ahgora.hooks.voors import VoorsHook

        created = self.job_roles({})
        records = [{"title": f"role {i}"} for i in range(30)]
        original = VoorsHook.upsert
        calls: list[int] = []

        class Killed(BaseException):
            pass

        def dying(self: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(1)
            if len(calls) == 12:
                raise Killed
            return original(self, *args, **kwargs)

        monkeypatch.setattr(VoorsHook, "upsert", dying)
        state_store = ctx["task_state_store"]
        with pytest.raises(Killed):
            push(records, resource="jobRoles", max_workers=2).execute(ctx)
        journal = state_store[VOORS_STATE_KEY]
        marked = sorted(vp_units(journal["inflight"]) | vp_units(journal["confirmed"]))
        assert set(range(11)) <= set(marked), "every create that left was marked before it left"
        monkeypatch.setattr(VoorsHook, "upsert", original)
        summary = push(records, resource="jobRoles", max_workers=2).execute(ctx)
        assert summary["succeeded"] == 30
        assert sorted(created) == sorted(r["title"] for r in records), "each created exactly once"

    @responses.activate
    def test_journal_of_another_input_is_ignored_by_upserts(self, ctx):
        responses.add_callback(responses.POST, USERS, callback=ok_user)
        ctx["task_state_store"][VOORS_STATE_KEY] = {"v": 1, "input": "other", "confirmed": [[0, 0]]}
        summary = push([user(0)]).execute(ctx)
        assert summary["succeeded"] == 1
        assert len(responses.calls) == 1

    @responses.activate
    def test_journal_of_another_input_stops_creates_unless_cleared(self, ctx):
        responses.post(f"{BASE}/horaries", json={"data": {"horary": {"id": 1}}})
        responses.get(f"{BASE}/horaries", json={"data": {"horary": []}})
        ctx["task_state_store"][VOORS_STATE_KEY] = {
            "v": 1,
            "input": "other",
            "confirmed": [[0, 0]],
            "extra": {"max_tries": 0},
        }
        with pytest.raises(AirflowFailException, match="input changed"):
            push([{"title": "h"}], resource="horaries").execute(ctx)
        ctx["ti"].max_tries = 1  # a human cleared the task
        summary = push([{"title": "h"}], resource="horaries").execute(ctx)
        assert summary["succeeded"] == 1
        assert len([c for c in responses.calls if c.request.method == "POST"]) == 1

    @responses.activate
    def test_creates_are_not_sent_when_the_journal_cannot_be_written(self, ctx):
        class Unwritable(dict):
            def set(self, key: str, value: Any, **_: Any) -> None:
                raise RuntimeError("the API server is down")

        created = self.job_roles({})
        ctx["task_state_store"] = Unwritable()
        with pytest.raises(AirflowException, match="journal could not be written") as info:
            push([{"title": "x"}], resource="jobRoles").execute(ctx)
        assert not isinstance(info.value, AirflowFailException)
        assert created == []


def vp_units(ranges: list[list[int]]) -> set[int]:
    from airflow_provider_ahgora.journal import unranges

    return unranges(ranges)


# --------------------------------------------------------------------------------------------------
# Found in review: reconcile, marks never sent, outages, deletes that happened
# --------------------------------------------------------------------------------------------------


class TestReview:
    @responses.activate
    def test_reconcile_does_not_take_a_sibling_for_ours(self, ctx):
        """Two 'Vendas' that differ only by branch and remoteId, both answers lost, only the second
        created: the retry must find the second and create the first, not swap them."""
        store: list[dict[str, Any]] = []
        first_try = {"on": True}

        def create(request: Any) -> Any:
            dept = json.loads(request.body)["data"]["department"]
            if first_try["on"]:
                if dept["branch"]["remoteId"] == 23:
                    return 503, {}, json.dumps({"message": "busy"})  # not created
                store.append({"id": 100 + len(store), **dept})
                return 502, {}, "<html><title>Bad Gateway</title></html>"  # created, answer lost
            store.append({"id": 100 + len(store), **dept})
            return 201, {}, json.dumps({"data": {"department": store[-1]}})

        responses.add_callback(responses.POST, f"{BASE}/departments", callback=create)
        responses.add_callback(
            responses.GET,
            f"{BASE}/departments",
            callback=lambda r: (200, {}, json.dumps({"data": {"department": store}})),
        )
        records = [
            {"name": "Vendas", "description": "d", "branch": {"remoteId": 23}, "remoteId": {"id": 1}},
            {"name": "Vendas", "description": "d", "branch": {"remoteId": 24}, "remoteId": {"id": 2}},
        ]
        op = push(records, resource="departments", max_workers=2)
        with pytest.raises(AirflowException):
            op.execute(ctx)
        first_try["on"] = False
        summary = op.execute(ctx)
        assert summary["succeeded"] == 2
        assert sorted(d["branch"]["remoteId"] for d in store) == [23, 24], "one each, none doubled"

    @pytest.mark.parametrize(
        ("sent", "echoed"),
        [
            ({"id": 1}, "1"),
            ({"id": 23, "title": "T"}, "23-T"),
            ({"id": 34, "composedKey": 3}, {"id": 34, "composedKey": 3}),
        ],
    )
    def test_remote_id_as_voors_echoes_it(self, sent, echoed):
        """Seed 004 shows remoteId echoed as sent, as its value's text, or its values joined by '-'."""
        from airflow_provider_ahgora.registry import RESOURCES

        listing = [{"id": 7, "title": "T", "remoteId": echoed}, {"id": 8, "title": "T", "remoteId": "other"}]
        strong, weak = vp.matching_ids(RESOURCES["jobRoles"], {"title": "T", "remoteId": sent}, listing)
        assert (strong, weak) == ({"7"}, {"7", "8"})

    @responses.activate
    def test_creates_marked_but_never_sent_are_forgotten(self, ctx):
        """A 401 on the first answer stops the push; the creates marked in flight that never left are
        not left "in flight", so the retry sends them instead of reporting them unknown for good."""
        sent: list[str] = []
        token_ok = {"yes": False}

        def answer(request: Any) -> Any:
            sent.append(json.loads(request.body)["data"]["body"])
            if not token_ok["yes"]:
                return 401, {}, json.dumps({"status": "error", "message": "Unauthorized: invalid token"})
            return 201, {}, json.dumps({"data": {"id": len(sent)}})

        responses.add_callback(responses.POST, f"{BASE}/posts", callback=answer)
        records = [{"type": "message", "body": f"post {i}"} for i in range(40)]
        op = push(records, resource="posts", max_workers=4)
        with pytest.raises(AirflowFailException):
            op.execute(ctx)
        journal = ctx["task_state_store"][VOORS_STATE_KEY]
        never_left = vp_units(journal["inflight"]) - {int(b.split()[1]) for b in sent}
        assert never_left == set()
        token_ok["yes"] = True
        before = len(sent)
        summary = op.execute({**ctx, "ti": FakeTI()})
        # the 401'd ones surely did nothing (401 is an answer): every post is sent by the retry
        assert summary["succeeded"] == 40
        assert len(sent) - before == 40

    @responses.activate
    def test_an_outage_on_creates_trips_the_breaker_early(self, ctx):
        """Each create lost to a 502 is an outcome someone must check: after a few in a row, stop."""
        responses.post(f"{BASE}/posts", status=502, body="<html><title>Bad Gateway</title></html>")
        records = [{"type": "message", "body": f"p{i}"} for i in range(300)]
        with pytest.raises(AirflowException, match="Voors looks unavailable"):
            push(records, resource="posts", max_workers=2).execute(ctx)
        assert len(responses.calls) < 12
        journal = ctx["task_state_store"][VOORS_STATE_KEY]
        assert len(json.dumps(journal)) < 2000, "one reason table, not a sentence per record"

    @responses.activate
    def test_a_delete_that_happened_is_not_reported_missing(self, ctx):
        """missing_ok=False: the DELETE's answer is lost after Voors deleted the record; its repeat gets
        Voors' 404, which here means the lost request deleted it."""
        exists = {"5": True}

        def delete(request: Any) -> Any:
            if exists["5"]:
                exists["5"] = False
                return 502, {}, "<html><title>Bad Gateway</title></html>"
            return 404, {}, json.dumps({"status": "error", "message": "Department not found"})

        responses.add_callback(responses.DELETE, f"{BASE}/departments/5", callback=delete)
        summary = VoorsDeleteOperator(task_id="d", resource="departments", ids=[5], missing_ok=False).execute(
            ctx
        )
        assert (summary["succeeded"], summary["failed"]) == (1, 0)
        assert len(responses.calls) == 2

    @responses.activate
    def test_a_delete_of_a_record_that_never_was_still_fails_with_missing_ok_false(self, ctx):
        responses.delete(
            f"{BASE}/departments/5", status=404, json={"status": "error", "message": "not found"}
        )
        with pytest.raises(AirflowFailException):
            VoorsDeleteOperator(task_id="d", resource="departments", ids=[5], missing_ok=False).execute(ctx)
        assert len(responses.calls) == 1

    @responses.activate
    def test_creates_of_a_changed_input_are_not_sent_until_a_human_clears(self, ctx):
        """An earlier try created departments of another input: this input might hold the same ones."""
        created = TestCreates.job_roles({"b": "before"})
        with pytest.raises(AirflowException):
            push([{"title": "a"}, {"title": "b"}], resource="jobRoles", max_workers=1).execute(ctx)
        assert created == ["a"]
        ctx["ti"] = FakeTI()
        changed = [{"title": "a"}, {"title": "b"}, {"title": "c"}]
        with pytest.raises(AirflowFailException, match="input changed"):
            push(changed, resource="jobRoles").execute(ctx)
        assert created == ["a"], "nothing sent"
        ti = FakeTI()
        ti.max_tries = 3  # cleared by a human
        summary = push(changed, resource="jobRoles", max_workers=1).execute({**ctx, "ti": ti})
        assert summary["succeeded"] == 3
        assert created == ["a", "a", "b", "c"], "the human's go-ahead: sent as asked"


# --------------------------------------------------------------------------------------------------
# Outlets: what was delivered, once the task succeeds
# --------------------------------------------------------------------------------------------------


class TestDeliveryEvents:
    ALIAS = AssetAlias("voors_users")

    @responses.activate
    def test_a_delivery_is_an_event_of_the_voors_resource_with_its_counts(self, ctx):
        responses.add_callback(responses.POST, USERS, callback=ok_user)
        events = outlet_events()
        asset = Asset("hr://voors/users")
        push([user(0), user(1)], outlets=[self.ALIAS, asset], max_failures=1).execute(
            {**ctx, "outlet_events": events}
        )
        counts = {"resource": "users", "records": 2, "succeeded": 2, "failed": 0, "unconfirmed": 0}
        assert alias_events(events, self.ALIAS) == [
            ("voors://voors.unit.test/api/users", {**counts, "operation": "push"})
        ]
        assert events[asset].extra == {**counts, "operation": "push"}
        assert TOKEN not in json.dumps(alias_events(events, self.ALIAS))

    @responses.activate
    def test_deletes_say_so(self, ctx):
        responses.delete(f"{BASE}/timeCards", json={"data": {"message": "Registro deletado"}})
        events = outlet_events()
        VoorsDeleteOperator(
            task_id="d", resource="timeCards", remote_ids=["a", "b"], outlets=[self.ALIAS]
        ).execute({**ctx, "outlet_events": events})
        ((uri, extra),) = alias_events(events, self.ALIAS)
        assert (uri, extra["operation"], extra["succeeded"]) == (
            "voors://voors.unit.test/api/timeCards",
            "delete",
            2,
        )

    @responses.activate
    def test_a_push_that_fails_emits_nothing(self, ctx):
        responses.post(USERS, status=400, json={"message": "invalid"})
        events = outlet_events()
        with pytest.raises(AirflowFailException):
            push([user(0)], outlets=[self.ALIAS]).execute({**ctx, "outlet_events": events})
        assert alias_events(events, self.ALIAS) == []

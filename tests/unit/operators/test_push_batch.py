"""PontoWebPushBatchOperator with `responses` standing in for PontoWeb.

:class:`FakePontoWeb` is a small stateful fake of the push routes and of the process monitor: it
accepts pushes (each gets a ``subunique``), answers the monitor per push from a script (default:
``done``), and injects faults on chosen push calls, either *before* the push is accepted (nothing
happened on the server) or *after* (the push was accepted, the answer is lost). The context is a
task instance that records its XComs and a dict-backed ``task_state_store`` (which the operator
uses on both Airflow lines whenever the context has one).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import responses
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AssetAlias,
    TaskDeferred,
)

from airflow_provider_ahgora.exceptions import AhgoraConfigError
from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
from airflow_provider_ahgora.operators import push as push_mod
from airflow_provider_ahgora.operators.push import PUSH_STATE_KEY, PontoWebPushBatchOperator
from tests.conftest import PONTOWEB_BASE, PONTOWEB_PASSWORD, alias_events, outlet_events
from tests.unit.operators import conftest as shared
from tests.unit.operators.conftest import MIB, UNIQUE, FakeStateStore, monitor_body

pytestmark = pytest.mark.filterwarnings("ignore:in a future version of UPath:PendingDeprecationWarning")


# --------------------------------------------------------------------------------------------------
# Fakes: FakePontoWeb, the task instance, the stores, the clock, the hooks are in this folder's conftest
# --------------------------------------------------------------------------------------------------


def cost_centers(n: int, start: int = 0) -> list[dict[str, str]]:
    return [{"codigo": f"c{i:05d}", "nome": f"Centro de custo {i}"} for i in range(start, start + n)]


def absences(n: int) -> list[dict[str, str]]:
    return [
        {
            "matricula": f"{i:06d}",
            "motivo": "Atestado",
            "inicio": "2026-01-05T08:00",
            "fim": "2026-01-05T12:00",
            "operation": "INS",
        }
        for i in range(n)
    ]


def make_op(tmp_path: Path, **kwargs: Any) -> Any:  # Any: execute() takes these fake contexts
    options: dict[str, Any] = {
        "task_id": "push",
        "resource": "costcenter",
        "records": cost_centers(3),
        "poll_interval": 1.0,
        "max_poll_interval": 4.0,
        "report_path": str(tmp_path / "report" / "failures.jsonl"),
    }
    options.update(kwargs)
    return PontoWebPushBatchOperator(**options)


class FakeTI(shared.FakeTI):
    def __init__(self, try_number: int = 1, **kwargs: Any) -> None:
        kwargs.setdefault("task_id", "push")
        kwargs.setdefault("dag_id", "sync")
        kwargs.setdefault("run_id", "manual__2026-11-01")
        super().__init__(-1, try_number, **kwargs)


def make_context(store: FakeStateStore | None = None, ti: FakeTI | None = None) -> Any:
    """A context with a task_state_store (which the operator uses on both Airflow lines when given)."""
    return shared.make_context(store if store is not None else FakeStateStore(), ti or FakeTI())


def read_report(path: str | Path) -> list[dict[str, Any]]:
    text = Path(path).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def wire_size(record: Any) -> int:
    return len(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def sized(i: int, size: int) -> dict[str, str]:
    """A cost center whose wire form is exactly ``size`` bytes, with 2-byte characters in it (so
    that characters and bytes differ)."""
    base = wire_size({"codigo": f"c{i:05d}", "nome": ""})
    extra = size - base
    assert extra > 0
    return {"codigo": f"c{i:05d}", "nome": "ç" * (extra // 2) + "a" * (extra % 2)}


# --------------------------------------------------------------------------------------------------
# Construction
# --------------------------------------------------------------------------------------------------


class TestConstruction:
    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("batch_size", 0),
            ("batch_size", 1001),
            ("batch_size", True),
            ("batch_size", "10"),
            ("max_batch_bytes", MIB + 1),
            ("max_batch_bytes", 2),
            ("max_batch_bytes", 1.5),
            ("fail_on", "sometimes"),
            ("retry", "always"),
            ("poll_interval", 0),
            ("max_workers", 0),
        ],
    )
    def test_bad_parameters_refused(self, tmp_path, name, value):
        with pytest.raises(AhgoraConfigError, match=name):
            make_op(tmp_path, **{name: value})

    def test_unknown_resource_refused_at_parse_time(self, tmp_path):
        with pytest.raises(AhgoraConfigError, match=r"(?i)unknown PontoWeb push resource"):
            make_op(tmp_path, resource="costcenters")

    def test_templated_resource_and_custom_path_accepted(self, tmp_path):
        make_op(tmp_path, resource="{{ params.resource }}")
        make_op(tmp_path, resource="/integration/custom")

    def test_templated_fields(self):
        assert {"resource", "records", "report_path", "pontoweb_conn_id"} <= set(
            PontoWebPushBatchOperator.template_fields
        )

    @pytest.mark.parametrize("native", [False, True])
    def test_rendering_leaves_plain_strings_alone(self, native):
        """Records are data: with render_template_as_native_obj=True Jinja would turn "123" into 123
        and "[1, 2]" into a list; and rendering every cell of thousands of records takes seconds."""
        import datetime
        import time

        from airflow.providers.common.compat.sdk import DAG

        records: list[Any] = [
            {"codigo": "123", "nome": "[1, 2]"},
            {"codigo": "c{{ params.n }}", "nome": "{{ ds }}"},
            *cost_centers(5000),
        ]
        with DAG(
            "render",
            schedule=None,
            start_date=datetime.datetime(2026, 1, 1),
            render_template_as_native_obj=native,
        ):
            op = PontoWebPushBatchOperator(
                task_id="push",
                resource="{{ params.resource }}",
                records=records,
                report_path="/reports/{{ ds }}/",
            )
        started = time.perf_counter()
        op.render_template_fields({"ds": "2026-02-01", "params": {"n": 7, "resource": "costcenter"}})
        assert time.perf_counter() - started < 2.0
        assert op.records[0] == {"codigo": "123", "nome": "[1, 2]"}
        assert op.records[1] == {"codigo": "c7", "nome": "2026-02-01"}
        assert op.records[2:] == cost_centers(5000)
        assert op.resource == "costcenter"
        assert op.report_path == "/reports/2026-02-01/"

    def test_construction_makes_no_call(self, tmp_path, monkeypatch):
        from airflow.providers.common.compat.sdk import BaseHook

        def boom(*_a: Any, **_k: Any) -> None:
            raise AssertionError("connection looked up at construction")

        monkeypatch.setattr(BaseHook, "get_connection", classmethod(boom))
        with responses.RequestsMock():
            make_op(tmp_path, records="/does/not/exist.json")


# --------------------------------------------------------------------------------------------------
# Batching
# --------------------------------------------------------------------------------------------------


class TestBatching:
    def test_exactly_1000_records_is_one_request(self, hooks, fake, clock, tmp_path):
        records = cost_centers(1000)
        ti = FakeTI()
        summary = make_op(tmp_path, records=records).execute(make_context(ti=ti))
        assert fake.calls == 1
        assert fake.batch_records() == [records]
        assert [b["records"] for b in summary["batches"]] == [1000]
        assert summary["sent"] == summary["records"] == 1000
        assert (summary["failed"], summary["unconfirmed"]) == (0, 0)
        assert summary["batches"][0]["status"] == "done"
        assert ti.xcoms["return_value"] == summary
        assert read_report(summary["report_path"]) == []

    def test_1001_records_are_1000_then_1(self, hooks, fake, clock, tmp_path):
        records = cost_centers(1001)
        summary = make_op(tmp_path, records=records).execute(make_context())
        assert fake.calls == 2
        assert [len(b) for b in fake.batch_records()] == [1000, 1]
        assert fake.sent_records() == records
        assert [(b["batch"], b["records"], b["status"]) for b in summary["batches"]] == [
            (1, 1000, "done"),
            (2, 1, "done"),
        ]
        assert [c["subunique"] for c in fake.monitor_calls] == ["64000001", "64000002"]

    def test_a_body_of_exactly_1_mib_is_one_request(self, hooks, fake, clock, tmp_path):
        sizes = [300_000, 300_000, 300_000]
        records = [sized(i, s) for i, s in enumerate(sizes)]
        last = MIB - (2 + sum(sizes) + 3)  # brackets and three commas
        records.append(sized(3, last))
        summary = make_op(tmp_path, records=records).execute(make_context())
        assert [len(b) for b in fake.bodies] == [MIB]
        assert fake.sent_records() == records
        assert summary["batches"][0]["records"] == 4

    def test_one_byte_more_splits(self, hooks, fake, clock, tmp_path):
        sizes = [300_000, 300_000, 300_000]
        records = [sized(i, s) for i, s in enumerate(sizes)]
        last = MIB - (2 + sum(sizes) + 3) + 1
        records.append(sized(3, last))
        summary = make_op(tmp_path, records=records).execute(make_context())
        assert [len(b) for b in fake.bodies] == [2 + sum(sizes) + 2, 2 + last]
        assert all(len(b) <= MIB for b in fake.bodies)
        assert fake.sent_records() == records  # every record, in order
        assert [b["records"] for b in summary["batches"]] == [3, 1]

    def test_bodies_are_the_compact_utf8_wire_form(self, hooks, fake, clock, tmp_path):
        records = [{"codigo": "ç1", "nome": "Manutenção"}, {"codigo": "2", "nome": "Ação"}]
        make_op(tmp_path, records=records).execute(make_context())
        assert fake.bodies == [json.dumps(records, ensure_ascii=False, separators=(",", ":")).encode()]

    def test_a_record_over_1_mib_alone_is_reported_and_the_others_sent(self, hooks, fake, clock, tmp_path):
        big = sized(1, MIB - 1)  # with its brackets: MIB + 1 bytes
        records = [*cost_centers(1), big, *cost_centers(2, start=2)]
        op = make_op(tmp_path, records=records)
        with pytest.raises(AirflowFailException, match="1 record"):
            op.execute(make_context())
        assert fake.sent_records() == [records[0], records[2], records[3]]
        [entry] = read_report(tmp_path / "report" / "failures.jsonl")
        assert entry["batch"] is None
        assert entry["index"] == 1
        assert entry["record"] == big
        assert f"the record alone is {MIB + 1} bytes" in entry["reason"]
        assert f"at most {MIB} bytes per request" in entry["reason"]

    def test_a_record_of_exactly_1_mib_with_brackets_is_sent(self, hooks, fake, clock, tmp_path):
        big = sized(1, MIB - 2)
        make_op(tmp_path, records=[big]).execute(make_context())
        assert [len(b) for b in fake.bodies] == [MIB]

    def test_batch_size(self, hooks, fake, clock, tmp_path):
        records = cost_centers(10)
        summary = make_op(tmp_path, records=records, batch_size=3).execute(make_context())
        assert [len(b) for b in fake.batch_records()] == [3, 3, 3, 1]
        assert fake.sent_records() == records
        assert len(summary["batches"]) == 4

    def test_max_batch_bytes(self, hooks, fake, clock, tmp_path):
        records = [sized(i, 100) for i in range(10)]
        # 3 records: 2 + 300 + 2 = 304 bytes; a fourth would make 405
        make_op(tmp_path, records=records, max_batch_bytes=404).execute(make_context())
        assert [len(b) for b in fake.bodies] == [304, 304, 304, 102]
        assert fake.sent_records() == records
        fake.bodies.clear()
        fake.accepted.clear()
        make_op(tmp_path, records=records, max_batch_bytes=405).execute(make_context())
        assert [len(b) for b in fake.bodies] == [405, 405, 203]

    def test_max_batch_bytes_bounds_a_single_record(self, hooks, fake, clock, tmp_path):
        records = [sized(0, 100), sized(1, 200)]
        with pytest.raises(AirflowFailException):
            make_op(tmp_path, records=records, max_batch_bytes=150).execute(make_context())
        assert fake.sent_records() == [records[0]]
        [entry] = read_report(tmp_path / "report" / "failures.jsonl")
        assert "the record alone is 202 bytes" in entry["reason"]
        assert "at most 150 bytes" in entry["reason"]

    def test_empty_input_sends_nothing_and_succeeds(self, hooks, fake, clock, tmp_path):
        summary = make_op(tmp_path, records=[]).execute(make_context())
        assert fake.calls == 0
        assert fake.monitor_calls == []
        assert summary["batches"] == []
        assert (summary["records"], summary["sent"], summary["failed"]) == (0, 0, 0)

    def test_progress_log_line(self, hooks, fake, clock, tmp_path, logs):
        make_op(tmp_path, records=cost_centers(2500)).execute(make_context())
        text = logs()
        assert "batch 1/3, 1 000/2 500 records" in text
        assert "batch 2/3, 2 000/2 500 records" in text
        assert "batch 3/3, 2 500/2 500 records" in text
        assert "2 500 record(s) read from a list of 2500 records: 2 500 valid in 3 batch(es)" in text


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------


class TestValidation:
    def test_mixed_valid_and_invalid(self, hooks, fake, clock, tmp_path):
        records: list[Any] = [
            *cost_centers(2),
            {"codigo": "", "nome": "Sem código"},  # 2
            {"codigo": "c00099"},  # 3: nome missing
            *cost_centers(1, start=4),
            "not an object",  # 5
            {"codigo": 7, "nome": "Centro 7"},  # 6: not a string
            *cost_centers(1, start=7),
        ]
        ti = FakeTI()
        with pytest.raises(AirflowFailException, match="4 record\\(s\\) failed") as info:
            make_op(tmp_path, records=records).execute(make_context(ti=ti))
        assert "report" in str(info.value)
        valid = [records[i] for i in (0, 1, 4, 7)]
        assert fake.sent_records() == valid  # nothing invalid was sent
        report = read_report(tmp_path / "report" / "failures.jsonl")
        assert [e["index"] for e in report] == [2, 3, 5, 6]
        assert all(e["batch"] is None for e in report)
        assert [e["record"] for e in report] == [records[i] for i in (2, 3, 5, 6)]
        assert all(e["reason"].startswith("not sent: ") for e in report)
        assert "codigo" in report[0]["reason"]
        assert "nome" in report[1]["reason"]
        assert "must be a JSON object, got str" in report[2]["reason"]
        assert "codigo" in report[3]["reason"]
        summary = ti.xcoms["return_value"]  # pushed before the task failed
        assert (summary["records"], summary["sent"], summary["failed"], summary["unconfirmed"]) == (
            8,
            4,
            4,
            0,
        )

    def test_fail_on_never_returns_the_summary(self, hooks, fake, clock, tmp_path):
        records = [*cost_centers(2), {"codigo": "", "nome": "x"}]
        store = FakeStateStore()
        summary = make_op(tmp_path, records=records, fail_on="never").execute(make_context(store))
        assert (summary["sent"], summary["failed"]) == (2, 1)
        assert PUSH_STATE_KEY not in store.data  # a finished task keeps no retry state

    def test_resources_without_a_model_are_sent_as_given(self, hooks, fake, clock, tmp_path):
        records = [{"matricula": "1", "anything": [1, None]}, {"free": "form"}]
        make_op(tmp_path, resource="paymentDate", records=records).execute(make_context())
        make_op(tmp_path, resource="/custom/route", records=records).execute(make_context())
        assert [p["resource"] for p in fake.accepted] == ["paymentDate", "custom/route"]
        assert fake.batch_records() == [records, records]

    def test_the_wire_form_is_sent(self, hooks, fake, clock, tmp_path):
        from airflow_provider_ahgora.models.pontoweb import CostCenter

        records = [CostCenter(codigo="c1", nome="RH")]
        make_op(tmp_path, resource="/custom", records=records).execute(make_context())
        assert fake.sent_records() == [{"codigo": "c1", "nome": "RH"}]


# --------------------------------------------------------------------------------------------------
# Transient errors on pushes
# --------------------------------------------------------------------------------------------------


class TestPushFaults:
    @pytest.mark.parametrize("what", [503, 500, "reset"])
    def test_fault_before_processing_then_success(self, hooks, fake, clock, tmp_path, what):
        records = cost_centers(2500)
        fake.faults[2] = ("before", what)  # the first attempt of batch 2
        summary = make_op(tmp_path, records=records).execute(make_context())
        assert fake.calls == 4
        assert [len(b) for b in fake.batch_records()] == [1000, 1000, 500]
        assert fake.sent_records() == records  # each batch accepted exactly once, none skipped
        assert [b["status"] for b in summary["batches"]] == ["done"] * 3

    def test_costcenter_answer_lost_after_processing_is_resent(self, hooks, fake, clock, tmp_path):
        """retry="all" (the default for upserts): the batch accepted but whose answer was lost is
        sent again; the duplicate is harmless (an upsert by codigo)."""
        records = cost_centers(2500)
        fake.faults[2] = ("after", 503)
        summary = make_op(tmp_path, records=records).execute(make_context())
        assert [len(b) for b in fake.batch_records()] == [1000, 1000, 1000, 500]
        assert fake.batch_records()[1] == fake.batch_records()[2] == records[1000:2000]
        assert summary["batches"][1]["subunique"] == "64000003"  # the copy whose answer came back
        assert (summary["failed"], summary["unconfirmed"]) == (0, 0)

    @pytest.mark.parametrize("what", [503, "reset"])
    def test_absences_answer_lost_is_not_resent(self, hooks, fake, clock, tmp_path, what):
        records = absences(2500)
        fake.faults[2] = ("after", what)
        ti = FakeTI()
        store = FakeStateStore()
        with pytest.raises(AirflowFailException) as info:
            make_op(tmp_path, resource="absences", records=records).execute(make_context(store, ti))
        # a retry could not do anything for it (it never resends them): no retry is spent
        assert fake.calls == 3, "batch 2 must not be sent again"
        assert [len(b) for b in fake.batch_records()] == [1000, 1000, 500]
        summary = ti.xcoms["return_value"]
        assert [b["status"] for b in summary["batches"]] == ["done", "unknown", "done"]
        assert (summary["failed"], summary["unconfirmed"]) == (0, 1000)
        report = read_report(summary["report_path"])
        assert len(report) == 1000
        assert [e["record"] for e in report] == records[1000:2000]
        assert all(e["batch"] == 2 for e in report)
        assert all("may have been accepted by PontoWeb" in e["reason"] for e in report)
        assert "unknown outcome" in str(info.value)

        # the retry (same input, same state store) sends nothing again: batch 2 may be in PontoWeb
        ti2 = FakeTI(try_number=2)
        with pytest.raises(AirflowException):
            make_op(tmp_path, resource="absences", records=records).execute(make_context(store, ti2))
        assert fake.calls == 3, "a retry must not send the absences whose answer was lost"
        summary2 = ti2.xcoms["return_value"]
        assert [b["status"] for b in summary2["batches"]] == ["done", "unknown", "done"]
        assert summary2["unconfirmed"] == 1000
        report2 = read_report(summary2["report_path"])
        assert [e["record"] for e in report2] == records[1000:2000]
        assert all("may have been accepted by PontoWeb" in e["reason"] for e in report2)

    def test_absences_429_is_repeated(self, hooks, fake, clock, tmp_path):
        """A 429 means PontoWeb did nothing: safe to repeat even for absences."""
        records = absences(1500)
        fake.faults[2] = ("before", 429)
        summary = make_op(tmp_path, resource="absences", records=records).execute(make_context())
        assert fake.sent_records() == records
        assert fake.calls == 3
        assert summary["unconfirmed"] == 0

    def test_absences_with_retry_all_are_resent(self, hooks, fake, clock, tmp_path):
        records = absences(1500)
        fake.faults[1] = ("after", 503)
        make_op(tmp_path, resource="absences", records=records, retry="all").execute(make_context())
        assert [len(b) for b in fake.batch_records()] == [1000, 1000, 500]

    def test_retries_exhausted_reports_the_batch_and_goes_on(self, hooks, fake, clock, tmp_path):
        records = cost_centers(2500)
        for call in (2, 3, 4):  # every attempt of batch 2 (1 + 2 retries)
            fake.faults[call] = ("before", 503)
        ti = FakeTI()
        with pytest.raises(AirflowException) as info:
            make_op(tmp_path, records=records).execute(make_context(ti=ti))
        assert not isinstance(info.value, AirflowFailException)
        assert "A retry sends only the batches not accepted yet" in str(info.value)
        assert fake.calls == 5
        assert fake.sent_records() == records[:1000] + records[2000:]
        summary = ti.xcoms["return_value"]
        assert [b["status"] for b in summary["batches"]] == ["done", "failed", "done"]
        assert (summary["sent"], summary["failed"]) == (1500, 1000)
        report = read_report(summary["report_path"])
        assert [e["record"] for e in report] == records[1000:2000]
        assert all(e["reason"].startswith("not sent: ") and e["batch"] == 2 for e in report)

    def test_a_refused_batch_is_reported_and_the_next_sent(self, hooks, fake, clock, tmp_path):
        records = cost_centers(2500)
        fake.faults[1] = ("before", 400)
        ti = FakeTI()
        with pytest.raises(AirflowException):
            make_op(tmp_path, records=records).execute(make_context(ti=ti))
        assert fake.sent_records() == records[1000:]
        report = read_report(ti.xcoms["return_value"]["report_path"])
        assert len(report) == 1000
        assert all(e["reason"].startswith("batch refused by PontoWeb: ") for e in report)

    def test_401_stops_reports_the_rest_and_pushes_the_summary(self, hooks, fake, clock, tmp_path):
        records = cost_centers(3500)
        fake.faults[2] = ("before", 401)
        ti = FakeTI()
        with pytest.raises(AirflowException, match="refused the credentials") as info:
            make_op(tmp_path, records=records).execute(make_context(ti=ti))
        assert not isinstance(info.value, AirflowFailException)
        assert fake.calls == 2, "nothing is sent after a 401"
        summary = ti.xcoms["return_value"]  # pushed before raising
        assert [b["status"] for b in summary["batches"]] == ["done", "not sent", "not sent", "not sent"]
        assert (summary["sent"], summary["failed"], summary["unconfirmed"]) == (1000, 2500, 0)
        report = read_report(summary["report_path"])
        assert [e["record"] for e in report] == records[1000:]
        assert [e["batch"] for e in report[::500]] == [2, 2, 3, 3, 4]
        assert all(e["reason"].startswith("not sent: ") for e in report)

    def test_401_with_fail_on_never_still_fails(self, hooks, fake, clock, tmp_path):
        fake.faults[1] = ("before", 401)
        with pytest.raises(AirflowException, match="refused the credentials"):
            make_op(tmp_path, fail_on="never").execute(make_context())


# --------------------------------------------------------------------------------------------------
# State across retries
# --------------------------------------------------------------------------------------------------


class _Died(BaseException):
    """What a worker killed mid-push looks like to the code after it: nothing is caught."""


class TestRetryState:
    """A try that dies after PontoWeb accepted batches 1 and 2 (an exception nothing catches, raised
    from ``push_serialized`` on batch 3), then the next try with the same ``task_state_store``."""

    @staticmethod
    def _first_try(
        tmp_path: Path, store: FakeStateStore, records: list[Any], die_on: int, death: type, **kwargs: Any
    ) -> None:
        original = PontoWebHook.push_serialized
        calls: list[int] = []

        def push_serialized(self: PontoWebHook, resource: str, body: bytes, **kw: Any) -> Any:
            calls.append(1)
            if len(calls) == die_on:
                raise death("the worker died")
            return original(self, resource, body, **kw)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(PontoWebHook, "push_serialized", push_serialized)
            with pytest.raises(death):
                make_op(tmp_path, records=records, **kwargs).execute(make_context(store))
        assert len(calls) == die_on

    @pytest.mark.parametrize("death", [_Died, SystemExit, KeyboardInterrupt])
    def test_a_retry_sends_only_the_batches_not_accepted(self, hooks, fake, clock, tmp_path, logs, death):
        records = cost_centers(4500)
        store = FakeStateStore()
        self._first_try(tmp_path, store, records, 3, death)
        assert fake.batch_records() == [records[:1000], records[1000:2000]]
        assert store.data[PUSH_STATE_KEY]["confirmed"] == [[1, 2]]
        assert not list((tmp_path / "report").glob("*")), "a dead try commits no report"

        ti = FakeTI(try_number=2)
        summary = make_op(tmp_path, records=records).execute(make_context(store, ti))
        assert fake.sent_records() == records, "batches 3 to 5 sent once; 1 and 2 not again"
        assert [len(b) for b in fake.batch_records()] == [1000] * 4 + [500]
        assert [b["status"] for b in summary["batches"]] == ["done"] * 5
        assert [b["subunique"] for b in summary["batches"]] == [str(64000001 + i) for i in range(5)]
        # the earlier try's batches are confirmed on the monitor too
        assert sorted(c["subunique"] for c in fake.monitor_calls) == [str(64000001 + i) for i in range(5)]
        assert (summary["sent"], summary["failed"]) == (4500, 0)
        assert "batch 1/5 already accepted by an earlier try" in logs()
        assert PUSH_STATE_KEY not in store.data, "deleted on success"

    def test_different_input_sends_everything(self, hooks, fake, clock, tmp_path, logs):
        records = cost_centers(3000)
        store = FakeStateStore()
        self._first_try(tmp_path, store, records, 3, _Died)
        assert fake.calls == 2
        changed = [*records[:-1], {"codigo": "c99999", "nome": "novo"}]
        make_op(tmp_path, records=changed).execute(make_context(store, FakeTI(try_number=2)))
        assert fake.batch_records()[2:] == [changed[:1000], changed[1000:2000], changed[2000:]]
        assert "the input changed" in logs()

    def test_same_records_other_batching_is_other_input(self, hooks, fake, clock, tmp_path):
        records = cost_centers(30)
        store = FakeStateStore()
        self._first_try(tmp_path, store, records, 2, _Died, batch_size=10)
        make_op(tmp_path, records=records, batch_size=15).execute(make_context(store))
        assert [len(b) for b in fake.batch_records()] == [10, 15, 15]

    def test_state_written_after_each_accepted_batch(self, hooks, fake, clock, tmp_path):
        store = FakeStateStore()
        make_op(tmp_path, records=cost_centers(25), batch_size=10).execute(make_context(store))
        # one write per batch as it is accepted (then the monitor's outcomes, once the report is in)
        assert [value["confirmed"] for _, value in store.sets][:3] == [[[1, 1]], [[1, 2]], [[1, 3]]]
        assert PUSH_STATE_KEY not in store.data

    def test_variable_fallback_without_task_state_store(self, hooks, fake, clock, tmp_path, monkeypatch):
        """Below Airflow 3.3 (no ``task_state_store`` in the context) a Variable keyed by the task
        instance keeps the accepted batches."""
        from airflow_provider_ahgora.operators import _state

        kept: dict[str, str] = {}

        class FakeVariable:
            @classmethod
            def get(cls, key: str, default: Any = None, **_: Any) -> Any:
                return kept.get(key, default)

            @classmethod
            def set(cls, key: str, value: Any, **_: Any) -> None:
                kept[key] = value

            @classmethod
            def delete(cls, key: str) -> None:
                kept.pop(key, None)

        monkeypatch.setattr(_state.VariableState, "_variable", staticmethod(lambda: FakeVariable))
        records = cost_centers(25)
        context = {"ti": FakeTI(), "run_id": "manual__2026-11-01"}
        original = PontoWebHook.push_serialized
        calls: list[int] = []

        def dying(self: PontoWebHook, resource: str, body: bytes, **kw: Any) -> Any:
            calls.append(1)
            if len(calls) == 2:
                raise _Died("killed")
            return original(self, resource, body, **kw)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(PontoWebHook, "push_serialized", dying)
            with pytest.raises(_Died):
                make_op(tmp_path, records=records, batch_size=10).execute(context)
        [key] = kept
        assert key == "ahgora_reckon__sync__manual__2026-11-01__push__-1"
        assert json.loads(kept[key])["confirmed"] == [[1, 1]]
        make_op(tmp_path, records=records, batch_size=10).execute({**context, "ti": FakeTI(try_number=2)})
        assert fake.sent_records() == records
        assert kept == {}

    def test_absences_killed_during_a_request_are_never_sent_again(self, hooks, fake, clock, tmp_path, logs):
        """A second copy of an INS absence is a second absence: the batch is marked in flight before
        its request, and a try killed during it leaves the mark. The retry reports the batch as "may
        have been accepted", never sends it again, and fails without burning retries."""
        records = absences(2500)
        store = FakeStateStore()
        self._first_try(tmp_path, store, records, 2, _Died, resource="absences")
        journal = store.data[PUSH_STATE_KEY]
        assert journal["confirmed"] == [[1, 1]]
        assert journal["inflight"] == [[2, 2]]  # the mark, on disk before the request left
        summary: dict[str, Any] = {}
        ti = FakeTI(try_number=2)
        with pytest.raises(AirflowFailException, match="unknown outcome"):
            make_op(tmp_path, resource="absences", records=records).execute(make_context(store, ti))
        summary = ti.xcoms["return_value"]
        assert [b["status"] for b in summary["batches"]] == ["done", "unknown", "done"]
        assert fake.batch_records() == [records[:1000], records[2000:]], "batch 2 never sent again"
        assert summary["unconfirmed"] == 1000
        report = read_report(summary["report_path"])
        assert len(report) == 1000
        assert all("may have been accepted" in e["reason"] for e in report)
        assert "worker was killed" in report[0]["reason"]
        # and the next retry still does not send it
        with pytest.raises(AirflowFailException):
            make_op(tmp_path, resource="absences", records=records).execute(
                make_context(store, FakeTI(try_number=3))
            )
        assert len(fake.batch_records()) == 2

    def test_cost_centers_killed_during_a_request_are_resent(self, hooks, fake, clock, tmp_path):
        """An upsert sent twice is harmless: a batch cut by a killed worker is simply sent again."""
        records = cost_centers(2500)
        store = FakeStateStore()
        self._first_try(tmp_path, store, records, 2, _Died)
        assert store.data[PUSH_STATE_KEY]["inflight"] == []  # no mark needed
        summary = make_op(tmp_path, records=records).execute(make_context(store, FakeTI(try_number=2)))
        assert fake.sent_records() == records
        assert summary["failed"] == summary["unconfirmed"] == 0

    def test_absences_of_a_changed_input_are_not_sent_until_a_human_clears(
        self, hooks, fake, clock, tmp_path
    ):
        """Batch 1 accepted, batch 2 refused (429, retryable), a row appended before the retry: the
        absences of batch 1 would go twice (found in review)."""
        records = absences(4)
        fake.faults[2] = ("before", 429)
        fake.faults[3] = ("before", 429)
        fake.faults[4] = ("before", 429)
        store = FakeStateStore()
        with pytest.raises(AirflowException):
            make_op(tmp_path, resource="absences", records=records, batch_size=2).execute(
                make_context(store, FakeTI(max_tries=2))
            )
        assert [r["matricula"] for r in fake.sent_records()] == ["000000", "000001"]
        grown = [*records, absences(5)[4]]
        with pytest.raises(AirflowFailException, match="input changed"):
            make_op(tmp_path, resource="absences", records=grown, batch_size=2).execute(
                make_context(store, FakeTI(try_number=2, max_tries=2))
            )
        assert len(fake.sent_records()) == 2, "nothing sent"
        make_op(tmp_path, resource="absences", records=grown, batch_size=2).execute(
            make_context(store, FakeTI(try_number=3, max_tries=5))  # cleared: the human's go-ahead
        )
        assert len(fake.sent_records()) == 2 + 5

    def test_a_retry_keeps_the_monitor_outcomes_already_learnt(self, hooks, fake, clock, tmp_path):
        """Batch 1 finished (one record rejected), batch 2 still processing at the timeout: the retry
        does not poll batch 1 again (the monitor forgets it 15 minutes after it finished) and keeps its
        rejection in the report (found in review)."""
        not_found = (400, {"error": {"message": "Process not found", "code": 400}})
        fake.monitor_script[1] = [
            monitor_body("warning", 2, 2, [{"identifier": "c00001", "message": "nome too long"}]),
            not_found,
        ]
        fake.monitor_script[2] = [monitor_body("processing", 0, 2)]
        store = FakeStateStore()
        records = cost_centers(4)
        with pytest.raises(AirflowException) as info:
            make_op(tmp_path, records=records, batch_size=2, timeout=60).execute(make_context(store))
        assert not isinstance(info.value, AirflowFailException)
        fake.monitor_script[2] = [monitor_body("done", 2, 2)]
        ti = FakeTI(try_number=2)
        with pytest.raises(AirflowFailException, match="1 record"):
            make_op(tmp_path, records=records, batch_size=2, timeout=60).execute(make_context(store, ti))
        summary = ti.xcoms["return_value"]
        assert [b["status"] for b in summary["batches"]] == ["warning", "done"]
        assert (summary["failed"], summary["unconfirmed"]) == (1, 0)
        [entry] = read_report(summary["report_path"])
        assert entry["record"]["codigo"] == "c00001"
        assert "nome too long" in entry["reason"]
        polled = [c.get("subunique") for c in fake.monitor_calls]
        assert polled.count("64000001") == 1, "batch 1 polled once, in the first try"

    def test_absences_are_not_sent_when_the_journal_cannot_be_written(self, hooks, fake, clock, tmp_path):
        class Unwritable(FakeStateStore):
            def set(self, key: str, value: Any, **_: Any) -> None:
                raise RuntimeError("the API server is down")

        ti = FakeTI()
        with pytest.raises(AirflowException, match="journal could not be written") as info:
            make_op(tmp_path, resource="absences", records=absences(10)).execute(
                make_context(Unwritable(), ti)
            )
        assert not isinstance(info.value, AirflowFailException)  # a retry may succeed
        assert fake.calls == 0
        assert ti.xcoms["return_value"]["batches"][0]["status"] == "not sent"


# --------------------------------------------------------------------------------------------------
# The process monitor
# --------------------------------------------------------------------------------------------------


class TestMonitor:
    def test_warning_with_errors_reports_the_records(self, hooks, fake, clock, tmp_path):
        records = cost_centers(2500)
        errors = [
            {"identifier": "c01017", "message": "Centro de custo em uso"},
            {"identifier": "c01999", "message": "Nome duplicado"},
        ]
        fake.monitor_script[2] = [
            monitor_body("warning", 500, 1000),
            monitor_body("warning", 1000, 1000, errors),
        ]
        ti = FakeTI()
        with pytest.raises(AirflowFailException, match="2 record\\(s\\) failed"):
            make_op(tmp_path, records=records).execute(make_context(ti=ti))
        summary = ti.xcoms["return_value"]
        assert [b["status"] for b in summary["batches"]] == ["done", "warning", "done"]
        assert (summary["failed"], summary["unconfirmed"]) == (2, 0)
        report = read_report(summary["report_path"])
        assert report == [
            {
                "record": records[1017],
                "reason": "rejected by PontoWeb: Centro de custo em uso",
                "batch": 2,
                "index": 1017,
            },
            {
                "record": records[1999],
                "reason": "rejected by PontoWeb: Nome duplicado",
                "batch": 2,
                "index": 1999,
            },
        ]
        assert clock.calls == [1.0], "polled again after one poll_interval"

    def test_warning_with_errors_and_fail_on_never(self, hooks, fake, clock, tmp_path):
        fake.monitor_script[1] = [monitor_body("warning", 3, 3, [{"identifier": "c00001", "message": "x"}])]
        summary = make_op(tmp_path, fail_on="never").execute(make_context())
        assert summary["failed"] == 1
        assert summary["batches"][0]["status"] == "warning"

    def test_indexes_count_the_invalid_records_too(self, hooks, fake, clock, tmp_path):
        records: list[Any] = [
            {"codigo": ""},
            *cost_centers(3),
            {"codigo": "", "nome": "y"},
            *cost_centers(3, 3),
        ]
        fake.monitor_script[1] = [monitor_body("warning", 6, 6, [{"identifier": "c00004", "message": "no"}])]
        with pytest.raises(AirflowFailException):
            make_op(tmp_path, records=records).execute(make_context())
        report = read_report(tmp_path / "report" / "failures.jsonl")
        assert [(e["index"], e["batch"]) for e in report] == [(0, None), (4, None), (6, 1)]
        assert report[2]["record"] == records[6]

    def test_error_without_named_records_reports_the_whole_batch(self, hooks, fake, clock, tmp_path):
        records = cost_centers(1500)
        fake.monitor_script[2] = [monitor_body("error", 500, 500)]
        ti = FakeTI()
        with pytest.raises(AirflowFailException, match="a batch ended in error"):
            make_op(tmp_path, records=records).execute(make_context(ti=ti))
        summary = ti.xcoms["return_value"]
        assert [b["status"] for b in summary["batches"]] == ["done", "error"]
        assert summary["failed"] == 500
        report = read_report(summary["report_path"])
        assert [e["record"] for e in report] == records[1000:]
        assert [e["index"] for e in report] == list(range(1000, 1500))
        assert all(e["batch"] == 2 and "the batch ended in error" in e["reason"] for e in report)

    def test_identifier_not_in_the_batch_is_still_reported(self, hooks, fake, clock, tmp_path):
        fake.monitor_script[1] = [monitor_body("warning", 3, 3, [{"identifier": "zzz", "message": "odd"}])]
        with pytest.raises(AirflowFailException):
            make_op(tmp_path).execute(make_context())
        [entry] = read_report(tmp_path / "report" / "failures.jsonl")
        assert entry["record"] == {"identifier": "zzz"}
        assert entry["batch"] == 1
        assert "no record sent in this batch has this identifier" in entry["reason"]

    @pytest.mark.parametrize(
        ("status", "message"),
        [(410, "Gone: subunique expired"), (400, "Process not found"), (404, "Not Found")],
    )
    def test_monitor_lost_is_unconfirmed_and_retryable(self, hooks, fake, clock, tmp_path, status, message):
        records = cost_centers(1500)
        fake.monitor_script[1] = [(status, {"error": {"message": message, "code": status}})]
        ti = FakeTI()
        with pytest.raises(AirflowFailException, match="1 000 record\\(s\\) with an unknown outcome"):
            make_op(tmp_path, records=records).execute(make_context(ti=ti))
        summary = ti.xcoms["return_value"]
        assert [b["status"] for b in summary["batches"]] == ["lost", "done"]
        assert (summary["failed"], summary["unconfirmed"]) == (0, 1000)
        report = read_report(summary["report_path"])
        assert [e["record"] for e in report] == records[:1000]
        assert all("outcome unknown" in e["reason"] and message in e["reason"] for e in report)

    def test_timeout_is_unconfirmed_and_retryable(self, hooks, fake, clock, tmp_path):
        fake.monitor_script[1] = [monitor_body("warning", 1, 3)]
        ti = FakeTI()
        store = FakeStateStore()
        op = make_op(tmp_path, timeout=30, poll_interval=2, max_poll_interval=10)
        with pytest.raises(AirflowException, match="unknown outcome") as info:
            op.execute(make_context(store, ti))
        assert not isinstance(info.value, AirflowFailException)
        assert sum(clock.calls) == pytest.approx(30)
        assert clock.calls[:3] == [2.0, 3.0, 4.5]  # backoff x1.5 while nothing moves
        assert max(clock.calls) <= 10
        summary = ti.xcoms["return_value"]
        assert summary["batches"][0]["status"] == "pending"
        assert summary["unconfirmed"] == 3
        report = read_report(summary["report_path"])
        assert all("not finished within the timeout of 30 s" in e["reason"] for e in report)
        assert PUSH_STATE_KEY in store.data, "kept: the retry confirms the batch instead of resending"

        fake.monitor_script[1] = [monitor_body("done", 3, 3)]
        summary = op.execute(make_context(store, FakeTI(try_number=2)))
        assert fake.calls == 1, "the retry does not send the batch again"
        assert summary["batches"][0]["status"] == "done"
        assert summary["unconfirmed"] == 0

    def test_progress_resets_the_interval(self, hooks, fake, clock, tmp_path):
        fake.monitor_script[1] = [
            monitor_body("done", 0, 3),
            monitor_body("done", 0, 3),
            monitor_body("done", 1, 3),
            monitor_body("done", 1, 3),
            monitor_body("done", 3, 3),
        ]
        make_op(tmp_path, poll_interval=2, max_poll_interval=10).execute(make_context())
        # the first answer counts as progress; then x1.5 while nothing moves, back to 2 s when it does
        assert clock.calls == [2.0, 3.0, 2.0, 3.0]

    def test_transient_monitor_errors_are_polled_again(self, hooks, fake, clock, tmp_path):
        fake.monitor_script[1] = [(503, {"error": "busy"})] * 4 + [monitor_body("done", 3, 3)]
        summary = make_op(tmp_path).execute(make_context())
        assert summary["batches"][0]["status"] == "done"
        assert len(fake.monitor_calls) == 5  # 3 attempts (hook retries), then the next round

    def test_401_on_the_monitor_fails_retryable(self, hooks, fake, clock, tmp_path):
        fake.monitor_script[1] = [(401, {"error": {"message": "Unauthorized", "code": 401}})]
        with pytest.raises(AirflowException, match="refused the credentials") as info:
            make_op(tmp_path).execute(make_context())
        assert not isinstance(info.value, AirflowFailException)

    def test_warning_without_errors_and_fail_on(self, hooks, fake, clock, tmp_path, logs):
        fake.monitor_script[1] = [monitor_body("warning", 3, 3)]
        fake.monitor_script[2] = [monitor_body("warning", 3, 3)]
        summary = make_op(tmp_path, fail_on="error").execute(make_context())
        assert summary["batches"][0]["status"] == "warning"
        assert summary["failed"] == 0
        assert "answered 'warning' without naming any record" in logs()
        ti = FakeTI()
        with pytest.raises(AirflowFailException, match="1 warning"):
            make_op(tmp_path, fail_on="warning").execute(make_context(ti=ti))
        assert ti.xcoms["return_value"]["batches"][0]["status"] == "warning"

    def test_fail_on_warning_also_fails_on_errors(self, hooks, fake, clock, tmp_path):
        fake.monitor_script[1] = [monitor_body("warning", 3, 3, [{"identifier": "c00000", "message": "x"}])]
        with pytest.raises(AirflowFailException, match="1 record"):
            make_op(tmp_path, fail_on="warning").execute(make_context())

    def test_count_mismatch_is_a_warning(self, hooks, fake, clock, tmp_path, logs):
        fake.monitor_script[1] = [monitor_body("done", 2, 2)]
        fake.monitor_script[2] = [monitor_body("done", 2, 2)]
        make_op(tmp_path).execute(make_context())
        assert "the process monitor counted 2 record(s), 3 were sent" in logs()
        with pytest.raises(AirflowFailException, match="warning"):
            make_op(tmp_path, fail_on="warning").execute(make_context())

    def test_monitored_by_unique_without_subunique(self, hooks, fake, clock, tmp_path):
        fake.give_subunique = False
        summary = make_op(tmp_path, records=cost_centers(25), batch_size=10).execute(make_context())
        assert fake.monitor_calls == [{"unique": UNIQUE}]  # one query covers the three batches
        assert [b["status"] for b in summary["batches"]] == ["done"] * 3
        assert [b["subunique"] for b in summary["batches"]] == [None] * 3

    def test_without_waiting(self, hooks, fake, clock, tmp_path):
        summary = make_op(tmp_path, wait_for_completion=False).execute(make_context())
        assert fake.monitor_calls == []
        assert summary["batches"][0]["status"] == "sent"
        assert summary["batches"][0]["subunique"] == "64000001"

    def test_concurrent_polls(self, hooks, fake, clock, tmp_path):
        summary = make_op(tmp_path, records=cost_centers(50), batch_size=5, max_workers=4).execute(
            make_context()
        )
        assert len(fake.monitor_calls) == 10
        assert [b["status"] for b in summary["batches"]] == ["done"] * 10
        assert len(hooks) <= 1 + 4  # one for the pushes, at most one per worker

    @pytest.mark.parametrize("status", ["ERROR", "Error", " error "])
    def test_an_upper_case_error_fails_the_batch(self, hooks, fake, clock, tmp_path, status):
        """A monitor answering ``ERROR`` made a push report 0 failures and succeed."""
        fake.monitor_script[1] = [monitor_body(status, 3, 3)]
        ti = FakeTI()
        with pytest.raises(AirflowFailException, match="3 record"):
            make_op(tmp_path).execute(make_context(ti=ti))
        summary = ti.xcoms["return_value"]
        assert summary["batches"][0]["status"] == "error"
        assert summary["failed"] == 3

    def test_an_unknown_monitor_status_is_an_unknown_outcome_never_success(
        self, hooks, fake, clock, tmp_path
    ):
        fake.monitor_script[1] = [monitor_body("partial", 3, 3)]
        ti = FakeTI()
        with pytest.raises(AirflowFailException, match="unknown outcome"):
            make_op(tmp_path).execute(make_context(ti=ti))
        summary = ti.xcoms["return_value"]
        assert summary["batches"][0]["status"] == "unrecognized"
        assert summary["unconfirmed"] == 3
        assert all("'partial'" in e["reason"] for e in read_report(summary["report_path"]))

    def test_data_as_phps_empty_object_is_done(self, hooks, fake, clock, tmp_path):
        body = monitor_body("done", 3, 3)
        body["data"] = []
        fake.monitor_script[1] = [body]
        summary = make_op(tmp_path, timeout=60).execute(make_context())
        assert summary["batches"][0]["status"] == "done"
        assert clock.calls == []  # finished at the first poll: not waited out


# --------------------------------------------------------------------------------------------------
# Deferrable
# --------------------------------------------------------------------------------------------------


class TestDeferrable:
    def test_defers_once_with_every_batch(self, hooks, fake, clock, tmp_path):
        from airflow_provider_ahgora.triggers.process import PontoWebProcessTrigger

        records = [*cost_centers(2500), {"codigo": "", "nome": "x"}]
        with pytest.raises(TaskDeferred) as info:
            make_op(tmp_path, records=records, deferrable=True, timeout=600).execute(make_context())
        trigger = info.value.trigger
        assert isinstance(trigger, PontoWebProcessTrigger)
        assert [(p["subunique"], p["batches"]) for p in trigger.processes] == [
            ("64000001", [1]),
            ("64000002", [2]),
            ("64000003", [3]),
        ]
        assert trigger.poll_interval == 1.0
        assert trigger.max_concurrency == 8
        assert info.value.method_name == "execute_complete"
        assert info.value.timeout.total_seconds() == 600 + push_mod.DEFERRAL_TIMEOUT_MARGIN
        assert fake.monitor_calls == [], "the worker does not poll"
        kwargs: Any = info.value.kwargs
        json.dumps(kwargs)  # stored with the task instance
        # the report is committed before the deferral: the invalid record is in it
        assert [e["index"] for e in read_report(kwargs["report_path"])] == [2500]

    def test_nothing_sent_nothing_deferred(self, hooks, fake, clock, tmp_path):
        with pytest.raises(AirflowFailException):
            make_op(tmp_path, records=[{"codigo": ""}], deferrable=True).execute(make_context())

    def _deferred(self, tmp_path: Path, records: list[Any]) -> Any:
        with pytest.raises(TaskDeferred) as info:
            make_op(tmp_path, records=records, deferrable=True).execute(make_context())
        return info.value.kwargs

    def test_resume_extends_the_report(self, hooks, fake, clock, tmp_path):
        records = [*cost_centers(1500), {"codigo": "", "nome": "x"}]
        kwargs = self._deferred(tmp_path, records)
        event = {
            "status": "success",
            "processes": [
                {
                    "unique": None,
                    "subunique": "64000001",
                    "batches": [1],
                    "status": "done",
                    "progress": {"done": 1000, "total": 1000},
                    "errors": [],
                    "message": None,
                },
                {
                    "unique": None,
                    "subunique": "64000002",
                    "batches": [2],
                    "status": "warning",
                    "progress": {"done": 500, "total": 500},
                    "errors": [{"identifier": "c01234", "message": "em uso"}],
                    "message": None,
                },
            ],
            "message": "2 PontoWeb processes: all finished.",
        }
        ti = FakeTI()
        op = make_op(tmp_path, records=records, deferrable=True)
        with pytest.raises(AirflowFailException, match="2 record"):
            op.execute_complete(make_context(ti=ti), event, **kwargs)
        summary = ti.xcoms["return_value"]
        assert set(summary) == {
            "resource",
            "records",
            "sent",
            "batches",
            "failed",
            "unconfirmed",
            "report_path",
        }
        assert [b["status"] for b in summary["batches"]] == ["done", "warning"]
        assert summary["failed"] == 2
        report = read_report(summary["report_path"])
        assert [(e["index"], e["batch"]) for e in report] == [(1500, None), (1234, 2)]
        assert report[1]["reason"] == "rejected by PontoWeb: em uso"
        assert not list((tmp_path / "report").glob(".*.partial"))

    def test_resume_timeout_is_unconfirmed(self, hooks, fake, clock, tmp_path):
        kwargs = self._deferred(tmp_path, cost_centers(3))
        event = {
            "status": "timeout",
            "processes": [
                {
                    "unique": None,
                    "subunique": "64000001",
                    "batches": [1],
                    "status": "pending",
                    "progress": {"done": 1, "total": 3},
                    "errors": [],
                    "message": None,
                }
            ],
            "message": "not finished",
        }
        ti = FakeTI()
        with pytest.raises(AirflowException, match="unknown outcome") as info:
            make_op(tmp_path, deferrable=True).execute_complete(make_context(ti=ti), event, **kwargs)
        assert not isinstance(info.value, AirflowFailException)
        assert ti.xcoms["return_value"]["unconfirmed"] == 3

    def test_resume_success_with_nothing_failed(self, hooks, fake, clock, tmp_path):
        kwargs = self._deferred(tmp_path, cost_centers(3))
        event = {
            "status": "success",
            "processes": [
                {
                    "unique": None,
                    "subunique": "64000001",
                    "batches": [1],
                    "status": "done",
                    "progress": {"done": 3, "total": 3},
                    "errors": [],
                    "message": None,
                }
            ],
        }
        store = FakeStateStore()
        store.data[PUSH_STATE_KEY] = {"input": "x", "batches": {}}
        summary = make_op(tmp_path, deferrable=True).execute_complete(make_context(store), event, **kwargs)
        assert summary["batches"][0]["status"] == "done"
        assert summary["failed"] == 0
        assert PUSH_STATE_KEY not in store.data

    def test_resume_without_the_kwargs_reads_them_from_the_state(self, hooks, fake, clock, tmp_path):
        """dag.test() (Airflow 2.11 and 3) resumes with ``event`` only: the defer kwargs are lost, so
        the operator keeps them in its retry state before deferring."""
        records = [*cost_centers(3), {"codigo": "", "nome": "x"}]
        store = FakeStateStore()
        with pytest.raises(TaskDeferred) as info:
            make_op(tmp_path, records=records, deferrable=True).execute(make_context(store))
        assert store.data[PUSH_STATE_KEY]["extra"]["deferred"] == json.loads(json.dumps(info.value.kwargs))
        event = {
            "status": "success",
            "processes": [
                {
                    "unique": None,
                    "subunique": "64000001",
                    "batches": [1],
                    "status": "warning",
                    "progress": {"done": 3, "total": 3},
                    "errors": [{"identifier": "c00001", "message": "em uso"}],
                    "message": None,
                }
            ],
        }
        ti = FakeTI()
        with pytest.raises(AirflowFailException, match="2 record"):
            make_op(tmp_path, records=records, deferrable=True).execute_complete(
                make_context(store, ti), event
            )
        report = read_report(ti.xcoms["return_value"]["report_path"])
        assert [(e["index"], e["batch"]) for e in report] == [(3, None), (1, 1)]

    def test_resume_without_kwargs_nor_state(self, hooks, fake, clock, tmp_path):
        with pytest.raises(AirflowException, match="resumed without the push summary"):
            make_op(tmp_path, deferrable=True).execute_complete(make_context(), {"status": "success"})

    @pytest.mark.parametrize(
        ("event", "match"),
        [
            ({"status": "failed", "message": "nope", "error_type": "AhgoraAuthError"}, "AhgoraAuthError"),
            (None, "without an event"),
        ],
    )
    def test_resume_failures_are_retryable(self, hooks, fake, clock, tmp_path, event, match):
        kwargs = self._deferred(tmp_path, cost_centers(3))
        with pytest.raises(AirflowException, match=match) as info:
            make_op(tmp_path, deferrable=True).execute_complete(make_context(), event, **kwargs)
        assert not isinstance(info.value, AirflowFailException)


# --------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------


class TestInputs:
    def test_json_file(self, hooks, fake, clock, tmp_path):
        records = cost_centers(1200)
        path = tmp_path / "in.json"
        path.write_text(json.dumps(records, indent=2), encoding="utf-8")
        summary = make_op(tmp_path, records=str(path)).execute(make_context())
        assert fake.sent_records() == records
        assert summary["records"] == 1200

    def test_jsonl_file_and_path_mapping(self, hooks, fake, clock, tmp_path):
        records = cost_centers(5)
        path = tmp_path / "in.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in records) + "\n\n", encoding="utf-8")
        make_op(tmp_path, records={"path": str(path), "records": 5}).execute(make_context())
        assert fake.sent_records() == records

    def test_csv_file_drops_empty_cells(self, hooks, fake, clock, tmp_path):
        path = tmp_path / "in.csv"
        path.write_text("codigo,nome,extra\nc1,RH,\nc2,,x\nc3,TI,y\n", encoding="utf-8")
        make_op(tmp_path, resource="/custom", records=str(path)).execute(make_context())
        assert fake.sent_records() == [
            {"codigo": "c1", "nome": "RH"},
            {"codigo": "c2", "extra": "x"},
            {"codigo": "c3", "nome": "TI", "extra": "y"},
        ]

    def test_csv_empty_cell_of_a_required_field_is_reported(self, hooks, fake, clock, tmp_path):
        path = tmp_path / "in.csv"
        path.write_text("codigo,nome\nc1,RH\nc2,\n", encoding="utf-8")
        with pytest.raises(AirflowFailException):
            make_op(tmp_path, records=str(path)).execute(make_context())
        assert fake.sent_records() == [{"codigo": "c1", "nome": "RH"}]
        [entry] = read_report(tmp_path / "report" / "failures.jsonl")
        assert entry["index"] == 1
        assert "nome" in entry["reason"]

    @pytest.mark.parametrize("text", ['[{"codigo": "1", "nome": "x"}]', '  {"path": "x.json"}'])
    def test_a_json_looking_string_is_refused(self, hooks, fake, clock, tmp_path, text):
        with pytest.raises(AirflowFailException, match="looks like JSON") as info:
            make_op(tmp_path, records=text).execute(make_context())
        assert "render_template_as_native_obj" in str(info.value)
        assert "Nothing was sent" in str(info.value)
        assert fake.calls == 0

    def test_bad_json_line_fails_with_nothing_sent(self, hooks, fake, clock, tmp_path):
        path = tmp_path / "in.jsonl"
        lines = [json.dumps(r) for r in cost_centers(1500)]
        lines[1200] = '{"codigo": "c01200", "nome": '
        path.write_text("\n".join(lines), encoding="utf-8")
        with pytest.raises(AirflowFailException, match="line 1201 is not valid JSON") as info:
            make_op(tmp_path, records=str(path)).execute(make_context())
        assert "Nothing was sent" in str(info.value)
        assert fake.calls == 0
        assert not list((tmp_path / "report").glob("*")), "no report: nothing happened"

    def test_bad_json_array_element_fails_with_nothing_sent(self, hooks, fake, clock, tmp_path):
        path = tmp_path / "in.json"
        path.write_text('[{"codigo": "c1", "nome": "x"}, {"codigo": oops}]', encoding="utf-8")
        with pytest.raises(AirflowFailException, match="element 1 is not valid JSON"):
            make_op(tmp_path, records=str(path)).execute(make_context())
        assert fake.calls == 0

    @pytest.mark.parametrize(
        ("records", "match"),
        [
            (str(Path("/nonexistent/in.json")), "No such file"),
            ("/tmp/records.txt", "cannot tell the format"),
            ({"rows": 3}, "without a 'path' key"),
            (42, "got int"),
        ],
    )
    def test_unreadable_inputs(self, hooks, fake, clock, tmp_path, records, match):
        with pytest.raises(AirflowFailException, match=match):
            make_op(tmp_path, records=records).execute(make_context())
        assert fake.calls == 0

    def test_memory_uris_for_the_records_and_the_report(self, hooks, fake, clock, tmp_path, memfs):
        records = [*cost_centers(3), {"codigo": "", "nome": "x"}]
        memfs.pipe("/in/records.jsonl", "\n".join(json.dumps(r) for r in records).encode())
        op = make_op(
            tmp_path,
            records="memory://in/records.jsonl",
            report_path="memory://out/run/failures.jsonl",
            fail_on="never",
        )
        summary = op.execute(make_context())
        assert fake.sent_records() == records[:3]
        assert summary["report_path"].startswith("memory://")
        lines = memfs.cat("/out/run/failures.jsonl").decode().splitlines()
        assert [json.loads(line)["index"] for line in lines] == [3]
        assert not [p for p in memfs.find("/out") if p.endswith(".partial")]

    def test_report_path_of_a_directory(self, hooks, fake, clock, tmp_path):
        summary = make_op(tmp_path, report_path=str(tmp_path / "out") + "/").execute(make_context())
        assert summary["report_path"] == str(tmp_path / "out" / "failures.jsonl")
        assert (tmp_path / "out" / "failures.jsonl").exists()

    def test_default_report_path(self, hooks, fake, clock, tmp_path, monkeypatch):
        monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
        op: Any = PontoWebPushBatchOperator(task_id="push", resource="costcenter", records=cost_centers(2))
        summary = op.execute(make_context())
        path = Path(summary["report_path"])
        assert path.name == "failures.jsonl"
        assert path.parts[-4:-1] == ("sync", "manual__2026-11-01", "push")
        assert str(path).startswith(str(tmp_path / "home" / "data" / "ahgora"))
        assert path.exists()


# --------------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------------


ECHO = f"bad password {PONTOWEB_PASSWORD} for svc-user"


class TestSecrets:
    @pytest.mark.parametrize(
        ("where", "status"),
        [("push", 401), ("push", 400), ("push", 500), ("monitor", 410), ("monitor", 401)],
    )
    def test_the_password_never_leaks(self, hooks, fake, clock, tmp_path, logs, where, status):
        if where == "push":
            for call in (1, 2, 3):
                fake.faults[call] = ("before", status)
        else:
            fake.monitor_script[1] = [(status, {"error": {"message": ECHO, "code": status}})]
        original = fake._fault

        def echo(what: Any) -> Any:
            code, headers, _ = original(what)
            return code, headers, json.dumps({"error": {"message": ECHO, "code": code}})

        fake._fault = echo  # type: ignore[method-assign]
        ti = FakeTI()
        with pytest.raises(AirflowException) as info:
            make_op(tmp_path, records=cost_centers(3)).execute(make_context(ti=ti))
        texts = [str(info.value), repr(info.value), logs(), json.dumps(ti.xcoms)]
        cause = info.value.__cause__
        while cause is not None:
            texts.append(str(cause))
            cause = cause.__cause__
        report = tmp_path / "report" / "failures.jsonl"
        if report.exists():
            texts.append(report.read_text(encoding="utf-8"))
        assert any("***" in t or "bad password" in t for t in texts)
        for text in texts:
            assert PONTOWEB_PASSWORD not in text


# --------------------------------------------------------------------------------------------------
# Outlets: what was delivered, once the task succeeds
# --------------------------------------------------------------------------------------------------


class TestDeliveryEvents:
    ALIAS = AssetAlias("pontoweb_cost_centers")

    def test_a_settled_push_is_an_event_of_the_route_with_its_counts(self, hooks, fake, clock, tmp_path):
        events = outlet_events()
        ctx = {**make_context(), "outlet_events": events}
        make_op(tmp_path, records=cost_centers(1500), outlets=[self.ALIAS]).execute(ctx)
        host = PONTOWEB_BASE.split("://", 1)[1]
        assert alias_events(events, self.ALIAS) == [
            (
                f"pontoweb://{host}/costcenter",
                {
                    "resource": "costcenter",
                    "records": 1500,
                    "sent": 1500,
                    "failed": 0,
                    "unconfirmed": 0,
                    "batches": 2,
                },
            )
        ]
        assert PONTOWEB_PASSWORD not in json.dumps(alias_events(events, self.ALIAS))

    def test_a_push_that_fails_emits_nothing(self, hooks, fake, clock, tmp_path):
        fake.monitor_script[1] = [monitor_body("error", 3, 3, [{"identifier": "c00000", "message": "bad"}])]
        events = outlet_events()
        with pytest.raises(AirflowException):
            make_op(tmp_path, records=cost_centers(3), outlets=[self.ALIAS]).execute(
                {**make_context(), "outlet_events": events}
            )
        assert alias_events(events, self.ALIAS) == []

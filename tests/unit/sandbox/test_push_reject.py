"""Business rejections in the sandbox: records that pass validation but fail in the process monitor
(``Sandbox.reject_records``), over real HTTP."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_ahgora.models.pontoweb import ProcessStatus
from airflow_provider_ahgora.sandbox.pontoweb import DEFAULT_REJECTION
from tests.unit.sandbox.conftest import ManualClock

pytestmark = pytest.mark.integration

PEOPLE = [
    {"matricula": "000001", "nome": "Ana", "dataAdmissao": "31/01/2020"},
    {"matricula": "000002", "nome": "Bia", "dataAdmissao": "2020-01-31"},  # invalid: not DD/MM/YYYY
    {"matricula": "000003", "nome": "Caio", "dataAdmissao": "31/01/2020"},
    {"matricula": "000004", "nome": "Davi", "dataAdmissao": "31/01/2020"},
]
CENTERS = [{"codigo": "10", "nome": "RH"}, {"codigo": "20", "nome": "TI"}]


def push(pw, resource, body):
    answer = pw.post(f"{pw.base}/{resource}", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def monitor(pw, ticket):
    answer = pw.get(f"{pw.base}/process", params={"subunique": ticket["subunique"]})
    assert answer.status_code == 200, answer.text
    return answer.json()


class TestRejections:
    def test_some_rejected_is_a_warning_with_errors_in_index_order(self, sandbox, pw):
        rules = sandbox.reject_records("people", "000004", "000001", message="PIS inválido")
        assert rules == {"people": {"000004": "PIS inválido", "000001": "PIS inválido"}}
        state = monitor(pw, push(pw, "people", PEOPLE))
        assert state["status"] == "warning"
        assert state["progress"] == {"done": "4", "total": "4"}
        errors = state["data"]["errors"]
        # the rejections and the validation error together, by record index
        assert [e["identifier"] for e in errors] == ["000001", "000002", "000004"]
        assert errors[0] == {"identifier": "000001", "message": "PIS inválido"}
        assert "dataAdmissao" in errors[1]["message"]
        assert errors[2]["message"] == "PIS inválido"
        parsed = ProcessStatus.model_validate(state)
        assert parsed.is_finished
        stored = sandbox.pontoweb.stored["people"]
        assert set(stored) == {"000003"}  # neither rejected nor invalid records are stored
        assert sandbox.pushes()[-1]["valid"] == 1

    def test_all_rejected_is_an_error(self, sandbox, pw):
        sandbox.reject_records("costcenter", "10", "20")
        state = monitor(pw, push(pw, "costcenter", CENTERS))
        assert state["status"] == "error"
        assert state["data"]["errors"] == [
            {"identifier": "10", "message": DEFAULT_REJECTION},
            {"identifier": "20", "message": DEFAULT_REJECTION},
        ]
        assert sandbox.pontoweb.stored["costcenter"] == {}

    def test_an_invalid_record_that_is_also_rejected_has_one_error(self, sandbox, pw):
        sandbox.reject_records("people", "000002", message="rejected")
        errors = monitor(pw, push(pw, "people", PEOPLE[:2]))["data"]["errors"]
        assert len(errors) == 1
        assert "dataAdmissao" in errors[0]["message"]

    def test_rules_are_per_resource_and_last_message_wins(self, sandbox, pw):
        sandbox.reject_records("people", "10", message="first")
        sandbox.reject_records("people", "10", message="second")
        assert sandbox.rejections() == {"people": {"10": "second"}}
        state = monitor(pw, push(pw, "costcenter", CENTERS))  # codigo "10", but another resource
        assert (state["status"], state["data"]["errors"]) == ("done", [])

    def test_rules_apply_to_later_pushes_only(self, sandbox, pw):
        ticket = push(pw, "costcenter", CENTERS)
        sandbox.reject_records("costcenter", "10")
        assert monitor(pw, ticket)["status"] == "done"
        assert monitor(pw, push(pw, "costcenter", CENTERS))["status"] == "warning"

    def test_clear_and_reset_forget_the_rules(self, sandbox, pw):
        sandbox.reject_records("costcenter", "10")
        sandbox.clear_rejections()
        assert sandbox.rejections() == {}
        assert monitor(pw, push(pw, "costcenter", CENTERS))["status"] == "done"
        sandbox.reject_records("costcenter", "10")
        sandbox.reset()
        assert sandbox.rejections() == {}
        assert monitor(pw, push(pw, "costcenter", CENTERS))["status"] == "done"

    def test_state_lists_the_rules(self, sandbox):
        sandbox.reject_records("users", "ana@example.com")
        assert sandbox.state()["pontoweb"]["rejections"] == {"users": {"ana@example.com": DEFAULT_REJECTION}}

    @pytest.mark.parametrize(("args", "kwargs"), [(("nope", "1"), {}), (("people", "1"), {"message": ""})])
    def test_bad_rules(self, sandbox, args, kwargs):
        with pytest.raises(ValueError):
            sandbox.reject_records(*args, **kwargs)

    def test_a_single_identifier_string_is_not_split(self, sandbox):
        sandbox.pontoweb.reject("people", "000123")
        assert sandbox.rejections() == {"people": {"000123": DEFAULT_REJECTION}}


class TestRejectionsAsynchronous:
    @pytest.fixture
    def sandbox_options(self, clock):
        return {"employees": 5, "seed": 7, "push_speed": 2.0, "clock": clock}

    def test_rejections_appear_as_records_are_processed(self, sandbox, pw, clock: ManualClock):
        sandbox.reject_records("people", "000003")
        ticket = push(pw, "people", [PEOPLE[0], PEOPLE[2], PEOPLE[3]])
        assert monitor(pw, ticket)["data"]["errors"] == []
        clock.now += 1  # 2 records per second
        half = monitor(pw, ticket)
        assert half["progress"] == {"done": "2", "total": "3"}
        assert half["status"] == "warning"
        assert [e["identifier"] for e in half["data"]["errors"]] == ["000003"]


class TestControlApi:
    def test_rejections_over_http(self, sandbox, pw):
        url = f"{sandbox.control_url}/rejections"
        added = requests.post(
            url, json={"resource": "costcenter", "identifiers": ["20"], "message": "no"}, timeout=5
        )
        assert added.status_code == 200
        assert added.json() == {"costcenter": {"20": "no"}}
        assert requests.get(url, timeout=5).json() == {"costcenter": {"20": "no"}}
        assert monitor(pw, push(pw, "costcenter", CENTERS))["data"]["errors"] == [
            {"identifier": "20", "message": "no"}
        ]
        bad = requests.post(url, json={"resource": "nope", "identifiers": ["1"]}, timeout=5)
        assert bad.status_code == 400
        assert "unknown push resource" in bad.json()["error"]
        assert (
            requests.post(url, json={"resource": "people", "identifiers": "1"}, timeout=5).status_code == 400
        )
        assert requests.delete(url, timeout=5).json() == {"cleared": True}
        assert requests.get(url, timeout=5).json() == {}
        assert any(
            "rejections" in e for e in requests.get(sandbox.control_url, timeout=5).json()["endpoints"]
        )

"""The sandbox's pushes and process monitor over real HTTP: seed shapes, limits, per-record errors
from the request models, asynchronous progress as strings, unique renewal, expiry."""

from __future__ import annotations

import json

import pytest

from airflow_provider_ahgora.models.pontoweb import ProcessStatus, PushTicket
from tests.conftest import load_fixture
from tests.unit.sandbox.conftest import ManualClock

pytestmark = pytest.mark.integration


def seed(name: str):
    return load_fixture("seeds", "pontoweb", f"{name}.json")


def push(pw, resource, body):
    if isinstance(body, (bytes, str)):
        return pw.post(f"{pw.base}/{resource}", data=body, headers={"Content-Type": "application/json"})
    return pw.post(f"{pw.base}/{resource}", json=body)


def monitor(pw, **params):
    return pw.get(f"{pw.base}/process", params=params)


PEOPLE = [
    {"matricula": "000123", "nome": "Ana", "pis": "12345678901"},  # bad PIS check digit
    {"matricula": "000456", "nome": "Bia", "dataAdmissao": "2020-01-31"},  # not DD/MM/YYYY
    {"matricula": "000789", "nome": "Caio", "dataAdmissao": "31/01/2020"},
]


class TestShapes:
    @pytest.mark.parametrize(
        ("resource", "request_fixture", "response_fixture"),
        [
            ("costcenter", "002_costcenter_request_batch", "002_costcenter_response_200"),
            ("subsidiaries", "003_subsidiaries_request_activation", "003_subsidiaries_response_200"),
            ("subsidiaries", "003_subsidiaries_request_deactivation", "003_subsidiaries_response_200"),
        ],
    )
    def test_push_answers_and_monitor_have_the_seed_shapes(
        self, sandbox, pw, resource, request_fixture, response_fixture
    ):
        answer = push(pw, resource, seed(request_fixture))
        assert answer.status_code == 200
        ticket = answer.json()
        documented = seed(response_fixture)
        assert set(ticket) == set(documented) | {"subunique"}
        assert ticket["message"] == documented["message"]
        assert ticket["company"] == sandbox.company
        assert PushTicket.model_validate(ticket).monitor_params == {"subunique": ticket["subunique"]}
        state = monitor(pw, subunique=ticket["subunique"]).json()
        assert state == {
            "company": sandbox.company,
            "unique": ticket["unique"],
            "subunique": ticket["subunique"],
            "status": "done",
            "progress": {"done": str(len(seed(request_fixture))), "total": str(len(seed(request_fixture)))},
            "data": {"errors": []},
        }
        done = seed("000_process_response_done")
        assert set(state) == set(done)
        assert set(state["progress"]) == set(done["progress"])
        assert ProcessStatus.model_validate(state).is_finished

    def test_every_documented_push_route(self, sandbox, pw):
        data = sandbox.data
        bodies = {
            "costcenter": data.pontoweb_master_data()["costcenter"],
            "subsidiaries": data.pontoweb_master_data()["subsidiaries"],
            "people": data.pontoweb_people(),
            "absences": [{"matricula": "000001", "inicio": "2025-04-01T08:00", "fim": "2025-04-01T12:00"}],
            "users": [{"email": "ana@example.com", "nome": "Ana"}],
            "paymentDate": [{"matricula": "000001", "anything": "goes"}],
            "anticipate": [{"matricula": "000001"}],
        }
        for resource, body in bodies.items():
            ticket = push(pw, resource, body).json()
            state = monitor(pw, subunique=ticket["subunique"]).json()
            assert (state["status"], state["data"]["errors"]) == ("done", []), resource
        pushes = sandbox.pushes()
        assert [p["resource"] for p in pushes] == list(bodies)
        assert pushes[2]["records"] == bodies["people"]
        assert sandbox.state()["pontoweb"]["stored"]["people"] == len(bodies["people"])


class TestInvalidRecords:
    def test_invalid_records_become_monitor_errors(self, sandbox, pw):
        ticket = push(pw, "people", PEOPLE).json()
        state = monitor(pw, subunique=ticket["subunique"]).json()
        assert state["status"] == "warning"
        assert state["progress"] == {"done": "3", "total": "3"}
        errors = state["data"]["errors"]
        assert [e["identifier"] for e in errors] == ["000123", "000456"]
        assert "pis" in errors[0]["message"]
        assert "check digit" in errors[0]["message"]
        assert "dataAdmissao" in errors[1]["message"]
        assert "DD/MM/YYYY" in errors[1]["message"]
        fixture = seed("000_process_response_people-errors")
        assert set(state) == set(fixture)
        assert set(errors[0]) == set(fixture["data"]["errors"][0])
        parsed = ProcessStatus.model_validate(state)
        assert parsed.is_finished
        assert [e.identifier for e in parsed.errors] == ["000123", "000456"]
        push_state = sandbox.pushes()[-1]
        assert push_state["valid"] == 1
        assert push_state["errors"] == errors

    def test_all_invalid_is_error(self, pw):
        bad = [
            {"matricula": "000123", "inicio": "2025-04-02T08:00", "fim": "2025-04-01T08:00"},
            {"matricula": "000789", "inicio": "01/04/2025", "fim": "2025-04-01T12:00"},
        ]
        state = monitor(pw, subunique=push(pw, "absences", bad).json()["subunique"]).json()
        assert state["status"] == "error"
        assert [e["identifier"] for e in state["data"]["errors"]] == ["000123", "000789"]
        assert set(state) == set(seed("000_process_response_absences-errors"))

    @pytest.mark.parametrize(
        ("resource", "record", "field"),
        [
            ("subsidiaries", {"numeroCadastro": "11222333000182", "razaoSocial": "X"}, "CNPJ"),
            ("subsidiaries", {"razaoSocial": "X"}, "numeroCadastro"),
            ("costcenter", {"codigo": "1"}, "nome"),
            ("users", {"email": "not-an-email"}, "email"),
            ("people", "not an object", "JSON object"),
        ],
    )
    def test_messages_name_the_problem(self, pw, resource, record, field):
        state = monitor(pw, subunique=push(pw, resource, [record]).json()["subunique"]).json()
        assert state["status"] == "error"
        assert field in state["data"]["errors"][0]["message"]


class TestRequestLimits:
    def test_not_an_array(self, pw):
        for body in ({"codigo": "1", "nome": "RH"}, b"", b"null", b'"x"'):
            answer = push(pw, "costcenter", body)
            assert (answer.status_code, answer.json()) == (400, seed("002_costcenter_error_400"))
        bad = push(pw, "costcenter", b"[{")
        assert bad.status_code == 400
        assert bad.json()["message"].startswith("Invalid JSON")

    def test_empty_array(self, pw):
        answer = push(pw, "costcenter", [])
        assert answer.status_code == 400
        assert "at least one record" in answer.json()["message"]

    def test_at_most_1000_records(self, sandbox, pw):
        records = [{"codigo": str(i), "nome": "x"} for i in range(1001)]
        answer = push(pw, "costcenter", records)
        assert answer.status_code == 400
        assert answer.json() == {
            "message": "Too many records: 1001 in one request; the maximum is 1000 records per request. "
            "Split them into batches.",
            "code": 400,
        }
        assert push(pw, "costcenter", records[:1000]).status_code == 200

    def test_at_most_one_mebibyte(self, sandbox, pw):
        def body(size: int) -> bytes:
            record = {"codigo": "1", "nome": ""}
            empty = len(json.dumps([record], separators=(",", ":")))
            record["nome"] = "x" * (size - empty)
            raw = json.dumps([record], separators=(",", ":")).encode()
            assert len(raw) == size
            return raw

        assert push(pw, "costcenter", body(1024 * 1024)).status_code == 200
        answer = push(pw, "costcenter", body(1024 * 1024 + 1))
        assert answer.status_code == 413
        assert answer.json()["code"] == 413
        assert "1048576 bytes" in answer.json()["message"]
        assert len(sandbox.pushes()) == 1


class TestAsynchronous:
    @pytest.fixture
    def sandbox_options(self, clock):
        return {"employees": 10, "seed": 7, "push_speed": 2.0, "clock": clock}

    def test_progress_strings_and_errors_appear_as_records_are_processed(self, pw, clock: ManualClock):
        ticket = push(pw, "people", [PEOPLE[2], PEOPLE[0], PEOPLE[2], PEOPLE[1]]).json()
        first = monitor(pw, subunique=ticket["subunique"]).json()
        assert first["progress"] == {"done": "0", "total": "4"}
        assert not ProcessStatus.model_validate(first).is_finished
        clock.now += 1  # 2 records per second
        half = monitor(pw, subunique=ticket["subunique"]).json()
        assert half["progress"] == {"done": "2", "total": "4"}
        assert [e["identifier"] for e in half["data"]["errors"]] == ["000123"]
        assert half["status"] == "warning"
        clock.now += 1
        final = monitor(pw, subunique=ticket["subunique"]).json()
        assert final["progress"] == {"done": "4", "total": "4"}
        assert [e["identifier"] for e in final["data"]["errors"]] == ["000123", "000456"]

    def test_unique_renewed_every_15_minutes(self, sandbox, pw, clock: ManualClock):
        one = [{"codigo": "1", "nome": "RH"}]
        a = push(pw, "costcenter", one).json()
        clock.now += 14 * 60
        b = push(pw, "subsidiaries", seed("003_subsidiaries_request_activation")).json()
        assert a["unique"] == b["unique"]
        assert a["subunique"] != b["subunique"]
        clock.now += 61
        c = push(pw, "costcenter", one).json()
        assert c["unique"] != a["unique"]
        both = monitor(pw, unique=a["unique"]).json()
        assert both["progress"] == {"done": "2", "total": "2"}
        assert both["subunique"] == b["subunique"]
        assert monitor(pw, unique=c["unique"]).json()["progress"]["total"] == "1"

    def test_monitor_forgets_a_process_15_minutes_after_it_finished(self, pw, clock: ManualClock):
        ticket = push(pw, "costcenter", [{"codigo": "1", "nome": "RH"}]).json()
        clock.now += 15 * 60
        assert monitor(pw, subunique=ticket["subunique"]).status_code == 200
        clock.now += 1
        answer = monitor(pw, subunique=ticket["subunique"])
        assert answer.status_code == 410
        assert set(answer.json()) == set(seed("000_process_error_410"))
        assert answer.json()["error"].startswith("Gone: subunique")


class TestMonitorErrors:
    def test_unknown_and_missing(self, pw):
        assert monitor(pw, subunique="99999999").json() == seed("000_process_error_400")
        assert monitor(pw, unique="deadbeef").status_code == 400
        answer = monitor(pw)
        assert answer.status_code == 400
        assert "subunique" in answer.json()["error"]

    def test_v2_shape_even_without_the_header(self, sandbox, pw):
        answer = pw.get(f"{pw.base}/process", params={"subunique": "1"}, headers={"Accept-Version": None})
        assert answer.json() == {"error": "Process not found"}
        v1 = pw.get(f"{pw.base}/process", params={"subunique": "1"}, headers={"Accept-Version": "v1"})
        assert v1.json() == {"error": {"message": "Process not found", "code": 400}}

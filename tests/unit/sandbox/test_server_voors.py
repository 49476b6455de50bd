"""The sandbox's Voors API over real HTTP: every seed answer's shape, upserts by identifier,
create/update/delete by id, deletes by remoteId, validation, ordering rules, goals and posts, auth."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests

from airflow_provider_ahgora.models._base import is_valid_cpf
from airflow_provider_ahgora.models.voors import RESOURCES, VoorsResponse, parse_goals
from tests.conftest import FIXTURES

pytestmark = pytest.mark.integration

SEEDS = Path(FIXTURES, "seeds", "voors")
FILES = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(SEEDS.glob("*.json"))}
CPF = "78532850197"


def fixtures(kind: str) -> list[str]:
    return [name for name in FILES if f"_{kind}_" in name]


def resource_of(name: str) -> str:
    return re.match(r"\d+_(\w+?)_(?:request|response)_", name).group(1)  # type: ignore[union-attr]


def request_for(response: str) -> str:
    res, variant = resource_of(response), response.rsplit("_", 1)[1]
    return next(n for n in fixtures("request") if resource_of(n) == res and n.endswith(f"_{variant}"))


def path_of(res: str) -> str:
    return RESOURCES[res].path


def cpfs(value, out=None) -> set[str]:
    out = set() if out is None else out
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("cpf", "user", "appraisedBy") and isinstance(item, str) and is_valid_cpf(item):
                out.add(item)
            cpfs(item, out)
    elif isinstance(value, list):
        for item in value:
            cpfs(item, out)
    return out


@pytest.fixture
def people(vs):
    """Every user the request fixtures name, sent first (the ordering rule)."""
    names: set[str] = set()
    for name in fixtures("request"):
        cpfs(FILES[name], names)
    for cpf in sorted(names):
        answer = vs.post(f"{vs.base}/users", json={"data": {"user": {"cpf": cpf, "firstName": "Pessoa"}}})
        assert answer.status_code == 201, answer.text
    return names


def check_shape(answer: dict, documented: dict) -> None:
    """The answer has every key the documented answer has, with the same container shapes."""
    assert set(documented) <= set(answer)
    parsed = VoorsResponse.model_validate(answer)
    if "data" not in documented:
        return
    assert set(answer["data"]) == set(documented["data"])
    for key, want in documented["data"].items():
        got = answer["data"][key]
        assert type(got) is type(want), key
        if isinstance(want, list):
            want, got = want[0], got[0]
        if isinstance(want, dict):
            assert set(want) <= set(got), sorted(set(want) - set(got))
            assert "id" in got or key == "message"
            if key != "message":
                typed = parsed.records(key)[0]
                assert typed.id == got["id"]
                assert typed.model_dump(by_alias=True, exclude_unset=True).keys() == got.keys()


UPSERTS = [n for n in fixtures("response") if n.rsplit("_", 1)[1] in ("upsert", "create")]
DELETES = [n for n in fixtures("request") if n.endswith("_delete")]


class TestSeedShapes:
    @pytest.mark.parametrize("name", UPSERTS)
    def test_writes_answer_in_the_seed_shape(self, vs, people, name):
        res = resource_of(name)
        answer = vs.post(f"{vs.base}{path_of(res)}", json=FILES[request_for(name)])
        assert answer.status_code in (200, 201), answer.text
        check_shape(answer.json(), FILES[name])

    @pytest.mark.parametrize("res", ["departments", "jobRoles", "jobFunctions", "horaries"])
    def test_list_get_update_delete_by_id(self, vs, res):
        base = f"{vs.base}{path_of(res)}"
        created = vs.post(base, json=FILES[request_for(next(n for n in UPSERTS if resource_of(n) == res))])
        assert created.status_code == 201
        env = RESOURCES[res].envelope
        ident = created.json()["data"][env]["id"]
        listed = vs.get(base).json()
        check_shape(
            listed,
            FILES[next(n for n in fixtures("response") if resource_of(n) == res and n.endswith("_list"))],
        )
        got = vs.get(f"{base}/{ident}").json()
        check_shape(
            got, FILES[next(n for n in fixtures("response") if resource_of(n) == res and n.endswith("_get"))]
        )
        update = FILES[
            next(n for n in fixtures("request") if resource_of(n) == res and n.endswith("_update"))
        ]
        updated = vs.put(f"{base}/{ident}", json=update)
        assert updated.status_code == 200
        check_shape(
            updated.json(),
            FILES[next(n for n in fixtures("response") if resource_of(n) == res and n.endswith("_update"))],
        )
        changed = update["data"][env]
        assert {k: updated.json()["data"][env][k] for k in changed} == changed
        deleted = vs.delete(f"{base}/{ident}")
        assert (deleted.status_code, deleted.content) == (200, b"")
        for method in ("GET", "PUT", "DELETE"):
            missing = vs.request(method, f"{base}/{ident}", json=update)
            assert missing.status_code == 404
            assert missing.json()["code"] == "404"

    @pytest.mark.parametrize("name", DELETES)
    def test_deletes_by_remote_id(self, vs, people, name):
        res = resource_of(name)
        spec = RESOURCES[res]
        key = spec.delete_envelope or spec.envelope
        refs = FILES[name]["data"][key]
        refs = refs if isinstance(refs, list) else [refs]
        upsert = FILES[
            next(n for n in fixtures("request") if resource_of(n) == res and n.endswith("_upsert"))
        ]
        for ref in refs:
            record = {**upsert["data"][spec.envelope], "remoteId": ref["remoteId"]}
            assert vs.post(f"{vs.base}{spec.path}", json={"data": {spec.envelope: record}}).status_code in (
                200,
                201,
            )
        answer = vs.delete(f"{vs.base}{spec.path}", json=FILES[name])
        assert answer.status_code == 200, answer.text
        documented = next(
            (n for n in fixtures("response") if resource_of(n) == res and n.endswith("_delete")), None
        )
        if documented:
            assert answer.json() == FILES[documented]
        again = vs.delete(f"{vs.base}{spec.path}", json=FILES[name])
        assert again.status_code == 404
        assert "not found" in again.json()["message"]

    def test_goals_item_has_the_seed_keys(self, vs):
        items = vs.get(f"{vs.base}/goals", params={"startDate": "2022-07-01", "endDate": "2022-07-31"}).json()
        doc = FILES["104_goals_response_item"]
        assert isinstance(items, list)
        assert items
        assert set(items[0]) == set(doc)
        assert set(items[0]["userGoals"][0]) == set(doc["userGoals"][0])
        assert set(items[0]["situationHistory"][0]) == set(doc["situationHistory"][0])
        assert parse_goals(items)[0].user_goals


class TestUpserts:
    def test_remote_id_compared_as_canonical_json(self, sandbox, vs):
        url = f"{vs.base}/calculationProcesses"
        first = vs.post(
            url,
            json={"data": {"calculationProcess": {"remoteId": {"a": 1, "b": [1, 2]}, "description": "x"}}},
        )
        second = vs.post(
            url,
            json={"data": {"calculationProcess": {"remoteId": {"b": [1, 2], "a": 1}, "description": "y"}}},
        )
        assert (first.status_code, second.status_code) == (201, 200)
        assert (
            first.json()["data"]["calculationProcess"]["id"]
            == second.json()["data"]["calculationProcess"]["id"]
        )
        assert second.json()["message"] == "OK"
        other = vs.post(url, json={"data": {"calculationProcess": {"remoteId": "1", "description": "z"}}})
        third = vs.post(url, json={"data": {"calculationProcess": {"remoteId": 1, "description": "w"}}})
        assert (other.status_code, third.status_code) == (201, 201)  # "1" and 1 are different JSON
        records = sandbox.voors_records("calculationProcesses")
        assert [r["description"] for r in records] == ["y", "z", "w"]

    def test_users_by_cpf_and_deactivation(self, sandbox, vs):
        url = f"{vs.base}/users"
        assert vs.post(url, json={"data": {"user": {"cpf": CPF, "firstName": "João"}}}).status_code == 201
        again = vs.post(url, json={"data": {"user": {"cpf": CPF, "lastName": "Silva"}}})
        assert again.status_code == 200
        user = again.json()["data"]["user"]
        assert (user["firstName"], user["lastName"], user["active"], user["status"]) == (
            "João",
            "Silva",
            True,
            "active",
        )
        off = vs.post(url, json=FILES["032_users_request_deactivate"]).json()["data"]["user"]
        assert (off["active"], off["status"]) == (False, "inactive")
        assert len(sandbox.voors_records("users")) == 1
        unknown = vs.post(url, json={"data": {"user": {"cpf": "12345678909", "active": False}}})
        assert unknown.status_code == 404

    def test_leaders_first(self, vs):
        url = f"{vs.base}/users"
        answer = vs.post(url, json=FILES["033_users_request_leader"])
        assert answer.status_code == 400
        assert "appraisedBy" in answer.json()["message"]
        assert "leaders" in answer.json()["message"]
        leader = FILES["033_users_request_leader"]["data"]["user"]["appraisedBy"]
        vs.post(url, json={"data": {"user": {"cpf": leader, "firstName": "Líder"}}}).raise_for_status()
        vs.post(url, json={"data": {"user": {"cpf": CPF, "firstName": "Liderado"}}}).raise_for_status()
        assert vs.post(url, json=FILES["033_users_request_leader"]).status_code == 200
        assert vs.post(url, json=FILES["034_users_request_leaderRepeated"]).status_code == 200

    def test_history_needs_its_user(self, vs):
        answer = vs.post(f"{vs.base}/userExams", json=FILES["087_userExams_request_upsert"])
        assert answer.status_code == 400
        assert "send the user" in answer.json()["message"]

    def test_strict_references_can_be_turned_off(self, vs, sandbox):
        sandbox.voors.strict_references = False
        assert vs.post(f"{vs.base}/userExams", json=FILES["087_userExams_request_upsert"]).status_code == 201

    def test_branches_by_remote_id_or_cnpj(self, sandbox, vs):
        url = f"{vs.base}/branches"
        body = FILES["001_branches_request_upsert"]
        first = vs.post(url, json=body).json()["data"]["branch"]["id"]
        branch = {**body["data"]["branch"], "remoteId": {"id": 99}, "name": "Renamed"}
        same = vs.post(url, json={"data": {"branch": branch}}).json()["data"]["branch"]
        assert same["id"] == first
        assert same["name"] == "Renamed"
        assert len(sandbox.voors_records("branches")) == 1

    def test_arrays(self, sandbox, vs, people):
        answer = vs.post(f"{vs.base}/userWallets", json=FILES["110_userWallets_request_upsert"])
        assert answer.json() == FILES["111_userWallets_response_upsert"]
        assert len(sandbox.voors_records("userWallets")) == 1
        one = vs.post(f"{vs.base}/userWallets", json={"data": {"userWallets": {"remoteId": "1"}}})
        assert one.status_code == 400


class TestValidation:
    @pytest.mark.parametrize(
        ("path", "body", "words"),
        [
            ("/users", {"data": {"user": {"cpf": "12345678900"}}}, ["user.cpf", "check digits"]),
            ("/users", {"data": {"user": {"firstName": "x"}}}, ["user.cpf", "required"]),
            ("/branches", {"data": {"branch": {"remoteId": 1, "cnpj": "1"}}}, ["branch.cnpj", "CNPJ"]),
            (
                "/userSituations",
                {"data": {"userSituation": {"remoteId": 1, "user": CPF, "situation": "X"}}},
                ["situation"],
            ),
            ("/horaries", {"data": {"horary": {"horaryEntry1": "25:00"}}}, ["horary.horaryEntry1", "HH:mm"]),
            ("/posts", {"data": {"type": "news"}}, ["link"]),
            (
                "/goals/updateGoals",
                {"data": {"goalsAchieved": [{"userGoal": 1, "unit": "kg", "value": 1}]}},
                ["goalsAchieved[0].unit"],
            ),
            ("/departments", {"department": {"name": "x"}}, ['{"data"']),
            ("/departments", {"data": {"jobRole": {"title": "x"}}}, ["data.department"]),
            ("/departments", {"data": {"department": [{"name": "x"}]}}, ["one record per request"]),
        ],
    )
    def test_400_names_the_field(self, vs, path, body, words):
        answer = vs.post(f"{vs.base}{path}", json=body)
        assert answer.status_code == 400, answer.text
        payload = answer.json()
        assert (payload["status"], payload["code"]) == ("error", "400")
        for word in words:
            assert word in payload["message"]

    def test_invalid_json_and_unknown_routes(self, vs):
        bad = vs.post(f"{vs.base}/users", data=b"{", headers={"Content-Type": "application/json"})
        assert bad.status_code == 400
        for method, path in (
            ("GET", "/nothing"),
            ("GET", "/branches"),
            ("PUT", "/users/1"),
            ("DELETE", "/users"),
        ):
            assert vs.request(method, f"{vs.base}{path}", json={}).status_code == 404, (method, path)


class TestGoalsAndPosts:
    def test_paging_with_limit_and_skip(self, sandbox, vs):
        params = {"startDate": "2025-01-01", "endDate": "2025-03-31"}
        everyone = vs.get(f"{vs.base}/goals", params=params).json()
        assert len(everyone) == sum(1 for e in sandbox.data.employees if not e.dismissed)
        assert all(len(u["userGoals"]) == 3 for u in everyone)
        pages = [
            vs.get(f"{vs.base}/goals", params={**params, "limit": 7, "skip": s}).json()
            for s in range(0, 28, 7)
        ]
        assert [u for page in pages for u in page] == everyone
        assert vs.get(f"{vs.base}/goals", params={**params, "skip": 1000}).json() == []
        one = everyone[3]
        assert vs.get(f"{vs.base}/goals", params={**params, "email": one["email"]}).json() == [one]
        assert vs.get(f"{vs.base}/goals", params={**params, "userId": one["userId"]}).json() == [one]

    @pytest.mark.parametrize(
        "params",
        [
            {},
            {"startDate": "2025-01-01"},
            {"endDate": "2025-01-01"},
            {"startDate": "01/01/2025", "endDate": "2025-02-01"},
            {"startDate": "2025-02-01", "endDate": "2025-01-01"},
            {"startDate": "2025-01-01", "endDate": "2025-02-01", "limit": "-1"},
        ],
    )
    def test_dates_required(self, vs, params):
        answer = vs.get(f"{vs.base}/goals", params=params)
        assert answer.status_code == 400
        assert answer.json()["code"] == "400"

    def test_update_goals_and_posts(self, sandbox, vs):
        params = {"startDate": "2025-01-01", "endDate": "2025-01-31"}
        goal = vs.get(f"{vs.base}/goals", params=params).json()[0]["userGoals"][0]
        body = {"data": {"goalsAchieved": [{"userGoal": goal["userGoalId"], "unit": "hours", "value": 90}]}}
        answer = vs.post(f"{vs.base}/goals/updateGoals", json=body)
        assert answer.status_code == 200
        assert answer.json()["status"] == "success"
        assert vs.get(f"{vs.base}/goals", params=params).json()[0]["userGoals"][0]["achieved"] == 90
        for name in ("105_goalsUpdate_request_leader", "106_goalsUpdate_request_member"):
            assert vs.post(f"{vs.base}/goals/updateGoals", json=FILES[name]).status_code == 200
        for name in ("107_posts_request_message", "108_posts_request_news", "109_posts_request_announcement"):
            created = vs.post(f"{vs.base}/posts", json=FILES[name])
            assert created.status_code == 201
            assert created.json()["data"]["type"] == FILES[name]["data"]["type"]
        assert len(sandbox.voors_records("posts")) == 3


class TestAuth:
    def test_token_in_header_query_or_body(self, sandbox):
        url = f"{sandbox.voors_url}/departments"
        assert requests.get(url, headers={"Authorization": sandbox.token}, timeout=5).status_code == 200
        assert (
            requests.get(url, headers={"Authorization": f"Bearer {sandbox.token}"}, timeout=5).status_code
            == 200
        )
        assert requests.get(url, params={"token": sandbox.token}, timeout=5).status_code == 200
        body = {"token": sandbox.token, "data": {"department": {"name": "x"}}}
        assert requests.post(url, json=body, timeout=5).status_code == 201
        assert sandbox.requests(path="/voors/departments")[-1]["body"]["token"] == "REDACTED"

    def test_401_and_403(self, sandbox):
        url = f"{sandbox.voors_url}/departments"
        for headers in ({}, {"Authorization": "wrong"}):
            answer = requests.get(url, headers=headers, timeout=5)
            assert answer.status_code == 401
            assert answer.json() == {
                "status": "error",
                "code": "401",
                "message": "Unauthorized: invalid token",
            }
        sandbox.add_token("limited", forbidden=True)
        answer = requests.get(url, headers={"Authorization": "limited"}, timeout=5)
        assert answer.status_code == 403
        assert answer.json()["code"] == "403"

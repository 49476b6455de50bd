"""Wire format of VoorsHook, with `responses` standing in for the API."""

from __future__ import annotations

import json

import pytest
import requests
import responses
from responses import matchers

from airflow_provider_ahgora.exceptions import (
    AhgoraAPIError,
    AhgoraAuthError,
    AhgoraBadRequestError,
    AhgoraConfigError,
    AhgoraMalformedAnswerError,
    AhgoraNotFoundError,
    AhgoraServerError,
    AhgoraTransientError,
    AhgoraValidationError,
    AhgoraWrongEndpointError,
)
from airflow_provider_ahgora.hooks.voors import VoorsHook
from airflow_provider_ahgora.models.voors import RESOURCES
from tests.conftest import VOORS_BASE, VOORS_TOKEN, load_fixture, set_conn

CPF = "78532850197"
LEADER = "08336293957"


def _body(call) -> dict:
    return json.loads(call.request.body)


class TestSettings:
    def test_host_required(self, monkeypatch):
        set_conn(monkeypatch, "voors_default", conn_type="voors", password="t")
        with pytest.raises(AhgoraConfigError, match="no host"):
            VoorsHook().get_conn()

    def test_token_required(self, monkeypatch):
        set_conn(monkeypatch, "voors_default", conn_type="voors", host="https://v.test")
        with pytest.raises(AhgoraConfigError, match="token"):
            VoorsHook().get_conn()

    def test_uri_form_with_base_path(self, monkeypatch):
        monkeypatch.setenv(
            "AIRFLOW_CONN_VOORS_URI", "voors://:my%2Btoken@api.example.com/integration?timeout=12"
        )
        s = VoorsHook("voors_uri").settings
        assert s.base_url == "https://api.example.com/integration"
        assert s.headers["Authorization"] == "my+token"
        assert s.timeout == 12

    def test_plain_http_refused_off_loopback(self, monkeypatch):
        set_conn(
            monkeypatch, "voors_default", conn_type="voors", host="http://voors.example.com", password="t"
        )
        with pytest.raises(AhgoraConfigError, match="http"):
            VoorsHook().get_conn()


class TestUpsert:
    @responses.activate
    def test_user_upsert_envelope_and_header(self, voors_hook):
        record = load_fixture("seeds", "voors", "029_users_request_upsert.json")["data"]["user"]
        responses.post(
            f"{VOORS_BASE}/users",
            json=load_fixture("seeds", "voors", "031_users_response_upsert.json"),
            match=[matchers.json_params_matcher({"data": {"user": record}})],
        )
        answer = voors_hook.upsert("users", record)
        assert answer.records("user")[0].id == 5817
        req = responses.calls[0].request
        assert req.headers["Authorization"] == VOORS_TOKEN
        assert "token" not in req.url
        assert "token" not in _body(responses.calls[0])

    @responses.activate
    @pytest.mark.parametrize(
        "record",
        [{"cpf": CPF, "active": False}, {"cpf": CPF, "appraisedBy": LEADER}],
        ids=["deactivate", "leader"],
    )
    def test_user_deactivation_and_leader(self, voors_hook, record):
        responses.post(f"{VOORS_BASE}/users", json={"status": "success", "data": {"user": {"id": 1}}})
        voors_hook.upsert("user", record)  # by envelope key
        assert _body(responses.calls[0]) == {"data": {"user": record}}

    @responses.activate
    def test_invalid_record_sends_nothing(self, voors_hook):
        with pytest.raises(AhgoraValidationError) as info:
            voors_hook.upsert("/users", {"cpf": "78532850190", "active": False})
        assert "cpf" in str(info.value)
        assert "check digits" in str(info.value)
        assert len(responses.calls) == 0

    @responses.activate
    def test_a_validated_record_is_sent_as_it_is(self, voors_hook):
        """``validated=True``: the caller validated the record already (VoorsPushOperator's first pass);
        the hook sends its wire form without validating it again (this one would be refused)."""
        responses.post(f"{VOORS_BASE}/users", json={"status": "success", "data": {"user": {"id": 1}}})
        record = {"cpf": "78532850190", "firstName": "Ana"}
        voors_hook.upsert("users", record, validated=True)
        assert _body(responses.calls[0]) == {"data": {"user": record}}
        with pytest.raises(AhgoraConfigError, match="one record per request"):
            voors_hook.upsert("users", [record], validated=True)

    @responses.activate
    def test_unknown_field_is_sent(self, voors_hook):
        responses.post(f"{VOORS_BASE}/branches", json={"data": {"branch": {"id": 1}}})
        record = {"name": "Matriz", "cnpj": "11222333000181", "remoteId": {"id": 23}, "brandNewField": 7}
        voors_hook.upsert("branches", record)
        assert _body(responses.calls[0])["data"]["branch"]["brandNewField"] == 7

    @responses.activate
    def test_create_then_update_by_id(self, voors_hook):
        create = load_fixture("seeds", "voors", "007_departments_request_create.json")
        responses.post(
            f"{VOORS_BASE}/departments",
            json=load_fixture("seeds", "voors", "008_departments_response_create.json"),
        )
        responses.put(
            f"{VOORS_BASE}/departments/3",
            json=load_fixture("seeds", "voors", "010_departments_response_update.json"),
        )
        created = voors_hook.upsert("departments", create["data"]["department"])
        assert created.records("department")[0].id == 3
        voors_hook.upsert("departments", {"name": "Comercial"}, id=3)
        assert responses.calls[0].request.method == "POST"
        assert _body(responses.calls[0]) == create
        assert responses.calls[1].request.method == "PUT"
        assert _body(responses.calls[1]) == {"data": {"department": {"name": "Comercial"}}}

    def test_update_unsupported(self, voors_hook):
        with pytest.raises(AhgoraConfigError, match="does not support update"):
            voors_hook.upsert("users", {"cpf": CPF}, id=3)

    @responses.activate
    def test_create_not_repeated_after_5xx(self, voors_hook):
        responses.post(f"{VOORS_BASE}/departments", status=502, body="bad gateway")
        with pytest.raises(AhgoraServerError):
            voors_hook.upsert("departments", {"name": "Vendas"})
        assert len(responses.calls) == 1

    @responses.activate
    def test_upsert_retried_after_5xx(self, voors_hook):
        responses.post(f"{VOORS_BASE}/users", status=503)
        responses.post(f"{VOORS_BASE}/users", status=429, headers={"Retry-After": "1"})
        responses.post(f"{VOORS_BASE}/users", json={"data": {"user": {"id": 1}}})
        voors_hook.upsert("users", {"cpf": CPF, "active": False})
        assert len(responses.calls) == 3
        assert voors_hook.sleep.calls[1] == 1.0

    @responses.activate
    def test_array_resource(self, voors_hook):
        wallets = [{"remoteId": "1", "user": "35416813067", "description": "Voors Pay", "limit": 5000}]
        responses.post(
            f"{VOORS_BASE}/userWallets",
            json={"status": "success", "data": {"message": "created with success!"}},
        )
        answer = voors_hook.upsert("userWallets", wallets)
        assert _body(responses.calls[0]) == {"data": {"userWallets": wallets}}
        assert answer.data_message == "created with success!"

    def test_single_resource_refuses_a_list(self, voors_hook):
        with pytest.raises(AhgoraConfigError, match="one record per request"):
            voors_hook.upsert("users", [{"cpf": CPF}])

    @responses.activate
    def test_400_maps(self, voors_hook):
        responses.post(
            f"{VOORS_BASE}/users", status=400, json={"status": "error", "code": "400", "message": "Invalid"}
        )
        with pytest.raises(AhgoraBadRequestError, match="Invalid"):
            voors_hook.upsert("users", {"cpf": CPF})
        assert len(responses.calls) == 1


class TestDelete:
    @responses.activate
    def test_by_path_id(self, voors_hook):
        responses.delete(f"{VOORS_BASE}/departments/3", body="")
        answer = voors_hook.delete("departments", 3)
        assert responses.calls[0].request.body is None
        assert answer.data is None

    def test_by_path_id_needs_id(self, voors_hook):
        with pytest.raises(AhgoraConfigError, match="Voors id"):
            voors_hook.delete("departments", remote_id={"id": 1})

    @responses.activate
    def test_by_remote_id(self, voors_hook):
        responses.delete(
            f"{VOORS_BASE}/timeCards", json={"status": "success", "data": {"message": "Registro deletado"}}
        )
        answer = voors_hook.delete("timeCards", remote_id={"id": 1})
        assert _body(responses.calls[0]) == load_fixture(
            "seeds", "voors", _fixture_name("timeCards", "delete")
        )
        assert answer.data_message == "Registro deletado"

    @responses.activate
    def test_delete_envelope_differs(self, voors_hook):
        responses.delete(f"{VOORS_BASE}/userDepartmentHistories", json={"status": "success"})
        voors_hook.delete("userDepartmentHistories", remote_id={"id": 100})
        assert _body(responses.calls[0]) == {"data": {"userDepartmentHistories": {"remoteId": {"id": 100}}}}

    @responses.activate
    def test_array_delete(self, voors_hook):
        ids = [
            {"estab": 1, "data": "01/02/2018", "seqfolha": 30},
            {"estab": 1, "data": "01/03/2018", "seqfolha": 31},
        ]
        responses.delete(f"{VOORS_BASE}/userCalculations", json={"status": "success"})
        voors_hook.delete("userCalculations", remote_ids=ids)
        assert _body(responses.calls[0]) == {"data": {"userCalculation": [{"remoteId": r} for r in ids]}}

    def test_array_delete_refused_where_single(self, voors_hook):
        with pytest.raises(AhgoraConfigError, match="one record per request"):
            voors_hook.delete("timeCards", remote_ids=[{"id": 1}])

    def test_unsupported(self, voors_hook):
        with pytest.raises(AhgoraConfigError, match="does not support delete"):
            voors_hook.delete("branches", remote_id={"id": 1})


class TestRead:
    @responses.activate
    def test_list_and_get(self, voors_hook):
        responses.get(
            f"{VOORS_BASE}/departments",
            json=load_fixture("seeds", "voors", "005_departments_response_list.json"),
        )
        responses.get(
            f"{VOORS_BASE}/departments/1",
            json=load_fixture("seeds", "voors", "006_departments_response_get.json"),
        )
        departments = voors_hook.list("departments")
        assert [d.id for d in departments] == [1, 2]
        assert voors_hook.get("departments", 1).name == "Financeiro"

    @responses.activate
    def test_get_404(self, voors_hook):
        responses.get(f"{VOORS_BASE}/jobRoles/9", status=404, json={"message": "Not found"})
        with pytest.raises(AhgoraNotFoundError):
            voors_hook.get("jobRoles", 9)
        assert len(responses.calls) == 1

    def test_unknown_resource(self, voors_hook):
        with pytest.raises(AhgoraConfigError, match="departments"):
            voors_hook.list("departmentz")

    @responses.activate
    def test_iter_goals_pages(self, voors_hook):
        user = load_fixture("seeds", "voors", _fixture_name("goals", "response"))
        base = {"startDate": "2022-01-01", "endDate": "2022-08-31", "departmentId": "234", "limit": "2"}
        pages = [
            [dict(user, userId=1), dict(user, userId=2)],
            [dict(user, userId=3), dict(user, userId=4)],
            [dict(user, userId=5)],
            [],
        ]
        for skip, page in zip((0, 2, 4, 5), pages, strict=True):
            responses.get(
                f"{VOORS_BASE}/goals",
                json={"data": page} if skip else page,  # both answer shapes
                match=[matchers.query_param_matcher({**base, "skip": str(skip)})],
            )
        users = list(voors_hook.iter_goals("2022-01-01", "2022-08-31", page_size=2, department_id=234))
        assert [u.user_id for u in users] == [1, 2, 3, 4, 5]
        assert len(responses.calls) == 4  # until an empty page, not the first short one

    @responses.activate
    def test_iter_goals_validation(self, voors_hook):
        with pytest.raises(AhgoraValidationError, match="start_date"):
            list(voors_hook.iter_goals("01/01/2022", "2022-08-31"))
        with pytest.raises(AhgoraConfigError, match="Unknown goals filter"):
            list(voors_hook.iter_goals("2022-01-01", "2022-08-31", team=1))
        assert len(responses.calls) == 0

    @responses.activate
    def test_update_goals(self, voors_hook):
        body = load_fixture("seeds", "voors", _fixture_name("goalsUpdate", "request"))
        responses.post(f"{VOORS_BASE}/goals/updateGoals", json={"status": "success"})
        voors_hook.update_goals(body["data"]["goalsAchieved"])
        assert _body(responses.calls[0]) == body

    @responses.activate
    def test_create_post(self, voors_hook):
        post = {"title": "Comunicado", "body": "<p>oi</p>", "type": "announcement"}
        responses.post(f"{VOORS_BASE}/posts", json={"status": "success"})
        voors_hook.create_post(post)
        assert _body(responses.calls[0]) == {"data": post}
        with pytest.raises(AhgoraValidationError, match="title"):
            voors_hook.create_post({"body": "x", "type": "announcement"})


class TestTestConnection:
    @responses.activate
    @pytest.mark.parametrize("status", [200, 404])
    def test_ok(self, voors_hook, status):
        responses.get(f"{VOORS_BASE}/departments/0", status=status, json={"message": "x"})
        ok, message = voors_hook.test_connection()
        assert ok, message
        assert "token accepted" in message

    @responses.activate
    def test_bad_token(self, voors_hook):
        responses.get(f"{VOORS_BASE}/departments/0", status=401, json={"message": "Unauthorized"})
        ok, message = voors_hook.test_connection()
        assert not ok
        assert "refused the API token" in message

    @responses.activate
    def test_unreachable(self, voors_hook):
        responses.get(f"{VOORS_BASE}/departments/0", body=requests.exceptions.ConnectionError("refused"))
        ok, message = voors_hook.test_connection()
        assert not ok
        assert "could not connect" in message

    def test_masked(self, monkeypatch):
        set_conn(monkeypatch, "voors_default", conn_type="voors", host=VOORS_BASE, password="***")
        ok, message = VoorsHook().test_connection()
        assert not ok
        assert "masked" in message


def test_every_registry_entry_is_reachable(voors_hook):
    for name, res in RESOURCES.items():
        assert voors_hook.resource(name) is res
        assert voors_hook.resource(res.path) is res


@responses.activate
def test_auth_error_not_retried(voors_hook):
    responses.get(f"{VOORS_BASE}/departments", status=401, json={"message": "Invalid token"})
    with pytest.raises(AhgoraAuthError):
        voors_hook.list("departments")
    assert len(responses.calls) == 1


def _fixture_name(resource: str, kind: str) -> str:
    from tests.conftest import FIXTURES

    names = sorted(p.name for p in (FIXTURES / "seeds" / "voors").glob(f"*_{resource}_*{kind}*.json"))
    assert names, f"no fixture for {resource} {kind}"
    return names[0]


HTML_404 = "<html><head><title>404 Not Found</title></head><body>nginx</body></html>"


class TestNotTheApi:
    """Voors' own 404 is a JSON object; a web server's page is never "absent" (class 7)."""

    @responses.activate
    @pytest.mark.parametrize(
        "kwargs",
        [
            {"body": HTML_404, "content_type": "text/html"},
            {"body": ""},
            {"body": "Cannot GET /x", "content_type": "text/plain"},
            {"json": ["not", "an", "object"]},
        ],
        ids=["html", "empty", "text", "array"],
    )
    def test_a_web_servers_404_is_a_wrong_endpoint(self, voors_hook, kwargs):
        responses.get(f"{VOORS_BASE}/jobRoles/9", status=404, **kwargs)
        responses.delete(f"{VOORS_BASE}/departments/3", status=404, **kwargs)
        with pytest.raises(AhgoraWrongEndpointError):
            voors_hook.get("jobRoles", 9)
        # the delete operator counts a NotFound as "already deleted": this must never be one
        with pytest.raises(AhgoraWrongEndpointError) as info:
            voors_hook.delete("departments", 3)
        assert not isinstance(info.value, AhgoraNotFoundError)
        assert len(responses.calls) == 2

    @responses.activate
    @pytest.mark.parametrize("body", [{"message": "Not found"}, {"status": "error", "code": "404"}, {}])
    def test_a_json_object_404_is_voors_not_found(self, voors_hook, body):
        responses.delete(f"{VOORS_BASE}/departments/3", status=404, json=body)
        with pytest.raises(AhgoraNotFoundError):
            voors_hook.delete("departments", 3)

    @responses.activate
    def test_a_gateways_5xx_page_stays_transient(self, voors_hook):
        responses.get(f"{VOORS_BASE}/departments", status=504, body="<html>Gateway Timeout</html>")
        responses.get(f"{VOORS_BASE}/departments", json={"data": {"department": []}})
        assert voors_hook.list("departments") == []
        assert len(responses.calls) == 2


class TestMalformedAnswers:
    @responses.activate
    @pytest.mark.parametrize(
        ("call", "url", "kwargs"),
        [
            (
                "list",
                "/departments",
                {"body": "<html><title>Sign in</title></html>", "content_type": "text/html"},
            ),
            ("list", "/departments", {"json": "text"}),
            ("list", "/departments", {"json": {"data": {"department": {"name": ["not", "text"]}}}}),
            ("get", "/departments/1", {"json": {"data": {}}}),
            ("goals", "/goals", {"json": [{"userId": {"a": 1}}]}),
        ],
        ids=["html-200", "json-string", "bad-record", "get-without-record", "bad-goal"],
    )
    def test_every_method_raises_malformed(self, voors_conn, call, url, kwargs):
        hook = VoorsHook(retry_limit=0)
        responses.get(f"{VOORS_BASE}{url}", **kwargs)
        run = {
            "list": lambda: hook.list("departments"),
            "get": lambda: hook.get("departments", 1),
            "goals": lambda: list(hook.iter_goals("2022-01-01", "2022-08-31")),
        }[call]
        with pytest.raises(AhgoraMalformedAnswerError) as info:
            run()
        assert f"GET {url}" in str(info.value)
        assert info.value.__cause__ is None

    @responses.activate
    def test_a_malformed_list_is_retried(self, voors_hook):
        responses.get(f"{VOORS_BASE}/departments", body="<html></html>", content_type="text/html")
        responses.get(f"{VOORS_BASE}/departments", json={"data": {"department": [{"id": 1, "name": "RH"}]}})
        assert [d.id for d in voors_hook.list("departments")] == [1]

    @responses.activate
    def test_a_malformed_create_is_not_repeated(self, voors_hook):
        responses.post(f"{VOORS_BASE}/departments", body="<html></html>", content_type="text/html")
        with pytest.raises(AhgoraMalformedAnswerError):
            voors_hook.upsert("departments", {"name": "Vendas"})
        assert len(responses.calls) == 1  # Voors may have created it


class TestGoalsPaging:
    """Paging stops at an empty page, not at the first short one (class 8)."""

    @staticmethod
    def _users(n: int) -> list[dict]:
        return [{"userId": i, "userFullName": f"User {i}"} for i in range(n)]

    @responses.activate
    def test_a_server_that_caps_limit_still_gives_every_user(self, voors_hook):
        everyone = self._users(230)

        def capped(request):
            skip = int(request.params["skip"])
            limit = min(int(request.params["limit"]), 50)  # the server caps limit at 50
            return 200, {}, json.dumps({"data": everyone[skip : skip + limit]})

        responses.add_callback(responses.GET, f"{VOORS_BASE}/goals", callback=capped)
        users = list(voors_hook.iter_goals("2022-01-01", "2022-08-31", page_size=100))
        assert [u.user_id for u in users] == list(range(230))
        assert [int(c.request.params["skip"]) for c in responses.calls] == [0, 50, 100, 150, 200, 230]

    @responses.activate
    def test_a_server_that_ignores_skip_stops_with_a_clear_error(self, voors_hook):
        page = self._users(50)
        responses.get(f"{VOORS_BASE}/goals", json={"data": page})  # the same page, whatever skip says
        seen = []
        users = voors_hook.iter_goals("2022-01-01", "2022-08-31", page_size=100)
        seen += [next(users).user_id for _ in range(50)]
        with pytest.raises(AhgoraAPIError, match="ignores skip") as info:
            next(users)
        assert seen == list(range(50))  # each user once, no loop
        assert len(responses.calls) == 2
        assert not isinstance(info.value, AhgoraTransientError)

    @responses.activate
    def test_an_empty_first_page_reads_once(self, voors_hook):
        responses.get(f"{VOORS_BASE}/goals", json=[])
        assert list(voors_hook.iter_goals("2022-01-01", "2022-08-31")) == []
        assert len(responses.calls) == 1


class TestConnectionTestIsStrict:
    @responses.activate
    @pytest.mark.parametrize(
        ("status", "kwargs", "says"),
        [
            (404, {"body": HTML_404, "content_type": "text/html"}, "is not the Voors API"),
            (404, {"body": ""}, "is not the Voors API"),
            (200, {"body": "<html><title>Portal</title></html>", "content_type": "text/html"}, "not as the"),
            (200, {"json": ["x"]}, "not a Voors answer"),
        ],
        ids=["404-html", "404-empty", "200-html", "200-array"],
    )
    def test_a_host_that_is_not_voors_fails(self, voors_hook, status, kwargs, says):
        responses.get(f"{VOORS_BASE}/departments/0", status=status, **kwargs)
        ok, message = voors_hook.test_connection()
        assert not ok
        assert says in message
        assert len(responses.calls) == 1

    def test_no_host_names_the_field_not_the_temporary_id(self, monkeypatch):
        set_conn(monkeypatch, "phjWoC89", conn_type="voors", password="a-token")
        ok, message = VoorsHook("phjWoC89").test_connection()
        assert not ok
        assert "phjWoC89" not in message
        assert "has no host" in message
        assert "API base URL (Host) field" in message  # as the Voors form labels it

    def test_outside_a_test_the_id_is_named(self, monkeypatch):
        set_conn(monkeypatch, "my_voors", conn_type="voors", password="a-token")
        with pytest.raises(AhgoraConfigError, match="Connection 'my_voors' has no host"):
            VoorsHook("my_voors").get_conn()

    def test_an_unreachable_host_fails_once_and_fast(self, monkeypatch):
        import socket
        import time

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        set_conn(
            monkeypatch, "voors_default", conn_type="voors", host=f"http://127.0.0.1:{port}", password="tok-x"
        )
        hook = VoorsHook()  # default retries: the test must not use them
        slept: list[float] = []
        hook.sleep = slept.append
        t0 = time.monotonic()
        ok, message = hook.test_connection()
        assert time.monotonic() - t0 < 3
        assert not ok
        assert slept == []
        assert f"Could not reach Voors at http://127.0.0.1:{port}" in message
        assert "retried with backoff" not in message
        assert "API base URL (Host) field" in message

    def test_a_silent_host_fails_within_the_test_deadline(self, monkeypatch, fake_server):
        import time

        from airflow_provider_ahgora.hooks import _base

        server = fake_server(lambda h: h.hold(10))
        monkeypatch.setattr(_base, "TEST_TIMEOUT", 1.0)
        set_conn(monkeypatch, "voors_default", conn_type="voors", host=server.url, password="tok-x")
        t0 = time.monotonic()
        ok, message = VoorsHook().test_connection()  # connection timeout 60 s: the test caps it
        assert time.monotonic() - t0 < 4
        assert not ok
        assert "1 s deadline" in message
        assert len(server.requests) == 1


class TestOutcomeInTheBody:
    """Voors repeats the outcome in the body ("status": "success", "code": "201"): a 200 whose body
    says it failed is that failure, never a delivered record (a review found it counted as one)."""

    USER = {"cpf": CPF, "name": "Ana", "email": "ana@example.com"}

    @responses.activate
    @pytest.mark.parametrize(
        ("body", "error"),
        [
            (
                {"status": "error", "code": "400", "message": "CPF inválido", "data": None},
                AhgoraBadRequestError,
            ),
            ({"status": "ERROR", "code": 404, "message": "Not found"}, AhgoraNotFoundError),
            ({"status": "fail", "message": "refused"}, AhgoraBadRequestError),  # no code: a refusal
            ({"code": "401", "message": "Invalid token"}, AhgoraAuthError),  # no status word
        ],
        ids=["error-400", "upper-404", "fail-no-code", "code-only-401"],
    )
    def test_a_200_saying_it_failed_is_that_failure(self, voors_hook, body, error):
        responses.post(f"{VOORS_BASE}/users", status=200, json=body)
        with pytest.raises(error) as caught:
            voors_hook.upsert("users", self.USER)
        assert len(responses.calls) == 1  # a refusal is not repeated
        if "message" in body:
            assert body["message"] in str(caught.value)

    @responses.activate
    def test_a_server_error_in_the_body_of_a_create_is_not_repeated(self, voors_hook):
        responses.post(f"{VOORS_BASE}/departments", status=200, json={"status": "error", "code": "500"})
        with pytest.raises(AhgoraServerError) as caught:
            voors_hook.upsert("departments", {"name": "Financeiro"})
        assert caught.value.may_have_been_processed
        assert len(responses.calls) == 1  # a create is repeated only when surely not processed

    @responses.activate
    @pytest.mark.parametrize(
        "body",
        [{"status": "success", "code": "400"}, {"status": "error", "code": "201"}],
        ids=["success-with-400", "error-with-201"],
    )
    def test_a_body_that_contradicts_itself_is_an_unknown_outcome(self, voors_hook, body):
        responses.post(f"{VOORS_BASE}/departments", status=200, json=body)
        with pytest.raises(AhgoraMalformedAnswerError, match="contradicts itself") as caught:
            voors_hook.upsert("departments", {"name": "Financeiro"})
        assert caught.value.may_have_been_processed
        assert len(responses.calls) == 1

    @responses.activate
    @pytest.mark.parametrize("code", ["200", 201, "", None, "abc", 7001])
    def test_success_and_codes_that_are_not_http_statuses_pass(self, voors_hook, code):
        body = {"status": "success", "code": code, "data": {"department": {"id": 5, "name": "Financeiro"}}}
        responses.post(f"{VOORS_BASE}/departments", status=200, json=body)
        assert voors_hook.upsert("departments", {"name": "Financeiro"}) is not None

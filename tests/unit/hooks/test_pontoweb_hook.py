"""Wire format of PontoWebHook, with `responses` standing in for the API."""

from __future__ import annotations

import base64
import codecs
import json

import pytest
import requests
import responses
from responses import matchers

from airflow_provider_ahgora import __version__
from airflow_provider_ahgora.exceptions import (
    AhgoraAuthError,
    AhgoraBadRequestError,
    AhgoraConfigError,
    AhgoraConnectionError,
    AhgoraDailyLimitError,
    AhgoraExpiredError,
    AhgoraMalformedAnswerError,
    AhgoraNotFoundError,
    AhgoraPermissionError,
    AhgoraRateLimitError,
    AhgoraReadInterruptedError,
    AhgoraRedirectError,
    AhgoraServerError,
    AhgoraTransientError,
    AhgoraValidationError,
    AhgoraWrongEndpointError,
)
from airflow_provider_ahgora.hooks.pontoweb import MAX_PUSH_BYTES, PROBE_PROCESS, PontoWebHook
from tests.conftest import PONTOWEB_BASE, PONTOWEB_PASSWORD, SleepRecorder, load_fixture, set_conn
from tests.unit.hooks.conftest import json_answer, point_pontoweb_at

STATUS_URL = f"{PONTOWEB_BASE}/reckons/process/status"
STATUS_BODY = {"status": "processing", "progress": {"done": 3, "total": 10}}
START_BODY = {"rescission": False, "month": "04", "year": "2025", "features": ["monthly"]}


def _page(unique: str, records: list[dict], total: int) -> dict:
    return {"company": "a133595", "unique": unique, "total": total, "data": records}


def _record(i: int) -> dict:
    return {
        "employee": f"E{i:05d}",
        "paymentDate": "2025-04-30",
        "infotype": "0015",
        "results": [{"name": "Horas previstas", "event": "9077", "value": "71:20", "type": "hours"}],
    }


class TestConstruction:
    def test_construct_does_no_lookup(self, monkeypatch):
        from airflow.providers.common.compat.sdk import BaseHook

        def boom(*_a, **_k):
            raise AssertionError("connection looked up at construction")

        monkeypatch.setattr(BaseHook, "get_connection", classmethod(boom))
        hook = PontoWebHook("anything")
        assert hook.pontoweb_conn_id == "anything"
        assert "anything" in repr(hook)

    def test_defaults(self, monkeypatch):
        set_conn(monkeypatch, "pontoweb_default", conn_type="pontoweb", login="u", password="p")
        s = PontoWebHook().settings
        assert s.base_url == "https://api.ahgora.com.br"
        assert s.timeout == 60
        assert s.headers["Accept-Version"] == "v2"
        assert s.headers["User-Agent"] == f"airflow-provider-ahgora/{__version__}"

    def test_uri_form(self, monkeypatch):
        monkeypatch.setenv(
            "AIRFLOW_CONN_PW_URI",
            "pontoweb://svc%40corp:p%40ss@api.ahgora.com.br?accept_version=v1&timeout=15&company=a000101",
        )
        hook = PontoWebHook("pw_uri")
        s = hook.settings
        assert s.base_url == "https://api.ahgora.com.br"
        assert s.auth == ("svc@corp", "p@ss")
        assert s.headers["Accept-Version"] == "v1"
        assert s.timeout == 15
        assert hook.company == "a000101"

    @pytest.mark.parametrize(
        ("host", "expected"),
        [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://localhost:1/", "http://localhost:1"),
            ("http://[::1]:9000", "http://[::1]:9000"),
            ("https://api.example.com/base/", "https://api.example.com/base"),
            ("api.example.com", "https://api.example.com"),
        ],
    )
    def test_hosts(self, monkeypatch, host, expected):
        set_conn(monkeypatch, "pontoweb_default", conn_type="pontoweb", host=host, login="u", password="p")
        assert PontoWebHook().settings.base_url == expected

    @pytest.mark.parametrize("host", ["http://api.ahgora.com.br", "http://10.0.0.5:80", "ftp://x.example"])
    def test_plain_http_off_loopback_refused(self, monkeypatch, host):
        set_conn(monkeypatch, "pontoweb_default", conn_type="pontoweb", host=host, login="u", password="p")
        with pytest.raises(AhgoraConfigError, match="http"):
            PontoWebHook().get_conn()

    @pytest.mark.parametrize(
        ("extra", "match"),
        [
            ({"accept_version": "v3"}, "accept_version"),
            ({"timeout": "soon"}, "timeout"),
            ({"timeout": 0}, "timeout"),
        ],
    )
    def test_bad_extras(self, monkeypatch, extra, match):
        set_conn(monkeypatch, "pontoweb_default", conn_type="pontoweb", login="u", password="p", extra=extra)
        with pytest.raises(AhgoraConfigError, match=match):
            PontoWebHook().get_conn()

    def test_missing_credentials(self, monkeypatch):
        set_conn(monkeypatch, "pontoweb_default", conn_type="pontoweb", login="u")
        with pytest.raises(AhgoraConfigError, match="login and password"):
            PontoWebHook().get_conn()

    def test_one_session_per_hook(self, pontoweb_hook):
        assert pontoweb_hook.get_conn() is pontoweb_hook.get_conn()


class TestWire:
    @responses.activate
    def test_headers_auth_timeout(self, pontoweb_hook, monkeypatch):
        seen = {}
        original = requests.Session.send

        def spy(self, request, **kwargs):
            seen["timeout"] = kwargs.get("timeout")
            return original(self, request, **kwargs)

        monkeypatch.setattr(requests.Session, "send", spy)
        responses.get(
            f"{STATUS_URL}/p-1",
            json=load_fixture("seeds", "pontoweb", "001_reckon-status_response_done.json"),
        )
        status = pontoweb_hook.get_reckon_status("p-1")
        assert status.status == "done"
        req = responses.calls[0].request
        expected_auth = "Basic " + base64.b64encode(f"svc-user:{PONTOWEB_PASSWORD}".encode()).decode()
        assert req.headers["Authorization"] == expected_auth
        assert req.headers["Accept-Version"] == "v2"
        assert req.headers["User-Agent"] == f"airflow-provider-ahgora/{__version__}"
        assert seen["timeout"] == (7, 7)  # connect, each read; the deadline bounds the whole call
        assert PONTOWEB_PASSWORD not in req.url

    @responses.activate
    def test_cookies_are_kept_as_requests_does_and_redirects_are_answers(self, pontoweb_hook):
        """The hook prepares its requests itself (not through ``Session.request``): a cookie the server
        sets is sent back as ``requests`` does; a redirect is an answer, never followed
        (``AhgoraRedirectError``, see test_hostile_wire.py)."""
        done = load_fixture("seeds", "pontoweb", "001_reckon-status_response_done.json")
        responses.get(
            f"{STATUS_URL}/p-1",
            status=307,
            headers={"Location": f"{STATUS_URL}/p-2", "Set-Cookie": "node=b7; Path=/"},
        )
        responses.get(f"{STATUS_URL}/p-2", json=done)
        responses.get(f"{STATUS_URL}/p-3", json=done)
        with pytest.raises(AhgoraRedirectError, match="/p-2"):
            pontoweb_hook.get_reckon_status("p-1")
        assert pontoweb_hook.get_reckon_status("p-3").status == "done"
        first, later = (c.request for c in responses.calls)
        assert later.url == f"{STATUS_URL}/p-3"
        assert later.headers["Cookie"] == "node=b7"
        assert "Cookie" not in first.headers

    @responses.activate
    def test_start_reckon_body(self, pontoweb_hook):
        responses.post(
            f"{PONTOWEB_BASE}/reckons/process/start",
            json=load_fixture("seeds", "pontoweb", "001_reckon-start_response_200.json"),
            match=[matchers.json_params_matcher({**START_BODY, "registers": ["98a159Q"]})],
        )
        answer = pontoweb_hook.start_reckon({**START_BODY, "registers": ["98a159Q"]})
        assert answer.process == "6b28ff7e-dda5-415c-b5b4-ff776f92142b"
        assert responses.calls[0].request.headers["Content-Type"] == "application/json"

    @responses.activate
    def test_start_reckon_always_sends_rescission(self, pontoweb_hook):
        responses.post(f"{PONTOWEB_BASE}/reckons/process/start", json={"process": "p", "company": "c"})
        pontoweb_hook.start_reckon({"month": "04", "year": "2025"})
        body = json.loads(responses.calls[0].request.body)
        assert body["rescission"] is False

    @responses.activate
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({**START_BODY, "month": "13"}, "month"),
            ({**START_BODY, "rescission": True}, "registers"),
            ({**START_BODY, "features": ["weekly"]}, "features"),
            ({**START_BODY, "paymentDate": "30/04/2025"}, "paymentDate"),
        ],
    )
    def test_start_reckon_invalid_sends_nothing(self, pontoweb_hook, body, field):
        with pytest.raises(AhgoraValidationError) as info:
            pontoweb_hook.start_reckon(body)
        assert field in str(info.value)
        assert "nothing was sent" in str(info.value)
        assert len(responses.calls) == 0

    @responses.activate
    def test_status_quotes_the_process_id(self, pontoweb_hook):
        responses.get(
            f"{STATUS_URL}/a%2Fb%3Fc", json={"status": "processing", "progress": {"done": 0, "total": 0}}
        )
        assert pontoweb_hook.get_reckon_status("a/b?c").status == "processing"

    @responses.activate
    def test_results_pages_until_empty(self, pontoweb_hook):
        url = f"{PONTOWEB_BASE}/reckons/u1"
        records = [_record(i) for i in range(5)]
        for chunk in (records[:2], records[2:4], records[4:], []):
            responses.get(
                url, json=_page("u1", chunk, 5), match=[matchers.query_param_matcher({"limit": "2"})]
            )
        pages = list(pontoweb_hook.iter_reckon_results("u1", page_size=2))
        assert [len(p.data) for p in pages] == [2, 2, 1]
        assert [r.employee for p in pages for r in p.data] == [r["employee"] for r in records]
        assert len(responses.calls) == 4

    @pytest.mark.parametrize("size", [0, 1001, "10"])
    def test_results_page_size_bounds(self, pontoweb_hook, size):
        with pytest.raises(AhgoraConfigError, match="page_size"):
            next(pontoweb_hook.iter_reckon_results("u1", page_size=size))

    @responses.activate
    @pytest.mark.parametrize(
        "failure",
        [
            {"status": 502, "body": "bad gateway"},
            {"body": requests.exceptions.ConnectionError("Connection reset by peer")},
            {"body": requests.exceptions.ReadTimeout("read timed out")},
            {"status": 200, "body": '{"company": "a", "unique": "u1", "data": [{"employ'},
        ],
    )
    def test_results_read_failure_is_not_retried(self, pontoweb_hook, failure):
        url = f"{PONTOWEB_BASE}/reckons/u1"
        responses.get(url, json=_page("u1", [_record(0)], 3))
        responses.get(url, **failure)
        responses.get(url, json=_page("u1", [_record(2)], 3))  # would be the NEXT page: must not be read
        pages = pontoweb_hook.iter_reckon_results("u1", page_size=1)
        assert next(pages).data[0].employee == "E00000"
        with pytest.raises(AhgoraReadInterruptedError) as info:
            next(pages)
        assert info.value.pages_read == 1
        assert info.value.records_read == 1
        assert "reconsume" in str(info.value)
        assert len(responses.calls) == 2
        assert pontoweb_hook.sleep.calls == []

    @responses.activate
    def test_results_read_retried_when_nothing_was_consumed(self, pontoweb_hook):
        url = f"{PONTOWEB_BASE}/reckons/u1"
        responses.get(url, status=429, json={"error": "Too many requests"}, headers={"Retry-After": "2"})
        responses.get(url, json=_page("u1", [_record(0)], 1))
        responses.get(url, json=_page("u1", [], 1))
        pages = list(pontoweb_hook.iter_reckon_results("u1"))
        assert len(pages) == 1
        assert pontoweb_hook.sleep.calls == [2.0]

    @responses.activate
    def test_results_expired(self, pontoweb_hook):
        responses.get(f"{PONTOWEB_BASE}/reckons/old", status=410, json={"error": "Data expired"})
        with pytest.raises(AhgoraExpiredError, match="start a new reckon"):
            list(pontoweb_hook.iter_reckon_results("old"))

    @responses.activate
    def test_reconsume(self, pontoweb_hook):
        responses.get(
            f"{PONTOWEB_BASE}/reckons/reconsume/3234ca5d",
            json=load_fixture("seeds", "pontoweb", "001_reckon-reconsume_response_200.json"),
        )
        assert pontoweb_hook.reconsume("3234ca5d").unique == "3234ca5d"

    @responses.activate
    def test_push_costcenters(self, pontoweb_hook):
        records = load_fixture("seeds", "pontoweb", "002_costcenter_request_batch.json")
        responses.post(
            f"{PONTOWEB_BASE}/costcenter",
            json=load_fixture("seeds", "pontoweb", "002_costcenter_response_200.json"),
            match=[matchers.json_params_matcher(records)],
        )
        ticket = pontoweb_hook.push("costcenter", records)
        assert ticket.unique == "bd751350"

    @responses.activate
    def test_push_invalid_record_sends_nothing(self, pontoweb_hook):
        with pytest.raises(AhgoraValidationError) as info:
            pontoweb_hook.push("costcenter", [{"codigo": "1", "nome": "RH"}, {"codigo": "2"}])
        assert "record 1" in str(info.value)
        assert "nome" in str(info.value)
        assert len(responses.calls) == 0

    @responses.activate
    def test_push_limits(self, pontoweb_hook):
        with pytest.raises(AhgoraConfigError, match="at most 1000"):
            pontoweb_hook.push("costcenter", [{"codigo": str(i), "nome": "x"} for i in range(1001)])
        big = [{"codigo": str(i), "nome": "x" * 2000} for i in range(600)]  # ~1.2 MB
        with pytest.raises(AhgoraConfigError, match="bytes"):
            pontoweb_hook.push("costcenter", big)
        with pytest.raises(AhgoraConfigError, match="array"):
            pontoweb_hook.push("costcenter", {"codigo": "1", "nome": "x"})
        with pytest.raises(AhgoraConfigError, match="Unknown PontoWeb push resource"):
            pontoweb_hook.push("costcentre", [{"codigo": "1", "nome": "x"}])
        assert len(responses.calls) == 0

    @responses.activate
    def test_push_exact_byte_limit_is_measured_on_the_body(self, pontoweb_hook):
        from airflow_provider_ahgora.hooks.pontoweb import serialize_records

        # one record whose body is exactly 1 MiB passes, one byte more does not
        base = serialize_records([{"codigo": "1", "nome": ""}])
        name = "é" * ((MAX_PUSH_BYTES - len(base)) // 2) + "a" * ((MAX_PUSH_BYTES - len(base)) % 2)
        records = [{"codigo": "1", "nome": name}]
        assert len(serialize_records(records)) == MAX_PUSH_BYTES
        responses.post(f"{PONTOWEB_BASE}/costcenter", json={"company": "a", "unique": "u", "message": "ok"})
        pontoweb_hook.push("costcenter", records)
        assert len(responses.calls[0].request.body) == MAX_PUSH_BYTES
        with pytest.raises(AhgoraConfigError, match="bytes"):
            pontoweb_hook.push("costcenter", [{"codigo": "1", "nome": name + "a"}])

    @responses.activate
    def test_push_custom_path_passes_through(self, pontoweb_hook):
        responses.post(f"{PONTOWEB_BASE}/v2/custom", json={"company": "a", "unique": "u", "subunique": "s"})
        ticket = pontoweb_hook.push("/v2/custom", [{"anything": 1}])
        assert ticket.subunique == "s"
        assert json.loads(responses.calls[0].request.body) == [{"anything": 1}]

    @responses.activate
    def test_get_process_by_subunique_forces_v2(self, monkeypatch):
        set_conn(
            monkeypatch,
            "pontoweb_v1",
            conn_type="pontoweb",
            host=PONTOWEB_BASE,
            login="u",
            password="p",
            extra={"accept_version": "v1"},
        )
        hook = PontoWebHook("pontoweb_v1")
        body = load_fixture("seeds", "pontoweb", "000_process_response_people-errors.json")
        responses.get(
            f"{PONTOWEB_BASE}/process", json=body, match=[matchers.query_param_matcher({"subunique": "99"})]
        )
        status = hook.get_process(subunique="99")
        assert responses.calls[0].request.headers["Accept-Version"] == "v2"
        assert status.status == body["status"]

    @responses.activate
    def test_get_process_by_unique(self, pontoweb_hook):
        responses.get(
            f"{PONTOWEB_BASE}/process",
            json={"company": "a", "unique": "u", "status": "done", "progress": {"done": "2", "total": "2"}},
            match=[matchers.query_param_matcher({"unique": "u"})],
        )
        assert pontoweb_hook.get_process(unique="u").is_finished
        with pytest.raises(AhgoraConfigError, match="subunique or a unique"):
            pontoweb_hook.get_process()

    @responses.activate
    def test_company_mismatch_is_refused(self, monkeypatch):
        set_conn(
            monkeypatch,
            "pontoweb_default",
            conn_type="pontoweb",
            host=PONTOWEB_BASE,
            login="u",
            password="p",
            extra={"company": "a000101"},
        )
        responses.get(f"{STATUS_URL}/p", json={"status": "done", "company": "a999999", "progress": {}})
        with pytest.raises(AhgoraConfigError, match="a999999"):
            PontoWebHook(retry_limit=0).get_reckon_status("p")

    @responses.activate
    def test_company_match_passes(self, monkeypatch):
        set_conn(
            monkeypatch,
            "pontoweb_default",
            conn_type="pontoweb",
            host=PONTOWEB_BASE,
            login="u",
            password="p",
            extra={"company": "a133595"},
        )
        responses.get(
            f"{STATUS_URL}/p", json=load_fixture("seeds", "pontoweb", "001_reckon-status_response_done.json")
        )
        assert PontoWebHook().get_reckon_status("p").company == "a133595"


class TestErrors:
    @responses.activate
    @pytest.mark.parametrize(
        ("fixture", "status", "exc", "message"),
        [
            ("001_reckon-status_error_400-v1.json", 400, AhgoraNotFoundError, "Process not found"),
            ("001_reckon-status_error_400-v2.json", 400, AhgoraNotFoundError, "Process not found"),
            ("001_reckon-status_error_401.json", 401, AhgoraAuthError, "Unauthorized"),
            ("001_reckon-status_error_403.json", 403, AhgoraPermissionError, "Forbidden"),
            ("001_reckon-start_error_400-v2.json", 400, AhgoraBadRequestError, '"rescission" is required'),
            ("002_costcenter_error_400.json", 400, AhgoraBadRequestError, "Request format must be an Array"),
            ("002_costcenter_error_401.json", 401, AhgoraAuthError, "Unauthorized"),
            ("001_reckon-reconsume_error_429-v1.json", 429, AhgoraDailyLimitError, "daily limit of 3"),
            ("001_reckon-reconsume_error_429-v2.json", 429, AhgoraDailyLimitError, "daily limit of 3"),
        ],
    )
    def test_every_seed_error_shape(self, pontoweb_hook, fixture, status, exc, message):
        responses.get(f"{STATUS_URL}/p", status=status, json=load_fixture("seeds", "pontoweb", fixture))
        with pytest.raises(exc) as info:
            pontoweb_hook.get_reckon_status("p")
        assert info.value.http_status == status
        assert message in info.value.api_message
        assert len(responses.calls) == 1  # none of these is retried
        assert pontoweb_hook.sleep.calls == []

    @responses.activate
    def test_daily_limit_names_features_and_when_it_clears(self, pontoweb_hook):
        responses.post(
            f"{PONTOWEB_BASE}/reckons/process/start",
            status=429,
            json=load_fixture("seeds", "pontoweb", "001_reckon-reconsume_error_429-v2.json"),
        )
        with pytest.raises(AhgoraDailyLimitError) as info:
            pontoweb_hook.start_reckon(START_BODY)
        err = info.value
        assert err.features == ["daily.punches", "daily.totals", "monthly"]
        assert "will not help" in str(err)
        assert err.clears_at.hour == 0
        assert len(responses.calls) == 1

    @responses.activate
    def test_non_json_400_is_not_the_apis_verdict(self, pontoweb_hook):
        # a 400 page of a web server in front of the wrong path: not PontoWeb refusing the request
        responses.get(f"{STATUS_URL}/p", status=400, body="<html>Bad things</html>")
        with pytest.raises(AhgoraWrongEndpointError, match="Bad things") as info:
            pontoweb_hook.get_reckon_status("p")
        assert not isinstance(info.value, AhgoraBadRequestError)
        assert len(responses.calls) == 1


class TestRetries:
    @responses.activate
    def test_5xx_then_success(self, pontoweb_hook):
        url = f"{STATUS_URL}/p"
        responses.get(url, status=503, json={"error": "busy"})
        responses.get(url, status=500, body="oops")
        responses.get(url, json={"status": "done", "progress": {"done": 1, "total": 1}})
        assert pontoweb_hook.get_reckon_status("p").is_done
        assert len(responses.calls) == 3
        delays = pontoweb_hook.sleep.calls
        assert len(delays) == 2
        # exponential with jitter: attempt n waits within [d*2^(n-1)/2, d*2^(n-1)]
        assert 0.25 <= delays[0] <= 0.5
        assert 0.5 <= delays[1] <= 1.0

    @responses.activate
    def test_gives_up_after_retry_limit(self, pontoweb_hook):
        responses.get(f"{STATUS_URL}/p", status=502, body="bad gateway")
        with pytest.raises(AhgoraServerError, match="502"):
            pontoweb_hook.get_reckon_status("p")
        assert len(responses.calls) == 4  # 1 + retry_limit (3)

    @responses.activate
    def test_retry_limit_zero(self, pontoweb_conn):
        hook = PontoWebHook(retry_limit=0)
        hook.sleep = SleepRecorder()
        responses.get(f"{STATUS_URL}/p", status=503)
        with pytest.raises(AhgoraServerError):
            hook.get_reckon_status("p")
        assert len(responses.calls) == 1

    @responses.activate
    def test_backoff_is_capped(self, pontoweb_conn):
        hook = PontoWebHook(retry_limit=6, retry_delay=1, retry_max_delay=3)
        hook.sleep = SleepRecorder()
        responses.get(f"{STATUS_URL}/p", status=503)
        with pytest.raises(AhgoraServerError):
            hook.get_reckon_status("p")
        assert max(hook.sleep.calls) <= 3
        assert len(hook.sleep.calls) == 6

    @responses.activate
    def test_429_honours_retry_after(self, pontoweb_hook):
        url = f"{STATUS_URL}/p"
        responses.get(url, status=429, json={"error": "slow down"}, headers={"Retry-After": "4"})
        responses.get(url, json={"status": "done", "progress": {"done": 1, "total": 1}})
        pontoweb_hook.get_reckon_status("p")
        assert pontoweb_hook.sleep.calls == [4.0]

    @responses.activate
    def test_retry_after_is_capped(self, pontoweb_hook):
        url = f"{STATUS_URL}/p"
        responses.get(url, status=429, json={"error": "slow down"}, headers={"Retry-After": "3600"})
        responses.get(url, json={"status": "done", "progress": {"done": 1, "total": 1}})
        pontoweb_hook.get_reckon_status("p")
        assert pontoweb_hook.sleep.calls == [10.0]

    @responses.activate
    def test_429_without_retry_after_is_rate_limit(self, pontoweb_hook):
        responses.get(f"{STATUS_URL}/p", status=429, json={"error": "Too many requests"})
        with pytest.raises(AhgoraRateLimitError):
            pontoweb_hook.get_reckon_status("p")
        assert len(responses.calls) == 4

    @responses.activate
    def test_connection_errors_and_timeouts_retried(self, pontoweb_hook):
        url = f"{STATUS_URL}/p"
        responses.get(url, body=requests.exceptions.ConnectionError("Connection reset by peer"))
        responses.get(url, body=requests.exceptions.ReadTimeout("timed out"))
        responses.get(url, body=requests.exceptions.ConnectTimeout("connect timed out"))
        responses.get(url, json={"status": "done", "progress": {"done": 1, "total": 1}})
        assert pontoweb_hook.get_reckon_status("p").is_done
        assert len(responses.calls) == 4

    @responses.activate
    def test_connection_error_exhausted(self, pontoweb_hook):
        responses.get(f"{STATUS_URL}/p", body=requests.exceptions.ConnectionError("refused"))
        with pytest.raises(AhgoraConnectionError, match="could not connect"):
            pontoweb_hook.get_reckon_status("p")

    @responses.activate
    @pytest.mark.parametrize("status", [400, 401, 403])
    def test_client_errors_not_retried(self, pontoweb_hook, status):
        responses.get(f"{STATUS_URL}/p", status=status, json={"error": "nope"})
        with pytest.raises(Exception):
            pontoweb_hook.get_reckon_status("p")
        assert len(responses.calls) == 1

    @responses.activate
    def test_start_reckon_not_repeated_after_5xx(self, pontoweb_hook):
        responses.post(f"{PONTOWEB_BASE}/reckons/process/start", status=502, body="bad gateway")
        with pytest.raises(AhgoraServerError):
            pontoweb_hook.start_reckon(START_BODY)
        assert len(responses.calls) == 1

    @responses.activate
    def test_start_reckon_repeated_when_refused(self, pontoweb_hook):
        url = f"{PONTOWEB_BASE}/reckons/process/start"
        responses.post(url, status=429, json={"error": "Too many requests"})
        responses.post(url, json={"process": "p", "company": "c"})
        assert pontoweb_hook.start_reckon(START_BODY).process == "p"
        assert len(responses.calls) == 2

    @responses.activate
    def test_push_retried_on_5xx(self, pontoweb_hook):
        url = f"{PONTOWEB_BASE}/costcenter"
        responses.post(url, status=503)
        responses.post(url, json={"company": "a", "unique": "u"})
        assert pontoweb_hook.push("costcenter", [{"codigo": "1", "nome": "x"}]).unique == "u"
        assert len(responses.calls) == 2
        assert responses.calls[0].request.body == responses.calls[1].request.body


class TestAsync:
    """The async path on real sockets (it does not go through ``requests``, which ``responses``
    patches); test_async_wire.py checks that every answer reads the same on both paths."""

    async def test_aget_reckon_status_retries(self, fake_server, monkeypatch):
        import asyncio

        slept: list[float] = []

        async def fake_sleep(seconds):
            slept.append(seconds)

        answers = [json_answer(503, {"error": "busy"}), json_answer(200, STATUS_BODY)]
        server = fake_server(lambda handler: answers.pop(0)(handler))
        point_pontoweb_at(monkeypatch, server.url)
        monkeypatch.setattr(asyncio, "sleep", fake_sleep)
        hook = PontoWebHook(retry_limit=2, retry_delay=0.5)
        try:
            status = await hook.aget_reckon_status("p")
        finally:
            await hook.aclose()
        assert status.status == "processing"
        assert len(slept) == 1
        assert len(server.requests) == 2

    async def test_aget_process(self, fake_server, monkeypatch):
        server = fake_server(
            json_answer(
                200,
                {
                    "company": "a",
                    "unique": "u",
                    "subunique": "s",
                    "status": "warning",
                    "progress": {"done": "2", "total": "2"},
                    "data": {"errors": [{"identifier": "123", "message": "bad"}]},
                },
            )
        )
        point_pontoweb_at(monkeypatch, server.url)
        hook = PontoWebHook()
        try:
            status = await hook.aget_process(subunique="s")
        finally:
            await hook.aclose()
        assert status.is_finished
        assert status.errors[0].identifier == "123"
        assert server.requests[0][1] == "/process?subunique=s"


class TestTestConnection:
    @responses.activate
    def test_ok_on_process_not_found(self, pontoweb_hook):
        responses.get(f"{STATUS_URL}/{PROBE_PROCESS}", status=400, json={"error": "Process not found"})
        ok, message = pontoweb_hook.test_connection()
        assert ok, message
        assert "credentials accepted" in message

    @responses.activate
    def test_bad_credentials(self, pontoweb_hook):
        responses.get(
            f"{STATUS_URL}/{PROBE_PROCESS}",
            status=401,
            json={"error": {"code": 401, "message": "Unauthorized"}},
        )
        ok, message = pontoweb_hook.test_connection()
        assert not ok
        assert "refused the credentials" in message

    @responses.activate
    def test_forbidden(self, pontoweb_hook):
        responses.get(
            f"{STATUS_URL}/{PROBE_PROCESS}", status=403, json={"error": {"code": 403, "message": "Forbidden"}}
        )
        ok, message = pontoweb_hook.test_connection()
        assert not ok
        assert "permission" in message

    def test_masked_password(self, monkeypatch):
        set_conn(
            monkeypatch,
            "pontoweb_default",
            conn_type="pontoweb",
            host=PONTOWEB_BASE,
            login="u",
            password="***",
        )
        ok, message = PontoWebHook().test_connection()
        assert not ok
        assert "masked" in message

    def test_config_error_reported(self, monkeypatch):
        set_conn(
            monkeypatch,
            "pontoweb_default",
            conn_type="pontoweb",
            host="http://example.com",
            login="u",
            password="p",
        )
        ok, message = PontoWebHook().test_connection()
        assert not ok
        assert "http" in message


HTML_404 = "<html><head><title>404 Not Found</title></head><body><center>nginx</center></body></html>"


class TestNotTheApi:
    """Only PontoWeb's own error answer is its verdict (class 7): a web server's page is not "absent"."""

    @responses.activate
    @pytest.mark.parametrize(
        ("status", "kwargs"),
        [
            (404, {"body": HTML_404, "content_type": "text/html"}),
            (404, {"body": ""}),
            (404, {"body": "Not Found", "content_type": "text/plain"}),
            (404, {"json": {"detail": "Not Found"}}),  # JSON, but not an error of PontoWeb's shapes
            (404, {"json": ["not", "an", "object"]}),
            (405, {"body": "<html><title>405 Not Allowed</title></html>", "content_type": "text/html"}),
            (400, {"body": "<html><title>400 Bad Request</title></html>", "content_type": "text/html"}),
            (410, {"body": "<html><title>410 Gone</title></html>", "content_type": "text/html"}),
        ],
        ids=["404-html", "404-empty", "404-text", "404-foreign-json", "404-array", "405", "400-html", "410"],
    )
    def test_a_web_servers_page_is_a_wrong_endpoint(self, pontoweb_hook, status, kwargs):
        responses.get(f"{STATUS_URL}/p", status=status, **kwargs)
        with pytest.raises(AhgoraWrongEndpointError) as info:
            pontoweb_hook.get_reckon_status("p")
        err = info.value
        assert not isinstance(err, AhgoraBadRequestError | AhgoraExpiredError)  # never "absent"
        assert err.http_status == status
        assert "not the API's JSON error" in err.api_message
        assert "host and base URL" in str(err)
        assert len(responses.calls) == 1  # not retried: it will not change

    @responses.activate
    def test_the_page_is_described_by_its_title(self, pontoweb_hook):
        responses.get(f"{STATUS_URL}/p", status=404, body=HTML_404, content_type="text/html")
        with pytest.raises(AhgoraWrongEndpointError, match="HTML page titled '404 Not Found'"):
            pontoweb_hook.get_reckon_status("p")

    @responses.activate
    @pytest.mark.parametrize(
        "body",
        [
            {"error": {"message": "Process not found", "code": 404}},
            {"error": "Process not found"},
            {"message": "Not found", "code": 404},
        ],
    )
    def test_the_apis_own_404_is_not_found(self, pontoweb_hook, body):
        responses.get(f"{STATUS_URL}/p", status=404, json=body)
        with pytest.raises(AhgoraNotFoundError):
            pontoweb_hook.get_reckon_status("p")

    @responses.activate
    def test_a_gateways_5xx_page_stays_transient(self, pontoweb_hook):
        url = f"{STATUS_URL}/p"
        responses.get(
            url, status=502, body="<html><title>502 Bad Gateway</title></html>", content_type="text/html"
        )
        responses.get(url, json={"status": "done", "progress": {"done": 1, "total": 1}})
        assert pontoweb_hook.get_reckon_status("p").is_done
        assert len(responses.calls) == 2

    @responses.activate
    def test_a_results_read_on_the_wrong_host_is_not_the_end_of_the_results(self, pontoweb_hook):
        responses.get(f"{PONTOWEB_BASE}/reckons/u1", status=404, body=HTML_404, content_type="text/html")
        with pytest.raises(AhgoraWrongEndpointError):
            next(pontoweb_hook.iter_reckon_results("u1"))


class TestMalformedAnswers:
    """One odd 200 (class 5) is AhgoraMalformedAnswerError: transient, names the route, no raw
    pydantic error, no value of the body."""

    @responses.activate
    @pytest.mark.parametrize(
        "kwargs",
        [
            {"json": {}},
            {"json": {"status": "processing", "progress": "5/10"}},
            {"json": [{"status": "done"}]},
            {"body": "<html><title>Login</title></html>", "content_type": "text/html"},
            {"body": ""},
            {"json": "processing"},
        ],
        ids=["empty-object", "progress-as-text", "array", "html-200", "empty-body", "json-string"],
    )
    def test_reckon_status(self, pontoweb_conn, kwargs):
        hook = PontoWebHook(retry_limit=0)
        responses.get(f"{STATUS_URL}/p", **kwargs)
        with pytest.raises(AhgoraMalformedAnswerError) as info:
            hook.get_reckon_status("p")
        err = info.value
        assert isinstance(err, AhgoraTransientError)
        assert err.may_have_been_processed is True
        assert "GET /reckons/process/status/p" in str(err)
        assert "reckon status" in str(err) or "not JSON" in str(err)
        assert err.__cause__ is None

    @responses.activate
    def test_the_message_names_fields_not_values(self, pontoweb_conn):
        responses.get(
            f"{STATUS_URL}/p", json={"status": "processing", "progress": f"echo {PONTOWEB_PASSWORD}"}
        )
        with pytest.raises(AhgoraMalformedAnswerError) as info:
            PontoWebHook(retry_limit=0).get_reckon_status("p")
        assert "progress" in str(info.value)
        assert PONTOWEB_PASSWORD not in str(info.value)
        assert "echo" not in str(info.value)

    @responses.activate
    def test_a_malformed_answer_is_retried_like_a_5xx(self, pontoweb_hook):
        url = f"{STATUS_URL}/p"
        responses.get(url, json={})
        responses.get(url, json={"status": "done", "progress": {"done": 1, "total": 1}})
        assert pontoweb_hook.get_reckon_status("p").is_done
        assert len(pontoweb_hook.sleep.calls) == 1

    async def test_async_reckon_status(self, fake_server, monkeypatch):
        server = fake_server(json_answer(200, {"status": "processing", "progress": "5/10"}))
        point_pontoweb_at(monkeypatch, server.url)
        hook = PontoWebHook(retry_limit=0)
        with pytest.raises(AhgoraMalformedAnswerError, match="reckon status"):
            await hook.aget_reckon_status("p")
        await hook.aclose()

    @responses.activate
    @pytest.mark.parametrize("answer", [{"data": []}, {}, [1]], ids=["data-array", "empty", "array"])
    def test_process_monitor(self, pontoweb_conn, answer):
        responses.get(f"{PONTOWEB_BASE}/process", json=answer)
        with pytest.raises(AhgoraMalformedAnswerError, match="GET /process"):
            PontoWebHook(retry_limit=0).get_process(subunique="s")

    async def test_async_process_monitor(self, fake_server, monkeypatch):
        server = fake_server(json_answer(200, {"status": "done", "progress": "2/2"}))
        point_pontoweb_at(monkeypatch, server.url)
        hook = PontoWebHook(retry_limit=0)
        with pytest.raises(AhgoraMalformedAnswerError, match="process monitor"):
            await hook.aget_process(subunique="s")
        await hook.aclose()

    @responses.activate
    def test_start_push_and_reconsume(self, pontoweb_conn):
        hook = PontoWebHook(retry_limit=0)
        responses.post(f"{PONTOWEB_BASE}/reckons/process/start", json={})
        responses.post(f"{PONTOWEB_BASE}/costcenter", json=[{"unique": "u"}])
        responses.get(f"{PONTOWEB_BASE}/reckons/reconsume/u", body="<html></html>", content_type="text/html")
        with pytest.raises(AhgoraMalformedAnswerError, match="POST /reckons/process/start"):
            hook.start_reckon(START_BODY)
        with pytest.raises(AhgoraMalformedAnswerError, match="push ticket"):
            hook.push("costcenter", [{"codigo": "1", "nome": "RH"}])
        with pytest.raises(AhgoraMalformedAnswerError, match="not JSON"):
            hook.reconsume("u")

    @responses.activate
    @pytest.mark.parametrize(
        "answer",
        [{}, {"data": {}}, {"company": "a", "data": [{"results": "x"}]}],
        ids=["empty", "object", "bad"],
    )
    def test_a_results_page_without_its_data_is_an_interrupted_read(self, pontoweb_hook, answer):
        # `{}` would otherwise read as the empty page that ends the results: every later record lost
        url = f"{PONTOWEB_BASE}/reckons/u1"
        responses.get(url, json=_page("u1", [_record(0)], 3))
        responses.get(url, json=answer)
        pages = pontoweb_hook.iter_reckon_results("u1", page_size=1)
        next(pages)
        with pytest.raises(AhgoraReadInterruptedError) as info:
            next(pages)
        assert info.value.pages_read == 1
        assert len(responses.calls) == 2


class TestRawResultsPages:
    """``iter_reckon_results(raw=True)``: each record is the bytes PontoWeb sent, never decoded; only
    what reading safely needs is checked (JSON, UTF-8, ``data`` an array of objects, the company)."""

    URL = f"{PONTOWEB_BASE}/reckons/u1"

    def _pages(self, hook, *bodies: bytes, size: int = 1000):
        for body in (*bodies, json.dumps(_page("u1", [], 0)).encode()):
            responses.get(self.URL, body=body, content_type="application/json")
        return hook.iter_reckon_results("u1", page_size=size, raw=True)

    @responses.activate
    def test_records_are_the_bytes_as_sent(self, pontoweb_hook):
        first = b'{"employee": "E1",  "name": "Jos\\u00e9", "value": 1.50, "big": 1234567890123456789012}'
        second = '{"employee":"E2","name":"Conceição","value":[]}'.encode()
        body = b'{"company": "a133595", "total": "2", "data": [ ' + first + b" ,\t" + second + b" ]}"
        pages = list(self._pages(pontoweb_hook, body))
        assert len(pages) == 1
        assert pages[0].total == 2  # read leniently, as the model does
        assert pages[0].data == [first, second]

    @responses.activate
    def test_a_record_spread_over_lines_is_put_on_one(self, pontoweb_hook):
        records = [_record(0), {**_record(1), "note": "line\nbreak"}]
        body = json.dumps(_page("u1", records, 2), indent=2, ensure_ascii=False).encode()
        (page,) = self._pages(pontoweb_hook, body)
        assert [json.loads(line) for line in page.data] == records
        assert all(b"\n" not in line and b"\r" not in line for line in page.data)

    @responses.activate
    def test_a_utf8_bom_is_skipped(self, pontoweb_hook):
        body = codecs.BOM_UTF8 + json.dumps(_page("u1", [_record(0)], 1)).encode()
        (page,) = self._pages(pontoweb_hook, body)
        assert json.loads(page.data[0]) == _record(0)

    @responses.activate
    @pytest.mark.parametrize(
        ("body", "says"),
        [
            (b'{"data": [{"employee": "\xff\xfe"}]}', "not JSON"),  # not UTF-8, inside a record
            (b'{"data": [{"value": NaN}]}', "not JSON"),
            (b'{"data": [{"employee": "E1"}], "total": 1} trailing', "not JSON"),
            (b'{"data": [{"employee": "E1"}, 5]}', "'data[1]' must be a record (an object), got int"),
            (b'{"data": "E1"}', "'data' must be an array of records, got str"),
            (b'{"data": null}', "'data' must be an array of records, got nothing"),
            (b"{}", "'data' must be an array of records, got nothing"),
            (b'[{"employee": "E1"}]', "an array, not a JSON object"),
        ],
        ids=["not-utf8", "nan", "trailing", "not-an-object", "string", "null", "empty", "array"],
    )
    def test_what_is_not_a_results_page_is_an_interrupted_read(self, pontoweb_hook, body, says):
        pages = self._pages(pontoweb_hook, json.dumps(_page("u1", [_record(0)], 2)).encode(), body, size=1)
        assert json.loads(next(pages).data[0]) == _record(0)
        with pytest.raises(AhgoraReadInterruptedError) as info:
            next(pages)
        assert info.value.pages_read == 1
        assert says in str(info.value.__cause__)
        assert len(responses.calls) == 2

    @responses.activate
    def test_the_company_is_checked(self, monkeypatch):
        set_conn(
            monkeypatch,
            "pontoweb_default",
            conn_type="pontoweb",
            host=PONTOWEB_BASE,
            login="u",
            password="p",
            extra={"company": "a000101"},
        )
        body = json.dumps({**_page("u1", [_record(0)], 1), "company": "a999999"}).encode()
        with pytest.raises(AhgoraConfigError, match="a999999"):
            next(self._pages(PontoWebHook(retry_limit=0), body))


class TestConnectionTestIsStrict:
    @responses.activate
    @pytest.mark.parametrize(
        ("status", "kwargs", "says"),
        [
            (404, {"body": HTML_404, "content_type": "text/html"}, "is not the PontoWeb API"),
            (200, {"body": "<html><title>Portal</title></html>", "content_type": "text/html"}, "not as the"),
            (
                200,
                {"json": {"status": "done", "progress": {"done": 1, "total": 1}}},
                "is not the PontoWeb API",
            ),
            (404, {"json": {"error": {"message": "Cannot GET /x", "code": 404}}}, "does not look like"),
        ],
        ids=["404-html", "200-html", "200-json", "404-other-json"],
    )
    def test_a_host_that_is_not_pontoweb_fails(self, pontoweb_hook, status, kwargs, says):
        responses.get(f"{STATUS_URL}/{PROBE_PROCESS}", status=status, **kwargs)
        ok, message = pontoweb_hook.test_connection()
        assert not ok
        assert says in message
        assert "Host field" in message
        assert len(responses.calls) == 1

    @responses.activate
    def test_one_attempt_and_no_retry_advice(self, pontoweb_hook):
        responses.get(f"{STATUS_URL}/{PROBE_PROCESS}", body=requests.exceptions.ConnectionError("refused"))
        ok, message = pontoweb_hook.test_connection()
        assert not ok
        assert "Could not reach PontoWeb at https://pontoweb.test" in message
        assert "retried" not in message
        assert len(responses.calls) == 1
        assert pontoweb_hook.sleep.calls == []

    @responses.activate
    def test_a_5xx_is_reported_once(self, pontoweb_hook):
        responses.get(f"{STATUS_URL}/{PROBE_PROCESS}", status=503, json={"error": "busy"})
        ok, message = pontoweb_hook.test_connection()
        assert not ok
        assert "unavailable" in message
        assert len(responses.calls) == 1

    def test_missing_password_names_the_field_not_the_temporary_id(self, monkeypatch):
        set_conn(monkeypatch, "phjWoC89", conn_type="pontoweb", login="svc")
        ok, message = PontoWebHook("phjWoC89").test_connection()
        assert not ok
        assert "phjWoC89" not in message
        assert "password is empty" in message

    @responses.activate
    def test_the_probe_deadline_is_short(self, pontoweb_conn, monkeypatch):
        seen = {}
        original = requests.Session.send

        def spy(self, request, **kwargs):
            seen["timeout"] = kwargs.get("timeout")
            return original(self, request, **kwargs)

        monkeypatch.setattr(requests.Session, "send", spy)
        set_conn(
            monkeypatch,
            "pontoweb_default",
            conn_type="pontoweb",
            host=PONTOWEB_BASE,
            login="u",
            password="p-long-enough",
            extra={"timeout": 120},
        )
        responses.get(f"{STATUS_URL}/{PROBE_PROCESS}", status=400, json={"error": "Process not found"})
        assert PontoWebHook().test_connection()[0]
        assert seen["timeout"] == (10, 10)

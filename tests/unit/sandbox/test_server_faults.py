"""Faults and latency over real HTTP: every kind, by call number and by seeded probability, before
or after the route ran (a results read consumes its page first)."""

from __future__ import annotations

import time

import pytest
import requests

from airflow_provider_ahgora.sandbox import RECKON_RESULTS, Fault, run_sandbox
from tests.unit.sandbox.conftest import START

pytestmark = pytest.mark.integration


@pytest.fixture
def unique(sandbox, pw) -> str:
    process = pw.post(
        f"{pw.base}/reckons/process/start", json={**START, "features": ["daily.totals"]}
    ).json()["process"]
    return sandbox.reckon(process)["unique"]


def read(pw, unique, limit=5, **kwargs):
    return pw.get(f"{pw.base}/reckons/{unique}", params={"limit": limit}, **kwargs)


def status_url(pw, unique) -> str:
    return f"{pw.base}/reckons/process/status/{unique}"


class TestKinds:
    def test_latency_fixed_and_jittered(self, sandbox, pw):
        sandbox.add_fault("GET /process", kind="latency", delay=0.2)
        t0 = time.perf_counter()
        pw.get(f"{pw.base}/process", params={"subunique": "1"})
        assert time.perf_counter() - t0 >= 0.2
        sandbox.clear_faults()
        sandbox.add_fault("GET /process", kind="latency", delay=0.05, jitter=0.1)
        sandbox.add_fault("GET /process", kind="latency", delay=0.05)  # latencies add up
        t0 = time.perf_counter()
        answer = pw.get(f"{pw.base}/process", params={"subunique": "1"})
        assert 0.1 <= time.perf_counter() - t0 < 2
        assert answer.status_code == 400  # then the route answers normally

    def test_status_with_retry_after(self, sandbox, pw, vs):
        sandbox.add_fault("*", kind="status", status=502, retry_after=3)
        answer = pw.get(f"{pw.base}/process", params={"subunique": "1"})
        assert answer.status_code == 502
        assert answer.headers["Retry-After"] == "3"
        assert answer.json() == {"error": {"message": "Bad Gateway (sandbox fault)", "code": 502}}
        voors = vs.get(f"{vs.base}/departments")
        assert voors.status_code == 502
        assert voors.json()["code"] == "502"

    def test_status_with_a_custom_body(self, sandbox, pw):
        sandbox.add_fault("GET /process", kind="status", status=500, body={"oops": True})
        assert pw.get(f"{pw.base}/process").json() == {"oops": True}

    def test_rate_limit_happens_before_the_read(self, sandbox, pw, unique):
        sandbox.add_fault(f"GET {RECKON_RESULTS}", kind="rate_limit", retry_after=2, times=1)
        answer = read(pw, unique)
        assert answer.status_code == 429
        assert answer.headers["Retry-After"] == "2"
        assert sandbox.reckon(unique)["consumed"] == 0
        assert read(pw, unique).status_code == 200
        assert sandbox.reckon(unique)["consumed"] == 5

    def test_timeout_after_consume(self, sandbox, pw, unique):
        sandbox.add_fault(f"GET {RECKON_RESULTS}", kind="timeout", delay=1.0, times=1)
        with pytest.raises(requests.exceptions.ReadTimeout):
            read(pw, unique, timeout=0.3)
        assert sandbox.reckon(unique)["consumed"] == 5  # the page is gone for the client

    def test_timeout_before_consume(self, sandbox, pw, unique):
        sandbox.add_fault(f"GET {RECKON_RESULTS}", kind="timeout", delay=1.0, times=1, after_consume=False)
        with pytest.raises(requests.exceptions.ReadTimeout):
            read(pw, unique, timeout=0.3)
        assert sandbox.reckon(unique)["consumed"] == 0

    def test_reset_mid_body_after_consume(self, sandbox, pw, unique):
        sandbox.add_fault(f"GET {RECKON_RESULTS}", kind="reset", on_calls=(2,))
        assert read(pw, unique).status_code == 200
        with pytest.raises(requests.exceptions.RequestException):
            read(pw, unique)
        assert sandbox.reckon(unique)["consumed"] == 10
        third = read(pw, unique)
        assert third.status_code == 200  # a new connection; the lost page stays lost
        assert sandbox.reckon(unique)["consumed"] == 15

    def test_reset_sends_headers_and_part_of_the_body(self, sandbox, unique):
        import base64
        import socket

        sandbox.add_fault(f"GET {RECKON_RESULTS}", kind="reset")
        auth = base64.b64encode(f"{sandbox.login}:{sandbox.password}".encode()).decode()
        with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as sock:
            sock.sendall(
                f"GET /reckons/{unique}?limit=5 HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Basic {auth}\r\n\r\n".encode()
            )
            received = b""
            with pytest.raises(ConnectionResetError):  # noqa: PT012
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    received += chunk
                raise ConnectionResetError("closed without reset")  # pragma: no cover
        head, _, body = received.partition(b"\r\n\r\n")
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        assert head.startswith(b"HTTP/1.1 200")
        assert 0 < len(body) < length

    def test_malformed_json_after_consume(self, sandbox, pw, unique):
        sandbox.add_fault(f"GET {RECKON_RESULTS}", kind="malformed", times=1)
        answer = read(pw, unique)
        assert answer.status_code == 200
        with pytest.raises(ValueError):
            answer.json()
        assert sandbox.reckon(unique)["consumed"] == 5

    def test_faults_on_pushes_hit_after_the_push_was_accepted(self, sandbox, pw):
        sandbox.add_fault("POST /costcenter", kind="status", status=503, times=1)
        assert pw.post(f"{pw.base}/costcenter", json=[{"codigo": "1", "nome": "RH"}]).status_code == 503
        assert len(sandbox.pushes()) == 1  # the client must not assume nothing happened


class TestWhen:
    def test_on_calls_3_and_5_of_get_reckons(self, sandbox, pw, unique):
        sandbox.add_fault("GET /reckons/*", kind="status", status=503, on_calls=(3, 5))
        codes = [pw.get(status_url(pw, "x")).status_code for _ in range(6)]
        assert codes == [400, 400, 503, 400, 503, 400]
        fault = sandbox.list_faults()[0]
        assert (fault["calls"], fault["fired"]) == (6, 2)
        assert pw.post(f"{pw.base}/reckons/process/start", json=START).status_code == 200  # POST: no match

    def test_probability_is_reproducible_with_the_seed(self):
        def pattern(seed: int) -> list[int]:
            with run_sandbox(employees=1, seed=seed) as sb:
                sb.add_fault("/process", kind="status", probability=0.5)
                session = requests.Session()
                return [session.get(f"{sb.base_url}/process", timeout=5).status_code for _ in range(30)]

        first = pattern(5)
        assert first == pattern(5)
        assert 5 < first.count(503) < 25
        assert first != pattern(6)

    def test_regex_and_times(self, sandbox, pw):
        sandbox.add_fault(r"re:^/reckons/process/status/ab+$", kind="status", times=2)
        assert [pw.get(status_url(pw, "abb")).status_code for _ in range(3)] == [503, 503, 400]
        assert pw.get(status_url(pw, "abc")).status_code == 400

    def test_a_path_without_wildcards_is_a_prefix(self, sandbox, pw, vs):
        sandbox.add_fault("/voors/users", kind="status", status=500)
        assert vs.get(f"{vs.base}/users/1").status_code == 500
        assert vs.post(f"{vs.base}/users", json={}).status_code == 500
        assert vs.post(f"{vs.base}/userExams", json={}).status_code == 400  # not a path segment prefix
        assert pw.post(f"{pw.base}/users", json=[]).status_code == 400  # PontoWeb /users: not under /voors

    def test_invalid_faults(self):
        with pytest.raises(ValueError, match="unknown fault kind"):
            Fault(kind="explode")
        with pytest.raises(ValueError, match="probability"):
            Fault(kind="status", probability=2)
        with pytest.raises(ValueError, match="unknown fault field"):
            Fault.from_spec({"kind": "status", "colour": "red"})


class TestControlOverHttp:
    def test_add_list_remove_clear(self, sandbox, pw):
        ctl = f"{sandbox.control_url}/faults"
        added = requests.post(ctl, json={"route": "GET /process", "kind": "status", "status": 504}, timeout=5)
        assert added.status_code == 201
        assert added.json()["method"] == "GET"
        assert pw.get(f"{pw.base}/process").status_code == 504
        more = requests.post(
            ctl, json=[{"kind": "latency", "delay": 0.01}, {"path": "/x", "kind": "reset"}], timeout=5
        )
        assert [f["kind"] for f in more.json()] == ["latency", "reset"]
        assert len(requests.get(ctl, timeout=5).json()) == 3
        assert requests.delete(f"{ctl}/{added.json()['id']}", timeout=5).json() == {"removed": True}
        assert pw.get(f"{pw.base}/process").status_code == 400
        requests.delete(ctl, timeout=5).raise_for_status()
        assert sandbox.list_faults() == []
        bad = requests.post(ctl, json={"kind": "nope"}, timeout=5)
        assert bad.status_code == 400
        assert "unknown fault kind" in bad.json()["error"]

    def test_stop_wakes_a_held_timeout(self):
        with run_sandbox(employees=1) as sb:
            sb.add_fault("/process", kind="timeout", delay=60)
            session = requests.Session()
            t0 = time.perf_counter()
            import threading

            errors = []

            def call() -> None:
                try:
                    session.get(f"{sb.base_url}/process", timeout=30)
                except requests.RequestException as exc:
                    errors.append(exc)

            caller = threading.Thread(target=call)
            caller.start()
            time.sleep(0.2)
        caller.join(10)
        assert errors
        assert time.perf_counter() - t0 < 10


# --------------------------------------------------------------------------------------------------
# trickle, echo, and a status fault that answers a web server's page
# --------------------------------------------------------------------------------------------------

SPECIAL_PASSWORD = 'pw"S3cr/t+x&y=1'
SPECIAL_TOKEN = 'tok"S3cr/t+9a&b=2'


def _forms(secret: str) -> list[str]:
    import base64
    import html
    import json
    from urllib.parse import quote, quote_plus

    basic = base64.b64encode(f"svc:{secret}".encode()).decode()
    return [
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret)[1:-1].replace("/", "\\/"),
        quote(secret, safe=""),
        quote_plus(secret),
        html.escape(secret),
        basic,
        *(secret[:n] for n in range(6, len(secret))),
    ]


class TestTrickle:
    def test_the_real_answer_arrives_spread_over_delay(self, sandbox, pw, unique):
        sandbox.add_fault(f"GET {RECKON_RESULTS}", kind="trickle", delay=1.0, chunk_size=64, times=1)
        t0 = time.perf_counter()
        answer = read(pw, unique, timeout=0.5)  # a per-read timeout never fires: each chunk is early
        elapsed = time.perf_counter() - t0
        assert answer.status_code == 200
        assert len(answer.json()["data"]) == 5  # the route's own answer, intact
        assert 0.8 <= elapsed < 5
        assert sandbox.reckon(unique)["consumed"] == 5  # after the route ran
        assert sandbox.requests(path="/reckons/")[-1]["fault"] == "trickle"

    def test_a_deadline_client_gives_up_in_time(self, sandbox, unique):
        from airflow_provider_ahgora.exceptions import AhgoraReadInterruptedError
        from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook

        sandbox.add_fault(f"GET {RECKON_RESULTS}", kind="trickle", delay=10)
        hook = PontoWebHook(retry_limit=2, timeout=1)
        t0 = time.perf_counter()
        with pytest.raises(AhgoraReadInterruptedError, match="1 s deadline"):
            next(hook.iter_reckon_results(unique))
        assert time.perf_counter() - t0 < 5
        hook.close()

    def test_chunks_are_capped(self):
        from airflow_provider_ahgora.sandbox.faults import TRICKLE_MAX_CHUNKS

        assert Fault(kind="trickle").delay == 30.0
        assert Fault(kind="trickle").hits_after_route
        assert Fault(kind="trickle", after_consume=False).hits_after_route  # always after the route
        assert TRICKLE_MAX_CHUNKS == 1000
        with pytest.raises(ValueError, match="chunk_size"):
            Fault(kind="trickle", chunk_size=0)


class TestEcho:
    def test_pontoweb_echo_quotes_every_form_of_the_credentials(self, sandbox):
        import base64
        import json
        from urllib.parse import quote_plus

        sandbox.add_fault("GET /process", kind="echo")
        answer = requests.get(
            f"{sandbox.base_url}/process",
            auth=("svc", SPECIAL_PASSWORD),
            timeout=5,
            params={"subunique": "1"},
        )
        assert answer.status_code == 401
        text = answer.text
        header = "Basic " + base64.b64encode(f"svc:{SPECIAL_PASSWORD}".encode()).decode()
        assert header.replace("/", "\\/") in text  # the Authorization header as sent (PHP-escaped)
        assert json.dumps(SPECIAL_PASSWORD)[1:-1].replace("/", "\\/")[:10] in text  # JSON-escaped
        assert quote_plus(SPECIAL_PASSWORD) in text  # URL-encoded
        assert answer.json()["request"]["password"] == SPECIAL_PASSWORD  # decoded
        assert answer.json()["error"]["code"] == 401  # PontoWeb's error shape
        assert sandbox.requests()[-1]["headers"]["authorization"] == "Basic REDACTED"  # never recorded

    def test_voors_echo_as_an_html_page(self, sandbox):
        import html

        sandbox.add_fault("/voors", kind="echo", status=403, html=True)
        answer = requests.get(
            f"{sandbox.voors_url}/departments", headers={"Authorization": SPECIAL_TOKEN}, timeout=5
        )
        assert answer.status_code == 403
        assert answer.headers["Content-Type"].startswith("text/html")
        assert "<title>403 Forbidden</title>" in answer.text
        assert html.escape(SPECIAL_TOKEN) in answer.text

    def test_echo_hits_before_the_route(self, sandbox, pw):
        sandbox.add_fault("POST /costcenter", kind="echo", after_consume=True)
        assert pw.post(f"{pw.base}/costcenter", json=[{"codigo": "1", "nome": "RH"}]).status_code == 401
        assert sandbox.pushes() == []

    @pytest.mark.parametrize("as_html", [False, True], ids=["json", "html"])
    def test_our_hooks_never_repeat_an_echo(self, sandbox, monkeypatch, caplog, as_html):
        import json
        import logging

        from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
        from airflow_provider_ahgora.hooks.voors import VoorsHook

        caplog.set_level(logging.DEBUG)
        monkeypatch.setenv(
            "AIRFLOW_CONN_PONTOWEB_DEFAULT",
            json.dumps({**sandbox.pontoweb_conn, "login": "svc", "password": SPECIAL_PASSWORD}),
        )
        monkeypatch.setenv(
            "AIRFLOW_CONN_VOORS_DEFAULT", json.dumps({**sandbox.voors_conn, "password": SPECIAL_TOKEN})
        )
        sandbox.add_fault("*", kind="echo", status=500, html=as_html)  # a 5xx: retried, logged
        texts = []
        for call in (
            lambda: PontoWebHook(retry_limit=1, retry_delay=0).get_reckon_status("p"),
            lambda: VoorsHook(retry_limit=1, retry_delay=0).list("departments"),
        ):
            with pytest.raises(Exception) as info:
                call()
            texts += [str(info.value), repr(info.value)]
        texts.append(caplog.text)
        for text in texts:
            for form in _forms(SPECIAL_PASSWORD) + _forms(SPECIAL_TOKEN):
                assert form not in text, text[:300]


class TestWebServerPages:
    def test_a_status_fault_can_answer_an_html_404(self, sandbox, vs):
        sandbox.add_fault("/voors", kind="status", status=404, html=True)
        answer = vs.get(f"{vs.base}/departments/1")
        assert answer.status_code == 404
        assert answer.headers["Content-Type"].startswith("text/html")
        assert "<title>404 Not Found</title>" in answer.text

    def test_a_wrong_base_url_fails_the_connection_test_and_never_reads_as_deleted(self, sandbox):
        from airflow_provider_ahgora.exceptions import AhgoraWrongEndpointError
        from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
        from airflow_provider_ahgora.hooks.voors import VoorsHook

        sandbox.add_fault("*", kind="status", status=404, html=True, after_consume=False)
        ok, message = VoorsHook().test_connection()
        assert not ok
        assert "not the Voors API" in message
        ok, message = PontoWebHook().test_connection()
        assert not ok
        assert "not the PontoWeb API" in message
        with pytest.raises(AhgoraWrongEndpointError):
            VoorsHook(retry_limit=0).delete("departments", 1)

    def test_a_custom_page_and_a_plain_text_body(self, sandbox, pw):
        sandbox.add_fault(
            "GET /process", kind="status", status=502, html=True, body="<html>proxy</html>", times=1
        )
        sandbox.add_fault(
            "GET /process", kind="status", status=503, content_type="text/plain", body="busy", times=1
        )
        first = pw.get(f"{pw.base}/process")
        assert (first.status_code, first.text) == (502, "<html>proxy</html>")
        second = pw.get(f"{pw.base}/process")
        assert (second.status_code, second.text, second.headers["Content-Type"]) == (
            503,
            "busy",
            "text/plain",
        )

    def test_new_fields_over_http_and_their_checks(self, sandbox):
        ctl = f"{sandbox.control_url}/faults"
        added = requests.post(
            ctl,
            json=[
                {"route": "GET /process", "kind": "trickle", "delay": 2, "chunk_size": 8},
                {"route": "/voors", "kind": "echo", "html": True},
                {"route": "/x", "kind": "status", "status": 404, "content_type": "text/plain", "body": "no"},
            ],
            timeout=5,
        )
        assert added.status_code == 201
        kinds = [(f["kind"], f["status"], f["chunk_size"], f["html"]) for f in added.json()]
        assert kinds == [("trickle", None, 8, False), ("echo", 401, None, True), ("status", 404, None, False)]
        with pytest.raises(ValueError, match="not both"):
            Fault(kind="status", html=True, content_type="text/plain")
        with pytest.raises(ValueError, match="string"):
            Fault(kind="status", html=True, body={"a": 1})

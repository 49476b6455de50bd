"""Inspection and control (Python and /_sandbox over HTTP), secrets redaction, lifecycle, the
pytest fixture, and the command line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest
import requests

from airflow_provider_ahgora.sandbox import Sandbox, run_sandbox
from tests.unit.sandbox.conftest import START

pytestmark = pytest.mark.integration


class TestInspection:
    def test_requests_are_recorded_with_credentials_redacted(self, sandbox, pw, vs):
        pw.post(f"{pw.base}/reckons/process/start", json=START)
        vs.get(f"{vs.base}/departments", params={"token": sandbox.token})
        vs.post(
            f"{vs.base}/departments", json={"token": sandbox.token, "data": {"department": {"name": "x"}}}
        )
        entries = sandbox.requests()
        assert [(e["method"], e["path"], e["status"]) for e in entries] == [
            ("POST", "/reckons/process/start", 200),
            ("GET", "/voors/departments", 200),
            ("POST", "/voors/departments", 201),
        ]
        first = entries[0]
        assert first["body"] == START
        assert first["user"] == sandbox.login
        assert first["headers"]["authorization"] == "Basic REDACTED"
        assert first["headers"]["accept-version"] == "v2"
        assert entries[1]["query"] == {"token": "REDACTED"}
        assert entries[2]["body"]["token"] == "REDACTED"
        dumped = json.dumps(entries) + requests.get(f"{sandbox.control_url}/requests", timeout=5).text
        assert sandbox.password not in dumped
        assert sandbox.token not in dumped
        assert sandbox.requests(method="POST", path="/voors")[0]["path"] == "/voors/departments"
        assert sandbox.requests(since=entries[1]["seq"]) == [entries[2]]

    def test_state_of_every_process(self, sandbox, pw):
        process = pw.post(f"{pw.base}/reckons/process/start", json=START).json()["process"]
        unique = sandbox.reckon(process)["unique"]
        pw.get(f"{pw.base}/reckons/{unique}", params={"limit": 2})
        pw.post(f"{pw.base}/costcenter", json=[{"codigo": "1", "nome": "RH"}, {"codigo": "2"}])
        state = sandbox.state()
        reckon = state["pontoweb"]["reckons"][0]
        assert {k: reckon[k] for k in ("process", "status", "consumed", "reconsumes", "full_base")} == {
            "process": process,
            "status": "done",
            "consumed": 2,
            "reconsumes": 0,
            "full_base": True,
        }
        push = state["pontoweb"]["pushes"][0]
        assert push["records"] == [{"codigo": "1", "nome": "RH"}, {"codigo": "2"}]
        assert push["errors"] == [{"identifier": "2", "message": "nome: Field required"}]
        assert state["pontoweb"]["daily_full_base"] == {f"{state['now'][:10]} monthly": 1}
        assert json.loads(json.dumps(state)) == state

    def test_control_over_http(self, sandbox, pw):
        ctl = sandbox.control_url
        index = requests.get(ctl, timeout=5).json()
        assert index["voors_url"] == sandbox.voors_url
        assert index["endpoints"]
        sandbox.pontoweb.speed = 0.01
        process = pw.post(f"{pw.base}/reckons/process/start", json=START).json()["process"]
        assert requests.get(f"{ctl}/reckons/{process}", timeout=5).json()["status"] == "processing"
        assert requests.post(f"{ctl}/reckons/{process}/finish", timeout=5).json()["status"] == "done"
        failed = requests.post(f"{ctl}/reckons/{process}/fail", json={"message": "boom"}, timeout=5).json()
        assert (failed["status"], failed["error_message"]) == ("error", "boom")
        assert requests.get(f"{ctl}/reckons/nope", timeout=5).status_code == 404
        assert len(requests.get(f"{ctl}/reckons", timeout=5).json()) == 1
        before = requests.get(f"{ctl}/clock", timeout=5).json()["epoch"]
        after = requests.post(f"{ctl}/clock/advance", json={"seconds": 3600}, timeout=5).json()
        assert after["offset"] == 3600
        assert after["epoch"] - before >= 3600
        assert requests.put(f"{ctl}/forbidden", json={"users": [sandbox.login]}, timeout=5).json() == {
            "users": [sandbox.login]
        }
        assert pw.get(f"{pw.base}/reckons/process/status/{process}").status_code == 403
        requests.put(f"{ctl}/forbidden", json={"users": []}, timeout=5)
        assert pw.get(f"{pw.base}/reckons/process/status/{process}").status_code == 200
        pw.post(f"{pw.base}/costcenter", json=[{"codigo": "1", "nome": "RH"}])
        assert len(requests.get(f"{ctl}/pushes", timeout=5).json()) == 1
        assert requests.get(f"{ctl}/state", timeout=5).json()["clock_offset"] == 3600
        assert requests.get(f"{ctl}/voors/users", timeout=5).json() == []
        assert requests.get(f"{ctl}/voors/nothing", timeout=5).status_code == 404
        assert len(requests.get(f"{ctl}/requests", params={"path": "/costcenter"}, timeout=5).json()) == 1
        assert requests.delete(f"{ctl}/requests", timeout=5).json() == {"cleared": True}
        assert requests.post(f"{ctl}/reset", timeout=5).json() == {"reset": True}
        assert sandbox.reckons() == []
        assert sandbox.pushes() == []
        assert sandbox.clock.offset == 0
        assert requests.get(f"{ctl}/nothing", timeout=5).status_code == 404
        assert sandbox.requests() == []  # control calls are not recorded

    def test_the_control_api_needs_no_auth_but_only_answers_loopback(self, sandbox):
        assert sandbox._dispatch("GET", "/_sandbox/state", {}, b"", "127.0.0.1").status != 403
        assert sandbox._dispatch("GET", "/_sandbox/state", {}, b"", "10.0.0.7").status == 403
        with pytest.raises(ValueError, match="loopback"):
            Sandbox(host="0.0.0.0")


class TestLifecycle:
    def test_run_sandbox_starts_on_a_free_port_and_stops_cleanly(self):
        with run_sandbox(employees=3) as sb:
            port = sb.port
            session = requests.Session()  # a keep-alive connection stays open until stop()
            assert session.get(f"{sb.base_url}/process", timeout=5).status_code == 401
            assert sb.base_url == f"http://127.0.0.1:{port}"
            assert sb.pontoweb_conn_uri == json.dumps(sb.pontoweb_conn)
            assert set(sb.airflow_env()) == {"AIRFLOW_CONN_PONTOWEB_DEFAULT", "AIRFLOW_CONN_VOORS_DEFAULT"}
        assert not sb.running
        with pytest.raises(requests.ConnectionError):
            session.get(f"http://127.0.0.1:{port}/process", timeout=2)
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0
        with pytest.raises(RuntimeError, match="not started"):
            _ = sb.port

    def test_a_fixed_port_can_be_reused_at_once(self):
        with run_sandbox(employees=1) as sb:
            port = sb.port
        with run_sandbox(employees=1, port=port) as again:
            assert again.port == port

    def test_http_details(self, sandbox):
        with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as sock:
            sock.sendall(b"GET /process HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 401 Unauthorized\r\n")
        assert b"Connection: close" in data
        body = json.dumps([{"codigo": "1", "nome": "RH"}]).encode()
        chunked = hex(len(body))[2:].encode() + b"\r\n" + body + b"\r\n0\r\n\r\n"
        auth = requests.auth._basic_auth_str(sandbox.login, sandbox.password)  # type: ignore[attr-defined]
        with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as sock:
            sock.sendall(
                b"POST /costcenter HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
                + f"Authorization: {auth}\r\n\r\n".encode()
                + chunked
            )
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200 OK")
        assert sandbox.pushes()[0]["records"] == [{"codigo": "1", "nome": "RH"}]


@pytest.mark.sandbox(employees=7, company="a999999")
def test_the_fixture_takes_options_from_a_marker(sandbox):
    assert len(sandbox.data.employees) == 7
    assert json.loads(os.environ["AIRFLOW_CONN_PONTOWEB_DEFAULT"])["host"] == sandbox.base_url
    answer = requests.post(
        f"{sandbox.base_url}/costcenter",
        json=[{"codigo": "1", "nome": "x"}],
        auth=(sandbox.login, sandbox.password),
        timeout=5,
    )
    assert answer.json()["company"] == "a999999"


def test_command_line():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_ahgora.sandbox",
            "--port",
            "0",
            "--employees",
            "5",
            "--seed",
            "3",
            "--speed",
            "inf",
            "--fault",
            '{"route": "GET /process", "kind": "status", "status": 418}',
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        text = "".join(lines)
        # other libraries may log a line first (Airflow does in unit-test mode): find ours
        start = text.find("Ahgora sandbox listening on http://127.0.0.1:")
        assert start >= 0, text
        base = text[start:].split()[4]
        exports = dict(line[len("export ") :].split("=", 1) for line in lines if line.startswith("export "))
        pw_conn = json.loads(exports["AIRFLOW_CONN_PONTOWEB_DEFAULT"].strip().strip("'"))
        voors_conn = json.loads(exports["AIRFLOW_CONN_VOORS_DEFAULT"].strip().strip("'"))
        assert pw_conn["host"] == base
        assert voors_conn["host"] == f"{base}/voors"
        auth = (pw_conn["login"], pw_conn["password"])
        started = requests.post(f"{base}/reckons/process/start", json=START, auth=auth, timeout=10)
        assert started.status_code == 200
        assert requests.get(f"{base}/process", timeout=10).status_code == 418
        proc.send_signal(2)  # Ctrl-C
        assert proc.wait(timeout=90) == 0  # generous: a loaded 2-core CI machine
        assert "Sandbox stopped." in proc.stdout.read()  # type: ignore[union-attr]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_command_line_stops_on_ctrl_c_even_when_sigint_was_ignored():
    """A background job of a script (or a test runner) starts with SIGINT ignored; Python then never
    raises KeyboardInterrupt. The CLI installs its own handler, so Ctrl-C still stops it."""
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_ahgora.sandbox", "--port", "0", "--employees", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            if line.startswith("Press Ctrl-C"):
                break
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------------------------------
# Quirks: the other readings of the documents
# --------------------------------------------------------------------------------------------------


def test_quirks_are_read_and_changed_live_through_the_control_api(sandbox, pw):
    control = f"{sandbox.control_url}/quirks"
    assert requests.get(control, timeout=5).json() == {
        "results_total": "records",
        "page_cap": None,
        "status_case": "lower",
        "empty_as_list": False,
    }
    answer = requests.put(control, json={"status_case": "upper", "page_cap": 2}, timeout=5)
    assert answer.status_code == 200
    assert answer.json()["status_case"] == "upper"
    assert sandbox.quirks.page_cap == 2
    assert requests.get(sandbox.control_url + "/state", timeout=5).json()["quirks"]["page_cap"] == 2
    started = pw.post(
        f"{sandbox.base_url}/reckons/process/start",
        json={"month": "01", "year": "2026", "rescission": False},
        timeout=5,
    )
    process = started.json()["process"]
    sandbox.finish_reckon(process)
    status = pw.get(f"{sandbox.base_url}/reckons/process/status/{process}", timeout=5).json()
    assert status["status"] == "DONE"
    page = pw.get(f"{sandbox.base_url}/reckons/{status['unique']}", params={"limit": 1000}, timeout=5).json()
    assert len(page["data"]) == 2  # capped, whatever was asked
    assert page["total"] == len(list(sandbox.data.reckon_records("01", "2026")))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"status_case": "shouting"}, "status_case"),
        ({"page_cap": 0}, "page_cap"),
        ({"results_total": "lines"}, "results_total"),
        ({"colour": "red"}, "unknown quirk"),
    ],
)
def test_bad_quirks_are_refused_by_name(sandbox, body, message):
    answer = requests.put(f"{sandbox.control_url}/quirks", json=body, timeout=5)
    assert answer.status_code == 400
    assert message in answer.json()["error"]
    assert sandbox.quirks.describe()["status_case"] == "lower", "nothing changed"


@pytest.mark.parametrize("reading", ["employees", "days", "days with punches"])
def test_results_total_under_each_reading(reading):
    with Sandbox(employees=4, speed=float("inf"), quirks={"results_total": reading}) as sb:
        hook_session = requests.Session()
        hook_session.auth = (sb.login, sb.password)
        started = hook_session.post(
            f"{sb.base_url}/reckons/process/start",
            json={
                "month": "01",
                "year": "2026",
                "rescission": False,
                "features": ["daily.punches", "monthly"],
            },
            timeout=5,
        ).json()
        unique = hook_session.get(
            f"{sb.base_url}/reckons/process/status/{started['process']}", timeout=5
        ).json()["unique"]
        page = hook_session.get(f"{sb.base_url}/reckons/{unique}", timeout=5).json()
        records = list(sb.data.reckon_records("01", "2026", features=["daily.punches", "monthly"]))
        days = [d for r in records for d in r.get("daily") or ()]
        want = {
            "employees": len({r["employee"] for r in records}),
            "days": len(days),
            "days with punches": sum(1 for d in days if d.get("punches")),
        }[reading]
        assert page["total"] == want
        assert want != len(records)

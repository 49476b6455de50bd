"""A sandbox serving several companies: each its own credentials, employees, state and limits,
reached by its credentials as on the real APIs; one company by default, unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
import requests

from airflow_provider_ahgora.sandbox import DEFAULT_LOGIN, DEFAULT_PASSWORD, DEFAULT_TOKEN, Sandbox
from tests.unit.sandbox.conftest import START, basic

pytestmark = pytest.mark.sandbox(companies=3)


def start(sandbox: Any, company: str, body: dict[str, Any] | None = None) -> requests.Response:
    member = sandbox.companies[company]
    return requests.post(
        f"{sandbox.base_url}/reckons/process/start",
        json=body or START,
        headers={**basic(member.login, member.password), "Accept-Version": "v2"},
        timeout=10,
    )


def test_one_company_by_default():
    sandbox = Sandbox(employees=3)
    (only,) = sandbox.companies.values()
    assert (only.company, only.login, only.password, only.token) == (
        "a000101",
        DEFAULT_LOGIN,
        DEFAULT_PASSWORD,
        DEFAULT_TOKEN,
    )
    assert sandbox.data is only.data
    assert (sandbox.pontoweb, sandbox.voors) == (only.pontoweb, only.voors)


def test_companies_are_deterministic_and_distinct(sandbox):
    assert list(sandbox.companies) == ["a000101", "a000102", "a000103"]
    members = list(sandbox.companies.values())
    assert members[0].login == DEFAULT_LOGIN  # the first is the company of the sandbox's options
    for what in ("login", "password", "token"):
        assert len({getattr(m, what) for m in members}) == 3, what
    cpfs = [{e.cpf for e in m.data.employees} for m in members]
    assert not cpfs[0] & cpfs[1]
    assert not cpfs[1] & cpfs[2]
    again = Sandbox(employees=20, seed=42, companies=3)  # same options: same companies, same secrets
    assert [(m.login, m.password, m.token) for m in again.companies.values()] == [
        (m.login, m.password, m.token) for m in members
    ]


def test_requests_reach_the_company_of_their_credentials(sandbox):
    answer = start(sandbox, "a000102")
    assert answer.status_code == 200, answer.text
    assert answer.json()["company"] == "a000102"
    process = answer.json()["process"]
    assert [r["process"] for r in sandbox.reckons(company="a000102")] == [process]
    assert sandbox.reckons() == sandbox.reckons(company="a000101") == []
    # another company's credentials do not see it (PontoWeb scopes processes by company)
    first = sandbox.companies["a000101"]
    status = requests.get(
        f"{sandbox.base_url}/reckons/process/status/{process}",
        headers=basic(first.login, first.password),
        timeout=10,
    )
    assert status.status_code == 400
    assert sandbox.reckon(process)["company"] == "a000102"  # found in whichever company holds it
    assert sandbox.companies["a000102"].calls == {"POST /reckons/process/start": 1}
    assert sandbox.companies["a000101"].calls == {"GET /reckons/process/status/{process}": 1}


def test_voors_tokens_reach_their_company(sandbox):
    second = sandbox.companies["a000102"]
    branch = second.data.voors_master_data()["branches"][0]
    answer = requests.post(
        f"{sandbox.voors_url}/branches",
        json={"data": {"branch": branch}},
        headers={"Authorization": second.token},
        timeout=10,
    )
    assert answer.status_code in (200, 201), answer.text
    assert len(sandbox.voors_records("branches", company="a000102")) == 1
    assert sandbox.voors_records("branches") == []
    assert second.calls == {"POST /voors/branches": 1}


@pytest.mark.sandbox(
    companies=[{}, {"company": "a000102", "max_running": 1}, {"company": "a000103", "daily_limit": 1}],
    speed=1e-6,  # reckons stay running
)
def test_limits_are_per_company(sandbox):
    # a000102 may run one process at once: its second start is refused, a000101's is not
    assert start(sandbox, "a000102").status_code == 200
    refused = start(sandbox, "a000102")
    assert refused.status_code == 429
    assert refused.json()["error"].startswith("At most 1 processes may run at once")  # v2: a string
    assert start(sandbox, "a000101").status_code == 200
    # a000103 may start one full-base reckon per feature a day
    assert start(sandbox, "a000103").status_code == 200
    daily = start(sandbox, "a000103")
    assert daily.status_code == 429
    assert "daily limit of 1 has been exceeded" in daily.json()["error"]
    assert [len(sandbox.reckons(company=c)) for c in sandbox.companies] == [1, 1, 1]
    described = {c["company"]: c for c in requests.get(f"{sandbox.control_url}/companies", timeout=10).json()}
    assert (described["a000102"]["max_running"], described["a000103"]["daily_limit"]) == (1, 1)
    assert described["a000101"]["pontoweb_conn_id"] == "pontoweb_a000101"
    listed = requests.get(f"{sandbox.control_url}/reckons", params={"company": "a000103"}, timeout=10)
    assert [r["company"] for r in listed.json()] == ["a000103"]


def test_companies_env_names_each_company_by_convention(sandbox):
    env = sandbox.companies_env()
    assert json.loads(env["AIRFLOW_VAR_AHGORA_COMPANIES"]) == ["a000101", "a000102", "a000103"]
    for member in sandbox.companies.values():
        pontoweb = json.loads(env[f"AIRFLOW_CONN_PONTOWEB_{member.company.upper()}"])
        voors = json.loads(env[f"AIRFLOW_CONN_VOORS_{member.company.upper()}"])
        assert (pontoweb["login"], pontoweb["password"], pontoweb["host"]) == (
            member.login,
            member.password,
            sandbox.base_url,
        )
        assert (voors["password"], voors["host"]) == (member.token, sandbox.voors_url)


def test_reset_forgets_every_company(sandbox):
    start(sandbox, "a000103")
    sandbox.reset()
    assert sandbox.reckons(company="a000103") == []
    assert sandbox.companies["a000103"].calls == {}


@pytest.mark.parametrize(
    ("companies", "message"),
    [
        (0, "at least 1"),
        (["a000101", "a000101"], "listed twice"),
        ([{}, {"login": DEFAULT_LOGIN}], "belongs to two companies"),
        ([{"company": "x", "colour": "red"}], "unknown company field"),
    ],
)
def test_bad_companies_are_refused(companies, message):
    with pytest.raises(ValueError, match=message):
        Sandbox(employees=1, companies=companies)


def test_the_cli_prints_every_company_s_connections():
    argv = ["--companies", "2", "--employees", "2"]
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "airflow_provider_ahgora.sandbox", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    exports = dict(line.removeprefix("export ").strip().split("=", 1) for line in lines if "export " in line)
    assert set(exports) == {
        "AIRFLOW_CONN_PONTOWEB_DEFAULT",
        "AIRFLOW_CONN_VOORS_DEFAULT",
        "AIRFLOW_CONN_PONTOWEB_A000101",
        "AIRFLOW_CONN_VOORS_A000101",
        "AIRFLOW_CONN_PONTOWEB_A000102",
        "AIRFLOW_CONN_VOORS_A000102",
        "AIRFLOW_VAR_AHGORA_COMPANIES",
    }
    assert "sandbox-a000102" in exports["AIRFLOW_CONN_PONTOWEB_A000102"]

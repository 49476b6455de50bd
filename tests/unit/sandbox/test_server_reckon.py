"""The sandbox's reckon API over real HTTP: shapes of the seed examples, progress, consuming reads,
reconsume, expiry, the daily and concurrency limits, validation and auth errors."""

from __future__ import annotations

import re

import pytest
import requests

from airflow_provider_ahgora.models.pontoweb import (
    ReckonResultsPage,
    ReckonStartResponse,
    ReckonStatus,
    ReconsumeResponse,
)
from airflow_provider_ahgora.sandbox import run_sandbox
from tests.conftest import load_fixture
from tests.unit.sandbox.conftest import START, ManualClock, basic

pytestmark = pytest.mark.integration

DAY = 24 * 3600.0


def seed(name: str):
    return load_fixture("seeds", "pontoweb", f"{name}.json")


def start(pw, body=None, **headers):
    return pw.post(
        f"{pw.base}/reckons/process/start", json=body if body is not None else START, headers=headers
    )


def status(pw, process, **headers):
    return pw.get(f"{pw.base}/reckons/process/status/{process}", headers=headers)


def read(pw, unique, limit=None, **headers):
    params = {"limit": limit} if limit is not None else None
    return pw.get(f"{pw.base}/reckons/{unique}", params=params, headers=headers)


def started(pw, body=None) -> tuple[str, str]:
    answer = start(pw, body)
    assert answer.status_code == 200, answer.text
    process = answer.json()["process"]
    return process, status(pw, process).json()["unique"]


def read_all(pw, unique, limit=1000) -> list[dict]:
    out: list[dict] = []
    while True:
        page = read(pw, unique, limit).json()
        if not page["data"]:
            return out
        out.extend(page["data"])


class TestShapes:
    def test_start_status_results_reconsume_have_the_seed_shapes(self, sandbox, pw):
        answer = start(pw, seed("001_reckon-start_request_pt"))
        assert answer.status_code == 200
        body = answer.json()
        assert set(body) == set(seed("001_reckon-start_response_200"))
        ReckonStartResponse.model_validate(body)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["created_at"])

        st = status(pw, body["process"]).json()
        assert set(st) == set(seed("001_reckon-status_response_done"))
        assert set(st["progress"]) == {"done", "total"}
        parsed = ReckonStatus.model_validate(st)
        assert parsed.is_done
        assert parsed.company == sandbox.company

        page = read(pw, st["unique"]).json()
        assert set(page) == set(seed("001_reckon-results_response_all-features"))
        ReckonResultsPage.model_validate(page)
        rc = pw.get(f"{pw.base}/reckons/reconsume/{st['unique']}").json()
        assert set(rc) == set(seed("001_reckon-reconsume_response_200"))
        assert ReconsumeResponse.model_validate(rc).unique == st["unique"]

    @pytest.mark.parametrize(
        ("features", "fixture"),
        [
            (["monthly"], "monthly"),
            (["daily.punches"], "daily-punches"),
            (["daily.totals"], "daily-totals"),
            (["daily.punches", "daily.totals", "monthly"], "all-features"),
        ],
    )
    def test_records_have_the_keys_of_the_seed_records(self, sandbox, pw, features, fixture):
        _, unique = started(pw, {**START, "features": features})
        records = read(pw, unique).json()["data"]
        assert records
        expected = seed(f"001_reckon-results_response_{fixture}")["data"]
        for want, got in zip(expected, records[: len(expected)], strict=True):
            assert set(got) == set(want)
            if "daily" in want:
                day = next(d for d in got["daily"] if d.get("punches") or d.get("results"))
                assert set(day) == set(want["daily"][0])
                for key in ("results", "punches"):
                    if key in want["daily"][0]:
                        assert set(day[key][0]) == set(want["daily"][0][key][0])
            else:
                assert set(got["results"][0]) == set(want["results"][0])

    def test_ids_have_the_documented_formats(self, pw):
        process, unique = started(pw)
        assert re.fullmatch(r"[0-9a-f]{8}", unique)
        assert re.fullmatch(
            rf"{unique}-[0-9a-f]{{4}}-4[0-9a-f]{{3}}-[89ab][0-9a-f]{{3}}-[0-9a-f]{{12}}", process
        )


class TestProgress:
    @pytest.fixture
    def sandbox_options(self, clock):
        return {"employees": 20, "seed": 42, "speed": 2.0, "clock": clock}

    def test_progress_counts_employees_over_time(self, sandbox, pw, clock: ManualClock):
        process, unique = started(pw)
        total = sandbox.reckon(process)["progress"]["total"]
        assert total == sum(1 for e in sandbox.data.employees if not e.dismissed)
        first = status(pw, process).json()
        assert set(first) == set(seed("001_reckon-status_response_processing"))
        assert ReckonStatus.model_validate(first).is_terminal is False
        assert first["status"] == "processing"
        assert first["progress"] == {"done": 0, "total": total}
        clock.now += 3  # 2 employees per second
        assert status(pw, process).json()["progress"] == {"done": 6, "total": total}
        early = read(pw, unique)
        assert early.status_code == 400
        assert "still processing" in early.json()["error"]
        clock.now += total / 2
        assert status(pw, process).json() == {
            "status": "done",
            "unique": unique,
            "process": process,
            "company": sandbox.company,
            "progress": {"done": total, "total": total},
        }

    def test_finish_now_and_error(self, sandbox, pw):
        p1, _ = started(pw)
        sandbox.finish_reckon(p1)
        assert status(pw, p1).json()["status"] == "done"
        p2, u2 = started(pw, {**START, "registers": [sandbox.data.employees[0].registration]})
        sandbox.fail_reckon(p2, "disk full")
        assert status(pw, p2).json()["status"] == "error"
        answer = read(pw, u2)
        assert answer.status_code == 400
        assert "disk full" in answer.json()["error"]


class TestConsumingReads:
    def test_each_record_once_then_empty_pages_and_reconsume_restores(self, sandbox, pw):
        _, unique = started(pw, {**START, "features": ["daily.totals", "monthly"]})
        expected = list(sandbox.data.reckon_records("04", "2025", features=["daily.totals", "monthly"]))
        first = read(pw, unique, 7).json()
        assert first["total"] == len(expected)
        assert len(first["data"]) == 7
        assert sandbox.reckon(unique)["consumed"] == 7
        rest = read_all(pw, unique, 7)
        assert first["data"] + rest == expected
        assert read(pw, unique).json()["data"] == []
        assert sandbox.reckon(unique)["remaining"] == 0
        pw.get(f"{pw.base}/reckons/reconsume/{unique}").raise_for_status()
        assert read_all(pw, unique) == expected
        state = sandbox.reckon(unique)
        assert state["reconsumes"] == 1
        assert state["delivered"] == 2 * len(expected)

    def test_limit_default_and_bounds(self, sandbox, pw):
        _, unique = started(pw, {**START, "features": ["daily.punches", "monthly"]})
        assert len(read(pw, unique).json()["data"]) == sandbox.reckon(unique)["total"]  # default 1000
        for bad in (0, 1001, "x"):
            answer = read(pw, unique, bad)
            assert answer.status_code == 400
            assert "limit" in answer.json()["error"]

    def test_reconsume_limit(self, sandbox, pw):
        sandbox.pontoweb.max_reconsumes = 2
        _, unique = started(pw)
        url = f"{pw.base}/reckons/reconsume/{unique}"
        assert [pw.get(url).status_code for _ in range(3)] == [200, 200, 400]
        assert "reconsume limit of 2" in pw.get(url).json()["error"]

    @pytest.mark.parametrize(
        ("body", "check"),
        [
            ({"registers": ["REG-A", "REG-B"]}, "registers"),
            ({"locations": ["LOC"]}, "locations"),
            ({"allowEmpty": True}, "allow_empty"),
            ({"includeEmptyCode": True, "features": ["daily.totals", "monthly"]}, "include_empty_code"),
            ({"paymentDate": "2025-05-05", "infotype": "0020"}, "payment"),
        ],
    )
    def test_filters(self, sandbox, pw, body, check):
        data = sandbox.data
        if check == "registers":
            body = {"registers": [data.employees[3].registration, data.employees[1].registration]}
        if check == "locations":
            body = {"locations": [data.employees[0].location]}
        request = {**START, **body}
        _, unique = started(pw, request)
        got = read_all(pw, unique)
        expected = list(
            data.reckon_records(
                "04",
                "2025",
                features=request.get("features"),
                registers=request.get("registers"),
                locations=request.get("locations"),
                allow_empty=request.get("allowEmpty", False),
                include_empty_code=request.get("includeEmptyCode", False),
                payment_date=request.get("paymentDate"),
                infotype=request.get("infotype", "0015"),
            )
        )
        assert got == expected
        if check == "registers":
            assert {r["employee"] for r in got} == set(body["registers"])
        if check == "locations":
            assert {r["employee"] for r in got} < {e.registration for e in data.employees}
        if check == "include_empty_code":
            assert any(res["event"] == "" for rec in got for res in rec.get("results", []))
        if check == "payment":
            assert {(r["paymentDate"], r["infotype"]) for r in got} == {("2025-05-05", "0020")}

    def test_rescission_includes_the_dismissed_employees_named(self, sandbox, pw):
        dismissed = next(e for e in sandbox.data.employees if e.dismissed)
        _, unique = started(pw, {**START, "rescission": True, "registers": [dismissed.registration]})
        assert [r["employee"] for r in read_all(pw, unique)] == [dismissed.registration]
        _, unique = started(pw, {**START, "registers": [dismissed.registration]})
        assert read_all(pw, unique) == []


class TestExpiry:
    @pytest.fixture
    def sandbox_options(self, clock):
        return {"employees": 10, "seed": 7, "speed": float("inf"), "clock": clock}

    def test_results_expire_72_hours_after_the_reckon(self, sandbox, pw, clock):
        _, unique = started(pw)
        clock.now += 71 * 3600
        assert read(pw, unique, 1).status_code == 200
        clock.now += 3600
        for version in ("v1", "v2"):
            answer = read(pw, unique, **{"Accept-Version": version})
            assert answer.status_code == 410
            message = answer.json()["error"] if version == "v2" else answer.json()["error"]["message"]
            assert "expired" in message
            assert "72 hours" in message

    def test_a_reconsume_keeps_them_72_hours_more(self, sandbox, pw, clock):
        _, unique = started(pw)
        clock.now += 70 * 3600
        pw.get(f"{pw.base}/reckons/reconsume/{unique}").raise_for_status()
        clock.now += 70 * 3600
        assert read(pw, unique, 1).status_code == 200
        sandbox.advance(3 * 3600)  # the sandbox's own offset moves the injected clock forward too
        assert read(pw, unique, 1).status_code == 410
        assert pw.get(f"{pw.base}/reckons/reconsume/{unique}").status_code == 410


class TestLimits:
    @pytest.fixture
    def sandbox_options(self, clock):
        return {"employees": 10, "seed": 7, "speed": 1.0, "clock": clock}

    def test_daily_limit_of_full_base_processes_per_feature(self, sandbox, pw, clock):
        for _ in range(3):
            sandbox.finish_reckon(started(pw, {**START, "features": ["monthly", "daily.totals"]})[0])
        for version in ("v1", "v2"):
            answer = start(
                pw,
                {**START, "features": ["daily.punches", "daily.totals", "monthly"]},
                **{"Accept-Version": version},
            )
            assert answer.status_code == 429
            doc = seed(f"001_reckon-reconsume_error_429-{version}")
            assert set(answer.json()) == set(doc)
        assert start(pw, {**START, "features": ["monthly"]}, **{"Accept-Version": "v2"}).json() == {
            "error": "The daily limit of 3 has been exceeded for the following features: monthly."
        }
        # the documented example lists every feature asked for that is over the limit
        msg = start(pw, {**START, "features": ["daily.totals", "monthly"]}).json()["error"]
        assert msg.endswith("following features: daily.totals, monthly.")
        # filtered by registers: free; another feature: still allowed today
        one = sandbox.data.employees[0].registration
        sandbox.finish_reckon(started(pw, {**START, "registers": [one]})[0])
        sandbox.finish_reckon(started(pw, {**START, "features": ["daily.punches"]})[0])
        clock.now += DAY
        assert start(pw).status_code == 200  # a new day

    def test_at_most_four_processes_at_once(self, sandbox, pw):
        one = [sandbox.data.employees[0].registration]
        processes = [started(pw, {**START, "registers": one})[0] for _ in range(4)]
        for version in ("v1", "v2"):
            answer = start(pw, {**START, "registers": one}, **{"Accept-Version": version})
            assert answer.status_code == 429
            assert 1 <= int(answer.headers["Retry-After"]) <= 60
            message = answer.json()["error"] if version == "v2" else answer.json()["error"]["message"]
            assert message.startswith("At most 4 processes may run at once")
        sandbox.finish_reckon(processes[0])
        assert start(pw, {**START, "registers": one}).status_code == 200


class TestErrors:
    @pytest.mark.parametrize("version", ["v1", "v2"])
    def test_unknown_process_and_unique(self, pw, version):
        h = {"Accept-Version": version}
        assert status(pw, "nope", **h).json() == seed(f"001_reckon-status_error_400-{version}")
        answer = pw.get(f"{pw.base}/reckons/reconsume/nope", headers=h)
        assert (answer.status_code, answer.json()) == (400, seed(f"001_reckon-reconsume_error_400-{version}"))
        assert read(pw, "nope", **h).json() == seed(f"001_reckon-reconsume_error_400-{version}")

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({"month": "04", "year": "2025"}, '"rescission" is required'),
            ({"rescission": "no", "month": "04", "year": "2025"}, '"rescission" must be a boolean'),
            ({"rescission": False, "year": "2025"}, '"month" is required'),
            ({"rescission": False, "month": "13", "year": "2025"}, '"month" with value "13" fails to match'),
            (
                {"rescission": True, "month": "04", "year": "2025"},
                '"registers" must contain at least 1 items',
            ),
            (
                {**START, "features": ["weekly"]},
                '"features[0]" must be one of [daily.punches, daily.totals, monthly]',
            ),
            ({**START, "paymentDate": "30/04/2025"}, '"paymentDate" must be in YYYY-MM-DD format'),
            ([], '"value" must be of type object'),
            ({**START, "year": "0000"}, "year must be"),
        ],
    )
    def test_start_validation(self, pw, body, message):
        answer = start(pw, body)
        assert answer.status_code == 400
        assert answer.json()["error"].startswith(message)

    def test_start_validation_has_the_seed_shape(self, pw):
        answer = start(pw, {"month": "04", "year": "2025"})
        assert answer.json() == seed("001_reckon-start_error_400-v2")
        v1 = start(pw, {"month": "04", "year": "2025"}, **{"Accept-Version": "v1"}).json()
        assert v1 == {"error": {"message": '"rescission" is required', "code": 400}}

    def test_unknown_route(self, pw):
        assert pw.get(f"{pw.base}/reckons/process/nothing/here").status_code == 404
        assert pw.get(f"{pw.base}/costcenter").status_code == 404


class TestAuth:
    @pytest.mark.parametrize(
        ("route", "name"),
        [
            ("POST /reckons/process/start", "001_reckon-start"),
            ("GET /reckons/process/status/x", "001_reckon-status"),
            ("GET /reckons/abc", "001_reckon-results"),
            ("GET /reckons/reconsume/abc", "001_reckon-reconsume"),
            ("GET /process?subunique=1", "000_process"),
            ("POST /costcenter", "002_costcenter"),
            ("POST /subsidiaries", "003_subsidiaries"),
        ],
    )
    def test_401_and_403_have_the_documented_bodies(self, sandbox, route, name):
        method, path = route.split(" ")
        url = f"{sandbox.base_url}{path}"
        for headers in (
            {},
            basic(sandbox.login, "wrong"),
            basic("nobody", sandbox.password),
            {"Authorization": "Basic !!"},
        ):
            answer = requests.request(
                method, url, headers={**headers, "Accept-Version": "v2"}, json=[], timeout=5
            )
            assert (answer.status_code, answer.json()) == (401, seed(f"{name}_error_401")), headers
        sandbox.add_user("readonly", "pw-readonly", forbidden=True)
        answer = requests.request(method, url, headers=basic("readonly", "pw-readonly"), json=[], timeout=5)
        assert (answer.status_code, answer.json()) == (403, seed(f"{name}_error_403"))
        sandbox.set_forbidden(sandbox.login)
        answer = requests.request(
            method, url, headers=basic(sandbox.login, sandbox.password), json=[], timeout=5
        )
        assert answer.status_code == 403
        sandbox.allow(sandbox.login)
        answer = requests.request(
            method, url, headers=basic(sandbox.login, sandbox.password), json=START, timeout=5
        )
        assert answer.status_code not in (401, 403)


def test_a_sandbox_is_deterministic_for_a_seed():
    def run() -> tuple[str, list[dict]]:
        with run_sandbox(employees=5, seed=3, speed=float("inf")) as sb:
            session = requests.Session()
            session.auth = (sb.login, sb.password)
            session.base = sb.base_url  # type: ignore[attr-defined]
            process, unique = started(session)
            return process, read_all(session, unique)

    assert run() == run()

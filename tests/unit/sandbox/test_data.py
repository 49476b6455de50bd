"""The synthetic company: deterministic, valid against the models, internally consistent, lazy."""

from __future__ import annotations

import itertools
import re
import time
import tracemalloc
from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from airflow_provider_ahgora.models._base import is_valid_cnpj, is_valid_cpf
from airflow_provider_ahgora.models.pontoweb import (
    CostCenter as CostCenterModel,
)
from airflow_provider_ahgora.models.pontoweb import (
    Person,
    ReckonRecord,
    ReckonResultsPage,
    Subsidiary,
    is_valid_pis,
)
from airflow_provider_ahgora.models.voors import (
    BranchBody,
    DepartmentBody,
    HoraryBody,
    JobFunctionBody,
    JobRoleBody,
    UserBody,
)
from airflow_provider_ahgora.sandbox.data import (
    DEFAULT_CLOSING_DAY,
    EVENTS,
    FEATURES,
    Employee,
    SyntheticCompany,
    make_cnpj,
    make_cpf,
    make_pis,
)

MONTH, YEAR = "04", "2025"
#: the period of competence 04/2025 of a company that closes on the 25th
FIRST_DAY, LAST_DAY = date(2025, 3, 26), date(2025, 4, 25)
PAUSE = "pausa"
ALL = ["daily.punches", "daily.totals", "monthly"]
FEATURE_SETS: list[list[str] | None] = [
    None,
    *[list(c) for n in (1, 2, 3) for c in itertools.combinations(FEATURES, n)],
]
SEXAGESIMAL = re.compile(r"(\d{2,}):([0-5]\d)")
CENTESIMAL = re.compile(r"(\d{2,}),(\d{2})")
TOTAL_KEYS = ("expected", "expected_days", "worked", "overtime", "night", "absence", "late")


@pytest.fixture(scope="module")
def company() -> SyntheticCompany:
    return SyntheticCompany()


@pytest.fixture(scope="module")
def all_records(company: SyntheticCompany) -> list[dict[str, Any]]:
    return list(company.reckon_records(MONTH, YEAR, features=ALL, include_empty_code=True))


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def to_minutes(value: str) -> int:
    """Exact minutes of "HH:MM" (sexagesimal) or "HH,CC" (centesimal, must be whole minutes)."""
    if m := SEXAGESIMAL.fullmatch(value):
        return int(m[1]) * 60 + int(m[2])
    m = CENTESIMAL.fullmatch(value)
    assert m, f"not an hour value: {value!r}"
    hundredths = int(m[2]) * 60
    assert hundredths % 100 == 0, f"centesimal {value!r} is not a whole number of minutes"
    return int(m[1]) * 60 + hundredths // 100


def amounts(results: list[dict[str, Any]]) -> dict[str, int]:
    """Event key -> minutes (hours) or days, 0 for absent events."""
    by_name = {ev.name: key for key, ev in EVENTS.items()}
    out = dict.fromkeys(EVENTS, 0)
    for r in results:
        key = by_name[r["name"]]
        ev = EVENTS[key]
        assert r["event"] == ev.code
        assert r["type"] == ev.type
        out[key] = r["value"] if ev.type == "days" else to_minutes(r["value"])
    return out


def punch_minute(day: str, punch: dict[str, Any]) -> int:
    offset = (date.fromisoformat(punch["date"]) - date.fromisoformat(day)).days
    return offset * 1440 + int(punch["hour"][:2]) * 60 + int(punch["hour"][2:])


def work_punches(punches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entry and exit punches of a day: pause records and double taps left out."""
    out: list[dict[str, Any]] = []
    for p in punches:
        if p["label"] == PAUSE:
            assert p["type"] == "BI"
            continue
        if out and (out[-1]["date"], out[-1]["hour"], out[-1]["label"]) == (p["date"], p["hour"], p["label"]):
            continue  # a double tap: the same punch again, right after it
        out.append(p)
    return out


def intervals(day: str, punches: list[dict[str, Any]]) -> list[tuple[int, int]]:
    punches = work_punches(punches)
    assert len(punches) % 2 == 0
    out = []
    for k in range(0, len(punches), 2):
        p_in, p_out = punches[k], punches[k + 1]
        assert p_in["label"] == f"entrada-{k // 2 + 1}"
        assert p_out["label"] == f"saida-{k // 2 + 1}"
        out.append((punch_minute(day, p_in), punch_minute(day, p_out)))
    return out


def by_employee(records: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """Employee -> their record of this kind; the daily records of a split month joined in one."""
    key = "daily" if kind == "daily" else "results"
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        if key not in r:
            continue
        if key == "daily" and r["employee"] in out:
            joined = out[r["employee"]]
            out[r["employee"]] = {**joined, "daily": joined["daily"] + r["daily"]}
        else:
            out[r["employee"]] = r
    return out


def active_with_data(company: SyntheticCompany) -> list[Employee]:
    """Employees a plain reckon of MONTH/YEAR covers, from the public attributes."""
    first = date(int(YEAR), int(MONTH), 1)
    return [e for e in company.employees if not e.dismissed and e.admission < first]


# --------------------------------------------------------------------------------------------------
# determinism
# --------------------------------------------------------------------------------------------------


def test_same_seed_same_company_and_records():
    a, b = SyntheticCompany(60, seed=7), SyntheticCompany(60, seed=7)
    assert a.employees == b.employees
    assert a.branches == b.branches
    assert list(a.reckon_records(MONTH, YEAR, features=ALL)) == list(
        b.reckon_records(MONTH, YEAR, features=ALL)
    )
    assert a.voors_master_data() == b.voors_master_data()
    assert a.pontoweb_master_data() == b.pontoweb_master_data()


def test_records_do_not_depend_on_what_was_generated_before(company: SyntheticCompany):
    first = list(company.reckon_records(MONTH, YEAR, features=ALL))
    list(company.reckon_records("02", "2024", features=["daily.punches"]))
    assert list(company.reckon_records(MONTH, YEAR, features=ALL)) == first
    # one employee alone gets exactly their records of the full base
    reg = first[4]["employee"]
    alone = list(company.reckon_records(MONTH, YEAR, features=ALL, registers=[reg]))
    assert alone == [r for r in first if r["employee"] == reg]


def test_different_seed_different_data():
    a, b = SyntheticCompany(30, seed=1), SyntheticCompany(30, seed=2)
    assert [e.cpf for e in a.employees] != [e.cpf for e in b.employees]
    assert list(a.reckon_records(MONTH, YEAR, features=ALL)) != list(
        b.reckon_records(MONTH, YEAR, features=ALL)
    )


# --------------------------------------------------------------------------------------------------
# shapes and validation
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("features", FEATURE_SETS, ids=lambda f: "+".join(f) if f else "default")
@pytest.mark.parametrize("include_empty_code", [False, True])
def test_every_record_validates_and_has_the_documented_shape(
    company: SyntheticCompany, features: list[str] | None, include_empty_code: bool
):
    records = list(
        company.reckon_records(MONTH, YEAR, features=features, include_empty_code=include_empty_code)
    )
    assert records
    page = ReckonResultsPage.model_validate(
        {"company": company.company, "unique": "3234ca5d", "total": len(records), "data": records}
    )
    assert len(page.data) == len(records)
    feats = set(features or ["monthly"])
    want_daily = bool(feats & {"daily.punches", "daily.totals"})
    per_employee = Counter(r["employee"] for r in records)
    split = {e.registration for e in company.employees if e.split_month}
    for employee, count in per_employee.items():
        assert count == int(want_daily) * (2 if employee in split else 1) + int("monthly" in feats)
    if want_daily:
        assert split & set(per_employee), "some months are split in two daily records"
    for i, rec in enumerate(records):
        model = ReckonRecord.model_validate(rec)
        assert model.infotype == "0015"
        assert model.payment_date == "2025-04-30"
        assert set(rec) in (
            {"employee", "paymentDate", "infotype", "results"},
            {"employee", "paymentDate", "infotype", "daily"},
        )
        if want_daily and "monthly" in feats:
            # the daily record(s) of an employee come first, then the monthly one (as in the documents)
            following = records[i + 1] if i + 1 < len(records) else None
            if "daily" in rec:
                assert following is not None
                assert following["employee"] == rec["employee"]
            else:
                assert following is None or following["employee"] != rec["employee"]
        if "results" in rec:
            assert model.kind == "monthly"
            check_results(rec["results"], monthly=True)
        else:
            assert model.kind == "daily"
            assert rec["daily"], "an employee with data has days"
            for day in rec["daily"]:
                expected_keys = ["day"]
                expected_keys += ["results"] if "daily.totals" in feats else []
                expected_keys += ["punches"] if "daily.punches" in feats else []
                assert list(day) == expected_keys
                assert FIRST_DAY <= date.fromisoformat(day["day"]) <= LAST_DAY
                if "results" in day:
                    check_results(day["results"], monthly=False)
                for p in day.get("punches", []):
                    assert list(p) == ["date", "hour", "type", "label"]
                    assert re.fullmatch(r"([01]\d|2[0-3])[0-5]\d", p["hour"])
                    assert p["type"] in {"O", "I", "BI"}
                    assert re.fullmatch(r"(entrada|saida)-\d|pausa", p["label"])
        for day in rec.get("daily", []):
            for r in day.get("results", []):
                assert (r["event"] == "") == (r["name"] == EVENTS["break"].name)
        events = [r["event"] for r in rec.get("results", [])] + [
            r["event"] for d in rec.get("daily", []) for r in d.get("results", [])
        ]
        assert ("" in events) <= include_empty_code


def check_results(results: list[dict[str, Any]], *, monthly: bool) -> None:
    assert results
    names = [r["name"] for r in results]
    assert names[:3] == ["Horas previstas", "Dias previstos", "Horas trabalhadas"]
    assert ("DSR" in names) == monthly
    assert len(names) == len(set(names))
    for r in results:
        assert list(r) == ["name", "event", "value", "type"]
        ev = next(e for e in EVENTS.values() if e.name == r["name"])
        assert r["event"] == ev.code
        assert r["type"] == ev.type
        if ev.type == "days":
            assert isinstance(r["value"], int)
            assert not isinstance(r["value"], bool)
        elif ev.format == "sexagesimal":
            assert SEXAGESIMAL.fullmatch(r["value"]), r
        else:
            assert CENTESIMAL.fullmatch(r["value"]), r
            to_minutes(r["value"])  # whole minutes
    if not monthly:
        assert results[1]["value"] == 1


def test_documented_seed_values_shape(company: SyntheticCompany):
    """Horas previstas 9077 sexagesimal, Dias previstos 9078 a number, Faltas in hours."""
    assert EVENTS["expected"][:3] == ("Horas previstas", "9077", "hours")
    assert EVENTS["expected_days"][:3] == ("Dias previstos", "9078", "days")
    assert EVENTS["absence"].type == "hours"
    assert EVENTS["break"].code == ""
    assert {e.format for e in EVENTS.values() if e.type == "hours"} == {"sexagesimal", "centesimal"}


def test_mix_of_punch_types_registrations_and_saturdays(company: SyntheticCompany, all_records):
    types = Counter(p["type"] for r in all_records for d in r.get("daily", []) for p in d["punches"])
    assert types["O"] > types["I"] > 0
    assert types["BI"] > 0
    # BI punches are the break records: saida-k / entrada-(k+1) or a pause, inside the day
    for r in all_records:
        for d in r.get("daily", []):
            work = work_punches(d["punches"])
            for k, p in enumerate(work):
                if p["type"] == "BI":
                    assert 0 < k < len(work) - 1
            for p in d["punches"]:
                if p["label"] == PAUSE:
                    assert punch_minute(d["day"], work[0]) < punch_minute(d["day"], p)
                    assert punch_minute(d["day"], p) < punch_minute(d["day"], work[1])
    assert any(not e.registration.isdigit() for e in company.employees)
    assert all(re.fullmatch(r"\d{6}|\d{2}[a-z]\d{3}[A-Z]", e.registration) for e in company.employees)
    weekdays = Counter(
        date.fromisoformat(d["day"]).weekday() for r in all_records for d in r.get("daily", [])
    )
    assert weekdays[5] > 0, "some employees work some Saturdays"
    assert weekdays[6] == 0
    assert {e.shift for e in company.employees} == {"day", "night", "part-time"}


# --------------------------------------------------------------------------------------------------
# identifiers and master data
# --------------------------------------------------------------------------------------------------


def test_identifiers_are_valid_and_unique():
    big = SyntheticCompany(3000, seed=11)
    cpfs = [e.cpf for e in big.employees]
    pis = [e.pis for e in big.employees]
    regs = [e.registration for e in big.employees]
    assert all(is_valid_cpf(c) for c in cpfs)
    assert all(is_valid_pis(p) for p in pis)
    assert len(set(cpfs)) == len(set(pis)) == len(set(regs)) == 3000
    cnpjs = [b.cnpj for b in big.branches]
    assert all(is_valid_cnpj(c) for c in cnpjs)
    assert len(set(cnpjs)) == len(cnpjs) > 1
    assert len({c[:8] for c in cnpjs}) == 1, "branches share the company's CNPJ root"
    for b in big.branches:
        assert re.fullmatch(r"\d{8}", b.cep)
        assert re.fullmatch(r"[a-z]{2}", b.estado)
        assert re.fullmatch(r"\d{7}", b.ibge)
        assert b.cidade
        assert b.razao_social


def test_make_helpers_are_deterministic_valid_and_injective():
    ns = [*range(5000), 10**8 - 1, 99_999_998, 12_345_678]
    cpfs = [make_cpf(n) for n in ns]
    assert cpfs == [make_cpf(n) for n in ns]
    assert all(is_valid_cpf(c) for c in cpfs)
    assert len(set(cpfs)) == len(ns)
    cnpjs = [make_cnpj(n) for n in ns] + [make_cnpj(7, order) for order in range(2, 200)]
    assert all(is_valid_cnpj(c) for c in cnpjs)
    assert len(set(cnpjs)) == len(cnpjs)
    assert make_cnpj(7)[8:12] == "0001"
    pis = [make_pis(n) for n in ns]
    assert all(is_valid_pis(p) for p in pis)
    assert len(set(pis)) == len(ns)
    for bad in (-1, 10**8):
        with pytest.raises(ValueError, match="make_cpf"):
            make_cpf(bad)
    with pytest.raises(ValueError, match="order"):
        make_cnpj(1, 0)


def test_cpf_walks_past_repeated_digit_bases():
    # a CPF whose base would be 111111111... is refused by the validator: never produced
    assert not any(make_cpf(n)[:9] == make_cpf(n)[0] * 9 for n in range(20000))


def validate_body(model: type[BaseModel], body: dict[str, Any]) -> None:
    obj = model.model_validate(body)
    assert not obj.model_extra, f"{model.__name__} does not know {sorted(obj.model_extra or {})}"
    assert obj.to_wire() == body  # type: ignore[attr-defined]


def test_voors_master_data_validates_and_is_ordered(company: SyntheticCompany):
    data = company.voors_master_data()
    assert list(data) == ["branches", "departments", "jobRoles", "jobFunctions", "horaries", "users"]
    models: dict[str, type[BaseModel]] = {
        "branches": BranchBody,
        "departments": DepartmentBody,
        "jobRoles": JobRoleBody,
        "jobFunctions": JobFunctionBody,
        "horaries": HoraryBody,
        "users": UserBody,
    }
    for name, bodies in data.items():
        assert bodies, name
        for body in bodies:
            validate_body(models[name], body)
    branch_ids = {b["remoteId"] for b in data["branches"]}
    dept_ids = {d["remoteId"] for d in data["departments"]}
    role_ids = {r["remoteId"] for r in data["jobRoles"]}
    function_ids = {f["remoteId"] for f in data["jobFunctions"]}
    horary_ids = {h["remoteId"] for h in data["horaries"]}
    assert all(d["branch"]["remoteId"] in branch_ids for d in data["departments"])
    assert all(f["jobRole"]["id"] in role_ids for f in data["jobFunctions"])
    users = data["users"]
    assert len(users) == len(company.employees)
    assert len({u["cpf"] for u in users}) == len(users)
    seen: set[str] = set()
    for u in users:
        assert u["department"]["id"] in dept_ids
        assert u["jobRole"]["id"] in role_ids
        assert u["jobFunction"]["id"] in function_ids
        assert u["horary"]["id"] in horary_ids
        assert u["meta"]["employmentRelationships"][0] in branch_ids
        if "appraisedBy" in u:
            assert u["appraisedBy"] in seen, "leaders come before the users they lead"
            assert u["appraisedBy"] != u["cpf"]
        seen.add(u["cpf"])
    assert "appraisedBy" not in users[0]
    assert sum("appraisedBy" not in u for u in users) == 1
    night = next(h for h in data["horaries"] if h["title"].startswith("Noturno"))
    assert (night["horaryEntry1"], night["horaryExit2"]) == ("22:00", "06:00")


def test_pontoweb_master_data_validates(company: SyntheticCompany):
    data = company.pontoweb_master_data()
    assert list(data) == ["costcenter", "subsidiaries"]
    for body in data["costcenter"]:
        validate_body(CostCenterModel, body)
    for body in data["subsidiaries"]:
        validate_body(Subsidiary, body)
    assert [c["codigo"] for c in data["costcenter"]] == [c.codigo for c in company.cost_centers]
    assert {e.cost_center for e in company.employees} <= {c.codigo for c in company.cost_centers}
    assert [s["numeroCadastro"] for s in data["subsidiaries"]] == [b.cnpj for b in company.branches]
    for body in company.pontoweb_people():
        validate_body(Person, body)


# --------------------------------------------------------------------------------------------------
# consistency: punches <-> daily totals <-> monthly totals
# --------------------------------------------------------------------------------------------------


def test_night_shift_crosses_midnight(company: SyntheticCompany, all_records):
    night = [e.registration for e in company.employees if e.shift == "night" and not e.dismissed]
    assert night
    daily = by_employee(all_records, "daily")
    crossing = 0
    for reg in night:
        for day in daily[reg]["daily"]:
            if not day["punches"]:
                continue
            first, last = work_punches(day["punches"])[0], day["punches"][-1]
            assert first["date"] == day["day"]
            assert first["label"] == "entrada-1"
            assert first["hour"] >= "2100"
            next_day = (date.fromisoformat(day["day"]) + timedelta(days=1)).isoformat()
            assert last["date"] == next_day
            crossing += 1
            assert amounts(day["results"])["night"] > 0
    assert crossing > 10
    # a shift that starts on the period's last day (Friday 25/04) ends in the next period
    last_day = {d["day"]: d for reg in night for d in daily[reg]["daily"] if d["punches"]}
    assert "2025-04-25" in last_day
    assert last_day["2025-04-25"]["punches"][-1]["date"] == "2025-04-26"


def test_daily_totals_agree_with_punches(all_records):
    checked = absent = 0
    for rec in all_records:
        for day in rec.get("daily", []):
            got = amounts(day["results"])
            spans = intervals(day["day"], day["punches"])
            if not spans:
                absent += 1
                assert got["worked"] == 0
                assert got["absence"] == got["expected"] > 0
                assert got["overtime"] == got["night"] == got["late"] == 0
                continue
            assert got["absence"] == 0
            worked = sum(b - a for a, b in spans)
            assert all(a < b for a, b in spans)
            assert all(spans[k][1] < spans[k + 1][0] for k in range(len(spans) - 1))
            assert got["worked"] == worked
            assert got["break"] == sum(spans[k + 1][0] - spans[k][1] for k in range(len(spans) - 1))
            night = sum(
                max(0, min(b, we) - max(a, ws)) for a, b in spans for ws, we in ((0, 300), (1320, 1740))
            )
            assert got["night"] == night
            diff = worked - got["expected"]
            assert got["overtime"] == (diff if diff > 10 else 0)
            assert got["late"] == (-diff if diff < -10 else 0)
            checked += 1
    assert checked > 500
    assert absent > 0


def test_monthly_totals_are_the_sum_of_the_daily_ones(company: SyntheticCompany, all_records):
    daily = by_employee(all_records, "daily")
    monthly = by_employee(all_records, "monthly")
    assert daily.keys() == monthly.keys()
    saw_overtime = saw_night = saw_absence = False
    for reg, rec in monthly.items():
        month = amounts(rec["results"])
        days = [amounts(d["results"]) for d in daily[reg]["daily"]]
        for key in (*TOTAL_KEYS, "break"):
            assert month[key] == sum(d[key] for d in days), (reg, key)
        assert month["expected_days"] == len(days)
        saw_overtime |= month["overtime"] > 0
        saw_night |= month["night"] > 0
        saw_absence |= month["absence"] > 0
        # April 2025 has 4 Sundays; a mid-month admission has fewer
        assert 0 <= month["dsr"] <= 4
    assert saw_overtime
    assert saw_night
    assert saw_absence


def test_monthly_sum_holds_for_other_months_and_seeds():
    c = SyntheticCompany(40, seed=99)
    for month, year in (("02", "2024"), ("12", "2025"), ("01", "2026")):
        records = list(c.reckon_records(month, year, features=["daily.totals", "monthly"]))
        daily, monthly = by_employee(records, "daily"), by_employee(records, "monthly")
        for reg, rec in monthly.items():
            m = amounts(rec["results"])
            for key in TOTAL_KEYS:
                assert m[key] == sum(amounts(d["results"])[key] for d in daily[reg]["daily"])


def test_absent_days_are_listed_without_punches_with_punches_alone(company: SyntheticCompany):
    totals = by_employee(list(company.reckon_records(MONTH, YEAR, features=["daily.totals"])), "daily")
    punches = by_employee(list(company.reckon_records(MONTH, YEAR, features=["daily.punches"])), "daily")
    assert totals.keys() == punches.keys()
    empty = 0
    for reg in totals:
        assert [d["day"] for d in totals[reg]["daily"]] == [d["day"] for d in punches[reg]["daily"]]
        for t, p in zip(totals[reg]["daily"], punches[reg]["daily"], strict=True):
            if not p["punches"]:
                empty += 1
                assert amounts(t["results"])["absence"] > 0
    assert empty > 0


# --------------------------------------------------------------------------------------------------
# what real clocks and closings add: a cut-off period, split months, double taps, pause records
# --------------------------------------------------------------------------------------------------


def all_days(records: list[dict[str, Any]]) -> list[date]:
    return sorted({date.fromisoformat(d["day"]) for r in records for d in r.get("daily", [])})


def test_the_period_closes_on_the_25th_by_default(company: SyntheticCompany, all_records):
    assert company.closing_day == DEFAULT_CLOSING_DAY == 25
    days = all_days(all_records)
    # 26/03/2025 is a Wednesday, 25/04/2025 a Friday: both are worked
    assert (days[0], days[-1]) == (FIRST_DAY, LAST_DAY)
    # consecutive competences follow each other: 05/2025 starts the day after 04/2025 ends
    may = all_days(list(company.reckon_records("05", "2025", features=["daily.totals"])))
    assert may[0] > LAST_DAY
    assert may[-1] <= date(2025, 5, 25)
    # a closing day past a month's end: February ends on its last day, March starts on the 1st
    thirty = SyntheticCompany(30, seed=3, closing_day=30)
    feb = all_days(list(thirty.reckon_records("02", "2025", features=["daily.totals"])))
    mar = all_days(list(thirty.reckon_records("03", "2025", features=["daily.totals"])))
    assert feb[0] >= date(2025, 1, 31)
    assert feb[-1] <= date(2025, 2, 28) < mar[0]
    assert mar[-1] <= date(2025, 3, 30)


def test_calendar_months_with_closing_day_none():
    calendar_month = SyntheticCompany(30, seed=3, closing_day=None)
    days = all_days(list(calendar_month.reckon_records(MONTH, YEAR, features=["daily.totals"])))
    assert date(2025, 4, 1) <= days[0]
    assert days[-1] <= date(2025, 4, 30)
    assert days[-1] == date(2025, 4, 30)  # a Wednesday
    same = SyntheticCompany(30, seed=3, closing_day=31)
    assert list(same.reckon_records(MONTH, YEAR, features=ALL)) == list(
        calendar_month.reckon_records(MONTH, YEAR, features=ALL)
    )
    for bad in (0, 32, True, "25"):
        with pytest.raises(ValueError, match="closing_day"):
            SyntheticCompany(3, closing_day=bad)  # type: ignore[arg-type]


def test_split_months_come_as_two_consecutive_daily_records(company: SyntheticCompany, all_records):
    split = [e for e in company.employees if e.split_month]
    assert 0 < len(split) <= len(company.employees) // 10 + 1
    seen = 0
    for e in split:
        mine = [r for r in all_records if r["employee"] == e.registration]
        if not mine:
            continue  # dismissed, or admitted later
        seen += 1
        assert ["daily" in r for r in mine] == [True, True, False]
        first, second = mine[0]["daily"], mine[1]["daily"]
        assert first
        assert second
        assert first[-1]["day"] < second[0]["day"]  # in order, no day in common
        assert abs(len(first) - len(second)) <= 1
        for key in ("employee", "paymentDate", "infotype"):
            assert mine[0][key] == mine[1][key]
    assert seen
    others = {e.registration for e in company.employees if not e.split_month}
    per_employee = Counter(r["employee"] for r in all_records if "daily" in r)
    assert all(per_employee[reg] == 1 for reg in others if reg in per_employee)


def test_double_taps_repeat_a_punch_exactly_or_as_a_manual_inclusion(all_records):
    exact = manual = 0
    for r in all_records:
        for d in r.get("daily", []):
            punches = d["punches"]
            for a, b in itertools.pairwise(punches):
                if (a["date"], a["hour"], a["label"]) == (b["date"], b["hour"], b["label"]):
                    if a["type"] == b["type"]:
                        exact += 1
                    else:
                        assert "I" in {a["type"], b["type"]}
                        manual += 1
            # a label is never given twice at different times: a tap is the same punch again
            times: dict[str, set[tuple[str, str]]] = {}
            for p in punches:
                if p["label"] != PAUSE:
                    times.setdefault(p["label"], set()).add((p["date"], p["hour"]))
            assert all(len(t) == 1 for t in times.values())
    assert exact > 0
    assert manual > 0


def test_pause_records_are_break_punches_of_part_time_employees(company: SyntheticCompany, all_records):
    pairs = singles = 0
    for r in all_records:
        for d in r.get("daily", []):
            pauses = [p for p in d["punches"] if p["label"] == PAUSE]
            if not pauses:
                continue
            assert company.employee(r["employee"]).shift == "part-time"  # type: ignore[union-attr]
            assert all(p["type"] == "BI" for p in pauses)
            if len(pauses) == 2:
                pairs += 1
                length = punch_minute(d["day"], pauses[1]) - punch_minute(d["day"], pauses[0])
                assert 9 <= length <= 15
            else:
                assert len(pauses) == 1  # the end of the pause was not recorded
                singles += 1
    assert pairs > singles > 0


def test_quirks_depend_on_the_seed_only():
    a, b = SyntheticCompany(60, seed=8), SyntheticCompany(60, seed=8)
    assert [e.split_month for e in a.employees] == [e.split_month for e in b.employees]
    c = SyntheticCompany(60, seed=9)
    assert [e.split_month for e in a.employees] != [e.split_month for e in c.employees]


# --------------------------------------------------------------------------------------------------
# filters and options
# --------------------------------------------------------------------------------------------------


def employees_of(records: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["employee"] for r in records))


def test_registers_filter_keeps_company_order_and_ignores_unknown(company: SyntheticCompany):
    active = active_with_data(company)
    wanted = [active[9].registration, active[2].registration, "does-not-exist", active[5].registration]
    records = list(company.reckon_records(MONTH, YEAR, features=ALL, registers=wanted))
    assert employees_of(records) == [active[2].registration, active[5].registration, active[9].registration]
    assert len(records) == 6
    assert list(company.reckon_records(MONTH, YEAR, registers=["nobody"])) == []


def test_locations_filter(company: SyntheticCompany):
    location = company.employees[0].location
    records = list(company.reckon_records(MONTH, YEAR, locations=[location]))
    regs = set(employees_of(records))
    assert regs
    assert all(company.employee(r).location == location for r in regs)  # type: ignore[union-attr]
    everyone = set(employees_of(list(company.reckon_records(MONTH, YEAR))))
    assert regs == {r for r in everyone if company.employee(r).location == location}  # type: ignore[union-attr]
    assert list(company.reckon_records(MONTH, YEAR, locations=["Atlantis - Matriz"])) == []


def test_rescission_names_dismissed_employees(company: SyntheticCompany):
    dismissed = [e for e in company.employees if e.dismissed]
    assert dismissed
    d = dismissed[0]
    active = active_with_data(company)[0]
    everyone = set(employees_of(list(company.reckon_records(MONTH, YEAR))))
    assert d.registration not in everyone
    assert list(company.reckon_records(MONTH, YEAR, registers=[d.registration])) == []
    records = list(
        company.reckon_records(
            MONTH, YEAR, features=ALL, rescission=True, registers=[d.registration, active.registration]
        )
    )
    assert set(employees_of(records)) == {d.registration, active.registration}
    daily = by_employee(records, "daily")[d.registration]["daily"]
    assert daily
    assert d.dismissal_day is not None
    # dismissed on the dismissal_day-th day of the period
    assert max(date.fromisoformat(x["day"]) for x in daily) <= FIRST_DAY + timedelta(days=d.dismissal_day - 1)
    with pytest.raises(ValueError, match="rescission"):
        company.reckon_records(MONTH, YEAR, rescission=True)


def test_allow_empty_and_mid_month_admission():
    c = SyntheticCompany(200, seed=5)
    late = sorted(
        (e for e in c.employees if e.admission.year >= 2024 and not e.dismissed), key=lambda e: e.admission
    )
    assert late
    e = late[0]
    before = e.admission.replace(day=1) - timedelta(days=1)
    month, year = f"{before.month:02d}", str(before.year)
    plain = employees_of(list(c.reckon_records(month, year)))
    assert e.registration not in plain
    records = list(c.reckon_records(month, year, features=ALL, allow_empty=True, registers=[e.registration]))
    assert records == [
        {"employee": e.registration, "paymentDate": before.isoformat(), "infotype": "0015", "daily": []},
        {"employee": e.registration, "paymentDate": before.isoformat(), "infotype": "0015", "results": []},
    ]
    assert c.reckon_total(month, year, allow_empty=True) > c.reckon_total(month, year)
    # in the month of the admission, the days start at the admission
    adm_month = f"{e.admission.month:02d}"
    recs = list(
        c.reckon_records(
            adm_month, str(e.admission.year), features=["daily.totals"], registers=[e.registration]
        )
    )
    if recs:
        assert min(d["day"] for d in recs[0]["daily"]) >= e.admission.isoformat()


def test_include_empty_code(company: SyntheticCompany):
    def codes(**kw: Any) -> set[str]:
        recs = company.reckon_records(MONTH, YEAR, features=["daily.totals", "monthly"], **kw)
        out = set()
        for r in recs:
            out |= {x["event"] for x in r.get("results", [])}
            out |= {x["event"] for d in r.get("daily", []) for x in d["results"]}
        return out

    assert "" not in codes()
    assert "" in codes(include_empty_code=True)


def test_payment_date_infotype_and_features(company: SyntheticCompany):
    rec = next(company.reckon_records("02", "2024"))
    assert rec["paymentDate"] == "2024-02-29"
    assert "results" in rec, "monthly is the default feature"
    rec = next(company.reckon_records(MONTH, YEAR, payment_date="2025-05-05", infotype="0020"))
    assert (rec["paymentDate"], rec["infotype"]) == ("2025-05-05", "0020")
    with pytest.raises(ValueError, match="feature"):
        company.reckon_records(MONTH, YEAR, features=["weekly"])
    with pytest.raises(ValueError, match="month"):
        company.reckon_records("13", YEAR)
    with pytest.raises(ValueError, match="payment_date"):
        company.reckon_records(MONTH, YEAR, payment_date="30/04/2025")
    assert list(company.reckon_records(MONTH, YEAR, features=[])) == list(company.reckon_records(MONTH, YEAR))


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"features": ALL},
        {"features": ["daily.punches"]},
        {"features": ["daily.totals", "monthly"], "allow_empty": True},
        {"features": ALL, "locations": ["__first__"]},
        {"features": ALL, "registers": ["__some__", "unknown"]},
        {"features": ALL, "registers": ["__dismissed__"], "rescission": True},
        {"features": ["monthly"], "registers": ["__dismissed__"], "rescission": False},
    ],
)
@pytest.mark.parametrize(("month", "year"), [(MONTH, YEAR), ("02", "2024"), ("11", "2026")])
def test_reckon_total_matches_records(
    company: SyntheticCompany, kwargs: dict[str, Any], month: str, year: str
):
    kwargs = dict(kwargs)
    if kwargs.get("locations") == ["__first__"]:
        kwargs["locations"] = [company.locations[0].name]
    if kwargs.get("registers") == ["__some__", "unknown"]:
        kwargs["registers"] = [e.registration for e in company.employees[::7]] + ["unknown"]
    if kwargs.get("registers") == ["__dismissed__"]:
        kwargs["registers"] = [e.registration for e in company.employees if e.dismissed]
    records = list(company.reckon_records(month, year, **kwargs))
    assert company.reckon_total(month, year, **kwargs) == len(records)


# --------------------------------------------------------------------------------------------------
# size and laziness
# --------------------------------------------------------------------------------------------------


def test_twenty_thousand_employees_build_and_count_fast():
    start = time.perf_counter()
    c = SyntheticCompany(20_000)
    total = c.reckon_total(MONTH, YEAR, features=ALL)
    elapsed = time.perf_counter() - start
    assert elapsed < 5, elapsed
    assert len(c.employees) == 20_000
    assert len({e.cpf for e in c.employees}) == 20_000
    assert len({e.registration for e in c.employees}) == 20_000
    assert 2 * 18_000 < total <= 2 * 20_000 + 2_000  # one month in ten comes in two daily records


def test_records_are_lazy():
    c = SyntheticCompany(20_000)
    tracemalloc.start()
    try:
        records = c.reckon_records(MONTH, YEAR, features=ALL)
        days = sum(len(r.get("daily", [])) for r in itertools.islice(records, 1000))
        _, streaming_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        kept = list(itertools.islice(c.reckon_records(MONTH, YEAR, features=ALL), 1000))
        _, kept_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert days > 5000
    assert len(kept) == 1000
    assert streaming_peak < 5_000_000, streaming_peak
    assert kept_peak < 50_000_000, kept_peak

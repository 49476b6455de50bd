"""The closing's steps after the reckon (airflow_provider_ahgora.closing): the files are what the
transforms make of the results, written whole, with failure reports; the report of the steps names
what failed or did not run."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_ahgora.closing import closing_report, read_employees, write_payroll, write_timecards
from airflow_provider_ahgora.sandbox.data import SyntheticCompany
from airflow_provider_ahgora.transforms import payroll_rows, reckon_span, time_cards

FEATURES = ["daily.punches", "daily.totals", "monthly"]


@pytest.fixture
def results(tmp_path) -> tuple[Path, list[dict[str, Any]], SyntheticCompany]:
    company = SyntheticCompany(employees=6, seed=7, company="a000107")
    records = list(company.reckon_records("03", "2026", features=FEATURES))
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path, records, company


def test_payroll_file_and_its_empty_failure_report(results, tmp_path):
    path, records, _ = results
    out = write_payroll(str(path), str(tmp_path), dialect="rfc4180")
    with (tmp_path / "payroll.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == out["rows"] == len(list(payroll_rows(records))) > 0
    assert (out["failed"], Path(out["report_path"]).read_text()) == (0, "")
    assert not list(tmp_path.glob(".*.partial"))  # committed: no temporary object left


def test_time_cards_of_the_employees_known_by_cpf(results, tmp_path):
    path, records, company = results
    employees = tmp_path / "employees.json"
    known = {e.registration: e.cpf for e in company.employees[:-1]}  # the last one has no CPF here
    employees.write_text(json.dumps(known), encoding="utf-8")
    out = write_timecards(
        str(path),
        str(tmp_path),
        company="a000107",
        competence="03/2026",
        employees=read_employees(str(employees)),
    )
    want = list(
        time_cards(
            records,
            user_lookup=known,
            company="a000107",
            competence="03/2026",
            period=reckon_span(records),
            interval="month",
            on_error="skip",
            errors=[],
        )
    )
    cards = [json.loads(line) for line in (tmp_path / "timecards.jsonl").read_text().splitlines()]
    assert cards == want
    assert out["cards"] == len(cards) == len(company.employees) - 1
    (failure,) = [json.loads(line) for line in Path(out["report_path"]).read_text().splitlines()]
    assert failure["employee"] == company.employees[-1].registration
    assert failure["reason"]


def test_employees_from_csv(tmp_path):
    path = tmp_path / "employees.csv"
    path.write_text("registration,cpf\n000123,52998224725\n", encoding="utf-8")
    assert read_employees(str(path)) == {"000123": "52998224725"}


def test_report_of_a_complete_closing_and_of_one_with_problems():
    done = {
        "reckon": {"progress": {"total": 6}, "unique": "u1"},
        "results": {"records": 12, "path": "/r.jsonl", "csv_path": "/r.csv"},
        "payroll": {"rows": 40, "failed": 0, "path": "/p.csv", "report_path": "/p.f"},
        "timecards": {"cards": 6, "failed": 0, "path": "/t.jsonl", "report_path": "/t.f"},
        "push_timecards": {"succeeded": 6, "failed": 0, "report_path": "/push.f"},
    }
    report = closing_report(done)
    assert report["problems"] == []
    assert (report["records_fetched"], report["timecards"], report["timecards_pushed"]) == (12, 6, 6)
    assert report["files"] == ["/r.jsonl", "/r.csv", "/p.csv", "/t.jsonl"]
    assert report["failure_reports"] == ["/p.f", "/t.f", "/push.f"]
    assert len(report["lines"]) == 6

    broken = {
        **done,
        "payroll": None,
        "push_timecards": {"succeeded": 5, "failed": 1, "report_path": "/push.f"},
    }
    report = closing_report(broken)
    assert report["problems"] == [
        "payroll: no report (the task failed or did not run: see its log)",
        "push_timecards: 1 record(s) failed, named in /push.f",
    ]
    assert report["failed"] == 1
    assert "did not complete" in report["lines"][3]

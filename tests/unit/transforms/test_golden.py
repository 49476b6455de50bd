"""Golden tests on the sandbox's synthetic company: 20 employees, seed 7, April 2025, every feature.

The pinned company closes its months on their last day (``closing_day=None``), as it did when the
figures were first checked by hand; its records hold what real clocks add (double taps, pause
records, two months split in two daily records: the night-shift employee's is one of them), which
change none of the figures. The last tests run the default company, which closes on the 25th.

Three kinds of check:

* invariants over every record, computed here by independent means (own tiny parsers, datetime
  arithmetic on the punches): every time card validates through ``TimeCardBody``; per employee the
  time card's totals equal the monthly record's amounts; the time worked on each day, recomputed from
  the punches, equals the reckon's figure, night shifts included;
* hand-computed values for a few records (the arithmetic is written next to each assertion);
* a golden file (``golden/sandbox_20_7_2025_04.json``) pinning the exact payroll rows of two
  employees and the whole time card of the night-shift employee. Regenerate it only after checking
  the differences by hand: ``python -m tests.unit.transforms.test_golden``.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_ahgora.sandbox.data import SyntheticCompany
from airflow_provider_ahgora.transforms import (
    TransformError,
    closing_period,
    payroll_csv_header,
    payroll_rows,
    reckon_span,
    time_cards,
    worked_minutes,
)

GOLDEN = Path(__file__).parent / "golden" / "sandbox_20_7_2025_04.json"
ALL_FEATURES = ["daily.punches", "daily.totals", "monthly"]
NIGHT = "53f968S"  # the company's first night-shift employee (horary H03, 22:00-02:00 + 03:00-06:00)
PART_TIME = "000001"  # part-time (H04, 09:00-12:00 + 12:15-15:15), breaks clocked ("BI")


@pytest.fixture(scope="module")
def company() -> SyntheticCompany:
    return SyntheticCompany(20, seed=7, closing_day=None)


@pytest.fixture(scope="module")
def records(company) -> list[dict[str, Any]]:
    return list(company.reckon_records("04", "2025", features=ALL_FEATURES, include_empty_code=True))


@pytest.fixture(scope="module")
def lookup(company) -> dict[str, str]:
    return {e.registration: e.cpf for e in company.employees}


def employee_of_card(card: dict[str, Any]) -> str:
    return str(card["remoteId"]).split("-")[1]  # "<company>-<employee>-<YYYYMM>"


@pytest.fixture(scope="module")
def cards(records, lookup, company) -> dict[str, dict[str, Any]]:
    return {employee_of_card(c): c for c in time_cards(records, user_lookup=lookup, company=company.company)}


def joined(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Employee -> every day of their daily records (a split month joined)."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if "daily" in r:
            out[r["employee"]] += r["daily"]
    return out


# ------------------------------------------------------------------------- independent reference code


def ref_minutes(value: str) -> Fraction:
    """Minutes of "HH:MM" or "HH,CC", by a different route than the module (fractions, string split)."""
    if ":" in value:
        hours, mins = value.split(":")
        return Fraction(int(hours) * 60 + int(mins))
    return Fraction(value.replace(",", ".")) * 60


def ref_hmm(minutes: Fraction) -> str:
    assert minutes.denominator == 1
    m = int(minutes)
    return f"{m // 60}:{m % 60:02d}"


def ref_worked(punches: list[dict[str, Any]]) -> int:
    """entrada-k -> saida-k, on real datetimes (a label listed twice is one punch tapped twice)."""
    at = {p["label"]: datetime.strptime(f"{p['date']} {p['hour']}", "%Y-%m-%d %H%M") for p in punches}
    total = 0
    for label, start in at.items():
        if label.startswith("entrada-"):
            end = at[label.replace("entrada", "saida")]
            total += int((end - start).total_seconds()) // 60
    return total


def amount(row: dict[str, Any]) -> Fraction:
    return Fraction(row["minutes"] if row["type"] == "hours" else row["days"])


def build_golden(records: list[dict[str, Any]], lookup: dict[str, str], company: str) -> dict[str, Any]:
    monthly = [r for r in records if "results" in r and r["employee"] in (PART_TIME, NIGHT)]
    night_daily = [r for r in records if "daily" in r and r["employee"] == NIGHT]  # a split month: two
    (night_card,) = time_cards(night_daily, user_lookup=lookup, company=company)
    return {"payroll_rows": list(payroll_rows(monthly)), "night_time_card": night_card}


# ------------------------------------------------------------------------------------------ invariants


def test_shape_of_the_data(records, company):
    assert len(records) == 42  # 20 employees x (daily + monthly), two months split in two daily records
    assert company.employee(NIGHT).shift == "night"
    assert company.employee(NIGHT).split_month
    assert company.employee(PART_TIME).shift == "part-time"
    punches = [p for r in records for d in r.get("daily", []) for p in d["punches"]]
    assert any(p["label"] == "pausa" for p in punches)  # pause records
    taps = sum(
        (a["date"], a["hour"], a["label"]) == (b["date"], b["hour"], b["label"])
        for r in records
        for d in r.get("daily", [])
        for a, b in zip(d["punches"], d["punches"][1:], strict=False)
    )
    assert taps > 0  # double taps


def test_every_time_card_validates(cards, records):
    from airflow_provider_ahgora.models.voors import TimeCardBody

    assert len(cards) == 20
    for card in cards.values():
        body = TimeCardBody.model_validate(card)
        assert body.to_wire() == card  # nothing dropped or changed by the model


def test_same_cards_from_models_and_json_lines(records, lookup, cards):
    from airflow_provider_ahgora.models.pontoweb import ReckonRecord

    models = [ReckonRecord.model_validate(r) for r in records]
    assert list(time_cards(models, user_lookup=lookup, company="a000101")) == list(cards.values())
    jsonl = io.StringIO("".join(json.dumps(r) + "\n" for r in records))
    assert list(time_cards(jsonl, user_lookup=lookup, company="a000101")) == list(cards.values())


def test_card_totals_equal_the_monthly_record(records, cards):
    monthly = {r["employee"]: r for r in records if "results" in r}
    for employee, card in cards.items():
        expected = {
            res["name"]: ref_hmm(ref_minutes(res["value"]))
            for res in monthly[employee]["results"]
            if res["type"] == "hours"
        }
        got = {t["title"]: t["total"] for t in card["totals"]}
        assert got == expected, employee


def test_daily_totals_sum_to_totals(cards):
    for employee, card in cards.items():
        sums: dict[str, Fraction] = defaultdict(Fraction)
        for day in card["days"]:
            for total in day.get("dailyTotal", []):
                sums[total["title"]] += ref_minutes(total["total"])
        assert {t: ref_hmm(m) for t, m in sums.items()} == {t["title"]: t["total"] for t in card["totals"]}, (
            employee
        )


def test_worked_time_recomputed_from_punches(records, cards):
    night_days = 0
    for employee, entries in joined(records).items():
        card = cards[employee]
        by_date = {d["date"]: d for d in card["days"]}
        assert len(by_date) == len(entries)
        for entry in entries:
            day = by_date[datetime.strptime(entry["day"], "%Y-%m-%d").strftime("%d/%m/%Y")]
            reckoned = next(r["value"] for r in entry["results"] if r["name"] == "Horas trabalhadas")
            assert ref_worked(entry["punches"]) == ref_minutes(reckoned) == worked_minutes(entry)
            totals = {t["title"]: t["total"] for t in day["dailyTotal"]}
            assert totals["Horas trabalhadas"] == ref_hmm(ref_minutes(reckoned))
            # each slot holds the punch's own clock time, whatever its date
            for p in entry["punches"]:
                if p["label"] == "pausa":
                    continue  # a pause record: no slot (an observation)
                kind, k = p["label"].split("-")
                slot = f"{'entry' if kind == 'entrada' else 'exit'}{k}"
                assert day[slot] == f"{p['hour'][:2]}:{p['hour'][2:]}"
                if p["date"] != entry["day"]:
                    night_days += 1
                    assert slot.startswith("exit") or slot == "entry2"
                    assert day[slot] < "12:00"  # the morning after (06:00 plus any overtime)
    assert night_days > 0


def test_punches_only_reckon_gives_the_same_worked_time(company, lookup, cards):
    punches_only = list(company.reckon_records("04", "2025", features=["daily.punches"]))
    assert all("results" not in d for r in punches_only for d in r["daily"])
    for card in time_cards(punches_only, user_lookup=lookup, company=company.company):
        employee = employee_of_card(card)
        full = cards[employee]
        for day, full_day in zip(card["days"], full["days"], strict=True):
            worked = next(t for t in full_day["dailyTotal"] if t["title"] == "Horas trabalhadas")
            assert day["dailyTotal"] == [worked], (employee, day["date"])
            assert {k: v for k, v in day.items() if k != "dailyTotal"} == {
                k: v for k, v in full_day.items() if k != "dailyTotal"
            }
        worked_total = next(t for t in full["totals"] if t["title"] == "Horas trabalhadas")
        assert card["totals"] == [worked_total]


def test_payroll_rows_of_everyone(records):
    monthly = [r for r in records if "results" in r]
    rows = list(payroll_rows(records))
    assert len(rows) == sum(len(r["results"]) for r in monthly)
    for row, res in zip(rows, (res for r in monthly for res in r["results"]), strict=True):
        assert row["value"] == res["value"]
        if res["type"] == "hours":
            assert Fraction(row["minutes"]) == ref_minutes(res["value"])
            assert row["days"] == ""
        else:
            assert row["days"] == res["value"]
            assert row["minutes"] == ""


def test_daily_payroll_rows_add_up_to_the_monthly_ones(records):
    monthly: dict[tuple[str, str], Fraction] = {}
    for row in payroll_rows(records):
        monthly[(str(row["employee"]), str(row["name"]))] = amount(row)
    daily: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
    for row in payroll_rows([r for r in records if "daily" in r], include_daily=True):
        assert row["day"]
        daily[(str(row["employee"]), str(row["name"]))] += amount(row)
    monthly_without_dsr = {k: v for k, v in monthly.items() if k[1] != "DSR"}  # DSR is monthly only
    assert dict(daily) == monthly_without_dsr


def test_payroll_csv_round_trip(records):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=payroll_csv_header())
    writer.writeheader()
    rows = list(payroll_rows(records))
    writer.writerows(rows)
    back = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert back == [{k: str(v) for k, v in row.items()} for row in rows]


# ------------------------------------------------------------------------------ hand-computed values


def test_hand_computed_payroll_rows(records):
    rows = {(r["employee"], r["name"]): r for r in payroll_rows(records)}
    part = {
        name: (row["value"], row["minutes"], row["days"])
        for (emp, name), row in rows.items()
        if emp == PART_TIME
    }
    assert part == {
        "Horas previstas": ("132:00", 7920, ""),  # 22 weekdays x 6 h = 132 h = 7920 min
        "Dias previstos": (22, "", 22),
        "Horas trabalhadas": ("126:06", 7566, ""),  # 126 x 60 + 6
        "Horas extras 50%": ("01,20", 72, ""),  # 1.20 h x 60 = 72 min (not 80: centesimal)
        "Faltas": ("06,00", 360, ""),  # one absent day of 6 h
        "Atrasos": ("01:00", 60, ""),
        "DSR": (4, "", 4),  # Sundays of April 2025: 6, 13, 20, 27
        "Intervalo": ("06:09", 369, ""),
    }
    assert rows[(PART_TIME, "Intervalo")]["event"] == ""  # reckoned with includeEmptyCode
    night = {name: row["minutes"] or row["days"] for (emp, name), row in rows.items() if emp == NIGHT}
    assert night["Horas previstas"] == 154 * 60  # 22 nights x 7 h
    assert night["Horas extras 50%"] == 84  # "01,40" = 1.40 h = 84 min
    assert night["Adicional noturno"] == 7794  # "129,90" = 129.9 h = 7794 min


def test_hand_computed_night_shift(cards):
    card = cards[NIGHT]
    assert card["remoteId"] == "a000101-53f968S-202504"
    assert card["user"] == {"cpf": "53194517929"}
    assert (card["competence"], card["intervalStart"], card["intervalEnd"]) == (
        "04/2025",
        "01/04/2025",
        "30/04/2025",
    )
    days = {d["date"]: d for d in card["days"]}
    # 10/04: 21:51 -> 01:54 (next day) = 243 min, 03:00 -> 06:33 = 213 min; 456 min = 7:36,
    # 36 min over 7 h = "00,60" h; night work 22:00-01:54 (234) + 03:00-05:00 (120) = 354 min = 5:54
    assert days["10/04/2025"] == {
        "date": "10/04/2025",
        "entry1": "21:51",
        "exit1": "01:54",
        "entry2": "03:00",
        "exit2": "06:33",
        "dailyTotal": [
            {"title": "Horas previstas", "total": "7:00"},
            {"title": "Horas trabalhadas", "total": "7:36"},
            {"title": "Horas extras 50%", "total": "0:36"},
            {"title": "Adicional noturno", "total": "5:54"},
            {"title": "Intervalo", "total": "1:06"},
        ],
    }
    # 30/04, the last night, ends on 01/05: still April's card, written as punched.
    # 22:48 -> 02:00 = 192 min, 03:00 -> 06:03 = 183 min: 375 min = 6:15; 45 min late
    last = days["30/04/2025"]
    assert [last[k] for k in ("entry1", "exit1", "entry2", "exit2")] == ["22:48", "02:00", "03:00", "06:03"]
    totals = {t["title"]: t["total"] for t in last["dailyTotal"]}
    assert (totals["Horas trabalhadas"], totals["Atrasos"]) == ("6:15", "0:45")
    assert {t["title"]: t["total"] for t in card["totals"]} == {
        "Horas previstas": "154:00",
        "Horas trabalhadas": "153:27",
        "Adicional noturno": "129:54",  # "129,90" h
        "Intervalo": "23:00",
        "Horas extras 50%": "1:24",  # "01,40" h
        "Atrasos": "1:30",
    }


def test_golden_file(records, lookup, company):
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert build_golden(records, lookup, company.company) == golden


def test_part_time_pauses_are_observations(records, cards):
    card = cards[PART_TIME]
    pauses = {
        datetime.strptime(d["day"], "%Y-%m-%d").strftime("%d/%m/%Y"): [
            f"{p['hour'][:2]}:{p['hour'][2:]}" for p in d["punches"] if p["label"] == "pausa"
        ]
        for d in joined(records)[PART_TIME]
    }
    got = {o["date"]: o["title"] for o in card.get("observations", [])}
    assert got
    assert got == {
        day: f"Registros de pausa (BI): {', '.join(times)}" for day, times in pauses.items() if times
    }


# ------------------------------------------------------------- the default company: closes on the 25th


@pytest.fixture(scope="module")
def closing_company() -> SyntheticCompany:
    return SyntheticCompany(40, seed=11)


def test_cards_of_a_company_that_closes_on_the_25th(closing_company):
    company = closing_company
    assert company.closing_day == 25
    records = list(company.reckon_records("01", "2026", features=ALL_FEATURES))
    lookup = {e.registration: e.cpf for e in company.employees}
    span = reckon_span(records)
    assert span is not None
    start, end = closing_period("01/2026", 25)  # 26/12/2025 (a Friday) to 25/01/2026 (a Sunday)
    assert start <= span[0]
    assert span[1] <= end
    by_setting = list(
        time_cards(
            records,
            user_lookup=lookup,
            company=company.company,
            competence="01/2026",
            closing_day=25,
            interval="month",
        )
    )
    monthly = {r["employee"]: r for r in records if "results" in r}
    assert len(by_setting) == len(monthly)  # one card per employee, split months merged
    for card in by_setting:
        assert (card["intervalStart"], card["intervalEnd"]) == ("26/12/2025", "25/01/2026")
        expected = {
            res["name"]: ref_hmm(ref_minutes(res["value"]))
            for res in monthly[employee_of_card(card)]["results"]
            if res["type"] == "hours"
        }
        assert {t["title"]: t["total"] for t in card["totals"]} == expected
    # from the reckon's own span when the closing day is not known: the same cards, the span's interval
    by_span = list(
        time_cards(
            records,
            user_lookup=lookup,
            company=company.company,
            competence="01/2026",
            period=span,
            interval="month",
        )
    )
    for a, b in zip(by_setting, by_span, strict=True):
        assert {k: v for k, v in a.items() if not k.startswith("interval")} == {
            k: v for k, v in b.items() if not k.startswith("interval")
        }
    # what the issue saw: the calendar month holds December days -> every card refused, named
    errors: list[TransformError] = []
    assert not list(
        time_cards(
            records,
            user_lookup=lookup,
            company=company.company,
            competence="01/2026",
            interval="month",
            on_error="skip",
            errors=errors,
        )
    )
    assert {e.employee for e in errors} == set(monthly)
    assert all("lie outside the period of the card, 01/01/2026 to 31/01/2026" in str(e) for e in errors)


if __name__ == "__main__":  # regenerate the golden file (then review the diff by hand)
    _company = SyntheticCompany(20, seed=7, closing_day=None)
    _records = list(_company.reckon_records("04", "2025", features=ALL_FEATURES, include_empty_code=True))
    _lookup = {e.registration: e.cpf for e in _company.employees}
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(
        json.dumps(build_golden(_records, _lookup, _company.company), indent=1, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )

"""Unit tests of time cards: punch slots, night shifts, totals, identifiers and errors."""

from __future__ import annotations

import json

import pytest

from airflow_provider_ahgora.transforms import (
    TransformError,
    day_slots,
    default_remote_id,
    time_card,
    time_cards,
    worked_minutes,
)

CPF = "52998224725"  # a valid CPF


@pytest.fixture(scope="module")
def body_model():
    from airflow_provider_ahgora.models.voors import TimeCardBody

    return TimeCardBody


def punch(hour: str, label: str | None, date: str | None = None, type_: str = "O") -> dict:
    out = {"hour": hour, "type": type_}
    if label is not None:
        out["label"] = label
    if date is not None:
        out["date"] = date
    return out


def daily(*days: dict, employee: str = "000123", **extra) -> dict:
    return {
        "employee": employee,
        "paymentDate": "2025-04-30",
        "infotype": "0015",
        "daily": list(days),
        **extra,
    }


def hours(name: str, event: str, value: str) -> dict:
    return {"name": name, "event": event, "value": value, "type": "hours"}


NIGHT_DAY = {
    "day": "2025-04-10",
    "punches": [
        punch("2200", "entrada-1", "2025-04-10"),
        punch("0200", "saida-1", "2025-04-11"),
        punch("0300", "entrada-2", "2025-04-11"),
        punch("0600", "saida-2", "2025-04-11"),
    ],
}


def test_night_shift_card(body_model):
    card = time_card(daily(NIGHT_DAY), user_lookup={"000123": CPF})
    assert card == {
        "remoteId": "000123-202504",
        "user": {"cpf": CPF},
        "competence": "04/2025",
        "intervalStart": "10/04/2025",
        "intervalEnd": "10/04/2025",
        "totals": [{"title": "Horas trabalhadas", "total": "7:00"}],
        "days": [
            {
                "date": "10/04/2025",  # the day the shift started, not the calendar day of its exits
                "entry1": "22:00",
                "exit1": "02:00",
                "entry2": "03:00",
                "exit2": "06:00",
                # 22:00 -> 02:00 (4 h) + 03:00 -> 06:00 (3 h), across midnight
                "dailyTotal": [{"title": "Horas trabalhadas", "total": "7:00"}],
            }
        ],
    }
    body_model.model_validate(card)


def test_documents_example_punch_dated_before_its_day():
    # 001's daily.punches example: day 2022-07-29, punches dated 2022-07-28
    entry = {
        "day": "2022-07-29",
        "punches": [
            punch("0800", "entrada-1", "2022-07-28", "O"),
            punch("0900", "saida-1", "2022-07-28", "I"),
        ],
    }
    assert day_slots(entry) == {"entry1": "08:00", "exit1": "09:00"}
    assert worked_minutes(entry) == 60


def test_undated_night_punches_cross_midnight():
    entry = {"day": "2025-04-10", "punches": [punch("2200", "entrada-1"), punch("0600", "saida-1")]}
    assert day_slots(entry) == {"entry1": "22:00", "exit1": "06:00"}
    assert worked_minutes(entry) == 480


def test_slots_by_label_regardless_of_order():
    entry = {
        "day": "2025-04-01",
        "punches": [
            punch("1300", "entrada-2"),
            punch("0800", "entrada-1"),
            punch("1700", "saida-2"),
            punch("1200", "saida-1"),
        ],
    }
    slots = day_slots(entry)
    assert list(slots.items()) == [
        ("entry1", "08:00"),
        ("exit1", "12:00"),
        ("entry2", "13:00"),
        ("exit2", "17:00"),
    ]
    assert worked_minutes(entry) == 8 * 60


def test_slots_by_time_when_labels_are_missing_or_repeated():
    dated = {
        "day": "2025-04-10",
        "punches": [
            punch("0600", None, "2025-04-11"),
            punch("2200", None, "2025-04-10"),
        ],
    }
    assert day_slots(dated) == {"entry1": "22:00", "exit1": "06:00"}
    assert worked_minutes(dated) == 480
    repeated = {
        "day": "2025-04-01",
        "punches": [
            punch("0800", "entrada-1"),
            punch("1200", "entrada-1"),
            punch("1300", "x"),
            punch("1700", ""),
        ],
    }
    assert day_slots(repeated) == {"entry1": "08:00", "exit1": "12:00", "entry2": "13:00", "exit2": "17:00"}


def test_label_variants():
    entry = {"day": "2025-04-01", "punches": [punch("0800", "Entrada 1"), punch("1200", "saída-1")]}
    assert day_slots(entry) == {"entry1": "08:00", "exit1": "12:00"}


def test_unpaired_punch_counts_nothing():
    entry = {
        "day": "2025-04-01",
        "punches": [punch("0800", "entrada-1"), punch("1200", "saida-1"), punch("1300", "entrada-2")],
    }
    assert day_slots(entry) == {"entry1": "08:00", "exit1": "12:00", "entry2": "13:00"}
    assert worked_minutes(entry) == 240


def test_many_pairs_validate(body_model):
    punches = []
    for k in range(12):
        punches.append(punch(f"{k * 2:02d}00", f"entrada-{k + 1}"))
        punches.append(punch(f"{k * 2:02d}30", f"saida-{k + 1}"))
    card = time_card(daily({"day": "2025-04-01", "punches": punches}), user_lookup={"000123": CPF})
    day = card["days"][0]
    assert day["entry12"] == "22:00"
    assert day["exit12"] == "22:30"
    assert day["dailyTotal"] == [{"title": "Horas trabalhadas", "total": "6:00"}]
    body_model.model_validate(card)


def test_totals_from_results(body_model):
    record = daily(
        {
            "day": "2025-04-02",
            "results": [
                hours("Horas trabalhadas", "9079", "08:00"),
                {"name": "Dias previstos", "event": "9078", "value": 1, "type": "days"},
                hours("Horas extras 50%", "1050", "01,50"),
            ],
            "punches": [punch("0800", "entrada-1"), punch("1730", "saida-1")],
        },
        {
            "day": "2025-04-01",
            "results": [hours("Horas trabalhadas", "9079", "07:57"), hours("Intervalo", "", "01:03")],
            "punches": [],
        },
    )
    card = time_card(record, user_lookup={"000123": CPF})
    assert [d["date"] for d in card["days"]] == ["01/04/2025", "02/04/2025"]  # sorted
    assert card["days"][0] == {
        "date": "01/04/2025",
        "dailyTotal": [
            {"title": "Horas trabalhadas", "total": "7:57"},
            {"title": "Intervalo", "total": "1:03"},
        ],
    }
    # results win over punches: the reckon's figure, not a recomputation; days results are left out
    assert card["days"][1]["dailyTotal"] == [
        {"title": "Horas trabalhadas", "total": "8:00"},
        {"title": "Horas extras 50%", "total": "1:30"},
    ]
    assert card["totals"] == [
        {"title": "Horas trabalhadas", "total": "15:57"},
        {"title": "Intervalo", "total": "1:03"},
        {"title": "Horas extras 50%", "total": "1:30"},
    ]
    assert (card["intervalStart"], card["intervalEnd"]) == ("01/04/2025", "02/04/2025")
    body_model.model_validate(card)


def test_totals_exceed_24_hours_and_round_once():
    days = [
        {"day": f"2025-04-{d:02d}", "results": [hours("Horas", "1", "09:00"), hours("Frac", "2", "0,01")]}
        for d in range(1, 6)
    ]
    card = time_card(daily(*days), user_lookup={"000123": CPF})
    # 0,01 h = 0.6 min: each day rounds to 0:01, the month is summed exactly (3 min) then rounded once
    assert card["days"][0]["dailyTotal"][1] == {"title": "Frac", "total": "0:01"}
    assert card["totals"] == [{"title": "Horas", "total": "45:00"}, {"title": "Frac", "total": "0:03"}]


def test_title_format_and_untitled_results():
    record = daily(
        {"day": "2025-04-01", "results": [hours("Extras", "1050", "1:00"), hours("", "2010", "0:30")]}
    )
    card = time_card(record, user_lookup={"000123": CPF}, title_format="{event} - {name}")
    assert [t["title"] for t in card["totals"]] == ["1050 - Extras", "2010"]
    with pytest.raises(ValueError, match="title_format"):
        time_card(record, user_lookup={"000123": CPF}, title_format="{code}")
    nameless = daily({"day": "2025-04-01", "results": [hours("", "", "0:30")]})
    with pytest.raises(TransformError) as info:
        time_card(nameless, user_lookup={"000123": CPF})
    assert info.value.field == "daily[0].results[0].name"


def test_worked_title():
    record = daily(NIGHT_DAY)
    card = time_card(record, user_lookup={"000123": CPF}, worked_title="Trabalhadas")
    assert card["totals"] == [{"title": "Trabalhadas", "total": "7:00"}]
    card = time_card(record, user_lookup={"000123": CPF}, worked_title=None)
    assert card["totals"] == []
    assert "dailyTotal" not in card["days"][0]
    absent = time_card(daily({"day": "2025-04-01", "punches": []}), user_lookup={"000123": CPF})
    assert absent["days"] == [
        {"date": "01/04/2025", "dailyTotal": [{"title": "Horas trabalhadas", "total": "0:00"}]}
    ]


def test_competence_interval_and_remote_id(body_model):
    record = daily({"day": "2025-03-31", "punches": []}, {"day": "2025-04-02", "punches": []})
    card = time_card(record, user_lookup={"000123": CPF})
    assert card["competence"] == "04/2025"  # the month of the last day
    assert card["remoteId"] == "000123-202504"
    assert (card["intervalStart"], card["intervalEnd"]) == ("31/03/2025", "02/04/2025")
    card = time_card(record, user_lookup={"000123": CPF}, competence="02/2024", interval="month")
    assert (card["competence"], card["intervalStart"], card["intervalEnd"]) == (
        "02/2024",
        "01/02/2024",
        "29/02/2024",
    )
    assert card["remoteId"] == "000123-202402"
    card = time_card(record, user_lookup={"000123": CPF}, remote_id={"id": 7})
    assert card["remoteId"] == {"id": 7}
    card = time_card(record, user_lookup={"000123": CPF}, remote_id=lambda e, c: f"tc:{e}:{c}")
    assert card["remoteId"] == "tc:000123:04/2025"
    body_model.model_validate(card)
    for bad in ("4/2025", "13/2025", "2025-04", ""):
        with pytest.raises(ValueError, match="MM/YYYY"):
            time_card(record, user_lookup={"000123": CPF}, competence=bad)
    with pytest.raises(ValueError, match="'data' or 'month'"):
        time_card(record, user_lookup={"000123": CPF}, interval="week")  # type: ignore[arg-type]
    assert default_remote_id("98a159Q", "12/2025") == "98a159Q-202512"
    with pytest.raises(ValueError, match="MM/YYYY"):
        default_remote_id("1", "2025-12")


def test_empty_record():
    empty = daily()
    with pytest.raises(TransformError, match="pass competence='MM/YYYY'"):
        time_card(empty, user_lookup={"000123": CPF})
    card = time_card(empty, user_lookup={"000123": CPF}, competence="04/2025")
    assert card["days"] == []
    assert card["totals"] == []
    assert "intervalStart" not in card
    card = time_card(empty, user_lookup={"000123": CPF}, competence="04/2025", interval="month")
    assert (card["intervalStart"], card["intervalEnd"]) == ("01/04/2025", "30/04/2025")


def test_user_identification(body_model):
    record = daily(NIGHT_DAY)
    with pytest.raises(TransformError) as info:
        time_card(record)
    assert info.value.field == "employee"
    assert "Voors identifies time card users by CPF: pass user_lookup" in str(info.value)
    assert time_card(daily(NIGHT_DAY, cpf=CPF))["user"] == {"cpf": CPF}
    assert time_card(record, user_lookup=lambda e: CPF)["user"] == {"cpf": CPF}
    user = {"cpf": CPF, "pis": "12345678901", "department": {"id": 2, "name": "Administrativo"}}
    card = time_card(record, user_lookup={"000123": user})
    assert card["user"] == user
    body_model.model_validate(card)
    with pytest.raises(TransformError, match="is not in user_lookup"):
        time_card(record, user_lookup={"other": CPF})
    with pytest.raises(TransformError, match="without 'cpf'"):
        time_card(record, user_lookup={"000123": {"pis": "1"}})

    def broken(employee: str) -> str:
        raise KeyError(employee)

    with pytest.raises(TransformError, match="user_lookup failed"):
        time_card(record, user_lookup=broken)


def test_branch(body_model):
    record = daily(NIGHT_DAY)
    cnpj = "11222333000181"
    assert time_card(record, user_lookup={"000123": CPF}, branch=cnpj)["branch"] == {"cnpj": cnpj}
    assert time_card(record, user_lookup={"000123": CPF}, branch={"cei": "1"})["branch"] == {"cei": "1"}
    card = time_card(record, user_lookup={"000123": CPF}, branch=lambda e: cnpj)
    assert list(card)[:3] == ["remoteId", "branch", "user"]
    body_model.model_validate(card)
    assert "branch" not in time_card(record, user_lookup={"000123": CPF}, branch=lambda e: None)
    with pytest.raises(TransformError, match="branch must be"):
        time_card(record, user_lookup={"000123": CPF}, branch=lambda e: 5)


@pytest.mark.parametrize(
    ("day", "field", "text"),
    [
        (
            {"day": "2025-04-01", "punches": [punch("0860", "entrada-1")]},
            "daily[0].punches[0].hour",
            "punch time 'HHMM'",
        ),
        (
            {"day": "2025-04-01", "punches": [punch("0800", "entrada-1", "01/04/2025")]},
            "daily[0].punches[0].date",
            "YYYY-MM-DD",
        ),
        (
            {"day": "2025-04-01", "punches": [punch("0800", "entrada-1", "2025-04-05")]},
            "daily[0].punches[0].date",
            "more than a day away",
        ),
        ({"day": "01/04/2025", "punches": []}, "daily[0].day", "YYYY-MM-DD"),
        ({"day": "2025-02-30", "punches": []}, "daily[0].day", "YYYY-MM-DD"),
        ({"punches": []}, "daily[0].day", "got None"),
        (
            {
                "day": "2025-04-01",
                "punches": [punch("0800", "entrada-1", "2025-04-01"), punch("0700", "saida-1", "2025-04-01")],
            },
            "daily[0].punches[1]",
            "exit1 (07:00) is before entry1 (08:00)",
        ),
        (
            {"day": "2025-04-01", "results": [hours("Extras", "1050", "1,5,0")]},
            "daily[0].results[0].value",
            "name 'Extras'",
        ),
        (
            {"day": "2025-04-01", "results": [{"name": "X", "value": "1:00", "type": "?"}]},
            "daily[0].results[0].type",
            "unknown result type",
        ),
        ({"day": "2025-04-01", "results": "x"}, "daily[0].results", "must be a list"),
        ({"day": "2025-04-01", "results": [3]}, "daily[0].results[0]", "must be an object"),
        ({"day": "2025-04-01", "punches": "x"}, "daily[0].punches", "must be a list"),
        ({"day": "2025-04-01", "punches": [None]}, "daily[0].punches[0]", "must be an object"),
        ("x", "daily[0]", "must be an object"),
    ],
)
def test_bad_days(day, field, text):
    with pytest.raises(TransformError) as info:
        time_card(daily(day, employee="000777"), user_lookup={"000777": CPF})
    err = info.value
    assert err.field == field
    assert err.employee == "000777"
    assert text in str(err)
    assert "employee '000777'" in str(err)


def test_duplicate_day():
    record = daily({"day": "2025-04-01", "punches": []}, {"day": "2025-04-01", "punches": []})
    with pytest.raises(TransformError, match=r"2025-04-01 is listed twice \(daily\[0\] and daily\[1\]\)"):
        time_card(record, user_lookup={"000123": CPF})


def test_monthly_record_is_not_a_time_card():
    monthly = {"employee": "1", "results": []}
    with pytest.raises(TransformError, match="is not a daily record"):
        time_card(monthly, user_lookup={"1": CPF})
    with pytest.raises(TransformError, match="has no employee"):
        time_card({"daily": []})
    with pytest.raises(TransformError, match="must be a list"):
        time_card({"employee": "1", "daily": {}}, user_lookup={"1": CPF})


def test_day_helpers_raise_value_errors():
    with pytest.raises(ValueError, match=r"punches\[0\]\.hour"):
        day_slots({"day": "2025-04-01", "punches": [punch("99", "entrada-1")]})
    with pytest.raises(ValueError, match="day: must be a date"):
        worked_minutes({"punches": []})
    with pytest.raises(ValueError, match="must be an object"):
        worked_minutes("x")  # type: ignore[arg-type]


def test_models_and_json_input():
    from airflow_provider_ahgora.models.pontoweb import DailyEntry, ReckonRecord

    record = daily(NIGHT_DAY)
    expected = time_card(record, user_lookup={"000123": CPF})
    assert time_card(ReckonRecord.model_validate(record), user_lookup={"000123": CPF}) == expected
    assert time_card(json.dumps(record), user_lookup={"000123": CPF}) == expected
    assert worked_minutes(DailyEntry.model_validate(NIGHT_DAY)) == 420


def test_time_cards_stream():
    records = [
        {"employee": "A", "results": []},  # monthly: skipped
        daily(NIGHT_DAY, employee="A"),
        daily(employee="B"),  # no days: skipped by default
        daily({"day": "2025-04-01", "punches": [punch("x", "entrada-1")]}, employee="C"),
        daily(NIGHT_DAY, employee="D"),
    ]
    lookup = {"A": CPF, "B": CPF, "C": CPF, "D": CPF}
    errors: list[TransformError] = []
    cards = list(time_cards(records, user_lookup=lookup, on_error="skip", errors=errors))
    assert [c["remoteId"] for c in cards] == ["A-202504", "D-202504"]
    assert [(e.index, e.employee, e.field) for e in errors] == [(3, "C", "daily[0].punches[0].hour")]
    with pytest.raises(TransformError):
        list(time_cards(records, user_lookup=lookup))
    errors = []
    cards = list(time_cards(records, user_lookup=lookup, skip_empty=False, on_error="skip", errors=errors))
    assert [(e.employee, e.field) for e in errors] == [("B", "daily"), ("C", "daily[0].punches[0].hour")]
    cards = list(time_cards(records[:3], user_lookup=lookup, skip_empty=False, competence="04/2025"))
    assert [c["remoteId"] for c in cards] == ["A-202504", "B-202504"]


def test_time_cards_arguments():
    with pytest.raises(TypeError, match="overwrite"):
        time_cards([], remote_id="fixed")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="errors="):
        time_cards([], on_error="skip")
    with pytest.raises(ValueError, match="rounding"):
        time_cards([], rounding="nearest")
    cards = list(time_cards([daily(NIGHT_DAY)], user_lookup={"000123": CPF}, remote_id=lambda e, c: e))
    assert cards[0]["remoteId"] == "000123"

"""Unit tests of time cards: punch slots, night shifts, totals, identifiers and errors."""

from __future__ import annotations

import json
from datetime import date

import pytest

from airflow_provider_ahgora.transforms import (
    TransformError,
    closing_period,
    competence_of,
    day_slots,
    default_remote_id,
    time_card,
    time_cards,
    worked_minutes,
)

CPF = "52998224725"  # a valid CPF
CO = "a133595"  # a PontoWeb company code, as the documents show one


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
    card = time_card(daily(NIGHT_DAY), user_lookup={"000123": CPF}, company=CO)
    assert card == {
        "remoteId": "a133595-000123-202504",
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


def test_slots_by_time_when_no_punch_is_labelled():
    dated = {
        "day": "2025-04-10",
        "punches": [
            punch("0600", None, "2025-04-11"),
            punch("2200", None, "2025-04-10"),
        ],
    }
    assert day_slots(dated) == {"entry1": "22:00", "exit1": "06:00"}
    assert worked_minutes(dated) == 480
    # without labels and dates, whether 22:00 -> 06:00 crossed midnight cannot be told
    undated = {"day": "2025-04-10", "punches": [punch("2200", None), punch("0600", "x")]}
    with pytest.raises(ValueError, match="no labels and some have no date"):
        worked_minutes(undated)
    odd = {"day": "2025-04-10", "punches": [punch(h, None, "2025-04-10") for h in ("0800", "1200", "1300")]}
    with pytest.raises(ValueError, match=r"3 punches without labels .* an odd number"):
        day_slots(odd)


def test_a_label_given_twice_at_different_times_is_refused_not_paired_by_position():
    # the double tap: two entrada-1 a minute apart; which one counts cannot be told
    repeated = {
        "day": "2025-04-01",
        "punches": [
            punch("0800", "entrada-1"),
            punch("0801", "entrada-1"),
            punch("1200", "saida-1"),
            punch("1300", "entrada-2"),
            punch("1700", "saida-2"),
        ],
    }
    with pytest.raises(
        ValueError, match=r"punches\[1\]: entry1 \('entrada-1'\) is given 2 times, at 08:00, 08:01"
    ):
        worked_minutes(repeated)
    with pytest.raises(ValueError, match="a double tap"):
        day_slots(repeated)


def test_exact_duplicates_are_dropped():
    day = [
        punch("0800", "entrada-1"),
        punch("1200", "saida-1"),
        punch("1300", "entrada-2"),
        punch("1700", "saida-2"),
    ]
    plain = {"day": "2025-04-01", "punches": day}
    assert worked_minutes(plain) == 480
    tapped = {"day": "2025-04-01", "punches": [day[0], day[0], *day[1:], day[3]]}
    # a clock punch and a manual inclusion of the same time and label: one punch
    included = {"day": "2025-04-01", "punches": [*day, punch("1200", "saida-1", type_="I")]}
    # an unlabelled punch at the very instant of a labelled one adds nothing
    echoed = {"day": "2025-04-01", "punches": [*day, punch("1300", None, type_="I")]}
    for entry in (tapped, included, echoed):
        assert worked_minutes(entry) == 480, entry
        assert day_slots(entry) == day_slots(plain)


def test_break_records_without_entry_or_exit_labels_are_pauses():
    day = [
        punch("0800", "entrada-1"),
        punch("1200", "saida-1"),
        punch("1300", "entrada-2"),
        punch("1700", "saida-2"),
    ]
    # the single "BI" record labelled neither entrada nor saida: the day stays 8:00, not 3:00
    single = {"day": "2025-04-01", "punches": [*day[:1], punch("1000", "pausa", type_="BI"), *day[1:]]}
    assert worked_minutes(single) == 480
    assert day_slots(single) == {"entry1": "08:00", "exit1": "12:00", "entry2": "13:00", "exit2": "17:00"}
    pair = {
        "day": "2025-04-01",
        "punches": [*day, punch("1500", None, type_="BI"), punch("1510", None, type_="bi")],
    }
    assert worked_minutes(pair) == 480
    # labelled break records bound the periods like any punch (a clocked lunch break)
    lunch = {
        "day": "2025-04-01",
        "punches": [day[0], {**day[1], "type": "BI"}, {**day[2], "type": "BI"}, day[3]],
    }
    assert worked_minutes(lunch) == 480
    # an ordinary punch with an unknown label among labelled ones: start or end? refused
    unknown = {"day": "2025-04-01", "punches": [*day, punch("1000", "pausa", type_="O")]}
    with pytest.raises(ValueError, match="neither 'entrada-N' nor 'saida-N'"):
        worked_minutes(unknown)


def test_pauses_are_observations_on_the_card(body_model):
    entry = {
        "day": "2025-04-01",
        "punches": [
            punch("0900", "entrada-1"),
            punch("1030", "pausa", type_="BI"),
            punch("1045", "pausa", type_="BI"),
            punch("1200", "saida-1"),
        ],
    }
    card = time_card(daily(entry), user_lookup={"000123": CPF}, company=CO)
    assert card["days"] == [
        {
            "date": "01/04/2025",
            "entry1": "09:00",
            "exit1": "12:00",
            "dailyTotal": [{"title": "Horas trabalhadas", "total": "3:00"}],
        }
    ]
    assert card["observations"] == [{"date": "01/04/2025", "title": "Registros de pausa (BI): 10:30, 10:45"}]
    body_model.model_validate(card)


def test_punch_types_come_from_the_vocabulary():
    ok = {
        "day": "2025-04-01",
        "punches": [punch("0800", "entrada-1", type_="o"), punch("1200", "saida-1", type_=" I ")],
    }
    assert worked_minutes(ok) == 240
    bad = {"day": "2025-04-01", "punches": [punch("0800", "entrada-1", type_="X"), punch("1200", "saida-1")]}
    with pytest.raises(ValueError, match=r"punches\[0\]\.type: The API answered the punch type 'X'"):
        worked_minutes(bad)


def test_punch_hours_mean_the_same_as_numbers_and_text_and_refuse_short_text():
    # a night shift ending at 00:30: the JSON number 30 and the text "0030" are the same time
    as_text = {
        "day": "2025-04-10",
        "punches": [punch("1630", "entrada-1", "2025-04-10"), punch("0030", "saida-1", "2025-04-11")],
    }
    as_number = {
        "day": "2025-04-10",
        "punches": [punch(1630, "entrada-1", "2025-04-10"), punch(30, "saida-1", "2025-04-11")],
    }
    assert worked_minutes(as_text) == worked_minutes(as_number) == 480
    # the same record read back from a JSON Lines file: numbers stay numbers
    assert worked_minutes(json.loads(json.dumps(as_number))) == 480
    short = {
        "day": "2025-04-10",
        "punches": [punch("1630", "entrada-1", "2025-04-10"), punch("30", "saida-1", "2025-04-11")],
    }
    with pytest.raises(ValueError, match=r"punches\[1\]\.hour: '30' is not valid \(2 digit\(s\)"):
        worked_minutes(short)


def test_label_variants():
    entry = {"day": "2025-04-01", "punches": [punch("0800", "Entrada 1"), punch("1200", "saída-1")]}
    assert day_slots(entry) == {"entry1": "08:00", "exit1": "12:00"}


def test_an_entry_without_its_exit_is_written_but_not_counted():
    entry = {
        "day": "2025-04-01",
        "punches": [punch("0800", "entrada-1"), punch("1200", "saida-1"), punch("1300", "entrada-2")],
    }
    assert day_slots(entry) == {"entry1": "08:00", "exit1": "12:00", "entry2": "13:00"}
    with pytest.raises(
        ValueError, match=r"entry2 \(13:00\) has no exit2: the time worked that day cannot be"
    ):
        worked_minutes(entry)
    overlapping = {
        "day": "2025-04-01",
        "punches": [
            punch("0800", "entrada-1"),
            punch("1200", "saida-1"),
            punch("1100", "entrada-2"),
            punch("1700", "saida-2"),
        ],
    }
    with pytest.raises(ValueError, match=r"entry1 \(08:00\) to exit2 \(17:00\) spans a day or more"):
        worked_minutes(overlapping)  # undated, 11:00 after 12:00 would be past midnight
    dated = {"day": "2025-04-01", "punches": [{**p, "date": "2025-04-01"} for p in overlapping["punches"]]}
    with pytest.raises(ValueError, match=r"entry2 \(11:00\) is before exit1 \(12:00\)"):
        worked_minutes(dated)


def test_many_pairs_validate(body_model):
    punches = []
    for k in range(12):
        punches.append(punch(f"{k * 2:02d}00", f"entrada-{k + 1}"))
        punches.append(punch(f"{k * 2:02d}30", f"saida-{k + 1}"))
    card = time_card(
        daily({"day": "2025-04-01", "punches": punches}), company=CO, user_lookup={"000123": CPF}
    )
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
    card = time_card(record, company=CO, user_lookup={"000123": CPF})
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
    card = time_card(daily(*days), company=CO, user_lookup={"000123": CPF})
    # 0,01 h = 0.6 min: each day rounds to 0:01, the month is summed exactly (3 min) then rounded once
    assert card["days"][0]["dailyTotal"][1] == {"title": "Frac", "total": "0:01"}
    assert card["totals"] == [{"title": "Horas", "total": "45:00"}, {"title": "Frac", "total": "0:03"}]


def test_title_format_and_untitled_results():
    record = daily(
        {"day": "2025-04-01", "results": [hours("Extras", "1050", "1:00"), hours("", "2010", "0:30")]}
    )
    card = time_card(record, company=CO, user_lookup={"000123": CPF}, title_format="{event} - {name}")
    assert [t["title"] for t in card["totals"]] == ["1050 - Extras", "2010"]
    with pytest.raises(ValueError, match="title_format"):
        time_card(record, company=CO, user_lookup={"000123": CPF}, title_format="{code}")
    nameless = daily({"day": "2025-04-01", "results": [hours("", "", "0:30")]})
    with pytest.raises(TransformError) as info:
        time_card(nameless, company=CO, user_lookup={"000123": CPF})
    assert info.value.field == "daily[0].results[0].name"


def test_worked_title():
    record = daily(NIGHT_DAY)
    card = time_card(record, company=CO, user_lookup={"000123": CPF}, worked_title="Trabalhadas")
    assert card["totals"] == [{"title": "Trabalhadas", "total": "7:00"}]
    card = time_card(record, company=CO, user_lookup={"000123": CPF}, worked_title=None)
    assert card["totals"] == []
    assert "dailyTotal" not in card["days"][0]
    absent = time_card(daily({"day": "2025-04-01", "punches": []}), company=CO, user_lookup={"000123": CPF})
    assert absent["days"] == [
        {"date": "01/04/2025", "dailyTotal": [{"title": "Horas trabalhadas", "total": "0:00"}]}
    ]


def test_competence_interval_and_remote_id(body_model):
    record = daily({"day": "2025-04-01", "punches": []}, {"day": "2025-04-02", "punches": []})
    card = time_card(record, company=CO, user_lookup={"000123": CPF})
    assert card["competence"] == "04/2025"  # the month of the last day
    assert card["remoteId"] == "a133595-000123-202504"
    assert (card["intervalStart"], card["intervalEnd"]) == ("01/04/2025", "02/04/2025")
    card = time_card(record, company=CO, user_lookup={"000123": CPF}, competence="04/2025", interval="month")
    assert (card["competence"], card["intervalStart"], card["intervalEnd"]) == (
        "04/2025",
        "01/04/2025",
        "30/04/2025",
    )
    card = time_card(record, user_lookup={"000123": CPF}, remote_id={"id": 7})
    assert card["remoteId"] == {"id": 7}
    card = time_card(record, user_lookup={"000123": CPF}, remote_id=lambda e, c: f"tc:{e}:{c}")
    assert card["remoteId"] == "tc:000123:04/2025"
    body_model.model_validate(card)
    for bad in ("4/2025", "13/2025", "2025-04", ""):
        with pytest.raises(ValueError, match="MM/YYYY"):
            time_card(record, company=CO, user_lookup={"000123": CPF}, competence=bad)
    with pytest.raises(ValueError, match="'data' or 'month'"):
        time_card(record, company=CO, user_lookup={"000123": CPF}, interval="week")  # type: ignore[arg-type]


def test_default_remote_id_is_unique_across_companies_and_stable():
    assert default_remote_id("98a159Q", "12/2025", company="a133595") == "a133595-98a159Q-202512"
    # two companies of a group, one Voors account: the same registration never shares a card
    assert default_remote_id("000123", "04/2025", company="a1") != default_remote_id(
        "000123", "04/2025", company="a2"
    )
    # a company code has no '-': no (company, employee) pair can make another's id
    for bad in ("a1-2", "", None, "a 1"):
        with pytest.raises(ValueError, match="company must be"):
            default_remote_id("3", "04/2025", company=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="MM/YYYY"):
        default_remote_id("1", "2025-12", company=CO)
    record = daily(NIGHT_DAY)
    with pytest.raises(ValueError, match="pass company="):
        time_card(record, user_lookup={"000123": CPF})
    with pytest.raises(ValueError, match="pass company="):
        time_cards([record], user_lookup={"000123": CPF})
    first = time_card(record, user_lookup={"000123": CPF}, company=CO)
    assert time_card(record, user_lookup={"000123": CPF}, company=CO) == first  # a rerun: same id


def test_the_document_closing_period():
    # seed 004: competence 01/2023 over 28/12/2022 to 27/01/2023
    assert closing_period("01/2023", 27) == (date(2022, 12, 28), date(2023, 1, 27))
    assert closing_period("01/2023") == (date(2023, 1, 1), date(2023, 1, 31))
    assert closing_period("01/2023", 31) == closing_period("01/2023")
    # a closing day past a month's end: February closes on its last day, March starts on the 1st
    assert closing_period("02/2025", 30) == (date(2025, 1, 31), date(2025, 2, 28))
    assert closing_period("03/2025", 30) == (date(2025, 3, 1), date(2025, 3, 30))
    assert closing_period("02/2024", 30) == (date(2024, 1, 31), date(2024, 2, 29))
    assert competence_of(date(2022, 12, 28), 27) == "01/2023"
    assert competence_of(date(2023, 1, 27), 27) == "01/2023"
    assert competence_of(date(2023, 12, 31), None) == "12/2023"
    assert competence_of(date(2023, 12, 28), 27) == "01/2024"
    for bad in (0, 32, True, "27"):
        with pytest.raises(ValueError, match="closing_day"):
            closing_period("01/2023", bad)  # type: ignore[arg-type]


DOC_DAYS = (
    {"day": "2022-12-28", "punches": [punch("0745", "entrada-1"), punch("1200", "saida-1")]},
    {"day": "2023-01-10", "punches": [punch("0737", "entrada-1"), punch("1147", "saida-1")]},
    {"day": "2023-01-27", "punches": [punch("0745", "entrada-1"), punch("1200", "saida-1")]},
)


def test_a_cut_off_period_holds_its_days(body_model):
    record = daily(*DOC_DAYS)
    card = time_card(
        record,
        company=CO,
        user_lookup={"000123": CPF},
        competence="01/2023",
        closing_day=27,
        interval="month",
    )
    assert (card["competence"], card["intervalStart"], card["intervalEnd"]) == (
        "01/2023",
        "28/12/2022",
        "27/01/2023",
    )
    assert [d["date"] for d in card["days"]] == ["28/12/2022", "10/01/2023", "27/01/2023"]
    body_model.model_validate(card)
    # the competence follows from the closing day when not given
    assert (
        time_card(record, company=CO, user_lookup={"000123": CPF}, closing_day=27)["competence"] == "01/2023"
    )
    # the issue: interval="month" without the closing day used to say 01/01-31/01 and hold December
    with pytest.raises(TransformError) as info:
        time_card(record, company=CO, user_lookup={"000123": CPF}, competence="01/2023", interval="month")
    err = info.value
    assert (err.employee, err.competence, err.field) == ("000123", "01/2023", "daily")
    assert "day(s) 2022-12-28 lie outside the period of the card, 01/01/2023 to 31/01/2023" in str(err)
    assert "pass closing_day=N" in str(err)
    assert "time card 01/2023" in str(err)
    # a competence that does not match the days at all
    with pytest.raises(TransformError, match="day\\(s\\) 2022-12-28, 2023-01-10, 2023-01-27 lie outside"):
        time_card(record, company=CO, user_lookup={"000123": CPF}, competence="06/2025", closing_day=27)


def test_an_explicit_period():
    record = daily(*DOC_DAYS[1:])
    period = (date(2022, 12, 29), date(2023, 1, 27))
    card = time_card(record, company=CO, user_lookup={"000123": CPF}, period=period, interval="month")
    assert (card["competence"], card["intervalStart"], card["intervalEnd"]) == (
        "01/2023",
        "29/12/2022",
        "27/01/2023",
    )
    assert time_card(
        record, company=CO, user_lookup={"000123": CPF}, period=("2022-12-29", "2023-01-27")
    ) == (time_card(record, company=CO, user_lookup={"000123": CPF}, period=period))
    with pytest.raises(ValueError, match="not both"):
        time_card(record, company=CO, user_lookup={"000123": CPF}, period=period, closing_day=27)
    with pytest.raises(ValueError, match="is not a period of competence 02/2023"):
        time_card(record, company=CO, user_lookup={"000123": CPF}, period=period, competence="02/2023")
    with pytest.raises(ValueError, match=r"starts on .* after it ends"):
        time_card(record, company=CO, user_lookup={"000123": CPF}, period=(period[1], period[0]))
    with pytest.raises(TransformError, match="2023-01-10 lie outside"):
        time_card(
            record, company=CO, user_lookup={"000123": CPF}, period=(date(2023, 1, 11), date(2023, 1, 31))
        )


def test_empty_record():
    empty = daily()
    with pytest.raises(TransformError, match="pass competence='MM/YYYY'"):
        time_card(empty, company=CO, user_lookup={"000123": CPF})
    card = time_card(empty, company=CO, user_lookup={"000123": CPF}, competence="04/2025")
    assert card["days"] == []
    assert card["totals"] == []
    assert "intervalStart" not in card
    card = time_card(empty, company=CO, user_lookup={"000123": CPF}, competence="04/2025", interval="month")
    assert (card["intervalStart"], card["intervalEnd"]) == ("01/04/2025", "30/04/2025")
    card = time_card(
        empty, company=CO, user_lookup={"000123": CPF}, competence="04/2025", closing_day=25, interval="month"
    )
    assert (card["intervalStart"], card["intervalEnd"]) == ("26/03/2025", "25/04/2025")


def test_user_identification(body_model):
    record = daily(NIGHT_DAY)
    with pytest.raises(TransformError) as info:
        time_card(record, company=CO)
    assert info.value.field == "employee"
    assert "Voors identifies time card users by CPF: pass user_lookup" in str(info.value)
    assert time_card(daily(NIGHT_DAY, cpf=CPF), company=CO)["user"] == {"cpf": CPF}
    assert time_card(record, company=CO, user_lookup=lambda e: CPF)["user"] == {"cpf": CPF}
    user = {"cpf": CPF, "pis": "12345678901", "department": {"id": 2, "name": "Administrativo"}}
    card = time_card(record, company=CO, user_lookup={"000123": user})
    assert card["user"] == user
    body_model.model_validate(card)
    with pytest.raises(TransformError, match="is not in user_lookup"):
        time_card(record, company=CO, user_lookup={"other": CPF})
    with pytest.raises(TransformError, match="without 'cpf'"):
        time_card(record, company=CO, user_lookup={"000123": {"pis": "1"}})

    def broken(employee: str) -> str:
        raise KeyError(employee)

    with pytest.raises(TransformError, match="user_lookup failed"):
        time_card(record, company=CO, user_lookup=broken)


def test_branch(body_model):
    record = daily(NIGHT_DAY)
    cnpj = "11222333000181"
    assert time_card(record, company=CO, user_lookup={"000123": CPF}, branch=cnpj)["branch"] == {"cnpj": cnpj}
    assert time_card(record, company=CO, user_lookup={"000123": CPF}, branch={"cei": "1"})["branch"] == {
        "cei": "1"
    }
    card = time_card(record, company=CO, user_lookup={"000123": CPF}, branch=lambda e: cnpj)
    assert list(card)[:3] == ["remoteId", "branch", "user"]
    body_model.model_validate(card)
    assert "branch" not in time_card(record, company=CO, user_lookup={"000123": CPF}, branch=lambda e: None)
    with pytest.raises(TransformError, match="branch must be"):
        time_card(record, company=CO, user_lookup={"000123": CPF}, branch=lambda e: 5)


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
            "name 'X': The API answered the result type '?'",
        ),
        (
            {
                "day": "2025-04-01",
                "punches": [punch("0800", "entrada-1"), punch("0800", "entrada-1", type_="Z")],
            },
            "daily[0].punches[1].type",
            "punch type 'Z'",
        ),
        (
            {"day": "2025-04-01", "punches": [punch("0800", "entrada-1"), punch("0900", "entrada-1")]},
            "daily[0].punches[1]",
            "is given 2 times",
        ),
        (
            {"day": "2025-04-01", "punches": [punch("0800", "entrada-1")]},
            "daily[0].punches[0]",
            "entry1 (08:00) has no exit1",
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
        time_card(daily(day, employee="000777"), company=CO, user_lookup={"000777": CPF})
    err = info.value
    assert err.field == field
    assert err.employee == "000777"
    assert text in str(err)
    assert "employee '000777'" in str(err)
    if isinstance(day, dict) and day.get("day") == "2025-04-01":
        assert err.day == "2025-04-01"  # every refusal of a day names it
        assert "day 2025-04-01" in str(err)


def test_duplicate_day():
    same = daily({"day": "2025-04-01", "punches": []}, {"day": "2025-04-01", "punches": []})
    assert len(time_card(same, company=CO, user_lookup={"000123": CPF})["days"]) == 1  # an identical copy
    record = daily(
        {"day": "2025-04-01", "punches": []}, {"day": "2025-04-01", "punches": [punch("0800", "entrada-1")]}
    )
    with pytest.raises(
        TransformError, match=r"2025-04-01 is listed twice with different data \(daily\[0\] and daily\[1\]\)"
    ):
        time_card(record, company=CO, user_lookup={"000123": CPF})


def test_monthly_record_is_not_a_time_card():
    monthly = {"employee": "1", "results": []}
    with pytest.raises(TransformError, match="is not a daily record"):
        time_card(monthly, company=CO, user_lookup={"1": CPF})
    with pytest.raises(TransformError, match="has no employee"):
        time_card({"daily": []}, company=CO)
    with pytest.raises(TransformError, match="must be a list"):
        time_card({"employee": "1", "daily": {}}, company=CO, user_lookup={"1": CPF})


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
    expected = time_card(record, company=CO, user_lookup={"000123": CPF})
    assert time_card(ReckonRecord.model_validate(record), company=CO, user_lookup={"000123": CPF}) == expected
    assert time_card(json.dumps(record), company=CO, user_lookup={"000123": CPF}) == expected
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
    cards = list(time_cards(records, company=CO, user_lookup=lookup, on_error="skip", errors=errors))
    assert [c["remoteId"] for c in cards] == ["a133595-A-202504", "a133595-D-202504"]
    assert [(e.index, e.employee, e.day, e.field) for e in errors] == [
        (3, "C", "2025-04-01", "daily[0].punches[0].hour")
    ]
    with pytest.raises(TransformError):
        list(time_cards(records, company=CO, user_lookup=lookup))
    errors = []
    cards = list(
        time_cards(records, company=CO, user_lookup=lookup, skip_empty=False, on_error="skip", errors=errors)
    )
    assert [(e.employee, e.field) for e in errors] == [("B", "daily"), ("C", "daily[0].punches[0].hour")]
    cards = list(
        time_cards(records[:3], company=CO, user_lookup=lookup, skip_empty=False, competence="04/2025")
    )
    assert [c["remoteId"] for c in cards] == ["a133595-A-202504", "a133595-B-202504"]


def test_a_split_month_makes_one_card():
    first_half = daily(
        {"day": "2025-04-01", "punches": [punch("0800", "entrada-1"), punch("1200", "saida-1")]}
    )
    second_half = daily(
        {"day": "2025-04-15", "punches": [punch("0800", "entrada-1"), punch("1300", "saida-1")]}
    )
    monthly = {
        "employee": "000123",
        "paymentDate": "2025-04-30",
        "infotype": "0015",
        "results": [hours("X", "1", "9:00")],
    }
    lookup = {"000123": CPF}
    for records in ([first_half, second_half, monthly], [first_half, monthly, second_half]):
        (card,) = time_cards(records, company=CO, user_lookup=lookup)
        assert [d["date"] for d in card["days"]] == ["01/04/2025", "15/04/2025"]
        assert card["totals"] == [{"title": "Horas trabalhadas", "total": "9:00"}]
    # the same record twice: one card, its days once
    (card,) = time_cards([first_half, first_half], company=CO, user_lookup=lookup)
    assert len(card["days"]) == 1
    # two records giving the same day differently: refused, naming the day
    other = daily({"day": "2025-04-01", "punches": [punch("0900", "entrada-1"), punch("1200", "saida-1")]})
    errors: list[TransformError] = []
    assert (
        list(time_cards([first_half, other], company=CO, user_lookup=lookup, on_error="skip", errors=errors))
        == []
    )
    (err,) = errors
    assert (err.index, err.employee, err.day, err.competence) == (1, "000123", "2025-04-01", "04/2025")
    assert "listed twice with different data (record 0 daily[0] and daily[0])" in str(err)


def test_a_card_made_already_is_never_overwritten():
    a = daily({"day": "2025-04-01", "punches": []}, employee="A")
    b = daily({"day": "2025-04-01", "punches": []}, employee="B")
    a_again = daily({"day": "2025-04-15", "punches": []}, employee="A")
    errors: list[TransformError] = []
    cards = list(
        time_cards([a, b, a_again], company=CO, user_lookup=lambda e: CPF, on_error="skip", errors=errors)
    )
    assert [c["remoteId"] for c in cards] == ["a133595-A-202504", "a133595-B-202504"]
    (err,) = errors
    assert (err.index, err.employee, err.competence) == (2, "A", "04/2025")
    assert "already made from record 0" in str(err)
    assert "(to 2025-04-15) are on no card" in str(err)
    # another competence of the same employee is another card
    may = daily({"day": "2025-05-02", "punches": []}, employee="A")
    cards = list(time_cards([a, b, may], company=CO, user_lookup=lambda e: CPF))
    assert [c["remoteId"] for c in cards] == ["a133595-A-202504", "a133595-B-202504", "a133595-A-202505"]


def test_an_employee_with_a_monthly_record_but_no_daily_one_is_reported():
    monthly = {
        "employee": "Z",
        "paymentDate": "2025-04-30",
        "infotype": "0015",
        "results": [hours("X", "1", "1:00")],
    }
    empty_monthly = {"employee": "Y", "results": []}
    errors: list[TransformError] = []
    cards = list(
        time_cards(
            [daily(NIGHT_DAY), monthly, empty_monthly],
            company=CO,
            user_lookup=lambda e: CPF,
            on_error="skip",
            errors=errors,
        )
    )
    assert len(cards) == 1
    (err,) = errors
    assert (err.index, err.employee, err.field) == (1, "Z", "daily")
    assert "has a monthly record with results (payroll) but no daily record: no time card" in str(err)
    with pytest.raises(TransformError, match="no daily record"):
        list(time_cards([monthly], company=CO, user_lookup=lambda e: CPF))


def test_a_card_is_built_from_results_or_from_punches_never_both():
    # the issue: a day with punches but no results got "Horas trabalhadas" while the others did not
    with_results = {
        "day": "2025-04-01",
        "results": [hours("Horas trabalhadas", "9079", "08:00")],
        "punches": [],
    }
    without = {"day": "2025-04-02", "punches": [punch("0800", "entrada-1"), punch("1600", "saida-1")]}
    with pytest.raises(TransformError) as info:
        time_card(daily(with_results, without), company=CO, user_lookup={"000123": CPF})
    err = info.value
    assert (err.day, err.field) == ("2025-04-02", "daily[1].results")
    assert "has no results while the card's other days have them" in str(err)
    # a day reckoned with nothing to show (results: []) is fine
    quiet = {"day": "2025-04-02", "results": [], "punches": []}
    card = time_card(daily(with_results, quiet), company=CO, user_lookup={"000123": CPF})
    assert card["totals"] == [{"title": "Horas trabalhadas", "total": "8:00"}]


def test_every_problem_of_a_card_is_reported():
    bad = daily(
        {"day": "2025-04-01", "punches": [punch("0800", "entrada-1")]},
        {"day": "2025-04-02", "punches": [punch("0800", "entrada-1"), punch("0801", "entrada-1")]},
        {"day": "2025-04-03", "punches": [punch("0800", "entrada-1"), punch("1200", "saida-1")]},
    )
    errors: list[TransformError] = []
    assert list(time_cards([bad], company=CO, user_lookup={}, on_error="skip", errors=errors)) == []
    assert [(e.day, e.field) for e in errors] == [
        ("2025-04-01", "daily[0].punches[0]"),
        ("2025-04-02", "daily[1].punches[1]"),
        (None, "employee"),
    ]
    for err in errors:
        assert err.employee == "000123"
        assert err.competence == "04/2025"
        json.dumps(err.as_dict())


def test_time_cards_arguments():
    with pytest.raises(TypeError, match="overwrite"):
        time_cards([], remote_id="fixed")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="errors="):
        time_cards([], on_error="skip")
    with pytest.raises(ValueError, match="rounding"):
        time_cards([], rounding="nearest")
    cards = list(time_cards([daily(NIGHT_DAY)], user_lookup={"000123": CPF}, remote_id=lambda e, c: e))
    assert cards[0]["remoteId"] == "000123"

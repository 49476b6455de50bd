"""Unit tests of payroll rows: columns, values, daily rows, filters and error handling."""

from __future__ import annotations

import csv
import io
import json

import pytest

from airflow_provider_ahgora.transforms import (
    PAYROLL_COLUMNS,
    TransformError,
    payroll_csv_header,
    payroll_rows,
)

# The documents' monthly example (001, "Resposta com SUCESSO").
DOC_MONTHLY = {
    "employee": "98a159Q",
    "paymentDate": "2025-04-30",
    "infotype": "0015",
    "results": [
        {"name": "Horas previstas", "event": "9077", "value": "71:20", "type": "hours"},
        {"name": "Dias previstos", "event": "9078", "value": 1, "type": "days"},
    ],
}


def monthly(employee: str, *results: dict) -> dict:
    return {"employee": employee, "paymentDate": "2025-04-30", "infotype": "0015", "results": list(results)}


def result(name: str, event: str, value, type_: str = "hours") -> dict:
    return {"name": name, "event": event, "value": value, "type": type_}


def test_columns():
    assert PAYROLL_COLUMNS == (
        "employee",
        "paymentDate",
        "infotype",
        "day",
        "event",
        "name",
        "type",
        "value",
        "minutes",
        "days",
    )
    assert payroll_csv_header() == list(PAYROLL_COLUMNS)


def test_documents_example():
    rows = list(payroll_rows([DOC_MONTHLY]))
    assert rows == [
        {
            "employee": "98a159Q",
            "paymentDate": "2025-04-30",
            "infotype": "0015",
            "day": "",
            "event": "9077",
            "name": "Horas previstas",
            "type": "hours",
            "value": "71:20",
            "minutes": 4280,  # 71 * 60 + 20
            "days": "",
        },
        {
            "employee": "98a159Q",
            "paymentDate": "2025-04-30",
            "infotype": "0015",
            "day": "",
            "event": "9078",
            "name": "Dias previstos",
            "type": "days",
            "value": 1,
            "minutes": "",
            "days": 1,
        },
    ]


def test_values_are_exact_and_never_floats():
    rows = list(
        payroll_rows(
            [
                monthly(
                    "1",
                    result("Extras", "1050", "16,33"),
                    result("Noturno", "1100", "01,50"),
                    result("Float hours", "1", 1.5),
                    result("Half day", "2", 0.5, "days"),
                    result("Neg", "3", "-1:30"),
                    result("Caps", "4", "2:00", " HOURS"),
                )
            ]
        )
    )
    cells = [(r["value"], r["minutes"], r["days"], r["type"]) for r in rows]
    assert cells == [
        ("16,33", "979.8", "", "hours"),  # 16.33 h = 979.8 min, exactly
        ("01,50", 90, "", "hours"),
        ("1.5", 90, "", "hours"),
        ("0.5", "", "0.5", "days"),
        ("-1:30", -90, "", "hours"),
        ("2:00", 120, "", "hours"),
    ]
    for row in rows:
        assert set(row) == set(PAYROLL_COLUMNS)
        assert all(isinstance(v, str | int) and not isinstance(v, bool) for v in row.values())


def test_csv_output():
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=payroll_csv_header(), lineterminator="\n")
    writer.writeheader()
    writer.writerows(payroll_rows([DOC_MONTHLY]))
    assert out.getvalue() == (
        "employee,paymentDate,infotype,day,event,name,type,value,minutes,days\n"
        "98a159Q,2025-04-30,0015,,9077,Horas previstas,hours,71:20,4280,\n"
        "98a159Q,2025-04-30,0015,,9078,Dias previstos,days,1,,1\n"
    )


DAILY = {
    "employee": "000001",
    "paymentDate": "2025-04-30",
    "infotype": "0015",
    "daily": [
        {
            "day": "2025-04-01",
            "results": [
                result("Horas trabalhadas", "9079", "08:00"),
                result("Dias previstos", "9078", 1, "days"),
            ],
            "punches": [{"date": "2025-04-01", "hour": "0800", "type": "O", "label": "entrada-1"}],
        },
        {"day": "2025-04-02", "results": [result("Horas trabalhadas", "9079", "07:57")]},
    ],
}


def test_daily_records_are_not_payroll_input_by_default():
    assert list(payroll_rows([DAILY])) == []
    rows = list(payroll_rows([DAILY, DOC_MONTHLY, monthly("000001")], include_daily=True))
    assert [(r["employee"], r["day"], r["event"], r["minutes"], r["days"]) for r in rows] == [
        ("000001", "2025-04-01", "9079", 480, ""),
        ("000001", "2025-04-01", "9078", "", 1),
        ("000001", "2025-04-02", "9079", 477, ""),
        ("98a159Q", "", "9077", 4280, ""),
        ("98a159Q", "", "9078", "", 1),
    ]


def test_models_and_json_lines():
    from airflow_provider_ahgora.models.pontoweb import ReckonRecord

    expected = list(payroll_rows([DOC_MONTHLY]))
    assert list(payroll_rows([ReckonRecord.model_validate(DOC_MONTHLY)])) == expected
    jsonl = json.dumps(DOC_MONTHLY) + "\n\n" + json.dumps(DOC_MONTHLY).encode().decode() + "\n"
    # the same record twice (here a blank line apart) is paid once: an identical copy is collapsed
    assert list(payroll_rows(io.StringIO(jsonl))) == expected
    assert list(payroll_rows([json.dumps(DOC_MONTHLY).encode()])) == expected


def test_filters():
    record = monthly(
        "1", result("A", "1050", "1:00"), result("Intervalo", "", "0:30"), result("B", "2010", "2:00")
    )
    assert [r["event"] for r in payroll_rows([record])] == ["1050", "", "2010"]
    assert [r["event"] for r in payroll_rows([record], skip_empty_event=True)] == ["1050", "2010"]
    assert [r["event"] for r in payroll_rows([record], events={"2010"})] == ["2010"]
    with pytest.raises(TypeError, match="not a string"):
        payroll_rows([record], events="2010")


def test_empty_results_give_no_rows():
    assert list(payroll_rows([monthly("1")])) == []


def test_bad_value_names_record_employee_result_and_field():
    bad = monthly(
        "000042", result("Horas previstas", "9077", "08:00"), result("Horas extras 50%", "1050", "1,5,0")
    )
    with pytest.raises(TransformError) as info:
        list(payroll_rows([DOC_MONTHLY, bad]))
    err = info.value
    assert (err.index, err.employee, err.field) == (1, "000042", "results[1].value")
    message = str(err)
    assert message.startswith("record 1 (employee '000042'), field results[1].value: name 'Horas extras 50%'")
    assert "'1,5,0' is not valid" in message
    assert "centesimal" in message
    assert err.record == bad
    assert err.as_dict() == {
        "index": 1,
        "employee": "000042",
        "day": None,
        "competence": None,
        "field": "results[1].value",
        "message": err.message,
    }
    json.dumps(err.as_dict())


def test_bad_type_and_shapes():
    cases = [
        (
            monthly("1", result("X", "1", "1:00", "weeks")),
            "results[0].type",
            "The API answered the result type 'weeks'",
        ),
        (monthly("1", result("X", "1", None)), "results[0].value", "None is not valid"),
        (monthly("1", "oops"), "results[0]", "must be an object"),
        ({"employee": "1", "results": "x"}, "results", "must be a list"),
        ({"employee": "", "results": []}, "employee", "has no employee"),
        ({"results": []}, "employee", "has no employee"),
        ({"employee": "1"}, "", "neither 'results'"),
    ]
    for record, field, text in cases:
        with pytest.raises(TransformError) as info:
            list(payroll_rows([record]))
        assert info.value.field == field, record
        assert text in str(info.value), str(info.value)


def test_bad_daily_shapes():
    cases = [
        ({"employee": "1", "daily": ["x"]}, "daily[0]"),
        ({"employee": "1", "daily": [{"results": []}]}, "daily[0].day"),
        ({"employee": "1", "daily": [{"day": "2025-04-01", "results": 3}]}, "daily[0].results"),
        (
            {"employee": "1", "daily": [{"day": "2025-04-01", "results": [result("X", "1", "x")]}]},
            "daily[0].results[0].value",
        ),
    ]
    for record, field in cases:
        with pytest.raises(TransformError) as info:
            list(payroll_rows([record], include_daily=True))
        assert info.value.field == field


def test_skip_collects_errors_and_keeps_other_records_whole():
    good = monthly("A", result("X", "1", "1:00"))
    half_bad = monthly("B", result("X", "1", "2:00"), result("Y", "2", "bad"))
    errors: list[TransformError] = []
    rows = list(payroll_rows([good, half_bad, "{not json", 7, good], on_error="skip", errors=errors))
    # B's good result is not emitted: a record is converted whole or not at all; A's second copy
    # is an identical copy of the first: paid once
    assert [r["employee"] for r in rows] == ["A"]
    assert [(e.index, e.employee, e.field) for e in errors] == [
        (1, "B", "results[1].value"),
        (2, None, ""),
        (3, None, ""),
    ]
    assert "not valid JSON" in errors[1].message
    assert "must be a ReckonRecord, a dict or a JSON text, got int" in errors[2].message


def test_raise_mode_yields_nothing_of_the_bad_record():
    half_bad = monthly("B", result("X", "1", "2:00"), result("Y", "2", "bad"))
    it = payroll_rows([half_bad])
    with pytest.raises(TransformError):
        next(it)


def test_arguments_are_checked_at_once():
    with pytest.raises(ValueError, match="errors="):
        payroll_rows([], on_error="skip")
    with pytest.raises(ValueError, match="'raise' or 'skip'"):
        payroll_rows([], on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="wrap one record in a list"):
        list(payroll_rows(DOC_MONTHLY))  # type: ignore[arg-type]
    from airflow_provider_ahgora.models.pontoweb import ReckonRecord

    with pytest.raises(TypeError, match="not a single ReckonRecord"):
        list(payroll_rows(ReckonRecord.model_validate(DOC_MONTHLY)))  # type: ignore[arg-type]


def test_numeric_employee_is_text():
    rows = list(payroll_rows([{"employee": 123, "results": [result("X", "1", "1:00")]}]))
    assert rows[0]["employee"] == "123"
    assert rows[0]["paymentDate"] == ""


# ---------------------------------------------------------------------------------- never paid twice


def test_an_identical_copy_of_a_monthly_record_is_collapsed():
    # the same record delivered twice (a re-read, a concatenated file): its rows once, no error
    rows = list(payroll_rows([DOC_MONTHLY, json.dumps(DOC_MONTHLY), {**DOC_MONTHLY}]))
    assert rows == list(payroll_rows([DOC_MONTHLY]))
    assert sum(r["minutes"] or 0 for r in rows) == 4280  # not doubled


def test_a_different_second_monthly_record_is_refused():
    other = {**DOC_MONTHLY, "results": [result("Horas previstas", "9077", "70:00")]}
    errors: list[TransformError] = []
    rows = list(payroll_rows([DOC_MONTHLY, other], on_error="skip", errors=errors))
    assert rows == list(payroll_rows([DOC_MONTHLY]))  # the second one's rows were not written
    (err,) = errors
    assert (err.index, err.employee, err.field) == (1, "98a159Q", "results")
    assert "a second monthly record for this employee, paymentDate 2025-04-30 and infotype 0015" in str(err)
    assert "different from record 0" in str(err)
    with pytest.raises(TransformError, match="both would be paid"):
        list(payroll_rows([DOC_MONTHLY, other]))
    # another paymentDate or infotype is another record
    assert len(list(payroll_rows([DOC_MONTHLY, {**other, "infotype": "0020"}]))) == 3
    assert len(list(payroll_rows([DOC_MONTHLY, {**other, "paymentDate": "2025-05-30"}]))) == 3


def test_daily_records_twice_and_split_months():
    first = {**DAILY, "daily": DAILY["daily"][:1]}
    second = {**DAILY, "daily": DAILY["daily"][1:]}
    # a month split in two records is no duplicate
    assert list(payroll_rows([first, second], include_daily=True)) == list(
        payroll_rows([DAILY], include_daily=True)
    )
    # an identical copy is collapsed
    assert list(payroll_rows([DAILY, DAILY], include_daily=True)) == list(
        payroll_rows([DAILY], include_daily=True)
    )
    # a day that came already, in another record: refused, naming the day
    errors: list[TransformError] = []
    rows = list(payroll_rows([DAILY, second], include_daily=True, on_error="skip", errors=errors))
    assert len(rows) == 3
    (err,) = errors
    assert (err.index, err.employee, err.day, err.field) == (1, "000001", "2025-04-02", "daily")
    assert "day 2025-04-02" in str(err)
    assert "already came in an earlier record" in str(err)


def test_an_employee_with_days_but_no_monthly_record_is_reported():
    errors: list[TransformError] = []
    rows = list(payroll_rows([DAILY, DOC_MONTHLY], on_error="skip", errors=errors))
    assert [r["employee"] for r in rows] == ["98a159Q", "98a159Q"]
    (err,) = errors
    assert (err.index, err.employee, err.field) == (0, "000001", "results")
    assert "has daily records but no monthly record: no payroll row" in str(err)
    with pytest.raises(TransformError, match="no monthly record"):
        list(payroll_rows([DOC_MONTHLY, DAILY]))
    # an input of daily records only gives no row and no report (nothing to compare with)
    assert list(payroll_rows([DAILY])) == []


def test_unknown_daily_type_names_the_day():
    record = {
        "employee": "1",
        "daily": [{"day": "2025-04-01", "results": [result("X", "1", "1:00", "weeks")]}],
    }
    with pytest.raises(TransformError) as info:
        list(payroll_rows([record], include_daily=True))
    assert (info.value.day, info.value.field) == ("2025-04-01", "daily[0].results[0].type")
    assert "day 2025-04-01" in str(info.value)

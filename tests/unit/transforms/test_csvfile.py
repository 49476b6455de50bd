"""The one CSV writer: dialects (delimiter, BOM, decimal comma), formula injection, streaming."""

from __future__ import annotations

import csv
import io
import tracemalloc
from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from airflow_provider_ahgora.transforms import (
    DEFAULT_DIALECT,
    DIALECTS,
    EXCEL_BR,
    PAYROLL_COLUMNS,
    PAYROLL_NUMBER_COLUMNS,
    CsvDialect,
    CsvWriter,
    csv_cell,
    payroll_rows,
)

DOC_MONTHLY = {
    "employee": "98a159Q",
    "paymentDate": "2025-04-30",
    "infotype": "0015",
    "results": [
        {"name": "Horas previstas", "event": "9077", "value": "71:20", "type": "hours"},
        {"name": "Dias previstos", "event": "9078", "value": 1, "type": "days"},
        {"name": "Horas extras não pagas", "event": "1050", "value": "16,33", "type": "hours"},
    ],
}


def write(rows, dialect=None, columns=PAYROLL_COLUMNS, numbers=PAYROLL_NUMBER_COLUMNS) -> str:
    out = io.StringIO(newline="")
    writer = CsvWriter(out, columns, dialect=dialect, number_columns=numbers)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def test_the_default_is_rfc_4180():
    assert (
        CsvDialect()
        == DEFAULT_DIALECT
        == DIALECTS["rfc4180"]
        == CsvDialect.named(None)
        == CsvDialect.named("")
    )
    assert (DEFAULT_DIALECT.delimiter, DEFAULT_DIALECT.bom, DEFAULT_DIALECT.decimal_comma) == (
        ",",
        False,
        False,
    )
    assert write(payroll_rows([DOC_MONTHLY])) == (
        "employee,paymentDate,infotype,day,event,name,type,value,minutes,days\r\n"
        "98a159Q,2025-04-30,0015,,9077,Horas previstas,hours,71:20,4280,\r\n"
        "98a159Q,2025-04-30,0015,,9078,Dias previstos,days,1,,1\r\n"
        '98a159Q,2025-04-30,0015,,1050,Horas extras não pagas,hours,"16,33",979.8,\r\n'
    )


def test_excel_in_brazil_bom_semicolon_and_decimal_comma():
    assert CsvDialect.named("Excel-BR") == EXCEL_BR == CsvDialect(delimiter=";", bom=True, decimal_comma=True)
    text = write(payroll_rows([DOC_MONTHLY]), EXCEL_BR)
    assert text == (
        "\ufeffemployee;paymentDate;infotype;day;event;name;type;value;minutes;days\r\n"
        "98a159Q;2025-04-30;0015;;9077;Horas previstas;hours;71:20;4280;\r\n"
        "98a159Q;2025-04-30;0015;;9078;Dias previstos;days;1;;1\r\n"
        # the value as PontoWeb gave it; the minutes, a number, with a decimal comma
        "98a159Q;2025-04-30;0015;;1050;Horas extras não pagas;hours;16,33;979,8;\r\n"
    )
    # the bytes Excel opens: a UTF-8 BOM, then "não" in UTF-8 (not "nÃ£o")
    data = text.encode(EXCEL_BR.encoding)
    assert data.startswith(b"\xef\xbb\xbf")
    assert "não".encode() in data
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows[2]["name"] == "Horas extras não pagas"
    assert rows[2]["minutes"] == "979,8"
    assert CsvDialect.named("excel") == CsvDialect(bom=True)


def test_numbers():
    br = EXCEL_BR
    assert csv_cell(Decimal("979.80"), br) == "979,8"
    assert csv_cell(Decimal("979.80")) == "979.8"
    assert csv_cell(0.1, br) == "0,1"  # a float through its repr: no binary noise
    assert csv_cell(-90, br) == "-90"
    assert csv_cell("979.8", br) == "979.8"  # text is written as given...
    assert csv_cell("979.8", br, number=True) == "979,8"  # ...unless its column holds numbers
    assert csv_cell("16,50", br, number=True) == "16,50"
    assert csv_cell(None) == ""
    assert csv_cell(True) == "true"
    for bad in (float("nan"), float("inf"), Decimal("NaN")):
        with pytest.raises(ValueError, match="cannot hold"):
            csv_cell(bad)
    with pytest.raises(TypeError, match="scalar"):
        csv_cell({"a": 1})


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=SUM(A1:A9)", "'=SUM(A1:A9)"),
        ("+5", "'+5"),
        ("@SUM(1)", "'@SUM(1)"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("  =1", "'  =1"),
        ("＝1+1", "'＝1+1"),
        ("-", "'-"),
        ("-1:30x", "'-1:30x"),
        # negative numbers and hours are no formula: written as they are
        ("-01:30", "-01:30"),
        ("-1:30", "-1:30"),
        ("-171:20", "-171:20"),
        ("-90", "-90"),
        ("-0.5", "-0.5"),
        ("-0,50", "-0,50"),
        ("Horas extras 50%", "Horas extras 50%"),
        ("", ""),
    ],
)
def test_formula_injection_is_neutralised(cell, written):
    assert csv_cell(cell) == written
    assert csv_cell(cell, EXCEL_BR) == written


def test_every_cell_is_neutralised_names_included():
    record = {
        **DOC_MONTHLY,
        "employee": "=1+1",
        "results": [{"name": "=cmd|' /C calc'!A0", "event": "@1", "value": "-1:30", "type": "hours"}],
    }
    text = write(payroll_rows([record]), EXCEL_BR)
    (row,) = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=";")
    assert row["employee"] == "'=1+1"
    assert row["name"] == "'=cmd|' /C calc'!A0"
    assert row["event"] == "'@1"
    assert row["value"] == "-1:30"
    assert row["minutes"] == "-90"


@settings(deadline=None, max_examples=300, database=None)
@given(st.text(max_size=12), st.sampled_from(list(DIALECTS.values())))
@example("\ufeff", EXCEL_BR)
def test_any_text_reads_back_as_itself_or_neutralised(text, dialect):
    out = io.StringIO(newline="")
    writer = CsvWriter(out, ["a", "b"], dialect=dialect)
    writer.writerow({"a": text, "b": "x"})
    data = out.getvalue()
    if dialect.bom:  # exactly one BOM, before the first row: a cell may itself start with U+FEFF
        assert data.startswith("\ufeff")
        data = data[1:]
    (row,) = list(csv.reader(io.StringIO(data, newline=""), delimiter=dialect.delimiter))
    assert row[1] == "x"
    assert row[0] in (text, "'" + text)
    stripped = row[0].lstrip(" ")
    if row[0] == text and stripped:
        # what is left as is never starts a formula, unless it is a negative number or amount of hours
        assert stripped[0] not in "=+-@\t\r\n＝＋－＠" or csv_cell(text) == text
        if stripped[0] == "-":
            float(text.replace(",", ".").replace(":", "."))


def test_dialect_and_column_checks():
    with pytest.raises(ValueError, match="another delimiter"):
        CsvDialect(decimal_comma=True)
    for bad in ("", ";;", '"', "\n"):
        with pytest.raises(ValueError, match="delimiter must be one character"):
            CsvDialect(delimiter=bad)
    with pytest.raises(ValueError, match="unknown CSV dialect 'excel-pt'"):
        CsvDialect.named("excel-pt")
    out = io.StringIO()
    with pytest.raises(ValueError, match="distinct"):
        CsvWriter(out, ["a", "a"])
    with pytest.raises(TypeError, match="not a string"):
        CsvWriter(out, "ab")
    with pytest.raises(ValueError, match="number_columns"):
        CsvWriter(out, ["a"], number_columns=["b"])
    writer = CsvWriter(out, ["a", "b"])
    with pytest.raises(ValueError, match="not columns: \\['c'\\]"):
        writer.writerow({"a": 1, "c": 2})
    writer.writerow({"a": 1})  # a missing key is an empty cell
    assert out.getvalue() == "1,\r\n"
    assert writer.rows == 1


def test_bom_once_even_without_a_header():
    out = io.StringIO(newline="")
    writer = CsvWriter(out, ["a"], dialect="excel-br")
    assert writer.writerows([{"a": 1}, {"a": 2}]) == 2
    assert out.getvalue() == "\ufeff1\r\n2\r\n"


class Sink:
    """A file that forgets what it is given (the disk, for memory purposes)."""

    def __init__(self) -> None:
        self.chars = 0

    def write(self, text: str) -> int:
        self.chars += len(text)
        return len(text)


def _rows(n: int) -> Iterator[dict]:
    for i in range(n):
        yield {
            "employee": f"{i:06d}",
            "name": "Horas extras não pagas",
            "minutes": f"{i}.5",
            "value": "-1:30",
        }


def _peak(n: int) -> int:
    sink = Sink()
    tracemalloc.start()
    try:
        writer = CsvWriter(
            sink, ["employee", "name", "value", "minutes"], dialect=EXCEL_BR, number_columns=["minutes"]
        )  # type: ignore[arg-type]
        writer.writeheader()
        assert writer.writerows(_rows(n)) == n
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.chars > n * 40
    return peak


def test_memory_does_not_grow_with_the_number_of_rows():
    small, large = _peak(5_000), _peak(50_000)
    assert large < small * 1.5 + 20_000, (small, large)


def test_rows_are_written_as_they_come():
    out = io.StringIO(newline="")
    writer = CsvWriter(out, ["a"])

    def rows() -> Iterator[dict]:
        for i in range(3):
            assert out.getvalue().count("\r\n") == i  # every earlier row is already written
            yield {"a": i}

    writer.writerows(rows())
    assert out.getvalue() == "0\r\n1\r\n2\r\n"

"""Unit tests of the hour conversions: every format, the rounding rules, and the error messages."""

from __future__ import annotations

import decimal
from decimal import Decimal

import pytest

from airflow_provider_ahgora.transforms import hours as h
from airflow_provider_ahgora.transforms.errors import HoursFormatError, InexactHoursError

# ----------------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("value", "minutes"),
    [
        ("16:30", 990),
        ("0:00", 0),
        ("00:05", 5),
        ("-1:30", -90),
        ("-0:30", -30),
        ("171:20", 10280),
        ("1234:59", 74099),
        (" 08:48 ", 528),
    ],
)
def test_sexagesimal(value, minutes):
    assert h.sexagesimal_to_minutes(value) == minutes
    assert h.parse_hours(value) == minutes
    assert isinstance(h.parse_hours(value), Decimal)


@pytest.mark.parametrize(
    ("value", "minutes"),
    [
        ("16,50", Decimal(990)),
        ("16.50", Decimal(990)),
        ("16,5", Decimal(990)),
        ("16,33", Decimal("979.8")),
        ("16,60", Decimal(996)),  # the English document's example: 16.60 h = 16 h 36 min
        ("0,05", Decimal(3)),
        ("01,40", Decimal(84)),
        ("129,90", Decimal(7794)),
        ("-0,25", Decimal(-15)),
        ("0,01", Decimal("0.6")),
        ("1,001", Decimal("60.06")),
    ],
)
def test_centesimal(value, minutes):
    assert h.centesimal_to_minutes(value) == minutes
    assert h.parse_hours(value) == minutes


def test_centesimal_result_is_canonical():
    # 16.50 * 60 = 990.00: no trailing zeros, no exponent
    assert str(h.parse_hours("16,50")) == "990"
    assert str(h.parse_hours("16,33")) == "979.8"
    assert str(h.parse_hours("0,01")) == "0.6"


@pytest.mark.parametrize(
    ("value", "minutes"),
    [
        (8, 480),
        (0, 0),
        (-2, -120),
        ("8", 480),
        (Decimal("1.5"), 90),
        (Decimal("16.33"), Decimal("979.8")),
        (1.5, 90),
        (0.1, 6),  # read as Decimal("0.1"), not 0.1000000000000000055511151231257827
        (16.33, Decimal("979.8")),
    ],
)
def test_numbers_are_hours(value, minutes):
    assert h.parse_hours(value) == minutes


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        True,
        False,
        "ab:cd",
        "16,5,0",
        "16:5",
        "16:60",
        "1:60",
        "16:300",
        "+1:30",
        "1:30:00",
        "1.234,50",
        "16,",
        ",5",
        ":30",
        "16h30",
        "--1:30",
        "1 : 30",
        "١٦:٣٠",  # Arabic-Indic digits are not accepted
        float("nan"),
        float("inf"),
        Decimal("NaN"),
        Decimal("-Infinity"),
        [16, 30],
        {"value": "16:30"},
        b"16:30",
        "9" * 20 + ":00",
        10**20,
        Decimal("1E+30"),
    ],
)
def test_parse_hours_refuses(value):
    with pytest.raises(HoursFormatError) as info:
        h.parse_hours(value)
    message = str(info.value)
    assert "sexagesimal" in message
    assert "centesimal" in message
    assert info.value.value is value


def test_error_message_names_value_and_formats():
    with pytest.raises(HoursFormatError) as info:
        h.parse_hours("16,5,0")
    assert str(info.value) == (
        "'16,5,0' is not valid: expected an amount of hours: sexagesimal 'H:MM' (e.g. '16:30', "
        "'-1:30', '171:20'), centesimal 'H,CC' or 'H.CC' (e.g. '16,50' = 16 h 30 min), or a number "
        "of hours (int or Decimal)"
    )
    assert isinstance(info.value, ValueError)


def test_error_message_of_bool_and_type():
    with pytest.raises(HoursFormatError, match=r"True is not valid \(a boolean is not a number\)"):
        h.parse_hours(True)
    with pytest.raises(HoursFormatError, match=r"\[1\] is not valid \(got list\)"):
        h.parse_hours([1])
    with pytest.raises(HoursFormatError, match=r"'' is not valid \(empty\)"):
        h.parse_hours("")


def test_long_value_is_cut_in_message():
    value = "x" * 500
    with pytest.raises(HoursFormatError) as info:
        h.parse_hours(value)
    assert len(str(info.value)) < 300
    assert "..." in str(info.value)


def test_strict_parsers_refuse_the_other_format():
    with pytest.raises(HoursFormatError, match="sexagesimal"):
        h.sexagesimal_to_minutes("16,50")
    with pytest.raises(HoursFormatError, match="centesimal"):
        h.centesimal_to_minutes("16:30")
    with pytest.raises(HoursFormatError, match="got int"):
        h.sexagesimal_to_minutes(990)  # type: ignore[arg-type]
    with pytest.raises(HoursFormatError, match="got NoneType"):
        h.centesimal_to_minutes(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "days"),
    [(2, 2), ("2", 2), ("0,5", Decimal("0.5")), ("1.50", Decimal("1.5")), (0.5, Decimal("0.5")), (-1, -1)],
)
def test_parse_days(value, days):
    assert h.parse_days(value) == days


@pytest.mark.parametrize("value", [None, "", True, "8:00", "1,2,3", "two", float("nan"), []])
def test_parse_days_refuses(value):
    with pytest.raises(HoursFormatError, match="a number of days"):
        h.parse_days(value)


# --------------------------------------------------------------------------------------- rendering


@pytest.mark.parametrize(
    ("minutes", "text"),
    [
        (990, "16:30"),
        (0, "0:00"),
        (5, "0:05"),
        (545, "9:05"),
        (10026, "167:06"),
        (-90, "-1:30"),
        (-5, "-0:05"),
        (Decimal("979.8"), "16:20"),
        (Decimal(990), "16:30"),
        (1.5, "0:02"),  # 1.5 minutes: half to even -> 2
        (2.5, "0:02"),  # 2.5 minutes: half to even -> 2
    ],
)
def test_minutes_to_sexagesimal(minutes, text):
    assert h.minutes_to_sexagesimal(minutes) == text


def test_minutes_to_sexagesimal_width_and_rounding():
    assert h.minutes_to_sexagesimal(528, width=2) == "08:48"
    assert h.minutes_to_sexagesimal(10560, width=2) == "176:00"
    assert h.minutes_to_sexagesimal(Decimal("2.5"), rounding=decimal.ROUND_HALF_UP) == "0:03"
    assert h.minutes_to_sexagesimal(Decimal("-2.5"), rounding=decimal.ROUND_HALF_UP) == "-0:03"
    assert h.minutes_to_sexagesimal(Decimal("-0.4")) == "0:00"  # no "-0:00"
    assert h.minutes_to_sexagesimal(Decimal("979.8"), rounding=decimal.ROUND_DOWN) == "16:19"
    with pytest.raises(InexactHoursError, match=r"Decimal\('979.8'\) is not valid \(exact=True"):
        h.minutes_to_sexagesimal(Decimal("979.8"), exact=True)
    assert h.minutes_to_sexagesimal(Decimal("990.000"), exact=True) == "16:30"
    with pytest.raises(ValueError, match="width"):
        h.minutes_to_sexagesimal(1, width=0)
    with pytest.raises(ValueError, match="rounding must be one of"):
        h.minutes_to_sexagesimal(1, rounding="NEAREST")


@pytest.mark.parametrize(
    ("minutes", "text"),
    [
        (990, "16,50"),
        (996, "16,60"),
        (3, "0,05"),
        (20, "0,33"),
        (40, "0,67"),
        (-15, "-0,25"),
        (7794, "129,90"),
        (Decimal("979.8"), "16,33"),
        (0, "0,00"),
    ],
)
def test_minutes_to_centesimal(minutes, text):
    assert h.minutes_to_centesimal(minutes) == text


def test_minutes_to_centesimal_options():
    assert h.minutes_to_centesimal(90, width=2) == "01,50"
    assert h.minutes_to_centesimal(90, sep=".") == "1.50"
    assert h.minutes_to_centesimal(20, 4) == "0,3333"
    assert h.minutes_to_centesimal(90, 0) == "2"  # 1.5 h, half to even
    assert h.minutes_to_centesimal(150, 0) == "2"  # 2.5 h, half to even
    assert h.minutes_to_centesimal(150, 0, rounding=decimal.ROUND_HALF_UP) == "3"
    assert h.minutes_to_centesimal(20, rounding=decimal.ROUND_UP) == "0,34"
    assert h.minutes_to_centesimal(Decimal("0.3"), 3) == "0,005"
    assert h.minutes_to_centesimal(Decimal("0.3"), 2) == "0,00"  # 0.005 h: half to even -> 0.00
    assert h.minutes_to_centesimal(Decimal("0.3"), 2, rounding=decimal.ROUND_HALF_UP) == "0,01"
    with pytest.raises(InexactHoursError, match="whole number of 1/100 hours"):
        h.minutes_to_centesimal(20, exact=True)
    assert h.minutes_to_centesimal(3, exact=True) == "0,05"
    with pytest.raises(ValueError, match="places"):
        h.minutes_to_centesimal(1, -1)


@pytest.mark.parametrize(
    "mode",
    [
        decimal.ROUND_05UP,
        decimal.ROUND_CEILING,
        decimal.ROUND_DOWN,
        decimal.ROUND_FLOOR,
        decimal.ROUND_HALF_DOWN,
        decimal.ROUND_HALF_EVEN,
        decimal.ROUND_HALF_UP,
        decimal.ROUND_UP,
    ],
)
def test_whole_minutes_follow_the_decimal_modes(mode):
    for text in (
        "0",
        "0.4",
        "0.5",
        "0.6",
        "1.5",
        "2.5",
        "4.5",
        "5.5",
        "10.2",
        "15.7",
        "-0.5",
        "-2.5",
        "-5.1",
    ):
        value = Decimal(text)
        assert h.to_whole_minutes(value, rounding=mode) == int(value.to_integral_value(rounding=mode)), text


def test_to_whole_minutes():
    assert h.to_whole_minutes(990) == 990
    assert h.to_whole_minutes(Decimal("979.8")) == 980
    assert h.to_whole_minutes(Decimal("979.8"), rounding=decimal.ROUND_FLOOR) == 979
    assert h.to_whole_minutes(12.0) == 12
    with pytest.raises(InexactHoursError):
        h.to_whole_minutes(Decimal("0.2"), exact=True)
    with pytest.raises(HoursFormatError, match="amount of minutes"):
        h.to_whole_minutes("990")  # type: ignore[arg-type]
    with pytest.raises(HoursFormatError, match="boolean"):
        h.to_whole_minutes(True)


def test_format_decimal():
    assert h.format_decimal(Decimal("979.80")) == "979.8"
    assert h.format_decimal(Decimal("990.00")) == "990"
    assert h.format_decimal(Decimal("1E+3")) == "1000"
    assert h.format_decimal(Decimal("1E-7")) == "0.0000001"
    assert h.format_decimal(Decimal("-0.0")) == "0"
    assert h.format_decimal(7) == "7"
    with pytest.raises(TypeError):
        h.format_decimal(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        h.format_decimal(Decimal("NaN"))


# -------------------------------------------------------------------------------- punches and clock


@pytest.mark.parametrize(
    ("punch", "minutes", "clock"),
    [("0800", 480, "08:00"), ("0000", 0, "00:00"), ("2359", 1439, "23:59"), ("0206", 126, "02:06")],
)
def test_punches(punch, minutes, clock):
    assert h.punch_to_minutes(punch) == minutes
    assert h.minutes_to_punch(minutes) == punch
    assert h.punch_to_clock(punch) == clock
    assert h.clock_to_punch(clock) == punch
    assert h.clock_to_minutes(clock) == minutes
    assert h.minutes_to_clock(minutes) == clock


def test_punch_numbers_are_hhmm_without_their_zeros():
    # a JSON number has no leading zeros: 30 is "0030" (00:30, a night shift's exit), 800 is "0800"
    assert h.punch_to_minutes(30) == h.punch_to_minutes("0030") == 30
    assert h.punch_to_minutes(800) == h.punch_to_minutes("0800") == 480
    assert h.punch_to_minutes(0) == 0
    assert h.punch_to_minutes(2359) == 1439
    assert h.punch_to_clock(905) == "09:05"
    assert h.punch_to_minutes(" 0030 ") == 30


@pytest.mark.parametrize("value", ["30", "030", "800", "0", "5"])
def test_short_punch_text_is_ambiguous(value):
    # "30" could be a number that lost its zeros (00:30), a cut "3000" or 30 minutes: not guessed
    with pytest.raises(HoursFormatError, match="digit\\(s\\): 'HHMM' text has four") as info:
        h.punch_to_minutes(value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize(
    "value",
    ["2400", "0860", "08:00", "08", "", None, True, 2400, -1, 860, 60, "ab12", "00800", "٠٨٠٠", 8.0, 30.0],
)
def test_punch_refuses(value):
    with pytest.raises(HoursFormatError, match="punch time 'HHMM'"):
        h.punch_to_minutes(value)


@pytest.mark.parametrize(
    "value", ["25:61", "24:00", "8:00", "08:60", "0800", "ab:cd", "", None, 480, "08:00:00"]
)
def test_clock_refuses(value):
    with pytest.raises(HoursFormatError, match="clock time 'HH:mm'"):
        h.clock_to_minutes(value)


def test_minutes_to_punch_range_and_wrap():
    assert h.minutes_to_punch(1560, wrap=True) == "0200"
    assert h.minutes_to_clock(-60, wrap=True) == "23:00"
    assert h.minutes_to_clock(Decimal(480)) == "08:00"
    with pytest.raises(HoursFormatError, match="wrap=True"):
        h.minutes_to_punch(1560)
    with pytest.raises(HoursFormatError, match="whole"):
        h.minutes_to_clock(Decimal("1.5"))
    with pytest.raises(HoursFormatError, match="must be an int"):
        h.minutes_to_clock(True)


# ---------------------------------------------------------------------------------- reckon results


def test_value_in_minutes_or_days():
    assert h.value_in_minutes_or_days({"value": "16:30", "type": "hours"}) == (Decimal(990), "minutes")
    assert h.value_in_minutes_or_days({"value": "16,33", "type": "Hours "}) == (Decimal("979.8"), "minutes")
    assert h.value_in_minutes_or_days({"value": 22, "type": "days"}) == (Decimal(22), "days")
    amount = h.value_in_minutes_or_days({"value": "0,5", "type": "days"})
    assert amount.value == Decimal("0.5")
    assert amount.unit == "days"
    # the same value whether a JSON number or text
    assert h.value_in_minutes_or_days({"value": "2", "type": "days"}) == (Decimal(2), "days")
    assert h.value_in_minutes_or_days({"value": 8, "type": "HOURS"}) == (Decimal(480), "minutes")
    assert h.value_in_minutes_or_days({"value": "8", "type": "hours"}) == (Decimal(480), "minutes")


def test_result_types_come_from_the_vocabulary():
    from airflow_provider_ahgora.exceptions import AhgoraUnknownValueError

    with pytest.raises(AhgoraUnknownValueError, match="result type 'weeks'") as info:
        h.value_in_minutes_or_days({"value": 1, "type": "weeks"})
    assert (info.value.value, info.value.allowed) == ("weeks", ("days", "hours"))
    with pytest.raises(AhgoraUnknownValueError, match="result type None"):
        h.value_in_minutes_or_days({"value": 1})


def test_value_of_models():
    from airflow_provider_ahgora.models.pontoweb import ReckonResult

    model = ReckonResult.model_validate(
        {"name": "Faltas", "event": "2010", "value": "07,20", "type": "hours"}
    )
    assert h.result_minutes(model) == 432
    days = ReckonResult.model_validate({"name": "DSR", "event": "1200", "value": 4, "type": "days"})
    assert h.value_in_minutes_or_days(days) == (4, "days")
    with pytest.raises(HoursFormatError, match="counts days, not hours"):
        h.result_minutes(days)


def test_sum_minutes_is_exact_beyond_the_default_context():
    big = Decimal("12345678901234.12345678901234567890")
    tiny = Decimal("0.00000000000000000001")
    exact = Decimal("12345678901234.12345678901234567891")
    assert big + tiny != exact  # the default 28-digit context rounds
    assert h.sum_minutes([big, tiny]) == exact
    assert h.sum_minutes(h.parse_hours(v) for v in ("0,05", "0,05", "0:01")) == 7
    assert h.sum_minutes([]) == 0
    assert str(h.sum_minutes([Decimal("0.5"), Decimal("0.50")])) == "1"
    with pytest.raises(HoursFormatError):
        h.sum_minutes(["1:00"])  # type: ignore[list-item]


def test_large_values_round_trip():
    text = "9999999999999:59"  # the largest sexagesimal text accepted (13 digits of hours)
    minutes = h.parse_hours(text)
    assert minutes == 9999999999999 * 60 + 59
    assert h.minutes_to_sexagesimal(minutes) == text
    centesimal = h.minutes_to_centesimal(minutes, 6)
    assert centesimal == "9999999999999,983333"  # 59 / 60 = 0.98333...
    assert h.parse_hours(centesimal) == Decimal("599999999999998.99998")
    assert h.to_whole_minutes(h.parse_hours(centesimal)) == minutes

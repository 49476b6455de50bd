"""Property tests of the hour conversions: round trips, no drift, order, and only HoursFormatError."""

from __future__ import annotations

import decimal
from decimal import Decimal
from fractions import Fraction

from hypothesis import example, given, settings
from hypothesis import strategies as st

from airflow_provider_ahgora.transforms import hours as h
from airflow_provider_ahgora.transforms.errors import HoursFormatError

#: every property runs this many examples, with no per-example deadline (CI machines vary)
fast = settings(deadline=None, max_examples=100, database=None)

minutes_st = st.integers(min_value=-(10**7), max_value=10**7)
clock_minutes_st = st.integers(min_value=0, max_value=1439)
hundredths_st = st.integers(min_value=-(10**7), max_value=10**7)
modes_st = st.sampled_from(
    [
        decimal.ROUND_05UP,
        decimal.ROUND_CEILING,
        decimal.ROUND_DOWN,
        decimal.ROUND_FLOOR,
        decimal.ROUND_HALF_DOWN,
        decimal.ROUND_HALF_EVEN,
        decimal.ROUND_HALF_UP,
        decimal.ROUND_UP,
    ]
)


def _outcome(parse, value):
    """What ``parse(value)`` returns, or the HoursFormatError it raises (any other exception propagates)."""
    try:
        return parse(value)
    except HoursFormatError as exc:
        return exc


def centesimal_text(hundredths: int, sep: str = ",") -> str:
    sign = "-" if hundredths < 0 else ""
    whole, frac = divmod(abs(hundredths), 100)
    return f"{sign}{whole}{sep}{frac:02d}"


@fast
@given(minutes_st)
def test_sexagesimal_round_trip(minutes):
    text = h.minutes_to_sexagesimal(minutes)
    assert h.sexagesimal_to_minutes(text) == minutes
    assert h.parse_hours(text) == minutes
    assert h.minutes_to_sexagesimal(h.parse_hours(text)) == text


@fast
@given(minutes_st, st.integers(min_value=1, max_value=6))
def test_sexagesimal_width_round_trip(minutes, width):
    text = h.minutes_to_sexagesimal(minutes, width=width)
    assert h.parse_hours(text) == minutes
    assert len(text.lstrip("-").split(":")[0]) >= width


@fast
@given(hundredths_st, st.sampled_from([",", "."]))
def test_centesimal_round_trip_is_exact(hundredths, sep):
    text = centesimal_text(hundredths, sep)
    minutes = h.parse_hours(text)
    # exactly hundredths * 60 / 100 minutes, checked with fractions (an independent exact type)
    assert Fraction(minutes) == Fraction(hundredths * 60, 100)
    assert h.minutes_to_centesimal(minutes, sep=sep, exact=True) == centesimal_text(hundredths, sep)


@fast
@given(minutes_st)
def test_whole_minutes_survive_centesimal(minutes):
    # 2-place centesimal is off by at most 0.3 min, so the nearest whole minute is the original
    text = h.minutes_to_centesimal(minutes)
    assert h.to_whole_minutes(h.parse_hours(text)) == minutes
    assert h.minutes_to_sexagesimal(h.parse_hours(text)) == h.minutes_to_sexagesimal(minutes)


@fast
@given(minutes_st, st.integers(min_value=1, max_value=40))
def test_many_conversions_do_not_drift(minutes, rounds):
    value: Decimal | int = minutes
    for _ in range(rounds):
        value = h.parse_hours(h.minutes_to_sexagesimal(value))
        value = h.to_whole_minutes(h.parse_hours(h.minutes_to_centesimal(value)))
        value = h.punch_to_minutes(h.minutes_to_punch(value, wrap=True)) + (value - value % 1440)
    assert value == minutes


@fast
@given(st.lists(st.integers(min_value=0, max_value=2000), min_size=1, max_size=60))
def test_sums_of_centesimal_values_are_exact(hundredths):
    # every value on the 3-minute grid is exact; floats would drift (0.05 * 60 != 3.0)
    texts = [centesimal_text(n * 5) for n in hundredths]  # multiples of 0,05 h = 3 min
    total = sum((h.parse_hours(t) for t in texts), Decimal(0))
    assert total == 3 * sum(hundredths)
    assert h.minutes_to_sexagesimal(total, exact=True) == h.minutes_to_sexagesimal(3 * sum(hundredths))


@fast
@given(clock_minutes_st)
def test_punch_and_clock_round_trips(minutes):
    punch = h.minutes_to_punch(minutes)
    clock = h.minutes_to_clock(minutes)
    assert len(punch) == 4
    assert h.punch_to_minutes(punch) == minutes
    assert h.clock_to_minutes(clock) == minutes
    assert h.punch_to_clock(punch) == clock
    assert h.clock_to_punch(clock) == punch
    assert h.punch_to_minutes(int(punch)) == minutes


@fast
@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_wrap_is_modulo_a_day(minutes):
    assert h.punch_to_minutes(h.minutes_to_punch(minutes, wrap=True)) == minutes % 1440


@fast
@given(minutes_st, minutes_st)
def test_order_is_preserved(a, b):
    pa, pb = h.parse_hours(h.minutes_to_sexagesimal(a)), h.parse_hours(h.minutes_to_sexagesimal(b))
    assert (a < b) == (pa < pb)
    # centesimal keeps the order of whole minutes, without collisions (1 minute > 0.01 h)
    ca, cb = h.parse_hours(h.minutes_to_centesimal(a)), h.parse_hours(h.minutes_to_centesimal(b))
    assert (a < b) == (ca < cb)
    assert (a == b) == (ca == cb)


@fast
@given(clock_minutes_st, clock_minutes_st)
def test_punch_text_order_is_time_order(a, b):
    assert (h.minutes_to_punch(a) < h.minutes_to_punch(b)) == (a < b)
    assert (h.minutes_to_clock(a) < h.minutes_to_clock(b)) == (a < b)


@fast
@given(
    st.integers(min_value=-(10**9), max_value=10**9),
    st.integers(min_value=0, max_value=6),
    st.integers(min_value=0, max_value=4),
    modes_st,
)
def test_centesimal_rounding_matches_decimal(num, scale, places, mode):
    minutes = Decimal(num).scaleb(-scale)
    expected_hours = (Decimal(num) / (Decimal(60) * Decimal(10) ** scale)).quantize(
        Decimal(1).scaleb(-places), rounding=mode, context=decimal.Context(prec=200)
    )
    # 200 digits resolve every case here: x / 60 has a finite or a 3/6-repeating expansion
    text = h.minutes_to_centesimal(minutes, places, sep=".", rounding=mode)
    assert Decimal(text) == expected_hours


@fast
@given(
    st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**9), max_value=10**9, places=4),
    modes_st,
)
def test_whole_minutes_match_decimal(value, mode):
    assert h.to_whole_minutes(value, rounding=mode) == int(value.to_integral_value(rounding=mode))


@fast
@given(st.text(max_size=20))
@example("16,5,0")
@example("25:61")
@example("")
@example("٣:٣٠")
def test_bad_text_raises_only_hours_format_error(text):
    for parse in (
        h.parse_hours,
        h.sexagesimal_to_minutes,
        h.centesimal_to_minutes,
        h.parse_days,
        h.punch_to_minutes,
        h.clock_to_minutes,
    ):
        outcome = _outcome(parse, text)
        if isinstance(outcome, HoursFormatError):
            assert repr(text)[:20] in str(outcome) or "..." in str(outcome)
        else:
            assert isinstance(outcome, int | Decimal)


@fast
@given(
    st.one_of(
        st.none(),
        st.booleans(),
        st.floats(),
        st.binary(max_size=8),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
        st.decimals(),
        st.integers(),
    )
)
def test_any_value_raises_only_hours_format_error(value):
    for parse in (h.parse_hours, h.parse_days, h.punch_to_minutes, h.to_whole_minutes):
        outcome = _outcome(parse, value)  # any other exception fails the test
        assert isinstance(outcome, HoursFormatError | int | Decimal)


@fast
@given(st.from_regex(r"-?[0-9]{1,5}:[0-5][0-9]", fullmatch=True))
def test_every_sexagesimal_text_parses(text):
    minutes = h.sexagesimal_to_minutes(text)
    hours_part, mins_part = text.lstrip("-").split(":")
    expected = int(hours_part) * 60 + int(mins_part)
    assert minutes == (-expected if text.startswith("-") else expected)


@fast
@given(st.from_regex(r"-?[0-9]{1,5}[,.][0-9]{1,6}", fullmatch=True))
def test_every_centesimal_text_parses_exactly(text):
    minutes = h.centesimal_to_minutes(text)
    assert Fraction(minutes) == Fraction(text.replace(",", ".")) * 60


@fast
@given(
    st.lists(
        st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**12), max_value=10**12, places=20)
    )
)
def test_sum_minutes_is_exact(values):
    assert Fraction(h.sum_minutes(values)) == sum((Fraction(v) for v in values), Fraction(0))

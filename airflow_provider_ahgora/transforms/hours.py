"""Exact conversions between the hour formats of PontoWeb and Voors.

PontoWeb gives amounts of hours *sexagesimal* (``"16:30"``: 16 h 30 min) or *centesimal*
(``"16,50"``: 16.50 h, i.e. 16 h 30 min), punches as ``"HHMM"`` (``"0800"``); Voors takes clock
times ``"HH:mm"`` and totals ``"H:mm"`` (possibly more than 24 h, possibly negative).

Every conversion here is exact: amounts are :class:`int` or :class:`~decimal.Decimal` minutes and
no float arithmetic is ever done, so converting back and forth, or summing a month of centesimal
values, never drifts (``0,05`` h is exactly 3 minutes, not 3.0000000000000004).

Rules:

* **Minutes are the pivot.** :func:`parse_hours` turns any amount into minutes (a ``Decimal``,
  whole for sexagesimal input, possibly fractional for centesimal input: ``"16,33"`` is
  ``Decimal("979.8")``). Renderers take minutes (``int`` or ``Decimal``).
* **Rounding happens only when rendering**, once, with an explicit mode. The default is
  :data:`DEFAULT_ROUNDING` = ``ROUND_HALF_EVEN`` (banker's rounding, the ABNT NBR 5891 rule); pass
  any :mod:`decimal` rounding constant (e.g. ``decimal.ROUND_HALF_UP``) to change it, or
  ``exact=True`` to get an :class:`InexactHoursError` instead of rounding. With the usual data
  (2-place centesimal values, whole minutes) no tie can happen: ``n`` hundredths of an hour are
  ``0.6 n`` minutes (fractions .2, .4, .6, .8) and ``m`` minutes are ``5 m / 3`` hundredths
  (fractions 1/3, 2/3), so the mode only matters for unusual input.
* **Numbers are hours.** An ``int``/``Decimal`` (or a bare ``"16"``) given to :func:`parse_hours`
  is a number of hours, like a centesimal value without its fraction. Floats are accepted (JSON
  decoders produce them) and converted through their shortest ``repr`` (``0.1`` is read as
  ``Decimal("0.1")``, the text the JSON held), never through binary float arithmetic; NaN and
  infinities are refused. Booleans are refused.
* **Bad values raise** :class:`HoursFormatError` (a :class:`ValueError`) naming the value and the
  expected formats. Surrounding white space is ignored; a ``+`` sign, thousands separators and
  non-ASCII digits are refused, and so are absurd sizes that could not be computed exactly (text
  with more than 13 digits of hours or 30 decimals, numbers of ``10**15`` or more, or with more
  than 32 decimals).
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal, NamedTuple

from airflow_provider_ahgora.transforms._records import result_type
from airflow_provider_ahgora.transforms.errors import HoursFormatError, InexactHoursError

__all__ = [
    "DEFAULT_ROUNDING",
    "MINUTES_PER_DAY",
    "Amount",
    "HoursFormatError",
    "InexactHoursError",
    "centesimal_to_minutes",
    "clock_to_minutes",
    "clock_to_punch",
    "format_decimal",
    "minutes_to_centesimal",
    "minutes_to_clock",
    "minutes_to_punch",
    "minutes_to_sexagesimal",
    "parse_days",
    "parse_hours",
    "punch_to_clock",
    "punch_to_minutes",
    "result_minutes",
    "sexagesimal_to_minutes",
    "sum_minutes",
    "to_whole_minutes",
    "value_in_minutes_or_days",
]

#: Rounding used when an amount must become whole minutes or a fixed number of hundredths.
DEFAULT_ROUNDING: str = ROUND_HALF_EVEN
#: Minutes in a day (a clock time or punch is ``0 <= minutes < MINUTES_PER_DAY``).
MINUTES_PER_DAY = 1440

_ROUNDINGS = frozenset(
    {
        decimal.ROUND_05UP,
        decimal.ROUND_CEILING,
        decimal.ROUND_DOWN,
        decimal.ROUND_FLOOR,
        decimal.ROUND_HALF_DOWN,
        decimal.ROUND_HALF_EVEN,
        decimal.ROUND_HALF_UP,
        decimal.ROUND_UP,
    }
)

# ASCII digits only: ``\d`` would also match Arabic-Indic and other digits.
_SEXAGESIMAL = re.compile(r"(-?)([0-9]{1,13}):([0-5][0-9])")
_CENTESIMAL = re.compile(r"(-?)([0-9]{1,13})[,.]([0-9]{1,30})")
_INTEGER = re.compile(r"-?[0-9]{1,13}")
_DAYS = re.compile(r"(-?)([0-9]{1,13})(?:[,.]([0-9]{1,30}))?")
_PUNCH = re.compile(r"([0-9]{2})([0-9]{2})")
_CLOCK = re.compile(r"([0-9]{2}):([0-9]{2})")

# Bounds that keep every computation exact in a 100-digit context (and messages short).
_MAX_ADJUSTED = 14  # |minutes| < 10**15 (about 1.6e13 hours)
_MIN_EXPONENT = -32
_CONTEXT = decimal.Context(
    prec=100,
    rounding=ROUND_HALF_EVEN,
    traps=[decimal.Inexact, decimal.InvalidOperation, decimal.Overflow, decimal.DivisionByZero],
)

EXPECTED_HOURS = (
    "an amount of hours: sexagesimal 'H:MM' (e.g. '16:30', '-1:30', '171:20'), centesimal 'H,CC' or "
    "'H.CC' (e.g. '16,50' = 16 h 30 min), or a number of hours (int or Decimal)"
)
EXPECTED_SEXAGESIMAL = "sexagesimal hours 'H:MM' (e.g. '16:30', '-1:30', '171:20'; minutes 00 to 59)"
EXPECTED_CENTESIMAL = "centesimal hours 'H,CC' or 'H.CC' (e.g. '16,50' = 16 h 30 min, '-0,25')"
EXPECTED_MINUTES = "an amount of minutes (int or Decimal; a float is read through its repr)"
EXPECTED_DAYS = "a number of days (e.g. 2, '2', '0,5', Decimal('1.5'))"
EXPECTED_PUNCH = (
    "a punch time 'HHMM', four digits from '0000' to '2359' (e.g. '0800', '0030'), or the JSON number "
    "HHMM (800 for 08:00, 30 for 00:30)"
)
EXPECTED_CLOCK = "a clock time 'HH:mm' from '00:00' to '23:59' (e.g. '08:00')"


class Amount(NamedTuple):
    """An amount of a result: ``value`` minutes (type "hours") or ``value`` days (type "days")."""

    value: Decimal
    unit: Literal["minutes", "days"]


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def _check_rounding(rounding: str) -> str:
    if rounding not in _ROUNDINGS:
        allowed = ", ".join(sorted(_ROUNDINGS))
        raise ValueError(f"rounding must be one of the decimal module's modes ({allowed}), got {rounding!r}")
    return rounding


def _canonical(value: Decimal) -> Decimal:
    """The same number without trailing zeros or exponent noise: ``Decimal("979.80")`` -> ``979.8``."""
    if value == value.to_integral_value():
        return Decimal(int(value))
    return value.normalize(_CONTEXT)


def _bounded(value: Decimal, original: Any, expected: str) -> Decimal:
    """``value`` if it is finite and within the exact-arithmetic bounds, else HoursFormatError."""
    if not value.is_finite():
        raise HoursFormatError(original, expected, "not a finite number")
    if value and value.adjusted() > _MAX_ADJUSTED:
        raise HoursFormatError(original, expected, "too large")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < _MIN_EXPONENT and value != value.to_integral_value():
        raise HoursFormatError(original, expected, "too many decimal places")
    return value


def _number(value: Any, expected: str) -> Decimal | None:
    """An int, Decimal or float as an exact Decimal; ``None`` for any other type. Bools are refused."""
    if isinstance(value, bool):
        raise HoursFormatError(value, expected, "a boolean is not a number")
    if isinstance(value, int):
        return _bounded(Decimal(value), value, expected)
    if isinstance(value, Decimal):
        return _bounded(value, value, expected)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise HoursFormatError(value, expected, "not a finite number")
        return _bounded(Decimal(repr(value)), value, expected)
    return None


def _mul(a: Decimal, b: int | Decimal, original: Any, expected: str) -> Decimal:
    try:
        return _CONTEXT.multiply(a, Decimal(b))
    except decimal.DecimalException:  # cannot happen within the bounds; never leak an ArithmeticError
        raise HoursFormatError(original, expected, "cannot be converted exactly") from None


def _minutes(value: Any) -> Decimal:
    """A minutes argument (int, Decimal, float) as a Decimal."""
    number = _number(value, EXPECTED_MINUTES)
    if number is None:
        raise HoursFormatError(value, EXPECTED_MINUTES, f"got {type(value).__name__}")
    return number


def _round_ratio(num: int, den: int, rounding: str) -> tuple[int, bool]:
    """``num / den`` rounded to an integer with a decimal rounding mode, exactly; and whether it was exact.

    Integer arithmetic only (the remainder is compared with half the divisor), with the semantics of
    the :mod:`decimal` modes, so any size of operand rounds exactly.
    """
    if den <= 0:
        raise ValueError("den must be positive")
    negative = num < 0
    q, r = divmod(abs(num), den)  # q: the magnitude rounded toward zero
    if r == 0:
        return (-q if negative else q), True
    twice = 2 * r
    if rounding == decimal.ROUND_DOWN:
        away = False
    elif rounding == decimal.ROUND_UP:
        away = True
    elif rounding == decimal.ROUND_CEILING:
        away = not negative
    elif rounding == decimal.ROUND_FLOOR:
        away = negative
    elif rounding == decimal.ROUND_HALF_UP:
        away = twice >= den
    elif rounding == decimal.ROUND_HALF_DOWN:
        away = twice > den
    elif rounding == decimal.ROUND_HALF_EVEN:
        away = twice > den or (twice == den and q % 2 == 1)
    elif rounding == decimal.ROUND_05UP:
        away = q % 5 == 0
    else:
        _check_rounding(rounding)
        raise AssertionError("unreachable")  # pragma: no cover
    if away:
        q += 1
    return (-q if negative else q), False


def _as_ratio(value: Decimal) -> tuple[int, int]:
    """A finite Decimal as ``(numerator, 10**k)``."""
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    num = int("".join(map(str, digits)) or "0")
    if sign:
        num = -num
    if exponent >= 0:
        return num * 10**exponent, 1
    return num, 10**-exponent


def format_decimal(value: int | Decimal) -> str:
    """An exact decimal text with ``.`` as separator and no exponent: ``Decimal("979.80")`` -> ``"979.8"``.

    Integers (and integral Decimals) have no fraction: ``Decimal("990.00")`` -> ``"990"``.
    """
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise TypeError(f"format_decimal takes an int or a Decimal, got {type(value).__name__}")
    if isinstance(value, int):
        return str(value)
    if not value.is_finite():
        raise ValueError(f"format_decimal takes a finite number, got {value!r}")
    text = format(_canonical(value), "f")
    return "0" if text == "-0" else text


# --------------------------------------------------------------------------------------------------
# Amounts of hours -> minutes
# --------------------------------------------------------------------------------------------------


def sexagesimal_to_minutes(value: str) -> int:
    """Minutes of a sexagesimal amount: ``"16:30"`` -> 990, ``"-1:30"`` -> -90, ``"171:20"`` -> 10280.

    Hours have any number of digits (amounts may exceed 24 h); minutes are exactly two digits, 00 to
    59. Raises :class:`HoursFormatError` for anything else (a centesimal value included).
    """
    if not isinstance(value, str):
        raise HoursFormatError(value, EXPECTED_SEXAGESIMAL, f"got {type(value).__name__}")
    match = _SEXAGESIMAL.fullmatch(value.strip())
    if match is None:
        raise HoursFormatError(value, EXPECTED_SEXAGESIMAL)
    sign, hours, minutes = match.groups()
    total = int(hours) * 60 + int(minutes)
    return -total if sign else total


def centesimal_to_minutes(value: str) -> Decimal:
    """Minutes of a centesimal amount, exactly: ``"16,50"`` -> 990, ``"16,33"`` -> ``Decimal("979.8")``.

    The separator is ``,`` (PontoWeb) or ``.``; the fraction has at least one digit (``"16,5"`` is
    16.5 h). The result is a canonical :class:`~decimal.Decimal` (no trailing zeros), fractional when
    the hours do not make whole minutes. Raises :class:`HoursFormatError` for anything else.
    """
    if not isinstance(value, str):
        raise HoursFormatError(value, EXPECTED_CENTESIMAL, f"got {type(value).__name__}")
    match = _CENTESIMAL.fullmatch(value.strip())
    if match is None:
        raise HoursFormatError(value, EXPECTED_CENTESIMAL)
    sign, whole, fraction = match.groups()
    hours = Decimal(f"{sign}{whole}.{fraction}")
    return _canonical(_mul(hours, 60, value, EXPECTED_CENTESIMAL))


def parse_hours(value: Any) -> Decimal:
    """Minutes of any amount of hours PontoWeb may send, as an exact canonical :class:`~decimal.Decimal`.

    * ``"16:30"``, ``"-1:30"``, ``"171:20"`` (sexagesimal) -> 990, -90, 10280;
    * ``"16,50"``, ``"16.50"`` (centesimal) -> 990; ``"16,33"`` -> ``Decimal("979.8")``;
    * a number of hours: ``8``, ``"8"``, ``Decimal("1.5")``, ``1.5`` (float, read through its repr)
      -> 480, 480, 90, 90.

    :raises HoursFormatError: for ``None``, ``""``, booleans, NaN, text in no format above
        (``"ab:cd"``, ``"16,5,0"``, ``"1:60"``), or any other type.
    """
    number = _number(value, EXPECTED_HOURS)
    if number is not None:
        return _canonical(_mul(number, 60, value, EXPECTED_HOURS))
    if not isinstance(value, str):
        raise HoursFormatError(value, EXPECTED_HOURS, f"got {type(value).__name__}")
    text = value.strip()
    if _SEXAGESIMAL.fullmatch(text):
        return Decimal(sexagesimal_to_minutes(text))
    if _CENTESIMAL.fullmatch(text):
        return centesimal_to_minutes(text)
    if _INTEGER.fullmatch(text):
        return Decimal(int(text) * 60)
    raise HoursFormatError(value, EXPECTED_HOURS, "empty" if not text else None)


def parse_days(value: Any) -> Decimal:
    """A number of days as an exact canonical :class:`~decimal.Decimal`: ``2``, ``"2"``, ``"0,5"``, ``0.5``.

    :raises HoursFormatError: for ``None``, ``""``, booleans, NaN, hours (``"8:00"``) or other text.
    """
    number = _number(value, EXPECTED_DAYS)
    if number is not None:
        return _canonical(number)
    if not isinstance(value, str):
        raise HoursFormatError(value, EXPECTED_DAYS, f"got {type(value).__name__}")
    match = _DAYS.fullmatch(value.strip())
    if match is None:
        raise HoursFormatError(value, EXPECTED_DAYS, "empty" if not value.strip() else None)
    sign, whole, fraction = match.groups()
    return _canonical(Decimal(f"{sign}{whole}.{fraction or '0'}"))


def sum_minutes(values: Iterable[int | Decimal | float]) -> Decimal:
    """The exact sum of amounts of minutes (``Decimal``'s default 28-digit context could round).

    ``sum_minutes(parse_hours(v) for v in ("0,05", "0,05", "0:01"))`` -> ``Decimal("7")``.
    """
    total = Decimal(0)
    for value in values:
        number = _minutes(value)
        try:
            total = _CONTEXT.add(total, number)
        except decimal.DecimalException:
            raise HoursFormatError(value, EXPECTED_MINUTES, "the sum is too large") from None
    return _canonical(total)


# --------------------------------------------------------------------------------------------------
# Minutes -> amounts of hours
# --------------------------------------------------------------------------------------------------


def to_whole_minutes(
    minutes: int | Decimal | float, *, rounding: str = DEFAULT_ROUNDING, exact: bool = False
) -> int:
    """``minutes`` as an ``int``, rounded with ``rounding`` (default ``ROUND_HALF_EVEN``).

    :raises InexactHoursError: with ``exact=True`` when ``minutes`` is not whole.
    :raises HoursFormatError: when ``minutes`` is not a finite number.
    """
    _check_rounding(rounding)
    value = _minutes(minutes)
    num, den = _as_ratio(value)
    whole, is_exact = _round_ratio(num, den, rounding)
    if exact and not is_exact:
        raise InexactHoursError(minutes, "a whole number of minutes", "exact=True was asked for")
    return whole


def minutes_to_sexagesimal(
    minutes: int | Decimal | float,
    *,
    width: int = 1,
    rounding: str = DEFAULT_ROUNDING,
    exact: bool = False,
) -> str:
    """Sexagesimal hours ``"H:MM"``, as Voors totals take them: 990 -> ``"16:30"``, 5 -> ``"0:05"``.

    Hours are not wrapped at 24 (10280 -> ``"171:20"``) and have at least ``width`` digits
    (``width=2`` gives PontoWeb's ``"08:48"``); a negative amount gets a ``-`` (-90 -> ``"-1:30"``).
    Fractional minutes are rounded to whole minutes first (see :func:`to_whole_minutes`).
    """
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    whole = to_whole_minutes(minutes, rounding=rounding, exact=exact)
    sign = "-" if whole < 0 else ""
    hours, mins = divmod(abs(whole), 60)
    return f"{sign}{hours:0{width}d}:{mins:02d}"


def minutes_to_centesimal(
    minutes: int | Decimal | float,
    places: int = 2,
    *,
    sep: str = ",",
    width: int = 1,
    rounding: str = DEFAULT_ROUNDING,
    exact: bool = False,
) -> str:
    """Centesimal hours with ``places`` decimals: 990 -> ``"16,50"``, 20 -> ``"0,33"``, -15 -> ``"-0,25"``.

    The hours ``minutes / 60`` are rounded once to ``places`` decimals with ``rounding``; with
    ``exact=True`` an amount that does not fit (20 minutes = 0.333... h) raises
    :class:`InexactHoursError` instead. ``sep`` is the decimal separator (``","`` as PontoWeb
    writes it, or ``"."``), ``width`` the minimum number of hour digits (2 gives ``"01,50"``).
    """
    if places < 0:
        raise ValueError(f"places must be >= 0, got {places}")
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    _check_rounding(rounding)
    value = _minutes(minutes)
    num, den = _as_ratio(value)
    scaled, is_exact = _round_ratio(num * 10**places, den * 60, rounding)
    if exact and not is_exact:
        raise InexactHoursError(
            minutes, f"minutes that make a whole number of 1/{10**places} hours", "exact=True was asked for"
        )
    sign = "-" if scaled < 0 else ""
    hours, fraction = divmod(abs(scaled), 10**places)
    if places == 0:
        return f"{sign}{hours:0{width}d}"
    return f"{sign}{hours:0{width}d}{sep}{fraction:0{places}d}"


# --------------------------------------------------------------------------------------------------
# Punches "HHMM" and clock times "HH:mm"
# --------------------------------------------------------------------------------------------------


def punch_to_minutes(value: str | int) -> int:
    """Minutes after midnight of a PontoWeb punch ``"HHMM"``: ``"0800"`` -> 480, ``"0030"`` -> 30.

    The documents give a punch's ``hour`` as the text ``"HHMM"``; each notation means one thing:

    * text: exactly four digits (``"0030"`` is 00:30); surrounding blanks are ignored;
    * a JSON number: the ``HHMM`` digits read as a number, which has no leading zeros (``30`` is
      ``"0030"``, 00:30; ``800`` is 08:00). A number cannot mean anything else, so it is read the same
      whether it came in a dict or through a JSON Lines file;
    * text of one to three digits (``"30"``, ``"800"``) is refused: it is no ``HHMM`` text, and whether
      it is a number that lost its zeros, a cut text or minutes cannot be told, so it is not guessed.

    Floats (``800.0``), booleans and anything else are refused too. Hours 00 to 23, minutes 00 to 59.

    :raises HoursFormatError: naming the value and the formats expected.
    """
    if isinstance(value, bool):
        raise HoursFormatError(value, EXPECTED_PUNCH, "a boolean is not a time")
    if isinstance(value, int):
        if not 0 <= value <= 2359:
            raise HoursFormatError(value, EXPECTED_PUNCH, "out of range")
        hours, mins = divmod(value, 100)
    elif isinstance(value, str):
        text = value.strip()
        match = _PUNCH.fullmatch(text)
        if match is None:
            reason = None
            if text.isascii() and text.isdigit() and len(text) < 4:
                reason = (
                    f"{len(text)} digit(s): 'HHMM' text has four; a shorter one may be a number that lost "
                    "its zeros, a cut text or minutes, which cannot be told apart"
                )
            raise HoursFormatError(value, EXPECTED_PUNCH, reason)
        hours, mins = int(match.group(1)), int(match.group(2))
    else:
        kind = "a float is not 'HHMM'" if isinstance(value, float) else f"got {type(value).__name__}"
        raise HoursFormatError(value, EXPECTED_PUNCH, kind)
    if hours > 23 or mins > 59:
        raise HoursFormatError(value, EXPECTED_PUNCH, "hour or minute out of range")
    return hours * 60 + mins


def _clock_minutes(minutes: int | Decimal, wrap: bool, expected: str) -> int:
    if isinstance(minutes, bool) or not isinstance(minutes, int | Decimal):
        raise HoursFormatError(minutes, expected, "minutes must be an int")
    if isinstance(minutes, Decimal):
        if not minutes.is_finite() or minutes != minutes.to_integral_value():
            raise HoursFormatError(minutes, expected, "minutes must be whole")
        minutes = int(minutes)
    if wrap:
        return minutes % MINUTES_PER_DAY
    if not 0 <= minutes < MINUTES_PER_DAY:
        raise HoursFormatError(
            minutes, expected, "minutes must be 0 to 1439 (pass wrap=True for a time past midnight)"
        )
    return minutes


def minutes_to_punch(minutes: int | Decimal, *, wrap: bool = False) -> str:
    """A punch ``"HHMM"`` from minutes after midnight: 480 -> ``"0800"``.

    ``minutes`` must be whole and ``0 <= minutes < 1440``; with ``wrap=True`` it is taken modulo a
    day (1560, a night shift's 02:00 of the next day, -> ``"0200"``).
    """
    value = _clock_minutes(minutes, wrap, "whole minutes 0 to 1439 to make a punch 'HHMM'")
    return f"{value // 60:02d}{value % 60:02d}"


def clock_to_minutes(value: str) -> int:
    """Minutes after midnight of a clock time ``"HH:mm"``: ``"08:00"`` -> 480.

    Exactly two digits each, ``00:00`` to ``23:59``: ``"8:00"``, ``"24:00"`` and ``"25:61"`` raise
    :class:`HoursFormatError`.
    """
    if not isinstance(value, str):
        raise HoursFormatError(value, EXPECTED_CLOCK, f"got {type(value).__name__}")
    match = _CLOCK.fullmatch(value.strip())
    if match is None:
        raise HoursFormatError(value, EXPECTED_CLOCK)
    hours, mins = int(match.group(1)), int(match.group(2))
    if hours > 23 or mins > 59:
        raise HoursFormatError(value, EXPECTED_CLOCK, "hour or minute out of range")
    return hours * 60 + mins


def minutes_to_clock(minutes: int | Decimal, *, wrap: bool = False) -> str:
    """A clock time ``"HH:mm"`` from minutes after midnight: 480 -> ``"08:00"``.

    Same rules as :func:`minutes_to_punch` (``wrap=True`` takes the minutes modulo a day).
    """
    value = _clock_minutes(minutes, wrap, "whole minutes 0 to 1439 to make a clock time 'HH:mm'")
    return f"{value // 60:02d}:{value % 60:02d}"


def punch_to_clock(value: str | int) -> str:
    """A PontoWeb punch as a Voors clock time: ``"0800"`` -> ``"08:00"``."""
    return minutes_to_clock(punch_to_minutes(value))


def clock_to_punch(value: str) -> str:
    """A Voors clock time as a PontoWeb punch: ``"08:00"`` -> ``"0800"``."""
    return minutes_to_punch(clock_to_minutes(value))


# --------------------------------------------------------------------------------------------------
# Reckon results
# --------------------------------------------------------------------------------------------------


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def value_in_minutes_or_days(result: Any) -> Amount:
    """The amount of a reckon result: ``(minutes, "minutes")`` (type "hours") or ``(days, "days")``.

    ``result`` is a ``ReckonResult`` model or its wire dict (``{name, event, value, type}``). The
    type is read through the status vocabulary (:class:`~airflow_provider_ahgora.models.vocabulary.
    ResultType`: case and surrounding blanks do not matter). Hours go through :func:`parse_hours`,
    days through :func:`parse_days`; a value means the same whether it is a JSON number or text
    (``2`` and ``"2"`` days, ``8`` and ``"8"`` hours).

    :raises HoursFormatError: for a bad value.
    :raises AhgoraUnknownValueError: (from the vocabulary) for a type other than "hours"/"days",
        naming it.
    """
    kind = result_type(_field(result, "type"))
    value = _field(result, "value")
    if kind.value == "hours":
        return Amount(parse_hours(value), "minutes")
    return Amount(parse_days(value), "days")


def result_minutes(result: Any) -> Decimal:
    """Minutes of a reckon result of type "hours" (see :func:`value_in_minutes_or_days`).

    :raises HoursFormatError: for a bad value, or a result that is not of type "hours".
    :raises AhgoraUnknownValueError: for an unknown type (see :func:`value_in_minutes_or_days`).
    """
    amount = value_in_minutes_or_days(result)
    if amount.unit != "minutes":
        raise HoursFormatError(
            _field(result, "value"), "a result of type 'hours'", "this result counts days, not hours"
        )
    return amount.value

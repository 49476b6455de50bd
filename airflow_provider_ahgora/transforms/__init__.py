"""Pure transforms of PontoWeb reckon results: hour formats, payroll rows, Voors time cards.

No I/O and no Airflow (nor pydantic) import: these are plain functions over dicts and strings, easy
to test and to call from a TaskFlow task. See :doc:`/transforms` for the formats and mappings.

* :mod:`~airflow_provider_ahgora.transforms.hours`: exact conversions between sexagesimal
  ``"16:30"``, centesimal ``"16,50"``, minutes, punches ``"0800"`` and clock times ``"08:00"``;
* :mod:`~airflow_provider_ahgora.transforms.payroll`: reckon records -> CSV-ready payroll rows;
* :mod:`~airflow_provider_ahgora.transforms.timecards`: daily reckon records -> Voors ``timeCard``
  bodies, one per employee and competence;
* :mod:`~airflow_provider_ahgora.transforms.csvfile`: the one CSV writer (dialects, formula
  injection neutralised, streamed) for every CSV file written.
"""

from __future__ import annotations

from airflow_provider_ahgora.transforms.csvfile import (
    DEFAULT_DIALECT,
    DIALECTS,
    EXCEL_BR,
    CsvDialect,
    CsvWriter,
    csv_cell,
)
from airflow_provider_ahgora.transforms.errors import HoursFormatError, InexactHoursError, TransformError
from airflow_provider_ahgora.transforms.hours import (
    DEFAULT_ROUNDING,
    Amount,
    centesimal_to_minutes,
    clock_to_minutes,
    clock_to_punch,
    format_decimal,
    minutes_to_centesimal,
    minutes_to_clock,
    minutes_to_punch,
    minutes_to_sexagesimal,
    parse_days,
    parse_hours,
    punch_to_clock,
    punch_to_minutes,
    result_minutes,
    sexagesimal_to_minutes,
    sum_minutes,
    to_whole_minutes,
    value_in_minutes_or_days,
)
from airflow_provider_ahgora.transforms.payroll import (
    PAYROLL_COLUMNS,
    PAYROLL_NUMBER_COLUMNS,
    payroll_csv_header,
    payroll_rows,
)
from airflow_provider_ahgora.transforms.timecards import (
    BREAK_OBSERVATION,
    DEFAULT_WORKED_TITLE,
    closing_period,
    competence_of,
    day_slots,
    default_remote_id,
    reckon_span,
    time_card,
    time_cards,
    worked_minutes,
)

__all__ = [
    "BREAK_OBSERVATION",
    "DEFAULT_DIALECT",
    "DEFAULT_ROUNDING",
    "DEFAULT_WORKED_TITLE",
    "DIALECTS",
    "EXCEL_BR",
    "PAYROLL_COLUMNS",
    "PAYROLL_NUMBER_COLUMNS",
    "Amount",
    "CsvDialect",
    "CsvWriter",
    "HoursFormatError",
    "InexactHoursError",
    "TransformError",
    "centesimal_to_minutes",
    "clock_to_minutes",
    "clock_to_punch",
    "closing_period",
    "competence_of",
    "csv_cell",
    "day_slots",
    "default_remote_id",
    "format_decimal",
    "minutes_to_centesimal",
    "minutes_to_clock",
    "minutes_to_punch",
    "minutes_to_sexagesimal",
    "parse_days",
    "parse_hours",
    "payroll_csv_header",
    "payroll_rows",
    "punch_to_clock",
    "punch_to_minutes",
    "reckon_span",
    "result_minutes",
    "sexagesimal_to_minutes",
    "sum_minutes",
    "time_card",
    "time_cards",
    "to_whole_minutes",
    "value_in_minutes_or_days",
    "worked_minutes",
]

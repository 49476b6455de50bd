"""One CSV writer for every CSV file we write: a dialect setting, formula injection neutralised, streamed.

A payroll team opens our files in Excel; a payroll system imports them. Both must read them right,
and neither may be made to run a formula hidden in a name. :class:`CsvWriter` is the one place that
writes a CSV row: the example DAGs write every CSV through it.

**Dialects.** :class:`CsvDialect` says how the file is written:

================ ============ ====== ============= ==================================================
name             delimiter    BOM    decimal       for
================ ============ ====== ============= ==================================================
``"rfc4180"``    ``,``        no     ``.``         the default (:data:`DEFAULT_DIALECT`): RFC 4180,
                                                   what programs and ``csv.DictReader`` read
``"excel"``      ``,``        yes    ``.``         Excel with an English locale
``"excel-br"``   ``;``        yes    ``,``         Excel in Brazil (:data:`EXCEL_BR`): the BOM makes
                                                   it read UTF-8 ("não", not "nÃ£o"), ``;`` is its
                                                   list separator, ``,`` its decimal separator
================ ============ ====== ============= ==================================================

Every dialect writes UTF-8, ``\\r\\n`` line ends and quotes a cell only when it must. Open the file
with ``encoding="utf-8"`` and ``newline=""`` (the writer writes the BOM itself, as the first
character, when the dialect has one). A decimal comma applies where the writer writes a number: a
:class:`~decimal.Decimal` or float cell, or an exact decimal text (``"979.8"``) in a column named in
``number_columns`` (e.g. :data:`~airflow_provider_ahgora.transforms.payroll.PAYROLL_NUMBER_COLUMNS`);
text is written as given (a centesimal ``"16,50"`` stays ``"16,50"``). A decimal comma with a comma
delimiter is refused: the file could not be read back unambiguously by people.

**Formula injection.** A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab, a carriage
return or a line feed (also after blanks, and their full-width forms) would be run by a spreadsheet
as a formula (``=HYPERLINK(...)``, ``-2+3+cmd|' /C calc'!A0``). Such a cell is written with a
leading apostrophe (``'=SUM(A1)``), which spreadsheets show as text, as OWASP recommends. A negative
number or amount of hours stays as it is, because it is no formula: ``-90``, ``-0.5``, ``-0,5``,
``-1:30``, ``-171:20`` (the whole cell must be one such value). A program that reads the file back
and needs the original drops a leading ``'`` that precedes one of those characters.

**Streaming.** Each row is written when it is given; nothing is kept, so memory does not grow with
the number of rows.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, TextIO

from airflow_provider_ahgora.transforms.hours import format_decimal

__all__ = ["DEFAULT_DIALECT", "DIALECTS", "EXCEL_BR", "CsvDialect", "CsvWriter", "csv_cell"]

_TRIGGERS = frozenset("=+-@\t\r\n＝＋－＠")
_NEGATIVE = re.compile(r"-[0-9]+(?:[.,][0-9]+)?|-[0-9]+:[0-5][0-9]")
_DECIMAL_TEXT = re.compile(r"-?[0-9]+\.[0-9]+")


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file is written. The default is RFC 4180: ``,``, no BOM, ``.`` as decimal separator.

    :ivar delimiter: one character between cells: ``","`` (default), ``";"`` or ``"\\t"``.
    :ivar bom: write a UTF-8 byte order mark first (Excel then reads the file as UTF-8).
    :ivar decimal_comma: write numbers with a decimal comma (``979,8``); needs a delimiter that is
        not a comma.
    """

    delimiter: str = ","
    bom: bool = False
    decimal_comma: bool = False

    #: The encoding to open the file with (the BOM, when asked for, is written as a character).
    encoding: ClassVar[str] = "utf-8"
    #: Line end, as RFC 4180 has it (open the file with ``newline=""``).
    line_terminator: ClassVar[str] = "\r\n"

    def __post_init__(self) -> None:
        if not isinstance(self.delimiter, str) or len(self.delimiter) != 1 or self.delimiter in "\"'\r\n":
            raise ValueError(
                f"delimiter must be one character such as ',', ';' or '\\t', got {self.delimiter!r}"
            )
        if self.decimal_comma and self.delimiter == ",":
            raise ValueError(
                "decimal_comma=True needs another delimiter than ',' (e.g. ';'): '979,8' in a "
                "comma-separated file reads as two cells to people"
            )

    @classmethod
    def named(cls, name: str | CsvDialect | None) -> CsvDialect:
        """The dialect called ``name`` in :data:`DIALECTS` (``"rfc4180"``, ``"excel"``, ``"excel-br"``,
        any case); a :class:`CsvDialect` is returned as is; ``None`` or ``""`` gives the default."""
        if isinstance(name, CsvDialect):
            return name
        if name is None or (isinstance(name, str) and not name.strip()):
            return DEFAULT_DIALECT
        found = DIALECTS.get(name.strip().lower()) if isinstance(name, str) else None
        if found is None:
            raise ValueError(f"unknown CSV dialect {name!r}: use one of {', '.join(DIALECTS)}")
        return found


#: RFC 4180: ``,``, no BOM, decimal point. What :class:`CsvWriter` writes unless told otherwise.
DEFAULT_DIALECT = CsvDialect()
#: Excel in Brazil: ``;``, a UTF-8 BOM, decimal comma.
EXCEL_BR = CsvDialect(delimiter=";", bom=True, decimal_comma=True)
#: The dialects by name (for a DAG param or an Airflow Variable).
DIALECTS: dict[str, CsvDialect] = {
    "rfc4180": DEFAULT_DIALECT,
    "excel": CsvDialect(bom=True),
    "excel-br": EXCEL_BR,
}


def _neutralise(text: str) -> str:
    stripped = text.lstrip(" ")
    if stripped and stripped[0] in _TRIGGERS and not _NEGATIVE.fullmatch(text):
        return "'" + text
    return text


def _decimal(value: Decimal, dialect: CsvDialect) -> str:
    out = format_decimal(value)
    return out.replace(".", ",") if dialect.decimal_comma else out


def csv_cell(value: Any, dialect: CsvDialect = DEFAULT_DIALECT, *, number: bool = False) -> str:
    """The text :class:`CsvWriter` writes for one value.

    ``None`` -> ``""``; booleans -> ``"true"``/``"false"``; an ``int`` as is; a ``Decimal`` or a float
    (read through its shortest ``repr``, never binary noise) as an exact decimal with the dialect's
    separator; text as given, except that with ``number=True`` an exact decimal text (``"979.8"``)
    takes the dialect's separator. A text cell that a spreadsheet would run as a formula gets a
    leading ``'`` (negative numbers and hours excepted: see the module documentation).

    :raises ValueError: for NaN or an infinity. :raises TypeError: for a list, a dict or an object.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"a CSV cell cannot hold {value!r}")
        return _decimal(Decimal(repr(value)), dialect)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"a CSV cell cannot hold {value!r}")
        return _decimal(value, dialect)
    if isinstance(value, str):
        if number and dialect.decimal_comma and _DECIMAL_TEXT.fullmatch(value):
            return value.replace(".", ",")
        return _neutralise(value)
    raise TypeError(f"a CSV cell holds a scalar (text, number, bool or None), got {type(value).__name__}")


class CsvWriter:
    """Writes rows (mappings) to an open text file, one at a time, in a :class:`CsvDialect`.

    .. code-block:: python

        from airflow_provider_ahgora.transforms import EXCEL_BR, CsvWriter, PAYROLL_COLUMNS

        with open("payroll.csv", "w", encoding="utf-8", newline="") as out:
            writer = CsvWriter(out, PAYROLL_COLUMNS, dialect=EXCEL_BR, number_columns=("minutes", "days"))
            writer.writeheader()
            writer.writerows(payroll_rows(records))

    :param handle: a text file opened with ``encoding="utf-8"`` and ``newline=""``.
    :param columns: the columns, in order; a row's missing keys are written empty, an unknown key is
        refused (``ValueError``), as :class:`csv.DictWriter` does.
    :param dialect: a :class:`CsvDialect` or its name (default :data:`DEFAULT_DIALECT`, RFC 4180).
    :param number_columns: columns whose exact decimal texts are numbers (see :func:`csv_cell`).
    :ivar rows: how many rows (not counting the header) were written.
    """

    def __init__(
        self,
        handle: TextIO,
        columns: Sequence[str],
        *,
        dialect: CsvDialect | str | None = None,
        number_columns: Iterable[str] = (),
    ) -> None:
        if isinstance(columns, str):
            raise TypeError("columns must be a sequence of column names, not a string")
        self.columns = tuple(columns)
        if not self.columns or len(set(self.columns)) != len(self.columns):
            raise ValueError(f"columns must be distinct names, at least one; got {list(columns)!r}")
        self.dialect = CsvDialect.named(dialect)
        numbers = frozenset(number_columns)
        unknown = numbers - set(self.columns)
        if unknown:
            raise ValueError(f"number_columns names columns that are not written: {sorted(unknown)}")
        self._numbers = tuple(c in numbers for c in self.columns)
        self._handle = handle
        self._writer = csv.writer(
            handle,
            delimiter=self.dialect.delimiter,
            lineterminator=self.dialect.line_terminator,
            quoting=csv.QUOTE_MINIMAL,
        )
        self._started = False
        self.rows = 0

    def _start(self) -> None:
        if not self._started:
            self._started = True
            if self.dialect.bom:
                self._handle.write("\ufeff")

    def writeheader(self) -> None:
        """Write the column names (after the BOM, when the dialect has one)."""
        self._start()
        self._writer.writerow([csv_cell(c, self.dialect) for c in self.columns])

    def writerow(self, row: Mapping[str, Any]) -> None:
        """Write one row."""
        if not isinstance(row, Mapping):
            raise TypeError(f"a row must be a mapping of column -> value, got {type(row).__name__}")
        extra = [k for k in row if k not in self.columns]
        if extra:
            raise ValueError(f"the row has keys that are not columns: {extra}")
        cells = [
            csv_cell(row.get(column), self.dialect, number=number)
            for column, number in zip(self.columns, self._numbers, strict=True)
        ]
        self._start()
        self._writer.writerow(cells)
        self.rows += 1

    def writerows(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Write every row of ``rows`` as it comes (an iterator is never held in memory); returns how
        many were written by this call."""
        before = self.rows
        for row in rows:
            self.writerow(row)
        return self.rows - before

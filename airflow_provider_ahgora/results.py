"""Reading a reckon's results exactly once into storage: the engine of
:class:`~airflow_provider_ahgora.operators.reckon.PontoWebReckonResultsOperator`.

PontoWeb's results read *consumes* what it returns, so a read that fails half-way would lose records
on a plain retry. One try of the read:

1. **Reconsume first.** ``reconsume(unique)`` makes every record readable again, so the try reads the
   whole set from the start whatever an earlier try (or anyone else) consumed.
2. **Stream to temporary objects.** Page by page until a page comes back empty (never stopping at
   ``total``), each record is written to a hidden temporary object next to the target, exactly as
   PontoWeb sent it (a number stays a number), one JSON line each; with a CSV, its flat rows too.
   Memory holds one page.
3. **Once each.** A record served twice (someone reconsumed while this try was reading, and the
   server started over) is written once: each record's digest is kept (16 bytes a record).
4. **Check the count under every reading of ``total``.** Seed 001 gives ``total`` three meanings:
   the number of employees (monthly), of days counted (``daily.totals``) or with punches
   (``daily.punches``), and, in every example and the FAQ, of records. A complete read matches one
   of them; a read that lost records (someone else consumed them) counts less than ``total`` under
   some reading and matches none: it fails the try, with nothing committed. (A read that counts
   more than ``total`` under every reading lost nothing: it is kept, with a warning.)
   ``total_reading`` pins one meaning when a deployment knows it.
5. **Commit.** The temporary objects are renamed onto their final names (the CSV first, the JSON
   Lines last: its presence means done).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from airflow_provider_ahgora.storage import partial_path, remove_leftovers, unlink_quietly

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

__all__ = [
    "CSV_COLUMNS",
    "TOTAL_READINGS",
    "Counts",
    "ResultsRead",
    "csv_rows",
]

#: Columns of the flat CSV of results: one row per result (monthly or daily) and per punch.
CSV_COLUMNS: tuple[str, ...] = (
    "employee",
    "paymentDate",
    "infotype",
    "day",
    "kind",
    "event",
    "name",
    "value",
    "type",
    "date",
    "hour",
    "label",
)
#: What ``total`` may count, as seed 001 documents it; ``"any"`` accepts each of them.
TOTAL_READINGS: tuple[str, ...] = ("records", "employees", "days", "days with punches", "days with results")


def csv_rows(record: Any) -> Iterator[dict[str, Any]]:
    """The flat CSV rows of one record: one per result (monthly or daily) and one per punch."""
    wire = record.to_wire() if hasattr(record, "to_wire") else record
    if not isinstance(wire, Mapping):
        return
    base = {
        "employee": wire.get("employee"),
        "paymentDate": wire.get("paymentDate"),
        "infotype": wire.get("infotype"),
    }
    for result in _objects(wire.get("results")):
        yield {**base, "kind": "monthly", **_result_cells(result)}
    for entry in _objects(wire.get("daily")):
        day = entry.get("day")
        for result in _objects(entry.get("results")):
            yield {**base, "day": day, "kind": "daily", **_result_cells(result)}
        for punch in _objects(entry.get("punches")):
            yield {
                **base,
                "day": day,
                "kind": "punch",
                "type": punch.get("type"),
                "date": punch.get("date"),
                "hour": punch.get("hour"),
                "label": punch.get("label"),
            }


def _objects(value: Any) -> Iterable[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else ()


def _result_cells(result: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "event": result.get("event"),
        "name": result.get("name"),
        "value": result.get("value"),
        "type": result.get("type"),
    }


class Counts:
    """What was read, measured every way seed 001 says ``total`` may count it."""

    def __init__(self) -> None:
        self.records = 0
        self.duplicates = 0
        self.pages = 0
        self.days = 0
        self.punch_days = 0
        self.result_days = 0
        self.employees: set[str] = set()
        self.totals: list[int] = []

    def add(self, record: Mapping[str, Any]) -> None:
        self.records += 1
        employee = record.get("employee")
        if employee is not None:
            self.employees.add(str(employee))
        for entry in _objects(record.get("daily")):
            self.days += 1
            if entry.get("punches"):
                self.punch_days += 1
            if entry.get("results"):
                self.result_days += 1

    def readings(self) -> dict[str, int]:
        """Each reading of ``total`` -> what this read counts under it."""
        return {
            "records": self.records,
            "employees": len(self.employees),
            "days": self.days,
            "days with punches": self.punch_days,
            "days with results": self.result_days,
        }

    @property
    def total(self) -> int | None:
        """The ``total`` PontoWeb announced (the first page's; the pages should agree)."""
        return self.totals[0] if self.totals else None

    def describe(self) -> str:
        return ", ".join(f"{value} {name}" for name, value in self.readings().items())


class ResultsRead:
    """One try of the read (see the module documentation).

    :param unique: the reckon's unique id.
    :param final: where the JSON Lines file goes; ``csv_final``: the flat CSV, or ``None``.
    :param total_reading: ``"any"`` (default: a complete read matches one documented meaning of
        ``total``), one of :data:`TOTAL_READINGS`, or ``"none"`` (the count is not checked).
    :param csv_dialect: the CSV dialect (:class:`~airflow_provider_ahgora.transforms.csvfile.CsvDialect`).
    """

    def __init__(
        self,
        unique: str,
        final: ObjectStoragePath,
        csv_final: ObjectStoragePath | None,
        *,
        page_size: int,
        total_reading: str = "any",
        csv_dialect: Any = None,
        token: str | None = None,
        log: Any,
    ) -> None:
        self.unique = unique
        self.final = final
        self.csv_final = csv_final
        self.page_size = page_size
        self.total_reading = total_reading
        self.csv_dialect = csv_dialect
        self.log = log
        self.temps = [partial_path(final, token)]
        if csv_final is not None:
            self.temps.append(partial_path(csv_final, token))
        self.counts = Counts()

    def run(self, hook: Any) -> Counts:
        """Reconsume, read every page into the temporary objects, check, commit. Raises on any failure
        with nothing committed (the temporary objects removed)."""
        try:
            self.log.info(
                "Reconsuming reckon %s before reading, so that this try reads every record from the start "
                "(each reconsume counts toward PontoWeb's limit of 1000 per unique).",
                self.unique,
            )
            hook.reconsume(self.unique)
            self.final.parent.mkdir(parents=True, exist_ok=True)
            self._stream(hook)
            self.check()
        except BaseException:
            for temp in self.temps:
                unlink_quietly(temp)
            raise
        if self.csv_final is not None:  # commit: the CSV first, the JSON Lines last
            self.csv_final.parent.mkdir(parents=True, exist_ok=True)
            self.temps[1].rename(self.csv_final)
        self.temps[0].rename(self.final)
        remove_leftovers(self.final, self.log)
        if self.csv_final is not None:
            remove_leftovers(self.csv_final, self.log)
        return self.counts

    def _stream(self, hook: Any) -> None:
        counts = self.counts
        seen: set[bytes] = set()
        with ExitStack() as stack:
            out = stack.enter_context(self.temps[0].open("w", encoding="utf-8", newline="\n"))
            handles = [out]
            writer = None
            if len(self.temps) > 1:
                from airflow_provider_ahgora.transforms.csvfile import CsvWriter

                csv_out = stack.enter_context(self.temps[1].open("w", encoding="utf-8", newline=""))
                handles.append(csv_out)
                writer = CsvWriter(csv_out, CSV_COLUMNS, dialect=self.csv_dialect)
                writer.writeheader()
            iterator = hook.iter_reckon_results(self.unique, page_size=self.page_size, raw=True)
            stack.callback(getattr(iterator, "close", lambda: None))
            for page in iterator:
                counts.pages += 1
                if page.total is not None:
                    if counts.totals and page.total != counts.totals[0]:
                        self.log.warning(
                            "Reckon %s: page %d announces total %s, the first page %s.",
                            self.unique,
                            counts.pages,
                            page.total,
                            counts.totals[0],
                        )
                    elif not counts.totals:
                        counts.totals.append(page.total)
                for record in page.data:
                    line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
                    digest = hashlib.blake2b(line.encode("utf-8"), digest_size=16).digest()
                    if digest in seen:
                        counts.duplicates += 1
                        continue
                    seen.add(digest)
                    out.write(line)
                    out.write("\n")
                    counts.add(record)
                    if writer is not None:
                        writer.writerows(csv_rows(record))
                for handle in handles:  # hand each page to the filesystem: memory holds one page at most
                    handle.flush()
                total = counts.total
                pct = f" ({100.0 * counts.records / total:.0f}%)" if total and counts.records <= total else ""
                self.log.info(
                    "Reckon %s: %d record(s) read%s, total announced %s.",
                    self.unique,
                    counts.records,
                    pct,
                    "?" if total is None else total,
                )
                del page  # do not keep this page alive while the next one is fetched

    def check(self) -> None:
        """The count against ``total``, under the documented readings; raises what fails the try."""
        from airflow.providers.common.compat.sdk import AirflowException

        counts = self.counts
        if counts.duplicates:
            self.log.warning(
                "Reckon %s: %d record(s) were served twice (someone reconsumed its results while this try "
                "was reading); each was written once.",
                self.unique,
                counts.duplicates,
            )
        total = counts.total
        if self.total_reading == "none":
            return
        if total is None:
            if counts.records:
                self.log.warning(
                    "Reckon %s: PontoWeb announced no total, so the %d record(s) read until an empty page "
                    "cannot be checked.",
                    self.unique,
                    counts.records,
                )
            return
        readings = counts.readings()
        allowed = TOTAL_READINGS if self.total_reading == "any" else (self.total_reading,)
        matched = [name for name in allowed if readings[name] == total]
        if matched:
            self.log.info(
                "Reckon %s: the total announced (%d) is the number of %s read: complete.",
                self.unique,
                total,
                " = ".join(matched),
            )
            return
        if all(readings[name] > total for name in allowed):
            # more than announced however total is read: nothing can be missing
            self.log.warning(
                "Reckon %s: read %s, more than the total of %d PontoWeb announced under every documented "
                "meaning of it; all were kept.",
                self.unique,
                counts.describe(),
                total,
            )
            return
        meaning = (
            "any of its documented meanings"
            if self.total_reading == "any"
            else f"the number of {self.total_reading}"
        )
        raise AirflowException(
            f"read {counts.describe()} of reckon {self.unique}, but PontoWeb announced a total of {total}, "
            f"which matches none of them ({meaning}): records went missing (someone else read its results "
            "at the same time). Nothing was written; the next try reconsumes and reads everything again."
        )

"""Reading a reckon's results exactly once into storage: the engine of
:class:`~airflow_provider_ahgora.operators.reckon.PontoWebReckonResultsOperator`.

PontoWeb's results read *consumes* what it returns, so a read that fails half-way would lose records
on a plain retry. One try of the read:

1. **Reconsume first.** ``reconsume(unique)`` makes every record readable again, so the try reads the
   whole set from the start whatever an earlier try (or anyone else) consumed.
2. **Stream to temporary objects.** Page by page until a page comes back empty (never stopping at
   ``total``), each record is written to a hidden temporary object next to the target, as the bytes
   PontoWeb sent (never decoded and encoded again: a number stays a number), one JSON line each;
   with a CSV, its flat rows too. Memory holds one page, kept as bytes.
3. **Once each.** A record served twice (someone reconsumed while this try was reading, and the
   server started over) is written once: each record's 16-byte digest is kept (about 90 bytes of
   memory a record, in a Python set: what grows with the size of the company). The count reads of
   each record only its employee and whether its results and punches are empty.
4. **Check the count under every reading of ``total``.** Seed 001 gives ``total`` three meanings:
   the number of employees (monthly), of days counted (``daily.totals``) or with punches
   (``daily.punches``), and, in every example and the FAQ, of records. A complete read matches one
   of them; a read that lost records (someone else consumed them) counts less than ``total`` under
   some reading and matches none: it fails the try, with nothing committed. (A read that counts
   more than ``total`` under every reading lost nothing: it is kept, with a warning.) A read that
   matches one meaning and falls short of another could also be a read that lost records (an
   employee with two records lost one, under the records reading): then a second read, which
   writes nothing, compares the records' digests, and only the same set commits.
   ``total_reading`` pins one meaning when a deployment knows it (no second read then).
5. **Commit.** The temporary objects are committed onto their final names
   (:func:`~airflow_provider_ahgora.storage.commit`: the CSV first, the JSON Lines last, whose
   presence means done), and what killed tries left next to them is removed.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from airflow_provider_ahgora.storage import commit, partial_path, unlink_quietly

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


def _digest(line: bytes) -> bytes:
    """What tells two records apart: 16 bytes of a record's JSON as received."""
    return hashlib.blake2b(line, digest_size=16).digest()


@functools.cache
def _shape_decoder() -> Any:
    """Decodes of a record only what :meth:`Counts.add` reads, skipping the rest unread: its employee,
    whether its monthly ``results`` and each daily entry's ``punches`` and ``results`` are non-empty
    (as arrays; another type of value takes the decoded path)."""
    import msgspec

    array: Any = list[msgspec.Raw] | None  # only whether it is empty is read: its items are not decoded
    day: Any = msgspec.defstruct("Day", [("punches", array, None), ("results", array, None)])
    record = msgspec.defstruct(
        "Record", [("employee", Any, None), ("results", array, None), ("daily", list[day] | None, None)]
    )
    return msgspec.json.Decoder(record)


def _raw_shape(record: bytes) -> tuple[Any, bool, list[tuple[bool, bool]]] | None:
    """``(employee, has monthly results, [(has punches, has results)] per daily entry)`` of a record's
    bytes, or ``None`` when its shape is not the documented one (a daily entry that is not an object, a
    ``results`` that is not an array, a number out of range...): :meth:`Counts.add` then decodes it."""
    import msgspec

    try:
        shape = _shape_decoder().decode(record)
    except msgspec.ValidationError:
        return None
    days = [(bool(day.punches), bool(day.results)) for day in shape.daily] if shape.daily else []
    return shape.employee, bool(shape.results), days


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
        #: which kinds of record were read: monthly results, days with punches, days with results
        self.kinds: set[str] = set()

    def add(self, record: Mapping[str, Any] | bytes) -> None:
        """Count one record: a decoded object, or the bytes of one (read without decoding the rest)."""
        if isinstance(record, bytes):
            shape = _raw_shape(record)
            if shape is None:
                self.add(json.loads(record))
                return
            employee, monthly, days = shape
        else:
            employee, monthly = record.get("employee"), bool(record.get("results"))
            days = [(bool(e.get("punches")), bool(e.get("results"))) for e in _objects(record.get("daily"))]
        self.records += 1
        if employee is not None:
            self.employees.add(str(employee))
        if monthly:
            self.kinds.add("monthly")
        for punches, results in days:
            self.days += 1
            if punches:
                self.punch_days += 1
                self.kinds.add("punches")
            if results:
                self.result_days += 1
                self.kinds.add("daily results")

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


class ReadingMemory:
    """What ``total`` was found to count, per PontoWeb server and kind of reckon, kept in an Airflow
    Variable (``ahgora_total_reading__<digest>``): the readings still consistent with every read that
    was proven complete. Once one reading is left, a read that matches it needs no second read.

    Best effort: a Variable that cannot be read or written only means a second read next time.
    """

    PREFIX = "ahgora_total_reading__"

    def __init__(self, server: str, kinds: set[str]) -> None:
        self.key = (
            self.PREFIX + hashlib.sha256(f"{server}|{','.join(sorted(kinds))}".encode()).hexdigest()[:24]
        )
        self.server = server
        self.kinds = sorted(kinds)

    @staticmethod
    def _variable() -> Any:
        from airflow.providers.common.compat.sdk import Variable

        return Variable

    def get(self) -> list[str] | None:
        try:
            raw = self._variable().get(self.key, None)
            value = json.loads(raw) if isinstance(raw, str) else raw
        except Exception:
            return None
        readings = value.get("readings") if isinstance(value, dict) else None
        if isinstance(readings, list) and readings and all(r in TOTAL_READINGS for r in readings):
            return [str(r) for r in readings]
        return None

    def narrow(self, matched: list[str], log: Any) -> None:
        """A read proven complete matched these readings: keep only those."""
        known = self.get()
        readings = [r for r in (known or TOTAL_READINGS) if r in matched] or list(matched)
        if readings == known:
            return
        try:
            self._variable().set(
                self.key,
                json.dumps({"server": self.server, "kinds": self.kinds, "readings": readings}),
                description="airflow-provider-ahgora: what PontoWeb's results total counts on this server",
            )
        except Exception as exc:
            log.debug("Could not keep what total counts (%s): the next read checks again.", exc)


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
        server: str | None = None,
    ) -> None:
        self.unique = unique
        #: the PontoWeb base URL: what the learnt reading of ``total`` is kept for (``None``: none kept)
        self.server = server
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
        #: the digest of every record written (what a verification pass compares against)
        self.seen: set[bytes] = set()
        #: a second read was needed to tell a complete read from one that lost records
        self.verified = False
        #: the readings of ``total`` the count matched
        self.matched: list[str] = []
        #: the company PontoWeb answered the reconsume for (``None``: not said)
        self.company: str | None = None

    def run(self, hook: Any) -> Counts:
        """Reconsume, read every page into the temporary objects, check, commit. Raises on any failure
        with nothing committed (the temporary objects removed)."""
        try:
            self.log.info(
                "Reconsuming reckon %s before reading, so that this try reads every record from the start "
                "(each reconsume counts toward PontoWeb's limit of 1000 per unique).",
                self.unique,
            )
            answer = hook.reconsume(self.unique)
            self.company = getattr(answer, "company", None) or None
            self.final.parent.mkdir(parents=True, exist_ok=True)
            self._stream(hook)
            memory = (
                ReadingMemory(self.server, self.counts.kinds)
                if self.server and self.total_reading == "any"
                else None
            )
            verdict = self.check(memory.get() if memory else None)
            if verdict == "ambiguous":
                self._verify(hook)
            if memory is not None and self.matched and verdict in ("ambiguous", "complete"):
                memory.narrow(self.matched, self.log)
        except BaseException:
            for temp in self.temps:
                unlink_quietly(temp)
            raise
        if self.csv_final is not None:  # commit: the CSV first, the JSON Lines last
            self.csv_final.parent.mkdir(parents=True, exist_ok=True)
            commit(self.temps[1], self.csv_final, self.log)
        commit(self.temps[0], self.final, self.log)
        return self.counts

    def _stream(self, hook: Any) -> None:
        counts = self.counts
        seen = self.seen
        with ExitStack() as stack:
            out = stack.enter_context(self.temps[0].open("wb"))
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
                lines: list[bytes] = []
                for line in page.data:  # each record's bytes as received, on one line
                    digest = _digest(line)
                    if digest in seen:
                        counts.duplicates += 1
                        continue
                    seen.add(digest)
                    lines.append(line)
                    if writer is None:
                        counts.add(line)
                    else:
                        record = json.loads(line)
                        counts.add(record)
                        writer.writerows(csv_rows(record))
                if lines:
                    lines.append(b"")
                    out.write(b"\n".join(lines))  # one write a page
                del lines
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

    def _verify(self, hook: Any) -> None:
        """A second read, that writes nothing: reconsume, read every page, and compare the records'
        digests with the first read's. The same set: the first read was complete. Another: it was not
        (records went to someone else), and the try fails with nothing committed."""
        from airflow.providers.common.compat.sdk import AirflowException

        self.log.info(
            "Reckon %s: the count fits one meaning of total and falls short of another, which a read that "
            "lost records could do too: reading the results a second time to compare (another reconsume).",
            self.unique,
        )
        hook.reconsume(self.unique)
        again: set[bytes] = set()
        for page in hook.iter_reckon_results(self.unique, page_size=self.page_size, raw=True):
            again.update(map(_digest, page.data))
            del page
        self.verified = True
        if again != self.seen:
            raise AirflowException(
                f"the results of reckon {self.unique} read twice differ ({len(self.seen)} then {len(again)} "
                "distinct records): records went missing (someone else read them at the same time). "
                "Nothing was written; the next try reconsumes and reads everything again."
            )

    def check(self, learnt: list[str] | None = None) -> str:
        """The count against ``total``, under the documented readings: ``"complete"``, or
        ``"ambiguous"`` (it matches one meaning and falls short of another: a read that lost records
        could look the same, so :meth:`run` reads a second time to compare); raises what fails the try."""
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
            return "complete"
        if total is None:
            if counts.records:
                self.log.warning(
                    "Reckon %s: PontoWeb announced no total, so the %d record(s) read until an empty page "
                    "cannot be checked.",
                    self.unique,
                    counts.records,
                )
            return "complete"
        readings = counts.readings()
        if learnt and all(readings[name] == total for name in learnt):
            self.matched = learnt
            self.log.info(
                "Reckon %s: the total announced (%d) is the number of %s read, what total was found to count "
                "on this server: complete.",
                self.unique,
                total,
                " = ".join(learnt),
            )
            return "complete"
        allowed = TOTAL_READINGS if self.total_reading == "any" else (self.total_reading,)
        matched = [name for name in allowed if readings[name] == total]
        self.matched = matched
        if matched:
            # the days readings do not apply to a reckon without daily records
            applicable = [n for n in allowed if counts.days or n in ("records", "employees")]
            short = [name for name in applicable if readings[name] < total]
            self.log.info(
                "Reckon %s: the total announced (%d) is the number of %s read%s.",
                self.unique,
                total,
                " = ".join(matched),
                f", and more than the {' and '.join(short)} read" if short else ": complete",
            )
            return "ambiguous" if short and self.total_reading == "any" else "complete"
        if all(readings[name] > total for name in allowed):
            # more than announced however total is read: nothing can be missing
            self.log.warning(
                "Reckon %s: read %s, more than the total of %d PontoWeb announced under every documented "
                "meaning of it; all were kept.",
                self.unique,
                counts.describe(),
                total,
            )
            return "complete"
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

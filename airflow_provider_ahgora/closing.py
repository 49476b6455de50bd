"""The monthly closing's steps after the reckon, as plain functions over files: the payroll file, the
Voors time cards file, and the report of a closing's steps.

The example DAGs ``monthly_closing`` (one company) and ``monthly_closing_companies`` (many, with
dynamic task mapping) call them from their tasks, so that both close a month the same way:

* :func:`write_payroll`: ``results.jsonl`` -> ``payroll.csv`` (one row per accounting event of the
  monthly records), in a CSV dialect (``excel-br`` by default);
* :func:`read_employees` and :func:`write_timecards`: ``results.jsonl`` -> ``timecards.jsonl`` (one
  Voors time card per employee and month; Voors knows users by CPF);
* :func:`closing_report`: the counts and failures of every step, from the steps' XComs.

Each file is streamed (one record in memory at a time), written whole to a temporary object and
committed onto its name (:func:`airflow_provider_ahgora.storage.commit`), on a local disk or an
object store. A record that cannot be transformed is named in a failure report next to the file
(``<file>.failures.jsonl``, always written: empty when nothing failed), never dropped silently.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["STEPS", "closing_report", "read_employees", "write_payroll", "write_timecards"]

#: The steps of a closing, in order: step -> (what is counted, its key in the step's XCom, the key of
#: its failures, the key of where its output is).
STEPS: dict[str, tuple[str, str, str | None, str]] = {
    "reckon": ("employees", "progress", None, "unique"),
    "results": ("records", "records", None, "path"),
    "payroll": ("rows", "rows", "failed", "path"),
    "timecards": ("cards", "cards", "failed", "path"),
    "push_timecards": ("pushed", "succeeded", "failed", "report_path"),
}


def _write_failures(path: Any, errors: Iterable[Any]) -> None:
    """One JSON line per refused record: what it names (employee, day, card) and the reason."""
    with path.open("w", encoding="utf-8") as out:
        for error in errors:
            out.write(json.dumps({**error.as_dict(), "reason": str(error)}, ensure_ascii=False) + "\n")


def write_payroll(results_path: str, folder: str, *, dialect: str = "excel-br") -> dict[str, Any]:
    """``results.jsonl`` -> ``<folder>/payroll.csv`` (monthly records: one row per accounting event).

    Written by the transforms' one CSV writer in ``dialect``: ``excel-br`` (``;``, a UTF-8 BOM and
    decimal commas, what Excel in Brazil opens right) or ``rfc4180`` (``,``, no BOM, for a program).
    Formula-like cells are neutralised. A refused record (a duplicate that differs, an employee with
    days but no monthly record, a bad value) is named in ``payroll.failures.jsonl``.

    :returns: ``{"path", "rows", "failed", "report_path"}``.
    """
    from airflow_provider_ahgora.storage import commit, partial_path, storage_path
    from airflow_provider_ahgora.transforms import (
        PAYROLL_COLUMNS,
        PAYROLL_NUMBER_COLUMNS,
        CsvDialect,
        CsvWriter,
        TransformError,
        payroll_rows,
    )

    chosen = CsvDialect.named(dialect)
    target = storage_path(f"{folder}/payroll.csv")
    report = storage_path(f"{folder}/payroll.failures.jsonl")
    partial = partial_path(target)
    errors: list[TransformError] = []
    with (
        storage_path(results_path).open("r", encoding="utf-8") as source,
        partial.open("w", encoding=chosen.encoding, newline="") as out,
    ):
        writer = CsvWriter(out, PAYROLL_COLUMNS, dialect=chosen, number_columns=PAYROLL_NUMBER_COLUMNS)
        writer.writeheader()
        lines = iter(source.readline, "")  # streamed: one record in memory at a time
        writer.writerows(payroll_rows(lines, on_error="skip", errors=errors))
    _write_failures(report, errors)
    commit(partial, target)
    return {"path": str(target), "rows": writer.rows, "failed": len(errors), "report_path": str(report)}


def read_employees(path: str) -> dict[str, str]:
    """Registration -> CPF, from a CSV file with ``registration`` and ``cpf`` columns or a JSON object
    ``{"000123": "12345678909"}`` (a name ending in ``.json``)."""
    from airflow_provider_ahgora.storage import storage_path

    mapping = storage_path(path)
    with mapping.open("r", encoding="utf-8", newline="") as handle:
        if mapping.name.endswith(".json"):
            return {str(k): str(v) for k, v in json.loads(handle.read()).items()}
        return {row["registration"]: row["cpf"] for row in csv.DictReader(iter(handle.readline, ""))}


def write_timecards(
    results_path: str,
    folder: str,
    *,
    company: str,
    competence: str,
    employees: Mapping[str, str],
    closing_day: int | None = None,
) -> dict[str, Any]:
    """``results.jsonl`` -> ``<folder>/timecards.jsonl`` (daily records: one Voors time card per
    employee and month).

    The card's period: ``closing_day`` (the day of the month on which the company closes its period,
    e.g. ``25``) when given, else the reckon's own span of days. Card ids are
    ``<company>-<registration>-<YYYYMM>``, so that companies sharing a Voors account never overwrite
    each other's cards. A refused card is named in ``timecards.failures.jsonl`` with each bad day.

    :param company: PontoWeb's company code, as the reckon's answer names it.
    :param competence: ``MM/YYYY``.
    :param employees: registration -> CPF (:func:`read_employees`).
    :returns: ``{"path", "cards", "failed", "report_path"}``.
    """
    from airflow_provider_ahgora.storage import commit, partial_path, storage_path
    from airflow_provider_ahgora.transforms import TransformError, reckon_span, time_cards

    source = storage_path(results_path)
    period: dict[str, Any] = {}
    if closing_day:
        period["closing_day"] = int(closing_day)
    else:
        with source.open("r", encoding="utf-8") as handle:  # a first pass, streamed: two dates kept
            span = reckon_span(iter(handle.readline, ""))
        if span is not None:
            period["period"] = span

    target = storage_path(f"{folder}/timecards.jsonl")
    report = storage_path(f"{folder}/timecards.failures.jsonl")
    partial = partial_path(target)
    errors: list[TransformError] = []
    cards = 0
    with source.open("r", encoding="utf-8") as handle, partial.open("w", encoding="utf-8") as out:
        for card in time_cards(
            iter(handle.readline, ""),
            user_lookup=employees,
            company=company,
            competence=competence,
            interval="month",
            on_error="skip",
            errors=errors,
            **period,
        ):
            out.write(json.dumps(card, ensure_ascii=False) + "\n")
            cards += 1
    _write_failures(report, errors)
    commit(partial, target)
    return {"path": str(target), "cards": cards, "failed": len(errors), "report_path": str(report)}


def closing_report(outputs: Mapping[str, Mapping[str, Any] | None]) -> dict[str, Any]:
    """The counts and failures of a closing's :data:`STEPS`, from their XComs (``None``: the step
    failed or did not run; push tasks push theirs even when they fail).

    :returns: ``lines`` (a table to log), ``problems`` (one sentence per step that failed or has
        failed records: empty when the closing is complete), the counts ``records_fetched``,
        ``payroll_rows``, ``timecards``, ``timecards_pushed``, ``failed`` (records), and the paths of
        the ``files`` and ``failure_reports`` written.
    """
    problems: list[str] = []
    lines = [f"{'step':<15}{'count':>7} {'':<10}{'failed':>6}  where"]
    for step, (unit, count_key, failed_key, where_key) in STEPS.items():
        value = outputs.get(step)
        if not value:
            problems.append(f"{step}: no report (the task failed or did not run: see its log)")
            lines.append(f"{step:<15}{'-':>7} {'':<10}{'-':>6}  did not complete")
            continue
        count = value[count_key]["total"] if count_key == "progress" else value[count_key]
        failed = value[failed_key] if failed_key else 0
        lines.append(f"{step:<15}{count:>7} {unit:<10}{failed:>6}  {value[where_key]}")
        if failed:
            problems.append(f"{step}: {failed} record(s) failed, named in {value['report_path']}")
    results, payroll, cards, pushed = (outputs.get(s) or {} for s in STEPS if s != "reckon")
    return {
        "lines": lines,
        "records_fetched": results.get("records"),
        "payroll_rows": payroll.get("rows"),
        "timecards": cards.get("cards"),
        "timecards_pushed": pushed.get("succeeded"),
        "failed": sum(int((outputs.get(s) or {}).get("failed") or 0) for s in STEPS),
        "files": [
            p
            for p in (results.get("path"), results.get("csv_path"), payroll.get("path"), cards.get("path"))
            if p
        ],
        "failure_reports": [o["report_path"] for o in (payroll, cards, pushed) if o.get("report_path")],
        "problems": problems,
    }

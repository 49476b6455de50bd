"""Where push operators read their records from, and where they write what failed.

Records come as a list (literal or from an XCom) or as a path/URI of a ``.json`` (an array),
``.jsonl`` (one JSON value per line) or ``.csv`` (a header line; each row a record of strings, empty
cells left out) file. Files are *streamed*: memory does not grow with their size, and ``.json``
arrays are decoded one element at a time. A mapping with a ``"path"`` key (what a TaskFlow task or
:class:`~airflow_provider_ahgora.operators.reckon.PontoWebReckonResultsOperator` returns) stands
for its path.

The failure report is JSON Lines, one ``{"record", "reason", "batch"}`` object per failed record,
written to a hidden temporary object next to its target and committed by rename, so a reader never
sees half a report.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_ahgora.exceptions import AhgoraConfigError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

__all__ = [
    "RECORD_FORMATS",
    "FailureReport",
    "PlainStringTemplatesMixin",
    "default_report_path",
    "describe_source",
    "iter_records",
    "read_report",
]

#: File suffixes a ``records`` path may have.
RECORD_FORMATS = (".json", ".jsonl", ".ndjson", ".csv")
_CHUNK = 1 << 16
_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\n\r"
_DELIMITERS = ",]" + _WHITESPACE


def _storage_path(target: Any) -> ObjectStoragePath:
    from airflow_provider_ahgora.operators.reckon import _storage_path as storage_path

    return storage_path(target)


def _report_path(target: Any) -> ObjectStoragePath:
    """The report's path: a target ending in ``/`` is a directory, the report is its ``failures.jsonl``
    (not the ``results.jsonl`` that the results operator's helper would name it, and overwrite)."""
    if isinstance(target, str) and target.strip().endswith("/"):
        target = target.strip() + "failures.jsonl"
    return _storage_path(target)


def describe_source(source: Any) -> str:
    """A short description of a record source for log lines (never the records themselves)."""
    if isinstance(source, Mapping) and "path" in source:
        return str(source["path"])
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (list, tuple)):
        return f"a list of {len(source)} records"
    return type(source).__name__


def iter_records(source: Any, *, what: str = "records") -> Iterator[Any]:
    """Yield the records of ``source`` one by one (see the module documentation).

    Raises :class:`~airflow_provider_ahgora.exceptions.AhgoraConfigError` for a source of the wrong
    kind, an unknown file suffix, or a file that is not valid in its format (naming the line or
    element); a missing file raises ``FileNotFoundError``.
    """
    if isinstance(source, Mapping):
        if "path" in source and isinstance(source["path"], (str, os.PathLike)):
            yield from iter_records(source["path"], what=what)
            return
        raise AhgoraConfigError(
            f"{what} must be a list of records or a path/URI of a .json, .jsonl or .csv file; got a "
            "mapping without a 'path' key (to send one record, wrap it in a list)."
        )
    if isinstance(source, (str, os.PathLike)) or type(source).__name__ == "ObjectStoragePath":
        text = str(source).strip()
        if text.startswith("[") or text.startswith("{"):
            raise AhgoraConfigError(
                f"{what} is a string that looks like JSON: pass the records as a list (render templates "
                "with render_template_as_native_obj=True on the DAG) or as a file path."
            )
        yield from _iter_file(source, what)
        return
    if source is None:
        raise AhgoraConfigError(f"{what} is None: give a list of records or a file path.")
    if isinstance(source, (bytes, bytearray)) or not isinstance(source, Iterable):
        raise AhgoraConfigError(
            f"{what} must be a list of records or a path/URI of a .json, .jsonl or .csv file; got "
            f"{type(source).__name__}."
        )
    yield from source


def _suffix(name: str) -> str:
    lowered = name.lower()
    for suffix in (".jsonl", ".ndjson", ".json", ".csv"):
        if lowered.endswith(suffix):
            return suffix
    return ""


def _lines(handle: Any) -> Iterator[str]:
    """The lines of a text handle. Not ``for line in handle``: on Airflow 2 ``ObjectStoragePath.open``
    returns a ``TrackingFileWrapper`` that does not pass iteration through."""
    return iter(handle.readline, "")


def _iter_file(source: Any, what: str) -> Iterator[Any]:
    path = _storage_path(source)
    suffix = _suffix(str(path))
    if not suffix:
        raise AhgoraConfigError(
            f"{what}: cannot tell the format of {str(path)!r}: the name must end in .json (an array), "
            ".jsonl (one record per line) or .csv (a header line)."
        )
    if suffix in (".jsonl", ".ndjson"):
        with path.open("r", encoding="utf-8-sig") as handle:
            for number, line in enumerate(_lines(handle), start=1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except ValueError as exc:
                    raise AhgoraConfigError(
                        f"{what}: {path} line {number} is not valid JSON: {exc}"
                    ) from None
    elif suffix == ".csv":
        with path.open("r", encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(_lines(handle))
            for row in reader:
                if None in row:
                    raise AhgoraConfigError(
                        f"{what}: {path} line {reader.line_num} has more cells than the header."
                    )
                yield {k: v for k, v in row.items() if k and v not in (None, "")}
    else:
        with path.open("r", encoding="utf-8-sig") as handle:
            yield from _iter_json_array(handle, f"{what}: {path}")


def _iter_json_array(handle: io.TextIOBase | Any, where: str) -> Iterator[Any]:
    """Decode a JSON array element by element from a text stream (bounded memory)."""
    buffer = ""
    pos = 0
    eof = False

    def fill() -> bool:
        # drop what was consumed, then read one more chunk; False at the end of the stream
        nonlocal buffer, pos, eof
        if eof:
            return False
        chunk = handle.read(_CHUNK)
        if not chunk:
            eof = True
            return False
        buffer = buffer[pos:] + chunk
        pos = 0
        return True

    def skip_ws() -> None:
        nonlocal pos
        while True:
            while pos < len(buffer) and buffer[pos] in _WHITESPACE:
                pos += 1
            if pos < len(buffer) or not fill():
                return

    skip_ws()
    if pos >= len(buffer) or buffer[pos] != "[":
        raise AhgoraConfigError(f"{where} must hold a JSON array of records (it does not start with '[').")
    pos += 1
    skip_ws()
    index = 0
    if pos < len(buffer) and buffer[pos] == "]":
        pos += 1
    else:
        while True:
            while True:
                try:
                    value, end = _DECODER.raw_decode(buffer, pos)
                except ValueError as exc:
                    if fill():
                        continue
                    raise AhgoraConfigError(f"{where}: element {index} is not valid JSON: {exc}") from None
                if (
                    not isinstance(value, (dict, list, str))
                    and (end >= len(buffer) or buffer[end] not in _DELIMITERS)
                    and fill()
                ):
                    continue  # a number or literal may go on in the next chunk ("1." + "5e3")
                break
            yield value
            index += 1
            pos = end
            skip_ws()
            if pos >= len(buffer):
                raise AhgoraConfigError(f"{where}: the array is not closed (']' missing at the end).")
            if buffer[pos] == ",":
                pos += 1
                skip_ws()
                continue
            if buffer[pos] == "]":
                pos += 1
                break
            raise AhgoraConfigError(f"{where}: expected ',' or ']' after element {index - 1}.")
    skip_ws()
    if pos < len(buffer):
        raise AhgoraConfigError(f"{where}: unexpected data after the closing ']'.")


class PlainStringTemplatesMixin:
    """For operators whose templated fields carry data (records): render as Airflow does, except
    strings without Jinja markup, which are data and stay as they are."""

    def render_template(
        self,
        content: Any,
        context: Any,
        jinja_env: Any = None,
        seen_oids: set[int] | None = None,
    ) -> Any:
        """Render as Airflow does, except a string without Jinja markup, which is data and stays as is.

        A literal list of records would otherwise be rendered one string at a time (a template
        compiled per cell: seconds for a few thousand records, at every try) and, with
        ``render_template_as_native_obj=True``, ``"123"`` would become ``123`` and ``"[1]"`` a list.
        """
        operator: Any = self
        if isinstance(content, str) and not content.endswith(tuple(operator.template_ext)):
            jinja_env = jinja_env or operator.get_template_env()
            marks = (
                jinja_env.variable_start_string,
                jinja_env.block_start_string,
                jinja_env.comment_start_string,
                jinja_env.line_statement_prefix,
                jinja_env.line_comment_prefix,
            )
            if not any(mark and mark in content for mark in marks):
                return content
        return super().render_template(content, context, jinja_env, seen_oids)  # type: ignore[misc]


def default_report_path(context: Mapping[str, Any], filename: str = "failures.jsonl") -> str:
    """``$AIRFLOW_HOME/data/ahgora/<dag>/<run>/<task>[/<map>]/failures.jsonl`` (a local path)."""
    from airflow_provider_ahgora.operators.reckon import default_output_path

    return os.path.join(os.path.dirname(default_output_path(context)), filename)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


class FailureReport:
    """A JSON Lines failure report written incrementally and committed atomically.

    ``add`` appends one entry to a hidden temporary object next to ``target``; ``commit`` renames
    it to ``target`` (an existing report there is replaced); ``discard`` removes it. ``count`` is the
    number of entries written. Use as a context manager: leaving it with an exception discards.
    """

    def __init__(self, target: Any, *, keep: Iterable[Mapping[str, Any]] = ()) -> None:
        self.target = _report_path(target)
        self.count = 0
        self._tmp = self.target.parent / f".{self.target.name}.{secrets.token_hex(4)}.partial"
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self._handle: Any = self._tmp.open("w", encoding="utf-8")
        for entry in keep:
            self._write(entry)

    @property
    def path(self) -> str:
        return str(self.target)

    @property
    def closed(self) -> bool:
        """Committed or discarded."""
        return bool(self._handle.closed)

    def _write(self, entry: Mapping[str, Any]) -> None:
        self._handle.write(_dumps(entry) + "\n")
        self.count += 1

    def add(self, record: Any, reason: str, batch: int | None = None, **extra: Any) -> None:
        """One failed record: the record as given (or what is known of it), why, and its batch."""
        self._write({"record": record, "reason": reason, "batch": batch, **extra})

    def commit(self) -> str:
        """Close and move the report into place; returns its path."""
        self._handle.close()
        self._tmp.rename(self.target)
        return self.path

    def discard(self) -> None:
        try:
            self._handle.close()
        finally:
            with contextlib.suppress(OSError):
                self._tmp.unlink()

    def __enter__(self) -> FailureReport:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None and not self.closed:
            self.discard()


def read_report(path: Any) -> Iterator[dict[str, Any]]:
    """The entries of a failure report, in order (an absent report has none)."""
    target = _report_path(path)
    if not target.exists():
        return
    with target.open("r", encoding="utf-8") as handle:
        for line in _lines(handle):
            if line.strip():
                yield json.loads(line)

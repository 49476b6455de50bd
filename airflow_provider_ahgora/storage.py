"""Where the provider writes: paths and URIs as ``ObjectStoragePath`` (a local disk, ``s3://``,
``gs://``, ``memory://``, ...), the default places of results and reports, and the atomic commit.

A file we write is first written whole to a hidden temporary object next to its target
(``.<name>.<token>.partial``, :func:`partial_path`) and then committed onto it (:func:`commit`), so
a reader never sees half a file under the final name:

* on a local disk the commit is a rename, atomic within one filesystem;
* on an object store (S3, GCS) it is a server-side copy then a delete of the temporary object. The
  copy is what makes the final object appear, whole (S3 and GCS never show a partly written
  object, and read after write is consistent); the pair is not atomic, so a try killed between the
  two leaves a complete final object *and* its temporary object.

Why not write the final name directly on an object store, whose uploads appear whole anyway: a
write that fails half-way still *closes* its file (``with path.open("w")``), and closing an object
store's file uploads what was written so far: the final name would hold a truncated file. Written
to a temporary object, a failed try's truncated object is removed (:func:`unlink_quietly`).

A try killed mid-write leaves at most a temporary object (on S3, also an incomplete multipart
upload when it had written more than one part, 50 MiB with s3fs), which the next commit of the same
target removes (:func:`remove_leftovers`).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

__all__ = [
    "AtomicFile",
    "commit",
    "default_output_path",
    "default_report_path",
    "partial_path",
    "remove_leftovers",
    "sibling",
    "storage_path",
    "unlink_quietly",
]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def storage_path(target: Any, *, directory_file: str | None = None) -> ObjectStoragePath:
    """An ``ObjectStoragePath`` for a path, URI or path object. A scheme that no provider registers
    (such as ``memory://``) falls back to fsspec's own filesystem for it.

    :param directory_file: for a target ending in ``/`` (a directory), the file in it.
    """
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    if isinstance(target, ObjectStoragePath):
        return target
    text = str(target).strip()
    directory = text.endswith("/")
    match = _SCHEME.match(text)
    if match is None:
        text = os.path.abspath(os.path.expanduser(text))
    elif match.group(1).lower() != "file":
        _ensure_filesystem(match.group(1).lower())
    path = ObjectStoragePath(text)
    return path / directory_file if directory and directory_file else path


def _ensure_filesystem(protocol: str) -> None:
    try:
        from airflow.sdk.io import attach, has_fs
    except ImportError:  # Airflow 2
        from airflow.io import has_fs  # type: ignore[no-redef,attr-defined,unused-ignore]
        from airflow.io.store import attach  # type: ignore[no-redef,unused-ignore]
    if has_fs(protocol):
        return
    import fsspec

    try:
        fs = fsspec.filesystem(protocol)
    except (ImportError, ValueError):
        return  # let ObjectStoragePath say that nothing handles this scheme
    store = attach(protocol, fs=fs)
    try:
        store.fs  # noqa: B018 - a store attached earlier without a filesystem raises here
    except ValueError:
        store.fs = fs  # type: ignore[misc]


def _safe_segment(value: Any) -> str:
    text = re.sub(r"[^A-Za-z0-9._=-]+", "_", str(value)).strip("._") or "_"
    return text[:200]


def default_output_path(context: Mapping[str, Any], filename: str = "results.jsonl") -> str:
    """``$AIRFLOW_HOME/data/ahgora/<dag>/<run>/<task>[/<map>]/<filename>`` (a local path)."""
    ti = context.get("ti") or context.get("task_instance")
    home = os.environ.get("AIRFLOW_HOME") or os.path.join(os.path.expanduser("~"), "airflow")
    dag_id = getattr(ti, "dag_id", None) or "dag"
    run_id = getattr(ti, "run_id", None) or context.get("run_id") or "run"
    task_id = getattr(ti, "task_id", None) or "task"
    parts = [home, "data", "ahgora", _safe_segment(dag_id), _safe_segment(run_id), _safe_segment(task_id)]
    map_index = getattr(ti, "map_index", -1)
    if isinstance(map_index, int) and map_index >= 0:
        parts.append(str(map_index))
    return os.path.join(*parts, filename)


def default_report_path(context: Mapping[str, Any], filename: str = "failures.jsonl") -> str:
    """``$AIRFLOW_HOME/data/ahgora/<dag>/<run>/<task>[/<map>]/failures.jsonl`` (a local path)."""
    return default_output_path(context, filename)


def sibling(
    path: ObjectStoragePath, suffix: str, replace: tuple[str, ...] = (".jsonl", ".json", ".ndjson")
) -> Any:
    """``results.jsonl`` -> ``results.csv``: the same name with another suffix, next to it."""
    name = path.name
    for old in replace:
        if name.endswith(old):
            return path.parent / f"{name[: -len(old)]}{suffix}"
    return path.parent / f"{name}{suffix}"


def partial_path(final: ObjectStoragePath, token: str | None = None) -> Any:
    """The hidden temporary object a write goes to before it is committed onto ``final``."""
    return final.parent / f".{final.name}.{token or secrets.token_hex(4)}.partial"


def unlink_quietly(path: ObjectStoragePath) -> None:
    try:
        if path.exists():
            path.unlink()
    except Exception:  # noqa: S110 - best effort cleanup of a temporary object
        pass


def commit(partial: ObjectStoragePath, final: ObjectStoragePath, log: Any = None) -> None:
    """Move a fully written temporary object onto its final name (replacing what was there), then
    remove what killed tries left next to it. The one commit of every file the provider writes."""
    partial.rename(final)
    remove_leftovers(final, log)


def remove_leftovers(final: ObjectStoragePath, log: Any = None) -> None:
    """Best effort: temporary objects next to ``final`` left by tries that were killed (and, on S3,
    their incomplete multipart uploads)."""
    try:
        for leftover in final.parent.glob(f".{final.name}.*.partial"):
            unlink_quietly(leftover)
    except Exception as exc:
        if log is not None:
            log.debug("Could not list leftovers next to %s: %s", final, exc)
    if str(getattr(final, "protocol", "")) in ("s3", "s3a"):
        _abort_partial_uploads(final, log)


def _abort_partial_uploads(final: ObjectStoragePath, log: Any) -> None:
    """S3 keeps the parts of an upload that was never completed (a writer killed after its first
    part), invisible and billed, until they are aborted: abort those of temporary objects of
    ``final``. (GCS drops an unfinished resumable upload by itself after a week.)"""
    try:
        fs: Any = final.fs
        bucket, key, _ = fs.split_path(str(final.path))
        folder, _, name = key.rpartition("/")
        prefix = f"{folder}/.{name}." if folder else f".{name}."
        answer = fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=prefix)
        for upload in answer.get("Uploads") or ():
            if str(upload.get("Key", "")).endswith(".partial"):
                fs.call_s3(
                    "abort_multipart_upload", Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )
    except Exception as exc:
        if log is not None:
            log.debug("Could not abort incomplete uploads next to %s: %s", final, exc)


class AtomicFile:
    """One file written whole or not at all (see the module documentation).

    ``with AtomicFile(final) as out:`` writes to the hidden temporary object next to ``final``;
    :meth:`commit` (inside the block, when everything was written) closes it and commits it onto
    ``final`` (:func:`commit`); leaving the block without a commit (an exception,
    an early return) removes the temporary object, and ``final`` is untouched.
    """

    def __init__(self, final: ObjectStoragePath, token: str | None = None, *, log: Any = None) -> None:
        self.final = final
        self.temp = partial_path(final, token)
        self.log = log
        self.committed = False
        self._handle: Any = None

    def __enter__(self) -> Any:
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.temp.open("w", encoding="utf-8", newline="\n")
        return self._handle

    def commit(self) -> None:
        self._handle.close()
        commit(self.temp, self.final, self.log)
        self.committed = True

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if not self.committed:
            try:
                self._handle.close()
            finally:
                unlink_quietly(self.temp)

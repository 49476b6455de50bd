"""The async poller behind ``PontoWebProcessSensor(deferrable=True)`` and the batch push operator.

PontoWeb pushes work asynchronously; their outcome comes from the process monitor
(``GET /process?subunique=`` or ``?unique=``). This trigger waits for **several** pushes at once
(a batch operator defers once for all its batches), polling each one only until it is finished,
and emits **one** JSON-serialisable event:

=============  ==========================================================================
``status``     when
=============  ==========================================================================
``success``    every process is finished (``progress.done`` reached ``progress.total``) or
               ``lost`` (the monitor no longer knows it: not found, expired, another client
               error); each process carries its own ``status``
``timeout``    ``end_time`` passed first; unfinished processes have status ``pending``
``failed``     a fatal error that concerns every process: credentials refused (401), no
               permission (403), bad connection, or anything unexpected (``error_type``
               names the exception)
=============  ==========================================================================

Transient failures (5xx, 429, resets, timeouts, malformed answers) that survive the hook's own
retries are never fatal: the process stays pending and is polled again next round.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_ahgora.exceptions import (
    AhgoraAPIError,
    AhgoraAuthError,
    AhgoraConfigError,
    AhgoraPermissionError,
    AhgoraTransientError,
)
from airflow_provider_ahgora.triggers.reckon import BACKOFF_FACTOR

if TYPE_CHECKING:
    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
    from airflow_provider_ahgora.models.pontoweb import ProcessStatus

__all__ = ["MAX_ERROR_MESSAGE", "PontoWebProcessTrigger", "api_detail", "process_label"]

#: Each error message carried in an event (or an XCom) is cut to this many characters.
MAX_ERROR_MESSAGE = 500
#: Keys the trigger writes into each process of its event (they replace input keys of the same name).
OUTCOME_KEYS = ("status", "progress", "errors", "message")


def process_label(item: Mapping[str, Any]) -> str:
    """``subunique 123`` or ``unique abc``: how logs and messages name a process."""
    if item.get("subunique"):
        return f"subunique {item['subunique']}"
    return f"unique {item.get('unique')}"


def api_detail(exc: AhgoraAPIError) -> str:
    """``PontoWeb HTTP 410: Gone``: the status and the API's own message, without the generic hint."""
    status = f"HTTP {exc.http_status}" if exc.http_status is not None else "no HTTP answer"
    return f"{exc.service} {status}: {exc.api_message}"


def _clean_id(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _cut(text: Any) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= MAX_ERROR_MESSAGE else text[: MAX_ERROR_MESSAGE - 1] + "…"


def error_list(status: ProcessStatus | None) -> list[dict[str, Any]]:
    """``[{"identifier", "message"}]`` of a monitor answer: plain strings, messages cut to 500 chars."""
    if status is None:
        return []
    return [
        {"identifier": None if e.identifier is None else str(e.identifier), "message": _cut(e.message)}
        for e in status.errors
    ]


def progress_dict(status: ProcessStatus | None) -> dict[str, int | None]:
    """``{"done", "total"}`` as plain ints (``None`` when unknown)."""
    progress = status.progress if status is not None else None
    return {
        "done": progress.done if progress is not None else None,
        "total": progress.total if progress is not None else None,
    }


def outcome_of(status: ProcessStatus) -> str:
    """The monitor's status; when it gives none, what its errors say (done / warning / error)."""
    if status.status:
        return str(status.status)
    failed = len(status.errors)
    total = status.progress.total if status.progress is not None else None
    if failed == 0:
        return "done"
    return "error" if total is not None and failed >= total else "warning"


class _Tracked:
    """What is known of one process while the trigger runs."""

    __slots__ = ("item", "last", "last_failure", "lost", "seen")

    def __init__(self, item: dict[str, Any]) -> None:
        self.item = item
        self.last: ProcessStatus | None = None
        self.last_failure: str | None = None
        self.lost: str | None = None
        self.seen: tuple[Any, ...] | None = None

    @property
    def finished(self) -> bool:
        return self.lost is not None or (self.last is not None and self.last.is_finished)

    def describe(self) -> dict[str, Any]:
        if self.lost is not None:
            status, message = "lost", self.lost
        elif self.last is not None and self.last.is_finished:
            status, message = outcome_of(self.last), None
        else:
            status, message = "pending", self.last_failure
        return {
            **self.item,
            "status": status,
            "progress": progress_dict(self.last),
            "errors": error_list(self.last),
            "message": message,
        }


class _Lost:
    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


class _Failed:
    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


class PontoWebProcessTrigger(BaseTrigger):
    """Wait, asynchronously, until every given PontoWeb push is finished in the process monitor.

    :param processes: the pushes to wait for, each ``{"unique": str | None, "subunique": str |
        None}`` (``subunique`` is used when both are given) plus any other JSON keys (e.g.
        ``"batch": 3``), which come back untouched in the event.
    :param pontoweb_conn_id: the PontoWeb connection id.
    :param poll_interval: seconds between polling rounds while some process makes progress.
        Default 10.
    :param max_poll_interval: after a round in which no process moved, the interval grows x1.5, up
        to this many seconds (never below ``poll_interval``). Keep it well below 15 minutes: the
        monitor forgets a process 15 minutes after it finished. Default 120.
    :param end_time: give up at this time (epoch seconds, as ``time.time()``) with a ``timeout``
        event. ``None``: wait as long as it takes.
    :param max_concurrency: at most this many monitor calls at once. Default 8.

    The event: ``{"status": "success" | "timeout", "processes": [...], "message": str}``, the
    processes in input order, each the input item plus ``status`` (the monitor's ``done`` /
    ``warning`` / ``error`` or another string it gave; ``lost``; ``pending`` on timeout),
    ``progress`` (``{"done", "total"}``, ints or ``None``), ``errors`` (every
    ``{"identifier", "message"}`` the monitor reported, messages cut to 500 characters) and
    ``message`` (why a process is lost, or the last failed poll of a pending one; else ``None``).
    Or ``{"status": "failed", "message", "error_type"}``. The event is stored in the metadata
    database (the task's ``next_kwargs``): it holds every error of every process, so its size grows
    with the number of failed records (about 100 bytes each).
    """

    #: Seconds a poll may still take once the deadline has come (the final round at the deadline).
    final_poll_grace: float = 60.0

    def __init__(
        self,
        processes: Sequence[Mapping[str, Any]],
        pontoweb_conn_id: str = "pontoweb_default",
        poll_interval: float = 10.0,
        max_poll_interval: float = 120.0,
        end_time: float | None = None,
        max_concurrency: int = 8,
    ) -> None:
        super().__init__()
        self.processes = _check_processes(processes)
        if not poll_interval or poll_interval <= 0:
            raise AhgoraConfigError(
                f"poll_interval must be a positive number of seconds, got {poll_interval!r}."
            )
        if not max_poll_interval or max_poll_interval <= 0:
            raise AhgoraConfigError(
                f"max_poll_interval must be a positive number of seconds, got {max_poll_interval!r}."
            )
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise AhgoraConfigError(
                f"max_concurrency must be an integer of 1 or more, got {max_concurrency!r}."
            )
        self.pontoweb_conn_id = pontoweb_conn_id
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = max(float(max_poll_interval), self.poll_interval)
        self.end_time = None if end_time is None else float(end_time)
        self.max_concurrency = max_concurrency

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airflow_provider_ahgora.triggers.process.PontoWebProcessTrigger",
            {
                "processes": [dict(item) for item in self.processes],
                "pontoweb_conn_id": self.pontoweb_conn_id,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "end_time": self.end_time,
                "max_concurrency": self.max_concurrency,
            },
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PontoWebProcessTrigger):
            return NotImplemented
        return self.serialize() == other.serialize()

    def __hash__(self) -> int:
        classpath, kwargs = self.serialize()
        return hash((classpath, json.dumps(kwargs, sort_keys=True, default=str)))

    # -- running ----------------------------------------------------------------------------------

    def _get_hook(self) -> PontoWebHook:
        from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook

        return PontoWebHook(self.pontoweb_conn_id)

    def _what(self) -> str:
        if len(self.processes) == 1:
            return f"PontoWeb process {process_label(self.processes[0])}"
        return f"{len(self.processes)} PontoWeb processes"

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until every process is finished or ``end_time`` passes; yield exactly one event."""
        try:
            payload = await self._wait()
        except Exception as exc:  # every failure becomes the one event; cancellation still propagates
            self.log.error("Waiting for %s failed: %s", self._what(), exc)
            payload = {"status": "failed", "message": str(exc), "error_type": type(exc).__name__}
        yield TriggerEvent(payload)

    def _past_deadline(self) -> bool:
        return self.end_time is not None and time.time() >= self.end_time

    async def _poll(
        self,
        hook: PontoWebHook,
        semaphore: asyncio.Semaphore,
        item: Mapping[str, Any],
        round_deadline: float | None,
    ) -> ProcessStatus | _Lost | _Failed:
        """One monitor call: the status, or why it failed (``_Failed``: transient, ``_Lost``: gone)."""
        from pydantic import ValidationError

        async def call() -> ProcessStatus:
            async with semaphore:
                return await hook.aget_process(
                    unique=_clean_id(item.get("unique")), subunique=_clean_id(item.get("subunique"))
                )

        try:
            if round_deadline is None:
                return await call()
            budget = max(0.0, round_deadline - time.time())
            try:
                return await asyncio.wait_for(call(), timeout=budget)
            except asyncio.TimeoutError:
                return _Failed(f"no answer before the deadline (waited {budget:.0f} s)")
        except (AhgoraAuthError, AhgoraPermissionError):
            raise  # the connection's problem, not this process's: fatal for all
        except AhgoraTransientError as exc:
            return _Failed(str(exc))
        except AhgoraAPIError as exc:  # not found, expired (410), another client error
            return _Lost(api_detail(exc))
        except ValidationError as exc:  # an answer that is not a monitor answer: as a malformed one
            return _Failed(f"malformed process monitor answer: {exc.error_count()} invalid field(s)")

    async def _poll_round(
        self, hook: PontoWebHook, semaphore: asyncio.Semaphore, pending: list[_Tracked]
    ) -> list[ProcessStatus | _Lost | _Failed]:
        round_deadline = None
        if self.end_time is not None:
            round_deadline = max(self.end_time, time.time() + self.final_poll_grace)
        tasks = [asyncio.ensure_future(self._poll(hook, semaphore, t.item, round_deadline)) for t in pending]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _wait(self) -> dict[str, Any]:
        hook = self._get_hook()
        try:
            await hook.asettings()  # a missing or bad connection fails once, for all processes
            tracked = [_Tracked(item) for item in self.processes]
            semaphore = asyncio.Semaphore(self.max_concurrency)
            interval = self.poll_interval
            rounds = 0
            while True:
                rounds += 1
                pending = [t for t in tracked if not t.finished]
                results = await self._poll_round(hook, semaphore, pending)
                moved = False
                for track, result in zip(pending, results, strict=True):
                    label = process_label(track.item)
                    if isinstance(result, _Failed):
                        track.last_failure = result.message
                        self.log.warning(
                            "PontoWeb process %s: poll %d failed (%s); not fatal, polling again",
                            label,
                            rounds,
                            result.message,
                        )
                    elif isinstance(result, _Lost):
                        track.lost = result.message
                        moved = True
                        self.log.warning(
                            "PontoWeb process %s is lost: the process monitor no longer knows it (%s)",
                            label,
                            result.message,
                        )
                    else:
                        track.last, track.last_failure = result, None
                        progress = progress_dict(result)
                        seen = (result.status, progress["done"], progress["total"], len(result.errors))
                        if seen != track.seen:
                            moved = True
                            self.log.info(
                                "PontoWeb process %s: %s, %s/%s record(s), %d error(s)%s",
                                label,
                                result.status,
                                "?" if progress["done"] is None else progress["done"],
                                "?" if progress["total"] is None else progress["total"],
                                len(result.errors),
                                " (finished)" if result.is_finished else "",
                            )
                        track.seen = seen
                if all(t.finished for t in tracked):
                    return self._payload("success", tracked)
                if self._past_deadline():
                    return self._payload("timeout", tracked)
                if moved:
                    interval = self.poll_interval
                else:
                    interval = min(interval * BACKOFF_FACTOR, self.max_poll_interval)
                delay = interval
                if self.end_time is not None:
                    delay = max(0.0, min(delay, self.end_time - time.time()))
                await asyncio.sleep(delay)
        finally:
            hook.close()

    def _payload(self, outcome: str, tracked: list[_Tracked]) -> dict[str, Any]:
        processes = [t.describe() for t in tracked]
        counts: dict[str, int] = {}
        for p in processes:
            counts[p["status"]] = counts.get(p["status"], 0) + 1
        tally = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        if outcome == "success":
            message = f"{self._what()}: all finished ({tally})."
        else:
            pending = [p for p in processes if p["status"] == "pending"]
            last = "; ".join(
                f"{process_label(p)} at {_fraction(p['progress'])}"
                + (f" (last poll failed: {p['message']})" if p["message"] else "")
                for p in pending[:5]
            )
            more = f"; and {len(pending) - 5} more" if len(pending) > 5 else ""
            message = (
                f"{self._what()}: {len(pending)} not finished before the timeout ({tally}): {last}{more}. "
                "PontoWeb keeps processing them; the monitor keeps each one 15 minutes after it finishes."
            )
        return {"status": outcome, "processes": processes, "message": message}


def _fraction(progress: Mapping[str, Any]) -> str:
    done = "?" if progress.get("done") is None else progress["done"]
    total = "?" if progress.get("total") is None else progress["total"]
    return f"{done}/{total}"


def _check_processes(processes: Any) -> list[dict[str, Any]]:
    """The processes as plain dicts, each naming a unique or a subunique; JSON-serialisable."""
    if isinstance(processes, (str, bytes, Mapping)) or not isinstance(processes, Sequence):
        raise AhgoraConfigError(
            "processes must be a list of {'unique': ..., 'subunique': ...} dicts, "
            f"got {type(processes).__name__}."
        )
    if not processes:
        raise AhgoraConfigError("processes is empty: there is nothing to wait for.")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(processes):
        if not isinstance(item, Mapping):
            raise AhgoraConfigError(
                f"processes[{i}] must be a dict with 'unique' and/or 'subunique', got {type(item).__name__}."
            )
        copy = {str(k): v for k, v in item.items()}
        for key in ("unique", "subunique"):
            if copy.get(key) is not None and not isinstance(copy[key], str):
                raise AhgoraConfigError(
                    f"processes[{i}]['{key}'] must be a string or None, got {copy[key]!r}."
                )
        if not _clean_id(copy.get("unique")) and not _clean_id(copy.get("subunique")):
            raise AhgoraConfigError(
                f"processes[{i}] names no process: give its 'subunique' (or 'unique'), as the push "
                "answered it."
            )
        out.append(copy)
    try:
        json.dumps(out)
    except (TypeError, ValueError) as exc:
        raise AhgoraConfigError(
            f"processes must be JSON-serialisable (they are stored with the task): {exc}"
        ) from None
    return out

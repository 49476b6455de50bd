"""What the answers mean while waiting: one reckon (:class:`ReckonWatch`) or many pushes in the process
monitor (:class:`ProcessWatch`).

A watch takes each poll's answer (or its failure), decides what it means, and says whether the wait
is over and whether anything moved. The pace of the polls is :mod:`airflow_provider_ahgora.polling`'s;
the waits that drive a watch are the blocking ones of operators and sensors and the async ones of
triggers, and they all read the same meaning from here:

* a status is read through the status vocabulary (:mod:`~airflow_provider_ahgora.models.vocabulary`),
  case-insensitively; a value the documents do not list is never "still running" nor success: the
  reckon wait fails naming it, a push is marked ``unrecognized`` (its outcome unknown);
* a transient failure (5xx, 429, a reset, a timeout, a malformed answer) is never fatal: it is
  logged and the thing is polled again next round;
* refused credentials, missing permission, a wrong endpoint or a bad connection end the whole wait;
* a push the monitor no longer knows (not found, expired, another client error) is ``lost``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from airflow_provider_ahgora.exceptions import (
    AhgoraAPIError,
    AhgoraAuthError,
    AhgoraConfigError,
    AhgoraPermissionError,
    AhgoraTransientError,
    AhgoraUnknownValueError,
    AhgoraWrongEndpointError,
)
from airflow_provider_ahgora.polling import Pacer, Round

if TYPE_CHECKING:
    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
    from airflow_provider_ahgora.models.pontoweb import ProcessStatus, ReckonStatus

__all__ = [
    "MAX_ERROR_MESSAGE",
    "ProcessWatch",
    "ReckonWatch",
    "api_detail",
    "check_processes",
    "describe_progress",
    "error_list",
    "process_label",
    "progress_dict",
    "progress_of",
]

_timeout = getattr(asyncio, "timeout", None)

#: Each error message carried in an event (or an XCom) is cut to this many characters.
MAX_ERROR_MESSAGE = 500
#: How a push that is not finished is described when the wait ends.
PENDING = "pending"
#: A push the process monitor no longer knows.
LOST = "lost"
#: A finished push whose status is not in the vocabulary: its outcome is unknown.
UNRECOGNIZED = "unrecognized"


# --------------------------------------------------------------------------------------------------
# Small shared helpers
# --------------------------------------------------------------------------------------------------


def progress_of(status: ReckonStatus | ProcessStatus | None) -> dict[str, int | None]:
    """``{"done", "total"}`` as plain ints (``None`` when unknown)."""
    progress = status.progress if status is not None else None
    return {
        "done": progress.done if progress is not None else None,
        "total": progress.total if progress is not None else None,
    }


#: The same, under the name the process monitor code used.
progress_dict = progress_of


def _fraction(progress: Mapping[str, Any]) -> str:
    done = "?" if progress.get("done") is None else progress["done"]
    total = "?" if progress.get("total") is None else progress["total"]
    return f"{done}/{total}"


def describe_progress(status: ReckonStatus | None) -> str:
    """``"done/total (pct%)"``, e.g. ``"3/10 (30%)"``; ``?`` for unknown values."""
    if status is None:
        return "no status received yet"
    return f"{_fraction(progress_of(status))} ({status.percent:.0f}%)"


def api_detail(exc: AhgoraAPIError) -> str:
    """``PontoWeb HTTP 410: Gone``: the status and the API's own message, without the generic hint."""
    status = f"HTTP {exc.http_status}" if exc.http_status is not None else "no HTTP answer"
    return f"{exc.service} {status}: {exc.api_message}"


def process_label(item: Mapping[str, Any]) -> str:
    """``subunique 123`` or ``unique abc``: how logs and messages name a push."""
    if item.get("subunique"):
        return f"subunique {item['subunique']}"
    return f"unique {item.get('unique')}"


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


def _clean_id(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def check_processes(processes: Any) -> list[dict[str, Any]]:
    """The pushes to watch as plain dicts, each naming a ``unique`` or a ``subunique``; JSON-serialisable
    (they are stored with a deferred task). Raises :class:`AhgoraConfigError` otherwise."""
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


def ends_the_wait(exc: BaseException) -> bool:
    """Ends the whole wait: the connection's problem, not one poll's (credentials, permission, a
    wrong endpoint or a redirect, which are transient for a single call but answer every poll the
    same). The one rule for every waiter: watches, triggers, sensors, the reckon operator."""
    return isinstance(
        exc, (AhgoraAuthError, AhgoraPermissionError, AhgoraWrongEndpointError, AhgoraConfigError)
    )


async def _bounded(call: Any, budget: float | None) -> Any:
    """Await ``call``, giving up after ``budget`` seconds (a transient failure: no answer in time)."""
    if budget is None:
        return await call
    try:
        if _timeout is not None:  # Python 3.11+: no task of its own per poll
            async with _timeout(budget):
                return await call
        return await asyncio.wait_for(call, timeout=budget)
    except asyncio.TimeoutError:
        raise AhgoraTransientError(
            f"no answer before the deadline (waited {budget:.0f} s)", service="PontoWeb"
        ) from None


# --------------------------------------------------------------------------------------------------
# One reckon
# --------------------------------------------------------------------------------------------------


class ReckonWatch:
    """Waiting for one reckon: ``done`` or ``error`` end the wait; transient failures do not.

    An unknown status raises :class:`~airflow_provider_ahgora.exceptions.AhgoraUnknownValueError`
    (the wait fails naming it); so do refused credentials, an unknown process and the like.

    :param process: the reckon's process id.
    :param log: where to log progress and failed polls.
    """

    def __init__(self, process: str, log: logging.Logger | Any) -> None:
        self.process = process
        self.log = log
        self.last: ReckonStatus | None = None
        self.last_failure: str | None = None
        self.polls = 0
        self._seen: tuple[Any, ...] | None = None

    @property
    def finished(self) -> bool:
        return self.last is not None and self.last.is_terminal

    def observe(self, status: ReckonStatus) -> bool:
        """Take one answer; returns whether progress moved (logged when it did, as for pushes).
        Raises on an unknown status."""
        state = status.state  # an unknown status raises here, naming it
        self.last, self.last_failure = status, None
        seen = (state, *progress_of(status).values())
        moved = seen != self._seen
        self._seen = seen
        if moved:
            self.log.info("PontoWeb reckon %s: %s, %s", self.process, state.value, describe_progress(status))
        return moved

    def failed(self, exc: AhgoraTransientError) -> None:
        """Take one failed poll: logged, never fatal."""
        self.last_failure = str(exc)
        self.log.warning(
            "PontoWeb reckon %s: poll %d failed (%s); not fatal, polling again", self.process, self.polls, exc
        )

    def _take(self, outcome: ReckonStatus | BaseException) -> Round:
        self.polls += 1
        if isinstance(outcome, AhgoraTransientError) and not ends_the_wait(outcome):
            self.failed(outcome)
            return Round(False, False)
        if isinstance(outcome, BaseException):
            raise outcome
        moved = self.observe(outcome)
        return Round(self.finished, moved)

    def poll_blocking(self, hook: PontoWebHook) -> Callable[[Pacer], Round]:
        """A round for :func:`~airflow_provider_ahgora.polling.wait_blocking`."""

        def poll_round(_pacer: Pacer) -> Round:
            try:
                outcome: Any = hook.get_reckon_status(self.process)
            except AhgoraTransientError as exc:
                outcome = exc
            return self._take(outcome)

        return poll_round

    def poll_async(self, hook: PontoWebHook) -> Callable[[Pacer], Any]:
        """A round for :func:`~airflow_provider_ahgora.polling.wait_async`; a poll may take at most
        the pacer's budget."""

        async def poll_round(pacer: Pacer) -> Round:
            try:
                outcome: Any = await _bounded(hook.aget_reckon_status(self.process), pacer.budget())
            except AhgoraTransientError as exc:
                outcome = exc
            return self._take(outcome)

        return poll_round

    # -- outcomes ---------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The XCom of the reckon operator and sensor: ``{"process", "unique", "company", "status",
        "progress"}``."""
        status = self.last
        return {
            "process": (status.process if status is not None else None) or self.process,
            "unique": status.unique if status is not None else None,
            "company": status.company if status is not None else None,
            "status": status.state.value if status is not None else None,
            "progress": progress_of(status),
        }

    def event(self, timed_out: bool = False) -> dict[str, Any]:
        """The trigger's one event: ``success``, ``error`` or ``timeout`` (see the reckon trigger)."""
        status = self.last
        if timed_out or status is None or not status.is_terminal:
            seen = (
                f"last progress {describe_progress(status)}, status {status.status}"
                if status is not None
                else "no status was ever received"
            )
            reason = f"; the last poll failed: {self.last_failure}" if self.last_failure else ""
            outcome, message = (
                "timeout",
                f"PontoWeb reckon {self.process} did not finish before the timeout: {seen}{reason}. The "
                "reckon itself keeps running in PontoWeb (it cannot be cancelled).",
            )
        elif status.is_done:
            outcome, message = "success", f"PontoWeb reckon {self.process} is done (unique {status.unique})."
        else:
            outcome, message = (
                "error",
                f"PontoWeb reckon {self.process} ended in error in PontoWeb at {describe_progress(status)}: "
                "start a new reckon once the cause is fixed.",
            )
        return {
            "status": outcome,
            "process": self.process,
            "unique": status.unique if status is not None else None,
            "company": status.company if status is not None else None,
            "reckon_status": status.status if status is not None else None,
            "progress": progress_of(status),
            "message": message,
        }


# --------------------------------------------------------------------------------------------------
# Many pushes in the process monitor
# --------------------------------------------------------------------------------------------------


class _Tracked:
    """What is known of one push while waiting."""

    __slots__ = ("item", "last", "last_failure", "lost", "seen", "unrecognized")

    def __init__(self, item: dict[str, Any]) -> None:
        self.item = item
        self.last: ProcessStatus | None = None
        self.last_failure: str | None = None
        self.lost: str | None = None
        self.unrecognized: str | None = None
        self.seen: tuple[Any, ...] | None = None

    @property
    def label(self) -> str:
        return process_label(self.item)

    @property
    def finished(self) -> bool:
        return (
            self.lost is not None
            or self.unrecognized is not None
            or (self.last is not None and self.last.is_finished)
        )

    def describe(self) -> dict[str, Any]:
        if self.lost is not None:
            status, message = LOST, self.lost
        elif self.unrecognized is not None:
            status, message = UNRECOGNIZED, self.unrecognized
        elif self.last is not None and self.last.is_finished:
            status, message = self.last.outcome.value, None
        else:
            status, message = PENDING, self.last_failure
        return {
            **self.item,
            "status": status,
            "progress": progress_of(self.last),
            "errors": error_list(self.last),
            "message": message,
        }


class ProcessWatch:
    """Waiting for many pushes at once, each polled only until it is finished.

    Each push ends ``done`` / ``warning`` / ``error`` (the monitor's status once ``progress.done``
    reached ``progress.total``), ``lost`` (the monitor no longer knows it), ``unrecognized`` (finished
    with a status the documents do not list) or, if the wait ends first, ``pending``.

    :param processes: ``[{"unique", "subunique", ...}]`` (see :func:`check_processes`); other keys come
        back untouched in :meth:`describe`.
    :param log: where to log.
    """

    def __init__(self, processes: Sequence[Mapping[str, Any]], log: logging.Logger | Any) -> None:
        self.tracked = [_Tracked(dict(item)) for item in check_processes(processes)]
        self.log = log
        self.rounds = 0

    @property
    def finished(self) -> bool:
        return all(t.finished for t in self.tracked)

    def pending(self) -> list[_Tracked]:
        return [t for t in self.tracked if not t.finished]

    def apply(self, track: _Tracked, outcome: ProcessStatus | BaseException) -> bool:
        """Take one poll's answer or failure for ``track``; returns whether it moved. Raises what ends
        the whole wait (credentials, permission, wrong endpoint, configuration)."""
        if isinstance(outcome, BaseException):
            if ends_the_wait(outcome) or not isinstance(outcome, Exception):
                raise outcome
            if isinstance(outcome, AhgoraTransientError):
                track.last_failure = str(outcome)
                self.log.warning(
                    "PontoWeb process %s: poll %d failed (%s); not fatal, polling again",
                    track.label,
                    self.rounds,
                    outcome,
                )
                return False
            if isinstance(outcome, AhgoraAPIError):  # not found, expired (410), another client error
                track.lost = api_detail(outcome)
                self.log.warning(
                    "PontoWeb process %s is lost: the process monitor no longer knows it (%s)",
                    track.label,
                    track.lost,
                )
                return True
            if type(outcome).__name__ == "ValidationError":  # a hook that let a raw one through
                track.last_failure = f"malformed process monitor answer: {outcome}"
                return False
            raise outcome
        try:
            finished = outcome.is_finished
            if finished:
                outcome.outcome  # noqa: B018 - raises for a status outside the vocabulary
        except AhgoraUnknownValueError as exc:
            track.last, track.unrecognized = outcome, str(exc)
            self.log.error("PontoWeb process %s: %s", track.label, exc)
            return True
        track.last, track.last_failure = outcome, None
        progress = progress_of(outcome)
        seen = (outcome.status, progress["done"], progress["total"], len(outcome.errors))
        moved = seen != track.seen
        if moved:
            self.log.info(
                "PontoWeb process %s: %s, %s record(s), %d error(s)%s",
                track.label,
                outcome.status,
                _fraction(progress),
                len(outcome.errors),
                " (finished)" if finished else "",
            )
        track.seen = seen
        return moved

    def _keys(self, track: _Tracked) -> dict[str, str | None]:
        return {
            "unique": _clean_id(track.item.get("unique")),
            "subunique": _clean_id(track.item.get("subunique")),
        }

    def poll_blocking(
        self, hook_for_thread: Callable[[], PontoWebHook], max_workers: int
    ) -> Callable[[Pacer], Round]:
        """A round for :func:`~airflow_provider_ahgora.polling.wait_blocking`: the pending pushes
        polled concurrently on ``max_workers`` threads (``hook_for_thread`` gives each thread its hook)."""

        def poll(track: _Tracked) -> Any:
            try:
                return hook_for_thread().get_process(**self._keys(track))
            except Exception as exc:
                return exc

        def poll_round(_pacer: Pacer) -> Round:
            self.rounds += 1
            pending = self.pending()
            workers = min(max_workers, max(1, len(pending)))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="process-monitor") as pool:
                outcomes = list(pool.map(poll, pending))
            moved = False
            for track, outcome in zip(pending, outcomes, strict=True):
                moved = self.apply(track, outcome) or moved
            return Round(self.finished, moved)

        return poll_round

    def poll_async(self, hook: PontoWebHook, max_concurrency: int) -> Callable[[Pacer], Any]:
        """A round for :func:`~airflow_provider_ahgora.polling.wait_async`: the pending pushes polled
        concurrently, at most ``max_concurrency`` calls at once, each bounded by the pacer's budget."""
        semaphore = asyncio.Semaphore(max_concurrency)

        async def poll(track: _Tracked, budget: float | None) -> Any:
            async def call() -> Any:
                async with semaphore:
                    return await hook.aget_process(**self._keys(track))

            try:
                return await _bounded(call(), budget)
            except Exception as exc:
                return exc

        async def poll_round(pacer: Pacer) -> Round:
            self.rounds += 1
            pending = self.pending()
            budget = pacer.budget()
            if len(pending) == 1:  # the common case: no task of its own
                outcomes = [await poll(pending[0], budget)]
            else:
                tasks = [asyncio.ensure_future(poll(t, budget)) for t in pending]
                try:
                    outcomes = await asyncio.gather(*tasks)
                except BaseException:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
                    raise
            moved = False
            for track, outcome in zip(pending, outcomes, strict=True):
                moved = self.apply(track, outcome) or moved
            return Round(self.finished, moved)

        return poll_round

    # -- outcomes ---------------------------------------------------------------------------------

    def what(self) -> str:
        if len(self.tracked) == 1:
            return f"PontoWeb process {self.tracked[0].label}"
        return f"{len(self.tracked)} PontoWeb processes"

    def describe(self) -> list[dict[str, Any]]:
        """Each push, in input order: the input item plus ``status``, ``progress``, ``errors`` and
        ``message``."""
        return [t.describe() for t in self.tracked]

    def event(self) -> dict[str, Any]:
        """The trigger's one event: ``success`` when every push is finished, else ``timeout``."""
        processes = self.describe()
        counts: dict[str, int] = {}
        for p in processes:
            counts[p["status"]] = counts.get(p["status"], 0) + 1
        tally = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        if self.finished:
            return {
                "status": "success",
                "processes": processes,
                "message": f"{self.what()}: all finished ({tally}).",
            }
        pending = [p for p in processes if p["status"] == PENDING]
        last = "; ".join(
            f"{process_label(p)} at {_fraction(p['progress'])}"
            + (f" (last poll failed: {p['message']})" if p["message"] else "")
            for p in pending[:5]
        )
        more = f"; and {len(pending) - 5} more" if len(pending) > 5 else ""
        message = (
            f"{self.what()}: {len(pending)} not finished before the timeout ({tally}): {last}{more}. "
            "PontoWeb keeps processing them; the monitor keeps each one 15 minutes after it finishes."
        )
        return {"status": "timeout", "processes": processes, "message": message}

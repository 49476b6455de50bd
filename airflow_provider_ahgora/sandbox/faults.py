"""Faults and latency the sandbox injects, per route: what real networks and servers do to clients.

A :class:`Fault` matches requests by method and path (a prefix, a glob, or a regex after ``re:``) and
fires on
chosen calls (``on_calls=(3, 5)``: the 3rd and 5th matching calls), by probability (seeded RNG, so a
run is reproducible), or always; ``times`` caps how often it fires.

Kinds:

``latency``
    wait ``delay`` seconds plus a uniform ``0..jitter`` before answering normally. Latency faults
    add up, and combine with one other fault.
``status``
    answer ``status`` (default 503) with ``body`` (default: an error in the API's shape), and a
    ``Retry-After`` header when ``retry_after`` is set. ``html=True`` answers a web server's HTML
    error page instead (``body``, when a string, is the page): with ``status=404`` it plays a wrong
    base URL. ``content_type`` sends ``body`` (a string) as is, with that ``Content-Type`` (e.g. a
    gateway's ``text/plain`` error).
``rate_limit``
    answer 429 with ``Retry-After`` (default 1 s), always *before* the route runs: a 429 means the
    server did nothing, which is what lets a client repeat even a consuming read.
``timeout``
    hold the request ``delay`` seconds (default 30: longer than a client's timeout), then close the
    connection without answering.
``reset``
    send the status line, the headers and part of the body, then reset the connection.
``malformed``
    answer with a body that is not valid JSON (the route's status and headers are kept).
``trickle``
    send the route's real answer (status line, headers and body) ``chunk_size`` bytes at a time
    (default 4), spread over ``delay`` seconds **in all** (default 30), always *after* the route ran.
    Each chunk arrives long before a per-read socket timeout would fire, so only a client whose
    timeout is a deadline for the whole call gives up in time. At most 1000 chunks: a larger answer
    is sent in larger chunks.
``echo``
    answer an error, ``status`` default 401, whose body echoes the credentials the request carried,
    in every form: the ``Authorization`` header as sent, the decoded password (PontoWeb Basic) or
    token (Voors: header, ``?token=`` or body), JSON-escaped as JSON escapes them and URL-encoded;
    in the API's error shape, or as an HTML page with ``html=True``. Always *before* the route
    runs. It plays the server that quotes the request in its error page: a client must not copy
    the text into a log line or an exception unmasked.

``after_consume`` (default ``True``): ``status``, ``timeout``, ``reset`` and ``malformed`` faults
hit *after* the route has run: a results read has consumed its page, a push has been accepted. That
is the real-world danger a client must survive. ``after_consume=False`` makes them hit before the
route runs (nothing happens on the server). ``trickle`` always hits after, ``rate_limit`` and
``echo`` always before.
"""

from __future__ import annotations

import fnmatch
import random
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FAULT_KINDS", "RECKON_RESULTS", "Fault", "FaultSet"]

FAULT_KINDS = ("latency", "status", "rate_limit", "timeout", "reset", "malformed", "trickle", "echo")
#: Path pattern of the results reads only (``GET /reckons/{unique}``), not status nor reconsume.
RECKON_RESULTS = r"re:^/reckons/(?!process/|reconsume/)[^/]+$"

_DEFAULT_DELAY = {"timeout": 30.0, "trickle": 30.0}
#: ``trickle``: bytes per chunk unless ``chunk_size`` says, and the most chunks an answer is cut into.
TRICKLE_CHUNK = 4
TRICKLE_MAX_CHUNKS = 1000


@dataclass
class Fault:
    """One fault rule. See the module documentation for the kinds."""

    kind: str
    method: str | None = None
    """HTTP method to match (``None``: any)."""
    path: str = "*"
    """Path to match, without the query: a prefix (``/reckons``: that path and everything under
    it), a glob (``/reckons/*``; ``*`` also matches ``/``) or a regex after ``re:``."""
    probability: float = 1.0
    """Chance of firing on a matching call (seeded RNG). Ignored when ``on_calls`` is given."""
    on_calls: tuple[int, ...] | None = None
    """Fire only on these matching calls, counted from 1 (e.g. ``(3, 5)``)."""
    times: int | None = None
    """Fire at most this many times (``None``: no cap)."""
    status: int | None = None
    """``status`` kind: the HTTP status (default 503)."""
    body: Any = None
    """``status`` kind: the JSON body (default: an error in the API's shape); with ``html`` or
    ``content_type``, the text sent as is."""
    retry_after: float | None = None
    """``Retry-After`` seconds (``rate_limit`` default 1)."""
    delay: float | None = None
    """``latency``: seconds to wait; ``timeout``: seconds to hold the request (default 30);
    ``trickle``: seconds the whole answer takes to send, in all (default 30)."""
    chunk_size: int | None = None
    """``trickle``: bytes per chunk (default 4)."""
    html: bool = False
    """``status`` and ``echo``: answer an HTML page (``text/html``) instead of the API's JSON."""
    content_type: str | None = None
    """``status``: send ``body`` (a string) as is, with this ``Content-Type``."""
    jitter: float = 0.0
    """``latency``: extra uniform random wait, 0 to ``jitter`` seconds."""
    after_consume: bool = True
    """Hit after the route ran (the page consumed, the push accepted); see the module doc."""
    id: int = 0
    calls: int = field(default=0, compare=False)
    """Matching calls seen so far."""
    fired: int = field(default=0, compare=False)
    """Times it fired so far."""
    _regex: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {', '.join(FAULT_KINDS)}")
        if self.method is not None:
            self.method = self.method.upper()
            if self.method in ("*", "ANY"):
                self.method = None
        if not self.path:
            self.path = "*"
        if self.path.startswith("re:"):
            self._regex = re.compile(self.path[3:])
        elif any(c in self.path for c in "*?["):
            self._regex = re.compile(fnmatch.translate(self.path))
        else:  # a prefix, at a segment boundary
            self._regex = re.compile(re.escape(self.path.rstrip("/")) + r"(?:/.*)?\Z")
        if not 0.0 <= float(self.probability) <= 1.0:
            raise ValueError(f"probability must be between 0 and 1, got {self.probability!r}")
        if self.on_calls is not None:
            calls = tuple(int(c) for c in self.on_calls)
            if any(c < 1 for c in calls):
                raise ValueError("on_calls counts matching calls from 1")
            self.on_calls = calls
        if self.times is not None and self.times < 0:
            raise ValueError("times must be 0 or more")
        if self.delay is None:
            self.delay = _DEFAULT_DELAY.get(self.kind, 0.0)
        if self.delay < 0 or self.jitter < 0:
            raise ValueError("delay and jitter must be 0 or more")
        if self.kind == "status" and self.status is None:
            self.status = 503
        if self.kind == "echo" and self.status is None:
            self.status = 401
        if self.chunk_size is not None and int(self.chunk_size) < 1:
            raise ValueError("chunk_size must be 1 or more bytes")
        if self.html and self.content_type:
            raise ValueError("give html=True or a content_type, not both")
        as_text = self.html or self.content_type
        if as_text and self.body is not None and not isinstance(self.body, str | bytes):
            raise ValueError("with html or content_type, body is the text sent as is: give a string")
        if self.kind == "rate_limit":
            self.status = 429
            if self.retry_after is None:
                self.retry_after = 1.0

    @property
    def hits_after_route(self) -> bool:
        """True when the fault replaces the answer after the route ran (see ``after_consume``)."""
        if self.kind == "trickle":
            return True
        return self.after_consume and self.kind in ("status", "timeout", "reset", "malformed")

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        assert self._regex is not None
        return self._regex.match(path) is not None

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly view (what ``GET /_sandbox/faults`` lists)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "method": self.method,
            "path": self.path,
            "probability": self.probability,
            "on_calls": list(self.on_calls) if self.on_calls is not None else None,
            "times": self.times,
            "status": self.status,
            "body": self.body,
            "retry_after": self.retry_after,
            "delay": self.delay,
            "jitter": self.jitter,
            "chunk_size": self.chunk_size,
            "html": self.html,
            "content_type": self.content_type,
            "after_consume": self.after_consume,
            "calls": self.calls,
            "fired": self.fired,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Fault:
        """A fault from a JSON object: the fields above, plus ``route`` = ``"GET /reckons/*"``."""
        data = dict(spec)
        route = data.pop("route", None)
        if route:
            method, path = parse_route(str(route))
            data.setdefault("method", method)
            data.setdefault("path", path)
        allowed = {
            "kind",
            "method",
            "path",
            "probability",
            "on_calls",
            "times",
            "status",
            "body",
            "retry_after",
            "delay",
            "jitter",
            "chunk_size",
            "html",
            "content_type",
            "after_consume",
        }
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(
                f"unknown fault field(s) {', '.join(unknown)}; allowed: route, {', '.join(sorted(allowed))}"
            )
        if "kind" not in data:
            raise ValueError(f"a fault needs a kind: one of {', '.join(FAULT_KINDS)}")
        if data.get("on_calls") is not None:
            data["on_calls"] = tuple(data["on_calls"])
        return cls(**data)


def parse_route(route: str) -> tuple[str | None, str]:
    """``"GET /reckons/*"`` -> ``("GET", "/reckons/*")``; ``"/process"`` -> ``(None, "/process")``."""
    route = route.strip()
    method, sep, path = route.partition(" ")
    if sep and not method.startswith(("/", "re:", "*")):
        return method.upper(), path.strip()
    return None, route


class FaultSet:
    """The active faults of a sandbox. Thread-safe; the RNG is seeded for reproducible runs."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._next_id = 1
        self._rng = random.Random(seed)  # noqa: S311 - fault injection, not crypto

    def __bool__(self) -> bool:
        return bool(self._faults)

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            fault.id = self._next_id
            self._next_id += 1
            self._faults.append(fault)
        return fault

    def remove(self, fault_id: int) -> bool:
        with self._lock:
            before = len(self._faults)
            self._faults = [f for f in self._faults if f.id != fault_id]
            return len(self._faults) != before

    def clear(self) -> None:
        with self._lock:
            self._faults = []

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def select(self, method: str, path: str) -> tuple[float, Fault | None]:
        """For one request: the latency to add, and the fault (other than latency) that fires."""
        if not self._faults:
            return 0.0, None
        latency = 0.0
        chosen: Fault | None = None
        with self._lock:
            for fault in self._faults:
                if not fault.matches(method, path):
                    continue
                fault.calls += 1
                if fault.times is not None and fault.fired >= fault.times:
                    continue
                if fault.on_calls is not None:
                    fires = fault.calls in fault.on_calls
                else:
                    fires = fault.probability >= 1.0 or self._rng.random() < fault.probability
                if not fires:
                    continue
                if fault.kind == "latency":
                    fault.fired += 1
                    latency += float(fault.delay or 0.0)
                    if fault.jitter:
                        latency += self._rng.uniform(0.0, fault.jitter)
                elif chosen is None:
                    fault.fired += 1
                    chosen = fault
        return latency, chosen


def faults_from_specs(specs: Iterable[Mapping[str, Any]]) -> list[Fault]:
    return [Fault.from_spec(s) for s in specs]

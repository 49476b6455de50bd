"""The wire layer shared by the PontoWeb and Voors hooks.

What this layer promises to the code above it:

* **Keep-alive, one session per hook**, the proxy and CA environment read once.
* **The timeout is a deadline.** ``timeout`` bounds the whole call: connecting, sending, the status
  line, the headers and the body. A server that trickles its answer a byte at a time cannot keep a
  call alive past it (a per-read socket timeout alone would let it: every byte restarts the clock).
  The body is streamed and the deadline checked between chunks, and one watchdog thread shuts down
  the socket of a call that outlives its deadline while it waits for the status line or headers.
  A call cut by its deadline after it was sent raises
  :class:`~airflow_provider_ahgora.exceptions.AhgoraConnectionError` with
  ``may_have_been_processed=True``, and its message names the deadline.
* **Retries only when safe**: with exponential backoff and jitter, on transient failures only,
  ``Retry-After`` honoured; a call that is not safe to repeat is repeated only when the server
  surely did nothing.
* **One error mapping**, for the sync and async paths alike. Only the API's own error answers are
  read as the API's verdict: an error page of a web server or gateway (HTML, plain text, an empty
  body, JSON that is not an error of the API) on a 4xx raises
  :class:`~airflow_provider_ahgora.exceptions.AhgoraWrongEndpointError`, never "not found"; on a 5xx
  it stays transient. A 2xx that is not a valid answer of its route raises
  :class:`~airflow_provider_ahgora.exceptions.AhgoraMalformedAnswerError` (transient), never a raw
  pydantic ``ValidationError``.
* **Secrets never shown.** Credentials travel in headers only; URLs in messages carry no query
  string; every quote of server text (error bodies, connection errors, retry log lines) goes through
  one :class:`SecretScrubber`, which masks every form in which a server may echo a secret *before*
  the text is cut.

The async variants (for triggers) run each attempt's blocking call in a worker thread and sleep
between attempts with ``asyncio.sleep``, so the triggerer's event loop is never blocked and the
async path shares the exact deadline, error mapping, retry rules and secret hygiene of the sync path.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import heapq
import html
import ipaddress
import itertools
import json
import logging
import math
import os
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar
from urllib.parse import quote, quote_plus, urlencode, urlsplit

import requests
from airflow.providers.common.compat.sdk import BaseHook
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

from airflow_provider_ahgora import __version__
from airflow_provider_ahgora.exceptions import (
    AhgoraAPIError,
    AhgoraAuthError,
    AhgoraBadRequestError,
    AhgoraConfigError,
    AhgoraConnectionError,
    AhgoraDailyLimitError,
    AhgoraError,
    AhgoraExpiredError,
    AhgoraMalformedAnswerError,
    AhgoraNotFoundError,
    AhgoraPermissionError,
    AhgoraRateLimitError,
    AhgoraRedirectError,
    AhgoraServerError,
    AhgoraTransientError,
    AhgoraWrongEndpointError,
)
from airflow_provider_ahgora.models.pontoweb import parse_error_body

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Connection

__all__ = [
    "DEFAULT_TIMEOUT",
    "TEST_TIMEOUT",
    "USER_AGENT",
    "AhgoraRestHook",
    "RetryMode",
    "SecretScrubber",
    "WireSettings",
    "short_reason",
    "wire_json",
]

USER_AGENT = f"airflow-provider-ahgora/{__version__}"

#: When to retry: ``all`` transient failures; only those where the server surely did ``safe``-ly
#: nothing (connection refused, 429); or ``none``.
RetryMode = Literal["all", "safe", "none"]

_MASKED = {"***", "********"}
#: Seconds per call when neither the hook nor the connection says.
DEFAULT_TIMEOUT = 60.0
#: The longest deadline accepted for one call, in seconds (a day): more is a typo.
MAX_TIMEOUT = 86400.0
#: The most a connection test (the UI's *Test* button) waits: it makes one attempt, no retries.
TEST_TIMEOUT = 10.0
#: How much server text an error message quotes (characters, after the secrets are masked).
QUOTE_LIMIT = 300
#: The largest successful answer read, in bytes after decoding (the hook's ``max_answer_bytes``): a
#: larger one is malformed, never held in memory whole. The largest legitimate answers are results
#: pages, ~6 MiB for 1 000 records (docs/benchmarks.rst): ten times that, with room to spare.
DEFAULT_MAX_ANSWER_BYTES = 64 * 1024 * 1024
#: How much of an error answer (3xx, 4xx, 5xx) is read, in bytes after decoding: the API's own JSON
#: errors are far smaller; the rest of a larger one is not read (what is mapped is the prefix).
ERROR_BODY_LIMIT = 1024 * 1024

T = TypeVar("T")


_WIRE_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def wire_json(value: Any) -> bytes:
    """``value`` as both APIs get it in a request body: compact JSON, UTF-8 (characters unescaped).
    The one encoder of every body sent (built once: ``json.dumps`` with options builds one a call)."""
    return _WIRE_ENCODER.encode(value).encode("utf-8")


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def quote_segment(value: Any) -> str:
    """One URL path segment, quoted so that an id can never change the route.

    ``/`` and every reserved character are percent-encoded. ``.`` and ``..`` are refused: they are
    dot segments, which clients and servers remove (``/departments/..`` is ``/``), and encoding them
    (``%2E``) does not help, since a URL normaliser decodes an unreserved character before it
    removes dot segments (RFC 3986, 6.2.2). No id of either API is a dot: Voors ids are numbers,
    PontoWeb's process and unique ids are hexadecimal."""
    text = str(value)
    if not text:
        raise AhgoraConfigError("An identifier in the URL path is empty: pass a non-empty id.")
    if text in {".", ".."}:
        raise AhgoraConfigError(
            f"An identifier in the URL path is {text!r}, a dot segment that would change the route: "
            "pass the record's id."
        )
    return quote(text, safe="")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def short_reason(exc: BaseException | None) -> str:
    """``HTTP 503: message`` or the connection problem, without the advice (for retry log lines)."""
    if isinstance(exc, AhgoraAPIError):
        status = f"HTTP {exc.http_status}: " if exc.http_status is not None else ""
        return f"{status}{exc.api_message}"
    return str(exc)


# ==================================================================================================
# Secrets: one rule for every quote of server text
# ==================================================================================================

#: What replaces a secret in any text we show.
MASK = "***"
#: Secrets shorter than this cannot be masked without mangling every text (a one-letter password
#: would mask every "a"): when a connection holds one, server text is not quoted at all.
MIN_MASKABLE = 3
_WITHHELD = (
    "[the server's text is not shown: the connection's password or token is shorter than "
    f"{MIN_MASKABLE} characters, too short to be masked out of it reliably; use a longer one]"
)
_SPACES = re.compile(r"\s+")
#: A URL's query string in a library's error text (urllib3 quotes the whole URL: a goals filter's
#: e-mail, personal data): messages carry paths only.
_QUERY = re.compile(r"\?[^\s'\")]*")
#: What may follow a secret the server cut short at the end of its text: closing quotes, brackets,
#: an ellipsis, punctuation, spaces.
_CLOSERS = re.compile(r"[\s\"'`}\])>.,;:!\u2026]*\Z")


def secret_forms(secret: str) -> set[str]:
    """The usual literal forms in which a server may echo ``secret``: as is, JSON-escaped (with and
    without ``\\uXXXX`` escapes, with PHP's ``\\/``, HTML-safe as Go escapes ``<``, ``>`` and ``&``),
    URL-encoded (``quote`` and ``quote_plus``) and HTML-escaped (named, ``&#x27;`` and ``&#39;``).

    These are what :meth:`SecretScrubber.register` gives Airflow's log masker, which matches
    literal strings only; the scrubber itself also matches every mix of escapes
    (:func:`secret_pattern`)."""
    forms = {secret}
    for ensure_ascii in (False, True):
        escaped = json.dumps(secret, ensure_ascii=ensure_ascii)[1:-1]
        forms.update((escaped, escaped.replace("/", "\\/")))
        html_safe = escaped.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        forms.add(html_safe)
    forms.update((quote(secret, safe=""), quote(secret), quote_plus(secret), quote_plus(secret, safe="/")))
    escaped_html = html.escape(secret, quote=True)
    forms.update(
        (
            escaped_html,
            escaped_html.replace("&#x27;", "&#039;"),
            escaped_html.replace("&#x27;", "&#39;").replace("&quot;", "&#34;"),  # Jinja's markupsafe
            html.escape(secret, quote=False),
        )
    )
    return {f for f in forms if f}


#: JSON's two-character escapes.
_JSON_SHORT = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
#: The first character of every escaped form of a character (JSON, URL, HTML, a form's space).
_ESCAPE_STARTS = "\\%&+"


@functools.cache
def _html_names() -> dict[str, tuple[str, ...]]:
    """Every HTML named reference of one character (``&ccedil;``, ``&atilde;``, PHP's
    ``htmlentities``), with and without its ``;`` as HTML allows, by the character."""
    from html.entities import html5

    names: dict[str, list[str]] = {}
    for name, value in html5.items():
        if len(value) == 1:
            names.setdefault(value, []).append(name)
    return {char: tuple(sorted(found, key=len, reverse=True)) for char, found in names.items()}


@functools.cache
def _char_pattern(char: str) -> tuple[str, int]:
    """A regular expression for one character in any of its forms, and the longest of them: itself, a
    JSON ``\\uXXXX`` (a surrogate pair above the BMP) or short escape, a backslash before it (PHP's
    ``addslashes``, JavaScript), its UTF-8 bytes percent-encoded, ``+`` for a space, an HTML numeric
    reference (decimal or hex, up to 3 leading zeros) or any of its named ones."""
    code = ord(char)
    forms = [char]
    if code > 0xFFFF:
        high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
        forms.append(f"\\u{high:04x}\\u{low:04x}")
    else:
        forms.append(f"\\u{code:04x}")
    if char in _JSON_SHORT:
        forms.append(_JSON_SHORT[char])
    if not char.isalnum():
        forms.append("\\" + char)
    forms.append("".join(f"%{b:02x}" for b in char.encode("utf-8")))
    if char == " ":
        forms.append("+")
    forms.extend(f"&{name}" for name in _html_names().get(char, ()))
    options = [re.escape(form) for form in dict.fromkeys(forms)]
    options += [f"&#0{{0,3}}{code};", f"&#x0{{0,3}}{code:x};"]
    longest = max(max(len(form) for form in forms), len(f"&#x000{code:x};"), len(f"&#000{code};"))
    return "(?:" + "|".join(options) + ")", longest


def secret_pattern(secret: str) -> str:
    """A regular expression (to compile with ``re.IGNORECASE``) for ``secret`` echoed in any mix of
    the escapes servers use: each character as itself or escaped as JSON, URL or HTML escapes it,
    whichever encoder the server's framework has (Go's HTML-safe JSON, Jinja's ``&#39;``, PHP's
    ``\\/``, a form's ``+``)."""
    return "".join(_char_pattern(char)[0] for char in secret)


def _pattern_longest(secret: str) -> int:
    """The most characters an occurrence of :func:`secret_pattern` can take."""
    return sum(_char_pattern(char)[1] for char in secret)


def basic_authorization(login: str, password: str) -> str:
    """The ``Authorization`` header value of HTTP Basic credentials: ``login:password`` in latin-1
    when it can be (as ``requests`` and most servers do), else in UTF-8 (RFC 7617's charset), base64.
    The scrubber masks both (:meth:`SecretScrubber.for_basic`)."""
    pair = f"{login}:{password}"
    try:
        raw = pair.encode("latin-1")
    except UnicodeEncodeError:
        raw = pair.encode("utf-8")
    return "Basic " + base64.b64encode(raw).decode("ascii")


def check_header_value(value: str, what: str, where: str) -> None:
    """Refuse, before any request, a value that cannot be sent in an HTTP header: a character outside
    latin-1 or a control character (a token pasted with a line break inside it). The message names
    the position, never the value."""
    for index, char in enumerate(value):
        if ord(char) > 0xFF or ord(char) < 0x20 or ord(char) == 0x7F:
            kind = "a control character" if ord(char) <= 0xFF else "a character outside latin-1"
            raise AhgoraConfigError(
                f"{where}: the {what} holds {kind} at position {index + 1}, which an HTTP header cannot "
                f"carry. Paste the {what} again, without line breaks or spaces inside it."
            )


class SecretScrubber:
    """Masks every form in which a server may echo the connection's secrets, then cuts.

    This is the one rule for quoting server text (error bodies, connection errors, retry log
    lines): **mask first, then cut**, so that a cut can never leave a prefix of a secret behind.
    It masks each secret as is and in any mix of JSON, URL and HTML escapes (:func:`secret_pattern`:
    ``\\u0026``, ``%26``, ``&amp;``, ``&#38;`` and ``&#x26;`` are all ``&``; its usual literal forms,
    :func:`secret_forms`, go to Airflow's masker and find a secret cut short), and so
    for PontoWeb the base64 of ``login:password`` and the whole ``Basic ...`` header value, for
    Voors the token as sent in the ``Authorization`` header; matching ignores case (percent-escapes
    come in either case). Only a bounded prefix of a huge text is read, long enough that nothing
    shown can hold part of a secret; a secret the server itself cut at the end of its text is masked
    too. When a secret is shorter than :data:`MIN_MASKABLE` characters nothing of the server's text
    is shown.

    Operators that quote server text reuse it rather than a copy of their own::

        text = hook.settings.scrubber.scrub(str(exc), limit=300)
    """

    __slots__ = ("_forms", "_longest", "_pattern", "_withhold")

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        maskable: set[str] = set()
        withhold = False
        for secret in secrets:
            if not secret:
                continue
            if len(secret) < MIN_MASKABLE:
                withhold = True
            else:
                maskable.add(secret)
        self._withhold = withhold
        # the literal forms: for Airflow's masker and for a secret the server cut short
        forms = {form for secret in maskable for form in secret_forms(secret)}
        self._forms = tuple(sorted(forms, key=lambda f: (-len(f), f)))  # longest first: it wins
        # the pattern: each secret in any mix of escapes (every literal form is one such mix)
        ordered = sorted(maskable, key=lambda x: (-len(x), x))
        self._longest = max((_pattern_longest(x) for x in ordered), default=0)
        # a lookahead for the characters an occurrence can start with lets the engine skip the rest
        starts = {c for x in ordered for c in (x[:1].lower(), x[:1].upper())} | set(_ESCAPE_STARTS)
        lead = "(?=[" + "".join(re.escape(c) for c in sorted(starts)) + "])"
        alternatives = "|".join(secret_pattern(x) for x in ordered)
        self._pattern = re.compile(f"{lead}(?:{alternatives})", re.IGNORECASE) if ordered else None

    @classmethod
    def for_basic(cls, login: str | None, password: str | None) -> SecretScrubber:
        """For HTTP Basic credentials: the password, ``base64(login:password)`` and its header value."""
        secrets: list[str | None] = [password]
        if password:
            pair = f"{login or ''}:{password}"
            # basic_authorization encodes latin-1 when it can, else UTF-8; a server may decode either
            for encoding in ("latin-1", "utf-8"):
                try:
                    token = base64.b64encode(pair.encode(encoding)).decode("ascii")
                except UnicodeEncodeError:
                    continue
                secrets += [token, f"Basic {token}"]
        return cls(secrets)

    @classmethod
    def for_token(cls, token: str | None) -> SecretScrubber:
        """For a token sent as the whole ``Authorization`` header value (and without a scheme word)."""
        secrets: list[str | None] = [token]
        if token:
            scheme, _, rest = token.partition(" ")
            if rest.strip() and scheme.lower() in {"bearer", "token", "basic"}:
                secrets.append(rest.strip())
        return cls(secrets)

    def __repr__(self) -> str:  # never the forms themselves
        return f"<SecretScrubber forms={len(self._forms)} withhold={self._withhold}>"

    @property
    def forms(self) -> tuple[str, ...]:
        """The masked forms (for registering with Airflow's log masker; never log them)."""
        return self._forms

    def register(self) -> None:
        """Register every form with Airflow's log masker (best effort, on top of never logging them),
        in one call: on Airflow 3 each call is a round trip to the supervisor."""
        if self._forms:
            mask(list(self._forms))

    def scrub(self, text: str, limit: int | None = None) -> str:
        """``text`` with every form of every secret replaced by ``***``.

        With ``limit``: at most ``limit`` characters, whitespace runs collapsed, `` ...`` appended
        when something was cut; only a bounded prefix of ``text`` is read.
        """
        if not text:
            return text
        if self._withhold:
            return _WITHHELD
        if limit is None:
            return self._mask_cut_tail(self._pattern.sub(MASK, text)) if self._pattern is not None else text
        bound = 4 * limit + self._longest + 64
        truncated = len(text) > bound
        window = text[:bound]
        if self._pattern is not None:
            # every occurrence that starts before ``stop`` ends inside the window, so it is matched
            stop = bound - self._longest + 1 if truncated else len(window)
            window = self._mask_upto(window, stop)
            if not truncated:
                window = self._mask_cut_tail(window)
        shown = _SPACES.sub(" ", window).strip()
        if self._pattern is not None:
            shown = self._pattern.sub(MASK, shown)  # collapsing could have joined a secret's parts
        if len(shown) > limit:
            return shown[:limit].rstrip() + " ..."
        return shown + " ..." if truncated else shown

    def _mask_upto(self, text: str, stop: int) -> str:
        assert self._pattern is not None
        out: list[str] = []
        pos = 0
        for match in self._pattern.finditer(text):
            if match.start() >= stop:
                break
            out.append(text[pos : match.start()])
            out.append(MASK)
            pos = match.end()
        if pos < stop:
            out.append(text[pos:stop])
        return "".join(out)

    def _mask_cut_tail(self, text: str) -> str:
        """A secret the server itself cut short at the end of its text (``...password: s3cr``), also
        when closing quotes, brackets or an ellipsis follow the cut (``{"detail": "...: s3cr"}``)."""
        end = _CLOSERS.search(text, max(0, len(text) - 64)).start()  # type: ignore[union-attr]  # always matches
        head = text[:end]
        if not head:
            return text
        last = head[-1].casefold()
        for form in self._forms:
            for size in range(min(len(form) - 1, len(head)), MIN_MASKABLE - 1, -1):
                # compared slice by slice: lowering the whole text can change its length ('İ')
                if form[size - 1].casefold() == last and head[-size:].casefold() == form[:size].casefold():
                    return head[:-size] + MASK + text[end:]
        return text


# ==================================================================================================
# The deadline: one watchdog thread, sockets registered per call
# ==================================================================================================


class _Call:
    """One attempt's deadline, the sockets it uses, and what became of it."""

    __slots__ = ("deadline", "done", "expired", "in_heap", "sent", "socks", "timeout", "tracked")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.socks: list[Any] = []
        self.expired = False  # the watchdog shut its sockets down
        self.done = False  # the attempt ended (answer read, or failed)
        self.in_heap = False
        self.sent = False  # a request was started on a connected socket: the server may act on it
        self.tracked = False  # our connections saw this call, so ``sent`` is known (not so in SOCKS pools)

    def remaining(self) -> float:
        """Seconds left before the deadline (0 or less: it passed)."""
        return self.deadline - time.monotonic()

    def may_have_been_processed(self, failed_to_connect: bool) -> bool:
        """The one rule for whether the server may have acted on a failed attempt: yes once a request
        started on a connected socket, no before. Where our connections did not see the call (a
        SOCKS proxy's pools), only an error that says it failed to connect means no
        (``failed_to_connect``)."""
        return self.sent if self.tracked else not failed_to_connect


class _BodyLimit:
    """How much of an answer's body is read, on both paths: a 2xx larger than the hook's
    ``max_answer_bytes`` is malformed and is not read further (a gzip bomb of 255 KB decodes to
    256 MiB); of an error answer (4xx, 5xx) only the first :data:`ERROR_BODY_LIMIT` bytes are read,
    all that its mapping and its message use; of a redirect, nothing (its message names where it
    points). Sizes are of the decoded body."""

    __slots__ = ("_raise", "chunks", "limit", "ok", "size", "wanted")

    def __init__(
        self, hook: AhgoraRestHook, method: str, path: str, status: int, headers: Mapping[str, str]
    ) -> None:
        self.wanted = not 300 <= status < 400
        self.ok = 200 <= status < 300
        self.limit = hook.max_answer_bytes if self.ok else ERROR_BODY_LIMIT
        self.size = 0
        self.chunks: list[bytes] = []
        self._raise = lambda seen: hook._too_large(method, path, status, self.limit, seen)
        if self.ok and not headers.get("Content-Encoding"):
            declared = headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self.limit:
                raise self._raise(f"{declared} bytes announced")

    def take(self, chunk: bytes) -> bool:
        """Keep ``chunk``; ``True`` when nothing more is to be read."""
        self.size += len(chunk)
        if self.size > self.limit:
            if self.ok:
                raise self._raise(f"more than {self.limit} bytes read")
            self.chunks.append(chunk[: len(chunk) - (self.size - self.limit)])  # the prefix: enough to map it
            return True
        self.chunks.append(chunk)
        return False

    def read(self) -> bytes:
        return b"".join(self.chunks)


_local = threading.local()
_log = logging.getLogger(__name__)
#: The longest single sleep of the watchdog (it wakes and sleeps again: deadlines are capped anyway).
_MAX_WAIT = min(3600.0, threading.TIMEOUT_MAX)


def _current_call() -> _Call | None:
    return getattr(_local, "call", None)


def _shutdown(sock: Any) -> None:
    raw = sock if isinstance(sock, socket.socket) else getattr(sock, "socket", None)
    if isinstance(raw, socket.socket):
        # the plain socket's shutdown, also for an SSLSocket: it wakes a blocked read at once
        with contextlib.suppress(OSError):
            socket.socket.shutdown(raw, socket.SHUT_RDWR)


def _bound_by_what_remains(sock: Any, call: _Call, conn: Any) -> None:
    """The socket's timeout set to what remains of the call's deadline (it bounds a TLS handshake,
    which the watchdog cannot cut); none left: fail as a connect timeout (nothing was sent)."""
    remaining = call.remaining()
    if remaining <= 0:
        raise ConnectTimeoutError(conn, f"the {call.timeout:g} s deadline passed while connecting")
    with contextlib.suppress(OSError):
        sock.settimeout(remaining)


class _Watchdog:
    """One lazily started daemon thread and a heap of deadlines (not a thread per request).

    A call registers when it starts and is marked done when it ends; finished calls are dropped
    lazily (and the heap compacted when they dominate), so the thread sleeps until the earliest
    deadline of a live call and costs nothing while calls finish in time.
    """

    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)  # the thread does not survive a fork

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, _Call]] = []
        self._seq = itertools.count()
        self._stale = 0
        self._thread: threading.Thread | None = None

    def watch(self, call: _Call) -> None:
        with self._cond:
            heapq.heappush(self._heap, (call.deadline, next(self._seq), call))
            call.in_heap = True
            if self._thread is None or not self._thread.is_alive():
                # first use, or a thread that died (it must not: see _run): every call needs one
                self._thread = threading.Thread(
                    target=self._run, name="ahgora-deadline-watchdog", daemon=True
                )
                self._thread.start()
            elif self._heap[0][2] is call:
                self._cond.notify()

    def attach(self, call: _Call, conn: Any, sock: Any) -> None:
        """``conn``'s socket now serves ``call`` (and no longer an earlier call on this connection)."""
        if sock is None:
            return
        with self._cond:
            previous = getattr(conn, "_ahgora_call", None)
            if previous is not None and previous is not call:
                with contextlib.suppress(ValueError):
                    previous.socks.remove(sock)
            conn._ahgora_call = call
            if call.expired:
                _shutdown(sock)
            elif sock not in call.socks:
                call.socks.append(sock)

    def detach(self, conn: Any) -> None:
        """``conn`` goes back to its pool: its socket serves no call any more, so that the deadline of
        the call that used it, should it pass now, cannot cut it under the next call to take it."""
        with self._cond:
            call = getattr(conn, "_ahgora_call", None)
            if call is None:
                return
            conn._ahgora_call = None
            with contextlib.suppress(ValueError):
                call.socks.remove(conn.sock)

    def finish(self, call: _Call) -> bool:
        """Mark ``call`` done; True if the watchdog had already cut it."""
        with self._cond:
            call.done = True
            call.socks = []
            if call.in_heap:
                self._stale += 1
                if self._stale > 256 and 2 * self._stale > len(self._heap):
                    self._heap = [e for e in self._heap if not e[2].done]
                    heapq.heapify(self._heap)
                    for entry in self._heap:
                        entry[2].in_heap = True
                    call.in_heap = False
                    self._stale = 0
            return call.expired

    def _run(self) -> None:
        cond = self._cond
        with cond:
            while True:
                try:
                    self._expire_due(cond)
                except Exception:  # never die: every call of the process relies on this thread
                    _log.exception("The deadline watchdog hit an unexpected error; it keeps running")
                    cond.wait(0.1)

    def _expire_due(self, cond: threading.Condition) -> None:
        """Cut the calls past their deadline, then sleep until the next deadline (or a new call)."""
        heap = self._heap
        now = time.monotonic()
        while heap and (heap[0][2].done or heap[0][0] <= now):
            _, _, call = heapq.heappop(heap)
            call.in_heap = False
            if call.done:
                self._stale -= 1
                continue
            call.expired = True
            for sock in call.socks:  # a shutdown is one non-blocking syscall
                _shutdown(sock)
            call.socks = []
        if not heap:
            cond.wait()
            return
        delay = heap[0][0] - now
        # bounded (and never nan): a wait beyond threading.TIMEOUT_MAX raises OverflowError
        cond.wait(delay if delay < _MAX_WAIT else _MAX_WAIT)


_WATCHDOG = _Watchdog()


class _CutHeadersFilter(logging.Filter):
    """Drops urllib3's "Failed to parse headers" warning (with its traceback) when it only reports
    the headers our own watchdog cut at the deadline: the call fails with a message that says so."""

    def filter(self, record: logging.LogRecord) -> bool:
        call = _current_call()
        return not (
            call is not None and call.expired and str(record.msg).startswith("Failed to parse headers")
        )


logging.getLogger("urllib3.connection").addFilter(_CutHeadersFilter())


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").partition("%")[0])
    except ValueError:
        return False
    return True


def _resolve(host: str, port: int, call: _Call) -> list[Any]:
    """``getaddrinfo`` for a new connection within what remains of ``call``'s deadline (``TimeoutError``
    past it). A name lookup cannot be interrupted, so a name (not an IP literal) is looked up in a
    daemon thread that the call stops waiting for at its deadline; the lookup then ends by itself, at
    the resolver's own timeout. It runs once per new connection: kept-alive ones need none."""
    family = allowed_gai_family()
    if _is_ip_literal(host):
        return socket.getaddrinfo(host.strip("[]"), port, family, socket.SOCK_STREAM)
    done = threading.Event()
    outcome: list[Any] = []

    def lookup() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, family, socket.SOCK_STREAM))
        except BaseException as exc:  # handed to the waiting call
            outcome.append(exc)
        finally:
            done.set()

    threading.Thread(target=lookup, name="ahgora-name-lookup", daemon=True).start()
    if not done.wait(max(0.0, call.remaining())):
        raise TimeoutError("the name lookup outlasted the deadline")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]  # type: ignore[no-any-return]


class _DeadlineConnectionMixin:
    """Keeps each connection under the current call's deadline.

    * **Connecting** (:meth:`_new_conn`): the name lookup and each address tried get what remains of
      the deadline (urllib3 gives every address of a name the whole connect timeout, and the lookup
      none), and nothing is tried once it passed.
    * **The watchdog**: a new socket is registered with the call as soon as it is connected (the TLS
      handshake and a proxy tunnel are then under the deadline too), a kept-alive one when a request
      starts on it, and it leaves the call when the connection goes back to its pool
      (:class:`_DeadlinePoolMixin`).
    * **Sent or not**: the call is marked sent only once its connection is established, right before
      the request's bytes leave; a failure before that is never taken for a request the server got.
    """

    sock: Any
    host: str
    port: int
    timeout: Any
    _dns_host: str
    _ahgora_call: _Call | None = None

    def _new_conn(self) -> Any:
        call = _current_call()
        if call is None:
            return super()._new_conn()  # type: ignore[misc]
        call.tracked = True
        sock = self._connect_within(call)
        _WATCHDOG.attach(call, self, sock)
        _bound_by_what_remains(sock, call, self)
        return sock

    def _tunnel(self) -> None:
        # a proxy's CONNECT ate part of the deadline: the TLS handshake that follows gets what remains
        # (the watchdog holds the plain socket, which TLS detaches, so the socket's own timeout is
        # what bounds the handshake)
        super()._tunnel()  # type: ignore[misc]
        call = _current_call()
        if call is not None and self.sock is not None:
            _bound_by_what_remains(self.sock, call, self)

    def _connect_within(self, call: _Call) -> Any:
        if call.remaining() <= 0:
            raise ConnectTimeoutError(self, f"the {call.timeout:g} s deadline passed before connecting")
        try:
            addresses = _resolve(self._dns_host, self.port, call)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        except TimeoutError:
            raise ConnectTimeoutError(
                self, f"the name lookup of {self.host} outlasted the {call.timeout:g} s deadline"
            ) from None
        name, timeout = self._dns_host, self.timeout
        refused: NewConnectionError | None = None
        try:
            for *_, sockaddr in addresses:
                remaining = call.remaining()
                if remaining <= 0:
                    break
                # urllib3's own connect, to this one address, with what remains of the deadline
                self._dns_host, self.timeout = sockaddr[0], remaining
                try:
                    return super()._new_conn()  # type: ignore[misc]
                except NewConnectionError as exc:  # refused, unreachable: the next address
                    refused = exc
                except ConnectTimeoutError:
                    break  # it took what remained
        finally:
            self._dns_host, self.timeout = name, timeout
        if refused is not None and call.remaining() > 0:
            raise refused
        raise ConnectTimeoutError(
            self, f"could not connect to {self.host} within the {call.timeout:g} s deadline"
        )

    def request(self, *args: Any, **kwargs: Any) -> None:
        call = _current_call()
        if call is not None:
            call.tracked = True
            if self.sock is None:
                # http.client would connect while sending the request: connect first, so that a
                # failure to connect is never taken for a request the server may have got
                self.connect()  # type: ignore[attr-defined]
            if call.expired or call.remaining() <= 0:
                # connected (a slow TLS handshake, a proxy tunnel) only once the deadline passed:
                # nothing of the request has left
                raise ConnectTimeoutError(
                    self, f"the {call.timeout:g} s deadline passed before the request was sent"
                )
            call.sent = True
            # kept alive, or wrapped in TLS since it was connected
            _WATCHDOG.attach(call, self, self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _DeadlineHTTPConnection(_DeadlineConnectionMixin, HTTPConnection):
    pass


class _DeadlineHTTPSConnection(_DeadlineConnectionMixin, HTTPSConnection):
    pass


class _DeadlinePoolMixin:
    """A connection going back to the pool leaves the call that used it first. urllib3 releases a
    connection as soon as its answer is read, before the call ends: were the call's deadline to pass
    in between, the watchdog would cut the socket under the next call to take the connection, which
    would then fail as if its request had been sent."""

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            _WATCHDOG.detach(conn)
        super()._put_conn(conn)  # type: ignore[misc]


class _DeadlineHTTPConnectionPool(_DeadlinePoolMixin, HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSConnectionPool(_DeadlinePoolMixin, HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


_POOL_CLASSES = {"http": _DeadlineHTTPConnectionPool, "https": _DeadlineHTTPSConnectionPool}


def _use_deadline_pools(manager: Any) -> None:
    classes = getattr(manager, "pool_classes_by_scheme", None)
    # a SOCKS proxy manager brings its own pools: left alone (the deadline is then checked
    # between body chunks only)
    if isinstance(classes, dict) and classes.get("http") is HTTPConnectionPool:
        manager.pool_classes_by_scheme = dict(_POOL_CLASSES)


class _Session(requests.Session):
    """A session that never follows a redirect (see :meth:`AhgoraRestHook._map_error`): a redirect
    could carry the credentials and the body to another host, or to plain http, and the request it
    answers has reached the server already. ``requests`` also reads a redirect's whole body to prepare
    the next request, outside the body size limit: with no target, it reads none."""

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        return None


class _DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections register their sockets with the current call."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _use_deadline_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: Any, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        _use_deadline_pools(manager)
        return manager


_CHUNK = 65536

#: The kinds of failure without a complete answer that both paths sort their library's exceptions
#: into (``AhgoraRestHook._wire_error`` for requests', ``_async.classify`` for aiohttp's); one method,
#: ``AhgoraRestHook._no_answer``, words each and applies the one rule of "may have been processed".
NO_ANSWER_KINDS = frozenset({"connect_timeout", "deadline", "connection", "cut", "other"})


def _prepare(
    session: requests.Session,
    method: str,
    url: str,
    params: Mapping[str, Any] | None,
    data: bytes | None,
    headers: Mapping[str, str],
) -> requests.PreparedRequest:
    """The request ``session.request(method, url, params=..., data=..., headers=...)`` sends, prepared
    as ``Session.prepare_request`` prepares it for a hook's session (its headers, credentials, cookies
    and hooks; the session has no params, and ``trust_env`` is off), without ``requests``' generic
    merges of every setting on every call: ~0.15 ms of CPU a request, mostly its typing-protocol
    checks. The caller sends it with ``session.send`` (cookies as ``requests`` keeps them; redirects
    are never followed: see :class:`_Session`)."""
    merged = CaseInsensitiveDict(session.headers)
    merged.update(headers)
    prepared = requests.PreparedRequest()
    prepared.prepare(
        method=method.upper(),
        url=url,
        headers=merged,
        data=data,
        params=params,
        auth=session.auth,
        cookies=session.cookies.copy() if len(session.cookies) else None,
        hooks=session.hooks,
    )
    return prepared


# ==================================================================================================
# Settings
# ==================================================================================================


@dataclass(frozen=True)
class WireSettings:
    """Everything a hook needs to talk to its API, resolved once from the connection."""

    base_url: str
    headers: dict[str, str]
    timeout: float
    auth: tuple[str, str] | None = field(default=None, repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)
    extras: dict[str, Any] = field(default_factory=dict)
    scrubber: SecretScrubber = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    """The one masking rule for this connection's secrets (built from ``secrets`` if not given)."""

    def __post_init__(self) -> None:
        if self.scrubber is None:
            object.__setattr__(self, "scrubber", SecretScrubber(self.secrets))

    def __repr__(self) -> str:  # headers may hold a token: never show them
        return f"WireSettings(base_url={self.base_url!r}, timeout={self.timeout!r})"

    def scrub(self, text: str, limit: int | None = None) -> str:
        """:meth:`SecretScrubber.scrub` with this connection's secrets."""
        return self.scrubber.scrub(text, limit)


def build_base_url(
    conn: Connection, default_host: str | None, service: str, where: str, field: str = "Host field"
) -> str:
    """``scheme://host[:port][/path]`` from a connection, refusing plain http off loopback.

    ``where`` names the connection in messages (``Connection 'x'``, or ``The connection`` in a test
    from the UI, whose connection id is a temporary one); ``field`` names the host field as the
    connection form labels it.
    """
    host = (conn.host or "").strip() or (default_host or "")
    if not host:
        raise AhgoraConfigError(
            f"{where} has no host: set the {service} API base URL in its {field} "
            "(e.g. https://api.example.com/integration)."
        )
    schema = (conn.schema or "").strip()
    if "://" not in host:
        scheme = schema if schema in {"http", "https"} else "https"
        host = f"{scheme}://{host}"
        schema = "" if schema in {"http", "https"} else schema
    parts = urlsplit(host)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise AhgoraConfigError(
            f"{where}: the {field} must be an http(s) URL such as https://api.example.com."
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise AhgoraConfigError(
            f"{where}: the {field} must not carry a query string, fragment or credentials; "
            "put the credentials in the connection's login/password fields."
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise AhgoraConfigError(
            f"{where} uses plain http:// to {parts.hostname}: credentials would cross the "
            "network unencrypted. Use https:// (plain http is allowed only on loopback, for the sandbox)."
        )
    netloc = parts.netloc
    if conn.port and not parts.port:
        netloc = f"{netloc}:{conn.port}"
    path = parts.path.rstrip("/")
    if schema:  # URI form "voors://:token@host/some/path" puts the path in the schema field
        path = f"{path}/{schema.strip('/')}"
    return f"{parts.scheme}://{netloc}{path}"


def form_widgets(conn_fields: Mapping[str, Any]) -> dict[str, Any]:
    """Airflow 2.11 form widgets built from the provider metadata's ``conn-fields`` (one source)."""
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import IntegerField, StringField
    from wtforms.validators import AnyOf, NumberRange, Optional

    widgets: dict[str, Any] = {}
    for name, spec in conn_fields.items():
        schema = spec.get("schema", {})
        types = schema.get("type", [])
        validators: list[Any] = [Optional()]
        field_class: Any = StringField
        if "integer" in types:
            field_class = IntegerField
            if "minimum" in schema:
                validators.append(NumberRange(min=schema["minimum"]))
        if "enum" in schema:
            validators.append(AnyOf(list(schema["enum"])))
        kwargs: dict[str, Any] = {"description": spec.get("description")}
        if schema.get("default") is not None:
            kwargs["default"] = schema["default"]
        widgets[name] = field_class(
            lazy_gettext(spec["label"]), widget=BS3TextFieldWidget(), validators=validators, **kwargs
        )
    return widgets


def field_behaviour(behaviour: Mapping[str, Any]) -> dict[str, Any]:
    """The hook form of the provider metadata's ``ui-field-behaviour``."""
    return {
        "hidden_fields": list(behaviour["hidden-fields"]),
        "relabeling": dict(behaviour["relabeling"]),
        "placeholders": dict(behaviour["placeholders"]),
    }


def check_timeout(value: Any, what: str) -> float:
    """``value`` as a deadline in seconds, or :class:`~airflow_provider_ahgora.exceptions.AhgoraConfigError`
    naming ``what``: a finite number above 0 and at most :data:`MAX_TIMEOUT` (``nan``, ``inf`` and
    ``1e308`` are typos that would leave a call, and the watchdog, without a deadline)."""
    timeout = math.nan
    if not isinstance(value, bool):
        with contextlib.suppress(TypeError, ValueError, OverflowError):
            timeout = float(value)
    if not 0 < timeout <= MAX_TIMEOUT:  # also refuses nan
        raise AhgoraConfigError(
            f"{what} must be a number of seconds above 0 and at most {MAX_TIMEOUT:g} (a day), got {value!r}."
        )
    return timeout


def resolve_timeout(override: float | None, extras: Mapping[str, Any], conn_type: str, where: str) -> float:
    """Seconds per call: the hook's argument, else the connection's ``timeout`` extra, else 60."""
    if override is not None:
        return check_timeout(override, "timeout")
    raw = get_extra(extras, conn_type, "timeout")
    return DEFAULT_TIMEOUT if raw is None else check_timeout(raw, f"{where}: extra timeout")


def mask(secret: str | list[Any] | None) -> None:
    """Register a secret (or several) with Airflow's log masker (best effort, on top of never logging
    secrets)."""
    if not secret:
        return
    try:
        from airflow.providers.common.compat.sdk import mask_secret

        mask_secret(secret)
    except Exception:  # noqa: S110
        pass


def get_extra(extras: Mapping[str, Any], conn_type: str, name: str) -> Any:
    """An extra by its plain name or its legacy ``extra__<type>__<name>`` form; '' counts as unset."""
    for key in (name, f"extra__{conn_type}__{name}"):
        value = extras.get(key)
        if value not in (None, ""):
            return value
    return None


# ==================================================================================================
# Answers that are not the API's
# ==================================================================================================

#: 4xx statuses whose meaning does not depend on who answered: a size limit of a proxy, a rate
#: limit, credentials. Any other 4xx is read as the API's verdict only if its body is the API's.
_STATUS_ANYONE = frozenset({401, 403, 407, 408, 413, 414, 429, 431})
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
#: What reading a body (or a model out of it) raises when the body is not what it should be:
#: invalid JSON, and JSON nested too deep for the parser (``[[[[...`` 100 000 levels deep).
_UNREADABLE: tuple[type[Exception], ...] = (ValueError, RecursionError)
#: What turning a parsed answer into a model raises when the answer does not fit.
_INVALID: tuple[type[Exception], ...] = (*_UNREADABLE, TypeError, KeyError, AttributeError, IndexError)


class HttpAnswer(Protocol):
    """What the one reading of an answer uses of it: a ``requests.Response`` on the sync path, an
    :class:`~airflow_provider_ahgora.hooks._async.Reply` on the async one."""

    @property
    def status_code(self) -> int: ...

    @property
    def reason(self) -> str | None: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


def _request_body(
    json_body: Any, data: bytes | None, headers: Mapping[str, str] | None
) -> tuple[bytes | None, dict[str, str]]:
    """The body bytes and the headers of a request, the same on both paths."""
    sent_headers = dict(headers or {})
    if json_body is not None:
        data = wire_json(json_body)
    if data is not None:
        sent_headers.setdefault("Content-Type", "application/json")
    return data, sent_headers


def _json_kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


class AhgoraRestHook(BaseHook):
    """Base of the PontoWeb and Voors hooks: settings, session, requests, retries, error mapping.

    :param retry_limit: how many times a failed call is retried (0: never). Default 4.
    :param retry_delay: first backoff delay in seconds; it doubles each retry, with jitter. Default 1.
    :param retry_max_delay: cap of one backoff delay, and of a ``Retry-After`` honoured. Default 60.
    :param timeout: seconds per call, overriding the connection's ``timeout`` extra: a deadline for the
        whole call (connect, send, status, headers and body), not a per-read timeout. At most a day.
    :param max_answer_bytes: the largest successful answer read, in bytes after decoding (default
        64 MiB): a larger one raises
        :class:`~airflow_provider_ahgora.exceptions.AhgoraMalformedAnswerError` unread.
    """

    service_name = "API"
    conn_name_attr = "conn_id"
    #: How the connection form labels the host field (messages of a connection test name it).
    host_field = "Host field"

    def __init__(
        self,
        conn_id: str,
        *,
        retry_limit: int = 4,
        retry_delay: float = 1.0,
        retry_max_delay: float = 60.0,
        timeout: float | None = None,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
    ) -> None:
        super().__init__()
        if retry_limit < 0:
            raise AhgoraConfigError("retry_limit must be 0 or more")
        if retry_delay < 0 or retry_max_delay < 0:
            raise AhgoraConfigError("retry_delay and retry_max_delay must be 0 or more")
        if timeout is not None:
            timeout = check_timeout(timeout, "timeout")
        if type(max_answer_bytes) is not int or max_answer_bytes < 1:
            raise AhgoraConfigError(
                f"max_answer_bytes must be a positive number of bytes, got {max_answer_bytes!r}"
            )
        self.conn_id = conn_id
        self.retry_limit = retry_limit
        self.retry_delay = retry_delay
        self.retry_max_delay = retry_max_delay
        self.timeout_override = timeout
        self.max_answer_bytes = max_answer_bytes
        self._session_lock = threading.Lock()
        self._session: requests.Session | None = None
        #: True while :meth:`test_connection` runs: messages name the form's fields, not the
        #: (temporary) connection id.
        self._testing = False
        #: How the sync path sleeps between attempts (tests replace it).
        self.sleep: Callable[[float], None] = time.sleep

    def __repr__(self) -> str:
        return f"<{type(self).__name__} conn_id={self.conn_id!r}>"

    # -- settings and session -------------------------------------------------------------------

    def _build_settings(self, conn: Connection) -> WireSettings:  # pragma: no cover - abstract
        raise NotImplementedError

    def _where(self) -> str:
        """How messages name the connection: by id, or as "the connection" in a UI test."""
        return "The connection" if self._testing else f"Connection '{self.conn_id}'"

    @cached_property
    def settings(self) -> WireSettings:
        """The resolved connection settings (looked up on first use, never at construction)."""
        return self._build_settings(self.get_connection(self.conn_id))

    async def asettings(self) -> WireSettings:
        """:attr:`settings`, resolved without blocking the event loop.

        The lookup, the building and the masking of the secrets (each a synchronous call to Airflow's
        supervisor on Airflow 3) run in one worker thread (:func:`~airflow_provider_ahgora._offloop.
        run_off_loop`); hooks of the same class, connection and timeout that ask at the same moment
        (triggers started together) share one lookup. Nothing is kept past it: a hook created later
        looks the connection up again.
        """
        if "settings" in self.__dict__:
            return self.settings
        from airflow_provider_ahgora._offloop import run_off_loop

        key = ("settings", type(self), self.conn_id, self.timeout_override, self._testing)
        settings = await run_off_loop(lambda: self.settings, key=key)
        self.__dict__["settings"] = settings
        return settings

    def get_conn(self) -> requests.Session:
        """The hook's one ``requests.Session`` (keep-alive), with auth and headers set."""
        with self._session_lock:
            if self._session is None:
                settings = self.settings
                session = _Session()
                # connections that register their sockets with the call's deadline (the watchdog)
                session.mount("https://", _DeadlineAdapter())
                session.mount("http://", _DeadlineAdapter())
                session.headers.update(settings.headers)
                if settings.auth is not None:
                    # our own header, not requests' auth (which encodes latin-1 only and raises with
                    # the password in its exception otherwise)
                    session.headers["Authorization"] = basic_authorization(*settings.auth)
                # The proxy and CA-bundle environment (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE, ...)
                # is read once here instead of on every request (requests' trust_env scans the
                # environment per call: ~0.3-0.6 ms, a third of the client's CPU in bulk pushes).
                session.trust_env = False
                session.proxies.update(requests.utils.get_environ_proxies(settings.base_url))
                bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
                if bundle:
                    session.verify = bundle
                self._session = session
            return self._session

    def close(self) -> None:
        """Close the sync path's session (the async path's: :meth:`aclose`)."""
        with self._session_lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    async def aclose(self) -> None:
        """Close both paths' sessions."""
        self.close()
        wire = self.__dict__.pop("_wire", None)
        if wire is not None:
            await wire.close()

    # -- secret hygiene -------------------------------------------------------------------------

    def _scrub(self, text: str, limit: int | None = None) -> str:
        """Server or library text, safe to show: see :class:`SecretScrubber`."""
        settings = self.__dict__.get("settings")
        if settings is None:
            return text if limit is None or len(text) <= limit else text[:limit] + " ..."
        return settings.scrubber.scrub(text, limit)

    # -- one attempt ----------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.settings.base_url}{path}"

    def _attempt(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        decode: Callable[[bytes], Any] | None = None,
    ) -> Any:
        """One HTTP call within one deadline: the parsed JSON answer (None if empty), or a mapped
        exception. ``timeout`` (default: the settings') bounds the whole call. ``decode`` replaces
        ``json.loads`` for a successful answer (it raises ``ValueError`` on what is not JSON); error
        answers are always read the one way."""
        settings = self.settings
        session = self.get_conn()
        url = self._url(path)
        data, sent_headers = _request_body(json_body, data, headers)
        call = _Call(settings.timeout if timeout is None else timeout)
        _WATCHDOG.watch(call)
        _local.call = call
        response: requests.Response | None = None
        raw = b""
        failure: AhgoraError | None = None
        refused: AhgoraConfigError | None = None
        try:
            prepared = _prepare(session, method, url, params, data, sent_headers)
        except (requests.exceptions.RequestException, UnicodeError, ValueError) as exc:
            # raised below, outside this block, so that ``exc`` is not its context
            refused = self._unbuildable(method, path, exc)
        if refused is not None:
            raise refused
        try:
            try:
                response = session.send(
                    prepared,
                    # connect (each connection gets what remains of the deadline: see
                    # _DeadlineConnectionMixin), and each read; the watchdog and the chunk loop bound
                    # the whole call
                    timeout=(call.timeout, call.timeout),
                    stream=True,
                    allow_redirects=False,  # a 3xx is an answer: see _map_error
                    proxies=session.proxies,
                    verify=session.verify,
                    cert=session.cert,
                )
                raw = self._read_body(method, path, response, call)
                if call.expired:
                    # the watchdog cut the socket: what was read (headers, body) may be truncated
                    # and can even look complete (http.client takes an early EOF as the end)
                    raise self._deadline_error(method, path, call)
            except requests.exceptions.RequestException as exc:
                # raised below, not here: raised in this block it would keep ``exc`` as its
                # __context__, and ``exc`` holds the request (its Authorization header)
                failure = self._wire_error(method, path, exc, call)
            except (UnicodeError, ValueError) as exc:
                # http.client refusing a header while sending: its text may quote the value
                failure = self._connection_error(
                    method, path, "the request could not be sent", exc, call.may_have_been_processed(False)
                )
        finally:
            _local.call = None
            _WATCHDOG.finish(call)
            if response is not None:
                response.close()  # releases a fully read connection to the pool, else closes it
        if failure is not None:
            raise failure
        assert response is not None
        return self._handle_response(method, path, response, raw, decode)

    def _read_body(self, method: str, path: str, response: requests.Response, call: _Call) -> bytes:
        """The answer's body, decoded, within the call's deadline and the size limits of
        :class:`_BodyLimit`."""
        body = _BodyLimit(self, method, path, response.status_code, response.headers)
        if body.wanted:
            for chunk in response.iter_content(_CHUNK):
                if body.take(chunk):
                    break
                if time.monotonic() > call.deadline:
                    raise self._deadline_error(method, path, call)
        return body.read()

    def _too_large(
        self, method: str, path: str, status: int, limit: int, seen: str
    ) -> AhgoraMalformedAnswerError:
        return self._malformed(
            method,
            path,
            f"the answer is larger than the {limit} bytes an answer may take ({seen}, after decoding): "
            "not read further (max_answer_bytes of the hook)",
            status,
        )

    def _deadline_error(self, method: str, path: str, call: _Call) -> AhgoraConnectionError:
        processed = call.may_have_been_processed(failed_to_connect=False)
        what = "no complete answer" if processed else "the request was not sent"
        err = AhgoraConnectionError(
            f"{what} within the {call.timeout:g} s deadline (the timeout bounds the whole call: "
            "connect, send, status line, headers and body)",
            method=method,
            url=path,
            service=self.service_name,
        )
        err.may_have_been_processed = processed
        return err

    def _wire_error(
        self, method: str, path: str, exc: requests.exceptions.RequestException, call: _Call
    ) -> AhgoraConnectionError:
        """requests' exceptions, sorted into the kinds both paths share (:meth:`_no_answer`)."""
        failed_to_connect = False
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            kind, failed_to_connect = "connect_timeout", True
        elif call.expired or isinstance(exc, requests.exceptions.ReadTimeout):
            kind = "deadline"
        elif isinstance(exc, requests.exceptions.ConnectionError):
            text = str(exc)
            kind = "connection"
            failed_to_connect = (
                "NewConnectionError" in text or "Failed to resolve" in text or "refused" in text
            )
        elif isinstance(
            exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError
        ):
            kind = "cut"
        else:
            kind = "other"
        return self._no_answer(kind, method, path, exc, call, failed_to_connect)

    def _unbuildable(self, method: str, path: str, exc: BaseException) -> AhgoraConfigError:
        """A request refused while being built (a header value, a URL), on either path: nothing left,
        and repeating it would be refused again."""
        return AhgoraConfigError(
            f"{self.service_name} {method} {path}: the request could not be built "
            f"({type(exc).__name__}: {self._scrub(str(exc), limit=QUOTE_LIMIT)}); nothing was sent"
        )

    def _no_answer(
        self, kind: str, method: str, path: str, exc: BaseException, call: _Call, failed_to_connect: bool
    ) -> AhgoraConnectionError:
        """A call without a complete answer, on either path: ``kind`` (one of
        :data:`NO_ANSWER_KINDS`) worded, and whether the server may have acted on it decided by the
        one rule, :meth:`_Call.may_have_been_processed` (sent or not), never by the wording of the
        library's error alone."""
        if kind == "deadline":
            return self._deadline_error(method, path, call)
        if kind == "cut":
            return self._connection_error(method, path, "answer cut mid-body", exc, processed=True)
        processed = call.may_have_been_processed(failed_to_connect=failed_to_connect)
        if kind == "connect_timeout":
            reason = f"could not connect within the {call.timeout:g} s deadline"
        elif kind == "connection":
            reason = "connection broken during the call" if processed else "could not connect"
        else:
            reason = type(exc).__name__
        return self._connection_error(method, path, reason, exc, processed=processed)

    def _connection_error(
        self, method: str, path: str, reason: str, exc: BaseException, processed: bool
    ) -> AhgoraConnectionError:
        # the underlying error is quoted (masked, then shortened) rather than chained: it is the only
        # place a library could have put something we did not choose to show
        detail = self._scrub(_QUERY.sub("?...", str(exc)), limit=QUOTE_LIMIT)
        err = AhgoraConnectionError(
            f"{reason} ({type(exc).__name__}: {detail})", method=method, url=path, service=self.service_name
        )
        err.may_have_been_processed = processed
        return err

    def _handle_response(
        self,
        method: str,
        path: str,
        response: HttpAnswer,
        raw: bytes,
        decode: Callable[[bytes], Any] | None = None,
    ) -> Any:
        status = response.status_code
        body: Any = None
        parse_failed = False
        if raw and raw.strip():
            try:
                body = decode(raw) if decode is not None and 200 <= status < 300 else json.loads(raw)
            except _UNREADABLE:
                parse_failed = True
        if 200 <= status < 300:
            if parse_failed:
                raise self._malformed(
                    method, path, f"the answer is not JSON: {self._describe_body(response, raw)}", status
                )
            self._check_answer(method, path, response, body, raw)
            return body
        raise self._map_error(method, path, response, body, raw, parse_failed)

    def _check_answer(self, method: str, path: str, response: HttpAnswer, body: Any, raw: bytes) -> None:
        """Hook-specific checks of a successful answer (PontoWeb: the company; Voors: the outcome its
        body repeats)."""

    def _is_api_error(self, body: Any) -> bool:
        """Whether a parsed error body is an error object of the API (not a web server's page).

        The shapes PontoWeb answers with: ``{"error": {...}}``, ``{"error": "..."}``,
        ``{"message", "code"}``. VoorsHook widens this (its error shape is not documented).
        """
        parsed = parse_error_body(body)
        return isinstance(body, Mapping) and (parsed.message is not None or parsed.code is not None)

    def _describe_body(self, response: HttpAnswer, raw: bytes) -> str:
        """What a body that is not the API's looks like, in words, quoting only masked text."""
        if not raw or not raw.strip():
            return "an empty body"
        content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        size = f"{len(raw)} bytes"
        head = raw[:4096]
        if "html" in content_type or head.lstrip()[:1] == b"<":
            title = _TITLE.search(raw[:65536])
            if title:
                text = html.unescape(title.group(1).decode("utf-8", "replace"))
                return f"an HTML page titled '{self._scrub(text, limit=120)}' ({size})"
            return f"an HTML page ({size}): {self._quote(raw)}"
        try:
            value = json.loads(raw)
        except _UNREADABLE:
            kind = content_type or "text"
            return f"a {kind} body ({size}): {self._quote(raw)}"
        return f"JSON that is {_json_kind(value)}, not an error of the API ({size}): {self._quote(raw)}"

    def _describe_location(self, response: HttpAnswer) -> str:
        """Where a redirect points, without its query string, fragment or credentials, masked."""
        location = (response.headers.get("Location") or "").strip()
        if not location:
            return "no address (the answer has no Location header)"
        try:
            parts = urlsplit(location)
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            return "an address that is not a URL"
        where = f"{parts.scheme}://{parts.hostname}{port}{parts.path}" if parts.hostname else parts.path
        return f"'{self._scrub(where, limit=200)}'"

    def _quote(self, raw: bytes, limit: int = 200) -> str:
        # decode a bounded prefix only; the scrubber then masks before it cuts
        return self._scrub(raw[: 8 * limit + 4096].decode("utf-8", "replace"), limit=limit)

    def _map_error(
        self,
        method: str,
        path: str,
        response: HttpAnswer,
        body: Any,
        raw: bytes,
        parse_failed: bool = False,
        status: int | None = None,
    ) -> AhgoraAPIError:
        """The error an answer means. ``status``: the code the body gives for an answer whose HTTP
        status said success (Voors repeats the outcome in its body), read as that HTTP status."""
        if status is None:
            status = response.status_code
        kwargs: dict[str, Any] = {
            "http_status": status,
            "method": method,
            "url": path,
            "service": self.service_name,
        }
        if 300 <= status < 400:
            # never followed (_Session): the first hop reached the server, which may have acted
            return AhgoraRedirectError(
                f"the server redirected the request to {self._describe_location(response)}; redirects are "
                "not followed (they could carry the credentials and the body elsewhere)",
                **kwargs,
            )
        api_body = not parse_failed and self._is_api_error(body)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raw_message = parse_error_body(body).message if api_body else None
        if raw_message is not None:
            message = self._scrub(raw_message, limit=QUOTE_LIMIT)
        elif api_body:
            message = f"{response.reason or 'error'} (the API gave no message)"
        else:
            message = f"the answer is {self._describe_body(response, raw)}, not the API's JSON error"
        lowered = (raw_message or "").lower()  # the verdict reads the API's own words, unmasked
        exc: AhgoraAPIError
        if 400 <= status < 500 and status not in _STATUS_ANYONE and not api_body:
            # a web server's or gateway's page: the base URL points elsewhere; never "absent"
            exc = AhgoraWrongEndpointError(message, **kwargs)
        elif status == 401:
            exc = AhgoraAuthError(message, **kwargs)
        elif status == 403:
            exc = AhgoraPermissionError(message, **kwargs)
        elif status == 404 or (status == 400 and "not found" in lowered):
            exc = AhgoraNotFoundError(message, **kwargs)
        elif status == 410 or (status == 400 and "expired" in lowered):
            exc = AhgoraExpiredError(message, **kwargs)
        elif status == 429 and "daily limit" in lowered:
            exc = AhgoraDailyLimitError(message, **kwargs)
        elif status == 429:
            exc = AhgoraRateLimitError(message, retry_after=retry_after, **kwargs)
            exc.may_have_been_processed = False
        elif status >= 500 or status == 408:
            # a 5xx may come after the server acted on the request: not "safe" to repeat
            exc = AhgoraServerError(message, retry_after=retry_after, **kwargs)
        elif 400 <= status < 500:
            exc = AhgoraBadRequestError(message, **kwargs)
        else:
            exc = AhgoraAPIError(f"unexpected answer ({message})", **kwargs)
        return exc

    # -- answers into models --------------------------------------------------------------------

    def _malformed(
        self, method: str, path: str, what: str, status: int | None = None
    ) -> AhgoraMalformedAnswerError:
        err = AhgoraMalformedAnswerError(
            what, http_status=status, method=method, url=path, service=self.service_name
        )
        err.may_have_been_processed = True
        return err

    def _parse_answer(
        self,
        answer: Any,
        parse: Callable[[Any], T],
        *,
        what: str,
        method: str,
        path: str,
        object_required: bool = True,
    ) -> T:
        """``parse(answer)``, or :class:`~airflow_provider_ahgora.exceptions.AhgoraMalformedAnswerError`
        naming the route and what was wrong (fields and reasons, never the values) when the answer
        is not a valid ``what``. Every hook method that turns an answer into a model goes through
        here: a gateway's odd 200 is transient, never a raw ``ValidationError`` or ``TypeError``."""
        if object_required and not isinstance(answer, Mapping):
            shape = "an empty body" if answer is None else f"{_json_kind(answer)}"
            raise self._malformed(method, path, f"the {what} answer is {shape}, not a JSON object", 200)
        try:
            return parse(answer)
        except AhgoraError:
            raise
        except _INVALID as exc:
            invalid = self._describe_invalid(exc)
        # raised here, not in the except block: a ValidationError's text quotes the values it received,
        # and an exception raised there would keep it as its __context__
        raise self._malformed(method, path, f"the {what} answer is not valid: {invalid}", 200)

    def _describe_invalid(self, exc: BaseException) -> str:
        errors = getattr(exc, "errors", None)
        if callable(errors):
            try:
                items = errors(include_url=False, include_input=False, include_context=False)
            except TypeError:
                items = None
            if items:
                parts = []
                for item in items[:3]:
                    where = ".".join(str(x) for x in item.get("loc", ())) or "(the answer)"
                    parts.append(f"{where}: {str(item.get('msg', '')).removeprefix('Value error, ')}")
                more = f" (and {len(items) - 3} more)" if len(items) > 3 else ""
                return self._scrub("; ".join(parts), limit=QUOTE_LIMIT) + more
        text = str(exc) if type(exc) is ValueError else f"{type(exc).__name__}: {exc}"
        return self._scrub(text, limit=QUOTE_LIMIT)

    # -- retries --------------------------------------------------------------------------------
    #
    # A plain loop rather than tenacity's machinery: building a Retrying per call cost ~70 us of CPU,
    # more than a tenth of a request, and bulk pushes make thousands of calls.

    def _retryable(self, exc: AhgoraTransientError, mode: RetryMode) -> bool:
        """Whether a transient failure may be repeated under ``mode``."""
        if mode == "none" or isinstance(exc, AhgoraWrongEndpointError):
            return False  # a redirect: repeating it gets the same answer
        if mode == "safe":
            return not getattr(exc, "may_have_been_processed", True)
        return True

    def _backoff(self, exc: BaseException, attempt: int) -> float:
        """Seconds to wait after failed ``attempt`` (from 1): ``Retry-After``, else the backoff."""
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), self.retry_max_delay)
        ceiling = min(self.retry_max_delay, self.retry_delay * (2 ** (attempt - 1)))
        # "equal jitter": at least half the exponential delay, plus a random share of the other half
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not crypto

    def _next_wait(
        self, method: str, path: str, exc: AhgoraTransientError, attempt: int, mode: RetryMode
    ) -> float | None:
        """The wait before the next attempt (and its log line), or None when ``exc`` is final."""
        if attempt > self.retry_limit or not self._retryable(exc, mode):
            return None
        wait = self._backoff(exc, attempt)
        self.log.warning(
            "%s %s %s failed (%s); retry %d/%d in %.1f s",
            self.service_name,
            method,
            path,
            self._scrub(short_reason(exc), limit=2 * QUOTE_LIMIT),
            attempt,
            self.retry_limit,
            wait,
        )
        return wait

    def _attempt_parsed(
        self,
        method: str,
        path: str,
        parse: Callable[[Any], Any] | None,
        what: str,
        object_required: bool,
        kwargs: dict[str, Any],
    ) -> Any:
        """One attempt, and its answer turned into a model inside the attempt: a malformed answer is
        retried exactly like a 5xx (where retrying is safe)."""
        answer = self._attempt(method, path, **kwargs)
        if parse is None:
            return answer
        return self._parse_answer(
            answer, parse, what=what, method=method, path=path, object_required=object_required
        )

    def _request(
        self,
        method: str,
        path: str,
        *,
        retry: RetryMode = "all",
        parse: Callable[[Any], T] | None = None,
        what: str = "API",
        object_required: bool = True,
        **kwargs: Any,
    ) -> Any:
        """A call with retries per ``retry``; returns the parsed JSON answer, or ``parse(answer)``
        (see :meth:`_parse_answer`: ``what`` names the answer in messages)."""
        attempt = 1
        while True:
            try:
                return self._attempt_parsed(method, path, parse, what, object_required, kwargs)
            except AhgoraTransientError as exc:
                wait = self._next_wait(method, path, exc, attempt, retry)
                if wait is None:
                    raise
            self.sleep(wait)
            attempt += 1

    async def _arequest(
        self,
        method: str,
        path: str,
        *,
        retry: RetryMode = "all",
        parse: Callable[[Any], T] | None = None,
        what: str = "API",
        object_required: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Async :meth:`_request`, on the event loop: the same retries, answers and failures; the
        backoff sleeps are ``asyncio.sleep``."""
        await self.asettings()
        attempt = 1
        while True:
            try:
                answer = await self._aattempt(method, path, **kwargs)
                if parse is None:
                    return answer
                return self._parse_answer(
                    answer, parse, what=what, method=method, path=path, object_required=object_required
                )
            except AhgoraTransientError as exc:
                wait = self._next_wait(method, path, exc, attempt, retry)
                if wait is None:
                    raise
            await asyncio.sleep(wait)
            attempt += 1

    async def _aattempt(self, method: str, path: str, **options: Any) -> Any:
        """Async :meth:`_attempt` (the same ``options``): one call on the event loop (:mod:`~airflow_
        provider_ahgora.hooks._async`), within the same deadline, its body read within the same
        limits (:class:`_BodyLimit`), its answer read and its failures mapped by the same code
        (:meth:`_handle_response`, :meth:`_no_answer`)."""
        wire = await self._async_wire()
        if wire is None:  # a proxy aiohttp cannot use: the sync attempt, in a worker thread
            return await asyncio.to_thread(self._attempt, method, path, **options)
        from airflow_provider_ahgora.hooks import _async

        unknown = set(options) - {"params", "json_body", "data", "headers", "timeout", "decode"}
        if unknown:
            raise TypeError(f"_aattempt() got unexpected options {sorted(unknown)}")
        url = self._url(path)
        if options.get("params"):
            url = f"{url}?{urlencode(options['params'], doseq=True)}"  # as requests encodes ``params``
        data, sent_headers = _request_body(
            options.get("json_body"), options.get("data"), options.get("headers")
        )
        timeout = options.get("timeout")
        call = _Call(self.settings.timeout if timeout is None else timeout)
        call.tracked = True  # aiohttp says whether it connected: see _async.classify

        def body(status: int, headers: Mapping[str, str]) -> _BodyLimit:
            return _BodyLimit(self, method, path, status, headers)

        failure: AhgoraError | None = None
        try:
            reply, raw = await wire.call(method, url, data, sent_headers, timeout, body)
        except Exception as exc:
            # raised below, not here: raised in this block it would keep ``exc`` (which holds the
            # request, its Authorization header) as its __context__
            sorted_as = _async.classify(exc)
            if sorted_as is not None:
                kind, call.sent = sorted_as
                failure = self._no_answer(kind, method, path, exc, call, failed_to_connect=not call.sent)
            elif isinstance(exc, UnicodeError | ValueError):  # refused while built (a header, a URL)
                failure = self._unbuildable(method, path, exc)
            else:
                raise
        if failure is not None:
            raise failure
        return self._handle_response(method, path, reply, raw, options.get("decode"))

    async def _async_wire(self) -> Any:
        """This hook's :class:`~airflow_provider_ahgora.hooks._async.AsyncWire` (``None``: the
        thread path), made at the first async call, after aiohttp was imported off the loop."""
        if "_wire" not in self.__dict__:
            from airflow_provider_ahgora._offloop import import_off_loop

            await import_off_loop("airflow_provider_ahgora.hooks._async")
            from airflow_provider_ahgora.hooks import _async

            wire = await _async.wire_for(self.settings)
            self.__dict__.setdefault("_wire", wire)
        return self.__dict__["_wire"]

    # -- connection test helpers ------------------------------------------------------------------

    def _masked_password_message(self) -> str | None:
        conn = self.get_connection(self.conn_id)
        if conn.password in _MASKED:
            return (
                "The password field holds the masked placeholder '***', not the secret: type the "
                "password (or token) again in the form before pressing Test."
            )
        return None

    def _probe(self, method: str, path: str, **kwargs: Any) -> Any:
        """The connection test's one call: a single attempt, no retries, a short deadline."""
        timeout = min(self.settings.timeout, TEST_TIMEOUT)
        return self._attempt(method, path, timeout=timeout, **kwargs)

    def _test_failure(self, exc: BaseException) -> str:
        """Why a connection test failed, in words a user of the connection form understands."""
        service = self.service_name
        settings = self.__dict__.get("settings")
        where = f" at {settings.base_url}" if settings is not None else ""
        if isinstance(exc, AhgoraConfigError):
            return str(exc)
        if isinstance(exc, AhgoraMalformedAnswerError):
            return (
                f"The server{where} answered, but not as the {service} API does ({exc.api_message}): check "
                f"the {self.host_field} (the API base URL, including its path)."
            )
        if isinstance(exc, AhgoraConnectionError):
            return (
                f"Could not reach {service}{where}: {exc.api_message}. Check the {self.host_field} "
                "(scheme, host name, port) and that this Airflow can reach that address; the test made one "
                "attempt."
            )
        if isinstance(exc, AhgoraWrongEndpointError):
            return (
                f"The server{where} is not the {service} API: it answered HTTP {exc.http_status} with "
                f"{exc.api_message.removeprefix('the answer is ')}. Check the {self.host_field} (the API "
                "base URL, including its path)."
            )
        if isinstance(exc, AhgoraTransientError):
            return (
                f"{service}{where} answered HTTP {exc.http_status} ({exc.api_message}): it looks unavailable "
                "right now. Try the test again later."
            )
        if isinstance(exc, AhgoraAPIError):
            return (
                f"{service}{where} answered HTTP {exc.http_status} ({exc.api_message}) to the test call: "
                "check the connection's fields."
            )
        if isinstance(exc, AhgoraError):
            return self._scrub(str(exc), limit=2 * QUOTE_LIMIT)
        return self._scrub(
            f"The test failed unexpectedly: {type(exc).__name__}: {exc}", limit=2 * QUOTE_LIMIT
        )

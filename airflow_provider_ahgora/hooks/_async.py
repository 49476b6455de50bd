"""The async wire: the hooks' calls made on the event loop itself, with aiohttp (for triggers).

The sync path (:mod:`airflow_provider_ahgora.hooks._base`) defines what a call promises; this path
keeps the same promises by calling the same code, not a copy of it: the answer is read by the hook's
``_handle_response`` (the API's errors, a web server's pages, a malformed 2xx, ``Retry-After``, the
company check, redirects), the body is read within the hook's limits (``_BodyLimit``: the largest
answer, the prefix of an error), a call without a complete answer fails through the hook's
``_no_answer`` (its wording, and the one rule of "may have been processed": sent once connected),
nothing is chained to aiohttp's exceptions, server text is quoted through the same
:class:`~airflow_provider_ahgora.hooks._base.SecretScrubber`, retries follow the same rules. What is
aiohttp's own lives here: the session and how aiohttp's exceptions are sorted into those failures.

* **One session per hook**, created on the loop at the first call, kept alive between polls.
* **The timeout is a deadline**: aiohttp's ``total`` timeout covers the connection, the request, the
  status line, the headers and the body, so a server that trickles its answer cannot outlive it.
* **Proxy and CA bundle as on the sync path**: the proxy ``requests`` would take from the
  environment for the base URL (read once), and the CA bundle it would verify with
  (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, else certifi's), loaded once per process in a worker
  thread. A SOCKS proxy, which aiohttp cannot use, leaves the hook on the thread path (:func:`wire_for`).
* **Redirects are never followed**, as on the sync path: a 3xx is an answer, which the hook reads
  as :class:`~airflow_provider_ahgora.exceptions.AhgoraRedirectError` (its body unread).
* **Nothing is sent twice behind the hook's back**: aiohttp repeats an idempotent request once when
  a kept-alive connection breaks; that is turned off, whether to repeat is the hook's decision alone.

This module imports aiohttp (about half a second the first time): only the triggers' off-loop
preload (:func:`airflow_provider_ahgora.triggers._base.load_hook_module`) and the hooks' async path,
after that preload, import it; operators and sensors never do.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import aiohttp
import requests
from yarl import URL

from airflow_provider_ahgora.hooks._base import basic_authorization

if TYPE_CHECKING:
    from airflow_provider_ahgora.hooks._base import WireSettings

__all__ = ["AsyncWire", "Reply", "wire_for"]

#: Bytes read at a time, as on the sync path.
CHUNK = 65536
#: Seconds an idle kept-alive connection is kept (aiohttp's default, 15 s, is shorter than most poll
#: intervals: every poll would open a new connection, and a new TLS session).
KEEPALIVE = 120.0

_CONTEXTS: dict[tuple[str, str], ssl.SSLContext] = {}
_CONTEXTS_LOCK = threading.Lock()


class Reply(NamedTuple):
    """What the hook's ``_handle_response`` reads of an answer (the attributes of a
    ``requests.Response`` it uses)."""

    status_code: int
    reason: str | None
    headers: Mapping[str, str]


def _ca_location() -> tuple[str, str]:
    """Where ``requests`` would find its CA certificates: ``("cafile" | "capath", path)``."""
    bundle = (
        os.environ.get("REQUESTS_CA_BUNDLE")
        or os.environ.get("CURL_CA_BUNDLE")
        or requests.utils.DEFAULT_CA_BUNDLE_PATH
    )
    return ("capath" if os.path.isdir(bundle) else "cafile", bundle)


def _context(where: tuple[str, str]) -> ssl.SSLContext:
    """The TLS context verifying against ``where``, built once per process (it reads files: call it
    off the loop the first time)."""
    with _CONTEXTS_LOCK:
        context = _CONTEXTS.get(where)
        if context is None:
            kind, path = where
            if kind == "capath":
                context = ssl.create_default_context(capath=path)
            else:
                context = ssl.create_default_context(cafile=path)
            _CONTEXTS[where] = context
        return context


def _proxy(base_url: str) -> str | None:
    """The proxy ``requests`` would use for ``base_url`` from the environment (NO_PROXY honoured)."""
    proxies = requests.utils.get_environ_proxies(base_url)
    return requests.utils.select_proxy(base_url, proxies) if proxies else None


async def wire_for(settings: WireSettings) -> AsyncWire | None:
    """The async wire of a hook with ``settings``; ``None`` when aiohttp cannot reach the API the way
    the sync path would (a SOCKS proxy): the hook then runs each attempt in a worker thread."""
    from airflow_provider_ahgora._offloop import run_off_loop

    base_url = settings.base_url

    def prepare() -> tuple[str | None, ssl.SSLContext | None]:  # reads the environment and files
        proxy = _proxy(base_url)
        tls = _context(_ca_location()) if base_url.startswith("https:") else None
        return proxy, tls

    # one worker-thread call for every hook of that API that starts meanwhile (a triggerer starting
    # its triggers): a thread each would take the interpreter's lock from the loop a thousand times
    proxy, tls = await run_off_loop(prepare, key=("wire", base_url))
    if proxy is not None and not proxy.lower().startswith(("http://", "https://")):
        return None
    return AsyncWire(settings, proxy, tls)


class AsyncWire:
    """One hook's aiohttp session and how its calls go out (see the module documentation)."""

    def __init__(self, settings: WireSettings, proxy: str | None, tls: ssl.SSLContext | None) -> None:
        headers = dict(settings.headers)
        if settings.auth is not None:
            headers["Authorization"] = basic_authorization(*settings.auth)  # the sync path's encoding
        self._headers = headers
        self._timeout = settings.timeout
        self._tls: ssl.SSLContext | bool = tls if tls is not None else True
        self._proxy: URL | None = None
        self._proxy_headers: dict[str, str] | None = None
        if proxy:
            url = URL(proxy)
            if url.user is not None:
                self._proxy_headers = {
                    "Proxy-Authorization": aiohttp.BasicAuth(url.user, url.password or "").encode()
                }
                url = url.with_user(None)
            self._proxy = url
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            ssl=self._tls,
            keepalive_timeout=KEEPALIVE,
            # deadlines are kept to the hundredth, not rounded up to the next second above 5 s
            timeout_ceil_threshold=float("inf"),
        )
        session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            trust_env=False,  # the proxy was read once, the way requests reads it
        )
        # never resend on our behalf (see the module documentation); the switch exists since aiohttp 3.11
        session._retry_connection = False
        return session

    async def call(
        self,
        method: str,
        url: str,
        data: bytes | None,
        headers: Mapping[str, str],
        timeout: float | None,
        body: Callable[[int, Mapping[str, str]], Any],
    ) -> tuple[Reply, bytes]:
        """One HTTP call: the answer and its body, within the deadline, read as far as ``body(status,
        headers)`` (the hook's :class:`~airflow_provider_ahgora.hooks._base._BodyLimit`) lets it;
        aiohttp's exceptions as they come (:func:`classify` sorts them)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop:
            # a session belongs to the loop it was opened on: a hook used again from another loop
            # (another asyncio.run) gets a new one (the old one's connections went with its loop)
            self._session, self._loop = self._open(), loop
        options: dict[str, Any] = {}
        if timeout is not None:
            options["timeout"] = aiohttp.ClientTimeout(total=timeout)
        async with self._session.request(
            method,
            URL(url, encoded=True),  # the path and query were quoted by the hook, as on the sync path
            data=data,
            headers=headers or None,
            proxy=self._proxy,
            proxy_headers=self._proxy_headers,
            allow_redirects=False,  # a 3xx is an answer, as on the sync path
            **options,
        ) as response:
            limit = body(response.status, response.headers)
            if limit.wanted:
                async for chunk in response.content.iter_chunked(CHUNK):
                    if limit.take(chunk):
                        break
            return Reply(response.status, response.reason, response.headers), limit.read()

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and self._loop is asyncio.get_running_loop():
            await session.close()


def classify(exc: BaseException) -> tuple[str, bool] | None:
    """The kind of failure (one of the hook's ``NO_ANSWER_KINDS``) an aiohttp exception is, and
    whether the request was sent (aiohttp had a connection for it: the one rule of "may have been
    processed" then says yes); ``None`` for an exception that is not aiohttp's, or a request aiohttp
    refused to build (the hook reports those as it reports the sync path's)."""
    if isinstance(exc, aiohttp.InvalidURL):  # refused while built: not a failure of the wire
        return None
    if isinstance(exc, aiohttp.ConnectionTimeoutError):  # the deadline passed while connecting
        return "connect_timeout", False
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, name not resolved, TLS refused, proxy
        return "connection", False
    if isinstance(exc, asyncio.TimeoutError):  # after the connection: a timeout while connecting is the above
        return "deadline", True
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "cut", True
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientResponseError)):
        return "connection", True
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        return "other", True
    return None

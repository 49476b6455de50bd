"""The async path (aiohttp, on the event loop) reads every answer and every failure as the sync path
(requests) does: the same exception, message, HTTP status, ``Retry-After`` and "may have been
processed", for the same server behaviour on real sockets. Also what is the async path's own: its
session, its deadline, nothing resent behind the hook's back, one connection lookup for many hooks.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from typing import Any

import pytest

from airflow_provider_ahgora.exceptions import (
    AhgoraAuthError,
    AhgoraConfigError,
    AhgoraConnectionError,
    AhgoraError,
    AhgoraMalformedAnswerError,
    AhgoraNotFoundError,
    AhgoraRateLimitError,
    AhgoraRedirectError,
    AhgoraServerError,
    AhgoraWrongEndpointError,
)
from airflow_provider_ahgora.hooks import _async
from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
from tests.conftest import PONTOWEB_PASSWORD
from tests.unit.hooks.conftest import FakeHandler, json_answer, point_pontoweb_at

STATUS = {"status": "processing", "process": "p", "company": "c1", "progress": {"done": 1, "total": 10}}


def raw(status: int, body: bytes, content_type: str = "application/json", **headers: str) -> Any:
    def answer(handler: FakeHandler) -> None:
        extra = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
        head = f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
        head += f"Content-Length: {len(body)}\r\n{extra}\r\n"
        handler.send_bytes(head.encode() + body)

    return answer


def cut_body(handler: FakeHandler) -> None:
    """Headers announcing 500 bytes, 20 of them, then the connection closes."""
    handler.send_bytes(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n")
    handler.send_bytes(b'{"status": "process')
    handler.close_connection = True
    handler.connection.shutdown(socket.SHUT_RDWR)


def unannounced(status: int, body: bytes) -> Any:
    """An answer without a Content-Length: its end is the connection's."""

    def answer(handler: FakeHandler) -> None:
        handler.send_bytes(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        handler.close_connection = True

    return answer


def redirect(handler: FakeHandler) -> None:
    """The status path moved to another path of the same server, which answers."""
    if handler.path.startswith("/moved"):
        json_answer(200, STATUS)(handler)
    else:
        handler.send_bytes(b"HTTP/1.1 302 Found\r\nLocation: /moved\r\nContent-Length: 0\r\n\r\n")


def redirect_loop(handler: FakeHandler) -> None:
    """Every path redirects to another one, forever."""
    hop = int(handler.path.rpartition("/")[2]) + 1 if handler.path.startswith("/hop/") else 0
    handler.send_bytes(f"HTTP/1.1 302 Found\r\nLocation: /hop/{hop}\r\nContent-Length: 0\r\n\r\n".encode())


def no_answer(handler: FakeHandler) -> None:
    """The request is read, then the connection closes without a word."""
    handler.close_connection = True
    handler.connection.shutdown(socket.SHUT_RDWR)


ECHO = (
    f'{{"error": {{"code": 401, "message": "bad credentials for svc-user:{PONTOWEB_PASSWORD} '
    f'({json.dumps(PONTOWEB_PASSWORD)[1:-1]})"}}}}'
).encode()

SCENARIOS = {
    "ok": (json_answer(200, STATUS), None),
    "api-401": (json_answer(401, {"error": {"code": 401, "message": "Unauthorized"}}), AhgoraAuthError),
    "process-not-found": (json_answer(400, {"error": "Process not found"}), AhgoraNotFoundError),
    "nginx-404": (
        raw(404, b"<html><title>404 Not Found</title></html>", "text/html"),
        AhgoraWrongEndpointError,
    ),
    "rate-limit": (raw(429, b'{"error": "slow down"}', Retry_After="7"), AhgoraRateLimitError),
    "gateway-503": (raw(503, b"upstream unavailable", "text/plain"), AhgoraServerError),
    "not-json": (raw(200, b"<html>hello</html>", "text/html"), AhgoraMalformedAnswerError),
    "empty-object": (json_answer(200, {}), AhgoraMalformedAnswerError),
    "echoed-password": (raw(401, ECHO), AhgoraAuthError),
    "cut-mid-body": (cut_body, AhgoraConnectionError),
    "no-answer": (no_answer, AhgoraConnectionError),
    "held-past-the-deadline": (lambda h: h.hold(5), AhgoraConnectionError),
    "redirected": (redirect, AhgoraRedirectError),
    "redirect-loop": (redirect_loop, AhgoraRedirectError),
    "too-large-announced": (raw(200, b'{"status": "' + b"x" * 5000 + b'"}'), AhgoraMalformedAnswerError),
    "too-large-read": (unannounced(200, b'{"status": "' + b"x" * 5000 + b'"}'), AhgoraMalformedAnswerError),
    "huge-error-page": (
        raw(503, b"<html>" + b"x" * (2 * 1024 * 1024) + b"</html>", "text/html"),
        AhgoraServerError,
    ),
    "deep-json": (raw(200, b"[" * 100_000 + b"]" * 100_000), AhgoraMalformedAnswerError),
}
#: Every scenario runs with this ``max_answer_bytes`` (the too-large ones exceed it).
MAX_ANSWER_BYTES = 4096


def outcome(call: Any) -> tuple[Any, ...]:
    """What a caller can see of a call's outcome: the model, or the error's class, message, HTTP
    status, ``Retry-After``, "may have been processed", and whether anything is chained to it (the
    HTTP library's exceptions hold the request, its headers included). A connection error quotes the
    library's own exception after its reason, ``(ClientPayloadError: ...)``: that quote is the one
    part that differs by path, and is left out."""
    try:
        result = call()
    except AhgoraError as exc:
        message = str(exc)
        if isinstance(exc, AhgoraConnectionError):
            message = re.sub(r" \([A-Za-z]+: .*?\)(?=\. |$)", "", message)
        return (
            type(exc),
            message,
            getattr(exc, "http_status", None),
            getattr(exc, "retry_after", None),
            getattr(exc, "may_have_been_processed", None),
            exc.__cause__ is not None or (exc.__context__ is not None and not exc.__suppress_context__),
        )
    return ("ok", result.model_dump())


def sync_call(**options: Any) -> Any:
    return lambda: PontoWebHook(**{"retry_limit": 0, **options}).get_reckon_status("p")


def async_call(**options: Any) -> Any:
    async def call() -> Any:
        hook = PontoWebHook(**{"retry_limit": 0, **options})
        try:
            return await hook.aget_reckon_status("p")
        finally:
            await hook.aclose()

    return lambda: asyncio.run(call())


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_both_paths_read_the_same_outcome(fake_server, monkeypatch, scenario):
    answer, expected = SCENARIOS[scenario]
    server = fake_server(answer)
    point_pontoweb_at(monkeypatch, server.url)
    sync = outcome(sync_call(timeout=1, max_answer_bytes=MAX_ANSWER_BYTES))
    asynchronous = outcome(async_call(timeout=1, max_answer_bytes=MAX_ANSWER_BYTES))
    assert asynchronous == sync
    assert sync[0] == (expected or "ok")
    assert sync[0] == "ok" or sync[5] is False  # nothing chained
    assert PONTOWEB_PASSWORD not in repr(sync)
    methods = {request[0] for request in server.requests}
    assert methods == {"GET"}
    assert len(server.requests) % 2 == 0  # as many requests on each path
    if expected is AhgoraRedirectError:  # never followed
        assert [request[1] for request in server.requests] == ["/reckons/process/status/p"] * 2


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        (["gateway-503", "no-answer", "ok"], "ok"),  # retried on both paths, up to the answer
        (["rate-limit", "ok"], "ok"),  # after Retry-After (capped by retry_max_delay)
        (["gateway-503"], AhgoraServerError),  # retried until retry_limit, then final
        (["api-401", "ok"], AhgoraAuthError),  # never retried
    ],
)
def test_both_paths_retry_alike(fake_server, monkeypatch, answers, expected):
    """The same answers one after the other: the same outcome after the same number of requests."""
    served: list[int] = []

    def answer(handler: FakeHandler) -> None:
        served.append(1)
        SCENARIOS[answers[min(len(served), len(answers)) - 1]][0](handler)

    server = fake_server(answer)
    point_pontoweb_at(monkeypatch, server.url)
    options = {"timeout": 1, "retry_limit": 3, "retry_delay": 0.01, "retry_max_delay": 0.05}
    seen = []
    for call in (sync_call, async_call):
        served.clear()
        seen.append((outcome(call(**options)), len(served)))
    assert seen[0] == seen[1]
    assert seen[0][0][0] == expected


def test_connection_refused_reads_the_same(monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    point_pontoweb_at(monkeypatch, f"http://127.0.0.1:{port}")
    sync = outcome(sync_call(timeout=1))
    asynchronous = outcome(async_call(timeout=1))
    for seen in (sync, asynchronous):
        assert seen[0] is AhgoraConnectionError
        assert seen[4] is False  # nothing was sent: safe to repeat
        assert "could not connect" in seen[1]


def test_an_untrusted_certificate_reads_the_same(fake_server, monkeypatch, tls_server_context):
    """The server's certificate is not in the CA bundle requests would use: refused before anything
    was sent, on both paths."""
    server = fake_server(json_answer(200, STATUS), tls=tls_server_context)
    point_pontoweb_at(monkeypatch, server.url)
    sync = outcome(sync_call(timeout=2))
    asynchronous = outcome(async_call(timeout=2))
    for seen in (sync, asynchronous):
        assert seen[0] is AhgoraConnectionError
        assert seen[4] is False
    assert server.requests == []


async def test_tls_with_the_bundle_requests_would_use(
    fake_server, monkeypatch, tls_files, tls_server_context
):
    server = fake_server(json_answer(200, STATUS), tls=tls_server_context)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_files[0])
    point_pontoweb_at(monkeypatch, server.url)
    hook = PontoWebHook(retry_limit=0, timeout=2)
    try:
        for _ in range(5):
            assert (await hook.aget_reckon_status("p")).status == "processing"
    finally:
        await hook.aclose()
    assert server.connections == 1  # one kept-alive connection for every poll


async def test_the_async_path_sends_what_the_sync_path_sends(fake_server, monkeypatch):
    server = fake_server(json_answer(200, STATUS))
    point_pontoweb_at(monkeypatch, server.url, accept_version="v1")
    hook = PontoWebHook(retry_limit=0)
    hook.get_reckon_status("p/1")
    await hook.aget_process(subunique="s 1&x")
    hook.get_process(subunique="s 1&x")
    await hook.aget_reckon_status("p/1")
    await hook.aclose()
    (m1, p1, h1, _), (m2, p2, h2, _), (m3, p3, h3, _), (m4, p4, h4, _) = server.requests
    assert (m1, p1) == (m4, p4) == ("GET", "/reckons/process/status/p%2F1")
    assert (m2, p2) == (m3, p3)
    for name in ("Authorization", "Accept", "Accept-Version", "User-Agent"):
        assert h1[name] == h4[name]
        assert h2[name] == h3[name]


async def test_a_broken_kept_alive_connection_is_not_resent_behind_the_hooks_back(fake_server, monkeypatch):
    """aiohttp repeats an idempotent request once when a kept-alive connection breaks; the hook alone
    decides what is repeated (here: nothing, retry_limit=0)."""
    calls: list[int] = []

    def answer(handler: FakeHandler) -> None:
        calls.append(1)
        if len(calls) == 1:
            json_answer(200, STATUS)(handler)
        else:
            no_answer(handler)

    server = fake_server(answer)
    point_pontoweb_at(monkeypatch, server.url)
    hook = PontoWebHook(retry_limit=0, timeout=2)
    try:
        await hook.aget_reckon_status("p")
        with pytest.raises(AhgoraConnectionError, match="connection broken") as info:
            await hook.aget_reckon_status("p")
    finally:
        await hook.aclose()
    assert info.value.may_have_been_processed is True
    assert len(server.requests) == 2


async def test_the_deadline_bounds_the_whole_call(fake_server, monkeypatch):
    """Each byte well within the timeout, the whole answer far past it."""

    def trickle(handler: FakeHandler) -> None:
        handler.trickle(handler.raw_answer(200, json.dumps(STATUS).encode()), 0.1)

    server = fake_server(trickle)
    point_pontoweb_at(monkeypatch, server.url)
    hook = PontoWebHook(retry_limit=0, timeout=1)
    t0 = time.monotonic()
    with pytest.raises(AhgoraConnectionError, match="within the 1 s deadline") as info:
        await hook.aget_reckon_status("p")
    assert time.monotonic() - t0 < 3
    assert info.value.may_have_been_processed is True
    await hook.aclose()


def test_every_aiohttp_failure_is_a_kind_both_paths_share():
    """Each aiohttp exception is sorted into a kind the sync path reports too, with whether the
    request was sent: before aiohttp had a connection, no (safe to repeat); after, yes."""
    import aiohttp

    from airflow_provider_ahgora.hooks._base import NO_ANSWER_KINDS

    key = aiohttp.client_reqrep.ConnectionKey("h", 1, False, True, None, None, None)
    cases = {
        aiohttp.ConnectionTimeoutError(): ("connect_timeout", False),
        aiohttp.ClientConnectorError(key, OSError(111, "refused")): ("connection", False),
        aiohttp.ClientConnectorCertificateError(key, OSError("bad certificate")): ("connection", False),
        asyncio.TimeoutError(): ("deadline", True),
        aiohttp.ClientPayloadError("cut"): ("cut", True),
        aiohttp.ServerDisconnectedError(): ("connection", True),
        aiohttp.ClientOSError(104, "reset"): ("connection", True),
        aiohttp.ClientError("odd"): ("other", True),
        ValueError("not aiohttp's"): None,
        aiohttp.InvalidURL("http://\\x00"): None,
    }
    for exc, sorted_as in cases.items():
        assert _async.classify(exc) == sorted_as, exc
    assert {k[0] for k in cases.values() if k is not None} == NO_ANSWER_KINDS


@pytest.mark.parametrize("bad", [".", ".."])
async def test_dot_segment_ids_are_refused_before_anything_is_sent(fake_server, monkeypatch, bad):
    server = fake_server(json_answer(200, STATUS))
    point_pontoweb_at(monkeypatch, server.url)
    hook = PontoWebHook(retry_limit=0)
    try:
        with pytest.raises(AhgoraConfigError, match="dot segment"):
            await hook.aget_reckon_status(bad)
    finally:
        await hook.aclose()
    assert server.requests == []


async def test_hooks_that_start_together_look_the_connection_up_once(monkeypatch):
    """Many triggers starting at once (a triggerer restart) cost one lookup, made in a worker thread."""
    import threading

    from airflow.providers.common.compat.sdk import BaseHook

    point_pontoweb_at(monkeypatch, "https://pontoweb.test")
    lookups: list[bool] = []
    real = BaseHook.get_connection.__func__  # type: ignore[attr-defined]
    loop_thread = threading.get_ident()

    def counted(cls: Any, conn_id: str) -> Any:
        lookups.append(threading.get_ident() == loop_thread)
        time.sleep(0.2)  # a slow secrets backend: the other hooks arrive while it runs
        return real(cls, conn_id)

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(counted))
    hooks = [PontoWebHook() for _ in range(50)]
    settings = await asyncio.gather(*(hook.asettings() for hook in hooks))
    assert lookups == [False]  # once, and not on the loop's thread
    assert all(s is settings[0] for s in settings)
    later = PontoWebHook()
    await later.asettings()  # nothing kept once the lookup is over
    assert lookups == [False, False]


async def test_a_request_refused_while_built_is_a_config_error_on_both_paths(fake_server, monkeypatch):
    """A header value no HTTP request can carry: refused before anything is sent, not retried."""
    server = fake_server(json_answer(200, STATUS))
    point_pontoweb_at(monkeypatch, server.url)
    hook = PontoWebHook(retry_limit=0)
    bad = {"X-Note": "line\r\nX-Injected: 1"}
    try:
        with pytest.raises(AhgoraConfigError, match="could not be built") as sync:
            hook._attempt("GET", "/reckons/process/status/p", headers=bad)
        await hook.asettings()
        with pytest.raises(AhgoraConfigError, match="could not be built") as asynchronous:
            await hook._aattempt("GET", "/reckons/process/status/p", headers=bad)
    finally:
        await hook.aclose()
    assert server.requests == []
    for info in (sync, asynchronous):
        assert info.value.__cause__ is None
        assert info.value.__context__ is None

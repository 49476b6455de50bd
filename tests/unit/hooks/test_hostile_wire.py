"""The wire layer against a hostile server, from an adversarial review: redirects, deadlines that are
not numbers, the connect phase, hostile bodies (deep nesting, huge, gzip bombs), exception chains
that could reach a secret, ids that are dot segments, and the pool's hand-over of a connection.
Real sockets on 127.0.0.1; every server stops by itself (tests/unit/hooks/conftest.py)."""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import threading
import time
import traceback
import tracemalloc

import pytest
from urllib3.connectionpool import HTTPConnectionPool

from airflow_provider_ahgora.exceptions import (
    AhgoraConfigError,
    AhgoraConnectionError,
    AhgoraError,
    AhgoraMalformedAnswerError,
    AhgoraReadInterruptedError,
    AhgoraRedirectError,
    AhgoraServerError,
    AhgoraTransientError,
    AhgoraWrongEndpointError,
)
from airflow_provider_ahgora.hooks import _base
from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
from airflow_provider_ahgora.hooks.voors import VoorsHook
from tests.conftest import PONTOWEB_PASSWORD, VOORS_TOKEN, SleepRecorder
from tests.unit.hooks.conftest import MAX_SECONDS, json_answer, point_pontoweb_at, point_voors_at

STATUS = {"status": "processing", "process": "p", "progress": {"done": 1, "total": 10}}
START = {"rescission": False, "month": "01", "year": "2025", "paymentDate": "2025-02-05"}
MIB = 1024 * 1024


def _hook(**kwargs) -> PontoWebHook:
    hook = PontoWebHook(**{"retry_limit": 0, **kwargs})
    hook.sleep = SleepRecorder()
    return hook


def _free_port() -> int:
    """A loopback port nobody listens on: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _trickle_all(handler) -> None:
    handler.trickle(handler.raw_answer(200, json.dumps(STATUS).encode()), 0.1)


def _assert_a_trickled_call_is_cut_in_time(fake_server, monkeypatch) -> None:
    """The watchdog works: a call with a 1 s deadline on a server that trickles its answer is cut."""
    server = fake_server(_trickle_all)
    point_pontoweb_at(monkeypatch, server.url)
    t0 = time.monotonic()
    with pytest.raises(AhgoraConnectionError, match="1 s deadline"):
        _hook(timeout=1).get_reckon_status("p")
    assert time.monotonic() - t0 < 3


# ==================================================================================================
# Redirects are answers, never followed
# ==================================================================================================


class TestRedirects:
    @pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
    def test_a_redirected_reckon_start_is_sent_once_and_may_have_been_processed(
        self, fake_server, monkeypatch, status
    ):
        # the server started (and paid for) the reckon, then redirected to a host that refuses: the
        # old client followed, took the refusal for "nothing happened" and started it 4 more times
        refusing = _free_port()

        def answer(handler):
            handler.send_bytes(
                f"HTTP/1.1 {status} Moved\r\nLocation: http://127.0.0.1:{refusing}/x?token=abc\r\n"
                "Content-Length: 0\r\n\r\n".encode()
            )

        server = fake_server(answer)
        point_pontoweb_at(monkeypatch, server.url)
        hook = _hook(retry_limit=4)
        with pytest.raises(AhgoraRedirectError) as info:
            hook.start_reckon(START)
        exc = info.value
        assert [r[0] for r in server.requests] == ["POST"]
        assert hook.sleep.calls == []
        # the base URL is wrong, and the outcome unknown: both, so that every engine is careful
        assert isinstance(exc, AhgoraWrongEndpointError)
        assert isinstance(exc, AhgoraTransientError)
        assert exc.may_have_been_processed is True
        assert exc.http_status == status
        assert f"'http://127.0.0.1:{refusing}/x'" in str(exc)
        assert "token=abc" not in str(exc)  # the Location's query string is never quoted

    def test_a_redirected_read_is_not_followed_nor_repeated(self, fake_server, monkeypatch):
        elsewhere = fake_server(json_answer(200, STATUS))
        head = f"HTTP/1.1 302 Found\r\nLocation: {elsewhere.url}/status\r\nContent-Length: 0\r\n\r\n"
        server = fake_server(lambda h: h.send_bytes(head.encode()))
        point_pontoweb_at(monkeypatch, server.url)
        hook = _hook(retry_limit=3)
        with pytest.raises(AhgoraRedirectError):
            hook.get_reckon_status("p")
        assert len(server.requests) == 1  # a redirect is not retried: it would answer the same
        assert elsewhere.requests == []  # the credentials never left for the other address

    def test_a_redirects_body_is_not_read(self, fake_server, monkeypatch):
        # requests reads a redirect's whole body to prepare the next request: a trickled one held
        # the call until its deadline
        def answer(handler):
            body = b"x" * 200
            head = f"HTTP/1.1 307 Temporary\r\nLocation: /elsewhere\r\nContent-Length: {len(body)}\r\n\r\n"
            handler.send_bytes(head.encode())
            handler.trickle(body, 0.1)

        server = fake_server(answer)
        point_pontoweb_at(monkeypatch, server.url)
        t0 = time.monotonic()
        with pytest.raises(AhgoraRedirectError, match="'/elsewhere'"):
            _hook(timeout=5).get_reckon_status("p")
        assert time.monotonic() - t0 < 2.5


# ==================================================================================================
# The deadline is a number, and the watchdog never dies
# ==================================================================================================


class TestDeadlineValues:
    @pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400", "0", "-1", "86401", "abc", True])
    def test_a_timeout_extra_without_a_finite_bound_is_refused(self, fake_server, monkeypatch, value):
        server = fake_server(json_answer(200, STATUS))
        point_pontoweb_at(monkeypatch, server.url, timeout=value)
        with pytest.raises(AhgoraConfigError, match="extra timeout must be a number of seconds"):
            _hook().get_reckon_status("p")
        assert server.requests == []

    @pytest.mark.parametrize("value", [float("nan"), float("inf"), 0, -2, 86400.5])
    def test_a_timeout_argument_without_a_finite_bound_is_refused(self, value):
        with pytest.raises(AhgoraConfigError, match="timeout must be a number of seconds"):
            PontoWebHook(timeout=value)
        with pytest.raises(AhgoraConfigError, match="timeout must be a number of seconds"):
            VoorsHook(timeout=value)

    def test_a_day_and_fractions_are_accepted(self, fake_server, monkeypatch):
        server = fake_server(json_answer(200, STATUS))
        point_pontoweb_at(monkeypatch, server.url, timeout="86400")
        assert _hook().settings.timeout == 86400
        assert _hook(timeout=0.5).settings.timeout == 0.5

    def test_a_call_without_a_finite_deadline_does_not_kill_the_watchdog(self, fake_server, monkeypatch):
        # a wait of inf (or nan) seconds raised OverflowError in the watchdog thread, which died:
        # every later call of every hook in the process lost its deadline
        endless = _base._Call(3600)
        endless.deadline = float("inf")
        _base._WATCHDOG.watch(endless)
        try:
            time.sleep(0.3)
            assert _base._WATCHDOG._thread is not None
            assert _base._WATCHDOG._thread.is_alive()
            _assert_a_trickled_call_is_cut_in_time(fake_server, monkeypatch)
        finally:
            _base._WATCHDOG.finish(endless)

    def test_a_dead_watchdog_is_started_again(self, fake_server, monkeypatch):
        dead = threading.Thread(target=lambda: None)
        dead.start()
        dead.join()
        monkeypatch.setattr(_base._WATCHDOG, "_thread", dead)
        _assert_a_trickled_call_is_cut_in_time(fake_server, monkeypatch)
        assert _base._WATCHDOG._thread is not dead
        assert _base._WATCHDOG._thread.is_alive()

    def test_the_watchdog_outlives_an_error_of_its_own(self, fake_server, monkeypatch, caplog):
        real = _base._WATCHDOG._expire_due
        failures = []

        def fails_once(cond):
            if not failures:
                failures.append(1)
                raise RuntimeError("boom")
            return real(cond)

        warm = _base._Call(1)
        _base._WATCHDOG.watch(warm)  # the thread runs before the failure is planted
        _base._WATCHDOG.finish(warm)
        monkeypatch.setattr(_base._WATCHDOG, "_expire_due", fails_once)
        _assert_a_trickled_call_is_cut_in_time(fake_server, monkeypatch)
        assert failures == [1]
        assert "keeps running" in caplog.text


# ==================================================================================================
# Connecting is under the deadline too
# ==================================================================================================


@pytest.fixture
def blackhole():
    """A loopback port whose accept queue is full: a SYN to it is dropped, connect() hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.2)
    probe = socket.socket()
    probe.settimeout(0.5)
    try:
        probe.connect(("127.0.0.1", port))
        pytest.skip("this kernel accepts past a full queue: no silent port to test with")
    except TimeoutError:
        pass
    finally:
        probe.close()
    yield port
    for filler in fillers:
        filler.close()
    listener.close()


def _named(hook: PontoWebHook, port: int) -> None:
    """Make the hook connect to ``pontoweb.example`` (resolved by the test's own getaddrinfo)."""
    hook.settings  # noqa: B018 - resolve the connection, then point it at the name
    object.__setattr__(hook.settings, "base_url", f"http://pontoweb.example:{port}")


class TestConnectPhase:
    def test_every_address_of_a_name_shares_one_deadline(self, blackhole, monkeypatch):
        real = socket.getaddrinfo

        def three_silent(host, port, *args, **kwargs):  # a name with three addresses, all silent
            if host == "pontoweb.example":
                return real("127.0.0.1", blackhole, socket.AF_INET, socket.SOCK_STREAM)[:1] * 3
            return real(host, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", three_silent)
        point_pontoweb_at(monkeypatch, f"http://127.0.0.1:{blackhole}")
        hook = _hook(timeout=1)
        _named(hook, blackhole)
        t0 = time.monotonic()
        with pytest.raises(AhgoraConnectionError, match="could not connect within the 1 s deadline") as info:
            hook.get_reckon_status("p")
        assert time.monotonic() - t0 < 2.5  # each address got the whole second: 3 s
        assert info.value.may_have_been_processed is False

    def test_a_slow_name_lookup_ends_at_the_deadline_and_sends_nothing(self, fake_server, monkeypatch):
        server = fake_server(json_answer(200, STATUS))
        port = int(server.url.rsplit(":", 1)[1])
        real = socket.getaddrinfo
        release = threading.Event()

        def slow(host, *args, **kwargs):
            if host == "pontoweb.example":
                release.wait(4)
                return real("127.0.0.1", *args, **kwargs)
            return real(host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", slow)
        point_pontoweb_at(monkeypatch, server.url)
        hook = _hook(timeout=1)
        _named(hook, port)
        t0 = time.monotonic()
        try:
            with pytest.raises(AhgoraConnectionError, match="name lookup") as info:
                hook.get_reckon_status("p")
            assert time.monotonic() - t0 < 2.5  # the lookup took 4 s, the deadline 1 s
        finally:
            release.set()
        # nothing reached the server, and the error says so: safe to repeat, even a reckon start
        assert info.value.may_have_been_processed is False
        assert server.requests == []

    def test_a_failed_tls_handshake_is_not_a_request_sent(self, fake_server, monkeypatch, tls_server_context):
        server = fake_server(json_answer(200, STATUS), tls=tls_server_context)  # a certificate not trusted
        point_pontoweb_at(monkeypatch, server.url)
        with pytest.raises(AhgoraConnectionError, match="could not connect") as info:
            _hook(timeout=5).get_reckon_status("p")
        assert info.value.may_have_been_processed is False
        assert server.requests == []

    def test_a_plain_http_connection_refused_is_not_a_request_sent(self, monkeypatch):
        # http.client connects while it sends: the call was marked sent before the connection existed
        point_pontoweb_at(monkeypatch, f"http://127.0.0.1:{_free_port()}")
        hook = _hook(retry_limit=2)
        with pytest.raises(AhgoraConnectionError, match="could not connect") as info:
            hook.start_reckon(START)
        assert info.value.may_have_been_processed is False
        assert len(hook.sleep.calls) == 2  # refused: retried even by retry="safe"


# ==================================================================================================
# Hostile bodies
# ==================================================================================================

DEEP = b"[" * 200_000 + b"]" * 200_000


class TestHostileBodies:
    @pytest.mark.parametrize(
        ("status", "expected"),
        [(200, AhgoraMalformedAnswerError), (404, AhgoraWrongEndpointError), (503, AhgoraServerError)],
    )
    def test_deeply_nested_json_is_mapped_like_any_unreadable_body(
        self, fake_server, monkeypatch, status, expected
    ):
        server = fake_server(lambda h: h.send_bytes(h.raw_answer(status, DEEP)))
        point_pontoweb_at(monkeypatch, server.url)
        with pytest.raises(expected):
            _hook().get_reckon_status("p")

    async def test_on_the_async_path_too(self, fake_server, monkeypatch):
        server = fake_server(lambda h: h.send_bytes(h.raw_answer(200, DEEP)))
        point_pontoweb_at(monkeypatch, server.url)
        with pytest.raises(AhgoraMalformedAnswerError):
            await _hook().aget_reckon_status("p")

    @pytest.mark.parametrize("raw", [True, False], ids=["raw-page", "models"])
    def test_a_results_page_too_deep_is_an_interrupted_read(self, fake_server, monkeypatch, raw):
        page = b'{"company": "a1", "total": 1, "data": [' + DEEP + b"]}"
        server = fake_server(lambda h: h.send_bytes(h.raw_answer(200, page)))
        point_pontoweb_at(monkeypatch, server.url)
        with pytest.raises(AhgoraReadInterruptedError, match="not JSON"):
            next(_hook().iter_reckon_results("u1", raw=raw))

    def test_a_model_too_deep_to_build_is_malformed(self, fake_server, monkeypatch):
        hook = _hook()

        def parse(answer):
            raise RecursionError("maximum recursion depth exceeded")

        with pytest.raises(AhgoraMalformedAnswerError, match="RecursionError"):
            hook._parse_answer({"a": 1}, parse, what="test", method="GET", path="/x")

    def test_an_answer_announced_larger_than_the_limit_is_not_read(self, fake_server, monkeypatch):
        def answer(handler):  # announces 100 MiB, sends a little, then holds
            head = (
                f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {100 * MIB}\r\n\r\n["
            )
            handler.send_bytes(head.encode())
            handler.hold(10)

        server = fake_server(answer)
        point_pontoweb_at(monkeypatch, server.url)
        t0 = time.monotonic()
        with pytest.raises(AhgoraMalformedAnswerError, match=f"larger than the {64 * MIB} bytes") as info:
            _hook(timeout=5).get_reckon_status("p")
        assert time.monotonic() - t0 < 2.5
        assert info.value.may_have_been_processed is True

    def test_a_gzip_bomb_is_cut_at_the_limit(self, fake_server, monkeypatch):
        payload = gzip.compress(b" " * (48 * MIB), compresslevel=9)  # ~47 KB on the wire

        def answer(handler):
            handler.send_bytes(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n".encode()
                + payload
            )

        server = fake_server(answer)
        point_voors_at(monkeypatch, server.url)
        hook = VoorsHook(retry_limit=0)
        hook.max_answer_bytes = 4 * MIB
        tracemalloc.start()
        try:
            with pytest.raises(AhgoraMalformedAnswerError, match=f"larger than the {4 * MIB} bytes"):
                hook.list("departments")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 16 * MIB, f"{peak / MIB:.0f} MiB held for a 4 MiB limit"

    def test_the_limit_is_a_setting(self):
        assert PontoWebHook().max_answer_bytes == _base.DEFAULT_MAX_ANSWER_BYTES == 64 * MIB
        assert PontoWebHook(max_answer_bytes=10 * MIB).max_answer_bytes == 10 * MIB
        with pytest.raises(AhgoraConfigError, match="max_answer_bytes"):
            VoorsHook(max_answer_bytes=0)

    def test_of_a_huge_error_answer_only_a_prefix_is_read(self, fake_server, monkeypatch):
        size = 24 * MIB
        block = b"x" * MIB

        def answer(handler):
            handler.send_bytes(
                f"HTTP/1.1 503 Busy\r\nContent-Type: text/plain\r\nContent-Length: {size}\r\n\r\n".encode()
            )
            started = time.monotonic()
            for _ in range(size // len(block)):
                if handler.server.fake.stop.is_set() or time.monotonic() - started > MAX_SECONDS:
                    return
                try:
                    handler.wfile.write(block)
                except OSError:
                    return

        server = fake_server(answer)
        point_pontoweb_at(monkeypatch, server.url)
        tracemalloc.start()
        try:
            with pytest.raises(AhgoraServerError, match="text/plain body"):
                _hook(timeout=10).get_reckon_status("p")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 8 * MIB, f"{peak / MIB:.0f} MiB held for an error answer"


# ==================================================================================================
# No exception of ours reaches a request, or text that was not masked
# ==================================================================================================


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def _assert_clean(exc: BaseException, *secrets: str) -> None:
    for link in _chain(exc):
        assert isinstance(link, AhgoraError), f"{type(link).__name__} in the chain of {type(exc).__name__}"
        assert getattr(link, "request", None) is None
    shown = "".join(traceback.format_exception(exc))
    for secret in secrets:
        assert secret not in shown


class TestExceptionChains:
    def test_a_connection_error_keeps_no_request(self, fake_server, monkeypatch):
        def cut(handler):  # the request arrives, the connection is cut without an answer
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)

        server = fake_server(cut)
        point_voors_at(monkeypatch, server.url)
        with pytest.raises(AhgoraConnectionError) as info:
            VoorsHook(retry_limit=0).list("departments")
        _assert_clean(info.value, VOORS_TOKEN)

    def test_a_malformed_answer_keeps_no_validation_error(self, fake_server, monkeypatch):
        # a gateway echoes the password in a field of the wrong type: pydantic quotes the value
        server = fake_server(json_answer(200, {"status": "done", "progress": PONTOWEB_PASSWORD}))
        point_pontoweb_at(monkeypatch, server.url)
        with pytest.raises(AhgoraMalformedAnswerError) as info:
            _hook().get_reckon_status("p")
        _assert_clean(info.value, PONTOWEB_PASSWORD)

    def test_an_interrupted_read_chains_only_our_own_error(self, fake_server, monkeypatch):
        def cut(handler):
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)

        server = fake_server(cut)
        point_pontoweb_at(monkeypatch, server.url)
        with pytest.raises(AhgoraReadInterruptedError) as info:
            next(_hook().iter_reckon_results("u1"))
        assert isinstance(info.value.__cause__, AhgoraConnectionError)
        _assert_clean(info.value, PONTOWEB_PASSWORD)

    async def test_on_the_async_path_too(self, fake_server, monkeypatch):
        server = fake_server(json_answer(200, {"status": "done", "progress": PONTOWEB_PASSWORD}))
        point_pontoweb_at(monkeypatch, server.url)
        with pytest.raises(AhgoraMalformedAnswerError) as info:
            await _hook().aget_reckon_status("p")
        _assert_clean(info.value, PONTOWEB_PASSWORD)


# ==================================================================================================
# Ids that would change the route
# ==================================================================================================


class TestDotSegments:
    @pytest.mark.parametrize("bad", [".", ".."])
    def test_voors_ids_that_are_dot_segments_are_refused(self, fake_server, monkeypatch, bad):
        server = fake_server(json_answer(200, {"data": {"message": "Registro deletado"}}))
        point_voors_at(monkeypatch, server.url + "/integration")
        hook = VoorsHook(retry_limit=0)
        for call in (
            lambda: hook.delete("departments", bad),
            lambda: hook.get("departments", bad),
            lambda: hook.upsert("departments", {"name": "Vendas"}, id=bad),
        ):
            with pytest.raises(AhgoraConfigError, match="dot segment"):
                call()
        assert server.requests == []  # DELETE /integration/departments/.. was DELETE /integration/

    @pytest.mark.parametrize("bad", [".", ".."])
    def test_pontoweb_ids_and_paths_too(self, fake_server, monkeypatch, bad):
        server = fake_server(json_answer(200, STATUS))
        point_pontoweb_at(monkeypatch, server.url)
        hook = _hook()
        for call in (
            lambda: hook.get_reckon_status(bad),
            lambda: hook.reconsume(bad),
            lambda: hook.push(f"/costcenter/{bad}/x", [{"codigo": "1", "nome": "RH"}]),
        ):
            with pytest.raises(AhgoraConfigError, match="dot segment"):
                call()
        assert server.requests == []

    def test_dots_inside_an_id_are_kept(self, fake_server, monkeypatch):
        server = fake_server(json_answer(200, STATUS))
        point_pontoweb_at(monkeypatch, server.url)
        _hook().get_reckon_status("a..b")
        assert server.requests[0][1] == "/reckons/process/status/a..b"


# ==================================================================================================
# A connection back in the pool leaves its call
# ==================================================================================================


def test_a_deadline_passing_after_the_answer_cannot_cut_the_pooled_connection(fake_server, monkeypatch):
    """urllib3 puts the connection back in the pool as soon as the answer is read, before the call
    ends. Were the call's deadline to pass in that window, the watchdog would shut the socket down
    under the next call to take it (which would fail as if its request had been sent). Here the
    deadline passes exactly then, every time: the next call must find the connection intact."""
    real_put = HTTPConnectionPool._put_conn

    def put_then_deadline(pool, conn):
        real_put(pool, conn)
        call = _base._current_call()
        if call is not None:
            for sock in list(call.socks):  # what the watchdog does at a call's deadline
                _base._shutdown(sock)

    monkeypatch.setattr(HTTPConnectionPool, "_put_conn", put_then_deadline)
    server = fake_server(json_answer(200, STATUS))
    point_pontoweb_at(monkeypatch, server.url)
    hook = _hook()
    for _ in range(5):
        assert hook.get_reckon_status("p").status == "processing"
    assert server.connections == 1


# ==================================================================================================
# A second review of the wire layer (each test failed before its fix)
# ==================================================================================================


def _pipe(a: socket.socket, b: socket.socket, stop: threading.Event) -> None:
    try:
        while not stop.is_set():
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (a, b):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _slow_connect_proxy(stop: threading.Event, tunnel_seconds: float, origin_port: int | None) -> int:
    """An HTTPS proxy on 127.0.0.1 whose CONNECT takes ``tunnel_seconds``; then it relays to the
    origin after 0.4 s more (a slow handshake), or, without one, says nothing (no ServerHello)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    srv.settimeout(0.2)

    def run() -> None:
        conns = []
        end = time.monotonic() + MAX_SECONDS
        while not stop.is_set() and time.monotonic() < end:
            try:
                client, _ = srv.accept()
            except OSError:
                continue
            conns.append(client)
            client.recv(65536)  # the CONNECT request
            stop.wait(tunnel_seconds)
            try:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            except OSError:
                continue
            if origin_port is not None:
                stop.wait(0.4)
                origin = socket.create_connection(("127.0.0.1", origin_port))
                threading.Thread(target=_pipe, args=(client, origin, stop), daemon=True).start()
                threading.Thread(target=_pipe, args=(origin, client, stop), daemon=True).start()
        for client in conns:
            client.close()
        srv.close()

    threading.Thread(target=run, daemon=True).start()
    return srv.getsockname()[1]


def _through_proxy(monkeypatch, port: int) -> None:
    for var in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")


def test_connected_only_after_the_deadline_is_not_processed(
    fake_server, monkeypatch, tls_files, tls_server_context
):
    """A connection ready only once the deadline passed (a slow tunnel, then a slow handshake): the
    reckon start never left, so it is not processed (was True: a human asked to check for a paid
    duplicate that could not exist)."""
    origin = fake_server(json_answer(200, {"process": "p"}), tls=tls_server_context)
    stop = threading.Event()
    try:
        _through_proxy(monkeypatch, _slow_connect_proxy(stop, 0.9, int(origin.url.rsplit(":", 1)[1])))
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_files[0])
        point_pontoweb_at(monkeypatch, origin.url)
        hook = PontoWebHook(retry_limit=0, timeout=1)
        hook.sleep = SleepRecorder()
        with pytest.raises(AhgoraConnectionError) as info:
            hook.start_reckon(START)
        time.sleep(0.3)
        assert origin.requests == []
        assert info.value.may_have_been_processed is False
    finally:
        stop.set()


def test_the_tls_handshake_after_a_proxy_tunnel_is_under_the_deadline(monkeypatch):
    """The tunnel took most of the deadline and the origin never answers the handshake: the call
    ends near its deadline (it took 1.9 s for 1 s: the handshake got the whole timeout again)."""
    stop = threading.Event()
    try:
        _through_proxy(monkeypatch, _slow_connect_proxy(stop, 0.9, None))
        point_pontoweb_at(monkeypatch, "https://api.example.invalid")
        hook = PontoWebHook(retry_limit=0, timeout=1)
        hook.sleep = SleepRecorder()
        started = time.monotonic()
        with pytest.raises(AhgoraConnectionError) as info:
            hook.get_reckon_status("p")
        assert time.monotonic() - started < 1.6
        assert info.value.may_have_been_processed is False
    finally:
        stop.set()


@pytest.mark.parametrize("secret", ["pw-S3cr\u20act-7d1f0e", "senha-\u4e2d\u6587-7d1f"])
def test_a_password_outside_latin_1_is_sent_as_utf_8(fake_server, monkeypatch, secret):
    """requests encodes Basic credentials in latin-1 only and raised a UnicodeEncodeError holding the
    whole password; the hook encodes them in UTF-8 then (RFC 7617) and masks that form too."""
    import base64

    from tests.conftest import set_conn

    server = fake_server(json_answer(200, STATUS))
    set_conn(
        monkeypatch, "pontoweb_default", conn_type="pontoweb", host=server.url, login="svc", password=secret
    )
    hook = PontoWebHook(retry_limit=0)
    hook.get_reckon_status("p")
    sent = server.requests[0][2]["Authorization"]
    assert base64.b64decode(sent.split(" ", 1)[1]).decode("utf-8") == f"svc:{secret}"
    assert hook.settings.scrub(f"echo {sent} and {secret}") == "echo *** and ***"


@pytest.mark.parametrize(
    ("token", "kind"),
    [("tok-S3cr\u20act-9a8b7c", "outside latin-1"), ("tok-S3cr3t-9a8b7c\n0d1e2f", "control character")],
)
def test_a_token_no_header_can_carry_is_refused_before_any_request(fake_server, monkeypatch, token, kind):
    """A Voors token with a character outside latin-1 escaped as a raw UnicodeEncodeError holding it;
    one pasted with a line break inside was 'may have been processed' and retried."""
    from tests.conftest import set_conn

    server = fake_server(json_answer(200, {"data": {"departments": []}}))
    set_conn(monkeypatch, "voors_default", conn_type="voors", host=server.url, password=token)
    with pytest.raises(AhgoraConfigError, match=kind) as info:
        VoorsHook(retry_limit=2).list("departments")
    assert "9a8b7c" not in str(info.value)
    assert server.requests == []


def test_a_login_with_a_colon_is_refused(monkeypatch):
    from tests.conftest import set_conn

    set_conn(
        monkeypatch,
        "pontoweb_default",
        conn_type="pontoweb",
        host="http://127.0.0.1:9",
        login="a:b",
        password="pw-long",
    )
    with pytest.raises(AhgoraConfigError, match="':'"):
        _ = PontoWebHook().settings


@pytest.mark.parametrize("code", ["\u00b2\u00b9", "1" * 5000, "400.5"])
def test_a_voors_code_that_is_no_http_status_is_ignored(fake_server, monkeypatch, code):
    """str.isdigit() accepts superscripts, which int() refuses, and 5000 digits exceed Python's int
    limit: both escaped as a raw ValueError from a 2xx (a create then counted as not sent)."""
    body = {"status": "success", "code": code, "data": {"department": {"id": 1, "name": "Financeiro"}}}
    server = fake_server(json_answer(200, body))
    point_voors_at(monkeypatch, server.url)
    assert VoorsHook(retry_limit=0).get("departments", 1) is not None


def _voors_errors():
    from airflow_provider_ahgora.exceptions import AhgoraBadRequestError, AhgoraNotFoundError

    return [
        pytest.param({"status": "success", "code": 400.0}, AhgoraMalformedAnswerError, id="float-code"),
        pytest.param({"status": "erro", "code": "400"}, AhgoraBadRequestError, id="portuguese"),
        pytest.param({"status": 404}, AhgoraNotFoundError, id="numeric-status"),
        pytest.param({"status": "error", "code": "429"}, AhgoraTransientError, id="rate-limit-in-body"),
    ]


@pytest.mark.parametrize(("body", "error"), _voors_errors())
def test_voors_outcome_in_the_body_under_other_spellings(fake_server, monkeypatch, body, error):
    server = fake_server(json_answer(200, body))
    point_voors_at(monkeypatch, server.url)
    with pytest.raises(error) as info:
        VoorsHook(retry_limit=0).upsert("departments", {"name": "Financeiro"})
    if isinstance(info.value, AhgoraTransientError):
        # a 2xx said done and the body said otherwise: an unknown outcome, never "surely not sent"
        assert info.value.may_have_been_processed is True
    assert len(server.requests) == 1


def test_connection_errors_quote_no_query_string(monkeypatch):
    """urllib3's text holds the whole URL: a goals filter's e-mail (personal data) was in the message."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    point_voors_at(monkeypatch, f"http://127.0.0.1:{port}")
    hook = VoorsHook(retry_limit=0)
    with pytest.raises(AhgoraConnectionError) as info:
        next(hook.iter_goals("2025-01-01", "2025-01-31", email="pedro.s@email.com.br"))
    assert "email" not in str(info.value)
    assert "pedro" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (
            "<p>Invalid password Senha-For&ccedil;a-S&atilde;o-Jos&eacute; for svc</p>",
            "Senha-For\u00e7a-S\u00e3o-Jos\u00e9",
        ),
        ("login failed with password 'Senha\\'Forte#2024'", "Senha'Forte#2024"),
        ('{"detail":"upstream refused the login svc:pw-S3cr3t-7d"}', "pw-S3cr3t-7d1f0e"),
        ("invalid token tok-S3cr3t-9a...", "tok-S3cr3t-9a8b7c"),
        (
            "G\u0130R\u0130\u015e (\u0130\u0130\u0130\u0130\u0130\u0130): token tok-S3cr3t-9a8b7",
            "tok-S3cr3t-9a8b7c",
        ),
    ],
    ids=["php-htmlentities", "backslash-quote", "cut-inside-json", "cut-then-ellipsis", "cut-after-dotted-i"],
)
def test_more_echoes_are_masked(text, secret):
    """PHP's htmlentities (&ccedil;), addslashes (\\'), a secret the server cut short followed by
    closing quotes or an ellipsis, and a cut after characters whose lower case is longer ('\u0130')."""
    shown = _base.SecretScrubber([secret]).scrub(text, limit=300)
    assert "***" in shown
    assert secret[:8] not in shown
    assert "S3cr3t" not in shown
    assert "Forte" not in shown


def test_a_redirect_ends_the_waits_at_once(fake_server, monkeypatch):
    """A redirect is transient for one call, but answers every poll the same: the reckon sensor poked
    on until its timeout (the triggers already stopped)."""
    from airflow_provider_ahgora.sensors.reckon import PontoWebReckonSensor

    def redirect(handler):
        handler.send_bytes(
            b"HTTP/1.1 301 Moved Permanently\r\nLocation: https://elsewhere.example/x\r\n"
            b"Content-Length: 0\r\n\r\n"
        )

    server = fake_server(redirect)
    point_pontoweb_at(monkeypatch, server.url)
    sensor = PontoWebReckonSensor(task_id="wait", process="p")
    sensor.hook.retry_limit = 0
    with pytest.raises(AhgoraRedirectError):
        sensor.poke({})
    assert len(server.requests) == 1

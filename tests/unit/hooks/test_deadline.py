"""The timeout is a deadline for the whole call (class 9): a server that trickles its answer a byte at
a time, or holds the request, cannot keep a call alive past it, on the sync and the async path alike.
Real sockets on 127.0.0.1 (requests' own timeout is per socket read: that is the bug these catch)."""

from __future__ import annotations

import json
import logging
import socket
import time

import pytest

from airflow_provider_ahgora.exceptions import AhgoraConnectionError, AhgoraReadInterruptedError
from airflow_provider_ahgora.hooks import _base
from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
from airflow_provider_ahgora.hooks.voors import VoorsHook
from tests.conftest import SleepRecorder
from tests.unit.hooks.conftest import json_answer, point_pontoweb_at, point_voors_at

STATUS = {"status": "processing", "process": "p", "progress": {"done": 1, "total": 10}}


def _trickle_all(delay: float = 0.1):
    """The status line, the headers and the body, one byte every ``delay`` seconds."""

    def answer(handler):
        body = json.dumps(STATUS).encode()
        handler.trickle(handler.raw_answer(200, body), delay)

    return answer


def _trickle_headers(delay: float = 0.1):
    """The status line at once, then the headers and the body one byte every ``delay`` seconds."""

    def answer(handler):
        raw = handler.raw_answer(200, json.dumps(STATUS).encode())
        status_line = raw[: raw.index(b"\r\n") + 2]
        handler.send_bytes(status_line)
        handler.trickle(raw[len(status_line) :], delay)

    return answer


def _trickle_body(delay: float = 0.1):
    """Status line and headers at once, then the body one byte every ``delay`` seconds."""

    def answer(handler):
        body = json.dumps({**STATUS, "pad": "x" * 200}).encode()
        raw = handler.raw_answer(200, body)
        head = raw[: len(raw) - len(body)]
        handler.send_bytes(head)
        handler.trickle(body, delay)

    return answer


def _hook(**kwargs) -> PontoWebHook:
    hook = PontoWebHook(retry_limit=0, **kwargs)
    hook.sleep = SleepRecorder()
    return hook


def _assert_deadline(exc: AhgoraConnectionError, seconds: float) -> None:
    assert f"within the {seconds:g} s deadline" in str(exc)
    assert exc.may_have_been_processed is True


class TestDeadline:
    @pytest.mark.parametrize("trickle", [_trickle_all, _trickle_headers], ids=["status-line", "headers"])
    def test_trickled_status_line_and_headers_stop_at_the_deadline(
        self, fake_server, monkeypatch, caplog, trickle
    ):
        caplog.set_level(logging.DEBUG)
        server = fake_server(trickle())  # ~15 s for the whole answer, each byte well within 1 s
        point_pontoweb_at(monkeypatch, server.url)
        hook = _hook(timeout=1)
        t0 = time.monotonic()
        with pytest.raises(AhgoraConnectionError) as info:
            hook.get_reckon_status("p")
        elapsed = time.monotonic() - t0
        assert elapsed < 4, f"the call lasted {elapsed:.1f} s with a 1 s timeout"
        _assert_deadline(info.value, 1)
        # urllib3's warning about the headers the watchdog cut is not repeated in the task log
        assert "Failed to parse headers" not in caplog.text

    def test_trickled_body_stops_at_the_deadline(self, fake_server, monkeypatch):
        server = fake_server(_trickle_body())
        point_pontoweb_at(monkeypatch, server.url)
        t0 = time.monotonic()
        with pytest.raises(AhgoraConnectionError) as info:
            _hook(timeout=1).get_reckon_status("p")
        assert time.monotonic() - t0 < 4
        _assert_deadline(info.value, 1)

    def test_the_connections_timeout_extra_is_the_deadline(self, fake_server, monkeypatch):
        server = fake_server(_trickle_all())
        point_pontoweb_at(monkeypatch, server.url, timeout=1)
        t0 = time.monotonic()
        with pytest.raises(AhgoraConnectionError, match="1 s deadline"):
            _hook().get_reckon_status("p")
        assert time.monotonic() - t0 < 4

    def test_a_held_request_names_the_deadline(self, fake_server, monkeypatch):
        server = fake_server(lambda h: h.hold(10))
        point_voors_at(monkeypatch, server.url)
        hook = VoorsHook(retry_limit=0, timeout=0.5)
        t0 = time.monotonic()
        with pytest.raises(AhgoraConnectionError) as info:
            hook.list("departments")
        assert time.monotonic() - t0 < 3
        _assert_deadline(info.value, 0.5)

    def test_a_trickled_results_read_is_never_repeated(self, fake_server, monkeypatch):
        # the page may have been consumed before the answer crawled in: reconsume, never re-read
        server = fake_server(_trickle_body())
        point_pontoweb_at(monkeypatch, server.url)
        hook = PontoWebHook(retry_limit=3, timeout=1)
        hook.sleep = SleepRecorder()
        with pytest.raises(AhgoraReadInterruptedError, match="deadline"):
            next(hook.iter_reckon_results("u1"))
        assert len(server.requests) == 1
        assert hook.sleep.calls == []

    def test_a_deadline_cut_is_retried_where_repeating_is_safe(self, fake_server, monkeypatch):
        calls = []

        def answer(handler):
            calls.append(1)
            if len(calls) == 1:
                _trickle_all()(handler)
            else:
                json_answer(200, STATUS)(handler)

        server = fake_server(answer)
        point_pontoweb_at(monkeypatch, server.url)
        hook = PontoWebHook(retry_limit=2, timeout=1)
        hook.sleep = SleepRecorder()
        assert hook.get_reckon_status("p").status == "processing"
        assert len(server.requests) == 2
        assert len(hook.sleep.calls) == 1

    @pytest.mark.parametrize("trickle", [_trickle_all, _trickle_body], ids=["headers", "body"])
    def test_over_tls_too(self, fake_server, monkeypatch, tls_files, tls_server_context, trickle):
        server = fake_server(trickle(), tls=tls_server_context)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_files[0])  # trust the test's own certificate
        point_pontoweb_at(monkeypatch, server.url)
        hook = _hook(timeout=1)
        t0 = time.monotonic()
        with pytest.raises(AhgoraConnectionError) as info:
            hook.get_reckon_status("p")
        assert time.monotonic() - t0 < 4
        _assert_deadline(info.value, 1)

    def test_tls_answers_in_time_pass(self, fake_server, monkeypatch, tls_files, tls_server_context):
        server = fake_server(json_answer(200, STATUS), tls=tls_server_context)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_files[0])
        point_pontoweb_at(monkeypatch, server.url)
        hook = _hook(timeout=2)
        for _ in range(20):
            assert hook.get_reckon_status("p").status == "processing"
        assert server.connections == 1

    async def test_the_async_path_has_the_same_deadline(self, fake_server, monkeypatch):
        server = fake_server(_trickle_all())
        point_pontoweb_at(monkeypatch, server.url)
        t0 = time.monotonic()
        with pytest.raises(AhgoraConnectionError) as info:
            await _hook(timeout=1).aget_reckon_status("p")
        assert time.monotonic() - t0 < 4
        _assert_deadline(info.value, 1)

    def test_answers_in_time_keep_one_connection_and_leave_nothing_behind(self, fake_server, monkeypatch):
        server = fake_server(json_answer(200, STATUS))
        point_pontoweb_at(monkeypatch, server.url)
        hook = _hook(timeout=5)
        for _ in range(400):
            assert hook.get_reckon_status("p").status == "processing"
        assert server.connections == 1  # keep-alive survives the deadline machinery
        # finished calls do not pile up in the watchdog's heap
        assert len(_base._WATCHDOG._heap) <= 600

    def test_connection_refused_is_not_a_deadline(self, monkeypatch):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        point_pontoweb_at(monkeypatch, f"http://127.0.0.1:{port}")
        with pytest.raises(AhgoraConnectionError, match="could not connect") as info:
            _hook(timeout=1).get_reckon_status("p")
        assert info.value.may_have_been_processed is False


class TestWatchdog:
    def test_cuts_the_socket_of_a_late_call_only(self):
        class Conn:
            def __init__(self, sock):
                self.sock = sock

        late_a, late_b = socket.socketpair()
        ok_a, ok_b = socket.socketpair()
        try:
            late = _base._Call(0.2)
            on_time = _base._Call(0.2)
            for call, sock in ((late, late_a), (on_time, ok_a)):
                _base._WATCHDOG.watch(call)
                _base._WATCHDOG.attach(call, Conn(sock), sock)
            assert _base._WATCHDOG.finish(on_time) is False
            late_a.settimeout(3)
            t0 = time.monotonic()
            assert late_a.recv(1) == b""  # woken by the shutdown, not by the 3 s socket timeout
            assert time.monotonic() - t0 < 1.5
            assert _base._WATCHDOG.finish(late) is True
            ok_b.sendall(b"x")
            assert ok_a.recv(1) == b"x"  # the call that finished in time keeps its socket
        finally:
            for sock in (late_a, late_b, ok_a, ok_b):
                sock.close()

    def test_a_reused_connection_leaves_the_earlier_call(self):
        class Conn:
            def __init__(self, sock):
                self.sock = sock

        a, b = socket.socketpair()
        try:
            conn = Conn(a)
            first, second = _base._Call(0.2), _base._Call(30)
            _base._WATCHDOG.watch(first)
            _base._WATCHDOG.attach(first, conn, a)
            _base._WATCHDOG.watch(second)
            _base._WATCHDOG.attach(second, conn, a)  # kept alive, now serving the second call
            time.sleep(0.5)  # the first call's deadline passes while it was never marked done
            b.sendall(b"y")
            a.settimeout(2)
            assert a.recv(1) == b"y"
            _base._WATCHDOG.finish(first)
            _base._WATCHDOG.finish(second)
        finally:
            a.close()
            b.close()

    def test_heap_is_compacted(self):
        calls = [_base._Call(3600) for _ in range(2000)]
        for call in calls:
            _base._WATCHDOG.watch(call)
        for call in calls:
            _base._WATCHDOG.finish(call)
        assert len(_base._WATCHDOG._heap) < 600

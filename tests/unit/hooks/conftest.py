"""Fakes shared by the hook tests: a small stdlib HTTP server on 127.0.0.1 that misbehaves on purpose
(trickles its answer, holds the request, answers a web server's page), where real sockets matter.

Every server stops by itself: each scripted answer gives up when the test ends (the fixture sets a
stop event, shuts the server down and closes its sockets), and no write loop outlasts ``MAX_SECONDS``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import PONTOWEB_PASSWORD, VOORS_TOKEN, set_conn

#: No scripted answer lasts longer than this, whatever it was asked to do.
MAX_SECONDS = 15.0

Answer = Callable[["FakeHandler"], None]


class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _FakeHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fake = self.server.fake
        with fake.lock:
            fake.requests.append((self.command, self.path, dict(self.headers), body))
        fake.answer(self)

    do_GET = do_POST = do_PUT = do_DELETE = _any

    # -- answers ----------------------------------------------------------------------------------

    def raw_answer(self, status: int, body: bytes, content_type: str = "application/json") -> bytes:
        head = f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        return head.encode() + body

    def send_bytes(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            pass

    def trickle(self, data: bytes, delay: float) -> None:
        """Send ``data`` one byte at a time, ``delay`` seconds apart (stops when the test ends)."""
        stop = self.server.fake.stop
        started = time.monotonic()
        for i in range(len(data)):
            if stop.wait(delay) or time.monotonic() - started > MAX_SECONDS:
                return
            try:
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
            except OSError:  # the client gave up: what a deadline is for
                return

    def hold(self, seconds: float) -> None:
        """Say nothing for ``seconds`` (or until the test ends), then close."""
        self.server.fake.stop.wait(min(seconds, MAX_SECONDS))
        self.close_connection = True


class _FakeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeServer

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        with self.fake.lock:
            self.fake.connections += 1
            self.fake.sockets.append(conn)
        return conn, addr


class FakeServer:
    """A scripted HTTP server on 127.0.0.1: ``answer(handler)`` answers every request. With
    ``tls`` (an ``ssl.SSLContext``) it speaks HTTPS."""

    def __init__(self, answer: Answer, tls: ssl.SSLContext | None = None) -> None:
        self.answer = answer
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.connections = 0
        self.sockets: list[socket.socket] = []
        self.scheme = "https" if tls is not None else "http"
        self._server = _FakeHTTPServer(("127.0.0.1", 0), FakeHandler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self.stop.set()
        self._server.shutdown()
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def fake_server() -> Iterator[Callable[..., FakeServer]]:
    """``fake_server(answer, tls=None)`` starts a :class:`FakeServer`; all are stopped when the test
    ends."""
    servers: list[FakeServer] = []

    def start(answer: Answer, tls: ssl.SSLContext | None = None) -> FakeServer:
        server = FakeServer(answer, tls)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def json_answer(status: int, value: Any) -> Answer:
    body = json.dumps(value).encode()

    def answer(handler: FakeHandler) -> None:
        handler.send_bytes(handler.raw_answer(status, body))

    return answer


def point_pontoweb_at(monkeypatch: pytest.MonkeyPatch, url: str, **extra: Any) -> None:
    set_conn(
        monkeypatch,
        "pontoweb_default",
        conn_type="pontoweb",
        host=url,
        login="svc-user",
        password=PONTOWEB_PASSWORD,
        extra=extra,
    )


def point_voors_at(monkeypatch: pytest.MonkeyPatch, url: str, **extra: Any) -> None:
    set_conn(monkeypatch, "voors_default", conn_type="voors", host=url, password=VOORS_TOKEN, extra=extra)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM files): ``(cert, key)``."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_file), str(key_file)


@pytest.fixture
def tls_server_context(tls_files: tuple[str, str]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    return context

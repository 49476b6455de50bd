"""The sandbox's HTTP server: PontoWeb at the root, Voors under ``/voors``, inspection and control
under ``/_sandbox``, all on one loopback port.

Standard library only (``http.server.ThreadingHTTPServer``: one daemon thread per connection,
HTTP/1.1 keep-alive). The request handler parses requests itself rather than with
``BaseHTTPRequestHandler.parse_request`` (whose ``email``-based header parser costs more than the
rest of a request) and writes each answer in one ``send`` with ``TCP_NODELAY``: that is what lets a
plain-Python server answer thousands of requests per second on loopback.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import html
import ipaddress
import itertools
import json
import logging
import re
import socket
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote

from airflow_provider_ahgora.sandbox._common import (
    MAX_READ_BODY,
    ApiError,
    Quirks,
    SandboxClock,
    dumps,
    iso_ms,
)
from airflow_provider_ahgora.sandbox.faults import (
    TRICKLE_CHUNK,
    TRICKLE_MAX_CHUNKS,
    Fault,
    FaultSet,
    parse_route,
)
from airflow_provider_ahgora.sandbox.pontoweb import (
    DEFAULT_REJECTION,
    PUSH_RESOURCES,
    PontoWebEmulator,
    push_error,
    pw_error,
)
from airflow_provider_ahgora.sandbox.voors import VoorsEmulator, voors_error

__all__ = [
    "DEFAULT_LOGIN",
    "DEFAULT_PASSWORD",
    "DEFAULT_TOKEN",
    "VOORS_PREFIX",
    "Sandbox",
    "SandboxCompany",
    "run_sandbox",
]

log = logging.getLogger(__name__)

VOORS_PREFIX = "/voors"
CONTROL_PREFIX = "/_sandbox"
DEFAULT_LOGIN = "sandbox"
DEFAULT_PASSWORD = "sandbox-password"
DEFAULT_TOKEN = "sandbox-token"
REDACTED = "REDACTED"

_MAX_LINE = 65536
_MAX_HEADERS = 100
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key", "token"})
_NO_BODY = object()
#: PontoWeb's routes as :attr:`SandboxCompany.calls` counts them (pushes: ``POST /<resource>``).
_ROUTE_NAMES = {
    "start": "POST /reckons/process/start",
    "status": "GET /reckons/process/status/{process}",
    "results": "GET /reckons/{unique}",
    "reconsume": "GET /reckons/reconsume/{unique}",
    "monitor": "GET /process",
}


_REASONS = {s.value: s.phrase for s in HTTPStatus}


def _reason(status: int) -> str:
    return _REASONS.get(status, "Unknown")


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class _Answer:
    """What the handler sends: a status, a JSON body, headers, and maybe a fault action."""

    __slots__ = ("action", "body", "chunk", "delay", "headers", "status")

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        action: str | None = None,
        delay: float = 0.0,
        chunk: int = 0,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers
        self.action = action
        self.delay = delay
        self.chunk = chunk


def _json_answer(status: int, value: Any, headers: dict[str, str] | None = None) -> _Answer:
    return _Answer(status, b"" if value is None else dumps(value), headers)


# ==================================================================================================
# HTTP plumbing
# ==================================================================================================


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # 1 000 pollers that connect at once (a triggerer restarting) must not overflow the accept queue:
    # a dropped SYN is retried after a second, and the benchmark would measure that
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can take seconds: not needed here
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def track(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.discard(conn)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
            self._conns.clear()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("sandbox: error serving %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 300  # an idle keep-alive connection is closed after 5 minutes
    server_version = "AhgoraSandbox/1.0"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.untrack(self.connection)

    def handle(self) -> None:
        self.close_connection = True
        try:
            while self._handle_request():
                pass
        except (OSError, ValueError):  # client went away, socket closed by stop(), timeout
            pass

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("sandbox: " + format, *args)

    # -- one request ----------------------------------------------------------------------------

    def _handle_request(self) -> bool:
        """Read one request and answer it; False when the connection must close."""
        rfile = self.rfile
        line = rfile.readline(_MAX_LINE + 1)
        if not line:
            return False
        if line in (b"\r\n", b"\n"):
            return True
        if len(line) > _MAX_LINE:
            return self._send(_json_answer(414, {"error": "request line too long"}), False)
        try:
            method, target, version = line.decode("latin-1").split()
        except ValueError:
            return self._send(_json_answer(400, {"error": "malformed request line"}), False)
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS):
            raw = rfile.readline(_MAX_LINE + 1)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        else:
            return self._send(_json_answer(431, {"error": "too many headers"}), False)
        connection = headers.get("connection", "").lower()
        keep = (version == "HTTP/1.1" and "close" not in connection) or (
            version == "HTTP/1.0" and "keep-alive" in connection
        )
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked()
            if body is None:
                return self._send(
                    _json_answer(413, {"message": f"Request body over {MAX_READ_BODY} bytes", "code": 413}),
                    False,
                )
        else:
            try:
                length = int(headers.get("content-length") or 0)
            except ValueError:
                return self._send(_json_answer(400, {"error": "invalid Content-Length"}), False)
            if length > MAX_READ_BODY:
                return self._send(
                    _json_answer(
                        413,
                        {
                            "message": f"Request body too large: {length} bytes; the maximum is 1048576 "
                            "bytes (1 MB) per request",
                            "code": 413,
                        },
                    ),
                    False,
                )
            if length and headers.get("expect", "").lower() == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = rfile.read(length) if length else b""
            if len(body) < length:
                return False
        answer = self.server.sandbox._dispatch(method.upper(), target, headers, body, self.client_address[0])
        return self._send(answer, keep)

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        size_total = 0
        while True:
            line = self.rfile.readline(_MAX_LINE + 1)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(_MAX_LINE + 1) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            size_total += size
            if size_total > MAX_READ_BODY:
                return None
            chunks.append(self.rfile.read(size))
            self.rfile.readline(_MAX_LINE + 1)

    def _send(self, answer: _Answer, keep: bool) -> bool:
        if answer.action == "timeout":
            self.server.sandbox._wait(answer.delay)
            self._abort()
            return False
        body = answer.body
        head = [f"HTTP/1.1 {answer.status} {_reason(answer.status)}\r\n"]
        if body and not (answer.headers and "Content-Type" in answer.headers):
            head.append("Content-Type: application/json; charset=utf-8\r\n")
        head.append(f"Content-Length: {len(body)}\r\n")
        if answer.headers:
            head.extend(f"{k}: {v}\r\n" for k, v in answer.headers.items())
        if not keep:
            head.append("Connection: close\r\n")
        head.append("\r\n")
        data = "".join(head).encode("latin-1")
        if answer.action == "trickle":
            return self._trickle(data + body, answer) and keep
        if answer.action == "reset":
            # the headers and part of the body go out, then the connection is reset (RST)
            self.wfile.write(data + body[: len(body) // 2])
            self.server.sandbox._wait(0.05)
            self._abort()
            return False
        self.wfile.write(data + body)
        return keep

    def _trickle(self, data: bytes, answer: _Answer) -> bool:
        """The whole answer, ``answer.chunk`` bytes at a time, spread over ``answer.delay`` seconds in
        all (at most ``TRICKLE_MAX_CHUNKS`` chunks); False if the sandbox stopped meanwhile."""
        size = max(answer.chunk or TRICKLE_CHUNK, -(-len(data) // TRICKLE_MAX_CHUNKS))
        pieces = [data[i : i + size] for i in range(0, len(data), size)]
        pause = answer.delay / (len(pieces) - 1) if len(pieces) > 1 else 0.0
        sandbox = self.server.sandbox
        for i, piece in enumerate(pieces):
            if i:
                sandbox._wait(pause)
                if sandbox._stopping.is_set():
                    self._abort()
                    return False
            self.wfile.write(piece)
        return True

    def _abort(self) -> None:
        """Close the connection abruptly: a TCP reset, not an orderly FIN."""
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.connection.close()


# ==================================================================================================
# The companies a sandbox serves
# ==================================================================================================

#: What a company of ``Sandbox(companies=[...])`` may set; the rest comes from the sandbox's options.
COMPANY_FIELDS = (
    "company",
    "employees",
    "seed",
    "login",
    "password",
    "token",
    "daily_limit",
    "max_running",
    "speed",
    "push_speed",
)


def company_code(index: int) -> str:
    """The code of the ``index``-th company (0-based) when none is given: ``a000101``, ``a000102``..."""
    return f"a{101 + index:06d}"


def _secret(seed: int, code: str, what: str) -> str:
    """A deterministic secret of one company (distinct per company, seed and kind)."""
    return hashlib.sha256(f"{seed}:{code}:{what}".encode()).hexdigest()[:12]


class SandboxCompany:
    """One company the sandbox serves: its PontoWeb service user and Voors token, its synthetic
    employees, and its own PontoWeb and Voors state, limits included (at most ``max_running``
    processes at once, ``daily_limit`` full-base reckons per feature per day).

    Requests reach a company by their credentials, as on the real APIs: a PontoWeb login or a Voors
    token belongs to exactly one company. :attr:`calls` counts the requests it answered, by route.
    """

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        company: str,
        login: str,
        password: str,
        token: str,
        data: Any,
        pontoweb: PontoWebEmulator,
        voors: VoorsEmulator,
    ) -> None:
        self._sandbox = sandbox
        self.company = company
        self.login, self.password, self.token = login, password, token
        self.data = data
        self.pontoweb = pontoweb
        self.voors = voors
        #: requests answered for this company (after authentication), by route: ``"POST
        #: /reckons/process/start"``, ``"GET /reckons/{unique}"``, ``"POST /voors/timeCards"``...
        self.calls: Counter[str] = Counter()
        self._calls_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<SandboxCompany {self.company} login={self.login!r}>"

    def count(self, route: str) -> None:
        with self._calls_lock:
            self.calls[route] += 1

    @property
    def pontoweb_conn(self) -> dict[str, Any]:
        """The fields of this company's Airflow connection of type ``pontoweb``."""
        return {
            "conn_type": "pontoweb",
            "host": self._sandbox.base_url,
            "login": self.login,
            "password": self.password,
        }

    @property
    def voors_conn(self) -> dict[str, Any]:
        """The fields of this company's Airflow connection of type ``voors``."""
        return {"conn_type": "voors", "host": self._sandbox.voors_url, "password": self.token}

    def airflow_env(self) -> dict[str, str]:
        """``AIRFLOW_CONN_PONTOWEB_<COMPANY>`` and ``AIRFLOW_CONN_VOORS_<COMPANY>``: the company's two
        connections under the names the many-companies DAGs look for
        (:mod:`airflow_provider_ahgora.companies`)."""
        from airflow_provider_ahgora.companies import pontoweb_conn_id, voors_conn_id

        return {
            f"AIRFLOW_CONN_{pontoweb_conn_id(self.company).upper()}": json.dumps(self.pontoweb_conn),
            f"AIRFLOW_CONN_{voors_conn_id(self.company).upper()}": json.dumps(self.voors_conn),
        }

    def describe(self) -> dict[str, Any]:
        """Code, size, limits, connections and calls (credentials included: loopback only)."""
        from airflow_provider_ahgora.companies import pontoweb_conn_id, voors_conn_id

        with self._calls_lock:
            calls = dict(sorted(self.calls.items()))
        return {
            "company": self.company,
            "employees": len(self.data.employees),
            "seed": self.data.seed,
            "daily_limit": self.pontoweb.daily_limit,
            "max_running": self.pontoweb.max_running,
            "pontoweb_conn_id": pontoweb_conn_id(self.company),
            "voors_conn_id": voors_conn_id(self.company),
            "pontoweb_conn": self.pontoweb_conn,
            "voors_conn": self.voors_conn,
            "calls": calls,
        }

    def reset(self) -> None:
        self.pontoweb.reset()
        self.voors.reset()
        with self._calls_lock:
            self.calls.clear()


# ==================================================================================================
# The sandbox
# ==================================================================================================


class Sandbox:
    """A local, stateful emulator of PontoWeb and Voors on a loopback HTTP port.

    PontoWeb answers at :attr:`base_url` (its paths at the root, as the real API), Voors at
    :attr:`voors_url` (``base_url + "/voors"``), inspection and control at ``base_url + "/_sandbox"``.

    :param employees: size of the synthetic company (its employees are what reckons return).
    :param seed: seed of the synthetic company, of the ids and of the faults' RNG.
    :param company: the PontoWeb company code answers carry.
    :param speed: employees a reckon processes per second of sandbox time (``float("inf")``: at once).
    :param push_speed: records a push processes per second of sandbox time.
    :param clock: a callable giving the time (epoch seconds); :meth:`advance` moves it forward.
    :param host: address to listen on; loopback only unless ``allow_remote``.
    :param port: port to listen on (0: a free one, see :attr:`port` after :meth:`start`).
    :param login: password: the PontoWeb service user (HTTP Basic).
    :param token: the Voors API token.
    :param forbidden: logins or tokens that authenticate but lack permission (403).
    :param strict_references: enforce Voors' ordering rules (leaders and users first).
    :param record_limit: how many requests the inspection API keeps (oldest dropped; 0: none).
    :param data: a prebuilt :class:`~airflow_provider_ahgora.sandbox.data.SyntheticCompany`.
    :param quirks: the readings of the documents to play where they allow several
        (:class:`~airflow_provider_ahgora.sandbox._common.Quirks` or a dict of its fields: what
        ``total`` counts, a page size cap, the case of statuses, PHP's ``[]`` for an empty object);
        change them live with :meth:`set_quirks`.
    :param companies: how many companies to serve (default 1), or a list of them (each a company
        code or a dict of :data:`COMPANY_FIELDS`). The first is the company of the other options
        (``company``, ``login``, ``password``, ``token``, ``seed``, ``data``...); the others are
        derived deterministically: codes ``a000102``, ``a000103``..., seed ``seed + i``, login
        ``sandbox-<code>``, a password and a token of their own, the same size and limits unless a
        dict says otherwise. Each has its own credentials, employees, reckons, pushes, Voors
        records and limits (see :class:`SandboxCompany`); :attr:`companies` lists them. The
        attributes and methods without a ``company`` argument are the first company's.
    """

    def __init__(
        self,
        *,
        employees: int = 50,
        seed: int = 42,
        company: str = "a000101",
        speed: float = 200.0,
        push_speed: float = 1000.0,
        clock: Callable[[], float] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        login: str = DEFAULT_LOGIN,
        password: str = DEFAULT_PASSWORD,
        token: str = DEFAULT_TOKEN,
        forbidden: tuple[str, ...] | list[str] = (),
        strict_references: bool = True,
        record_limit: int = 10_000,
        daily_limit: int = 3,
        max_running: int = 4,
        allow_remote: bool = False,
        data: Any = None,
        quirks: Quirks | dict[str, Any] | None = None,
        companies: int | Sequence[str | Mapping[str, Any]] = 1,
    ) -> None:
        if not allow_remote and not _is_loopback(host):
            raise ValueError(
                f"The sandbox listens on loopback only (its control API has no auth); got host {host!r}. "
                "Pass allow_remote=True to listen elsewhere (/_sandbox stays loopback-only)."
            )
        self.seed = seed
        self.host = host
        self.requested_port = port
        self.clock = SandboxClock(clock)
        self.quirks = Quirks.from_spec(quirks)
        self.strict_references = strict_references
        first = {
            "company": company,
            "employees": employees,
            "seed": seed,
            "login": login,
            "password": password,
            "token": token,
            "daily_limit": daily_limit,
            "max_running": max_running,
            "speed": speed,
            "push_speed": push_speed,
        }
        #: the companies served, by code, in their order (the first is the default company)
        self.companies: dict[str, SandboxCompany] = {}
        self._users: dict[str, str] = {}
        self._login_company: dict[str, SandboxCompany] = {}
        self._tokens: dict[str, SandboxCompany] = {}
        for index, spec in enumerate(_company_specs(companies)):
            self._add_company(index, first, spec, data if index == 0 else None)
        default = next(iter(self.companies.values()))
        # the first company's, for the API of one company (the default)
        self.data, self.company = default.data, default.company
        self.pontoweb, self.voors = default.pontoweb, default.voors
        self.login, self.password, self.token = default.login, default.password, default.token
        self.faults = FaultSet(seed)
        self._forbidden: set[str] = set(forbidden)
        self._auth_cache: dict[str, str] = {}
        self._record_limit = record_limit
        self._requests: deque[dict[str, Any]] = deque(maxlen=record_limit or 1)
        self._seq = itertools.count(1)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def _add_company(
        self, index: int, first: dict[str, Any], spec: Mapping[str, Any], data: Any
    ) -> SandboxCompany:
        """The ``index``-th company: ``spec`` over the first company's options (index 0) or over
        options derived from them (distinct code, seed, login, password and token)."""
        if index == 0:
            options = {**first, **spec}
        else:
            code = str(spec.get("company") or company_code(index))
            options = {
                **first,
                "company": code,
                "seed": int(first["seed"]) + index,
                "login": f"sandbox-{code}",
                "password": f"sandbox-password-{_secret(int(first['seed']), code, 'password')}",
                "token": f"sandbox-token-{_secret(int(first['seed']), code, 'token')}",
                **spec,
            }
        code = options["company"]
        if code in self.companies:
            raise ValueError(f"company {code!r} is listed twice")
        if options["login"] in self._users:
            raise ValueError(f"login {options['login']!r} belongs to two companies: each needs its own")
        if options["token"] in self._tokens:
            raise ValueError(f"a Voors token belongs to two companies ({code!r}): each needs its own")
        if data is None:
            from airflow_provider_ahgora.sandbox.data import SyntheticCompany

            data = SyntheticCompany(employees=options["employees"], seed=options["seed"], company=code)
        pontoweb = PontoWebEmulator(
            data,
            self.clock,
            company=code,
            seed=options["seed"],
            speed=options["speed"],
            push_speed=options["push_speed"],
            daily_limit=options["daily_limit"],
            max_running=options["max_running"],
            quirks=self.quirks,
        )
        digits = re.sub(r"\D", "", code)
        voors = VoorsEmulator(
            data,
            self.clock,
            company_id=int(digits) if digits else 1,
            strict_references=self.strict_references,
            quirks=self.quirks,
        )
        member = SandboxCompany(
            self,
            company=code,
            login=options["login"],
            password=options["password"],
            token=options["token"],
            data=data,
            pontoweb=pontoweb,
            voors=voors,
        )
        self.companies[code] = member
        self._users[member.login] = member.password
        self._login_company[member.login] = member
        self._tokens[member.token] = member
        return member

    def company_of(self, company: str | None = None) -> SandboxCompany:
        """A company by its code (None: the first, default company)."""
        if company is None:
            return next(iter(self.companies.values()))
        try:
            return self.companies[company]
        except KeyError:
            raise KeyError(
                f"the sandbox serves no company {company!r} (it serves {', '.join(self.companies)})"
            ) from None

    def _holding(self, process_or_unique: str, company: str | None) -> SandboxCompany:
        """The company whose reckon this is (searched in every company unless ``company`` names it)."""
        if company is not None:
            return self.company_of(company)
        for member in self.companies.values():
            if member.pontoweb.has(process_or_unique):
                return member
        return self.company_of(None)  # its lookup raises the usual KeyError

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Listen and serve in a background (daemon) thread; returns ``self``."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self.host, self.requested_port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="ahgora-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: the accept loop ends, open connections are closed, waits are woken."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` (from another thread) or Ctrl-C."""
        self.start()
        try:
            while not self._stopping.wait(0.5):
                pass
        finally:
            self.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    def _wait(self, seconds: float) -> None:
        """Sleep, but wake at once when the sandbox stops."""
        if seconds > 0:
            self._stopping.wait(seconds)

    # -- addresses and connections --------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("The sandbox is not started: call start() or use run_sandbox()")
        return self._server.server_port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the PontoWeb base URL (paths at the root, as the real API)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def voors_url(self) -> str:
        """``http://127.0.0.1:PORT/voors``: the Voors base URL."""
        return f"{self.base_url}{VOORS_PREFIX}"

    @property
    def control_url(self) -> str:
        return f"{self.base_url}{CONTROL_PREFIX}"

    @property
    def pontoweb_conn(self) -> dict[str, Any]:
        """The fields of an Airflow connection of type ``pontoweb`` pointing at the sandbox."""
        return {
            "conn_type": "pontoweb",
            "host": self.base_url,
            "login": self.login,
            "password": self.password,
        }

    @property
    def voors_conn(self) -> dict[str, Any]:
        """The fields of an Airflow connection of type ``voors`` pointing at the sandbox."""
        return {"conn_type": "voors", "host": self.voors_url, "password": self.token}

    @property
    def pontoweb_conn_uri(self) -> str:
        """The value for ``AIRFLOW_CONN_PONTOWEB_DEFAULT`` (JSON form, which Airflow accepts)."""
        return json.dumps(self.pontoweb_conn)

    @property
    def voors_conn_uri(self) -> str:
        """The value for ``AIRFLOW_CONN_VOORS_DEFAULT`` (JSON form, which Airflow accepts)."""
        return json.dumps(self.voors_conn)

    def airflow_env(
        self, pontoweb_conn_id: str = "pontoweb_default", voors_conn_id: str = "voors_default"
    ) -> dict[str, str]:
        """``AIRFLOW_CONN_*`` environment variables defining both connections."""
        return {
            f"AIRFLOW_CONN_{pontoweb_conn_id.upper()}": self.pontoweb_conn_uri,
            f"AIRFLOW_CONN_{voors_conn_id.upper()}": self.voors_conn_uri,
        }

    def companies_env(self) -> dict[str, str]:
        """Every company's two connections (``AIRFLOW_CONN_PONTOWEB_<COMPANY>``,
        ``AIRFLOW_CONN_VOORS_<COMPANY>``, see :mod:`airflow_provider_ahgora.companies`) and the
        Variable listing them (``AIRFLOW_VAR_AHGORA_COMPANIES``)."""
        from airflow_provider_ahgora.companies import COMPANIES_VARIABLE

        env: dict[str, str] = {}
        for member in self.companies.values():
            env.update(member.airflow_env())
        env[f"AIRFLOW_VAR_{COMPANIES_VARIABLE.upper()}"] = json.dumps(list(self.companies))
        return env

    # -- control ----------------------------------------------------------------------------------

    def set_quirks(self, **quirks: Any) -> dict[str, Any]:
        """Change the readings of the documents the sandbox plays (see :class:`Quirks`), live; the
        fields not given keep their value. Returns them all."""
        merged = Quirks.from_spec({**self.quirks.describe(), **quirks})
        for name in Quirks.FIELDS:
            setattr(self.quirks, name, getattr(merged, name))
        return self.quirks.describe()

    def add_fault(self, route: str | None = None, kind: str = "status", **options: Any) -> Fault:
        """Add a fault. ``route`` is ``"GET /reckons/*"`` (method optional; glob, or ``re:`` regex);
        see :mod:`airflow_provider_ahgora.sandbox.faults` for the kinds and options."""
        if route is not None:
            method, path = parse_route(route)
            options.setdefault("method", method)
            options.setdefault("path", path)
        return self.faults.add(Fault(kind=kind, **options))

    def remove_fault(self, fault: Fault | int) -> bool:
        return self.faults.remove(fault.id if isinstance(fault, Fault) else int(fault))

    def clear_faults(self) -> None:
        self.faults.clear()

    def list_faults(self) -> list[dict[str, Any]]:
        return [f.describe() for f in self.faults.list()]

    def set_forbidden(self, *names: str) -> None:
        """Logins (PontoWeb) or tokens (Voors) that authenticate but get 403; replaces the set."""
        self._forbidden = set(names)

    def forbid(self, *names: str) -> None:
        self._forbidden |= set(names)

    def allow(self, *names: str) -> None:
        self._forbidden -= set(names)

    @property
    def forbidden(self) -> list[str]:
        return sorted(self._forbidden)

    def add_user(
        self, login: str, password: str, *, forbidden: bool = False, company: str | None = None
    ) -> None:
        """Another PontoWeb service user of ``company`` (default: the first) (e.g. one without
        permission, with ``forbidden=True``)."""
        self._users[login] = password
        self._login_company[login] = self.company_of(company)
        self._auth_cache.clear()
        if forbidden:
            self.forbid(login)

    def add_token(self, token: str, *, forbidden: bool = False, company: str | None = None) -> None:
        """Another Voors token of ``company`` (default: the first) (e.g. one without permission,
        with ``forbidden=True``)."""
        self._tokens[token] = self.company_of(company)
        if forbidden:
            self.forbid(token)

    def now(self) -> float:
        """The sandbox's time (epoch seconds)."""
        return self.clock()

    def advance(self, seconds: float) -> float:
        """Move the sandbox's clock forward by ``seconds``; returns the new time."""
        return self.clock.advance(seconds)

    def finish_reckon(self, process_or_unique: str, company: str | None = None) -> dict[str, Any]:
        """Make a reckon done now (of any company unless ``company`` names it); returns its state."""
        return self._holding(process_or_unique, company).pontoweb.finish(process_or_unique)

    def fail_reckon(
        self, process_or_unique: str, message: str | None = None, company: str | None = None
    ) -> dict[str, Any]:
        """Make a reckon end in ``error`` now; returns its state."""
        return self._holding(process_or_unique, company).pontoweb.fail(process_or_unique, message)

    def reject_records(
        self, resource: str, *identifiers: str, message: str = DEFAULT_REJECTION, company: str | None = None
    ) -> dict[str, dict[str, str]]:
        """Business rejections: records of the push ``resource`` whose identifier (``matricula``,
        ``codigo``, ... as the monitor names them) is one of ``identifiers`` fail in the process
        monitor with ``message`` and are not stored. Applies to pushes from now on; returns every
        rule. ::

            sandbox.reject_records("people", "000123", message="PIS inválido")

        ``company``: whose pushes (default: the first company's).
        """
        return self.company_of(company).pontoweb.reject(resource, identifiers, message)

    def clear_rejections(self, company: str | None = None) -> None:
        """Forget every rejection rule (of ``company``; default: the first)."""
        self.company_of(company).pontoweb.clear_rejections()

    def rejections(self, company: str | None = None) -> dict[str, dict[str, str]]:
        """The rejection rules (of ``company``; default: the first): resource -> identifier ->
        message."""
        return self.company_of(company).pontoweb.describe_rejections()

    def reset(self) -> None:
        """Forget every process, push, rejection rule, Voors record, call count (of every company),
        fault and recorded request; clock offset to 0."""
        for member in self.companies.values():
            member.reset()
        self.faults.clear()
        self.clock.reset()
        self._requests.clear()

    # -- inspection -------------------------------------------------------------------------------

    def requests(
        self, method: str | None = None, path: str | None = None, since: int = 0
    ) -> list[dict[str, Any]]:
        """Requests received (credentials redacted), oldest first. ``path``: a prefix, or ``re:``
        regex; ``since``: only those with a ``seq`` greater than this."""
        regex = re.compile(path[3:]) if path and path.startswith("re:") else None
        out = []
        for entry in list(self._requests):
            if entry["seq"] <= since:
                continue
            if method and entry["method"] != method.upper():
                continue
            if path:
                if regex is not None and not regex.search(entry["path"]):
                    continue
                if regex is None and not entry["path"].startswith(path):
                    continue
            out.append({**entry, "time": iso_ms(entry["time"])})
        return out

    def clear_requests(self) -> None:
        self._requests.clear()

    def reckon(self, process_or_unique: str, company: str | None = None) -> dict[str, Any]:
        """State of one reckon (of any company unless ``company`` names it): status, progress,
        total, consumed, reconsumes, ..."""
        return self._holding(process_or_unique, company).pontoweb.describe_reckon(process_or_unique)

    def reckons(self, company: str | None = None) -> list[dict[str, Any]]:
        """Every reckon of ``company`` (default: the first company)."""
        return list(self.company_of(company).pontoweb.snapshot()["reckons"])

    def pushes(self, company: str | None = None) -> list[dict[str, Any]]:
        """Every push of ``company`` (default: the first): resource, unique, subunique, records,
        errors, progress."""
        return list(self.company_of(company).pontoweb.snapshot()["pushes"])

    def voors_records(self, resource: str, company: str | None = None) -> list[dict[str, Any]]:
        """The Voors records of ``company`` (default: the first) stored for a resource (registry
        key, e.g. ``"users"``)."""
        voors = self.company_of(company).voors
        if resource not in voors.store:
            raise KeyError(f"unknown Voors resource {resource!r}")
        return voors.records(resource)

    def state(self) -> dict[str, Any]:
        """Everything at once: PontoWeb reckons and pushes and Voors counts (of the first company),
        clock, faults, and the calls each company answered."""
        return {
            "now": iso_ms(self.clock()),
            "clock_offset": self.clock.offset,
            "pontoweb": self.pontoweb.snapshot(),
            "voors": self.voors.snapshot(),
            "faults": self.list_faults(),
            "quirks": self.quirks.describe(),
            "forbidden": self.forbidden,
            "requests": len(self._requests),
            "companies": {code: dict(member.calls) for code, member in self.companies.items()},
        }

    # ==============================================================================================
    # Request handling
    # ==============================================================================================

    def _dispatch(
        self, method: str, target: str, headers: dict[str, str], body: bytes, client: str
    ) -> _Answer:
        path, _, qs = target.partition("?")
        if "%" in path:
            path = unquote(path)
        query = dict(parse_qsl(qs, keep_blank_values=True)) if qs else {}
        if path.startswith(CONTROL_PREFIX):
            if not _is_loopback(client):
                return _json_answer(403, {"error": "the sandbox control API answers loopback clients only"})
            try:
                return self._control(method, path[len(CONTROL_PREFIX) :], query, body)
            except ApiError as exc:
                return _json_answer(exc.status, exc.body, exc.headers)
            except (KeyError, ValueError, TypeError) as exc:
                return _json_answer(400, {"error": str(exc).strip("'\"")})
        parsed: Any = _NO_BODY
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = _NO_BODY
        entry = self._record(method, path, query, headers, body, parsed) if self._record_limit else None
        latency, fault = self.faults.select(method, path)
        if latency:
            self._wait(latency)
        voors = path == VOORS_PREFIX or path.startswith(VOORS_PREFIX + "/")
        if fault is not None and not fault.hits_after_route:
            answer = self._fault_answer(fault, voors, headers, query, parsed)
        else:
            try:
                if voors:
                    answer = self._voors(
                        method, path[len(VOORS_PREFIX) :] or "/", query, headers, body, parsed
                    )
                else:
                    answer = self._pontoweb(method, path, query, headers, body, parsed)
            except ApiError as exc:
                answer = _json_answer(exc.status, exc.body, exc.headers)
            except Exception as exc:  # a bug in the sandbox: answer 500, keep serving
                log.exception("sandbox: error handling %s %s", method, path)
                answer = _json_answer(500, {"error": f"sandbox internal error: {type(exc).__name__}: {exc}"})
            if fault is not None:
                answer = self._fault_after(fault, answer, voors)
        if entry is not None:
            entry["status"] = answer.status
            if fault is not None:
                entry["fault"] = fault.kind
        return answer

    def _record(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes, parsed: Any
    ) -> dict[str, Any]:
        safe_headers = {k: (REDACTED if k in _SECRET_HEADERS else v) for k, v in headers.items()}
        auth = headers.get("authorization", "")
        user = None
        if auth[:6].lower() == "basic ":
            user = self._basic_login(auth)
            safe_headers["authorization"] = f"Basic {REDACTED}"
        if "token" in query:
            query = {**query, "token": REDACTED}
        if parsed is _NO_BODY:
            shown: Any = body.decode("utf-8", "replace") if body else None
        elif isinstance(parsed, dict) and "token" in parsed:
            shown = {**parsed, "token": REDACTED}
        else:
            shown = parsed
        entry = {
            "seq": next(self._seq),
            "time": self.clock(),
            "method": method,
            "path": path,
            "query": query,
            "headers": safe_headers,
            "body": shown,
            "user": user,
            "status": None,
            "fault": None,
        }
        self._requests.append(entry)
        return entry

    # -- faults -----------------------------------------------------------------------------------

    def _fault_body(self, fault: Fault, status: int, voors: bool) -> bytes:
        if fault.html and fault.body is None:
            return _html_page(status, f"<p>{_reason(status)}</p><hr><center>nginx</center>")
        if isinstance(fault.body, str) and (fault.html or fault.content_type):
            return fault.body.encode("utf-8")
        if fault.body is not None:
            return fault.body if isinstance(fault.body, bytes) else dumps(fault.body)
        message = f"{_reason(status)} (sandbox fault)"
        if voors:
            return dumps(voors_error(status, message).body)
        return dumps({"error": {"message": message, "code": status}})

    def _fault_answer(
        self,
        fault: Fault,
        voors: bool,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        parsed: Any = None,
    ) -> _Answer:
        """A fault that hits before the route runs."""
        if fault.kind == "echo":
            return self._echo_answer(fault, voors, headers or {}, query or {}, parsed)
        if fault.kind == "timeout":
            return _Answer(0, action="timeout", delay=float(fault.delay or 0.0))
        if fault.kind in ("reset", "malformed"):
            body = dumps({"error": {"message": "the sandbox interrupted this answer", "code": 200}})
            return self._fault_after(fault, _Answer(200, body), voors)
        return self._error_answer(fault, voors)

    def _error_answer(self, fault: Fault, voors: bool) -> _Answer:
        status = int(fault.status or 503)
        headers = {"Retry-After": _seconds(fault.retry_after)} if fault.retry_after is not None else None
        content_type = "text/html; charset=utf-8" if fault.html else fault.content_type
        if content_type:
            headers = {**(headers or {}), "Content-Type": content_type}
        return _Answer(status, self._fault_body(fault, status, voors), headers)

    def _echo_answer(
        self, fault: Fault, voors: bool, headers: dict[str, str], query: dict[str, str], parsed: Any
    ) -> _Answer:
        """An error whose body quotes the credentials the request carried, in every form."""
        status = int(fault.status or 401)
        auth = headers.get("authorization", "")
        carried: dict[str, str] = {}
        if auth:
            carried["authorization"] = auth
        if auth[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(auth[6:].strip()).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                decoded = ""
            login, _, password = decoded.partition(":")
            carried.update({"credentials": decoded, "login": login, "password": password})
        elif auth:
            carried["token"] = auth[7:].strip() if auth[:7].lower() == "bearer " else auth
        if query.get("token"):
            carried["query_token"] = query["token"]
        if isinstance(parsed, dict) and isinstance(parsed.get("token"), str):
            carried["body_token"] = parsed["token"]
        secret = carried.get("password") or carried.get("token") or carried.get("query_token") or ""
        message = (
            f"{_reason(status)}: the request carried {json.dumps(carried, ensure_ascii=False)}; "
            f"url-encoded: {quote_plus(secret)} / {quote(secret, safe='')}"
        )
        if fault.html:
            items = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in carried.items())
            script = json.dumps(carried).replace("/", "\\/")  # as PHP's json_encode writes it
            body = _html_page(
                status,
                f"<p>{html.escape(message)}</p><ul>{items}</ul><script>var request = {script};</script>",
            )
            return _Answer(status, body, {"Content-Type": "text/html; charset=utf-8"})
        if voors:
            value: dict[str, Any] = {"status": "error", "code": str(status), "message": message}
        else:
            value = {"error": {"code": status, "message": message}}
        value["request"] = carried
        # escaped as JSON escapes it: quotes, backslashes, and PHP's "\/"
        return _Answer(status, json.dumps(value).replace("/", "\\/").encode("ascii"))

    def _fault_after(self, fault: Fault, answer: _Answer, voors: bool) -> _Answer:
        """A fault that replaces an answer the route already produced (state already changed)."""
        if fault.kind == "timeout":
            return _Answer(0, action="timeout", delay=float(fault.delay or 0.0))
        if fault.kind == "reset":
            body = answer.body if len(answer.body) > 1 else b'{"sandbox":"reset"}'
            return _Answer(answer.status, body, answer.headers, action="reset")
        if fault.kind == "malformed":
            return _Answer(
                answer.status, answer.body[: len(answer.body) // 2] + b"<!-- malformed -->", answer.headers
            )
        if fault.kind == "trickle":
            return _Answer(
                answer.status,
                answer.body,
                answer.headers,
                action="trickle",
                delay=float(fault.delay or 0.0),
                chunk=int(fault.chunk_size or TRICKLE_CHUNK),
            )
        if fault.kind in ("status", "rate_limit"):
            return self._error_answer(fault, voors)
        return answer

    # -- PontoWeb ---------------------------------------------------------------------------------

    def _basic_login(self, header: str) -> str | None:
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return None
        return decoded.partition(":")[0] or None

    def _basic_user(self, header: str | None) -> str | None:
        """The login of valid Basic credentials, or None."""
        if not header:
            return None
        cached = self._auth_cache.get(header)
        if cached is not None:
            return cached
        if header[:6].lower() != "basic ":
            return None
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return None
        login, sep, password = decoded.partition(":")
        if not sep or self._users.get(login) != password:
            return None
        if len(self._auth_cache) < 1000:
            self._auth_cache[header] = login
        return login

    def _pontoweb(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes, parsed: Any
    ) -> _Answer:
        version = headers.get("accept-version", "").strip().lower()
        route: str | None = None
        arg = ""
        if path.startswith("/reckons/"):
            rest = path[9:]
            if rest.startswith("process/status/") and method == "GET":
                route, arg = "status", rest[15:]
            elif rest == "process/start" and method == "POST":
                route = "start"
            elif rest.startswith("reconsume/") and method == "GET":
                route, arg = "reconsume", rest[10:]
            elif method == "GET" and rest and "/" not in rest:
                route, arg = "results", rest
        elif path == "/process" and method == "GET":
            route = "monitor"
            version = version or "v2"
        elif method == "POST" and path[1:] in PUSH_RESOURCES:
            route = "push"
        if version not in ("v1", "v2"):
            version = "v1"
        if route is None or (route in ("status", "reconsume", "results") and not arg):
            raise pw_error(404, f"Cannot {method} {path}: no such PontoWeb route", version)
        user = self._basic_user(headers.get("authorization"))
        if user is None:
            if route == "push":
                raise push_error(401, "Unauthorized")
            raise ApiError(401, {"error": {"code": 401, "message": "Unauthorized"}})
        if user in self._forbidden:
            raise ApiError(403, {"error": {"message": "Forbidden", "code": 403}})
        member = self._login_company[user]
        member.count(_ROUTE_NAMES[route] if route != "push" else f"POST {path}")
        pw = member.pontoweb
        if route == "status":
            return _json_answer(200, pw.status(arg, version))
        if route == "results":
            return _json_answer(200, pw.results(arg, query, version))
        if route == "reconsume":
            return _json_answer(200, pw.reconsume(arg, version))
        if route == "monitor":
            return _json_answer(200, pw.monitor(query, version))
        if route == "start":
            if raw and parsed is _NO_BODY:
                raise pw_error(400, "Invalid JSON in the request body", version)
            return _json_answer(200, pw.start(None if parsed is _NO_BODY else parsed, version))
        return _json_answer(200, pw.push(path[1:], raw, None if parsed is _NO_BODY else parsed))

    # -- Voors ------------------------------------------------------------------------------------

    def _voors(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes, parsed: Any
    ) -> _Answer:
        token = headers.get("authorization", "").strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if not token:
            token = query.get("token", "")
        if not token and isinstance(parsed, dict) and isinstance(parsed.get("token"), str):
            token = parsed["token"]
        member = self._tokens.get(token)
        if member is None:
            raise voors_error(401, "Unauthorized: invalid token")
        if token in self._forbidden:
            raise voors_error(403, "Forbidden: the token lacks permission for this resource")
        member.count(f"{method} {VOORS_PREFIX}/{path.strip('/').split('/', 1)[0]}")
        if raw and parsed is _NO_BODY:
            raise voors_error(400, "Invalid JSON in the request body")
        status, value = member.voors.handle(method, path, query, None if parsed is _NO_BODY else parsed)
        return _json_answer(status, value)

    # -- /_sandbox --------------------------------------------------------------------------------

    def _control(self, method: str, path: str, query: dict[str, str], raw: bytes) -> _Answer:
        body: Any = json.loads(raw) if raw.strip() else {}
        parts = [p for p in path.split("/") if p]
        head = parts[0] if parts else ""
        if not parts and method == "GET":
            return _json_answer(
                200,
                {
                    "base_url": self.base_url,
                    "voors_url": self.voors_url,
                    "pontoweb_conn": self.pontoweb_conn,
                    "voors_conn": self.voors_conn,
                    "endpoints": [
                        "GET /_sandbox/state",
                        "GET /_sandbox/companies",
                        "GET|DELETE /_sandbox/requests?method=&path=&since=",
                        "GET /_sandbox/reckons[/{process|unique}][?company=]",
                        "POST /_sandbox/reckons/{process|unique}/finish",
                        'POST /_sandbox/reckons/{process|unique}/fail {"message"}',
                        "GET /_sandbox/pushes[?company=]",
                        'GET|POST|DELETE /_sandbox/rejections {"resource", "identifiers": [...], "message"}',
                        "GET /_sandbox/voors/{resource}[?company=]",
                        "GET|POST|DELETE /_sandbox/faults[/{id}]",
                        'GET|PUT /_sandbox/forbidden {"users": [...]}',
                        'GET /_sandbox/clock, POST /_sandbox/clock/advance {"seconds"}',
                        "POST /_sandbox/reset",
                    ],
                },
            )
        if head == "state" and method == "GET":
            return _json_answer(200, self.state())
        if head == "companies" and len(parts) == 1 and method == "GET":
            return _json_answer(200, [member.describe() for member in self.companies.values()])
        company = query.get("company") or None
        if head == "requests":
            if method == "DELETE":
                self.clear_requests()
                return _json_answer(200, {"cleared": True})
            since = int(query.get("since", "0") or 0)
            return _json_answer(200, self.requests(query.get("method"), query.get("path"), since))
        if head == "reckons":
            if len(parts) == 1 and method == "GET":
                return _json_answer(200, self._known(lambda _: self.reckons(company), ""))
            key = parts[1] if len(parts) > 1 else ""
            if len(parts) == 2 and method == "GET":
                return _json_answer(200, self._known(lambda k: self.reckon(k, company), key))
            if len(parts) == 3 and method == "POST" and parts[2] == "finish":
                return _json_answer(200, self._known(lambda k: self.finish_reckon(k, company), key))
            if len(parts) == 3 and method == "POST" and parts[2] == "fail":
                message = body.get("message") if isinstance(body, dict) else None
                return _json_answer(200, self._known(lambda k: self.fail_reckon(k, message, company), key))
        if head == "pushes" and method == "GET":
            return _json_answer(200, self._known(lambda _: self.pushes(company), ""))
        if head == "rejections" and len(parts) == 1:
            if method == "POST":
                if not isinstance(body, dict):
                    raise ValueError('rejections takes {"resource", "identifiers": [...], "message"}')
                identifiers = body.get("identifiers", [])
                if not isinstance(identifiers, list) or not all(isinstance(i, str) for i in identifiers):
                    raise ValueError('"identifiers" must be a list of strings')
                message = body.get("message") or DEFAULT_REJECTION
                return _json_answer(
                    200, self.reject_records(str(body.get("resource")), *identifiers, message=message)
                )
            if method == "DELETE":
                self.clear_rejections()
                return _json_answer(200, {"cleared": True})
            if method == "GET":
                return _json_answer(200, self.rejections())
        if head == "voors" and len(parts) == 2 and method == "GET":
            if parts[1] not in self.voors.store:
                return _json_answer(404, {"error": f"unknown Voors resource {parts[1]!r}"})
            return _json_answer(200, self._known(lambda r: self.voors_records(r, company), parts[1]))
        if head == "quirks" and len(parts) == 1:
            if method == "GET":
                return _json_answer(200, self.quirks.describe())
            if method in ("PUT", "POST", "PATCH"):
                if not isinstance(body, dict):
                    raise ValueError('send the quirks as a JSON object, e.g. {"status_case": "upper"}')
                return _json_answer(200, self.set_quirks(**body))
        if head == "faults":
            if len(parts) == 1 and method == "GET":
                return _json_answer(200, self.list_faults())
            if len(parts) == 1 and method == "POST":
                specs = body if isinstance(body, list) else [body]
                added = [self.faults.add(Fault.from_spec(s)).describe() for s in specs]
                return _json_answer(201, added if isinstance(body, list) else added[0])
            if len(parts) == 1 and method == "DELETE":
                self.clear_faults()
                return _json_answer(200, {"cleared": True})
            if len(parts) == 2 and method == "DELETE":
                removed = self.remove_fault(int(parts[1]))
                return _json_answer(200 if removed else 404, {"removed": removed})
        if head == "forbidden":
            if method in ("PUT", "POST"):
                users = body.get("users", []) if isinstance(body, dict) else body
                if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
                    raise ValueError('forbidden takes {"users": ["login or token", ...]}')
                self.set_forbidden(*users) if method == "PUT" else self.forbid(*users)
            if method in ("GET", "PUT", "POST"):
                return _json_answer(200, {"users": self.forbidden})
        if head == "clock":
            if len(parts) == 2 and parts[1] == "advance" and method == "POST":
                seconds = float(body.get("seconds", 0)) if isinstance(body, dict) else float(body)
                self.advance(seconds)
            if method in ("GET", "POST"):
                now = self.clock()
                return _json_answer(200, {"now": iso_ms(now), "epoch": now, "offset": self.clock.offset})
        if head == "reset" and method == "POST":
            self.reset()
            return _json_answer(200, {"reset": True})
        return _json_answer(404, {"error": f"no sandbox control endpoint {method} {CONTROL_PREFIX}{path}"})

    @staticmethod
    def _known(func: Callable[[str], Any], key: str) -> Any:
        try:
            return func(key)
        except KeyError as exc:
            raise ApiError(404, {"error": str(exc).strip("'\"")}) from None


def _html_page(status: int, content: str) -> bytes:
    """A web server's error page, as nginx or a gateway answers it (not the API's JSON)."""
    title = f"{status} {_reason(status)}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        f"{content}\r\n</body>\r\n</html>\r\n"
    ).encode()


def _seconds(value: float | None) -> str:
    number = float(value or 0)
    return str(int(number)) if number.is_integer() else f"{number:g}"


def _company_specs(companies: int | Sequence[str | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``Sandbox(companies=...)`` as one dict of :data:`COMPANY_FIELDS` per company (empty: all
    derived)."""
    if isinstance(companies, bool):
        raise ValueError(f"companies must be a number or a list of companies, got {companies!r}")
    if isinstance(companies, int):
        if companies < 1:
            raise ValueError(f"companies must be at least 1, got {companies}")
        return [{} for _ in range(companies)]
    specs: list[dict[str, Any]] = []
    for item in companies:
        spec = {"company": item} if isinstance(item, str) else dict(item)
        unknown = sorted(set(spec) - set(COMPANY_FIELDS))
        if unknown:
            raise ValueError(
                f"unknown company field(s) {', '.join(unknown)}; known: {', '.join(COMPANY_FIELDS)}"
            )
        specs.append(spec)
    if not specs:
        raise ValueError("companies must name at least one company")
    return specs


@contextlib.contextmanager
def run_sandbox(**options: Any) -> Iterator[Sandbox]:
    """Start a :class:`Sandbox` on a free loopback port in a background thread; stop it on exit.

    ::

        with run_sandbox(employees=50) as sb:
            os.environ.update(sb.airflow_env())
            ...
    """
    sandbox = Sandbox(**options)
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass (a helper for tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())

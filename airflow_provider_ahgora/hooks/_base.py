"""The wire layer shared by the PontoWeb and Voors hooks.

One ``requests.Session`` per hook (keep-alive), a timeout on every call, retries with exponential
backoff and jitter (tenacity) on transient failures only, ``Retry-After`` honoured, and every error
answer mapped into :mod:`airflow_provider_ahgora.exceptions`. Secrets never reach a URL, a log line,
an exception or a ``repr``: credentials travel in headers only, URLs in messages carry no query
string, and error bodies are quoted only after the secrets are masked out of them.

The async variants (for triggers) run each attempt's blocking call in a worker thread and sleep
between attempts with ``asyncio.sleep``, so the triggerer's event loop is never blocked and the
async path shares the exact error mapping, retry rules and secret hygiene of the sync path.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlsplit

import requests
from airflow.providers.common.compat.sdk import BaseHook
from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from airflow_provider_ahgora import __version__
from airflow_provider_ahgora.exceptions import (
    AhgoraAPIError,
    AhgoraAuthError,
    AhgoraBadRequestError,
    AhgoraConfigError,
    AhgoraConnectionError,
    AhgoraDailyLimitError,
    AhgoraExpiredError,
    AhgoraNotFoundError,
    AhgoraPermissionError,
    AhgoraRateLimitError,
    AhgoraServerError,
    AhgoraTransientError,
)
from airflow_provider_ahgora.models.pontoweb import parse_error_body

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Connection

USER_AGENT = f"airflow-provider-ahgora/{__version__}"

#: When to retry: ``all`` transient failures; only those where the server surely did ``safe``-ly
#: nothing (connection refused, 429); or ``none``.
RetryMode = Literal["all", "safe", "none"]

_MASKED = {"***", "********"}
#: Seconds per call when neither the hook nor the connection says.
DEFAULT_TIMEOUT = 60.0


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
    """One URL path segment, quoted so that an id can never change the route."""
    text = str(value)
    if not text:
        raise AhgoraConfigError("An identifier in the URL path is empty: pass a non-empty id.")
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


@dataclass(frozen=True)
class WireSettings:
    """Everything a hook needs to talk to its API, resolved once from the connection."""

    base_url: str
    headers: dict[str, str]
    timeout: float
    auth: tuple[str, str] | None = field(default=None, repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)
    extras: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # headers may hold a token: never show them
        return f"WireSettings(base_url={self.base_url!r}, timeout={self.timeout!r})"


def build_base_url(conn: Connection, default_host: str | None, service: str, conn_id: str) -> str:
    """``scheme://host[:port][/path]`` from a connection, refusing plain http off loopback."""
    host = (conn.host or "").strip() or (default_host or "")
    if not host:
        raise AhgoraConfigError(
            f"Connection '{conn_id}' has no host: set the {service} API base URL in its Host field."
        )
    schema = (conn.schema or "").strip()
    if "://" not in host:
        scheme = schema if schema in {"http", "https"} else "https"
        host = f"{scheme}://{host}"
        schema = "" if schema in {"http", "https"} else schema
    parts = urlsplit(host)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise AhgoraConfigError(
            f"Connection '{conn_id}': the host must be an http(s) URL such as https://api.example.com."
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise AhgoraConfigError(
            f"Connection '{conn_id}': the host must not carry a query string, fragment or credentials; "
            "put the credentials in the connection's login/password fields."
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise AhgoraConfigError(
            f"Connection '{conn_id}' uses plain http:// to {parts.hostname}: credentials would cross the "
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


def resolve_timeout(override: float | None, extras: Mapping[str, Any], conn_type: str, conn_id: str) -> float:
    """Seconds per call: the hook's argument, else the connection's ``timeout`` extra, else 60."""
    if override is not None:
        return override
    raw = get_extra(extras, conn_type, "timeout")
    try:
        timeout = float(raw) if raw is not None else DEFAULT_TIMEOUT
    except (TypeError, ValueError):
        raise AhgoraConfigError(
            f"Connection '{conn_id}': extra timeout must be a number of seconds, got {raw!r}."
        ) from None
    if timeout <= 0:
        raise AhgoraConfigError(f"Connection '{conn_id}': extra timeout must be positive.")
    return timeout


def mask(secret: str | None) -> None:
    """Register a secret with Airflow's log masker (best effort, on top of never logging secrets)."""
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


class AhgoraRestHook(BaseHook):
    """Base of the PontoWeb and Voors hooks: settings, session, requests, retries, error mapping.

    :param retry_limit: how many times a failed call is retried (0: never). Default 4.
    :param retry_delay: first backoff delay in seconds; it doubles each retry, with jitter. Default 1.
    :param retry_max_delay: cap of one backoff delay, and of a ``Retry-After`` honoured. Default 60.
    :param timeout: seconds per call, overriding the connection's ``timeout`` extra.
    """

    service_name = "API"
    conn_name_attr = "conn_id"

    def __init__(
        self,
        conn_id: str,
        *,
        retry_limit: int = 4,
        retry_delay: float = 1.0,
        retry_max_delay: float = 60.0,
        timeout: float | None = None,
    ) -> None:
        super().__init__()
        if retry_limit < 0:
            raise AhgoraConfigError("retry_limit must be 0 or more")
        if retry_delay < 0 or retry_max_delay < 0:
            raise AhgoraConfigError("retry_delay and retry_max_delay must be 0 or more")
        if timeout is not None and timeout <= 0:
            raise AhgoraConfigError("timeout must be a positive number of seconds")
        self.conn_id = conn_id
        self.retry_limit = retry_limit
        self.retry_delay = retry_delay
        self.retry_max_delay = retry_max_delay
        self.timeout_override = timeout
        self._session_lock = threading.Lock()
        self._session: requests.Session | None = None
        #: How the sync path sleeps between attempts (tests replace it).
        self.sleep: Callable[[float], None] = time.sleep

    def __repr__(self) -> str:
        return f"<{type(self).__name__} conn_id={self.conn_id!r}>"

    # -- settings and session -------------------------------------------------------------------

    def _build_settings(self, conn: Connection) -> WireSettings:  # pragma: no cover - abstract
        raise NotImplementedError

    @cached_property
    def settings(self) -> WireSettings:
        """The resolved connection settings (looked up on first use, never at construction)."""
        return self._build_settings(self.get_connection(self.conn_id))

    async def asettings(self) -> WireSettings:
        """:attr:`settings`, looked up without blocking the event loop."""
        if "settings" in self.__dict__:
            return self.settings
        aget = getattr(BaseHook, "aget_connection", None)
        if aget is not None:
            conn = await type(self).aget_connection(self.conn_id)  # type: ignore[attr-defined]
        else:
            conn = await asyncio.to_thread(self.get_connection, self.conn_id)
        settings = self._build_settings(conn)
        self.__dict__["settings"] = settings
        return settings

    def get_conn(self) -> requests.Session:
        """The hook's one ``requests.Session`` (keep-alive), with auth and headers set."""
        with self._session_lock:
            if self._session is None:
                settings = self.settings
                session = requests.Session()
                session.headers.update(settings.headers)
                if settings.auth is not None:
                    session.auth = settings.auth
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
        with self._session_lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    # -- secret hygiene -------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        settings = self.__dict__.get("settings")
        if settings is not None:
            for secret in settings.secrets:
                if secret and len(secret) >= 3:
                    text = text.replace(secret, "***")
        return text

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
    ) -> Any:
        """One HTTP call: the parsed JSON answer (None if empty), or a mapped exception."""
        session = self.get_conn()
        url = self._url(path)
        sent_headers = dict(headers or {})
        if json_body is not None:
            data = json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if data is not None:
            sent_headers.setdefault("Content-Type", "application/json")
        try:
            response = session.request(
                method,
                url,
                params=params,
                data=data,
                headers=sent_headers,
                timeout=self.settings.timeout,
            )
        except requests.exceptions.ConnectTimeout as exc:
            raise self._connection_error(method, path, "connection timed out", exc, processed=False) from None
        except requests.exceptions.Timeout as exc:
            raise self._connection_error(
                method, path, "timed out waiting for the answer", exc, True
            ) from None
        except requests.exceptions.ConnectionError as exc:
            text = str(exc)
            refused = "NewConnectionError" in text or "Failed to resolve" in text or "refused" in text
            reason = "could not connect" if refused else "connection broken during the call"
            raise self._connection_error(method, path, reason, exc, processed=not refused) from None
        except requests.exceptions.RequestException as exc:
            raise self._connection_error(method, path, type(exc).__name__, exc, True) from None
        return self._handle_response(method, path, response)

    def _connection_error(
        self, method: str, path: str, reason: str, exc: BaseException, processed: bool
    ) -> AhgoraConnectionError:
        # the underlying error is quoted (scrubbed, shortened) rather than chained: it is the only
        # place a library could have put something we did not choose to show
        detail = self._scrub(str(exc))[:300]
        err = AhgoraConnectionError(
            f"{reason} ({type(exc).__name__}: {detail})", method=method, url=path, service=self.service_name
        )
        err.may_have_been_processed = processed
        return err

    def _handle_response(self, method: str, path: str, response: requests.Response) -> Any:
        status = response.status_code
        try:
            raw = response.content
        except requests.exceptions.RequestException as exc:  # body cut mid-way
            raise self._connection_error(method, path, "answer cut mid-body", exc, True) from None
        body: Any = None
        parse_failed = False
        if raw and raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                parse_failed = True
        if 200 <= status < 300:
            if parse_failed:
                err = AhgoraConnectionError(
                    f"malformed JSON in the answer (HTTP {status}, {len(raw)} bytes)",
                    method=method,
                    url=path,
                    service=self.service_name,
                )
                err.may_have_been_processed = True
                raise err
            self._check_answer(body)
            return body
        raise self._map_error(method, path, response, body, raw if parse_failed else None)

    def _check_answer(self, body: Any) -> None:
        """Hook-specific checks of a successful answer (PontoWeb: the company)."""

    def _map_error(
        self, method: str, path: str, response: requests.Response, body: Any, raw_text: bytes | None
    ) -> AhgoraAPIError:
        status = response.status_code
        message = parse_error_body(body).message
        if message is None:
            if raw_text is not None:
                snippet = raw_text[:200].decode("utf-8", "replace").strip()
            elif body is not None:
                snippet = json.dumps(body, ensure_ascii=False)[:200]
            else:
                snippet = response.reason or "no body"
            message = snippet or (response.reason or "no body")
        message = self._scrub(message)
        kwargs: dict[str, Any] = {
            "http_status": status,
            "method": method,
            "url": path,
            "service": self.service_name,
        }
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        exc: AhgoraAPIError
        if status == 401:
            exc = AhgoraAuthError(message, **kwargs)
        elif status == 403:
            exc = AhgoraPermissionError(message, **kwargs)
        elif status == 404 or (status == 400 and "not found" in message.lower()):
            exc = AhgoraNotFoundError(message, **kwargs)
        elif status == 410 or (status == 400 and "expired" in message.lower()):
            exc = AhgoraExpiredError(message, **kwargs)
        elif status == 429 and "daily limit" in message.lower():
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

    # -- retries --------------------------------------------------------------------------------

    def _should_retry(self, mode: RetryMode) -> Callable[[BaseException], bool]:
        def predicate(exc: BaseException) -> bool:
            if mode == "none" or not isinstance(exc, AhgoraTransientError):
                return False
            if mode == "safe":
                return not getattr(exc, "may_have_been_processed", True)
            return True

        return predicate

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), self.retry_max_delay)
        ceiling = min(self.retry_max_delay, self.retry_delay * (2 ** (state.attempt_number - 1)))
        # "equal jitter": at least half the exponential delay, plus a random share of the other half
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not crypto

    def _log_retry(self, method: str, path: str) -> Callable[[RetryCallState], None]:
        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            self.log.warning(
                "%s %s %s failed (%s); retry %d/%d in %.1f s",
                self.service_name,
                method,
                path,
                short_reason(exc),
                state.attempt_number,
                self.retry_limit,
                wait,
            )

        return before_sleep

    def _request(self, method: str, path: str, *, retry: RetryMode = "all", **kwargs: Any) -> Any:
        """A call with retries per ``retry``; returns the parsed JSON answer."""
        retrying = Retrying(
            stop=stop_after_attempt(self.retry_limit + 1),
            wait=self._wait,
            retry=retry_if_exception(self._should_retry(retry)),
            before_sleep=self._log_retry(method, path),
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(self._attempt, method, path, **kwargs)

    async def _arequest(self, method: str, path: str, *, retry: RetryMode = "all", **kwargs: Any) -> Any:
        """Async :meth:`_request`: each attempt runs in a worker thread; backoff sleeps are async."""
        await self.asettings()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry_limit + 1),
            wait=self._wait,
            retry=retry_if_exception(self._should_retry(retry)),
            before_sleep=self._log_retry(method, path),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await asyncio.to_thread(self._attempt, method, path, **kwargs)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- connection test helpers ------------------------------------------------------------------

    def _masked_password_message(self) -> str | None:
        conn = self.get_connection(self.conn_id)
        if conn.password in _MASKED:
            return (
                "The password field holds the masked placeholder '***', not the secret: type the "
                "password (or token) again in the form before pressing Test."
            )
        return None

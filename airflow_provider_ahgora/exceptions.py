"""One exception hierarchy for everything that can go wrong talking to PontoWeb or Voors.

Every message says what happened *and what to do next*. No message, ``repr`` or attribute ever
holds a password or a token: the hooks build these exceptions from the status code and the body of
the answer only, and the URL they carry has no query string.

::

    AhgoraError (AirflowException)
    ├── AhgoraConfigError            the connection or the arguments are wrong; fix them, no retry helps
    ├── AhgoraValidationError        a record or request body is invalid; nothing was sent
    ├── AhgoraAPIError               the API answered with an error status
    │   ├── AhgoraAuthError          401: wrong login/password or token
    │   ├── AhgoraPermissionError    403: the user lacks permission for the route
    │   ├── AhgoraBadRequestError    400: the API refused the body or parameters
    │   │   └── AhgoraNotFoundError  the API's own 404, or 400 "Process not found"
    │   ├── AhgoraWrongEndpointError an error page that is not the API's (a web server's 404 HTML):
    │   │   │                        the base URL is wrong; never read as "absent"
    │   │   └── AhgoraRedirectError  a 3xx (never followed); the server may have acted: also an
    │   │                            AhgoraTransientError with may_have_been_processed=True
    │   ├── AhgoraExpiredError       410: the data expired (reckon results live 72 h)
    │   ├── AhgoraDailyLimitError    429 "daily limit of 3 ...": will not clear by retrying today
    │   └── AhgoraTransientError     may succeed if tried again (5xx, 429 rate limit, network)
    │       ├── AhgoraServerError        5xx
    │       ├── AhgoraRateLimitError     429 that is not the daily limit
    │       └── AhgoraConnectionError    connection refused/reset, timeout, cut answer
    │           └── AhgoraMalformedAnswerError  a 2xx that is not a valid answer of the route
    ├── AhgoraUnknownValueError      an enumerated value (a status, a type) outside the documents
    └── AhgoraReadInterruptedError   a results read failed after the server may have consumed it
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException

__all__ = [
    "AhgoraAPIError",
    "AhgoraAuthError",
    "AhgoraBadRequestError",
    "AhgoraConfigError",
    "AhgoraConnectionError",
    "AhgoraDailyLimitError",
    "AhgoraError",
    "AhgoraExpiredError",
    "AhgoraMalformedAnswerError",
    "AhgoraNotFoundError",
    "AhgoraPermissionError",
    "AhgoraRateLimitError",
    "AhgoraReadInterruptedError",
    "AhgoraRedirectError",
    "AhgoraServerError",
    "AhgoraTransientError",
    "AhgoraUnknownValueError",
    "AhgoraValidationError",
    "AhgoraWrongEndpointError",
    "RecordError",
]


class AhgoraError(AirflowException):
    """Base of every error raised by this provider."""


class AhgoraConfigError(AhgoraError):
    """The connection or the arguments are wrong. Retrying does not help: fix the configuration."""


class RecordError:
    """One invalid field of one record: which record, which field, what is wrong."""

    __slots__ = ("field", "index", "label", "message")

    def __init__(self, index: int | None, label: str | None, field: str, message: str) -> None:
        self.index = index
        self.label = label
        self.field = field
        self.message = message

    def __str__(self) -> str:
        where = []
        if self.index is not None:
            where.append(f"record {self.index}")
        if self.label:
            where.append(f"({self.label})")
        prefix = " ".join(where)
        field = f"field '{self.field}'" if self.field else "record"
        return f"{prefix}: {field}: {self.message}" if prefix else f"{field}: {self.message}"

    def __repr__(self) -> str:
        return f"RecordError({self!s})"

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "label": self.label, "field": self.field, "message": self.message}


class AhgoraValidationError(AhgoraError, ValueError):
    """A request body or record is invalid. It was refused before any request was sent.

    ``errors`` lists every invalid field, each naming the record and the field.
    """

    def __init__(self, what: str, errors: list[RecordError]) -> None:
        self.what = what
        self.errors = errors
        lines = "\n".join(f"  - {e}" for e in errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(f"Invalid {what}; nothing was sent. Fix these fields and run again:\n{lines}{more}")


class AhgoraAPIError(AhgoraError):
    """The API answered with an error status.

    :ivar http_status: the HTTP status (``status_code`` is AirflowException's own).
    :ivar api_message: the message the API gave, whatever the error shape (v1, v2, ``{message, code}``).
    :ivar method: the HTTP method.
    :ivar url: the URL without its query string (never a token).
    """

    hint = "Check the request and try again."

    def __init__(
        self,
        api_message: str,
        *,
        http_status: int | None = None,
        method: str | None = None,
        url: str | None = None,
        service: str = "API",
        hint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.api_message = api_message
        self.http_status = http_status
        self.method = method
        self.url = url
        self.service = service
        self.retry_after = retry_after
        if hint is not None:
            self.hint = hint
        status = f"HTTP {http_status}" if http_status is not None else "no HTTP answer"
        where = f" on {method} {url}" if method and url else ""
        super().__init__(f"{service} {status}{where}: {api_message}. {self.hint}")


class AhgoraAuthError(AhgoraAPIError):
    hint = (
        "The credentials were refused: check the login and password (PontoWeb service user) or the "
        "API token (Voors) stored in the Airflow connection."
    )


class AhgoraPermissionError(AhgoraAPIError):
    hint = (
        "The credentials are valid but lack permission for this route: ask the account administrator "
        "to grant the user access to it."
    )


class AhgoraBadRequestError(AhgoraAPIError):
    hint = "The API refused the request as invalid: fix the parameters or body named above."


class AhgoraNotFoundError(AhgoraBadRequestError):
    hint = "Check the identifier (process, unique or id): it does not exist, or belongs to another company."


class AhgoraWrongEndpointError(AhgoraAPIError):
    """An error answer that does not come from the API: a web server's or gateway's page (HTML, plain
    text, an empty body) instead of the API's JSON error. It usually means the connection's host or
    base URL points somewhere else. It is never read as "the record is absent" (a 404 of the API)."""

    hint = (
        "The answer is not the API's own error (it looks like a web server's or gateway's page): check "
        "the host and base URL of the connection."
    )


class AhgoraExpiredError(AhgoraAPIError):
    hint = "The data expired (reckon results are kept 72 hours): start a new reckon."


class AhgoraDailyLimitError(AhgoraAPIError):
    """429 "The daily limit of 3 has been exceeded for the following features: ...".

    It will not clear by retrying today: fail fast. ``features`` lists the features named, and
    ``clears_at`` is the next midnight UTC (a conservative estimate: the API does not say).
    """

    _FEATURES = re.compile(r"following features:\s*(?P<features>[^\n]*?)\.?\s*$", re.IGNORECASE)

    def __init__(self, api_message: str, **kwargs: Any) -> None:
        match = self._FEATURES.search(api_message or "")
        self.features: list[str] = (
            [f.strip() for f in match.group("features").split(",") if f.strip()] if match else []
        )
        now = datetime.now(timezone.utc)
        self.clears_at = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        feats = ", ".join(self.features) or "the requested features"
        kwargs.setdefault(
            "hint",
            f"No more full-base reckons of {feats} are allowed today (3 per feature per day). Retrying "
            f"today will not help: it clears at the start of the next day "
            f"(around {self.clears_at:%Y-%m-%d %H:%M} UTC). Run again then, or filter by `registers` "
            "(filtered reckons are not limited).",
        )
        super().__init__(api_message, **kwargs)


class AhgoraTransientError(AhgoraAPIError):
    """May succeed if tried again.

    :ivar may_have_been_processed: False only when the server surely did not act on the request
        (connection refused, 429 rate limit): such a call is safe to repeat even when it is not
        idempotent, such as a results read that consumes what it returns.
    """

    may_have_been_processed: bool = True
    hint = "This is usually temporary: the call is retried with backoff; if it persists, try again later."


class AhgoraServerError(AhgoraTransientError):
    pass


class AhgoraRateLimitError(AhgoraTransientError):
    hint = "Too many requests: the call is retried after the delay the server asks for (Retry-After)."


class AhgoraConnectionError(AhgoraTransientError):
    hint = (
        "The server could not be reached or its answer was cut or malformed: the call is retried with "
        "backoff; if it persists, check the host in the connection and the network."
    )


class AhgoraRedirectError(AhgoraWrongEndpointError, AhgoraTransientError):
    """A 3xx answer. The hooks never follow a redirect: it could carry the credentials and the body
    to another host, or to plain http. It usually means the base URL is out of date (``http`` for
    ``https``, a host that moved, a path without its trailing part), hence an
    :class:`AhgoraWrongEndpointError`. But the request reached the server, which may have acted on it
    before it redirected (a POST answered "see other"): the outcome is unknown, hence also an
    :class:`AhgoraTransientError` with ``may_have_been_processed=True``, so that a create or a paid
    reckon is never sent again blindly. The hooks never repeat it."""

    hint = (
        "The server redirected the request, and redirects are not followed: set the connection's host "
        "and base URL to the API's own address (the one named above, if it is the API's). The server may "
        "have acted on the request before redirecting: check before sending it again."
    )


class AhgoraMalformedAnswerError(AhgoraConnectionError):
    """A 2xx answer that is not a valid answer of the route: not JSON, or JSON of another shape (a
    gateway's page, ``{}``, ``progress`` as ``"5/10"``). Transient: while waiting it is treated exactly
    like a 5xx. Like any answer that arrived, the server may have acted on the request."""

    hint = (
        "The server answered something that is not a valid answer of this route (a gateway page, a cut or "
        "odd body): it is treated as temporary; if it persists, check the host in the connection."
    )


class AhgoraUnknownValueError(AhgoraError):
    """The API answered an enumerated value (a status, a result or punch type) that its documents do not
    list. It is never read as "still running" nor as success: the value is named so that it can be
    looked up, and the code that meets it fails rather than guess.

    :ivar what: what the value is, e.g. ``"reckon status"``.
    :ivar value: the value as received.
    :ivar allowed: the documented values.
    """

    def __init__(self, what: str, value: Any, allowed: tuple[str, ...] | list[str]) -> None:
        self.what = what
        self.value = value
        self.allowed = tuple(allowed)
        super().__init__(
            f"The API answered the {what} {value!r}, which its documents do not list (known: "
            f"{', '.join(self.allowed)}). Nothing is guessed from it (neither 'still running' nor success): "
            "ask the vendor what it means, and report it to airflow-provider-ahgora."
        )


class AhgoraReadInterruptedError(AhgoraError):
    """A results read failed after the server may already have consumed the page.

    PontoWeb marks the records of a results page as consumed as it sends them; if the answer is lost,
    repeating the read returns the *next* records and the lost page is gone. So the read is not
    retried: recover by calling ``reconsume(unique)`` and reading again from the start.

    :ivar unique: the reckon's unique id.
    :ivar pages_read: complete pages read before the failure.
    :ivar records_read: records received before the failure.
    """

    def __init__(self, unique: str, pages_read: int, records_read: int, cause: BaseException) -> None:
        self.unique = unique
        self.pages_read = pages_read
        self.records_read = records_read
        self.cause_message = str(cause)
        super().__init__(
            f"Reading results of reckon {unique} failed after {pages_read} page(s) and {records_read} "
            f"record(s): {cause}. The server may have consumed the page that was lost, so the read was "
            f"not repeated. Call reconsume('{unique}') and read again from the start (the "
            "PontoWebReckonResultsOperator does this for you on its next try)."
        )

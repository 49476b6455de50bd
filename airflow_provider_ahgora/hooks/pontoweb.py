"""PontoWebHook: Ahgora PontoWeb (time and attendance) over HTTP Basic auth."""

from __future__ import annotations

import codecs
import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from airflow_provider_ahgora._limits import MAX_PUSH_BYTES as MAX_PUSH_BYTES  # re-exported
from airflow_provider_ahgora._limits import MAX_PUSH_RECORDS as MAX_PUSH_RECORDS  # re-exported
from airflow_provider_ahgora._limits import PUSH_RESOURCES
from airflow_provider_ahgora.exceptions import (
    AhgoraAuthError,
    AhgoraConfigError,
    AhgoraNotFoundError,
    AhgoraPermissionError,
    AhgoraReadInterruptedError,
    AhgoraTransientError,
    AhgoraValidationError,
    RecordError,
)
from airflow_provider_ahgora.hooks._base import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT  # re-exported
from airflow_provider_ahgora.hooks._base import (
    USER_AGENT,
    AhgoraRestHook,
    HttpAnswer,
    RetryMode,
    SecretScrubber,
    WireSettings,
    build_base_url,
    field_behaviour,
    form_widgets,
    get_extra,
    mask,
    quote_segment,
    resolve_timeout,
    wire_json,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Connection

    from airflow_provider_ahgora.models.pontoweb import (
        ProcessStatus,
        PushTicket,
        ReckonResultsPage,
        ReckonStartRequest,
        ReckonStartResponse,
        ReckonStatus,
        ReconsumeResponse,
    )

DEFAULT_HOST = "https://api.ahgora.com.br"
ACCEPT_VERSIONS = ("v1", "v2")
#: A process id that cannot exist: its status answers 400 "Process not found" to valid credentials.
PROBE_PROCESS = "00000000-0000-0000-0000-000000000000"

MAX_PAGE_SIZE = 1000


def serialize_records(records: Sequence[Any]) -> bytes:
    """The exact JSON body bytes of a push (compact, UTF-8): what the size limit is measured on."""
    return wire_json(list(records))


class PontoWebHook(AhgoraRestHook):
    """Talks to Ahgora PontoWeb with a *service* user (HTTP Basic auth).

    Connection (type ``pontoweb``): host defaults to ``https://api.ahgora.com.br``; login and
    password are the service user; extras ``accept_version`` (``v1``/``v2``, default ``v2``),
    ``timeout`` (the deadline of each call in seconds, default 60) and ``company`` (optional: when
    set, an answer for another company is refused as a misconfiguration).

    Constructing the hook does no network and no connection lookup.

    :param pontoweb_conn_id: the Airflow connection id.
    :param retry_limit: retries of a failed call (transient failures only). Default 4.
    :param retry_delay: first backoff delay (s), doubled each retry, with jitter. Default 1.
    :param retry_max_delay: cap of a backoff delay and of a honoured ``Retry-After`` (s). Default 60.
    :param timeout: the deadline of one call in seconds (connect, send, status, headers and body);
        overrides the connection's ``timeout`` extra.
    """

    conn_name_attr = "pontoweb_conn_id"
    default_conn_name = "pontoweb_default"
    conn_type = "pontoweb"
    hook_name = "Ahgora PontoWeb"
    service_name = "PontoWeb"

    def __init__(self, pontoweb_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(pontoweb_conn_id, **kwargs)
        self.pontoweb_conn_id = pontoweb_conn_id

    # -- Airflow UI (Airflow 2.11; Airflow 3 reads the same from get_provider_info) ---------------

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        from airflow_provider_ahgora import PONTOWEB_CONN_FIELDS

        return form_widgets(PONTOWEB_CONN_FIELDS)

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        from airflow_provider_ahgora import PONTOWEB_UI_FIELD_BEHAVIOUR

        return field_behaviour(PONTOWEB_UI_FIELD_BEHAVIOUR)

    # -- settings -------------------------------------------------------------------------------

    def _build_settings(self, conn: Connection) -> WireSettings:
        where = self._where()
        extras = conn.extra_dejson or {}
        accept = str(get_extra(extras, "pontoweb", "accept_version") or "v2").strip().lower()
        if accept not in ACCEPT_VERSIONS:
            raise AhgoraConfigError(f"{where}: extra accept_version must be 'v1' or 'v2', got {accept!r}.")
        timeout = resolve_timeout(self.timeout_override, extras, "pontoweb", where)
        if not conn.login or not conn.password:
            missing = " and ".join(
                name for name, value in (("login", conn.login), ("password", conn.password)) if not value
            )
            raise AhgoraConfigError(
                f"{where} needs the PontoWeb service user: its {missing} "
                f"{'is' if ' and ' not in missing else 'are'} empty. Set the service user's login and "
                "password."
            )
        if ":" in conn.login:
            raise AhgoraConfigError(
                f"{where}: the login holds ':', which HTTP Basic auth cannot carry (the server would read "
                "the login up to it). Use the service user's login as PontoWeb shows it."
            )
        company = get_extra(extras, "pontoweb", "company")
        scrubber = SecretScrubber.for_basic(conn.login, conn.password)
        mask(conn.password)
        scrubber.register()
        return WireSettings(
            base_url=build_base_url(conn, DEFAULT_HOST, "PontoWeb", where),
            headers={
                "Accept": "application/json",
                "Accept-Version": accept,
                "User-Agent": USER_AGENT,
            },
            timeout=timeout,
            auth=(conn.login, conn.password),
            secrets=(conn.password,),
            extras={"accept_version": accept, "company": str(company) if company else None},
            scrubber=scrubber,
        )

    @property
    def company(self) -> str | None:
        """The company code the connection is pinned to, if any."""
        return self.settings.extras.get("company")

    def _check_answer(self, method: str, path: str, response: HttpAnswer, body: Any, raw: bytes) -> None:
        expected = self.settings.extras.get("company")
        if expected and isinstance(body, Mapping):
            got = body.get("company")
            if got not in (None, "") and str(got) != expected:
                raise AhgoraConfigError(
                    f"Connection '{self.pontoweb_conn_id}' is pinned to company '{expected}' but PontoWeb "
                    f"answered for company '{got}': the service user belongs to another company. Fix the "
                    "connection's login/password or its `company` extra."
                )

    # -- reckon ---------------------------------------------------------------------------------

    def start_reckon(self, request: ReckonStartRequest | Mapping[str, Any]) -> ReckonStartResponse:
        """Start a reckon (``POST /reckons/process/start``). The body is validated before sending.

        Not retried after the server may have acted on it (a retry could start, and pay for, a
        second full-base reckon): only connection failures before sending and 429s are retried.
        """
        from airflow_provider_ahgora.models._base import validate_one
        from airflow_provider_ahgora.models.pontoweb import ReckonStartRequest, ReckonStartResponse

        body = validate_one(ReckonStartRequest, request, "reckon start request").to_wire()
        path = "/reckons/process/start"
        return self._request(
            "POST",
            path,
            json_body=body,
            retry="safe",
            parse=ReckonStartResponse.model_validate,
            what="reckon start",
        )

    def get_reckon_status(self, process: str) -> ReckonStatus:
        """Status of a reckon (``GET /reckons/process/status/{process}``)."""
        from airflow_provider_ahgora.models.pontoweb import ReckonStatus

        path = f"/reckons/process/status/{quote_segment(process)}"
        return self._request("GET", path, parse=ReckonStatus.model_validate, what="reckon status")

    async def aget_reckon_status(self, process: str) -> ReckonStatus:
        """Async :meth:`get_reckon_status`, for triggers."""
        from airflow_provider_ahgora.models.pontoweb import ReckonStatus

        path = f"/reckons/process/status/{quote_segment(process)}"
        return await self._arequest("GET", path, parse=ReckonStatus.model_validate, what="reckon status")

    def iter_reckon_results(
        self, unique: str, page_size: int = MAX_PAGE_SIZE, *, raw: bool = False
    ) -> Iterator[ReckonResultsPage | RawResultsPage]:
        """Yield the result pages of a reckon until a page comes back empty.

        With ``raw=True`` each page is a :class:`RawResultsPage`: ``total`` read as an int and each
        record as the bytes of its JSON object exactly as PontoWeb sent it, never decoded into Python
        objects, checked only for what reading them safely needs (``data`` is an array of objects, the
        answer is JSON and UTF-8). That is what the results operator writes; it costs a small fraction
        of decoding the page, let alone of building the models.

        **Reading consumes**: PontoWeb returns each record once. A read whose answer may have been
        lost after the server consumed it is never repeated: it raises
        :class:`~airflow_provider_ahgora.exceptions.AhgoraReadInterruptedError`; recover with
        :meth:`reconsume` and read again from the start. Reads that surely did not reach the server
        (connection refused, 429) are retried.
        """
        if not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise AhgoraConfigError(
                f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}, got {page_size!r}"
            )
        path = f"/reckons/{quote_segment(unique)}"
        pages = records = 0
        while True:
            try:
                # an answer that arrived but is not a results page is malformed (transient, processed)
                page = self._request(
                    "GET",
                    path,
                    params={"limit": page_size},
                    retry="safe",
                    parse=_raw_results_page if raw else _results_page,
                    what="results page",
                    decode=_decode_raw_page if raw else None,
                )
            except AhgoraTransientError as exc:
                if not exc.may_have_been_processed:
                    raise
                raise AhgoraReadInterruptedError(unique, pages, records, exc) from exc
            if not page.data:
                return
            pages += 1
            records += len(page.data)
            self.log.info("PontoWeb results of %s: page %d, %d record(s) so far", unique, pages, records)
            yield page
            del page  # hold at most one page while the next is read (bounded memory)

    def reconsume(self, unique: str) -> ReconsumeResponse:
        """Make every record of ``unique`` readable again (``GET /reckons/reconsume/{unique}``).

        Counts toward PontoWeb's limit of 1000 reconsumes per unique.
        """
        from airflow_provider_ahgora.models.pontoweb import ReconsumeResponse

        path = f"/reckons/reconsume/{quote_segment(unique)}"
        return self._request("GET", path, parse=ReconsumeResponse.model_validate, what="reconsume")

    # -- pushes and the process monitor ---------------------------------------------------------

    def push(self, resource: str, records: Sequence[Any], *, retry: RetryMode = "all") -> PushTicket:
        """Send one batch of records in one request (``POST /<resource>``); returns the ticket.

        ``resource`` is a documented push (costcenter, subsidiaries, people, absences, users,
        paymentDate, anticipate) or a custom path starting with ``/``. Records of documented
        resources are validated first; any invalid record refuses the whole request before sending
        (the batch operator sets invalid records aside instead). At most 1000 records and 1 MiB of
        JSON body, measured on the bytes sent.

        ``retry``: ``"all"`` (default) repeats a request after any transient error, which may send a
        batch twice if PontoWeb accepted it but the answer was lost: harmless for upserts (cost
        centers, subsidiaries, people, users), not for absences with ``operation`` INS; ``"safe"``
        repeats only when PontoWeb surely did not act (connection refused, 429).
        """
        from airflow_provider_ahgora.models._base import validate_many
        from airflow_provider_ahgora.models.pontoweb import PUSH_ID_KEYS, PUSH_MODELS

        resolve_push_path(resource)  # an unknown resource fails before anything else
        if isinstance(records, (str, bytes, Mapping)) or not isinstance(records, Sequence):
            raise AhgoraConfigError(
                f"push({resource!r}) needs a list of records (PontoWeb requires an array), "
                f"got {type(records).__name__}."
            )
        if not records:
            raise AhgoraConfigError(f"push({resource!r}) got no records: there is nothing to send.")
        if len(records) > MAX_PUSH_RECORDS:
            raise AhgoraConfigError(
                f"push({resource!r}) got {len(records)} records; PontoWeb takes at most {MAX_PUSH_RECORDS} "
                "per request: split them into batches (PontoWebPushBatchOperator does this)."
            )
        model = PUSH_MODELS.get(resource.strip("/"))
        wire: list[Any]
        if model is not None:
            valid, invalid = validate_many(model, records, PUSH_ID_KEYS.get(resource.strip("/"), ()))
            if invalid:
                errors: list[RecordError] = [e for _, _, errs in invalid for e in errs]
                raise AhgoraValidationError(f"{resource} records", errors)
            wire = [m.to_wire() for _, m in valid]
        else:
            wire = [r.to_wire() if hasattr(r, "to_wire") else r for r in records]
        return self.push_serialized(resource, serialize_records(wire), retry=retry)

    def push_serialized(self, resource: str, body: bytes, *, retry: RetryMode = "all") -> PushTicket:
        """Send an already serialized batch: ``body`` is the JSON array exactly as it goes on the wire.

        Nothing is validated here but the size (at most 1 MiB); the caller owns the records' checks
        (:class:`~airflow_provider_ahgora.operators.push.PontoWebPushBatchOperator` validates each
        record once and measures each record's bytes while batching).
        """
        from airflow_provider_ahgora.models.pontoweb import PushTicket

        path = resolve_push_path(resource)
        if len(body) > MAX_PUSH_BYTES:
            raise AhgoraConfigError(
                f"push({resource!r}): the body is {len(body)} bytes; PontoWeb takes at most "
                f"{MAX_PUSH_BYTES} bytes (1 MiB) per request: send fewer records per batch."
            )
        return self._request(
            "POST", path, data=body, retry=retry, parse=PushTicket.model_validate, what="push ticket"
        )

    def get_process(self, unique: str | None = None, subunique: str | None = None) -> ProcessStatus:
        """The process monitor (``GET /process``) for a push, by ``subunique`` or ``unique``."""
        return self._request(
            "GET",
            "/process",
            parse=_process_status,
            what="process monitor",
            **_process_args(unique, subunique),
        )

    async def aget_process(self, unique: str | None = None, subunique: str | None = None) -> ProcessStatus:
        """Async :meth:`get_process`, for triggers."""
        return await self._arequest(
            "GET",
            "/process",
            parse=_process_status,
            what="process monitor",
            **_process_args(unique, subunique),
        )

    # -- connection test --------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """An authenticated call that spends no quota: the status of a process that cannot exist.

        Only PontoWeb's own 400 "Process not found" (in its JSON) proves the host and the credentials;
        401/403 do not, and any other answer means the host is not PontoWeb. One attempt, no
        retries, at most :data:`~airflow_provider_ahgora.hooks._base.TEST_TIMEOUT` seconds.
        """
        self._testing = True
        try:
            masked = self._masked_password_message()
            if masked:
                return False, masked
            base = self.settings.base_url
            self._probe("GET", f"/reckons/process/status/{PROBE_PROCESS}")
        except AhgoraNotFoundError as exc:
            if exc.http_status == 400 or "process" in (exc.api_message or "").lower():
                company = self.settings.extras.get("company")
                pinned = f" (pinned to company {company})" if company else ""
                return True, f"Connection to PontoWeb at {base} works: credentials accepted{pinned}."
            return False, (
                f"The server at {base} answered HTTP {exc.http_status} ({exc.api_message}) where PontoWeb "
                "answers 400 'Process not found': it does not look like the PontoWeb API. Check the Host "
                "field (empty means https://api.ahgora.com.br)."
            )
        except AhgoraAuthError:
            return False, (
                "PontoWeb refused the credentials (401 Unauthorized): check the service user's login and "
                "password in the connection."
            )
        except AhgoraPermissionError:
            return False, (
                "PontoWeb accepted the credentials but the user lacks permission for the reckon routes "
                "(403 Forbidden): use a user of type service with access to them."
            )
        except Exception as exc:  # the UI shows the message; never crash the test button
            return False, self._test_failure(exc)
        finally:
            self._testing = False
        return False, (
            f"The server at {base} answered 200 to the status of a process that cannot exist, where "
            "PontoWeb answers 400 'Process not found': it is not the PontoWeb API. Check the Host field "
            "(empty means https://api.ahgora.com.br)."
        )


_PUSH_RESOURCES = PUSH_RESOURCES


def resolve_push_path(resource: str) -> str:
    """The path of a push: a documented resource name, or a custom path starting with '/'."""
    if not isinstance(resource, str) or not resource.strip():
        raise AhgoraConfigError("resource must be a push resource name or a path starting with '/'.")
    if resource.startswith("/"):
        return "/" + "/".join(quote_segment(p) for p in resource.strip("/").split("/"))
    if resource not in _PUSH_RESOURCES:
        raise AhgoraConfigError(
            f"Unknown PontoWeb push resource {resource!r}: use one of {', '.join(_PUSH_RESOURCES)}, or a "
            "custom path starting with '/'."
        )
    return f"/{resource}"


def _process_args(unique: str | None, subunique: str | None) -> dict[str, Any]:
    if not unique and not subunique:
        raise AhgoraConfigError("get_process needs a subunique or a unique (from the push's ticket).")
    params = {"subunique": subunique} if subunique else {"unique": unique}
    # the process monitor is documented with Accept-Version v2 only
    return {"params": params, "headers": {"Accept-Version": "v2"}}


class RawResultsPage(NamedTuple):
    """A results page as received: ``total`` (an int, or ``None`` when not given or not a number) and
    the records of ``data``, each the bytes of one JSON object exactly as PontoWeb sent it, on one line
    (UTF-8; a record the server spread over several lines is compacted onto one)."""

    total: int | None
    data: list[bytes]


@functools.cache
def _raw_page_decoder() -> Any:
    """A decoder of a results page that keeps each record of ``data`` as its raw JSON (``msgspec.Raw``:
    the bytes are found, checked to be well-formed JSON, and never decoded) and ``company`` and
    ``total`` raw too (decoded by the standard library, as every other answer)."""
    import msgspec

    null = msgspec.Raw(b"null")
    page = msgspec.defstruct(
        "RawPage",
        [
            ("company", msgspec.Raw, null),
            ("total", msgspec.Raw, null),
            ("data", list[msgspec.Raw] | None, None),
        ],
    )
    return msgspec.json.Decoder(page)


def _decode_raw_page(body: bytes) -> Any:
    """The ``decode`` of a raw results page (see :meth:`AhgoraRestHook._attempt`): ``{"company",
    "total", "data"}`` with ``data`` a list of ``msgspec.Raw``; raises ``ValueError`` if ``body`` is not
    JSON in UTF-8. JSON of another shape (not an object, or ``data`` not an array) is decoded as any
    answer is, for the page's parse to say what is wrong with it."""
    import msgspec

    if body.startswith(codecs.BOM_UTF8):  # the standard library's json.loads skips it too
        body = body[len(codecs.BOM_UTF8) :]
    if not body.isascii():
        body.decode("utf-8")  # the raw records' text is not decoded: check it is UTF-8 here
    try:
        page = _raw_page_decoder().decode(body)
    except msgspec.ValidationError:
        return json.loads(body)
    return {
        "company": json.loads(bytes(page.company)),
        "total": json.loads(bytes(page.total)),
        "data": page.data,
    }


_BREAKS = (b"\n", b"\r")


def _raw_results_page(answer: Mapping[str, Any]) -> RawResultsPage:
    """A results page whose records are kept as sent: ``data`` must be an array of objects (anything
    else would read as the empty page that ends the results, or lose a record)."""
    from airflow_provider_ahgora.models.pontoweb import _lenient_int

    data = answer.get("data")
    if not isinstance(data, list):
        raise ValueError(f"'data' must be an array of records, got {_kind(data)}")
    records: list[bytes] = []
    for index, raw in enumerate(data):
        record = bytes(raw)
        if not record.startswith(b"{"):  # a raw value has no leading whitespace
            raise ValueError(f"'data[{index}]' must be a record (an object), got {_kind(json.loads(record))}")
        if _BREAKS[0] in record or _BREAKS[1] in record:  # JSON text spread over lines: one line each
            record = wire_json(json.loads(record))
        records.append(record)
    return RawResultsPage(_lenient_int(answer.get("total")), records)


def _results_page(answer: Mapping[str, Any]) -> ReckonResultsPage:
    """A results page must carry its ``data`` array: a page without one (a gateway's ``{}``) would
    otherwise read as the empty page that ends the results, and lose every record after it."""
    from airflow_provider_ahgora.models.pontoweb import ReckonResultsPage

    if not isinstance(answer.get("data"), list):
        raise ValueError(f"'data' must be an array of records, got {_kind(answer.get('data'))}")
    return ReckonResultsPage.model_validate(answer)


def _process_status(answer: Mapping[str, Any]) -> ProcessStatus:
    """A monitor answer says at least its ``status`` or its ``progress``."""
    from airflow_provider_ahgora.models.pontoweb import ProcessStatus

    if answer.get("status") is None and answer.get("progress") is None:
        raise ValueError("it has neither 'status' nor 'progress'")
    return ProcessStatus.model_validate(answer)


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__

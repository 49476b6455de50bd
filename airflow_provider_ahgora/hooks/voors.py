"""VoorsHook: the Voors (Nela / TalentRH) integration API, token auth."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from airflow_provider_ahgora.exceptions import (
    AhgoraAPIError,
    AhgoraAuthError,
    AhgoraConfigError,
    AhgoraNotFoundError,
    AhgoraPermissionError,
    AhgoraTransientError,
    AhgoraValidationError,
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
    check_header_value,
    field_behaviour,
    form_widgets,
    mask,
    quote_segment,
    resolve_timeout,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Connection

    from airflow_provider_ahgora.models.voors import GoalUser, VoorsEntity, VoorsResource, VoorsResponse

DEFAULT_GOALS_PAGE = 100
#: What the ``status`` of a Voors answer's body says when the request failed, or succeeded.
_FAILED_WORDS = frozenset({"error", "fail", "failed", "failure", "erro", "falha", "falhou"})
_SUCCESS_WORDS = frozenset({"success", "ok", "sucesso"})
_HTTP_CODE = re.compile(r"[1-5][0-9]{2}(?:\.0+)?")


def _http_code(value: Any) -> int | None:
    """The ``code`` of a Voors answer's body as an HTTP status (``"201"``, ``201``, ``201.0``), else
    None (another kind of code, or not a code at all)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return value if 100 <= value <= 599 else None
    if isinstance(value, str) and _HTTP_CODE.fullmatch(value.strip()):
        return int(value.strip().split(".")[0])
    return None


#: The filters of ``GET /goals`` (seed 004), by their wire names.
GOAL_FILTERS = frozenset({"userId", "email", "departmentId", "jobRoleId", "jobFunctionId", "leaderId"})


class Page(NamedTuple):
    """One page of a paged read: its new records, the ``skip`` it was asked at, and how many records
    it repeated from earlier pages (left out of ``records``)."""

    records: list[Any]
    skip: int
    repeated: int


def _identity(user: Mapping[str, Any]) -> Any:
    """What tells two goals users apart: their ``userId``; for a record without one, its content."""
    user_id = user.get("userId")
    if user_id is not None and not isinstance(user_id, (dict, list)):
        return ("userId", str(user_id))
    text = json.dumps(user, sort_keys=True, separators=(",", ":"), default=str)
    return ("digest", hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest())


class VoorsHook(AhgoraRestHook):
    """Talks to the Voors integration API with an API token.

    Connection (type ``voors``): host is the API base URL (required; there is no public default),
    password is the API token. The token travels only in the ``Authorization`` header, never in a
    URL or a body. Optional extra ``timeout``: the deadline of each call in seconds (default 60).

    Resources are described by :data:`airflow_provider_ahgora.models.voors.RESOURCES`; every method
    takes a resource by its registry key (``"users"``), path (``"/users"``) or envelope key
    (``"user"``). Constructing the hook does no network and no connection lookup.
    """

    conn_name_attr = "voors_conn_id"
    default_conn_name = "voors_default"
    conn_type = "voors"
    hook_name = "Voors"
    service_name = "Voors"
    host_field = "API base URL (Host) field"

    def __init__(self, voors_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(voors_conn_id, **kwargs)
        self.voors_conn_id = voors_conn_id

    # -- Airflow UI -----------------------------------------------------------------------------

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        from airflow_provider_ahgora import VOORS_CONN_FIELDS

        return form_widgets(VOORS_CONN_FIELDS)

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        from airflow_provider_ahgora import VOORS_UI_FIELD_BEHAVIOUR

        return field_behaviour(VOORS_UI_FIELD_BEHAVIOUR)

    # -- settings -------------------------------------------------------------------------------

    def _build_settings(self, conn: Connection) -> WireSettings:
        where = self._where()
        if "token=" in (conn.host or "") or "token=" in (conn.schema or ""):
            raise AhgoraConfigError(
                f"{where}: the API base URL holds a token parameter. Tokens in URLs end up in logs "
                "and proxies: remove it and put the token in the API token (Password) field."
            )
        base_url = build_base_url(conn, None, "Voors", where, self.host_field)
        token = (conn.password or "").strip()
        if not token:
            raise AhgoraConfigError(f"{where} has no API token: set it in the API token (Password) field.")
        check_header_value(token, "API token", where)
        timeout = resolve_timeout(self.timeout_override, conn.extra_dejson or {}, "voors", where)
        scrubber = SecretScrubber.for_token(token)
        mask(token)
        scrubber.register()
        return WireSettings(
            base_url=base_url,
            headers={
                "Accept": "application/json",
                "Authorization": token,
                "User-Agent": USER_AGENT,
            },
            timeout=timeout,
            secrets=(token,),
            scrubber=scrubber,
        )

    def _check_answer(self, method: str, path: str, response: HttpAnswer, body: Any, raw: bytes) -> None:
        """Voors repeats the outcome in its body (``"status": "success", "code": "201"``, seed 004).
        A 2xx whose body says it failed is that failure, read as the HTTP status its ``code`` gives
        (a 400 without a usable code): a refused create is never counted as delivered. A body that
        contradicts itself (``"status": "success"`` with code 400, ``"error"`` with 201) does not say
        what happened: malformed, an unknown outcome."""
        if not isinstance(body, Mapping):
            return
        word = body.get("status")
        code = _http_code(body.get("code"))
        if code is None:
            code = _http_code(word)  # {"status": 400}
        word = word.strip().lower() if isinstance(word, str) else None
        failed = word in _FAILED_WORDS
        refused = code is not None and code >= 400
        if not failed and not refused:
            return
        if (failed and code is not None and code < 400) or (refused and word in _SUCCESS_WORDS):
            raise self._malformed(
                method,
                path,
                f"the answer contradicts itself (status '{word}', code {code}): whether Voors acted on it "
                "is unknown",
                response.status_code,
            )
        error = self._map_error(method, path, response, body, raw, status=code if refused else 400)
        if isinstance(error, AhgoraTransientError):
            # a 2xx said one thing and the body another: whether Voors acted is not known
            error.may_have_been_processed = True
        raise error

    def _is_api_error(self, body: Any) -> bool:
        """Voors documents its error codes but not the shape of every error body (its 404 is not
        shown): any JSON object counts as Voors' own answer; HTML, text, an empty body or JSON that
        is not an object does not."""
        return isinstance(body, Mapping)

    # -- generic calls ----------------------------------------------------------------------------

    @staticmethod
    def resource(name: str | VoorsResource) -> VoorsResource:
        """The registry entry of a resource (by key, path, envelope key, or the entry itself)."""
        from airflow_provider_ahgora.models.voors import VoorsResource, get_resource

        return name if isinstance(name, VoorsResource) else get_resource(name)

    def _call(
        self,
        method: str,
        path: str,
        *,
        retry: RetryMode = "all",
        records: VoorsResource | None = None,
        **kwargs: Any,
    ) -> Any:
        """A call whose answer becomes a :class:`~airflow_provider_ahgora.models.voors.VoorsResponse`,
        or, with ``records``, that resource's typed records; an answer that does not fit is malformed
        (and retried like a 5xx where retrying is safe)."""
        from airflow_provider_ahgora.models.voors import VoorsResponse

        def parse(value: Any) -> Any:
            if value is None:  # "returns only the code 200"
                response = VoorsResponse()
            elif not isinstance(value, Mapping):
                response = VoorsResponse.model_validate({"data": value})
            else:
                response = VoorsResponse.model_validate(value)
            return response if records is None else response.records(records.envelope)

        what = "Voors" if records is None else f"'{records.envelope}' records"
        return self._request(
            method, path, retry=retry, parse=parse, what=what, object_required=False, **kwargs
        )

    @staticmethod
    def _require(res: VoorsResource, operation: str) -> None:
        if not res.supports(operation):
            raise AhgoraConfigError(
                f"Voors resource '{res.name}' does not support {operation}; it supports "
                f"{', '.join(sorted(res.operations))}."
            )

    @staticmethod
    def _validated(res: VoorsResource, record: Any, validated: bool = False) -> Any:
        """The wire form of one record (or a list, for array resources), validated by its model
        (``validated``: ``record`` is that wire form already)."""
        from airflow_provider_ahgora.models._base import validate_many

        many = isinstance(record, Sequence) and not isinstance(record, (str, bytes))
        if many and not res.array:
            raise AhgoraConfigError(
                f"Voors resource '{res.name}' takes one record per request; send the records one by one "
                "(VoorsPushOperator does this concurrently)."
            )
        records = list(record) if many else [record]
        if validated:
            return records if many else record
        if res.model is None:
            wire = [r.to_wire() if hasattr(r, "to_wire") else r for r in records]
        else:
            valid, invalid = validate_many(res.model, records, (res.identifier, "cpf", "remoteId", "user"))
            if invalid:
                raise AhgoraValidationError(
                    f"{res.name} record(s)", [e for _, _, errs in invalid for e in errs]
                )
            wire = [m.to_wire() for _, m in valid]
        return wire if many else wire[0]

    @staticmethod
    def _envelope(key: str, payload: Any) -> dict[str, Any]:
        if not key:  # posts: the record *is* data
            return {"data": payload}
        return {"data": {key: payload}}

    # -- resource operations --------------------------------------------------------------------

    def upsert(
        self,
        resource: str | VoorsResource,
        record: Any,
        id: int | str | None = None,
        *,
        validated: bool = False,
    ) -> VoorsResponse:
        """Create or edit one record (or an array, for array resources).

        Resources identified by ``remoteId`` or CPF are upserted with ``POST``. Resources identified
        by Voors' own id (departments, job roles, job functions, horaries) are created with ``POST``
        and edited with ``PUT /{id}`` when ``id`` is given. The record is validated by its model
        first; an invalid record raises
        :class:`~airflow_provider_ahgora.exceptions.AhgoraValidationError` and nothing is sent.

        ``validated=True``: ``record`` is already the wire form of a record its model validated (what
        :class:`~airflow_provider_ahgora.operators.push.VoorsPushOperator` sends: its first pass
        validates every record before the first request); it is sent as it is.
        """
        res = self.resource(resource)
        body = self._envelope(res.envelope, self._validated(res, record, validated))
        if id is not None:
            self._require(res, "update")
            return self._call("PUT", f"{res.path}/{quote_segment(id)}", json_body=body)
        if res.supports("upsert"):
            return self._call("POST", res.path, json_body=body)
        self._require(res, "create")
        # a create is not idempotent: repeat it only when the server surely did not act on it
        return self._call("POST", res.path, json_body=body, retry="safe")

    def delete(
        self,
        resource: str | VoorsResource,
        id: int | str | None = None,
        *,
        remote_id: Any = None,
        remote_ids: Sequence[Any] | None = None,
        retry: RetryMode = "all",
    ) -> VoorsResponse:
        """Delete by Voors id (``DELETE /path/{id}``) or by ``remoteId`` (body), per the resource.

        Resources whose DELETE takes an array (pay slips, readjust reasons) accept ``remote_ids``.
        ``retry`` as for every call: ``"all"`` (default) repeats a DELETE whose answer was lost, which
        is harmless when a missing record counts as deleted; ``"safe"`` does not, so that a repeat's
        404 is never taken for a record that was never there.
        """
        res = self.resource(resource)
        self._require(res, "delete")
        if res.delete_by_path_id:
            if id is None:
                raise AhgoraConfigError(
                    f"Deleting from '{res.name}' needs the Voors id: delete('{res.name}', id)."
                )
            return self._call("DELETE", f"{res.path}/{quote_segment(id)}", retry=retry)
        key = res.delete_envelope or res.envelope
        if remote_ids is not None:
            if not res.delete_array:
                raise AhgoraConfigError(
                    f"Voors resource '{res.name}' deletes one record per request: pass remote_id."
                )
            ids = list(remote_ids)
            if not ids or any(r in (None, "", {}) for r in ids):
                raise AhgoraConfigError("remote_ids must be a non-empty list of remoteIds.")
            return self._call(
                "DELETE", res.path, json_body=self._envelope(key, [{"remoteId": r} for r in ids]), retry=retry
            )
        if remote_id in (None, "", {}):
            raise AhgoraConfigError(
                f"Deleting from '{res.name}' needs the record's remoteId: "
                f"delete('{res.name}', remote_id=...)."
            )
        ref: Any = {"remoteId": remote_id}
        if res.delete_array:
            ref = [ref]
        return self._call("DELETE", res.path, json_body=self._envelope(key, ref), retry=retry)

    def get(self, resource: str | VoorsResource, id: int | str) -> VoorsEntity:
        """One record by its Voors id (``GET /path/{id}``), typed by its response model.

        Voors' own 404 (a JSON object) raises
        :class:`~airflow_provider_ahgora.exceptions.AhgoraNotFoundError`; a web server's 404 page
        raises :class:`~airflow_provider_ahgora.exceptions.AhgoraWrongEndpointError`; a 200 without
        the record is malformed (transient), never "absent"."""
        res = self.resource(resource)
        self._require(res, "get")
        path = f"{res.path}/{quote_segment(id)}"
        records = self._call("GET", path, records=res)
        if not records:
            # a 200 without the record is not Voors' answer to a GET by id: only its 404 means absent
            raise self._malformed("GET", path, f"the answer holds no '{res.envelope}' record", 200)
        return records[0]

    def list(self, resource: str | VoorsResource, *, raw: bool = False) -> list[Any]:
        """Every record of a resource (``GET /path``), typed by its response model, or with ``raw=True``
        exactly as Voors sent them (dicts).

        The answer must be ``{"data": {"<envelope>": [...]}}`` (the documents' shape; ``null`` or
        ``[]`` means no records): any other 200 is malformed (transient, retried), never an empty
        resource. The documents page no list: the whole answer is one page. Goals are read with
        :meth:`iter_goal_pages` (they need a period)."""
        from airflow_provider_ahgora.models.voors import RESPONSE_MODELS, VoorsEntity, listed_records

        res = self.resource(resource)
        self._require(res, "list")
        if res.name == "goals":
            raise AhgoraConfigError("Voors goals are read for a period: use iter_goals or iter_goal_pages.")
        model = RESPONSE_MODELS.get(res.envelope, VoorsEntity)

        def parse(body: Any) -> list[Any]:
            found = listed_records(body, res.envelope)
            return found if raw else [model.model_validate(item) for item in found]

        records: list[Any] = self._request(
            "GET", res.path, parse=parse, what=f"'{res.envelope}' list", object_required=False
        )
        return records

    # -- goals and posts --------------------------------------------------------------------------

    def iter_goals(
        self, start_date: str, end_date: str, page_size: int = DEFAULT_GOALS_PAGE, **filters: Any
    ) -> Iterator[GoalUser]:
        """Every user's goals between two dates (``GET /goals``), typed: the users of
        :meth:`iter_goal_pages`, one by one."""
        for page in self.iter_goal_pages(start_date, end_date, page_size, **filters):
            yield from page.records

    def iter_goal_pages(
        self,
        start_date: str,
        end_date: str,
        page_size: int = DEFAULT_GOALS_PAGE,
        *,
        raw: bool = False,
        **filters: Any,
    ) -> Iterator[Page]:
        """The pages of every user's goals between two dates (``GET /goals``), paging with
        ``limit``/``skip``; each user typed (:class:`~airflow_provider_ahgora.models.voors.GoalUser`), or
        with ``raw=True`` exactly as Voors sent it.

        ``start_date``/``end_date`` are ``YYYY-MM-DD``. Filters: ``userId``, ``email``,
        ``departmentId``, ``jobRoleId``, ``jobFunctionId``, ``leaderId`` (snake_case accepted too).

        What a hostile or odd server cannot make it do:

        * **stop early**: pages are read until one comes back **empty**; a page shorter than
          ``page_size`` does not mean the end, because a server may cap ``limit`` lower than asked.
          ``skip`` advances by the users actually received. An answer that is not a page of users
          (an object without users, ``data`` that is not a list, an HTML page) is malformed, never
          an empty page;
        * **yield a user twice**: a user (by ``userId``; a record without one, by its content)
          already yielded is left out of later pages and counted in :attr:`Page.repeated` (pages
          overlap when users are added while paging);
        * **loop forever**: a non-empty page made only of users already yielded means the server
          ignores ``skip`` (or serves a page again): paging stops with
          :class:`~airflow_provider_ahgora.exceptions.AhgoraAPIError`.

        A user removed while paging shifts the later pages back by one, and a user can then be
        missed: paging by ``skip`` cannot tell; read a period when it is not being edited.
        """
        from pydantic.alias_generators import to_camel

        from airflow_provider_ahgora.models._base import IsoDate, RecordError
        from airflow_provider_ahgora.models.voors import GoalUser, goal_records

        errors = []
        from pydantic import TypeAdapter, ValidationError

        adapter: TypeAdapter[str] = TypeAdapter(IsoDate)
        for name, value in (("start_date", start_date), ("end_date", end_date)):
            try:
                adapter.validate_python(value)
            except ValidationError as exc:
                errors.append(
                    RecordError(None, None, name, exc.errors()[0]["msg"].removeprefix("Value error, "))
                )
        if errors:
            raise AhgoraValidationError("goals query", errors)
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise AhgoraConfigError("page_size must be a positive integer")
        params: dict[str, Any] = {"startDate": start_date, "endDate": end_date}
        for key, value in filters.items():
            wire = to_camel(key)
            if wire not in GOAL_FILTERS:
                raise AhgoraConfigError(
                    f"Unknown goals filter {key!r}: use one of {', '.join(sorted(GOAL_FILTERS))}."
                )
            if value is not None:
                params[wire] = value

        def parse(body: Any) -> list[dict[str, Any]]:
            found = goal_records(body)
            if not raw:
                for item in found:
                    GoalUser.model_validate(item)  # an invalid user is a malformed page
            return found

        skip = 0
        seen: set[Any] = set()
        previous_skip = 0
        while True:
            users: list[dict[str, Any]] = self._request(
                "GET",
                "/goals",
                params={**params, "limit": page_size, "skip": skip},
                parse=parse,
                what="goals page",
                object_required=False,
            )
            if not users:
                return
            fresh = []
            for user in users:
                key = _identity(user)
                if key not in seen:
                    seen.add(key)
                    fresh.append(user)
            if not fresh:
                raise AhgoraAPIError(
                    f"the page at skip={skip} holds only users already read (at skip={previous_skip} or "
                    f"before: {len(users)} user(s)): the server ignores skip, so paging cannot go on "
                    "without repeating users",
                    http_status=200,
                    method="GET",
                    url="/goals",
                    service="Voors",
                    hint=(
                        "The users read so far were yielded once each; the rest cannot be paged. Check "
                        "that the connection's host is the Voors integration API, and report it to Voors."
                    ),
                )
            received = len(users)
            page = Page(
                fresh if raw else [GoalUser.model_validate(u) for u in fresh], skip, received - len(fresh)
            )
            del users, fresh  # memory holds one page: nothing of this one while the next is fetched
            yield page
            del page
            previous_skip = skip
            skip += received

    def update_goals(self, goals: Sequence[Any]) -> VoorsResponse:
        """Update achieved goals (``POST /goals/updateGoals``)."""
        res = self.resource("goals/updateGoals")
        wire = self._validated(res, list(goals))
        return self._call("POST", res.path, json_body=self._envelope(res.envelope, wire))

    def create_post(self, post: Any) -> VoorsResponse:
        """Publish a post (message, announcement or news). Not repeated after the server may have
        acted on it, so that a post is never published twice."""
        res = self.resource("posts")
        body = self._envelope(res.envelope, self._validated(res, post))
        return self._call("POST", res.path, json_body=body, retry="safe")

    # -- connection test --------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """A cheap authenticated GET: one department by an id that cannot exist.

        A 200 with a JSON object, or Voors' own JSON 404, proves the host and the token; a 401 does
        not, and a web server's page (HTML, text, an empty body) means the host is not the Voors API.
        One attempt, no retries, at most :data:`~airflow_provider_ahgora.hooks._base.TEST_TIMEOUT`
        seconds.
        """
        self._testing = True
        try:
            masked = self._masked_password_message()
            if masked:
                return False, masked
            base = self.settings.base_url
            answer = self._probe("GET", "/departments/0")
        except AhgoraNotFoundError:
            return True, f"Connection to Voors at {base} works: token accepted."
        except AhgoraAuthError:
            return (
                False,
                "Voors refused the API token (401 Unauthorized): check the token in the API token "
                "(Password) field.",
            )
        except AhgoraPermissionError:
            return False, "Voors accepted the token but it lacks permission (403 Forbidden) for departments."
        except Exception as exc:  # the UI shows the message; never crash the test button
            return False, self._test_failure(exc)
        finally:
            self._testing = False
        if not isinstance(answer, Mapping):
            shape = "an empty body" if answer is None else "JSON that is not an object"
            return False, (
                f"The server at {base} answered 200 with {shape} to GET /departments/0, which is not a "
                f"Voors answer: check the {self.host_field}, including its path."
            )
        return True, f"Connection to Voors at {base} works: token accepted."

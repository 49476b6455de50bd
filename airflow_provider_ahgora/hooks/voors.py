"""VoorsHook: the Voors (Nela / TalentRH) integration API, token auth."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_ahgora.exceptions import (
    AhgoraAuthError,
    AhgoraConfigError,
    AhgoraError,
    AhgoraNotFoundError,
    AhgoraPermissionError,
    AhgoraValidationError,
)
from airflow_provider_ahgora.hooks._base import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT  # re-exported
from airflow_provider_ahgora.hooks._base import (
    USER_AGENT,
    AhgoraRestHook,
    RetryMode,
    WireSettings,
    build_base_url,
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


class VoorsHook(AhgoraRestHook):
    """Talks to the Voors integration API with an API token.

    Connection (type ``voors``): host is the API base URL (required; there is no public default),
    password is the API token. The token travels only in the ``Authorization`` header, never in a
    URL or a body. Optional extra ``timeout`` (seconds, default 60).

    Resources are described by :data:`airflow_provider_ahgora.models.voors.RESOURCES`; every method
    takes a resource by its registry key (``"users"``), path (``"/users"``) or envelope key
    (``"user"``). Constructing the hook does no network and no connection lookup.
    """

    conn_name_attr = "voors_conn_id"
    default_conn_name = "voors_default"
    conn_type = "voors"
    hook_name = "Voors"
    service_name = "Voors"

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
        cid = self.voors_conn_id
        token = (conn.password or "").strip()
        if not token:
            raise AhgoraConfigError(f"Connection '{cid}' has no API token: set it in the Password field.")
        if "token=" in (conn.host or "") or "token=" in (conn.schema or ""):
            raise AhgoraConfigError(
                f"Connection '{cid}': the host holds a token parameter. Tokens in URLs end up in logs "
                "and proxies: remove it and put the token in the Password field."
            )
        timeout = resolve_timeout(self.timeout_override, conn.extra_dejson or {}, "voors", cid)
        mask(token)
        return WireSettings(
            base_url=build_base_url(conn, None, "Voors", cid),
            headers={
                "Accept": "application/json",
                "Authorization": token,
                "User-Agent": USER_AGENT,
            },
            timeout=timeout,
            secrets=(token,),
        )

    # -- generic calls ----------------------------------------------------------------------------

    @staticmethod
    def resource(name: str | VoorsResource) -> VoorsResource:
        """The registry entry of a resource (by key, path, envelope key, or the entry itself)."""
        from airflow_provider_ahgora.models.voors import VoorsResource, get_resource

        return name if isinstance(name, VoorsResource) else get_resource(name)

    def _call(self, method: str, path: str, *, retry: RetryMode = "all", **kwargs: Any) -> VoorsResponse:
        from airflow_provider_ahgora.models.voors import VoorsResponse

        answer = self._request(method, path, retry=retry, **kwargs)
        if answer is None:  # "returns only the code 200"
            return VoorsResponse()
        if not isinstance(answer, Mapping):
            return VoorsResponse.model_validate({"data": answer})
        return VoorsResponse.model_validate(answer)

    @staticmethod
    def _require(res: VoorsResource, operation: str) -> None:
        if not res.supports(operation):
            raise AhgoraConfigError(
                f"Voors resource '{res.name}' does not support {operation}; it supports "
                f"{', '.join(sorted(res.operations))}."
            )

    @staticmethod
    def _validated(res: VoorsResource, record: Any) -> Any:
        """The wire form of one record (or a list, for array resources), validated by its model."""
        from airflow_provider_ahgora.models._base import validate_many

        many = isinstance(record, Sequence) and not isinstance(record, (str, bytes))
        if many and not res.array:
            raise AhgoraConfigError(
                f"Voors resource '{res.name}' takes one record per request; send the records one by one "
                "(VoorsPushOperator does this concurrently)."
            )
        records = list(record) if many else [record]
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
        self, resource: str | VoorsResource, record: Any, id: int | str | None = None
    ) -> VoorsResponse:
        """Create or edit one record (or an array, for array resources).

        Resources identified by ``remoteId`` or CPF are upserted with ``POST``. Resources identified
        by Voors' own id (departments, job roles, job functions, horaries) are created with ``POST``
        and edited with ``PUT /{id}`` when ``id`` is given. The record is validated by its model
        first; an invalid record raises
        :class:`~airflow_provider_ahgora.exceptions.AhgoraValidationError` and nothing is sent.
        """
        res = self.resource(resource)
        body = self._envelope(res.envelope, self._validated(res, record))
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
    ) -> VoorsResponse:
        """Delete by Voors id (``DELETE /path/{id}``) or by ``remoteId`` (body), per the resource.

        Resources whose DELETE takes an array (pay slips, readjust reasons) accept ``remote_ids``.
        """
        res = self.resource(resource)
        self._require(res, "delete")
        if res.delete_by_path_id:
            if id is None:
                raise AhgoraConfigError(
                    f"Deleting from '{res.name}' needs the Voors id: delete('{res.name}', id)."
                )
            return self._call("DELETE", f"{res.path}/{quote_segment(id)}")
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
                "DELETE", res.path, json_body=self._envelope(key, [{"remoteId": r} for r in ids])
            )
        if remote_id in (None, "", {}):
            raise AhgoraConfigError(
                f"Deleting from '{res.name}' needs the record's remoteId: "
                f"delete('{res.name}', remote_id=...)."
            )
        ref: Any = {"remoteId": remote_id}
        if res.delete_array:
            ref = [ref]
        return self._call("DELETE", res.path, json_body=self._envelope(key, ref))

    def get(self, resource: str | VoorsResource, id: int | str) -> VoorsEntity:
        """One record by its Voors id (``GET /path/{id}``), typed by its response model."""
        res = self.resource(resource)
        self._require(res, "get")
        records = self._call("GET", f"{res.path}/{quote_segment(id)}").records(res.envelope)
        if not records:
            raise AhgoraNotFoundError(
                f"the answer holds no '{res.envelope}'", service="Voors", method="GET", url=res.path
            )
        return records[0]

    def list(self, resource: str | VoorsResource) -> list[VoorsEntity]:
        """Every record of a resource (``GET /path``), typed by its response model."""
        res = self.resource(resource)
        self._require(res, "list")
        return self._call("GET", res.path).records(res.envelope)

    # -- goals and posts --------------------------------------------------------------------------

    def iter_goals(
        self, start_date: str, end_date: str, page_size: int = DEFAULT_GOALS_PAGE, **filters: Any
    ) -> Iterator[GoalUser]:
        """Every user's goals between two dates (``GET /goals``), paging with ``limit``/``skip``.

        ``start_date``/``end_date`` are ``YYYY-MM-DD``. Filters: ``userId``, ``email``,
        ``departmentId``, ``jobRoleId``, ``jobFunctionId``, ``leaderId`` (snake_case accepted too).
        """
        from pydantic.alias_generators import to_camel

        from airflow_provider_ahgora.models._base import IsoDate, RecordError
        from airflow_provider_ahgora.models.voors import parse_goals

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
        if not isinstance(page_size, int) or page_size < 1:
            raise AhgoraConfigError("page_size must be a positive integer")
        allowed = {"userId", "email", "departmentId", "jobRoleId", "jobFunctionId", "leaderId"}
        params: dict[str, Any] = {"startDate": start_date, "endDate": end_date}
        for key, value in filters.items():
            wire = to_camel(key)
            if wire not in allowed:
                raise AhgoraConfigError(
                    f"Unknown goals filter {key!r}: use one of {', '.join(sorted(allowed))}."
                )
            if value is not None:
                params[wire] = value
        skip = 0
        while True:
            answer = self._request("GET", "/goals", params={**params, "limit": page_size, "skip": skip})
            users = parse_goals(answer)
            yield from users
            if len(users) < page_size:
                return
            skip += len(users)

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

        200 or 404 prove the token; 401 does not.
        """
        try:
            masked = self._masked_password_message()
            if masked:
                return False, masked
            self._request("GET", "/departments/0", retry="all")
        except AhgoraNotFoundError:
            pass
        except AhgoraAuthError:
            return (
                False,
                "Voors refused the API token (401 Unauthorized): check the token in the Password field.",
            )
        except AhgoraPermissionError:
            return False, "Voors accepted the token but it lacks permission (403 Forbidden) for departments."
        except AhgoraError as exc:
            return False, str(exc)
        except Exception as exc:
            return False, self._scrub(f"{type(exc).__name__}: {exc}")
        return True, f"Connection to Voors at {self.settings.base_url} works: token accepted."

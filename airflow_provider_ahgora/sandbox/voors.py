"""The Voors side of the sandbox: every resource of the registry
(:data:`airflow_provider_ahgora.models.voors.RESOURCES`), goals and posts.

Records are stored as sent (their wire JSON) plus the fields Voors adds (``id``, ``company``,
``createdAt``, ``updatedAt``). Writes are validated with the provider's request models, so a record
the real API would refuse is refused here too, with a message naming the field.

Identifiers: ``remoteId`` (compared as canonical JSON), CPF for users, ``remoteId`` then CNPJ for
branches, Voors' own ``id`` for departments, job roles, job functions and horaries.

With ``strict_references`` (the default) the ordering rules of the document are enforced: a user's
``appraisedBy`` must name a user already sent ("send the leaders first"), and a user history record
(salary, exam, vacation, time card, ...) must name a user already sent.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_ahgora.sandbox._common import ApiError, Quirks, SandboxClock, canonical, iso_ms

if TYPE_CHECKING:
    from airflow_provider_ahgora.models.voors import VoorsResource
    from airflow_provider_ahgora.sandbox.data import SyntheticCompany

__all__ = ["VoorsEmulator", "voors_error"]

#: Resources whose answer holds the record in a one-item list, as the documents show.
_LIST_ANSWERS = {
    "causes": "cause",
    "userJobFunctions": "userJobFunction",
    "userDepartmentHistories": "userDepartmentHistories",
}
#: The ``data.message`` of a delete answer.
_DELETE_MESSAGES = {"userDepartmentHistories": "Histórico de departamento do usuário removido."}
_DELETED = "Registro deletado"
_GOAL_UNITS = ("hours", "percentage", "monetary", "numeric")
#: Fields Voors adds to a new record (the documents' answers show them), when not sent.
_DEFAULTS: dict[str, dict[str, Any]] = {
    "branchGroups": {"active": True},
    "jobFunctions": {"active": True},
    "horaries": {"active": True},
    "users": {
        "active": True,
        "remoteId": None,
        "remoteKeys": None,
        "approved": True,
        "superUser": False,
        "accessProfile": None,
        "userAccountId": None,
        "password": None,
        "preferences": lambda: {"receiveTaskAlertEmails": True},
        "registration": None,
        "companyDateBithday": None,  # sic: the document's answer spells it so
        "ctps": None,
        "pis": None,
        "rg": None,
        "reservistNumber": None,
    },
    "userDepartmentHistories": {"description": None, "displayCode": None, "date": None},
    "userJobRoles": {"cbo": None, "description": None, "date": None},
    "userJobFunctions": {"cbo": None, "description": None, "date": None},
}


def voors_error(status: int, message: str) -> ApiError:
    """A Voors error answer: ``{"status": "error", "code": "400", "message": ...}``."""
    return ApiError(status, {"status": "error", "code": str(status), "message": message})


def _ok(code: int, data: Any) -> dict[str, Any]:
    return {
        "status": "success",
        "code": str(code),
        "message": "Created" if code == 201 else "OK",
        "data": data,
    }


class VoorsEmulator:
    """State and routes of the Voors integration API (paths relative to the Voors base)."""

    def __init__(
        self,
        data: SyntheticCompany,
        clock: SandboxClock,
        *,
        company_id: int = 101,
        strict_references: bool = True,
        quirks: Quirks | None = None,
    ) -> None:
        from airflow_provider_ahgora.models.voors import RESOURCES

        self.data = data
        self.clock = clock
        self.company_id = company_id
        self.strict_references = strict_references
        self.quirks = quirks or Quirks()
        self.resources = RESOURCES
        self._lock = threading.RLock()
        self._goal_users: list[dict[str, Any]] | None = None
        self.reset()

    def reset(self) -> None:
        with self._lock:
            #: resource name -> id -> stored record
            self.store: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in self.resources}
            #: resource name -> identifier key -> id
            self._index: dict[str, dict[str, int]] = {name: {} for name in self.resources}
            self._next_id: dict[str, int] = {}
            self.goal_updates: dict[str, dict[str, Any]] = {}

    # -- dispatch -------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: Mapping[str, str], body: Any) -> tuple[int, Any]:
        """One Voors call; ``path`` is relative to the Voors base (``/departments/3``)."""
        parts = [p for p in path.split("/") if p]
        if not parts:
            raise voors_error(404, f"Cannot {method} /: name a resource, e.g. /departments")
        if parts[:2] == ["goals", "updateGoals"] and len(parts) == 2:
            if method != "POST":
                raise voors_error(404, f"Cannot {method} /goals/updateGoals: it takes POST")
            return 200, self._update_goals(body)
        res = self.resources.get(parts[0])
        if res is None or res.name == "goalsUpdate" or len(parts) > 2:
            raise voors_error(404, f"Cannot {method} {path}: there is no such Voors resource")
        item = parts[1] if len(parts) == 2 else None
        if res.name == "goals":
            if method != "GET" or item is not None:
                raise voors_error(404, f"Cannot {method} {path}: goals are read with GET /goals")
            return 200, self._goals(query)
        if res.name == "posts":
            if method != "POST" or item is not None:
                raise voors_error(404, f"Cannot {method} {path}: posts are created with POST /posts")
            return 201, self._create_post(body)
        if method == "GET":
            if item is None:
                self._needs(res, "list", method, path)
                return 200, {"data": {res.envelope: self.records(res.name)}}
            self._needs(res, "get", method, path)
            return 200, {"data": {res.envelope: self.record(res.name, item)}}
        if method == "POST" and item is None:
            if res.supports("upsert"):
                return self._upsert(res, body)
            self._needs(res, "create", method, path)
            return self._create(res, body)
        if method == "PUT" and item is not None:
            self._needs(res, "update", method, path)
            return 200, self._update(res, item, body)
        if method == "DELETE":
            self._needs(res, "delete", method, path)
            if res.delete_by_path_id:
                if item is None:
                    raise voors_error(404, f"Cannot DELETE {path}: delete by id, DELETE {res.path}/<id>")
                self._delete_id(res, item)
                return 200, None
            if item is not None:
                raise voors_error(404, f"Cannot DELETE {path}: {res.path} deletes by remoteId in the body")
            return 200, self._delete_remote(res, body)
        raise voors_error(404, f"Cannot {method} {path}")

    @staticmethod
    def _needs(res: VoorsResource, operation: str, method: str, path: str) -> None:
        if not res.supports(operation):
            raise voors_error(
                404, f"Cannot {method} {path}: {res.path} supports {', '.join(sorted(res.operations))}"
            )

    # -- bodies ---------------------------------------------------------------------------------

    @staticmethod
    def _data(body: Any, path: str) -> Any:
        if not isinstance(body, dict) or "data" not in body:
            raise voors_error(400, f'The body of {path} must be a JSON object {{"data": {{...}}}}')
        return body["data"]

    def _payload(self, res: VoorsResource, body: Any, key: str | None = None) -> Any:
        data = self._data(body, res.path)
        key = key or res.envelope
        if not isinstance(data, dict) or key not in data:
            raise voors_error(400, f'The body of {res.path} must hold its record under "data.{key}"')
        return data[key]

    def _validated(self, res: VoorsResource, record: Any, where: str) -> dict[str, Any]:
        if not isinstance(record, dict):
            raise voors_error(400, f"{where} must be a JSON object, got {type(record).__name__}")
        if res.model is not None:
            from pydantic import ValidationError

            from airflow_provider_ahgora.models._base import record_errors

            try:
                res.model.model_validate(record)
            except ValidationError as exc:
                details = "; ".join(
                    f"{where}.{e.field}: {e.message}" if e.field else f"{where}: {e.message}"
                    for e in record_errors(exc, res.model)
                )
                raise voors_error(400, f"Invalid {res.envelope or 'post'}: {details}") from None
        return dict(record)

    # -- store ----------------------------------------------------------------------------------

    def _new_id(self, name: str) -> int:
        n = self._next_id.get(name, 0) + 1
        self._next_id[name] = n
        return n

    def _keys(self, res: VoorsResource, record: Mapping[str, Any]) -> list[str]:
        """Identifier keys of a record, most specific first."""
        if res.identifier == "cpf":
            return [f"cpf:{record['cpf']}"] if record.get("cpf") else []
        keys = []
        if record.get("remoteId") not in (None, "", {}):
            keys.append(f"remoteId:{canonical(record['remoteId'])}")
        if res.name == "branches" and record.get("cnpj"):
            keys.append(f"cnpj:{record['cnpj']}")
        return keys

    def _find(self, res: VoorsResource, record: Mapping[str, Any]) -> int | None:
        index = self._index[res.name]
        for key in self._keys(res, record):
            if key in index and index[key] in self.store[res.name]:
                return index[key]
        return None

    def _put(
        self, res: VoorsResource, record: dict[str, Any], existing: int | None
    ) -> tuple[bool, dict[str, Any]]:
        now = iso_ms(self.clock())
        store = self.store[res.name]
        if existing is not None:
            stored = store[existing]
            for key in self._keys(res, stored):
                self._index[res.name].pop(key, None)
            stored.update(record)
            stored["updatedAt"] = now
            created = False
        else:
            new_id = self._new_id(res.name)
            stored = {"id": new_id, **record, "company": self.company_id, "createdAt": now, "updatedAt": now}
            for key, value in _DEFAULTS.get(res.name, {}).items():
                stored.setdefault(key, value() if callable(value) else value)
            store[new_id] = stored
            created = True
        stored.update(self._derived(res, stored))
        for key in self._keys(res, stored):
            self._index[res.name][key] = stored["id"]
        return created, stored

    def _ref_id(self, name: str, ref: Any) -> int | None:
        """Voors id of a record named in a relation by the remoteId it was sent with (``{"id": X}``
        or ``X``)."""
        value = ref.get("id", ref) if isinstance(ref, Mapping) else ref
        if value in (None, "", {}):
            return None
        index = self._index[name]
        for candidate in (value, {"id": value}):
            found = index.get(f"remoteId:{canonical(candidate)}")
            if found is not None:
                return found
        return None

    def _derived(self, res: VoorsResource, record: Mapping[str, Any]) -> dict[str, Any]:
        """Fields Voors computes from the relations of a record, as the documents' answers show them."""
        name = res.name
        if name in ("userDepartmentHistories", "userJobRoles", "userJobFunctions"):
            user = record.get("user")
            out: dict[str, Any] = {
                "userId": self._index["users"].get(f"cpf:{user}") if isinstance(user, str) else None,
                "companyId": self.company_id,
            }
            target = {
                "userDepartmentHistories": "department",
                "userJobRoles": "jobRole",
                "userJobFunctions": "jobFunction",
            }[name]
            out[f"{target}Id"] = self._ref_id(
                {"department": "departments", "jobRole": "jobRoles", "jobFunction": "jobFunctions"}[target],
                record.get(target),
            )
            return out
        if name == "userHoraries":
            return {"remoteid": record.get("remoteId")}  # sic: the document's answer spells it so
        if name == "userSituations":
            branch = record.get("branch")
            return {
                "branchId": self._index["branches"].get(f"cnpj:{branch}") if isinstance(branch, str) else None
            }
        if name == "users":
            return {"status": "active" if record.get("active", True) is not False else "inactive"}
        return {}

    def _user_exists(self, cpf: Any) -> bool:
        return isinstance(cpf, str) and f"cpf:{cpf}" in self._index["users"]

    def _check_references(self, res: VoorsResource, record: Mapping[str, Any], where: str) -> None:
        if not self.strict_references:
            return
        if res.name == "users":
            leader = record.get("appraisedBy")
            if leader not in (None, "") and not self._user_exists(leader):
                raise voors_error(
                    400,
                    f"{where}.appraisedBy: no user with CPF {leader!r}: send the leaders before the users "
                    "they lead",
                )
            return
        refs: list[tuple[str, Any]] = []
        if res.name == "experienceContracts":
            refs.append(("cpf", record.get("cpf")))
        elif res.name == "timeCards" and isinstance(record.get("user"), Mapping):
            refs.append(("user.cpf", record["user"].get("cpf")))
        elif (
            res.model is not None and "user" in res.model.model_fields and isinstance(record.get("user"), str)
        ):
            refs.append(("user", record["user"]))
        for name, cpf in refs:
            if not self._user_exists(cpf):
                raise voors_error(
                    400, f"{where}.{name}: no user with CPF {cpf!r}: send the user (POST /users) first"
                )

    def _answer(self, res: VoorsResource, created: bool, stored: dict[str, Any]) -> tuple[int, Any]:
        code = 201 if created else 200
        if res.name in _LIST_ANSWERS:
            return code, _ok(code, {_LIST_ANSWERS[res.name]: [dict(stored)]})
        return code, _ok(code, {res.envelope: dict(stored)})

    # -- operations -----------------------------------------------------------------------------

    def _upsert(self, res: VoorsResource, body: Any) -> tuple[int, Any]:
        payload = self._payload(res, body)
        if res.array:
            if not isinstance(payload, list) or not payload:
                raise voors_error(400, f'"data.{res.envelope}" must be a non-empty array of records')
            records = [self._validated(res, r, f"{res.envelope}[{i}]") for i, r in enumerate(payload)]
            with self._lock:
                for i, record in enumerate(records):
                    self._check_references(res, record, f"{res.envelope}[{i}]")
                for record in records:
                    self._put(res, record, self._find(res, record))
            return 200, _ok(200, {"message": "created with success!"})
        if isinstance(payload, list):
            raise voors_error(400, f"{res.path} takes one record per request under data.{res.envelope}")
        record = self._validated(res, payload, res.envelope)
        with self._lock:
            self._check_references(res, record, res.envelope)
            existing = self._find(res, record)
            if existing is None and res.name == "users" and set(record) <= {"cpf", "active", "appraisedBy"}:
                raise voors_error(
                    404, f"User with CPF {record.get('cpf')!r} not found: create the user before changing it"
                )
            created, stored = self._put(res, record, existing)
            return self._answer(res, created, stored)

    def _create(self, res: VoorsResource, body: Any) -> tuple[int, Any]:
        payload = self._payload(res, body)
        if isinstance(payload, list):
            raise voors_error(400, f"{res.path} takes one record per request under data.{res.envelope}")
        record = self._validated(res, payload, res.envelope)
        with self._lock:
            created, stored = self._put(res, record, None)
            return self._answer(res, created, stored)

    def _id(self, res: VoorsResource, item: str) -> int:
        try:
            ident = int(item)
        except ValueError:
            ident = -1
        if ident not in self.store[res.name]:
            raise voors_error(404, f"{res.envelope} {item} not found")
        return ident

    def _update(self, res: VoorsResource, item: str, body: Any) -> dict[str, Any]:
        payload = self._payload(res, body)
        record = self._validated(res, payload, res.envelope)
        with self._lock:
            ident = self._id(res, item)
            _created, stored = self._put(res, record, ident)
            return _ok(200, {res.envelope: dict(stored)})

    def _delete_id(self, res: VoorsResource, item: str) -> None:
        with self._lock:
            ident = self._id(res, item)
            stored = self.store[res.name].pop(ident)
            for key in self._keys(res, stored):
                self._index[res.name].pop(key, None)

    def _delete_remote(self, res: VoorsResource, body: Any) -> dict[str, Any]:
        from airflow_provider_ahgora.models.voors import RemoteIdRef

        key = res.delete_envelope or res.envelope
        payload = self._payload(res, body, key)
        if isinstance(payload, list):
            if not res.delete_array:
                raise voors_error(400, f"{res.path} deletes one record per request under data.{key}")
            refs = payload
        else:
            refs = [payload]
        if not refs:
            raise voors_error(400, f'"data.{key}" must name at least one record by its remoteId')
        with self._lock:
            ids = []
            for i, ref in enumerate(refs):
                where = f"{key}[{i}]" if isinstance(payload, list) else key
                if not isinstance(ref, dict) or ref.get("remoteId") in (None, "", {}):
                    raise voors_error(
                        400, f"{where}.remoteId: required: the remoteId the record was sent with"
                    )
                try:
                    RemoteIdRef.model_validate(ref)
                except ValueError as exc:
                    raise voors_error(400, f"{where}.remoteId: {exc}") from None
                found = self._index[res.name].get(f"remoteId:{canonical(ref['remoteId'])}")
                if found is None or found not in self.store[res.name]:
                    raise voors_error(
                        404,
                        f"{res.envelope} with remoteId {canonical(ref['remoteId'])} not found: "
                        "nothing was deleted",
                    )
                ids.append(found)
            for ident in ids:
                stored = self.store[res.name].pop(ident, None)
                if stored is not None:
                    for k in self._keys(res, stored):
                        self._index[res.name].pop(k, None)
        return _ok(200, {"message": _DELETE_MESSAGES.get(res.name, _DELETED)})

    def records(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self.store[name].values()]

    def record(self, name: str, item: str | int) -> dict[str, Any]:
        res = self.resources[name]
        with self._lock:
            return dict(self.store[name][self._id(res, str(item))])

    # -- posts and goals --------------------------------------------------------------------------

    def _create_post(self, body: Any) -> dict[str, Any]:
        res = self.resources["posts"]
        record = self._validated(res, self._data(body, res.path), "data")
        with self._lock:
            _created, stored = self._put(res, record, None)
        return _ok(201, dict(stored))

    def _update_goals(self, body: Any) -> dict[str, Any]:
        res = self.resources["goalsUpdate"]
        payload = self._payload(res, body)
        if not isinstance(payload, list) or not payload:
            raise voors_error(400, '"data.goalsAchieved" must be a non-empty array')
        records = [self._validated(res, r, f"goalsAchieved[{i}]") for i, r in enumerate(payload)]
        now = iso_ms(self.clock())
        with self._lock:
            for record in records:
                self.goal_updates[str(record["userGoal"])] = {**record, "updatedAt": now}
        return _ok(200, {"message": f"{len(records)} goal(s) updated"})

    def _goal_base(self) -> list[dict[str, Any]]:
        """Every active synthetic employee as a goals user (without goals); built once."""
        if self._goal_users is None:
            data = self.data
            leaders = data.leaders()
            centers = {c.codigo: c.nome for c in data.cost_centers}
            users = []
            for e in data.employees:
                if e.dismissed:
                    continue
                leader = leaders.get(e.cost_center)
                role = data.job_roles[e.job_role]
                users.append(
                    {
                        "_index": e.index,
                        "_cpf": e.cpf,
                        "_leader_cpf": leader.cpf if leader is not None and leader is not e else None,
                        "_leader_index": leader.index if leader is not None and leader is not e else None,
                        "userFullName": e.name,
                        "email": data.email(e),
                        "_department": e.cost_center,
                        "departmentName": centers.get(e.cost_center),
                        "_job_role": role.remote_id,
                        "jobRoleTitle": role.title,
                        "_job_function": role.function_remote_id(e.job_level),
                        "jobFunctionTitle": f"{role.title} {'I' * e.job_level}",
                        "leaderFullName": leader.name if leader is not None and leader is not e else None,
                        "admission": e.admission.isoformat(),
                    }
                )
            self._goal_users = users
        return self._goal_users

    def _voors_id(self, name: str, key: str) -> int | None:
        return self._index[name].get(key)

    def _goals(self, query: Mapping[str, str]) -> list[dict[str, Any]]:
        """``GET /goals``: one item per user with their goals between startDate and endDate."""
        dates = {}
        for name in ("startDate", "endDate"):
            raw = query.get(name)
            if not raw:
                raise voors_error(400, f'"{name}" is required, as YYYY-MM-DD (e.g. 2022-01-01)')
            try:
                parsed = datetime.strptime(raw, "%Y-%m-%d").date()
            except ValueError:
                raise voors_error(400, f'"{name}" must be a date YYYY-MM-DD, got {raw!r}') from None
            dates[name] = parsed
        start, end = dates["startDate"], dates["endDate"]
        if end < start:
            raise voors_error(400, '"endDate" must not be before "startDate"')
        paging = {}
        for name in ("limit", "skip"):
            raw = query.get(name)
            if raw in (None, ""):
                continue
            try:
                paging[name] = int(raw)
            except ValueError:
                paging[name] = -1
            if paging[name] < 0:
                raise voors_error(400, f'"{name}" must be a non-negative integer, got {raw!r}')
        filters = {
            k: str(query[k])
            for k in ("userId", "email", "departmentId", "jobRoleId", "jobFunctionId", "leaderId")
            if query.get(k) not in (None, "")
        }
        months = _months(start, end)
        skip = paging.get("skip", 0)
        limit = paging.get("limit")
        if limit is not None:
            limit = self.quirks.page(limit)
        elif self.quirks.page_cap is not None:
            limit = self.quirks.page_cap
        out: list[dict[str, Any]] = []
        matched = 0
        with self._lock:
            for base in self._goal_base():
                item = self._goal_user(base)
                if any(str(item.get(k)) != v for k, v in filters.items()):
                    continue
                matched += 1
                if matched <= skip:
                    continue
                item["userGoals"] = [self._user_goal(base["_index"], y, m) for y, m in months]
                out.append(item)
                if limit is not None and len(out) >= limit:
                    break
        return out

    def _goal_user(self, base: dict[str, Any]) -> dict[str, Any]:
        user_id = self._voors_id("users", f"cpf:{base['_cpf']}") or 100_000 + base["_index"]
        leader_id = None
        if base["_leader_cpf"]:
            leader_id = self._voors_id("users", f"cpf:{base['_leader_cpf']}")
            if leader_id is None:
                leader_id = 100_000 + base["_leader_index"]
        return {
            "userId": user_id,
            "userFullName": base["userFullName"],
            "email": base["email"],
            "departmentId": self._voors_id("departments", f"remoteId:{canonical(base['_department'])}"),
            "departmentName": base["departmentName"],
            "jobRoleId": self._voors_id("jobRoles", f"remoteId:{canonical(base['_job_role'])}"),
            "jobRoleTitle": base["jobRoleTitle"],
            "jobFunctionId": self._voors_id("jobFunctions", f"remoteId:{canonical(base['_job_function'])}"),
            "jobFunctionTitle": base["jobFunctionTitle"],
            "leaderId": leader_id,
            "leaderFullName": base["leaderFullName"],
            "situation": "active",
            "situationHistory": [{"date": base["admission"], "situation": "active"}],
        }

    def _user_goal(self, index: int, year: int, month: int) -> dict[str, Any]:
        goal_id = (year - 2000) * 12 + month
        first = date(year, month, 1)
        last = date(year + (month == 12), month % 12 + 1, 1).toordinal() - 1
        user_goal_id = goal_id * 100_000 + index
        item = {
            "userGoalId": user_goal_id,
            "goalId": goal_id,
            "unit": _GOAL_UNITS[(index + month) % len(_GOAL_UNITS)],
            "goalTitle": f"Meta {month:02d}/{year}",
            "goalStartDate": first.isoformat(),
            "goalEndDate": date.fromordinal(last).isoformat(),
        }
        achieved = self.goal_updates.get(str(user_goal_id))
        if achieved is not None:
            item["achieved"] = achieved.get("value")
        return item

    # -- inspection -------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "records": {name: len(records) for name, records in self.store.items() if records},
                "goal_updates": len(self.goal_updates),
            }


def _months(start: date, end: date) -> list[tuple[int, int]]:
    out = []
    y, m = start.year, start.month
    while (y, m) <= (end.year, end.month):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        if len(out) > 240:
            break
    return out

"""The resource registry: every PontoWeb push route and every Voors resource, in one place.

Models, hooks, operators and the sandbox read what a route or resource is from here, and nothing
else keeps a list of them. Adding a PontoWeb route or a Voors resource is one line below (plus its
request model in :mod:`airflow_provider_ahgora.models` and its tests).

Importing this module is cheap: standard library only, no Airflow, no pydantic, no HTTP stack (Dag
files import operators, operators
check their ``resource`` argument against this registry at parse time). Request models are named by
their class name and imported only when :attr:`PushRoute.model` or :attr:`VoorsResource.model` is
read.

PontoWeb push routes (:data:`PUSH_ROUTES`)
    what identifies a record (to label it and to match the process monitor's ``identifier``), and
    whether sending a record again is harmless (*idempotent*: an upsert by its key) or not
    (``absences`` with ``operation`` INS: a second copy is a second absence). A request whose outcome
    is unknown is repeated only on an idempotent route. Limits: :data:`MAX_PUSH_RECORDS` records and
    :data:`MAX_PUSH_BYTES` bytes of JSON body per request.

Voors resources (:data:`RESOURCES`)
    path, envelope key, operations, identity, whether bodies take arrays, how DELETE names a record,
    and for resources whose POST *creates* (a second POST is a second record) which fields find a
    created record again in the resource's list (``readback``), so that a create whose answer was
    lost is reconciled instead of sent twice.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_ahgora.models._base import RequestModel

__all__ = [
    "MAX_PUSH_BYTES",
    "MAX_PUSH_RECORDS",
    "OPERATIONS",
    "PUSH_RESOURCES",
    "PUSH_ROUTES",
    "READABLE_RESOURCES",
    "RESOURCES",
    "PushRoute",
    "VoorsResource",
    "get_resource",
    "push_route",
]

#: At most this many records per PontoWeb push request.
MAX_PUSH_RECORDS = 1000
#: At most this many bytes of JSON body per PontoWeb push request (1 MiB).
MAX_PUSH_BYTES = 1024 * 1024


def _model(module: str, name: str | None) -> Any:
    return None if name is None else getattr(import_module(module), name)


# ==================================================================================================
# PontoWeb push routes
# ==================================================================================================


class _Entry:
    """A registry entry: immutable, equal to another of its fields' values. Written by hand rather than
    as a frozen dataclass, which generates its methods with ``exec`` when the module is imported:
    about 1 ms of every Dag file's parse for each class (bench/parse_cost.py)."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def _set(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({fields})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), dict(zip(self._fields, self._values(), strict=True))))


def _rebuild(cls: type[_Entry], values: dict[str, Any]) -> _Entry:
    return cls(**values)


class PushRoute(_Entry):
    """One PontoWeb push route (``POST /<name>``, a JSON array of records)."""

    __slots__ = _fields = ("name", "model_name", "id_keys", "idempotent", "message", "documented")

    name: str
    """The route without its slash, as the process monitor names it: ``"costcenter"``."""
    model_name: str | None
    """Class name of the request model of one record in :mod:`models.pontoweb`; ``None``: the body is
    not documented and records are sent as given."""
    id_keys: tuple[str, ...]
    """Wire keys that identify a record: its label in messages, and the ``identifier`` the process
    monitor names a failed record by (the first one present)."""
    idempotent: bool
    """Sending a record again is harmless (an upsert by its key)."""
    message: str
    """The ``message`` of the route's answer (the documents give the first two; the sandbox uses it)."""
    documented: bool
    """Described by the vendor documents (else by the vendor's integration pages only)."""

    def __init__(
        self,
        name: str,
        model_name: str | None,
        id_keys: tuple[str, ...],
        idempotent: bool,
        message: str,
        documented: bool = True,
    ) -> None:
        self._set(
            name=name,
            model_name=model_name,
            id_keys=id_keys,
            idempotent=idempotent,
            message=message,
            documented=documented,
        )

    @property
    def path(self) -> str:
        return f"/{self.name}"

    @property
    def model(self) -> type[RequestModel] | None:
        """The request model of one record (imports pydantic and the models on first use)."""
        return _model("airflow_provider_ahgora.models.pontoweb", self.model_name)


# fmt: off
#: Every PontoWeb push route, by name.
PUSH_ROUTES: dict[str, PushRoute] = {r.name: r for r in (
    PushRoute("costcenter", "CostCenter", ("codigo",), True, "Cost center's Integration on progress"),
    PushRoute("subsidiaries", "Subsidiary", ("numeroCadastro",), True,
              "Subsidiaries Integration on progress"),
    PushRoute("people", "Person", ("matricula",), True, "People Integration on progress", documented=False),
    PushRoute("absences", "Absence", ("matricula", "inicio", "operation"), False,
              "Absences Integration on progress", documented=False),
    PushRoute("users", "PontoWebUser", ("email", "matricula", "login"), True,
              "Users Integration on progress", documented=False),
    PushRoute("paymentDate", None, ("matricula",), True,
              "Payment date Integration on progress", documented=False),
    PushRoute("anticipate", None, ("matricula",), True,
              "Anticipate Integration on progress", documented=False),
)}
# fmt: on
#: The route names, in the order above.
PUSH_RESOURCES: tuple[str, ...] = tuple(PUSH_ROUTES)
#: Identifying keys tried for a custom path (``"/something"``): no route describes it.
CUSTOM_ID_KEYS: tuple[str, ...] = ("matricula", "codigo", "id")


def push_route(resource: str) -> PushRoute | None:
    """The route of ``resource``: a route name, ``None`` for a custom path starting with ``/``.

    :raises AhgoraConfigError: for a name that is neither.
    """
    from airflow_provider_ahgora.exceptions import AhgoraConfigError

    if not isinstance(resource, str) or not resource.strip():
        raise AhgoraConfigError("resource must be a push resource name or a path starting with '/'.")
    if resource.startswith("/"):
        return None
    route = PUSH_ROUTES.get(resource)
    if route is None:
        raise AhgoraConfigError(
            f"Unknown PontoWeb push resource {resource!r}: use one of {', '.join(PUSH_RESOURCES)}, or a "
            "custom path starting with '/'."
        )
    return route


# ==================================================================================================
# Voors resources
# ==================================================================================================

#: Operations a resource may support.
#: upsert: POST creates or edits by the resource's identifier; create: POST creates;
#: update: PUT /{id}; delete: DELETE (by path id or by body); get: GET /{id}; list: GET.
OPERATIONS = frozenset({"upsert", "create", "update", "delete", "get", "list"})


class VoorsResource(_Entry):
    """How one Voors resource is spoken to."""

    __slots__ = _fields = (
        "name",
        "path",
        "envelope",
        "operations",
        "identifier",
        "model_name",
        "array",
        "delete_envelope",
        "delete_array",
        "delete_by_path_id",
        "readback",
    )

    name: str
    """Registry key, the path without its slash, e.g. ``"departments"``."""
    path: str
    """URL path under the connection's base URL, e.g. ``"/departments"``."""
    envelope: str
    """Key under ``data`` in bodies and answers, e.g. ``"department"`` (``""``: the record is ``data``)."""
    operations: frozenset[str]
    identifier: str
    """What identifies a record: ``"remoteId"``, ``"cpf"`` or ``"id"`` (Voors' own id)."""
    model_name: str | None
    """Class name of the model that validates one record sent (in :mod:`models.voors`); ``None``:
    passed through as given."""
    array: bool
    """The POST body holds an array under ``envelope`` (several records per request)."""
    delete_envelope: str | None
    """Envelope key of DELETE bodies when it differs from ``envelope``."""
    delete_array: bool
    """DELETE takes an array of ``{remoteId}`` (several records per request)."""
    delete_by_path_id: bool
    """DELETE is ``DELETE /path/{id}`` with no body."""
    readback: tuple[str, ...]
    """For resources whose POST creates: the wire fields that find a created record in the list
    (``GET /path``): the first one (its name or title) must be sent and equal; each other one is
    compared when both the record sent and the record listed have it (``remoteId`` in the forms
    Voors echoes it). Empty: a created record cannot be found again."""

    def __init__(
        self,
        name: str,
        path: str,
        envelope: str,
        operations: frozenset[str],
        identifier: str,
        model_name: str | None = None,
        array: bool = False,
        delete_envelope: str | None = None,
        delete_array: bool = False,
        delete_by_path_id: bool = False,
        readback: tuple[str, ...] = (),
    ) -> None:
        self._set(
            name=name,
            path=path,
            envelope=envelope,
            operations=operations,
            identifier=identifier,
            model_name=model_name,
            array=array,
            delete_envelope=delete_envelope,
            delete_array=delete_array,
            delete_by_path_id=delete_by_path_id,
            readback=readback,
        )

    def supports(self, operation: str) -> bool:
        return operation in self.operations

    @property
    def model(self) -> type[RequestModel] | None:
        """The request model of one record (imports pydantic and the models on first use)."""
        return _model("airflow_provider_ahgora.models.voors", self.model_name)

    @property
    def creates(self) -> bool:
        """A POST without an id creates a new record every time: sending it twice makes two."""
        return self.supports("create") and not self.supports("upsert")

    @property
    def can_read_back(self) -> bool:
        """A created record can be found again (in ``GET /path``) by :attr:`readback`."""
        return bool(self.readback) and self.supports("list")

    @property
    def aliases(self) -> tuple[str, ...]:
        """Every name the resource answers to: key, path without slash, envelope keys."""
        names = [self.name, self.path.strip("/"), self.envelope, self.delete_envelope or ""]
        return tuple(dict.fromkeys(n for n in names if n))


_POST = frozenset({"upsert"})
_POST_DELETE = frozenset({"upsert", "delete"})
_CRUD = frozenset({"list", "get", "create", "update", "delete"})


def _r(
    name: str,
    envelope: str,
    model: str | None,
    operations: frozenset[str] = _POST_DELETE,
    identifier: str = "remoteId",
    path: str | None = None,
    **options: Any,
) -> VoorsResource:
    return VoorsResource(name, path or f"/{name}", envelope, operations, identifier, model, **options)


# One line per resource of the document. Paths are the key with a slash unless given.
# fmt: off
#: Every Voors resource, by registry key.
RESOURCES: dict[str, VoorsResource] = {r.name: r for r in (
    _r("branches", "branch", "BranchBody", _POST),
    _r("branchGroups", "branchGroup", "BranchGroupBody", _POST),
    _r("departments", "department", "DepartmentBody", _CRUD, "id", delete_by_path_id=True,
       readback=("name", "description", "displayCode", "remoteId")),
    _r("jobRoles", "jobRole", "JobRoleBody", _CRUD, "id", delete_by_path_id=True,
       readback=("title", "description", "cbo", "remoteId")),
    _r("jobFunctions", "jobFunction", "JobFunctionBody", _CRUD, "id", delete_by_path_id=True,
       readback=("title", "description", "cbo", "displayCode", "remoteId")),
    _r("horaries", "horary", "HoraryBody", _CRUD, "id", delete_by_path_id=True,
       readback=("title", "description", "remoteId")),
    _r("users", "user", "UserBody", _POST, "cpf"),
    _r("experienceContracts", "experienceContract", "ExperienceContractBody"),
    _r("calculationProcesses", "calculationProcess", "CalculationProcessBody", _POST),
    _r("causes", "cause", "CauseBody"),
    _r("userCalculations", "userCalculation", "UserCalculationBody", delete_array=True),
    _r("timeCards", "timeCard", "TimeCardBody"),
    _r("annualIncomes", "annualIncome", "AnnualIncomeBody"),
    _r("compensatoryTimes", "compensatoryTime", "CompensatoryTimeBody"),
    _r("readjustReasons", "readjustReason", "ReadjustReasonBody", delete_array=True),
    _r("userDepartmentHistories", "userDepartmentHistory", "UserDepartmentHistoryBody",
       delete_envelope="userDepartmentHistories"),
    _r("userJobRoles", "userJobRole", "UserJobRoleBody", _POST),
    _r("userJobFunctions", "userJobFunction", "UserJobFunctionBody"),
    _r("userSalaries", "userSalary", "UserSalaryBody"),
    _r("userHoraries", "userHorary", "UserHoraryBody"),
    _r("userSituations", "userSituation", "UserSituationBody"),
    _r("userStabilities", "userStability", "UserStabilityBody"),
    _r("userExams", "userExam", "UserExamBody"),
    _r("userProgrammingVacations", "userProgrammingVacation", "UserProgrammingVacationBody"),
    _r("userVacationAllowances", "userVacationAllowance", "UserVacationAllowanceBody"),
    _r("userVacations", "userVacation", "UserVacationBody"),
    _r("userWallets", "userWallets", "UserWalletBody", _POST, array=True),
    _r("userWalletTransactions", "userWalletTransactions", "UserWalletTransactionBody", _POST, array=True),
    _r("posts", "", "PostBody", frozenset({"create"}), ""),
    _r("goals", "", None, frozenset({"list"}), "userId"),
    _r("goalsUpdate", "goalsAchieved", "GoalAchievedBody", _POST, "userGoal", "/goals/updateGoals",
       array=True),
)}
# fmt: on
#: The resources that can be read (``GET /path``; goals by period): what VoorsReadOperator reads.
READABLE_RESOURCES: tuple[str, ...] = tuple(name for name, r in RESOURCES.items() if r.supports("list"))


def get_resource(name: str | VoorsResource) -> VoorsResource:
    """A resource by registry key (``"departments"``), path (``"/departments"``) or envelope key
    (``"department"``, ``"goalsAchieved"``). Raises :class:`AhgoraConfigError` when unknown."""
    if isinstance(name, VoorsResource):
        return name
    if isinstance(name, str):
        if name in RESOURCES:
            return RESOURCES[name]
        key = name.strip().strip("/")
        if key in RESOURCES:
            return RESOURCES[key]
        for resource in RESOURCES.values():
            if key and key in resource.aliases:
                return resource
    from airflow_provider_ahgora.exceptions import AhgoraConfigError

    raise AhgoraConfigError(
        f"Unknown Voors resource {name!r}. Use one of: {', '.join(sorted(RESOURCES))} "
        "(the registry key, its path such as '/departments', or its envelope key such as 'department')."
    )

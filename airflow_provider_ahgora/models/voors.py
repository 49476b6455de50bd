"""Voors (Nela / TalentRH) integration API: request bodies and responses.

What each resource is (path, envelope key, operations, identity, the model of one record) is in the
registry, :mod:`airflow_provider_ahgora.registry`; its names are re-exported here (``RESOURCES``,
``VoorsResource``, ``get_resource``) for the code that imported them from this module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from airflow_provider_ahgora.models._base import (
    BrDate,
    BrSeconds,
    ClockTime,
    Competence,
    Cpf,
    Hours,
    IsoDate,
    IsoSeconds,
    RequestModel,
    ResponseModel,
    Year,
    check_cnpj,
    check_cpf,
    check_hhmm,
)
from airflow_provider_ahgora.registry import OPERATIONS as OPERATIONS  # re-exported
from airflow_provider_ahgora.registry import RESOURCES as RESOURCES  # re-exported
from airflow_provider_ahgora.registry import VoorsResource as VoorsResource  # re-exported
from airflow_provider_ahgora.registry import get_resource as get_resource  # re-exported

# ==================================================================================================
# Value checks. Each raises ValueError with a message that says what is expected; pydantic puts the
# field's wire path in front of it (e.g. ``days[0].entry1``).
# ==================================================================================================


def _check_number(value: Any) -> Any:
    """A JSON number (int or float). Booleans and numeric strings are refused: nothing is coerced."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number, got {value!r}")
    return value


def _check_int(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer, got {value!r}")
    return value


def _check_int_or_str(value: Any) -> Any:
    """A code or id that the document shows as a number in one place and a string in another."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"must be an integer or a string, got {value!r}")
    if isinstance(value, str) and not value.strip():
        raise ValueError("must not be empty")
    return value


def _check_scalar(value: Any) -> Any:
    """A string or a number (e.g. a goal value "0.5", a score 2.5)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be a string or a number, got {value!r}")
    return value


def _check_remote_id(value: Any) -> Any:
    """``remoteId`` is "JSON": an object (any keys), a string or a number; never empty."""
    if isinstance(value, bool) or not isinstance(value, Mapping | str | int | float):
        raise ValueError(f"remoteId must be a JSON object, a string or a number, got {type(value).__name__}")
    if isinstance(value, Mapping | str) and not value:
        raise ValueError("remoteId must not be empty: it is what identifies the record")
    if isinstance(value, Mapping):
        return dict(value)
    return value


_ZIPCODE = re.compile(r"\d{5}-?\d{3}")


def _check_zipcode(value: str) -> str:
    if not _ZIPCODE.fullmatch(value):
        raise ValueError(
            f"must be a CEP of 8 digits, with or without hyphen ('85501530', '85501-530'), got {value!r}"
        )
    return value


def _check_branch_id(value: str) -> str:
    """A branch is identified by its CNPJ; companies that register branches by CPF use the CPF."""
    if not re.fullmatch(r"\d+", value) or len(value) not in (11, 14):
        raise ValueError(
            "must be a CNPJ of 14 digits (or, for branches registered by CPF, a CPF of 11 digits), "
            f"with no separators, got {value!r}"
        )
    return check_cpf(value) if len(value) == 11 else check_cnpj(value)


def _check_ibge_city(value: str) -> str:
    if not re.fullmatch(r"\d{7}", value):
        raise ValueError(f"must be the 7-digit IBGE code of the city (e.g. '4109236'), got {value!r}")
    return value


def _check_email(value: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise ValueError(f"must be an e-mail address, got {value!r}")
    return value


def _check_clock_or_empty(value: str) -> str:
    """A contractual time "HH:mm", or "" where the day has no such entry (the document's examples)."""
    return value if value == "" else check_hhmm(value)


def _check_br_or_dashed_date(value: str) -> str:
    """experienceContract dates: "DD/MM/YYYY" or "DD-MM-YYYY" (the document allows both)."""
    for fmt in ("%d/%m/%Y", "%d-%m-%Y"):
        try:
            if datetime.strptime(value, fmt).strftime(fmt) == value:
                return value
        except ValueError:
            continue
    raise ValueError(f"must be a date in the format DD/MM/YYYY or DD-MM-YYYY, got {value!r}")


def _check_cycle(value: str) -> str:
    if not re.fullmatch(r"\d{1,3}/\d{4}", value):
        raise ValueError(f"must be a cycle 'N/YYYY' (e.g. '1/2022'), got {value!r}")
    return value


def _check_coordinate(limit: float, name: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(f"{name} must be a decimal number (as a string), got {value!r}")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{name} must be a decimal number (e.g. '-26.0779'), got {value!r}") from None
        if not -limit <= number <= limit:
            raise ValueError(f"{name} must be between -{limit:g} and {limit:g}, got {value!r}")
        return value

    return check


def _one_of(name: str, allowed: tuple[str, ...], hint: str = "") -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}{hint}, got {value!r}")
        return value

    return check


def _nested_errors(model: type[BaseModel], value: Any) -> None:
    """Validate ``value`` with ``model``; raise one ValueError naming every bad sub-field."""
    try:
        model.model_validate(value)
    except ValidationError as exc:
        parts = []
        for err in exc.errors(include_url=False, include_input=False):
            where = ".".join(str(x) for x in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            parts.append(f"{where}: {msg}" if where else msg)
        raise ValueError("; ".join(parts)) from None


def _scalar_or(model: type[BaseModel], scalar: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """For fields that take a scalar OR an object: one clean error instead of one per union member."""

    def check(value: Any) -> Any:
        if isinstance(value, model):
            return value
        if isinstance(value, Mapping):
            _nested_errors(model, value)
            return value
        return scalar(value)

    return check


def _scalar_check(check: Callable[[str], str], expected: str) -> Callable[[Any], Any]:
    def run(value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(f"must be {expected}, got {value!r}")
        return check(value)

    return run


# ==================================================================================================
# Value types.
# ==================================================================================================

#: A JSON number (int stays int, float stays float).
Number = Annotated[StrictInt | StrictFloat, BeforeValidator(_check_number)]
#: An integer (not a bool, not a numeric string).
Int = Annotated[StrictInt, BeforeValidator(_check_int)]
#: A code or id given as a number or a string.
IntOrStr = Annotated[StrictInt | StrictStr, BeforeValidator(_check_int_or_str)]
#: A string or a number.
Scalar = Annotated[StrictStr | StrictInt | StrictFloat, BeforeValidator(_check_scalar)]
#: ``remoteId``: "JSON", i.e. an object, a string or a number.
RemoteId = Annotated[dict[str, Any] | StrictStr | StrictInt | StrictFloat, BeforeValidator(_check_remote_id)]
#: A CEP of 8 digits, with or without the hyphen.
ZipCode = Annotated[StrictStr, AfterValidator(_check_zipcode)]
#: A branch identifier: a CNPJ, or a CPF for branches registered by CPF.
BranchId = Annotated[StrictStr, AfterValidator(_check_branch_id)]
#: A city by its 7-digit IBGE code.
IbgeCity = Annotated[StrictStr, AfterValidator(_check_ibge_city)]
Email = Annotated[StrictStr, AfterValidator(_check_email)]
#: A contractual time "HH:mm" or "" (no entry that day).
ClockTimeOrEmpty = Annotated[StrictStr, AfterValidator(_check_clock_or_empty)]
#: "DD/MM/YYYY" or "DD-MM-YYYY".
BrOrDashedDate = Annotated[StrictStr, AfterValidator(_check_br_or_dashed_date)]

SITUATIONS = ("ATIVO", "FERIAS", "AFASTADO", "INATIVO")
"""Values accepted by ``userSituation.situation``. Map others: RESCISAO -> INATIVO, any leave -> AFASTADO."""
GOAL_UNITS = ("monetary", "percentage", "hours", "qualitative", "numerical", "numeric")
"""Values of ``goalsAchieved[].unit``: the document lists "numerical" but its example sends "numeric"."""
POST_TYPES = ("message", "announcement", "news")
EVENT_OPERATIONS = ("V", "P", "D")
"""``calculationEvents[].operation``: V or P (earnings column), D (deductions column)."""

Situation = Annotated[
    StrictStr,
    AfterValidator(
        _one_of("situation", SITUATIONS, " (map others: RESCISAO -> INATIVO, leaves -> AFASTADO)")
    ),
]
GoalUnit = Annotated[StrictStr, AfterValidator(_one_of("unit", GOAL_UNITS))]
PostType = Annotated[StrictStr, AfterValidator(_one_of("type", POST_TYPES))]
EventOperation = Annotated[
    StrictStr, AfterValidator(_one_of("operation", EVENT_OPERATIONS, " (V or P: earnings, D: deductions)"))
]


# ==================================================================================================
# Shared pieces of request bodies.
# ==================================================================================================


class RemoteRef(RequestModel):
    """A relation to a record created through this API: ``{"id": <remoteId of that record>}``.

    E.g. ``user.department``, ``jobFunction.jobRole``, ``userSalary.readjustReason``.
    """

    id: IntOrStr


class BranchRemoteRef(RequestModel):
    """``department.branch``: ``{"remoteId": <remoteId used to create the branch>}``."""

    remote_id: RemoteId


class BranchKey(RequestModel):
    """A branch given by its keys: ``{"cnpj"}`` or ``{"cei"}`` (timeCard also sends stateRegistry).

    ``cnpj`` holds the CPF when the company registers branches by CPF.
    """

    cnpj: BranchId | None = None
    cei: StrictStr | None = None
    state_registry: StrictStr | None = None

    @model_validator(mode="after")
    def _cnpj_or_cei(self) -> BranchKey:
        if self.cnpj is None and self.cei is None:
            raise ValueError("a branch needs 'cnpj' (or 'cei' for branches identified by CEI)")
        return self


#: A branch by CNPJ (or CPF) string, or as an object ``{"cnpj", "cei"}``.
BranchIdOrKey = Annotated[
    BranchId | BranchKey,
    BeforeValidator(
        _scalar_or(BranchKey, _scalar_check(_check_branch_id, "a CNPJ string or an object {cnpj, cei}"))
    ),
]
#: A relation given as ``{"id": ...}`` or directly as the id.
RefOrCode = Annotated[
    RemoteRef | StrictInt | StrictStr, BeforeValidator(_scalar_or(RemoteRef, _check_int_or_str))
]


class RemoteIdRef(RequestModel):
    """The body of a DELETE: the exact ``remoteId`` sent when the record was created."""

    remote_id: RemoteId


class _Remote(RequestModel):
    """A record identified by its ``remoteId`` (POST creates it, or edits it when it exists)."""

    remote_id: RemoteId


class _UserHistory(_Remote):
    """A user history record: the user is given by CPF."""

    user: Cpf


# ==================================================================================================
# Request bodies, one per resource, in the order of the document.
# ==================================================================================================


class BranchBody(_Remote):
    """``POST /branches`` (envelope ``branch``): create or edit a branch, identified by ``remoteId``."""

    name: StrictStr | None = None
    trading_name: StrictStr | None = None
    cnpj: BranchId | None = None
    cei: StrictStr | None = None
    display_code: IntOrStr | None = None
    address: StrictStr | None = None
    complement: StrictStr | None = None
    zipcode: ZipCode | None = None
    neighborhood: StrictStr | None = None
    number: IntOrStr | None = None
    phone_ddd: StrictStr | None = Field(default=None, alias="phoneDDD")
    phone: StrictStr | None = None
    city: IbgeCity | None = None
    group: Int | None = None


class BranchGroupBody(_Remote):
    """``POST /branchGroups`` (envelope ``branchGroup``). A branch belongs to one group at most."""

    title: StrictStr | None = None
    branches: list[BranchId] | None = None


class DepartmentBody(RequestModel):
    """``POST /departments`` and ``PUT /departments/{id}`` (envelope ``department``).

    Identified by Voors' ``id``; an edit sends only the fields that change, so nothing is required.
    """

    name: StrictStr | None = None
    description: StrictStr | None = None
    display_code: IntOrStr | None = None
    branch: BranchRemoteRef | None = None
    remote_id: RemoteId | None = None


class JobRoleBody(RequestModel):
    """``POST /jobRoles`` and ``PUT /jobRoles/{id}`` (envelope ``jobRole``)."""

    title: StrictStr | None = None
    description: StrictStr | None = None
    cbo: StrictStr | None = None
    remote_id: RemoteId | None = None


class JobFunctionBody(RequestModel):
    """``POST /jobFunctions`` and ``PUT /jobFunctions/{id}`` (envelope ``jobFunction``).

    ``jobRole.id`` is the remoteId the job role was created with.
    """

    title: StrictStr | None = None
    description: StrictStr | None = None
    display_code: IntOrStr | None = None
    active: StrictBool | None = None
    cbo: StrictStr | None = None
    job_role: RemoteRef | None = None
    remote_id: RemoteId | None = None


class HoraryBody(RequestModel):
    """``POST /horaries`` and ``PUT /horaries/{id}`` (envelope ``horary``). Times "HH:mm" or ""."""

    title: StrictStr | None = None
    description: StrictStr | None = None
    active: StrictBool | None = None
    horary_entry1: ClockTimeOrEmpty | None = None
    horary_exit1: ClockTimeOrEmpty | None = None
    horary_entry2: ClockTimeOrEmpty | None = None
    horary_exit2: ClockTimeOrEmpty | None = None
    horary_entry1_saturday: ClockTimeOrEmpty | None = None
    horary_exit1_saturday: ClockTimeOrEmpty | None = None
    horary_entry2_saturday: ClockTimeOrEmpty | None = None
    horary_exit2_saturday: ClockTimeOrEmpty | None = None
    horary_entry1_sunday: ClockTimeOrEmpty | None = None
    horary_exit1_sunday: ClockTimeOrEmpty | None = None
    horary_entry2_sunday: ClockTimeOrEmpty | None = None
    horary_exit2_sunday: ClockTimeOrEmpty | None = None
    remote_id: RemoteId | None = None


#: ``meta.employmentRelationships`` item: a CNPJ string, or ``{"cnpj": <CPF>, "cei"}`` for branches
#: registered by CPF.
EmploymentRelationship = BranchIdOrKey


class UserMeta(RequestModel):
    """``user.meta``: free attributes; ``employmentRelationships`` links the user to several branches."""

    marital_status: StrictStr | None = None
    mother_name: StrictStr | None = None
    father_name: StrictStr | None = None
    type_address: StrictStr | None = None
    street_type: StrictStr | None = None
    electoral_zone: StrictStr | None = None
    electoral_section: StrictStr | None = None
    employment_relationships: list[EmploymentRelationship] | None = None


class UserBody(RequestModel):
    """``POST /users`` (envelope ``user``): create or edit a user, identified by CPF.

    Also the short forms ``{cpf, active: false}`` (deactivate) and ``{cpf, appraisedBy}`` (set the
    immediate leader, by the leader's CPF: send leaders first). Relations take the remoteId used to
    create them, except ``city``/``birthCity`` (IBGE code) and ``instructionLevel`` (Voors id).
    """

    cpf: Cpf
    first_name: StrictStr | None = None
    last_name: StrictStr | None = None
    email: Email | None = None
    birth_date: BrDate | None = None
    address: StrictStr | None = None
    number: IntOrStr | None = None
    display_code: IntOrStr | None = None
    complement: StrictStr | None = None
    zipcode: ZipCode | None = None
    neighborhood: StrictStr | None = None
    phone: StrictStr | None = None
    cellphone: StrictStr | None = None
    admission_date: BrDate | None = None
    salary: Number | None = None
    active: StrictBool | None = None
    city: IbgeCity | None = None
    birth_city: IbgeCity | None = None
    voter_registration_card: StrictStr | None = None
    instruction_level: Int | None = None
    cnh: StrictStr | None = Field(default=None, alias="cnh")
    cnh_expiration_date: BrDate | None = None
    cipeiro: StrictBool | None = None
    brigade: StrictBool | None = None
    pis: StrictStr | None = None
    rg: StrictStr | None = None
    ctps: StrictStr | None = None
    department: RemoteRef | None = None
    job_function: RemoteRef | None = None
    job_role: RemoteRef | None = None
    horary: RemoteRef | None = None
    appraised_by: Cpf | None = None
    meta: UserMeta | None = None


class ExperienceContractBody(_Remote):
    """``POST /experienceContracts`` (envelope ``experienceContract``). Edit: same ``remoteId``."""

    cpf: Cpf
    branch: BranchKey | None = None
    admission_date: BrOrDashedDate | None = None
    end_date: BrOrDashedDate | None = None


class CalculationProcessBody(_Remote):
    """``POST /calculationProcesses`` (envelope ``calculationProcess``)."""

    description: StrictStr | None = None
    display_code: IntOrStr | None = None


class CauseBody(_Remote):
    """``POST /causes`` (envelope ``cause``): causes of a user situation."""

    description: StrictStr | None = None


class CalculationEvent(RequestModel):
    """``userCalculation.calculationEvents[]``: one line of the pay slip."""

    description: StrictStr | None = None
    reference: Scalar | None = None
    value: Scalar | None = None
    code: IntOrStr | None = None
    operation: EventOperation | None = None


class UserCalculationBody(_UserHistory):
    """``POST /userCalculations`` (envelope ``userCalculation``): a pay slip. Needs a calculationProcess.

    ``branch`` (alias ``employmentRelationships``) is the branch CNPJ; ``user`` the CPF.
    """

    calculation_process: RemoteRef | None = None
    branch: BranchIdOrKey | None = None
    employment_relationships: BranchIdOrKey | None = None
    department: RefOrCode | None = None
    job_role: RefOrCode | None = None
    job_function: RefOrCode | None = None
    description: StrictStr | None = None
    observation: StrictStr | None = None
    date: BrDate | None = None
    payday: BrDate | None = None
    base_inss: Number | None = Field(default=None, alias="baseinss")
    value_inss: Number | None = Field(default=None, alias="valueinss")
    base_irrf: Number | None = Field(default=None, alias="baseirrf")
    value_irrf: Number | None = Field(default=None, alias="valueirrf")
    base_fgts: Number | None = Field(default=None, alias="basefgts")
    value_fgts: Number | None = Field(default=None, alias="valuefgts")
    earnings: Number | None = None
    benefits: Number | None = None
    net_salary: Number | None = None
    discounts: Number | None = None
    neutral: Number | None = None
    salary: Number | None = None
    irrf_range: Scalar | None = None
    calculation_events: list[CalculationEvent] | None = None


class NamedRef(RequestModel):
    """Descriptive relation in a time card: ``{"id", "name"}`` or ``{"id", "title"}``."""

    id: IntOrStr | None = None
    name: StrictStr | None = None
    title: StrictStr | None = None


class TimeCardUser(RequestModel):
    """``timeCard.user``: identified by CPF."""

    cpf: Cpf
    pis: StrictStr | None = None
    work_card: StrictStr | None = None
    department: NamedRef | None = None
    job_role: NamedRef | None = None
    job_function: NamedRef | None = None


class TimeCardTotal(RequestModel):
    """``timeCard.totals[]`` and ``days[].dailyTotal[]``: a total in hours "H:mm"."""

    title: StrictStr | None = None
    total: Hours | None = None
    considered: StrictStr | None = None
    compensatory_time: Scalar | None = None
    """Percentage of the hour bank (a number; the document's example sends "100")."""


class Location(RequestModel):
    latitude: Annotated[
        StrictStr | StrictInt | StrictFloat, BeforeValidator(_check_coordinate(90, "latitude"))
    ]
    longitude: Annotated[
        StrictStr | StrictInt | StrictFloat, BeforeValidator(_check_coordinate(180, "longitude"))
    ]


class Punch(RequestModel):
    """A punch with geolocation: ``{"time": "HH:mm", "location": {"latitude", "longitude"}}``."""

    time: ClockTime
    location: Location | None = None


#: ``days[].entryN`` / ``exitN``: "HH:mm", or a :class:`Punch` object.
PunchValue = Annotated[
    ClockTime | Punch,
    BeforeValidator(
        _scalar_or(Punch, _scalar_check(check_hhmm, "a time 'HH:mm' or an object {time, location}"))
    ),
]
_SLOT = re.compile(r"(entry|exit)\d+")


def _check_extra_slots(model: BaseModel, check: Callable[[Any], Any]) -> None:
    """Punch slots beyond the declared ones (``entry11``...) arrive as extras: check them too."""
    for key, value in (model.model_extra or {}).items():
        if _SLOT.fullmatch(key) and value is not None:
            try:
                check(value)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None


class TimeCardHorary(RequestModel):
    """``timeCard.horaries[]``: a contractual horary of the employee."""

    id: IntOrStr | None = None
    weekday: StrictStr | None = None
    entry1: ClockTimeOrEmpty | None = None
    exit1: ClockTimeOrEmpty | None = None
    entry2: ClockTimeOrEmpty | None = None
    exit2: ClockTimeOrEmpty | None = None
    entry3: ClockTimeOrEmpty | None = None
    exit3: ClockTimeOrEmpty | None = None
    entry4: ClockTimeOrEmpty | None = None
    exit4: ClockTimeOrEmpty | None = None

    @model_validator(mode="after")
    def _more_slots(self) -> TimeCardHorary:
        _check_extra_slots(self, _scalar_check(_check_clock_or_empty, "a time 'HH:mm'"))
        return self


class TimeCardDay(RequestModel):
    """``timeCard.days[]``: one day; punches ``entry1``/``exit1`` ... ``entryN``/``exitN``."""

    date: BrDate | None = None
    horary: IntOrStr | None = None
    entry1: PunchValue | None = None
    exit1: PunchValue | None = None
    entry2: PunchValue | None = None
    exit2: PunchValue | None = None
    entry3: PunchValue | None = None
    exit3: PunchValue | None = None
    entry4: PunchValue | None = None
    exit4: PunchValue | None = None
    entry5: PunchValue | None = None
    exit5: PunchValue | None = None
    entry6: PunchValue | None = None
    exit6: PunchValue | None = None
    entry7: PunchValue | None = None
    exit7: PunchValue | None = None
    entry8: PunchValue | None = None
    exit8: PunchValue | None = None
    entry9: PunchValue | None = None
    exit9: PunchValue | None = None
    entry10: PunchValue | None = None
    exit10: PunchValue | None = None
    daily_total: list[TimeCardTotal] | None = None

    @model_validator(mode="after")
    def _more_slots(self) -> TimeCardDay:
        _check_extra_slots(
            self, _scalar_or(Punch, _scalar_check(check_hhmm, "a time 'HH:mm' or an object {time, location}"))
        )
        return self


class TimeCardObservation(RequestModel):
    date: BrDate | None = None
    title: StrictStr | None = None


class TimeCardBody(_Remote):
    """``POST /timeCards`` (envelope ``timeCard``): a month of a user's time card."""

    branch: BranchKey | None = None
    user: TimeCardUser
    competence: Competence | None = None
    interval_start: BrDate | None = None
    interval_end: BrDate | None = None
    compensatory_time: Hours | None = None
    """Hour-bank balance "H:mm" (may exceed 24 h or be negative)."""
    time_compensation: StrictBool | None = None
    horaries: list[TimeCardHorary] | None = None
    totals: list[TimeCardTotal] | None = None
    days: list[TimeCardDay] | None = None
    observations: list[TimeCardObservation] | None = None


class AnnualIncomeBody(_UserHistory):
    """``POST /annualIncomes`` (envelope ``annualIncome``): the yearly income statement.

    ``cXlY`` are the amounts of column X, line Y of the statement.
    """

    year: Year | None = None
    nature: StrictStr | None = None
    branch: BranchId | None = None
    c3l1: Number | None = Field(default=None, alias="c3l1")
    c3l2: Number | None = Field(default=None, alias="c3l2")
    c3l3: Number | None = Field(default=None, alias="c3l3")
    c3l4: Number | None = Field(default=None, alias="c3l4")
    c3l5: Number | None = Field(default=None, alias="c3l5")
    c4l1: Number | None = Field(default=None, alias="c4l1")
    c4l2: Number | None = Field(default=None, alias="c4l2")
    c4l3: Number | None = Field(default=None, alias="c4l3")
    c4l4: Number | None = Field(default=None, alias="c4l4")
    c4l5: Number | None = Field(default=None, alias="c4l5")
    c4l6: Number | None = Field(default=None, alias="c4l6")
    c4l7: Number | None = Field(default=None, alias="c4l7")
    c4l8: Number | None = Field(default=None, alias="c4l8")
    c4l9: Number | None = Field(default=None, alias="c4l9")
    c5l1: Number | None = Field(default=None, alias="c5l1")
    c5l2: Number | None = Field(default=None, alias="c5l2")
    c5l3: Number | None = Field(default=None, alias="c5l3")
    c7l1: StrictStr | None = Field(default=None, alias="c7l1")
    observations: StrictStr | None = None
    responsible: StrictStr | None = None


class CompensatoryTimeBody(_UserHistory):
    """``POST /compensatoryTimes`` (envelope ``compensatoryTime``): an hour-bank balance in minutes.

    The document's table asks for ``cycle`` ("1/2022") while its example sends ``initialDate`` and
    ``endDate``: one of the two forms is required.
    """

    cycle: Annotated[StrictStr, AfterValidator(_check_cycle)] | None = None
    initial_date: BrDate | None = None
    end_date: BrDate | None = None
    total_balance: Int

    @model_validator(mode="after")
    def _period(self) -> CompensatoryTimeBody:
        if self.cycle is None and (self.initial_date is None or self.end_date is None):
            raise ValueError(
                "the period is required: 'cycle' (e.g. '1/2022') or both 'initialDate' and 'endDate'"
            )
        return self


class ReadjustReasonBody(_Remote):
    """``POST /readjustReasons`` (envelope ``readjustReason``): reasons of salary changes."""

    description: StrictStr | None = None


class UserDepartmentHistoryBody(_UserHistory):
    """``POST /userDepartmentHistories`` (envelope ``userDepartmentHistory``)."""

    description: StrictStr | None = None
    date: BrDate | None = None
    department: RemoteRef | None = None
    display_code: IntOrStr | None = None


class UserJobRoleBody(_UserHistory):
    """``POST /userJobRoles`` (envelope ``userJobRole``). ``jobRole`` is the job role's remoteId."""

    description: StrictStr | None = None
    date: BrDate | None = None
    cbo: StrictStr | None = None
    job_role: RefOrCode | None = None


class UserJobFunctionBody(_UserHistory):
    """``POST /userJobFunctions`` (envelope ``userJobFunction``)."""

    cbo: StrictStr | None = None
    description: StrictStr | None = None
    date: BrDate | None = None
    job_function: RefOrCode | None = None


class UserSalaryBody(_UserHistory):
    """``POST /userSalaries`` (envelope ``userSalary``)."""

    description: StrictStr | None = None
    date: BrDate | None = None
    salary: Number | None = None
    readjust_reason: RemoteRef | None = None


class UserHoraryBody(_UserHistory):
    """``POST /userHoraries`` (envelope ``userHorary``). Its ``date`` is ISO "YYYY-MM-DD"."""

    description: StrictStr | None = None
    date: IsoDate | None = None
    horary: RemoteRef | None = None


class UserSituationBody(_UserHistory):
    """``POST /userSituations`` (envelope ``userSituation``). ``situation`` in :data:`SITUATIONS`."""

    situation: Situation
    date: BrDate | None = None
    branch: BranchId | None = None
    cause: RemoteRef | None = None


class UserStabilityBody(_UserHistory):
    """``POST /userStabilities`` (envelope ``userStability``)."""

    description: StrictStr | None = None
    initial_date: BrDate | None = None
    final_date: BrDate | None = None


class UserExamBody(_UserHistory):
    """``POST /userExams`` (envelope ``userExam``)."""

    description: StrictStr | None = None
    date: BrDate | None = None


class UserProgrammingVacationBody(_UserHistory):
    """``POST /userProgrammingVacations`` (envelope ``userProgrammingVacation``).

    Send ``allowanceInitialDate``/``allowanceFinalDate`` as null to remove them.
    """

    initial_date: BrDate | None = None
    final_date: BrDate | None = None
    allowance_initial_date: BrDate | None = None
    allowance_final_date: BrDate | None = None
    allowance_days: Number | None = None


class UserVacationAllowanceBody(_UserHistory):
    """``POST /userVacationAllowances`` (envelope ``userVacationAllowance``): an accrual period."""

    balance: Number | None = None
    branch: BranchId | None = None
    start: BrDate | None = None
    end: BrDate | None = None
    enjoyed: StrictBool | None = None
    enjoyed_days: Number | None = None
    enjoyment_limit: BrDate | None = None
    faults: Number | None = None
    fractions: Int | None = None
    right_days: Number | None = None


class UserVacationBody(_UserHistory):
    """``POST /userVacations`` (envelope ``userVacation``): vacations taken."""

    initial_date: BrDate | None = None
    final_date: BrDate | None = None
    allowance_initial_date: BrDate | None = None
    allowance_final_date: BrDate | None = None
    enjoyment_initial_date: BrDate | None = None
    enjoyment_final_date: BrDate | None = None


class UserWalletBody(_UserHistory):
    """``POST /userWallets`` (envelope ``userWallets``, an array): credit / benefit wallets."""

    description: StrictStr | None = None
    limit: Number | None = None
    installment_limit: Number | None = None


class WalletTransactionItem(RequestModel):
    description: StrictStr | None = None
    quantity: Number | None = None
    unit_price: Number | None = None
    sub_total: Number | None = None


class UserWalletTransactionBody(_Remote):
    """``POST /userWalletTransactions`` (envelope ``userWalletTransactions``, an array)."""

    user_wallet_remote_id: IntOrStr
    store: StrictStr | None = None
    date: IsoSeconds | None = None
    total: Number | None = None
    items: list[WalletTransactionItem] | None = None


class TaskDetail(RequestModel):
    task: StrictStr
    score: Scalar | None = None
    description: StrictStr | None = None
    last_update: BrSeconds | None = None


class ProjectDetail(RequestModel):
    project: StrictStr
    description: StrictStr | None = None
    last_update: BrSeconds | None = None
    task_details: list[TaskDetail] | None = None


class GoalAchievedBody(RequestModel):
    """``POST /goals/updateGoals`` (envelope ``goalsAchieved``, an array): the achieved value of a goal.

    Hours are sent in minutes, percentages divided by 100 (82% = 0.82). Leaders send
    ``projectDetails`` (with their ``taskDetails``), the others ``taskDetails``.
    """

    user_goal: IntOrStr
    unit: GoalUnit
    value: Scalar
    comment: StrictStr | None = None
    project_details: list[ProjectDetail] | None = None
    task_details: list[TaskDetail] | None = None


class PostBody(RequestModel):
    """A post; the record IS ``data`` (no envelope key).

    ``title`` is required for announcements, ``body`` for announcements and messages, ``link`` for
    news. ``branches`` (CNPJs) limits the post to those branches; leave it out to post to all.
    """

    type: PostType
    title: StrictStr | None = None
    body: StrictStr | None = None
    link: StrictStr | None = None
    branches: list[BranchId] | None = None

    _REQUIRED: ClassVar[dict[str, tuple[str, ...]]] = {
        "announcement": ("title", "body"),
        "message": ("body",),
        "news": ("link",),
    }

    @model_validator(mode="after")
    def _by_type(self) -> PostBody:
        for name in self._REQUIRED.get(self.type, ()):
            value = getattr(self, name)
            if value is None or not value.strip():
                raise ValueError(f"field '{name}' is required for posts of type {self.type!r}")
        return self


# ==================================================================================================
# Responses (lenient: never fail on a number where a string was expected, unknown fields kept).
# ==================================================================================================

#: A value that should be text or a number but may come as either.
Loose = str | int | float | bool | None
LooseId = int | str | None


class VoorsEntity(ResponseModel):
    """A record echoed by Voors: its own ``id`` plus what was sent (kept as it comes)."""

    id: LooseId = None
    remote_id: Any = None
    company: Any = None
    created_at: Loose = None
    updated_at: Loose = None


class Branch(VoorsEntity):
    name: Loose = None
    trading_name: Loose = None
    cnpj: Loose = None
    cei: Loose = None
    display_code: Loose = None
    address: Loose = None
    complement: Loose = None
    zipcode: Loose = None
    neighborhood: Loose = None
    number: Loose = None
    phone_ddd: Loose = Field(default=None, alias="phoneDDD")
    phone: Loose = None
    city: Loose = None
    group: Any = None


class BranchGroup(VoorsEntity):
    title: Loose = None
    active: Loose = None
    branches: Any = None


class Department(VoorsEntity):
    name: Loose = None
    description: Loose = None
    display_code: Loose = None
    branch: Any = None


class JobRole(VoorsEntity):
    title: Loose = None
    description: Loose = None
    cbo: Loose = None


class JobFunction(VoorsEntity):
    title: Loose = None
    description: Loose = None
    display_code: Loose = None
    active: Loose = None
    cbo: Loose = None
    job_role: Any = None


class Horary(VoorsEntity):
    title: Loose = None
    description: Loose = None
    active: Loose = None
    horary_entry1: Loose = None
    horary_exit1: Loose = None
    horary_entry2: Loose = None
    horary_exit2: Loose = None
    horary_entry1_saturday: Loose = None
    horary_exit1_saturday: Loose = None
    horary_entry2_saturday: Loose = None
    horary_exit2_saturday: Loose = None
    horary_entry1_sunday: Loose = None
    horary_exit1_sunday: Loose = None
    horary_entry2_sunday: Loose = None
    horary_exit2_sunday: Loose = None


class User(VoorsEntity):
    cpf: Loose = None
    first_name: Loose = None
    last_name: Loose = None
    email: Loose = None
    active: Loose = None
    status: Loose = None
    display_code: Loose = None
    registration: Loose = None
    admission_date: Loose = None
    birth_date: Loose = None
    salary: Loose = None
    department: Any = None
    job_role: Any = None
    job_function: Any = None
    horary: Any = None
    appraised_by: Any = None
    remote_keys: Any = None


class CalculationProcess(VoorsEntity):
    description: Loose = None
    display_code: Loose = None


class Cause(VoorsEntity):
    description: Loose = None


class UserCalculation(VoorsEntity):
    user: Any = None
    calculation_process: Any = None
    branch: Any = None
    department: Any = None
    job_role: Any = None
    job_function: Any = None
    description: Loose = None
    observation: Loose = None
    date: Loose = None
    payday: Loose = None
    base_inss: Loose = Field(default=None, alias="baseinss")
    value_inss: Loose = Field(default=None, alias="valueinss")
    base_irrf: Loose = Field(default=None, alias="baseirrf")
    value_irrf: Loose = Field(default=None, alias="valueirrf")
    base_fgts: Loose = Field(default=None, alias="basefgts")
    value_fgts: Loose = Field(default=None, alias="valuefgts")
    earnings: Loose = None
    benefits: Loose = None
    net_salary: Loose = None
    discounts: Loose = None
    neutral: Loose = None
    salary: Loose = None
    irrf_range: Loose = None


class TimeCard(VoorsEntity):
    competence: Loose = None
    user: Any = None
    branch: Any = None


class AnnualIncome(VoorsEntity):
    """The ``cXlY`` amounts are kept as extra fields, under their wire names."""

    user: Any = None
    year: Loose = None
    nature: Loose = None
    branch: Any = None
    observations: Loose = None
    responsible: Loose = None


class CompensatoryTime(VoorsEntity):
    user: Any = None
    cycle: Loose = None
    initial_date: Loose = None
    end_date: Loose = None
    total_balance: Loose = None


class ReadjustReason(VoorsEntity):
    description: Loose = None


class UserDepartmentHistory(VoorsEntity):
    description: Loose = None
    display_code: Loose = None
    date: Loose = None
    user_id: LooseId = None
    department_id: LooseId = None
    company_id: LooseId = None


class UserJobRole(VoorsEntity):
    cbo: Loose = None
    description: Loose = None
    date: Loose = None
    user_id: LooseId = None
    job_role_id: LooseId = None
    company_id: LooseId = None


class UserJobFunction(VoorsEntity):
    cbo: Loose = None
    description: Loose = None
    date: Loose = None
    user_id: LooseId = None
    job_function_id: LooseId = None
    company_id: LooseId = None


class UserSalary(VoorsEntity):
    description: Loose = None
    user: Any = None
    readjust_reason: Any = None
    date: Loose = None
    salary: Loose = None


class UserHorary(VoorsEntity):
    description: Loose = None
    date: Loose = None
    user: Any = None
    horary: Any = None
    remoteid: Any = Field(default=None, alias="remoteid")
    """The answer spells it ``remoteid`` (lower case)."""


class UserSituation(VoorsEntity):
    situation: Loose = None
    user: Any = None
    date: Loose = None
    cause: Any = None
    branch_id: Any = None


class UserStability(VoorsEntity):
    description: Loose = None
    initial_date: Loose = None
    final_date: Loose = None
    user: Any = None


class UserExam(VoorsEntity):
    description: Loose = None
    date: Loose = None
    user: Any = None


class UserProgrammingVacation(VoorsEntity):
    initial_date: Loose = None
    final_date: Loose = None
    allowance_initial_date: Loose = None
    allowance_final_date: Loose = None
    allowance_days: Loose = None
    user: Any = None


class UserVacationAllowance(VoorsEntity):
    balance: Loose = None
    branch: Any = None
    start: Loose = None
    end: Loose = None
    enjoyed: Loose = None
    enjoyed_days: Loose = None
    enjoyment_limit: Loose = None
    faults: Loose = None
    fractions: Loose = None
    right_days: Loose = None
    user: Any = None


class UserVacation(VoorsEntity):
    initial_date: Loose = None
    final_date: Loose = None
    allowance_initial_date: Loose = None
    allowance_final_date: Loose = None
    enjoyment_initial_date: Loose = None
    enjoyment_final_date: Loose = None
    user: Any = None


#: Typed model of the records in an answer, by the key they come under in ``data``.
RESPONSE_MODELS: dict[str, type[VoorsEntity]] = {
    "branch": Branch,
    "branchGroup": BranchGroup,
    "department": Department,
    "jobRole": JobRole,
    "jobFunction": JobFunction,
    "horary": Horary,
    "user": User,
    "calculationProcess": CalculationProcess,
    "cause": Cause,
    "userCalculation": UserCalculation,
    "timeCard": TimeCard,
    "annualIncome": AnnualIncome,
    "compensatoryTime": CompensatoryTime,
    "readjustReason": ReadjustReason,
    "userDepartmentHistory": UserDepartmentHistory,
    "userDepartmentHistories": UserDepartmentHistory,
    "userJobRole": UserJobRole,
    "userJobFunction": UserJobFunction,
    "userSalary": UserSalary,
    "userHorary": UserHorary,
    "userSituation": UserSituation,
    "userStability": UserStability,
    "userExam": UserExam,
    "userProgrammingVacation": UserProgrammingVacation,
    "userVacationAllowance": UserVacationAllowance,
    "userVacation": UserVacation,
}


class VoorsResponse(ResponseModel):
    """Any Voors answer: ``{status, code, message, data}`` (each may be missing).

    ``data`` holds the echoed record(s) under the envelope key, or ``{"message": ...}`` (deletes,
    wallets). Use :meth:`records` to get them typed.
    """

    status: Loose = None
    code: str | int | None = None
    message: Loose = None
    data: dict[str, Any] | list[Any] | None = None

    def entity(self, key: str) -> Any:
        """The raw value under ``data[key]`` (an object, a list of objects) or None if absent."""
        if not isinstance(self.data, dict):
            return None
        return self.data.get(key)

    def records(self, key: str) -> list[VoorsEntity]:
        """The records under ``data[key]`` (one object or a list), typed by :data:`RESPONSE_MODELS`."""
        if not isinstance(self.data, dict):
            return []
        value = self.data.get(key)
        items = value if isinstance(value, list) else [value]
        model = RESPONSE_MODELS.get(key, VoorsEntity)
        return [model.model_validate(item) for item in items if isinstance(item, Mapping)]

    @property
    def data_message(self) -> str | None:
        """``data.message`` (e.g. "Registro deletado"), if the answer has one."""
        if isinstance(self.data, dict) and isinstance(self.data.get("message"), str):
            return str(self.data["message"])
        return None


class SituationHistoryItem(ResponseModel):
    date: Loose = None
    situation: Loose = None


class UserGoal(ResponseModel):
    user_goal_id: LooseId = None
    goal_id: LooseId = None
    unit: Loose = None
    goal_title: Loose = None
    goal_start_date: Loose = None
    goal_end_date: Loose = None


class GoalUser(ResponseModel):
    """One item of ``GET /goals``: a user and their goals."""

    user_id: LooseId = None
    user_full_name: Loose = None
    email: Loose = None
    department_id: LooseId = None
    department_name: Loose = None
    job_role_id: LooseId = None
    job_role_title: Loose = None
    job_function_id: LooseId = None
    job_function_title: Loose = None
    leader_id: LooseId = None
    leader_full_name: Loose = None
    situation: Loose = None
    situation_history: list[SituationHistoryItem] | None = None
    user_goals: list[UserGoal] | None = None


def _objects_of(value: Any, what: str) -> list[dict[str, Any]]:
    """A list whose every item is a JSON object; ``ValueError`` (a malformed answer) otherwise."""
    if not isinstance(value, list):
        raise ValueError(f"{what} is {type(value).__name__}, not a list of records")
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise ValueError(f"{what}[{i}] is {type(item).__name__}, not a record (a JSON object)")
    return value


def goal_records(body: Any) -> list[dict[str, Any]]:
    """The users of a ``GET /goals`` answer, exactly as Voors sent them: a list, ``{"data": [...]}``, or
    a single user (an object with ``userId``). Any other shape raises ``ValueError`` (the hook turns it
    into :class:`~airflow_provider_ahgora.exceptions.AhgoraMalformedAnswerError`): an answer that is
    not a page of users is never read as an empty page, which would end the paging early."""
    if isinstance(body, Mapping) and "userId" not in body:
        if "data" not in body:
            raise ValueError("the answer holds neither users nor 'data'")
        body = body["data"]
    if isinstance(body, Mapping):
        if "userId" not in body:
            raise ValueError("'data' is an object that is not a user (no userId)")
        body = [body]
    return _objects_of(body, "the page")


def parse_goals(body: Any) -> list[GoalUser]:
    """The users of a ``GET /goals`` answer (see :func:`goal_records`), typed."""
    return [GoalUser.model_validate(item) for item in goal_records(body)]


def listed_records(body: Any, envelope: str) -> list[dict[str, Any]]:
    """The records of a list answer (``GET /departments``), exactly as Voors sent them:
    ``{"data": {"<envelope>": [...]}}`` as the documents show it (one object counts as one record,
    ``null`` or ``[]`` as none). Any other shape raises ``ValueError`` (a malformed answer), so that a
    gateway's odd 200 is never read as a resource with no records."""
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, Mapping):
        raise ValueError(f'the answer is not {{"data": {{"{envelope}": [...]}}}}')
    if envelope not in data:
        raise ValueError(f"'data' holds no '{envelope}'")
    value = data[envelope]
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [dict(value)]
    return _objects_of(value, f"data.{envelope}")


def delete_model(resource: VoorsResource) -> type[RequestModel] | None:
    """Model of one record of a DELETE body (:class:`RemoteIdRef`), or None when DELETE takes no
    body (``DELETE /path/{id}``) or the resource has no DELETE."""
    if not resource.supports("delete") or resource.delete_by_path_id:
        return None
    return RemoteIdRef

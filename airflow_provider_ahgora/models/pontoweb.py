"""Ahgora PontoWeb: request bodies, responses and error bodies.

Sources: the vendor documents in ``seeds/`` (process monitor, reckon API, cost centers,
subsidiaries). ``/absences``, ``/people`` and ``/users`` are not in the documents; their models
check only what is safe to check and keep every other field as given.

Requests (what we send) are validated strictly, with messages that name the field; responses
(what we receive) are lenient: an extra field or a number where a string was documented (or the
other way round) never makes them fail. Unknown fields are kept on both sides.

Choices made where the documents are silent or contradict themselves:

* ``ReckonStartRequest.rescission`` is required by the API (400 ``"rescission" is required``): the
  model defaults it to ``False`` and **always** sends it, even when the caller did not set it.
  Every other documented default (``infotype`` "0015", ``allowEmpty`` false, ``features``
  ["monthly"], ...) is only described by the model's attribute and never injected into the body.
* ``Subsidiary.numeroCadastro`` is documented as a CNPJ, but the same table says "Use CNPJ or CPF to
  activate Time Clocks": a valid CNPJ (14 digits) or CPF (11 digits) is accepted.
* ``Subsidiary.ativacao`` is documented as a String "true/false" while the examples send JSON
  booleans: both are accepted and sent back exactly as given.
* The process monitor documents ``progress.done``/``progress.total`` as strings and the reckon
  status as numbers: :class:`Progress` reads both as ``int`` and dumps back what it received.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    FieldSerializationInfo,
    PrivateAttr,
    Strict,
    StrictBool,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic.functional_validators import ModelWrapValidatorHandler
from typing_extensions import Self

from airflow_provider_ahgora.models._base import (
    BrDate,
    Cep,
    CpfOrCnpj,
    Estado,
    IsoDate,
    IsoMinute,
    Month,
    RequestModel,
    ResponseModel,
    Year,
)
from airflow_provider_ahgora.models.vocabulary import (
    Feature,
    MonitorStatus,
    ReckonState,
    is_known,
    parse,
    parse_or_none,
)
from airflow_provider_ahgora.registry import PUSH_ROUTES

__all__ = [
    "DEFAULT_FEATURES",
    "FEATURES",
    "PUSH_ID_KEYS",
    "PUSH_MODELS",
    "Absence",
    "ApiErrorBody",
    "CostCenter",
    "DailyEntry",
    "Person",
    "PontoWebUser",
    "ProcessData",
    "ProcessError",
    "ProcessStatus",
    "Progress",
    "Punch",
    "PushTicket",
    "ReckonRecord",
    "ReckonResult",
    "ReckonResultsPage",
    "ReckonStartRequest",
    "ReckonStartResponse",
    "ReckonStatus",
    "ReconsumeResponse",
    "Subsidiary",
    "is_valid_pis",
    "parse_error_body",
]

#: The processing types a reckon can be asked for, in the documents' order (the vocabulary's ``Feature``).
FEATURES: tuple[str, ...] = tuple(f.value for f in Feature)
#: What the API produces when ``features`` is not given.
DEFAULT_FEATURES: tuple[str, ...] = (Feature.MONTHLY.value,)


# --------------------------------------------------------------------------------------------------
# Request value checks (each raises ValueError with a message saying what is expected)
# --------------------------------------------------------------------------------------------------


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _digit_string(name: str, pattern: str, human: str) -> Any:
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise ValueError(f"{name} must be {human} with no separators, got {value!r}")
        return value

    return check


def is_valid_pis(value: str) -> bool:
    """True if ``value`` is a PIS/PASEP/NIT: 11 digits with a valid check digit (not one repeated digit)."""
    if not (isinstance(value, str) and len(value) == 11 and value.isdigit()):
        return False
    if value == value[0] * 11:
        return False
    weights = (3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
    total = sum(int(d) * w for d, w in zip(value[:10], weights, strict=True))
    check = 11 - total % 11
    if check >= 10:
        check = 0
    return check == int(value[10])


def _check_pis(value: str) -> str:
    if not re.fullmatch(r"\d{11}", value):
        raise ValueError(f"pis must be exactly 11 digits with no separators, got {value!r}")
    if not is_valid_pis(value):
        raise ValueError(f"pis {value!r} has an invalid check digit")
    return value


def _check_email(value: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise ValueError(f"email must be an e-mail address like 'name@example.com', got {value!r}")
    return value


def _check_features(value: list[str]) -> list[str]:
    allowed = ", ".join(repr(f) for f in FEATURES)
    unknown = [f for f in value if f not in FEATURES]
    if unknown:
        names = ", ".join(repr(f) for f in unknown)
        raise ValueError(f"unknown feature(s) {names} in features; allowed: {allowed}")
    dupes = sorted({f for f in value if value.count(f) > 1})
    if dupes:
        raise ValueError(
            f"features lists {', '.join(repr(f) for f in dupes)} more than once; allowed: {allowed}"
        )
    return value


def _check_infotype(value: str) -> str:
    if not re.fullmatch(r"\d{4}", value):
        raise ValueError(f"infotype must be a four-digit event type code like '0015', got {value!r}")
    return value


NonEmptyStr = Annotated[str, Strict(), AfterValidator(_non_empty)]
_Feature = Annotated[str, Strict()]
Ddd = Annotated[str, Strict(), AfterValidator(_digit_string("telefoneDDD", r"\d{2}", "2 digits"))]
Telefone = Annotated[str, Strict(), AfterValidator(_digit_string("telefone", r"\d{8,9}", "8 or 9 digits"))]
Pais = Annotated[
    str, Strict(), AfterValidator(_digit_string("pais", r"\d{1,5}", "a numeric country code like '1058'"))
]
Pis = Annotated[str, Strict(), AfterValidator(_check_pis)]
Email = Annotated[str, Strict(), AfterValidator(_check_email)]
Infotype = Annotated[str, Strict(), AfterValidator(_check_infotype)]


# --------------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------------


class ReckonStartRequest(RequestModel):
    """Body of ``POST /reckons/process/start``.

    ``registers`` empty (or not given) means the whole company, a *full base* reckon: at most 3 per
    day per feature. ``rescission`` is always sent (the API requires it), ``False`` unless given.
    Documented defaults that are not sent unless set: ``infotype`` "0015", ``allowEmpty`` false,
    ``features`` ["monthly"], ``includeEmptyCode`` false.
    """

    rescission: StrictBool = False
    """Include dismissed employees. When true, ``registers`` must name at least one employee."""
    registers: list[NonEmptyStr] = Field(default_factory=list, validate_default=True)
    month: Month
    year: Year
    payment_date: IsoDate | None = None
    """"YYYY-MM-DD". ``None`` means not given (it is not sent)."""
    infotype: Infotype = "0015"
    allow_empty: StrictBool = False
    locations: list[NonEmptyStr] = Field(default_factory=list)
    features: Annotated[list[_Feature], AfterValidator(_check_features)] = Field(default_factory=list)
    include_empty_code: StrictBool = False

    @field_validator("registers")
    @classmethod
    def _registers_for_rescission(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if info.data.get("rescission") is True and not value:
            raise ValueError(
                "registers must hold at least one employee id when rescission is true "
                "(the API refuses a rescission reckon of the whole company)"
            )
        return value

    @model_validator(mode="after")
    def _always_send_rescission(self) -> Self:
        fields_set = self.__pydantic_fields_set__
        fields_set.add("rescission")
        if self.payment_date is None:
            fields_set.discard("payment_date")
        return self

    @property
    def is_full_base(self) -> bool:
        """True when no employee is named: the whole company is reckoned (subject to the daily limit)."""
        return not self.registers

    def effective_features(self) -> list[str]:
        """The features the API will produce: those asked for, or its default ``["monthly"]``."""
        return list(self.features) if self.features else list(DEFAULT_FEATURES)


class CostCenter(RequestModel):
    """One record of ``POST /costcenter`` (the body is an array of these)."""

    codigo: NonEmptyStr
    nome: NonEmptyStr


class Subsidiary(RequestModel):
    """One record of ``POST /subsidiaries``: a branch office. ``ativacao=False`` deactivates it."""

    numero_cadastro: CpfOrCnpj = Field(alias="numeroCadastro")
    """CNPJ (or CPF), digits only, with valid check digits."""
    razao_social: NonEmptyStr = Field(alias="razaoSocial")
    telefone_ddd: Ddd | None = Field(default=None, alias="telefoneDDD")
    telefone: Telefone | None = None
    cep: Cep | None = None
    endereco: Annotated[str, Strict()] | None = None
    complemento: Annotated[str, Strict()] | None = None
    bairro: Annotated[str, Strict()] | None = None
    cidade: Annotated[str, Strict()] | None = None
    estado: Estado | None = None
    """Two lower-case letters, e.g. "sp"."""
    pais: Pais = "1058"
    """Country code; "1058" (Brazil) is the API's default and is not sent unless set."""
    ativacao: StrictBool | Literal["true", "false"] | None = None
    """Time clock activation. A bool or the strings "true"/"false"; sent exactly as given."""


class Absence(RequestModel):
    """One record of ``POST /absences`` (not in the documents; from the vendor's integration pages)."""

    matricula: NonEmptyStr
    motivo: Annotated[str, Strict()] | None = None
    inicio: IsoMinute
    """Start, "YYYY-MM-DDTHH:MM"."""
    fim: IsoMinute
    """End, "YYYY-MM-DDTHH:MM"; not before ``inicio``."""
    cod_interno: Annotated[str, Strict()] | None = Field(default=None, alias="cod_interno")
    operation: Literal["INS", "ALT", "DEL"] | None = None
    ignora_bloqueio: Literal["0", "1"] | None = Field(default=None, alias="ignora_bloqueio")

    @field_validator("fim")
    @classmethod
    def _fim_not_before_inicio(cls, value: str, info: ValidationInfo) -> str:
        inicio = info.data.get("inicio")
        # same fixed-width format: string order is time order
        if isinstance(inicio, str) and value < inicio:
            raise ValueError(f"fim {value!r} is before inicio {inicio!r}")
        return value


class Person(RequestModel):
    """One record of ``POST /people`` (not in the documents). Other fields are kept and sent as given."""

    matricula: NonEmptyStr
    nome: NonEmptyStr | None = None
    pis: Pis | None = None
    """PIS/PASEP/NIT: 11 digits with a valid check digit."""
    data_admissao: BrDate | None = Field(default=None, alias="dataAdmissao")
    """Hiring date, "DD/MM/YYYY"."""


class PontoWebUser(RequestModel):
    """One record of ``POST /users`` (not in the documents). Other fields are kept and sent as given."""

    email: Email | None = None
    nome: NonEmptyStr | None = None
    perfil: Annotated[str, Strict()] | None = None


#: Push resource (path without its slash, as named by the process monitor) -> model of one record.
#: ``None``: the body is not documented and is passed through as given. Derived from the registry.
PUSH_MODELS: dict[str, type[RequestModel] | None] = {name: route.model for name, route in PUSH_ROUTES.items()}

#: Push resource -> wire keys that identify a record. Derived from the registry.
PUSH_ID_KEYS: dict[str, tuple[str, ...]] = {name: route.id_keys for name, route in PUSH_ROUTES.items()}


# --------------------------------------------------------------------------------------------------
# Responses (lenient)
# --------------------------------------------------------------------------------------------------


def _lenient_str(value: Any) -> Any:
    """Numbers become strings; anything else goes on to the ``str`` check."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _lenient_int(value: Any) -> int | None:
    """Integers, integral floats and numeric strings become ``int``; anything else ``None``."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        if re.fullmatch(r"[+-]?\d+\.0*", text):
            return int(float(text))
    return None


LenientStr = Annotated[str, BeforeValidator(_lenient_str)]
LenientInt = Annotated[int | None, BeforeValidator(_lenient_int)]


class Progress(ResponseModel):
    """``{done, total}``: read as ``int`` whether they came as numbers or strings.

    Dumping gives back what was received (``"2"`` stays ``"2"``) unless the value was changed.
    """

    done: LenientInt = None
    total: LenientInt = None
    _given: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _remember_given(cls, data: Any, handler: ModelWrapValidatorHandler[Progress]) -> Progress:
        obj = handler(data)
        if isinstance(data, Mapping):
            obj._given = {k: data[k] for k in ("done", "total") if k in data}
        return obj

    @field_serializer("done", "total")
    def _as_given(self, value: int | None, info: FieldSerializationInfo) -> Any:
        given = self._given.get(str(info.field_name))
        if given is not None and _lenient_int(given) == value:
            return given
        return value


class ReckonStartResponse(ResponseModel):
    """200 of ``POST /reckons/process/start``."""

    process: LenientStr
    company: LenientStr | None = None
    created_at: LenientStr | None = Field(default=None, alias="created_at")


class ReckonStatus(ResponseModel):
    """200 of ``GET /reckons/process/status/{process}``.

    ``status`` is kept as received; :attr:`state` reads it through the status vocabulary
    (case-insensitively) and raises :class:`~airflow_provider_ahgora.exceptions.AhgoraUnknownValueError`
    for a value the documents do not list: it is never taken to mean "still running".
    """

    status: LenientStr
    unique: LenientStr | None = None
    process: LenientStr | None = None
    company: LenientStr | None = None
    progress: Progress | None = None

    @property
    def state(self) -> ReckonState:
        """The status as a :class:`~airflow_provider_ahgora.models.vocabulary.ReckonState`."""
        return parse(ReckonState, self.status, "reckon status")

    @property
    def is_done(self) -> bool:
        return self.state is ReckonState.DONE

    @property
    def is_error(self) -> bool:
        return self.state is ReckonState.ERROR

    @property
    def is_terminal(self) -> bool:
        """Finished, well or badly (an unknown status raises, see :attr:`state`)."""
        return self.state.is_terminal

    @property
    def percent(self) -> float:
        """Progress 0..100. With no known total it is 100 when done, else 0."""
        done = self.progress.done if self.progress else None
        total = self.progress.total if self.progress else None
        if not total or done is None or total <= 0:
            return 100.0 if is_known(ReckonState, self.status) and self.is_done else 0.0
        return max(0.0, min(100.0, 100.0 * done / total))


class ReckonResult(ResponseModel):
    """One accounting event. ``value`` is kept exactly as given: days (``1``) or hours ("16:30", "16,50")."""

    name: LenientStr | None = None
    event: LenientStr | None = None
    """Accounting code; may be "" when the reckon was started with ``includeEmptyCode``."""
    value: int | float | str | None = None
    type: LenientStr | None = None
    """"days" or "hours" (other strings are kept)."""


class Punch(ResponseModel):
    """One clocking. Its ``date`` may differ from the day it belongs to (night shifts)."""

    date: LenientStr | None = None
    hour: int | str | None = None
    """"HHMM", e.g. "0800"; kept exactly as given (the number ``30`` is 00:30 and stays a number, so that
    it means the same whichever path it takes: the transforms read both)."""
    type: LenientStr | None = None
    """"O" clock/online, "I" manual entry, "BI" break."""
    label: LenientStr | None = None
    """"entrada-1", "saida-1", ..."""


class DailyEntry(ResponseModel):
    day: LenientStr | None = None
    results: list[ReckonResult] | None = None
    punches: list[Punch] | None = None


class ReckonRecord(ResponseModel):
    """One object of ``data``: monthly (``results``) or daily (``daily``)."""

    employee: LenientStr | None = None
    payment_date: LenientStr | None = None
    infotype: LenientStr | None = None
    results: list[ReckonResult] | None = None
    daily: list[DailyEntry] | None = None

    @property
    def kind(self) -> Literal["monthly", "daily"]:
        return "daily" if self.daily is not None else "monthly"


class ReckonResultsPage(ResponseModel):
    """200 of ``GET /reckons/{unique}``. Reading consumes: an empty ``data`` means nothing is left."""

    company: LenientStr | None = None
    unique: LenientStr | None = None
    total: LenientInt = None
    data: list[ReckonRecord] = Field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.data


class ReconsumeResponse(ResponseModel):
    """200 of ``GET /reckons/reconsume/{unique}``."""

    company: LenientStr | None = None
    unique: LenientStr | None = None


class PushTicket(ResponseModel):
    """200 of a push (``POST /costcenter``, ``/subsidiaries``, ...): the work goes on asynchronously."""

    company: LenientStr | None = None
    unique: LenientStr | None = None
    subunique: LenientStr | None = None
    message: LenientStr | None = None

    @property
    def monitor_params(self) -> dict[str, str]:
        """Query of ``GET /process`` that follows this push: by ``subunique``, else by ``unique``."""
        if self.subunique:
            return {"subunique": self.subunique}
        if self.unique:
            return {"unique": self.unique}
        return {}


class ProcessError(ResponseModel):
    identifier: LenientStr | None = None
    """The failed record's identifier (an employee's registration, a code, ...)."""
    message: LenientStr | None = None


def _php_empty(value: Any) -> Any:
    """PHP encodes an empty associative array as ``[]``: read an empty list where an object is meant."""
    return {} if isinstance(value, list) and not value else value


def _empty_errors(value: Any) -> Any:
    """``errors`` as ``{}`` (an empty PHP array encoded as an object) is an empty list."""
    return [] if isinstance(value, Mapping) and not value else value


class ProcessData(ResponseModel):
    errors: Annotated[list[ProcessError] | None, BeforeValidator(_empty_errors)] = None


class ProcessStatus(ResponseModel):
    """200 of ``GET /process`` (the process monitor), ``Accept-Version: v2``.

    ``status``: "done" (all records succeeded), "warning" (some failed), "error" (all failed); it is
    kept as received and read through the status vocabulary by :attr:`outcome`. The work is finished
    when ``progress.done`` reaches ``progress.total``. ``data`` may come as ``[]`` (PHP's empty object).
    """

    company: LenientStr | None = None
    unique: LenientStr | None = None
    subunique: LenientStr | None = None
    status: LenientStr | None = None
    progress: Progress | None = None
    data: Annotated[ProcessData | None, BeforeValidator(_php_empty)] = None

    @property
    def is_finished(self) -> bool:
        """``done`` has reached ``total`` (a total of 0 or missing counts as not known yet), and the
        status, if any, is not ``processing``."""
        if self.progress is None:
            return False
        done, total = self.progress.done, self.progress.total
        if done is None or total is None or total <= 0 or done < total:
            return False
        return (
            parse_or_none(MonitorStatus, self.status, "process monitor status")
            is not MonitorStatus.PROCESSING
        )

    @property
    def outcome(self) -> MonitorStatus:
        """How a finished push went: the monitor's status through the vocabulary; when it gives none,
        what its errors say (none: ``done``; as many as the records: ``error``; else ``warning``).

        :raises AhgoraUnknownValueError: for a status the documents do not list.
        """
        status = parse_or_none(MonitorStatus, self.status, "process monitor status")
        if status is not None:
            return status
        failed = len(self.errors)
        total = self.progress.total if self.progress is not None else None
        if failed == 0:
            return MonitorStatus.DONE
        return MonitorStatus.ERROR if total is not None and failed >= total else MonitorStatus.WARNING

    @property
    def errors(self) -> list[ProcessError]:
        return list(self.data.errors or []) if self.data is not None else []


# --------------------------------------------------------------------------------------------------
# Error bodies
# --------------------------------------------------------------------------------------------------


class ApiErrorBody(NamedTuple):
    """``(message, code)`` of an error answer; either may be ``None``."""

    message: str | None
    code: int | None


def _as_code(value: Any) -> int | None:
    code = _lenient_int(value)
    return code if code is not None and code >= 0 else None


def _as_message(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value if value.strip() else None
    return None


def parse_error_body(body: Any) -> ApiErrorBody:
    """``(message, code)`` from any error shape PontoWeb answers with; never raises.

    * v1: ``{"error": {"message": ..., "code": 400}}``
    * v2: ``{"error": "text"}``
    * ``{"message": ..., "code": 400}`` (pushes)
    * ``{"error": {"code": 401, "message": "Unauthorized"}}``

    A JSON text (``str``/``bytes``) is decoded first. Codes given as strings become ``int``. Any
    other shape (not an object, a list, an empty object) gives ``(None, None)``.
    """
    try:
        if isinstance(body, bytes | bytearray):
            body = body.decode("utf-8", errors="replace")
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except ValueError:
                return ApiErrorBody(None, None)
        if not isinstance(body, Mapping):
            return ApiErrorBody(None, None)
        error = body.get("error")
        if isinstance(error, Mapping):
            message = _as_message(error.get("message"))
            code = _as_code(error.get("code"))
            if code is None:
                code = _as_code(body.get("code"))
            return ApiErrorBody(message or _as_message(body.get("message")), code)
        message = _as_message(error)
        if message is not None:
            return ApiErrorBody(message, _as_code(body.get("code")))
        message = _as_message(body.get("message"))
        code = _as_code(body.get("code"))
        if message is None and code is None:
            return ApiErrorBody(None, None)
        return ApiErrorBody(message, code)
    except Exception:  # never let an odd body hide the HTTP error it came with
        return ApiErrorBody(None, None)

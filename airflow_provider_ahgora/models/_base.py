"""Shared base classes and validators of the models.

Two kinds of model:

* ``RequestModel``: what we *send*. Validated strictly, so that bad input is refused before any
  request, with a message that names the field. Unknown fields are kept and sent (the APIs evolve).
* ``ResponseModel``: what we *receive*. Lenient: it never fails on an extra field or a value that
  comes as a number instead of a string; unknown fields are kept.

Fields use Python names; the wire names (camelCase, Portuguese) are their aliases. Both are
accepted on input, ``to_wire()`` gives the wire form with exactly the fields that were set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from airflow_provider_ahgora.exceptions import AhgoraValidationError, RecordError

M = TypeVar("M", bound=BaseModel)


class WireModel(BaseModel):
    """Base of every model: aliases are the wire names, unknown fields are kept."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        validate_default=False,
        protected_namespaces=(),
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON body as the API expects it: wire names, only the fields that were set, extras kept."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)

    @classmethod
    def from_wire(cls: type[M], data: Any) -> M:
        return cls.model_validate(data)


class RequestModel(WireModel):
    """A body we send: strict validation, with messages that name the field."""

    model_config = ConfigDict(str_strip_whitespace=False)


class ResponseModel(WireModel):
    """An answer we receive: lenient."""


# --------------------------------------------------------------------------------------------------
# Value validators. Each raises ValueError with a message that says what is expected.
# --------------------------------------------------------------------------------------------------

_DIGITS = re.compile(r"\d+")


def _digits_only(value: str, name: str, length: int) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string of {length} digits, got {type(value).__name__}")
    if not _DIGITS.fullmatch(value) or len(value) != length:
        raise ValueError(f"{name} must be exactly {length} digits with no separators, got {value!r}")
    return value


def is_valid_cpf(value: str) -> bool:
    """True if ``value`` is 11 digits with valid check digits (and not one digit repeated)."""
    if not (isinstance(value, str) and len(value) == 11 and value.isdigit()):
        return False
    if value == value[0] * 11:
        return False
    nums = [int(c) for c in value]
    for size in (9, 10):
        total = sum(n * w for n, w in zip(nums[:size], range(size + 1, 1, -1), strict=True))
        check = (total * 10) % 11 % 10
        if check != nums[size]:
            return False
    return True


def is_valid_cnpj(value: str) -> bool:
    """True if ``value`` is 14 digits with valid check digits (and not one digit repeated)."""
    if not (isinstance(value, str) and len(value) == 14 and value.isdigit()):
        return False
    if value == value[0] * 14:
        return False
    nums = [int(c) for c in value]
    weights = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    for size in (12, 13):
        w = weights if size == 12 else [6, *weights]
        total = sum(n * k for n, k in zip(nums[:size], w, strict=True))
        rest = total % 11
        check = 0 if rest < 2 else 11 - rest
        if check != nums[size]:
            return False
    return True


def check_cpf(value: str) -> str:
    _digits_only(value, "CPF", 11)
    if not is_valid_cpf(value):
        raise ValueError(f"CPF {value!r} has invalid check digits")
    return value


def check_cnpj(value: str) -> str:
    _digits_only(value, "CNPJ", 14)
    if not is_valid_cnpj(value):
        raise ValueError(f"CNPJ {value!r} has invalid check digits")
    return value


def check_cpf_or_cnpj(value: str) -> str:
    """A branch key: a CNPJ, or a CPF for companies registered by CPF."""
    if isinstance(value, str) and len(value) == 11:
        return check_cpf(value)
    return check_cnpj(value)


def check_cep(value: str) -> str:
    return _digits_only(value, "CEP", 8)


_UF = {
    "ac",
    "al",
    "ap",
    "am",
    "ba",
    "ce",
    "df",
    "es",
    "go",
    "ma",
    "mt",
    "ms",
    "mg",
    "pa",
    "pb",
    "pr",
    "pe",
    "pi",
    "rj",
    "rn",
    "rs",
    "ro",
    "rr",
    "sc",
    "sp",
    "se",
    "to",
}


def check_estado(value: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z]{2}", value):
        raise ValueError(f"estado must be two lower-case letters (e.g. 'sp'), got {value!r}")
    if value not in _UF:
        raise ValueError(f"estado {value!r} is not a Brazilian state (use e.g. 'sp', 'rj', 'pr')")
    return value


def _date_checker(fmt: str, human: str) -> Any:
    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(f"must be a date string in the format {human}, got {type(value).__name__}")
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            raise ValueError(f"must be a date in the format {human}, got {value!r}") from None
        # strptime accepts single-digit fields; require the exact width
        if parsed.strftime(fmt) != value:
            raise ValueError(f"must be a date in the format {human}, got {value!r}")
        return value

    return check


def check_month(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = f"{value:02d}"
    if not isinstance(value, str) or not re.fullmatch(r"(0[1-9]|1[0-2])", value):
        raise ValueError(f"month must be a two-digit string '01'..'12', got {value!r}")
    return value


def check_year(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = f"{value:04d}"
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}", value) or int(value) < 1900:
        raise ValueError(f"year must be a four-digit string 'YYYY', got {value!r}")
    return value


def _coerce_date(fmt: str) -> Any:
    def coerce(value: Any) -> Any:
        if isinstance(value, datetime | date):
            return value.strftime(fmt)
        return value

    return coerce


def check_hhmm(value: Any) -> str:
    """A clock time "HH:mm" (00:00..23:59)."""
    if not isinstance(value, str) or not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError(f"must be a time 'HH:mm' (00:00 to 23:59), got {value!r}")
    return value


def check_duration(value: Any) -> str:
    """An amount of hours "H:mm" / "HHH:mm", possibly negative (e.g. '167:06', '-1:30')."""
    if not isinstance(value, str) or not re.fullmatch(r"-?\d{1,5}:[0-5]\d", value):
        raise ValueError(f"must be hours as 'H:mm' (e.g. '167:06'), got {value!r}")
    return value


#: "YYYY-MM-DD"
IsoDate = Annotated[
    str, BeforeValidator(_coerce_date("%Y-%m-%d")), AfterValidator(_date_checker("%Y-%m-%d", "YYYY-MM-DD"))
]
#: "DD/MM/YYYY"
BrDate = Annotated[
    str, BeforeValidator(_coerce_date("%d/%m/%Y")), AfterValidator(_date_checker("%d/%m/%Y", "DD/MM/YYYY"))
]
#: "MM/YYYY"
Competence = Annotated[str, AfterValidator(_date_checker("%m/%Y", "MM/YYYY"))]
#: "YYYY-MM-DDTHH:MM"
IsoMinute = Annotated[str, AfterValidator(_date_checker("%Y-%m-%dT%H:%M", "YYYY-MM-DDTHH:MM"))]
#: "YYYY-MM-DD HH:mm:ss"
IsoSeconds = Annotated[str, AfterValidator(_date_checker("%Y-%m-%d %H:%M:%S", "YYYY-MM-DD HH:mm:ss"))]
#: "DD/MM/YYYY HH:mm:ss"
BrSeconds = Annotated[str, AfterValidator(_date_checker("%d/%m/%Y %H:%M:%S", "DD/MM/YYYY HH:mm:ss"))]
Cpf = Annotated[str, AfterValidator(check_cpf)]
Cnpj = Annotated[str, AfterValidator(check_cnpj)]
CpfOrCnpj = Annotated[str, AfterValidator(check_cpf_or_cnpj)]
Cep = Annotated[str, AfterValidator(check_cep)]
Estado = Annotated[str, AfterValidator(check_estado)]
Month = Annotated[str, BeforeValidator(check_month)]
Year = Annotated[str, BeforeValidator(check_year)]
ClockTime = Annotated[str, AfterValidator(check_hhmm)]
Hours = Annotated[str, AfterValidator(check_duration)]


# --------------------------------------------------------------------------------------------------
# Turning pydantic errors into messages that name the record and the field.
# --------------------------------------------------------------------------------------------------


def _loc_to_field(model: type[BaseModel], loc: Sequence[Any]) -> str:
    """Dotted wire path of an error location, e.g. ``days[3].entry1``."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _clean_msg(msg: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return msg


def record_errors(
    exc: ValidationError, model: type[BaseModel], index: int | None = None, label: str | None = None
) -> list[RecordError]:
    """One :class:`RecordError` per field error of ``exc``."""
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        out.append(RecordError(index, label, _loc_to_field(model, err["loc"]), _clean_msg(err["msg"])))
    return out


def record_label(record: Any, keys: Iterable[str]) -> str | None:
    """A short human label of a record from its identifying keys (e.g. ``codigo='0001'``)."""
    if not isinstance(record, Mapping):
        return None
    parts = [f"{k}={record[k]!r}" for k in keys if k in record and record[k] not in (None, "")]
    return ", ".join(parts) or None


def validate_one(model: type[M], data: Any, what: str | None = None) -> M:
    """Validate one body; raise :class:`AhgoraValidationError` naming every bad field."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise AhgoraValidationError(what or model.__name__, record_errors(exc, model)) from None


def validate_many(
    model: type[M], records: Iterable[Any], id_keys: Iterable[str] = ()
) -> tuple[list[tuple[int, M]], list[tuple[int, Any, list[RecordError]]]]:
    """Validate records one by one; a bad record never loses the good ones.

    :returns: ``(valid, invalid)``: ``valid`` is ``[(index, model)]``; ``invalid`` is
        ``[(index, original_record, errors)]``, each error naming the record and the field.
    """
    keys = tuple(id_keys)
    valid: list[tuple[int, M]] = []
    invalid: list[tuple[int, Any, list[RecordError]]] = []
    validate = model.__pydantic_validator__.validate_python  # model_validate, without its wrapper
    for i, rec in enumerate(records):
        if isinstance(rec, model):
            valid.append((i, rec))
            continue
        if not isinstance(rec, Mapping):
            label = record_label(rec, keys)
            invalid.append(
                (i, rec, [RecordError(i, label, "", f"must be a JSON object, got {type(rec).__name__}")])
            )
            continue
        try:
            valid.append((i, validate(rec)))
        except ValidationError as exc:  # the label only for the messages of an invalid record
            invalid.append((i, rec, record_errors(exc, model, i, record_label(rec, keys))))
    return valid, invalid

"""PontoWeb models against every example of the vendor documents (tests/fixtures/seeds/pontoweb)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from airflow_provider_ahgora.exceptions import AhgoraUnknownValueError, AhgoraValidationError
from airflow_provider_ahgora.models._base import RequestModel, validate_many, validate_one
from airflow_provider_ahgora.models.pontoweb import (
    FEATURES,
    PUSH_ID_KEYS,
    PUSH_MODELS,
    Absence,
    ApiErrorBody,
    CostCenter,
    Person,
    PontoWebUser,
    ProcessStatus,
    Progress,
    PushTicket,
    ReckonRecord,
    ReckonResult,
    ReckonResultsPage,
    ReckonStartRequest,
    ReckonStartResponse,
    ReckonStatus,
    ReconsumeResponse,
    Subsidiary,
    is_valid_pis,
    parse_error_body,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "seeds" / "pontoweb"

REQUEST_MODELS: dict[str, type[RequestModel]] = {
    "reckon-start": ReckonStartRequest,
    "costcenter": CostCenter,
    "subsidiaries": Subsidiary,
}
RESPONSE_MODELS: dict[str, type[BaseModel]] = {
    "process": ProcessStatus,
    "reckon-start": ReckonStartResponse,
    "reckon-status": ReckonStatus,
    "reckon-results": ReckonResultsPage,
    "reckon-reconsume": ReconsumeResponse,
    "costcenter": PushTicket,
    "subsidiaries": PushTicket,
}

DAILY_LIMIT = (
    "The daily limit of 3 has been exceeded for the following features: daily.punches, daily.totals, monthly."
)
#: fixture name -> (message, code) that parse_error_body must give.
EXPECTED_ERRORS: dict[str, tuple[str | None, int | None]] = {
    "000_process_error_400": ("Process not found", None),
    "000_process_error_401": ("Unauthorized", 401),
    "000_process_error_403": ("Forbidden", 403),
    "000_process_error_410": ("Gone", None),
    "001_reckon-start_error_400-v2": ('"rescission" is required', None),
    "001_reckon-start_error_401": ("Unauthorized", 401),
    "001_reckon-start_error_403": ("Forbidden", 403),
    "001_reckon-status_error_400-v1": ("Process not found", 400),
    "001_reckon-status_error_400-v2": ("Process not found", None),
    "001_reckon-status_error_401": ("Unauthorized", 401),
    "001_reckon-status_error_403": ("Forbidden", 403),
    "001_reckon-results_error_401": ("Unauthorized", 401),
    "001_reckon-results_error_403": ("Forbidden", 403),
    "001_reckon-reconsume_error_400-v1": ("Process not found", 400),
    "001_reckon-reconsume_error_400-v2": ("Process not found", None),
    "001_reckon-reconsume_error_401": ("Unauthorized", 401),
    "001_reckon-reconsume_error_403": ("Forbidden", 403),
    "001_reckon-reconsume_error_429-v1": (DAILY_LIMIT, 429),
    "001_reckon-reconsume_error_429-v2": (DAILY_LIMIT, None),
    "002_costcenter_error_400": ("Request format must be an Array", 400),
    "002_costcenter_error_401": ("Unauthorized", 401),
    "002_costcenter_error_403": ("Forbidden", 403),
    "003_subsidiaries_error_400": ("Request format must be an Array", 400),
    "003_subsidiaries_error_401": ("Unauthorized", 401),
    "003_subsidiaries_error_403": ("Forbidden", 403),
}


def _fixtures(kind: str) -> list[Path]:
    return sorted(p for p in FIXTURES.glob("*.json") if p.stem.split("_")[2] == kind)


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _route(path: Path) -> str:
    return path.stem.split("_")[1]


def _field_errors(exc: pytest.ExceptionInfo[AhgoraValidationError]) -> dict[str, str]:
    return {e.field: e.message for e in exc.value.errors}


# --------------------------------------------------------------------------------------------------
# The fixture set itself
# --------------------------------------------------------------------------------------------------


def test_fixture_names_are_well_formed_and_complete():
    names = sorted(p.stem for p in FIXTURES.glob("*.json"))
    assert len(names) == 44
    for name in names:
        seed, route, kind, variant = name.split("_")
        assert seed in {"000", "001", "002", "003"}
        assert kind in {"request", "response", "error"}
        assert variant
        if kind == "request":
            assert route in REQUEST_MODELS
        elif kind == "response":
            assert route in RESPONSE_MODELS
    assert {p.stem for p in _fixtures("error")} == set(EXPECTED_ERRORS)
    assert (FIXTURES / "REPAIRS.md").is_file()


# --------------------------------------------------------------------------------------------------
# Fixtures through the models
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", _fixtures("request"), ids=lambda p: p.stem)
def test_request_fixture_round_trips_through_its_model(path: Path):
    model = REQUEST_MODELS[_route(path)]
    body = _load(path)
    records = body if isinstance(body, list) else [body]
    assert records
    for record in records:
        parsed = validate_one(model, record)
        assert parsed.to_wire() == record


@pytest.mark.parametrize("path", _fixtures("response"), ids=lambda p: p.stem)
def test_response_fixture_round_trips_through_its_model(path: Path):
    model = RESPONSE_MODELS[_route(path)]
    body = _load(path)
    parsed = model.model_validate(body)
    assert parsed.model_dump(by_alias=True, exclude_unset=True) == body


@pytest.mark.parametrize("path", _fixtures("error"), ids=lambda p: p.stem)
def test_error_fixture_gives_message_and_code(path: Path):
    assert parse_error_body(_load(path)) == EXPECTED_ERRORS[path.stem]


def test_request_fixtures_pt_and_en_differ_only_by_include_empty_code():
    pt = _load(FIXTURES / "001_reckon-start_request_pt.json")
    en = _load(FIXTURES / "001_reckon-start_request_en.json")
    assert pt.pop("includeEmptyCode") is False
    assert pt == en


def test_reckon_start_fixture_fields():
    req = ReckonStartRequest.from_wire(_load(FIXTURES / "001_reckon-start_request_pt.json"))
    assert req.registers == ["98a159Q"]
    assert req.payment_date == "2025-04-30"
    assert req.features == ["daily.punches", "daily.totals", "monthly"]
    assert req.is_full_base is False
    assert req.effective_features() == list(FEATURES)


def test_subsidiary_fixture_fields():
    (record,) = _load(FIXTURES / "003_subsidiaries_request_deactivation.json")
    sub = Subsidiary.from_wire(record)
    assert sub.numero_cadastro == "11222333000181"
    assert sub.telefone_ddd == "11"
    assert sub.ativacao is False
    assert sub.to_wire()["telefoneDDD"] == "11"


def test_results_fixtures_records():
    page = ReckonResultsPage.model_validate(_load(FIXTURES / "001_reckon-results_response_all-features.json"))
    assert page.total == 2
    assert [r.kind for r in page.data] == ["daily", "monthly"]
    day = page.data[0].daily[0]  # type: ignore[index]
    assert day.day == "2022-08-08"
    assert [p.hour for p in day.punches or []] == ["0800", "0900"]
    assert [p.type for p in day.punches or []] == ["O", "I"]
    values = [r.value for r in page.data[1].results or []]
    assert values == ["71:20", 1]
    assert isinstance(values[1], int)
    assert page.data[1].payment_date == "2022-08-08"

    punches = ReckonResultsPage.model_validate(
        _load(FIXTURES / "001_reckon-results_response_daily-punches.json")
    )
    record = punches.data[0]
    assert record.kind == "daily"
    assert record.daily is not None
    assert record.daily[0].results is None
    # a punch's date may differ from its day
    assert record.daily[0].day == "2022-07-29"
    assert record.daily[0].punches is not None
    assert record.daily[0].punches[0].date == "2022-07-28"

    monthly = ReckonResultsPage.model_validate(_load(FIXTURES / "001_reckon-results_response_monthly.json"))
    assert [r.kind for r in monthly.data] == ["monthly"]
    assert not monthly.is_empty


def test_push_ticket_fixture_and_monitor_params():
    ticket = PushTicket.model_validate(_load(FIXTURES / "002_costcenter_response_200.json"))
    assert ticket.unique == "bd751350"
    assert ticket.subunique is None
    assert ticket.monitor_params == {"unique": "bd751350"}
    with_sub = PushTicket.model_validate(
        {"company": "a1", "unique": "u1", "subunique": "s1", "message": "ok"}
    )
    assert with_sub.monitor_params == {"subunique": "s1"}
    assert PushTicket.model_validate({}).monitor_params == {}


# --------------------------------------------------------------------------------------------------
# Validation rules: each fails with a message naming the field
# --------------------------------------------------------------------------------------------------

BASE_START: dict[str, Any] = {"month": "04", "year": "2025"}


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"month": "13"}, "month", "'01'..'12'"),
        ({"month": "4"}, "month", "two-digit"),
        ({"year": "25"}, "year", "YYYY"),
        ({"rescission": True}, "registers", "rescission is true"),
        ({"rescission": True, "registers": []}, "registers", "at least one employee"),
        ({"features": ["monthly", "weekly"]}, "features", "'weekly'"),
        ({"features": ["monthly", "monthly"]}, "features", "more than once"),
        ({"paymentDate": "30/04/2025"}, "paymentDate", "YYYY-MM-DD"),
        ({"rescission": "false"}, "rescission", "boolean"),
        ({"registers": ["98a159Q", ""]}, "registers[1]", "empty"),
        ({"infotype": "15"}, "infotype", "four-digit"),
    ],
)
def test_reckon_start_rules(changes: dict[str, Any], field: str, fragment: str):
    with pytest.raises(AhgoraValidationError) as exc:
        validate_one(ReckonStartRequest, {**BASE_START, **changes})
    errors = _field_errors(exc)
    assert field in errors, errors
    assert fragment in errors[field]
    assert f"field '{field}'" in str(exc.value)
    assert "nothing was sent" in str(exc.value)


def test_reckon_start_missing_month_and_year_are_named():
    with pytest.raises(AhgoraValidationError) as exc:
        validate_one(ReckonStartRequest, {})
    assert set(_field_errors(exc)) == {"month", "year"}


def test_unknown_feature_message_lists_the_allowed_names():
    with pytest.raises(AhgoraValidationError) as exc:
        validate_one(ReckonStartRequest, {**BASE_START, "features": ["weekly"]})
    message = _field_errors(exc)["features"]
    for name in FEATURES:
        assert repr(name) in message


def test_reckon_start_accepts_int_month_and_year_and_always_sends_rescission():
    req = ReckonStartRequest(month=4, year=2025)
    assert req.month == "04"
    assert req.year == "2025"
    assert req.to_wire() == {"rescission": False, "month": "04", "year": "2025"}
    # documented defaults are described by the model, not injected
    assert req.infotype == "0015"
    assert req.allow_empty is False
    assert req.include_empty_code is False
    assert req.is_full_base is True
    assert req.effective_features() == ["monthly"]


def test_reckon_start_payment_date_none_is_not_sent_and_dates_are_formatted():
    import datetime as dt

    assert "paymentDate" not in ReckonStartRequest(month="04", year="2025", payment_date=None).to_wire()
    req = ReckonStartRequest(month="04", year="2025", payment_date=dt.date(2025, 4, 30))
    assert req.to_wire()["paymentDate"] == "2025-04-30"


def test_reckon_start_rescission_with_registers_is_valid():
    req = validate_one(ReckonStartRequest, {**BASE_START, "rescission": True, "registers": ["98a159Q"]})
    assert req.is_full_base is False
    assert req.to_wire()["rescission"] is True
    assert req.effective_features() == ["monthly"]


def test_reckon_start_unknown_field_is_kept_and_sent():
    req = validate_one(ReckonStartRequest, {**BASE_START, "newOption": {"x": 1}})
    assert req.to_wire() == {"rescission": False, "month": "04", "year": "2025", "newOption": {"x": 1}}


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"numeroCadastro": "11222333000182"}, "numeroCadastro", "check digits"),
        ({"numeroCadastro": "11.222.333/0001-81"}, "numeroCadastro", "14 digits"),
        ({"cep": "0131010"}, "cep", "8 digits"),
        ({"estado": "SP"}, "estado", "lower-case"),
        ({"estado": "xx"}, "estado", "not a Brazilian state"),
        ({"telefoneDDD": "XX"}, "telefoneDDD", "2 digits"),
        ({"telefone": "3214-5678"}, "telefone", "digits"),
        ({"pais": "BR"}, "pais", "country code"),
        ({"ativacao": "yes"}, "ativacao", "true"),
        ({"razaoSocial": ""}, "razaoSocial", "empty"),
    ],
)
def test_subsidiary_rules(changes: dict[str, Any], field: str, fragment: str):
    record = {"numeroCadastro": "11222333000181", "razaoSocial": "Filial Centro", **changes}
    with pytest.raises(AhgoraValidationError) as exc:
        validate_one(Subsidiary, record)
    errors = _field_errors(exc)
    assert any(f == field or f.startswith(f"{field}.") for f in errors), errors
    assert any(fragment in m for f, m in errors.items() if f.split(".")[0] == field), errors


def test_subsidiary_accepts_cpf_and_string_ativacao_sent_as_given():
    sub = validate_one(
        Subsidiary, {"numeroCadastro": "52998224725", "razaoSocial": "MEI", "ativacao": "true"}
    )
    assert sub.to_wire() == {"numeroCadastro": "52998224725", "razaoSocial": "MEI", "ativacao": "true"}
    by_name = Subsidiary(numero_cadastro="11222333000181", razao_social="X", telefone_ddd="41", ativacao=True)
    assert by_name.to_wire() == {
        "numeroCadastro": "11222333000181",
        "razaoSocial": "X",
        "telefoneDDD": "41",
        "ativacao": True,
    }
    assert sub.pais == "1058"  # documented default, not sent


def test_cost_center_rules_and_unknown_field_kept():
    with pytest.raises(AhgoraValidationError) as exc:
        validate_one(CostCenter, {"codigo": "", "nome": 7})
    errors = _field_errors(exc)
    assert set(errors) == {"codigo", "nome"}
    cc = validate_one(CostCenter, {"codigo": "00000003", "nome": "TI", "ativo": True})
    assert cc.to_wire() == {"codigo": "00000003", "nome": "TI", "ativo": True}


def test_absence_rules():
    good = {
        "matricula": "000123",
        "motivo": "Atestado",
        "inicio": "2025-04-01T08:00",
        "fim": "2025-04-01T17:00",
        "cod_interno": "12",
        "operation": "INS",
        "ignora_bloqueio": "0",
    }
    absence = validate_one(Absence, good)
    assert absence.to_wire() == good
    same_minute = Absence(matricula="1", inicio="2025-04-01T08:00", fim="2025-04-01T08:00", cod_interno="9")
    assert same_minute.to_wire()["cod_interno"] == "9"

    cases = [
        ({"fim": "2025-03-31T17:00"}, "fim", "before inicio"),
        ({"inicio": "2025-04-01 08:00"}, "inicio", "YYYY-MM-DDTHH:MM"),
        ({"operation": "UPD"}, "operation", "'INS'"),
        ({"ignora_bloqueio": 1}, "ignora_bloqueio", "'0'"),
        ({"matricula": "  "}, "matricula", "empty"),
    ]
    for changes, field, fragment in cases:
        with pytest.raises(AhgoraValidationError) as exc:
            validate_one(Absence, {**good, **changes})
        errors = _field_errors(exc)
        assert field in errors, (changes, errors)
        assert fragment in errors[field], (changes, errors)


def test_person_and_user_rules():
    assert is_valid_pis("12345678919")
    assert not is_valid_pis("12345678910")
    assert not is_valid_pis("11111111111")
    person = validate_one(
        Person,
        {
            "matricula": "000123",
            "nome": "Ana",
            "pis": "12345678919",
            "dataAdmissao": "01/04/2025",
            "cpf": "x",
        },
    )
    assert person.to_wire() == {
        "matricula": "000123",
        "nome": "Ana",
        "pis": "12345678919",
        "dataAdmissao": "01/04/2025",
        "cpf": "x",
    }
    for changes, field, fragment in [
        ({"pis": "12345678910"}, "pis", "check digit"),
        ({"pis": "123.45678.91-9"}, "pis", "11 digits"),
        ({"dataAdmissao": "2025-04-01"}, "dataAdmissao", "DD/MM/YYYY"),
        ({"matricula": ""}, "matricula", "empty"),
    ]:
        with pytest.raises(AhgoraValidationError) as exc:
            validate_one(Person, {"matricula": "000123", **changes})
        errors = _field_errors(exc)
        assert fragment in errors[field], errors

    user = validate_one(PontoWebUser, {"email": "ana@example.com", "nome": "Ana", "perfil": "gestor", "x": 1})
    assert user.to_wire() == {"email": "ana@example.com", "nome": "Ana", "perfil": "gestor", "x": 1}
    with pytest.raises(AhgoraValidationError) as exc:
        validate_one(PontoWebUser, {"email": "not-an-email"})
    assert "e-mail" in _field_errors(exc)["email"]


def test_validate_many_cost_centers_keeps_good_and_names_bad():
    records: list[Any] = [
        {"codigo": "00000001", "nome": "RH"},
        {"codigo": "00000002", "nome": ""},
        "not an object",
        {"codigo": "00000004", "nome": "ADM", "extra": "kept"},
        {"nome": "Sem codigo"},
    ]
    valid, invalid = validate_many(CostCenter, records, PUSH_ID_KEYS["costcenter"])
    assert [i for i, _ in valid] == [0, 3]
    assert valid[1][1].to_wire() == {"codigo": "00000004", "nome": "ADM", "extra": "kept"}
    assert [i for i, _, _ in invalid] == [1, 2, 4]

    (err1,) = invalid[0][2]
    assert (err1.index, err1.label, err1.field) == (1, "codigo='00000002'", "nome")
    assert str(err1) == "record 1 (codigo='00000002'): field 'nome': must not be empty"
    (err2,) = invalid[1][2]
    assert (err2.index, err2.field) == (2, "")
    assert "JSON object" in err2.message
    (err4,) = invalid[2][2]
    assert (err4.index, err4.label, err4.field) == (4, None, "codigo")
    assert invalid[0][1] is records[1]


def test_push_registry():
    assert (
        set(PUSH_MODELS)
        == set(PUSH_ID_KEYS)
        == {
            "costcenter",
            "subsidiaries",
            "absences",
            "people",
            "users",
            "paymentDate",
            "anticipate",
        }
    )
    assert PUSH_MODELS["paymentDate"] is None
    assert PUSH_MODELS["anticipate"] is None
    for name, model in PUSH_MODELS.items():
        assert PUSH_ID_KEYS[name]
        if model is not None:
            aliases = {f.alias or n for n, f in model.model_fields.items()}
            assert PUSH_ID_KEYS[name][0] in aliases, name


# --------------------------------------------------------------------------------------------------
# Responses: lenient, properties
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("progress", "status", "percent", "terminal"),
    [
        ({"done": 0, "total": 0}, "processing", 0.0, False),
        ({"done": "0", "total": "0"}, "done", 100.0, True),
        ({"done": 1, "total": 4}, "processing", 25.0, False),
        ({"done": "3", "total": "4"}, "processing", 75.0, False),
        ({"done": 4, "total": 4}, "done", 100.0, True),
        ({"done": "5", "total": "4"}, "done", 100.0, True),
        ({"done": "x", "total": None}, "error", 0.0, True),
        ({"done": 4, "total": 4}, "DONE", 100.0, True),
        ({"done": 1, "total": 4}, " Processing ", 25.0, False),
        (None, "Error", 0.0, True),
    ],
)
def test_reckon_status_properties(progress: Any, status: str, percent: float, terminal: bool):
    body: dict[str, Any] = {"status": status, "unique": "u", "process": "p", "company": "c", "extra": 1}
    if progress is not None:
        body["progress"] = progress
    st = ReckonStatus.model_validate(body)
    assert st.percent == percent
    assert st.is_terminal is terminal
    assert st.is_done is (status.strip().lower() == "done")
    assert st.is_error is (status.strip().lower() == "error")
    assert st.model_dump(by_alias=True, exclude_unset=True) == body  # kept exactly as received


def test_an_unknown_reckon_status_is_an_error_that_names_it():
    """Never "still running", never success: the vocabulary refuses it."""
    st = ReckonStatus.model_validate({"status": "queued", "progress": {"done": 0, "total": 0}})
    assert st.percent == 0.0  # describing it is fine...
    for read in ("state", "is_terminal", "is_done", "is_error"):
        with pytest.raises(AhgoraUnknownValueError, match="'queued'"):
            getattr(st, read)  # ...deciding on it is not


def test_process_status_vocabulary_and_php_empty_object():
    from airflow_provider_ahgora.models.pontoweb import ProcessStatus

    finished = {"progress": {"done": "2", "total": "2"}}
    assert ProcessStatus.model_validate({**finished, "status": "WARNING", "data": []}).outcome == "warning"
    assert ProcessStatus.model_validate({**finished, "data": {"errors": {}}}).errors == []
    assert ProcessStatus.model_validate({**finished, "status": "processing"}).is_finished is False
    unknown = ProcessStatus.model_validate({**finished, "status": "partial"})
    with pytest.raises(AhgoraUnknownValueError, match="'partial'"):
        unknown.outcome  # noqa: B018


def test_reckon_status_fixtures_properties():
    processing = ReckonStatus.model_validate(_load(FIXTURES / "001_reckon-status_response_processing.json"))
    assert (processing.is_terminal, processing.percent) == (False, 0.0)
    done = ReckonStatus.model_validate(_load(FIXTURES / "001_reckon-status_response_done.json"))
    assert (done.is_terminal, done.is_done, done.percent) == (True, True, 100.0)
    assert done.progress is not None
    assert (done.progress.done, done.progress.total) == (1, 1)


@pytest.mark.parametrize(
    ("progress", "finished"),
    [
        ({"done": "2", "total": "2"}, True),
        ({"done": 2, "total": 2}, True),
        ({"done": "1", "total": "2"}, False),
        ({"done": "0", "total": "0"}, False),
        ({"done": "2"}, False),
        ({"done": "", "total": "2"}, False),
        (None, False),
    ],
)
def test_process_status_is_finished(progress: Any, finished: bool):
    body: dict[str, Any] = {"company": "a1", "unique": "u", "subunique": "s", "status": "done"}
    if progress is not None:
        body["progress"] = progress
    assert ProcessStatus.model_validate(body).is_finished is finished


def test_process_status_fixtures_progress_strings_and_errors():
    people = ProcessStatus.model_validate(_load(FIXTURES / "000_process_response_people-errors.json"))
    assert people.progress is not None
    assert (people.progress.done, people.progress.total) == (3, 3)
    assert people.is_finished
    assert people.status == "warning"
    assert [(e.identifier, e.message) for e in people.errors] == [
        ("000123", "PIS inválido"),
        ("000456", "Data de admissão inválida"),
    ]
    absences = ProcessStatus.model_validate(_load(FIXTURES / "000_process_response_absences-errors.json"))
    assert absences.status == "error"
    assert len(absences.errors) == 2
    done = ProcessStatus.model_validate(_load(FIXTURES / "000_process_response_done.json"))
    assert done.errors == []
    assert ProcessStatus.model_validate({"status": "done"}).errors == []
    assert ProcessStatus.model_validate({"data": {}}).errors == []


def test_progress_dumps_what_it_received_unless_changed():
    p = Progress.model_validate({"done": "1", "total": 2})
    assert (p.done, p.total) == (1, 2)
    assert p.model_dump() == {"done": "1", "total": 2}
    p.done = 2
    assert p.model_dump() == {"done": 2, "total": 2}


def test_responses_are_lenient_on_numbers_and_extras():
    st = ReckonStartResponse.model_validate(
        {"process": 123, "company": 133595, "created_at": "x", "new": [1]}
    )
    assert st.process == "123"
    assert st.company == "133595"
    assert st.model_dump(by_alias=True, exclude_unset=True)["new"] == [1]
    page = ReckonResultsPage.model_validate({"company": "c", "unique": "u", "total": "7", "data": []})
    assert page.total == 7
    assert page.is_empty
    result = ReckonResult.model_validate({"name": "n", "event": "", "value": 1.5, "type": "hours", "z": 0})
    assert result.value == 1.5
    assert isinstance(result.value, float)
    assert result.event == ""
    assert ReckonResult.model_validate({"value": "16,50"}).value == "16,50"
    assert ReckonRecord.model_validate({"employee": 42}).employee == "42"
    assert (
        ReckonStatus.model_validate({"status": "paused"}).status == "paused"
    )  # kept; its meaning is refused


def test_reckon_status_without_status_is_refused():
    with pytest.raises(ValidationError):
        ReckonStatus.model_validate({"unique": "u"})


# --------------------------------------------------------------------------------------------------
# Error bodies
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": {"message": "Process not found", "code": "400"}}, ("Process not found", 400)),
        ({"error": {"code": 401, "message": "Unauthorized"}}, ("Unauthorized", 401)),
        ({"error": "text"}, ("text", None)),
        ({"error": "text", "code": "429"}, ("text", 429)),
        (
            {"message": "Request format must be an Array", "code": "400"},
            ("Request format must be an Array", 400),
        ),
        ({"message": "Unauthorized"}, ("Unauthorized", None)),
        ({"error": {"code": 500}}, (None, 500)),
        ({"error": {"message": "m", "code": "abc"}}, ("m", None)),
        ({"error": {"message": "m", "code": True}}, ("m", None)),
        ({"error": None}, (None, None)),
        ({"error": ""}, (None, None)),
        ({"error": ["a", "b"]}, (None, None)),
        ({}, (None, None)),
        ([], (None, None)),
        ([{"error": "x"}], (None, None)),
        (None, (None, None)),
        (42, (None, None)),
        ("", (None, None)),
        ("<html>Bad Gateway</html>", (None, None)),
        ('{"error": "Process not found"}', ("Process not found", None)),
        (b'{"message": "Unauthorized", "code": 401}', ("Unauthorized", 401)),
        (b"\xff\xfe", (None, None)),
        ({"unrelated": 1}, (None, None)),
    ],
)
def test_parse_error_body_shapes(body: Any, expected: tuple[str | None, int | None]):
    result = parse_error_body(body)
    assert result == expected
    assert isinstance(result, ApiErrorBody)
    message, code = result
    assert (message, code) == (result.message, result.code)

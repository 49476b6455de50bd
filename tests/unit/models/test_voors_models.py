"""Voors models against every example of the vendor document (tests/fixtures/seeds/voors)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_ahgora.exceptions import AhgoraConfigError, AhgoraValidationError
from airflow_provider_ahgora.models._base import RequestModel, validate_many, validate_one
from airflow_provider_ahgora.models.voors import (
    OPERATIONS,
    RESOURCES,
    RESPONSE_MODELS,
    AnnualIncomeBody,
    BranchBody,
    BranchGroupBody,
    CompensatoryTimeBody,
    Department,
    DepartmentBody,
    ExperienceContractBody,
    GoalAchievedBody,
    GoalUser,
    HoraryBody,
    JobFunction,
    PostBody,
    RemoteIdRef,
    TimeCardBody,
    User,
    UserBody,
    UserCalculationBody,
    UserDepartmentHistory,
    UserExamBody,
    UserHorary,
    UserHoraryBody,
    UserSalaryBody,
    UserSituationBody,
    UserWalletTransactionBody,
    VoorsEntity,
    VoorsResource,
    VoorsResponse,
    delete_model,
    get_resource,
    parse_goals,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "seeds" / "voors"
NAME = re.compile(r"(?P<num>\d{3})_(?P<resource>[A-Za-z]+)_(?P<kind>request|response)_(?P<variant>[A-Za-z]+)")

#: The document holds 113 JSON examples (see REPAIRS.md for the count): 51 "Formato de JSON a ser
#: enviado" + 53 "A requisição retorna o seguinte JSON" + the deactivation form + the null-allowance
#: form + the goals answer + 2 goals updates + 3 posts + the `meta` fragment. 59 are requests.
EXPECTED_FIXTURES = 113
EXPECTED_REQUESTS = 59

CPF = "78532850197"
CPF_2 = "52998224725"
CNPJ = "11222333000181"


def _files(kind: str | None = None) -> list[Path]:
    files = sorted(FIXTURES.glob("*.json"))
    if kind is None:
        return files
    return [f for f in files if NAME.fullmatch(f.stem) and NAME.fullmatch(f.stem)["kind"] == kind]  # type: ignore[index]


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _parts(path: Path) -> dict[str, str]:
    match = NAME.fullmatch(path.stem)
    assert match, f"bad fixture name {path.name}"
    return match.groupdict()


def _envelope(resource: VoorsResource, delete: bool) -> str:
    return (resource.delete_envelope or resource.envelope) if delete else resource.envelope


def _errors(model: type[RequestModel], data: Any) -> list[tuple[str, str]]:
    """(field, message) of every error validate_one reports for ``data``."""
    with pytest.raises(AhgoraValidationError) as info:
        validate_one(model, data)
    assert "nothing was sent" in str(info.value)
    return [(e.field, e.message) for e in info.value.errors]


def _one_error(model: type[RequestModel], data: Any, field: str) -> str:
    errors = _errors(model, data)
    assert [f for f, _ in errors] == [field], errors
    return errors[0][1]


def _wire(model: type[RequestModel], data: dict[str, Any]) -> dict[str, Any]:
    return validate_one(model, data).to_wire()


# --------------------------------------------------------------------------------------------------
# The fixtures themselves
# --------------------------------------------------------------------------------------------------


def test_one_fixture_per_example_of_the_document():
    files = _files()
    assert len(files) == EXPECTED_FIXTURES
    assert len(_files("request")) == EXPECTED_REQUESTS
    assert len(_files("response")) == EXPECTED_FIXTURES - EXPECTED_REQUESTS
    numbers = [int(_parts(f)["num"]) for f in files]
    assert numbers == list(range(1, EXPECTED_FIXTURES + 1)), "fixtures are numbered 001..113 with no gap"
    for f in files:
        assert _parts(f)["resource"] in RESOURCES, f.name
    assert (FIXTURES / "REPAIRS.md").is_file()


def test_every_resource_of_the_registry_has_fixtures():
    seen = {_parts(f)["resource"] for f in _files()}
    assert seen == set(RESOURCES)
    with_requests = {_parts(f)["resource"] for f in _files("request")}
    for name, resource in RESOURCES.items():
        if resource.model is not None:
            assert name in with_requests, f"{name} has a model but no request fixture"


@pytest.mark.parametrize("path", _files("request"), ids=lambda p: p.stem)
def test_request_fixture_parses_and_round_trips(path: Path):
    parts = _parts(path)
    resource = get_resource(parts["resource"])
    delete = parts["variant"] == "delete"
    model = delete_model(resource) if delete else resource.model
    assert model is not None, f"no model for {path.name}"
    body = _load(path)
    assert set(body) == {"data"}
    envelope = _envelope(resource, delete)
    payload = body["data"] if envelope == "" else body["data"][envelope]
    if envelope:
        assert set(body["data"]) == {envelope}
    many = resource.delete_array if delete else resource.array
    assert isinstance(payload, list) is many, f"{path.name}: array={many} in the registry"
    records = payload if many else [payload]
    wire = [validate_one(model, record).to_wire() for record in records]
    assert wire == records
    rebuilt = wire if many else wire[0]
    assert ({"data": rebuilt} if envelope == "" else {"data": {envelope: rebuilt}}) == body


@pytest.mark.parametrize("path", _files("response"), ids=lambda p: p.stem)
def test_response_fixture_parses_and_round_trips(path: Path):
    parts = _parts(path)
    body = _load(path)
    if parts["resource"] == "goals":
        goal_user = GoalUser.model_validate(body)
        assert goal_user.to_wire() == body
        assert [g.to_wire() for g in parse_goals([body])] == [body]
        return
    answer = VoorsResponse.model_validate(body)
    assert answer.to_wire() == body
    data = body["data"]
    typed = [key for key in data if key in RESPONSE_MODELS]
    if not typed:  # deletes and wallets answer {"message": ...}
        assert set(data) == {"message"}
        assert answer.data_message == data["message"]
        return
    for key in typed:
        items = data[key] if isinstance(data[key], list) else [data[key]]
        records = answer.records(key)
        assert all(isinstance(r, RESPONSE_MODELS[key]) for r in records)
        assert [r.to_wire() for r in records] == items
        for record, item in zip(records, items, strict=True):
            assert record.id == item.get("id")


def test_response_records_are_typed():
    answer = VoorsResponse.model_validate(_load(FIXTURES / "005_departments_response_list.json"))
    departments = answer.records("department")
    assert [type(d) for d in departments] == [Department, Department]
    assert [(d.id, d.name, d.display_code) for d in departments] == [(1, "Financeiro", 123), (2, "RH", 456)]

    user = VoorsResponse.model_validate(_load(FIXTURES / "031_users_response_upsert.json"))
    assert user.code == "201"
    assert user.status == "success"
    (u,) = user.records("user")
    assert isinstance(u, User)
    assert (u.id, u.cpf, u.number, u.remote_id) == (5817, CPF, 0, '{"id":250}')
    assert u.model_extra
    assert u.model_extra["companyDateBithday"] == "2020-01-22T03:00:00.000Z"

    history = VoorsResponse.model_validate(
        _load(FIXTURES / "062_userDepartmentHistories_response_upsert.json")
    )
    (h,) = history.records("userDepartmentHistories")
    assert isinstance(h, UserDepartmentHistory)
    assert (h.user_id, h.department_id) == (5824, 1030)

    horary = VoorsResponse.model_validate(_load(FIXTURES / "076_userHoraries_response_upsert.json"))
    (uh,) = horary.records("userHorary")
    assert isinstance(uh, UserHorary)
    assert uh.remoteid == 1

    function = VoorsResponse.model_validate(_load(FIXTURES / "020_jobFunctions_response_create.json"))
    (jf,) = function.records("jobFunction")
    assert isinstance(jf, JobFunction)
    assert (jf.id, jf.job_role, jf.remote_id) == (2043, 3, {"id": 45})

    assert VoorsResponse.model_validate({"data": {"x": {"id": 9}}}).records("x")[0].__class__ is VoorsEntity
    assert (
        answer.entity("department")
        == _load(FIXTURES / "005_departments_response_list.json")["data"]["department"]
    )
    assert answer.entity("missing") is None
    assert VoorsResponse.model_validate({"data": [1]}).entity("department") is None
    assert VoorsResponse.model_validate({"data": {"department": None}}).records("department") == []
    assert VoorsResponse.model_validate({}).records("department") == []


def test_responses_are_lenient():
    answer = VoorsResponse.model_validate({"code": 200, "status": "success", "surprise": [1, 2], "data": {}})
    assert answer.code == 200
    assert answer.to_wire() == {"code": 200, "status": "success", "surprise": [1, 2], "data": {}}
    odd = {"id": "5", "name": 123, "displayCode": "x", "branch": {"id": 1}, "new": True}
    assert Department.model_validate(odd).to_wire() == odd
    assert VoorsResponse.model_validate({"data": [1, 2]}).records("department") == []


def test_parse_goals_accepts_list_envelope_or_single():
    item = _load(FIXTURES / "104_goals_response_item.json")
    for body in ([item, item], {"data": [item]}, item):
        users = parse_goals(body)
        assert users
        assert all(u.user_id == 1234 for u in users)
    goal_user = parse_goals(item)[0]
    assert [h.situation for h in goal_user.situation_history or []] == ["active", "inactive"]
    assert [(g.user_goal_id, g.unit) for g in goal_user.user_goals or []] == [(3409, "hours")]
    assert parse_goals([]) == parse_goals({"data": []}) == []
    # anything else is not a page of users (the hook: malformed, never an empty page that ends paging)
    for body in ("nonsense", {"status": "ok"}, {"data": "later"}, {"data": {"x": 1}}, [item, "two"]):
        with pytest.raises(ValueError, match=r"not a|neither users"):
            parse_goals(body)


# --------------------------------------------------------------------------------------------------
# Validation rules: each fails with a message naming the field
# --------------------------------------------------------------------------------------------------


def test_cpf_check_digits():
    assert "invalid check digits" in _one_error(UserBody, {"cpf": "78532850198"}, "cpf")
    assert "11 digits" in _one_error(UserBody, {"cpf": "785.328.501-97"}, "cpf")
    assert "invalid check digits" in _one_error(UserBody, {"cpf": "00000000000"}, "cpf")
    assert "invalid check digits" in _one_error(
        UserBody, {"cpf": CPF, "appraisedBy": "08336293958"}, "appraisedBy"
    )
    salary = {"user": "12345678901", "remoteId": {"id": 1}}
    assert "invalid check digits" in _one_error(UserSalaryBody, salary, "user")
    timecard = {"remoteId": 1, "user": {"cpf": "12345678901"}}
    assert "invalid check digits" in _one_error(TimeCardBody, timecard, "user.cpf")


def test_cnpj_check_digits():
    assert "invalid check digits" in _one_error(BranchBody, {"remoteId": 1, "cnpj": "11222333000182"}, "cnpj")
    group = {"remoteId": 1, "branches": [CNPJ, "22222222222222"]}
    assert "invalid check digits" in _one_error(BranchGroupBody, group, "branches[1]")
    message = _one_error(BranchBody, {"remoteId": 1, "cnpj": "11.222.333/0001-81"}, "cnpj")
    assert "14 digits" in message
    post = {"type": "message", "body": "x", "branches": ["00000000000000"]}
    assert "invalid check digits" in _one_error(PostBody, post, "branches[0]")
    vacation = {"user": CPF, "remoteId": 1, "branch": "00000000000000000"}
    assert "14 digits" in _one_error(
        get_resource("userVacationAllowances").model or RequestModel, vacation, "branch"
    )
    calc = {"user": CPF, "remoteId": 1, "branch": "12345678901234"}
    assert "CNPJ '12345678901234' has invalid check digits" in _one_error(UserCalculationBody, calc, "branch")


def test_branches_registered_by_cpf_are_accepted_where_a_branch_is_named():
    meta = {"employmentRelationships": [{"cnpj": "80489218393", "cei": "987654321"}, CNPJ]}
    assert _wire(UserBody, {"cpf": CPF, "meta": meta})["meta"] == meta
    card = {"remoteId": 1, "user": {"cpf": CPF}, "branch": {"cnpj": "80489218393"}}
    assert _wire(TimeCardBody, card)["branch"] == {"cnpj": "80489218393"}
    bad = {"cpf": CPF, "meta": {"employmentRelationships": [{"cnpj": "80489218394"}]}}
    message = _one_error(UserBody, bad, "meta.employmentRelationships[0]")
    assert "cnpj" in message
    assert "CPF '80489218394' has invalid check digits" in message
    no_key = {"remoteId": 1, "cpf": CPF, "branch": {"stateRegistry": "1"}}
    assert "'cnpj'" in _one_error(ExperienceContractBody, no_key, "branch")


def test_situation_must_be_one_of_the_four():
    record = {"user": CPF, "remoteId": {"id": 1}, "situation": "RESCISAO"}
    message = _one_error(UserSituationBody, record, "situation")
    for allowed in ("ATIVO", "FERIAS", "AFASTADO", "INATIVO"):
        assert allowed in message
    assert "'RESCISAO'" in message
    assert _one_error(UserSituationBody, {"user": CPF, "remoteId": 1}, "situation") == "Field required"
    for situation in ("ATIVO", "FERIAS", "AFASTADO", "INATIVO"):
        assert _wire(UserSituationBody, {**record, "situation": situation})["situation"] == situation
    assert "must be one of" in _one_error(UserSituationBody, {**record, "situation": "ativo"}, "situation")


def test_date_formats():
    exam = {"user": CPF, "remoteId": 1}
    assert "DD/MM/YYYY" in _one_error(UserExamBody, {**exam, "date": "2021-06-12"}, "date")
    assert "DD/MM/YYYY" in _one_error(UserExamBody, {**exam, "date": "31/02/2021"}, "date")
    assert "DD/MM/YYYY" in _one_error(UserExamBody, {**exam, "date": "1/6/2021"}, "date")
    assert "DD/MM/YYYY" in _one_error(UserBody, {"cpf": CPF, "birthDate": "1992-11-18"}, "birthDate")
    # userHoraries.date is ISO
    assert "YYYY-MM-DD" in _one_error(UserHoraryBody, {**exam, "date": "21/10/2020"}, "date")
    assert _wire(UserHoraryBody, {**exam, "date": "2020-10-21"})["date"] == "2020-10-21"
    # experienceContract: DD/MM/YYYY or DD-MM-YYYY
    contract = {"cpf": CPF, "remoteId": 1}
    for ok in ("16/08/2022", "16-08-2022"):
        assert _wire(ExperienceContractBody, {**contract, "admissionDate": ok})["admissionDate"] == ok
    message = _one_error(ExperienceContractBody, {**contract, "endDate": "2022-10-01"}, "endDate")
    assert "DD/MM/YYYY or DD-MM-YYYY" in message
    # wallet transactions: "YYYY-MM-DD HH:mm:ss"
    transaction = {"remoteId": "99", "userWalletRemoteId": "10"}
    message = _one_error(UserWalletTransactionBody, {**transaction, "date": "202"}, "date")
    assert "YYYY-MM-DD HH:mm:ss" in message
    ok = "2023-01-15 14:30:00"
    assert _wire(UserWalletTransactionBody, {**transaction, "date": ok})["date"] == ok
    # goals: lastUpdate "DD/MM/YYYY HH:mm:ss"
    goal = {
        "userGoal": "1",
        "unit": "numeric",
        "value": "1",
        "taskDetails": [{"task": "t", "lastUpdate": "x"}],
    }
    assert "DD/MM/YYYY HH:mm:ss" in _one_error(GoalAchievedBody, goal, "taskDetails[0].lastUpdate")


def test_competence_and_hours():
    card = {"remoteId": 1, "user": {"cpf": CPF}}
    for bad in ("1/2023", "13/2023", "2023-01", "01/23"):
        assert "MM/YYYY" in _one_error(TimeCardBody, {**card, "competence": bad}, "competence")
    assert _wire(TimeCardBody, {**card, "competence": "01/2023"})["competence"] == "01/2023"
    assert "H:mm" in _one_error(TimeCardBody, {**card, "compensatoryTime": "140h"}, "compensatoryTime")
    assert _wire(TimeCardBody, {**card, "compensatoryTime": "-1:30"})["compensatoryTime"] == "-1:30"
    totals = {**card, "totals": [{"title": "Horas", "total": "167:6"}]}
    assert "H:mm" in _one_error(TimeCardBody, totals, "totals[0].total")


def test_clock_times():
    card = {"remoteId": 1, "user": {"cpf": CPF}}
    assert "HH:mm" in _one_error(TimeCardBody, {**card, "days": [{"entry1": "7:37"}]}, "days[0].entry1")
    assert "HH:mm" in _one_error(TimeCardBody, {**card, "days": [{"exit4": "24:00"}]}, "days[0].exit4")
    punch = {"time": "25:00", "location": {"latitude": "-26.07", "longitude": "-53.05"}}
    message = _one_error(TimeCardBody, {**card, "days": [{"entry2": punch}]}, "days[0].entry2")
    assert message.startswith("time:")
    assert "HH:mm" in message
    far = {"time": "08:00", "location": {"latitude": "-126.07", "longitude": "-53.05"}}
    assert "latitude" in _one_error(TimeCardBody, {**card, "days": [{"entry2": far}]}, "days[0].entry2")
    # punches beyond the declared slots are checked too
    many = {**card, "days": [{"date": "10/01/2023", "entry12": "8:00"}]}
    assert "entry12" in _one_error(TimeCardBody, many, "days[0]")
    # contractual horaries: "HH:mm" or "" (no entry that day)
    assert "HH:mm" in _one_error(HoraryBody, {"horaryEntry1": "7:45"}, "horaryEntry1")
    assert _wire(HoraryBody, {"horaryEntry2Saturday": ""}) == {"horaryEntry2Saturday": ""}
    horaries = {**card, "horaries": [{"entry1": "07:45", "exit1": "12:0"}]}
    assert "HH:mm" in _one_error(TimeCardBody, horaries, "horaries[0].exit1")


def test_punch_as_string_or_object_with_location():
    punch = {"time": "07:37", "location": {"latitude": "-26.0779", "longitude": "-53.0551"}}
    day = {"date": "10/01/2023", "entry1": punch, "exit1": "11:47", "entry7": {"time": "19:00"}}
    card = {"remoteId": {"id": 1}, "user": {"cpf": CPF}, "days": [day]}
    wire = _wire(TimeCardBody, card)
    assert wire == card
    model = validate_one(TimeCardBody, card)
    assert model.days
    assert model.days[0].exit1 == "11:47"


def test_zipcode_with_or_without_hyphen():
    for ok in ("85501-530", "85501530"):
        assert _wire(UserBody, {"cpf": CPF, "zipcode": ok})["zipcode"] == ok
    for bad in ("8550-1530", "85501-53", "855015300"):
        assert "CEP" in _one_error(UserBody, {"cpf": CPF, "zipcode": bad}, "zipcode")


def test_post_type_rules():
    assert "title" in _one_error(PostBody, {"type": "announcement", "body": "b"}, "")
    assert "body" in _one_error(PostBody, {"type": "announcement", "title": "t"}, "")
    assert "body" in _one_error(PostBody, {"type": "message"}, "")
    assert "link" in _one_error(PostBody, {"type": "news", "body": "b"}, "")
    message = _one_error(PostBody, {"type": "blog", "body": "b"}, "type")
    assert "message, announcement, news" in message
    assert _one_error(PostBody, {"body": "b"}, "type") == "Field required"
    news = {"type": "news", "link": "https://github.com/"}
    assert _wire(PostBody, news) == news
    message_post = {"type": "message", "body": "<p>oi</p>"}
    assert _wire(PostBody, message_post) == message_post


def test_goal_unit_accepts_documented_values_and_the_example_spelling():
    goal = {"userGoal": "3332", "value": "0.5"}
    for unit in ("monetary", "percentage", "hours", "qualitative", "numerical", "numeric"):
        assert _wire(GoalAchievedBody, {**goal, "unit": unit})["unit"] == unit
    message = _one_error(GoalAchievedBody, {**goal, "unit": "kg"}, "unit")
    assert "numerical" in message
    assert "numeric" in message
    assert _one_error(GoalAchievedBody, {"unit": "hours", "value": "60"}, "userGoal") == "Field required"


def test_remote_id_is_json_object_string_or_number_and_required():
    for remote_id in ({"id": 34, "composedKey": 34323}, "1", 1, 2.5):
        assert _wire(AnnualIncomeBody, {"user": CPF, "remoteId": remote_id})["remoteId"] == remote_id
    assert "JSON object" in _one_error(AnnualIncomeBody, {"user": CPF, "remoteId": True}, "remoteId")
    assert "JSON object" in _one_error(AnnualIncomeBody, {"user": CPF, "remoteId": [1]}, "remoteId")
    assert "empty" in _one_error(AnnualIncomeBody, {"user": CPF, "remoteId": {}}, "remoteId")
    assert "empty" in _one_error(AnnualIncomeBody, {"user": CPF, "remoteId": ""}, "remoteId")
    assert _one_error(AnnualIncomeBody, {"user": CPF}, "remoteId") == "Field required"
    assert _one_error(RemoteIdRef, {}, "remoteId") == "Field required"
    assert _one_error(UserSalaryBody, {"remoteId": 1}, "user") == "Field required"
    # resources identified by Voors' id need nothing: an edit sends only what changes
    assert _wire(DepartmentBody, {"name": "Comercial"}) == {"name": "Comercial"}


def test_user_needs_only_its_cpf():
    assert _wire(UserBody, {"cpf": CPF, "active": False}) == {"cpf": CPF, "active": False}
    leader = {"appraisedBy": "08336293957", "cpf": CPF}
    assert _wire(UserBody, leader) == leader
    assert _one_error(UserBody, {"active": False}, "cpf") == "Field required"
    assert "boolean" in _one_error(UserBody, {"cpf": CPF, "active": "no"}, "active")
    assert "e-mail" in _one_error(UserBody, {"cpf": CPF, "email": "joao"}, "email")
    assert "IBGE" in _one_error(UserBody, {"cpf": CPF, "city": "Francisco Beltrão"}, "city")


def test_numbers_are_not_coerced():
    calc = {"user": CPF, "remoteId": 1}
    assert "number" in _one_error(UserCalculationBody, {**calc, "baseinss": "2500"}, "baseinss")
    assert "number" in _one_error(UserCalculationBody, {**calc, "netSalary": True}, "netSalary")
    wire = _wire(UserCalculationBody, {**calc, "baseinss": 2500, "valueinss": 217.39})
    assert wire["baseinss"] == 2500
    assert isinstance(wire["baseinss"], int)
    events = {**calc, "calculationEvents": [{"code": 1, "operation": "X"}]}
    assert "V, P, D" in _one_error(UserCalculationBody, events, "calculationEvents[0].operation")
    balance = {"user": CPF, "remoteId": 1, "cycle": "1/2022", "totalBalance": "-70"}
    assert "integer" in _one_error(CompensatoryTimeBody, balance, "totalBalance")


def test_compensatory_time_needs_a_cycle_or_both_dates():
    base = {"user": CPF, "remoteId": {"id": 1}, "totalBalance": -70}
    assert _wire(CompensatoryTimeBody, {**base, "cycle": "2/2022"})["cycle"] == "2/2022"
    dated = {**base, "initialDate": "01/02/2022", "endDate": "01/04/2022"}
    assert _wire(CompensatoryTimeBody, dated) == dated
    assert "cycle" in _one_error(CompensatoryTimeBody, {**base, "initialDate": "01/02/2022"}, "")
    assert "N/YYYY" in _one_error(CompensatoryTimeBody, {**base, "cycle": "fev/2022"}, "cycle")
    assert _one_error(CompensatoryTimeBody, {**base, "cycle": "1/2022", "totalBalance": None}, "totalBalance")


def test_unknown_fields_are_kept_and_sent():
    record = {
        "cpf": CPF,
        "nickname": "Jota",
        "department": {"id": 24, "extraKey": [1, 2]},
        "meta": {"maritalStatus": "Solteiro", "shoeSize": 42},
    }
    model = validate_one(UserBody, record)
    assert model.model_extra == {"nickname": "Jota"}
    assert model.to_wire() == record
    card = {"remoteId": 1, "user": {"cpf": CPF, "badge": "A1"}, "days": [{"entry1": "08:00", "note": "x"}]}
    assert _wire(TimeCardBody, card) == card
    # the document's own job function edit sends "name", which a job function does not have
    edit = _load(FIXTURES / "021_jobFunctions_request_update.json")["data"]["jobFunction"]
    assert _wire(get_resource("jobFunctions").model or RequestModel, edit) == {"name": "Desenvolvedor"}


def test_explicit_aliases_are_the_wire_names():
    income = validate_one(AnnualIncomeBody, {"user": CPF, "remoteId": 1, "c3l1": 20.5, "c7l1": "x"})
    assert (income.c3l1, income.c7l1) == (20.5, "x")
    assert income.to_wire() == {"user": CPF, "remoteId": 1, "c3l1": 20.5, "c7l1": "x"}
    branch = BranchBody(remote_id=1, phone_ddd="46")
    assert branch.to_wire() == {"remoteId": 1, "phoneDDD": "46"}
    calc = UserCalculationBody(user=CPF, remote_id=1, base_inss=1, value_fgts=2)
    assert calc.to_wire() == {"user": CPF, "remoteId": 1, "baseinss": 1, "valuefgts": 2}
    assert UserBody(cpf=CPF, cnh="123").to_wire() == {"cpf": CPF, "cnh": "123"}
    assert UserHorary.model_validate({"remoteid": 1}).remoteid == 1


def test_null_clears_allowance_dates():
    body = _load(FIXTURES / "093_userProgrammingVacations_request_clearAllowance.json")
    record = body["data"]["userProgrammingVacation"]
    wire = _wire(get_resource("userProgrammingVacations").model or RequestModel, record)
    assert wire["allowanceInitialDate"] is None
    assert wire["allowanceFinalDate"] is None


# --------------------------------------------------------------------------------------------------
# validate_many: a bad record never loses the good ones
# --------------------------------------------------------------------------------------------------


def test_validate_many_keeps_good_users_and_names_bad_ones():
    records = [
        {"cpf": CPF, "firstName": "João"},
        {"cpf": "78532850198", "firstName": "Erro"},
        {"cpf": CPF_2, "active": False},
        {"cpf": CPF, "zipcode": "abc", "birthDate": "1992-11-18"},
        "not a record",
    ]
    valid, invalid = validate_many(UserBody, records, id_keys=["cpf"])
    assert [i for i, _ in valid] == [0, 2]
    assert [m.to_wire() for _, m in valid] == [records[0], records[2]]
    assert [i for i, _, _ in invalid] == [1, 3, 4]
    (err,) = invalid[0][2]
    assert (err.index, err.field) == (1, "cpf")
    assert str(err).startswith("record 1 (cpf='78532850198'): field 'cpf':")
    assert sorted(e.field for e in invalid[1][2]) == ["birthDate", "zipcode"]
    assert all(e.index == 3 for e in invalid[1][2])
    assert invalid[2][2][0].index == 4
    assert "JSON object" in invalid[2][2][0].message


# --------------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------------


def test_registry_entries_are_consistent():
    assert len(RESOURCES) == 31
    for key, resource in RESOURCES.items():
        assert resource.name == key
        assert resource.path.startswith("/")
        assert not resource.path.endswith("/")
        assert resource.operations, key
        assert resource.operations <= OPERATIONS, key
        assert resource.model is None or issubclass(resource.model, RequestModel)
        if resource.delete_by_path_id or resource.delete_array or resource.delete_envelope:
            assert resource.supports("delete"), key
        if key not in ("posts", "goals", "goalsUpdate", "users") and resource.identifier != "id":
            assert resource.identifier == "remoteId", key
            assert resource.model is not None
            assert "remote_id" in resource.model.model_fields
            assert resource.model.model_fields["remote_id"].is_required(), key


def test_registry_follows_the_document():
    for key in ("departments", "jobRoles", "jobFunctions", "horaries"):
        resource = RESOURCES[key]
        assert resource.operations == {"list", "get", "create", "update", "delete"}
        assert resource.identifier == "id"
        assert resource.delete_by_path_id
        assert delete_model(resource) is None
    assert RESOURCES["users"].identifier == "cpf"
    assert not RESOURCES["users"].supports("delete")
    assert {k for k, r in RESOURCES.items() if r.delete_array} == {"userCalculations", "readjustReasons"}
    assert RESOURCES["userDepartmentHistories"].envelope == "userDepartmentHistory"
    assert RESOURCES["userDepartmentHistories"].delete_envelope == "userDepartmentHistories"
    assert {k for k, r in RESOURCES.items() if r.array} == {
        "userWallets",
        "userWalletTransactions",
        "goalsUpdate",
    }
    assert RESOURCES["userWallets"].envelope == "userWallets"
    assert RESOURCES["userWalletTransactions"].envelope == "userWalletTransactions"
    assert RESOURCES["compensatoryTimes"].path == "/compensatoryTimes"
    assert RESOURCES["userJobRoles"].operations == {"upsert"}
    posts = RESOURCES["posts"]
    assert (posts.path, posts.envelope, posts.model) == ("/posts", "", PostBody)
    goals = RESOURCES["goals"]
    assert (goals.path, goals.operations, goals.model) == ("/goals", {"list"}, None)
    update = RESOURCES["goalsUpdate"]
    assert (update.path, update.envelope, update.model) == (
        "/goals/updateGoals",
        "goalsAchieved",
        GoalAchievedBody,
    )
    assert delete_model(RESOURCES["causes"]) is RemoteIdRef
    assert delete_model(RESOURCES["branches"]) is None


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("departments", "departments"),
        ("/departments", "departments"),
        ("department", "departments"),
        ("/compensatoryTimes/", "compensatoryTimes"),
        ("userDepartmentHistory", "userDepartmentHistories"),
        ("userDepartmentHistories", "userDepartmentHistories"),
        ("/goals/updateGoals", "goalsUpdate"),
        ("goals/updateGoals", "goalsUpdate"),
        ("goalsAchieved", "goalsUpdate"),
        ("goalsUpdate", "goalsUpdate"),
        ("/goals", "goals"),
        ("/posts", "posts"),
        ("userWallets", "userWallets"),
        ("userSalary", "userSalaries"),
    ],
)
def test_get_resource_by_key_path_or_envelope(name: str, key: str):
    assert get_resource(name) is RESOURCES[key]


@pytest.mark.parametrize("name", ["departament", "", "/", "data"])
def test_get_resource_unknown_lists_known_names(name: str):
    with pytest.raises(AhgoraConfigError) as info:
        get_resource(name)
    message = str(info.value)
    assert repr(name) in message
    for key in RESOURCES:
        assert key in message

"""The list of companies a many-companies DAG closes, and each company's connection names."""

from __future__ import annotations

import json

import pytest

from airflow_provider_ahgora.companies import (
    Company,
    check_reckon_company,
    parse_companies,
    pontoweb_conn_id,
    voors_conn_id,
)


def test_connections_are_named_by_convention():
    assert (pontoweb_conn_id("a000101"), voors_conn_id("a000101")) == ("pontoweb_a000101", "voors_a000101")
    with pytest.raises(ValueError, match="company code"):
        pontoweb_conn_id("acme-sp")  # a '-' would make card ids ambiguous


def test_codes_or_objects_from_json_or_a_list():
    text = json.dumps(
        ["a000101", {"company": "a000102", "voors_conn_id": "voors_group", "employees": "s3://b/e.csv"}]
    )
    assert (
        parse_companies(text)
        == parse_companies(json.loads(text))
        == [
            Company("a000101", "pontoweb_a000101", "voors_a000101"),
            Company("a000102", "pontoweb_a000102", "voors_group", "s3://b/e.csv"),
        ]
    )
    assert Company.of("a1").as_dict() == {
        "company": "a1",
        "pontoweb_conn_id": "pontoweb_a1",
        "voors_conn_id": "voors_a1",
        "employees": "",
    }


def test_companies_may_share_a_voors_connection():
    shared = [{"company": c, "voors_conn_id": "voors_group"} for c in ("a1", "a2")]
    assert [c.voors_conn_id for c in parse_companies(shared)] == ["voors_group", "voors_group"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "name the companies"),
        ("[]", "name the companies"),
        ("a000101", "must be a JSON list"),
        ({"company": "a1"}, "name the companies"),
        (["a1", "a2", "a1"], "company listed twice: a1"),
        (["a1", {"company": "a2", "pontoweb_conn_id": "pontoweb_a1"}], "PontoWeb connection listed twice"),
        ([{"code": "a1"}], 'object with "company"'),
        ([{"company": "a1", "pool": "x"}], "unknown field"),
        ([{"company": "a1", "voors_conn_id": 3}], "must be a string"),
        ([""], "company code"),
    ],
)
def test_a_bad_list_is_refused_naming_why(value, message):
    with pytest.raises(ValueError, match=message):
        parse_companies(value)


def test_a_reckon_answered_for_another_company_is_refused():
    check_reckon_company("a000101", "a000101", "pontoweb_a000101")  # the connection's own company
    with pytest.raises(ValueError, match="answered for company 'a000102': its credentials belong to another"):
        check_reckon_company("a000101", "a000102", "pontoweb_a000101")
    with pytest.raises(ValueError, match="answered for company None"):
        check_reckon_company("a000101", None, "pontoweb_a000101")

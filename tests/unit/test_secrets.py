"""Secrets never leak: every hook method runs with a known password/token, on success and failure,
and the logs (DEBUG included), exceptions, reprs and request URLs are searched for them."""

from __future__ import annotations

import base64
import logging
import re

import pytest
import requests
import responses

from tests.conftest import PONTOWEB_BASE, PONTOWEB_PASSWORD, VOORS_BASE, VOORS_TOKEN

PONTOWEB_SECRETS = (PONTOWEB_PASSWORD, base64.b64encode(f"svc-user:{PONTOWEB_PASSWORD}".encode()).decode())
VOORS_SECRETS = (VOORS_TOKEN,)
ANY_URL = re.compile(r".*")


def _assert_clean(secrets: tuple[str, ...], *texts: str) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"secret leaked into: {text[:300]}"


def _pontoweb_calls(hook):
    return [
        lambda: hook.start_reckon({"month": "04", "year": "2025"}),
        lambda: hook.get_reckon_status("p"),
        lambda: list(hook.iter_reckon_results("u")),
        lambda: hook.reconsume("u"),
        lambda: hook.push("costcenter", [{"codigo": "1", "nome": "RH"}]),
        lambda: hook.get_process(subunique="s"),
        hook.test_connection,
    ]


def _voors_calls(hook):
    user = {"cpf": "78532850197", "active": False}
    return [
        lambda: hook.upsert("users", user),
        lambda: hook.upsert("departments", {"name": "Vendas"}, id=3),
        lambda: hook.delete("departments", 3),
        lambda: hook.delete("timeCards", remote_id={"id": 1}),
        lambda: hook.get("departments", 1),
        lambda: hook.list("departments"),
        lambda: list(hook.iter_goals("2022-01-01", "2022-08-31")),
        hook.test_connection,
    ]


# Answers that try hard to leak: error bodies that echo the credentials back.
FAILURES = [
    {
        "status": 401,
        "json": {
            "error": {"code": 401, "message": f"Unauthorized token {VOORS_TOKEN} / {PONTOWEB_PASSWORD}"}
        },
    },
    {
        "status": 400,
        "json": {"message": f"bad password {PONTOWEB_PASSWORD} token {VOORS_TOKEN}", "code": 400},
    },
    {"status": 500, "body": f"<html>stack trace with {PONTOWEB_PASSWORD} and {VOORS_TOKEN}</html>"},
    {"status": 429, "json": {"error": f"slow down {VOORS_TOKEN}"}},
    {"body": requests.exceptions.ConnectionError(f"reset while sending {PONTOWEB_PASSWORD}")},
]


def _run_all(calls, caplog):
    texts = []
    for call in calls:
        try:
            result = call()
            texts.append(repr(result))
        except Exception as exc:
            texts.extend([str(exc), repr(exc), repr(exc.args)])
            cause = exc.__cause__
            while cause is not None:
                texts.extend([str(cause), repr(cause)])
                cause = cause.__cause__
    texts.append(caplog.text)
    texts.extend(r.getMessage() for r in caplog.records)
    return texts


@pytest.mark.parametrize(
    "failure", [None, *FAILURES], ids=["ok", "401-echo", "400-echo", "500-echo", "429-echo", "conn"]
)
def test_pontoweb_never_leaks(pontoweb_hook, caplog, failure):
    caplog.set_level(logging.DEBUG)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        if failure is None:
            ok = {
                "company": "a",
                "unique": "u",
                "process": "p",
                "status": "done",
                "total": 0,
                "data": [],
                "progress": {"done": 1, "total": 1},
            }
            for method in ("GET", "POST"):
                rsps.add(method, ANY_URL, json=ok)
        else:
            for method in ("GET", "POST"):
                rsps.add(method, ANY_URL, **failure)
        texts = _run_all(_pontoweb_calls(pontoweb_hook), caplog)
        urls = [c.request.url for c in rsps.calls]
    assert urls, "no request was made"
    _assert_clean(PONTOWEB_SECRETS, *texts, *urls, repr(pontoweb_hook), repr(pontoweb_hook.settings))


@pytest.mark.parametrize(
    "failure", [None, *FAILURES], ids=["ok", "401-echo", "400-echo", "500-echo", "429-echo", "conn"]
)
def test_voors_never_leaks(voors_hook, caplog, failure):
    caplog.set_level(logging.DEBUG)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        for method in ("GET", "POST", "PUT", "DELETE"):
            if failure is None:
                rsps.add(method, ANY_URL, json={"data": {"department": {"id": 1}, "user": {"id": 2}}})
            else:
                rsps.add(method, ANY_URL, **failure)
        texts = _run_all(_voors_calls(voors_hook), caplog)
        requests_sent = list(rsps.calls)
    assert requests_sent
    for call in requests_sent:
        # the token travels in the Authorization header only: never in the URL or the body
        assert call.request.headers["Authorization"] == VOORS_TOKEN
        assert VOORS_TOKEN not in call.request.url
        body = call.request.body or b""
        assert VOORS_TOKEN.encode() not in (body if isinstance(body, bytes) else body.encode())
    _assert_clean(VOORS_SECRETS, *texts, repr(voors_hook), repr(voors_hook.settings))


def test_settings_repr_hides_headers(voors_hook, pontoweb_hook):
    assert VOORS_TOKEN not in repr(voors_hook.settings)
    assert VOORS_TOKEN not in str(voors_hook.settings)
    assert PONTOWEB_PASSWORD not in repr(pontoweb_hook.settings)


def test_base_urls_carry_no_secret(voors_hook, pontoweb_hook):
    assert voors_hook.settings.base_url == VOORS_BASE
    assert pontoweb_hook.settings.base_url == PONTOWEB_BASE


def test_token_in_host_is_refused(monkeypatch):
    from airflow_provider_ahgora.exceptions import AhgoraConfigError
    from airflow_provider_ahgora.hooks.voors import VoorsHook
    from tests.conftest import set_conn

    set_conn(
        monkeypatch, "voors_default", conn_type="voors", host="https://v.test/api?token=abc", password="t"
    )
    with pytest.raises(AhgoraConfigError) as info:
        VoorsHook().get_conn()
    assert "abc" not in str(info.value)

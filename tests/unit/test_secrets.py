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


# --------------------------------------------------------------------------------------------------
# Echoes in every form a server may use (class 6): the secret as is, cut, JSON-escaped (also PHP's
# "\/"), URL-encoded, HTML-escaped, base64 of login:password, the whole Authorization header value.
# --------------------------------------------------------------------------------------------------

SPECIAL_PASSWORD = 'pw"S3cr/t+é&x=1<2'
SPECIAL_TOKEN = 'tok"S3cr/t+9a&b=2'
SPECIAL_LOGIN = "svc-user"


def _every_form(secret: str, login: str | None = None) -> list[str]:
    import html
    import json
    from urllib.parse import quote, quote_plus

    forms = [
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(secret)[1:-1].replace("/", "\\/"),
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        html.escape(secret),
    ]
    if login is not None:
        for encoding in ("latin-1", "utf-8"):  # requests sends latin-1; a server may decode UTF-8
            token = base64.b64encode(f"{login}:{secret}".encode(encoding)).decode()
            forms += [token, f"Basic {token}"]
    # no prefix of the secret long enough to help guess it
    forms += [secret[:size] for size in range(6, len(secret))]
    return forms


def _echo_bodies(secret: str, header: str) -> dict[str, tuple[int, str, str]]:
    import html
    import json
    from urllib.parse import quote, quote_plus

    return {
        # the old code cut such a text at 200 characters before masking: a prefix stayed
        "cut-at-200": (500, "text/plain", "x" * 190 + secret + "y" * 50),
        "json-escaped": (500, "application/json", json.dumps({"detail": f"bad password {secret}"})),
        "php-escaped": (
            500,
            "application/json",
            json.dumps({"detail": f"bad password {secret}"}).replace("/", "\\/"),
        ),
        "api-shape": (400, "application/json", json.dumps({"message": f"bad {secret}", "code": 400})),
        "url-encoded": (502, "text/plain", f"GET /?p={quote_plus(secret)}&q={quote(secret, safe='')}"),
        "html-401": (
            401,
            "text/html",
            f"<html><body><h1>401</h1><p>Authorization: {html.escape(header)}</p>"
            f"<p>{html.escape(secret)}</p></body></html>",
        ),
        "header-as-sent": (401, "text/plain", f"Unauthorized: Authorization: {header}"),
        "huge-page": (503, "text/html", "<html>" + "a" * 250 + secret + "b" * 2_000_000 + secret + "</html>"),
        "server-cut-it": (500, "text/plain", f"bad credentials {secret[: len(secret) - 3]}"),
    }


def _collect(call, caplog) -> list[str]:
    texts: list[str] = []
    try:
        call()
    except Exception as exc:
        texts += [str(exc), repr(exc), repr(exc.args)]
    texts.append(caplog.text)
    texts.extend(r.getMessage() for r in caplog.records)
    return texts


@pytest.mark.parametrize("echo", list(_echo_bodies("s", "h")))
def test_pontoweb_echo_in_every_form_never_leaks(monkeypatch, caplog, echo):
    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
    from tests.conftest import SleepRecorder, set_conn

    caplog.set_level(logging.DEBUG)
    set_conn(
        monkeypatch,
        "pontoweb_default",
        conn_type="pontoweb",
        host=PONTOWEB_BASE,
        login=SPECIAL_LOGIN,
        password=SPECIAL_PASSWORD,
    )
    header = requests.auth._basic_auth_str(SPECIAL_LOGIN, SPECIAL_PASSWORD)  # as requests sends it
    status, content_type, body = _echo_bodies(SPECIAL_PASSWORD, header)[echo]
    hook = PontoWebHook(retry_limit=1)
    hook.sleep = SleepRecorder()
    with responses.RequestsMock() as rsps:
        rsps.get(ANY_URL, status=status, body=body, content_type=content_type)
        texts = _collect(lambda: hook.get_reckon_status("p"), caplog)
    assert texts[0], "the call should have failed"
    _assert_clean(tuple(_every_form(SPECIAL_PASSWORD, SPECIAL_LOGIN)), *texts)


@pytest.mark.parametrize("echo", list(_echo_bodies("s", "h")))
def test_voors_echo_in_every_form_never_leaks(monkeypatch, caplog, echo):
    from airflow_provider_ahgora.hooks.voors import VoorsHook
    from tests.conftest import SleepRecorder, set_conn

    caplog.set_level(logging.DEBUG)
    set_conn(monkeypatch, "voors_default", conn_type="voors", host=VOORS_BASE, password=SPECIAL_TOKEN)
    status, content_type, body = _echo_bodies(SPECIAL_TOKEN, SPECIAL_TOKEN)[echo]
    hook = VoorsHook(retry_limit=1)
    hook.sleep = SleepRecorder()
    with responses.RequestsMock() as rsps:
        rsps.get(ANY_URL, status=status, body=body, content_type=content_type)
        texts = _collect(lambda: hook.list("departments"), caplog)
    assert texts[0], "the call should have failed"
    _assert_clean(tuple(_every_form(SPECIAL_TOKEN)), *texts)


def test_connection_error_text_is_masked_in_every_form(monkeypatch, caplog):
    import json
    from urllib.parse import quote_plus

    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
    from tests.conftest import SleepRecorder, set_conn

    set_conn(
        monkeypatch,
        "pontoweb_default",
        conn_type="pontoweb",
        host=PONTOWEB_BASE,
        login=SPECIAL_LOGIN,
        password=SPECIAL_PASSWORD,
    )
    hook = PontoWebHook(retry_limit=1)
    hook.sleep = SleepRecorder()
    escaped = json.dumps(SPECIAL_PASSWORD)[1:-1]
    error = requests.exceptions.ConnectionError(
        f"reset while sending {quote_plus(SPECIAL_PASSWORD)} ({escaped}) " + "x" * 280 + SPECIAL_PASSWORD
    )
    with responses.RequestsMock() as rsps:
        rsps.get(ANY_URL, body=error)
        texts = _collect(lambda: hook.get_reckon_status("p"), caplog)
    _assert_clean(tuple(_every_form(SPECIAL_PASSWORD, SPECIAL_LOGIN)), *texts)


def test_a_password_too_short_to_mask_hides_the_servers_text(monkeypatch, caplog):
    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
    from tests.conftest import set_conn

    set_conn(
        monkeypatch, "pontoweb_default", conn_type="pontoweb", host=PONTOWEB_BASE, login="u", password="q7"
    )
    with responses.RequestsMock() as rsps:
        rsps.get(ANY_URL, status=500, body="wrong password 'q7' for u", content_type="text/plain")
        texts = _collect(lambda: PontoWebHook(retry_limit=0).get_reckon_status("p"), caplog)
    assert "q7" not in texts[0]
    assert "too short" in texts[0]
    assert "HTTP 500" in texts[0]  # what happened is still said


def test_derived_forms_are_registered_with_airflows_masker(monkeypatch):
    from airflow.providers.common import compat

    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
    from airflow_provider_ahgora.hooks.voors import VoorsHook
    from tests.conftest import set_conn

    seen: list[str] = []

    def mask_secret(secret: str | list[str]) -> None:  # one secret, or every form of one at once
        seen.extend([secret] if isinstance(secret, str) else secret)

    monkeypatch.setattr(compat.sdk, "mask_secret", mask_secret, raising=False)
    set_conn(
        monkeypatch,
        "pontoweb_default",
        conn_type="pontoweb",
        host=PONTOWEB_BASE,
        login=SPECIAL_LOGIN,
        password=SPECIAL_PASSWORD,
    )
    set_conn(monkeypatch, "voors_default", conn_type="voors", host=VOORS_BASE, password=SPECIAL_TOKEN)
    PontoWebHook().settings  # noqa: B018 - resolving the settings registers the forms
    VoorsHook().settings  # noqa: B018
    basic = base64.b64encode(f"{SPECIAL_LOGIN}:{SPECIAL_PASSWORD}".encode()).decode()
    for form in (SPECIAL_PASSWORD, basic, f"Basic {basic}", SPECIAL_TOKEN):
        assert form in seen
    assert any("\\" in form and "S3cr" in form for form in seen)  # a JSON-escaped form
    assert any("%2F" in form for form in seen)  # a URL-encoded form

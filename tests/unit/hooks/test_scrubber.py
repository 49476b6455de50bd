"""SecretScrubber: the one rule for quoting server text. Mask every form first, then cut."""

from __future__ import annotations

import base64
import html
import json
import time
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_ahgora.hooks._base import MASK, SecretScrubber, WireSettings, secret_forms

PASSWORD = 'p"w/S3cr3t é+&<x>'
LOGIN = "svc-user"
BASIC = base64.b64encode(f"{LOGIN}:{PASSWORD}".encode()).decode()


def _echoes(secret: str) -> list[str]:
    return [
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(secret)[1:-1].replace("/", "\\/"),  # PHP's json_encode
        quote(secret, safe=""),
        quote(secret, safe="").lower(),  # percent-escapes in lower case
        quote(secret),
        quote_plus(secret),
    ]


@pytest.mark.parametrize("form", [*_echoes(PASSWORD), BASIC, f"Basic {BASIC}"])
def test_every_echoed_form_is_masked(form):
    scrubber = SecretScrubber.for_basic(LOGIN, PASSWORD)
    shown = scrubber.scrub(f"error: credentials {form} refused")
    assert shown == f"error: credentials {MASK} refused"


def test_forms_include_the_html_escape():
    assert "p&quot;w/S3cr3t é+&amp;&lt;x&gt;" in secret_forms(PASSWORD)
    scrubber = SecretScrubber([PASSWORD])
    assert PASSWORD[:6] not in scrubber.scrub("<p>p&quot;w/S3cr3t é+&amp;&lt;x&gt;</p>")


def _go_json(secret: str) -> str:
    """Go's encoding/json: HTML-safe by default (``<``, ``>``, ``&`` as ``\\u003c`` ...)."""
    escaped = json.dumps(secret, ensure_ascii=False)[1:-1]
    return escaped.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _markupsafe(secret: str) -> str:
    """Jinja's markupsafe: ``&#39;`` and ``&#34;`` for the quotes (a review found them unmasked)."""
    return (
        secret.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("'", "&#39;")
        .replace('"', "&#34;")
    )


@pytest.mark.parametrize("encoder", [_go_json, _markupsafe], ids=["go-encoding-json", "jinja-markupsafe"])
def test_frameworks_escapes_are_masked(encoder):
    secret = "p&ss'w<rd\"42"
    echo = encoder(secret)
    shown = SecretScrubber([secret]).scrub(f"<p>invalid credentials: {echo}</p>", limit=300)
    assert shown == f"<p>invalid credentials: {MASK}</p>"


def _escape_char(char: str, how: int) -> str:
    """One character as one of the escapes servers use (JSON, URL, HTML decimal/hex/named)."""
    code = ord(char)
    if how == 0:
        return char
    if how == 1:
        return json.dumps(char)[1:-1]  # a surrogate pair above the BMP
    if how == 2:
        return quote(char, safe="")
    if how == 3:
        return f"&#{code};"
    if how == 4:
        return f"&#x{code:X};"
    return html.escape(char, quote=True)


@settings(max_examples=300, deadline=None)
@given(
    secret=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=3, max_size=24),
    hows=st.lists(st.integers(0, 5), min_size=24, max_size=24),
    limit=st.sampled_from([None, 40, 300]),
)
def test_any_mix_of_escapes_is_masked(secret, hows, limit):
    """Each character of the secret escaped its own way (a server escaping some characters only,
    or two layers of frameworks): the echo is masked however it is mixed."""
    echo = "".join(_escape_char(c, h) for c, h in zip(secret, hows, strict=False))
    shown = SecretScrubber([secret]).scrub(f"refused: [{echo}] try again", limit=limit)
    assert MASK in shown
    assert echo not in shown


def test_mask_first_then_cut():
    # the old rule cut first: a cut through the secret left its prefix in the message
    secret = "tok-S3cr3t-9a8b7c"
    scrubber = SecretScrubber.for_token(secret)
    for offset in range(180, 215):
        text = "x" * offset + secret + "y" * 100
        shown = scrubber.scrub(text, limit=200)
        assert len(shown) <= 204
        for size in range(3, len(secret) + 1):
            assert secret[:size] not in shown, (offset, shown[-40:])


def test_cut_after_masking_never_shifts_a_partial_secret_into_view():
    secret = "tok-S3cr3t-9a8b7c"
    scrubber = SecretScrubber.for_token(secret)
    # many masked copies shrink the text: what follows them must not slide a partial secret in
    text = (secret + " ") * 40 + secret
    shown = scrubber.scrub(text, limit=100)
    assert "tok-" not in shown
    assert set(shown.replace(MASK, "").replace(" ", "").replace(".", "")) == set()


def test_a_secret_the_server_cut_short_is_masked():
    scrubber = SecretScrubber.for_token("tok-S3cr3t-9a8b7c")
    assert scrubber.scrub("Unauthorized token tok-S3cr") == f"Unauthorized token {MASK}"
    assert scrubber.scrub("Unauthorized token tok-S3cr", limit=100) == f"Unauthorized token {MASK}"


def test_huge_text_is_read_in_a_bounded_prefix():
    secret = "tok-S3cr3t-9a8b7c"
    scrubber = SecretScrubber.for_token(secret)
    for head in (0, 1190, 1195, 1200, 1210):
        text = "a" * head + secret + "b" * 10_000_000
        t0 = time.perf_counter()
        shown = scrubber.scrub(text, limit=300)
        assert time.perf_counter() - t0 < 0.5
        assert len(shown) <= 304
        assert "tok-S3" not in shown
        assert shown.endswith(" ...")


def test_whitespace_is_collapsed_and_the_cut_marked():
    scrubber = SecretScrubber(["s3cret!"])
    assert scrubber.scrub("a\n\n  b\tc", limit=50) == "a b c"
    assert scrubber.scrub("x" * 60, limit=50) == "x" * 50 + " ..."


def test_token_as_sent_in_the_authorization_header():
    scrubber = SecretScrubber.for_token("Bearer abc-123-xyz")
    assert scrubber.scrub("header was 'Bearer abc-123-xyz' (abc-123-xyz)") == f"header was '{MASK}' ({MASK})"


@pytest.mark.parametrize("short", ["a", "ab"])
def test_a_secret_too_short_to_mask_withholds_the_text(short):
    scrubber = SecretScrubber.for_basic("svc", short)
    shown = scrubber.scrub(f"bad password {short} for svc")
    assert "bad password" not in shown  # none of the server's text
    assert "not shown" in shown
    assert "too short" in shown


def test_no_secret_no_change():
    assert SecretScrubber().scrub("plain text") == "plain text"
    assert SecretScrubber([None, ""]).scrub("plain") == "plain"


def test_repr_shows_no_form():
    scrubber = SecretScrubber.for_basic(LOGIN, PASSWORD)
    assert PASSWORD not in repr(scrubber)
    assert BASIC not in repr(scrubber)


def test_wire_settings_build_one_from_their_secrets():
    settings = WireSettings(base_url="https://x", headers={}, timeout=1, secrets=("s3cr3t-value",))
    assert settings.scrub("got s3cr3t-value") == f"got {MASK}"
    assert "s3cr3t" not in repr(settings)


def test_register_masks_every_form_with_airflow(monkeypatch):
    from airflow.providers.common import compat

    calls: list[list[str]] = []
    monkeypatch.setattr(compat.sdk, "mask_secret", calls.append, raising=False)
    SecretScrubber.for_basic(LOGIN, PASSWORD).register()
    assert len(calls) == 1  # one call for every form: on Airflow 3 each is a round trip to the supervisor
    seen = calls[0]
    assert BASIC in seen
    assert f"Basic {BASIC}" in seen
    assert json.dumps(PASSWORD)[1:-1] in seen
    assert quote_plus(PASSWORD) in seen

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import tempfile
from pathlib import Path

import pytest
from packaging.version import Version

# Airflow reads its home at import: give the whole run a throwaway one before anything imports it.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="ahgora-airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# One Fernet key for this process and every Airflow process a test starts (workers, the CLI): on
# 2.11 a process that found no key wrote Variables in clear while another, which generated one in
# its airflow.cfg, encrypted them, and a test reading a worker's Variable got the ciphertext.
if not os.environ.get("AIRFLOW__CORE__FERNET_KEY"):
    from cryptography.fernet import Fernet

    os.environ["AIRFLOW__CORE__FERNET_KEY"] = Fernet.generate_key().decode()

FIXTURES = Path(__file__).parent / "fixtures"

# -- Airflow lines ----------------------------------------------------------------------------------
# CI runs the whole suite on the newest Airflow 3 and on 2.11, and the tests that are about Airflow
# itself (tests/integration, tests/unit/test_provider.py, tests/unit/test_import_cheap.py) on 3.1 and
# 3.2 too (scripts/test.sh, docs/airflow_versions.rst). A test that is about one line's behaviour
# says so with these helpers instead of reaching a private name that moved between lines.

#: The installed Airflow as (major, minor), read from its metadata without importing it.
_AIRFLOW_RELEASE = Version(importlib.metadata.version("apache-airflow")).release
AIRFLOW_LINE: tuple[int, int] = (_AIRFLOW_RELEASE[0], _AIRFLOW_RELEASE[1])


def since_airflow(line: tuple[int, int], reason: str) -> pytest.MarkDecorator:
    """Skip the test below Airflow ``line`` (e.g. ``(3, 2)``): the feature it checks came then."""
    return pytest.mark.skipif(
        line > AIRFLOW_LINE, reason=f"Airflow {'.'.join(map(str, line))}+ only: {reason}"
    )


def has_module(name: str) -> bool:
    """Whether ``name`` can be imported (without importing it), e.g. ``flask_appbuilder``."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


#: Known secrets used by every test connection: tests search logs, errors and reprs for them.
PONTOWEB_PASSWORD = "pw-S3cr3t-7d1f0e"
VOORS_TOKEN = "tok-S3cr3t-9a8b7c"
PONTOWEB_BASE = "https://pontoweb.test"
VOORS_BASE = "https://voors.test/integration"


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: object) -> None:
    """Define an Airflow connection through its AIRFLOW_CONN_ environment variable (JSON form)."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


@pytest.fixture
def pontoweb_conn(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    fields: dict[str, object] = {
        "conn_type": "pontoweb",
        "host": PONTOWEB_BASE,
        "login": "svc-user",
        "password": PONTOWEB_PASSWORD,
        "extra": {"accept_version": "v2", "timeout": 7},
    }
    set_conn(monkeypatch, "pontoweb_default", **fields)
    return fields


@pytest.fixture
def async_wire_via_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hooks' async calls go through the sync path's ``requests`` call in a worker thread (the
    path a hook takes behind a SOCKS proxy) instead of aiohttp, so that ``responses``, which answers
    ``requests`` only, can script the API for tests of what triggers and sensors do with answers. The
    native async wire itself is tested on real sockets (tests/unit/hooks/test_async_wire.py) and by
    the integration tests."""
    from airflow_provider_ahgora.hooks._base import AhgoraRestHook

    async def thread_path(self: AhgoraRestHook) -> None:
        return None

    monkeypatch.setattr(AhgoraRestHook, "_async_wire", thread_path)


@pytest.fixture
def voors_conn(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    fields: dict[str, object] = {"conn_type": "voors", "host": VOORS_BASE, "password": VOORS_TOKEN}
    set_conn(monkeypatch, "voors_default", **fields)
    return fields


class SleepRecorder:
    """Stands in for time.sleep in hooks: records the backoff delays instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def pontoweb_hook(pontoweb_conn):
    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook

    hook = PontoWebHook(retry_limit=3, retry_delay=0.5, retry_max_delay=10)
    hook.sleep = SleepRecorder()
    return hook


@pytest.fixture
def voors_hook(voors_conn):
    from airflow_provider_ahgora.hooks.voors import VoorsHook

    hook = VoorsHook(retry_limit=3, retry_delay=0.5, retry_max_delay=10)
    hook.sleep = SleepRecorder()
    return hook


def load_fixture(*parts: str):
    return json.loads((FIXTURES.joinpath(*parts)).read_text(encoding="utf-8"))


# -- asset events -----------------------------------------------------------------------------------


def outlet_events() -> object:
    """A real ``outlet_events`` accessor of the installed Airflow (what a task's context holds)."""
    try:  # Airflow 3
        from airflow.sdk.execution_time.context import OutletEventAccessors
    except ImportError:  # Airflow 2.11
        from airflow.utils.context import OutletEventAccessors  # type: ignore[no-redef,attr-defined]
    return OutletEventAccessors()


def alias_events(events: object, alias: object) -> list[tuple[str, dict]]:
    """The ``(asset URI, extra)`` of each event added to ``alias`` in ``events``, on either line."""
    accessor = events[alias]  # type: ignore[index]
    found = []
    added = (
        accessor.asset_alias_events
        if hasattr(accessor, "asset_alias_events")
        else accessor.dataset_alias_events
    )
    for event in added:
        if isinstance(event, dict):  # Airflow 2.11
            found.append((event["dest_dataset_uri"], event["extra"]))
        else:
            found.append((event.dest_asset_key.uri, event.extra))
    return found

"""A pytest plugin with a ``sandbox`` fixture: a running :class:`Sandbox` and Airflow connections
pointing at it.

Enable it in a ``conftest.py``::

    pytest_plugins = ["airflow_provider_ahgora.sandbox.pytest_plugin"]

or import the fixtures you need (``from airflow_provider_ahgora.sandbox.pytest_plugin import
sandbox``). ``sandbox`` is function-scoped and sets ``AIRFLOW_CONN_PONTOWEB_DEFAULT`` and
``AIRFLOW_CONN_VOORS_DEFAULT`` for the test; with several companies (``companies=3``), every
company's connections and ``AIRFLOW_VAR_AHGORA_COMPANIES`` too (:meth:`Sandbox.companies_env`).
Its options come from the ``sandbox_options`` fixture (override it to change them) and from
``@pytest.mark.sandbox(employees=..., companies=..., ...)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_ahgora.sandbox.server import Sandbox


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sandbox(**options): options of the sandbox fixture (employees, seed, ...)"
    )


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    """Options of the ``sandbox`` fixture; override this fixture to change them."""
    return {"employees": 20, "seed": 42, "speed": float("inf"), "push_speed": float("inf")}


@pytest.fixture
def sandbox(
    request: pytest.FixtureRequest, sandbox_options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Sandbox]:
    """A started sandbox on a free loopback port, with both Airflow connections pointing at it."""
    options = dict(sandbox_options)
    marker = request.node.get_closest_marker("sandbox")
    if marker is not None:
        options.update(marker.kwargs)
    sb = Sandbox(**options)
    sb.start()
    env = sb.airflow_env()
    if len(sb.companies) > 1:
        env.update(sb.companies_env())
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        yield sb
    finally:
        sb.stop()

"""Sandbox: a local, stateful emulator of Ahgora PontoWeb and Voors, for demos, tests and development.

A real HTTP server on loopback that behaves as the vendor documents say: reckons that progress over
time and whose results are consumed as they are read, pushes processed asynchronously and reported
by the process monitor, every Voors resource, the documented limits and error shapes, plus faults
(latency, 5xx, 429, timeouts, resets, malformed JSON) and an inspection API. Its employees and
results come from a deterministic :class:`~airflow_provider_ahgora.sandbox.data.SyntheticCompany`.

::

    from airflow_provider_ahgora.sandbox import run_sandbox

    with run_sandbox(employees=50) as sb:
        os.environ.update(sb.airflow_env())  # AIRFLOW_CONN_PONTOWEB_DEFAULT / AIRFLOW_CONN_VOORS_DEFAULT
        ...

Or from a shell: ``python -m airflow_provider_ahgora.sandbox --port 8080``. See ``docs/sandbox.rst``.
"""

from __future__ import annotations

from airflow_provider_ahgora.sandbox.faults import FAULT_KINDS, RECKON_RESULTS, Fault
from airflow_provider_ahgora.sandbox.server import (
    DEFAULT_LOGIN,
    DEFAULT_PASSWORD,
    DEFAULT_TOKEN,
    VOORS_PREFIX,
    Sandbox,
    run_sandbox,
    wait_until,
)

__all__ = [
    "DEFAULT_LOGIN",
    "DEFAULT_PASSWORD",
    "DEFAULT_TOKEN",
    "FAULT_KINDS",
    "RECKON_RESULTS",
    "VOORS_PREFIX",
    "Fault",
    "Sandbox",
    "run_sandbox",
    "wait_until",
]

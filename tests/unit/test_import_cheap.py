"""Importing the package and constructing hooks is cheap: no network, no connection lookup.

Run in a fresh interpreter so that modules imported by other tests do not hide a heavy import."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_package_import_imports_no_airflow():
    proc = _run(
        """
        import sys
        import airflow_provider_ahgora as p
        import airflow_provider_ahgora.runs  # what the example DAGs import for their dates and folders
        info = p.get_provider_info()
        assert info["package-name"] == "airflow-provider-ahgora"
        prefixes = ("airflow.", "requests", "pydantic")
        heavy = sorted(m for m in sys.modules if m == "airflow" or m.startswith(prefixes))
        print(heavy)
        assert not heavy, heavy
        """
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_constructing_hooks_makes_no_call_and_no_lookup():
    proc = _run(
        """
        import socket
        def no_network(*a, **k):
            raise AssertionError("network used")
        socket.socket.connect = no_network
        socket.create_connection = no_network
        socket.getaddrinfo = no_network

        from airflow.providers.common.compat.sdk import BaseHook
        def no_lookup(*a, **k):
            raise AssertionError("connection looked up")
        BaseHook.get_connection = classmethod(no_lookup)

        from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
        from airflow_provider_ahgora.hooks.voors import VoorsHook
        hooks = [PontoWebHook(), PontoWebHook("other", retry_limit=1), VoorsHook(), VoorsHook("v", timeout=5)]
        print([repr(h) for h in hooks])
        """
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "PontoWebHook conn_id='pontoweb_default'" in proc.stdout


def test_dag_parsing_imports_of_the_operators_load_no_http_stack():
    """The scheduler parses DAG files constantly: importing the operators and sensors and
    constructing them must not import ``requests`` (the hooks' HTTP stack) or look anything up."""
    proc = _run(
        """
        import sys
        from airflow.providers.common.compat.sdk import BaseHook
        def no_lookup(*a, **k):
            raise AssertionError("connection looked up")
        BaseHook.get_connection = classmethod(no_lookup)
        airflow_brings_requests = "requests" in sys.modules
        lineage_before = {m for m in sys.modules if "openlineage" in m}

        from airflow_provider_ahgora.operators.push import (
            PontoWebPushBatchOperator, VoorsDeleteOperator, VoorsPushOperator,
        )
        from airflow_provider_ahgora.operators.reckon import PontoWebReckonOperator
        from airflow_provider_ahgora.sensors.process import PontoWebProcessSensor
        from airflow_provider_ahgora.sensors.reckon import PontoWebReckonSensor
        PontoWebPushBatchOperator(task_id="a", resource="costcenter", records="/x/cc.jsonl")
        VoorsPushOperator(task_id="b", resource="users", records="/x/users.jsonl")
        VoorsDeleteOperator(task_id="c", resource="timeCards", remote_ids=["1"])
        PontoWebReckonOperator(task_id="d", month="01", year="2026")
        PontoWebProcessSensor(task_id="e", subunique="{{ ti.xcom_pull('a') }}")
        PontoWebReckonSensor(task_id="f", process="p")
        from airflow_provider_ahgora.operators.read import VoorsReadOperator
        from airflow_provider_ahgora.operators.reckon import PontoWebReckonResultsOperator
        VoorsReadOperator(task_id="g", resource="goals", period_start="2026-01-01", period_end="2026-01-31")
        PontoWebReckonResultsOperator(task_id="h", unique="u", month="2026-01")
        # Airflow 2.11 imports requests itself; on every line our hooks (the HTTP stack) stay unloaded
        loaded = sorted(m for m in sys.modules if m.startswith("airflow_provider_ahgora.hooks."))
        assert not loaded, loaded
        if not airflow_brings_requests:
            assert "requests" not in sys.modules
        # OpenLineage (when installed) is imported only when its listener asks an operator for lineage
        lineage = sorted(m for m in sys.modules if "openlineage" in m and m not in lineage_before)
        assert not lineage, lineage
        print("ok")
        """
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "ok" in proc.stdout

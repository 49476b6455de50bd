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

"""The transforms are pure: importing and running them imports neither Airflow nor pydantic."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_transforms_import_no_airflow_and_no_pydantic():
    code = textwrap.dedent(
        """
        import sys
        from airflow_provider_ahgora.transforms import parse_hours, payroll_rows, time_card
        rows = list(payroll_rows([{"employee": "1", "results": [{"value": "1:00", "type": "hours"}]}]))
        card = time_card({"employee": "1", "cpf": "52998224725", "daily": [{"day": "2025-04-01"}]})
        assert rows and card and parse_hours("16,50") == 990
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("airflow", "pydantic", "requests"))
        assert not heavy, heavy
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout

"""The transforms are pure: importing or running them imports neither Airflow nor pydantic.

Result and punch types are read through the status vocabulary, which imports the exceptions (and so
Airflow) only to raise an unknown value: valid records never pull Airflow in."""

from __future__ import annotations

import subprocess
import sys
import textwrap

RUN = """
import sys
from airflow_provider_ahgora.transforms import parse_hours, payroll_rows, time_card
rows = list(payroll_rows([{"employee": "1", "results": [{"value": "1:00", "type": "hours"}]}]))
card = time_card(
    {"employee": "1", "cpf": "52998224725", "daily": [{"day": "2025-04-01"}]}, company="a1"
)
assert rows and card and parse_hours("16,50") == 990
"""


def _heavy_modules_after(code: str, heavy: tuple[str, ...]) -> list[str]:
    check = textwrap.dedent(code) + textwrap.dedent(
        f"""
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
        print("HEAVY=" + ",".join(heavy))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    line = next(line for line in proc.stdout.splitlines() if line.startswith("HEAVY="))
    return [m for m in line[len("HEAVY=") :].split(",") if m]


def test_importing_the_transforms_imports_no_airflow_and_no_pydantic():
    code = "import sys\nimport airflow_provider_ahgora.transforms\n"
    assert _heavy_modules_after(code, ("airflow", "pydantic", "requests")) == []


def test_running_the_transforms_imports_no_pydantic():
    assert _heavy_modules_after(RUN, ("pydantic", "requests")) == []


def test_running_the_transforms_imports_no_airflow():
    assert _heavy_modules_after(RUN, ("airflow",)) == []

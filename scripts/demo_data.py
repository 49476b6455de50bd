"""Write the master data of the sandbox's synthetic company where the example DAGs read it.

    python scripts/demo_data.py --employees 300 --seed 42 --out .demo/data/master_data

The same ``--employees`` and ``--seed`` as the sandbox give the same company, so the files match
what the sandbox serves. Writes:

* ``pontoweb/costcenter.json``, ``pontoweb/subsidiaries.json``: bodies of the PontoWeb pushes;
* ``voors/<resource>.json`` for ``branches``, ``departments``, ``jobRoles``, ``jobFunctions``,
  ``horaries``, ``users``: bodies of the Voors pushes, users leaders first;
* ``employees.csv``: ``registration,cpf`` of every employee (time cards name Voors users by CPF).

In real life these come from your HR system; ``master_data_sync`` and ``monthly_closing`` read them
from the same places.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path


def write_master_data(out: Path, employees: int, seed: int, company: str = "a000101") -> dict[str, int]:
    """Write the files under ``out``; returns the number of records per file."""
    from airflow_provider_ahgora.sandbox.data import SyntheticCompany

    data = SyntheticCompany(employees=employees, seed=seed, company=company)
    counts: dict[str, int] = {}
    for folder, bodies in (("pontoweb", data.pontoweb_master_data()), ("voors", data.voors_master_data())):
        (out / folder).mkdir(parents=True, exist_ok=True)
        for resource, records in bodies.items():
            path = out / folder / f"{resource}.json"
            path.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
            counts[f"{folder}/{resource}.json"] = len(records)
    with (out / "employees.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["registration", "cpf"])
        for employee in data.employees:
            writer.writerow([employee.registration, employee.cpf])
    counts["employees.csv"] = len(data.employees)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--employees", type=int, default=50)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--company", default="a000101")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    counts = write_master_data(args.out, args.employees, args.seed, args.company)
    print(f"master data of {args.employees} employees written to {args.out} ({sum(counts.values())} records)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

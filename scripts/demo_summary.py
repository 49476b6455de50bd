"""Print the short summary of the demo (``scripts/demo.sh``) from what its runs wrote.

Reads ``summary.json`` of the ``monthly_closing`` and ``master_data_sync`` runs (written by their
``summary`` tasks under the storage base) and asks the sandbox's inspection API what it received.
Exits non-zero when the closing did not succeed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any


def _size(path: Path) -> str:
    size = float(path.stat().st_size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


def _lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def _sandbox(url: str, path: str) -> Any:
    try:
        with urllib.request.urlopen(f"{url}/_sandbox/{path}", timeout=5) as answer:  # noqa: S310 (loopback)
            return json.load(answer)
    except OSError:
        return None


def _relative(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="the storage base of the demo")
    parser.add_argument("--date", required=True, help="the logical date of the runs (YYYY-MM-DD)")
    parser.add_argument("--sandbox", default="", help="the sandbox's base URL")
    parser.add_argument("--employees", type=int, default=0)
    parser.add_argument("--log", default="")
    parser.add_argument("--seconds", type=int, default=0)
    args = parser.parse_args(argv)

    folder = args.data / "monthly_closing" / args.date
    summary_file = folder / "summary.json"
    if not summary_file.exists():
        print(f"!! no summary at {_relative(summary_file)}: the closing stopped before its summary task.")
        return 1
    closing = json.loads(summary_file.read_text(encoding="utf-8"))
    master_file = args.data / "master_data_sync" / args.date / "summary.json"
    master = json.loads(master_file.read_text(encoding="utf-8")) if master_file.exists() else {}

    ok = not closing.get("problems")
    width = 34
    print()
    print(
        f"Monthly closing of {closing.get('month')}: {'SUCCESS' if ok else 'FAILED'}"
        f" ({args.employees} employees, {args.seconds} s in all)"
    )
    print(f"  {'records fetched from PontoWeb':<{width}}{closing.get('records_fetched')}")
    print(f"  {'payroll rows written':<{width}}{closing.get('payroll_rows')}")
    pushed = closing.get("timecards_pushed")
    print(f"  {'time cards pushed to Voors':<{width}}{pushed} of {closing.get('timecards')}")
    cards = _sandbox(args.sandbox, "voors/timeCards") if args.sandbox else None
    if isinstance(cards, list):
        print(f"  {'time cards the sandbox holds':<{width}}{len(cards)}")
    if master:
        sent = sum(v.get("records", 0) for k, v in master.items() if k.startswith("push_"))
        print(f"  {'master data records pushed':<{width}}{sent} (cost centers, branches, ..., users)")
    failed = int(closing.get("failed") or 0) + sum(
        int(v.get("failed") or 0) for k, v in master.items() if k.startswith("push_")
    )
    print(f"  {'failures':<{width}}{failed}")
    for problem in closing.get("problems") or []:
        print(f"    - {problem}")
    print(f"  files, in {_relative(folder)}/:")
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            count = f"{_lines(path)} lines" if path.suffix in (".jsonl", ".csv") else ""
            print(f"    {path.name:<32}{_size(path):>10}  {count}")
    if args.log:
        print(f"  Airflow's log: {_relative(Path(args.log))}")
    print()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

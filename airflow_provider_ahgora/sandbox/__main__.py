"""``python -m airflow_provider_ahgora.sandbox``: run the sandbox until Ctrl-C.

Prints the base URL and the ``AIRFLOW_CONN_PONTOWEB_DEFAULT`` / ``AIRFLOW_CONN_VOORS_DEFAULT``
values (JSON form) that point Airflow at it. With ``--companies N`` it serves N companies, each with
its own credentials and limits, and prints every company's two connections
(``AIRFLOW_CONN_PONTOWEB_<COMPANY>``, ``AIRFLOW_CONN_VOORS_<COMPANY>``) and the Variable listing them
(``AIRFLOW_VAR_AHGORA_COMPANIES``), for the many-companies DAG.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
from collections.abc import Sequence
from typing import Any


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number (inf: instant)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_ahgora.sandbox",
        description="A local emulator of Ahgora PontoWeb (at /) and Voors (at /voors) on loopback.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=0, help="port (default 0: a free one, printed at start)")
    parser.add_argument("--employees", type=int, default=50, help="employees of the synthetic company (50)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the synthetic company and ids (42)")
    parser.add_argument("--company", default="a000101", help="PontoWeb company code (a000101)")
    parser.add_argument(
        "--companies",
        type=int,
        default=1,
        help="companies to serve (1): the others are a000102, a000103..., each with its own login, "
        "password, token, employees and limits",
    )
    parser.add_argument(
        "--speed",
        type=_positive_float,
        default=200.0,
        help="employees a reckon processes per second (200; 'inf': done at once)",
    )
    parser.add_argument(
        "--push-speed",
        type=_positive_float,
        default=1000.0,
        help="records a push processes per second (1000)",
    )
    parser.add_argument("--login", default=None, help="PontoWeb service user login (sandbox)")
    parser.add_argument("--password", default=None, help="PontoWeb service user password")
    parser.add_argument("--token", default=None, help="Voors API token")
    parser.add_argument(
        "--forbidden",
        action="append",
        default=[],
        metavar="NAME",
        help="a login or token that gets 403 (repeatable)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="JSON",
        help='a fault, e.g. \'{"route": "GET /reckons/*", "kind": "reset", "on_calls": [3]}\' (repeatable)',
    )
    parser.add_argument(
        "--quirk",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="play another reading of the documents: results_total=days|employees|records, page_cap=50, "
        "status_case=upper|title, empty_as_list=true (repeatable; see docs/sandbox.rst)",
    )
    parser.add_argument(
        "--no-strict-references",
        action="store_true",
        help="do not enforce Voors' ordering rules (leaders and users before the records naming them)",
    )
    parser.add_argument("--pontoweb-conn-id", default="pontoweb_default")
    parser.add_argument("--voors-conn-id", default="voors_default")
    return parser


def _quirk(item: str) -> tuple[str, Any]:
    """``page_cap=50`` -> ``("page_cap", 50)``: the value read as JSON when it is JSON, else as text."""
    name, sep, value = item.partition("=")
    if not sep:
        raise ValueError(f"--quirk takes NAME=VALUE, got {item!r}")
    try:
        return name.strip(), json.loads(value)
    except ValueError:
        return name.strip(), value.strip()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from airflow_provider_ahgora.sandbox.faults import Fault
    from airflow_provider_ahgora.sandbox.server import Sandbox

    options: dict[str, Any] = {}
    for name in ("login", "password", "token"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    try:
        faults = [Fault.from_spec(json.loads(spec)) for spec in args.fault]
        quirks = dict(_quirk(item) for item in args.quirk)
        sandbox = Sandbox(
            employees=args.employees,
            seed=args.seed,
            company=args.company,
            speed=args.speed,
            push_speed=args.push_speed,
            host=args.host,
            port=args.port,
            forbidden=args.forbidden,
            strict_references=not args.no_strict_references,
            quirks=quirks,
            companies=args.companies,
            **options,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for fault in faults:
        sandbox.faults.add(fault)
    sandbox.start()

    def stop(*_: Any) -> None:
        raise KeyboardInterrupt

    try:
        # the handlers are installed inside the try: a signal that lands while the banner is printed
        # (before serve_forever) must stop the sandbox the same clean way
        signal.signal(signal.SIGTERM, stop)
        # Ctrl-C stops it even when SIGINT was ignored by whatever started it (a background job of a
        # script, a test runner): Python only raises KeyboardInterrupt if SIGINT is not ignored at start
        signal.signal(signal.SIGINT, stop)
        env = sandbox.airflow_env(args.pontoweb_conn_id, args.voors_conn_id)
        print(f"Ahgora sandbox listening on {sandbox.base_url}", flush=False)
        print(
            f"  PontoWeb: {sandbox.base_url}/   Voors: {sandbox.voors_url}   control: {sandbox.control_url}"
        )
        if args.companies == 1:
            print(f"  company {args.company}, {args.employees} employees, seed {args.seed}")
        else:
            print(
                f"  {args.companies} companies ({', '.join(list(sandbox.companies)[:3])}...), "
                f"{args.employees} employees each, seeds {args.seed} to {args.seed + args.companies - 1}"
            )
            env.update(sandbox.companies_env())
        print("Point Airflow at it:")
        for name, value in env.items():
            print(f"export {name}={shlex.quote(value)}")
        print("Press Ctrl-C to stop.", flush=True)
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    print("Sandbox stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

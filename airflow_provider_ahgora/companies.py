"""Many companies: the list a DAG closes, and the names of each company's connections.

A payroll bureau closes the month for many client companies, each with its own PontoWeb service
user and its own Voors token. Each company gets **one PontoWeb and one Voors connection**, named
from its PontoWeb company code (``a000101``):

* ``pontoweb_<company>``: e.g. ``pontoweb_a000101`` (``AIRFLOW_CONN_PONTOWEB_A000101``);
* ``voors_<company>``: e.g. ``voors_a000101``.

Why one connection per company rather than one connection holding every company's credentials in
its extras: each company's secret lives, rotates and is revoked on its own, in the Airflow UI or a
secrets backend, in a password field that Airflow masks (extras are one JSON text that every edit
rewrites whole, where one company's typo breaks the others); the connection form's *Test* button
tests that company's credentials; access to a connection can be granted per company; and the hooks
take a connection id as they always do, with no second way of reading credentials.

The list of companies is a JSON list, from the DAG's ``companies`` param or else the Airflow
Variable ``ahgora_companies``: company codes, or objects naming other connections::

    ["a000101", "a000102", {"company": "a000103", "pontoweb_conn_id": "pontoweb_acme"}]

A company, or a PontoWeb connection, listed twice is refused: a run would start two full-base
reckons of one company, two of its three a day per feature (companies may share a Voors connection:
their time cards' ids name the company). Importing this module imports nothing of Airflow.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "COMPANIES_VARIABLE",
    "COMPANY_CODE",
    "Company",
    "check_company",
    "check_reckon_company",
    "parse_companies",
    "pontoweb_conn_id",
    "voors_conn_id",
]

#: The Airflow Variable listing the companies (a JSON list), when the DAG's param does not.
COMPANIES_VARIABLE = "ahgora_companies"
#: A PontoWeb company code, as every reckon answer names it (``a133595``): letters, digits, ``_``,
#: ``.``; no ``-``, so that ids built as ``<company>-<employee>-...`` never mean two things.
COMPANY_CODE = re.compile(r"[A-Za-z0-9_.]+")

_FIELDS = ("company", "pontoweb_conn_id", "voors_conn_id", "employees")


def check_company(code: Any) -> str:
    """``code`` if it is a PontoWeb company code, else :class:`ValueError` naming it."""
    if not isinstance(code, str) or not COMPANY_CODE.fullmatch(code):
        raise ValueError(
            "company must be PontoWeb's company code (letters, digits, '_' or '.', e.g. 'a133595'), "
            f"got {code!r}"
        )
    return code


def pontoweb_conn_id(company: str) -> str:
    """``pontoweb_<company>``: the PontoWeb connection of ``company`` by convention."""
    return f"pontoweb_{check_company(company)}"


def voors_conn_id(company: str) -> str:
    """``voors_<company>``: the Voors connection of ``company`` by convention."""
    return f"voors_{check_company(company)}"


def check_reckon_company(company: str, answered: Any, pontoweb_conn_id: str) -> None:
    """:class:`ValueError` unless the reckon started with ``company``'s connection answered for
    ``company``: PontoWeb knows the company by the credentials, so a connection holding another
    company's credentials reckons that other company. Checked before anything is made of the results
    (payroll rows, time cards), so that one company's data never lands under another's name."""
    if answered != company:
        raise ValueError(
            f"{company}: the reckon of connection {pontoweb_conn_id!r} answered for company "
            f"{answered!r}: its credentials belong to another company; fix the connection (no payroll "
            "row or time card was made of it)"
        )


@dataclass(frozen=True)
class Company:
    """One company of the list: its code, its connections and (optionally) its registration -> CPF
    file (empty: the DAG's default for it)."""

    company: str
    pontoweb_conn_id: str
    voors_conn_id: str
    employees: str = ""

    @classmethod
    def of(cls, item: Any) -> Company:
        """From a company code, or an object with ``company`` and any of ``pontoweb_conn_id``,
        ``voors_conn_id``, ``employees``."""
        if isinstance(item, str):
            return cls(item, pontoweb_conn_id(item), voors_conn_id(item))
        if not isinstance(item, Mapping) or "company" not in item:
            raise ValueError(f'a company is a code or an object with "company", got {item!r}')
        unknown = sorted(set(item) - set(_FIELDS))
        if unknown:
            raise ValueError(
                f"unknown field(s) {', '.join(unknown)} for {item['company']!r}; known: {', '.join(_FIELDS)}"
            )
        code = check_company(item["company"])
        values = {
            "pontoweb_conn_id": item.get("pontoweb_conn_id") or pontoweb_conn_id(code),
            "voors_conn_id": item.get("voors_conn_id") or voors_conn_id(code),
            "employees": item.get("employees") or "",
        }
        for name, value in values.items():
            if not isinstance(value, str):
                raise ValueError(f"{name} of {code!r} must be a string, got {value!r}")
        return cls(code, **values)

    def as_dict(self) -> dict[str, str]:
        """The fields, JSON-ready (an XCom value)."""
        return asdict(self)


def parse_companies(value: Any) -> list[Company]:
    """The companies of a JSON list (text or already parsed), in their order.

    :raises ValueError: for an empty list, an item that is not a company, or a company or a PontoWeb
        connection listed twice (one company would get two full-base reckons in one run).
    """
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except ValueError:
            raise ValueError(f"the companies must be a JSON list, got {value[:80]!r}") from None
    if not isinstance(value, list) or not value:
        raise ValueError(
            'name the companies to close: a JSON list of company codes, e.g. ["a000101", "a000102"], '
            f"in the DAG's companies param or the Variable {COMPANIES_VARIABLE}"
        )
    companies = [Company.of(item) for item in value]
    for what, key in (("company", "company"), ("PontoWeb connection", "pontoweb_conn_id")):
        counts = Counter(getattr(c, key) for c in companies)
        twice = sorted(name for name, n in counts.items() if n > 1)
        if twice:
            raise ValueError(
                f"{what} listed twice: {', '.join(twice)} (a run would start two full-base reckons of "
                "one company, two of its three a day per feature)"
            )
    return companies

"""Asset events (Airflow 3) and dataset events (Airflow 2.11) for what a task committed.

A task says where its events go with ``outlets``, as any Airflow task does, and this module fills
them once the task's work is committed:

* an ``AssetAlias`` (``DatasetAlias`` on 2.11, the same class under its old name; both through
  ``airflow.providers.common.compat.sdk``): **one event per file written**, for an asset whose URI
  is that file (:func:`asset_uri`). Paths are templated per run, so the assets are known only when
  the task runs: an alias is how Airflow takes outlets that are decided at run time. A Dag scheduled
  on the alias runs when any of them gets an event.
* an ``Asset`` (``Dataset``): Airflow emits its event when the task succeeds; the extra is added to
  it here.

The extra holds what was committed (the month, the company, the counts, the path), as flat JSON
scalars: Airflow 2.11 groups alias events by the items of their extra, which must be hashable.

Events are recorded in the task's ``outlet_events`` only after the commit, and Airflow registers
them only when the task instance succeeds: a failed or partial try emits nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "asset_uri",
    "emit_asset_events",
    "emit_delivery_events",
    "event_extra",
    "service_dataset",
    "without_secret",
]


def without_secret(uri: str) -> str:
    """``uri`` without what could be a secret: a password in its authority (``user:pw@``, kept as
    ``user@``, which is how ``ObjectStoragePath`` names a connection id), its query and fragment."""
    from airflow_provider_ahgora.operators._records import _shown

    return _shown(uri).replace(":***@", "@", 1)


def asset_uri(path: Any) -> str:
    """The URI of a file as an asset: ``file:///abs/path`` for a local file, else the object store's
    URI (``s3://bucket/key``) without a connection id or anything secret."""
    text = str(path)
    protocol = str(getattr(path, "protocol", "") or "")
    if protocol in ("", "file", "local") and "://" not in text:
        return Path(text).absolute().as_uri()
    if text.startswith("file://"):
        return Path(text[len("file://") :]).absolute().as_uri()
    parts = urlsplit(without_secret(text))
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def service_dataset(service: str, base_url: str, name: str, company: str | None = None) -> tuple[str, str]:
    """``(namespace, name)`` of what a PontoWeb or Voors server holds: the namespace names the service,
    the host with its base path and, when known, the company; the name is the route, resource or
    reckon. ``("pontoweb://api.ahgora.com.br/a000101", "costcenter")``, ``("voors://api.example.com/
    integration", "timeCards")``. Its asset URI is ``<namespace>/<name>``; OpenLineage datasets use
    the pair as it is (:mod:`airflow_provider_ahgora.lineage`). No credential is ever part of it: the
    base URL holds none (the hooks refuse one), and userinfo, query and fragment are dropped."""
    parts = urlsplit(without_secret(base_url))
    host = parts.netloc.rsplit("@", 1)[-1]
    namespace = f"{service}://{host}{parts.path.rstrip('/')}"
    if company:
        namespace = f"{namespace}/{company}"
    return namespace, name.strip("/")


def event_extra(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` as an event's extra: JSON scalars as they are, anything else as JSON text."""
    extra: dict[str, Any] = {}
    for key, value in values.items():
        if value is None or isinstance(value, str | int | float | bool):
            extra[str(key)] = value
        else:
            extra[str(key)] = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return extra


def emit_asset_events(
    context: Mapping[str, Any], outlets: Iterable[Any] | None, files: Iterable[Any], extra: Mapping[str, Any]
) -> list[str]:
    """Record the events of a task that committed ``files`` in its ``outlet_events`` (see the module
    documentation); returns the URIs given to aliases. Call it only once the files are committed.

    :param outlets: the task's ``outlets``; aliases get one event per file, assets the extra.
    :param files: the files committed, the main one first (its path goes into the assets' extra).
    :param extra: what was committed (flat; see :func:`event_extra`).
    """
    return _emit(context, outlets, [(asset_uri(p), without_secret(str(p))) for p in files], extra)


def emit_delivery_events(
    context: Mapping[str, Any],
    outlets: Iterable[Any] | None,
    destination: Callable[[], tuple[str, str]],
    extra: Mapping[str, Any],
) -> list[str]:
    """Record the events of a task that delivered records to a PontoWeb route or a Voors resource:
    aliases get one event for ``destination()`` (a :func:`service_dataset` pair, whose asset URI is
    ``<namespace>/<name>``), assets the extra. ``destination`` is called only when the task has
    outlets to fill (naming it may need the connection). Call it only once the delivery is settled."""

    def targets() -> list[tuple[str, str | None]]:
        namespace, name = destination()
        return [(f"{namespace}/{name}", None)]

    return _emit(context, outlets, targets, extra)


def _emit(
    context: Mapping[str, Any],
    outlets: Iterable[Any] | None,
    targets: list[tuple[str, str | None]] | Callable[[], list[tuple[str, str | None]]],
    extra: Mapping[str, Any],
) -> list[str]:
    """``targets``: (asset URI, path for the extra or ``None``) of each thing committed, main first
    (or a function that names them, called only when there are outlets to fill)."""
    events = context.get("outlet_events")
    outlets = list(outlets or ())
    if events is None or not outlets:
        return []
    if callable(targets):
        targets = targets()
    from airflow.providers.common.compat.sdk import Asset, AssetAlias

    base = event_extra(extra)
    uris: list[str] = []
    for outlet in outlets:
        if isinstance(outlet, AssetAlias):
            for uri, path in targets:
                events[outlet].add(Asset(uri), extra={**base, "path": path} if path else base)
                uris.append(uri)
        elif isinstance(outlet, Asset):
            main = {"path": targets[0][1]} if targets and targets[0][1] else {}
            events[outlet].extra.update({**base, **main})
    return uris

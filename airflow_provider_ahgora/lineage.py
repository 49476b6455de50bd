"""OpenLineage: what each operator read and wrote, as OpenLineage datasets, with the counts as facets.

When the OpenLineage provider is installed (``apache-airflow-providers-openlineage``, this package's
extra ``openlineage``) and configured, its listener calls each operator's
``get_openlineage_facets_on_complete`` once the task succeeded (``..._on_failure`` when it failed),
and the events it emits carry these datasets. Without it nothing here runs: the operators import
this module inside those methods only, and this module imports the OpenLineage client inside its
functions only, so importing the provider or parsing a Dag costs nothing more.

What each operator reads and writes:

* reckon results: in, the reckon (``pontoweb://<host>/<company>``, ``reckons/<unique>``); out, the
  files written;
* PontoWeb batch push: in, the records file; out, the route (``pontoweb://<host>``, with
  ``/<company>`` when the connection names one; ``costcenter``);
* Voors push and delete: in, the records file; out, the resource (``voors://<host><base path>``,
  ``timeCards``);
* Voors read: in, the resource (as above); out, the file written.

Files are named as OpenLineage names them: a local file in namespace ``file`` by its absolute path,
an object in ``s3://<bucket>`` (``gs://``, ...) by its key. A file or a server is only ever named by
what identifies it: no credential, connection id, query string or fragment, ever (the same naming as
the asset events: :func:`airflow_provider_ahgora.assets.service_dataset`).

The counts: an output carries ``outputStatistics`` (``rowCount``: records written or delivered;
``size``: a file's bytes), an input ``inputStatistics`` (``rowCount``: records read), and the run an
``ahgora`` facet with every count of the task's summary (records, failed, unconfirmed, duplicates,
the total PontoWeb announced, the month, the company). A task that failed has inputs and no
outputs: it committed nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from airflow_provider_ahgora.assets import asset_uri, service_dataset

__all__ = [
    "Dataset",
    "OpenLineageMixin",
    "file_dataset",
    "operator_lineage",
    "pontoweb_dataset",
    "records_dataset",
    "voors_dataset",
]

#: The JSON Schema our ``ahgora`` run facet conforms to: OpenLineage's RunFacet (open to more keys).
RUN_FACET_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunFacet"


class Dataset(NamedTuple):
    """An OpenLineage dataset, before the client's classes are imported: where it is, and its counts.
    (A named tuple: a frozen dataclass costs every Dag file's parse about 1 ms to make.)"""

    namespace: str
    name: str
    rows: int | None = None
    size: int | None = None


def file_dataset(path: Any, rows: int | None = None) -> Dataset:
    """A file, named as OpenLineage names files: ``file`` and its absolute path, or ``s3://bucket``
    and its key. ``size`` is the file's bytes when it can be read cheaply (best effort)."""
    parts = urlsplit(asset_uri(path))
    if parts.scheme == "file":
        namespace, name = "file", parts.path
    else:
        namespace, name = f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")
    size = None
    with contextlib.suppress(Exception):  # a size is a nicety: never fail lineage for it
        size = int(path.stat().st_size) if hasattr(path, "stat") else None
    return Dataset(namespace, name, rows, size)


def pontoweb_dataset(
    base_url: str, name: str, company: str | None = None, rows: int | None = None
) -> Dataset:
    """A route or a reckon of a PontoWeb server (and company)."""
    return Dataset(*service_dataset("pontoweb", base_url, name, company), rows=rows)


def voors_dataset(base_url: str, resource: str, rows: int | None = None) -> Dataset:
    """A resource of a Voors integration API."""
    return Dataset(*service_dataset("voors", base_url, resource), rows=rows)


def operator_lineage(inputs: Iterable[Dataset], outputs: Iterable[Dataset], counts: Mapping[str, Any]) -> Any:
    """The ``OperatorLineage`` the OpenLineage provider expects (imports the client: call it only from
    a ``get_openlineage_facets_on_*`` method)."""
    from airflow.providers.common.compat.openlineage.facet import (
        InputDataset,
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
    )
    from airflow.providers.openlineage.extractors import OperatorLineage

    input_statistics: Any = None
    with contextlib.suppress(ImportError):  # an older client: inputs without statistics
        from openlineage.client.generated.input_statistics_input_dataset import (
            InputStatisticsInputDatasetFacet as input_statistics,
        )

    ins = []
    for d in inputs:
        facets: dict[str, Any] = {}
        if input_statistics is not None and d.rows is not None:
            facets["inputStatistics"] = input_statistics(rowCount=d.rows, size=d.size)
        ins.append(InputDataset(namespace=d.namespace, name=d.name, inputFacets=facets))
    outs = []
    for d in outputs:
        facets = {}
        if d.rows is not None:
            facets["outputStatistics"] = OutputStatisticsOutputDatasetFacet(rowCount=d.rows, size=d.size)
        outs.append(OutputDataset(namespace=d.namespace, name=d.name, outputFacets=facets))
    flat = {k: v for k, v in counts.items() if v is None or isinstance(v, str | int | float | bool)}
    return OperatorLineage(inputs=ins, outputs=outs, run_facets={"ahgora": _run_facet_class()(counts=flat)})


@lru_cache(maxsize=1)
def _run_facet_class() -> Any:
    """The ``ahgora`` run facet: the task's counts (made once, when the client is first needed)."""
    import attrs
    from airflow.providers.common.compat.openlineage.facet import RunFacet

    @attrs.define
    class AhgoraRunFacet(RunFacet):  # type: ignore[misc,valid-type]
        """What an airflow-provider-ahgora task read, wrote or delivered: its counts."""

        counts: dict[str, Any] = attrs.field(factory=dict)

        @staticmethod
        def _get_schema() -> str:
            return RUN_FACET_SCHEMA

    return AhgoraRunFacet


class OpenLineageMixin:
    """The OpenLineage methods of the provider's operators. An operator that succeeded keeps what it
    committed in ``_lineage`` (plain values: building datasets waits for the listener to ask) and
    says which datasets that is in ``_lineage_datasets``; ``_lineage_inputs`` names what it was reading
    when it failed (best effort: a failure to name it leaves the inputs out, never fails the listener).
    """

    _lineage: dict[str, Any] | None = None

    def _lineage_datasets(self, done: dict[str, Any]) -> tuple[list[Dataset], list[Dataset], dict[str, Any]]:
        raise NotImplementedError  # pragma: no cover - each operator says

    def _lineage_inputs(self) -> list[Dataset]:
        return []

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The datasets read and written, with the counts (called by the OpenLineage listener)."""
        done = self._lineage
        if done is None:  # the task did not get to commit anything
            return self.get_openlineage_facets_on_failure(task_instance)
        inputs, outputs, counts = self._lineage_datasets(done)
        return operator_lineage(inputs, outputs, counts)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """A failed try committed nothing: what it was reading, no outputs."""
        try:
            inputs = self._lineage_inputs()
        except Exception:
            inputs = []
        return operator_lineage(inputs, [], {})


def records_dataset(source: Any, rows: int | None = None) -> list[Dataset]:
    """The file a push read its records from (``[]`` for records given inline)."""
    from airflow_provider_ahgora.operators._records import source_path
    from airflow_provider_ahgora.storage import storage_path

    path = source_path(source)
    return [] if path is None else [file_dataset(storage_path(path), rows)]

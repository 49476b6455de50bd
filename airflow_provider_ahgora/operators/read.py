"""Reading Voors: :class:`VoorsReadOperator` writes every record of a listable Voors resource (and the
goals of a period) to storage as JSON Lines.

The engine is :mod:`airflow_provider_ahgora.voors_read`; how a read runs, what a hostile server
cannot make it do and the asset events are in ``docs/operators_voors_read.rst``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, BaseOperator

from airflow_provider_ahgora.exceptions import AhgoraConfigError, AhgoraError
from airflow_provider_ahgora.lineage import OpenLineageMixin
from airflow_provider_ahgora.operators.reckon import _fail
from airflow_provider_ahgora.storage import default_output_path, storage_path
from airflow_provider_ahgora.voors_push import _templated, check_resource_name

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_ahgora.hooks.voors import VoorsHook

__all__ = ["VoorsReadOperator"]

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class VoorsReadOperator(OpenLineageMixin, BaseOperator):
    """Read every record of a Voors resource into a JSON Lines file: departments, job roles, job
    functions, horaries (``GET /path``), or the goals of a period (``GET /goals``, paged).

    What a try does (the engine is :mod:`airflow_provider_ahgora.voors_read`):

    1. **Read page by page.** Goals are read with ``limit``/``skip`` (``page_size`` users a page) until
       a page comes back empty: a short page is not the end (a server may cap ``limit``), a user a
       later page repeats is written once, and a server that ignores ``skip`` (a page made only of
       users already read) fails the try instead of looping. The other resources answer their whole
       list at once. An answer that is not the resource's (an HTML page, an object without the
       records) is malformed: retried by the hook, then the try fails.
    2. **Stream, then commit.** Each record is written exactly as Voors sent it, one JSON line, to a
       hidden temporary object next to the target; memory holds one page. When the last page was
       read the object is renamed onto its final name: a try that fails leaves no final file, and
       the next try reads everything again (a read changes nothing in Voors).
    3. **Report.** Returns (XCom) ``{"resource", "path", "records", "pages", "repeated",
       "period_start", "period_end"}``, and, for each ``AssetAlias`` (``DatasetAlias`` on Airflow 2.11)
       in ``outlets``, an asset event for the file written, with the resource, the period and the
       count in its extra (:mod:`airflow_provider_ahgora.assets`); only after the commit.

    :param resource: the resource (templated): ``departments``, ``jobRoles``, ``jobFunctions``,
        ``horaries`` or ``goals`` (registry key, path or envelope key).
    :param period_start: goals only, required: first day ``YYYY-MM-DD`` (templated).
    :param period_end: goals only, required: last day ``YYYY-MM-DD`` (templated).
    :param filters: goals only: ``userId``, ``email``, ``departmentId``, ``jobRoleId``,
        ``jobFunctionId``, ``leaderId`` (snake_case too) (templated).
    :param page_size: goals only: users per page (``limit``). Default 100.
    :param output_path: where to write (templated): a local path or an ``ObjectStoragePath`` URI; a
        path ending in ``/`` is a directory that gets ``<resource>.jsonl``. Default
        ``$AIRFLOW_HOME/data/ahgora/<dag>/<run>/<task>[/<map>]/<resource>.jsonl``.
    :param voors_conn_id: the Voors connection id (templated).
    :param retry_limit: retries per request on transient errors (``None``: the hook's default, 4).
    """

    template_fields: Sequence[str] = (
        "resource",
        "period_start",
        "period_end",
        "filters",
        "output_path",
        "voors_conn_id",
    )
    ui_color = "#e0e7ff"

    def __init__(
        self,
        *,
        resource: str,
        period_start: str | None = None,
        period_end: str | None = None,
        filters: Mapping[str, Any] | None = None,
        page_size: int = 100,
        output_path: Any = None,
        voors_conn_id: str = "voors_default",
        retry_limit: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_resource_name(self.task_id, resource, "read")
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise AhgoraConfigError(
                f"{self.task_id}: page_size must be a positive integer, got {page_size!r}."
            )
        if retry_limit is not None and (
            isinstance(retry_limit, bool) or not isinstance(retry_limit, int) or retry_limit < 0
        ):
            raise AhgoraConfigError(f"{self.task_id}: retry_limit must be an integer of 0 or more, or None.")
        if filters is not None and not isinstance(filters, Mapping | str):
            raise AhgoraConfigError(f"{self.task_id}: filters must be a dict, got {type(filters).__name__}.")
        if not _templated(resource):
            self._check_period(resource, period_start, period_end, filters)
        self.resource = resource
        self.period_start = period_start
        self.period_end = period_end
        self.filters = filters
        self.page_size = page_size
        self.output_path = output_path
        self.voors_conn_id = voors_conn_id
        self.retry_limit = retry_limit

    def _check_period(self, resource: Any, start: Any, end: Any, filters: Any) -> None:
        """Goals need a period (and may have filters); the other resources take neither. Dates are
        checked once rendered: a template is accepted here."""
        from airflow_provider_ahgora.registry import get_resource

        name = get_resource(resource).name
        if name == "goals":
            for what, value in (("period_start", start), ("period_end", end)):
                if value is None or (isinstance(value, str) and not value.strip()):
                    raise AhgoraConfigError(
                        f"{self.task_id}: reading Voors goals needs {what} (YYYY-MM-DD): goals are read "
                        "for a period."
                    )
                if isinstance(value, str) and not _templated(value) and not _ISO_DATE.match(value.strip()):
                    raise AhgoraConfigError(f"{self.task_id}: {what} must be YYYY-MM-DD, got {value!r}.")
        elif start is not None or end is not None or filters:
            raise AhgoraConfigError(
                f"{self.task_id}: period_start, period_end and filters are for goals; Voors {name} are "
                "read whole."
            )

    def get_hook(self) -> VoorsHook:
        from airflow_provider_ahgora.hooks.voors import VoorsHook

        kwargs: dict[str, Any] = {}
        if self.retry_limit is not None:
            kwargs["retry_limit"] = self.retry_limit
        return VoorsHook(self.voors_conn_id, **kwargs)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_ahgora.assets import emit_asset_events
        from airflow_provider_ahgora.registry import get_resource
        from airflow_provider_ahgora.voors_read import VoorsRead

        try:
            check_resource_name(self.task_id, self.resource, "read")  # as rendered
            res = get_resource(self.resource)
            self._check_period(res.name, self.period_start, self.period_end, self.filters)
        except AhgoraConfigError as exc:
            raise _fail(str(exc), exc) from exc
        goals = res.name == "goals"
        filters = self.filters
        if isinstance(filters, str):  # a template rendered to text
            raise _fail(f"{self.task_id}: filters must render to a dict (use render_template_as_native_obj).")
        target = self.output_path
        if target is None or (isinstance(target, str) and not target.strip()):
            target = default_output_path(context, f"{res.name}.jsonl")
        final = storage_path(target, directory_file=f"{res.name}.jsonl")
        ti = context.get("ti")
        read = VoorsRead(
            res,
            final,
            start_date=str(self.period_start).strip() if goals else None,
            end_date=str(self.period_end).strip() if goals else None,
            filters=filters if goals else None,
            page_size=self.page_size,
            token=f"{getattr(ti, 'try_number', 0)}-{uuid.uuid4().hex[:8]}",
            log=self.log,
        )
        hook = self.get_hook()
        try:
            counts = read.run(hook)
            server = hook.settings.base_url
        except AhgoraConfigError as exc:
            raise _fail(f"{self.task_id}: {exc}", exc) from exc
        except AirflowException as exc:
            if isinstance(exc, AhgoraError):
                raise
            raise AirflowException(f"{self.task_id}: {exc}") from exc
        finally:
            hook.close()
        self.log.info(
            "Wrote %d Voors %s record(s) to %s (%d page(s)%s).",
            counts.records,
            res.name,
            final,
            counts.pages,
            f"; {counts.repeated} repeated by a later page, written once" if counts.repeated else "",
        )
        summary = {
            "resource": res.name,
            "path": str(final),
            "records": counts.records,
            "pages": counts.pages,
            "repeated": counts.repeated,
            "period_start": read.start_date,
            "period_end": read.end_date,
        }
        self._lineage = {"server": server, **summary}
        emit_asset_events(
            context,
            self.outlets,
            [final],
            {
                "resource": res.name,
                "records": counts.records,
                "period_start": read.start_date,
                "period_end": read.end_date,
            },
        )
        return summary

    # -- lineage (OpenLineage provider installed: airflow_provider_ahgora.lineage) -------------------

    def _lineage_datasets(self, done: dict[str, Any]) -> tuple[list[Any], list[Any], dict[str, Any]]:
        from airflow_provider_ahgora.lineage import file_dataset, voors_dataset

        counts = {k: v for k, v in done.items() if k not in ("server", "path")}
        source = voors_dataset(done["server"], done["resource"], done["records"])
        return [source], [file_dataset(storage_path(done["path"]), done["records"])], counts

    def _lineage_inputs(self) -> list[Any]:
        from airflow_provider_ahgora.lineage import voors_dataset
        from airflow_provider_ahgora.registry import get_resource

        hook = self.get_hook()
        try:
            return [voors_dataset(hook.settings.base_url, get_resource(self.resource).name)]
        finally:
            hook.close()

"""Reading a Voors resource into storage as JSON Lines: the engine of
:class:`~airflow_provider_ahgora.operators.read.VoorsReadOperator`.

One try of the read:

1. **Page by page.** Goals (``GET /goals``, a period and filters) are read with ``limit``/``skip``
   until a page comes back empty, through :meth:`VoorsHook.iter_goal_pages
   <airflow_provider_ahgora.hooks.voors.VoorsHook.iter_goal_pages>`, which owns what a hostile
   server cannot make a paged read do (stop at a short page, yield a user twice, loop on a server
   that ignores ``skip``). The other listable resources (departments, job roles, job functions,
   horaries) answer their whole list at once (the documents page no list): one page.
2. **Streamed to a temporary object.** Each record is written exactly as Voors sent it, one JSON line
   each, to a hidden temporary object next to the target, and each page is handed to the
   filesystem before the next one is asked for: memory holds one page.
3. **Commit.** When the last page has been read the temporary object is renamed onto its final name
   (:class:`~airflow_provider_ahgora.storage.AtomicFile`). Any failure before (a malformed page
   after the hook's retries, a server that ignores ``skip``, the worker killed) leaves no final file,
   and the next try reads everything again: a read has no side effect on Voors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_ahgora.storage import AtomicFile

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from airflow_provider_ahgora.hooks.voors import Page, VoorsHook
    from airflow_provider_ahgora.registry import VoorsResource

__all__ = ["ReadCounts", "VoorsRead"]


@dataclass
class ReadCounts:
    """What a read wrote: records, pages asked for (the empty last one included), and records a
    page repeated from an earlier one (written once)."""

    records: int = 0
    pages: int = 0
    repeated: int = 0


class VoorsRead:
    """One try of the read (see the module documentation).

    :param resource: the registry entry of a listable resource.
    :param final: where the JSON Lines file goes.
    :param start_date: goals only: ``YYYY-MM-DD``; ``end_date`` too.
    :param filters: goals only: wire or snake_case names of ``GET /goals`` filters.
    :param page_size: goals only: ``limit`` of each page.
    """

    def __init__(
        self,
        resource: VoorsResource,
        final: ObjectStoragePath,
        *,
        start_date: str | None = None,
        end_date: str | None = None,
        filters: Mapping[str, Any] | None = None,
        page_size: int = 100,
        token: str | None = None,
        log: Any,
    ) -> None:
        self.res = resource
        self.final = final
        self.start_date = start_date
        self.end_date = end_date
        self.filters = dict(filters or {})
        self.page_size = page_size
        self.token = token
        self.log = log
        self.counts = ReadCounts()

    @property
    def paged(self) -> bool:
        return self.res.name == "goals"

    def pages(self, hook: VoorsHook) -> Iterator[Page]:
        """The pages of the answer, raw records each."""
        from airflow_provider_ahgora.hooks.voors import Page

        if self.paged:
            assert self.start_date is not None
            assert self.end_date is not None
            yield from hook.iter_goal_pages(
                self.start_date, self.end_date, self.page_size, raw=True, **self.filters
            )
            self.counts.pages += 1  # the empty page that ended the read
            return
        yield Page(hook.list(self.res, raw=True), 0, 0)

    def run(self, hook: VoorsHook) -> ReadCounts:
        """Read every page into the temporary object, then commit. Raises on any failure with nothing
        committed."""
        counts = self.counts
        target = AtomicFile(self.final, self.token, log=self.log)
        with target as out:
            for page in self.pages(hook):
                counts.pages += 1
                counts.repeated += page.repeated
                for record in page.records:
                    out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
                    out.write("\n")
                counts.records += len(page.records)
                out.flush()  # hand the page to the filesystem: memory holds one page at most
                if page.repeated:
                    self.log.warning(
                        "Voors %s: the page at skip=%d repeated %d record(s) of earlier pages (records were "
                        "added while reading); each was written once.",
                        self.res.name,
                        page.skip,
                        page.repeated,
                    )
                self.log.info(
                    "Voors %s: %d record(s) read in %d page(s).", self.res.name, counts.records, counts.pages
                )
                del page  # do not keep this page alive while the next one is fetched
            target.commit()
        return counts

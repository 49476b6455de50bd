"""Voors (Nela / TalentRH) integration API: request bodies, responses and the resource registry.

The registry (``RESOURCES``) describes every resource of the Voors document: path, envelope key,
operations, identifier, array or single, and the model that validates one record. Adding a
resource is one line there.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_provider_ahgora.models._base import RequestModel

#: Operations a resource may support.
#: upsert: POST creates or edits by the resource's identifier; create: POST creates;
#: update: PUT /{id}; delete: DELETE (by path id or by body); get: GET /{id}; list: GET.
OPERATIONS = frozenset({"upsert", "create", "update", "delete", "get", "list"})


@dataclass(frozen=True)
class VoorsResource:
    """How one Voors resource is spoken to."""

    name: str
    """Registry key, the path without its slash, e.g. ``"departments"``."""
    path: str
    """URL path under the connection's base URL, e.g. ``"/departments"``."""
    envelope: str
    """Key under ``data`` in bodies and answers, e.g. ``"department"``."""
    operations: frozenset[str]
    identifier: str
    """What identifies a record: ``"remoteId"``, ``"cpf"`` or ``"id"`` (Voors' own id)."""
    model: type[RequestModel] | None = None
    """Model that validates one record sent to this resource (None: passed through as given)."""
    array: bool = False
    """The POST body holds an array under ``envelope`` (several records per request)."""
    delete_envelope: str | None = None
    """Envelope key of DELETE bodies when it differs from ``envelope``."""
    delete_array: bool = False
    """DELETE takes an array of ``{remoteId}`` (several records per request)."""
    delete_by_path_id: bool = False
    """DELETE is ``DELETE /path/{id}`` with no body."""

    def supports(self, operation: str) -> bool:
        return operation in self.operations

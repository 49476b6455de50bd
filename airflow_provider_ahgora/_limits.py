"""Documented limits and names of the APIs, importable without the HTTP stack (DAG parsing is cheap)."""

from __future__ import annotations

__all__ = ["MAX_PUSH_BYTES", "MAX_PUSH_RECORDS", "PUSH_RESOURCES"]

#: At most this many records per PontoWeb push request.
MAX_PUSH_RECORDS = 1000
#: At most this many bytes of JSON body per PontoWeb push request (1 MiB).
MAX_PUSH_BYTES = 1024 * 1024
#: The documented PontoWeb push resources (any other push is a custom path starting with "/").
PUSH_RESOURCES = ("costcenter", "subsidiaries", "people", "absences", "users", "paymentDate", "anticipate")

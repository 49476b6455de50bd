"""Deprecated location of the PontoWeb push limits and route names: they live in the registry,
:mod:`airflow_provider_ahgora.registry` (kept so that old imports keep working)."""

from __future__ import annotations

from airflow_provider_ahgora.registry import MAX_PUSH_BYTES, MAX_PUSH_RECORDS, PUSH_RESOURCES

__all__ = ["MAX_PUSH_BYTES", "MAX_PUSH_RECORDS", "PUSH_RESOURCES"]

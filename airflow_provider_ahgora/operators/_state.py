"""Deprecated location of the retry-state stores: they live with the delivery journal in
:mod:`airflow_provider_ahgora.journal` (kept so that old imports keep working)."""

from __future__ import annotations

from airflow_provider_ahgora.journal import (
    VARIABLE_PREFIX,
    RetryState,
    TaskStateStoreState,
    VariableState,
    retry_state,
    variable_key,
)

__all__ = [
    "VARIABLE_PREFIX",
    "RetryState",
    "TaskStateStoreState",
    "VariableState",
    "retry_state",
    "variable_key",
]

"""What unit tests of several folders share."""

from __future__ import annotations

#: Modules of ours that a Dag file may load at parse time: standard library (and our exceptions, which
#: Airflow's own AirflowException already costs) only; no pydantic, no HTTP stack, no models.
PARSE_TIME_MODULES: tuple[str, ...] = (
    "airflow_provider_ahgora.sensors",
    "airflow_provider_ahgora.operators",
    "airflow_provider_ahgora.exceptions",
    "airflow_provider_ahgora.registry",
    "airflow_provider_ahgora.polling",
    "airflow_provider_ahgora.models.vocabulary",
)
#: Package modules with nothing in them but a docstring (importing them costs nothing).
EMPTY_PACKAGES: tuple[str, ...] = ("airflow_provider_ahgora.models",)

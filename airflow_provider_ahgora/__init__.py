"""Apache Airflow provider for Ahgora PontoWeb (time and attendance) and Voors (HR platform).

Importing this package is cheap: it imports nothing of Airflow, makes no network call and looks up
no connection (the scheduler parses DAG files constantly).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "get_provider_info"]

#: Connection form of the ``pontoweb`` type: Airflow 3.2+ renders it from this provider metadata,
#: Airflow 2.11 and 3.1 from the hook's ``get_connection_form_widgets`` / ``get_ui_field_behaviour``
#: (built from the same dicts; docs/airflow_versions.rst).
PONTOWEB_UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port"],
    "relabeling": {"login": "Service user (login)", "password": "Service user password"},
    "placeholders": {
        "host": "https://api.ahgora.com.br (default)",
        "login": "login of a PontoWeb user of type service",
        "password": "password of the service user",
    },
}
PONTOWEB_CONN_FIELDS: dict[str, Any] = {
    "accept_version": {
        "label": "Accept-Version",
        "description": "v1 or v2 (default v2): selects the shape of error answers.",
        "schema": {"type": ["string", "null"], "default": "v2", "enum": ["v1", "v2"]},
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Seconds to wait for each call (default 60).",
        "schema": {"type": ["integer", "null"], "minimum": 1, "default": 60},
    },
    "company": {
        "label": "Company code",
        "description": "Optional, e.g. a000101: an answer for another company is refused.",
        "schema": {"type": ["string", "null"]},
    },
}
VOORS_UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["login", "schema", "port"],
    "relabeling": {"host": "API base URL", "password": "API token"},
    "placeholders": {
        "host": "https://<your Voors integration API base URL>",
        "password": "Voors integration API token",
    },
}
VOORS_CONN_FIELDS: dict[str, Any] = {
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Seconds to wait for each call (default 60).",
        "schema": {"type": ["integer", "null"], "minimum": 1, "default": 60},
    },
}


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow's providers manager (entry point ``apache_airflow_provider``)."""
    integration_pw = "Ahgora PontoWeb"
    integration_voors = "Voors"
    return {
        "package-name": "airflow-provider-ahgora",
        "name": "Ahgora PontoWeb and Voors",
        "description": "Hooks, operators, sensors and triggers for Ahgora PontoWeb (time and attendance: "
        "reckons, pushes, process monitor) and the Voors HR integration API. Airflow 2.11, 3.1, 3.2 and "
        "3.3+ (not 3.0).",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": integration_pw,
                "external-doc-url": "https://www.ahgora.com.br",
                "tags": ["service"],
            },
            {
                "integration-name": integration_voors,
                "external-doc-url": "https://www.voors.com.br",
                "tags": ["service"],
            },
        ],
        "hooks": [
            {
                "integration-name": integration_pw,
                "python-modules": ["airflow_provider_ahgora.hooks.pontoweb"],
            },
            {
                "integration-name": integration_voors,
                "python-modules": ["airflow_provider_ahgora.hooks.voors"],
            },
        ],
        "operators": [
            {
                "integration-name": integration_pw,
                "python-modules": [
                    "airflow_provider_ahgora.operators.reckon",
                    "airflow_provider_ahgora.operators.push",
                ],
            },
            {
                "integration-name": integration_voors,
                "python-modules": [
                    "airflow_provider_ahgora.operators.push",
                    "airflow_provider_ahgora.operators.read",
                ],
            },
        ],
        "sensors": [
            {
                "integration-name": integration_pw,
                "python-modules": [
                    "airflow_provider_ahgora.sensors.reckon",
                    "airflow_provider_ahgora.sensors.process",
                ],
            },
        ],
        "triggers": [
            {
                "integration-name": integration_pw,
                "python-modules": [
                    "airflow_provider_ahgora.triggers.reckon",
                    "airflow_provider_ahgora.triggers.process",
                ],
            },
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_ahgora.hooks.pontoweb.PontoWebHook",
                "hook-name": "Ahgora PontoWeb",
                "connection-type": "pontoweb",
                "ui-field-behaviour": PONTOWEB_UI_FIELD_BEHAVIOUR,
                "conn-fields": PONTOWEB_CONN_FIELDS,
            },
            {
                "hook-class-name": "airflow_provider_ahgora.hooks.voors.VoorsHook",
                "hook-name": "Voors",
                "connection-type": "voors",
                "ui-field-behaviour": VOORS_UI_FIELD_BEHAVIOUR,
                "conn-fields": VOORS_CONN_FIELDS,
            },
        ],
    }

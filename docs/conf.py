"""Sphinx configuration of the airflow-provider-ahgora docs (built with warnings as errors)."""

from __future__ import annotations

import os
import sys
import tempfile

sys.path.insert(0, os.path.abspath(".."))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="ahgora-docs-"))

from airflow_provider_ahgora import __version__  # noqa: E402

# Import every documented module before autodoc touches any class: autodoc's inspection of the
# pydantic base models otherwise leaves an annotation behind that breaks later model classes.
import airflow_provider_ahgora.hooks.pontoweb  # noqa: E402, F401
import airflow_provider_ahgora.hooks.voors  # noqa: E402, F401
import airflow_provider_ahgora.models.pontoweb  # noqa: E402, F401
import airflow_provider_ahgora.models.voors  # noqa: E402, F401
import airflow_provider_ahgora.operators.reckon  # noqa: E402, F401
import airflow_provider_ahgora.operators.push  # noqa: E402, F401
import airflow_provider_ahgora.operators.read  # noqa: E402, F401
import airflow_provider_ahgora.sensors.reckon  # noqa: E402, F401
import airflow_provider_ahgora.sensors.process  # noqa: E402, F401
import airflow_provider_ahgora.triggers.process  # noqa: E402, F401
import airflow_provider_ahgora.transforms.errors  # noqa: E402, F401
import airflow_provider_ahgora.transforms.hours  # noqa: E402, F401
import airflow_provider_ahgora.transforms.payroll  # noqa: E402, F401
import airflow_provider_ahgora.transforms.timecards  # noqa: E402, F401
import airflow_provider_ahgora.triggers.reckon  # noqa: E402, F401

project = "airflow-provider-ahgora"
author = "airflow-provider-ahgora developers"
release = __version__
version = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
master_doc = "index"
exclude_patterns = ["_build"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
# pydantic models carry many generated members; document what users call
autodoc_pydantic_model_show_json = False
nitpicky = False
# "ref.python": builtin `type[...]` in signatures is ambiguous with the models' `type` fields
suppress_warnings = ["myst.header", "ref.python"]
html_theme = "alabaster"
html_title = f"airflow-provider-ahgora {release}"

"""The provider as Airflow sees it: metadata, entry point, providers manager, CLI and connection form.

Runs on every supported Airflow line (2.11, 3.1, 3.2, 3.3). Where the connection form comes from:

* Airflow 3.2+ reads the declarative ``conn-fields`` / ``ui-field-behaviour`` of
  ``get_provider_info()`` (and warns about hooks that only define the classmethods);
* Airflow 2.11 and 3.1 call the hooks' classmethods ``get_connection_form_widgets()`` /
  ``get_ui_field_behaviour()``, which build WTForms fields. 2.11's Flask webserver renders them;
  3.1's providers manager skips them (for every provider) when ``flask_appbuilder`` is missing, and
  its API server (``GET /ui/connections/hook_meta``, what the UI's form asks) calls them with FAB
  mocked out, which loses the enum and the minimum of our fields.

Parts that only exist on some lines are marked for those lines (``tests/conftest.py``).

Subprocesses (Airflow CLI, API server) get their own throw-away ``AIRFLOW_HOME`` and sqlite DB;
in-process tests use a fresh ``ProvidersManager`` so that other tests' state cannot leak in.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

from airflow_provider_ahgora import (
    PONTOWEB_CONN_FIELDS,
    PONTOWEB_UI_FIELD_BEHAVIOUR,
    VOORS_CONN_FIELDS,
    VOORS_UI_FIELD_BEHAVIOUR,
    __version__,
    get_provider_info,
)
from tests.conftest import AIRFLOW_LINE, has_module, since_airflow

PACKAGE = "airflow-provider-ahgora"
HOOKS = {
    "pontoweb": "airflow_provider_ahgora.hooks.pontoweb.PontoWebHook",
    "voors": "airflow_provider_ahgora.hooks.voors.VoorsHook",
}
HOOK_NAMES = {"pontoweb": "Ahgora PontoWeb", "voors": "Voors"}
CONN_ID_ATTRS = {"pontoweb": "pontoweb_conn_id", "voors": "voors_conn_id"}
CONN_FIELDS = {"pontoweb": PONTOWEB_CONN_FIELDS, "voors": VOORS_CONN_FIELDS}
UI_BEHAVIOUR = {"pontoweb": PONTOWEB_UI_FIELD_BEHAVIOUR, "voors": VOORS_UI_FIELD_BEHAVIOUR}
#: Every ``extra__<type>__<field>`` key the connection form must carry.
EXTRA_KEYS = {f"extra__{ct}__{name}" for ct, fields in CONN_FIELDS.items() for name in fields}

only_airflow_3 = pytest.mark.skipif(
    not AIRFLOW_V_3_0_PLUS,
    reason="Airflow 3 only: the API server serves the form (GET /ui/connections/hook_meta)",
)
only_airflow_2 = pytest.mark.skipif(
    AIRFLOW_V_3_0_PLUS, reason="Airflow 2.11 only: the Flask webserver renders the hooks' WTForms widgets"
)
#: Airflow 3.2+ builds the form from provider metadata; older lines from the hooks' WTForms widgets.
FORM_FROM_METADATA = AIRFLOW_LINE >= (3, 2)
#: Whether the providers manager of this line can build the form at all: from metadata (3.2+), or
#: from the hooks' widgets when WTForms and flask_appbuilder are installed (2.11 always; 3.1 with FAB).
MANAGER_BUILDS_FORM = FORM_FROM_METADATA or (has_module("wtforms") and has_module("flask_appbuilder"))
needs_form_in_manager = pytest.mark.skipif(
    not MANAGER_BUILDS_FORM,
    reason="Airflow 3.1 without flask_appbuilder (the FAB provider) registers no provider's form widgets "
    "or field behaviours in its providers manager; its API server still serves our form "
    "(test_api_hook_meta_*)",
)


def _import(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _conn_types(info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {ct["connection-type"]: ct for ct in info["connection-types"]}


def _python_behaviour(conn_type: str) -> dict[str, Any]:
    """``ui-field-behaviour`` (kebab-case, provider info) in the form Airflow keeps and serves."""
    ui = UI_BEHAVIOUR[conn_type]
    return {
        "hidden_fields": list(ui["hidden-fields"]),
        "relabeling": dict(ui["relabeling"]),
        "placeholders": dict(ui["placeholders"]),
    }


# -- fixtures ---------------------------------------------------------------------------------------


def _fresh_singleton(monkeypatch: pytest.MonkeyPatch, cls: type) -> Any:
    """A new instance of one of Airflow's singleton managers; the global one is restored afterwards."""
    monkeypatch.setattr(cls, "_initialized", False)
    if "_instance" in vars(cls):  # Airflow 3: ``_instance`` class attribute
        monkeypatch.setattr(cls, "_instance", None)
    else:  # Airflow 2: ``Singleton`` metaclass
        from airflow.utils.singleton import Singleton

        monkeypatch.delitem(Singleton._instances, cls, raising=False)
    return cls()


@pytest.fixture
def providers_manager(monkeypatch: pytest.MonkeyPatch) -> Any:
    from airflow.providers_manager import ProvidersManager

    return _fresh_singleton(monkeypatch, ProvidersManager)


@pytest.fixture
def wtforms_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``wtforms`` & co. importable, as with the FAB provider installed.

    Airflow 3's providers manager only reaches the deprecated ``get_connection_form_widgets`` path
    after ``from wtforms import ...`` succeeds; without these modules the "no deprecation warning"
    check would pass vacuously. Missing modules are stubbed exactly like Airflow's own
    ``HookMetaService._get_hooks_with_mocked_fab`` does.
    """
    for name in (
        "wtforms",
        "wtforms.validators",
        "flask_babel",
        "flask_appbuilder",
        "flask_appbuilder.fieldwidgets",
    ):
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found or isinstance(sys.modules.get(name.split(".")[0]), mock.MagicMock):
            monkeypatch.setitem(sys.modules, name, mock.MagicMock(name=name))


def _subprocess_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        PYTHONWARNINGS="ignore",
        **extra,
    )
    return env


def _run(args: list[str], env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, (
        f"{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc


def _json_array(stdout: str) -> list[dict[str, Any]]:
    """The JSON array a CLI ``--output json`` printed (skipping any log line before it)."""
    start = stdout.index("[")
    value, _ = json.JSONDecoder().raw_decode(stdout[start:])
    assert isinstance(value, list)
    return value


@pytest.fixture(scope="module")
def cli_output(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """``airflow providers hooks|widgets --output json`` of the venv's Airflow, run concurrently.

    Neither command needs a metadata DB on either line, so none is created.
    """
    home = tmp_path_factory.mktemp("airflow_home_cli")
    env = _subprocess_env(home)
    procs = {
        cmd: subprocess.Popen(
            [sys.executable, "-m", "airflow", "providers", cmd, "--output", "json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for cmd in ("hooks", "widgets")
    }
    out = {}
    for cmd, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=240)
        assert proc.returncode == 0, f"airflow providers {cmd} failed:\n{stdout[-3000:]}\n{stderr[-3000:]}"
        out[cmd] = _json_array(stdout)
    return out


_HOOK_META_SCRIPT = """
import json
import sys

from fastapi.testclient import TestClient

from airflow.api_fastapi.app import create_app

app = create_app(apps="core")
with TestClient(app) as client:
    # 3.3 lets every request in with simple_auth_manager_all_admins; 3.1 and 3.2 want the token that
    # the same setting hands out at GET /auth/token (3.3 serves it too)
    token = client.get("/auth/token")
    assert token.status_code in (200, 201), (token.status_code, token.text)
    headers = {"Authorization": "Bearer " + token.json()["access_token"]}
    resp = client.get("/ui/connections/hook_meta", headers=headers)
with open(sys.argv[1], "w") as out:
    json.dump({"status": resp.status_code, "body": resp.json()}, out)
"""


@pytest.fixture(scope="module")
def hook_meta(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The answer of the Airflow 3 API server to the call the UI's connection form makes.

    ``GET /ui/connections/hook_meta`` (``airflow.api_fastapi.core_api.routes.ui.connections``) on the
    app built by ``airflow.api_fastapi.app.create_app``, in a subprocess with its own AIRFLOW_HOME and
    a sqlite DB migrated by ``airflow db migrate`` (token validation looks up revoked tokens in it).
    Authentication goes through the SimpleAuthManager with ``simple_auth_manager_all_admins``, with
    the token it hands out at ``GET /auth/token``.
    """
    home = tmp_path_factory.mktemp("airflow_home_api")
    env = _subprocess_env(
        home,
        AIRFLOW__CORE__AUTH_MANAGER="airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        AIRFLOW__API_AUTH__JWT_SECRET="test-secret-" + "x" * 64,
    )
    _run([sys.executable, "-m", "airflow", "db", "migrate"], env)
    result = home / "hook_meta.json"
    _run([sys.executable, "-c", textwrap.dedent(_HOOK_META_SCRIPT), str(result)], env)
    answer = json.loads(result.read_text())
    assert answer["status"] == 200, answer
    assert isinstance(answer["body"], list)
    return answer["body"]


# -- 1. get_provider_info() -----------------------------------------------------------------------


def test_provider_info_identity():
    info = get_provider_info()
    assert info["package-name"] == PACKAGE
    assert info["name"]
    assert isinstance(info["name"], str)
    assert "PontoWeb" in info["description"]
    assert "Voors" in info["description"]
    assert info["versions"] == [__version__]
    assert info["versions"][0] == importlib.metadata.version(PACKAGE)


@pytest.mark.parametrize("conn_type", ["pontoweb", "voors"])
def test_connection_type_points_at_importable_hook(conn_type: str):
    entry = _conn_types(get_provider_info())[conn_type]
    assert entry["hook-class-name"] == HOOKS[conn_type]
    hook_class = _import(entry["hook-class-name"])
    assert hook_class.conn_type == conn_type
    assert hook_class.hook_name == entry["hook-name"] == HOOK_NAMES[conn_type]
    assert hook_class.conn_name_attr == CONN_ID_ATTRS[conn_type]
    assert hook_class.default_conn_name == f"{conn_type}_default"
    # the hook's module is listed among the provider's hook modules
    modules = [m for h in get_provider_info()["hooks"] for m in h["python-modules"]]
    assert hook_class.__module__ in modules


def test_connection_types_are_exactly_ours():
    assert set(_conn_types(get_provider_info())) == {"pontoweb", "voors"}


def test_pontoweb_conn_fields():
    fields = _conn_types(get_provider_info())["pontoweb"]["conn-fields"]
    assert set(fields) == {"accept_version", "timeout", "company"}
    accept = fields["accept_version"]["schema"]
    assert accept["default"] == "v2"
    assert accept["enum"] == ["v1", "v2"]
    assert "string" in accept["type"]
    timeout = fields["timeout"]["schema"]
    assert timeout["default"] == 60
    assert "integer" in timeout["type"]
    assert timeout["minimum"] == 1
    assert "string" in fields["company"]["schema"]["type"]
    assert "default" not in fields["company"]["schema"]  # optional, no default
    for field in fields.values():
        assert field["label"]
        assert field["description"]
        assert "null" in field["schema"]["type"]  # every extra may be left blank


def test_voors_conn_fields():
    fields = _conn_types(get_provider_info())["voors"]["conn-fields"]
    assert set(fields) == {"timeout"}
    assert fields["timeout"]["schema"]["default"] == 60
    assert fields["timeout"]["schema"]["type"] == ["integer", "null"]
    assert fields["timeout"]["label"] == "Timeout (seconds)"


def test_pontoweb_ui_field_behaviour():
    ui = _conn_types(get_provider_info())["pontoweb"]["ui-field-behaviour"]
    assert sorted(ui["hidden-fields"]) == ["port", "schema"]
    assert set(ui["relabeling"]) == {"login", "password"}
    assert all(ui["relabeling"].values())
    assert "login" not in ui["hidden-fields"]
    assert "password" not in ui["hidden-fields"]


def test_voors_ui_field_behaviour():
    ui = _conn_types(get_provider_info())["voors"]["ui-field-behaviour"]
    assert sorted(ui["hidden-fields"]) == ["login", "port", "schema"]
    assert set(ui["relabeling"]) == {"host", "password"}
    assert ui["relabeling"]["password"] == "API token"
    assert ui["relabeling"]["host"] == "API base URL"


def test_conn_field_schemas_are_valid_and_match_the_hooks():
    """Each conn-field schema is valid JSON Schema, its default validates, and the hooks agree."""
    import jsonschema

    from airflow_provider_ahgora.hooks import pontoweb, voors

    for conn_type, fields in CONN_FIELDS.items():
        for name, field in fields.items():
            schema = field["schema"]
            jsonschema.validators.validator_for(schema).check_schema(schema)
            if "enum" not in schema:  # like Airflow's own (smtp auth_type), an enum lists no null
                jsonschema.validate(None, schema)  # blank is allowed
            if "default" in schema:
                jsonschema.validate(schema["default"], schema)
            if name == "timeout":
                with pytest.raises(jsonschema.ValidationError):
                    jsonschema.validate(0, schema)
                module = pontoweb if conn_type == "pontoweb" else voors
                assert schema["default"] == module.DEFAULT_TIMEOUT
    accept = PONTOWEB_CONN_FIELDS["accept_version"]["schema"]
    assert tuple(accept["enum"]) == pontoweb.ACCEPT_VERSIONS
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate("v3", accept)


def test_provider_info_passes_airflow_schema():
    """The running Airflow's own provider_info.schema.json accepts our metadata (else it is rejected)."""
    from airflow.providers_manager import _create_provider_info_schema_validator

    _create_provider_info_schema_validator().validate(get_provider_info())


@pytest.mark.parametrize("conn_type", ["pontoweb", "voors"])
def test_ui_field_behaviour_passes_airflow_schema(conn_type: str):
    """Both forms of the field behaviour validate against Airflow's customized-form-fields schema."""
    from airflow.providers_manager import _create_customized_form_field_behaviours_schema_validator

    validator = _create_customized_form_field_behaviours_schema_validator()
    validator.validate(_python_behaviour(conn_type))
    validator.validate(_import(HOOKS[conn_type]).get_ui_field_behaviour())


@pytest.mark.parametrize("conn_type", ["pontoweb", "voors"])
def test_hook_ui_field_behaviour_matches_provider_info(conn_type: str):
    """Airflow 2.11 reads the hook classmethod, Airflow 3 the provider info: both must say the same."""
    assert _import(HOOKS[conn_type]).get_ui_field_behaviour() == _python_behaviour(conn_type)


# -- 2. entry point -------------------------------------------------------------------------------


def test_entry_point_resolves_to_get_provider_info():
    dist = importlib.metadata.distribution(PACKAGE)
    eps = [ep for ep in dist.entry_points if ep.group == "apache_airflow_provider"]
    assert len(eps) == 1
    assert eps[0].value == "airflow_provider_ahgora:get_provider_info"
    assert eps[0].load() is get_provider_info
    # and it is what Airflow finds when it scans all installed distributions
    found = [
        ep
        for ep in importlib.metadata.entry_points(group="apache_airflow_provider")
        if ep.dist is not None and ep.dist.name == PACKAGE
    ]
    assert [ep.load() for ep in found] == [get_provider_info]


# -- 3. ProvidersManager (in process) ---------------------------------------------------------------


def test_providers_manager_registers_provider(providers_manager: Any):
    provider = providers_manager.providers[PACKAGE]
    assert provider.version == __version__
    assert provider.data["package-name"] == PACKAGE
    assert _conn_types(provider.data).keys() == {"pontoweb", "voors"}


def _hooks_mapping(providers_manager: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    try:
        # Airflow 3.2+: ProvidersManager.hooks is deprecated in favour of the task-sdk runtime manager
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime
    except ImportError:  # Airflow 2.11 and 3.1: the providers manager itself
        return providers_manager.hooks
    return _fresh_singleton(monkeypatch, ProvidersManagerTaskRuntime).hooks


@pytest.mark.parametrize("conn_type", ["pontoweb", "voors"])
def test_providers_manager_hooks(providers_manager: Any, monkeypatch: pytest.MonkeyPatch, conn_type: str):
    hook_info = _hooks_mapping(providers_manager, monkeypatch)[conn_type]
    assert hook_info is not None, "Airflow could not import the hook (see the log)"
    assert hook_info.hook_class_name == HOOKS[conn_type]
    assert hook_info.package_name == PACKAGE
    assert hook_info.connection_type == conn_type
    assert hook_info.hook_name == HOOK_NAMES[conn_type]
    assert hook_info.connection_id_attribute_name == CONN_ID_ATTRS[conn_type]
    assert hook_info.connection_testable is True  # the UI enables the Test button


@needs_form_in_manager
@pytest.mark.parametrize("conn_type", ["pontoweb", "voors"])
def test_providers_manager_field_behaviours(providers_manager: Any, conn_type: str):
    assert providers_manager.field_behaviours[conn_type] == _python_behaviour(conn_type)


@needs_form_in_manager
def test_providers_manager_connection_form_widgets_keys(providers_manager: Any):
    widgets = providers_manager.connection_form_widgets
    ours = {k for k, w in widgets.items() if w.package_name == PACKAGE}
    assert ours == EXTRA_KEYS
    for key in EXTRA_KEYS:
        conn_type, field_name = key.split("__")[1:]
        assert widgets[key].field_name == field_name
        assert widgets[key].is_sensitive is False
        assert widgets[key].hook_class_name in (HOOKS[conn_type], HOOKS[conn_type].rpartition(".")[2])


def _widget_summary(field: Any) -> dict[str, Any]:
    """Label, default, description and type of one form widget, whichever way Airflow built it."""
    if isinstance(field, dict):  # Airflow 3: from conn-fields, already in the API's param format
        return {
            "label": field["schema"]["title"],
            "default": field["value"],
            "description": field["description"],
            "type": field["schema"]["type"][0],
            "enum": field["schema"].get("enum"),
        }
    # Airflow 2: a WTForms UnboundField from the hook's get_connection_form_widgets()
    enum = [v.values for v in field.kwargs.get("validators", []) if type(v).__name__ == "AnyOf"]
    return {
        "label": str(field.args[0]),
        "default": field.kwargs.get("default"),
        "description": field.kwargs.get("description"),
        "type": {"StringField": "string", "IntegerField": "integer"}[field.field_class.__name__],
        "enum": list(enum[0]) if enum else None,
    }


def _expected_summary(field_def: dict[str, Any]) -> dict[str, Any]:
    schema = field_def["schema"]
    return {
        "label": field_def["label"],
        "default": schema.get("default"),
        "description": field_def["description"],
        "type": next(t for t in schema["type"] if t != "null"),
        "enum": schema.get("enum"),
    }


@needs_form_in_manager
def test_providers_manager_connection_form_widgets_content(providers_manager: Any):
    widgets = providers_manager.connection_form_widgets
    for conn_type, fields in CONN_FIELDS.items():
        for name, field_def in fields.items():
            got = _widget_summary(widgets[f"extra__{conn_type}__{name}"].field)
            assert got == _expected_summary(field_def), (conn_type, name)


@since_airflow((3, 3), "ProvidersManager._connection_form_widgets_from_metadata came in 3.3")
def test_airflow3_widgets_come_from_provider_metadata(providers_manager: Any):
    """On Airflow 3.3+ the form comes from conn-fields without importing the hook classes."""
    widgets = providers_manager._connection_form_widgets_from_metadata
    for key in EXTRA_KEYS:
        conn_type = key.split("__")[1]
        assert isinstance(widgets[key].field, dict)
        assert widgets[key].hook_class_name == HOOKS[conn_type]
    metas = {m.connection_type: m for m in providers_manager.iter_connection_type_hook_ui_metadata()}
    for conn_type, hook_class_name in HOOKS.items():
        assert metas[conn_type].hook_class_name == hook_class_name
        assert metas[conn_type].hook_name == HOOK_NAMES[conn_type]
        assert metas[conn_type].field_behaviour == _python_behaviour(conn_type)


def _our_deprecation_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [
        str(w.message)
        for w in caught
        if issubclass(w.category, DeprecationWarning)
        and ("airflow_provider_ahgora" in str(w.message) or "airflow_provider_ahgora" in w.filename)
    ]


@pytest.mark.skipif(
    AIRFLOW_LINE == (3, 1) and not MANAGER_BUILDS_FORM,
    reason="Airflow 3.1 deprecates nothing here, and without flask_appbuilder it refuses the stubbed "
    "WTForms fields (it checks their classes)",
)
@pytest.mark.usefixtures("wtforms_importable")
def test_no_deprecation_warning_for_our_hooks(providers_manager: Any):
    """Registering our hooks warns about nothing.

    On Airflow 3.2+ this is the point of declaring conn-fields / ui-field-behaviour: it keeps the
    manager off the deprecated get_connection_form_widgets / get_ui_field_behaviour path.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        widgets = providers_manager.connection_form_widgets  # imports every hook
        behaviours = providers_manager.field_behaviours
    # the hooks were really imported and registered inside the block
    for conn_type, hook_class_name in HOOKS.items():
        assert providers_manager._hooks_lazy_dict[conn_type].hook_class_name == hook_class_name
    assert widgets.keys() >= EXTRA_KEYS
    assert {"pontoweb", "voors"} <= behaviours.keys()
    assert _our_deprecation_warnings(caught) == []


@since_airflow((3, 2), "3.2 deprecated the hook-defined form in favour of conn-fields")
@pytest.mark.usefixtures("wtforms_importable")
def test_airflow3_deprecation_check_is_not_vacuous(providers_manager: Any):
    """Control: without the declared metadata the same path does warn about our hook."""
    providers_manager.initialize_providers_list()
    info = providers_manager._provider_dict[PACKAGE]
    data = copy.deepcopy(info.data)
    for entry in data["connection-types"]:
        entry.pop("conn-fields", None)
        entry.pop("ui-field-behaviour", None)
    providers_manager._provider_dict[PACKAGE] = dataclasses.replace(info, data=data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _ = providers_manager.connection_form_widgets
    ours = _our_deprecation_warnings(caught)
    assert any("PontoWebHook" in m and "get_connection_form_widgets" in m for m in ours), ours


# -- 4. airflow providers CLI ---------------------------------------------------------------------


def test_cli_providers_hooks(cli_output: dict[str, list[dict[str, Any]]]):
    rows = {row["connection_type"]: row for row in cli_output["hooks"]}
    for conn_type, hook_class_name in HOOKS.items():
        row = rows[conn_type]
        assert row["class"] == hook_class_name
        assert row["package_name"] == PACKAGE
        assert row["hook_name"] == HOOK_NAMES[conn_type]
        assert row["conn_id_attribute_name"] == CONN_ID_ATTRS[conn_type]


@needs_form_in_manager
def test_cli_providers_widgets(cli_output: dict[str, list[dict[str, Any]]]):
    rows = {row["connection_parameter_name"]: row for row in cli_output["widgets"]}
    ours = {k for k, row in rows.items() if row["package_name"] == PACKAGE}
    assert ours == EXTRA_KEYS
    for key in EXTRA_KEYS:
        conn_type, name = key.split("__")[1:]
        expected_type = next(t for t in CONN_FIELDS[conn_type][name]["schema"]["type"] if t != "null")
        if FORM_FROM_METADATA:  # from conn-fields: JSON-schema types and the full hook path
            assert rows[key]["class"] == HOOKS[conn_type]
            assert rows[key]["field_type"] == [expected_type, "null"]
        else:  # from the hook's WTForms widgets
            assert rows[key]["class"] == HOOKS[conn_type].rpartition(".")[2]
            assert (
                rows[key]["field_type"] == {"string": "StringField", "integer": "IntegerField"}[expected_type]
            )


# -- 5. Airflow 3 API server: the connection form's metadata ---------------------------------------


def _meta_by_type(hook_meta: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    by_type: dict[str, dict[str, Any]] = {}
    for entry in hook_meta:
        assert entry["connection_type"] not in by_type, f"duplicate {entry['connection_type']}"
        by_type[entry["connection_type"]] = entry
    return by_type


@only_airflow_3
@pytest.mark.parametrize("conn_type", ["pontoweb", "voors"])
def test_api_hook_meta_lists_our_types(hook_meta: list[dict[str, Any]], conn_type: str):
    entry = _meta_by_type(hook_meta)[conn_type]
    assert entry["hook_class_name"] == HOOKS[conn_type]
    assert entry["hook_name"] == HOOK_NAMES[conn_type]


def _served_schema(field_def: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of one extra field as the line's API server serves it to the UI's form."""
    if FORM_FROM_METADATA:  # 3.2+: conn-fields as declared, the label as title
        return {**field_def["schema"], "title": field_def["label"]}
    # 3.1: built from our WTForms widgets with FAB mocked out, which keeps the field's type and label
    # only: the enum (AnyOf) and the minimum (NumberRange) are not carried; the hook checks both
    base_type = next(t for t in field_def["schema"]["type"] if t != "null")
    return {"title": field_def["label"], "type": [base_type, "null"]}


@only_airflow_3
@pytest.mark.parametrize("conn_type", ["pontoweb", "voors"])
def test_api_hook_meta_extra_fields(hook_meta: list[dict[str, Any]], conn_type: str):
    extra = _meta_by_type(hook_meta)[conn_type]["extra_fields"]
    assert extra is not None
    assert list(extra) == list(CONN_FIELDS[conn_type])  # same fields, same order
    for name, field_def in CONN_FIELDS[conn_type].items():
        got = extra[name]
        assert got["value"] == field_def["schema"].get("default")
        assert got["description"] == field_def["description"]
        assert got["schema"] == _served_schema(field_def)


@only_airflow_3
def test_api_hook_meta_pontoweb_values(hook_meta: list[dict[str, Any]]):
    extra = _meta_by_type(hook_meta)["pontoweb"]["extra_fields"]
    assert set(extra) == {"accept_version", "timeout", "company"}
    assert extra["accept_version"]["value"] == "v2"
    if FORM_FROM_METADATA:  # 3.1 serves a free text field (see _served_schema)
        assert extra["accept_version"]["schema"]["enum"] == ["v1", "v2"]
    assert extra["timeout"]["value"] == 60
    assert extra["timeout"]["schema"]["type"] == ["integer", "null"]
    assert extra["company"]["value"] is None
    assert set(_meta_by_type(hook_meta)["voors"]["extra_fields"]) == {"timeout"}


@only_airflow_3
@pytest.mark.parametrize("conn_type", ["pontoweb", "voors"])
def test_api_hook_meta_standard_fields(hook_meta: list[dict[str, Any]], conn_type: str):
    std = _meta_by_type(hook_meta)[conn_type]["standard_fields"]
    ui = UI_BEHAVIOUR[conn_type]
    api_name = {"schema": "url_schema"}  # the API calls the schema field url_schema
    for field in ("schema", "host", "port", "login", "password"):
        got = std[api_name.get(field, field)]
        expected_title = ui["relabeling"].get(field)
        expected_placeholder = ui["placeholders"].get(field)
        hidden = field in ui["hidden-fields"]
        if not (hidden or expected_title or expected_placeholder):
            assert got is None, field
            continue
        assert got == {"hidden": hidden, "title": expected_title, "placeholder": expected_placeholder}, field


@only_airflow_3
def test_api_hook_meta_explicit_behaviour(hook_meta: list[dict[str, Any]]):
    pw = _meta_by_type(hook_meta)["pontoweb"]["standard_fields"]
    assert pw["url_schema"]["hidden"] is True
    assert pw["port"]["hidden"] is True
    assert pw["login"]["hidden"] is False
    assert pw["login"]["title"] == "Service user (login)"
    assert pw["password"]["title"] == "Service user password"
    voors = _meta_by_type(hook_meta)["voors"]["standard_fields"]
    assert voors["login"]["hidden"] is True
    assert voors["url_schema"]["hidden"] is True
    assert voors["port"]["hidden"] is True
    assert voors["host"]["title"] == "API base URL"
    assert voors["password"]["title"] == "API token"


# -- 6. Airflow 2.11: hook widgets and the Flask webserver's connection form ------------------------


@only_airflow_2
@pytest.mark.parametrize("conn_type", ["pontoweb", "voors"])
def test_hook_connection_form_widgets(conn_type: str):
    from wtforms import IntegerField, StringField
    from wtforms.fields.core import UnboundField

    widgets = _import(HOOKS[conn_type]).get_connection_form_widgets()
    assert list(widgets) == list(CONN_FIELDS[conn_type])
    for name, field_def in CONN_FIELDS[conn_type].items():
        field = widgets[name]
        assert isinstance(field, UnboundField)
        assert field.field_class in (StringField, IntegerField)
        assert _widget_summary(field) == _expected_summary(field_def)
        minimum = field_def["schema"].get("minimum")
        if minimum is not None:
            ranges = [v for v in field.kwargs["validators"] if type(v).__name__ == "NumberRange"]
            assert [r.min for r in ranges] == [minimum]


def _flask_app() -> Any:
    from flask import Flask
    from flask_babel import Babel

    app = Flask(__name__)
    app.config.update(WTF_CSRF_ENABLED=False, SECRET_KEY="test")
    Babel(app)
    return app


@only_airflow_2
def test_webserver_connection_form_carries_our_fields(providers_manager: Any):
    from airflow.www.forms import create_connection_form_class
    from werkzeug.datastructures import MultiDict

    form_class = create_connection_form_class.__wrapped__()  # uncached: uses the fresh manager
    with _flask_app().test_request_context(method="POST"):
        form = form_class(
            formdata=MultiDict(
                {
                    "conn_id": "pw",
                    "conn_type": "pontoweb",
                    "extra__pontoweb__accept_version": "v3",
                    "extra__pontoweb__timeout": "0",
                }
            )
        )
        choices = dict(form.conn_type.choices)
        assert choices["pontoweb"] == "Ahgora PontoWeb"
        assert choices["voors"] == "Voors"
        for key in EXTRA_KEYS:
            assert key in form._fields, key
        assert str(form["extra__pontoweb__accept_version"].label.text) == "Accept-Version"
        assert form["extra__pontoweb__accept_version"].default == "v2"
        assert form["extra__voors__timeout"].default == 60
        assert 'name="extra__pontoweb__company"' in str(form["extra__pontoweb__company"]())
        # the form's validators enforce what conn-fields declares (enum, minimum)
        assert not form.validate()
        assert set(form.errors) == {"extra__pontoweb__accept_version", "extra__pontoweb__timeout"}


@only_airflow_2
def test_webserver_form_saves_extras_the_hook_reads(providers_manager: Any, monkeypatch: pytest.MonkeyPatch):
    """Webserver form -> ConnectionModelView.process_form -> extra JSON -> hook settings."""
    from types import SimpleNamespace

    from airflow.www.forms import create_connection_form_class
    from airflow.www.views import ConnectionFormWidget, ConnectionModelView
    from werkzeug.datastructures import MultiDict

    from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
    from airflow_provider_ahgora.hooks.voors import VoorsHook

    # what conn_create.html / conn_edit.html render for the form's JavaScript
    behaviours = json.loads(ConnectionFormWidget.field_behaviours.func(None))
    assert behaviours["pontoweb"] == _python_behaviour("pontoweb")
    assert behaviours["voors"] == _python_behaviour("voors")
    testable = ConnectionFormWidget.testable_connection_types.func(None)
    assert {"pontoweb", "voors"} <= set(testable)

    view = SimpleNamespace(
        _iter_extra_field_names_and_sensitivity=lambda: (
            ConnectionModelView._iter_extra_field_names_and_sensitivity(None)
        )
    )
    form_class = create_connection_form_class.__wrapped__()
    saved: dict[str, Any] = {}
    posts = {
        "pontoweb": {
            "conn_id": "pw_form",
            "conn_type": "pontoweb",
            "login": "svc",
            "password": "secret",
            "extra__pontoweb__accept_version": "v1",
            "extra__pontoweb__timeout": "30",
            "extra__pontoweb__company": "a000101",
        },
        "voors": {
            "conn_id": "voors_form",
            "conn_type": "voors",
            "host": "https://voors.example.com/api",
            "password": "token",
            "extra__voors__timeout": "",  # left blank: the hook's default applies
        },
    }
    with _flask_app().test_request_context(method="POST"):
        for conn_type, data in posts.items():
            form = form_class(formdata=MultiDict(data))
            assert form.validate(), form.errors
            ConnectionModelView.process_form(view, form, True)
            saved[conn_type] = json.loads(form.extra.data)
    assert saved["pontoweb"] == {"accept_version": "v1", "timeout": 30, "company": "a000101"}
    assert saved["voors"].get("timeout") in (None, "")

    for conn_type, data in posts.items():
        uri = {
            "conn_type": conn_type,
            "login": data.get("login"),
            "password": data["password"],
            "host": data.get("host"),
            "extra": saved[conn_type],
        }
        monkeypatch.setenv(f"AIRFLOW_CONN_{data['conn_id'].upper()}", json.dumps(uri))
    pw = PontoWebHook("pw_form").settings
    assert pw.headers["Accept-Version"] == "v1"
    assert pw.timeout == 30
    assert pw.extras["company"] == "a000101"
    assert VoorsHook("voors_form").settings.timeout == 60

#!/usr/bin/env bash
# The release check, run by scripts/test.sh (its "package" job) or on its own: what a user installs
# is what we tested.
#
# 1. Build the sdist, then the wheel *from the sdist* (`uv build`): the sdist must hold all a build
#    needs.
# 2. Check the metadata (`twine check --strict`: fields, the readme renders) and the contents: the
#    wheel holds the package only (and its license); the sdist holds every file git tracks under
#    the package, tests/, example_dags/, scripts/ and docs/ (what running the tests needs), the
#    readme, changelog and license; the version is the one of airflow_provider_ahgora/__init__.py;
#    the readme has no relative link (it would be broken on the package index).
# 3. For Airflow 3.3+ and 2.11: a fresh environment, the wheel installed (not editable, not this
#    checkout), and there
#    * `airflow providers get airflow-provider-ahgora`: Airflow registers the provider, its version;
#    * `airflow providers hooks`: both connection types, pontoweb and voors, with our hooks;
#    * `airflow dags list` and `list-import-errors` (parsing here, `--local` on Airflow 3) on the
#      sdist's example_dags/: every example DAG parses, none fails to import;
#    * on the first line only (the sdist is the same for all), the sdist's tests against the installed
#      wheel (the sdist's copy of the package is removed first): every test collected (each test
#      module and conftest imports), the import-cost tests run.
#
#   bash scripts/package.sh            # both lines
#   PACKAGE_LINES=3 bash scripts/package.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_env.sh
PACKAGE_LINES=${PACKAGE_LINES:-"3 2.11"}
unset PYTHONPATH  # nothing of this checkout may be imported: only the built wheel
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
started=$SECONDS
step() { echo "== package: $* ($((SECONDS - started)) s)"; }
fail() { echo "== package: FAILED: $*" >&2; exit 1; }

step "building the sdist, then the wheel from it"
"$UV" build -q --out-dir "$WORK/dist" >/dev/null
sdist=$(ls "$WORK"/dist/*.tar.gz)
wheel=$(ls "$WORK"/dist/*.whl)
echo "$(basename "$sdist") $(du -k "$sdist" | cut -f1) KiB, $(basename "$wheel") $(du -k "$wheel" | cut -f1) KiB"

step "twine check --strict (metadata, readme rendering)"
if [ ! -x "$VENVS/release-tools/bin/twine" ]; then
  "$UV" venv -q -p "$PYTHON" "$VENVS/release-tools"
  VIRTUAL_ENV=$VENVS/release-tools "$UV" pip install -q "twine>=6.1"
fi
"$VENVS/release-tools/bin/twine" check --strict "$sdist" "$wheel"

step "contents of the wheel and the sdist"
git ls-files airflow_provider_ahgora tests example_dags scripts docs README.md CHANGELOG.md LICENSE \
  pyproject.toml >"$WORK/tracked.txt"
"$PYTHON" - "$sdist" "$wheel" "$WORK/tracked.txt" <<'PY'
import re, sys, tarfile, zipfile
from email.parser import Parser

sdist, wheel, tracked = sys.argv[1:]
version = re.search(r'^__version__ = "([^"]+)"', open("airflow_provider_ahgora/__init__.py").read(), re.M)[1]
with zipfile.ZipFile(wheel) as zf:
    names = zf.namelist()
    meta = Parser().parsestr(zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode())
    entry_points = zf.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
outside = [n for n in names if not n.startswith(("airflow_provider_ahgora/", f"airflow_provider_ahgora-{version}.dist-info/"))]
assert not outside, f"the wheel holds more than the package: {outside}"
assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), "the wheel has no license file"
assert "airflow_provider_ahgora/py.typed" in names, "py.typed is missing: type checkers would ignore the package"
assert meta["Version"] == version, (meta["Version"], version)
assert meta["License-Expression"] == "Apache-2.0", meta["License-Expression"]
classifiers = meta.get_all("Classifier")
for wanted in ("Framework :: Apache Airflow", "Framework :: Apache Airflow :: Provider"):
    assert wanted in classifiers, f"classifier {wanted!r} missing"
assert meta.get_all("Project-URL"), "no project URLs"
assert meta["Description-Content-Type"] == "text/markdown"
assert "apache_airflow_provider" in entry_points and "get_provider_info" in entry_points, entry_points
links = re.findall(r"\]\(([^)]+)\)", meta.get_payload())
relative = [link for link in links if not re.match(r"https?://", link)]
assert not relative, f"the readme links to {relative}: broken on the package index"
with tarfile.open(sdist) as tf:
    members = {m.name.split("/", 1)[1] for m in tf.getmembers() if "/" in m.name and m.isfile()}
missing = sorted(set(open(tracked).read().split()) - members)
assert not missing, f"the sdist lacks files the tests or the build need: {missing[:20]}"
print(f"version {version}; wheel: {len(names)} files, the package only; sdist: {len(members)} files, "
      f"every tracked file of the package, tests, example DAGs, scripts and docs")
PY

step "unpacking the sdist (its tests run against the installed wheel)"
mkdir -p "$WORK/sdist"
tar -xzf "$sdist" -C "$WORK/sdist" --strip-components=1
rm -rf "$WORK/sdist/airflow_provider_ahgora"

# the JSON an `airflow ... -o json` printed (Airflow 2.11 prints log lines around it, some starting
# with "[": the first line from which a JSON value decodes); `empty` when it printed none
JSON_OF='import json, sys
def json_of(text, empty=None):
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith(("[", "{")):
            try:
                return json.JSONDecoder().raw_decode("\n".join(lines[i:]).lstrip())[0]
            except ValueError:
                continue
    if empty is not None:
        return empty
    raise SystemExit(f"no JSON in the output of the command: {text[-3000:]}")
'

check_line() {  # check_line LINE SPEC: a fresh environment with the wheel, and Airflow's view of it
  local line=$1 spec=$2 env=$WORK/env-$1 home=$WORK/home-$1 reqs out
  read -r -a reqs <<<"$spec"
  step "Airflow $line: a fresh environment ($spec) with the wheel"
  "$UV" venv -q -p "$PYTHON" "$env"
  VIRTUAL_ENV=$env "$UV" pip install -q "${reqs[@]}" "${wheel}[test]"
  mkdir -p "$home"
  cd "$WORK"  # not the checkout: `python -c` would import its package from the current folder
  export AIRFLOW_HOME=$home AIRFLOW__CORE__LOAD_EXAMPLES=False
  export AIRFLOW__CORE__DAGS_FOLDER=$WORK/sdist/example_dags
  where=$("$env/bin/python" -c 'import airflow_provider_ahgora as m; print(m.__file__)')
  case $where in "$env"/*) ;; *) fail "airflow_provider_ahgora imported from $where, not the wheel" ;; esac
  echo "airflow_provider_ahgora from $where"

  step "Airflow $line: airflow providers get airflow-provider-ahgora"
  out=$("$env/bin/airflow" providers get airflow-provider-ahgora -o json 2>"$WORK/err") ||
    { cat "$WORK/err" >&2; fail "airflow providers get failed"; }
  "$env/bin/python" -c "$JSON_OF"'
import importlib.metadata as md
(found,) = json_of(sys.argv[1])
assert found["Provider"] == "airflow-provider-ahgora", found
assert found["Version"] == md.version("airflow-provider-ahgora"), found
print("registered:", found["Provider"], found["Version"])
' "$out"

  step "Airflow $line: airflow providers hooks (connection types)"
  out=$("$env/bin/airflow" providers hooks -o json 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "airflow providers hooks failed"; }
  "$env/bin/python" -c "$JSON_OF"'
hooks = {h["connection_type"]: h for h in json_of(sys.argv[1])}
for conn_type, cls in (("pontoweb", "PontoWebHook"), ("voors", "VoorsHook")):
    assert conn_type in hooks, f"connection type {conn_type} not listed"
    assert hooks[conn_type]["class"].endswith(cls), hooks[conn_type]
    assert hooks[conn_type]["package_name"] == "airflow-provider-ahgora", hooks[conn_type]
print("connection types: pontoweb (PontoWebHook), voors (VoorsHook)")
' "$out"

  step "Airflow $line: the example DAGs parse (airflow dags list, list-import-errors)"
  "$env/bin/airflow" db migrate >"$WORK/migrate.log" 2>&1 || { tail -20 "$WORK/migrate.log" >&2; fail "airflow db migrate failed"; }
  local parse=()  # Airflow 3 lists what the Dag processor serialized, unless told to parse here
  if [ "$line" != 2.11 ]; then parse=(--local); fi
  errors=$("$env/bin/airflow" dags list-import-errors "${parse[@]}" -o json 2>/dev/null)
  dags=$("$env/bin/airflow" dags list "${parse[@]}" -o json 2>/dev/null)
  "$env/bin/python" - "$errors" "$dags" "$WORK/sdist/example_dags" <<PY
$JSON_OF
import pathlib, re
errors = json_of(sys.argv[1], empty=[])  # Airflow 2.11 prints "No data found" for none
dags, folder = json_of(sys.argv[2]), pathlib.Path(sys.argv[3])
wanted = {re.search(r'dag_id="([^"]+)"', p.read_text())[1] for p in folder.glob("*.py")}
errors = [e for e in errors if e]
assert not errors, f"import errors: {errors}"
found = {d["dag_id"] for d in dags}
assert wanted <= found, f"DAGs not parsed: {sorted(wanted - found)}"
print(f"{len(wanted)} example DAGs parsed, no import error: {', '.join(sorted(wanted))}")
PY

  if [ -z "$TESTS_RUN" ]; then  # the sdist is the same for every line: its tests, on the first line
    TESTS_RUN=$line
    step "Airflow $line: the sdist's tests against the installed wheel (all collected, the import cost run)"
    (cd "$WORK/sdist" && "$env/bin/python" -m pytest -q -p no:cacheprovider --collect-only tests) | tail -n 1
    (cd "$WORK/sdist" && "$env/bin/python" -m pytest -q -p no:cacheprovider --basetemp="$WORK/pytest-$line" \
      tests/unit/test_import_cheap.py) | tail -n 1
  fi
  unset AIRFLOW_HOME AIRFLOW__CORE__DAGS_FOLDER
  cd - >/dev/null
}

TESTS_RUN=""
for line in $PACKAGE_LINES; do
  case $line in
    3) check_line 3 "$AIRFLOW_3_SPEC" ;;
    2.11) check_line 2.11 "$AIRFLOW_2_SPEC" ;;
    *) fail "unknown line $line (known: 3 2.11)" ;;
  esac
done
step "ok"

#!/usr/bin/env bash
# The whole test suite, from a fresh machine: builds one virtual environment per Airflow line
# (latest Airflow 3 and Airflow 2.11), installs the package with its test extras into each, runs
# the suite on both, then ruff, mypy and the Sphinx docs (warnings as errors). Environments live in .venvs/ (reused when present).
#
#   bash scripts/test.sh            # everything
#   AIRFLOW_LINES="3" bash scripts/test.sh    # one line only
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENVS=${VENVS:-$ROOT/.venvs}
AIRFLOW_LINES=${AIRFLOW_LINES:-"3 2.11"}
AIRFLOW_3_SPEC=${AIRFLOW_3_SPEC:-"apache-airflow>=3.3,<4"}
AIRFLOW_2_SPEC=${AIRFLOW_2_SPEC:-"apache-airflow==2.11.*"}
PYTHON=${PYTHON:-python3}

mkdir -p "$VENVS"
# uv installs Airflow in seconds; bootstrap it into its own environment if the machine lacks it
if command -v uv >/dev/null 2>&1; then
  UV=$(command -v uv)
else
  if [ ! -x "$VENVS/tools/bin/uv" ]; then
    "$PYTHON" -m venv "$VENVS/tools"
    "$VENVS/tools/bin/pip" install -q uv
  fi
  UV=$VENVS/tools/bin/uv
fi

make_env() {  # make_env NAME AIRFLOW_SPEC EXTRAS
  local env=$VENVS/$1
  if [ ! -x "$env/bin/python" ]; then
    "$UV" venv -q -p "$PYTHON" "$env"
  fi
  VIRTUAL_ENV=$env "$UV" pip install -q "$2" -e ".[$3]"
}

export AIRFLOW__CORE__LOAD_EXAMPLES=False
status=0
for line in $AIRFLOW_LINES; do
  case $line in
    3) name=airflow3; spec=$AIRFLOW_3_SPEC; extras="test,lint,docs" ;;
    2.11) name=airflow2; spec=$AIRFLOW_2_SPEC; extras="test" ;;
    *) echo "unknown Airflow line $line" >&2; exit 2 ;;
  esac
  echo "== Airflow $line: preparing $VENVS/$name"
  make_env "$name" "$spec" "$extras"
  env_dir=$VENVS/$name
  home=$(mktemp -d)
  echo "== Airflow $line: apache-airflow $("$env_dir/bin/python" -c 'import importlib.metadata as m; print(m.version("apache-airflow"))')"
  AIRFLOW_HOME=$home "$env_dir/bin/python" -m pytest -p no:cacheprovider -q "$@" || status=1
  rm -rf "$home"
done

if [ -x "$VENVS/airflow3/bin/ruff" ]; then
  echo "== ruff"
  "$VENVS/airflow3/bin/ruff" check airflow_provider_ahgora tests || status=1
  "$VENVS/airflow3/bin/ruff" format --check airflow_provider_ahgora tests || status=1
  echo "== mypy"
  "$VENVS/airflow3/bin/mypy" || status=1
  echo "== docs (warnings are errors)"
  "$VENVS/airflow3/bin/sphinx-build" -q -W --keep-going -b html docs docs/_build/html || status=1
fi
exit $status

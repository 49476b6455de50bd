#!/usr/bin/env bash
# The whole test suite, from a fresh machine: builds one virtual environment per Airflow line
# (latest Airflow 3 and Airflow 2.11), installs the package with its test extras into each, runs
# the suite on both, then ruff, mypy and the Sphinx docs (warnings as errors). Environments live in .venvs/ (reused when present).
#
#   bash scripts/test.sh            # everything
#   AIRFLOW_LINES="3" bash scripts/test.sh    # one line only
set -euo pipefail
cd "$(dirname "$0")/.."
AIRFLOW_LINES=${AIRFLOW_LINES:-"3 2.11"}
# ROOT, VENVS, the Airflow specs, uv and make_env (shared with scripts/demo.sh)
source scripts/_env.sh

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
  "$VENVS/airflow3/bin/ruff" check airflow_provider_ahgora tests example_dags scripts bench || status=1
  "$VENVS/airflow3/bin/ruff" format --check airflow_provider_ahgora tests example_dags scripts bench || status=1
  echo "== mypy"
  "$VENVS/airflow3/bin/mypy" || status=1
  echo "== docs (warnings are errors)"
  "$VENVS/airflow3/bin/sphinx-build" -q -W --keep-going -b html docs docs/_build/html || status=1
fi
exit $status

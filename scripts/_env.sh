# shellcheck shell=bash
# Sourced by scripts/test.sh and scripts/demo.sh (not run on its own): the virtual environments.
#
# Defines ROOT (the repository), VENVS (.venvs/ unless set), the requirements of each Airflow line we
# support, UV (bootstrapped into $VENVS/tools when the machine has no uv) and make_env, which creates
# or updates one environment with the package installed in editable mode.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENVS=${VENVS:-$ROOT/.venvs}
# One spec per supported Airflow line: space-separated requirements, resolved together. Users install
# Airflow with its constraints file (constraints-<version>/constraints-<python>.txt), which pins every
# dependency Airflow was released with; these environments are resolved without it (its host is out
# of reach here), so a line whose own requirements let a breaking release in gets that dependency
# pinned here, as its constraints file does (docs/airflow_versions.rst says why, line by line).
AIRFLOW_3_SPEC=${AIRFLOW_3_SPEC:-"apache-airflow>=3.3,<4"}
# 3.2.2 requires fastapi>=0.129 and svcs>=25.1 with no upper bound (3.3 caps fastapi <0.137): with the
# newest fastapi its Execution API fails to import ("TITerminalStatePayload needs a discriminator
# field"), and with svcs 26.2 every task start answers 500 ("'State' object has no attribute
# 'svcs_registry'"), our code or not.
AIRFLOW_32_SPEC=${AIRFLOW_32_SPEC:-"apache-airflow==3.2.* fastapi<0.137 svcs<26.2"}
AIRFLOW_31_SPEC=${AIRFLOW_31_SPEC:-"apache-airflow==3.1.*"}
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

make_env() {  # make_env NAME "REQUIREMENT [REQUIREMENT...]" [EXTRAS]
  local env=$VENVS/$1 target=. reqs
  read -r -a reqs <<<"$2"
  if [ -n "${3:-}" ]; then
    target=".[$3]"
  fi
  if [ ! -x "$env/bin/python" ]; then
    "$UV" venv -q -p "$PYTHON" "$env"
  fi
  (cd "$ROOT" && VIRTUAL_ENV=$env "$UV" pip install -q "${reqs[@]}" -e "$target")
}

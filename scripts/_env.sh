# Sourced by scripts/test.sh and scripts/demo.sh (not run on its own): the virtual environments.
#
# Defines ROOT (the repository), VENVS (.venvs/ unless set), the Airflow specs of both lines, UV
# (bootstrapped into $VENVS/tools when the machine has no uv) and make_env, which creates or updates
# one environment with the package installed in editable mode.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENVS=${VENVS:-$ROOT/.venvs}
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

make_env() {  # make_env NAME AIRFLOW_SPEC [EXTRAS]
  local env=$VENVS/$1 target=.
  if [ -n "${3:-}" ]; then
    target=".[$3]"
  fi
  if [ ! -x "$env/bin/python" ]; then
    "$UV" venv -q -p "$PYTHON" "$env"
  fi
  (cd "$ROOT" && VIRTUAL_ENV=$env "$UV" pip install -q "$2" -e "$target")
}

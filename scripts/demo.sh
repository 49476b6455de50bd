#!/usr/bin/env bash
# The monthly closing demo, from a fresh machine, with no credentials and no network but loopback
# (package registries excepted, to install):
#
#   1. builds .venvs/airflow3 (Airflow 3 and this provider, editable), as scripts/test.sh does;
#   2. starts the sandbox (PontoWeb and Voors on loopback) with a synthetic company;
#   3. creates a throwaway Airflow home in .demo/ (SQLite), the ahgora_pontoweb pool, and points
#      the connections at the sandbox;
#   4. runs example_dags/master_data_sync.py (so that Voors knows the employees), then
#      example_dags/monthly_closing.py, each with `airflow dags test`;
#   5. prints a short summary; the sandbox is always stopped.
#
#   bash scripts/demo.sh
#   DEMO_EMPLOYEES=2000 DEMO_DATE=2026-03-01 bash scripts/demo.sh
#
# Airflow's own output goes to .demo/airflow.log (its tail is printed if something fails); the
# files the DAGs wrote stay in .demo/data/ until the next run.
set -euo pipefail
cd "$(dirname "$0")/.."
# ROOT, VENVS, the Airflow specs, uv and make_env (shared with scripts/test.sh)
source scripts/_env.sh

EMPLOYEES=${DEMO_EMPLOYEES:-300}
SEED=${DEMO_SEED:-42}
DEMO_DATE=${DEMO_DATE:-2026-02-01}  # the run of 1 February closes January
DEMO=$ROOT/.demo
LOG=$DEMO/airflow.log
START=$(date +%s)

say() { printf '== %s\n' "$*"; }
elapsed() { echo "$(($(date +%s) - START)) s"; }
fail() {
  echo "!! $1 (after $(elapsed)). The end of $LOG:" >&2
  tail -n 40 "$LOG" >&2 || true
  exit 1
}

say "Preparing $VENVS/airflow3 (Airflow 3 and the provider; about a minute on a fresh machine)"
make_env airflow3 "$AIRFLOW_3_SPEC"
PY=$VENVS/airflow3/bin/python
AIRFLOW=$VENVS/airflow3/bin/airflow

rm -rf "$DEMO"
mkdir -p "$DEMO/data"
: >"$LOG"
export AIRFLOW_HOME=$DEMO/airflow
export AIRFLOW__CORE__DAGS_FOLDER=$ROOT/example_dags
export AIRFLOW__CORE__LOAD_EXAMPLES=False
# where the example DAGs write (their storage_base param defaults to this Variable)
export AIRFLOW_VAR_AHGORA_STORAGE_BASE=$DEMO/data
# the sandbox company closes its month on the 25th: time cards cover 26th to 25th
export AIRFLOW_VAR_AHGORA_CLOSING_DAY=25

say "Starting the sandbox: a company of $EMPLOYEES employees (seed $SEED) on loopback"
"$PY" -u -m airflow_provider_ahgora.sandbox --port 0 --employees "$EMPLOYEES" --seed "$SEED" \
  --speed 5000 >"$DEMO/sandbox.log" 2>&1 &
SANDBOX_PID=$!
stop_sandbox() {
  kill "$SANDBOX_PID" 2>/dev/null || true
  wait "$SANDBOX_PID" 2>/dev/null || true
}
trap stop_sandbox EXIT
for _ in $(seq 150); do
  grep -q '^Press Ctrl-C' "$DEMO/sandbox.log" 2>/dev/null && break
  kill -0 "$SANDBOX_PID" 2>/dev/null || break
  sleep 0.2
done
grep -q '^Press Ctrl-C' "$DEMO/sandbox.log" || { cat "$DEMO/sandbox.log" >&2; fail "the sandbox did not start"; }
# AIRFLOW_CONN_PONTOWEB_DEFAULT and AIRFLOW_CONN_VOORS_DEFAULT, as the sandbox prints them
eval "$(grep '^export AIRFLOW_CONN_' "$DEMO/sandbox.log")"
SANDBOX_URL=$(sed -n 's/^Ahgora sandbox listening on //p' "$DEMO/sandbox.log")
"$PY" scripts/demo_data.py --employees "$EMPLOYEES" --seed "$SEED" --out "$DEMO/data/master_data" >>"$LOG"

say "Creating the Airflow database (SQLite, in .demo/airflow) and the ahgora_pontoweb pool"
"$AIRFLOW" db migrate >>"$LOG" 2>&1 || fail "airflow db migrate failed"
"$AIRFLOW" pools set ahgora_pontoweb 4 "PontoWeb: at most 4 processes at once" --include-deferred \
  >>"$LOG" 2>&1 || fail "airflow pools set failed"

say "airflow dags test master_data_sync $DEMO_DATE   (cost centers, branches, ..., users)"
"$AIRFLOW" dags test master_data_sync "$DEMO_DATE" >>"$LOG" 2>&1 || fail "master_data_sync failed"

say "airflow dags test monthly_closing $DEMO_DATE    (reckon, results, payroll, time cards)"
status=0
"$AIRFLOW" dags test monthly_closing "$DEMO_DATE" >>"$LOG" 2>&1 || status=$?

"$PY" scripts/demo_summary.py --data "$DEMO/data" --date "$DEMO_DATE" --sandbox "$SANDBOX_URL" \
  --employees "$EMPLOYEES" --log "$LOG" --seconds "$(($(date +%s) - START))" || status=1
if [ "$status" -ne 0 ]; then
  fail "the monthly closing did not succeed"
fi

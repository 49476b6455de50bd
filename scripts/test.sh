#!/usr/bin/env bash
# The whole test suite, from a fresh machine: builds one virtual environment per supported Airflow
# line, installs the package with its test extras into each, runs the tests, then ruff, mypy and the
# Sphinx docs (warnings as errors). Environments live in .venvs/ (reused when present).
#
# What runs on which line (docs/airflow_versions.rst says the same):
#   3      newest Airflow 3 (3.3+)   .venvs/airflow3    the whole suite, then ruff, mypy, docs; and,
#                                                       as a job of its own ("deploy"), the real
#                                                       deployment: tests/deployment (LocalExecutor,
#                                                       then CeleryExecutor with Redis, installed here
#                                                       from Debian's packages when missing, and S3)
#   2.11   Airflow 2.11              .venvs/airflow2    the whole suite
#   3.2    Airflow 3.2               .venvs/airflow32   the tests about Airflow itself: EVERY_LINE_TESTS
#   3.1    Airflow 3.1               .venvs/airflow31   the tests about Airflow itself: EVERY_LINE_TESTS
# The unit tests of models, hooks, transforms, the sandbox, operators and sensors with fakes do not
# depend on the Airflow line past what 3.3 and 2.11 cover, so 3.1 and 3.2 run only the tests that go
# through a real Airflow: retries and the retry state (a Variable below 3.3), deferral through the
# triggerer, the example DAGs with dag.test(), and provider registration (providers manager, CLI,
# API server) plus the parse-time cost of our imports.
#
# The release check runs as one more job, "package" (scripts/package.sh): the sdist and the wheel
# built and checked (twine), the wheel installed in fresh Airflow 3.3+ and 2.11 environments where
# Airflow must register the provider, list its connection types and parse the example DAGs.
#
# The lines run side by side, TEST_JOBS at a time (default 2, the cores of CI's machine); each line's
# output is printed in one block when it ends, then one summary line per Airflow line.
#
#   bash scripts/test.sh                          # every line
#   AIRFLOW_LINES="3.1 3.2" bash scripts/test.sh  # some lines (lint and docs run with line 3 only)
#   bash scripts/test.sh -k retry                 # arguments go to pytest on every line
set -euo pipefail
cd "$(dirname "$0")/.."
AIRFLOW_LINES=${AIRFLOW_LINES:-"3 2.11 3.2 3.1"}
TEST_JOBS=${TEST_JOBS:-2}
# The tests about Airflow itself, run on every line (explicit on purpose: add a path here when a new
# test belongs on every line, e.g. a real-deployment test; mind CI's time budget).
EVERY_LINE_TESTS=(
  tests/integration            # dag.test, retries and retry state, deferral, example DAGs, sensors
  tests/unit/test_provider.py  # provider metadata, providers manager, CLI, API server's form
  tests/unit/test_import_cheap.py  # importing and constructing costs nothing at parse time
)
# ROOT, VENVS, the Airflow specs, uv and make_env (shared with scripts/demo.sh)
source scripts/_env.sh

export AIRFLOW__CORE__LOAD_EXAMPLES=False
LOGS=$(mktemp -d)
trap 'rm -rf "$LOGS"' EXIT

line_config() {  # sets name, spec, extras, selection and skip (arrays) for one line (or "deploy")
  skip=()
  case $1 in
    # the real deployment runs as a job of its own ("deploy"), side by side with the other lines
    3) name=airflow3; spec=$AIRFLOW_3_SPEC; extras="test,deploy,openlineage,lint,docs"; selection=()
      skip=(--ignore=tests/deployment) ;;
    deploy) name=airflow3; spec=$AIRFLOW_3_SPEC; extras="test,deploy,openlineage,lint,docs"
      selection=(tests/deployment) ;;
    2.11) name=airflow2; spec=$AIRFLOW_2_SPEC; extras="test,deploy,openlineage"; selection=() ;;
    3.2) name=airflow32; spec=$AIRFLOW_32_SPEC; extras="test"; selection=("${EVERY_LINE_TESTS[@]}") ;;
    3.1) name=airflow31; spec=$AIRFLOW_31_SPEC; extras="test"; selection=("${EVERY_LINE_TESTS[@]}") ;;
    *) echo "unknown Airflow line $1 (known: 3 2.11 3.2 3.1)" >&2; exit 2 ;;
  esac
}

run_line() {  # run_line LINE [PYTEST ARGS...]: the line's tests, into $LOGS/LINE.log
  local line=$1 home started rc=0
  shift
  line_config "$line"
  home=$(mktemp -d)
  started=$SECONDS
  {
    echo "== Airflow $line: apache-airflow $("$VENVS/$name/bin/python" -c \
      'import importlib.metadata as m; print(m.version("apache-airflow"))') in $VENVS/$name," \
      "${selection[*]:-the whole suite}"
    # a basetemp of its own: lines running side by side never share pytest's temporary folders
    # --durations: the slowest tests, to keep an eye on CI's time budget
    AIRFLOW_HOME=$home "$VENVS/$name/bin/python" -m pytest -p no:cacheprovider -q --durations=5 \
      --basetemp="$home/pytest" "${selection[@]}" "${skip[@]}" "$@" || rc=$?
    if [ "$rc" -eq 5 ] && [ "$#" -gt 0 ]; then
      echo "== Airflow $line: your arguments select no test here"
      rc=0
    fi
    echo "== Airflow $line: pytest exit $rc in $((SECONDS - started)) s"
  } >"$LOGS/$line.log" 2>&1
  rm -rf "$home"
  return $rc
}

run_lint() {  # ruff, mypy and the docs, with the tools of the Airflow 3 environment
  local rc=0 started=$SECONDS
  {
    echo "== ruff"
    "$VENVS/airflow3/bin/ruff" check airflow_provider_ahgora tests example_dags scripts bench || rc=1
    "$VENVS/airflow3/bin/ruff" format --check airflow_provider_ahgora tests example_dags scripts bench || rc=1
    echo "== mypy"
    "$VENVS/airflow3/bin/mypy" || rc=1
    echo "== docs (warnings are errors)"
    "$VENVS/airflow3/bin/sphinx-build" -q -W --keep-going -b html docs docs/_build/html || rc=1
    echo "== ruff, mypy, docs: exit $rc in $((SECONDS - started)) s"
  } >"$LOGS/lint.log" 2>&1
  return $rc
}

run_package() {  # the release check, for the lines among AIRFLOW_LINES that it covers (3, 2.11)
  local lines="" line rc=0 started=$SECONDS
  for line in $AIRFLOW_LINES; do
    case $line in 3 | 2.11) lines="$lines $line" ;; esac
  done
  {
    PACKAGE_LINES="$lines" bash scripts/package.sh || rc=$?
    echo "== package: exit $rc in $((SECONDS - started)) s"
  } >"$LOGS/package.log" 2>&1
  return $rc
}

status=0
# 0. the Celery broker of tests/deployment (with line 3): Debian's redis-server, installed when missing,
# in the background while the environments are made. CI runs as root with apt-get: there a failed
# install fails the run; elsewhere (no root, no apt-get) the Celery scenario is skipped, saying why.
redis_pid=""
case " $AIRFLOW_LINES " in
  *" 3 "*)
    if ! command -v redis-server >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 &&
      [ "$(id -u)" = 0 ]; then
      echo "== installing redis-server (Debian's package) for the CeleryExecutor deployment test"
      (
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q --no-install-recommends redis-server ||
          { apt-get update -q && apt-get install -y -q --no-install-recommends redis-server; }
      ) >"$LOGS/redis-install.log" 2>&1 &
      redis_pid=$!
    fi
    ;;
esac

# 1. environments, one after the other (uv downloads in parallel itself; its cache is shared)
for line in $AIRFLOW_LINES; do
  line_config "$line"
  echo "== Airflow $line: preparing $VENVS/$name ($spec)"
  make_env "$name" "$spec" "$extras"
done
if [ -n "$redis_pid" ] && ! wait "$redis_pid"; then
  echo "== could not install redis-server (apt-get): the deployment test's Celery scenario cannot run"
  tail -n 20 "$LOGS/redis-install.log"
  status=1
fi

# 2. the lines' tests (and lint) side by side, at most TEST_JOBS at a time, longest first
jobs_list=()
for line in $AIRFLOW_LINES; do
  case $line in 3 | 2.11) jobs_list+=("$line") ;; esac
done
case " $AIRFLOW_LINES " in *" 3 "*) jobs_list+=(lint) ;; esac
case " $AIRFLOW_LINES " in *" 3 "* | *" 2.11 "*) jobs_list+=(package) ;; esac
for line in $AIRFLOW_LINES; do
  case $line in 3 | 2.11) ;; *) jobs_list+=("$line") ;; esac
done

case " $AIRFLOW_LINES " in
  *" 3 "*)  # the real deployment (tests/deployment) on Airflow 3, right after line 3 starts
    jobs_list=("${jobs_list[0]}" deploy "${jobs_list[@]:1}") ;;
esac

pending=("${jobs_list[@]}")
printed=()
print_finished() {  # print the block of every job that has ended and was not printed yet
  local job
  for job in "${jobs_list[@]}"; do
    if [ -f "$LOGS/$job.rc" ] && [[ " ${printed[*]} " != *" $job "* ]]; then
      cat "$LOGS/$job.log"
      printed+=("$job")
    fi
  done
}
while [ "${#pending[@]}" -gt 0 ] || [ "${#printed[@]}" -lt "${#jobs_list[@]}" ]; do
  if [ "${#pending[@]}" -gt 0 ] && [ "$(jobs -rp | wc -l)" -lt "$TEST_JOBS" ]; then
    job=${pending[0]}
    pending=("${pending[@]:1}")
    echo "== started: $job"
    if [ "$job" = lint ]; then
      (rc=0; run_lint || rc=$?; echo "$rc" >"$LOGS/$job.rc") &
    elif [ "$job" = package ]; then
      (rc=0; run_package || rc=$?; echo "$rc" >"$LOGS/$job.rc") &
    else
      (rc=0; run_line "$job" "$@" || rc=$?; echo "$rc" >"$LOGS/$job.rc") &
    fi
    continue
  fi
  wait -n 2>/dev/null || true
  print_finished
  if [ "${#pending[@]}" -eq 0 ] && [ -z "$(jobs -rp)" ]; then
    break  # every job has ended (one that died without its exit code counts as failed below)
  fi
done
wait

echo "== summary (environments and tests in $SECONDS s)"
count() {  # count WORD LINE: the number before WORD in a pytest summary line (0 when absent)
  local n
  n=$(grep -oE "[0-9]+ $1" <<<"$2" | head -n 1 | cut -d' ' -f1)
  echo "${n:-0}"
}
passed=0 failed=0 skipped=0
for job in "${jobs_list[@]}"; do
  rc=$(cat "$LOGS/$job.rc" 2>/dev/null || echo died)
  [ "$rc" = 0 ] || status=1
  if [ "$job" = lint ]; then
    echo "ruff, mypy, docs: $([ "$rc" = 0 ] && echo ok || echo "FAILED (exit $rc)")"
    continue
  fi
  if [ "$job" = package ]; then
    echo "package (sdist, wheel, fresh installs): $([ "$rc" = 0 ] && echo ok || echo "FAILED (exit $rc)")"
    continue
  fi
  last=$(grep -E '^(=+ )?[0-9]+ (passed|failed|skipped|errors?|deselected)' "$LOGS/$job.log" | tail -n 1 |
    sed -E 's/^=+ //; s/ =+$//' || true)
  echo "Airflow $job: ${last:-no pytest summary} (exit $rc)"
  passed=$((passed + $(count passed "$last")))
  failed=$((failed + $(count failed "$last") + $(count error "$last")))
  skipped=$((skipped + $(count skipped "$last")))
done
echo "total: $passed passed, $failed failed, $skipped skipped"
exit $status

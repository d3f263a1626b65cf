# nightshift check: exit codes and exact FILE:LINE:COL output.
. "$(dirname "$0")/lib.sh"
cd "$SRC/test/data" || exit 1

expect "bad jobs: every fault, exit 1" 1 "bad_jobs/kpi.yaml:3:11: unknown time zone 'Asia/Tokio'
bad_jobs/kpi.yaml:6:5: unknown key 'comand' in step 'extract' (did you mean 'command'?)
bad_jobs/kpi.yaml:6:5: step 'extract' needs exactly one of 'command', 'shell' or 'sql' (it has 0)
bad_jobs/kpi.yaml:8:27: step 'aggregate' depends on unknown step 'extrct_sales'
bad_jobs/kpi_copy.yaml:3:3: dependency cycle: a -> b -> a
5 errors" -- check --jobs-dir bad_jobs

expect "missing directory" 1 "no_such_dir: cannot read jobs directory: No such file or directory
1 error" -- check --jobs-dir no_such_dir

expect "descriptions of jobs and steps, under each job, in DAG order" 0 "etl: 3 steps (extract, load, check), manual only, UTC
  Moves the day's rows
  extract: Pulls the rows
  load: Loads the rows
    into the warehouse
plain: 1 step (only), manual only, UTC" -- check --jobs-dir described_jobs

expect_exit "no arguments is usage" 2 -- check
expect_exit "both options is usage" 2 -- check --jobs-dir a --config b
expect_exit "unknown option is usage" 2 -- check --frobnicate
expect_exit "--help" 0 -- check --help
expect_exit "top-level --help" 0 -- --help
expect_exit "unknown command" 2 -- frobnicate
expect_exit "no command" 2 --

cd "$SRC" || exit 1
out=$("$NIGHTSHIFT" check --config nightshift.yaml 2>&1)
code=$?
if [ $code = 0 ] && printf '%s\n' "$out" | grep -q '^kpi: 6 steps (extract_registration, extract_lessons, extract_sales, aggregate_kpi, load_warehouse, notify), schedule "10 0 \* \* \*" Asia/Tokyo, next 20[0-9-]*T00:10:00+09:00$' &&
   printf '%s\n' "$out" | grep -q '^materials: 3 steps'; then
  echo "ok: the example jobs pass"
else
  echo "FAIL: the example jobs: exit $code"; printf '%s\n' "$out"; failures=$((failures + 1))
fi
finish

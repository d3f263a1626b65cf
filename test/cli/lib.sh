# Helpers for the command-line tests: run the real binary, compare exactly.
# Each test script: bash script.sh NIGHTSHIFT_BINARY SOURCE_DIR
set -u
NIGHTSHIFT=$1
SRC=$2
failures=0

# expect NAME WANT_EXIT WANT_OUTPUT -- ARGS...: runs nightshift ARGS with stdout and
# stderr merged, checks the exit code and the whole output.
expect() {
  name=$1 want_exit=$2 want_out=$3
  shift 4
  out=$("$NIGHTSHIFT" "$@" 2>&1)
  code=$?
  if [ "$code" != "$want_exit" ] || [ "$out" != "$want_out" ]; then
    echo "FAIL: $name: nightshift $*"
    echo "  exit $code (want $want_exit)"
    echo "  got:";  printf '%s\n' "$out" | sed 's/^/    /'
    echo "  want:"; printf '%s\n' "$want_out" | sed 's/^/    /'
    failures=$((failures + 1))
  else
    echo "ok: $name"
  fi
}

# expect_exit NAME WANT_EXIT -- ARGS...: only the exit code matters.
expect_exit() {
  name=$1 want_exit=$2
  shift 3
  "$NIGHTSHIFT" "$@" >/dev/null 2>&1
  code=$?
  if [ "$code" != "$want_exit" ]; then
    echo "FAIL: $name: nightshift $*: exit $code (want $want_exit)"
    failures=$((failures + 1))
  else
    echo "ok: $name"
  fi
}

finish() {
  [ "$failures" = 0 ] || { echo "$failures failed"; exit 1; }
}

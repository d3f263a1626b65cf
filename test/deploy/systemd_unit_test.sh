#!/bin/sh
# deploy/systemd: the unit passes `systemd-analyze verify` without a single
# warning (it exits 0 on unknown keys, so its output must be empty), and the
# example config is valid with CREDENTIALS_DIRECTORY set as LoadCredential=
# sets it. Usage: systemd_unit_test.sh NIGHTSHIFT_BINARY SOURCE_DIR
# Exit 77 (skipped) where systemd-analyze is missing.
set -eu
bin=$1
src=$2
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "systemd-analyze is missing: skipped"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# verify needs ExecStart's binary to exist: the built one stands in for /usr/bin/nightshift.
sed "s#/usr/bin/nightshift#$bin#g" "$src/deploy/systemd/nightshift.service" > "$tmp/nightshift.service"
grep -q "^ExecStart=$bin serve" "$tmp/nightshift.service"
out=$(systemd-analyze verify "$tmp/nightshift.service" 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then
  echo "systemd-analyze verify is not clean:"
  echo "$out"
  exit 1
fi
for key in Type=notify WatchdogSec= "ExecReload=/bin/kill -HUP \$MAINPID" LoadCredential= \
    ProtectSystem=strict ReadWritePaths=/var/lib/nightshift NoNewPrivileges=yes PrivateTmp=yes \
    User=nightshift KillMode=mixed; do
  grep -q "^$key" "$tmp/nightshift.service" || { echo "the unit lacks $key"; exit 1; }
done

# The example config, on the example jobs, with the secret where systemd puts it.
mkdir "$tmp/credentials"
echo not-a-real-password > "$tmp/credentials/DB_PASSWORD"
sed "s#^jobs_dir: .*#jobs_dir: $src/jobs.d#" "$src/deploy/systemd/nightshift.yaml" > "$tmp/nightshift.yaml"
CREDENTIALS_DIRECTORY=$tmp/credentials "$bin" check --config "$tmp/nightshift.yaml"
# Without the variable (not started by systemd) the config says what is missing.
if env -u CREDENTIALS_DIRECTORY "$bin" check --config "$tmp/nightshift.yaml" > "$tmp/out" 2>&1; then
  echo "check passed without CREDENTIALS_DIRECTORY"
  exit 1
fi
grep -q "environment variable CREDENTIALS_DIRECTORY is not set" "$tmp/out" || { cat "$tmp/out"; exit 1; }
echo "ok"

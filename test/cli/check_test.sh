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

# A hostile jobs_dir: every kind of entry that is not a plain job file, each in
# a directory beside a good job, so each gives exactly one line. check must end
# (exit 1, the file and the cause named) in bounded time and never read without
# bound: it runs under `timeout` and an address-space limit, so a regression
# fails here instead of hanging or eating the machine (the limit is left out
# for sanitizer builds, which reserve terabytes of address space).
real_nightshift=$NIGHTSHIFT
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
{
  echo '#!/bin/sh'
  echo "grep -q __asan_init '$real_nightshift' || ulimit -v 524288"
  echo "exec timeout 30 '$real_nightshift' \"\$@\""
} > "$tmp/bounded"
chmod 755 "$tmp/bounded"
NIGHTSHIFT=$tmp/bounded
cd "$tmp" || exit 1

# hostile NAME COMMAND...: a directory NAME holding good.yaml, then COMMAND run in it.
hostile() {
  dir=$1
  shift
  mkdir "$dir" && printf 'job: good\nsteps:\n  s: { shell: x }\n' > "$dir/good.yaml" &&
    (cd "$dir" && "$@")
}
hostile fifo mkfifo f.yaml
mkfifo a_fifo
hostile to_fifo ln -s ../a_fifo f.yaml
hostile zero ln -s /dev/zero z.yaml
hostile urandom ln -s /dev/urandom u.yml
hostile dir mkdir x.yaml
hostile dangling ln -s nowhere.yaml n.yaml
hostile loop ln -s l.yaml l.yaml
hostile socket python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("s.yaml")'
hostile big sh -c 'head -c 1048577 /dev/zero | tr "\0" "#" > big.yaml'
hostile latin1 sh -c 'printf "job: l\ndescription: \351t\351\nsteps:\n  s: { shell: x }\n" > l.yaml'
hostile nul sh -c 'printf "job: n\nsteps:\n  s: { shell: x }\n\000job: m\n" > n.yaml'
hostile two sh -c 'printf "job: t\nsteps:\n  s: { shell: x }\n---\njob: u\n" > t.yaml'
hostile empty touch e.yaml
hostile comments sh -c 'printf "# to do\n" > c.yaml'
hostile timeout0 sh -c 'printf "job: t\nsteps:\n  s: { shell: x, timeout: 0s }\n" > t.yaml'

# hostile_case NAME WANT_LINE: check of the directory NAME says exactly WANT_LINE.
hostile_case() {
  expect "hostile jobs_dir: $1" 1 "$2
1 error" -- check --jobs-dir "$1"
}
cannot="1:1: cannot read job file:"
hostile_case fifo "fifo/f.yaml:$cannot it is a FIFO, not a regular file"
hostile_case to_fifo "to_fifo/f.yaml:$cannot it is a FIFO, not a regular file"
hostile_case zero "zero/z.yaml:$cannot it is a character device, not a regular file"
hostile_case urandom "urandom/u.yml:$cannot it is a character device, not a regular file"
hostile_case dir "dir/x.yaml:$cannot it is a directory"
hostile_case dangling "dangling/n.yaml:$cannot dangling symlink (its target 'nowhere.yaml' is missing)"
hostile_case loop "loop/l.yaml:$cannot symlink loop (too many levels of symbolic links)"
hostile_case socket "socket/s.yaml:$cannot it is a socket, not a regular file"
hostile_case big "big/big.yaml:$cannot it is larger than 1 MiB (1048577 bytes), the limit for a job file"
hostile_case latin1 "latin1/l.yaml:2:14: invalid UTF-8 (byte 0xE9): the file must be UTF-8 text"
hostile_case nul "nul/n.yaml:4:1: NUL byte: the file must be UTF-8 text"
hostile_case two "two/t.yaml:4:1: a second YAML document starts here: a file holds exactly one"
hostile_case empty "empty/e.yaml:1:1: job file is empty (expected 'job:' and 'steps:')"
hostile_case comments "comments/c.yaml:1:1: job file holds only comments (expected 'job:' and 'steps:')"
hostile_case timeout0 "timeout0/t.yaml:3:27: 'timeout' must be more than 0 (leave it out for no timeout)"

# All of them in one directory, through a config: every one named, none hides another.
mkdir all
for kind in fifo to_fifo zero urandom dir dangling loop socket big latin1 nul two empty comments timeout0; do
  for entry in "$kind"/*; do
    [ "${entry##*/}" = good.yaml ] || mv "$entry" "all/$kind-${entry##*/}"
  done
done
# Symlinks whose targets moved with them, seen from their new folder.
ln -sf ../a_fifo all/to_fifo-f.yaml
ln -sf loop-l.yaml all/loop-l.yaml
printf 'jobs_dir: all\n' > all.yaml
expect "a config whose jobs_dir holds every kind at once" 1 \
"all/big-big.yaml:$cannot it is larger than 1 MiB (1048577 bytes), the limit for a job file
all/comments-c.yaml:1:1: job file holds only comments (expected 'job:' and 'steps:')
all/dangling-n.yaml:$cannot dangling symlink (its target 'nowhere.yaml' is missing)
all/dir-x.yaml:$cannot it is a directory
all/empty-e.yaml:1:1: job file is empty (expected 'job:' and 'steps:')
all/fifo-f.yaml:$cannot it is a FIFO, not a regular file
all/latin1-l.yaml:2:14: invalid UTF-8 (byte 0xE9): the file must be UTF-8 text
all/loop-l.yaml:$cannot symlink loop (too many levels of symbolic links)
all/nul-n.yaml:4:1: NUL byte: the file must be UTF-8 text
all/socket-s.yaml:$cannot it is a socket, not a regular file
all/timeout0-t.yaml:3:27: 'timeout' must be more than 0 (leave it out for no timeout)
all/to_fifo-f.yaml:$cannot it is a FIFO, not a regular file
all/two-t.yaml:4:1: a second YAML document starts here: a file holds exactly one
all/urandom-u.yml:$cannot it is a character device, not a regular file
all/zero-z.yaml:$cannot it is a character device, not a regular file
15 errors" -- check --config all.yaml
mkfifo fifo.conf
expect "a config that is a FIFO" 1 "fifo.conf:1:1: cannot read config file: it is a FIFO, not a regular file
1 error" -- check --config fifo.conf

# A file without read permission. root reads anything: then check runs as nobody.
hostile noperm sh -c 'printf "job: p\nsteps:\n  s: { shell: x }\n" > p.yaml && chmod 000 p.yaml'
want="noperm/p.yaml:$cannot permission denied
1 error"
if [ "$(id -u)" != 0 ]; then
  expect "hostile jobs_dir: noperm" 1 "$want" -- check --jobs-dir noperm
elif setpriv --reuid=65534 --regid=65534 --clear-groups "$NIGHTSHIFT" --help >/dev/null 2>&1; then
  out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$NIGHTSHIFT" check --jobs-dir noperm 2>&1)
  code=$?
  if [ $code = 1 ] && [ "$out" = "$want" ]; then
    echo "ok: hostile jobs_dir: noperm (as nobody)"
  else
    echo "FAIL: noperm as nobody: exit $code"; printf '%s\n' "$out"; failures=$((failures + 1))
  fi
else
  echo "skip: noperm: nobody cannot run $real_nightshift (a private folder)"
fi
NIGHTSHIFT=$real_nightshift

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

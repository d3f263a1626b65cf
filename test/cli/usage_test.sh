# The client commands' usage errors: exit 2 and the command's usage line, before
# any daemon is contacted (the URL below has nobody listening).
. "$(dirname "$0")/lib.sh"

url=http://127.0.0.1:9
for cmd in pause unpause why rerun plan backfill; do
  usage=$("$NIGHTSHIFT" "$cmd" --help | sed -n '1s/^usage: //p')
  expect "$cmd without JOB" 2 "nightshift: missing JOB
usage: $usage" -- "$cmd" --url "$url"
done
expect "run without JOB" 2 "nightshift: missing JOB
usage: nightshift run JOB [--date YYYY-MM-DD] [--from STEP] --config FILE" -- run --config nightshift.yaml
expect "status: --limit needs a JOB" 2 "nightshift: --limit needs a JOB
usage: nightshift status [JOB [--limit N]] [--url URL] [--token-file FILE]" -- status --limit 3 --url "$url"
expect_exit "status without JOB is not a usage error" 1 -- status --url "$url"
expect_exit "two JOBs is usage" 2 -- why a b --url "$url"
expect_exit "unknown option is usage" 2 -- pause a --nope --url "$url"
finish

# nightshift calendar: the fire instants users see, DST included.
. "$(dirname "$0")/lib.sh"

expect "KPI schedule in Tokyo" 0 "2026-11-26T00:10:00+09:00
2026-11-27T00:10:00+09:00
2026-11-28T00:10:00+09:00" -- calendar "10 0 * * *" --timezone Asia/Tokyo --after 2026-11-25T12:00:00+09:00 --count 3

expect "spring forward: 02:30 collapses to 03:00" 0 "2026-03-07T02:30:00-05:00
2026-03-08T03:00:00-04:00
2026-03-09T02:30:00-04:00" -- calendar "30 2 * * *" --timezone America/New_York --after 2026-03-07T00:00:00-05:00 --count 3

expect "spring forward: */15 in the gap fires once" 0 "2026-03-08T03:00:00-04:00
2026-03-09T02:00:00-04:00
2026-03-09T02:15:00-04:00" -- calendar "*/15 2 * * *" --timezone America/New_York --after 2026-03-08T01:30:00-05:00 --count 3

expect "fall back: a fixed hour fires once" 0 "2026-11-01T01:30:00-04:00
2026-11-02T01:30:00-05:00" -- calendar "30 1 * * *" --timezone America/New_York --after 2026-10-31T12:00:00-04:00 --count 2

expect "fall back: hour * follows real time" 0 "2026-11-01T01:30:00-04:00
2026-11-01T01:30:00-05:00
2026-11-01T02:30:00-05:00" -- calendar "30 * * * *" --timezone America/New_York --after 2026-11-01T01:00:00-04:00 --count 3

expect "leap day" 0 "2032-02-29T00:00:00+00:00" -- calendar "0 0 29 2 *" --after 2029-03-01T00:00:00Z --count 1

expect "UTC by default, seconds field" 0 "2026-01-01T00:00:30+00:00
2026-01-01T00:01:30+00:00" -- calendar "30 * * * * *" --after 2026-01-01T00:00:00Z --count 2

expect "bad expression points at the fault" 1 "nightshift: bad schedule: minute 61 out of range 0-59
  61 0 * * *
  ^" -- calendar "61 0 * * *"

expect "unknown time zone" 1 "nightshift: unknown time zone 'Mars/Olympus'" -- calendar "@daily" --timezone Mars/Olympus

expect_exit "bad --after is usage" 2 -- calendar "@daily" --after yesterday
expect_exit "missing EXPR is usage" 2 -- calendar
expect_exit "--help" 0 -- calendar --help
finish

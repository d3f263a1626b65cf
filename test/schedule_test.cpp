#include "nightshift/schedule.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

using nightshift::CronExpr;
using nightshift::Instant;
using nightshift::Schedule;
using Strings = std::vector<std::string>;
using namespace std::chrono_literals;

namespace {

Schedule schedule(std::string_view expr, std::string_view tz) {
  auto parsed = Schedule::parse(expr, tz);
  INFO(expr << " in " << tz << ": " << (parsed ? "" : parsed.error().message));
  REQUIRE(parsed.has_value());
  return *parsed;
}

Instant at(std::string_view iso, const date::time_zone* zone = nullptr) {
  const auto t = nightshift::parse_iso8601(iso, zone);
  INFO(iso);
  REQUIRE(t);
  return *t;
}

// The next n fire instants after `after`, in the schedule's zone.
Strings next(std::string_view expr, std::string_view tz, std::string_view after, int n) {
  const Schedule s = schedule(expr, tz);
  Instant t = at(after, s.zone());
  Strings fires;
  for (int i = 0; i < n; ++i) {
    const auto fire = s.next_fire_after(t);
    if (!fire) {
      fires.push_back("none");
      break;
    }
    fires.push_back(s.format(*fire));
    t = *fire;
  }
  return fires;
}

// ---- A slow reference: DESIGN.md's rules checked instant by instant ----

date::local_seconds local_at(Instant t, std::chrono::seconds offset) {
  return date::local_seconds{t.time_since_epoch() + offset};
}

bool matches(const CronExpr& expr, date::local_seconds t) {
  const date::local_days day = date::floor<date::days>(t);
  const date::year_month_day ymd{day};
  const date::hh_mm_ss<std::chrono::seconds> time{t - day};
  return expr.second(static_cast<int>(time.seconds().count())) &&
         expr.minute(static_cast<int>(time.minutes().count())) &&
         expr.hour(static_cast<int>(time.hours().count())) &&
         expr.month(static_cast<int>(static_cast<unsigned>(ymd.month()))) &&
         expr.day(static_cast<int>(static_cast<unsigned>(ymd.day())),
                  static_cast<int>(date::weekday{day}.c_encoding()));
}

bool reference_fires_at(const Schedule& s, Instant t) {
  const date::time_zone* zone = s.zone();
  const date::sys_info info = zone->get_info(t);
  const date::local_seconds local = local_at(t, info.offset);
  if (matches(s.expr(), local)) {
    const date::local_info wall = zone->get_info(local);
    const bool second_pass =
        wall.result == date::local_info::ambiguous && info.offset == wall.second.offset;
    if (!second_pass || s.expr().hour_is_star()) return true;
  }
  if (info.begin == t) {
    const date::sys_info before = zone->get_info(t - 1s);
    for (auto gap = local_at(t, before.offset); gap < local; gap += 1s)
      if (matches(s.expr(), gap)) return true;
  }
  return false;
}

// Compares next_fire_after with the reference over [from, from + span): the chain of
// fires, and the answer from probes between them (so `after` is not always a fire).
void check_against_reference(std::string_view expr, std::string_view tz, std::string_view from_iso,
                             std::chrono::seconds span, std::chrono::seconds step) {
  INFO(expr << " in " << tz << " from " << from_iso);
  const Schedule s = schedule(expr, tz);
  const Instant from = at(from_iso);
  const Instant to = from + span;

  std::vector<Instant> expected;
  for (Instant t = from + step; t < to; t += step)
    if (reference_fires_at(s, t)) expected.push_back(t);

  Strings want;
  Strings got;
  for (Instant t : expected) want.push_back(s.format(t));
  for (auto t = s.next_fire_after(from); t && *t < to; t = s.next_fire_after(*t))
    got.push_back(s.format(*t));
  CHECK(got == want);

  Strings wrong;
  const std::chrono::seconds probe_step = step == 1s ? 97s : 5min;
  for (Instant probe = from; probe < to; probe += probe_step) {
    for (Instant after : {probe, probe - 1s}) {
      const auto it = std::upper_bound(expected.begin(), expected.end(), after);
      if (after < from || it == expected.end()) continue;
      const auto fire = s.next_fire_after(after);
      if (!fire || *fire != *it)
        wrong.push_back("after " + s.format(after) + ": got " + (fire ? s.format(*fire) : "none") +
                        ", want " + s.format(*it));
    }
  }
  CHECK(wrong == Strings{});
}

}  // namespace

TEST_CASE("schedule: parse errors", "[schedule]") {
  auto unknown = Schedule::parse("0 0 * * *", "Mars/Olympus");
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error().message == "unknown time zone 'Mars/Olympus'");
  CHECK(unknown.error().offset == 0);

  auto empty_zone = Schedule::parse("0 0 * * *", "");
  REQUIRE_FALSE(empty_zone.has_value());
  CHECK(empty_zone.error().message == "unknown time zone ''");

  auto bad_expr = Schedule::parse("0 0 * FOO *", "UTC");
  REQUIRE_FALSE(bad_expr.has_value());
  CHECK(bad_expr.error().message == "unknown month name 'FOO'");
  CHECK(bad_expr.error().offset == 6);

  const Schedule s = schedule("10 0 * * *", "Asia/Tokyo");
  CHECK(s.timezone() == "Asia/Tokyo");
  CHECK(s.expr().text() == "10 0 * * *");
  CHECK(s.zone() == nightshift::find_time_zone("Asia/Tokyo"));
  CHECK(nightshift::find_time_zone("Not/A_Zone") == nullptr);
  CHECK(nightshift::find_time_zone("US/Eastern") != nullptr);
}

TEST_CASE("schedule: ISO 8601 formatting always carries an offset", "[schedule]") {
  const Instant t = at("2026-03-08T07:00:00Z");
  CHECK(nightshift::format_iso8601(t, nightshift::find_time_zone("UTC")) ==
        "2026-03-08T07:00:00+00:00");
  CHECK(nightshift::format_iso8601(t, nightshift::find_time_zone("America/New_York")) ==
        "2026-03-08T03:00:00-04:00");
  CHECK(nightshift::format_iso8601(t, nightshift::find_time_zone("Asia/Kolkata")) ==
        "2026-03-08T12:30:00+05:30");
  CHECK(nightshift::format_iso8601(at("2026-01-15T07:00:00Z"),
                                   nightshift::find_time_zone("America/St_Johns")) ==
        "2026-01-15T03:30:00-03:30");
  CHECK(nightshift::format_iso8601(at("2026-11-24T15:10:00Z"),
                                   nightshift::find_time_zone("Asia/Tokyo")) ==
        "2026-11-25T00:10:00+09:00");
}

TEST_CASE("schedule: ISO 8601 parsing", "[schedule]") {
  const date::time_zone* ny = nightshift::find_time_zone("America/New_York");
  const Instant t = at("2026-03-08T07:00:00Z");
  CHECK(at("2026-03-08T03:00:00-04:00") == t);
  CHECK(at("2026-03-08T03:00-04:00") == t);
  CHECK(at("2026-03-08T03:00-0400") == t);
  CHECK(at("2026-03-08T07:00Z") == t);
  CHECK(at("2026-03-08 07:00:00Z") == t);
  CHECK(at("2026-03-08T12:30:00+05:30") == t);

  // Without an offset the zone's wall clock is meant.
  CHECK(at("2026-03-08T03:00:00", ny) == t);
  CHECK(at("2026-03-08T03:00", ny) == t);
  CHECK(at("2026-03-08", ny) == at("2026-03-08T05:00:00Z"));
  CHECK(at("2026-03-08T07:00") == t);  // no zone: UTC
  // Repeated: the first occurrence. Skipped: the first instant after the gap.
  CHECK(at("2026-11-01T01:30", ny) == at("2026-11-01T01:30:00-04:00"));
  CHECK(at("2026-03-08T02:30", ny) == t);

  for (const char* bad :
       {"", "garbage", "2026-13-01", "2026-02-30", "2026-03-08T25:00", "2026-03-08T12:60",
        "2026-03-08T12:00:60", "2026-03-08T12", "2026-03-08T12:00:00+0400x", "2026-03-08T12:00Zx",
        "2026-03-08T12:00:00+4", "2026-03-08x", "26-03-08", "2026-3-8", "2026-03-08T12:00:00.5Z"}) {
    INFO(bad);
    CHECK_FALSE(nightshift::parse_iso8601(bad, ny));
  }
  CHECK(nightshift::parse_iso8601("2028-02-29", ny));
  CHECK_FALSE(nightshift::parse_iso8601("2027-02-29", ny));
}

TEST_CASE("schedule: plain daily schedule in a zone without DST", "[schedule]") {
  CHECK(next("10 0 * * *", "Asia/Tokyo", "2026-11-24T12:00:00+09:00", 3) ==
        Strings{"2026-11-25T00:10:00+09:00", "2026-11-26T00:10:00+09:00",
                "2026-11-27T00:10:00+09:00"});
  // The fire instant itself is not "after" it.
  CHECK(next("10 0 * * *", "Asia/Tokyo", "2026-11-25T00:10:00+09:00", 1) ==
        Strings{"2026-11-26T00:10:00+09:00"});
  CHECK(next("10 0 * * *", "Asia/Tokyo", "2026-11-25T00:09:59+09:00", 1) ==
        Strings{"2026-11-25T00:10:00+09:00"});

  const Strings year = next("10 0 * * *", "Asia/Tokyo", "2026-01-01T00:00:00+09:00", 365);
  REQUIRE(year.size() == 365);
  CHECK(year.front() == "2026-01-01T00:10:00+09:00");
  CHECK(year.back() == "2026-12-31T00:10:00+09:00");
  CHECK(std::all_of(year.begin(), year.end(),
                    [](const std::string& t) { return t.ends_with("T00:10:00+09:00"); }));
}

TEST_CASE("schedule: steps, names and month ends", "[schedule]") {
  CHECK(next("*/15 * * * *", "UTC", "2026-05-31T23:40:00Z", 3) ==
        Strings{"2026-05-31T23:45:00+00:00", "2026-06-01T00:00:00+00:00",
                "2026-06-01T00:15:00+00:00"});
  CHECK(next("0 0 31 * *", "UTC", "2026-01-31T00:00:00Z", 3) ==
        Strings{"2026-03-31T00:00:00+00:00", "2026-05-31T00:00:00+00:00",
                "2026-07-31T00:00:00+00:00"});
  CHECK(next("@yearly", "UTC", "2026-06-01T00:00:00Z", 2) ==
        Strings{"2027-01-01T00:00:00+00:00", "2028-01-01T00:00:00+00:00"});
  CHECK(next("30 9 * * MON-FRI", "UTC", "2026-04-03T10:00:00Z", 2) ==
        Strings{"2026-04-06T09:30:00+00:00", "2026-04-07T09:30:00+00:00"});
  CHECK(next("0 0 * * 7", "UTC", "2026-04-01T00:00:00Z", 2) ==
        Strings{"2026-04-05T00:00:00+00:00", "2026-04-12T00:00:00+00:00"});
  CHECK(next("0 0 * * 5-7", "UTC", "2026-04-01T00:00:00Z", 4) ==
        Strings{"2026-04-03T00:00:00+00:00", "2026-04-04T00:00:00+00:00",
                "2026-04-05T00:00:00+00:00", "2026-04-10T00:00:00+00:00"});
}

TEST_CASE("schedule: day of month or day of week, Vixie style", "[schedule]") {
  // Both restricted: the 13th and every Friday.
  CHECK(next("0 0 13 * FRI", "UTC", "2026-04-01T00:00:00Z", 5) ==
        Strings{"2026-04-03T00:00:00+00:00", "2026-04-10T00:00:00+00:00",
                "2026-04-13T00:00:00+00:00", "2026-04-17T00:00:00+00:00",
                "2026-04-24T00:00:00+00:00"});
  // '*/2' is unrestricted, so it is and-ed: Mondays that fall on odd days.
  CHECK(next("0 0 */2 * MON", "UTC", "2026-04-01T00:00:00Z", 4) ==
        Strings{"2026-04-13T00:00:00+00:00", "2026-04-27T00:00:00+00:00",
                "2026-05-11T00:00:00+00:00", "2026-05-25T00:00:00+00:00"});
  CHECK(next("0 0 * * MON", "UTC", "2026-04-01T00:00:00Z", 2) ==
        Strings{"2026-04-06T00:00:00+00:00", "2026-04-13T00:00:00+00:00"});
}

TEST_CASE("schedule: 29 February waits for a leap year", "[schedule]") {
  CHECK(next("0 0 29 2 *", "UTC", "2029-03-01T00:00:00Z", 2) ==
        Strings{"2032-02-29T00:00:00+00:00", "2036-02-29T00:00:00+00:00"});
  // 2100 is not a leap year.
  CHECK(next("0 0 29 2 *", "UTC", "2096-03-01T00:00:00Z", 1) ==
        Strings{"2104-02-29T00:00:00+00:00"});
  CHECK(next("0 0 29 2 *", "Asia/Tokyo", "2028-02-28T12:00:00+09:00", 1) ==
        Strings{"2028-02-29T00:00:00+09:00"});
  // '*/7' is Sunday and-ed with the 29th: across 2100 that is 40 years apart.
  CHECK(next("0 0 29 2 */7", "UTC", "2088-02-29T00:00:00Z", 1) ==
        Strings{"2128-02-29T00:00:00+00:00"});
  // Both day fields restricted: every Monday of February too.
  CHECK(next("0 0 29 2 MON", "UTC", "2027-02-20T00:00:00Z", 3) ==
        Strings{"2027-02-22T00:00:00+00:00", "2028-02-07T00:00:00+00:00",
                "2028-02-14T00:00:00+00:00"});
}

TEST_CASE("schedule: six fields fire on their seconds", "[schedule]") {
  CHECK(next("*/20 30 9 * * MON-FRI", "Europe/London", "2026-03-27T09:30:00+00:00", 3) ==
        Strings{"2026-03-27T09:30:20+00:00", "2026-03-27T09:30:40+00:00",
                "2026-03-30T09:30:00+01:00"});
  CHECK(next("* * * * * *", "UTC", "2026-12-31T23:59:58Z", 3) ==
        Strings{"2026-12-31T23:59:59+00:00", "2027-01-01T00:00:00+00:00",
                "2027-01-01T00:00:01+00:00"});
}

TEST_CASE("schedule: New York spring forward collapses the gap into one fire", "[schedule]") {
  CHECK(next("30 2 * * *", "America/New_York", "2026-03-07T12:00:00-05:00", 3) ==
        Strings{"2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00",
                "2026-03-10T02:30:00-04:00"});
  CHECK(next("*/15 2 * * *", "America/New_York", "2026-03-07T12:00:00-05:00", 3) ==
        Strings{"2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00",
                "2026-03-09T02:15:00-04:00"});
  CHECK(next("*/15 * * * *", "America/New_York", "2026-03-08T01:30:00-05:00", 3) ==
        Strings{"2026-03-08T01:45:00-05:00", "2026-03-08T03:00:00-04:00",
                "2026-03-08T03:15:00-04:00"});
  CHECK(next("0 3 * * *", "America/New_York", "2026-03-07T12:00:00-05:00", 2) ==
        Strings{"2026-03-08T03:00:00-04:00", "2026-03-09T03:00:00-04:00"});
  CHECK(next("15 30 2 * * *", "America/New_York", "2026-03-07T12:00:00-05:00", 2) ==
        Strings{"2026-03-08T03:00:00-04:00", "2026-03-09T02:30:15-04:00"});
  // Asked at the fire itself, the gap's matches are behind.
  CHECK(next("30 2 * * *", "America/New_York", "2026-03-08T03:00:00-04:00", 1) ==
        Strings{"2026-03-09T02:30:00-04:00"});
}

TEST_CASE("schedule: New York fall back fires once unless the hour is '*'", "[schedule]") {
  CHECK(next("30 1 * * *", "America/New_York", "2026-10-31T12:00:00-04:00", 2) ==
        Strings{"2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"});
  CHECK(next("*/30 1 * * *", "America/New_York", "2026-10-31T12:00:00-04:00", 3) ==
        Strings{"2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00",
                "2026-11-02T01:00:00-05:00"});
  CHECK(next("0 */1 * * *", "America/New_York", "2026-11-01T00:30:00-04:00", 2) ==
        Strings{"2026-11-01T01:00:00-04:00", "2026-11-01T02:00:00-05:00"});

  CHECK(next("0,30 * * * *", "America/New_York", "2026-11-01T00:30:00-04:00", 5) ==
        Strings{"2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00",
                "2026-11-01T01:00:00-05:00", "2026-11-01T01:30:00-05:00",
                "2026-11-01T02:00:00-05:00"});
  CHECK(next("@hourly", "America/New_York", "2026-11-01T00:00:00-04:00", 3) ==
        Strings{"2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00",
                "2026-11-01T02:00:00-05:00"});
}

TEST_CASE("schedule: asked from inside the second pass of a repeated hour", "[schedule]") {
  // Never earlier than `after`, and no second fire for a non-'*' hour.
  CHECK(next("30 1 * * *", "America/New_York", "2026-11-01T01:15:00-05:00", 1) ==
        Strings{"2026-11-02T01:30:00-05:00"});
  CHECK(next("0 1 * * *", "America/New_York", "2026-11-01T01:00:00-05:00", 1) ==
        Strings{"2026-11-02T01:00:00-05:00"});
  CHECK(next("*/10 1-2 * * *", "America/New_York", "2026-11-01T01:45:00-05:00", 2) ==
        Strings{"2026-11-01T02:00:00-05:00", "2026-11-01T02:10:00-05:00"});
  CHECK(next("0,30 * * * *", "America/New_York", "2026-11-01T01:15:00-05:00", 2) ==
        Strings{"2026-11-01T01:30:00-05:00", "2026-11-01T02:00:00-05:00"});
  CHECK(next("0,30 * * * *", "America/New_York", "2026-11-01T01:30:00-04:00", 1) ==
        Strings{"2026-11-01T01:00:00-05:00"});
  CHECK(next("0,30 * * * *", "America/New_York", "2026-11-01T01:59:59-04:00", 1) ==
        Strings{"2026-11-01T01:00:00-05:00"});
}

TEST_CASE("schedule: Europe/London, both transitions", "[schedule]") {
  CHECK(next("30 1 * * *", "Europe/London", "2026-03-28T12:00:00+00:00", 2) ==
        Strings{"2026-03-29T02:00:00+01:00", "2026-03-30T01:30:00+01:00"});
  CHECK(next("30 1 * * *", "Europe/London", "2026-10-24T12:00:00+01:00", 2) ==
        Strings{"2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00+00:00"});
  CHECK(next("45 * * * *", "Europe/London", "2026-10-25T00:50:00+01:00", 3) ==
        Strings{"2026-10-25T01:45:00+01:00", "2026-10-25T01:45:00+00:00",
                "2026-10-25T02:45:00+00:00"});
}

TEST_CASE("schedule: Australia/Sydney, southern hemisphere", "[schedule]") {
  // DST ends on the first Sunday of April: 03:00 AEDT becomes 02:00 AEST.
  CHECK(next("30 2 * * *", "Australia/Sydney", "2026-04-04T12:00:00+11:00", 2) ==
        Strings{"2026-04-05T02:30:00+11:00", "2026-04-06T02:30:00+10:00"});
  CHECK(next("0,30 * * * *", "Australia/Sydney", "2026-04-05T01:30:00+11:00", 5) ==
        Strings{"2026-04-05T02:00:00+11:00", "2026-04-05T02:30:00+11:00",
                "2026-04-05T02:00:00+10:00", "2026-04-05T02:30:00+10:00",
                "2026-04-05T03:00:00+10:00"});
  // DST starts on the first Sunday of October: 02:00 AEST becomes 03:00 AEDT.
  CHECK(next("30 2 * * *", "Australia/Sydney", "2026-10-03T12:00:00+10:00", 2) ==
        Strings{"2026-10-04T03:00:00+11:00", "2026-10-05T02:30:00+11:00"});
  CHECK(next("*/20 * * * *", "Australia/Sydney", "2026-10-04T01:30:00+10:00", 3) ==
        Strings{"2026-10-04T01:40:00+10:00", "2026-10-04T03:00:00+11:00",
                "2026-10-04T03:20:00+11:00"});
}

TEST_CASE("schedule: zones with unusual transitions", "[schedule]") {
  // Samoa skipped 30 December 2011 entirely: that day's noon fires at the next instant.
  CHECK(next("0 12 * * *", "Pacific/Apia", "2011-12-28T12:00:00-10:00", 3) ==
        Strings{"2011-12-29T12:00:00-10:00", "2011-12-31T00:00:00+14:00",
                "2011-12-31T12:00:00+14:00"});
  // São Paulo sprang forward at midnight and fell back into the previous day.
  CHECK(next("0 0 * * *", "America/Sao_Paulo", "2018-11-03T12:00:00-03:00", 2) ==
        Strings{"2018-11-04T01:00:00-02:00", "2018-11-05T00:00:00-02:00"});
  CHECK(next("30 23 * * *", "America/Sao_Paulo", "2019-02-16T12:00:00-02:00", 2) ==
        Strings{"2019-02-16T23:30:00-02:00", "2019-02-17T23:30:00-03:00"});
  CHECK(next("0,30 * * * *", "America/Sao_Paulo", "2019-02-16T22:45:00-02:00", 5) ==
        Strings{"2019-02-16T23:00:00-02:00", "2019-02-16T23:30:00-02:00",
                "2019-02-16T23:00:00-03:00", "2019-02-16T23:30:00-03:00",
                "2019-02-17T00:00:00-03:00"});
}

TEST_CASE("schedule: no answer outside the supported years", "[schedule]") {
  const Schedule s = schedule("* * * * *", "UTC");
  CHECK_FALSE(s.next_fire_after(at("9500-01-01T00:00:00Z")));
  CHECK(s.next_fire_after(at("8999-12-31T23:59:00Z")));
}

TEST_CASE("schedule: matches a minute-by-minute reference across DST", "[schedule]") {
  const std::vector<std::pair<const char*, const char*>> windows{
      {"America/New_York", "2026-03-07T12:00:00-05:00"},
      {"America/New_York", "2026-10-31T12:00:00-04:00"},
      {"Europe/London", "2026-03-28T12:00:00+00:00"},
      {"Europe/London", "2026-10-24T12:00:00+01:00"},
      {"Australia/Sydney", "2026-04-04T12:00:00+11:00"},
      {"Australia/Sydney", "2026-10-03T12:00:00+10:00"},
      {"Australia/Lord_Howe", "2026-04-04T12:00:00+11:00"},
      {"Australia/Lord_Howe", "2026-10-03T12:00:00+10:30"},
      {"Asia/Tokyo", "2026-03-07T12:00:00+09:00"},
      {"Pacific/Apia", "2011-12-29T00:00:00-10:00"},
      {"America/Sao_Paulo", "2018-11-03T12:00:00-03:00"},
      {"America/Sao_Paulo", "2019-02-16T12:00:00-02:00"},
  };
  const std::vector<const char*> exprs{
      "30 2 * * *", "*/15 2 * * *", "0,30 * * * *", "*/20 1-3 * * *", "0 1 * * *",
      "15 * * * *", "0 */2 * * *",  "59 1 * * *",   "0 3 * * *",      "*/7 * * * *",
      "0 0 * * *",  "30 23 * * *",  "45 0 * * *",   "0 12 * * *",     "0 0 * * SUN",
      "* 2 * * *",  "1-59 * * * *", "@hourly",
  };
  for (const auto& [tz, from] : windows)
    for (const char* expr : exprs) check_against_reference(expr, tz, from, 48h, 1min);
}

TEST_CASE("schedule: matches a second-by-second reference across DST", "[schedule]") {
  const std::vector<std::pair<const char*, const char*>> windows{
      {"America/New_York", "2026-03-08T00:00:00-05:00"},
      {"America/New_York", "2026-11-01T00:00:00-04:00"},
      {"Australia/Sydney", "2026-04-05T01:00:00+11:00"},
      {"Australia/Lord_Howe", "2026-10-04T00:30:00+10:30"},
  };
  const std::vector<const char*> exprs{"*/20 * 2 * * *", "0 30 1 * * *", "15 */10 * * * *",
                                       "59 59 1 * * *", "*/30 * * * * *"};
  for (const auto& [tz, from] : windows)
    for (const char* expr : exprs) check_against_reference(expr, tz, from, 4h, 1s);
}

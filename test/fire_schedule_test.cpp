#include "nightshift/fire_schedule.h"
#include "nightshift/job_loader.h"

#include <catch2/catch.hpp>

using namespace nightshift;

namespace {

JobSpec job(const std::string& extra) {
  Diagnostics errors;
  auto parsed = parse_job("job: j\nschedule: '10 0 * * *'\ntimezone: Asia/Tokyo\n" + extra +
                              "steps:\n  s: { shell: x }\n",
                          "j.yaml", errors);
  REQUIRE(parsed);
  return parsed->spec;
}

Instant at(const std::string& iso) {
  return parse_iso8601(iso, find_time_zone("UTC")).value();
}

std::vector<std::string> fires(const JobSpec& j, const std::vector<DueFire>& due) {
  std::vector<std::string> out;
  for (const auto& d : due)
    out.push_back(format_iso8601(d.at, j.zone) + (d.catchup ? " catchup" : ""));
  return out;
}

using Lines = std::vector<std::string>;

}  // namespace

TEST_CASE("fire schedule: on time, one fire") {
  JobSpec kpi = job("");
  CHECK(fires(kpi, due_fires(kpi, at("2026-11-25T00:00:00+09:00"), at("2026-11-25T00:10:00+09:00"),
                             false)) == Lines{"2026-11-25T00:10:00+09:00"});
  CHECK(due_fires(kpi, at("2026-11-25T00:10:00+09:00"), at("2026-11-25T12:00:00+09:00"), false)
            .empty());
}

TEST_CASE("fire schedule: after downtime, catchup decides") {
  Instant since = at("2026-11-21T12:00:00+09:00");
  Instant now = at("2026-11-25T12:00:00+09:00");  // four fire times missed
  JobSpec none = job("catchup: none\n");
  CHECK(due_fires(none, since, now, true).empty());
  JobSpec latest = job("catchup: latest\n");
  CHECK(fires(latest, due_fires(latest, since, now, true)) ==
        Lines{"2026-11-25T00:10:00+09:00 catchup"});
  JobSpec all = job("catchup: all\n");
  CHECK(fires(all, due_fires(all, since, now, true)) ==
        Lines{"2026-11-22T00:10:00+09:00 catchup", "2026-11-23T00:10:00+09:00 catchup",
              "2026-11-24T00:10:00+09:00 catchup", "2026-11-25T00:10:00+09:00 catchup"});
  CHECK(fires(all, due_fires(all, since, now, true, 2)) ==
        Lines{"2026-11-24T00:10:00+09:00 catchup", "2026-11-25T00:10:00+09:00 catchup"});
}

TEST_CASE("fire schedule: a late wake-up fires the latest on time and catches up the rest") {
  Instant since = at("2026-11-23T12:00:00+09:00");
  Instant now = at("2026-11-25T00:10:03+09:00");
  JobSpec latest = job("");
  CHECK(fires(latest, due_fires(latest, since, now, false)) ==
        Lines{"2026-11-24T00:10:00+09:00 catchup", "2026-11-25T00:10:00+09:00"});
  JobSpec none = job("catchup: none\n");
  CHECK(fires(none, due_fires(none, since, now, false)) == Lines{"2026-11-25T00:10:00+09:00"});
}

TEST_CASE("fire schedule: a manual-only job is never due") {
  Diagnostics errors;
  auto manual = parse_job("job: m\nsteps:\n  s: { shell: x }\n", "m.yaml", errors);
  REQUIRE(manual);
  CHECK(due_fires(manual->spec, at("2020-01-01T00:00:00Z"), at("2026-01-01T00:00:00Z"), true)
            .empty());
}

TEST_CASE("fire schedule: deadlines") {
  JobSpec kpi = job("deadline: '06:00'\n");
  CHECK(format_iso8601(*deadline_for(kpi, at("2026-11-25T00:10:00+09:00")), kpi.zone) ==
        "2026-11-25T06:00:00+09:00");
  // A deadline earlier in the day than the fire time is the next morning's.
  JobSpec late = job("deadline: '00:05'\n");
  CHECK(format_iso8601(*deadline_for(late, at("2026-11-25T00:10:00+09:00")), late.zone) ==
        "2026-11-26T00:05:00+09:00");
  CHECK_FALSE(deadline_for(job(""), at("2026-11-25T00:10:00+09:00")));
}

namespace {

JobSpec scheduled(const std::string& schedule, const std::string& timezone) {
  Diagnostics errors;
  std::string text = "job: j\n";
  if (!schedule.empty()) text += "schedule: '" + schedule + "'\n";
  text += "timezone: " + timezone + "\nsteps:\n  s: { shell: x }\n";
  auto parsed = parse_job(text, "j.yaml", errors);
  REQUIRE(parsed);
  return parsed->spec;
}

}  // namespace

TEST_CASE("fire schedule: the interval is the median gap between the next fire times") {
  using std::chrono::hours;
  using std::chrono::minutes;
  using std::chrono::seconds;
  const Instant from = at("2026-01-01T00:00:00Z");
  CHECK(schedule_interval(scheduled("10 0 * * *", "Asia/Tokyo"), from) == hours(24));
  CHECK(schedule_interval(scheduled("*/15 * * * *", "UTC"), from) == minutes(15));
  CHECK(schedule_interval(scheduled("*/10 * * * * *", "UTC"), from) == seconds(10));
  // Weekdays only: the weekend's 3-day gap is the exception, not the rule.
  CHECK(schedule_interval(scheduled("0 0 * * 1-5", "UTC"), from) == hours(24));
  // Monthly from February: gaps of 28, 30 (x4) and 31 (x5) days; the middle two are 30 and 31.
  CHECK(schedule_interval(scheduled("0 0 1 * *", "UTC"), from) == hours(24 * 30 + 12));
  // Spring forward makes one gap 23 hours: the median stays a day.
  CHECK(schedule_interval(scheduled("30 3 * * *", "America/New_York"),
                          at("2026-03-03T00:00:00Z")) == hours(24));
  // An odd count of gaps takes the middle one.
  CHECK(schedule_interval(scheduled("0 0 1 * *", "UTC"), from, 4) == hours(24 * 30));
}

TEST_CASE("fire schedule: a manual-only job has no interval") {
  CHECK_FALSE(schedule_interval(scheduled("", "UTC"), at("2026-01-01T00:00:00Z")).has_value());
  // One fire time ahead gives no gap (the default search horizon is finite).
  CHECK_FALSE(
      schedule_interval(scheduled("0 0 1 * *", "UTC"), at("2026-01-01T00:00:00Z"), 1).has_value());
}

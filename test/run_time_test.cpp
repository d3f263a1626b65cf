#include "nightshift/run_time.h"
#include "nightshift/job_loader.h"

#include <catch2/catch.hpp>

using namespace nightshift;
using namespace date::literals;

namespace {

JobSpec job(const std::string& schedule_and_zone) {
  Diagnostics errors;
  auto parsed =
      parse_job("job: j\n" + schedule_and_zone + "steps:\n  s: { shell: x }\n", "j.yaml", errors);
  REQUIRE(parsed);
  return parsed->spec;
}

Instant at(const std::string& iso) {
  return parse_iso8601(iso, find_time_zone("UTC")).value();
}

std::string iso(const JobSpec& j, Instant t) {
  return format_iso8601(t, j.zone);
}

}  // namespace

TEST_CASE("run time: the latest fire time at or before now") {
  JobSpec kpi = job("schedule: '10 0 * * *'\ntimezone: Asia/Tokyo\n");
  CHECK(iso(kpi, *latest_fire_at_or_before(kpi, at("2026-11-25T12:00:00+09:00"))) ==
        "2026-11-25T00:10:00+09:00");
  CHECK(iso(kpi, *latest_fire_at_or_before(kpi, at("2026-11-25T00:05:00+09:00"))) ==
        "2026-11-24T00:10:00+09:00");
  // At a fire time exactly, that fire time.
  CHECK(iso(kpi, *latest_fire_at_or_before(kpi, at("2026-11-25T00:10:00+09:00"))) ==
        "2026-11-25T00:10:00+09:00");
  JobSpec minutely = job("schedule: '* * * * *'\n");
  CHECK(iso(minutely, *latest_fire_at_or_before(minutely, at("2026-11-25T12:34:56Z"))) ==
        "2026-11-25T12:34:00+00:00");
  JobSpec yearly = job("schedule: '@yearly'\n");
  CHECK(iso(yearly, *latest_fire_at_or_before(yearly, at("2026-11-25T12:00:00Z"))) ==
        "2026-01-01T00:00:00+00:00");
  JobSpec leap = job("schedule: '0 0 29 2 *'\n");
  CHECK(iso(leap, *latest_fire_at_or_before(leap, at("2031-03-01T00:00:00Z"))) ==
        "2028-02-29T00:00:00+00:00");
  JobSpec manual = job("");
  CHECK(*latest_fire_at_or_before(manual, at("2026-11-25T12:00:00Z")) ==
        at("2026-11-25T12:00:00Z"));
}

TEST_CASE("run time: that day's fire time") {
  JobSpec kpi = job("schedule: '10 0 * * *'\ntimezone: Asia/Tokyo\n");
  CHECK(iso(kpi, fire_time_on(kpi, 2026_y / 11 / 24).value()) == "2026-11-24T00:10:00+09:00");
  JobSpec weekdays = job("schedule: '0 6 * * MON-FRI'\ntimezone: Europe/London\n");
  auto saturday = fire_time_on(weekdays, 2026_y / 11 / 28);
  REQUIRE_FALSE(saturday.has_value());
  CHECK(saturday.error().message == "job 'j' has no fire time on 2026-11-28 (Europe/London)");
  JobSpec manual = job("timezone: America/New_York\n");
  CHECK(iso(manual, fire_time_on(manual, 2026_y / 3 / 8).value()) == "2026-03-08T00:00:00-05:00");
  // A day whose midnight does not exist starts when the gap ends.
  JobSpec sao_paulo = job("timezone: America/Sao_Paulo\n");
  CHECK(iso(sao_paulo, fire_time_on(sao_paulo, 2018_y / 11 / 4).value()) ==
        "2018-11-04T01:00:00-02:00");
}

TEST_CASE("run time: local dates and date parsing") {
  JobSpec kpi = job("schedule: '10 0 * * *'\ntimezone: Asia/Tokyo\n");
  CHECK(local_date(kpi, at("2026-11-24T15:10:00Z")) == "2026-11-25");
  CHECK(parse_date("2024-02-29") == std::optional(2024_y / 2 / 29));
  CHECK_FALSE(parse_date("2023-02-29"));
  CHECK_FALSE(parse_date("2023-2-1"));
  CHECK_FALSE(parse_date("yesterday"));
}

TEST_CASE("run time: a backfill's fire times are those whose local date is in the range") {
  auto isos = [](const JobSpec& j, const std::vector<Instant>& fires) {
    std::vector<std::string> out;
    for (Instant t : fires) out.push_back(iso(j, t));
    return out;
  };
  JobSpec six_hourly = job("schedule: '0 */6 * * *'\ntimezone: Asia/Tokyo\n");
  CHECK(isos(six_hourly,
             fire_times_between(six_hourly, 2026_y / 11 / 24, 2026_y / 11 / 25).value()) ==
        std::vector<std::string>{"2026-11-24T00:00:00+09:00", "2026-11-24T06:00:00+09:00",
                                 "2026-11-24T12:00:00+09:00", "2026-11-24T18:00:00+09:00",
                                 "2026-11-25T00:00:00+09:00", "2026-11-25T06:00:00+09:00",
                                 "2026-11-25T12:00:00+09:00", "2026-11-25T18:00:00+09:00"});
  JobSpec weekdays = job("schedule: '0 6 * * MON-FRI'\n");
  CHECK(fire_times_between(weekdays, 2026_y / 11 / 28, 2026_y / 11 / 29).value().empty());
  JobSpec manual = job("timezone: America/New_York\n");
  CHECK(isos(manual, fire_times_between(manual, 2026_y / 3 / 7, 2026_y / 3 / 9).value()) ==
        std::vector<std::string>{"2026-03-07T00:00:00-05:00", "2026-03-08T00:00:00-05:00",
                                 "2026-03-09T00:00:00-04:00"});
  auto reversed = fire_times_between(manual, 2026_y / 3 / 9, 2026_y / 3 / 7);
  REQUIRE_FALSE(reversed.has_value());
  CHECK(reversed.error().message == "from 2026-03-09 is after to 2026-03-07");
  // 1,000 runs are fine, the next one is not.
  JobSpec minutely = job("schedule: '* * * * *'\n");
  CHECK(fire_times_between(manual, 2026_y / 1 / 1, 2028_y / 9 / 26).value().size() == 1000);
  auto too_many = fire_times_between(manual, 2026_y / 1 / 1, 2028_y / 9 / 27);
  REQUIRE_FALSE(too_many.has_value());
  CHECK(too_many.error().message ==
        "a backfill of job 'j' from 2026-01-01 to 2028-09-27 would "
        "make more than 1000 runs: split the range");
  CHECK_FALSE(fire_times_between(minutely, 2026_y / 1 / 1, 2026_y / 1 / 1).has_value());
}

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

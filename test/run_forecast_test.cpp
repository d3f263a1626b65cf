#include "nightshift/run_forecast.h"

#include "support/test_job.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace nightshift;
using namespace std::chrono_literals;

namespace {

using Names = std::vector<std::string>;

Job job_from(const std::string& yaml) {
  return test::test_job(yaml);
}

// The seed's nightly batch: extract, four aggregates, one load.
const char* const kKpi = R"(job: kpi
steps:
  extract: { shell: x }
  lessons: { shell: x, depends_on: [extract] }
  materials: { shell: x, depends_on: [extract] }
  sales: { shell: x, depends_on: [extract], pool: source_db }
  registrations: { shell: x, depends_on: [extract], pool: source_db }
  load: { shell: x, depends_on: [lessons, materials, sales, registrations] }
)";

const std::map<std::string, Duration> kTimes = {
    {"extract", 10min}, {"lessons", 20min},       {"materials", 5min},
    {"sales", 30min},   {"registrations", 40min}, {"load", 15min},
};

}  // namespace

TEST_CASE("run forecast: waves by depth, in file order within a wave") {
  RunForecast f = forecast_run(job_from(kKpi), kTimes, 4, {});
  CHECK(f.waves == std::vector<Names>{{"extract"},
                                      {"lessons", "materials", "sales", "registrations"},
                                      {"load"}});
}

TEST_CASE("run forecast: the critical path is the longest chain of expected times") {
  RunForecast f = forecast_run(job_from(kKpi), kTimes, 4, {});
  CHECK(f.critical_path == Names{"extract", "registrations", "load"});
  CHECK(f.critical_path_length == 65min);
  CHECK(f.without_history.empty());
}

TEST_CASE("run forecast: the makespan is the executor's schedule, workers and pools included") {
  const Job job = job_from(kKpi);
  SECTION("enough workers, no pool limit: the critical path decides") {
    CHECK(forecast_run(job, kTimes, 4, {}).makespan == 65min);
  }
  SECTION("one worker: every step one after the other") {
    CHECK(forecast_run(job, kTimes, 1, {}).makespan == 120min);
  }
  SECTION("two workers: first come, first served in topological order") {
    // 10: lessons and materials start; 15: materials ends, sales starts;
    // 30: lessons ends, registrations starts; 45: sales ends; 70: registrations
    // ends, load starts; 85.
    CHECK(forecast_run(job, kTimes, 2, {}).makespan == 85min);
  }
  SECTION("a pool of one serializes its steps, others pass them by") {
    // sales 10-40, then registrations 40-80 (the pool), load 80-95.
    CHECK(forecast_run(job, kTimes, 4, {{"source_db", 1}}).makespan == 95min);
  }
  SECTION("a pool not in the config has no limit, as in the executor") {
    CHECK(forecast_run(job, kTimes, 4, {{"other", 1}}).makespan == 65min);
  }
}

TEST_CASE("run forecast: steps without history count as no time and are named") {
  auto times = kTimes;
  times.erase("registrations");
  times.erase("load");
  RunForecast f = forecast_run(job_from(kKpi), times, 4, {});
  CHECK(f.without_history == Names{"registrations", "load"});
  CHECK(f.critical_path == Names{"extract", "sales", "load"});
  CHECK(f.makespan == 40min);
}

TEST_CASE("run forecast: a job of independent steps on one worker adds them up") {
  Job job = job_from("job: j\nsteps:\n  a: { shell: x }\n  b: { shell: x }\n  c: { shell: x }\n");
  RunForecast f = forecast_run(job, {{"a", 1s}, {"b", 2s}, {"c", 3s}}, 1, {});
  CHECK(f.waves == std::vector<Names>{{"a", "b", "c"}});
  CHECK(f.critical_path == Names{"c"});
  CHECK(f.makespan == 6s);
}

TEST_CASE("run forecast: the median of durations") {
  CHECK(!median_duration({}));
  CHECK(median_duration({5s}) == 5s);
  CHECK(median_duration({9s, 1s, 5s}) == 5s);
  CHECK(median_duration({4s, 1s, 10s, 2s}) == 3s);
}

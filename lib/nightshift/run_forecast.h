// RunForecast: what a run of a job will look like before it starts (`nightshift
// plan`, GET /jobs/{job}/plan): its steps in waves, its critical path, and its
// expected makespan, from each step's expected duration (the median of its last
// successful attempts), scheduled the way the executor schedules — ready steps
// first come, first served, up to `workers` at once, a step whose pool is full
// passed over for a later one. Pure: no clock, no store.
#pragma once

#include "nightshift/duration.h"
#include "nightshift/job.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace nightshift {

struct RunForecast {
  // Wave N holds the steps whose longest chain of dependencies has N steps
  // (Dag::depth); within a wave, file order.
  std::vector<std::vector<std::string>> waves;
  // The chain of dependencies with the longest expected time, first step first:
  // no amount of workers makes the run shorter than it.
  std::vector<std::string> critical_path;
  Duration critical_path_length{};
  // When the last step ends if the run starts at 0, with the job's workers and
  // pools, every step taking its expected time.
  Duration makespan{};
  // Steps with no successful attempt to learn from: counted as taking no time.
  std::vector<std::string> without_history;
};

// `expected` holds the steps that have a history; `pool_sizes` the config's
// pools (a pool not listed there has no limit, as in the executor).
RunForecast forecast_run(const Job& job, const std::map<std::string, Duration>& expected,
                         int workers, const std::map<std::string, int>& pool_sizes);

// The median of `samples` (the mean of the middle two for an even count);
// nullopt for none.
std::optional<Duration> median_duration(std::vector<Duration> samples);

}  // namespace nightshift

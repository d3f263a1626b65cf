// expected_step_durations: how long each step of a job usually takes, from the
// store — the median of its last successful attempts — for `plan`.
#pragma once

#include "nightshift/duration.h"
#include "nightshift/runtime/run_store.h"

#include <map>
#include <string>

namespace nightshift {

// How many of a step's latest successful attempts its median is taken over,
// and how many of the job's latest runs are read for them.
constexpr int kHistoryAttempts = 10;
constexpr int kHistoryRuns = 30;

// Per step name (as recorded: a step since removed from the job may be
// there), the median duration of its last kHistoryAttempts successful
// attempts within the job's last kHistoryRuns runs. Steps without one are absent.
std::map<std::string, Duration> expected_step_durations(RunReader& store, const std::string& job);

}  // namespace nightshift

// The JSON of GET /jobs/{job}/plan (DESIGN.md): {"job", "waves",
// "critical_path", "expected_makespan_seconds"}, and what a person needs to
// trust it: "critical_path_seconds", "workers", "expected_seconds" per step
// with a history, "steps_without_history", and, when the job has a next fire
// time, "next_run" and "expected_end" (in the job's time zone). Pure.
#pragma once

#include "nightshift/job.h"
#include "nightshift/run_forecast.h"
#include "nightshift/schedule.h"

#include <boost/json/object.hpp>

#include <map>
#include <optional>
#include <string>

namespace nightshift {

boost::json::object forecast_json(const Job& job, const RunForecast& forecast,
                                  const std::map<std::string, Duration>& expected, int workers,
                                  std::optional<Instant> next_run);

}  // namespace nightshift

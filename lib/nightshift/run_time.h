// Which fire time a run is for, when a user asks for "the latest" or "that day"
// (DESIGN.md: `run` and `rerun` without --date take the job's latest fire time
// at or before now; with --date D, that day's fire time).
#pragma once

#include "nightshift/job_spec.h"
#include "nightshift/text_error.h"

#include <date/date.h>

#include <optional>
#include <string>
#include <vector>

namespace nightshift {

// The latest fire instant at or before `t`; `t` itself for a manual-only job.
// nullopt when the schedule never fired in the eight years before `t`.
std::optional<Instant> latest_fire_at_or_before(const JobSpec& job, Instant t);

// The first fire instant on local date `day`; 00:00 local for a manual-only
// job. An error when the schedule does not fire that day.
TextResult<Instant> fire_time_on(const JobSpec& job, date::year_month_day day);

// A backfill's fire times (DESIGN.md): every fire time whose local date lies
// in [from, to], oldest first; for a job without schedule, 00:00 local of each
// date. An error when from is after to, or when there are more than `limit`.
TextResult<std::vector<Instant>> fire_times_between(const JobSpec& job, date::year_month_day from,
                                                    date::year_month_day to,
                                                    std::size_t limit = 1000);

// The local date of `t` in the job's time zone, as YYYY-MM-DD.
std::string local_date(const JobSpec& job, Instant t);

// Reads YYYY-MM-DD (a real calendar date).
std::optional<date::year_month_day> parse_date(std::string_view text);

}  // namespace nightshift

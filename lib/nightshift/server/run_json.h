// The JSON shapes of DESIGN.md's API: a run with its steps, a job's summary and
// its definition (secrets shown as ***). Pure: records in, Boost.JSON out.
#pragma once

#include "nightshift/job.h"
#include "nightshift/runtime/run_store.h"

#include <boost/json/value.hpp>

#include <optional>
#include <vector>

namespace nightshift {

std::string format_timestamp(Timestamp t);  // ISO 8601 UTC with milliseconds

// {"run_id", "job", "trigger", "scheduled_at", "date", "status", "created_at",
//  "started_at", "finished_at", "steps": [{"step", "status", "attempt",
//  "started_at", "finished_at", "exit_code", "carried_over"}]}
boost::json::object run_json(const RunRecord& run);

// A run's summary: the run's fields without "steps", and "step_counts":
// {STATE: N} for the states its steps are in.
boost::json::object run_summary_json(const RunSummary& summary);

// One attempt: {"attempt", "status", "started_at", "finished_at", "exit_code", "counts_as_retry"}.
boost::json::object attempt_json(const AttemptRecord& attempt);

// {"job", "description", "schedule", "timezone", "next_run", "deadline",
//  "deadline_missed", "paused", "last_run": a run summary or null}
boost::json::object job_summary_json(const JobSpec& job, std::optional<Instant> next_run,
                                     bool deadline_missed, bool paused,
                                     const std::optional<RunSummary>& last_run);

// The definition: every setting and step, env values with ${secret:...} shown
// as "***", and the DAG (each step's depends_on, downstream and depth).
boost::json::object job_definition_json(const Job& job);

}  // namespace nightshift

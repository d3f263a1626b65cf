// The data lines of GET /events (DESIGN.md): one JSON object per event, built
// from what was just stored. Pure: values in, one line of JSON out.
#pragma once

#include "nightshift/runtime/run_store.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nightshift {

// `event: run` — {"run_id", "job", "status", "at"}.
std::string run_event_data(const std::string& job, std::int64_t run_id, RunStatus status,
                           Timestamp at);

// `event: step` — {"run_id", "job", "step", "status", "attempt", "at"}, plus
// "exit_code" when the attempt has one and "will_retry" on an attempt's end
// (true: the attempt failed and the step runs again; the step stays running).
struct StepEventData {
  std::string job;
  std::int64_t run_id = 0;
  std::string step;
  StepState status = StepState::pending;
  int attempt = 0;  // the step's latest attempt (0: it never started)
  std::optional<int> exit_code;
  std::optional<bool> will_retry;  // set on an attempt's end only
  Timestamp at;
};
std::string step_event_data(const StepEventData& event);

// `event: job` — {"job", "status", "at"}; status "loaded" (in the job set a
// reload put in force) or "removed" (gone from it).
std::string job_event_data(const std::string& job, std::string_view status, Timestamp at);

}  // namespace nightshift

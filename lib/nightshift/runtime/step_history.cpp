#include "nightshift/runtime/step_history.h"

#include "nightshift/run_forecast.h"

#include <vector>

namespace nightshift {

std::map<std::string, Duration> expected_step_durations(RunReader& store, const std::string& job) {
  std::map<std::string, std::vector<Duration>> samples;
  // Newest runs first, so each step keeps its latest attempts.
  for (const RunRecord& run : store.list_runs(job, kHistoryRuns)) {
    for (const AttemptRecord& a : store.attempts(run.run_id)) {
      if (a.state != StepState::succeeded || !a.finished_at) continue;
      auto& mine = samples[a.step];
      if (mine.size() < kHistoryAttempts) mine.push_back(*a.finished_at - a.started_at);
    }
  }
  std::map<std::string, Duration> expected;
  for (auto& [step, durations] : samples) {
    if (auto median = median_duration(std::move(durations))) expected[step] = *median;
  }
  return expected;
}

}  // namespace nightshift

#include "nightshift/runtime/run_store.h"

#include "nightshift/job_spec.h"
#include "nightshift/run_time.h"

#include <unistd.h>

#include <array>

namespace nightshift {

std::string_view to_string(Trigger trigger) {
  switch (trigger) {
    case Trigger::schedule:
      return "schedule";
    case Trigger::catchup:
      return "catchup";
    case Trigger::manual:
      return "manual";
    case Trigger::backfill:
      return "backfill";
  }
  return "unknown";
}

std::optional<Trigger> parse_trigger(std::string_view text) {
  for (Trigger trigger : {Trigger::schedule, Trigger::catchup, Trigger::manual, Trigger::backfill})
    if (to_string(trigger) == text) return trigger;
  return std::nullopt;
}

std::string_view to_string(OwnerKind kind) {
  return kind == OwnerKind::daemon ? "daemon" : "run";
}

std::string owner_host() {
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0) return "unknown";
  return name.data();
}

Timestamp now_timestamp() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

NewRun make_new_run(const JobSpec& job, Trigger trigger, Instant scheduled_at,
                    const std::vector<bool>& carried_over) {
  NewRun run;
  run.job = job.name;
  run.trigger = trigger;
  run.scheduled_at = scheduled_at;
  run.scheduled_at_text = format_iso8601(scheduled_at, job.zone);
  run.date = local_date(job, scheduled_at);
  run.created_at = now_timestamp();
  run.steps.reserve(job.steps.size());  // exact: no doubling's slack (a 100,000-step job)
  for (std::size_t i = 0; i < job.steps.size(); ++i)
    run.steps.push_back({job.steps[i].name, i < carried_over.size() && carried_over[i]});
  return run;
}

std::vector<RunRecord> RunReader::unfinished_runs_of(const std::string& job) {
  std::vector<RunRecord> out;
  for (RunRecord& run : unfinished_runs()) {
    if (run.job != job) continue;
    run.steps.clear();
    out.push_back(std::move(run));
  }
  return out;
}

}  // namespace nightshift

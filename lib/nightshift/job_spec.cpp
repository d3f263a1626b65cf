#include "nightshift/job_spec.h"

namespace nightshift {

using namespace std::chrono_literals;

std::string_view to_string(StepKind kind) {
  switch (kind) {
    case StepKind::command:
      return "command";
    case StepKind::shell:
      return "shell";
    case StepKind::sql:
      return "sql";
  }
  return "unknown";
}

std::string_view to_string(Catchup catchup) {
  switch (catchup) {
    case Catchup::none:
      return "none";
    case Catchup::latest:
      return "latest";
    case Catchup::all:
      return "all";
  }
  return "unknown";
}

const StepSpec* JobSpec::find_step(std::string_view step) const {
  for (const auto& s : steps)
    if (s.name == step) return &s;
  return nullptr;
}

int JobSpec::retries(const StepSpec& step) const {
  return step.retries.value_or(defaults.retries.value_or(0));
}

Duration JobSpec::retry_delay(const StepSpec& step) const {
  return step.retry_delay.value_or(defaults.retry_delay.value_or(10s));
}

std::optional<Duration> JobSpec::timeout(const StepSpec& step) const {
  if (step.timeout) return *step.timeout;
  return defaults.timeout;
}

Duration JobSpec::kill_grace(const StepSpec& step) const {
  return step.kill_grace.value_or(defaults.kill_grace.value_or(10s));
}

}  // namespace nightshift

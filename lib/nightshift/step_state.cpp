#include "nightshift/step_state.h"

#include <array>
#include <utility>

namespace nightshift {
namespace {

constexpr std::array<std::pair<StepState, std::string_view>, 9> kStepStates{{
    {StepState::pending, "pending"},
    {StepState::ready, "ready"},
    {StepState::running, "running"},
    {StepState::succeeded, "succeeded"},
    {StepState::failed, "failed"},
    {StepState::timed_out, "timed_out"},
    {StepState::cancelled, "cancelled"},
    {StepState::upstream_failed, "upstream_failed"},
    {StepState::lost, "lost"},
}};

constexpr std::array<std::pair<RunStatus, std::string_view>, 5> kRunStatuses{{
    {RunStatus::queued, "queued"},
    {RunStatus::running, "running"},
    {RunStatus::succeeded, "succeeded"},
    {RunStatus::failed, "failed"},
    {RunStatus::cancelled, "cancelled"},
}};

template <class Table, class Enum>
std::string_view name_of(const Table& table, Enum value) {
  for (const auto& [v, name] : table)
    if (v == value) return name;
  return "unknown";
}

template <class Enum, class Table>
std::optional<Enum> value_of(const Table& table, std::string_view text) {
  for (const auto& [v, name] : table)
    if (name == text) return v;
  return std::nullopt;
}

}  // namespace

std::string_view to_string(StepState state) {
  return name_of(kStepStates, state);
}
std::string_view to_string(RunStatus status) {
  return name_of(kRunStatuses, status);
}
std::string_view to_string(RunIf run_if) {
  return run_if == RunIf::all_done ? "all_done" : "all_succeeded";
}

std::optional<StepState> parse_step_state(std::string_view text) {
  return value_of<StepState>(kStepStates, text);
}
std::optional<RunStatus> parse_run_status(std::string_view text) {
  return value_of<RunStatus>(kRunStatuses, text);
}

bool is_final(StepState state) {
  switch (state) {
    case StepState::succeeded:
    case StepState::failed:
    case StepState::timed_out:
    case StepState::cancelled:
    case StepState::upstream_failed:
      return true;
    default:
      return false;
  }
}

}  // namespace nightshift

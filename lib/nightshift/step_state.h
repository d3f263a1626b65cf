// The states a step goes through in a run, and how a run ends (DESIGN.md).
#pragma once

#include <optional>
#include <string_view>

namespace nightshift {

enum class StepState {
  pending,  // waiting for its dependencies
  ready,    // may start as soon as slots allow
  running,  // an attempt is under way
  succeeded,
  failed,
  timed_out,
  cancelled,
  upstream_failed,  // a dependency did not succeed and run_if does not allow it
  lost,             // its daemon died while it ran; restarted as a new attempt
};

enum class RunIf { all_succeeded, all_done };

enum class RunStatus { queued, running, succeeded, failed, cancelled };

std::string_view to_string(StepState state);
std::string_view to_string(RunStatus status);
std::string_view to_string(RunIf run_if);
std::optional<StepState> parse_step_state(std::string_view text);
std::optional<RunStatus> parse_run_status(std::string_view text);

// A step in one of these states will not change again within its run.
bool is_final(StepState state);

}  // namespace nightshift

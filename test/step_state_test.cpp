#include "nightshift/step_state.h"

#include <catch2/catch.hpp>

using namespace nightshift;

TEST_CASE("step_state: every step state round-trips through its name") {
  for (StepState state : {StepState::pending, StepState::ready, StepState::running,
                          StepState::succeeded, StepState::failed, StepState::timed_out,
                          StepState::cancelled, StepState::upstream_failed, StepState::lost}) {
    CAPTURE(to_string(state));
    CHECK(parse_step_state(to_string(state)) == state);
  }
  CHECK(to_string(StepState::upstream_failed) == "upstream_failed");
  CHECK(to_string(StepState::timed_out) == "timed_out");
}

TEST_CASE("step_state: every run status round-trips through its name") {
  for (RunStatus status : {RunStatus::queued, RunStatus::running, RunStatus::succeeded,
                           RunStatus::failed, RunStatus::cancelled}) {
    CAPTURE(to_string(status));
    CHECK(parse_run_status(to_string(status)) == status);
  }
}

TEST_CASE("step_state: unknown names do not parse") {
  CHECK_FALSE(parse_step_state("").has_value());
  CHECK_FALSE(parse_step_state("Succeeded").has_value());
  CHECK_FALSE(parse_step_state("success").has_value());
  CHECK_FALSE(parse_run_status("done").has_value());
  CHECK_FALSE(parse_run_status("running ").has_value());
}

TEST_CASE("step_state: run_if names") {
  CHECK(to_string(RunIf::all_succeeded) == "all_succeeded");
  CHECK(to_string(RunIf::all_done) == "all_done");
}

TEST_CASE("step_state: final states") {
  CHECK(is_final(StepState::succeeded));
  CHECK(is_final(StepState::failed));
  CHECK(is_final(StepState::timed_out));
  CHECK(is_final(StepState::cancelled));
  CHECK(is_final(StepState::upstream_failed));
  CHECK_FALSE(is_final(StepState::pending));
  CHECK_FALSE(is_final(StepState::ready));
  CHECK_FALSE(is_final(StepState::running));
  CHECK_FALSE(is_final(StepState::lost));
}

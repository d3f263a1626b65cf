// Plan: decides, without I/O or threads, which steps of a run may start, which
// became upstream_failed, and whether and how the run has ended (ninja's Plan).
// The executor drives it: take_ready() -> start steps -> step_finished().
#pragma once

#include "nightshift/dag.h"
#include "nightshift/step_state.h"

#include <cstddef>
#include <vector>

namespace nightshift {

class Plan {
 public:
  // `run_if` has one entry per step of `dag`. Steps marked in `carried_over`
  // (a rerun --from or --failed keeps them) count as succeeded from the start.
  // The Dag must outlive the Plan.
  Plan(const Dag& dag, std::vector<RunIf> run_if, std::vector<bool> carried_over = {});

  // The steps that became ready since the last call, in topological order,
  // now in state `running` from the Plan's point of view.
  std::vector<std::size_t> take_ready();

  // An attempt ended for good (retries are the executor's affair): `outcome` is
  // succeeded, failed, timed_out or cancelled. Marks upstream_failed, at once and
  // as far down as it goes, the steps whose run_if no longer lets them run.
  void step_finished(std::size_t step, StepState outcome);

  // Cancels the run: every step not yet started becomes cancelled; running steps
  // stay running until step_finished reports them. No-op once the run is done.
  void cancel();

  // The steps the plan decided without their running (upstream_failed, or
  // cancelled by cancel()) since the last call, so the executor records them
  // without scanning every step of the run on each event.
  std::vector<std::size_t> take_decided();

  StepState state(std::size_t step) const { return states_[step]; }
  bool carried_over(std::size_t step) const;
  std::size_t running_count() const { return running_; }

  // True when no step is running and none can start any more.
  bool done() const;

  // succeeded iff every step succeeded (carried-over steps count); cancelled if
  // cancel() was called and not every step succeeded; failed otherwise; running
  // while not done.
  RunStatus status() const;

 private:
  // Records a final state and lets every pending step downstream react to it.
  void finish(std::size_t step, StepState outcome);

  const Dag& dag_;
  std::vector<RunIf> run_if_;
  std::vector<bool> carried_over_;
  std::vector<StepState> states_;
  std::vector<std::size_t> unfinished_upstream_;  // per step
  std::vector<std::size_t> topological_rank_;     // per step: its place in the Dag's order
  std::vector<std::size_t> newly_ready_;
  std::vector<std::size_t> newly_decided_;
  std::size_t running_ = 0;
  std::size_t finished_ = 0;   // steps in a final state
  std::size_t succeeded_ = 0;  // carried-over steps included
  bool cancelled_ = false;
};

}  // namespace nightshift

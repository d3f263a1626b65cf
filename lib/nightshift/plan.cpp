#include "nightshift/plan.h"

#include <algorithm>
#include <cassert>
#include <utility>

namespace nightshift {

Plan::Plan(const Dag& dag, std::vector<RunIf> run_if, std::vector<bool> carried_over)
    : dag_(dag), run_if_(std::move(run_if)), carried_over_(std::move(carried_over)) {
  const std::size_t n = dag_.size();
  assert(run_if_.size() == n);
  if (carried_over_.empty()) carried_over_.assign(n, false);
  assert(carried_over_.size() == n);

  states_.assign(n, StepState::pending);
  unfinished_upstream_.assign(n, 0);
  topological_rank_.assign(n, 0);
  const auto& order = dag_.topological_order();
  for (std::size_t rank = 0; rank < order.size(); ++rank) topological_rank_[order[rank]] = rank;

  for (std::size_t step = 0; step < n; ++step) {
    if (!carried_over_[step]) continue;
    states_[step] = StepState::succeeded;
    ++finished_;
    ++succeeded_;
  }
  // In topological order, so the first take_ready() needs no sort.
  for (std::size_t step : order) {
    if (carried_over_[step]) continue;
    for (std::size_t dep : dag_.upstream(step))
      if (!carried_over_[dep]) ++unfinished_upstream_[step];
    if (unfinished_upstream_[step] == 0) {
      states_[step] = StepState::ready;
      newly_ready_.push_back(step);
    }
  }
}

bool Plan::carried_over(std::size_t step) const {
  return carried_over_[step];
}

std::vector<std::size_t> Plan::take_ready() {
  std::vector<std::size_t> ready;
  ready.swap(newly_ready_);
  std::sort(ready.begin(), ready.end(), [this](std::size_t a, std::size_t b) {
    return topological_rank_[a] < topological_rank_[b];
  });
  for (std::size_t step : ready) states_[step] = StepState::running;
  running_ += ready.size();
  return ready;
}

std::vector<std::size_t> Plan::take_decided() {
  std::vector<std::size_t> decided;
  decided.swap(newly_decided_);
  return decided;
}

void Plan::step_finished(std::size_t step, StepState outcome) {
  assert(states_[step] == StepState::running);
  assert(outcome == StepState::succeeded || outcome == StepState::failed ||
         outcome == StepState::timed_out || outcome == StepState::cancelled);
  --running_;
  finish(step, outcome);
}

void Plan::cancel() {
  // A run that has ended keeps the status it ended with.
  if (cancelled_ || done()) return;
  cancelled_ = true;
  for (std::size_t step = 0; step < states_.size(); ++step) {
    if (states_[step] != StepState::pending && states_[step] != StepState::ready) continue;
    states_[step] = StepState::cancelled;
    ++finished_;
    newly_decided_.push_back(step);
  }
  newly_ready_.clear();
}

bool Plan::done() const {
  return finished_ == states_.size();
}

RunStatus Plan::status() const {
  if (!done()) return RunStatus::running;
  if (succeeded_ == states_.size()) return RunStatus::succeeded;
  return cancelled_ ? RunStatus::cancelled : RunStatus::failed;
}

void Plan::finish(std::size_t step, StepState outcome) {
  // A worklist, not recursion: a failure may cascade down a 10,000-step chain.
  std::vector<std::size_t> settled{step};
  states_[step] = outcome;
  while (!settled.empty()) {
    const std::size_t upstream = settled.back();
    settled.pop_back();
    const StepState result = states_[upstream];
    ++finished_;
    if (result == StepState::succeeded) ++succeeded_;
    for (std::size_t next : dag_.downstream(upstream)) {
      // Only pending steps still wait; the others were decided already.
      if (states_[next] != StepState::pending) continue;
      --unfinished_upstream_[next];
      if (result != StepState::succeeded && run_if_[next] == RunIf::all_succeeded) {
        states_[next] = StepState::upstream_failed;
        settled.push_back(next);
        newly_decided_.push_back(next);
      } else if (unfinished_upstream_[next] == 0) {
        states_[next] = StepState::ready;
        newly_ready_.push_back(next);
      }
    }
  }
}

}  // namespace nightshift

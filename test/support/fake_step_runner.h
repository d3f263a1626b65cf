// FakeStepRunner: a StepRunner for unit tests of the executor. It records every
// invocation, tracks how many attempts run at once, and ends each attempt on
// the io_context with the outcome the test scripted for its step.
#pragma once

#include "nightshift/runtime/step_runner.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <map>
#include <mutex>
#include <set>

namespace nightshift::test {

class FakeStepRunner : public StepRunner {
 public:
  explicit FakeStepRunner(boost::asio::io_context& io) : io_(io) {}

  // The outcomes of a step's attempts, in order; the last one repeats.
  // Unscripted steps succeed.
  void script(const std::string& step, std::vector<StepState> outcomes) {
    std::lock_guard lock(mutex_);
    scripts_[step] = std::deque<StepState>(outcomes.begin(), outcomes.end());
  }
  // Steps that never end by themselves (until cancelled).
  void hang(const std::string& step) {
    std::lock_guard lock(mutex_);
    hanging_.insert(step);
  }
  // Track the largest number of attempts of `steps` running at once.
  void watch_pool(const std::string& name, std::set<std::string> steps) {
    std::lock_guard lock(mutex_);
    pools_[name] = std::move(steps);
  }

  std::shared_ptr<StepHandle> start(const StepInvocation& step, Done done) override {
    auto attempt = std::make_shared<Attempt>(*this, step.step, std::move(done));
    std::lock_guard lock(mutex_);
    started_.push_back(step);
    max_running_ = std::max(max_running_, ++running_);
    running_steps_.insert(step.step);
    for (const auto& [pool, members] : pools_) {
      int n = 0;
      for (const auto& s : running_steps_) n += static_cast<int>(members.count(s));
      pool_max_[pool] = std::max(pool_max_[pool], n);
    }
    if (hanging_.count(step.step)) return attempt;
    StepState outcome = StepState::succeeded;
    if (auto it = scripts_.find(step.step); it != scripts_.end() && !it->second.empty()) {
      outcome = it->second.front();
      if (it->second.size() > 1) it->second.pop_front();
    }
    // End a moment later, so that other steps can start in between.
    auto timer = std::make_shared<boost::asio::steady_timer>(io_, std::chrono::microseconds(200));
    timer->async_wait([attempt, timer, outcome](auto) { attempt->end(outcome); });
    return attempt;
  }

  std::vector<StepInvocation> started() const {
    std::lock_guard lock(mutex_);
    return started_;
  }
  int max_running() const {
    std::lock_guard lock(mutex_);
    return max_running_;
  }
  int max_in_pool(const std::string& name) const {
    std::lock_guard lock(mutex_);
    auto it = pool_max_.find(name);
    return it == pool_max_.end() ? 0 : it->second;
  }

 private:
  class Attempt : public StepHandle, public std::enable_shared_from_this<Attempt> {
   public:
    Attempt(FakeStepRunner& runner, std::string step, Done done)
        : runner_(runner), step_(std::move(step)), done_(std::move(done)) {}
    void cancel() override {
      boost::asio::post(runner_.io_,
                        [self = shared_from_this()] { self->end(StepState::cancelled); });
    }
    void end(StepState outcome) {
      Done done;
      {
        std::lock_guard lock(runner_.mutex_);
        if (!done_) return;  // ended already (cancelled, or finished first)
        done = std::move(done_);
        done_ = nullptr;
        --runner_.running_;
        runner_.running_steps_.erase(runner_.running_steps_.find(step_));
      }
      done(StepResult{outcome, outcome == StepState::succeeded ? 0 : 1, ""});
    }

   private:
    FakeStepRunner& runner_;
    std::string step_;
    Done done_;
  };

  boost::asio::io_context& io_;
  mutable std::mutex mutex_;
  std::map<std::string, std::deque<StepState>> scripts_;
  std::set<std::string> hanging_;
  std::vector<StepInvocation> started_;
  std::multiset<std::string> running_steps_;
  std::map<std::string, std::set<std::string>> pools_;
  std::map<std::string, int> pool_max_;
  int running_ = 0;
  int max_running_ = 0;
};

}  // namespace nightshift::test

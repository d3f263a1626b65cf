// RunnerHarness: runs a StepRunner's attempts to their end on a fresh
// io_context run by the test's own thread, keeping each attempt's result and
// how many times its `done` ran. With two helpers for step logs: read_log and
// when_log_contains.
#pragma once

#include "nightshift/runtime/step_runner.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace nightshift::test {

// The whole file; empty when it is missing.
inline std::string read_log(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Calls `then` on `io` once the file at `path` contains `text` (polled every 5 ms).
inline void when_log_contains(boost::asio::io_context& io, const std::string& path,
                              const std::string& text, std::function<void()> then) {
  using namespace std::chrono_literals;
  auto timer = std::make_shared<boost::asio::steady_timer>(io, 5ms);
  auto poll = std::make_shared<std::function<void()>>();
  *poll = [timer, poll, path, text, then] {
    if (read_log(path).find(text) != std::string::npos) {
      then();
      *poll = nullptr;  // breaks the cycle through the captured `poll`
      return;
    }
    timer->expires_after(5ms);
    timer->async_wait([poll](const boost::system::error_code&) {
      if (*poll) (*poll)();
    });
  };
  timer->async_wait([poll](const boost::system::error_code&) { (*poll)(); });
}

class RunnerHarness {
 public:
  using Factory = std::function<std::unique_ptr<StepRunner>(boost::asio::io_context&)>;

  explicit RunnerHarness(const Factory& make_runner) : runner_(make_runner(io_)) {}

  std::shared_ptr<StepHandle> start(const StepInvocation& step) {
    std::size_t index = results_.size();
    results_.emplace_back();
    calls_.push_back(0);
    return runner_->start(step, [this, index](StepResult r) {
      ++calls_[index];
      results_[index] = std::move(r);
    });
  }

  // Runs `io` until every attempt has reported (or `limit`, which only
  // catches a hang); then each has, exactly once.
  void run(std::chrono::seconds limit = std::chrono::seconds(60)) {
    io_.run_for(limit);
    for (int calls : calls_) REQUIRE(calls == 1);
  }

  StepResult& result(std::size_t index) { return *results_.at(index); }
  int calls(std::size_t index) const { return calls_.at(index); }
  boost::asio::io_context& io() { return io_; }
  void destroy_runner() { runner_.reset(); }

 private:
  boost::asio::io_context io_;
  std::unique_ptr<StepRunner> runner_;
  std::vector<std::optional<StepResult>> results_;
  std::vector<int> calls_;
};

}  // namespace nightshift::test

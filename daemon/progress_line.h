// ProgressLine: the line a terminal shows under a run's step changes while the
// run goes on — "7/20 steps done, 2 running, 1 failed, 1m10s of about 3m" —
// rewritten in place (carriage return, erase line). `run` and `rerun --wait`
// keep one each; when stdout is not a terminal it prints nothing, so logs and
// pipes get only the plain change lines.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

namespace nightshift::cli {

class ProgressLine {
 public:
  // `expected`: how long the job's runs usually take (from plan), if known.
  ProgressLine(bool enabled, std::optional<std::chrono::milliseconds> expected = std::nullopt);

  bool enabled() const { return enabled_; }
  void set_expected(std::optional<std::chrono::milliseconds> expected) { expected_ = expected; }

  // A step's latest status, in the API's words ("running", "succeeded", ...).
  void set(const std::string& step, const std::string& status);
  const std::string* status(const std::string& step) const;

  // The line's text at `elapsed` since the start; empty before any step is known.
  std::string text(std::chrono::milliseconds elapsed) const;

  // Writes the line (replacing the one shown), and erases it before other output.
  void show();
  void clear();

 private:
  const bool enabled_;
  std::optional<std::chrono::milliseconds> expected_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::map<std::string, std::string> statuses_;
  // Kept as statuses change, so each line costs the same in a 100,000-step run
  // as in a 10-step one (counting the map each time made a run quadratic).
  int done_ = 0, running_ = 0, failed_ = 0;
  bool shown_ = false;
};

// Whether a step in STATUS will not change again in this attempt's run.
bool is_final_step(const std::string& status);

}  // namespace nightshift::cli

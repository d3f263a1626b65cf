#include "progress_line.h"

#include "api_client.h"

#include <iostream>

namespace nightshift::cli {

bool is_final_step(const std::string& status) {
  return status != "pending" && status != "ready" && status != "running";
}

ProgressLine::ProgressLine(bool enabled, std::optional<std::chrono::milliseconds> expected)
    : enabled_(enabled), expected_(expected) {}

void ProgressLine::set(const std::string& step, const std::string& status) {
  statuses_[step] = status;
}

const std::string* ProgressLine::status(const std::string& step) const {
  auto it = statuses_.find(step);
  return it == statuses_.end() ? nullptr : &it->second;
}

std::string ProgressLine::text(std::chrono::milliseconds elapsed) const {
  if (statuses_.empty()) return {};
  int done = 0, running = 0, failed = 0;
  for (const auto& [step, status] : statuses_) {
    if (status == "running") ++running;
    if (is_final_step(status)) ++done;
    if (status == "failed" || status == "timed_out" || status == "upstream_failed") ++failed;
  }
  std::string line = std::to_string(done) + "/" + std::to_string(statuses_.size()) +
                     " steps done, " + std::to_string(running) + " running, " +
                     std::to_string(failed) + " failed, " + format_elapsed(elapsed);
  if (expected_) line += " of about " + format_elapsed(*expected_);
  return line;
}

void ProgressLine::show() {
  if (!enabled_) return;
  auto line = text(std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started_));
  if (line.empty()) return;
  std::cout << "\r\033[K" << line << std::flush;
  shown_ = true;
}

void ProgressLine::clear() {
  if (!shown_) return;
  std::cout << "\r\033[K";
  shown_ = false;
}

}  // namespace nightshift::cli

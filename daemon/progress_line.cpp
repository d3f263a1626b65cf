#include "progress_line.h"

#include "api_client.h"

#include <iostream>

namespace nightshift::cli {

bool is_final_step(const std::string& status) {
  return status != "pending" && status != "ready" && status != "running";
}

ProgressLine::ProgressLine(bool enabled, std::optional<std::chrono::milliseconds> expected)
    : enabled_(enabled), expected_(expected) {}

namespace {

bool is_failed_step(const std::string& status) {
  return status == "failed" || status == "timed_out" || status == "upstream_failed";
}

}  // namespace

void ProgressLine::set(const std::string& step, const std::string& status) {
  auto count = [this](const std::string& s, int by) {
    if (s == "running") running_ += by;
    if (is_final_step(s)) done_ += by;
    if (is_failed_step(s)) failed_ += by;
  };
  auto [it, added] = statuses_.try_emplace(step, status);
  if (!added) {
    count(it->second, -1);
    it->second = status;
  }
  count(status, 1);
}

const std::string* ProgressLine::status(const std::string& step) const {
  auto it = statuses_.find(step);
  return it == statuses_.end() ? nullptr : &it->second;
}

std::string ProgressLine::text(std::chrono::milliseconds elapsed) const {
  if (statuses_.empty()) return {};
  std::string line = std::to_string(done_) + "/" + std::to_string(statuses_.size()) +
                     " steps done, " + std::to_string(running_) + " running, " +
                     std::to_string(failed_) + " failed, " + format_elapsed(elapsed);
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

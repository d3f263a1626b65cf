// RunWatcher: `rerun --wait` — follows one run to its end through the daemon's
// GET /events, printing each step's state changes; no polling. It reads the
// run once after subscribing (what happened before), then applies the events;
// a dropped stream (a restarting daemon) or a `lost` marker subscribes again
// and reads the run again. On a terminal, a progress line under the changes
// says how far the run is.
#pragma once

#include "api_client.h"
#include "progress_line.h"

#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace nightshift::cli {

class RunWatcher {
 public:
  // Two clients of the same daemon: an HTTP client cannot make a request from
  // inside another's body, and the run is read while the events stream.
  // `expected`: how long the job's runs usually take (plan), for the progress line.
  RunWatcher(ApiClient& events, ApiClient& reads, std::int64_t run_id, bool progress,
             std::optional<std::chrono::milliseconds> expected = std::nullopt);
  // Until the run ends: 0 iff it succeeded, 1 otherwise or when the daemon
  // stays away for a minute.
  int wait();

 private:
  // What a frame of the stream means for this run: the exit code once it ended.
  std::optional<int> on_frame(std::string_view frame);
  // Reads the run whole and prints what changed; the exit code once it ended.
  std::optional<int> catch_up();
  void print(const boost::json::value& run);

  ApiClient& events_;
  ApiClient& reads_;
  const std::int64_t run_id_;
  std::map<std::string, std::string> seen_;  // step -> "status#attempt" printed
  ProgressLine progress_;                     // and each step's latest status
};

}  // namespace nightshift::cli

#include "run_watcher.h"

#include "command.h"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>

#include <iostream>
#include <thread>

namespace json = boost::json;

namespace nightshift::cli {
namespace {

using namespace std::chrono_literals;

// Long enough to ride out a daemon restart (kill -9 and systemd bringing it back).
constexpr auto kGiveUpAfter = 60s;
constexpr auto kRetryDelay = 500ms;

std::optional<std::int64_t> int_field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v && v->is_int64()) return v->as_int64();
  if (v && v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  return std::nullopt;
}

}  // namespace

RunWatcher::RunWatcher(ApiClient& events, ApiClient& reads, std::int64_t run_id, bool progress,
                       std::optional<std::chrono::milliseconds> expected)
    : events_(events), reads_(reads), run_id_(run_id), progress_(progress, expected) {}

int RunWatcher::wait() {
  std::optional<std::chrono::steady_clock::time_point> failing_since;
  for (;;) {
    std::string buffer;
    bool subscribed = false;
    std::optional<int> result;
    auto streamed = events_.get_text(
        api_target({"events"}),
        [&](std::string_view piece) {
          buffer.append(piece);
          for (std::size_t end; !result && (end = buffer.find("\n\n")) != std::string::npos;) {
            std::string frame = buffer.substr(0, end);
            buffer.erase(0, end + 2);
            // The first frame says the subscription holds: what came before it is read now.
            result = subscribed ? on_frame(frame) : catch_up();
            subscribed = true;
          }
          return !result;
        },
        /*follow=*/true);
    if (result) {
      progress_.clear();
      return *result;
    }
    if (subscribed) failing_since.reset();
    // The stream ended or never began: a restarting daemon, most likely; the run survives it.
    if (!streamed && streamed.error().status != 0 && streamed.error().status < 500)
      return report_failure(streamed.error());
    auto now = std::chrono::steady_clock::now();
    if (!failing_since) {
      failing_since = now;
      progress_.clear();
      std::cerr << "nightshift: "
                << (streamed ? std::string("the daemon ended the event stream")
                             : streamed.error().message)
                << "; still trying\n";
    } else if (now - *failing_since > kGiveUpAfter) {
      progress_.clear();
      std::string why = streamed ? "the event stream ended" : streamed.error().message;
      return report_failure({streamed ? 0 : streamed.error().status,
                             "stopped waiting for run " + std::to_string(run_id_) + ": " + why});
    }
    std::this_thread::sleep_for(kRetryDelay);
  }
}

std::optional<int> RunWatcher::on_frame(std::string_view frame) {
  std::string_view type;
  std::string_view data;
  while (!frame.empty()) {
    std::size_t end = frame.find('\n');
    std::string_view line = frame.substr(0, end);
    frame = end == std::string_view::npos ? std::string_view() : frame.substr(end + 1);
    if (line.rfind("event: ", 0) == 0) type = line.substr(7);
    if (line.rfind("data: ", 0) == 0) data = line.substr(6);
  }
  if (type == "lost") return catch_up();  // events were dropped: read the state again
  if (type != "step" && type != "run") return std::nullopt;
  boost::system::error_code ec;
  json::value event = json::parse(data, ec);
  if (ec || !event.is_object() || int_field(event.as_object(), "run_id") != run_id_)
    return std::nullopt;
  if (type == "run") {
    const json::value* status = event.as_object().if_contains("status");
    if (status && status->is_string() && is_final_step(std::string(status->as_string())))
      return catch_up();  // the outcome line needs the whole run
    return std::nullopt;
  }
  // One step's change, shaped as a run of that one step for step_changes.
  json::object step = event.as_object();
  step.erase("run_id");
  step.erase("job");
  std::string name = step.contains("step") ? std::string(step.at("step").as_string()) : "";
  // An event older than what the catch-up read already showed changes nothing.
  const std::string* known = progress_.status(name);
  auto attempt = int_field(step, "attempt").value_or(0);
  if (known && is_final_step(*known) &&
      seen_[name].substr(seen_[name].find('#') + 1) == std::to_string(attempt))
    return std::nullopt;
  print(json::object{{"steps", json::array{std::move(step)}}});
  return std::nullopt;
}

std::optional<int> RunWatcher::catch_up() {
  auto run = reads_.get(api_target({"runs", std::to_string(run_id_)}));
  if (!run) {
    if (run.error().status != 0 && run.error().status < 500) return report_failure(run.error());
    return std::nullopt;  // the stream's next event, or the reconnect, tries again
  }
  print(*run);
  if (auto status = final_run_status(*run)) {
    progress_.clear();
    std::cout << format_run_outcome(*run) << "\n";
    return *status == "succeeded" ? kExitOk : kExitFailure;
  }
  return std::nullopt;
}

void RunWatcher::print(const json::value& run) {
  if (const json::value* steps = run.is_object() ? run.as_object().if_contains("steps") : nullptr) {
    for (const json::value& step : steps->as_array()) {
      const json::object& s = step.as_object();
      if (s.contains("step") && s.contains("status"))
        progress_.set(std::string(s.at("step").as_string()), std::string(s.at("status").as_string()));
    }
  }
  auto changes = step_changes(run, seen_);
  if (!changes.empty()) progress_.clear();
  for (const auto& change : changes) std::cout << local_clock_time() << "  " << change << "\n";
  progress_.show();
  std::cout.flush();
}

}  // namespace nightshift::cli

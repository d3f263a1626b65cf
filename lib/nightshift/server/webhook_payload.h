// The body of a webhook notification (DESIGN.md "Daemon config", notify): the
// facts of one event about a run, as plain JSON or as a Slack message. Pure:
// a stored run in, the body's text out.
#pragma once

#include "nightshift/runtime/run_store.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nightshift {

// run_failed, run_succeeded, deadline_missed, run_recovered.
enum class NotifyEvent { run_failed, run_succeeded, deadline_missed, run_recovered };
std::string_view to_string(NotifyEvent event);

struct Notification {
  NotifyEvent event = NotifyEvent::run_failed;
  RunRecord run;                      // with its steps, as stored when the event happened
  std::string url;                    // the run's page on the dashboard
  std::optional<std::string> deadline;  // deadline_missed: the instant that passed, ISO 8601
};

// The steps that failed in the run themselves (failed, timed_out, lost), in
// the run's order; upstream_failed steps only follow from them.
std::vector<std::string> failed_steps(const RunRecord& run);

// format "json": {"event", "job", "run_id", "date", "status", "scheduled_at",
// "started_at", "finished_at", "failed_steps", "url"} (+ "deadline" for
// deadline_missed); format "slack": {"text": one line naming the same facts},
// which Slack's incoming webhooks (and Mattermost's, Rocket.Chat's) take.
std::string webhook_body(const Notification& n, std::string_view format);

}  // namespace nightshift

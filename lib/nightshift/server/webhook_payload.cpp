#include "nightshift/server/webhook_payload.h"

#include "nightshift/server/run_json.h"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace nightshift {
namespace {

namespace json = boost::json;

json::value optional_time(const std::optional<Timestamp>& t) {
  return t ? json::value(format_timestamp(*t)) : json::value(nullptr);
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// Slack reads &, < and > as markup: they are escaped, as its docs ask.
std::string slack_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else out += c;
  }
  return out;
}

std::string slack_text(const Notification& n) {
  const RunRecord& run = n.run;
  std::string what;
  switch (n.event) {
    case NotifyEvent::run_failed: what = "failed"; break;
    case NotifyEvent::run_succeeded: what = "succeeded"; break;
    case NotifyEvent::run_recovered: what = "recovered: succeeded after a failure"; break;
    case NotifyEvent::deadline_missed:
      what = "missed its deadline " + n.deadline.value_or("") + " (run is " +
             std::string(to_string(run.status)) + ")";
      break;
  }
  std::string text = "Nightshift: job " + run.job + " run " + std::to_string(run.run_id) +
                     " for " + run.date + " " + what + ".";
  text += " Scheduled " + run.scheduled_at_text;
  if (run.started_at) text += ", started " + format_timestamp(*run.started_at);
  if (run.finished_at) text += ", finished " + format_timestamp(*run.finished_at);
  text += ".";
  if (auto failed = failed_steps(run); !failed.empty())
    text += " Failed steps: " + join(failed) + ".";
  std::string out = slack_escape(text);
  // <URL|label> is Slack's link; the URL is ours (no markup in it).
  if (!n.url.empty()) out += " <" + n.url + "|Run " + std::to_string(run.run_id) + ">";
  return out;
}

}  // namespace

std::string_view to_string(NotifyEvent event) {
  switch (event) {
    case NotifyEvent::run_failed: return "run_failed";
    case NotifyEvent::run_succeeded: return "run_succeeded";
    case NotifyEvent::deadline_missed: return "deadline_missed";
    case NotifyEvent::run_recovered: return "run_recovered";
  }
  return "run_failed";
}

std::vector<std::string> failed_steps(const RunRecord& run) {
  std::vector<std::string> out;
  for (const StepRecord& step : run.steps) {
    if (step.state == StepState::failed || step.state == StepState::timed_out ||
        step.state == StepState::lost)
      out.push_back(step.step);
  }
  return out;
}

std::string webhook_body(const Notification& n, std::string_view format) {
  if (format == "slack") return json::serialize(json::object{{"text", slack_text(n)}});
  json::array failed;
  for (const std::string& step : failed_steps(n.run)) failed.emplace_back(step);
  json::object body{
      {"event", to_string(n.event)},
      {"job", n.run.job},
      {"run_id", n.run.run_id},
      {"date", n.run.date},
      {"status", to_string(n.run.status)},
      {"scheduled_at", n.run.scheduled_at_text},
      {"started_at", optional_time(n.run.started_at)},
      {"finished_at", optional_time(n.run.finished_at)},
      {"failed_steps", std::move(failed)},
      {"url", n.url},
  };
  if (n.deadline) body["deadline"] = *n.deadline;
  return json::serialize(body);
}

}  // namespace nightshift

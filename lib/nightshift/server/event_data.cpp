#include "nightshift/server/event_data.h"

#include "nightshift/server/run_json.h"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace nightshift {

namespace json = boost::json;

// Job and step names are validated ASCII, so the text is valid UTF-8; and
// serialize() escapes line breaks, so it stays one SSE `data:` line.

std::string run_event_data(const std::string& job, std::int64_t run_id, RunStatus status,
                           Timestamp at) {
  return json::serialize(json::object{{"run_id", run_id},
                                      {"job", job},
                                      {"status", to_string(status)},
                                      {"at", format_timestamp(at)}});
}

std::string step_event_data(const StepEventData& e) {
  json::object out{{"run_id", e.run_id},     {"job", e.job},
                   {"step", e.step},         {"status", to_string(e.status)},
                   {"attempt", e.attempt},   {"at", format_timestamp(e.at)}};
  if (e.exit_code) out["exit_code"] = *e.exit_code;
  if (e.will_retry) out["will_retry"] = *e.will_retry;
  return json::serialize(out);
}

std::string job_event_data(const std::string& job, std::string_view status, Timestamp at) {
  return json::serialize(
      json::object{{"job", job}, {"status", status}, {"at", format_timestamp(at)}});
}

}  // namespace nightshift

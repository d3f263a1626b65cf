#include "nightshift/server/webhook_payload.h"

#include <catch2/catch.hpp>

#include <boost/json/parse.hpp>

using namespace nightshift;
namespace json = boost::json;

namespace {

StepRecord step(std::string name, StepState state) {
  StepRecord s;
  s.step = std::move(name);
  s.state = state;
  return s;
}

RunRecord failed_run() {
  RunRecord run;
  run.run_id = 42;
  run.job = "kpi";
  run.scheduled_at_text = "2026-03-01T00:10:00+09:00";
  run.date = "2026-03-01";
  run.status = RunStatus::failed;
  run.started_at = Timestamp(std::chrono::milliseconds(1772291400000));  // 2026-02-28T15:10:00Z
  run.finished_at = Timestamp(std::chrono::milliseconds(1772291460500));
  run.steps = {step("extract", StepState::succeeded), step("aggregate", StepState::failed),
               step("load", StepState::upstream_failed), step("audit", StepState::timed_out)};
  return run;
}

}  // namespace

TEST_CASE("webhook payload: json carries DESIGN.md's fields") {
  Notification n{NotifyEvent::run_failed, failed_run(), "http://127.0.0.1:8080/#/runs/42", {}};
  json::value body = json::parse(webhook_body(n, "json"));
  CHECK(body == json::parse(R"({"event": "run_failed", "job": "kpi", "run_id": 42,
      "date": "2026-03-01", "status": "failed", "scheduled_at": "2026-03-01T00:10:00+09:00",
      "started_at": "2026-02-28T15:10:00.000Z", "finished_at": "2026-02-28T15:11:00.500Z",
      "failed_steps": ["aggregate", "audit"], "url": "http://127.0.0.1:8080/#/runs/42"})"));
}

TEST_CASE("webhook payload: a deadline missed before the run started") {
  RunRecord run = failed_run();
  run.status = RunStatus::queued;
  run.started_at.reset();
  run.finished_at.reset();
  for (auto& s : run.steps) s.state = StepState::pending;
  Notification n{NotifyEvent::deadline_missed, run, "http://h:1/#/runs/42",
                 "2026-03-01T06:00:00+09:00"};
  json::value body = json::parse(webhook_body(n, "json"));
  CHECK(body.at("event") == "deadline_missed");
  CHECK(body.at("status") == "queued");
  CHECK(body.at("started_at").is_null());
  CHECK(body.at("finished_at").is_null());
  CHECK(body.at("failed_steps").as_array().empty());
  CHECK(body.at("deadline") == "2026-03-01T06:00:00+09:00");
  CHECK(webhook_body(n, "slack") ==
        R"({"text":"Nightshift: job kpi run 42 for 2026-03-01 missed its deadline )"
        R"(2026-03-01T06:00:00+09:00 (run is queued). Scheduled 2026-03-01T00:10:00+09:00. )"
        R"(<http://h:1/#/runs/42|Run 42>"})");
}

TEST_CASE("webhook payload: slack is one text naming the same facts") {
  Notification n{NotifyEvent::run_failed, failed_run(), "http://127.0.0.1:8080/#/runs/42", {}};
  json::value body = json::parse(webhook_body(n, "slack"));
  REQUIRE(body.as_object().size() == 1);
  CHECK(body.at("text") ==
        "Nightshift: job kpi run 42 for 2026-03-01 failed. Scheduled 2026-03-01T00:10:00+09:00, "
        "started 2026-02-28T15:10:00.000Z, finished 2026-02-28T15:11:00.500Z. Failed steps: "
        "aggregate, audit. <http://127.0.0.1:8080/#/runs/42|Run 42>");
  n.event = NotifyEvent::run_recovered;
  n.run.status = RunStatus::succeeded;
  n.run.steps.clear();
  CHECK(json::parse(webhook_body(n, "slack")).at("text").as_string().starts_with(
      "Nightshift: job kpi run 42 for 2026-03-01 recovered: succeeded after a failure."));
}

TEST_CASE("webhook payload: slack markup in names is escaped") {
  RunRecord run = failed_run();
  run.steps = {step("a<b>&c", StepState::failed)};
  Notification n{NotifyEvent::run_failed, run, "", {}};
  CHECK(json::parse(webhook_body(n, "slack")).at("text").as_string().ends_with(
      "Failed steps: a&lt;b&gt;&amp;c."));
}

#include "nightshift/server/run_json.h"

#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

using namespace nightshift;
namespace json = boost::json;

namespace {

RunRecord finished_run() {
  RunRecord run;
  run.run_id = 42;
  run.job = "kpi";
  run.trigger = Trigger::schedule;
  run.scheduled_at_text = "2025-11-25T00:10:00+09:00";
  run.date = "2025-11-25";
  run.status = RunStatus::failed;
  run.created_at = Timestamp(std::chrono::milliseconds(1'764'000'600'123));
  run.started_at = Timestamp(std::chrono::milliseconds(1'764'000'601'000));
  run.finished_at = Timestamp(std::chrono::milliseconds(1'764'000'700'500));
  return run;
}

}  // namespace

TEST_CASE("run json: a run summary has the run's fields and step_counts, no steps") {
  RunSummary summary{finished_run(),
                     {{StepState::succeeded, 3}, {StepState::failed, 1},
                      {StepState::upstream_failed, 2}}};
  const json::object out = run_summary_json(summary);
  CHECK(json::serialize(out) ==
        R"({"run_id":42,"job":"kpi","trigger":"schedule",)"
        R"("scheduled_at":"2025-11-25T00:10:00+09:00","date":"2025-11-25","status":"failed",)"
        R"("created_at":"2025-11-24T16:10:00.123Z","started_at":"2025-11-24T16:10:01.000Z",)"
        R"("finished_at":"2025-11-24T16:11:40.500Z",)"
        R"("step_counts":{"succeeded":3,"failed":1,"upstream_failed":2}})");
  CHECK_FALSE(out.contains("steps"));

  summary.step_counts.clear();  // a run without steps
  CHECK(run_summary_json(summary).at("step_counts").as_object().empty());
}

TEST_CASE("run json: a job's summary has paused and a summary last_run") {
  JobSpec job;
  job.name = "kpi";
  job.description = "Daily KPIs";
  const json::object never = job_summary_json(job, std::nullopt, false, false, std::nullopt);
  CHECK(never.at("paused") == json::value(false));
  CHECK(never.at("last_run").is_null());
  for (const char* key : {"job", "description", "schedule", "timezone", "next_run", "deadline",
                          "deadline_missed", "paused", "last_run"})
    CHECK(never.contains(key));

  const json::object ran = job_summary_json(
      job, std::nullopt, true, true, RunSummary{finished_run(), {{StepState::succeeded, 4}}});
  const json::object& last = ran.at("last_run").as_object();
  CHECK(last.at("run_id") == json::value(42));
  CHECK(last.at("step_counts") == json::value(json::object{{"succeeded", 4}}));
  CHECK_FALSE(last.contains("steps"));
  CHECK(ran.at("deadline_missed") == json::value(true));
  CHECK(ran.at("paused") == json::value(true));
}

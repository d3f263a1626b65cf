#include "nightshift/server/run_json.h"

#include <date/date.h>

namespace nightshift {
namespace {

namespace json = boost::json;

json::value optional_time(const std::optional<Timestamp>& t) {
  return t ? json::value(format_timestamp(*t)) : json::value(nullptr);
}

// Env values that pull in a secret (or any environment variable, which may
// hold one) are shown as "***": the API never answers with a secret.
json::object env_json(const std::vector<EnvVar>& env) {
  json::object out;
  for (const EnvVar& var : env) {
    const std::string& text = var.value.source();
    bool hidden =
        text.find("${secret:") != std::string::npos || text.find("${env:") != std::string::npos;
    out[var.name] = hidden ? "***" : text;
  }
  return out;
}

json::value optional_seconds(const std::optional<Duration>& d) {
  return d ? json::value(format_duration(*d)) : json::value(nullptr);
}

// A run's own fields, shared by the run and its summary.
json::object run_fields(const RunRecord& run) {
  return json::object{
      {"run_id", run.run_id},
      {"job", run.job},
      {"trigger", to_string(run.trigger)},
      {"scheduled_at", run.scheduled_at_text},
      {"date", run.date},
      {"status", to_string(run.status)},
      {"created_at", format_timestamp(run.created_at)},
      {"started_at", optional_time(run.started_at)},
      {"finished_at", optional_time(run.finished_at)},
  };
}

}  // namespace

std::string format_timestamp(Timestamp t) {
  return date::format("%FT%TZ", t);
}

json::object run_summary_json(const RunSummary& summary) {
  json::object counts;
  for (const auto& [state, count] : summary.step_counts) counts[to_string(state)] = count;
  json::object out = run_fields(summary.run);
  out["step_counts"] = std::move(counts);
  return out;
}

json::object run_json(const RunRecord& run) {
  json::array steps;
  for (const StepRecord& s : run.steps) {
    steps.push_back(json::object{
        {"step", s.step},
        {"status", to_string(s.state)},
        {"attempt", s.attempt},
        {"started_at", optional_time(s.started_at)},
        {"finished_at", optional_time(s.finished_at)},
        {"exit_code", s.exit_code ? json::value(*s.exit_code) : json::value(nullptr)},
        {"carried_over", s.carried_over},
    });
  }
  json::object out = run_fields(run);
  out["steps"] = std::move(steps);
  return out;
}

json::object attempt_json(const AttemptRecord& a) {
  return json::object{
      {"attempt", a.attempt},
      {"status", to_string(a.state)},
      {"started_at", format_timestamp(a.started_at)},
      {"finished_at", optional_time(a.finished_at)},
      {"exit_code", a.exit_code ? json::value(*a.exit_code) : json::value(nullptr)},
      {"counts_as_retry", a.counts_as_retry},
      {"message", a.message},
  };
}

json::object job_summary_json(const JobSpec& job, std::optional<Instant> next_run,
                              bool deadline_missed, bool paused,
                              const std::optional<RunSummary>& last_run) {
  std::string deadline;
  if (job.deadline) deadline = date::format("%H:%M", *job.deadline);
  return json::object{
      {"job", job.name},
      {"description", job.description},
      {"schedule", job.schedule ? json::value(job.schedule->expr().text()) : json::value(nullptr)},
      {"timezone", job.timezone},
      {"next_run",
       next_run ? json::value(format_iso8601(*next_run, job.zone)) : json::value(nullptr)},
      {"deadline", job.deadline ? json::value(deadline) : json::value(nullptr)},
      {"deadline_missed", deadline_missed},
      {"paused", paused},
      {"last_run", last_run ? json::value(run_summary_json(*last_run)) : json::value(nullptr)},
  };
}

json::object job_definition_json(const Job& job) {
  const JobSpec& spec = job.spec;
  json::array steps;
  for (std::size_t i = 0; i < spec.steps.size(); ++i) {
    const StepSpec& s = spec.steps[i];
    json::array depends_on, downstream;
    for (std::size_t up : job.dag.upstream(i)) depends_on.push_back(json::string(job.dag.name(up)));
    for (std::size_t down : job.dag.downstream(i))
      downstream.push_back(json::string(job.dag.name(down)));
    json::object step{
        {"step", s.name},
        {"description", s.description.get()},
        {"kind", to_string(s.kind)},
        {"depends_on", std::move(depends_on)},
        {"downstream", std::move(downstream)},
        {"depth", job.dag.depth(i)},
        {"run_if", to_string(s.run_if)},
        {"retries", spec.retries(s)},
        {"retry_delay", format_duration(spec.retry_delay(s))},
        {"timeout", optional_seconds(spec.timeout(s))},
        {"pool", s.pool ? json::value(s.pool->value) : json::value(nullptr)},
        {"connection", s.connection ? json::value(s.connection->value) : json::value(nullptr)},
        {"env", env_json(s.env)},
    };
    if (s.kind == StepKind::command) {
      json::array argv;
      for (const Template& arg : s.command) argv.push_back(json::string(arg.source()));
      step["command"] = std::move(argv);
    } else {
      step[s.kind == StepKind::shell ? "shell" : "sql"] = s.script->source();
    }
    steps.push_back(std::move(step));
  }
  json::array order;
  for (std::size_t i : job.dag.topological_order()) order.push_back(json::string(job.dag.name(i)));
  return json::object{
      {"job", spec.name},
      {"description", spec.description},
      {"file", spec.file},
      {"schedule",
       spec.schedule ? json::value(spec.schedule->expr().text()) : json::value(nullptr)},
      {"timezone", spec.timezone},
      {"catchup", to_string(spec.catchup)},
      {"max_active_runs", spec.max_active_runs},
      {"env", env_json(spec.env)},
      {"steps", std::move(steps)},
      {"topological_order", std::move(order)},
  };
}

}  // namespace nightshift

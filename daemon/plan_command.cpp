// nightshift plan: a job's waves, critical path and expected makespan, from
// its history (DESIGN.md). With --config it reads the store itself (no daemon
// needed, as `nightshift run` does); otherwise it asks the daemon at --url.
// Either way the answer is GET /jobs/{job}/plan's JSON, printed for a person.
#include "api_client.h"
#include "command.h"
#include "engine.h"
#include "options.h"

#include "nightshift/config_loader.h"
#include "nightshift/job_set.h"
#include "nightshift/run_forecast.h"
#include "nightshift/runtime/step_history.h"
#include "nightshift/server/forecast_json.h"

#include <boost/json/value.hpp>

#include <chrono>
#include <exception>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace po = boost::program_options;
namespace json = boost::json;

namespace nightshift::cli {
namespace {

std::optional<json::object> plan_from_store(const std::string& config_file,
                                            const std::string& job_name) {
  auto config = load_config(config_file);
  if (!config) {
    for (const auto& e : config.error()) std::cerr << e.str() << "\n";
    return std::nullopt;
  }
  auto set = JobSet::load(config->jobs_dir, &*config);
  if (!set) {
    for (const auto& e : set.error()) std::cerr << e.str() << "\n";
    return std::nullopt;
  }
  auto job = (*set)->find(job_name);
  if (!job) {
    std::cerr << "nightshift: unknown job '" << job_name << "'\n";
    return std::nullopt;
  }
  try {
    auto store = open_run_store(*config);
    auto expected = expected_step_durations(*store, job_name);
    const int workers = effective_workers(*config);
    RunForecast forecast = forecast_run(*job, expected, workers, config->pools);
    std::optional<Instant> next_run;
    if (job->spec.schedule) {
      auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
      next_run = job->spec.schedule->next_fire_after(now);
    }
    return forecast_json(*job, forecast, expected, workers, next_run);
  } catch (const std::exception& e) {
    std::cerr << "nightshift: " << e.what() << "\n";
    return std::nullopt;
  }
}

std::string seconds_text(const json::value& seconds) {
  auto ms = std::chrono::milliseconds(static_cast<long long>(seconds.to_number<double>() * 1000));
  return format_elapsed(ms);
}

std::string names(const json::value& list, const char* separator) {
  std::string out;
  for (const json::value& name : list.as_array()) {
    if (!out.empty()) out += separator;
    out += name.as_string();
  }
  return out;
}

}  // namespace

// The text of `nightshift plan`, from GET /jobs/{job}/plan's answer.
std::string format_plan(const json::value& plan, const date::time_zone* zone) {
  std::ostringstream out;
  const json::object& p = plan.as_object();
  out << "plan of " << std::string_view(p.at("job").as_string()) << " with "
      << p.at("workers").as_int64() << " workers\n";
  int wave = 0;
  for (const json::value& steps : p.at("waves").as_array())
    out << "  wave " << ++wave << ": " << names(steps, ", ") << "\n";
  const json::object& expected = p.at("expected_seconds").as_object();
  out << "critical path:";
  const char* arrow = " ";
  for (const json::value& step : p.at("critical_path").as_array()) {
    const json::value* seconds = expected.if_contains(step.as_string());
    out << arrow << std::string_view(step.as_string()) << " ("
        << (seconds ? seconds_text(*seconds) : std::string("no history")) << ")";
    arrow = " -> ";
  }
  out << " = " << seconds_text(p.at("critical_path_seconds")) << "\n";
  out << "expected makespan: " << seconds_text(p.at("expected_makespan_seconds")) << "\n";
  if (const json::value* next = p.if_contains("next_run")) {
    out << "next run " << format_local_time(next, zone) << ", expected to end around "
        << format_local_time(p.if_contains("expected_end"), zone) << "\n";
  }
  if (!p.at("steps_without_history").as_array().empty()) {
    out << "no successful attempt yet (counted as taking no time): "
        << names(p.at("steps_without_history"), ", ") << "\n";
  }
  return out.str();
}

int plan_command(int argc, char** argv) {
  CommandLine line;
  line.usage = "nightshift plan JOB (--config FILE | --url URL [--token-file FILE])";
  line.about =
      "The job's steps in waves, its critical path and its expected makespan, from the median\n"
      "of each step's last successful attempts, scheduled with the config's workers and pools.\n"
      "With --config, reads the store the config names; otherwise asks the daemon at --url.\n"
      "Times are in the local time zone. Exit status: 0 shown, 1 failed, 2 usage.";
  std::string job;
  std::string config_file;
  ClientOptions client_options;
  add_job_argument(line, job);
  line.options.add_options()("config,c", po::value(&config_file),
                             "the daemon's config file: read its store directly");
  add_client_options(line, client_options);
  po::variables_map values;
  if (auto exit = parse_command_line(argc, argv, line, values)) return *exit;
  if (!config_file.empty() && values.count("url") && !values["url"].defaulted())
    return usage_error(line, "--config and --url exclude each other");

  if (!config_file.empty()) {
    auto plan = plan_from_store(config_file, job);
    if (!plan) return kExitFailure;
    std::cout << format_plan(*plan, local_zone());
    return kExitOk;
  }
  auto client = open_client(line, client_options);
  if (!client) return client.error();
  auto answer = client->get(api_target({"jobs", job, "plan"}));
  if (!answer) return report_failure(answer.error());
  std::cout << format_plan(*answer, local_zone());
  return kExitOk;
}

}  // namespace nightshift::cli

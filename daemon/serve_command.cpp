// nightshift serve: the daemon.
#include "command.h"
#include "daemon.h"
#include "options.h"

#include "nightshift/config_loader.h"
#include "nightshift/job_set.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include <iostream>

namespace po = boost::program_options;

namespace nightshift::cli {
namespace {

// The daemon's own log on stderr: readable lines, or one JSON object a line
// (message escaped by Boost.JSON) for log shippers.
Daemon::Logger make_logger(bool json) {
  auto logger = spdlog::stderr_logger_mt("nightshift");
  if (json) {
    logger->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","message":%v})");
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %-5l %v");
  }
  logger->flush_on(spdlog::level::info);
  return [logger, json](const std::string& level, const std::string& message) {
    std::string text = json ? boost::json::serialize(boost::json::string(message)) : message;
    logger->log(spdlog::level::from_str(level), text);
  };
}

}  // namespace

int serve_command(int argc, char** argv) {
  CommandLine line;
  line.usage = "nightshift serve --config FILE [--log-format text|json]";
  line.about =
      "Runs the daemon: schedules the jobs of jobs_dir, runs them, serves the HTTP API, the\n"
      "dashboard and /metrics. SIGHUP reloads the jobs; SIGTERM or SIGINT drains and stops.";
  std::string config_file, log_format = "text";
  line.options.add_options()("config,c", po::value(&config_file), "the daemon's config file")(
      "log-format", po::value(&log_format)->default_value("text"), "text or json");
  po::variables_map values;
  if (auto exit = parse_command_line(argc, argv, line, values)) return *exit;
  if (config_file.empty()) return usage_error(line, "missing --config");
  if (log_format != "text" && log_format != "json")
    return usage_error(line, "--log-format must be text or json");

  auto log = make_logger(log_format == "json");
  auto config = load_config(config_file);
  if (!config) {
    for (const auto& e : config.error()) log("error", e.str());
    return kExitFailure;
  }
  auto jobs = JobSet::load(config->jobs_dir, &*config);
  if (!jobs) {
    // At startup there is no previous set to keep: refuse to start, saying why.
    for (const auto& e : jobs.error()) log("error", e.str());
    log("error",
        "not starting: " + std::to_string(jobs.error().size()) + " errors in " + config->jobs_dir);
    return kExitFailure;
  }
  try {
    Daemon daemon(std::move(*config), *jobs, log);
    return daemon.run();
  } catch (const std::exception& e) {
    log("error", std::string("cannot start: ") + e.what());
    return kExitFailure;
  }
}

}  // namespace nightshift::cli

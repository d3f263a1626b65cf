// nightshift check: validate the config and every job file, as load would.
#include "command.h"
#include "options.h"

#include "nightshift/config_loader.h"
#include "nightshift/job_set.h"

#include <chrono>
#include <iostream>

namespace po = boost::program_options;

namespace nightshift::cli {
namespace {

void print_errors(const Diagnostics& errors) {
  for (const auto& e : errors) std::cerr << e.str() << "\n";
  std::cerr << errors.size() << (errors.size() == 1 ? " error\n" : " errors\n");
}

// One line a job: its steps, its schedule and time zone, its next fire time.
void print_summary(const JobSet& set) {
  auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  for (const auto& job : set.jobs()) {
    const JobSpec& spec = job->spec;
    std::cout << spec.name << ": " << spec.steps.size()
              << (spec.steps.size() == 1 ? " step (" : " steps (");
    for (std::size_t i : job->dag.topological_order())
      std::cout << (i == job->dag.topological_order().front() ? "" : ", ") << spec.steps[i].name;
    std::cout << "), ";
    if (!spec.schedule) {
      std::cout << "manual only, " << spec.timezone << "\n";
      continue;
    }
    std::cout << "schedule \"" << spec.schedule->expr().text() << "\" " << spec.timezone
              << ", next ";
    auto next = spec.schedule->next_fire_after(now);
    std::cout << (next ? spec.schedule->format(*next) : "never") << "\n";
  }
}

}  // namespace

int check_command(int argc, char** argv) {
  CommandLine line;
  line.usage = "nightshift check (--config FILE | --jobs-dir DIR)";
  line.about =
      "Validates the config and every job file, printing each fault as FILE:LINE:COL: message.\n"
      "With --jobs-dir alone, the checks that need the config (connection and pool names) are "
      "skipped.\n"
      "Exit status: 0 valid, 1 invalid, 2 usage.";
  std::string config_file;
  std::string jobs_dir;
  line.options.add_options()("config,c", po::value(&config_file), "the daemon's config file")(
      "jobs-dir,j", po::value(&jobs_dir), "a jobs directory to check without a config");
  po::variables_map values;
  if (auto exit = parse_command_line(argc, argv, line, values)) return *exit;
  if (config_file.empty() == jobs_dir.empty())
    return usage_error(line, "give exactly one of --config and --jobs-dir");

  std::optional<ConfigSpec> config;
  if (!config_file.empty()) {
    auto loaded = load_config(config_file);
    if (!loaded) {
      print_errors(loaded.error());
      return kExitFailure;
    }
    config = std::move(*loaded);
    jobs_dir = config->jobs_dir;
  }
  auto set = JobSet::load(jobs_dir, config ? &*config : nullptr);
  if (!set) {
    print_errors(set.error());
    return kExitFailure;
  }
  print_summary(**set);
  return kExitOk;
}

}  // namespace nightshift::cli

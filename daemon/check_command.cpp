// nightshift check: validate the config and every job file, as load would.
#include "command.h"
#include "options.h"

#include "nightshift/config_loader.h"
#include "nightshift/job_set.h"

#include <chrono>
#include <iostream>
#include <string>
#include <string_view>

namespace po = boost::program_options;

namespace nightshift::cli {
namespace {

void print_errors(const Diagnostics& errors) {
  for (const auto& e : errors) std::cerr << e.str() << "\n";
  std::cerr << errors.size() << (errors.size() == 1 ? " error\n" : " errors\n");
}

// Under a job's line, indented: its description, then each step's that has one
// (in DAG order), so that a reviewer reads what the job does without the YAML.
// A description of several lines (a YAML block) keeps its lines, indented
// deeper, so the next job's line still starts at the margin.
void print_indented(const std::string& first, const std::string& text) {
  std::string_view rest = text;
  while (!rest.empty() && rest.back() == '\n') rest.remove_suffix(1);
  std::cout << "  " << first;
  for (char c : rest) std::cout << (c == '\n' ? std::string_view("\n    ") : std::string_view(&c, 1));
  std::cout << "\n";
}

void print_descriptions(const Job& job) {
  const JobSpec& spec = job.spec;
  if (!spec.description.empty()) print_indented("", spec.description);
  for (std::size_t i : job.dag.topological_order()) {
    const StepSpec& step = spec.steps[i];
    if (!step.description.empty()) print_indented(step.name + ": ", step.description);
  }
}

// One line a job: its steps, its schedule and time zone, its next fire time;
// then its descriptions.
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
    } else {
      std::cout << "schedule \"" << spec.schedule->expr().text() << "\" " << spec.timezone
                << ", next ";
      auto next = spec.schedule->next_fire_after(now);
      std::cout << (next ? spec.schedule->format(*next) : "never") << "\n";
    }
    print_descriptions(*job);
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

// nightshift: one binary, one subcommand per job of the scheduler.
#include "command.h"

#include <cstring>
#include <iostream>
#include <string_view>

namespace {

struct Subcommand {
  std::string_view name;
  int (*run)(int, char**);
  std::string_view summary;
};

constexpr Subcommand kSubcommands[] = {
    {"serve", nightshift::cli::serve_command, "run the daemon: schedule, run, serve HTTP"},
    {"check", nightshift::cli::check_command, "validate the config and every job file"},
    {"calendar", nightshift::cli::calendar_command, "print the next fire times of a schedule"},
    {"run", nightshift::cli::run_command, "run one job once in the foreground"},
    {"status", nightshift::cli::status_command, "show the jobs, or one job's recent runs"},
    {"rerun", nightshift::cli::rerun_command, "queue a manual run of a job on the daemon"},
    {"logs", nightshift::cli::logs_command, "print or follow the log of a step"},
    {"cancel", nightshift::cli::cancel_command, "cancel a run on the daemon"},
    {"health", nightshift::cli::health_command, "probe the daemon's /healthz or /readyz"},
    {"pause", nightshift::cli::pause_command, "stop a job's schedule on the daemon"},
    {"unpause", nightshift::cli::unpause_command, "resume a paused job's schedule"},
    {"backfill", nightshift::cli::backfill_command, "queue runs of a job for a range of dates"},
    {"why", nightshift::cli::why_command, "say what a job or its active runs wait for"},
    {"plan", nightshift::cli::plan_command, "forecast a job's waves, critical path and makespan"},
};

void print_usage(std::ostream& out) {
  out << "usage: nightshift COMMAND [OPTIONS]\n\ncommands:\n";
  for (const auto& c : kSubcommands)
    out << "  " << c.name << std::string(10 - c.name.size(), ' ') << c.summary << "\n";
  out << "\n'nightshift COMMAND --help' describes each command.\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(std::cerr);
    return nightshift::cli::kExitUsage;
  }
  std::string_view command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    print_usage(std::cout);
    return nightshift::cli::kExitOk;
  }
  if (command == "--version") {
    std::cout << "nightshift " << NIGHTSHIFT_VERSION << "\n";
    return nightshift::cli::kExitOk;
  }
  for (const auto& c : kSubcommands)
    if (c.name == command) return c.run(argc - 1, argv + 1);
  std::cerr << "nightshift: unknown command '" << command << "'\n\n";
  print_usage(std::cerr);
  return nightshift::cli::kExitUsage;
}

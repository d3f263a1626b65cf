// nightshift pause / unpause: stops or resumes a job's schedule on a running
// daemon (POST /jobs/{job}/pause|unpause). The state is kept in the store.
#include "api_client.h"
#include "command.h"
#include "options.h"

#include <iostream>

namespace po = boost::program_options;

namespace nightshift::cli {
namespace {

int set_paused(int argc, char** argv, bool pause) {
  const std::string name = pause ? "pause" : "unpause";
  CommandLine line;
  line.usage = "nightshift " + name + " JOB [--url URL] [--token-file FILE]";
  line.about =
      pause ? "Pauses JOB on the daemon: it no longer fires on its schedule (runs already queued\n"
              "or running go on; rerun and backfill still work). Kept across restarts.\n"
              "Exit status: 0 paused, 1 the daemon is unreachable or refused, 2 usage."
            : "Unpauses JOB on the daemon: it fires on its schedule again, and the fire times it\n"
              "missed while paused follow its catchup (none, latest or all).\n"
              "Exit status: 0 unpaused, 1 the daemon is unreachable or refused, 2 usage.";
  std::string job;
  ClientOptions client_options;
  add_job_argument(line, job);
  add_client_options(line, client_options);
  po::variables_map values;
  if (auto exit = parse_command_line(argc, argv, line, values)) return *exit;
  auto client = open_client(line, client_options);
  if (!client) return client.error();
  auto answer = client->post(api_target({"jobs", job, name}));
  if (!answer) return report_failure(answer.error());
  std::cout << job << (pause ? " paused" : " unpaused") << "\n";
  return kExitOk;
}

}  // namespace

int pause_command(int argc, char** argv) {
  return set_paused(argc, argv, true);
}

int unpause_command(int argc, char** argv) {
  return set_paused(argc, argv, false);
}

}  // namespace nightshift::cli

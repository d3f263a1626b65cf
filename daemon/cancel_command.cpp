// nightshift cancel: asks a running daemon to cancel one run.
#include "api_client.h"
#include "command.h"
#include "options.h"

#include <iostream>

namespace po = boost::program_options;

namespace nightshift::cli {

int cancel_command(int argc, char** argv) {
  CommandLine line;
  line.usage = "nightshift cancel RUN [--url URL] [--token-file FILE]";
  line.about =
      "Asks the daemon to cancel run RUN: its running steps get SIGTERM (SIGKILL after their\n"
      "kill_grace) and no further step starts. The run ends as cancelled soon after.\n"
      "Exit status: 0 requested, 1 the daemon is unreachable or refused, 2 usage.";
  std::string run_text;
  ClientOptions client_options;
  line.options.add_options()("run", po::value(&run_text), "the run id (positional)");
  add_client_options(line, client_options);
  line.positional.add("run", 1);
  po::variables_map values;
  if (auto exit = parse_command_line(argc, argv, line, values)) return *exit;
  if (run_text.empty()) return usage_error(line, "missing RUN");
  auto run_id = parse_run_id(run_text);
  if (!run_id) return usage_error(line, "bad RUN '" + run_text + "': expected a run id");
  auto client = open_client(line, client_options);
  if (!client) return client.error();

  auto answer = client->post(api_target({"runs", std::to_string(*run_id), "cancel"}));
  if (!answer) return report_failure(answer.error());
  std::cout << "cancel requested for run " << *run_id << "\n";
  return kExitOk;
}

}  // namespace nightshift::cli

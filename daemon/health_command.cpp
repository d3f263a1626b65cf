// nightshift health: a probe of a running daemon's /healthz (or /readyz), for
// container HEALTHCHECKs and scripts where no HTTP client is installed (the
// image is debian:bookworm-slim without curl).
#include "api_client.h"
#include "command.h"
#include "options.h"

#include <iostream>

namespace po = boost::program_options;

namespace nightshift::cli {

int health_command(int argc, char** argv) {
  CommandLine line;
  line.usage = "nightshift health [--ready] [--url URL]";
  line.about =
      "Asks the daemon whether it is alive (GET /healthz) or, with --ready, ready to run steps\n"
      "(GET /readyz: the store is reachable and the jobs are loaded).\n"
      "Exit status: 0 yes, 1 no answer or not ready (the reason on stderr), 2 usage.";
  bool ready = false;
  ClientOptions client_options;
  line.options.add_options()("ready", po::bool_switch(&ready), "probe /readyz instead of /healthz");
  add_client_options(line, client_options);
  po::variables_map values;
  if (auto exit = parse_command_line(argc, argv, line, values)) return *exit;
  auto client = open_client(line, client_options);
  if (!client) return client.error();

  auto answer = client->get(api_target({ready ? "readyz" : "healthz"}));
  if (!answer) return report_failure(answer.error());
  std::cout << (ready ? "ready" : "alive") << "\n";
  return kExitOk;
}

}  // namespace nightshift::cli

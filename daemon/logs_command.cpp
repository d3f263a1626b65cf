// nightshift logs: prints, or follows, the log of one step of a run.
#include "api_client.h"
#include "command.h"
#include "options.h"

#include <iostream>

namespace po = boost::program_options;

namespace nightshift::cli {

int logs_command(int argc, char** argv) {
  CommandLine line;
  line.usage = "nightshift logs RUN STEP [--attempt N] [--follow] [--url URL] [--token-file FILE]";
  line.about =
      "Prints the log of STEP in run RUN: of its latest attempt, or of attempt N.\n"
      "--follow keeps printing as the step writes, until the attempt ends.\n"
      "Exit status: 0 printed, 1 the daemon is unreachable or refused (an unknown run or step),\n"
      "2 usage.";
  std::string run_text, step;
  int attempt = 0;
  bool follow = false;
  ClientOptions client_options;
  line.options.add_options()("run", po::value(&run_text), "the run id (positional)")(
      "step", po::value(&step), "the step (positional)")(
      "attempt,a", po::value(&attempt), "the attempt, from 1 (default: the latest)")(
      "follow,f", po::bool_switch(&follow), "keep printing until the attempt ends");
  add_client_options(line, client_options);
  line.positional.add("run", 1).add("step", 1);
  po::variables_map values;
  if (auto exit = parse_command_line(argc, argv, line, values)) return *exit;
  if (run_text.empty() || step.empty()) return usage_error(line, "missing RUN or STEP");
  auto run_id = parse_run_id(run_text);
  if (!run_id) return usage_error(line, "bad RUN '" + run_text + "': expected a run id");
  if (values.count("attempt") && attempt < 1)
    return usage_error(line, "--attempt must be at least 1");
  auto client = open_client(line, client_options);
  if (!client) return client.error();

  std::string target = api_target(
      {"runs", std::to_string(*run_id), "steps", step, "log"},
      {{"attempt", attempt > 0 ? std::to_string(attempt) : ""}, {"follow", follow ? "true" : ""}});
  // Flushed piece by piece: a followed log is read while it grows.
  auto written = client->get_text(
      target,
      [](std::string_view piece) {
        std::cout.write(piece.data(), static_cast<std::streamsize>(piece.size()));
        std::cout.flush();
        return static_cast<bool>(std::cout);
      },
      follow);
  if (!written) return report_failure(written.error());
  if (!std::cout) return report_failure({0, "cannot write the log to standard output"});
  return kExitOk;
}

}  // namespace nightshift::cli

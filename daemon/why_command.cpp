// nightshift why: what a job or its active runs wait for, as the daemon sees
// it (GET /jobs/{job}/why): one line for the job's state, one a reason.
#include "api_client.h"
#include "command.h"
#include "options.h"

#include <iostream>
#include <string_view>

namespace po = boost::program_options;

namespace nightshift::cli {

int why_command(int argc, char** argv) {
  CommandLine line;
  line.usage = "nightshift why JOB [--url URL] [--token-file FILE]";
  line.about =
      "What the job or its active runs wait for: its next fire time, max_active_runs, a full\n"
      "pool (and who holds it), busy workers, upstream steps, a retry, the store, the drain.\n"
      "Exit status: 0 shown, 1 the daemon is unreachable or refused (an unknown job), 2 usage.";
  std::string job;
  ClientOptions client_options;
  add_job_argument(line, job);
  add_client_options(line, client_options);
  po::variables_map values;
  if (auto exit = parse_command_line(argc, argv, line, values)) return *exit;
  auto client = open_client(line, client_options);
  if (!client) return client.error();
  auto answer = client->get(api_target({"jobs", job, "why"}));
  if (!answer) return report_failure(answer.error());
  const auto& why = answer->as_object();
  std::cout << std::string_view(why.at("job").as_string()) << ": "
            << std::string_view(why.at("state").as_string()) << "\n";
  for (const auto& reason : why.at("reasons").as_array())
    std::cout << "  " << std::string_view(reason.at("text").as_string()) << "\n";
  return kExitOk;
}

}  // namespace nightshift::cli

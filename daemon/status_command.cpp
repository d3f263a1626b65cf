// nightshift status: every job with its last and next run, or one job's
// recent runs with their steps, as a running daemon reports them.
#include "api_client.h"
#include "command.h"
#include "options.h"

#include <iostream>

namespace po = boost::program_options;

namespace nightshift::cli {

int status_command(int argc, char** argv) {
  CommandLine line;
  line.usage = "nightshift status [JOB [--limit N]] [--url URL] [--token-file FILE]";
  line.about =
      "Without JOB: every job with its last run, the start of that run, its next run and whether\n"
      "its deadline was missed. With JOB: that job's recent runs, newest first, with their steps.\n"
      "Times are in the local time zone. Exit status: 0 shown, 1 the daemon is unreachable or\n"
      "refused (an unknown job), 2 usage.";
  std::string job;
  int limit = 10;
  ClientOptions client_options;
  add_job_argument(line, job, false);
  line.options.add_options()("limit,n", po::value(&limit),
                             "how many runs of JOB to show (default 10)");
  add_client_options(line, client_options);
  po::variables_map values;
  if (auto exit = parse_command_line(argc, argv, line, values)) return *exit;
  if (values.count("limit") && job.empty()) return usage_error(line, "--limit needs a JOB");
  if (limit < 1) return usage_error(line, "--limit must be at least 1");
  auto client = open_client(line, client_options);
  if (!client) return client.error();

  if (job.empty()) {
    auto answer = client->get(api_target({"jobs"}));
    if (!answer) return report_failure(answer.error());
    std::cout << format_jobs_table(*answer, local_zone());
    return kExitOk;
  }
  auto answer = client->get(api_target({"jobs", job, "runs"}, {{"limit", std::to_string(limit)}}));
  if (!answer) return report_failure(answer.error());
  auto now =
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  std::cout << format_runs(*answer, local_zone(), now);
  return kExitOk;
}

}  // namespace nightshift::cli

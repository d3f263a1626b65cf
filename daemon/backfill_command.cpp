// nightshift backfill: queues one run (trigger backfill) of a job for every
// fire time in a range of local dates and, with --wait, follows them, oldest
// first, to their ends.
#include "api_client.h"
#include "command.h"
#include "options.h"
#include "run_watcher.h"

#include "nightshift/run_time.h"

#include <unistd.h>

#include <iostream>
#include <vector>

namespace po = boost::program_options;

namespace nightshift::cli {

int backfill_command(int argc, char** argv) {
  CommandLine line;
  line.usage =
      "nightshift backfill JOB --from YYYY-MM-DD --to YYYY-MM-DD [--missing-only] [--wait] "
      "[--url URL] [--token-file FILE]";
  line.about =
      "Queues one run of JOB for every fire time whose local date lies in [--from, --to]\n"
      "(00:00 local of each date for a job without schedule), oldest first; they start under\n"
      "the job's max_active_runs. --missing-only skips the fire times that have a run that\n"
      "succeeded or is still queued or running. At most 1,000 runs. --wait then follows each\n"
      "run in turn until all have ended (Ctrl-C stops the waiting, not the runs).\n"
      "Exit status: 0 queued (with --wait: every run succeeded), 1 the daemon is unreachable\n"
      "or refused, or a run did not succeed, 2 usage.";
  std::string job, from, to;
  bool missing_only = false, wait = false;
  ClientOptions client_options;
  add_job_argument(line, job);
  line.options.add_options()("from", po::value(&from), "the first local date (YYYY-MM-DD)")(
      "to", po::value(&to), "the last local date (YYYY-MM-DD)")(
      "missing-only", po::bool_switch(&missing_only),
      "skip fire times with a succeeded (or still active) run")("wait,w", po::bool_switch(&wait),
                                                                "follow the runs until they end");
  add_client_options(line, client_options);
  po::variables_map values;
  if (auto exit = parse_command_line(argc, argv, line, values)) return *exit;
  for (const auto& [option, text] : {std::pair{"--from", from}, std::pair{"--to", to}}) {
    if (text.empty()) return usage_error(line, std::string("missing ") + option);
    if (!parse_date(text))
      return usage_error(line,
                         std::string("bad ") + option + " '" + text + "': expected YYYY-MM-DD");
  }
  auto client = open_client(line, client_options);
  if (!client) return client.error();

  auto answer = client->post(
      api_target({"jobs", job, "backfill"},
                 {{"from", from}, {"to", to}, {"missing_only", missing_only ? "true" : ""}}));
  if (!answer) return report_failure(answer.error());
  const auto* object = answer->if_object();
  const auto* ids = object ? object->if_contains("run_ids") : nullptr;
  if (!ids || !ids->is_array())
    return report_failure(
        {0, "unexpected answer from nightshift at " + client->url().text + ": no run_ids"});
  std::vector<std::int64_t> run_ids;
  for (const auto& id : ids->as_array())
    if (id.is_int64()) run_ids.push_back(id.as_int64());
  if (run_ids.empty()) {
    std::cout << "no run queued: "
              << (missing_only ? "every fire time from " : "no fire time from ") << from << " to "
              << to << (missing_only ? " has its run" : "") << "\n";
    return kExitOk;
  }
  std::cout << run_ids.size()
            << (run_ids.size() == 1 ? " backfill run queued: " : " backfill runs queued: ")
            << run_ids.front();
  if (run_ids.size() > 1) std::cout << " to " << run_ids.back();
  std::cout << std::endl;
  if (!wait) return kExitOk;
  auto reads = open_client(line, client_options);
  if (!reads) return reads.error();
  const bool terminal = ::isatty(STDOUT_FILENO) == 1;
  // Oldest first, as they start: while one is watched, the later ones wait or
  // run, and their watch begins with what they did meanwhile.
  std::size_t succeeded = 0;
  for (std::size_t i = 0; i < run_ids.size(); ++i) {
    std::cout << "backfill: run " << run_ids[i] << " (" << i + 1 << " of " << run_ids.size() << ")"
              << std::endl;
    if (RunWatcher(*client, *reads, run_ids[i], terminal).wait() == kExitOk) ++succeeded;
  }
  std::cout << "backfill: " << succeeded << " of " << run_ids.size() << " runs succeeded"
            << std::endl;
  return succeeded == run_ids.size() ? kExitOk : kExitFailure;
}

}  // namespace nightshift::cli

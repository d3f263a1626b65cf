// nightshift rerun: queues a manual run of a job on a running daemon and, with
// --wait, follows it to its end.
#include "api_client.h"
#include "command.h"
#include "options.h"
#include "run_watcher.h"

#include "nightshift/run_time.h"

#include <unistd.h>

#include <iostream>

namespace po = boost::program_options;

namespace nightshift::cli {
namespace {

// How long the job's runs usually take (GET /jobs/{job}/plan), when every step
// has a history to tell.
std::optional<std::chrono::milliseconds> expected_time(ApiClient& client, const std::string& job) {
  auto plan = client.get(api_target({"jobs", job, "plan"}));
  if (!plan || !plan->is_object()) return std::nullopt;
  const auto& p = plan->as_object();
  const auto* missing = p.if_contains("steps_without_history");
  const auto* seconds = p.if_contains("expected_makespan_seconds");
  if (!seconds || !seconds->is_number() || !missing || !missing->is_array() ||
      !missing->as_array().empty())
    return std::nullopt;
  return std::chrono::milliseconds(static_cast<long long>(seconds->to_number<double>() * 1000));
}

}  // namespace

int rerun_command(int argc, char** argv) {
  CommandLine line;
  line.usage =
      "nightshift rerun JOB [--date YYYY-MM-DD] [--from STEP | --failed] [--wait] [--url URL] "
      "[--token-file FILE]";
  line.about =
      "Queues a new manual run of JOB on the daemon, for the job's latest fire time, or with\n"
      "--date for that day's. --from STEP reruns STEP and everything downstream of it, treating\n"
      "the rest as done; --failed reruns only the failed and upstream_failed steps of the latest\n"
      "run. --wait then prints each step's state changes until the run ends (Ctrl-C stops the\n"
      "waiting, not the run).\n"
      "Exit status: 0 queued (with --wait: the run succeeded), 1 the daemon is unreachable or\n"
      "refused (an unknown job or step, max_active_runs reached), or the run did not succeed,\n"
      "2 usage.";
  std::string job, date_text, from;
  bool failed = false, wait = false;
  ClientOptions client_options;
  add_job_argument(line, job);
  line.options.add_options()("date,d", po::value(&date_text),
                             "the local date to run for (YYYY-MM-DD)")(
      "from,f", po::value(&from), "rerun this step and everything downstream")(
      "failed", po::bool_switch(&failed), "rerun only the steps that did not succeed")(
      "wait,w", po::bool_switch(&wait), "follow the run until it ends");
  add_client_options(line, client_options);
  po::variables_map values;
  if (auto exit = parse_command_line(argc, argv, line, values)) return *exit;
  if (!date_text.empty() && !parse_date(date_text))
    return usage_error(line, "bad --date '" + date_text + "': expected YYYY-MM-DD");
  if (values.count("from") && from.empty()) return usage_error(line, "--from needs a STEP");
  // DESIGN.md defines each alone; together they have no agreed meaning.
  if (!from.empty() && failed) return usage_error(line, "give at most one of --from and --failed");
  auto client = open_client(line, client_options);
  if (!client) return client.error();

  auto answer = client->post(
      api_target({"jobs", job, "rerun"},
                 {{"date", date_text}, {"from", from}, {"failed", failed ? "true" : ""}}));
  if (!answer) return report_failure(answer.error());
  const auto* object = answer->if_object();
  const auto* id = object ? object->if_contains("run_id") : nullptr;
  if (!id || !(id->is_int64() || id->is_uint64()))
    return report_failure(
        {0, "unexpected answer from nightshift at " + client->url().text + ": no run_id"});
  std::int64_t run_id =
      id->is_int64() ? id->as_int64() : static_cast<std::int64_t>(id->as_uint64());
  std::cout << "run " << run_id << " queued" << std::endl;
  if (!wait) return kExitOk;
  auto reads = open_client(line, client_options);
  if (!reads) return reads.error();
  const bool terminal = ::isatty(STDOUT_FILENO) == 1;
  return RunWatcher(*client, *reads, run_id, terminal,
                    terminal ? expected_time(*reads, job) : std::nullopt)
      .wait();
}

}  // namespace nightshift::cli

// nightshift rerun: queues a manual run of a job on a running daemon and, with
// --wait, follows it to its end.
#include "api_client.h"
#include "command.h"
#include "options.h"

#include "nightshift/run_time.h"

#include <iostream>
#include <thread>

namespace po = boost::program_options;

namespace nightshift::cli {
namespace {

using namespace std::chrono_literals;

// Quick polls while steps change, slower ones while a long step runs.
constexpr std::chrono::milliseconds kFirstPoll = 200ms;
constexpr std::chrono::milliseconds kSlowestPoll = 2s;
// Long enough to ride out a daemon restart (kill -9 and systemd bringing it back).
constexpr auto kGiveUpAfter = 60s;

std::string clock_time(const date::time_zone* zone) {
  auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  return date::format("%T", date::make_zoned(zone, now));
}

// Prints each step's state changes until the run ends; 0 iff it succeeded.
int wait_for_run(ApiClient& client, std::int64_t run_id) {
  const date::time_zone* zone = local_zone();
  std::string target = api_target({"runs", std::to_string(run_id)});
  std::map<std::string, std::string> seen;
  auto delay = kFirstPoll;
  std::optional<std::chrono::steady_clock::time_point> failing_since;
  for (;;) {
    auto run = client.get(target);
    if (run) {
      failing_since.reset();
      auto changes = step_changes(*run, seen);
      for (const auto& change : changes) std::cout << clock_time(zone) << "  " << change << "\n";
      std::cout.flush();
      if (auto status = final_run_status(*run)) {
        std::cout << format_run_outcome(*run) << "\n";
        return *status == "succeeded" ? kExitOk : kExitFailure;
      }
      delay = changes.empty() ? std::min(delay * 3 / 2, kSlowestPoll) : kFirstPoll;
    } else {
      // No answer or a server error may be a restarting daemon: the run survives it.
      const ApiError& error = run.error();
      if (error.status != 0 && error.status < 500) return report_failure(error);
      auto now = std::chrono::steady_clock::now();
      if (!failing_since) {
        failing_since = now;
        std::cerr << "nightshift: " << error.message << "; still trying\n";
      } else if (now - *failing_since > kGiveUpAfter) {
        return report_failure({error.status, "stopped waiting for run " + std::to_string(run_id) +
                                                 ": " + error.message});
      }
      delay = std::min(delay * 2, kSlowestPoll);
    }
    std::this_thread::sleep_for(delay);
  }
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
  line.options.add_options()("job", po::value(&job), "the job (positional)")(
      "date,d", po::value(&date_text), "the local date to run for (YYYY-MM-DD)")(
      "from,f", po::value(&from), "rerun this step and everything downstream")(
      "failed", po::bool_switch(&failed), "rerun only the steps that did not succeed")(
      "wait,w", po::bool_switch(&wait), "follow the run until it ends");
  add_client_options(line, client_options);
  line.positional.add("job", 1);
  po::variables_map values;
  if (auto exit = parse_command_line(argc, argv, line, values)) return *exit;
  if (job.empty()) return usage_error(line, "missing JOB");
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
  return wait ? wait_for_run(*client, run_id) : kExitOk;
}

}  // namespace nightshift::cli

// nightshift run: runs one job once in the foreground on the same engine as
// the daemon, records it in the store, and exits 0 iff the run succeeded.
#include "api_client.h"
#include "command.h"
#include "engine.h"
#include "options.h"
#include "progress_line.h"

#include "nightshift/config_loader.h"
#include "nightshift/job_set.h"
#include "nightshift/run_forecast.h"
#include "nightshift/run_time.h"
#include "nightshift/runtime/step_history.h"

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>

#include <iomanip>
#include <iostream>
#include <mutex>
#include <sstream>

#include <unistd.h>

namespace po = boost::program_options;

namespace nightshift::cli {
namespace {

// "850ms" under a second, "12.3s" above.
std::string seconds(Duration d) {
  if (d < std::chrono::seconds(1)) return std::to_string(d.count()) + "ms";
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << std::chrono::duration<double>(d).count() << "s";
  return out.str();
}

// The terminal's view of the run: a line per step start and end, as the
// executor reports them from its threads, and the progress line under them.
struct Console {
  std::mutex mutex;
  ProgressLine progress;

  // Prints LINE above the progress line, and records STEP's new status.
  void change(const std::string& step, const std::string& status, const std::string& line) {
    std::lock_guard lock(mutex);
    // On a pipe nothing reads the statuses: no map of every step's name.
    if (progress.enabled()) progress.set(step, status);
    if (!line.empty()) {
      progress.clear();
      std::cout << local_clock_time() << "  " << line << "\n";
    }
    progress.show();
    std::cout.flush();
  }
  void end() {
    std::lock_guard lock(mutex);
    progress.clear();
    std::cout.flush();
  }
};

ExecutorEvents console_events(Console& console, std::optional<RunStatus>& outcome,
                              std::function<void()>& on_end) {
  ExecutorEvents events;
  events.step_started = [&console](const Job&, std::int64_t, const std::string& step, int attempt) {
    console.change(
        step, "running",
        "start     " + step + (attempt > 1 ? " (attempt " + std::to_string(attempt) + ")" : ""));
  };
  events.step_finished = [&console](const Job&, std::int64_t, const std::string& step, int attempt,
                                    const StepResult& result, Duration elapsed, bool will_retry) {
    std::ostringstream line;
    line << std::left << std::setw(10) << to_string(result.outcome) << step << " in "
         << seconds(elapsed);
    if (result.exit_code && result.outcome != StepState::succeeded)
      line << ", exit " << *result.exit_code;
    if (!result.error.empty()) line << ": " << result.error;
    if (will_retry) line << "; retrying after attempt " << attempt;
    console.change(step, will_retry ? "pending" : std::string(to_string(result.outcome)),
                   line.str());
  };
  events.step_state = [&console](const Job&, std::int64_t, const std::string& step, StepState state,
                                 int) { console.change(step, std::string(to_string(state)), ""); };
  events.run_finished = [&console, &outcome, &on_end](const Job&, std::int64_t, RunStatus status,
                                                      Duration) {
    console.end();
    outcome = status;
    if (on_end) on_end();
  };
  events.store_error = [](const std::string& what) {
    std::cerr << "nightshift: store: " << what << std::endl;
  };
  events.store_notice = [](const std::string&, const std::string& message) {
    std::cerr << "nightshift: " << message << std::endl;
  };
  events.warning = [](const std::string& message) {
    std::cerr << "nightshift: " << message << std::endl;
  };
  return events;
}

// How long a whole run of JOB usually takes, from the store's history (plan);
// nothing when a step has no history to go by.
std::optional<std::chrono::milliseconds> expected_time(RunReader& store, const Job& job,
                                                       const ConfigSpec& config) {
  auto forecast = forecast_run(job, expected_step_durations(store, job.spec.name),
                               effective_workers(config), config.pools);
  if (!forecast.without_history.empty()) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::milliseconds>(forecast.makespan);
}

void print_summary(RunStore& store, std::int64_t run_id, const ConfigSpec& config,
                   const JobSpec& job, Duration elapsed) {
  auto run = store.get_run(run_id);
  if (!run) return;
  std::map<StepState, int> counts;
  for (const auto& s : run->steps) ++counts[s.state];
  std::cout << "run " << run_id << " of " << job.name << " for " << run->date << ": "
            << to_string(run->status) << " in " << seconds(elapsed) << " (";
  bool first = true;
  for (const auto& [state, n] : counts) {
    std::cout << (first ? "" : ", ") << n << " " << to_string(state);
    first = false;
  }
  std::cout << "); logs in " << config.log_dir << "/" << job.name << "/" << run_id << "/"
            << std::endl;
}

}  // namespace

int run_command(int argc, char** argv) {
  CommandLine line;
  line.usage = "nightshift run JOB [--date YYYY-MM-DD] [--from STEP] --config FILE";
  line.about =
      "Runs one job once in the foreground, on the same engine as the daemon, and records it in "
      "the\n"
      "store. Without --date: the job's latest fire time at or before now; with --date: that "
      "day's.\n"
      "--from STEP runs STEP and everything downstream of it, treating the rest as done.\n"
      "Ctrl-C cancels the run cleanly. Exit status: 0 iff the run succeeded.";
  std::string job_name, date_text, from, config_file;
  add_job_argument(line, job_name);
  line.options.add_options()("date,d", po::value(&date_text),
                             "the local date to run for (YYYY-MM-DD)")(
      "from,f", po::value(&from), "rerun this step and everything downstream")(
      "config,c", po::value(&config_file), "the daemon's config file");
  po::variables_map values;
  if (auto exit = parse_command_line(argc, argv, line, values)) return *exit;
  if (config_file.empty()) return usage_error(line, "missing --config");
  std::optional<date::year_month_day> day;
  if (!date_text.empty() && !(day = parse_date(date_text)))
    return usage_error(line, "bad --date '" + date_text + "': expected YYYY-MM-DD");

  auto config = load_config(config_file);
  if (!config) {
    for (const auto& e : config.error()) std::cerr << e.str() << "\n";
    return kExitFailure;
  }
  auto set = JobSet::load(config->jobs_dir, &*config);
  if (!set) {
    for (const auto& e : set.error()) std::cerr << e.str() << "\n";
    return kExitFailure;
  }
  auto job = (*set)->find(job_name);
  if (!job) {
    std::cerr << "nightshift: unknown job '" << job_name << "'\n";
    return kExitFailure;
  }
  std::vector<bool> rerun(job->spec.steps.size(), true);
  if (!from.empty()) {
    auto step = job->dag.find(from);
    if (!step) {
      std::cerr << "nightshift: job '" << job_name << "' has no step '" << from << "'\n";
      return kExitFailure;
    }
    rerun = job->dag.downstream_closure(*step);
  }
  auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  std::optional<Instant> scheduled_at;
  if (day) {
    auto fire = fire_time_on(job->spec, *day);
    if (!fire) {
      std::cerr << "nightshift: " << fire.error().message << "\n";
      return kExitFailure;
    }
    scheduled_at = *fire;
  } else if (!(scheduled_at = latest_fire_at_or_before(job->spec, now))) {
    std::cerr << "nightshift: job '" << job_name << "' has not fired yet; give --date\n";
    return kExitFailure;
  }

  std::optional<RunStatus> outcome;
  std::function<void()> on_end;
  const bool terminal = ::isatty(STDOUT_FILENO) == 1;
  try {
    Console console{{}, ProgressLine(terminal)};  // outlives the engine, whose threads call it
    Engine engine(*config, console_events(console, outcome, on_end));
    // The run and its attempts are this process's: a daemon on the same store
    // leaves them alone while it lives, and takes them over once it is dead.
    engine.store().register_owner(OwnerKind::run);
    std::vector<bool> carried(rerun.size());
    for (std::size_t i = 0; i < rerun.size(); ++i) carried[i] = !rerun[i];
    NewRun run = make_new_run(job->spec, Trigger::manual, *scheduled_at, carried);
    std::int64_t run_id = engine.store().create_run(run).value();
    // The store has the steps now; the run goes on for as long as they take,
    // and a copy of every step's name kept meanwhile is ~40 bytes a step.
    run.steps = {};
    std::cout << "run " << run_id << " of " << job->spec.name << " for " << run.date
              << " (scheduled " << run.scheduled_at_text << ")" << std::endl;
    if (terminal) {
      // A run of the whole job is what the history predicts; a --from run is shorter.
      if (from.empty()) console.progress.set_expected(expected_time(engine.store(), *job, *config));
      for (std::size_t i = 0; i < rerun.size(); ++i)
        console.progress.set(job->spec.steps[i].name, rerun[i] ? "pending" : "succeeded");
    }

    // Ctrl-C or SIGTERM cancels: process groups are killed, `cancelled` recorded.
    // The signal wait is on a strand of its own, so the run's end can cancel it
    // (letting the io_context run out of work) without racing its handler.
    auto strand = boost::asio::make_strand(engine.io());
    boost::asio::signal_set signals(strand, SIGINT, SIGTERM);
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& ec, int) {
          if (ec) return;
          std::cout << local_clock_time() << "  cancelling run " << run_id << std::endl;
          engine.executor().cancel_run(run_id, "nightshift run was interrupted");
          signals.async_wait(on_signal);
        };
    signals.async_wait(on_signal);
    on_end = [&] { boost::asio::post(strand, [&] { signals.cancel(); }); };
    auto started = std::chrono::steady_clock::now();
    engine.executor().start_run(job, run_id);
    engine.run(engine.workers());
    print_summary(engine.store(), run_id, *config, job->spec,
                  std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - started));
  } catch (const StoreError& e) {
    std::cerr << "nightshift: " << e.what() << "\n";
    return kExitFailure;
  }
  return outcome == RunStatus::succeeded ? kExitOk : kExitFailure;
}

}  // namespace nightshift::cli

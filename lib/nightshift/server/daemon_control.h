// DaemonControl: the daemon as the HTTP API sees it — read-only views and the
// few actions the API may take. The seam between Api (pure routing) and the
// running daemon; unit tests give Api a fake.
#pragma once

#include "nightshift/job_set.h"
#include "nightshift/runtime/run_store.h"
#include "nightshift/server/scheduler.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace nightshift {

struct DaemonStatus {
  std::string version;
  double uptime_seconds = 0;
  Diagnostics
      config_errors;  // of the last refused reload; empty when the jobs in force are the latest
  bool store_ok = true;
  std::string store_error;
  bool draining = false;  // shutting down: no run or step starts
  std::size_t steps_running = 0;
  std::size_t steps_ready = 0;
  int workers = 0;
  std::map<std::string, int> pool_slots_in_use;
  std::map<std::string, int> pool_sizes;
};

class DaemonControl {
 public:
  virtual ~DaemonControl() = default;

  virtual std::shared_ptr<const JobSet> jobs() = 0;
  virtual std::optional<Instant> next_run(const std::string& job) = 0;
  virtual bool deadline_missed(const std::string& job) = 0;
  virtual RunReader& store() = 0;  // read connections of their own
  // Every job's latest run, as RunReader::latest_runs answers (GET /jobs).
  // The daemon answers from memory (LatestRuns); by default, the store.
  virtual std::vector<RunSummary> latest_runs() { return store().latest_runs(); }
  // The daemon's owner id in the store (RunStore::register_owner): the runs
  // of another owner are run by that process, not by this daemon.
  virtual std::optional<std::int64_t> owner() = 0;
  virtual DaemonStatus status() = 0;
  virtual std::string metrics() = 0;
  // The file of an attempt's log ({log_dir}/{job}/{run_id}/{step}.{attempt}.log).
  virtual std::string log_path(const std::string& job, std::int64_t run_id, const std::string& step,
                               int attempt) = 0;

  virtual bool paused(const std::string& job) = 0;
  virtual Scheduler::RerunResult rerun(const Scheduler::Rerun& request) = 0;
  virtual Scheduler::PauseResult set_paused(const std::string& job, bool paused) = 0;
  virtual Scheduler::BackfillResult backfill(const Scheduler::Backfill& request) = 0;
  virtual void cancel(std::int64_t run_id) = 0;
  // Reloads jobs_dir; the errors when the new set was refused (the old one stays).
  virtual Diagnostics reload() = 0;
  // A followed log: pieces of the file until the attempt ends.
  virtual std::shared_ptr<class BodyStream> follow_log(const std::string& path, std::int64_t run_id,
                                                       const std::string& step, int attempt,
                                                       std::size_t offset) = 0;
  // A new subscriber to GET /events: the stored changes from now on, as
  // Server-Sent Events; nullptr once the daemon is stopping.
  virtual std::shared_ptr<class BodyStream> events() = 0;
};

}  // namespace nightshift

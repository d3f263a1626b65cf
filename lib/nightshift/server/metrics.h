// Metrics: the daemon's Prometheus metrics (DESIGN.md "Metrics"), rendered in
// text format 0.0.4 for GET /metrics. Safe to call from any thread.
#pragma once

#include "nightshift/runtime/run_store.h"
#include "nightshift/step_state.h"

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace nightshift {

class Metrics {
 public:
  // Publishes nightshift_build_info{version} = 1.
  explicit Metrics(std::string version);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void set_jobs_loaded(std::size_t count);

  // A run ended with `status`. The first time a job is seen, its runs_total
  // series for succeeded, failed and cancelled start at 0, so that increase()
  // sees the first failure. Cancelled counts as not successful.
  void run_finished(const std::string& job, RunStatus status, double duration_seconds,
                    Timestamp finished_at);

  // An attempt of a step ended with `outcome` (succeeded, failed, timed_out,
  // cancelled, lost). Outcome series of a step start at 0 as for runs. A lost
  // attempt's duration is unknown (its daemon died): nullopt counts it only.
  void attempt_finished(const std::string& job, const std::string& step, StepState outcome,
                        std::optional<double> duration_seconds);

  // nullopt removes the series: a manual-only job has no next run.
  void set_next_run(const std::string& job, std::optional<double> unix_seconds);
  void set_deadline_missed(const std::string& job, bool missed);
  void set_paused(const std::string& job, bool paused);
  // The job's usual gap between fire times; nullopt removes the series (a
  // manual-only job has none, and "no success lately" does not apply to it).
  void set_schedule_interval(const std::string& job, std::optional<double> seconds);

  // `pool_slots_in_use` is the whole picture: a pool absent from it (removed by
  // a reload) loses its series.
  void set_load(std::size_t steps_running, std::size_t steps_ready,
                const std::map<std::string, int>& pool_slots_in_use);

  // From a run's fire time to its start.
  void observe_schedule_delay(double seconds);

  // Starts at 1: the daemon runs only once a configuration has loaded.
  void set_config_reload_success(bool success);
  void store_error();
  void set_store_up(bool up);
  // An attempt whose log could not be written whole (disk full, I/O error).
  void log_write_error();

  // A webhook of the config: its notifications_total series start at 0 (by
  // its name, never its URL), so increase() sees the first failure.
  void add_webhook(const std::string& webhook);
  // One notification's end: outcome sent, failed or dropped.
  void notification(const std::string& webhook, const std::string& outcome);
  // Retention removed `count` of `kind` ("runs" or "log_folders").
  void retention_pruned(const std::string& kind, std::size_t count);

  // A job removed by a reload loses its gauges (last run success, last success
  // time, next run, deadline missed, schedule interval). Its counters and histograms stay, as
  // Prometheus convention has it, so rates over a window that spans the reload
  // stay right and a job that comes back continues its series.
  void forget_job(const std::string& job);

  // Every metric, plus process_* read from /proc at this moment.
  std::string serialize() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nightshift

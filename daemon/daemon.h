// Daemon: `nightshift serve` — the engine, the scheduler, the HTTP API and the
// metrics wired together on one io_context, with reload (SIGHUP, POST /reload),
// drain on SIGTERM/SIGINT, and systemd readiness notifications.
#pragma once

#include "engine.h"
#include "orphan_reaper.h"
#include "systemd_notifier.h"

#include "nightshift/config_spec.h"
#include "nightshift/server/api.h"
#include "nightshift/server/daemon_control.h"
#include "nightshift/server/event_hub.h"
#include "nightshift/server/http_server.h"
#include "nightshift/server/latest_runs.h"
#include "nightshift/server/metrics.h"
#include "nightshift/server/retention_pruner.h"
#include "nightshift/server/scheduler.h"
#include "nightshift/server/webhook_notifier.h"

#include "nightshift/runtime/run_readers.h"

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <functional>
#include <atomic>
#include <memory>
#include <mutex>

namespace nightshift {

class Daemon final : public DaemonControl {
 public:
  using Logger = std::function<void(const std::string& level, const std::string& message)>;

  Daemon(ConfigSpec config, std::shared_ptr<const JobSet> jobs, Logger log);
  ~Daemon() override;

  // Serves until SIGTERM or SIGINT has drained it; returns the exit code.
  int run();

  // DaemonControl
  std::shared_ptr<const JobSet> jobs() override;
  std::optional<Instant> next_run(const std::string& job) override;
  bool deadline_missed(const std::string& job) override;
  RunReader& store() override;
  std::vector<RunSummary> latest_runs() override;
  std::optional<std::int64_t> owner() override;
  DaemonStatus status() override;
  std::string metrics() override;
  std::string log_path(const std::string& job, std::int64_t run_id, const std::string& step,
                       int attempt) override;
  bool paused(const std::string& job) override;
  Scheduler::RerunResult rerun(const Scheduler::Rerun& request) override;
  Scheduler::PauseResult set_paused(const std::string& job, bool paused) override;
  Scheduler::BackfillResult backfill(const Scheduler::Backfill& request) override;
  void cancel(std::int64_t run_id) override;
  Diagnostics reload() override;
  std::shared_ptr<BodyStream> follow_log(const std::string& path, std::int64_t run_id,
                                         const std::string& step, int attempt,
                                         std::size_t offset) override;
  std::shared_ptr<BodyStream> events() override;

 private:
  ExecutorEvents executor_events();
  SchedulerEvents scheduler_events();
  // A run ended (by the executor, or cancelled while queued): metrics, log, queue.
  void run_ended(const std::string& job, std::int64_t run_id, RunStatus status, double seconds);
  // GET /events: each is called once the change is stored, and costs nothing
  // when nobody is subscribed.
  void publish_run(const std::string& job, std::int64_t run_id, RunStatus status);
  void publish_step(const std::string& job, std::int64_t run_id, const std::string& step,
                    StepState state, int attempt, std::optional<int> exit_code = std::nullopt,
                    std::optional<bool> will_retry = std::nullopt);
  // Armed while someone is subscribed to /events: an idle daemon no subscriber
  // watches wakes up for nothing. On the heartbeat timer's strand.
  void keep_streams_alive();
  // The gauges that follow from the job definitions: the schedule interval of
  // every job in `jobs`, deadline_missed at 0 for jobs with a deadline that
  // `old` (the set before a reload, or null at start) did not have.
  void publish_job_gauges(const JobSet& jobs, const JobSet* old);
  void start_webhooks();
  void start_retention();
  // Gives the heap a set of jobs built and dropped back to the kernel, a
  // moment after the load (daemon.cpp says why).
  void release_load_memory_soon();
  void ignore_stop_signals();
  void wait_for_signals();
  void drain();
  bool draining();
  void finish_drain(std::chrono::steady_clock::time_point deadline, bool cancelled);

  ConfigSpec config_;
  Logger log_;
  std::chrono::steady_clock::time_point started_;
  Metrics metrics_;
  EventHub event_hub_;  // before engine_: the executor publishes until it is gone
  // GET /jobs from memory, moved where the events are published; before
  // engine_ for the same reason (it reads the store through readers_ only
  // when the API asks, and the API's pool is joined before readers_ goes).
  std::unique_ptr<LatestRuns> latest_runs_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<RunReaders> readers_;  // the API's, apart from the writer's connection
  // Made in run() once the port is known; stopped there after the drain.
  std::unique_ptr<WebhookNotifier> webhooks_;
  std::unique_ptr<RetentionPruner> retention_;  // made in run(), stopped there
  std::unique_ptr<Api> api_;
  // The API's handlers run here, off the io threads: they read the store and
  // may wait for a commit. Joined before api_ and what it uses go.
  std::unique_ptr<boost::asio::thread_pool> api_pool_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<boost::asio::signal_set> signals_;
  bool signals_closed_ = false;  // on the signal set's strand: the drain is over
  std::unique_ptr<boost::asio::steady_timer> drain_timer_;
  std::unique_ptr<boost::asio::steady_timer> heartbeat_timer_;  // on a strand of its own
  bool heartbeat_armed_ = false;  // on the heartbeat timer's strand
  std::unique_ptr<boost::asio::steady_timer> trim_timer_;  // on a strand of its own
  std::unique_ptr<SystemdNotifier> notifier_;
  std::unique_ptr<OrphanReaper> reaper_;
  std::shared_ptr<const JobSet> initial_jobs_;

  std::mutex mutex_;  // config_errors_, store state
  Diagnostics config_errors_;
  std::string store_error_;
  bool draining_ = false;
  std::atomic<bool> stop_now_{false};
  std::atomic<int> exit_code_{0};  // 1 once the store is gone  // a second SIGINT: cancel without waiting out the grace
};

}  // namespace nightshift

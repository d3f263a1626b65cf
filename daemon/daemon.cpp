#include "daemon.h"

#include "web_assets.h"

#include "nightshift/fire_schedule.h"
#include "nightshift/server/event_data.h"
#include "nightshift/server/log_follower.h"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <malloc.h>
#include <csignal>
#include <filesystem>
#include <fstream>

namespace nightshift {
namespace {

// Hands the heap's free pages back to the kernel once a set of jobs is in
// force. Loading jobs builds and drops far more than it keeps (every file's
// text, its YAML tree, the checks' scratch data), on the loading threads'
// arenas too, and glibc keeps all of that mapped: with 10,000 jobs it is ~6 MiB
// of an idle daemon's RSS that nothing would use again. malloc_trim walks every
// arena; it runs once a load, never on a hot path.
void release_load_memory() {
  malloc_trim(0);
}

// A second after the load: by then the start-up's first writes have been
// committed and acted on, and their closures and the writer's queue freed (a
// trim posted at once ran before that in one round of three and gave nothing
// back), and the first requests are not queued behind the trim.
constexpr auto kTrimDelay = std::chrono::seconds(1);

std::vector<std::string> read_tokens(const std::string& path) {
  std::vector<std::string> tokens;
  if (path.empty()) return tokens;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read tokens_file " + path);
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty() && line[0] != '#') tokens.push_back(line);
  }
  if (tokens.empty()) throw std::runtime_error("tokens_file " + path + " holds no token");
  return tokens;
}

// Threads (and read connections) of the API's handlers: enough that a slow
// read does not queue the others, few enough that a MySQL store does not see
// a crowd of idle sessions.
constexpr std::size_t kApiThreads = 4;

// How long a stopping daemon waits for webhooks still queued or retrying
// once its runs are over: a receiver that is down must not hold a shutdown
// (or a systemd stop) for its 3 tries of 10 s.
constexpr std::chrono::seconds kWebhookDrainWait{5};

// SSE clients and the proxies between them take a long silence for a dead line.
constexpr auto kEventHeartbeat = std::chrono::seconds(15);

}  // namespace

Daemon::Daemon(ConfigSpec config, std::shared_ptr<const JobSet> jobs, Logger log)
    : config_(std::move(config)),
      log_(std::move(log)),
      started_(std::chrono::steady_clock::now()),
      metrics_(NIGHTSHIFT_VERSION),
      initial_jobs_(std::move(jobs)) {
  engine_ = std::make_unique<Engine>(config_, executor_events());
  // Before recovery: one daemon at a time takes over from dead owners, and
  // what this one starts is recorded as its own.
  engine_->store().claim_for_daemon();
  engine_->store().register_owner(OwnerKind::daemon);
  scheduler_ = std::make_unique<Scheduler>(engine_->io(), engine_->store(), engine_->executor(),
                                           scheduler_events());
  readers_ = std::make_unique<RunReaders>(
      [this]() -> std::unique_ptr<RunReader> { return open_run_store(config_); }, kApiThreads);
  latest_runs_ = std::make_unique<LatestRuns>(*readers_);
  api_ =
      std::make_unique<Api>(*this, read_tokens(config_.tokens_file), web_assets());
  api_pool_ = std::make_unique<boost::asio::thread_pool>(kApiThreads);
  HttpServerOptions options;
  options.host = config_.listen_host;
  options.port = static_cast<unsigned short>(config_.listen_port);
  options.log = [this](const std::string& m) { log_("warn", "http: " + m); };
  options.offload = [this](std::function<void()> call) {
    boost::asio::post(*api_pool_, std::move(call));
  };
  options.answers_at_once = &Api::answers_at_once;
  http_ = std::make_unique<HttpServer>(engine_->io(), options,
                                       [this](const HttpRequest& r) { return api_->handle(r); });
  notifier_ = std::make_unique<SystemdNotifier>(engine_->io());
  reaper_ = std::make_unique<OrphanReaper>(engine_->io(), log_);
}

Daemon::~Daemon() = default;

ExecutorEvents Daemon::executor_events() {
  ExecutorEvents events;
  events.step_started = [this](const Job& job, std::int64_t run_id, const std::string& step,
                               int attempt) {
    log_("info", "run " + std::to_string(run_id) + " " + job.spec.name + "." + step + ": attempt " +
                     std::to_string(attempt) + " started");
    publish_step(job.spec.name, run_id, step, StepState::running, attempt);
  };
  events.step_finished = [this](const Job& job, std::int64_t run_id, const std::string& step,
                                int attempt, const StepResult& result, Duration elapsed,
                                bool will_retry) {
    double seconds = std::chrono::duration<double>(elapsed).count();
    metrics_.attempt_finished(job.spec.name, step, result.outcome, seconds);
    std::string line = "run " + std::to_string(run_id) + " " + job.spec.name + "." + step +
                       ": attempt " + std::to_string(attempt) + " " +
                       std::string(to_string(result.outcome));
    if (result.exit_code && result.outcome != StepState::succeeded)
      line += " (exit " + std::to_string(*result.exit_code) + ")";
    if (!result.error.empty()) line += ": " + result.error;
    if (will_retry) line += "; will retry";
    // A log that could not be written whole is a warning even for a step that
    // succeeded: the line's error says why (once per attempt).
    if (result.log_incomplete) metrics_.log_write_error();
    bool fine = result.outcome == StepState::succeeded && !result.log_incomplete;
    log_(fine ? "info" : "warn", line);
    publish_step(job.spec.name, run_id, step, result.outcome, attempt, result.exit_code,
                 will_retry);
  };
  events.step_state = [this](const Job& job, std::int64_t run_id, const std::string& step,
                             StepState state, int attempt) {
    publish_step(job.spec.name, run_id, step, state, attempt);
  };
  events.run_started = [this](const Job& job, std::int64_t run_id) {
    publish_run(job.spec.name, run_id, RunStatus::running);
  };
  events.run_finished = [this](const Job& job, std::int64_t run_id, RunStatus status,
                               Duration elapsed) {
    publish_run(job.spec.name, run_id, status);  // before the next queued run starts
    // Before run_ended: the scheduler clears a missed deadline there.
    if (webhooks_)
      webhooks_->run_finished(job.spec, run_id, status, scheduler_->deadline_missed(job.spec.name));
    run_ended(job.spec.name, run_id, status, std::chrono::duration<double>(elapsed).count());
  };
  events.warning = [this](const std::string& message) { log_("warn", message); };
  events.store_error = [this](const std::string& what) {
    metrics_.store_error();
    {
      std::lock_guard lock(mutex_);
      store_error_ = what;
    }
    log_("error", "store: " + what);
  };
  events.store_notice = [this](const std::string& level, const std::string& message) {
    // An outage counts as a store error when it starts, so an alert on
    // store_errors_total fires while the writes still wait.
    if (level == "warn") metrics_.store_error();
    metrics_.set_store_up(level != "warn");
    log_(level, message);
  };
  events.store_gone = [this](const std::string& why) {
    metrics_.store_error();
    metrics_.set_store_up(false);
    log_("error", why + ": stopping, as history written on would be seen by nobody");
    exit_code_ = 1;
    stop_now_ = true;  // what the steps do now is recorded nowhere: stop them at once
    boost::asio::post(engine_->io(), [this] { drain(); });
  };
  return events;
}

void Daemon::run_ended(const std::string& job, std::int64_t run_id, RunStatus status,
                       double seconds) {
  metrics_.run_finished(job, status, seconds, now_timestamp());
  log_(status == RunStatus::succeeded ? "info" : "warn",
       "run " + std::to_string(run_id) + " of " + job + " " + std::string(to_string(status)));
  scheduler_->run_finished(job, run_id, status);
}

SchedulerEvents Daemon::scheduler_events() {
  SchedulerEvents events;
  events.next_run = [this](const std::string& job, std::optional<Instant> next) {
    metrics_.set_next_run(
        job, next ? std::optional<double>(static_cast<double>(next->time_since_epoch().count()))
                  : std::nullopt);
  };
  events.deadline_missed = [this](const std::string& job, bool missed) {
    metrics_.set_deadline_missed(job, missed);
  };
  events.deadline_passed = [this](const Job& job, std::int64_t run_id, Instant deadline) {
    if (webhooks_) webhooks_->deadline_missed(job.spec, run_id, deadline);
  };
  events.schedule_delay = [this](double seconds) { metrics_.observe_schedule_delay(seconds); };
  // How long a lost attempt ran is unknown (its daemon died): it counts, with no duration.
  events.attempt_lost = [this](const std::string& job, const std::string& step) {
    metrics_.attempt_finished(job, step, StepState::lost, std::nullopt);
  };
  events.log = [this](const std::string& message) { log_("info", message); };
  events.run_stored = [this](const std::string& job, std::int64_t run_id, RunStatus status) {
    publish_run(job, run_id, status);
  };
  events.queued_run_cancelled = [this](const std::string& job, std::int64_t run_id) {
    run_ended(job, run_id, RunStatus::cancelled, 0);
  };
  events.paused = [this](const std::string& job, bool paused, bool changed) {
    metrics_.set_paused(job, paused);
    if (changed && event_hub_.has_subscribers())
      event_hub_.publish("job",
                         job_event_data(job, paused ? "paused" : "unpaused", now_timestamp()));
  };
  events.step_stored = [this](const std::string& job, std::int64_t run_id,
                              const std::string& step, StepState state) {
    publish_step(job, run_id, step, state, 0);
  };
  return events;
}

int Daemon::run() {
  if (auto ec = http_->start()) {
    log_("error", "cannot listen on " + config_.listen_host + ":" +
                      std::to_string(config_.listen_port) + ": " + ec.message());
    return 1;
  }
  metrics_.set_jobs_loaded(initial_jobs_->jobs().size());
  metrics_.set_config_reload_success(true);
  publish_job_gauges(*initial_jobs_, nullptr);
  start_webhooks();
  start_retention();
  // Before the first step starts, so none of its orphans escapes to init.
  reaper_->start();
  scheduler_->start(initial_jobs_);
  trim_timer_ =
      std::make_unique<boost::asio::steady_timer>(boost::asio::make_strand(engine_->io()));
  release_load_memory_soon();
  wait_for_signals();
  // Armed by the first subscriber to /events (events()), not before.
  heartbeat_timer_ = std::make_unique<boost::asio::steady_timer>(boost::asio::make_strand(engine_->io()));
  log_("info", "nightshift " NIGHTSHIFT_VERSION " serving " +
                   std::to_string(initial_jobs_->jobs().size()) + " jobs on http://" +
                   config_.listen_host + ":" + std::to_string(http_->port()) + "/");
  notifier_->start_watchdog();
  notifier_->ready("serving " + std::to_string(initial_jobs_->jobs().size()) + " jobs");
  // No io thread waits on the store (the writer and the API's pool do), so
  // the io_context needs no more threads than the work it does.
  engine_->run(std::max(2, engine_->workers()));
  api_pool_->join();
  retention_->stop();
  webhooks_->stop(kWebhookDrainWait);
  ignore_stop_signals();
  log_("info", "stopped");
  return exit_code_;
}

void Daemon::start_webhooks() {
  WebhookNotifierOptions options;
  options.webhooks = config_.notify;
  options.secrets_dir = config_.secrets_dir;
  const bool v6 = config_.listen_host.find(':') != std::string::npos;
  options.dashboard_url = "http://" + (v6 ? "[" + config_.listen_host + "]" : config_.listen_host) +
                          ":" + std::to_string(http_->port()) + "/";
  options.log = [this](const std::string& level, const std::string& message) {
    log_(level, message);
  };
  options.counted = [this](const std::string& webhook, const std::string& outcome) {
    metrics_.notification(webhook, outcome);
  };
  for (const auto& [name, hook] : config_.notify) metrics_.add_webhook(name);
  webhooks_ = std::make_unique<WebhookNotifier>(std::move(options), *readers_);
}

void Daemon::start_retention() {
  RetentionOptions options;
  options.retention = config_.retention;
  options.log_dir = config_.log_dir;
  options.log = [this](const std::string& level, const std::string& message) {
    log_(level, message);
  };
  options.pruned = [this](const std::string& kind, std::size_t count) {
    metrics_.retention_pruned(kind, count);
  };
  options.runs_deleted = [this](const std::vector<std::int64_t>& run_ids) {
    latest_runs_->runs_deleted(run_ids);
  };
  retention_ = std::make_unique<RetentionPruner>(std::move(options),
                                                 engine_->executor().store_writer(), *readers_);
}

// The signal set lives on a strand of its own: its handler re-arms it while
// the drain (on any thread) may cancel it.
void Daemon::wait_for_signals() {
  if (!signals_) {
    signals_ = std::make_unique<boost::asio::signal_set>(boost::asio::make_strand(engine_->io()),
                                                         SIGHUP, SIGTERM, SIGINT);
  }
  signals_->async_wait([this](const boost::system::error_code& ec, int signal) {
    // Cancelled, or delivered before the cancel but run after it: either way
    // the drain is over, and a wait armed now would keep the daemon alive.
    if (ec || signals_closed_) return;
    // Armed before acting, so a drain that ends at once cancels this wait too.
    wait_for_signals();
    if (signal == SIGHUP) {
      log_("info", "SIGHUP: reloading " + config_.jobs_dir);
      reload();
    } else if (signal == SIGINT && draining()) {
      // Ctrl-C a second time: the operator will not wait out shutdown_grace.
      // A repeated SIGTERM (a supervisor's) changes nothing.
      log_("warn", "SIGINT again: stopping the running steps now");
      stop_now_ = true;
    } else {
      drain();
    }
  });
}

// The drain is over and the daemon tears down: a stop signal now (a
// supervisor's repeated SIGTERM) must not turn its clean exit into a death by
// signal. The signal set puts back the default dispositions as it goes, so it
// goes first.
void Daemon::ignore_stop_signals() {
  signals_.reset();
  for (int signal : {SIGHUP, SIGTERM, SIGINT}) std::signal(signal, SIG_IGN);
}

bool Daemon::draining() {
  std::lock_guard lock(mutex_);
  return draining_;
}

// Stops scheduling and starting steps; running steps get shutdown_grace to
// finish, then are cancelled; then the server stops and run() returns.
void Daemon::drain() {
  {
    std::lock_guard lock(mutex_);
    if (draining_) return;
    draining_ = true;
  }
  notifier_->stopping();
  log_("info", "draining: no new runs or steps; waiting up to " +
                   format_duration(config_.shutdown_grace) + " for running steps");
  scheduler_->stop();
  engine_->executor().drain();
  drain_timer_ = std::make_unique<boost::asio::steady_timer>(engine_->io());
  finish_drain(std::chrono::steady_clock::now() + config_.shutdown_grace, false);
}

void Daemon::release_load_memory_soon() {
  boost::asio::post(trim_timer_->get_executor(), [this] {
    trim_timer_->expires_after(kTrimDelay);
    trim_timer_->async_wait([this](const boost::system::error_code& ec) {
      // On the API's pool: no io thread waits while every arena is walked.
      if (!ec) boost::asio::post(*api_pool_, release_load_memory);
    });
  });
}

void Daemon::finish_drain(std::chrono::steady_clock::time_point deadline, bool cancelled) {
  auto load = engine_->executor().load();
  // Once the steps are cancelled, starts and ends still waiting for a failing
  // store do not hold the daemon: a restarted one finds their attempts lost.
  const std::size_t unsettled = load.steps_running + load.steps_ending;
  if (unsettled == 0 || (cancelled && unsettled == load.steps_awaiting_store)) {
    engine_->executor().stop_writing();
    // GET /events streams end here, after the last stored change: an open
    // stream must not hold the shutdown up.
    event_hub_.close();
    boost::asio::post(heartbeat_timer_->get_executor(), [this] { heartbeat_timer_->cancel(); });
    boost::asio::post(trim_timer_->get_executor(), [this] { trim_timer_->cancel(); });
    notifier_->stop_watchdog();
    reaper_->stop();
    boost::asio::post(signals_->get_executor(), [this] {
      signals_closed_ = true;
      signals_->cancel();
    });
    http_->stop(std::chrono::seconds(1), [] {});
    return;
  }
  if (!cancelled && (stop_now_ || std::chrono::steady_clock::now() >= deadline)) {
    if (!stop_now_)
      log_("warn", "shutdown_grace is over: stopping " + std::to_string(load.steps_running) +
                       " running steps");
    engine_->executor().cancel_all(stop_now_ ? "the daemon was told to stop at once (a second "
                                               "Ctrl-C, or its store is gone)"
                                             : "the daemon's shutdown_grace ran out");
    cancelled = true;
  }
  // Checking the executor's load while draining only: the daemon is going away.
  drain_timer_->expires_after(std::chrono::milliseconds(50));
  drain_timer_->async_wait([this, deadline, cancelled](const boost::system::error_code& ec) {
    if (!ec) finish_drain(deadline, cancelled);
  });
}

std::shared_ptr<const JobSet> Daemon::jobs() {
  return scheduler_->jobs();
}
std::optional<Instant> Daemon::next_run(const std::string& job) {
  return scheduler_->next_run(job);
}
bool Daemon::deadline_missed(const std::string& job) {
  return scheduler_->deadline_missed(job);
}
RunReader& Daemon::store() {
  return *readers_;
}
std::vector<RunSummary> Daemon::latest_runs() {
  return latest_runs_->summaries();
}
std::optional<std::int64_t> Daemon::owner() {
  return engine_->store().owner();  // set once, before any thread asks
}

DaemonStatus Daemon::status() {
  DaemonStatus s;
  s.version = NIGHTSHIFT_VERSION;
  s.uptime_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  {
    std::lock_guard lock(mutex_);
    s.config_errors = config_errors_;
  }
  // The store is up when it can be read and the executor's writes succeed.
  try {
    readers_->list_runs("", 1);
    StoreWriter::Health writes = engine_->executor().store_health();
    s.store_ok = writes.up;
    s.store_error = writes.error;
  } catch (const StoreError& e) {
    s.store_ok = false;
    s.store_error = e.what();
  }
  auto load = engine_->executor().load();
  s.steps_running = load.steps_running;
  s.steps_ready = load.steps_ready;
  s.pool_slots_in_use = load.pool_slots_in_use;
  s.pool_sizes = {config_.pools.begin(), config_.pools.end()};
  s.workers = engine_->workers();
  s.draining = draining();
  return s;
}

std::string Daemon::metrics() {
  auto load = engine_->executor().load();
  // Every configured pool has its series, at 0 until a step takes a slot: the
  // executor only knows the pools it has used.
  std::map<std::string, int> in_use;
  for (const auto& [pool, size] : config_.pools) in_use[pool] = 0;
  for (const auto& [pool, used] : load.pool_slots_in_use) in_use[pool] = used;
  metrics_.set_load(load.steps_running, load.steps_ready, in_use);
  return metrics_.serialize();
}

std::string Daemon::log_path(const std::string& job, std::int64_t run_id, const std::string& step,
                             int attempt) {
  return (std::filesystem::path(config_.log_dir) / job / std::to_string(run_id) /
          (step + "." + std::to_string(attempt) + ".log"))
      .string();
}

Scheduler::RerunResult Daemon::rerun(const Scheduler::Rerun& request) {
  {
    std::lock_guard lock(mutex_);
    if (draining_) return {std::nullopt, 503, "the daemon is shutting down"};
  }
  return scheduler_->rerun(request);
}

bool Daemon::paused(const std::string& job) {
  return scheduler_->paused(job);
}

Scheduler::PauseResult Daemon::set_paused(const std::string& job, bool paused) {
  return scheduler_->set_paused(job, paused);
}

Scheduler::BackfillResult Daemon::backfill(const Scheduler::Backfill& request) {
  {
    std::lock_guard lock(mutex_);
    if (draining_) return {{}, 503, "the daemon is shutting down"};
  }
  return scheduler_->backfill(request);
}

void Daemon::cancel(std::int64_t run_id) {
  log_("info", "cancelling run " + std::to_string(run_id));
  // In the store's order: a run still queued there ends as cancelled at once,
  // a started one is stopped by the executor.
  scheduler_->cancel(run_id, "run cancelled through the API");
}

Diagnostics Daemon::reload() {
  notifier_->reloading();
  auto set = JobSet::load(config_.jobs_dir, &config_);
  std::lock_guard lock(mutex_);
  if (!set) {
    config_errors_ = set.error();
    metrics_.set_config_reload_success(false);
    log_("error", "reload refused (" + std::to_string(config_errors_.size()) +
                      " errors); the jobs in force stay: " + config_errors_.front().str());
    for (std::size_t i = 1; i < config_errors_.size(); ++i) log_("error", config_errors_[i].str());
    // The old jobs stay in force: the daemon serves as before.
    notifier_->ready("reload refused: " + config_errors_.front().str());
    return config_errors_;
  }
  auto old = scheduler_->jobs();
  for (const auto& job : old->jobs())
    if (!(*set)->find(job->spec.name)) metrics_.forget_job(job->spec.name);
  publish_job_gauges(**set, old.get());
  scheduler_->reload(*set);
  if (event_hub_.has_subscribers()) {
    Timestamp at = now_timestamp();
    for (const auto& job : old->jobs())
      if (!(*set)->find(job->spec.name))
        event_hub_.publish("job", job_event_data(job->spec.name, "removed", at));
    for (const auto& job : (*set)->jobs())
      event_hub_.publish("job", job_event_data(job->spec.name, "loaded", at));
  }
  config_errors_.clear();
  metrics_.set_config_reload_success(true);
  metrics_.set_jobs_loaded((*set)->jobs().size());
  log_("info", "reloaded: " + std::to_string((*set)->jobs().size()) + " jobs");
  release_load_memory_soon();
  notifier_->ready("serving " + std::to_string((*set)->jobs().size()) + " jobs");
  return {};
}

std::shared_ptr<BodyStream> Daemon::follow_log(const std::string& path, std::int64_t run_id,
                                               const std::string& step, int attempt,
                                               std::size_t offset) {
  // On the API's pool: it reads the store and the file between pieces.
  return make_log_follower(api_pool_->get_executor(), *readers_, path, run_id, step, attempt,
                           offset);
}

std::shared_ptr<BodyStream> Daemon::events() {
  auto stream = event_hub_.subscribe();
  if (stream) {
    // The drain closes the hub before it cancels the timer on this strand:
    // a closed hub here means the cancel has come or is coming, so no arm.
    boost::asio::post(heartbeat_timer_->get_executor(), [this] {
      if (!heartbeat_armed_ && !event_hub_.closed()) keep_streams_alive();
    });
  }
  return stream;
}

// Both are called once the change is committed, in commit order: /jobs's
// memory moves with them whether or not anyone is subscribed.
void Daemon::publish_run(const std::string& job, std::int64_t run_id, RunStatus status) {
  latest_runs_->run_changed(job, run_id);
  if (!event_hub_.has_subscribers()) return;
  event_hub_.publish("run", run_event_data(job, run_id, status, now_timestamp()));
}

void Daemon::publish_step(const std::string& job, std::int64_t run_id, const std::string& step,
                          StepState state, int attempt, std::optional<int> exit_code,
                          std::optional<bool> will_retry) {
  // An attempt that failed and will be retried leaves its step running.
  if (!will_retry.value_or(false)) latest_runs_->step_changed(job, run_id, step, state);
  if (!event_hub_.has_subscribers()) return;
  event_hub_.publish("step", step_event_data({job, run_id, step, state, attempt, exit_code,
                                              will_retry, now_timestamp()}));
}

void Daemon::publish_job_gauges(const JobSet& jobs, const JobSet* old) {
  const Instant now = std::chrono::time_point_cast<std::chrono::seconds>(
      std::chrono::system_clock::now());
  for (const auto& job : jobs.jobs()) {
    // A job with a deadline shows 0 until one is missed (the scheduler sets it
    // from then on, also when a restart finds one missed): an absent series
    // reads as "no deadline" on a board. Only new jobs, so a deadline missed
    // before a reload stays.
    if (job->spec.deadline && !(old && old->find(job->spec.name)))
      metrics_.set_deadline_missed(job->spec.name, false);
    auto interval = schedule_interval(job->spec, now);
    metrics_.set_schedule_interval(
        job->spec.name,
        interval ? std::optional<double>(static_cast<double>(interval->count())) : std::nullopt);
  }
}

// A comment line every kEventHeartbeat to the streams with nothing to send;
// stops once the hub is closed (the drain is over) or nobody is subscribed
// any more (the next subscriber arms it again).
void Daemon::keep_streams_alive() {
  heartbeat_armed_ = true;
  heartbeat_timer_->expires_after(kEventHeartbeat);
  heartbeat_timer_->async_wait([this](const boost::system::error_code& ec) {
    heartbeat_armed_ = false;
    if (ec || event_hub_.closed() || !event_hub_.has_subscribers()) return;
    event_hub_.heartbeat();
    keep_streams_alive();
  });
}


}  // namespace nightshift

#include "nightshift/server/scheduler.h"

#include "nightshift/fire_schedule.h"
#include "nightshift/run_time.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/system_timer.hpp>

#include <map>
#include <mutex>

namespace nightshift {
namespace {

namespace asio = boost::asio;

}  // namespace

class Scheduler::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, RunStore& store, Executor& executor, SchedulerEvents events,
       Clock clock)
      : io_(io),
        store_(store),
        executor_(executor),
        events_(std::move(events)),
        clock_(clock ? std::move(clock) : [] {
          return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
        }) {}

  void start(std::shared_ptr<const JobSet> jobs) {
    std::lock_guard lock(mutex_);
    jobs_ = std::move(jobs);
    recover();
    for (const auto& job : jobs_->jobs()) {
      rewatch_deadline(*job);
      schedule_job(*job, true);
    }
  }

  void reload(std::shared_ptr<const JobSet> jobs) {
    std::lock_guard lock(mutex_);
    jobs_ = std::move(jobs);
    // Timers of removed jobs go; every remaining job is re-armed from its (maybe new) schedule.
    for (auto it = timers_.begin(); it != timers_.end();) {
      if (!jobs_->find(it->first)) {
        it->second->cancel();
        deadline_missed_.erase(it->first);
        next_.erase(it->first);
        it = timers_.erase(it);
      } else {
        ++it;
      }
    }
    for (const auto& job : jobs_->jobs()) schedule_job(*job, false);
  }

  void stop() {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    for (auto& [job, timer] : timers_) timer->cancel();
    for (auto& [job, timer] : deadline_timers_) timer->cancel();
  }

  void run_finished(const std::string& job_name, RunStatus status) {
    std::lock_guard lock(mutex_);
    if (status == RunStatus::succeeded && deadline_missed_[job_name]) {
      deadline_missed_[job_name] = false;
      if (events_.deadline_missed) events_.deadline_missed(job_name, false);
    }
    if (auto job = jobs_ ? jobs_->find(job_name) : nullptr) start_queued(*job);
  }

  RerunResult rerun(const Rerun& request);

  bool cancel_queued(std::int64_t run_id) {
    std::lock_guard lock(mutex_);
    auto run = store_.get_run(run_id);
    if (!run || run->status != RunStatus::queued) return false;
    // Its steps end with it: a cancelled run shows no step still waiting.
    for (const StepRecord& s : run->steps) {
      if (s.carried_over) continue;
      store_.set_step_state(run_id, s.step, StepState::cancelled);
      if (events_.step_stored) events_.step_stored(run->job, run_id, s.step, StepState::cancelled);
    }
    store_.set_run_status(run_id, RunStatus::cancelled, now_timestamp());
    run_stored(run->job, run_id, RunStatus::cancelled);
    return true;
  }

  std::shared_ptr<const JobSet> jobs() const {
    std::lock_guard lock(mutex_);
    return jobs_;
  }
  std::optional<Instant> next_run(const std::string& job) const {
    std::lock_guard lock(mutex_);
    auto it = next_.find(job);
    return it == next_.end() ? std::nullopt : it->second;
  }
  bool deadline_missed(const std::string& job) const {
    std::lock_guard lock(mutex_);
    auto it = deadline_missed_.find(job);
    return it != deadline_missed_.end() && it->second;
  }

 private:
  void recover();
  void schedule_job(const Job& job, bool at_startup);
  void arm(const std::string& job, Instant at);
  void on_timer(const std::string& job_name);
  void fire(const std::string& job_name);
  void create_scheduled_run(const Job& job, const DueFire& fire);
  void start_queued(const Job& job);
  std::size_t active_runs(const std::string& job, bool running_only);
  void watch_deadline(const Job& job, Instant fire);
  void rewatch_deadline(const Job& job);
  void log(const std::string& message) {
    if (events_.log) events_.log(message);
  }
  void run_stored(const std::string& job, std::int64_t run_id, RunStatus status) {
    if (events_.run_stored) events_.run_stored(job, run_id, status);
  }

  asio::io_context& io_;
  RunStore& store_;
  Executor& executor_;
  SchedulerEvents events_;
  Clock clock_;
  mutable std::mutex mutex_;
  std::shared_ptr<const JobSet> jobs_;
  std::map<std::string, std::unique_ptr<asio::system_timer>> timers_;
  std::map<std::string, std::unique_ptr<asio::system_timer>> deadline_timers_;
  std::map<std::string, std::optional<Instant>> next_;
  std::map<std::string, bool> deadline_missed_;
  bool stopped_ = false;
};

// What a dead daemon left: running attempts become lost and restart; its
// running runs resume; queued ones wait for their turn.
void Scheduler::Impl::recover() {
  auto lost = store_.mark_running_attempts_lost(now_timestamp());
  for (const auto& a : lost) {
    log("attempt " + std::to_string(a.attempt) + " of step " + a.step + " of run " +
        std::to_string(a.run_id) + " was lost with its daemon; it starts again");
    if (auto run = store_.get_run(a.run_id); run && events_.attempt_lost)
      events_.attempt_lost(run->job, a.step);
  }
  for (const RunRecord& run : store_.unfinished_runs()) {
    auto job = jobs_->find(run.job);
    if (!job) {
      log("run " + std::to_string(run.run_id) + " of job " + run.job +
          " cannot resume: the job is no longer defined; marking it failed");
      store_.set_run_status(run.run_id, RunStatus::failed, now_timestamp());
      continue;
    }
    if (run.status == RunStatus::running) executor_.resume_run(job, run.run_id);
  }
  for (const auto& job : jobs_->jobs()) start_queued(*job);
}

void Scheduler::Impl::schedule_job(const Job& job, bool at_startup) {
  const std::string& name = job.spec.name;
  Instant now = clock_();
  Instant from = now;
  if (job.spec.schedule) {
    auto since = store_.scheduled_through(name);
    if (!since) {
      store_.set_scheduled_through(name, now);  // a new job starts from now, nothing to catch up
    } else if (at_startup) {
      for (const DueFire& fire : due_fires(job.spec, *since, now, true))
        create_scheduled_run(job, fire);
      store_.set_scheduled_through(name, now);
    } else {
      // A reload that lands just after a fire time whose timer has not run
      // yet must not skip it: arm from the watermark (at most a minute back,
      // so an edited schedule does not fire for its whole past day).
      from = std::max(*since, now - std::chrono::minutes(1));
    }
  }
  auto next = job.spec.schedule ? job.spec.schedule->next_fire_after(from) : std::nullopt;
  next_[name] = next;
  if (events_.next_run) events_.next_run(name, next);
  if (next) arm(name, *next);
}

void Scheduler::Impl::arm(const std::string& job, Instant at) {
  // A stopped scheduler arms nothing (a reload may come while the daemon
  // drains): a pending timer would keep the io_context, and so the daemon, alive.
  if (stopped_) return;
  auto& timer = timers_[job];
  if (!timer) timer = std::make_unique<asio::system_timer>(io_);
  timer->expires_at(at);
  timer->async_wait([weak = weak_from_this(), job](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: stopped, reloaded or re-armed
    if (auto self = weak.lock()) self->on_timer(job);
  });
}

void Scheduler::Impl::on_timer(const std::string& job_name) {
  std::lock_guard lock(mutex_);
  if (stopped_) return;
  try {
    fire(job_name);
  } catch (const StoreError& e) {
    // The store is unreachable: try again shortly rather than lose the fire time.
    log("job " + job_name + ": cannot record its fire time: " + e.what() + "; retrying in 5s");
    arm(job_name, clock_() + std::chrono::seconds(5));
  }
}

void Scheduler::Impl::fire(const std::string& job_name) {
  auto job = jobs_->find(job_name);
  if (!job || !job->spec.schedule) return;
  Instant now = clock_();
  auto next = next_[job_name];
  if (next && now < *next) {  // woke early (the wall clock moved): sleep again
    arm(job_name, *next);
    return;
  }
  Instant since = store_.scheduled_through(job_name).value_or(now - std::chrono::seconds(1));
  for (const DueFire& fire : due_fires(job->spec, since, now, false))
    create_scheduled_run(*job, fire);
  store_.set_scheduled_through(job_name, now);
  next = job->spec.schedule->next_fire_after(now);
  next_[job_name] = next;
  if (events_.next_run) events_.next_run(job_name, next);
  if (next) arm(job_name, *next);
}

void Scheduler::Impl::create_scheduled_run(const Job& job, const DueFire& fire) {
  NewRun run = make_new_run(job.spec, fire.catchup ? Trigger::catchup : Trigger::schedule, fire.at);
  auto id = store_.create_run(run);
  if (!id) return;  // this fire time has its run already (a restart within the same second)
  run_stored(run.job, *id, RunStatus::queued);
  log("run " + std::to_string(*id) + " of " + run.job + " for " + run.date + " created (" +
      std::string(to_string(run.trigger)) + ")");
  watch_deadline(job, fire.at);
  start_queued(job);
}

// Starts the oldest queued runs of a job while fewer than max_active_runs run.
void Scheduler::Impl::start_queued(const Job& job) {
  if (stopped_) return;
  std::vector<RunRecord> queued;
  std::size_t running = 0;
  for (RunRecord& run : store_.unfinished_runs()) {
    if (run.job != job.spec.name) continue;
    if (run.status == RunStatus::running) ++running;
    if (run.status == RunStatus::queued) queued.push_back(std::move(run));
  }
  auto self = jobs_->find(job.spec.name);
  for (const RunRecord& run : queued) {
    if (running >= static_cast<std::size_t>(job.spec.max_active_runs)) break;
    // Mark it running now, so a second call before the executor gets to it does not start it twice.
    store_.set_run_status(run.run_id, RunStatus::running, now_timestamp());
    run_stored(run.job, run.run_id, RunStatus::running);  // before the executor reports its steps
    ++running;
    if (run.trigger != Trigger::manual && events_.schedule_delay) {
      auto delay = std::chrono::system_clock::now() - run.scheduled_at;
      events_.schedule_delay(std::chrono::duration<double>(delay).count());
    }
    executor_.start_run(self, run.run_id);
  }
}

std::size_t Scheduler::Impl::active_runs(const std::string& job, bool running_only) {
  std::size_t n = 0;
  for (const RunRecord& run : store_.unfinished_runs())
    if (run.job == job && (!running_only || run.status == RunStatus::running)) ++n;
  return n;
}

void Scheduler::Impl::watch_deadline(const Job& job, Instant fire) {
  auto deadline = deadline_for(job.spec, fire);
  if (!deadline || stopped_) return;  // as in arm()
  auto& timer = deadline_timers_[job.spec.name];
  if (!timer) timer = std::make_unique<asio::system_timer>(io_);
  timer->expires_at(*deadline);
  timer->async_wait(
      [weak = weak_from_this(), name = job.spec.name, fire](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (ec || !self) return;
        std::lock_guard lock(self->mutex_);
        std::vector<RunRecord> runs;
        try {
          runs = self->store_.list_runs(name, 20);
        } catch (const StoreError& e) {
          self->log("job " + name + ": cannot check its deadline: " + e.what());
          return;
        }
        // Missed unless a run of this fire time (or a later one) has succeeded.
        bool met = false;
        for (const RunRecord& run : runs)
          met = met || (run.status == RunStatus::succeeded && run.scheduled_at >= fire);
        if (!met) {
          self->deadline_missed_[name] = true;
          if (self->events_.deadline_missed) self->events_.deadline_missed(name, true);
          self->log("job " + name + " missed its deadline for the run scheduled at " +
                    format_iso8601(fire, find_time_zone("UTC")));
        }
      });
}

// The watch over the deadline of the job's latest scheduled run lived in the
// previous daemon's memory: a restart between a fire time and its deadline
// must not forget it, nor forget a deadline already missed. (Catch-up runs
// made at start re-arm it for their later fire times.)
void Scheduler::Impl::rewatch_deadline(const Job& job) {
  if (!job.spec.deadline) return;
  for (const RunRecord& run : store_.list_runs(job.spec.name, 20)) {
    if (run.trigger != Trigger::manual) {
      watch_deadline(job, run.scheduled_at);
      return;
    }
  }
}

Scheduler::RerunResult Scheduler::Impl::rerun(const Rerun& request) {
  std::lock_guard lock(mutex_);
  auto job = jobs_ ? jobs_->find(request.job) : nullptr;
  if (!job) return {std::nullopt, 404, "unknown job '" + request.job + "'"};
  const JobSpec& spec = job->spec;

  std::vector<bool> carried(spec.steps.size(), false);
  std::optional<Instant> scheduled_at;
  if (request.from) {
    auto step = job->dag.find(*request.from);
    if (!step)
      return {std::nullopt, 404, "job '" + spec.name + "' has no step '" + *request.from + "'"};
    auto rerun = job->dag.downstream_closure(*step);
    for (std::size_t i = 0; i < carried.size(); ++i) carried[i] = !rerun[i];
  }
  if (request.failed) {
    // Only the steps of the latest run that did not succeed run again, for its date.
    auto latest = store_.list_runs(spec.name, 1);
    if (latest.empty()) return {std::nullopt, 404, "job '" + spec.name + "' has no run to rerun"};
    for (const StepRecord& s : latest.front().steps)
      if (auto i = job->dag.find(s.step); i && s.state == StepState::succeeded) carried[*i] = true;
    if (!request.date) scheduled_at = latest.front().scheduled_at;
  }
  if (!scheduled_at) {
    if (request.date) {
      auto fire = fire_time_on(spec, *request.date);
      if (!fire) return {std::nullopt, 400, fire.error().message};
      scheduled_at = *fire;
    } else {
      scheduled_at = latest_fire_at_or_before(spec, clock_());
      if (!scheduled_at)
        return {std::nullopt, 400, "job '" + spec.name + "' has not fired yet: give a date"};
    }
  }
  if (active_runs(spec.name, false) >= static_cast<std::size_t>(spec.max_active_runs))
    return {std::nullopt, 409,
            "job '" + spec.name + "' has " + std::to_string(spec.max_active_runs) +
                " active run(s), its max_active_runs"};

  NewRun run = make_new_run(spec, Trigger::manual, *scheduled_at, carried);
  auto id = store_.create_run(run);  // manual runs are never deduplicated: always an id
  run_stored(run.job, *id, RunStatus::queued);
  log("run " + std::to_string(*id) + " of " + spec.name + " for " + run.date + " created (manual)");
  start_queued(*job);
  return {id, 202, ""};
}

Scheduler::Scheduler(asio::io_context& io, RunStore& store, Executor& executor,
                     SchedulerEvents events, Clock clock)
    : impl_(std::make_shared<Impl>(io, store, executor, std::move(events), std::move(clock))) {}
Scheduler::~Scheduler() {
  impl_->stop();
}

void Scheduler::start(std::shared_ptr<const JobSet> jobs) {
  impl_->start(std::move(jobs));
}
void Scheduler::reload(std::shared_ptr<const JobSet> jobs) {
  impl_->reload(std::move(jobs));
}
void Scheduler::stop() {
  impl_->stop();
}
void Scheduler::run_finished(const std::string& job, std::int64_t, RunStatus status) {
  impl_->run_finished(job, status);
}
Scheduler::RerunResult Scheduler::rerun(const Rerun& request) {
  return impl_->rerun(request);
}
bool Scheduler::cancel_queued(std::int64_t run_id) {
  return impl_->cancel_queued(run_id);
}
std::shared_ptr<const JobSet> Scheduler::jobs() const {
  return impl_->jobs();
}
std::optional<Instant> Scheduler::next_run(const std::string& job) const {
  return impl_->next_run(job);
}
bool Scheduler::deadline_missed(const std::string& job) const {
  return impl_->deadline_missed(job);
}

}  // namespace nightshift

// The scheduler's own work: firing jobs on their schedules, catch-up after
// downtime or a pause, the queue under max_active_runs, deadlines, and the
// runs of dead owners. What the API asks is in scheduler_requests.cpp.
#include "nightshift/server/scheduler.h"

#include "nightshift/fire_schedule.h"
#include "nightshift/run_time.h"
#include "nightshift/server/scheduler_impl.h"

#include <boost/asio/post.hpp>

#include <future>
#include <set>

namespace nightshift {
namespace {

namespace asio = boost::asio;

// How long start() waits for its first writes (catch-up runs) to commit.
constexpr std::chrono::seconds kStartCommitWait{30};
// How often a running daemon looks for owners that died since it started (a
// `nightshift run` killed beside it): one indexed read of the owners of
// unfinished runs and a lock test for each, so cheap enough to do often.
constexpr std::chrono::seconds kOwnerSweepInterval{30};

}  // namespace

void Scheduler::Impl::start(std::shared_ptr<const JobSet> jobs) {
  {
    std::lock_guard lock(mutex_);
    jobs_ = std::move(jobs);
    recover();
    const auto stored = store_.paused_jobs();
    for (const auto& job : jobs_->jobs()) {
      auto known = stored.find(job->spec.name);
      if (known != stored.end()) {
        paused_[job->spec.name] = known->second;
        if (events_.paused) events_.paused(job->spec.name, known->second, false);
      } else {
        see_job(*job);
      }
    }
    for (const auto& job : jobs_->jobs()) {
      if (auto through = store_.scheduled_through(job->spec.name))
        watermark_[job->spec.name] = *through;
      rewatch_deadline(*job);
      schedule_job(*job, true);
    }
  }
  // A daemon that says it is up has its catch-up runs in the store: wait
  // (here, before the io threads serve) for what start queued to commit.
  // A store that fails now is retried by the writer; the daemon comes up
  // without waiting for it.
  auto committed = std::make_shared<std::promise<void>>();
  auto done = committed->get_future();
  writer_.submit(
      "starting the scheduler", [](RunStore&) {},
      [committed = std::move(committed)] { committed->set_value(); });
  if (done.wait_for(kStartCommitWait) != std::future_status::ready)
    log("the store has not taken the scheduler's first writes within " +
        std::to_string(kStartCommitWait.count()) + " s; going on, they are written once it does");
}

void Scheduler::Impl::reload(std::shared_ptr<const JobSet> jobs) {
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
  for (const auto& job : jobs_->jobs()) {
    if (!paused_.contains(job->spec.name)) see_job(*job);
    schedule_job(*job, false);
  }
}

void Scheduler::Impl::stop() {
  std::lock_guard lock(mutex_);
  stopped_ = true;
  if (sweep_timer_) sweep_timer_->cancel();
  for (auto& [job, timer] : timers_) timer->cancel();
  for (auto& [job, timer] : deadline_timers_) timer->cancel();
}

void Scheduler::Impl::run_finished(const std::string& job_name, std::int64_t run_id,
                                   RunStatus status) {
  std::lock_guard lock(mutex_);
  auto started = started_.find(run_id);
  if (status == RunStatus::succeeded && started != started_.end()) {
    Instant& through = succeeded_through_[job_name];
    through = std::max(through, started->second);
  }
  if (started != started_.end()) started_.erase(started);
  if (status == RunStatus::succeeded && deadline_missed_[job_name]) {
    deadline_missed_[job_name] = false;
    if (events_.deadline_missed) events_.deadline_missed(job_name, false);
  }
  if (auto job = jobs_ ? jobs_->find(job_name) : nullptr) start_queued(*job);
}

Scheduler::Impl::TakenRuns Scheduler::Impl::take_over(RunStore& store) {
  TakenRuns found;
  found.taken = store.take_over_dead_owners(now_timestamp());
  for (std::int64_t id : found.taken.runs)
    if (auto run = store.get_run(id)) found.runs.emplace_back(std::move(*run), store.attempts(id));
  return found;
}

// What dead owners left (a killed daemon, a killed `nightshift run`): their
// running attempts become lost and restart; their running runs resume; queued
// ones wait for their turn. The runs of a live `nightshift run` are its own and
// left alone. At start-up, before anything else writes: read directly.
void Scheduler::Impl::recover() {
  TakenRuns found = take_over(store_);
  const auto self = store_.owner();
  for (const RunRecord& run : store_.unfinished_runs())
    if (run.owner && run.owner != self)
      log("run " + std::to_string(run.run_id) + " of job " + run.job + " is " +
          std::string(to_string(run.status)) + " under another live process (owner " +
          std::to_string(*run.owner) + ", a nightshift run): left to it");
  took_over(found);
  for (const auto& job : jobs_->jobs()) start_queued(*job);
  arm_owner_sweep();
}

// The lost attempts are reported and the runs taken over resume (queued ones
// start when they may); a run this daemon runs already is not started twice.
void Scheduler::Impl::took_over(TakenRuns& found) {
  for (const auto& a : found.taken.lost) {
    log("attempt " + std::to_string(a.attempt) + " of step " + a.step + " of run " +
        std::to_string(a.run_id) + " was lost with its owner" +
        (a.owner ? " (owner " + std::to_string(*a.owner) + ")" : std::string()) +
        "; it starts again");
    for (const auto& [run, attempts] : found.runs)
      if (run.run_id == a.run_id && events_.attempt_lost) events_.attempt_lost(run.job, a.step);
  }
  std::set<std::string> queued_jobs;
  for (auto& [run, attempts] : found.runs) {
    if (started_.contains(run.run_id)) continue;
    auto job = jobs_->find(run.job);
    if (!job) {
      log("run " + std::to_string(run.run_id) + " of job " + run.job +
          " cannot resume: the job is no longer defined; marking it failed");
      const std::int64_t id = run.run_id;
      const std::string job_name = run.job;
      persist(
          "failing run " + std::to_string(id),
          [id](RunStore& store) { store.set_run_status(id, RunStatus::failed, now_timestamp()); },
          [id, job_name](Impl& self) { self.run_stored(job_name, id, RunStatus::failed); });
      continue;
    }
    if (run.status != RunStatus::running) {
      queued_jobs.insert(run.job);
      continue;
    }
    log("run " + std::to_string(run.run_id) + " of job " + run.job + " resumes");
    started_[run.run_id] = run.scheduled_at;
    executor_.resume_run(job, std::move(run), std::move(attempts));
  }
  for (const std::string& name : queued_jobs)
    if (auto job = jobs_->find(name)) start_queued(*job);
}

void Scheduler::Impl::arm_owner_sweep() {
  // A store without an owner (some tests) cannot tell its own attempts from
  // a dead owner's: it takes over at start only.
  if (stopped_ || !store_.owner()) return;
  if (!sweep_timer_) sweep_timer_ = std::make_unique<asio::steady_timer>(io_);
  sweep_timer_->expires_after(kOwnerSweepInterval);
  sweep_timer_->async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: stopped
    if (auto self = weak.lock()) self->sweep_owners();
  });
}

// Through the writer, as every write past start(); the next sweep is armed
// once this one is committed, so one is in flight at a time.
void Scheduler::Impl::sweep_owners() {
  std::lock_guard lock(mutex_);
  if (stopped_) return;
  auto found = std::make_shared<TakenRuns>();
  persist(
      "taking over from dead owners",
      [found](RunStore& store) { *found = take_over(store); },  // a retried batch runs it again
      [found](Impl& self) {
        if (self.stopped_) return;
        self.took_over(*found);
        self.arm_owner_sweep();
      });
}

void Scheduler::Impl::schedule_job(const Job& job, bool at_startup) {
  const std::string& name = job.spec.name;
  Instant now = clock_();
  Instant from = now;
  if (job.spec.schedule) {
    auto since = watermark_.find(name);
    if (since == watermark_.end()) {
      create_runs(job, {}, now);  // a new job starts from now, nothing to catch up
    } else if (at_startup && !is_paused(name)) {
      create_runs(job, due_fires(job.spec, since->second, now, true), now);
    } else if (at_startup) {
      log("job " + name + " is paused: fire times since " +
          format_iso8601(since->second, job.spec.zone) + " wait for its unpause");
    } else {
      // A reload that lands just after a fire time whose timer has not run
      // yet must not skip it: arm from the watermark (at most a minute back,
      // so an edited schedule does not fire for its whole past day).
      from = std::max(since->second, now - std::chrono::minutes(1));
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
  auto job = jobs_->find(job_name);
  if (!job || !job->spec.schedule) return;
  Instant now = clock_();
  auto next = next_[job_name];
  if (next && now < *next) {  // woke early (the wall clock moved): sleep again
    arm(job_name, *next);
    return;
  }
  auto since = watermark_.find(job_name);
  Instant from = since != watermark_.end() ? since->second : now - std::chrono::seconds(1);
  if (!is_paused(job_name)) create_runs(*job, due_fires(job->spec, from, now, false), now);
  next = job->spec.schedule->next_fire_after(now);
  next_[job_name] = next;
  if (events_.next_run) events_.next_run(job_name, next);
  if (next) arm(job_name, *next);
}

// The runs of `fires` and the watermark moved to `through`, in one commit: a
// crash cannot leave a fire time both past the watermark and without its run.
void Scheduler::Impl::create_runs(const Job& job, const std::vector<DueFire>& fires,
                                  Instant through) {
  const std::string& name = job.spec.name;
  watermark_[name] = through;
  auto runs = std::make_shared<std::vector<NewRun>>();
  for (const DueFire& fire : fires)
    runs->push_back(
        make_new_run(job.spec, fire.catchup ? Trigger::catchup : Trigger::schedule, fire.at));
  auto ids = std::make_shared<std::vector<std::optional<std::int64_t>>>();
  persist(
      runs->empty() ? "recording the schedule of " + name : "creating runs of " + name,
      [name, through, runs, ids](RunStore& store) {
        ids->clear();  // a retried batch runs this again
        // nullopt: this fire time has its run already (a restart within the same second).
        for (const NewRun& run : *runs) ids->push_back(store.create_run(run));
        store.set_scheduled_through(name, through);
      },
      [name, runs, ids](Impl& self) {
        if (!runs->empty()) self.runs_created(name, *runs, *ids);
      });
}

void Scheduler::Impl::runs_created(const std::string& job_name, const std::vector<NewRun>& runs,
                                   const std::vector<std::optional<std::int64_t>>& ids) {
  auto job = jobs_->find(job_name);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (!ids[i]) continue;
    run_stored(job_name, *ids[i], RunStatus::queued);
    log("run " + std::to_string(*ids[i]) + " of " + job_name + " for " + runs[i].date +
        " created (" + std::string(to_string(runs[i].trigger)) + ")");
    if (job && made_by_schedule(runs[i].trigger))
      watch_deadline(*job, runs[i].scheduled_at, *ids[i]);
  }
  if (job) start_queued(*job);
}

// Starts the oldest queued runs of a job while fewer than max_active_runs run,
// counted in the store's transaction: whoever else runs this job counts.
void Scheduler::Impl::start_queued(const Job& job) {
  if (stopped_) return;
  const std::string& name = job.spec.name;
  const auto limit = static_cast<std::size_t>(job.spec.max_active_runs);
  auto started = std::make_shared<std::vector<RunRecord>>();
  persist(
      "starting queued runs of " + name,
      [name, limit, started](RunStore& store) {
        started->clear();  // a retried batch runs this again
        // Without their steps: a 2,000-step run costs one row here, not 2,001.
        std::vector<std::int64_t> queued;
        std::size_t running = 0;
        // Another live process's runs count as active, but its queued run (a
        // `nightshift run` between creating and starting it) is its to start.
        const auto self = store.owner();
        for (const RunRecord& run : store.unfinished_runs_of(name)) {
          if (run.status == RunStatus::running) ++running;
          if (run.status == RunStatus::queued && (!run.owner || run.owner == self))
            queued.push_back(run.run_id);
        }
        for (std::int64_t id : queued) {
          if (running++ >= limit) break;
          store.set_run_status(id, RunStatus::running, now_timestamp());
          if (auto run = store.get_run(id)) started->push_back(std::move(*run));
        }
      },
      [name, started](Impl& self) { self.runs_started(name, *started); });
}

void Scheduler::Impl::runs_started(const std::string& job_name, std::vector<RunRecord>& runs) {
  auto job = jobs_->find(job_name);
  for (RunRecord& run : runs) {
    run_stored(run.job, run.run_id, RunStatus::running);  // before the executor reports its steps
    if (!job) {
      // Removed by a reload since: a restarted daemon would fail it the same way.
      log("run " + std::to_string(run.run_id) + " of job " + job_name +
          " cannot start: the job is no longer defined; marking it failed");
      const std::int64_t id = run.run_id;
      persist(
          "failing run " + std::to_string(id),
          [id](RunStore& store) { store.set_run_status(id, RunStatus::failed, now_timestamp()); },
          [id, job_name](Impl& self) { self.run_stored(job_name, id, RunStatus::failed); });
      continue;
    }
    if (made_by_schedule(run.trigger) && events_.schedule_delay) {
      auto delay = std::chrono::system_clock::now() - run.scheduled_at;
      events_.schedule_delay(std::chrono::duration<double>(delay).count());
    }
    started_[run.run_id] = run.scheduled_at;
    executor_.start_run(job, std::move(run));
  }
}

void Scheduler::Impl::watch_deadline(const Job& job, Instant fire, std::int64_t run_id) {
  auto deadline = deadline_for(job.spec, fire);
  if (!deadline || stopped_) return;  // as in arm()
  auto& timer = deadline_timers_[job.spec.name];
  if (!timer) timer = std::make_unique<asio::system_timer>(io_);
  timer->expires_at(*deadline);
  // Only a deadline that passes while watched is news to send; one already
  // past was the previous daemon's to announce (the gauge still shows it).
  const bool passes_while_watched = *deadline > clock_();
  timer->async_wait([weak = weak_from_this(), name = job.spec.name, fire, run_id, at = *deadline,
                     passes_while_watched](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    std::lock_guard lock(self->mutex_);
    auto met = self->succeeded_through_.find(name);
    if (met != self->succeeded_through_.end() && met->second >= fire) return;
    self->deadline_missed_[name] = true;
    if (self->events_.deadline_missed) self->events_.deadline_missed(name, true);
    auto job = self->jobs_ ? self->jobs_->find(name) : nullptr;
    if (passes_while_watched && job && self->events_.deadline_passed)
      self->events_.deadline_passed(*job, run_id, at);
    self->log("job " + name + " missed its deadline for the run scheduled at " +
              format_iso8601(fire, find_time_zone("UTC")));
  });
}

// The watch over the deadline of the job's latest scheduled run lived in the
// previous daemon's memory: a restart between a fire time and its deadline
// must not forget it, nor forget a deadline already missed. (Catch-up runs
// made at start re-arm it for their later fire times.) At start-up: reads.
void Scheduler::Impl::rewatch_deadline(const Job& job) {
  if (!job.spec.deadline) return;
  const auto runs = store_.list_runs(job.spec.name, 20);
  for (const RunRecord& run : runs) {
    if (run.status != RunStatus::succeeded) continue;
    Instant& through = succeeded_through_[job.spec.name];
    through = std::max(through, run.scheduled_at);
  }
  for (const RunRecord& run : runs) {
    if (made_by_schedule(run.trigger)) {
      watch_deadline(job, run.scheduled_at, run.run_id);
      return;
    }
  }
}

void Scheduler::Impl::see_job(const Job& job) {
  const std::string name = job.spec.name;
  const bool initial = job.spec.paused;
  auto stored = std::make_shared<bool>(initial);
  persist(
      "recording the pause state of new job " + name,
      [name, initial, stored](RunStore& store) {
        *stored = store.set_job_paused(name, initial, now_timestamp(), true);
      },
      [name, stored](Impl& self) {
        self.paused_[name] = *stored;
        if (*stored) self.log("job " + name + " starts paused (paused: true in its file)");
        if (self.events_.paused) self.events_.paused(name, *stored, false);
      });
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
void Scheduler::run_finished(const std::string& job, std::int64_t run_id, RunStatus status) {
  impl_->run_finished(job, run_id, status);
}
Scheduler::RerunResult Scheduler::rerun(const Rerun& request) {
  return impl_->rerun(request);
}
Scheduler::PauseResult Scheduler::set_paused(const std::string& job, bool paused) {
  return impl_->set_paused(job, paused);
}
bool Scheduler::paused(const std::string& job) const {
  return impl_->paused(job);
}
Scheduler::BackfillResult Scheduler::backfill(const Backfill& request) {
  return impl_->backfill(request);
}
void Scheduler::cancel(std::int64_t run_id, std::string why) {
  impl_->cancel(run_id, std::move(why));
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

// What the API asks of the scheduler (rerun, pause, backfill, cancel): each is
// decided under the lock, written through the store's writer, acted on once
// committed, and answered when the commit is in (the caller is an API thread,
// never an io thread).
#include "nightshift/server/scheduler_impl.h"

#include "nightshift/fire_schedule.h"
#include "nightshift/run_time.h"

#include <boost/asio/post.hpp>

#include <set>

namespace nightshift {
namespace {

namespace asio = boost::asio;

// How long a rerun waits for the store to commit its run before it answers
// 503 (the run is still created once the store takes it).
constexpr std::chrono::seconds kRerunCommitWait{30};

}  // namespace

Scheduler::RerunResult Scheduler::Impl::rerun(const Rerun& request) {
  std::unique_lock lock(mutex_);
  auto job = jobs_ ? jobs_->find(request.job) : nullptr;
  if (!job) return {std::nullopt, 404, "unknown job '" + request.job + "'"};
  const JobSpec& spec = job->spec;

  std::vector<bool> carried(spec.steps.size(), false);
  if (request.from) {
    auto step = job->dag.find(*request.from);
    if (!step)
      return {std::nullopt, 404, "job '" + spec.name + "' has no step '" + *request.from + "'"};
    auto rerun = job->dag.downstream_closure(*step);
    for (std::size_t i = 0; i < carried.size(); ++i) carried[i] = !rerun[i];
  }
  std::optional<Instant> scheduled_at;
  if (request.date) {
    auto fire = fire_time_on(spec, *request.date);
    if (!fire) return {std::nullopt, 400, fire.error().message};
    scheduled_at = *fire;
  } else if (!request.failed) {
    scheduled_at = latest_fire_at_or_before(spec, clock_());
    if (!scheduled_at)
      return {std::nullopt, 400, "job '" + spec.name + "' has not fired yet: give a date"};
  }

  // What needs the store's state is decided in the write's transaction.
  struct Outcome {
    RerunResult result;
    std::string date;
  };
  auto outcome = std::make_shared<Outcome>();
  auto done = std::make_shared<std::promise<void>>();
  auto committed = done->get_future();
  const bool failed_only = request.failed;
  persist(
      "creating a manual run of " + spec.name,
      [job, carried, scheduled_at, failed_only, outcome](RunStore& store) {
        const JobSpec& spec = job->spec;
        outcome->result = {};
        const std::size_t active = store.unfinished_runs_of(spec.name).size();
        if (active >= static_cast<std::size_t>(spec.max_active_runs)) {
          outcome->result = {std::nullopt, 409,
                             "job '" + spec.name + "' has " + std::to_string(spec.max_active_runs) +
                                 " active run(s), its max_active_runs"};
          return;
        }
        std::vector<bool> carry = carried;
        std::optional<Instant> at = scheduled_at;
        if (failed_only) {
          // Only the steps of the latest run that did not succeed run again, for its date.
          auto latest = store.list_runs(spec.name, 1);
          if (latest.empty()) {
            outcome->result = {std::nullopt, 404, "job '" + spec.name + "' has no run to rerun"};
            return;
          }
          for (const StepRecord& s : latest.front().steps)
            if (auto i = job->dag.find(s.step); i && s.state == StepState::succeeded)
              carry[*i] = true;
          if (!at) at = latest.front().scheduled_at;
        }
        NewRun run = make_new_run(spec, Trigger::manual, *at, carry);
        outcome->result.run_id = store.create_run(run);  // manual: never deduplicated
        outcome->date = run.date;
      },
      // The promise lives only in here: a write dropped unwritten breaks it.
      [job, outcome, done = std::move(done)](Impl& self) {
        if (auto id = outcome->result.run_id) {
          self.run_stored(job->spec.name, *id, RunStatus::queued);
          self.log("run " + std::to_string(*id) + " of " + job->spec.name + " for " +
                   outcome->date + " created (manual)");
          self.start_queued(*job);
        }
        done->set_value();
      });
  lock.unlock();
  if (!wait_for_commit(committed))
    return {std::nullopt, 503, not_committed("the new run of '" + spec.name + "'", spec.name)};
  return outcome->result;
}

// The caller is an API thread: waiting here holds no io thread. A store that
// fails keeps the write queued; it is written once the store takes it.
bool Scheduler::Impl::wait_for_commit(std::future<void>& committed) {
  if (committed.wait_for(kRerunCommitWait) != std::future_status::ready) return false;
  try {
    committed.get();
    return true;
  } catch (const std::future_error&) {
    return false;  // dropped unwritten: the writer stopped (the daemon is going away)
  }
}

std::string Scheduler::Impl::not_committed(const std::string& what, const std::string& job) const {
  auto health = writer_.health();
  return "the store has not committed " + what + " within " +
         std::to_string(kRerunCommitWait.count()) + " s" +
         (health.up ? std::string() : " (" + health.error + ")") +
         "; it is written once the store takes it: see GET /jobs/" + job;
}

Scheduler::PauseResult Scheduler::Impl::set_paused(const std::string& name, bool paused) {
  std::unique_lock lock(mutex_);
  auto job = jobs_ ? jobs_->find(name) : nullptr;
  if (!job) return {false, 404, "unknown job '" + name + "'"};
  auto done = std::make_shared<std::promise<void>>();
  auto committed = done->get_future();
  persist(
      std::string(paused ? "pausing" : "unpausing") + " job " + name,
      [name, paused](RunStore& store) { store.set_job_paused(name, paused, now_timestamp()); },
      [job, paused, done = std::move(done)](Impl& self) {
        const std::string& name = job->spec.name;
        const bool was = self.is_paused(name);
        self.paused_[name] = paused;
        self.log("job " + name + (paused ? " paused" : " unpaused"));
        if (self.events_.paused) self.events_.paused(name, paused, true);
        // The fire times missed while paused follow `catchup`, as after downtime.
        auto since = self.watermark_.find(name);
        if (was && !paused && job->spec.schedule && since != self.watermark_.end() &&
            !self.stopped_) {
          const Instant now = self.clock_();
          self.create_runs(*job, due_fires(job->spec, since->second, now, true), now);
        }
        done->set_value();
      });
  lock.unlock();
  if (!wait_for_commit(committed))
    return {paused, 503,
            not_committed(std::string(paused ? "the pause" : "the unpause") + " of '" + name + "'",
                          name)};
  return {paused, 200, {}};
}

Scheduler::BackfillResult Scheduler::Impl::backfill(const Backfill& request) {
  std::unique_lock lock(mutex_);
  auto job = jobs_ ? jobs_->find(request.job) : nullptr;
  if (!job) return {{}, 404, "unknown job '" + request.job + "'"};
  auto fires = fire_times_between(job->spec, request.from, request.to);
  if (!fires) return {{}, 422, fires.error().message};
  auto runs = std::make_shared<std::vector<NewRun>>();
  for (Instant at : *fires) runs->push_back(make_new_run(job->spec, Trigger::backfill, at));
  if (runs->empty()) return {};

  auto ids = std::make_shared<std::vector<std::int64_t>>();
  auto done = std::make_shared<std::promise<void>>();
  auto committed = done->get_future();
  const bool missing_only = request.missing_only;
  persist(
      "creating backfill runs of " + job->spec.name,
      [runs, ids, missing_only](RunStore& store) {
        ids->clear();  // a retried batch runs this again
        // A fire time is filled when it has a run that succeeded or may still succeed.
        std::set<Instant> filled;
        if (missing_only)
          for (const RunRecord& run : store.runs_scheduled_between(
                   runs->front().job, runs->front().scheduled_at, runs->back().scheduled_at))
            if (run.status == RunStatus::succeeded || run.status == RunStatus::queued ||
                run.status == RunStatus::running)
              filled.insert(run.scheduled_at);
        for (const NewRun& run : *runs) {
          if (filled.contains(run.scheduled_at)) continue;
          if (auto id = store.create_run(run)) ids->push_back(*id);  // never deduplicated
        }
      },
      [job, runs, ids, done = std::move(done)](Impl& self) {
        for (std::int64_t id : *ids) self.run_stored(job->spec.name, id, RunStatus::queued);
        self.log(std::to_string(ids->size()) + " backfill runs of " + job->spec.name + " for " +
                 runs->front().date + " to " + runs->back().date + " created" +
                 (ids->empty() ? ""
                               : " (runs " + std::to_string(ids->front()) + " to " +
                                     std::to_string(ids->back()) + ")"));
        if (!ids->empty()) self.start_queued(*job);
        done->set_value();
      });
  lock.unlock();
  if (!wait_for_commit(committed))
    return {
        {}, 503, not_committed("the backfill runs of '" + job->spec.name + "'", job->spec.name)};
  return {*ids, 202, {}};
}

void Scheduler::Impl::cancel(std::int64_t run_id, std::string why) {
  std::lock_guard lock(mutex_);
  struct Outcome {
    std::optional<RunRecord> queued;  // the run, when it was still queued and is now cancelled
  };
  auto outcome = std::make_shared<Outcome>();
  persist(
      "cancelling run " + std::to_string(run_id),
      [run_id, outcome](RunStore& store) {
        outcome->queued.reset();
        auto run = store.get_run(run_id);
        if (!run || run->status != RunStatus::queued) return;
        // Its steps end with it: a cancelled run shows no step still waiting.
        for (const StepRecord& s : run->steps)
          if (!s.carried_over) store.set_step_state(run_id, s.step, StepState::cancelled);
        store.set_run_status(run_id, RunStatus::cancelled, now_timestamp());
        outcome->queued = std::move(run);
      },
      [run_id, outcome, why = std::move(why)](Impl& self) {
        if (!outcome->queued) {
          // Started (its start committed before this), or already ended.
          self.executor_.cancel_run(run_id, why);
          return;
        }
        const RunRecord& run = *outcome->queued;
        for (const StepRecord& s : run.steps)
          if (!s.carried_over && self.events_.step_stored)
            self.events_.step_stored(run.job, run_id, s.step, StepState::cancelled);
        self.run_stored(run.job, run_id, RunStatus::cancelled);
        if (self.events_.queued_run_cancelled) {
          // Outside the lock: it reports the run's end, which comes back here.
          auto report = self.events_.queued_run_cancelled;
          asio::post(self.io_, [report, job = run.job, run_id] { report(job, run_id); });
        }
      });
}

}  // namespace nightshift

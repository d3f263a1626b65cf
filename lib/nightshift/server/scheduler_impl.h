// Scheduler::Impl: the scheduler's state and the work on it, shared by
// scheduler.cpp (firing on schedule, catch-up, the queue of runs, deadlines,
// dead owners) and scheduler_requests.cpp (what the API asks: rerun, pause,
// backfill, cancel). Private to those two files.
#pragma once

#include "nightshift/fire_schedule.h"
#include "nightshift/server/scheduler.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/system_timer.hpp>

#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace nightshift {

class Scheduler::Impl : public std::enable_shared_from_this<Impl> {
 public:
  // What a take-over found: the runs now this daemon's, read with their attempts.
  struct TakenRuns {
    TakenOver taken;
    std::vector<std::pair<RunRecord, std::vector<AttemptRecord>>> runs;
  };

  Impl(boost::asio::io_context& io, RunStore& store, Executor& executor, SchedulerEvents events,
       Clock clock)
      : io_(io),
        store_(store),
        writer_(executor.store_writer()),
        executor_(executor),
        events_(std::move(events)),
        clock_(clock ? std::move(clock) : [] {
          return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
        }) {}

  void start(std::shared_ptr<const JobSet> jobs);
  void reload(std::shared_ptr<const JobSet> jobs);
  void stop();
  void run_finished(const std::string& job_name, std::int64_t run_id, RunStatus status);
  RerunResult rerun(const Rerun& request);
  void cancel(std::int64_t run_id, std::string why);
  PauseResult set_paused(const std::string& job, bool paused);
  BackfillResult backfill(const Backfill& request);
  bool paused(const std::string& job) const {
    std::lock_guard lock(mutex_);
    return is_paused(job);
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
  static TakenRuns take_over(RunStore& store);
  void recover();
  void took_over(TakenRuns& found);
  void arm_owner_sweep();
  void sweep_owners();
  void schedule_job(const Job& job, bool at_startup);
  void arm(const std::string& job, Instant at);
  void on_timer(const std::string& job_name);
  void create_runs(const Job& job, const std::vector<DueFire>& fires, Instant through);
  void runs_created(const std::string& job, const std::vector<NewRun>& runs,
                    const std::vector<std::optional<std::int64_t>>& ids);
  void start_queued(const Job& job);
  void runs_started(const std::string& job, std::vector<RunRecord>& runs);
  void watch_deadline(const Job& job, Instant fire, std::int64_t run_id);
  void rewatch_deadline(const Job& job);
  // A job the store has no pause state for: its file's `paused:` is stored as
  // its initial state (unless another process stored one meanwhile).
  void see_job(const Job& job);
  bool is_paused(const std::string& job) const {
    auto it = paused_.find(job);
    if (it != paused_.end()) return it->second;
    auto spec = jobs_ ? jobs_->find(job) : nullptr;
    return spec && spec->spec.paused;  // its initial state, until the store has it
  }
  // Waits (on an API thread, holding no lock) for a write's commit; false when
  // it has not come within kRerunCommitWait or the write was dropped.
  static bool wait_for_commit(std::future<void>& committed);
  std::string not_committed(const std::string& what, const std::string& job) const;
  void log(const std::string& message) {
    if (events_.log) events_.log(message);
  }
  void run_stored(const std::string& job, std::int64_t run_id, RunStatus status) {
    if (events_.run_stored) events_.run_stored(job, run_id, status);
  }
  // Runs `then` under the lock once `write` is committed (on the writer's
  // thread), unless the scheduler is gone by then.
  template <class Then>
  void persist(std::string what, StoreWriter::Write write, Then then) {
    writer_.submit(std::move(what), std::move(write),
                   [weak = weak_from_this(), then = std::move(then)]() mutable {
                     auto self = weak.lock();
                     if (!self) return;
                     std::lock_guard lock(self->mutex_);
                     then(*self);
                   });
  }

  boost::asio::io_context& io_;
  RunStore& store_;  // read by start() only; written through writer_
  StoreWriter& writer_;
  Executor& executor_;
  SchedulerEvents events_;
  Clock clock_;
  mutable std::mutex mutex_;  // never held across a store call
  std::shared_ptr<const JobSet> jobs_;
  std::map<std::string, std::unique_ptr<boost::asio::system_timer>> timers_;
  std::map<std::string, std::unique_ptr<boost::asio::system_timer>> deadline_timers_;
  std::map<std::string, std::optional<Instant>> next_;
  std::map<std::string, bool> deadline_missed_;
  // Each job's watermark as last written (the store's scheduled_through).
  std::map<std::string, Instant> watermark_;
  // The latest fire time a run of the job has succeeded for: a deadline is met
  // once a run of its fire time, or a later one, has succeeded.
  std::map<std::string, Instant> succeeded_through_;
  std::map<std::int64_t, Instant> started_;  // runs handed to the executor: their fire time
  // Each job's pause state as stored. A paused job's timer still runs, but
  // fires nothing and leaves the watermark where the pause found it, so an
  // unpause (or a restart) catches up from there by `catchup`.
  std::map<std::string, bool> paused_;
  std::unique_ptr<boost::asio::steady_timer> sweep_timer_;  // the next look for dead owners
  bool stopped_ = false;
};

}  // namespace nightshift

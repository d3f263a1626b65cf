// Scheduler: fires each job on its schedule. One timer per job, armed for its
// next fire time and re-checked against the wall clock on wake (no polling).
// It creates runs in the store (a fire time makes at most one run), starts them
// within max_active_runs (queueing the rest), catches up after downtime, watches
// deadlines, and answers manual reruns. Decisions come from the pure
// fire_schedule functions; this class owns the timers and the bookkeeping.
//
// Past start(), it never calls the store itself: each change goes to the
// store's writer (the executor's), and what depends on the store's state —
// how many runs are active, whether a run is still queued, the latest run's
// steps for a rerun of the failed ones — is decided inside that write's
// transaction, so it holds whoever else writes the store. What follows a
// change (events, handing a run to the executor) happens once it is committed,
// on the writer's thread, in commit order.
#pragma once

#include "nightshift/job_set.h"
#include "nightshift/runtime/executor.h"
#include "nightshift/runtime/run_store.h"

#include <date/date.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace nightshift {

struct SchedulerEvents {
  std::function<void(const std::string& job, std::optional<Instant> next)> next_run;
  std::function<void(const std::string& job, bool missed)> deadline_missed;
  // The deadline of run `run_id` passed, while this scheduler ran, before a
  // run of its fire time (or a later one) succeeded; whether a run is active
  // or not. Not called for a deadline found already past when it is watched
  // (at start, or a catch-up run's): deadline_missed(job, true) still is.
  // Called under the scheduler's lock: it must not call the scheduler.
  std::function<void(const Job& job, std::int64_t run_id, Instant deadline)> deadline_passed;
  std::function<void(double seconds)> schedule_delay;  // fire time → run start
  // An attempt found running whose owner died (the daemon before this one, a
  // killed `nightshift run`): it starts again.
  std::function<void(const std::string& job, const std::string& step)> attempt_lost;
  std::function<void(const std::string& message)> log;
  // A change the scheduler has stored: a run created (queued) or started
  // (running), a queued run cancelled (its steps first). Called on the store
  // writer's thread in the order stored: keep it short.
  std::function<void(const std::string& job, std::int64_t run_id, RunStatus status)> run_stored;
  std::function<void(const std::string& job, std::int64_t run_id, const std::string& step,
                     StepState state)>
      step_stored;
  // A queued run ended as cancelled (a running one ends through the executor).
  std::function<void(const std::string& job, std::int64_t run_id)> queued_run_cancelled;
  // A job's pause state as the store holds it: at start and on reload for
  // each job, and each time pause or unpause is stored (`changed`).
  std::function<void(const std::string& job, bool paused, bool changed)> paused;
};

class Scheduler {
 public:
  using Clock = std::function<Instant()>;

  Scheduler(boost::asio::io_context& io, RunStore& store, Executor& executor,
            SchedulerEvents events, Clock clock = {});
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Recovers what dead owners left (lost attempts restart, unfinished runs
  // resume, queued runs start when they may; a live `nightshift run`'s run is
  // left to it, and taken over if it dies later: looked for every 30 s),
  // catches up missed fire times by
  // each job's `catchup`, then arms the timers. Reads the store on the calling
  // thread: call it before the io threads serve.
  void start(std::shared_ptr<const JobSet> jobs);

  // Swaps in a new (already validated) job set; running runs keep their Job.
  void reload(std::shared_ptr<const JobSet> jobs);

  // No more fires or queued starts (running runs are the executor's to drain).
  void stop();

  // The executor reports a run's end: the next queued run of the job may start.
  void run_finished(const std::string& job, std::int64_t run_id, RunStatus status);

  struct Rerun {
    std::string job;
    std::optional<date::year_month_day> date;
    std::optional<std::string> from;
    bool failed = false;
  };
  struct RerunResult {
    std::optional<std::int64_t> run_id;
    int status = 202;  // 404 unknown job or step, 409 too many active runs, 400 bad date,
                       // 503 the store has not committed it in time
    std::string error;
  };
  // Creates a manual run and starts it, unless max_active_runs runs are active.
  // Waits for the store's commit (for the run id): call it off the io threads.
  RerunResult rerun(const Rerun& request);

  // Cancels a run, in the store's order: a run still queued there ends as
  // cancelled with its steps; one that has started is the executor's to stop
  // (`why` goes on its stopped attempts). Returns at once.
  void cancel(std::int64_t run_id, std::string why);

  struct PauseResult {
    bool paused = false;
    int status = 200;  // 404 unknown job, 503 the store has not committed it in time
    std::string error;
  };
  // Pauses or unpauses a job: stored, then in force (a paused job does not
  // fire; its queued and running runs go on). On unpause, the fire times
  // missed while paused follow the job's `catchup`. Waits for the store's
  // commit: call it off the io threads.
  PauseResult set_paused(const std::string& job, bool paused);
  bool paused(const std::string& job) const;

  struct Backfill {
    std::string job;
    date::year_month_day from;
    date::year_month_day to;
    bool missing_only = false;
  };
  struct BackfillResult {
    std::vector<std::int64_t> run_ids;  // oldest fire time first
    int status = 202;  // 404 unknown job, 422 from > to or over 1,000 runs, 503 as rerun
    std::string error;
  };
  // One queued run (trigger backfill) for each fire time whose local date is
  // in [from, to], oldest first, started under max_active_runs. missing_only
  // skips fire times with a succeeded run, or one still queued or running.
  // Waits for the store's commit: call it off the io threads.
  BackfillResult backfill(const Backfill& request);

  std::shared_ptr<const JobSet> jobs() const;
  std::optional<Instant> next_run(const std::string& job) const;
  bool deadline_missed(const std::string& job) const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace nightshift

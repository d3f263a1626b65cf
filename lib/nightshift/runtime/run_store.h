// RunStore: the single source of truth for runs, their steps and attempts.
// Every state change is written here before it is acted on or reported, so a
// crashed daemon can be restarted without losing or duplicating a run.
#pragma once

#include "nightshift/schedule.h"
#include "nightshift/step_state.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nightshift {

using Timestamp = std::chrono::sys_time<std::chrono::milliseconds>;

enum class Trigger { schedule, catchup, manual, backfill };
std::string_view to_string(Trigger trigger);
std::optional<Trigger> parse_trigger(std::string_view text);
// Schedule and catchup runs: the schedule's own, at most one per fire time
// (manual and backfill runs are asked for, and never deduplicated).
inline bool made_by_schedule(Trigger trigger) {
  return trigger == Trigger::schedule || trigger == Trigger::catchup;
}

// Who starts runs and attempts on a store: the daemon (`nightshift serve`) or
// a `nightshift run` process. Stored as "daemon" or "run".
enum class OwnerKind { daemon, run };
std::string_view to_string(OwnerKind kind);
// This machine's name, recorded with an owner for an operator to read.
std::string owner_host();

// A store that cannot do what was asked (I/O, corruption, a lost server).
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The store is no longer the one that was opened (its file deleted or
// replaced): writing on would make history nobody will see, so the daemon
// stops instead of retrying.
class StoreGone : public StoreError {
 public:
  using StoreError::StoreError;
};

// The current time at the store's precision.
Timestamp now_timestamp();

struct NewRun {
  std::string job;
  Trigger trigger = Trigger::manual;
  Instant scheduled_at;
  std::string scheduled_at_text;  // ISO 8601 with the job's offset
  std::string date;               // YYYY-MM-DD, local date of scheduled_at
  RunStatus status = RunStatus::queued;
  Timestamp created_at;
  // Every step of the job, in file order; carried-over steps (rerun --from,
  // --failed) start as succeeded and are never run.
  struct Step {
    std::string name;
    bool carried_over = false;
  };
  std::vector<Step> steps;
};

struct StepRecord {
  std::string step;
  StepState state = StepState::pending;
  bool carried_over = false;
  int attempt = 0;                       // the latest attempt's number, 0 before the first
  std::optional<Timestamp> started_at;   // of the latest attempt
  std::optional<Timestamp> finished_at;  // of the latest attempt
  std::optional<int> exit_code;          // of the latest attempt
};

struct AttemptRecord {
  std::int64_t run_id = 0;
  std::string step;
  int attempt = 1;
  StepState state = StepState::running;  // running, or how it ended (lost included)
  Timestamp started_at;
  std::optional<Timestamp> finished_at;
  std::optional<int> exit_code;
  // False for an attempt that restarts a lost one: the daemon's death is not the
  // step's failure, so it does not use up a retry.
  bool counts_as_retry = true;
  // How it ended when the exit code alone does not say: who stopped it (a
  // timeout, a cancel, a signal from outside nightshift), why it could not
  // start, a log it could not write. Never holds a secret.
  std::string message;
  // The process that started it (RunStore::register_owner); nullopt for one
  // started by a store without an owner (or before owners existed), which
  // recovery takes for dead.
  std::optional<std::int64_t> owner;
};

struct RunRecord {
  std::int64_t run_id = 0;
  std::string job;
  Trigger trigger = Trigger::manual;
  Instant scheduled_at;
  std::string scheduled_at_text;
  std::string date;
  RunStatus status = RunStatus::queued;
  Timestamp created_at;
  std::optional<Timestamp> started_at;
  std::optional<Timestamp> finished_at;
  // The process that runs it: the one that created it, or the daemon that took
  // it over from a dead owner (see RunStore::take_over_dead_owners).
  std::optional<std::int64_t> owner;
  std::vector<StepRecord> steps;  // in the order given to create_run
};

// A run as GET /jobs shows it: the run without its steps (`run.steps` is
// empty) and how many of its steps are in each state (only the states present).
struct RunSummary {
  RunRecord run;
  std::map<StepState, int> step_counts;
};

// What RunStore::take_over_dead_owners found and took.
struct TakenOver {
  std::vector<AttemptRecord> lost;  // dead owners' running attempts, now lost
  std::vector<std::int64_t> runs;   // their unfinished runs, now this owner's
};

struct JobSpec;

// A new run of `job` for fire time `scheduled_at` (its text and local date in
// the job's zone), created now, queued; steps marked in `carried_over` (by
// index, empty = none) start as succeeded.
NewRun make_new_run(const JobSpec& job, Trigger trigger, Instant scheduled_at,
                    const std::vector<bool>& carried_over = {});

// What may be read from a store: the API, /status and the log follower see
// the store through this, on connections of their own (RunReaders), so no
// read ever waits behind the writer.
class RunReader {
 public:
  virtual ~RunReader() = default;

  virtual std::optional<RunRecord> get_run(std::int64_t run_id) = 0;
  virtual std::vector<AttemptRecord> attempts(std::int64_t run_id) = 0;
  // Newest first; `before` pages by run_id.
  virtual std::vector<RunRecord> list_runs(const std::string& job, int limit,
                                           std::optional<std::int64_t> before = std::nullopt) = 0;
  // For every job that has runs, its latest run (the highest run_id) as a
  // summary, ordered by job name: one read for the whole jobs overview, which
  // never reads the steps themselves.
  virtual std::vector<RunSummary> latest_runs() = 0;
  // Runs not yet finished (queued or running), oldest first.
  virtual std::vector<RunRecord> unfinished_runs() = 0;
  // The same for one job, without their steps (`steps` empty): what counting
  // its active runs and picking the next queued one need, at a cost that does
  // not grow with the size of the runs. (The default filters unfinished_runs.)
  virtual std::vector<RunRecord> unfinished_runs_of(const std::string& job);

  // The scheduler's watermark of a job: every fire time up to it has been dealt
  // with (a run created, or skipped by `catchup`). A restarted daemon catches up
  // from here; nullopt for a job it has never scheduled.
  virtual std::optional<Instant> scheduled_through(const std::string& job) = 0;

  // Every job the store has a pause state for (DESIGN.md: pause is kept in
  // the store), true when paused. A job missing has never been seen: its job
  // file's `paused:` is its initial state.
  virtual std::map<std::string, bool> paused_jobs() = 0;

  // The runs of `job` (any trigger) whose fire time lies in [from, to], oldest
  // fire time first, without their steps: what a backfill with missing_only
  // looks at.
  virtual std::vector<RunRecord> runs_scheduled_between(const std::string& job, Instant from,
                                                        Instant to) = 0;
};

// A store read and written on one connection: the writer's, and `nightshift run`'s.
class RunStore : public RunReader {
 public:

  // Creates a run with its steps. Returns nullopt, creating nothing, when the
  // trigger is schedule or catchup and such a run of (job, scheduled_at) exists
  // already: a fire time makes at most one run, ever. Manual runs always succeed.
  virtual std::optional<std::int64_t> create_run(const NewRun& run) = 0;

  virtual void set_run_status(std::int64_t run_id, RunStatus status, Timestamp at) = 0;
  virtual void set_step_state(std::int64_t run_id, const std::string& step, StepState state) = 0;
  // Several steps of one run in one transaction: all of them change, or none
  // (one commit when an event makes many steps ready or upstream_failed).
  virtual void set_step_states(std::int64_t run_id,
                               const std::vector<std::pair<std::string, StepState>>& states) = 0;

  // Records an attempt as running (and its step as running) before it starts.
  virtual void start_attempt(const AttemptRecord& attempt) = 0;
  // With a step_state (the outcome is final: no retry), the step takes it in the
  // same transaction, so no crash can leave a finished attempt under a running step.
  // `message` is the attempt's AttemptRecord::message.
  virtual void finish_attempt(std::int64_t run_id, const std::string& step, int attempt,
                              StepState outcome, std::optional<int> exit_code, Timestamp at,
                              std::optional<StepState> step_state = std::nullopt,
                              const std::string& message = {}) = 0;

  // Makes this process an owner of what it starts: registers it (kind, host,
  // pid) and holds a token of its life until the store is closed or the
  // process ends, however it ends (a lock the kernel or the server frees).
  // From then on create_run and start_attempt record it as the owner. Once,
  // before the first of those writes; returns the owner's id. A store whose
  // process never registers writes runs and attempts without an owner.
  virtual std::int64_t register_owner(OwnerKind kind) = 0;
  // This store's owner id, nullopt before register_owner.
  virtual std::optional<std::int64_t> owner() const = 0;

  // Recovery: what dead owners left becomes this store's owner's. Their
  // running attempts, and every running attempt without an owner, become
  // `lost` (finished at `now`); their unfinished runs (queued or running)
  // take this owner, who resumes them. The runs and attempts of a live owner
  // (a `nightshift run` at work, this process) are left alone. Cheap when
  // there is nothing to take: a daemon calls it at start and then now and then.
  virtual TakenOver take_over_dead_owners(Timestamp now) = 0;

  // The scheduler's watermark of a job (see RunReader::scheduled_through).
  virtual void set_scheduled_through(const std::string& job, Instant t) = 0;

  // Records whether `job` is paused. With `if_unseen`, only when the store has
  // no pause state for it yet (a job file's `paused:` is only the initial
  // state). Returns the state the store holds afterwards.
  virtual bool set_job_paused(const std::string& job, bool paused, Timestamp at,
                              bool if_unseen = false) = 0;

  // Retention: deletes at most `limit` finished runs (succeeded, failed,
  // cancelled) that finished before `finished_before`, oldest run ids first,
  // with their steps and attempts, in one transaction; returns their ids.
  // Queued and running runs are never touched. Watermarks stay, so a pruned
  // fire time is never caught up again.
  virtual std::vector<std::int64_t> prune_finished_runs(Timestamp finished_before, int limit) = 0;

  // Runs `writes` (calls of this store's write methods) as one transaction:
  // all of them are stored, or none and it throws. The writer's group commit.
  // The default runs them one after another, each on its own.
  virtual void write_batch(const std::function<void()>& writes) { writes(); }

  // New runs get ids above `run_id`: a store started afresh under a kept
  // log_dir must not give its runs the ids whose log folders are there (each
  // such run would be refused: a log is never overwritten). Never lowers the
  // next id; a no-op when a run with a higher id exists.
  virtual void skip_run_ids_through(std::int64_t run_id) = 0;

  // Makes this process the one daemon (`serve`) on the store until it ends:
  // a second one would take the first's running attempts for lost and run
  // them again. Throws StoreError naming the store when another holds it.
  // (`nightshift run` does not claim: it may run beside a daemon. It registers
  // as an owner, so the daemon leaves its run alone while it lives.)
  virtual void claim_for_daemon() = 0;
};

}  // namespace nightshift

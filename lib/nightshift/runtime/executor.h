// Executor: drives the runs of jobs to their end. For each run it keeps a Plan,
// starts ready steps within the global `workers` slots and the named pools
// through a StepRunner, retries with backoff, and writes every state change to
// the RunStore before acting on it — through a StoreWriter, its own thread, so
// no Asio thread waits on a commit. All of its state lives on one strand of the
// io_context, which may be run by a pool of threads.
#pragma once

#include "nightshift/config_spec.h"
#include "nightshift/job.h"
#include "nightshift/runtime/run_store.h"
#include "nightshift/runtime/step_runner.h"
#include "nightshift/runtime/store_writer.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace nightshift {

struct ExecutorOptions {
  int workers = 1;                   // steps running at once, over all runs
  std::map<std::string, int> pools;  // named slot limits
  std::string log_dir;               // {log_dir}/{job}/{run_id}/{step}.{attempt}.log
  std::string secrets_dir;
  std::string workdir;  // where steps run unless they say otherwise
  std::map<std::string, ConnectionSpec> connections;
  std::vector<std::pair<std::string, std::string>> base_env;  // the daemon's environment
  std::function<double()> jitter;  // [0, 1) for retry backoff; default: random
};

// What the executor reports as it goes (for `nightshift run`, logs, metrics,
// GET /events). Called on the executor's strand, after the store has been
// written, in the order of the commits; store_notice on the store writer's thread.
struct ExecutorEvents {
  std::function<void(const Job&, std::int64_t run_id, const std::string& step, int attempt)>
      step_started;
  std::function<void(const Job&, std::int64_t run_id, const std::string& step, int attempt,
                     const StepResult& result, Duration elapsed, bool will_retry)>
      step_finished;
  // `elapsed`: from the run's start (as stored) to its end.
  std::function<void(const Job&, std::int64_t run_id, RunStatus status, Duration elapsed)>
      run_finished;
  // The run is marked running (only when the executor does it: the daemon's
  // scheduler marks its runs running itself, before handing them over).
  std::function<void(const Job&, std::int64_t run_id)> run_started;
  // A step state set without an attempt ending: ready, and the upstream_failed
  // and cancelled states the plan derives. `attempt`: the step's latest (0: none).
  std::function<void(const Job&, std::int64_t run_id, const std::string& step, StepState state,
                     int attempt)>
      step_state;
  std::function<void(const std::string& what)> store_error;
  // Something about a step the operator should fix (a secret value too short
  // to be masked in its log); never a secret value.
  std::function<void(const std::string& message)> warning;
  // A store that lost its server and retries ("warn"), or got it back ("info").
  std::function<void(const std::string& level, const std::string& message)> store_notice;
  // The store was deleted or replaced under the executor: it writes no more.
  std::function<void(const std::string& why)> store_gone;
};

// The runners by kind of step: `process` runs command and shell steps, `sql` sql steps.
struct StepRunners {
  StepRunner* process = nullptr;
  StepRunner* sql = nullptr;
};

class Executor {
 public:
  Executor(boost::asio::io_context& io, RunStore& store, StepRunners runners,
           ExecutorOptions options, ExecutorEvents events = {});
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Executes a run as the store holds it (its steps, date and carried-over
  // steps; marked running here unless `run.status` says it is already).
  // Thread-safe; reads nothing from the store.
  void start_run(std::shared_ptr<const Job> job, RunRecord run);

  // Resumes a run found unfinished after a restart: recorded outcomes (the
  // run's step states and its `attempts`) are kept, steps whose attempt was
  // lost start again as a new attempt that does not use up a retry. Call after
  // RunStore::take_over_dead_owners. Thread-safe; reads nothing.
  void resume_run(std::shared_ptr<const Job> job, RunRecord run,
                  std::vector<AttemptRecord> attempts);

  // The same for a run read from the store by id first, on the calling
  // thread (`nightshift run`, tests: never from an io thread). A run that is
  // not in the store is ignored.
  void start_run(std::shared_ptr<const Job> job, std::int64_t run_id);
  void resume_run(std::shared_ptr<const Job> job, std::int64_t run_id);

  // Stops starting steps (a draining daemon): running attempts go on; runs stay
  // unfinished in the store, so a restarted daemon resumes them. Thread-safe.
  void drain();

  // Cancels a run: no new step starts, running ones are stopped. Thread-safe.
  // `why` (who asked) goes on the stopped attempts' record.
  void cancel_run(std::int64_t run_id, std::string why);
  void cancel_all(std::string why);

  // Counts, consistent as of the call (taken on the strand; blocks the caller).
  struct Load {
    std::size_t active_runs = 0;
    // Steps holding a worker: starting or running. A worker frees when its
    // step ends, before that end is stored (what follows is stored after it).
    std::size_t steps_running = 0;
    // Steps that have ended, their end not yet stored.
    std::size_t steps_ending = 0;
    // Of those two, the ones whose start or end is not yet stored: no process
    // of theirs runs (or it has ended).
    std::size_t steps_awaiting_store = 0;
    std::size_t steps_ready = 0;
    std::map<std::string, int> pool_slots_in_use;
  };
  Load load() const;

  // Whether the executor's last commit to the store succeeded, and if not, why.
  StoreWriter::Health store_health() const;

  // The end of a drain: commits what is queued for the store, or, while the
  // store fails, drops it (a restarted daemon resumes from the store), so
  // nothing waiting for the store keeps the io_context running. Later state
  // changes are not stored. Blocks until the writer has stopped.
  void stop_writing();

  // The store's one writer. The scheduler writes through it too, so that its
  // changes and the executor's commit in one order (a run marked running
  // before its steps' states) and together (group commit).
  StoreWriter& store_writer() { return *writer_; }

 private:
  class Impl;
  std::shared_ptr<StoreWriter> writer_;  // the one thread writing the store for it
  std::shared_ptr<Impl> impl_;
};

}  // namespace nightshift

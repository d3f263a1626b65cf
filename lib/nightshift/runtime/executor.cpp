#include "nightshift/runtime/executor.h"

#include "nightshift/plan.h"
#include "nightshift/retry_policy.h"
#include "nightshift/run_time.h"
#include "nightshift/runtime/secret_resolver.h"
#include "nightshift/runtime/step_log.h"
#include "nightshift/secret_mask.h"
#include "nightshift/runtime/store_writer.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <mutex>
#include <random>
#include <sstream>
#include <tuple>

namespace nightshift {
namespace {

namespace asio = boost::asio;

bool is_failure(StepState outcome) {
  return outcome == StepState::failed || outcome == StepState::timed_out;
}

// One run in progress: its plan and what the executor knows of each step.
struct RunState {
  RunState(std::shared_ptr<const Job> j, const RunRecord& record, std::vector<bool> carried)
      : job(std::move(j)),
        run_id(record.run_id),
        date(parse_date(record.date).value_or(date::year_month_day{})),
        scheduled_at(record.scheduled_at_text),
        started_at(record.started_at),
        plan(job->dag, run_ifs(*job), std::move(carried)),
        attempt(job->spec.steps.size(), 0),
        failures(job->spec.steps.size(), 0),
        uncounted_next(job->spec.steps.size(), false),
        stored(job->spec.steps.size(), StepState::pending),
        started(job->spec.steps.size()) {}

  static std::vector<RunIf> run_ifs(const Job& job) {
    std::vector<RunIf> out;
    for (const auto& s : job.spec.steps) out.push_back(s.run_if);
    return out;
  }

  std::shared_ptr<const Job> job;
  std::int64_t run_id;
  date::year_month_day date;
  std::string scheduled_at;
  std::optional<Timestamp> started_at;  // as stored, or set when the executor marks it running
  Plan plan;
  std::vector<int> attempt;          // the latest attempt's number per step
  std::vector<int> failures;         // failed or timed-out attempts per step
  std::vector<bool> uncounted_next;  // the next attempt restarts a lost one
  std::vector<StepState> stored;     // the step state last written to the store
  std::vector<std::chrono::steady_clock::time_point> started;
  std::map<std::size_t, std::shared_ptr<StepHandle>> handles;
  std::map<std::size_t, std::unique_ptr<asio::steady_timer>> retry_timers;
  std::map<std::size_t, StepState> replay;  // recorded outcomes of a resumed run
  bool cancelled = false;
  bool finishing = false;     // its end is on its way to the store
  std::string cancelled_why;  // who cancelled it, for the stopped attempts' record
  std::string log_error;      // why its log folder is unusable: its steps fail with it
};

// The daemon's environment by name, the first of a name kept (as a map built
// from it would).
std::vector<std::pair<std::string, std::string>> sorted_env(
    std::vector<std::pair<std::string, std::string>> env) {
  std::stable_sort(env.begin(), env.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  env.erase(std::unique(env.begin(), env.end(),
                        [](const auto& a, const auto& b) { return a.first == b.first; }),
            env.end());
  return env;
}

}  // namespace

class Executor::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, RunStore& store, std::shared_ptr<StoreWriter> writer,
       StepRunners runners, ExecutorOptions options, ExecutorEvents events)
      : strand_(asio::make_strand(io)),
        store_(store),
        writer_(std::move(writer)),
        runners_(runners),
        options_(std::move(options)),
        events_(std::move(events)),
        secrets_(options_.secrets_dir),
        rng_(std::random_device{}()),
        base_env_(sorted_env(options_.base_env)) {
    if (options_.workers < 1) options_.workers = 1;
  }

  RunStore& store() { return store_; }

  template <class F>
  void on_strand(F f) {
    asio::post(strand_, [self = shared_from_this(), f = std::move(f)]() mutable { f(*self); });
  }

  void start_run(std::shared_ptr<const Job> job, const RunRecord& record,
                 const std::vector<AttemptRecord>& attempts, bool resume);
  void cancel_run(std::int64_t run_id, const std::string& why);
  void cancel_all(const std::string& why);
  void drain() {
    draining_ = true;
    // Steps waiting to retry stay as they are in the store; a restarted daemon retries them.
    for (auto& [id, run] : runs_) run->retry_timers.clear();
    publish_load();
  }
  Load load() const {
    std::lock_guard lock(load_mutex_);
    return load_;
  }

 private:
  void advance(RunState& run);
  void enqueue(RunState& run, std::size_t step);
  void dispatch();
  void start_attempt(RunState& run, std::size_t step);
  void on_attempt_done(std::int64_t run_id, std::size_t step, int attempt, StepResult result);
  void settled(std::int64_t run_id, std::size_t step, int attempt, const StepResult& result,
               Duration elapsed, bool retry);
  void finish_step(RunState& run, std::size_t step, StepState outcome);
  void derived_states(RunState& run, std::vector<std::pair<std::size_t, StepState>>& changes);
  void maybe_finish(RunState& run);
  std::optional<StepInvocation> invocation(RunState& run, std::size_t step, int attempt,
                                           std::string& error);
  std::string log_path(const RunState& run, std::size_t step, int attempt) const;
  std::string log_folder(const Job& job, std::int64_t run_id) const;
  std::string make_log_folder(const Job& job, std::int64_t run_id, bool resume) const;
  void add_secrets(StepInvocation& inv, const std::string& where,
                   std::vector<ResolvedReference>& resolved);
  void set_step_state(RunState& run, std::size_t step, StepState state);
  void set_step_states(RunState& run,
                       const std::vector<std::pair<std::size_t, StepState>>& changes);
  std::function<void()> report_states(
      const RunState& run, const std::vector<std::pair<std::size_t, StepState>>& changes);
  void publish_load();
  // Queues a state change for the store's writer. `then`, the action that
  // depends on it, runs on the strand once the change (and every one queued
  // before it) is committed: state before action, without an Asio thread
  // waiting on the store. A write that fails is retried until it succeeds, so
  // meanwhile nothing that depends on it happens.
  template <class W>
  void persist(std::string what, W write, std::function<void()> then = {}) {
    StoreWriter::Then done;
    if (then) {
      done = [self = shared_from_this(), then = std::move(then),
              hold = asio::make_work_guard(strand_)]() mutable {
        asio::post(self->strand_, std::move(then));
      };
    }
    writer_->submit(std::move(what), std::move(write), std::move(done));
  }
  void launch(std::int64_t run_id, std::size_t step, int attempt);

  asio::strand<asio::io_context::executor_type> strand_;
  RunStore& store_;  // written through writer_ only; read only by the by-id start_run
  std::shared_ptr<StoreWriter> writer_;
  StepRunners runners_;
  ExecutorOptions options_;
  ExecutorEvents events_;
  SecretResolver secrets_;
  std::mt19937_64 rng_;
  std::vector<std::pair<std::string, std::string>> base_env_;  // by name, each name once

  std::map<std::int64_t, std::unique_ptr<RunState>> runs_;
  std::deque<std::pair<std::int64_t, std::size_t>> ready_;  // FIFO over all runs
  int running_ = 0;         // the workers in use: steps starting or running
  int ending_ = 0;          // ended, their end not yet stored: no longer in running_
  int awaiting_store_ = 0;  // of running_ and ending_, their start or end not yet stored
  std::map<std::string, int> pool_used_;
  bool draining_ = false;

  mutable std::mutex load_mutex_;
  Load load_;
};

void Executor::Impl::start_run(std::shared_ptr<const Job> job, const RunRecord& record,
                               const std::vector<AttemptRecord>& attempts, bool resume) {
  const std::int64_t run_id = record.run_id;
  if (runs_.contains(run_id)) return;

  const auto& steps = job->spec.steps;
  std::vector<bool> carried(steps.size(), false);
  for (const StepRecord& s : record.steps)
    if (auto i = job->dag.find(s.step); i && s.carried_over) carried[*i] = true;
  auto run = std::make_unique<RunState>(job, record, std::move(carried));
  for (const StepRecord& s : record.steps) {
    auto i = job->dag.find(s.step);
    if (!i) continue;
    run->stored[*i] = s.state;
    if (resume && is_final(s.state) && s.state != StepState::upstream_failed)
      run->replay[*i] = s.state;
  }
  std::vector<std::optional<StepState>> latest(steps.size());
  for (const AttemptRecord& a : attempts) {
    auto i = job->dag.find(a.step);
    if (!i) continue;
    if (a.attempt > run->attempt[*i]) latest[*i] = a.state;
    run->attempt[*i] = std::max(run->attempt[*i], a.attempt);
    if (is_failure(a.state)) ++run->failures[*i];
  }
  // A store written before the two went in one commit may hold a running step
  // with a finished attempt (a crash between them): settle it as the executor would have.
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (!latest[i] || is_final(run->stored[i]) || run->stored[i] == StepState::lost) continue;
    if (*latest[i] == StepState::succeeded ||
        (is_failure(*latest[i]) && run->failures[i] > job->spec.retries(steps[i])))
      run->replay[i] = *latest[i];
  }
  for (std::size_t i = 0; i < steps.size(); ++i)
    run->uncounted_next[i] = resume && run->stored[i] == StepState::lost;

  run->log_error = make_log_folder(*job, run_id, resume);
  RunState& r = *run;
  runs_.emplace(run_id, std::move(run));
  if (record.status != RunStatus::running) {
    std::function<void()> reported;
    if (events_.run_started)
      reported = [self = shared_from_this(), job, run_id] {
        self->events_.run_started(*job, run_id);
      };
    const Timestamp at = now_timestamp();
    r.started_at = at;
    persist("marking run " + std::to_string(run_id) + " running",
            [run_id, at](RunStore& store) { store.set_run_status(run_id, RunStatus::running, at); },
            std::move(reported));
  }
  advance(r);
}

void Executor::Impl::advance(RunState& run) {
  std::vector<std::size_t> ready_now;
  for (;;) {
    auto ready = run.plan.take_ready();
    if (ready.empty()) break;
    for (std::size_t i : ready) {
      if (auto it = run.replay.find(i); it != run.replay.end()) {
        run.plan.step_finished(i, it->second);  // an outcome recorded before the restart
        continue;
      }
      if (run.cancelled) {
        run.plan.step_finished(i, StepState::cancelled);
        continue;
      }
      ready_now.push_back(i);
    }
  }
  // Every state this event settles goes to the store in one commit, before any step starts.
  std::vector<std::pair<std::size_t, StepState>> changes;
  for (std::size_t i : ready_now)
    if (run.stored[i] != StepState::lost) changes.emplace_back(i, StepState::ready);
  derived_states(run, changes);
  set_step_states(run, changes);
  for (std::size_t i : ready_now) ready_.emplace_back(run.run_id, i);
  dispatch();
  maybe_finish(run);
}

void Executor::Impl::enqueue(RunState& run, std::size_t step) {
  if (run.stored[step] != StepState::lost) set_step_state(run, step, StepState::ready);
  ready_.emplace_back(run.run_id, step);
}

void Executor::Impl::dispatch() {
  for (auto it = ready_.begin(); !draining_ && it != ready_.end() && running_ < options_.workers;) {
    auto [run_id, step] = *it;
    RunState& run = *runs_.at(run_id);
    const auto& pool = run.job->spec.steps[step].pool;
    if (pool) {
      auto size = options_.pools.find(pool->value);
      if (size != options_.pools.end() && pool_used_[pool->value] >= size->second) {
        ++it;  // its pool is full; a later step may use another pool
        continue;
      }
      ++pool_used_[pool->value];
    }
    it = ready_.erase(it);
    ++running_;
    start_attempt(run, step);
  }
  publish_load();
}

void Executor::Impl::start_attempt(RunState& run, std::size_t step) {
  const StepSpec& spec = run.job->spec.steps[step];
  int attempt = ++run.attempt[step];
  bool counts = !run.uncounted_next[step] && attempt > 1;
  run.uncounted_next[step] = false;
  run.stored[step] = StepState::running;
  ++awaiting_store_;
  AttemptRecord record{run.run_id,  spec.name,   attempt, StepState::running, now_timestamp(),
                       std::nullopt, std::nullopt, counts,  {},
                       std::nullopt};  // the store records its own owner
  persist("recording the start of " + spec.name,
          [record = std::move(record)](RunStore& store) { store.start_attempt(record); },
          [self = shared_from_this(), id = run.run_id, step, attempt] {
            self->launch(id, step, attempt);
          });
}

// The attempt's start is stored: now it may run.
void Executor::Impl::launch(std::int64_t run_id, std::size_t step, int attempt) {
  --awaiting_store_;
  publish_load();
  auto found = runs_.find(run_id);
  if (found == runs_.end()) return;  // a run ends only after its attempts
  RunState& run = *found->second;
  const StepSpec& spec = run.job->spec.steps[step];
  run.started[step] = std::chrono::steady_clock::now();
  if (events_.step_started) events_.step_started(*run.job, run.run_id, spec.name, attempt);
  if (run.cancelled) {  // while its start was being stored
    return on_attempt_done(run_id, step, attempt,
                           StepResult{StepState::cancelled, std::nullopt,
                                      "cancelled before it started"});
  }

  std::string error;
  auto inv = invocation(run, step, attempt, error);
  StepRunner* runner = spec.kind == StepKind::sql ? runners_.sql : runners_.process;
  if (inv && !runner) error = "no runner for " + std::string(to_string(spec.kind)) + " steps";
  if (!run.log_error.empty()) {
    // The folder is another run's: nothing of this one may be written there.
    return on_attempt_done(run_id, step, attempt,
                           StepResult{StepState::failed, std::nullopt, run.log_error});
  }
  if (!inv || !runner) {
    // It cannot start: say why in its log, then end it as a failed attempt.
    StepLog log;
    if (std::string ignored; log.open(log_path(run, step, attempt), ignored))
      log.write("nightshift: " + error + "\n");
    return on_attempt_done(run_id, step, attempt,
                           StepResult{StepState::failed, std::nullopt, error});
  }
  auto done = [weak = weak_from_this(), run_id, step, attempt](StepResult result) {
    if (auto self = weak.lock())
      asio::post(self->strand_, [self, run_id, step, attempt, result = std::move(result)]() mutable {
        self->on_attempt_done(run_id, step, attempt, std::move(result));
      });
  };
  run.handles[step] = runner->start(*inv, std::move(done));
}

std::optional<StepInvocation> Executor::Impl::invocation(RunState& run, std::size_t step,
                                                         int attempt, std::string& error) {
  const JobSpec& job = run.job->spec;
  const StepSpec& spec = job.steps[step];
  TemplateContext context{run.date, run.scheduled_at, run.run_id, job.name, spec.name, attempt};

  StepInvocation inv;
  inv.run_id = run.run_id;
  inv.job = job.name;
  inv.step = spec.name;
  inv.attempt = attempt;
  inv.kind = spec.kind;
  inv.timeout = job.timeout(spec);
  inv.kill_grace = job.kill_grace(spec);
  inv.log_path = log_path(run, step, attempt);
  std::filesystem::path workdir = options_.workdir;
  if (spec.workdir) workdir /= *spec.workdir;  // an absolute workdir replaces the base
  inv.workdir = workdir.string();

  switch (spec.kind) {
    case StepKind::command:
      for (const Template& arg : spec.command) inv.argv.push_back(arg.render(context));
      break;
    case StepKind::shell:
      inv.argv = {"/bin/sh", "-c", spec.script->render(context)};
      break;
    case StepKind::sql: {
      inv.sql = spec.script->render(context);
      auto c = options_.connections.find(spec.connection->value);
      if (c == options_.connections.end()) {
        error = "unknown connection '" + spec.connection->value + "'";
        return std::nullopt;
      }
      inv.connection = c->second;
      if (!inv.connection->password.empty()) {
        std::vector<ResolvedReference> resolved;
        auto password = secrets_.resolve(inv.connection->password, &resolved);
        if (!password) {
          error = "connection '" + c->first + "': " + password.error().message;
          return std::nullopt;
        }
        inv.connection->password = std::move(*password);
        // Written in the config or not, a password is a secret.
        resolved.push_back({"password", inv.connection->password});
        add_secrets(inv, "connection '" + c->first + "'", resolved);
      }
      break;
    }
  }

  // The daemon's environment, then the job's, the step's and NIGHTSHIFT_*:
  // a later value of the same name wins. The few set here are merged into the
  // daemon's, sorted once: no map of the whole environment a step.
  std::map<std::string, std::string> env;
  for (const auto* vars : {&job.env, &spec.env}) {
    for (const EnvVar& var : *vars) {
      std::vector<ResolvedReference> resolved;
      auto value = secrets_.resolve(var.value.render(context), &resolved);
      if (!value) {
        error = "env " + var.name + ": " + value.error().message;
        return std::nullopt;
      }
      env[var.name] = std::move(*value);
      add_secrets(inv, "env " + var.name, resolved);
    }
  }
  std::ostringstream date_text;
  date_text << run.date;
  env["NIGHTSHIFT_DATE"] = date_text.str();
  env["NIGHTSHIFT_SCHEDULED_AT"] = run.scheduled_at;
  env["NIGHTSHIFT_RUN_ID"] = std::to_string(run.run_id);
  env["NIGHTSHIFT_JOB"] = job.name;
  env["NIGHTSHIFT_STEP"] = spec.name;
  env["NIGHTSHIFT_ATTEMPT"] = std::to_string(attempt);
  inv.env.reserve(base_env_.size() + env.size());
  auto base = base_env_.begin();
  for (auto& [name, value] : env) {
    for (; base != base_env_.end() && base->first < name; ++base) inv.env.push_back(*base);
    if (base != base_env_.end() && base->first == name) ++base;
    inv.env.emplace_back(name, std::move(value));
  }
  inv.env.insert(inv.env.end(), base, base_env_.end());
  return inv;
}

// The values the step's log masks; a secret too short to be masked is named
// (never shown) in a warning, each time a step is given it.
void Executor::Impl::add_secrets(StepInvocation& inv, const std::string& where,
                                 std::vector<ResolvedReference>& resolved) {
  for (ResolvedReference& r : resolved) {
    if (r.value.empty()) continue;
    if (SecretMask::too_short(r.value) && r.reference != "password" &&
        r.reference.starts_with("secret:") && events_.warning) {
      events_.warning("run " + std::to_string(inv.run_id) + " " + inv.job + "." + inv.step + ": " +
                      where + ": the value of ${" + r.reference + "} is shorter than " +
                      std::to_string(SecretMask::kMinLength) +
                      " bytes and is not masked in the step's log");
    }
    inv.secrets.push_back(std::move(r.value));
  }
}

std::string Executor::Impl::log_folder(const Job& job, std::int64_t run_id) const {
  return (std::filesystem::path(options_.log_dir) / job.spec.name / std::to_string(run_id))
      .string();
}

// Once per run, not per attempt. A new run's folder must not exist: it would
// be an older run's of the same id (a store reset under a kept log_dir), whose
// logs this run must neither overwrite nor be mixed with. A resumed run's is
// already there. Returns why the run cannot log, or "".
std::string Executor::Impl::make_log_folder(const Job& job, std::int64_t run_id,
                                            bool resume) const {
  std::filesystem::path folder = log_folder(job, run_id);
  std::error_code ec;
  std::filesystem::create_directories(folder.parent_path(), ec);
  if (ec) return "cannot create log folder '" + folder.parent_path().string() + "': " + ec.message();
  if (std::filesystem::create_directory(folder, ec)) return {};
  if (ec) return "cannot create log folder '" + folder.string() + "': " + ec.message();
  if (resume) return {};
  return "log folder '" + folder.string() +
         "' exists already: it holds the logs of an earlier run " + std::to_string(run_id) +
         " (was the store reset under a kept log_dir?), and a log is never overwritten";
}

std::string Executor::Impl::log_path(const RunState& run, std::size_t step, int attempt) const {
  return (std::filesystem::path(log_folder(*run.job, run.run_id)) /
          (run.job->spec.steps[step].name + "." + std::to_string(attempt) + ".log"))
      .string();
}

void Executor::Impl::on_attempt_done(std::int64_t run_id, std::size_t step, int attempt,
                                     StepResult result) {
  auto found = runs_.find(run_id);
  if (found == runs_.end()) return;
  RunState& run = *found->second;
  const StepSpec& spec = run.job->spec.steps[step];
  run.handles.erase(step);
  if (is_failure(result.outcome)) ++run.failures[step];
  // A run without a log folder fails again on each try: no retry.
  bool retry = is_failure(result.outcome) && !run.cancelled && run.log_error.empty() &&
               run.failures[step] <= run.job->spec.retries(spec);
  // A final outcome is the step's state too, in the same commit as the attempt's end.
  std::optional<StepState> step_state;
  if (!retry) step_state = result.outcome;
  std::string message = result.error;
  if (result.outcome == StepState::cancelled && !run.cancelled_why.empty())
    message = run.cancelled_why + (message.empty() ? "" : "; " + message);
  if (!retry) run.stored[step] = result.outcome;
  ++awaiting_store_;
  ++ending_;
  auto elapsed =
      std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - run.started[step]);
  persist(
      "recording the end of " + spec.name,
      [run_id, name = spec.name, attempt, outcome = result.outcome, exit_code = result.exit_code,
       at = now_timestamp(), step_state, message = std::move(message)](RunStore& store) {
        store.finish_attempt(run_id, name, attempt, outcome, exit_code, at, step_state, message);
      },
      [self = shared_from_this(), run_id, step, attempt, result, elapsed, retry] {
        self->settled(run_id, step, attempt, result, elapsed, retry);
      });

  // Its slot frees now, and the run moves on now, without waiting for that
  // commit: whatever follows from this end (the states it settles, the next
  // step's start) is queued for the writer after it, so it commits with it or
  // later, and a step launches only once its own start is committed. Persist
  // before act holds, at one commit between an end and the next start
  // instead of two.
  --running_;
  if (spec.pool) --pool_used_[spec.pool->value];
  if (!retry) {
    run.plan.step_finished(step, result.outcome);  // stored with the attempt
    advance(run);
  }
  dispatch();
}

// The attempt's end is stored: it is reported, and a failed one that has
// retries left waits for its next attempt.
void Executor::Impl::settled(std::int64_t run_id, std::size_t step, int attempt,
                             const StepResult& result, Duration elapsed, bool retry) {
  --ending_;
  --awaiting_store_;
  publish_load();
  auto found = runs_.find(run_id);
  if (found == runs_.end()) return;
  RunState& run = *found->second;
  const StepSpec& spec = run.job->spec.steps[step];
  if (events_.step_finished)
    events_.step_finished(*run.job, run_id, spec.name, attempt, result, elapsed, retry);
  // A draining daemon leaves it waiting in the store, as drain() leaves the others.
  if (!retry || draining_) return;
  // Cancelled while its end was being stored: no retry to wait for.
  if (run.cancelled) return finish_step(run, step, StepState::cancelled);
  double jitter =
      options_.jitter ? options_.jitter() : std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  auto delay = retry_delay(run.job->spec.retry_delay(spec), run.failures[step], jitter);
  auto timer = std::make_unique<asio::steady_timer>(strand_, delay);
  timer->async_wait([self = shared_from_this(), run_id, step](const boost::system::error_code&) {
    auto it = self->runs_.find(run_id);
    if (it == self->runs_.end() || !it->second->retry_timers.erase(step)) return;
    RunState& r = *it->second;
    if (r.cancelled) {
      self->finish_step(r, step, StepState::cancelled);
    } else {
      self->enqueue(r, step);
      self->dispatch();
    }
  });
  run.retry_timers[step] = std::move(timer);
}

void Executor::Impl::finish_step(RunState& run, std::size_t step, StepState outcome) {
  run.plan.step_finished(step, outcome);
  set_step_state(run, step, outcome);
  advance(run);
}

// Adds the upstream_failed and cancelled states the plan derived and the store
// lacks: only the steps it decided since the last call, not a scan of the run's
// steps, which made each event O(steps) and a run O(steps^2).
void Executor::Impl::derived_states(RunState& run,
                                    std::vector<std::pair<std::size_t, StepState>>& changes) {
  for (std::size_t i : run.plan.take_decided()) {
    StepState s = run.plan.state(i);
    if (run.stored[i] != s) changes.emplace_back(i, s);
  }
}

void Executor::Impl::maybe_finish(RunState& run) {
  if (!run.plan.done() || !run.retry_timers.empty() || run.finishing) return;
  run.finishing = true;
  RunStatus status = run.plan.status();
  std::int64_t run_id = run.run_id;
  const Timestamp at = now_timestamp();
  persist(
      "recording the end of run " + std::to_string(run_id),
      [run_id, status, at](RunStore& store) {
        store.set_run_status(run_id, status, at);
      },
      [self = shared_from_this(), run_id, status, at] {
        auto found = self->runs_.find(run_id);
        if (found == self->runs_.end()) return;
        auto job = found->second->job;
        const Duration elapsed = at - found->second->started_at.value_or(at);
        self->runs_.erase(found);
        self->publish_load();
        if (self->events_.run_finished) self->events_.run_finished(*job, run_id, status, elapsed);
      });
}

void Executor::Impl::set_step_state(RunState& run, std::size_t step, StepState state) {
  persist("recording a step state",
          [run_id = run.run_id, name = run.job->spec.steps[step].name, state](RunStore& store) {
            store.set_step_state(run_id, name, state);
          },
          report_states(run, {{step, state}}));
  run.stored[step] = state;
}

// What tells events_.step_state of the changes once they are stored; empty
// when nobody listens, so the commit then needs no trip back to the strand.
std::function<void()> Executor::Impl::report_states(
    const RunState& run, const std::vector<std::pair<std::size_t, StepState>>& changes) {
  if (!events_.step_state) return {};
  std::vector<std::tuple<std::string, StepState, int>> stored;
  stored.reserve(changes.size());
  for (auto [step, state] : changes)
    stored.emplace_back(run.job->spec.steps[step].name, state, run.attempt[step]);
  return [self = shared_from_this(), job = run.job, run_id = run.run_id,
          stored = std::move(stored)] {
    for (const auto& [name, state, attempt] : stored)
      self->events_.step_state(*job, run_id, name, state, attempt);
  };
}

void Executor::Impl::set_step_states(
    RunState& run, const std::vector<std::pair<std::size_t, StepState>>& changes) {
  if (changes.empty()) return;
  if (changes.size() == 1) {  // one UPDATE commits by itself: no BEGIN and COMMIT around it
    set_step_state(run, changes[0].first, changes[0].second);
    return;
  }
  std::vector<std::pair<std::string, StepState>> named;
  named.reserve(changes.size());
  for (auto [step, state] : changes) named.emplace_back(run.job->spec.steps[step].name, state);
  persist("recording step states",
          [run_id = run.run_id, named = std::move(named)](RunStore& store) {
            store.set_step_states(run_id, named);
          },
          report_states(run, changes));
  for (auto [step, state] : changes) run.stored[step] = state;
}

void Executor::Impl::cancel_run(std::int64_t run_id, const std::string& why) {
  auto found = runs_.find(run_id);
  if (found == runs_.end()) return;
  RunState& run = *found->second;
  if (run.cancelled) return;
  run.cancelled = true;
  run.cancelled_why = why;
  run.plan.cancel();
  // Steps waiting for a slot or for a retry never start.
  std::vector<std::size_t> waiting;
  for (auto it = ready_.begin(); it != ready_.end();) {
    if (it->first == run_id) {
      waiting.push_back(it->second);
      it = ready_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [step, timer] : run.retry_timers) waiting.push_back(step);
  run.retry_timers.clear();
  std::vector<std::pair<std::size_t, StepState>> changes;
  for (std::size_t step : waiting) {
    run.plan.step_finished(step, StepState::cancelled);
    changes.emplace_back(step, StepState::cancelled);
  }
  set_step_states(run, changes);
  for (auto& [step, handle] : run.handles) handle->cancel();
  advance(run);
}

void Executor::Impl::cancel_all(const std::string& why) {
  std::vector<std::int64_t> ids;
  for (const auto& [id, run] : runs_) ids.push_back(id);
  for (auto id : ids) cancel_run(id, why);
}

void Executor::Impl::publish_load() {
  Load load;
  load.active_runs = runs_.size();
  load.steps_running = static_cast<std::size_t>(running_);
  load.steps_ending = static_cast<std::size_t>(ending_);
  load.steps_awaiting_store = static_cast<std::size_t>(awaiting_store_);
  load.steps_ready = ready_.size();
  load.pool_slots_in_use = pool_used_;
  std::lock_guard lock(load_mutex_);
  load_ = std::move(load);
}

Executor::Executor(asio::io_context& io, RunStore& store, StepRunners runners,
                   ExecutorOptions options, ExecutorEvents events)
    : writer_(std::make_shared<StoreWriter>(
          store, StoreWriterOptions{.notice = events.store_notice, .gone = events.store_gone})),
      impl_(std::make_shared<Impl>(io, store, writer_, runners, std::move(options),
                                   std::move(events))) {}

// What was decided is written before the io_context goes; handlers still
// queued there keep the Impl, and a stopped writer, alive.
Executor::~Executor() {
  writer_->stop();
}

StoreWriter::Health Executor::store_health() const {
  return writer_->health();
}

void Executor::stop_writing() {
  writer_->stop();
}

void Executor::start_run(std::shared_ptr<const Job> job, RunRecord run) {
  impl_->on_strand([job = std::move(job), run = std::move(run)](Impl& impl) {
    impl.start_run(job, run, {}, false);
  });
}

void Executor::resume_run(std::shared_ptr<const Job> job, RunRecord run,
                          std::vector<AttemptRecord> attempts) {
  impl_->on_strand(
      [job = std::move(job), run = std::move(run), attempts = std::move(attempts)](Impl& impl) {
        impl.start_run(job, run, attempts, true);
      });
}

void Executor::start_run(std::shared_ptr<const Job> job, std::int64_t run_id) {
  if (auto run = impl_->store().get_run(run_id)) start_run(std::move(job), std::move(*run));
}

void Executor::resume_run(std::shared_ptr<const Job> job, std::int64_t run_id) {
  if (auto run = impl_->store().get_run(run_id))
    resume_run(std::move(job), std::move(*run), impl_->store().attempts(run_id));
}

void Executor::cancel_run(std::int64_t run_id, std::string why) {
  impl_->on_strand(
      [run_id, why = std::move(why)](Impl& impl) { impl.cancel_run(run_id, why); });
}

void Executor::drain() {
  impl_->on_strand([](Impl& impl) { impl.drain(); });
}

void Executor::cancel_all(std::string why) {
  impl_->on_strand([why = std::move(why)](Impl& impl) { impl.cancel_all(why); });
}

Executor::Load Executor::load() const {
  return impl_->load();
}

}  // namespace nightshift

// FakeDaemonControl: the daemon as Api sees it, with every answer set by the
// test: jobs parsed from YAML text, a memory store that fails on demand, and
// the actions (rerun, cancel, reload, follow) recorded instead of done. No
// threads, no timers, no sockets: Api::handle runs against it synchronously.
#pragma once

#include "nightshift/job_loader.h"
#include "nightshift/job_set.h"
#include "nightshift/runtime/memory_run_store.h"
#include "nightshift/server/daemon_control.h"
#include "nightshift/server/latest_runs.h"

#include "support/temp_dir.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace nightshift::test {

// A RunStore that forwards to a MemoryRunStore, or throws StoreError on every
// call while `failing` is set (a store that is down: disk full, server gone).
class FailingRunStore final : public RunStore {
 public:
  MemoryRunStore memory;
  bool failing = false;
  int calls_refused = 0;

  std::optional<std::int64_t> create_run(const NewRun& run) override {
    check();
    return memory.create_run(run);
  }
  void set_run_status(std::int64_t run_id, RunStatus status, Timestamp at) override {
    check();
    memory.set_run_status(run_id, status, at);
  }
  void set_step_state(std::int64_t run_id, const std::string& step, StepState state) override {
    check();
    memory.set_step_state(run_id, step, state);
  }
  void set_step_states(std::int64_t run_id,
                       const std::vector<std::pair<std::string, StepState>>& states) override {
    check();
    memory.set_step_states(run_id, states);
  }
  void start_attempt(const AttemptRecord& attempt) override {
    check();
    memory.start_attempt(attempt);
  }
  void finish_attempt(std::int64_t run_id, const std::string& step, int attempt, StepState outcome,
                      std::optional<int> exit_code, Timestamp at,
                      std::optional<StepState> step_state = std::nullopt,
                      const std::string& message = {}) override {
    check();
    memory.finish_attempt(run_id, step, attempt, outcome, exit_code, at, step_state, message);
  }
  TakenOver take_over_dead_owners(Timestamp now) override {
    check();
    return memory.take_over_dead_owners(now);
  }
  std::optional<RunRecord> get_run(std::int64_t run_id) override {
    check();
    return memory.get_run(run_id);
  }
  std::vector<AttemptRecord> attempts(std::int64_t run_id) override {
    check();
    return memory.attempts(run_id);
  }
  std::vector<RunSummary> latest_runs() override {
    check();
    return memory.latest_runs();
  }
  std::vector<RunRecord> list_runs(const std::string& job, int limit,
                                   std::optional<std::int64_t> before = std::nullopt) override {
    check();
    return memory.list_runs(job, limit, before);
  }
  std::vector<RunRecord> unfinished_runs() override {
    check();
    return memory.unfinished_runs();
  }
  std::optional<Instant> scheduled_through(const std::string& job) override {
    check();
    return memory.scheduled_through(job);
  }
  void set_scheduled_through(const std::string& job, Instant t) override {
    check();
    memory.set_scheduled_through(job, t);
  }
  void skip_run_ids_through(std::int64_t run_id) override {
    check();
    memory.skip_run_ids_through(run_id);
  }
  std::map<std::string, bool> paused_jobs() override {
    check();
    return memory.paused_jobs();
  }
  bool set_job_paused(const std::string& job, bool paused, Timestamp at, bool if_unseen) override {
    check();
    return memory.set_job_paused(job, paused, at, if_unseen);
  }
  std::vector<RunRecord> runs_scheduled_between(const std::string& job, Instant from,
                                                Instant to) override {
    check();
    return memory.runs_scheduled_between(job, from, to);
  }
  std::vector<std::int64_t> prune_finished_runs(Timestamp before, int limit) override {
    check();
    return memory.prune_finished_runs(before, limit);
  }
  void claim_for_daemon() override { check(); }
  std::int64_t register_owner(OwnerKind kind) override {
    check();
    return memory.register_owner(kind);
  }
  std::optional<std::int64_t> owner() const override { return memory.owner(); }

 private:
  void check() {
    if (!failing) return;
    ++calls_refused;
    throw StoreError("database is locked (the test's store is down)");
  }
};

// Parses each YAML text as one job file and checks them as a set; throws with
// every diagnostic when they do not make a valid set.
inline std::shared_ptr<const JobSet> job_set_from(const std::vector<std::string>& yamls) {
  std::vector<Job> jobs;
  std::string faults;
  for (std::size_t i = 0; i < yamls.size(); ++i) {
    Diagnostics errors;
    auto job = parse_job(yamls[i], "job" + std::to_string(i) + ".yaml", errors);
    for (const auto& e : errors) faults += e.str() + "\n";
    if (job) jobs.push_back(std::move(*job));
  }
  if (!faults.empty()) throw std::invalid_argument("test jobs do not parse:\n" + faults);
  auto set = JobSet::from_jobs(std::move(jobs));
  if (!set) {
    for (const auto& e : set.error()) faults += e.str() + "\n";
    throw std::invalid_argument("test jobs are not a valid set:\n" + faults);
  }
  return *set;
}

// A followed log as the fake hands it out: remembers what it was asked for and
// ends at once.
class FakeBodyStream final : public BodyStream {
 public:
  void next(Deliver deliver) override { deliver(std::nullopt); }
  void cancel() override { cancelled = true; }
  bool cancelled = false;
};

class FakeDaemonControl final : public DaemonControl {
 public:
  explicit FakeDaemonControl(const std::vector<std::string>& job_yamls = {})
      : job_set(job_set_from(job_yamls)) {
    daemon_status.version = "0.0.0-test";
  }

  // --- what the fake answers (set freely by the test) ---
  std::shared_ptr<const JobSet> job_set;  // nullptr: no jobs loaded yet
  std::map<std::string, Instant> next_runs;
  std::set<std::string> deadlines_missed;
  FailingRunStore run_store;
  DaemonStatus daemon_status;
  std::optional<std::int64_t> owner_id;  // the daemon's, in the store
  std::string metrics_text = "# TYPE nightshift_jobs_loaded gauge\nnightshift_jobs_loaded 0\n";
  Scheduler::RerunResult rerun_answer{7, 202, ""};
  Scheduler::BackfillResult backfill_answer{{8, 9}, 202, ""};
  std::set<std::string> paused_jobs;
  Diagnostics reload_answer;                     // empty: the reload is accepted
  std::shared_ptr<const JobSet> jobs_on_reload;  // when set, an accepted reload installs it
  // When set, GET /jobs answers from it, as the daemon does; else from the store.
  LatestRuns* latest = nullptr;
  TempDir logs{"nightshift-api-test-logs"};

  // --- what the Api asked for ---
  std::vector<Scheduler::Rerun> reruns;
  std::vector<Scheduler::Backfill> backfills;
  std::vector<std::int64_t> cancels;
  int reloads = 0;
  struct Follow {
    std::string path;
    std::int64_t run_id;
    std::string step;
    int attempt;
    std::size_t offset;
  };
  std::vector<Follow> follows;
  int subscriptions = 0;  // GET /events
  bool stopping = false;  // events() answers nullptr, as a draining daemon's does

  // --- helpers ---
  const Job& job(const std::string& name) const {
    auto found = job_set ? job_set->find(name) : nullptr;
    if (!found) throw std::invalid_argument("no test job '" + name + "'");
    return *found;
  }

  // A run of `job` for `scheduled_at`, stored with the given run status; its
  // steps stay pending (give them attempts with start_step/finish_step).
  std::int64_t add_run(const std::string& job_name, RunStatus status,
                       Instant scheduled_at = Instant(std::chrono::seconds(1714521600)),
                       Trigger trigger = Trigger::manual) {
    NewRun run = make_new_run(job(job_name).spec, trigger, scheduled_at);
    auto id = run_store.memory.create_run(run);
    if (!id) throw std::logic_error("the memory store refused a run");
    if (status != RunStatus::queued) run_store.memory.set_run_status(*id, status, now_timestamp());
    return *id;
  }
  void start_step(std::int64_t run_id, const std::string& step, int attempt) {
    AttemptRecord a;
    a.run_id = run_id;
    a.step = step;
    a.attempt = attempt;
    a.started_at = now_timestamp();
    run_store.memory.start_attempt(a);
  }
  void finish_step(std::int64_t run_id, const std::string& step, int attempt, StepState outcome,
                   std::optional<int> exit_code, bool final = true) {
    run_store.memory.finish_attempt(run_id, step, attempt, outcome, exit_code, now_timestamp(),
                                    final ? std::optional(outcome) : std::nullopt);
  }
  // Writes an attempt's log where log_path says it is.
  void write_log(const std::string& job_name, std::int64_t run_id, const std::string& step,
                 int attempt, const std::string& text) {
    std::filesystem::path path = log_path(job_name, run_id, step, attempt);
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << text;
  }

  // --- DaemonControl ---
  std::shared_ptr<const JobSet> jobs() override { return job_set; }
  std::optional<Instant> next_run(const std::string& job_name) override {
    auto it = next_runs.find(job_name);
    return it == next_runs.end() ? std::nullopt : std::optional(it->second);
  }
  bool deadline_missed(const std::string& job_name) override {
    return deadlines_missed.count(job_name) > 0;
  }
  RunStore& store() override { return run_store; }
  std::vector<RunSummary> latest_runs() override {
    return latest ? latest->summaries() : run_store.latest_runs();
  }
  std::optional<std::int64_t> owner() override { return owner_id; }
  DaemonStatus status() override { return daemon_status; }
  std::string metrics() override { return metrics_text; }
  std::string log_path(const std::string& job_name, std::int64_t run_id, const std::string& step,
                       int attempt) override {
    return (logs.path() / job_name / std::to_string(run_id) /
            (step + "." + std::to_string(attempt) + ".log"))
        .string();
  }
  bool paused(const std::string& job_name) override { return paused_jobs.count(job_name) > 0; }
  Scheduler::PauseResult set_paused(const std::string& job_name, bool paused) override {
    if (!job_set || !job_set->find(job_name)) return {false, 404, "unknown job '" + job_name + "'"};
    if (paused)
      paused_jobs.insert(job_name);
    else
      paused_jobs.erase(job_name);
    return {paused, 200, {}};
  }
  Scheduler::BackfillResult backfill(const Scheduler::Backfill& request) override {
    backfills.push_back(request);
    return backfill_answer;
  }
  Scheduler::RerunResult rerun(const Scheduler::Rerun& request) override {
    reruns.push_back(request);
    return rerun_answer;
  }
  void cancel(std::int64_t run_id) override { cancels.push_back(run_id); }
  Diagnostics reload() override {
    ++reloads;
    if (reload_answer.empty() && jobs_on_reload) job_set = jobs_on_reload;
    return reload_answer;
  }
  std::shared_ptr<BodyStream> follow_log(const std::string& path, std::int64_t run_id,
                                         const std::string& step, int attempt,
                                         std::size_t offset) override {
    follows.push_back({path, run_id, step, attempt, offset});
    return std::make_shared<FakeBodyStream>();
  }
  std::shared_ptr<BodyStream> events() override {
    ++subscriptions;
    if (stopping) return nullptr;
    return std::make_shared<FakeBodyStream>();
  }
};

}  // namespace nightshift::test

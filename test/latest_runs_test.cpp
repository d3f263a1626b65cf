#include "nightshift/server/latest_runs.h"

#include <catch2/catch.hpp>

#include "nightshift/runtime/memory_run_store.h"
#include "nightshift/runtime/sqlite_run_store.h"
#include "nightshift/server/run_json.h"
#include "support/temp_dir.h"
#include "support/test_job.h"

#include <boost/json/serialize.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

using namespace nightshift;
using nightshift::test::TempDir;
using nightshift::test::test_job;

namespace {

// a -> b -> c, and d beside them: enough for ready, running, retried,
// upstream_failed and carried-over steps.
const char* const kDag = R"(job: dag
steps:
  a: { shell: 'true' }
  b: { shell: 'true', depends_on: [a] }
  c: { shell: 'true', depends_on: [b] }
  d: { shell: 'true' }
)";
const char* const kOther = R"(job: other
steps:
  only: { shell: 'true' }
)";

// What /jobs shows of every job's latest run, as one text: run_summary_json
// is what the answer is made of, so equal texts are equal answers.
std::string text(const std::vector<RunSummary>& summaries) {
  std::string out;
  for (const RunSummary& s : summaries) out += boost::json::serialize(run_summary_json(s)) + "\n";
  return out;
}

// A reader that runs `during_read` inside list_runs, before or after reading:
// a change committed (and told) while LatestRuns re-reads a job.
class HookedReader final : public RunReader {
 public:
  explicit HookedReader(RunReader& store) : store_(store) {}
  std::function<void()> before_read, after_read;  // each runs once, then is cleared
  int list_reads = 0, latest_reads = 0;

  std::optional<RunRecord> get_run(std::int64_t id) override { return store_.get_run(id); }
  std::vector<AttemptRecord> attempts(std::int64_t id) override { return store_.attempts(id); }
  std::vector<RunRecord> list_runs(const std::string& job, int limit,
                                   std::optional<std::int64_t> before) override {
    ++list_reads;
    if (auto hook = std::exchange(before_read, nullptr)) hook();
    auto runs = store_.list_runs(job, limit, before);
    if (auto hook = std::exchange(after_read, nullptr)) hook();
    return runs;
  }
  std::vector<RunSummary> latest_runs() override {
    ++latest_reads;
    return store_.latest_runs();
  }
  std::vector<RunRecord> unfinished_runs() override { return store_.unfinished_runs(); }
  std::optional<Instant> scheduled_through(const std::string& job) override {
    return store_.scheduled_through(job);
  }
  std::map<std::string, bool> paused_jobs() override { return store_.paused_jobs(); }
  std::vector<RunRecord> runs_scheduled_between(const std::string& job, Instant from,
                                                Instant to) override {
    return store_.runs_scheduled_between(job, from, to);
  }

 private:
  RunReader& store_;
};

// A store written as the daemon writes it, each write followed by the change
// the daemon publishes for it (Daemon::publish_run / publish_step).
struct Daemonish {
  explicit Daemonish(RunStore& s, std::optional<LatestRuns::Clock::duration> revalidate =
                                      std::nullopt)
      : store(s), reader(s), latest(reader, revalidate) {
    latest.summaries();  // the daemon's first GET /jobs
  }

  RunStore& store;
  HookedReader reader;
  LatestRuns latest;
  Job dag = test_job(kDag);
  Job other = test_job(kOther);
  Instant at{std::chrono::seconds(1714521600)};

  std::int64_t create(const Job& job, const std::vector<bool>& carried = {}) {
    auto id = store.create_run(make_new_run(job.spec, Trigger::manual, at, carried));
    REQUIRE(id);
    latest.run_changed(job.spec.name, *id);
    return *id;
  }
  void status(const std::string& job, std::int64_t id, RunStatus s) {
    store.set_run_status(id, s, now_timestamp());
    latest.run_changed(job, id);
  }
  void state(const std::string& job, std::int64_t id, const std::string& step, StepState s) {
    store.set_step_state(id, step, s);
    latest.step_changed(job, id, step, s);
  }
  void states(const std::string& job, std::int64_t id,
              const std::vector<std::pair<std::string, StepState>>& changes) {
    store.set_step_states(id, changes);
    for (const auto& [step, s] : changes) latest.step_changed(job, id, step, s);
  }
  void start(const std::string& job, std::int64_t id, const std::string& step, int attempt) {
    AttemptRecord a;
    a.run_id = id;
    a.step = step;
    a.attempt = attempt;
    a.started_at = now_timestamp();
    store.start_attempt(a);
    latest.step_changed(job, id, step, StepState::running);  // executor's step_started
  }
  // `retry`: the attempt failed and will be retried; its step stays running,
  // and the daemon leaves the change out (publish_step's will_retry).
  void finish(const std::string& job, std::int64_t id, const std::string& step, int attempt,
              StepState outcome, bool retry = false) {
    store.finish_attempt(id, step, attempt, outcome, outcome == StepState::succeeded ? 0 : 1,
                         now_timestamp(), retry ? std::nullopt : std::optional(outcome));
    if (!retry) latest.step_changed(job, id, step, outcome);
  }
  // A whole successful run of `dag`.
  std::int64_t run_dag() {
    const std::int64_t id = create(dag);
    status("dag", id, RunStatus::running);
    states("dag", id, {{"a", StepState::ready}, {"d", StepState::ready}});
    for (const char* step : {"a", "d"}) {
      start("dag", id, step, 1);
      finish("dag", id, step, 1, StepState::succeeded);
    }
    for (const char* step : {"b", "c"}) {
      state("dag", id, step, StepState::ready);
      start("dag", id, step, 1);
      finish("dag", id, step, 1, StepState::succeeded);
    }
    status("dag", id, RunStatus::succeeded);
    return id;
  }
  // Memory first: a change made during its reads is in the store's answer then.
  void check() {
    const std::string from_memory = text(latest.summaries());
    CHECK(from_memory == text(store.latest_runs()));
  }
};

// Each test on both stores a daemon may read (memory and SQLite), in `dir`.
std::unique_ptr<RunStore> each_store(const TempDir& dir, std::string& kind) {
  kind = GENERATE(as<std::string>(), "memory", "sqlite");
  if (kind == "sqlite") return SqliteRunStore::open(dir / "runs.db");
  return std::make_unique<MemoryRunStore>();
}

}  // namespace

TEST_CASE("latest runs: every transition of a run moves the summary as the store does",
          "[latest_runs]") {
  TempDir dir("nightshift-latest-runs");
  std::string kind;
  auto store = each_store(dir, kind);
  INFO("store: " << kind);
  Daemonish d(*store);
  d.check();  // no run at all
  CHECK(d.latest.summaries().empty());

  const std::int64_t id = d.create(d.dag);
  d.check();  // queued, four steps pending
  d.status("dag", id, RunStatus::running);
  d.check();
  d.states("dag", id, {{"a", StepState::ready}, {"d", StepState::ready}});
  d.check();
  d.start("dag", id, "a", 1);
  d.check();
  // A failed attempt that is retried: the step stays running, then ready again.
  d.finish("dag", id, "a", 1, StepState::failed, true);
  d.check();
  d.state("dag", id, "a", StepState::ready);
  d.check();
  d.start("dag", id, "a", 2);
  d.finish("dag", id, "a", 2, StepState::succeeded);
  d.check();
  d.start("dag", id, "d", 1);
  d.finish("dag", id, "d", 1, StepState::failed);
  d.check();
  d.state("dag", id, "b", StepState::ready);
  d.start("dag", id, "b", 1);
  d.finish("dag", id, "b", 1, StepState::timed_out);
  d.state("dag", id, "c", StepState::upstream_failed);
  d.check();
  d.status("dag", id, RunStatus::failed);
  d.check();

  // A rerun of the failed steps (Scheduler::rerun with failed=true): a new run
  // whose carried-over step (a, the one that succeeded) starts as succeeded,
  // the others pending.
  const std::int64_t rerun = d.create(d.dag, {true, false, false, false});
  d.check();
  d.status("dag", rerun, RunStatus::running);
  d.states("dag", rerun, {{"b", StepState::ready}, {"d", StepState::ready}});
  d.start("dag", rerun, "b", 1);
  d.check();
  // Cancelled while running: the running attempt and the waiting steps end cancelled.
  d.states("dag", rerun, {{"c", StepState::cancelled}, {"d", StepState::cancelled}});
  d.finish("dag", rerun, "b", 1, StepState::cancelled);
  d.status("dag", rerun, RunStatus::cancelled);
  d.check();

  // A queued run cancelled (the scheduler's way: its steps, then the run).
  const std::int64_t queued = d.create(d.other);
  d.check();
  d.state("other", queued, "only", StepState::cancelled);
  d.status("other", queued, RunStatus::cancelled);
  d.check();

  // An older run's change (max_active_runs 2) leaves the latest run shown.
  const std::int64_t second = d.create(d.dag);
  d.status("dag", second, RunStatus::running);
  d.state("dag", rerun, "c", StepState::cancelled);
  d.check();
  CHECK(d.latest.summaries().front().run.run_id == second);
}

TEST_CASE("latest runs: a steady run is counted from the changes, not read again",
          "[latest_runs]") {
  MemoryRunStore store;
  Daemonish d(store);
  const std::int64_t id = d.create(d.dag);
  d.status("dag", id, RunStatus::running);
  d.states("dag", id, {{"a", StepState::ready}, {"d", StepState::ready}});
  d.check();
  const int reads = d.reader.list_reads + d.reader.latest_reads;
  for (int i = 0; i < 5; ++i) d.check();  // no change: nothing read
  d.start("dag", id, "a", 1);
  d.finish("dag", id, "a", 1, StepState::succeeded);
  d.state("dag", id, "b", StepState::ready);
  d.check();  // steps only: counted in memory
  CHECK(d.reader.list_reads + d.reader.latest_reads == reads);
  d.status("dag", id, RunStatus::failed);
  d.check();  // the run's end: one read of it
  CHECK(d.reader.list_reads + d.reader.latest_reads == reads + 1);
}

TEST_CASE("latest runs: retention deleting the latest run shows the one before, or none",
          "[latest_runs]") {
  TempDir dir("nightshift-latest-runs");
  std::string kind;
  auto store = each_store(dir, kind);
  INFO("store: " << kind);
  Daemonish d(*store);
  d.run_dag();
  d.check();
  // Everything finished so far goes; the running run of `other` stays.
  const std::int64_t running = d.create(d.other);
  d.status("other", running, RunStatus::running);
  d.check();
  auto deleted = store->prune_finished_runs(now_timestamp() + std::chrono::hours(1), 100);
  REQUIRE(deleted.size() == 1);
  d.latest.runs_deleted(deleted);
  d.check();
  CHECK(d.latest.summaries().size() == 1);

  // Two runs, the latest pruned first (it finished earlier): the older shows.
  MemoryRunStore two;
  Daemonish e(two);
  const std::int64_t first = e.create(e.dag);
  e.status("dag", first, RunStatus::running);
  const std::int64_t latest = e.create(e.dag);
  e.status("dag", latest, RunStatus::cancelled);
  e.check();
  auto gone = two.prune_finished_runs(now_timestamp() + std::chrono::hours(1), 100);
  REQUIRE(gone == std::vector<std::int64_t>{latest});
  e.latest.runs_deleted(gone);
  e.check();
  CHECK(e.latest.summaries().front().run.run_id == first);
}

TEST_CASE("latest runs: changes told while a run is read again are not lost", "[latest_runs]") {
  TempDir dir("nightshift-latest-runs");
  std::string kind;
  auto store = each_store(dir, kind);
  INFO("store: " << kind);
  Daemonish d(*store);
  const std::int64_t id = d.create(d.dag);
  d.status("dag", id, RunStatus::running);
  d.states("dag", id, {{"a", StepState::ready}, {"d", StepState::ready}});

  SECTION("a step change committed after the read, told during it") {
    d.reader.after_read = [&] { d.start("dag", id, "a", 1); };
    d.check();
  }
  SECTION("a step change committed before the read, told during it") {
    d.store.set_step_state(id, "d", StepState::running);
    d.reader.before_read = [&] { d.latest.step_changed("dag", id, "d", StepState::running); };
    d.check();
  }
  SECTION("the run ends during the read: read again at the next request") {
    d.reader.after_read = [&] { d.status("dag", id, RunStatus::cancelled); };
    const auto during = d.latest.summaries();  // the run as read: still running
    REQUIRE(during.size() == 1);
    CHECK(during.front().run.status == RunStatus::running);
    d.check();
  }
  SECTION("a new run created during the read") {
    d.reader.after_read = [&] {
      const std::int64_t next = d.create(d.dag);
      d.status("dag", next, RunStatus::running);
      d.state("dag", next, "a", StepState::ready);
    };
    d.latest.summaries();
    d.check();
  }
  CHECK_FALSE(d.reader.before_read);  // each hook ran: the run was read again
  CHECK_FALSE(d.reader.after_read);
  d.check();
}

TEST_CASE("latest runs: what another process writes shows once revalidated", "[latest_runs]") {
  MemoryRunStore store;
  Job dag = test_job(kDag);
  // A `nightshift run` beside the daemon writes the store; the daemon hears nothing.
  auto outside = [&] {
    auto id = store.create_run(make_new_run(dag.spec, Trigger::manual,
                                            Instant(std::chrono::seconds(1714521600))));
    REQUIRE(id);
    return *id;
  };
  SECTION("never revalidated after the first read") {
    LatestRuns latest(store, std::nullopt);
    CHECK(latest.summaries().empty());
    outside();
    CHECK(latest.summaries().empty());  // as documented: until a change of the job is told
  }
  SECTION("revalidated on every request") {
    LatestRuns latest(store, std::chrono::seconds(0));
    CHECK(latest.summaries().empty());
    const std::int64_t id = outside();
    CHECK(text(latest.summaries()) == text(store.latest_runs()));
    // Its steps were not read; the first change of one reads them.
    latest.step_changed("dag", id, "a", StepState::ready);
    store.set_step_state(id, "a", StepState::ready);
    CHECK(text(latest.summaries()) == text(store.latest_runs()));
  }
}

TEST_CASE("latest runs: runs already in the store at start", "[latest_runs]") {
  MemoryRunStore store;
  Daemonish before(store);
  const std::int64_t id = before.run_dag();
  const std::int64_t unfinished = before.create(before.other);
  before.status("other", unfinished, RunStatus::running);
  // A new daemon: filled at the first request, then moved by changes as ever.
  Daemonish d(store);
  d.check();
  d.state("other", unfinished, "only", StepState::ready);  // its steps are read now
  d.check();
  d.start("other", unfinished, "only", 1);
  d.finish("other", unfinished, "only", 1, StepState::succeeded);
  d.status("other", unfinished, RunStatus::succeeded);
  d.check();
  CHECK(d.latest.summaries().front().run.run_id == id);
}

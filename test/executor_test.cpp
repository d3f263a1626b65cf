#include "nightshift/runtime/executor.h"
#include "nightshift/job_loader.h"
#include "nightshift/runtime/memory_run_store.h"
#include "support/fake_step_runner.h"
#include "support/test_job.h"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>

#include <unistd.h>
#include <filesystem>
#include <functional>
#include <fstream>
#include <thread>

using namespace nightshift;
using nightshift::test::FakeStepRunner;

namespace {

std::shared_ptr<const Job> job_from(const std::string& yaml) {
  return std::make_shared<const Job>(test::test_job(yaml));
}

// Runs `io` until `done` holds (bounded: only catches a hang).
void run_io_until(boost::asio::io_context& io, const std::function<bool()>& done) {
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!done() && std::chrono::steady_clock::now() < give_up) {
    io.restart();
    io.run_for(std::chrono::milliseconds(10));
  }
  REQUIRE(done());
}

// An executor over a memory store and a fake runner, run to completion.
// A memory store whose writes fail while `failing` is set, as a full disk or
// a read-only file would make them.
class FailingStore final : public MemoryRunStore {
 public:
  std::atomic<bool> failing{false};
  std::atomic<int> refused{0};

  void set_run_status(std::int64_t id, RunStatus status, Timestamp at) override {
    check();
    MemoryRunStore::set_run_status(id, status, at);
  }
  void set_step_state(std::int64_t id, const std::string& step, StepState state) override {
    check();
    MemoryRunStore::set_step_state(id, step, state);
  }
  void set_step_states(std::int64_t id,
                       const std::vector<std::pair<std::string, StepState>>& states) override {
    check();
    MemoryRunStore::set_step_states(id, states);
  }
  void start_attempt(const AttemptRecord& attempt) override {
    check();
    MemoryRunStore::start_attempt(attempt);
  }
  void finish_attempt(std::int64_t id, const std::string& step, int attempt, StepState outcome,
                      std::optional<int> exit_code, Timestamp at,
                      std::optional<StepState> step_state = std::nullopt,
                      const std::string& message = {}) override {
    check();
    MemoryRunStore::finish_attempt(id, step, attempt, outcome, exit_code, at, step_state, message);
  }

 private:
  void check() {
    if (!failing) return;
    ++refused;
    throw StoreError("disk I/O error (the test's)");
  }
};

struct Harness {
  boost::asio::io_context io;
  FailingStore store;
  FakeStepRunner runner{io};
  std::vector<std::pair<std::int64_t, RunStatus>> finished;
  // ctest runs test cases in parallel processes: each gets its own folder.
  std::filesystem::path logs = std::filesystem::temp_directory_path() /
                               ("nightshift-executor-test-" + std::to_string(::getpid()));
  std::unique_ptr<Executor> executor;

  std::vector<std::string> warnings;

  explicit Harness(int workers = 2, std::map<std::string, int> pools = {},
                   const std::function<void(ExecutorOptions&)>& configure = {}) {
    ExecutorOptions options;
    options.workers = workers;
    options.pools = std::move(pools);
    options.log_dir = logs.string();
    options.jitter = [] { return 0.0; };
    if (configure) configure(options);
    ExecutorEvents events;
    events.warning = [this](const std::string& message) { warnings.push_back(message); };
    events.run_finished = [this](const Job&, std::int64_t id, RunStatus s, Duration) {
      finished.emplace_back(id, s);
      reported(id, "", s == store.get_run(id)->status, "run " + std::string(to_string(s)));
    };
    events.run_started = [this](const Job&, std::int64_t id) {
      reported(id, "", store.get_run(id)->status == RunStatus::running, "run running");
    };
    events.step_started = [this](const Job&, std::int64_t id, const std::string& step, int n) {
      reported(id, step, state(id, step) == StepState::running,
               step + " running " + std::to_string(n));
    };
    events.step_finished = [this](const Job&, std::int64_t id, const std::string& step, int n,
                                  const StepResult& r, Duration, bool retry) {
      // A retried attempt leaves its step running; a last one is the step's state.
      StepState expected = retry ? StepState::running : r.outcome;
      reported(id, step, state(id, step) == expected,
               step + " " + std::string(to_string(r.outcome)) + " " + std::to_string(n) +
                   (retry ? " retry" : ""));
    };
    events.step_state = [this](const Job&, std::int64_t id, const std::string& step,
                               StepState s, int n) {
      // The step's start may have been committed with its ready state, and
      // taken the store past it before this report runs.
      StepState now = state(id, step);
      bool stored = now == s || (s == StepState::ready && now != StepState::pending);
      reported(id, step, stored, step + " " + std::string(to_string(s)) + " " + std::to_string(n));
    };
    executor =
        std::make_unique<Executor>(io, store, StepRunners{&runner, &runner}, options, events);
  }
  ~Harness() { std::filesystem::remove_all(logs); }

  // Every ExecutorEvents report, in order, and whether the store already held
  // what it reports when it came.
  std::vector<std::string> reports;
  std::vector<std::string> reported_before_stored;
  void reported(std::int64_t, const std::string&, bool stored, const std::string& what) {
    reports.push_back(what);
    if (!stored) reported_before_stored.push_back(what);
  }

  std::int64_t create(const Job& job, std::vector<std::string> carried = {}) {
    NewRun run;
    run.job = job.spec.name;
    run.trigger = Trigger::manual;
    run.scheduled_at = Instant(std::chrono::seconds(1'795'000'000));
    run.scheduled_at_text = "2026-11-17T09:46:40+00:00";
    run.date = "2026-11-17";
    for (const auto& s : job.spec.steps)
      run.steps.push_back(
          {s.name, std::find(carried.begin(), carried.end(), s.name) != carried.end()});
    return store.create_run(run).value();
  }

  RunStatus run(std::shared_ptr<const Job> job, std::vector<std::string> carried = {}) {
    auto id = create(*job, std::move(carried));
    executor->start_run(job, id);
    io.run();
    REQUIRE(finished.size() == 1);
    CHECK(finished[0].first == id);
    return finished[0].second;
  }

  void run_until(const std::function<bool()>& done) { run_io_until(io, done); }

  StepState state(std::int64_t run_id, const std::string& step) {
    auto run = store.get_run(run_id);
    REQUIRE(run);
    for (const auto& s : run->steps)
      if (s.step == step) return s.state;
    FAIL("no step " << step);
    return StepState::pending;
  }

  std::vector<std::string> order() const {
    std::vector<std::string> out;
    for (const auto& inv : runner.started()) out.push_back(inv.step);
    return out;
  }
};

const char* kDiamond = R"(job: diamond
steps:
  a: { shell: 'true' }
  b: { shell: 'true', depends_on: [a] }
  c: { shell: 'true', depends_on: [a] }
  d: { shell: 'true', depends_on: [b, c] }
)";

// A memory store that logs each write call: one call is one commit in the SQLite store.
class RecordingStore final : public RunStore {
 public:
  std::vector<std::string> writes;

  std::optional<std::int64_t> create_run(const NewRun& run) override {
    return store_.create_run(run);
  }
  void set_run_status(std::int64_t id, RunStatus status, Timestamp at) override {
    store_.set_run_status(id, status, at);
  }
  void set_step_state(std::int64_t id, const std::string& step, StepState state) override {
    writes.push_back(step + "=" + std::string(to_string(state)));
    store_.set_step_state(id, step, state);
  }
  void set_step_states(std::int64_t id,
                       const std::vector<std::pair<std::string, StepState>>& states) override {
    std::string write;
    for (const auto& [step, state] : states)
      write += (write.empty() ? "" : " ") + step + "=" + std::string(to_string(state));
    writes.push_back(write);
    store_.set_step_states(id, states);
  }
  void start_attempt(const AttemptRecord& attempt) override {
    writes.push_back(attempt.step + " start");
    store_.start_attempt(attempt);
  }
  void finish_attempt(std::int64_t id, const std::string& step, int attempt, StepState outcome,
                      std::optional<int> exit_code, Timestamp at,
                      std::optional<StepState> step_state = std::nullopt,
                      const std::string& message = {}) override {
    writes.push_back(step + " end " + std::string(to_string(outcome)) +
                     (step_state ? "=" + std::string(to_string(*step_state)) : ""));
    store_.finish_attempt(id, step, attempt, outcome, exit_code, at, step_state, message);
  }
  TakenOver take_over_dead_owners(Timestamp now) override {
    return store_.take_over_dead_owners(now);
  }
  std::optional<RunRecord> get_run(std::int64_t id) override { return store_.get_run(id); }
  std::vector<AttemptRecord> attempts(std::int64_t id) override { return store_.attempts(id); }
  std::vector<RunRecord> list_runs(const std::string& job, int limit,
                                   std::optional<std::int64_t> before) override {
    return store_.list_runs(job, limit, before);
  }
  std::vector<RunSummary> latest_runs() override { return store_.latest_runs(); }
  std::vector<RunRecord> unfinished_runs() override { return store_.unfinished_runs(); }
  std::optional<Instant> scheduled_through(const std::string& job) override {
    return store_.scheduled_through(job);
  }
  void set_scheduled_through(const std::string& job, Instant t) override {
    store_.set_scheduled_through(job, t);
  }
  void skip_run_ids_through(std::int64_t run_id) override { store_.skip_run_ids_through(run_id); }
  std::map<std::string, bool> paused_jobs() override { return store_.paused_jobs(); }
  bool set_job_paused(const std::string& job, bool paused, Timestamp at, bool if_unseen) override {
    return store_.set_job_paused(job, paused, at, if_unseen);
  }
  std::vector<RunRecord> runs_scheduled_between(const std::string& job, Instant from,
                                                Instant to) override {
    return store_.runs_scheduled_between(job, from, to);
  }
  std::vector<std::int64_t> prune_finished_runs(Timestamp before, int limit) override {
    return store_.prune_finished_runs(before, limit);
  }
  void claim_for_daemon() override {}
  std::int64_t register_owner(OwnerKind kind) override { return store_.register_owner(kind); }
  std::optional<std::int64_t> owner() const override { return store_.owner(); }

 private:
  MemoryRunStore store_;
};

}  // namespace

TEST_CASE("executor: a diamond runs every step once, after its dependencies") {
  Harness h;
  CHECK(h.run(job_from(kDiamond)) == RunStatus::succeeded);
  auto order = h.order();
  REQUIRE(order.size() == 4);
  CHECK(order.front() == "a");
  CHECK(order.back() == "d");
  auto run = h.store.get_run(1).value();
  CHECK(run.status == RunStatus::succeeded);
  CHECK(run.started_at);
  CHECK(run.finished_at);
  for (const auto& s : run.steps) {
    CHECK(s.state == StepState::succeeded);
    CHECK(s.attempt == 1);
  }
}

TEST_CASE("executor: parallelism never exceeds workers nor a pool's size") {
  std::string yaml = "job: wide\nsteps:\n";
  for (int i = 0; i < 20; ++i)
    yaml += "  s" + std::to_string(i) + ": { shell: 'true'" + (i < 10 ? ", pool: db" : "") + " }\n";
  Harness h(4, {{"db", 2}});
  std::set<std::string> pooled;
  for (int i = 0; i < 10; ++i) pooled.insert("s" + std::to_string(i));
  h.runner.watch_pool("db", pooled);
  CHECK(h.run(job_from(yaml)) == RunStatus::succeeded);
  CHECK(h.runner.started().size() == 20);
  CHECK(h.runner.max_running() == 4);
  CHECK(h.runner.max_in_pool("db") == 2);
}

TEST_CASE("executor: a failure fails its downstream, independent branches go on, all_done runs") {
  Harness h;
  h.runner.script("extract_a", {StepState::failed});
  auto job = job_from(R"(job: kpi
steps:
  extract_a: { shell: x }
  extract_b: { shell: x }
  aggregate: { shell: x, depends_on: [extract_a, extract_b] }
  load: { shell: x, depends_on: [aggregate] }
  report_b: { shell: x, depends_on: [extract_b] }
  notify: { shell: x, depends_on: [load], run_if: all_done }
)");
  CHECK(h.run(job) == RunStatus::failed);
  CHECK(h.state(1, "extract_a") == StepState::failed);
  CHECK(h.state(1, "extract_b") == StepState::succeeded);
  CHECK(h.state(1, "aggregate") == StepState::upstream_failed);
  CHECK(h.state(1, "load") == StepState::upstream_failed);
  CHECK(h.state(1, "report_b") == StepState::succeeded);
  CHECK(h.state(1, "notify") == StepState::succeeded);
}

TEST_CASE("executor: retries are new attempts with their own rows") {
  Harness h;
  h.runner.script("flaky", {StepState::failed, StepState::timed_out, StepState::succeeded});
  auto job = job_from("job: j\nsteps:\n  flaky: { shell: x, retries: 2, retry_delay: 1ms }\n");
  CHECK(h.run(job) == RunStatus::succeeded);
  auto attempts = h.store.attempts(1);
  REQUIRE(attempts.size() == 3);
  CHECK(attempts[0].state == StepState::failed);
  CHECK(attempts[1].state == StepState::timed_out);
  CHECK(attempts[2].state == StepState::succeeded);
  CHECK_FALSE(attempts[0].counts_as_retry);
  CHECK(attempts[1].counts_as_retry);
  auto started = h.runner.started();
  REQUIRE(started.size() == 3);
  CHECK(started[2].attempt == 3);
  CHECK(started[2].log_path == (h.logs / "j" / "1" / "flaky.3.log").string());
}

TEST_CASE("executor: retries run out") {
  Harness h;
  h.runner.script("bad", {StepState::failed});
  auto job = job_from("job: j\nsteps:\n  bad: { shell: x, retries: 1, retry_delay: 1ms }\n");
  CHECK(h.run(job) == RunStatus::failed);
  CHECK(h.store.attempts(1).size() == 2);
  CHECK(h.state(1, "bad") == StepState::failed);
}

TEST_CASE("executor: carried-over steps are not run and count as succeeded") {
  Harness h;
  CHECK(h.run(job_from(kDiamond), {"a", "b"}) == RunStatus::succeeded);
  CHECK(h.order() == std::vector<std::string>{"c", "d"});
}

TEST_CASE("executor: cancel stops running steps and never starts the rest") {
  Harness h(1);
  h.runner.hang("a");
  auto job = job_from(kDiamond);
  auto id = h.create(*job);
  h.executor->start_run(job, id);
  h.run_until([&] { return !h.runner.started().empty(); });  // `a` runs (and hangs)
  h.executor->cancel_run(id, "cancelled by the test");
  h.io.restart();
  h.io.run();
  REQUIRE(h.finished.size() == 1);
  CHECK(h.finished[0].second == RunStatus::cancelled);
  CHECK(h.order() == std::vector<std::string>{"a"});
  CHECK(h.state(id, "a") == StepState::cancelled);
  CHECK(h.state(id, "d") == StepState::cancelled);
  // The stopped attempt's record says who stopped it.
  auto attempts = h.store.attempts(id);
  REQUIRE(attempts.size() == 1);
  CHECK(attempts[0].message.rfind("cancelled by the test", 0) == 0);
}

TEST_CASE("executor: templates, NIGHTSHIFT_* and env reach the invocation") {
  Harness h;
  auto job = job_from(R"(job: kpi
env: { ENV: prd, WHEN: "{{ date | nodash }}" }
steps:
  load:
    command: [load, --date, "{{ date }}", "{{ yesterday }}", "{{ run_id }}/{{ attempt }}"]
    env: { ENV: stg }
  sh: { shell: 'echo {{ job }}.{{ step }}' }
)");
  CHECK(h.run(job) == RunStatus::succeeded);
  auto started = h.runner.started();
  REQUIRE(started.size() == 2);
  const StepInvocation& load = started[0].step == "load" ? started[0] : started[1];
  const StepInvocation& sh = started[0].step == "load" ? started[1] : started[0];
  CHECK(load.argv == std::vector<std::string>{"load", "--date", "2026-11-17", "2026-11-16", "1/1"});
  CHECK(sh.argv == std::vector<std::string>{"/bin/sh", "-c", "echo kpi.sh"});
  std::map<std::string, std::string> env(load.env.begin(), load.env.end());
  CHECK(env["ENV"] == "stg");  // the step's env wins over the job's
  CHECK(env["WHEN"] == "20261117");
  CHECK(env["NIGHTSHIFT_DATE"] == "2026-11-17");
  CHECK(env["NIGHTSHIFT_RUN_ID"] == "1");
  CHECK(env["NIGHTSHIFT_JOB"] == "kpi");
  CHECK(env["NIGHTSHIFT_STEP"] == "load");
  CHECK(env["NIGHTSHIFT_ATTEMPT"] == "1");
}

TEST_CASE("executor: the daemon's environment under the job's, each name once, by name") {
  Harness h(2, {}, [](ExecutorOptions& options) {
    options.base_env = {{"ZED", "daemon"},
                        {"ENV", "daemon"},
                        {"NIGHTSHIFT_JOB", "daemon"},
                        {"ALPHA", "first"},
                        {"ALPHA", "second"}};
  });
  auto job = job_from("job: kpi\nenv: { ENV: prd, MIDDLE: m }\nsteps:\n  s: { shell: x }\n");
  CHECK(h.run(job) == RunStatus::succeeded);
  auto started = h.runner.started();
  REQUIRE(started.size() == 1);
  // As NAME=VALUE lines, so a mismatch prints readably.
  std::string env;
  for (const auto& [name, value] : started[0].env)
    env += name + "=" + (name == "NIGHTSHIFT_SCHEDULED_AT" ? "T" : value) + "\n";
  CHECK(env ==
        "ALPHA=first\nENV=prd\nMIDDLE=m\nNIGHTSHIFT_ATTEMPT=1\nNIGHTSHIFT_DATE=2026-11-17\n"
        "NIGHTSHIFT_JOB=kpi\nNIGHTSHIFT_RUN_ID=1\nNIGHTSHIFT_SCHEDULED_AT=T\nNIGHTSHIFT_STEP=s\n"
        "ZED=daemon\n");
}

TEST_CASE("executor: a missing secret fails the attempt, saying so in its log only by name") {
  Harness h;
  auto job = job_from("job: j\nsteps:\n  s: { shell: x, env: { PW: '${secret:NOPE}' } }\n");
  CHECK(h.run(job) == RunStatus::failed);
  CHECK(h.runner.started().empty());
  std::ifstream log(h.logs / "j" / "1" / "s.1.log");
  std::string line;
  std::getline(log, line);
  CHECK(line == "nightshift: env PW: secret 'NOPE' is used but no secrets_dir is configured");
}

TEST_CASE("executor: a step is given the secret values it uses, to mask; a short one is warned of") {
  std::filesystem::path secrets =
      std::filesystem::temp_directory_path() / ("nightshift-executor-secrets-" + std::to_string(::getpid()));
  std::filesystem::create_directories(secrets);
  std::ofstream(secrets / "TOKEN") << "tok-12345\n";
  std::ofstream(secrets / "PIN") << "12";
  std::ofstream(secrets / "DBPW") << "db-pass-word";
  ::setenv("NIGHTSHIFT_EXECUTOR_TEST_VALUE", "from-the-env", 1);
  {
    Harness h(2, {}, [&](ExecutorOptions& options) {
      options.secrets_dir = secrets.string();
      ConnectionSpec db;
      db.name = "db";
      db.driver = "sqlite";
      db.password = "${secret:DBPW}";
      options.connections["db"] = db;
    });
    auto job = job_from(
        "job: j\nenv: { A: 'x-${secret:TOKEN}-y' }\nsteps:\n"
        "  s: { shell: x, env: { B: '${secret:PIN}', C: '${env:NIGHTSHIFT_EXECUTOR_TEST_VALUE}',"
        " D: plain } }\n"
        "  q: { connection: db, sql: 'SELECT 1', depends_on: [s] }\n");
    CHECK(h.run(job) == RunStatus::succeeded);
    auto started = h.runner.started();
    REQUIRE(started.size() == 2);
    CHECK(started[0].secrets == std::vector<std::string>{"tok-12345", "12", "from-the-env"});
    // The password's reference, then the password as a whole (here the same).
    CHECK(started[1].secrets == std::vector<std::string>{"db-pass-word", "db-pass-word",
                                                         "tok-12345"});
    CHECK(started[1].connection->password == "db-pass-word");
    // Named, never shown: 12 is the value.
    CHECK(h.warnings == std::vector<std::string>{
                            "run 1 j.s: env B: the value of ${secret:PIN} is shorter than 4 bytes "
                            "and is not masked in the step's log"});
  }
  std::filesystem::remove_all(secrets);
}

TEST_CASE("executor: a run whose log folder exists already fails its steps and writes nothing there") {
  Harness h;
  auto job = job_from("job: j\nsteps:\n  s: { shell: x, retries: 2, retry_delay: 1ms }\n"
                      "  t: { shell: x }\n");
  // A store reset under a kept log_dir: run 1 was another run.
  std::filesystem::create_directories(h.logs / "j" / "1");
  std::ofstream(h.logs / "j" / "1" / "s.1.log") << "the earlier run 1's log\n";
  CHECK(h.run(job) == RunStatus::failed);
  CHECK(h.runner.started().empty());
  auto attempts = h.store.attempts(1);
  REQUIRE(attempts.size() == 2);  // no retry: it would fail the same way
  for (const auto& a : attempts) {
    CHECK(a.state == StepState::failed);
    CHECK(a.message == "log folder '" + (h.logs / "j" / "1").string() +
                           "' exists already: it holds the logs of an earlier run 1 (was the "
                           "store reset under a kept log_dir?), and a log is never overwritten");
  }
  std::ifstream log(h.logs / "j" / "1" / "s.1.log");
  std::string line;
  std::getline(log, line);
  CHECK(line == "the earlier run 1's log");
  CHECK_FALSE(std::filesystem::exists(h.logs / "j" / "1" / "t.1.log"));
}

TEST_CASE("executor: a resumed run keeps recorded outcomes and restarts lost attempts uncounted") {
  Harness h;
  auto job = job_from(kDiamond);
  auto id = h.create(*job);
  // A daemon ran a and started b and c, then died.
  auto t =
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  h.store.set_run_status(id, RunStatus::running, t);
  h.store.start_attempt({id, "a", 1, StepState::running, t, {}, {}, false, {}, {}});
  h.store.finish_attempt(id, "a", 1, StepState::succeeded, 0, t);
  h.store.set_step_state(id, "a", StepState::succeeded);
  h.store.start_attempt({id, "b", 1, StepState::running, t, {}, {}, false, {}, {}});
  h.store.start_attempt({id, "c", 1, StepState::running, t, {}, {}, false, {}, {}});
  h.store.finish_attempt(id, "c", 1, StepState::succeeded, 0, t);
  h.store.set_step_state(id, "c", StepState::succeeded);
  CHECK(h.store.take_over_dead_owners(t).lost.size() == 1);

  h.executor->resume_run(job, id);
  h.io.run();
  REQUIRE(h.finished.size() == 1);
  CHECK(h.finished[0].second == RunStatus::succeeded);
  CHECK(h.order() == std::vector<std::string>{"b", "d"});  // a and c are not run again
  auto attempts = h.store.attempts(id);
  int b_attempts = 0;
  for (const auto& a : attempts) {
    if (a.step != "b") continue;
    ++b_attempts;
    if (a.attempt == 1) CHECK(a.state == StepState::lost);
    if (a.attempt == 2) CHECK_FALSE(a.counts_as_retry);
  }
  CHECK(b_attempts == 2);
}

TEST_CASE("executor: many runs on a pool of threads") {
  Harness h(3);
  std::string yaml = "job: layered\nsteps:\n";
  for (int layer = 0; layer < 5; ++layer)
    for (int i = 0; i < 8; ++i) {
      yaml += "  s" + std::to_string(layer) + "_" + std::to_string(i) + ": { shell: x";
      if (layer > 0)
        yaml += ", depends_on: [s" + std::to_string(layer - 1) + "_" + std::to_string(i) + ", s" +
                std::to_string(layer - 1) + "_" + std::to_string((i + 1) % 8) + "]";
      yaml += " }\n";
    }
  auto job = job_from(yaml);
  for (int r = 0; r < 4; ++r) h.executor->start_run(job, h.create(*job));
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) threads.emplace_back([&] { h.io.run(); });
  for (auto& t : threads) t.join();
  REQUIRE(h.finished.size() == 4);
  for (const auto& [id, status] : h.finished) CHECK(status == RunStatus::succeeded);
  CHECK(h.runner.started().size() == 4 * 40);
  CHECK(h.runner.max_running() <= 3);
}

TEST_CASE("executor: a final outcome is one write, and steps settled together are one write") {
  boost::asio::io_context io;
  RecordingStore store;
  FakeStepRunner runner{io};
  runner.script("b", {StepState::failed});
  auto logs = std::filesystem::temp_directory_path() /
              ("nightshift-executor-writes-" + std::to_string(::getpid()));
  ExecutorOptions options;
  options.workers = 1;  // one step at a time, so the order of the writes is fixed
  options.log_dir = logs.string();
  Executor executor(io, store, StepRunners{&runner, &runner}, options, {});
  auto job = job_from(R"(job: fan
steps:
  a: { shell: 'true' }
  b: { shell: 'true', depends_on: [a] }
  c: { shell: 'true', depends_on: [a] }
  d: { shell: 'true', depends_on: [b] }
  e: { shell: 'true', depends_on: [d] }
)");
  NewRun run;
  run.job = "fan";
  for (const auto& s : job->spec.steps) run.steps.push_back({s.name, false});
  auto id = store.create_run(run).value();
  executor.start_run(job, id);
  io.run();
  std::filesystem::remove_all(logs);

  CHECK(store.writes == std::vector<std::string>{
                            "a=ready",
                            "a start",
                            "a end succeeded=succeeded",
                            "b=ready c=ready",
                            "b start",
                            "b end failed=failed",
                            "d=upstream_failed e=upstream_failed",
                            "c start",
                            "c end succeeded=succeeded",
                        });
  CHECK(store.get_run(id)->status == RunStatus::failed);
}

TEST_CASE("executor: while the store refuses writes no step starts or settles, then all goes on") {
  Harness h(2);
  auto job = job_from(kDiamond);
  auto id = h.create(*job);
  h.store.failing = true;
  h.executor->start_run(job, id);
  // Until the writer has been refused a few times (its backoff is real time).
  h.run_until([&] { return h.store.refused >= 3; });
  CHECK(h.order().empty());  // nothing started: its start is not stored
  CHECK(!h.executor->store_health().up);
  CHECK(h.executor->store_health().error.find("disk I/O error (the test's)") != std::string::npos);
  CHECK(h.store.get_run(id)->status == RunStatus::queued);

  h.store.failing = false;
  h.io.restart();
  h.io.run();
  REQUIRE(h.finished.size() == 1);
  CHECK(h.finished[0].second == RunStatus::succeeded);
  CHECK(h.executor->store_health().up);
  auto order = h.order();
  std::sort(order.begin(), order.end());
  CHECK(order == std::vector<std::string>{"a", "b", "c", "d"});  // each once
  CHECK(h.store.attempts(id).size() == 4);
}

TEST_CASE("executor: an attempt's end waits for the store, and the next step with it") {
  Harness h(1);
  auto job = job_from(kDiamond);
  auto id = h.create(*job);
  h.runner.hang("a");
  h.executor->start_run(job, id);
  h.run_until([&] { return !h.order().empty(); });
  REQUIRE(h.order() == std::vector<std::string>{"a"});
  h.store.failing = true;
  h.executor->cancel_run(id, "cancelled by the test");
  h.run_until([&] { return h.store.refused >= 3; });
  CHECK(h.finished.empty());  // its end is not stored: the run cannot end
  CHECK(h.store.get_run(id)->status == RunStatus::running);
  h.store.failing = false;
  h.io.restart();
  h.io.run();
  REQUIRE(h.finished.size() == 1);
  CHECK(h.finished[0].second == RunStatus::cancelled);
  CHECK(h.store.attempts(id).size() == 1);
  CHECK(h.state(id, "a") == StepState::cancelled);
}

// A memory store whose commit of a step's end waits until the test opens the gate.
class GatedStore final : public MemoryRunStore {
 public:
  std::atomic<bool> open{false};

  void finish_attempt(std::int64_t id, const std::string& step, int attempt, StepState outcome,
                      std::optional<int> exit_code, Timestamp at,
                      std::optional<StepState> step_state = std::nullopt,
                      const std::string& message = {}) override {
    while (!open) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    MemoryRunStore::finish_attempt(id, step, attempt, outcome, exit_code, at, step_state, message);
  }
};

// One worker over a GatedStore and a fake runner.
struct GatedHarness {
  boost::asio::io_context io;
  GatedStore store;
  FakeStepRunner runner{io};
  std::vector<RunStatus> finished;
  std::filesystem::path logs = std::filesystem::temp_directory_path() /
                               ("nightshift-executor-gated-" + std::to_string(::getpid()));
  std::unique_ptr<Executor> executor;

  GatedHarness() {
    ExecutorOptions options;
    options.workers = 1;
    options.log_dir = logs.string();
    ExecutorEvents events;
    events.run_finished = [this](const Job&, std::int64_t, RunStatus s, Duration) {
      finished.push_back(s);
    };
    executor =
        std::make_unique<Executor>(io, store, StepRunners{&runner, &runner}, options, events);
  }
  ~GatedHarness() { std::filesystem::remove_all(logs); }

  std::int64_t start(const std::string& yaml) {
    auto job = job_from(yaml);
    NewRun run;
    run.job = job->spec.name;
    for (const auto& s : job->spec.steps) run.steps.push_back({s.name, false});
    auto id = store.create_run(run).value();
    executor->start_run(job, id);
    return id;
  }
};

TEST_CASE("executor: the next step's start is queued behind an end, not after its commit") {
  GatedHarness h;
  auto id = h.start("job: chain\nsteps:\n  a: { shell: x }\n  b: { shell: x, depends_on: [a] }\n");
  // a has ended and its end is held at the store: b's ready state and start
  // are already queued behind it (one round trip to the store between them),
  // and b does not run before a's end is stored.
  run_io_until(h.io, [&] { return h.executor->load().steps_awaiting_store == 2; });
  REQUIRE(h.runner.started().size() == 1);
  CHECK(h.runner.started()[0].step == "a");
  CHECK(h.store.attempts(id).size() == 1);

  h.store.open = true;
  run_io_until(h.io, [&] { return !h.finished.empty(); });
  REQUIRE(h.runner.started().size() == 2);
  CHECK(h.runner.started()[1].step == "b");
  CHECK(h.finished[0] == RunStatus::succeeded);
}

TEST_CASE("executor: a run cancelled while a failed end is stored does not wait for its retry") {
  GatedHarness h;
  h.runner.script("a", {StepState::failed});
  auto id = h.start("job: one\nsteps:\n  a: { shell: x, retries: 1, retry_delay: 1h }\n");
  run_io_until(h.io, [&] { return h.executor->load().steps_ending == 1; });
  h.executor->cancel_run(id, "the test");  // on the strand before the end's report, queued later
  h.store.open = true;
  run_io_until(h.io, [&] { return !h.finished.empty(); });
  CHECK(h.finished[0] == RunStatus::cancelled);
  CHECK(h.runner.started().size() == 1);
}

TEST_CASE("executor: every state change is reported, in commit order, once the store has it") {
  Harness h;
  h.runner.script("extract", {StepState::failed});
  h.runner.script("flaky", {StepState::failed, StepState::succeeded});
  auto job = job_from(R"(job: kpi
defaults: { retry_delay: 1ms }
steps:
  extract: { shell: x }
  load: { shell: x, depends_on: [extract] }
  flaky: { shell: x, retries: 1 }
)");
  CHECK(h.run(job) == RunStatus::failed);
  CHECK(h.reported_before_stored == std::vector<std::string>{});
  auto position = [&](const std::string& what) {
    auto it = std::find(h.reports.begin(), h.reports.end(), what);
    INFO(what);
    REQUIRE(it != h.reports.end());
    return it - h.reports.begin();
  };
  // The run starts (the executor marks it running: no scheduler here), then its steps.
  CHECK(h.reports.front() == "run running");
  CHECK(h.reports.back() == "run failed");
  CHECK(position("extract ready 0") < position("extract running 1"));
  CHECK(position("extract running 1") < position("extract failed 1"));
  CHECK(position("extract failed 1") < position("load upstream_failed 0"));
  CHECK(position("flaky running 1") < position("flaky failed 1 retry"));
  CHECK(position("flaky failed 1 retry") < position("flaky ready 1"));
  CHECK(position("flaky ready 1") < position("flaky running 2"));
  CHECK(position("flaky running 2") < position("flaky succeeded 2"));
  CHECK(std::count(h.reports.begin(), h.reports.end(), "load upstream_failed 0") == 1);
}

TEST_CASE("executor: a cancel reports the steps it cancels without an attempt") {
  Harness h(1);
  h.runner.hang("a");
  auto job = job_from("job: two\nsteps:\n  a: { shell: x }\n  b: { shell: x }\n");
  auto id = h.create(*job);
  h.executor->start_run(job, id);
  h.run_until([&] { return !h.runner.started().empty(); });
  h.executor->cancel_run(id, "the test");
  h.run_until([&] { return !h.finished.empty(); });
  CHECK(h.finished[0].second == RunStatus::cancelled);
  CHECK(h.reported_before_stored == std::vector<std::string>{});
  CHECK(std::count(h.reports.begin(), h.reports.end(), "b cancelled 0") == 1);
  CHECK(std::count(h.reports.begin(), h.reports.end(), "a cancelled 1") == 1);
  CHECK(h.reports.back() == "run cancelled");
}

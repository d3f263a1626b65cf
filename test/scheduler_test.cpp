// The scheduler over a real executor (fake step runner) and a memory store,
// with the clock a seam: what it decides inside the store's transaction, and
// what it reports once a change is committed.
#include "nightshift/server/scheduler.h"

#include "nightshift/job_loader.h"
#include "nightshift/run_time.h"
#include "nightshift/runtime/memory_run_store.h"
#include "support/fake_step_runner.h"
#include "support/test_job.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <unistd.h>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace nightshift;
using namespace std::chrono_literals;
using nightshift::test::FakeStepRunner;

namespace {

namespace asio = boost::asio;

Job job_from(const std::string& yaml) {
  return test::test_job(yaml);
}

bool eventually(const std::function<bool()>& condition) {
  for (auto deadline = std::chrono::steady_clock::now() + 20s;
       std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(5ms))
    if (condition()) return true;
  return condition();
}

// 2026-12-03T00:00:30Z: half a minute past a fire time of "* * * * *".
const Instant kNow = Instant(std::chrono::seconds(1'796'256'030));

struct Harness {
  asio::io_context io;
  MemoryRunStore store;
  FakeStepRunner runner{io};
  std::filesystem::path logs = std::filesystem::temp_directory_path() /
                               ("nightshift-scheduler-test-" + std::to_string(::getpid()));
  std::unique_ptr<Executor> executor;
  std::unique_ptr<Scheduler> scheduler;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;

  std::mutex mutex;
  std::vector<std::string> stored;  // run_stored and step_stored, in order
  std::vector<std::int64_t> cancelled;
  std::vector<std::int64_t> finished;
  std::vector<std::string> pauses;                // "job paused|unpaused", as reported
  std::vector<std::optional<Instant>> next_runs;  // as reported, in order
  // The scheduler's clock: kNow until a test moves it.
  std::atomic<std::int64_t> now_seconds{kNow.time_since_epoch().count()};

  Harness() {
    ExecutorOptions options;
    options.workers = 2;
    options.log_dir = logs.string();
    ExecutorEvents events;
    events.run_finished = [this](const Job& job, std::int64_t id, RunStatus s, Duration) {
      {
        std::lock_guard lock(mutex);
        finished.push_back(id);
      }
      scheduler->run_finished(job.spec.name, id, s);
    };
    executor = std::make_unique<Executor>(io, store, StepRunners{&runner, &runner}, options,
                                          std::move(events));
    SchedulerEvents se;
    se.run_stored = [this](const std::string& job, std::int64_t id, RunStatus s) {
      std::lock_guard lock(mutex);
      stored.push_back(job + " " + std::to_string(id) + " " + std::string(to_string(s)));
    };
    se.step_stored = [this](const std::string&, std::int64_t id, const std::string& step,
                            StepState s) {
      std::lock_guard lock(mutex);
      stored.push_back(std::to_string(id) + "." + step + " " + std::string(to_string(s)));
    };
    se.queued_run_cancelled = [this](const std::string&, std::int64_t id) {
      std::lock_guard lock(mutex);
      cancelled.push_back(id);
    };
    se.paused = [this](const std::string& job, bool paused, bool) {
      std::lock_guard lock(mutex);
      pauses.push_back(job + (paused ? " paused" : " unpaused"));
    };
    se.next_run = [this](const std::string&, std::optional<Instant> next) {
      std::lock_guard lock(mutex);
      next_runs.push_back(next);
    };
    scheduler = std::make_unique<Scheduler>(io, store, *executor, std::move(se), [this] {
      return Instant(std::chrono::seconds(now_seconds.load()));
    });
  }

  void start(std::vector<Job> jobs) {
    auto set = JobSet::from_jobs(std::move(jobs));
    REQUIRE(set);
    scheduler->start(*set);  // before the io thread, as the daemon does
    work.emplace(io.get_executor());
    thread = std::thread([this] { io.run(); });
  }

  ~Harness() {
    scheduler->stop();
    executor->drain();
    work.reset();
    executor->stop_writing();
    if (thread.joinable()) {
      io.stop();
      thread.join();
    }
    std::filesystem::remove_all(logs);
  }

  std::vector<std::string> stored_now() {
    std::lock_guard lock(mutex);
    return stored;
  }
  std::size_t finished_count() {
    std::lock_guard lock(mutex);
    return finished.size();
  }
  RunStatus status(std::int64_t id) { return store.get_run(id).value().status; }
};

NewRun manual_run(const Job& job, RunStatus status = RunStatus::queued) {
  NewRun run = make_new_run(job.spec, Trigger::manual, kNow - 30s);
  run.status = status;
  return run;
}

Scheduler::Rerun rerun_of(const std::string& job, bool failed = false) {
  Scheduler::Rerun request;
  request.job = job;
  request.failed = failed;
  return request;
}

const char* kTwoSteps = R"(
job: kpi
max_active_runs: 1
steps:
  extract: { command: ["true"] }
  load: { command: ["true"], depends_on: [extract] }
)";

}  // namespace

TEST_CASE("scheduler: a rerun runs, and is reported only once stored") {
  Harness h;
  h.start({job_from(kTwoSteps)});
  auto result = h.scheduler->rerun(rerun_of("kpi"));
  REQUIRE(result.status == 202);
  REQUIRE(result.run_id);
  CHECK(h.store.get_run(*result.run_id));  // in the store when answered
  REQUIRE(eventually([&] { return h.finished_count() == 1; }));
  CHECK(h.status(*result.run_id) == RunStatus::succeeded);
  auto stored = h.stored_now();
  REQUIRE(stored.size() >= 2);
  CHECK(stored[0] == "kpi " + std::to_string(*result.run_id) + " queued");
  CHECK(stored[1] == "kpi " + std::to_string(*result.run_id) + " running");
}

TEST_CASE("scheduler: max_active_runs counts runs another process keeps in the store") {
  Harness h;
  Job job = job_from(kTwoSteps);
  h.start({job});
  // A `nightshift run` beside the daemon: running, and not the daemon's.
  const auto other = h.store.create_run(manual_run(job, RunStatus::running)).value();
  auto refused = h.scheduler->rerun(rerun_of("kpi"));
  CHECK(refused.status == 409);
  CHECK_FALSE(refused.run_id);
  CHECK(h.store.list_runs("kpi", 10).size() == 1);

  h.store.set_run_status(other, RunStatus::succeeded, now_timestamp());
  auto accepted = h.scheduler->rerun(rerun_of("kpi"));
  CHECK(accepted.status == 202);
}

TEST_CASE("scheduler: a rerun of the failed steps takes the latest run from the store") {
  Harness h;
  Job job = job_from(kTwoSteps);
  const auto first = h.store.create_run(manual_run(job)).value();
  h.store.set_step_state(first, "extract", StepState::succeeded);
  h.store.set_step_state(first, "load", StepState::failed);
  h.store.set_run_status(first, RunStatus::failed, now_timestamp());
  h.start({job});
  auto result = h.scheduler->rerun(rerun_of("kpi", true));
  REQUIRE(result.status == 202);
  auto run = h.store.get_run(*result.run_id).value();
  CHECK(run.scheduled_at == h.store.get_run(first)->scheduled_at);
  REQUIRE(run.steps.size() == 2);
  CHECK(run.steps[0].carried_over);  // extract had succeeded
  CHECK_FALSE(run.steps[1].carried_over);
}

TEST_CASE("scheduler: a failed-steps rerun of a job without runs is a 404") {
  Harness h;
  h.start({job_from(kTwoSteps)});
  auto result = h.scheduler->rerun(rerun_of("kpi", true));
  CHECK(result.status == 404);
  CHECK(result.error == "job 'kpi' has no run to rerun");
}

TEST_CASE("scheduler: cancelling a queued run ends it and its steps, then reports it") {
  Harness h;
  Job job = job_from(kTwoSteps);
  h.runner.hang("extract");
  h.start({job});
  auto running = h.scheduler->rerun(rerun_of("kpi"));
  REQUIRE(running.run_id);
  REQUIRE(eventually([&] { return h.runner.started().size() == 1; }));
  // A second run waits behind max_active_runs (made as the scheduler's
  // catch-up would: not refused, queued).
  const auto queued = h.store.create_run(manual_run(job)).value();
  h.scheduler->cancel(queued, "test");
  REQUIRE(eventually([&] { return h.status(queued) == RunStatus::cancelled; }));
  const RunRecord ended = h.store.get_run(queued).value();
  for (const auto& s : ended.steps) CHECK(s.state == StepState::cancelled);
  REQUIRE(eventually([&] {
    std::lock_guard lock(h.mutex);
    return h.cancelled == std::vector<std::int64_t>{queued};
  }));
  // The running one is the executor's to stop.
  h.scheduler->cancel(*running.run_id, "test");
  REQUIRE(eventually([&] { return h.status(*running.run_id) == RunStatus::cancelled; }));
}

TEST_CASE("scheduler: start returns with the catch-up runs of the downtime in the store") {
  Harness h;
  Job job = job_from(R"(
job: tick
schedule: "* * * * *"
catchup: all
max_active_runs: 10
steps:
  s: { command: ["true"] }
)");
  h.store.set_scheduled_through("tick", kNow - 3min - 15s);  // down for three fire times
  h.start({job});
  auto runs = h.store.list_runs("tick", 10);
  REQUIRE(runs.size() == 3);
  for (const auto& run : runs) CHECK(run.trigger == Trigger::catchup);
  CHECK(h.store.scheduled_through("tick") == kNow);
}

namespace {

const char* kTick = R"(
job: tick
schedule: "* * * * *"
catchup: all
max_active_runs: 10
steps:
  s: { command: ["true"] }
)";

const char* kDaily = R"(
job: kpi
schedule: "10 0 * * *"
timezone: Asia/Tokyo
max_active_runs: 2
steps:
  extract: { command: ["true"] }
)";

date::year_month_day day(int d) {
  return date::year{2026} / date::November / date::day{static_cast<unsigned>(d)};
}

Scheduler::Backfill backfill_of(const std::string& job, int from, int to,
                                bool missing_only = false) {
  return {job, day(from), day(to), missing_only};
}

std::vector<std::string> dates_of(MemoryRunStore& store, const std::vector<std::int64_t>& ids) {
  std::vector<std::string> dates;
  for (std::int64_t id : ids) dates.push_back(store.get_run(id).value().date);
  return dates;
}

}  // namespace

TEST_CASE("scheduler: a paused job does not fire and its unpause catches up by catchup") {
  Harness h;
  h.start({job_from(kTick)});
  auto paused = h.scheduler->set_paused("tick", true);
  REQUIRE(paused.status == 200);
  CHECK(h.store.paused_jobs() == std::map<std::string, bool>{{"tick", true}});
  CHECK(h.scheduler->paused("tick"));

  // Three fire times pass while paused: the timer wakes and fires nothing.
  h.now_seconds += 3 * 60;
  const Instant after = kNow + 3min + 30s;
  REQUIRE(eventually([&] {
    std::lock_guard lock(h.mutex);
    return !h.next_runs.empty() && h.next_runs.back() == after;
  }));
  h.scheduler->set_paused("tick", true);  // a commit after whatever the timer wrote
  CHECK(h.store.list_runs("tick", 10).empty());
  CHECK(h.store.scheduled_through("tick") == kNow);  // where the pause found it

  REQUIRE(h.scheduler->set_paused("tick", false).status == 200);
  CHECK_FALSE(h.scheduler->paused("tick"));
  REQUIRE(eventually([&] { return h.store.list_runs("tick", 10).size() == 3; }));
  for (const auto& run : h.store.list_runs("tick", 10)) CHECK(run.trigger == Trigger::catchup);
  std::lock_guard lock(h.mutex);
  CHECK(h.pauses ==
        std::vector<std::string>{"tick unpaused", "tick paused", "tick paused", "tick unpaused"});
}

TEST_CASE("scheduler: a paused job found at start stays paused and catches up nothing") {
  Harness h;
  h.store.set_job_paused("tick", true, now_timestamp());
  h.store.set_scheduled_through("tick", kNow - 3min - 15s);  // down for three fire times
  h.start({job_from(kTick)});
  CHECK(h.scheduler->paused("tick"));
  CHECK(h.store.list_runs("tick", 10).empty());
  CHECK(h.store.scheduled_through("tick") == kNow - 3min - 15s);
}

TEST_CASE(
    "scheduler: paused: true in a job file is only the state of a job the store has not seen") {
  const std::string paused_file = std::string(kTick) + "paused: true\n";
  SECTION("a new job starts paused, and the store keeps it") {
    Harness h;
    h.start({job_from(paused_file)});
    CHECK(h.scheduler->paused("tick"));
    REQUIRE(eventually([&] { return h.store.paused_jobs().contains("tick"); }));
    CHECK(h.store.paused_jobs().at("tick"));
  }
  SECTION("a job the store knows as unpaused stays unpaused") {
    Harness h;
    h.store.set_job_paused("tick", false, now_timestamp());
    h.start({job_from(paused_file)});
    CHECK_FALSE(h.scheduler->paused("tick"));
  }
  SECTION("a job without paused: gets its state stored on first sight") {
    Harness h;
    h.start({job_from(kTick)});
    REQUIRE(eventually([&] { return h.store.paused_jobs().contains("tick"); }));
    CHECK_FALSE(h.store.paused_jobs().at("tick"));
  }
}

TEST_CASE("scheduler: pausing an unknown job is a 404") {
  Harness h;
  h.start({job_from(kTwoSteps)});
  auto result = h.scheduler->set_paused("nope", true);
  CHECK(result.status == 404);
  CHECK(result.error == "unknown job 'nope'");
}

TEST_CASE("scheduler: a backfill makes a run per fire time, oldest first, under max_active_runs") {
  Harness h;
  h.runner.hang("extract");
  h.start({job_from(kDaily)});
  auto result = h.scheduler->backfill(backfill_of("kpi", 1, 5));
  REQUIRE(result.status == 202);
  REQUIRE(result.run_ids.size() == 5);
  CHECK(dates_of(h.store, result.run_ids) == std::vector<std::string>{"2026-11-01", "2026-11-02",
                                                                      "2026-11-03", "2026-11-04",
                                                                      "2026-11-05"});
  for (std::size_t i = 0; i < 5; ++i) {
    const RunRecord run = h.store.get_run(result.run_ids[i]).value();
    CHECK(run.trigger == Trigger::backfill);
    CHECK(run.scheduled_at_text == "2026-11-0" + std::to_string(i + 1) + "T00:10:00+09:00");
    if (i > 0) CHECK(result.run_ids[i] > result.run_ids[i - 1]);
  }
  // The two oldest run; the rest wait their turn, and start oldest first.
  REQUIRE(eventually([&] { return h.runner.started().size() == 2; }));
  auto statuses = [&] {
    std::vector<RunStatus> out;
    for (std::int64_t id : result.run_ids) out.push_back(h.status(id));
    return out;
  };
  CHECK(statuses() == std::vector<RunStatus>{RunStatus::running, RunStatus::running,
                                             RunStatus::queued, RunStatus::queued,
                                             RunStatus::queued});
  h.scheduler->cancel(result.run_ids[0], "test");
  REQUIRE(eventually([&] { return h.status(result.run_ids[2]) == RunStatus::running; }));
  CHECK(statuses() == std::vector<RunStatus>{RunStatus::cancelled, RunStatus::running,
                                             RunStatus::running, RunStatus::queued,
                                             RunStatus::queued});
}

TEST_CASE("scheduler: a backfill with missing_only fills only the holes") {
  Harness h;
  Job job = job_from(kDaily);
  auto run_for = [&](int d, RunStatus status) {
    NewRun run = make_new_run(job.spec, Trigger::schedule, fire_time_on(job.spec, day(d)).value());
    const auto id = h.store.create_run(run).value();
    h.store.set_run_status(id, status, now_timestamp());
  };
  run_for(2, RunStatus::succeeded);
  run_for(3, RunStatus::failed);
  run_for(4, RunStatus::succeeded);
  h.start({job});
  auto result = h.scheduler->backfill(backfill_of("kpi", 1, 5, true));
  REQUIRE(result.status == 202);
  CHECK(dates_of(h.store, result.run_ids) ==
        std::vector<std::string>{"2026-11-01", "2026-11-03", "2026-11-05"});
  // Without missing_only, every date.
  auto all = h.scheduler->backfill(backfill_of("kpi", 1, 5));
  CHECK(all.run_ids.size() == 5);
}

TEST_CASE("scheduler: a backfill refuses a reversed range, over 1,000 runs and an unknown job") {
  Harness h;
  h.start({job_from(kDaily), job_from(kTick)});
  auto reversed = h.scheduler->backfill(backfill_of("kpi", 5, 1));
  CHECK(reversed.status == 422);
  CHECK(reversed.error == "from 2026-11-05 is after to 2026-11-01");
  auto too_many = h.scheduler->backfill(backfill_of("tick", 1, 1));  // 1,440 fire times
  CHECK(too_many.status == 422);
  CHECK(too_many.error ==
        "a backfill of job 'tick' from 2026-11-01 to 2026-11-01 would make "
        "more than 1000 runs: split the range");
  CHECK(h.scheduler->backfill(backfill_of("nope", 1, 2)).status == 404);
  CHECK(h.store.list_runs("kpi", 10).empty());
  CHECK(h.store.list_runs("tick", 10).empty());
}

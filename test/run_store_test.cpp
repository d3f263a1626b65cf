#include "nightshift/runtime/memory_run_store.h"
#include "nightshift/runtime/mysql_run_store.h"
#include "nightshift/runtime/sqlite_run_store.h"

#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include "support/temp_dir.h"
#include "support/test_mysql.h"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace nightshift;
using namespace std::chrono_literals;

// Step counts as {state: N, ...} in a failed assertion.
template <>
struct Catch::StringMaker<std::map<StepState, int>> {
  static std::string convert(const std::map<StepState, int>& counts) {
    std::string out = "{";
    for (const auto& [state, count] : counts)
      out += (out.size() > 1 ? ", " : "") + std::string(to_string(state)) + ": " +
             std::to_string(count);
    return out + "}";
  }
};

namespace {

namespace fs = std::filesystem;

// A fresh directory under the system temp dir, removed with its contents.
struct TempDir : test::TempDir {
  TempDir() : test::TempDir("nightshift-run-store") {}
};

// The two stores behind one face. reopen() closes and opens the SQLite file, as a
// restarted daemon would; the memory store has nothing to reopen.
class MemoryStore {
 public:
  RunStore* operator->() { return &store_; }
  void reopen() {}

 private:
  MemoryRunStore store_;
};

class SqliteStore {
 public:
  SqliteStore() : path_((dir_.path() / "state" / "runs.db").string()) { reopen(); }
  RunStore* operator->() { return store_.get(); }
  void reopen() {
    store_.reset();  // the old connection goes away before the new one opens
    store_ = SqliteRunStore::open(path_);
  }
  std::unique_ptr<RunStore> another() { return SqliteRunStore::open(path_); }

 private:
  TempDir dir_;
  std::string path_;
  std::unique_ptr<SqliteRunStore> store_;
};

// A scratch database on the test MariaDB; reopen() connects anew.
class MysqlStore {
 public:
  MysqlStore() { reopen(); }
  RunStore* operator->() { return store_.get(); }
  void reopen() {
    store_.reset();
    store_ = another();
  }
  std::unique_ptr<MysqlRunStore> another() {
    MysqlStoreOptions options;
    options.server = database_.connection("state");
    return MysqlRunStore::open(std::move(options));
  }

 private:
  test::TestDatabase database_;
  std::unique_ptr<MysqlRunStore> store_;
};

Timestamp at_ms(std::int64_t ms) {
  return Timestamp(std::chrono::milliseconds(ms));
}
Instant at_s(std::int64_t s) {
  return Instant(std::chrono::seconds(s));
}

constexpr std::int64_t kFire = 1'764'000'600;  // 2025-11-24T16:10:00Z, 00:10 in Tokyo

NewRun new_run(std::string job, Trigger trigger, Instant scheduled_at,
               std::vector<std::string> steps = {"extract", "aggregate", "load"}) {
  NewRun run;
  run.job = std::move(job);
  run.trigger = trigger;
  run.scheduled_at = scheduled_at;
  run.scheduled_at_text = "2025-11-25T01:10:00+09:00";
  run.date = "2025-11-25";
  run.created_at = at_ms(1'764'000'600'123);
  for (std::string& name : steps) run.steps.push_back({std::move(name), false});
  return run;
}

AttemptRecord attempt_of(std::int64_t run_id, std::string step, int number, Timestamp started,
                         bool counts_as_retry = true) {
  AttemptRecord attempt;
  attempt.run_id = run_id;
  attempt.step = std::move(step);
  attempt.attempt = number;
  attempt.started_at = started;
  attempt.counts_as_retry = counts_as_retry;
  return attempt;
}

const StepRecord& step_of(const RunRecord& run, const std::string& name) {
  for (const StepRecord& step : run.steps)
    if (step.step == name) return step;
  throw std::runtime_error("no step " + name);
}

std::vector<std::int64_t> ids_of(const std::vector<RunRecord>& runs) {
  std::vector<std::int64_t> ids;
  for (const RunRecord& run : runs) ids.push_back(run.run_id);
  return ids;
}

// Runs one statement on a connection of its own and returns the first column of
// its first row (or "" when there is none).
std::string query(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  INFO(sqlite3_errmsg(db));
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  std::string result;
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW && sqlite3_column_text(stmt, 0))
    result = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  CHECK((rc == SQLITE_ROW || rc == SQLITE_DONE));
  return result;
}

}  // namespace

TEMPLATE_TEST_CASE("run store: a created run reads back with every field", "[run_store]",
                   MemoryStore, SqliteStore, MysqlStore) {
  TestType store;
  NewRun run = new_run("kpi", Trigger::catchup, at_s(kFire));
  run.steps[0].carried_over = true;
  const auto run_id = store->create_run(run);
  REQUIRE(run_id);

  store.reopen();
  const auto read = store->get_run(*run_id);
  REQUIRE(read);
  CHECK(read->run_id == *run_id);
  CHECK(read->job == "kpi");
  CHECK(read->trigger == Trigger::catchup);
  CHECK(read->scheduled_at == at_s(kFire));
  CHECK(read->scheduled_at_text == "2025-11-25T01:10:00+09:00");
  CHECK(read->date == "2025-11-25");
  CHECK(read->status == RunStatus::queued);
  CHECK(read->created_at == at_ms(1'764'000'600'123));
  CHECK_FALSE(read->started_at);
  CHECK_FALSE(read->finished_at);
  REQUIRE(read->steps.size() == 3);
  CHECK(read->steps[0].step == "extract");
  CHECK(read->steps[1].step == "aggregate");
  CHECK(read->steps[2].step == "load");
  CHECK(read->steps[0].carried_over);
  CHECK(read->steps[0].state == StepState::succeeded);
  for (const StepRecord& step : {read->steps[1], read->steps[2]}) {
    CHECK_FALSE(step.carried_over);
    CHECK(step.state == StepState::pending);
  }
  for (const StepRecord& step : read->steps) {
    CHECK(step.attempt == 0);
    CHECK_FALSE(step.started_at);
    CHECK_FALSE(step.finished_at);
    CHECK_FALSE(step.exit_code);
  }

  for (Trigger trigger : {Trigger::schedule, Trigger::manual}) {
    const auto other = store->create_run(new_run("kpi", trigger, at_s(kFire + 86'400)));
    REQUIRE(other);
    CHECK(store->get_run(*other)->trigger == trigger);
  }
  CHECK_FALSE(store->get_run(*run_id + 100));
  CHECK(store->attempts(*run_id + 100).empty());
}

TEST_CASE("run store: triggers have names") {
  CHECK(to_string(Trigger::schedule) == "schedule");
  CHECK(to_string(Trigger::catchup) == "catchup");
  CHECK(to_string(Trigger::manual) == "manual");
  CHECK(parse_trigger("catchup") == Trigger::catchup);
  CHECK_FALSE(parse_trigger("Manual"));
  CHECK_FALSE(parse_trigger(""));
}

TEMPLATE_TEST_CASE("run store: a fire time makes one schedule or catchup run, ever", "[run_store]",
                   MemoryStore, SqliteStore, MysqlStore) {
  TestType store;
  const auto first = store->create_run(new_run("kpi", Trigger::schedule, at_s(kFire)));
  REQUIRE(first);
  CHECK_FALSE(store->create_run(new_run("kpi", Trigger::schedule, at_s(kFire))));
  CHECK_FALSE(store->create_run(new_run("kpi", Trigger::catchup, at_s(kFire))));

  store.reopen();  // a restarted daemon
  CHECK_FALSE(store->create_run(new_run("kpi", Trigger::schedule, at_s(kFire))));
  CHECK_FALSE(store->create_run(new_run("kpi", Trigger::catchup, at_s(kFire))));

  // Another job, or another fire time, is another run.
  CHECK(store->create_run(new_run("sales", Trigger::schedule, at_s(kFire))));
  CHECK(store->create_run(new_run("kpi", Trigger::catchup, at_s(kFire + 60))));
  CHECK_FALSE(store->create_run(new_run("kpi", Trigger::schedule, at_s(kFire + 60))));
  CHECK(ids_of(store->list_runs("kpi", 10)).size() == 2);
}

TEMPLATE_TEST_CASE("run store: the scheduler's watermark survives a restart", "[run_store]",
                   MemoryStore, SqliteStore, MysqlStore) {
  TestType store;
  CHECK_FALSE(store->scheduled_through("kpi"));
  store->set_scheduled_through("kpi", at_s(kFire));
  store->set_scheduled_through("kpi", at_s(kFire + 86400));
  store->set_scheduled_through("sales", at_s(kFire));
  store.reopen();
  if (std::is_same_v<TestType, SqliteStore>) {
    CHECK(store->scheduled_through("kpi") == at_s(kFire + 86400));
    CHECK(store->scheduled_through("sales") == at_s(kFire));
  }
  CHECK_FALSE(store->scheduled_through("other"));
}

TEMPLATE_TEST_CASE("run store: run ids can skip past the log folders of an earlier store",
                   "[run_store]", MemoryStore, SqliteStore, MysqlStore) {
  TestType store;
  // A fresh store under a log_dir that holds folders up to run 41.
  store->skip_run_ids_through(41);
  CHECK(store->create_run(new_run("kpi", Trigger::manual, at_s(kFire))) == 42);
  store->skip_run_ids_through(41);  // again, as at every start: no effect now
  CHECK(store->create_run(new_run("kpi", Trigger::manual, at_s(kFire))) == 43);
  store.reopen();
  store->skip_run_ids_through(10);  // never lowers
  CHECK(store->create_run(new_run("kpi", Trigger::manual, at_s(kFire))) == 44);
  store->skip_run_ids_through(99);
  CHECK(store->create_run(new_run("kpi", Trigger::manual, at_s(kFire))) == 100);
  // No run 99 or anything else appeared on the way.
  CHECK(store->list_runs("kpi", 10).size() == 4);
  CHECK(store->list_runs("", 10).size() == 0);
}

TEMPLATE_TEST_CASE(
    "run store: a job's pause state survives a restart and if_unseen keeps a stored one",
    "[run_store]", MemoryStore, SqliteStore, MysqlStore) {
  TestType store;
  CHECK(store->paused_jobs().empty());
  CHECK(store->set_job_paused("kpi", true, at_ms(1)));
  CHECK_FALSE(store->set_job_paused("sales", false, at_ms(1), true));  // first sight: stored
  CHECK(store->set_job_paused("kpi", false, at_ms(2), true));  // seen: the stored state stays
  store.reopen();
  if (!std::is_same_v<TestType, MemoryStore>)
    CHECK(store->paused_jobs() == std::map<std::string, bool>{{"kpi", true}, {"sales", false}});
  CHECK_FALSE(store->set_job_paused("kpi", false, at_ms(3)));
  CHECK(store->paused_jobs().at("kpi") == false);
}

TEMPLATE_TEST_CASE("run store: the runs of a job by fire time, any trigger, oldest first",
                   "[run_store]", MemoryStore, SqliteStore, MysqlStore) {
  TestType store;
  const auto late = store->create_run(new_run("kpi", Trigger::manual, at_s(kFire + 86400))).value();
  const auto early = store->create_run(new_run("kpi", Trigger::schedule, at_s(kFire))).value();
  const auto filled = store->create_run(new_run("kpi", Trigger::backfill, at_s(kFire))).value();
  store->create_run(new_run("kpi", Trigger::backfill, at_s(kFire + 2 * 86400)));
  store->create_run(new_run("sales", Trigger::schedule, at_s(kFire)));
  const auto runs = store->runs_scheduled_between("kpi", at_s(kFire), at_s(kFire + 86400));
  CHECK(ids_of(runs) == std::vector<std::int64_t>{early, filled, late});
  REQUIRE(runs.size() == 3);
  CHECK(runs[1].trigger == Trigger::backfill);
  CHECK(runs[0].steps.empty());  // without their steps
  CHECK(store->runs_scheduled_between("kpi", at_s(kFire + 1), at_s(kFire + 86399)).empty());
}

TEMPLATE_TEST_CASE("run store: manual runs are never deduplicated", "[run_store]", MemoryStore,
                   SqliteStore, MysqlStore) {
  TestType store;
  const auto one = store->create_run(new_run("kpi", Trigger::manual, at_s(kFire)));
  const auto two = store->create_run(new_run("kpi", Trigger::manual, at_s(kFire)));
  REQUIRE(one);
  REQUIRE(two);
  CHECK(*one != *two);
  // A manual run does not take the fire time from the schedule, nor the other way round.
  CHECK(store->create_run(new_run("kpi", Trigger::schedule, at_s(kFire))));
  store.reopen();
  CHECK(store->create_run(new_run("kpi", Trigger::manual, at_s(kFire))));
  CHECK(store->list_runs("kpi", 10).size() == 4);
}

TEMPLATE_TEST_CASE("run store: a failed create leaves nothing behind", "[run_store]", MemoryStore,
                   SqliteStore, MysqlStore) {
  TestType store;
  // A step listed twice is a bug, not a duplicate run: an error, and no run.
  CHECK_THROWS_AS(
      store->create_run(new_run("kpi", Trigger::schedule, at_s(kFire), {"extract", "extract"})),
      StoreError);
  CHECK(store->list_runs("kpi", 10).empty());
  CHECK(store->create_run(new_run("kpi", Trigger::schedule, at_s(kFire))));
}

TEMPLATE_TEST_CASE("run store: status changes set started_at once and finished_at at the end",
                   "[run_store]", MemoryStore, SqliteStore, MysqlStore) {
  TestType store;
  for (RunStatus end : {RunStatus::succeeded, RunStatus::failed, RunStatus::cancelled}) {
    CAPTURE(to_string(end));
    const auto run_id = store->create_run(new_run("kpi", Trigger::manual, at_s(kFire))).value();
    store->set_run_status(run_id, RunStatus::running, at_ms(1000));
    auto run = store->get_run(run_id).value();
    CHECK(run.status == RunStatus::running);
    CHECK(run.started_at == at_ms(1000));
    CHECK_FALSE(run.finished_at);

    store.reopen();
    store->set_run_status(run_id, RunStatus::running, at_ms(2000));  // resumed after a restart
    CHECK(store->get_run(run_id)->started_at == at_ms(1000));

    store->set_run_status(run_id, end, at_ms(3000));
    run = store->get_run(run_id).value();
    CHECK(run.status == end);
    CHECK(run.started_at == at_ms(1000));
    CHECK(run.finished_at == at_ms(3000));
  }
  CHECK_THROWS_AS(store->set_run_status(999, RunStatus::running, at_ms(1)), StoreError);
}

TEMPLATE_TEST_CASE("run store: retries are attempts, and the run shows the latest", "[run_store]",
                   MemoryStore, SqliteStore, MysqlStore) {
  TestType store;
  const auto run_id = store->create_run(new_run("kpi", Trigger::schedule, at_s(kFire))).value();

  store->start_attempt(attempt_of(run_id, "extract", 1, at_ms(1000)));
  CHECK(step_of(store->get_run(run_id).value(), "extract").state == StepState::running);
  store->finish_attempt(run_id, "extract", 1, StepState::failed, 3, at_ms(2000));
  // The step's state is the executor's to set: a failed attempt may be retried.
  auto step = step_of(store->get_run(run_id).value(), "extract");
  CHECK(step.state == StepState::running);
  CHECK(step.attempt == 1);
  CHECK(step.exit_code == 3);
  store->set_step_state(run_id, "extract", StepState::ready);
  CHECK(step_of(store->get_run(run_id).value(), "extract").state == StepState::ready);

  store->start_attempt(attempt_of(run_id, "extract", 2, at_ms(5000)));
  step = step_of(store->get_run(run_id).value(), "extract");
  CHECK(step.attempt == 2);
  CHECK(step.started_at == at_ms(5000));
  CHECK_FALSE(step.finished_at);
  CHECK_FALSE(step.exit_code);

  store->finish_attempt(run_id, "extract", 2, StepState::succeeded, 0, at_ms(6000));
  store->set_step_state(run_id, "extract", StepState::succeeded);
  store.reopen();
  const RunRecord run = store->get_run(run_id).value();
  step = step_of(run, "extract");
  CHECK(step.state == StepState::succeeded);
  CHECK(step.attempt == 2);
  CHECK(step.started_at == at_ms(5000));
  CHECK(step.finished_at == at_ms(6000));
  CHECK(step.exit_code == 0);
  CHECK(step_of(run, "aggregate").attempt == 0);
  CHECK(step_of(run, "aggregate").state == StepState::pending);

  const auto attempts = store->attempts(run_id);
  REQUIRE(attempts.size() == 2);
  CHECK(attempts[0].run_id == run_id);
  CHECK(attempts[0].step == "extract");
  CHECK(attempts[0].attempt == 1);
  CHECK(attempts[0].state == StepState::failed);
  CHECK(attempts[0].started_at == at_ms(1000));
  CHECK(attempts[0].finished_at == at_ms(2000));
  CHECK(attempts[0].exit_code == 3);
  CHECK(attempts[0].counts_as_retry);
  CHECK(attempts[1].attempt == 2);
  CHECK(attempts[1].state == StepState::succeeded);
  CHECK(attempts[1].exit_code == 0);

  // A timed-out attempt has no exit code.
  // Its message says who stopped it.
  store->start_attempt(attempt_of(run_id, "aggregate", 1, at_ms(7000)));
  store->finish_attempt(run_id, "aggregate", 1, StepState::timed_out, std::nullopt, at_ms(8000),
                        std::nullopt, "timed out: nightshift sent SIGTERM to the process group");
  CHECK_FALSE(step_of(store->get_run(run_id).value(), "aggregate").exit_code);
  CHECK(store->attempts(run_id).size() == 3);
  CHECK(store->attempts(run_id)[0].message.empty());
  CHECK(store->attempts(run_id)[2].message ==
        "timed out: nightshift sent SIGTERM to the process group");

  // What does not exist is an error, not a silent no-op.
  CHECK_THROWS_AS(store->start_attempt(attempt_of(run_id, "nope", 1, at_ms(1))), StoreError);
  CHECK_THROWS_AS(store->start_attempt(attempt_of(run_id, "extract", 2, at_ms(1))), StoreError);
  CHECK_THROWS_AS(store->finish_attempt(run_id, "load", 1, StepState::failed, 1, at_ms(1)),
                  StoreError);
  CHECK_THROWS_AS(store->set_step_state(run_id, "nope", StepState::ready), StoreError);
  CHECK_THROWS_AS(store->set_step_state(run_id + 1, "extract", StepState::ready), StoreError);
}

TEMPLATE_TEST_CASE("run store: a final attempt ends with its step's state, together", "[run_store]",
                   MemoryStore, SqliteStore, MysqlStore) {
  TestType store;
  const auto run_id = store->create_run(new_run("kpi", Trigger::schedule, at_s(kFire))).value();
  store->start_attempt(attempt_of(run_id, "extract", 1, at_ms(1000)));
  store->finish_attempt(run_id, "extract", 1, StepState::failed, 2, at_ms(2000), StepState::failed);
  store.reopen();
  auto step = step_of(store->get_run(run_id).value(), "extract");
  CHECK(step.state == StepState::failed);
  CHECK(step.exit_code == 2);
  CHECK(step.finished_at == at_ms(2000));
  CHECK(store->attempts(run_id)[0].state == StepState::failed);
  CHECK(store->take_over_dead_owners(at_ms(3000)).lost.empty());

  // A missing attempt is an error that changes nothing, the step included.
  store->start_attempt(attempt_of(run_id, "load", 1, at_ms(4000)));
  CHECK_THROWS_AS(store->finish_attempt(run_id, "load", 2, StepState::succeeded, 0, at_ms(5000),
                                        StepState::succeeded),
                  StoreError);
  step = step_of(store->get_run(run_id).value(), "load");
  CHECK(step.state == StepState::running);
  CHECK_FALSE(step.finished_at);
}

TEMPLATE_TEST_CASE("run store: set_step_states changes every step or none", "[run_store]",
                   MemoryStore, SqliteStore, MysqlStore) {
  TestType store;
  const auto run_id = store->create_run(new_run("kpi", Trigger::schedule, at_s(kFire))).value();
  store->set_step_states(run_id, {});
  store->set_step_states(run_id,
                         {{"extract", StepState::ready}, {"load", StepState::upstream_failed}});
  store.reopen();
  auto run = store->get_run(run_id).value();
  CHECK(step_of(run, "extract").state == StepState::ready);
  CHECK(step_of(run, "aggregate").state == StepState::pending);
  CHECK(step_of(run, "load").state == StepState::upstream_failed);

  CHECK_THROWS_AS(
      store->set_step_states(run_id, {{"aggregate", StepState::ready}, {"nope", StepState::ready}}),
      StoreError);
  CHECK_THROWS_AS(store->set_step_states(run_id + 1, {{"extract", StepState::cancelled}}),
                  StoreError);
  run = store->get_run(run_id).value();
  CHECK(step_of(run, "extract").state == StepState::ready);
  CHECK(step_of(run, "aggregate").state == StepState::pending);
}

TEMPLATE_TEST_CASE("run store: write_batch commits every write or none", "[run_store]",
                   SqliteStore, MysqlStore) {
  TestType store;
  CHECK_THROWS_AS(store->write_batch([&] {
    const auto id = store->create_run(new_run("kpi", Trigger::manual, at_s(kFire))).value();
    store->set_step_state(id, "extract", StepState::ready);
    store->set_scheduled_through("kpi", at_s(kFire));
    store->set_step_state(id, "nope", StepState::ready);  // no such step: the batch fails
  }),
                  StoreError);
  store.reopen();
  CHECK(store->list_runs("kpi", 10).empty());
  CHECK_FALSE(store->scheduled_through("kpi"));

  std::int64_t id = 0;
  store->write_batch([&] {
    id = store->create_run(new_run("kpi", Trigger::manual, at_s(kFire))).value();
    store->set_step_state(id, "extract", StepState::ready);
    store->set_scheduled_through("kpi", at_s(kFire));
  });
  store.reopen();
  REQUIRE(store->list_runs("kpi", 10).size() == 1);
  CHECK(step_of(store->get_run(id).value(), "extract").state == StepState::ready);
  CHECK(store->scheduled_through("kpi") == at_s(kFire));
}

TEMPLATE_TEST_CASE("run store: a reader on a connection of its own is not held by an open batch",
                   "[run_store]", SqliteStore, MysqlStore) {
  TestType store;
  store->create_run(new_run("kpi", Trigger::manual, at_s(kFire)));
  store->write_batch([&] {
    store->create_run(new_run("kpi", Trigger::manual, at_s(kFire)));  // not committed yet
    // Opened (not only read) while the batch holds its transaction, as the
    // daemon's API readers are.
    auto read = std::async(std::launch::async, [&] {
      auto reader = store.another();
      return reader->list_runs("kpi", 10).size();
    });
    // A read held by the batch would wait for it, and so forever: the bound
    // only turns that hang into a failure.
    REQUIRE(read.wait_for(30s) == std::future_status::ready);
    CHECK(read.get() == 1);  // what is committed, not the batch's own write
  });
  CHECK(store.another()->list_runs("kpi", 10).size() == 2);
}

TEMPLATE_TEST_CASE("run store: attempts running at a crash are marked lost", "[run_store]",
                   MemoryStore, SqliteStore, MysqlStore) {
  TestType store;
  const auto run_id =
      store->create_run(new_run("kpi", Trigger::schedule, at_s(kFire), {"a", "b", "c"})).value();
  const auto other = store->create_run(new_run("sales", Trigger::manual, at_s(kFire))).value();
  store->start_attempt(attempt_of(run_id, "a", 1, at_ms(1000)));
  store->finish_attempt(run_id, "a", 1, StepState::succeeded, 0, at_ms(1500));
  store->set_step_state(run_id, "a", StepState::succeeded);
  store->start_attempt(attempt_of(run_id, "c", 1, at_ms(2000)));
  store->start_attempt(attempt_of(run_id, "b", 1, at_ms(2100), false));
  store->start_attempt(attempt_of(other, "extract", 1, at_ms(2200)));

  store.reopen();  // the store object goes away with the attempts unfinished
  const auto lost = store->take_over_dead_owners(at_ms(9000)).lost;
  REQUIRE(lost.size() == 3);
  CHECK(lost[0].run_id == run_id);
  CHECK(lost[0].step == "b");  // by run, then in step order
  CHECK(lost[0].attempt == 1);
  CHECK(lost[0].state == StepState::lost);
  CHECK(lost[0].started_at == at_ms(2100));
  CHECK(lost[0].finished_at == at_ms(9000));
  CHECK_FALSE(lost[0].exit_code);
  CHECK_FALSE(lost[0].counts_as_retry);
  CHECK(lost[1].step == "c");
  CHECK(lost[1].counts_as_retry);
  CHECK(lost[2].run_id == other);

  const RunRecord run = store->get_run(run_id).value();
  CHECK(step_of(run, "a").state == StepState::succeeded);
  CHECK(step_of(run, "b").state == StepState::lost);
  CHECK(step_of(run, "c").state == StepState::lost);
  CHECK(step_of(run, "c").finished_at == at_ms(9000));
  CHECK(store->attempts(run_id)[2].state == StepState::lost);
  CHECK(store->take_over_dead_owners(at_ms(9500)).lost.empty());

  // The restart is a new attempt that does not use up a retry.
  store->start_attempt(attempt_of(run_id, "b", 2, at_ms(9600), false));
  store.reopen();
  const auto attempts = store->attempts(run_id);
  REQUIRE(attempts.size() == 4);
  CHECK(attempts[2].step == "b");
  CHECK(attempts[2].attempt == 2);
  CHECK(attempts[2].state == StepState::running);
  CHECK_FALSE(attempts[2].counts_as_retry);
  CHECK(step_of(store->get_run(run_id).value(), "b").state == StepState::running);
}

TEMPLATE_TEST_CASE("run store: list_runs pages newest first", "[run_store]", MemoryStore,
                   SqliteStore, MysqlStore) {
  TestType store;
  std::vector<std::int64_t> kpi;
  for (int day = 0; day < 5; ++day) {
    kpi.push_back(
        store->create_run(new_run("kpi", Trigger::schedule, at_s(kFire + day * 86'400))).value());
    store->create_run(new_run("sales", Trigger::schedule, at_s(kFire + day * 86'400)));
  }
  const auto first = store->list_runs("kpi", 2);
  CHECK(ids_of(first) == std::vector<std::int64_t>{kpi[4], kpi[3]});
  CHECK(first[0].steps.size() == 3);
  CHECK(first[0].scheduled_at == at_s(kFire + 4 * 86'400));
  CHECK(ids_of(store->list_runs("kpi", 2, kpi[3])) == std::vector<std::int64_t>{kpi[2], kpi[1]});
  CHECK(ids_of(store->list_runs("kpi", 10, kpi[1])) == std::vector<std::int64_t>{kpi[0]});
  CHECK(store->list_runs("kpi", 10, kpi[0]).empty());
  CHECK(store->list_runs("kpi", 0).empty());
  CHECK(store->list_runs("nope", 10).empty());
  CHECK(store->list_runs("kpi", 100).size() == 5);
}

TEMPLATE_TEST_CASE("run store: latest_runs is empty without runs", "[run_store]", MemoryStore,
                   SqliteStore, MysqlStore) {
  TestType store;
  CHECK(store->latest_runs().empty());
  store->set_scheduled_through("kpi", at_s(kFire));  // a scheduled job is not a run
  CHECK(store->latest_runs().empty());
}

TEMPLATE_TEST_CASE("run store: latest_runs has each job's latest run and its steps by state",
                   "[run_store]", MemoryStore, SqliteStore, MysqlStore) {
  TestType store;
  const std::vector<std::string> steps = {"extract", "aggregate", "load", "notify"};
  std::vector<std::int64_t> kpi, sales;
  for (int day = 0; day < 3; ++day) {
    kpi.push_back(store->create_run(new_run("kpi", Trigger::schedule,
                                            at_s(kFire + day * 86'400), steps))
                      .value());
    sales.push_back(store->create_run(new_run("sales", Trigger::schedule,
                                              at_s(kFire + day * 86'400), {"one", "two"}))
                        .value());
  }
  // The latest is the highest run_id, not the latest date: a manual rerun of day 0.
  const std::int64_t rerun =
      store->create_run(new_run("kpi", Trigger::manual, at_s(kFire), steps)).value();
  const std::int64_t alpha = store->create_run(new_run("alpha", Trigger::manual, at_s(kFire)))
                                 .value();

  // Older runs change too: they must not be counted.
  store->set_step_states(kpi[2], {{"extract", StepState::failed}, {"load", StepState::failed}});
  store->set_step_state(sales[1], "one", StepState::failed);

  // The rerun: extract succeeded after a retry, aggregate runs, load ready, notify pending.
  store->set_run_status(rerun, RunStatus::running, at_ms(1'000));
  store->start_attempt(attempt_of(rerun, "extract", 1, at_ms(1'000)));
  store->finish_attempt(rerun, "extract", 1, StepState::failed, 1, at_ms(2'000));
  store->start_attempt(attempt_of(rerun, "extract", 2, at_ms(3'000)));
  store->finish_attempt(rerun, "extract", 2, StepState::succeeded, 0, at_ms(4'000),
                        StepState::succeeded);
  store->start_attempt(attempt_of(rerun, "aggregate", 1, at_ms(4'000)));
  store->set_step_state(rerun, "load", StepState::ready);

  // sales' latest: finished, one step failed and one upstream_failed.
  store->set_run_status(sales[2], RunStatus::running, at_ms(1'000));
  store->start_attempt(attempt_of(sales[2], "one", 1, at_ms(1'000)));
  store->finish_attempt(sales[2], "one", 1, StepState::failed, 2, at_ms(1'500), StepState::failed);
  store->set_step_state(sales[2], "two", StepState::upstream_failed);
  store->set_run_status(sales[2], RunStatus::failed, at_ms(2'000));
  store.reopen();

  const std::vector<RunSummary> latest = store->latest_runs();
  REQUIRE(latest.size() == 3);  // ordered by job
  const RunSummary& a = latest[0];
  CHECK(a.run.job == "alpha");
  CHECK(a.run.run_id == alpha);
  CHECK(a.run.status == RunStatus::queued);
  CHECK(a.run.steps.empty());
  CHECK(a.step_counts == std::map<StepState, int>{{StepState::pending, 3}});

  const RunSummary& k = latest[1];
  CHECK(k.run.job == "kpi");
  CHECK(k.run.run_id == rerun);
  CHECK(k.run.trigger == Trigger::manual);
  CHECK(k.run.scheduled_at == at_s(kFire));
  CHECK(k.run.scheduled_at_text == "2025-11-25T01:10:00+09:00");
  CHECK(k.run.date == "2025-11-25");
  CHECK(k.run.status == RunStatus::running);
  CHECK(k.run.created_at == at_ms(1'764'000'600'123));
  CHECK(k.run.started_at == at_ms(1'000));
  CHECK_FALSE(k.run.finished_at);
  CHECK(k.run.steps.empty());
  CHECK(k.step_counts == std::map<StepState, int>{{StepState::succeeded, 1},
                                                  {StepState::running, 1},
                                                  {StepState::ready, 1},
                                                  {StepState::pending, 1}});

  const RunSummary& s = latest[2];
  CHECK(s.run.job == "sales");
  CHECK(s.run.run_id == sales[2]);
  CHECK(s.run.status == RunStatus::failed);
  CHECK(s.run.finished_at == at_ms(2'000));
  CHECK(s.run.steps.empty());
  CHECK(s.step_counts ==
        std::map<StepState, int>{{StepState::failed, 1}, {StepState::upstream_failed, 1}});

  // A new run of kpi takes over at once; nothing of the rerun is left in its counts.
  const std::int64_t next =
      store->create_run(new_run("kpi", Trigger::catchup, at_s(kFire + 3 * 86'400), steps))
          .value();
  store->set_step_states(next, {{"extract", StepState::ready}, {"aggregate", StepState::ready}});
  const auto again = store->latest_runs();
  REQUIRE(again.size() == 3);
  CHECK(again[1].run.run_id == next);
  CHECK(again[1].step_counts ==
        std::map<StepState, int>{{StepState::ready, 2}, {StepState::pending, 2}});
}

TEMPLATE_TEST_CASE("run store: latest_runs shows a run without steps with no counts",
                   "[run_store]", MemoryStore, SqliteStore, MysqlStore) {
  TestType store;
  store->create_run(new_run("empty", Trigger::manual, at_s(kFire)));
  const std::int64_t run_id =
      store->create_run(new_run("empty", Trigger::manual, at_s(kFire), {})).value();
  store->set_run_status(run_id, RunStatus::succeeded, at_ms(5));
  const std::int64_t carried =
      store->create_run([&] {
        NewRun run = new_run("carried", Trigger::manual, at_s(kFire), {"a", "b"});
        run.steps[0].carried_over = true;
        return run;
      }()).value();
  const auto latest = store->latest_runs();
  REQUIRE(latest.size() == 2);
  CHECK(latest[0].run.run_id == carried);
  CHECK(latest[0].step_counts ==
        std::map<StepState, int>{{StepState::pending, 1}, {StepState::succeeded, 1}});
  CHECK(latest[1].run.run_id == run_id);
  CHECK(latest[1].run.status == RunStatus::succeeded);
  CHECK(latest[1].run.steps.empty());
  CHECK(latest[1].step_counts.empty());
}

TEMPLATE_TEST_CASE("run store: unfinished runs are the queued and running ones, oldest first",
                   "[run_store]", MemoryStore, SqliteStore, MysqlStore) {
  TestType store;
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 5; ++i)
    ids.push_back(store->create_run(new_run("kpi", Trigger::manual, at_s(kFire))).value());
  store->set_run_status(ids[0], RunStatus::running, at_ms(1));
  store->set_run_status(ids[1], RunStatus::running, at_ms(1));
  store->set_run_status(ids[1], RunStatus::succeeded, at_ms(2));
  store->set_run_status(ids[2], RunStatus::failed, at_ms(2));
  store->set_run_status(ids[3], RunStatus::cancelled, at_ms(2));
  store.reopen();
  const auto unfinished = store->unfinished_runs();
  CHECK(ids_of(unfinished) == std::vector<std::int64_t>{ids[0], ids[4]});
  REQUIRE(unfinished.size() == 2);
  CHECK(unfinished[0].status == RunStatus::running);
  CHECK(unfinished[1].status == RunStatus::queued);
  CHECK(unfinished[1].steps.size() == 3);

  // One job's, without the steps.
  const auto other = store->create_run(new_run("other", Trigger::manual, at_s(kFire))).value();
  const auto of_kpi = store->unfinished_runs_of("kpi");
  CHECK(ids_of(of_kpi) == std::vector<std::int64_t>{ids[0], ids[4]});
  REQUIRE(of_kpi.size() == 2);
  CHECK(of_kpi[0].status == RunStatus::running);
  CHECK(of_kpi[1].date == unfinished[1].date);
  CHECK(of_kpi[1].steps.empty());
  CHECK(ids_of(store->unfinished_runs_of("other")) == std::vector<std::int64_t>{other});
  CHECK(store->unfinished_runs_of("none").empty());
}

TEMPLATE_TEST_CASE("run store: writers on four threads and a reader", "[run_store][concurrency]",
                   MemoryStore, SqliteStore, MysqlStore) {
  constexpr int kWriters = 4;
  constexpr int kSteps = 25;
  TestType store;
  std::vector<std::string> names;
  for (int i = 0; i < kSteps; ++i) names.push_back("step_" + std::to_string(i));
  std::vector<std::int64_t> runs;
  for (int w = 0; w < kWriters; ++w)
    runs.push_back(
        store
            ->create_run(new_run("job_" + std::to_string(w), Trigger::schedule, at_s(kFire), names))
            .value());

  // Catch2 v2 assertions are not thread-safe: threads only record what went wrong.
  std::mutex errors_mutex;
  std::vector<std::string> errors;
  auto record = [&](const std::exception& e) {
    std::lock_guard lock(errors_mutex);
    errors.emplace_back(e.what());
  };
  std::atomic<int> writers_left{kWriters};
  std::atomic<long> reads{0};
  std::thread reader([&] {
    try {
      // At least one pass, however fast the writers are done.
      do {
        for (std::int64_t run_id : runs) {
          if (store->get_run(run_id)->steps.size() != kSteps)
            throw std::runtime_error("a run lost steps");
          store->attempts(run_id);
        }
        store->list_runs("job_0", 10);
        if (store->latest_runs().size() != kWriters)
          throw std::runtime_error("latest_runs lost a job");
        store->unfinished_runs();
        ++reads;
      } while (writers_left.load() > 0);
    } catch (const std::exception& e) {
      record(e);
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      try {
        for (int i = 0; i < kSteps; ++i) {
          store->start_attempt(attempt_of(runs[w], names[i], 1, at_ms(i)));
          store->finish_attempt(runs[w], names[i], 1, StepState::succeeded, 0, at_ms(i + 1));
          store->set_step_state(runs[w], names[i], StepState::succeeded);
        }
      } catch (const std::exception& e) {
        record(e);
      }
      --writers_left;
    });
  }
  for (std::thread& writer : writers) writer.join();
  reader.join();

  CHECK(errors.empty());
  for (const std::string& error : errors) WARN(error);
  CHECK(reads.load() > 0);
  for (std::int64_t run_id : runs) {
    CHECK(store->attempts(run_id).size() == kSteps);
    const RunRecord run = store->get_run(run_id).value();
    for (const StepRecord& step : run.steps) {
      CHECK(step.state == StepState::succeeded);
      CHECK(step.attempt == 1);
    }
  }
}

TEST_CASE("run store: sqlite: a fresh file gets the latest schema, applied once") {
  TempDir dir;
  const std::string path = (dir.path() / "a" / "b" / "runs.db").string();  // parents created
  const std::string latest = std::to_string(SqliteRunStore::latest_schema_version());
  std::int64_t run_id = 0;
  {
    auto store = SqliteRunStore::open(path);
    run_id = store->create_run(new_run("kpi", Trigger::schedule, at_s(kFire))).value();
  }
  CHECK(query(path, "SELECT MAX(version) FROM schema_version") == latest);
  CHECK(query(path, "SELECT COUNT(*) FROM schema_version") == latest);
  {
    auto store = SqliteRunStore::open(path);  // would fail if a migration ran again
    CHECK(store->get_run(run_id));
  }
  CHECK(query(path, "SELECT COUNT(*) FROM schema_version") == latest);
}

TEST_CASE("run store: sqlite: a store at schema 4 migrates to 5 and keeps its runs") {
  TempDir dir;
  const std::string path = (dir.path() / "runs.db").string();
  std::int64_t run_id = 0;
  {
    auto store = SqliteRunStore::open(path);
    run_id = store->create_run(new_run("kpi", Trigger::schedule, at_s(kFire))).value();
  }
  // Back to what a version-4 binary left: no pause table, no fire-time index.
  query(path, "DROP TABLE job_pauses");
  query(path, "DROP INDEX runs_by_fire_time");
  query(path, "DELETE FROM schema_version WHERE version >= 5");
  auto store = SqliteRunStore::open(path);
  CHECK(query(path, "SELECT MAX(version) FROM schema_version") == "5");
  CHECK(store->get_run(run_id));
  CHECK(store->paused_jobs().empty());  // no job was seen before: their files decide
  store->set_job_paused("kpi", true, at_ms(1));
  CHECK(store->paused_jobs().at("kpi"));
  CHECK(query(path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'runs_by_fire_time'") == "1");
}

TEST_CASE("run store: sqlite: a schema newer than this binary is refused") {
  TempDir dir;
  const std::string path = (dir.path() / "runs.db").string();
  SqliteRunStore::open(path);
  const int newer = SqliteRunStore::latest_schema_version() + 1;
  query(path, "INSERT INTO schema_version (version, applied_at) VALUES (" + std::to_string(newer) +
                  ", 0)");
  CHECK_THROWS_WITH(SqliteRunStore::open(path),
                    "cannot open run store " + path + ": store schema version " +
                        std::to_string(newer) + " is newer than this nightshift (" +
                        std::to_string(newer - 1) + ")");
}

TEST_CASE("run store: sqlite: the journal is a WAL") {
  TempDir dir;
  const std::string path = (dir.path() / "runs.db").string();
  auto store = SqliteRunStore::open(path);
  CHECK(query(path, "PRAGMA journal_mode") == "wal");
}

TEST_CASE("run store: sqlite: a file that is not a store is an error naming it") {
  TempDir dir;
  const std::string path = (dir.path() / "runs.db").string();
  const std::string garbage(4096, 'x');
  std::ofstream(path) << garbage;
  CHECK_THROWS_AS(SqliteRunStore::open(path), StoreError);
  CHECK_THROWS_WITH(SqliteRunStore::open(path),
                    Catch::Contains(path) && Catch::Contains("not a database"));
  std::ifstream in(path);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(content == garbage);  // left as it was

  // A parent that is a file cannot become a directory.
  const std::string below_file = path + "/runs.db";
  CHECK_THROWS_WITH(SqliteRunStore::open(below_file),
                    Catch::StartsWith("cannot open run store " + below_file + ": "));
  CHECK_THROWS_WITH(SqliteRunStore::open(""), "cannot open run store : no path given");
}

TEST_CASE("run store: sqlite: attempts running when the daemon is killed are found lost") {
  TempDir dir;
  const std::string path = (dir.path() / "runs.db").string();
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The daemon: records a running attempt, then dies without closing anything.
    try {
      auto store = SqliteRunStore::open(path);
      const auto run_id = store->create_run(new_run("kpi", Trigger::schedule, at_s(kFire)));
      store->set_run_status(*run_id, RunStatus::running, at_ms(1000));
      store->start_attempt(attempt_of(*run_id, "extract", 1, at_ms(1000)));
      std::raise(SIGKILL);
    } catch (...) {
    }
    _exit(1);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(WTERMSIG(status) == SIGKILL);

  auto store = SqliteRunStore::open(path);
  const auto unfinished = store->unfinished_runs();
  REQUIRE(unfinished.size() == 1);
  CHECK(unfinished[0].status == RunStatus::running);
  const auto lost = store->take_over_dead_owners(at_ms(5000)).lost;
  REQUIRE(lost.size() == 1);
  CHECK(lost[0].step == "extract");
  CHECK(lost[0].state == StepState::lost);
  CHECK(step_of(store->get_run(unfinished[0].run_id).value(), "extract").state == StepState::lost);
  CHECK_FALSE(store->create_run(new_run("kpi", Trigger::schedule, at_s(kFire))));
}

// A trigger that fails the second write of a transaction stands in for a crash
// between the two: whatever the first wrote must be gone with it.
TEST_CASE(
    "run store: sqlite: a failure between an attempt's end and its step's state keeps neither") {
  TempDir dir;
  const std::string path = (dir.path() / "runs.db").string();
  auto store = SqliteRunStore::open(path);
  const auto run_id = store->create_run(new_run("kpi", Trigger::schedule, at_s(kFire))).value();
  store->start_attempt(attempt_of(run_id, "extract", 1, at_ms(1000)));
  query(path,
        "CREATE TRIGGER crash BEFORE UPDATE OF state ON run_steps "
        "WHEN NEW.state IN ('succeeded', 'upstream_failed') "
        "BEGIN SELECT RAISE(ABORT, 'injected crash'); END");

  CHECK_THROWS_WITH(store->finish_attempt(run_id, "extract", 1, StepState::succeeded, 0,
                                          at_ms(2000), StepState::succeeded),
                    Catch::Contains("injected crash"));
  auto step = step_of(store->get_run(run_id).value(), "extract");
  CHECK(step.state == StepState::running);
  CHECK_FALSE(step.finished_at);
  CHECK(store->attempts(run_id)[0].state == StepState::running);

  CHECK_THROWS_WITH(store->set_step_states(run_id, {{"aggregate", StepState::ready},
                                                    {"load", StepState::upstream_failed}}),
                    Catch::Contains("injected crash"));
  CHECK(step_of(store->get_run(run_id).value(), "aggregate").state == StepState::pending);

  // The store goes on working once the cause is gone.
  query(path, "DROP TRIGGER crash");
  store->finish_attempt(run_id, "extract", 1, StepState::succeeded, 0, at_ms(3000),
                        StepState::succeeded);
  step = step_of(store->get_run(run_id).value(), "extract");
  CHECK(step.state == StepState::succeeded);
  CHECK(step.finished_at == at_ms(3000));
}

TEST_CASE("run store: sqlite: a killed daemon leaves a final attempt with its step's state") {
  TempDir dir;
  const std::string path = (dir.path() / "runs.db").string();
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The daemon: ends an attempt as final, then dies right after the call returns.
    try {
      auto store = SqliteRunStore::open(path);
      const auto run_id = store->create_run(new_run("kpi", Trigger::schedule, at_s(kFire)));
      store->start_attempt(attempt_of(*run_id, "extract", 1, at_ms(1000)));
      store->finish_attempt(*run_id, "extract", 1, StepState::succeeded, 0, at_ms(2000),
                            StepState::succeeded);
      std::raise(SIGKILL);
    } catch (...) {
    }
    _exit(1);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(WTERMSIG(status) == SIGKILL);

  auto store = SqliteRunStore::open(path);
  CHECK(store->take_over_dead_owners(at_ms(5000)).lost.empty());
  const auto run = store->unfinished_runs().at(0);
  CHECK(step_of(run, "extract").state == StepState::succeeded);
  CHECK(store->attempts(run.run_id).at(0).state == StepState::succeeded);
}

TEST_CASE("run store: sqlite: one daemon at a time claims a store") {
  TempDir dir;
  const std::string path = (dir.path() / "runs.db").string();
  auto first = SqliteRunStore::open(path);
  auto second = SqliteRunStore::open(path);
  first->claim_for_daemon();
  first->claim_for_daemon();  // again: a no-op
  CHECK_THROWS_WITH(second->claim_for_daemon(),
                    Catch::Contains("another nightshift daemon is serving from this store"));
  first.reset();  // the process would end, or the store close: the claim goes
  second->claim_for_daemon();
}

// Waits, up to a generous deadline, until `done` (a server may take a moment
// to see a closed connection end and free its locks).
template <class F>
bool eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// Two processes on one store, played by two store objects: `other` stands for
// a `nightshift run` at work, `store` for a daemon started beside it.
TEMPLATE_TEST_CASE("run store: a live owner's run is left alone, a dead owner's is taken over",
                   "[run_store][owners]", SqliteStore, MysqlStore) {
  TestType store;
  auto other = store.another();
  const std::int64_t run_owner = other->register_owner(OwnerKind::run);
  CHECK(other->register_owner(OwnerKind::run) == run_owner);  // once: the same owner
  CHECK(other->owner() == run_owner);
  const auto run_id = other->create_run(new_run("kpi", Trigger::manual, at_s(kFire))).value();
  other->set_run_status(run_id, RunStatus::running, at_ms(1000));
  other->start_attempt(attempt_of(run_id, "extract", 1, at_ms(1000)));
  // A run of a store that never registered: no owner, dead as before owners.
  const auto ownerless = store->create_run(new_run("sales", Trigger::manual, at_s(kFire))).value();
  store->set_run_status(ownerless, RunStatus::running, at_ms(1100));
  store->start_attempt(attempt_of(ownerless, "extract", 1, at_ms(1100)));
  CHECK_FALSE(store->get_run(ownerless)->owner);
  CHECK_FALSE(store->attempts(ownerless).at(0).owner);

  const std::int64_t daemon = store->register_owner(OwnerKind::daemon);
  CHECK(daemon != run_owner);
  const TakenOver first = store->take_over_dead_owners(at_ms(2000));
  REQUIRE(first.lost.size() == 1);
  CHECK(first.lost[0].run_id == ownerless);
  CHECK(first.runs == std::vector<std::int64_t>{ownerless});
  CHECK(store->get_run(ownerless)->owner == daemon);

  // The live owner's run and attempt are as it left them, and its own.
  RunRecord run = store->get_run(run_id).value();
  CHECK(run.status == RunStatus::running);
  CHECK(run.owner == run_owner);
  CHECK(step_of(run, "extract").state == StepState::running);
  AttemptRecord attempt = store->attempts(run_id).at(0);
  CHECK(attempt.state == StepState::running);
  CHECK(attempt.owner == run_owner);
  CHECK(store->take_over_dead_owners(at_ms(2500)).lost.empty());  // again: still alive

  // What this owner starts is its own, and never taken from itself.
  store->start_attempt(attempt_of(ownerless, "extract", 2, at_ms(2600), false));
  CHECK(store->attempts(ownerless).at(1).owner == daemon);

  // The `run` process ends (its store closes, as when it dies): its run is taken.
  other.reset();
  TakenOver later;
  CHECK(eventually([&] {
    later = store->take_over_dead_owners(at_ms(3000));
    return !later.runs.empty();
  }));
  REQUIRE(later.lost.size() == 1);
  CHECK(later.lost[0].run_id == run_id);
  CHECK(later.lost[0].step == "extract");
  CHECK(later.lost[0].owner == run_owner);  // who lost it stays on the record
  CHECK(later.runs == std::vector<std::int64_t>{run_id});
  run = store->get_run(run_id).value();
  CHECK(run.owner == daemon);
  CHECK(step_of(run, "extract").state == StepState::lost);
  CHECK(store->attempts(run_id).at(0).state == StepState::lost);
  CHECK(store->attempts(ownerless).at(1).state == StepState::running);  // this owner's, alive
  const TakenOver none = store->take_over_dead_owners(at_ms(4000));
  CHECK(none.lost.empty());
  CHECK(none.runs.empty());
}

namespace {

// Forks a `nightshift run` that registers as an owner on the store `open`
// opens, creates a run, starts an attempt of its first step, tells the parent
// the run's id through a pipe and waits to be killed. Returns its pid and the
// run id.
template <class Open>
std::pair<pid_t, std::int64_t> fork_run_owner(Open open) {
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(ready[0]);
    try {
      auto store = open();
      store->register_owner(OwnerKind::run);
      const auto run_id = store->create_run(new_run("kpi", Trigger::manual, at_s(kFire)));
      store->set_run_status(*run_id, RunStatus::running, at_ms(1000));
      store->start_attempt(attempt_of(*run_id, "extract", 1, at_ms(1000)));
      const std::int64_t id = *run_id;
      if (::write(ready[1], &id, sizeof id) == sizeof id)
        for (;;) ::pause();
    } catch (...) {
    }
    _exit(1);
  }
  ::close(ready[1]);
  std::int64_t run_id = 0;
  const bool told = ::read(ready[0], &run_id, sizeof run_id) == sizeof run_id;
  ::close(ready[0]);
  if (!told) ::waitpid(child, nullptr, 0);
  REQUIRE(told);
  return {child, run_id};
}

void kill_and_reap(pid_t child) {
  REQUIRE(::kill(child, SIGKILL) == 0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
}

}  // namespace

// The real thing: another process, alive and then killed with SIGKILL (no
// destructor runs; the kernel or the server frees its lock).
TEMPLATE_TEST_CASE("run store: a nightshift run process killed with -9 is found dead",
                   "[run_store][owners]", SqliteStore, MysqlStore) {
  TestType store;
  auto [child, run_id] = fork_run_owner([&] { return store.another(); });
  struct Reap {
    pid_t pid;
    ~Reap() {
      if (pid > 0 && ::kill(pid, SIGKILL) == 0) ::waitpid(pid, nullptr, 0);
    }
  } reap{child};

  store->register_owner(OwnerKind::daemon);
  const TakenOver alive = store->take_over_dead_owners(at_ms(2000));
  CHECK(alive.lost.empty());
  CHECK(alive.runs.empty());
  CHECK(step_of(store->get_run(run_id).value(), "extract").state == StepState::running);

  kill_and_reap(child);
  reap.pid = -1;
  TakenOver dead;
  CHECK(eventually([&] {
    dead = store->take_over_dead_owners(at_ms(3000));
    return !dead.runs.empty();
  }));
  REQUIRE(dead.lost.size() == 1);
  CHECK(dead.lost[0].run_id == run_id);
  CHECK(dead.runs == std::vector<std::int64_t>{run_id});
  CHECK(store->get_run(run_id)->owner == store->owner());
}

TEMPLATE_TEST_CASE("run store: prune_finished_runs takes old finished runs, in batches, and "
                   "leaves the rest",
                   "[run_store]", MemoryStore, SqliteStore, MysqlStore) {
  TestType store;
  // 5 runs finished at 1,000..5,000 ms, one running since 0 and one queued.
  std::vector<std::int64_t> finished;
  for (int i = 1; i <= 5; ++i) {
    const auto id = store->create_run(new_run("kpi", Trigger::manual, at_s(kFire))).value();
    store->set_run_status(id, RunStatus::running, at_ms(0));
    store->start_attempt(attempt_of(id, "extract", 1, at_ms(0)));
    store->finish_attempt(id, "extract", 1, StepState::failed, 1, at_ms(i * 1000),
                          StepState::failed);
    store->set_run_status(id, i % 2 ? RunStatus::failed : RunStatus::succeeded, at_ms(i * 1000));
    finished.push_back(id);
  }
  const auto running = store->create_run(new_run("kpi", Trigger::manual, at_s(kFire))).value();
  store->set_run_status(running, RunStatus::running, at_ms(0));
  store->start_attempt(attempt_of(running, "extract", 1, at_ms(0)));
  const auto queued = store->create_run(new_run("kpi", Trigger::schedule, at_s(kFire))).value();

  // Finished before 4,000 ms: the first three, two at a time.
  CHECK(store->prune_finished_runs(at_ms(4000), 2) ==
        std::vector<std::int64_t>{finished[0], finished[1]});
  CHECK(store->prune_finished_runs(at_ms(4000), 2) == std::vector<std::int64_t>{finished[2]});
  CHECK(store->prune_finished_runs(at_ms(4000), 2).empty());
  CHECK_FALSE(store->get_run(finished[0]));
  CHECK(store->attempts(finished[0]).empty());
  CHECK(store->get_run(finished[3]));
  CHECK(store->attempts(finished[3]).size() == 1);
  // However old, a run that has not finished stays.
  CHECK(store->prune_finished_runs(at_ms(1'000'000), 100) ==
        std::vector<std::int64_t>{finished[3], finished[4]});
  CHECK(ids_of(store->list_runs("kpi", 10)) == std::vector<std::int64_t>{queued, running});
  CHECK(store->attempts(running).size() == 1);
  store.reopen();
  CHECK(ids_of(store->list_runs("kpi", 10)) == std::vector<std::int64_t>{queued, running});
}

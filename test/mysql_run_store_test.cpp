// What only the MySQL store has: its schema on a server, reconnection after a
// lost connection, and errors that name the server but never the password.
// The behaviour it shares with the other stores is in run_store_test.cpp.
#include "nightshift/runtime/mysql_connection.h"
#include "nightshift/runtime/mysql_run_store.h"

#include <catch2/catch.hpp>

#include "support/test_mysql.h"

#include <chrono>
#include <mutex>
#include <string>
#include <thread>

using namespace nightshift;

namespace {

MysqlStoreOptions options_for(const test::TestDatabase& database) {
  MysqlStoreOptions options;
  options.server = database.connection("state");
  return options;
}

NewRun manual_run() {
  NewRun run;
  run.job = "kpi";
  run.trigger = Trigger::manual;
  run.scheduled_at_text = "1970-01-01T00:00:00Z";
  run.date = "1970-01-01";
  run.steps = {{"extract", false}, {"Extract", false}};  // names are case-sensitive
  return run;
}

std::string error_of(const MysqlStoreOptions& options) {
  try {
    MysqlRunStore::open(options);
  } catch (const StoreError& e) {
    return e.what();
  }
  return "";
}

// Drops every other connection to the database, as a server restart would. A
// connection that ends on its own between the listing and its KILL (one still
// closing when listed) is what we wanted anyway: "Unknown thread id" is fine.
void kill_other_connections(const test::TestDatabase& database) {
  const auto ids = database.query("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '" +
                                  database.name() + "' AND ID <> CONNECTION_ID()");
  for (const auto& id : ids) {
    try {
      database.query("KILL CONNECTION " + id[0].value());
    } catch (const std::runtime_error& e) {
      if (std::string(e.what()).find("Unknown thread id") == std::string::npos) throw;
    }
  }
}

}  // namespace

TEST_CASE("run store: mysql: a fresh database gets the latest schema, applied once") {
  test::TestDatabase database("store");
  const std::string latest = std::to_string(MysqlRunStore::latest_schema_version());
  MysqlRunStore::open(options_for(database));
  MysqlRunStore::open(options_for(database));  // a second open migrates nothing
  auto rows = database.query("SELECT COUNT(*), MAX(version) FROM schema_version");
  CHECK(rows.at(0).at(0) == latest);
  CHECK(rows.at(0).at(1) == latest);
  CHECK(database.query("SHOW TABLES LIKE 'job_watermarks'").size() == 1);
}

TEST_CASE("run store: mysql: a store at schema 4 migrates to 5 and keeps its runs") {
  test::TestDatabase database("store");
  std::int64_t run_id = 0;
  {
    auto store = MysqlRunStore::open(options_for(database));
    NewRun run;
    run.job = "kpi";
    run.trigger = Trigger::schedule;
    run.scheduled_at = Instant(std::chrono::seconds(1'764'000'600));
    run.scheduled_at_text = "2025-11-25T01:10:00+09:00";
    run.date = "2025-11-25";
    run.steps.push_back({"extract", false});
    run_id = store->create_run(run).value();
  }
  // Back to what a version-4 binary left: no pause table, no fire-time index.
  database.query("DROP TABLE job_pauses");
  database.query("DROP INDEX runs_by_fire_time ON runs");
  database.query("DELETE FROM schema_version WHERE version >= 5");
  auto store = MysqlRunStore::open(options_for(database));
  CHECK(database.query("SELECT MAX(version) FROM schema_version").at(0).at(0) == "5");
  CHECK(store->get_run(run_id));
  CHECK(store->paused_jobs().empty());
  store->set_job_paused("kpi", true, now_timestamp());
  CHECK(store->paused_jobs().at("kpi"));
  CHECK(database.query("SHOW INDEX FROM runs WHERE Key_name = 'runs_by_fire_time'").size() == 2);
}

TEST_CASE("run store: mysql: a schema newer than this binary is refused") {
  test::TestDatabase database("store");
  MysqlRunStore::open(options_for(database));
  database.query("INSERT INTO schema_version VALUES (999, 0)");
  CHECK_THAT(error_of(options_for(database)),
             Catch::Contains("schema version 999 is newer than this nightshift"));
}

TEST_CASE("run store: mysql: step names are case-sensitive, as in SQLite") {
  test::TestDatabase database("store");
  auto store = MysqlRunStore::open(options_for(database));
  const auto run_id = store->create_run(manual_run()).value();
  store->set_step_state(run_id, "Extract", StepState::failed);
  const RunRecord run = store->get_run(run_id).value();
  REQUIRE(run.steps.size() == 2);
  CHECK(run.steps[0].state == StepState::pending);
  CHECK(run.steps[1].state == StepState::failed);
}

TEST_CASE("run store: mysql: a killed connection is reconnected and the call goes through") {
  test::TestDatabase database("store");
  auto store = MysqlRunStore::open(options_for(database));
  const auto run_id = store->create_run(manual_run()).value();
  // The server drops the store's connection, as a restart or a network cut would.
  auto ids = database.query("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '" +
                            database.name() + "' AND ID <> CONNECTION_ID()");
  REQUIRE(ids.size() == 1);
  database.query("KILL CONNECTION " + ids[0][0].value());

  store->set_run_status(run_id, RunStatus::running, Timestamp(std::chrono::milliseconds(5)));
  CHECK(store->get_run(run_id)->status == RunStatus::running);
  CHECK(store->create_run(manual_run()).value() == run_id + 1);  // nothing created twice
}

TEST_CASE("run store: mysql: a wrong password names the server, never the password") {
  test::TestDatabase database("store");
  MysqlStoreOptions options = options_for(database);
  options.server.password = "not-the-password-4711";
  const std::string error = error_of(options);
  CHECK_THAT(error, Catch::Contains("mysql://" + options.server.user + "@127.0.0.1:" +
                                    std::to_string(options.server.port) + "/" + database.name()));
  CHECK_THAT(error, Catch::Contains("Access denied"));
  CHECK_THAT(error, !Catch::Contains("not-the-password-4711"));
  CHECK_THAT(error, !Catch::Contains(database.mysql().password));
}

TEST_CASE("run store: mysql: an unreachable server fails the open at once, with its address") {
  MysqlStoreOptions options;
  options.server.host = "127.0.0.1";
  options.server.port = 1;  // nothing listens there
  options.server.user = "nightshift";
  options.server.database = "history";
  options.server.connect_timeout = std::chrono::seconds(2);
  const std::string error = error_of(options);
  CHECK_THAT(error, Catch::Contains("mysql://nightshift@127.0.0.1:1/history"));
  CHECK_THAT(error, Catch::Contains("cannot connect"));
}

TEST_CASE("run store: mysql: a failed statement is an error, not retried for ever") {
  test::TestDatabase database("store");
  auto store = MysqlRunStore::open(options_for(database));
  CHECK_THROWS_WITH(store->set_step_state(12345, "extract", StepState::failed),
                    Catch::Contains("no such step extract"));
  database.query("DROP TABLE attempts");
  CHECK_THROWS_WITH(store->attempts(1), Catch::Contains("attempts' doesn't exist"));
}

TEST_CASE("run store: mysql: a transaction chosen as a deadlock's victim is run again") {
  test::TestDatabase database("store");
  MysqlStoreOptions options = options_for(database);
  std::mutex notices_mutex;
  std::string notices;
  options.notice = [&](const std::string& level, const std::string& message) {
    std::lock_guard lock(notices_mutex);
    notices += level + ": " + message + "\n";
  };
  auto store = MysqlRunStore::open(options);
  const auto run_id = store->create_run(manual_run()).value();
  database.query("CREATE TABLE ballast (n INT)");

  // Another client takes step "Extract" first, with enough work done that
  // InnoDB rolls back the store's (lighter) transaction when they deadlock.
  MysqlConnection other(database.connection());
  other.execute("START TRANSACTION");
  other.execute("INSERT INTO ballast VALUES (1), (2), (3), (4), (5), (6), (7), (8), (9), (10)");
  other.execute("UPDATE run_steps SET state = 'ready' WHERE run_id = " + std::to_string(run_id) +
                " AND step = 'Extract'");
  // The store takes "extract", then waits for "Extract"...
  std::thread writer([&] {
    store->set_step_states(run_id, {{"extract", StepState::succeeded},
                                    {"Extract", StepState::failed}});
  });
  // Once it waits (not after a guessed delay: a loaded machine may be slow to get there).
  for (int i = 0; i < 1000 && database.query("SELECT COUNT(*) FROM information_schema.INNODB_TRX "
                                              "WHERE trx_state = 'LOCK WAIT'")[0][0] == "0";
       ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  // ... and the other client now waits for "extract": a cycle.
  other.execute("UPDATE run_steps SET state = 'ready' WHERE run_id = " + std::to_string(run_id) +
                " AND step = 'extract'");
  other.execute("COMMIT");
  writer.join();

  // The store's transaction ran again after the other one committed: its states win.
  const RunRecord run = store->get_run(run_id).value();
  CHECK(run.steps[0].state == StepState::succeeded);
  CHECK(run.steps[1].state == StepState::failed);
  CHECK_THAT(notices, Catch::Contains("Deadlock") && Catch::Contains("retrying"));
}

TEST_CASE("run store: mysql: one daemon at a time claims a store") {
  test::TestDatabase database("store");
  auto first = MysqlRunStore::open(options_for(database));
  auto second = MysqlRunStore::open(options_for(database));
  first->claim_for_daemon();
  CHECK_THROWS_WITH(second->claim_for_daemon(),
                    Catch::Contains("another nightshift daemon is serving from this store"));
  // A claim survives a reconnect: the lost connection's lock is taken again.
  kill_other_connections(database);
  CHECK(first->list_runs("kpi", 1).empty());
  CHECK(database.query("SELECT IS_USED_LOCK('nightshift_serve:" + database.name() +
                       "') IS NOT NULL")[0][0] == "1");
  first.reset();  // its connection closes: the lock is free
  second = MysqlRunStore::open(options_for(database));
  second->claim_for_daemon();
}

TEST_CASE("run store: mysql: an owner's lock survives a reconnect, and goes with its connection") {
  test::TestDatabase database("store");
  auto owner = MysqlRunStore::open(options_for(database));
  const std::int64_t id = owner->register_owner(OwnerKind::run);
  const std::string held = "SELECT IS_USED_LOCK('nightshift_owner:" + std::to_string(id) + ":" +
                           database.name() + "') IS NOT NULL";
  CHECK(database.query(held)[0][0] == "1");
  CHECK(database.query("SELECT kind FROM owners WHERE owner_id = " + std::to_string(id))[0][0] ==
        "run");
  // A lost connection loses the lock; the store's next call reconnects and takes it again.
  kill_other_connections(database);
  CHECK(owner->list_runs("kpi", 1).empty());
  CHECK(database.query(held)[0][0] == "1");
  owner.reset();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (database.query(held)[0][0] != "0" && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(database.query(held)[0][0] == "0");
}

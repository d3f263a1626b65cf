#include "nightshift/runtime/sqlite_step_runner.h"

#include <sqlite3.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>

#include "support/runner_harness.h"
#include "support/temp_dir.h"

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace nightshift;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Runs for ever unless interrupted: counting to 1e12 takes hours.
constexpr const char* kEndlessQuery =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000000)\n"
    "SELECT count(*) FROM c;";

// Each test's own folder, named after this file.
struct TempDir : test::TempDir {
  TempDir() : test::TempDir("sqlite_step_runner_test") {}
};

StepInvocation sql_step(const std::string& sql, const TempDir& dir,
                        const std::string& log = "logs/job/1/step.1.log",
                        const std::string& db = "data.db") {
  StepInvocation step;
  step.run_id = 1;
  step.job = "job";
  step.step = "step";
  step.kind = StepKind::sql;
  step.sql = sql;
  ConnectionSpec connection;
  connection.name = "source";
  connection.driver = "sqlite";
  connection.path = dir / db;
  step.connection = connection;
  step.log_path = dir / log;
  // The runner makes no folders: the executor makes a run's once.
  std::error_code ignored;  // a test may put a file in the way, on purpose
  fs::create_directories(fs::path(step.log_path).parent_path(), ignored);
  return step;
}

using test::read_log;
using test::when_log_contains;

// An independent connection: what the runner left in the file.
class Database {
 public:
  explicit Database(const std::string& path) {
    REQUIRE(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                            nullptr) == SQLITE_OK);
  }
  ~Database() { sqlite3_close_v2(db_); }
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void exec(const std::string& sql) {
    char* error = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
    INFO(sql << ": " << (error ? error : ""));
    sqlite3_free(error);
    REQUIRE(rc == SQLITE_OK);
  }

  // The first column of the first row, as text; "NULL" for NULL.
  std::string value(const std::string& sql) {
    sqlite3_stmt* statement = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &statement, nullptr) == SQLITE_OK);
    std::string out = "no row";
    if (sqlite3_step(statement) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(statement, 0);
      out = text ? reinterpret_cast<const char*>(text) : "NULL";
    }
    sqlite3_finalize(statement);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

// A RunnerHarness on a SqliteStepRunner with `threads` workers.
struct Harness : test::RunnerHarness {
  explicit Harness(std::size_t threads = 2)
      : RunnerHarness([threads](boost::asio::io_context& io) {
          return std::make_unique<SqliteStepRunner>(io, threads);
        }) {}
};

StepResult run(const StepInvocation& step) {
  Harness harness;
  harness.start(step);
  harness.run();
  return harness.result(0);
}


}  // namespace

TEST_CASE("sqlite runner: statements run in order, semicolons in strings and comments included") {
  TempDir dir;
  auto step = sql_step(
      "-- the table; a comment with a semicolon\n"
      "CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT);\n"
      "INSERT INTO t (note) VALUES ('a;b'), ('it''s; fine'), (NULL); /* after; it */\n"
      "  SELECT id, note FROM t ORDER BY id;  \n"
      "-- a trailing comment; no statement\n",
      dir);
  StepResult result = run(step);

  CHECK(result.outcome == StepState::succeeded);
  CHECK(result.exit_code == 0);
  CHECK(result.error.empty());
  Database db(dir / "data.db");
  CHECK(db.value("SELECT count(*) FROM t") == "3");
  CHECK(db.value("SELECT group_concat(note, '|') FROM t") == "a;b|it's; fine");
  CHECK(read_log(step.log_path) ==
        "-- the table; a comment with a semicolon\n"
        "CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT);\n"
        "-- 0 rows affected\n"
        "\n"
        "INSERT INTO t (note) VALUES ('a;b'), ('it''s; fine'), (NULL);\n"
        "-- 3 rows affected\n"
        "\n"
        "/* after; it */\n"
        "  SELECT id, note FROM t ORDER BY id;\n"
        "id\tnote\n"
        "1\ta;b\n"
        "2\tit's; fine\n"
        "3\tNULL\n"
        "(3 rows)\n");
}

TEST_CASE("sqlite runner: a result shows its first 20 rows and counts them all") {
  TempDir dir;
  auto step = sql_step(
      "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 50)\n"
      "SELECT n, n * n AS square FROM c;",
      dir);
  StepResult result = run(step);

  CHECK(result.outcome == StepState::succeeded);
  std::string expected =
      "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 50)\n"
      "SELECT n, n * n AS square FROM c;\n"
      "n\tsquare\n";
  for (int n = 1; n <= 20; ++n) expected += std::to_string(n) + "\t" + std::to_string(n * n) + "\n";
  expected += "(50 rows)\n";
  CHECK(read_log(step.log_path) == expected);
}

TEST_CASE("sqlite runner: rows affected belong to each statement, not the last INSERT") {
  TempDir dir;
  auto step = sql_step(
      "CREATE TABLE t (x);\n"
      "INSERT INTO t VALUES (1), (2);\n"
      "CREATE TABLE u (y);\n"
      "UPDATE t SET x = 0 WHERE x > 5;\n"
      "DELETE FROM t;\n"
      "SELECT * FROM u;\n"
      "SELECT NULL AS n, 1.5 AS r, x'00ff' AS b, '' AS e;",
      dir);
  StepResult result = run(step);

  CHECK(result.outcome == StepState::succeeded);
  CHECK(read_log(step.log_path) ==
        "CREATE TABLE t (x);\n-- 0 rows affected\n\n"
        "INSERT INTO t VALUES (1), (2);\n-- 2 rows affected\n\n"
        "CREATE TABLE u (y);\n-- 0 rows affected\n\n"
        "UPDATE t SET x = 0 WHERE x > 5;\n-- 0 rows affected\n\n"
        "DELETE FROM t;\n-- 2 rows affected\n\n"
        "SELECT * FROM u;\ny\n(0 rows)\n\n"
        "SELECT NULL AS n, 1.5 AS r, x'00ff' AS b, '' AS e;\n"
        "n\tr\tb\te\n"
        "NULL\t1.5\tX'00FF'\t\n"
        "(1 rows)\n");
}

TEST_CASE("sqlite runner: an error stops the script, what ran before stays") {
  TempDir dir;
  Database db(dir / "data.db");
  db.exec("CREATE TABLE t (x INTEGER PRIMARY KEY)");
  auto step = sql_step(
      "INSERT INTO t VALUES (1);\n"
      "INSERT INTO t VALUES (1);\n"
      "INSERT INTO t VALUES (3);\n",
      dir);
  StepResult result = run(step);

  CHECK(result.outcome == StepState::failed);
  CHECK(result.exit_code == 1);
  CHECK(db.value("SELECT group_concat(x) FROM t") == "1");
  CHECK(read_log(step.log_path) ==
        "INSERT INTO t VALUES (1);\n"
        "-- 1 rows affected\n"
        "\n"
        "INSERT INTO t VALUES (1);\n"
        "error: UNIQUE constraint failed: t.x\n");
}

TEST_CASE("sqlite runner: a transaction the script leaves open on error is rolled back") {
  TempDir dir;
  Database db(dir / "data.db");
  db.exec("CREATE TABLE t (x INTEGER PRIMARY KEY)");
  auto step = sql_step(
      "INSERT INTO t VALUES (0);\n"
      "BEGIN;\n"
      "INSERT INTO t VALUES (1);\n"
      "INSERT INTO t VALUES (1);\n"
      "COMMIT;\n",
      dir);
  StepResult result = run(step);

  CHECK(result.outcome == StepState::failed);
  CHECK(db.value("SELECT group_concat(x) FROM t") == "0");
}

TEST_CASE("sqlite runner: a syntax error fails before anything of its statement runs") {
  TempDir dir;
  auto step = sql_step("CREATE TABLE t (x);\nSELEC x FROM t WHERE x = ';';\nDROP TABLE t;", dir);
  StepResult result = run(step);

  CHECK(result.outcome == StepState::failed);
  CHECK(result.exit_code == 1);
  CHECK(Database(dir / "data.db").value("SELECT count(*) FROM sqlite_schema") == "1");
  // The whole failing statement, though SQLite stopped reading at its first word.
  CHECK(read_log(step.log_path) ==
        "CREATE TABLE t (x);\n"
        "-- 0 rows affected\n"
        "\n"
        "SELEC x FROM t WHERE x = ';';\n"
        "error: near \"SELEC\": syntax error\n");
}

TEST_CASE("sqlite runner: a timeout interrupts a long query and ends as timed_out") {
  TempDir dir;
  auto step = sql_step(std::string("CREATE TABLE t (x);\n") + kEndlessQuery, dir);
  step.timeout = 200ms;
  StepResult result = run(step);

  CHECK(result.outcome == StepState::timed_out);
  CHECK(!result.exit_code);
  std::string log = read_log(step.log_path);
  INFO(log);
  CHECK(log.find("SELECT count(*) FROM c;\n") != std::string::npos);
  CHECK(log.size() >= 22);
  CHECK(log.substr(log.size() - 22) == "nightshift: timed out\n");
}

TEST_CASE("sqlite runner: cancel interrupts a running query and ends as cancelled") {
  TempDir dir;
  auto step = sql_step(kEndlessQuery, dir);
  Harness harness;
  auto handle = harness.start(step);
  when_log_contains(harness.io(), step.log_path, "SELECT count(*)", [handle] {
    handle->cancel();
    handle->cancel();  // idempotent
  });
  harness.run();

  CHECK(harness.result(0).outcome == StepState::cancelled);
  CHECK(!harness.result(0).exit_code);
  std::string log = read_log(step.log_path);
  INFO(log);
  CHECK(log.find("error: interrupted\n") != std::string::npos);
  CHECK(log.substr(log.size() - 22) == "nightshift: cancelled\n");
  handle->cancel();  // after the end: harmless
}

TEST_CASE(
    "sqlite runner: an attempt cancelled while waiting for a worker never opens its database") {
  TempDir dir;
  Harness harness(1);
  auto busy = harness.start(sql_step(kEndlessQuery, dir, "busy.log", "busy.db"));
  auto queued = harness.start(sql_step("CREATE TABLE t (x);", dir, "queued.log", "queued.db"));
  queued->cancel();
  when_log_contains(harness.io(), dir / "busy.log", "SELECT", [busy] { busy->cancel(); });
  harness.run();

  CHECK(harness.result(0).outcome == StepState::cancelled);
  CHECK(harness.result(1).outcome == StepState::cancelled);
  CHECK(!fs::exists(dir / "queued.db"));
  CHECK(read_log(dir / "queued.log") == "nightshift: cancelled\n");
}

TEST_CASE("sqlite runner: cancel ends a wait for another connection's lock") {
  TempDir dir;
  Database holder(dir / "data.db");
  holder.exec("CREATE TABLE t (x); BEGIN EXCLUSIVE; INSERT INTO t VALUES (1);");
  auto step = sql_step("INSERT INTO t VALUES (2);", dir);
  Harness harness;
  auto handle = harness.start(step);
  // The wait may be in prepare (reading the schema), before the log shows anything.
  boost::asio::steady_timer later(harness.io(), 300ms);
  later.async_wait([handle](const boost::system::error_code&) { handle->cancel(); });
  harness.run(20s);  // well under the 30 s busy timeout

  CHECK(harness.result(0).outcome == StepState::cancelled);
  holder.exec("COMMIT");
  CHECK(holder.value("SELECT group_concat(x) FROM t") == "1");
}

TEST_CASE("sqlite runner: a statement waits for another connection's lock") {
  TempDir dir;
  Database holder(dir / "data.db");
  holder.exec("CREATE TABLE t (x); BEGIN EXCLUSIVE; INSERT INTO t VALUES (1);");
  auto step = sql_step("INSERT INTO t VALUES (2);", dir);
  Harness harness;
  harness.start(step);
  boost::asio::steady_timer release(harness.io(), 300ms);
  release.async_wait([&](const boost::system::error_code&) { holder.exec("COMMIT"); });
  harness.run();

  CHECK(harness.result(0).outcome == StepState::succeeded);
  CHECK(holder.value("SELECT group_concat(x) FROM t") == "1,2");
}

TEST_CASE("sqlite runner: two attempts writing one file in parallel both succeed") {
  TempDir dir;
  Database(dir / "data.db").exec("CREATE TABLE t (who TEXT, n INTEGER)");
  auto script = [](const std::string& who) {
    std::string insert =
        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 20000)\n"
        "INSERT INTO t SELECT '" +
        who + "', n FROM c;\n";
    return insert + "BEGIN IMMEDIATE;\n" + insert + insert + "COMMIT;\n" + insert;
  };
  Harness harness(2);
  harness.start(sql_step(script("a"), dir, "a.log"));
  harness.start(sql_step(script("b"), dir, "b.log"));
  harness.run();

  CHECK(harness.result(0).outcome == StepState::succeeded);
  CHECK(harness.result(1).outcome == StepState::succeeded);
  Database db(dir / "data.db");
  CHECK(db.value("SELECT count(*) FROM t WHERE who = 'a'") == "80000");
  CHECK(db.value("SELECT count(*) FROM t WHERE who = 'b'") == "80000");
}

TEST_CASE("sqlite runner: 20 concurrent attempts on two threads all complete") {
  TempDir dir;
  Harness harness(2);
  for (int i = 0; i < 20; ++i) {
    harness.start(sql_step("CREATE TABLE IF NOT EXISTS t (i INTEGER);\nINSERT INTO t VALUES (" +
                               std::to_string(i) + ");\nSELECT count(*) FROM t;",
                           dir, "logs/" + std::to_string(i) + ".log"));
  }
  harness.run();

  for (int i = 0; i < 20; ++i) CHECK(harness.result(i).outcome == StepState::succeeded);
  Database db(dir / "data.db");
  CHECK(db.value("SELECT count(DISTINCT i) FROM t") == "20");
}

TEST_CASE("sqlite runner: cancel racing the end of an attempt is safe") {
  TempDir dir;
  Harness harness(2);
  std::vector<std::shared_ptr<StepHandle>> handles;
  for (int i = 0; i < 50; ++i) {
    handles.push_back(harness.start(
        sql_step("SELECT " + std::to_string(i) + ";", dir, "logs/" + std::to_string(i) + ".log")));
  }
  // Cancels land before, during and after each attempt, from a thread of their own.
  std::thread canceller([&] {
    for (int round = 0; round < 3; ++round)
      for (const auto& handle : handles) handle->cancel();
  });
  harness.run();
  canceller.join();

  for (int i = 0; i < 50; ++i) {
    StepState outcome = harness.result(i).outcome;
    CHECK((outcome == StepState::succeeded || outcome == StepState::cancelled));
  }
}

TEST_CASE("sqlite runner: destroying the runner stops what runs and still reports it") {
  TempDir dir;
  auto step = sql_step(kEndlessQuery, dir);
  Harness harness(1);
  harness.start(step);
  harness.start(sql_step("CREATE TABLE t (x);", dir, "queued.log", "queued.db"));
  bool destroyed = false;
  when_log_contains(harness.io(), step.log_path, "SELECT", [&] {
    harness.destroy_runner();  // interrupts, then joins the workers
    destroyed = true;
  });
  harness.run();

  CHECK(destroyed);
  CHECK(harness.result(0).outcome == StepState::cancelled);
  CHECK(harness.result(1).outcome == StepState::cancelled);
}

TEST_CASE("sqlite runner: done is never called from inside start()") {
  TempDir dir;
  Harness harness;
  harness.start(sql_step("SELECT 1;", dir));
  CHECK(harness.calls(0) == 0);
  harness.run();
  CHECK(harness.result(0).outcome == StepState::succeeded);
}

TEST_CASE("sqlite runner: an attempt that cannot start fails and says why in its log") {
  TempDir dir;

  SECTION("no connection") {
    auto step = sql_step("SELECT 1;", dir);
    step.connection.reset();
    StepResult result = run(step);
    CHECK(result.outcome == StepState::failed);
    CHECK(result.error == "the step has no connection");
    CHECK(read_log(step.log_path) == "nightshift: the step has no connection\n");
  }
  SECTION("not a sqlite connection; its password is never shown") {
    auto step = sql_step("SELECT 1;", dir);
    step.connection->driver = "mysql";
    step.connection->password = "hunter2";
    StepResult result = run(step);
    CHECK(result.outcome == StepState::failed);
    CHECK(result.error == "connection 'source' is not a sqlite one");
    CHECK(read_log(step.log_path).find("hunter2") == std::string::npos);
  }
  SECTION("a database that cannot be opened") {
    auto step = sql_step("SELECT 1;", dir, "step.log", "missing/dir/data.db");
    StepResult result = run(step);
    CHECK(result.outcome == StepState::failed);
    CHECK(!result.exit_code);
    CHECK(result.error.rfind("cannot open database '" + (dir / "missing/dir/data.db") + "': ", 0) ==
          0);
    CHECK(read_log(step.log_path) == "nightshift: " + result.error + "\n");
  }
  SECTION("a log that cannot be opened") {
    std::ofstream(dir / "file") << "x";
    auto step = sql_step("CREATE TABLE t (x);", dir, "file/step.log");
    StepResult result = run(step);
    CHECK(result.outcome == StepState::failed);
    CHECK(result.error.rfind("cannot open log '" + (dir / "file/step.log") + "': ", 0) == 0);
    CHECK(!fs::exists(dir / "data.db"));
  }
}

TEST_CASE("sqlite runner: an empty script succeeds with an empty log") {
  TempDir dir;
  auto step = sql_step("  -- nothing to do\n", dir);
  StepResult result = run(step);
  CHECK(result.outcome == StepState::succeeded);
  CHECK(result.exit_code == 0);
  CHECK(read_log(step.log_path).empty());
}

TEST_CASE("sqlite runner: the step's secrets are *** in its log and its error") {
  TempDir dir;
  const std::string secret = "s3cretToken99";  // one identifier, so the error quotes it whole
  auto step = sql_step("SELECT 'token: " + secret + "' AS t;\nSELECT nope_" + secret + ";\n", dir);
  step.secrets = {secret};
  StepResult result = run(step);
  CHECK(result.outcome == StepState::failed);
  CHECK(result.error.find(secret) == std::string::npos);
  std::string log = read_log(step.log_path);
  INFO(log);
  CHECK(log.find(secret) == std::string::npos);
  CHECK(log.find("token: ***") != std::string::npos);
  CHECK(log.find("no such column: nope_***") != std::string::npos);  // the error, quoting it
}

#include "nightshift/runtime/mysql_step_runner.h"

#include "nightshift/runtime/sql_step_runner.h"
#include "nightshift/secret_mask.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>

#include "support/runner_harness.h"
#include "support/temp_dir.h"
#include "support/test_mysql.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace nightshift;
using namespace std::chrono_literals;
using test::read_log;
using test::RunnerHarness;
using test::TestDatabase;
using test::TestMysql;
using test::when_log_contains;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// Each test's own folder, named after this file.
struct TempDir : test::TempDir {
  TempDir() : test::TempDir("mysql_step_runner_test") {}
};

ConnectionSpec connection_to(const TestDatabase& db) {
  ConnectionSpec c = db.connection("warehouse");
  c.connect_timeout = 10s;
  return c;
}

StepInvocation sql_step(const std::string& sql, const ConnectionSpec& connection,
                        const TempDir& dir, const std::string& log = "logs/job/1/step.1.log") {
  StepInvocation step;
  step.run_id = 1;
  step.job = "job";
  step.step = "step";
  step.kind = StepKind::sql;
  step.sql = sql;
  step.connection = connection;
  step.log_path = dir / log;
  // The runner makes no folders: the executor makes a run's once.
  std::error_code ignored;  // a test may put a file in the way, on purpose
  fs::create_directories(fs::path(step.log_path).parent_path(), ignored);
  return step;
}

RunnerHarness::Factory mysql_runner(std::size_t threads = 2) {
  return [threads](boost::asio::io_context& io) {
    return std::make_unique<MysqlStepRunner>(io, threads);
  };
}

StepResult run(const StepInvocation& step) {
  RunnerHarness harness(mysql_runner());
  harness.start(step);
  harness.run();
  return harness.result(0);
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Queries on the test's database, other than this one, whose text has `text`.
int running(const TestDatabase& db, const std::string& text) {
  auto rows = db.query("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = '" +
                       db.name() + "' AND INFO LIKE '%" + text + "%' AND ID <> CONNECTION_ID()");
  return std::stoi(rows.at(0).at(0).value());
}

// True once no such query is left. A killed query and a closed connection
// take the server a moment to retire; a query that was not killed would stay
// for minutes.
bool none_left(const TestDatabase& db, const std::string& text) {
  for (auto until = Clock::now() + 3s; Clock::now() < until; std::this_thread::sleep_for(50ms)) {
    if (running(db, text) == 0) return true;
  }
  return running(db, text) == 0;
}

std::string ends(const std::string& log, std::size_t n) {
  return log.size() < n ? log : log.substr(log.size() - n);
}

// A TCP port on 127.0.0.1 that accepts connections and never says a word.
class SilentServer {
 public:
  SilentServer() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    REQUIRE(fd_ >= 0);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), size) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size) == 0);
    port_ = ntohs(address.sin_port);
  }
  ~SilentServer() { ::close(fd_); }
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

}  // namespace

TEST_CASE("mysql runner: statements run in order and their effects are visible") {
  TempDir dir;
  TestDatabase db("mysql_runner");
  auto step = sql_step(
      "-- the source; a comment with a semicolon\n"
      "CREATE TABLE src (id INT PRIMARY KEY, note VARCHAR(20));\n"
      "INSERT INTO src VALUES (1, 'a;b'), (2, 'it''s'), (3, NULL); # after; it\n"
      "CREATE TABLE dst LIKE src;\n"
      "INSERT INTO dst SELECT * FROM src WHERE id > 1;\n"
      "UPDATE src SET note = 'x' WHERE id = 1;\n"
      "  SELECT id, note, UNHEX('00FF') AS b FROM dst ORDER BY id;  \n"
      "/* nothing; more */\n",
      connection_to(db), dir);
  StepResult result = run(step);

  CHECK(result.outcome == StepState::succeeded);
  CHECK(result.exit_code == 0);
  CHECK(result.error.empty());
  CHECK(db.query("SELECT COUNT(*), MIN(id) FROM dst").at(0) ==
        TestMysql::Row{std::string("2"), std::string("2")});
  std::string log = read_log(step.log_path);
  CHECK(log ==
        "CREATE TABLE src (id INT PRIMARY KEY, note VARCHAR(20))\n"
        "-- 0 rows affected\n"
        "\n"
        "INSERT INTO src VALUES (1, 'a;b'), (2, 'it''s'), (3, NULL)\n"
        "-- 3 rows affected\n"
        "\n"
        "CREATE TABLE dst LIKE src\n"
        "-- 0 rows affected\n"
        "\n"
        "INSERT INTO dst SELECT * FROM src WHERE id > 1\n"
        "-- 2 rows affected\n"
        "\n"
        "UPDATE src SET note = 'x' WHERE id = 1\n"
        "-- 1 rows affected\n"
        "\n"
        "SELECT id, note, UNHEX('00FF') AS b FROM dst ORDER BY id\n"
        "id\tnote\tb\n"
        "2\tit's\tX'00FF'\n"
        "3\tNULL\tX'00FF'\n"
        "(2 rows)\n");
  CHECK(log.find(db.mysql().password) == std::string::npos);
}

TEST_CASE("mysql runner: a result shows its first 20 rows and counts them all") {
  TempDir dir;
  TestDatabase db("mysql_runner");
  auto step = sql_step(
      "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 50)\n"
      "SELECT n, n * n AS square FROM c",
      connection_to(db), dir);
  StepResult result = run(step);

  CHECK(result.outcome == StepState::succeeded);
  std::string log = read_log(step.log_path);
  INFO(log);
  CHECK(log.find("SELECT n, n * n AS square FROM c\nn\tsquare\n1\t1\n2\t4\n") != std::string::npos);
  CHECK(ends(log, 18) == "\n20\t400\n(50 rows)\n");  // the 20th row, then all are counted
  CHECK(std::count(log.begin(), log.end(), '\n') == 2 + 1 + 20 + 1);
}

TEST_CASE("mysql runner: a million-row result is streamed and counted") {
  TempDir dir;
  TestDatabase db("mysql_runner");
  auto step = sql_step(
      "WITH d AS (SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3\n"
      "  UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7\n"
      "  UNION ALL SELECT 8 UNION ALL SELECT 9)\n"
      "SELECT a.n + 10 * b.n + 100 * c.n + 1000 * e.n + 10000 * f.n + 100000 * g.n AS n\n"
      "  FROM d a, d b, d c, d e, d f, d g",
      connection_to(db), dir);
  StepResult result = run(step);

  CHECK(result.outcome == StepState::succeeded);
  std::string log = read_log(step.log_path);
  CHECK(ends(log, 15) == "(1000000 rows)\n");
  CHECK(log.size() < 1000);  // the statement, the header, 20 rows and the count
}

TEST_CASE("mysql runner: warnings and notes follow their statement") {
  TempDir dir;
  TestDatabase db("mysql_runner");
  auto step = sql_step("DROP TABLE IF EXISTS nope;\nSELECT 1 / 0 AS x;\nSELECT 2 AS y;",
                       connection_to(db), dir);
  StepResult result = run(step);

  CHECK(result.outcome == StepState::succeeded);
  CHECK(read_log(step.log_path) ==
        "DROP TABLE IF EXISTS nope\n"
        "-- 0 rows affected\n"
        "warning: Note 1051 Unknown table '" +
            db.name() +
            ".nope'\n"
            "\n"
            "SELECT 1 / 0 AS x\n"
            "x\n"
            "NULL\n"
            "(1 rows)\n"
            "warning: Warning 1365 Division by 0\n"
            "\n"
            "SELECT 2 AS y\n"
            "y\n"
            "2\n"
            "(1 rows)\n");
}

TEST_CASE("mysql runner: an error stops the script, names itself and its line") {
  TempDir dir;
  TestDatabase db("mysql_runner");
  auto step =
      sql_step("CREATE TABLE t (x INT);\n\nSELEC 1;\nDROP TABLE t;", connection_to(db), dir);
  StepResult result = run(step);

  CHECK(result.outcome == StepState::failed);
  CHECK(result.exit_code == 1);
  CHECK(result.error.rfind("line 3: error 1064 You have an error in your SQL syntax", 0) == 0);
  CHECK(db.query("SHOW TABLES").size() == 1);  // the DROP never ran
  std::string log = read_log(step.log_path);
  INFO(log);
  CHECK(log.rfind("CREATE TABLE t (x INT)\n-- 0 rows affected\n\nSELEC 1\n"
                  "error: 1064 You have an error in your SQL syntax;",
                  0) == 0);
  CHECK(ends(log, 23) == " (statement at line 3)\n");
}

TEST_CASE("mysql runner: a timeout kills the query on the server and ends as timed_out") {
  TempDir dir;
  TestDatabase db("mysql_runner");
  auto step = sql_step("SELECT 1;\nSELECT SLEEP(120);\nSELECT 3;", connection_to(db), dir);
  step.timeout = 1s;
  auto start = Clock::now();
  StepResult result = run(step);
  double took = seconds_since(start);

  CHECK(result.outcome == StepState::timed_out);
  CHECK(!result.exit_code);
  CHECK(took >= 0.9);
  CHECK(took < 60);  // the server gave up the SLEEP(120) long before its end
  CHECK(none_left(db, "SLEEP(120)"));
  std::string log = read_log(step.log_path);
  INFO(log);
  CHECK(log.find("SELECT SLEEP(120)\n") != std::string::npos);
  CHECK(log.find("SELECT 3") == std::string::npos);
  CHECK(ends(log, 22) == "nightshift: timed out\n");
}

TEST_CASE("mysql runner: cancel kills the query on the server and ends as cancelled") {
  TempDir dir;
  TestDatabase db("mysql_runner");
  auto step = sql_step("SELECT SLEEP(120);", connection_to(db), dir);
  RunnerHarness harness(mysql_runner());
  auto handle = harness.start(step);
  when_log_contains(harness.io(), step.log_path, "SLEEP(120)", [handle] {
    handle->cancel();
    handle->cancel();  // idempotent
  });
  auto start = Clock::now();
  harness.run();

  CHECK(harness.result(0).outcome == StepState::cancelled);
  CHECK(!harness.result(0).exit_code);
  CHECK(seconds_since(start) < 10);
  CHECK(none_left(db, "SLEEP(120)"));
  std::string log = read_log(step.log_path);
  INFO(log);
  CHECK(log.find("error: 1317 Query execution was interrupted") != std::string::npos);
  CHECK(ends(log, 22) == "nightshift: cancelled\n");
  handle->cancel();  // after the end: harmless
}

TEST_CASE("mysql runner: a cancel between statements still stops the script") {
  TempDir dir;
  TestDatabase db("mysql_runner");
  std::string script;
  for (int i = 0; i < 100; ++i) script += "SELECT SLEEP(0.01);\n";
  script += "SELECT SLEEP(120);\n";
  RunnerHarness harness(mysql_runner(8));
  std::vector<std::unique_ptr<boost::asio::steady_timer>> timers;
  for (int i = 0; i < 8; ++i) {
    auto handle = harness.start(
        sql_step(script, connection_to(db), dir, "logs/" + std::to_string(i) + ".log"));
    // From before the connection is up to well into the short statements.
    auto& timer =
        timers.emplace_back(std::make_unique<boost::asio::steady_timer>(harness.io(), i * 53ms));
    timer->async_wait([handle](const boost::system::error_code&) { handle->cancel(); });
  }
  auto start = Clock::now();
  harness.run();

  for (int i = 0; i < 8; ++i) {
    INFO(read_log(dir / ("logs/" + std::to_string(i) + ".log")));
    CHECK(harness.result(i).outcome == StepState::cancelled);
  }
  CHECK(seconds_since(start) < 15);
  CHECK(none_left(db, "SLEEP(120)"));
}

TEST_CASE("mysql runner: a server that ignores the stop loses its connection after kill_grace") {
  TempDir dir;
  TestDatabase db("mysql_runner");
  // The killer logs in as the step's user; changing that user's password
  // mid-run leaves it unable to, as if the server did not answer.
  const std::string user = "k_" + db.name();
  const std::string account = "'" + user + "'@'127.0.0.1'";
  db.query("CREATE USER " + account + " IDENTIFIED BY 'first-secret'");
  struct Cleanup {
    const TestDatabase& db;
    std::string user, account;
    ~Cleanup() {
      try {
        for (const auto& row : db.query(
                 "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '" + user + "'")) {
          db.query("KILL " + row.at(0).value());
        }
        db.query("DROP USER " + account);
      } catch (...) {  // a destructor must not throw; the names are unique anyway
      }
    }
  } cleanup{db, user, account};
  db.query("GRANT ALL ON `" + db.name() + "`.* TO " + account);
  ConnectionSpec connection = connection_to(db);
  connection.user = user;
  connection.password = "first-secret";
  auto step = sql_step("SELECT SLEEP(120);", connection, dir);
  step.kill_grace = 1s;
  RunnerHarness harness(mysql_runner());
  auto handle = harness.start(step);
  when_log_contains(harness.io(), step.log_path, "SLEEP(120)", [&db, &account, handle] {
    db.query("ALTER USER " + account + " IDENTIFIED BY 'second-secret'");
    handle->cancel();
  });
  auto start = Clock::now();
  harness.run();

  CHECK(harness.result(0).outcome == StepState::cancelled);
  CHECK(seconds_since(start) < 10);
  std::string log = read_log(step.log_path);
  INFO(log);
  CHECK(log.find("nightshift: could not stop the query (KILL QUERY ") != std::string::npos);
  CHECK(log.find("Access denied for user '" + user + "'") != std::string::npos);
  CHECK(log.find("the query was still running 1s (kill_grace) after the stop: its connection "
                 "was shut down\n") != std::string::npos);
  CHECK(ends(log, 22) == "nightshift: cancelled\n");
  CHECK(log.find("first-secret") == std::string::npos);
  CHECK(log.find("second-secret") == std::string::npos);
}

TEST_CASE("mysql runner: destroying the runner stops what runs and still reports it") {
  TempDir dir;
  TestDatabase db("mysql_runner");
  auto step = sql_step("SELECT SLEEP(120);", connection_to(db), dir);
  RunnerHarness harness(mysql_runner(1));
  harness.start(step);
  harness.start(sql_step("CREATE TABLE t (x INT);", connection_to(db), dir, "queued.log"));
  bool destroyed = false;
  when_log_contains(harness.io(), step.log_path, "SLEEP(120)", [&] {
    harness.destroy_runner();  // kills, then joins the workers
    destroyed = true;
  });
  harness.run();

  CHECK(destroyed);
  CHECK(harness.result(0).outcome == StepState::cancelled);
  CHECK(harness.result(1).outcome == StepState::cancelled);
  CHECK(read_log(dir / "queued.log") == "nightshift: cancelled\n");
  CHECK(db.query("SHOW TABLES").empty());
  CHECK(none_left(db, "SLEEP(120)"));
}

TEST_CASE("mysql runner: a wrong password fails clearly and is never shown") {
  TempDir dir;
  TestDatabase db("mysql_runner");
  ConnectionSpec connection = connection_to(db);
  connection.password = "wrong-" + db.name();
  auto step = sql_step("SELECT 1;", connection, dir);
  StepResult result = run(step);

  CHECK(result.outcome == StepState::failed);
  CHECK(!result.exit_code);
  const TestMysql& server = db.mysql();
  CHECK(result.error.rfind("cannot connect to mysql://" + server.user + "@" + server.host + ":" +
                               std::to_string(server.port) + "/" + db.name() + ": Access denied",
                           0) == 0);
  std::string log = read_log(step.log_path);
  CHECK(log == "nightshift: " + result.error + "\n");
  for (const std::string& secret : {connection.password, server.password}) {
    CHECK(log.find(secret) == std::string::npos);
    CHECK(result.error.find(secret) == std::string::npos);
  }
}

TEST_CASE("mysql runner: a server that cannot be reached fails fast") {
  TempDir dir;
  TestDatabase db("mysql_runner");

  SECTION("a closed port") {
    ConnectionSpec connection = connection_to(db);
    connection.port = 1;
    auto start = Clock::now();
    StepResult result = run(sql_step("SELECT 1;", connection, dir));
    CHECK(result.outcome == StepState::failed);
    CHECK(result.error.rfind("cannot connect to mysql://" + connection.user + "@127.0.0.1:1/", 0) ==
          0);
    CHECK(seconds_since(start) < 5);
  }
  SECTION("a server that never answers, with connect_timeout") {
    SilentServer silent;
    ConnectionSpec connection = connection_to(db);
    connection.port = silent.port();
    connection.connect_timeout = 1s;
    auto start = Clock::now();
    StepResult result = run(sql_step("SELECT 1;", connection, dir));
    CHECK(result.outcome == StepState::failed);
    CHECK(result.error.find(":" + std::to_string(silent.port()) + "/") != std::string::npos);
    CHECK(seconds_since(start) < 5);
  }
  SECTION("a server that never answers, within the step's timeout") {
    SilentServer silent;
    ConnectionSpec connection = connection_to(db);
    connection.port = silent.port();
    connection.connect_timeout = 60s;
    auto step = sql_step("SELECT 1;", connection, dir);
    step.timeout = 1s;
    auto start = Clock::now();
    StepResult result = run(step);
    CHECK(result.outcome == StepState::timed_out);
    CHECK(seconds_since(start) < 5);
  }
}

TEST_CASE("mysql runner: ssl_mode is honoured") {
  TempDir dir;
  TestDatabase db("mysql_runner");
  const bool server_has_tls = db.query("SHOW VARIABLES LIKE 'have_ssl'").at(0).at(1) == "YES";
  ConnectionSpec connection = connection_to(db);
  auto cipher_query = "SHOW SESSION STATUS LIKE 'Ssl_cipher'";

  SECTION("disabled: in the clear") {
    connection.ssl_mode = "disabled";
    auto step = sql_step(cipher_query, connection, dir);
    CHECK(run(step).outcome == StepState::succeeded);
    CHECK(read_log(step.log_path).find("Ssl_cipher\t\n") != std::string::npos);
  }
  SECTION("preferred: TLS when the server has it") {
    connection.ssl_mode = "preferred";
    auto step = sql_step(cipher_query, connection, dir);
    CHECK(run(step).outcome == StepState::succeeded);
    bool clear = read_log(step.log_path).find("Ssl_cipher\t\n") != std::string::npos;
    CHECK(clear == !server_has_tls);
  }
  SECTION("required: no TLS, no run") {
    connection.ssl_mode = "required";
    auto step = sql_step(cipher_query, connection, dir);
    StepResult result = run(step);
    if (server_has_tls) {
      CHECK(result.outcome == StepState::succeeded);
    } else {
      CHECK(result.outcome == StepState::failed);
      CHECK(result.error.find("ssl_mode is required, but the server does not offer TLS") !=
            std::string::npos);
    }
  }
  SECTION("verify_identity: no trusted certificate, no run") {
    connection.ssl_mode = "verify_identity";
    StepResult result = run(sql_step(cipher_query, connection, dir));
    CHECK(result.outcome == StepState::failed);
    CHECK(result.error.rfind("cannot connect to mysql://", 0) == 0);
  }
}

TEST_CASE("mysql runner: an attempt that cannot start fails and says why in its log") {
  TempDir dir;
  TestDatabase db("mysql_runner");

  SECTION("no connection") {
    auto step = sql_step("SELECT 1;", connection_to(db), dir);
    step.connection.reset();
    StepResult result = run(step);
    CHECK(result.outcome == StepState::failed);
    CHECK(result.error == "the step has no connection");
    CHECK(read_log(step.log_path) == "nightshift: the step has no connection\n");
  }
  SECTION("not a mysql connection") {
    auto step = sql_step("SELECT 1;", connection_to(db), dir);
    step.connection->driver = "sqlite";
    StepResult result = run(step);
    CHECK(result.outcome == StepState::failed);
    CHECK(result.error == "connection 'warehouse' is not a mysql one");
    CHECK(read_log(step.log_path).find(db.mysql().password) == std::string::npos);
  }
  SECTION("a log that cannot be opened") {
    std::ofstream(dir / "file") << "x";
    auto step = sql_step("CREATE TABLE t (x INT);", connection_to(db), dir, "file/step.log");
    StepResult result = run(step);
    CHECK(result.outcome == StepState::failed);
    CHECK(result.error.rfind("cannot open log '" + (dir / "file/step.log") + "': ", 0) == 0);
    CHECK(db.query("SHOW TABLES").empty());
  }
}

TEST_CASE("mysql runner: an empty script succeeds with an empty log, done never from start()") {
  TempDir dir;
  TestDatabase db("mysql_runner");
  auto step = sql_step("  -- nothing to do\n;\n", connection_to(db), dir);
  RunnerHarness harness(mysql_runner());
  harness.start(step);
  CHECK(harness.calls(0) == 0);
  harness.run();
  CHECK(harness.result(0).outcome == StepState::succeeded);
  CHECK(harness.result(0).exit_code == 0);
  CHECK(read_log(step.log_path).empty());
}

TEST_CASE("mysql runner: the sql dispatcher routes by driver and fails an unknown one") {
  TempDir dir;
  TestDatabase db("mysql_runner");
  RunnerHarness harness(
      [](boost::asio::io_context& io) { return std::make_unique<SqlStepRunner>(io, 2); });
  auto on_mysql = sql_step("SELECT 41 + 1 AS answer;", connection_to(db), dir, "mysql.log");
  auto on_sqlite = on_mysql;
  on_sqlite.log_path = dir / "sqlite.log";
  on_sqlite.sql = "CREATE TABLE t (x); INSERT INTO t VALUES (1);";
  on_sqlite.connection = ConnectionSpec{};
  on_sqlite.connection->name = "local";
  on_sqlite.connection->driver = "sqlite";
  on_sqlite.connection->path = dir / "local.db";
  auto unknown = on_mysql;
  unknown.log_path = dir / "unknown.log";
  unknown.connection->driver = "postgres";
  auto without = on_mysql;
  without.log_path = dir / "without.log";
  without.connection.reset();

  harness.start(on_mysql);
  harness.start(on_sqlite);
  harness.start(unknown);
  harness.start(without);
  for (std::size_t i = 0; i < 4; ++i) CHECK(harness.calls(i) == 0);
  harness.run();

  CHECK(harness.result(0).outcome == StepState::succeeded);
  CHECK(read_log(dir / "mysql.log") == "SELECT 41 + 1 AS answer\nanswer\n42\n(1 rows)\n");
  CHECK(harness.result(1).outcome == StepState::succeeded);
  CHECK(fs::exists(dir / "local.db"));
  CHECK(read_log(dir / "sqlite.log").find("-- 1 rows affected\n") != std::string::npos);
  CHECK(harness.result(2).outcome == StepState::failed);
  CHECK(harness.result(2).error == "connection 'warehouse' has an unknown driver 'postgres'");
  CHECK(read_log(dir / "unknown.log") ==
        "nightshift: connection 'warehouse' has an unknown driver 'postgres'\n");
  CHECK(harness.result(3).outcome == StepState::failed);
  CHECK(harness.result(3).error == "the step has no connection");
}

TEST_CASE("mysql runner: a server error that quotes the password does not show it") {
  TempDir dir;
  TestDatabase db("mysql_runner");
  auto step = sql_step("SELECT * FROM `" + db.mysql().password + "`;\n", connection_to(db), dir);
  step.secrets = {step.connection->password};
  REQUIRE(!SecretMask::too_short(step.connection->password));
  StepResult result = run(step);
  CHECK(result.outcome == StepState::failed);
  INFO(result.error);
  CHECK(result.error.find("doesn't exist") != std::string::npos);  // it did quote the name
  CHECK(result.error.find(db.mysql().password) == std::string::npos);
  CHECK(result.error.find("***") != std::string::npos);
  CHECK(read_log(step.log_path).find(db.mysql().password) == std::string::npos);
}

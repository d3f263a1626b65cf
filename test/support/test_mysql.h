// TestMysql: the MariaDB server that ctest starts for the tests (fixture
// "mariadb", scripts/test-mariadb), found through NIGHTSHIFT_TEST_MYSQL_DIR.
// A test that needs it and runs without it throws, so it fails rather than
// silently skipping. TestDatabase: a scratch database for one test.
#pragma once

#include "nightshift/config_spec.h"

#include <mysql.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

namespace nightshift::test {

struct TestMysql {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string user;
  std::string password;

  using Row = std::vector<std::optional<std::string>>;

  static TestMysql from_env() {
    const char* dir = std::getenv("NIGHTSHIFT_TEST_MYSQL_DIR");
    if (!dir || !*dir)
      throw std::runtime_error(
          "NIGHTSHIFT_TEST_MYSQL_DIR is not set: this test needs the test MariaDB server. Run it "
          "through ctest (fixture \"mariadb\"), or `scripts/test-mariadb start DIR` and set "
          "NIGHTSHIFT_TEST_MYSQL_DIR=DIR");
    TestMysql m;
    const std::string port = read_file(dir, "port");
    try {
      m.port = std::stoi(port);
    } catch (const std::exception&) {
      throw std::runtime_error(std::string(dir) + "/port (from NIGHTSHIFT_TEST_MYSQL_DIR) is not a number: " + port);
    }
    m.user = read_file(dir, "user");
    m.password = read_file(dir, "password");
    return m;
  }

  // A new database with a name no other test (process or thread) uses.
  std::string create_database(const std::string& prefix = "t") const {
    static std::atomic<unsigned> counter{0};
    std::random_device random;
    const std::string name = prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(++counter) +
                             "_" + std::to_string(random() % 1000000);
    query("", "CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4");
    return name;
  }

  void drop_database(const std::string& name) const { query("", "DROP DATABASE IF EXISTS `" + name + "`"); }

  // Runs one statement in `database` ("" for none) on a connection of its own;
  // returns its rows (none for a statement without a result), NULL as nullopt.
  std::vector<Row> query(const std::string& database, const std::string& sql) const {
    init_library();
    std::unique_ptr<MYSQL, decltype(&mysql_close)> db(mysql_init(nullptr), &mysql_close);
    if (!db) throw std::runtime_error("mysql_init failed");
    const unsigned timeout = 10;
    mysql_options(db.get(), MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    if (!mysql_real_connect(db.get(), host.c_str(), user.c_str(), password.c_str(),
                            database.empty() ? nullptr : database.c_str(), static_cast<unsigned>(port),
                            nullptr, 0))
      throw std::runtime_error("test mysql: cannot connect to " + user + "@" + host + ":" +
                               std::to_string(port) + ": " + mysql_error(db.get()));
    if (mysql_real_query(db.get(), sql.data(), sql.size()) != 0)
      throw std::runtime_error("test mysql: " + std::string(mysql_error(db.get())) + " in: " + sql);
    std::unique_ptr<MYSQL_RES, decltype(&mysql_free_result)> result(mysql_store_result(db.get()),
                                                                    &mysql_free_result);
    std::vector<Row> rows;
    if (!result) {
      if (mysql_field_count(db.get()) != 0)
        throw std::runtime_error("test mysql: " + std::string(mysql_error(db.get())) + " in: " + sql);
      return rows;
    }
    const unsigned columns = mysql_num_fields(result.get());
    while (MYSQL_ROW row = mysql_fetch_row(result.get())) {
      const unsigned long* lengths = mysql_fetch_lengths(result.get());
      Row& out = rows.emplace_back();
      for (unsigned i = 0; i < columns; ++i) {
        if (row[i]) out.emplace_back(std::string(row[i], lengths[i]));
        else out.emplace_back(std::nullopt);
      }
    }
    return rows;
  }

 private:
  static std::string read_file(const std::string& dir, const std::string& name) {
    const std::string path = dir + "/" + name;
    std::ifstream in(path);
    std::string value;
    if (!in || !std::getline(in, value) || value.empty())
      throw std::runtime_error("cannot read " + path + " (NIGHTSHIFT_TEST_MYSQL_DIR=" + dir +
                               "): is the test MariaDB server started (scripts/test-mariadb start " + dir + ")?");
    return value;
  }

  // mysql_library_init is not thread-safe, and mysql_init calls it on first
  // use: do it once, here, under the guard of a function-local static.
  static void init_library() {
    static const int rc = mysql_library_init(0, nullptr, nullptr);
    if (rc != 0) throw std::runtime_error("mysql_library_init failed");
  }
};

// A database created for one test and dropped when the test is done.
class TestDatabase {
 public:
  explicit TestDatabase(const std::string& prefix = "t")
      : mysql_(TestMysql::from_env()), name_(mysql_.create_database(prefix)) {}
  ~TestDatabase() {
    try {
      mysql_.drop_database(name_);
    } catch (...) {  // a destructor must not throw; the name is unique anyway
    }
  }
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& name() const { return name_; }
  const TestMysql& mysql() const { return mysql_; }
  // A connection to this database as the config would name it.
  ConnectionSpec connection(const std::string& connection_name = "test") const {
    ConnectionSpec c;
    c.name = connection_name;
    c.driver = "mysql";
    c.host = mysql_.host;
    c.port = mysql_.port;
    c.user = mysql_.user;
    c.password = mysql_.password;
    c.database = name_;
    return c;
  }
  std::vector<TestMysql::Row> query(const std::string& sql) const { return mysql_.query(name_, sql); }

 private:
  TestMysql mysql_;
  std::string name_;
};

}  // namespace nightshift::test

// The MariaDB test fixture itself: these fail when ctest's "mariadb" fixture
// (scripts/test-mariadb) did not give the tests a working server.
#include <catch2/catch.hpp>

#include "support/test_mysql.h"

#include <string>

using nightshift::test::TestDatabase;
using nightshift::test::TestMysql;

TEST_CASE("test mysql: the server answers on 127.0.0.1 as the test user") {
  const TestMysql mysql = TestMysql::from_env();
  CHECK(mysql.host == "127.0.0.1");
  CHECK(mysql.port > 0);
  const auto rows = mysql.query("", "SELECT 1 + 1, CURRENT_USER(), NULL");
  REQUIRE(rows.size() == 1);
  REQUIRE(rows[0].size() == 3);
  CHECK(rows[0][0] == "2");
  CHECK(rows[0][1] == mysql.user + "@127.0.0.1");
  CHECK_FALSE(rows[0][2].has_value());
  // The tests see and kill each other's queries (cancel tests): the user needs PROCESS.
  CHECK_NOTHROW(mysql.query("", "SELECT COUNT(*) FROM information_schema.PROCESSLIST"));
}

TEST_CASE("test mysql: a test database is written, read and dropped") {
  std::string name;
  {
    TestDatabase db("fixture");
    name = db.name();
    db.query("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20) NULL)");
    db.query("INSERT INTO t VALUES (1, 'one'), (2, NULL), (3, 'tab\there')");
    const auto rows = db.query("SELECT id, v FROM t ORDER BY id");
    REQUIRE(rows.size() == 3);
    CHECK(rows[0][1] == "one");
    CHECK_FALSE(rows[1][1].has_value());
    CHECK(rows[2][1] == "tab\there");
    CHECK(db.mysql().query("", "SHOW DATABASES LIKE '" + name + "'").size() == 1);
    CHECK_THROWS_WITH(db.query("SELECT * FROM missing"), Catch::Contains("doesn't exist"));
  }
  CHECK(TestMysql::from_env().query("", "SHOW DATABASES LIKE '" + name + "'").empty());
}

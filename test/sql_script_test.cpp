#include "nightshift/sql_script.h"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

using nightshift::split_sql_script;
using nightshift::SqlStatement;

namespace {

std::vector<std::string> texts(std::string_view script) {
  std::vector<std::string> out;
  for (const SqlStatement& statement : split_sql_script(script)) out.push_back(statement.text);
  return out;
}

using Texts = std::vector<std::string>;

}  // namespace

TEST_CASE("sql script: a semicolon separates statements, trimmed, empty ones dropped") {
  CHECK(texts("SELECT 1; SELECT 2;\n  UPDATE t SET x = 1  ;;  ; \n") ==
        Texts{"SELECT 1", "SELECT 2", "UPDATE t SET x = 1"});
  CHECK(texts("SELECT 1") == Texts{"SELECT 1"});
  CHECK(texts("").empty());
  CHECK(texts(" ;\n\t; ").empty());
}

TEST_CASE("sql script: each statement knows its line and offset") {
  std::string script =
      "\n-- setup\nCREATE TABLE t (x INT);\n\nINSERT INTO t\nVALUES (1); SELECT\n1;";
  auto statements = split_sql_script(script);
  REQUIRE(statements.size() == 3);
  CHECK(statements[0].line == 3);
  CHECK(statements[1].line == 5);
  CHECK(statements[1].text == "INSERT INTO t\nVALUES (1)");
  CHECK(statements[2].line == 6);
  for (const SqlStatement& statement : statements) {
    CHECK(script.substr(statement.offset, statement.text.size()) == statement.text);
  }
}

TEST_CASE("sql script: a semicolon inside a string does not split") {
  CHECK(texts("SELECT 'a;b'; SELECT \"c;d\"") == Texts{"SELECT 'a;b'", "SELECT \"c;d\""});
  // Doubled quotes and backslash escapes both keep the string open.
  CHECK(texts("SELECT 'it''s; here'; SELECT 'x\\';y'; SELECT \"q\"\";\"") ==
        Texts{"SELECT 'it''s; here'", "SELECT 'x\\';y'", "SELECT \"q\"\";\""});
  CHECK(texts("SELECT 'a\\\\'; SELECT 2") == Texts{"SELECT 'a\\\\'", "SELECT 2"});
  CHECK(texts("INSERT INTO t VALUES (_utf8mb4'x;y', x'3B', b'0011')") ==
        Texts{"INSERT INTO t VALUES (_utf8mb4'x;y', x'3B', b'0011')"});
}

TEST_CASE("sql script: `identifiers` may hold semicolons and backslashes") {
  CHECK(texts("SELECT `a;b` FROM `t\\`; SELECT 1") == Texts{"SELECT `a;b` FROM `t\\`", "SELECT 1"});
  CHECK(texts("SELECT `x``;y`; SELECT 2") == Texts{"SELECT `x``;y`", "SELECT 2"});
}

TEST_CASE("sql script: comments hide semicolons and are left out around a statement") {
  CHECK(texts("-- first; still comment\nSELECT 1; # hash; comment\nSELECT 2 /* a;b */ + 3;\n"
              "/* only; a comment */;\n-- trailing; comment") ==
        Texts{"SELECT 1", "SELECT 2 /* a;b */ + 3"});
  CHECK(texts("SELECT 1 -- why; because\n;") == Texts{"SELECT 1"});
  CHECK(texts("SELECT /* a */ 1 /* b */;") == Texts{"SELECT /* a */ 1"});
}

TEST_CASE("sql script: '--' is a comment only before white space or a control character") {
  CHECK(texts("SELECT 1--1; SELECT 2") == Texts{"SELECT 1--1", "SELECT 2"});
  CHECK(texts("SELECT 1 --\tx; y\n; SELECT 3 --") == Texts{"SELECT 1", "SELECT 3"});
  CHECK(texts("SELECT 4 --\x01; no\n") == Texts{"SELECT 4"});
  CHECK(texts("SELECT 5 ---; SELECT 6") == Texts{"SELECT 5 ---", "SELECT 6"});
}

TEST_CASE("sql script: executable comments are code, and a semicolon inside them does not split") {
  CHECK(texts("/*!40101 SET NAMES utf8mb4 */; /*M!100100 SET @x = 1 */;") ==
        Texts{"/*!40101 SET NAMES utf8mb4 */", "/*M!100100 SET @x = 1 */"});
  CHECK(texts("/*! SELECT 'a */ ;' */ ; SELECT 2") == Texts{"/*! SELECT 'a */ ;' */", "SELECT 2"});
  CHECK(texts("SELECT 1 /*!50000 ; + 1 */ ; SELECT 2") ==
        Texts{"SELECT 1 /*!50000 ; + 1 */", "SELECT 2"});
  // Nested, an executable comment is code too, and the first "*/" closes both.
  CHECK(texts("/*!1 a /*!2 b; */ c; d") == Texts{"/*!1 a /*!2 b; */ c", "d"});
  // "/*+ hints */" are ordinary comments to MariaDB, but inside a statement they stay.
  CHECK(texts("SELECT /*+ MAX_EXECUTION_TIME(1) */ 1;") ==
        Texts{"SELECT /*+ MAX_EXECUTION_TIME(1) */ 1"});
}

TEST_CASE("sql script: what is left open runs to the end, for the server to report") {
  CHECK(texts("SELECT 1; SELECT 'open; still  \n ") == Texts{"SELECT 1", "SELECT 'open; still"});
  CHECK(texts("SELECT 1; /* open; comment") == Texts{"SELECT 1"});
  CHECK(texts("SELECT `open; id") == Texts{"SELECT `open; id"});
  CHECK(texts("/*! SELECT 1; SELECT 2") == Texts{"/*! SELECT 1; SELECT 2"});
  CHECK(texts("SELECT 'x\\") == Texts{"SELECT 'x\\"});
}

TEST_CASE("sql script: a realistic extract script") {
  std::string script =
      "-- Rebuild the last 30 days.\n"
      "CREATE TABLE IF NOT EXISTS registration_recent LIKE registration;\n"
      "DELETE FROM registration_recent;  # start over\n"
      "INSERT INTO registration_recent\n"
      "  SELECT * FROM registration\n"
      "   WHERE lesson_date > '2026-01-01' AND note <> 'a;b';\n";
  auto statements = split_sql_script(script);
  REQUIRE(statements.size() == 3);
  CHECK(statements[0].text == "CREATE TABLE IF NOT EXISTS registration_recent LIKE registration");
  CHECK(statements[0].line == 2);
  CHECK(statements[1].text == "DELETE FROM registration_recent");
  CHECK(statements[1].line == 3);
  CHECK(statements[2].text ==
        "INSERT INTO registration_recent\n"
        "  SELECT * FROM registration\n"
        "   WHERE lesson_date > '2026-01-01' AND note <> 'a;b'");
  CHECK(statements[2].line == 4);
}

#include "nightshift/mysql_url.h"

#include <catch2/catch.hpp>

using namespace nightshift;

TEST_CASE("mysql url: user, host, port and database") {
  auto spec = parse_mysql_url("mysql://nightshift@db.example:3307/history");
  REQUIRE(spec.has_value());
  CHECK(spec->driver == "mysql");
  CHECK(spec->user == "nightshift");
  CHECK(spec->host == "db.example");
  CHECK(spec->port == 3307);
  CHECK(spec->database == "history");
  CHECK(spec->password.empty());
  CHECK(parse_mysql_url("mysql://u@h/d")->port == 3306);
}

TEST_CASE("mysql url: TLS and timeouts as query options") {
  auto spec = parse_mysql_url(
      "mysql://u@h:3306/d?ssl_mode=verify_identity&ssl_ca=/etc/ssl/db-ca.pem&connect_timeout=5s&"
      "read_timeout=1m");
  REQUIRE(spec.has_value());
  CHECK(spec->ssl_mode == "verify_identity");
  CHECK(spec->ssl_ca == "/etc/ssl/db-ca.pem");
  CHECK(spec->connect_timeout == std::chrono::seconds(5));
  CHECK(spec->read_timeout == std::chrono::minutes(1));
}

TEST_CASE("mysql url: what is wrong, and where") {
  auto error = [](std::string_view url) {
    auto spec = parse_mysql_url(url);
    REQUIRE_FALSE(spec.has_value());
    return spec.error();
  };
  CHECK(error("postgres://u@h/d").offset == 0);
  CHECK_THAT(error("mysql://h:3306/d").message, Catch::Contains("no USER@"));
  CHECK(error("mysql://u@h:99999/d").offset == 12);
  CHECK_THAT(error("mysql://u@h:3306/").message, Catch::Contains("database name"));
  CHECK_THAT(error("mysql://u@h/d?ssl_mode=sometimes").message, Catch::Contains("ssl_mode must"));
  CHECK(error("mysql://u@h/d?ssl_mode=sometimes").offset == 23);
  CHECK_THAT(error("mysql://u@h/d?sslmode=required").message,
             Catch::Contains("unknown option 'sslmode'"));
  CHECK(error("mysql://u@h/d?connect_timeout=soon").offset == 30);
}

TEST_CASE("mysql url: a password in it is refused without being repeated") {
  auto spec = parse_mysql_url("mysql://u:hunter2@h:3306/d");
  REQUIRE_FALSE(spec.has_value());
  CHECK_THAT(spec.error().message, Catch::Contains("state_password"));
  CHECK_THAT(spec.error().message, !Catch::Contains("hunter2"));
}

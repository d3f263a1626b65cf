#include "nightshift/webhook_url.h"

#include <catch2/catch.hpp>

using namespace nightshift;

TEST_CASE("webhook url: origin for the client, path with its query") {
  auto u = split_webhook_url("https://hooks.slack.com:8443/services/T0/B0?x=1&y=%20#frag");
  REQUIRE(u.has_value());
  CHECK(u->origin == "https://hooks.slack.com:8443");
  CHECK(u->path == "/services/T0/B0?x=1&y=%20");  // the fragment is not sent
  auto bare = split_webhook_url("http://127.0.0.1");
  REQUIRE(bare.has_value());
  CHECK(bare->origin == "http://127.0.0.1");
  CHECK(bare->path == "/");
  CHECK(split_webhook_url("http://[::1]:9000/h")->origin == "http://[::1]:9000");
}

TEST_CASE("webhook url: refused") {
  for (const char* url :
       {"", "hooks.slack.com/x", "ftp://x/", "file:///etc/passwd", "http://", "https:///path",
        "http://u:p@x/", "http://token@x/", "http://x y/", "http://x/\n"}) {
    CAPTURE(url);
    CHECK_FALSE(split_webhook_url(url).has_value());
  }
}

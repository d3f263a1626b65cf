#include "nightshift/server/api.h"

#include <catch2/catch.hpp>

using nightshift::constant_time_equal;

TEST_CASE("api: tokens compare equal only when every byte and the length match") {
  CHECK(constant_time_equal("s3cret-token", "s3cret-token"));
  CHECK_FALSE(constant_time_equal("s3cret-token", "s3cret-tokeN"));
  CHECK_FALSE(constant_time_equal("s3cret", "s3cret-token"));
  CHECK_FALSE(constant_time_equal("s3cret-token", "s3cret"));
  CHECK_FALSE(constant_time_equal("", "s3cret"));
  CHECK_FALSE(constant_time_equal("x", ""));
  CHECK(constant_time_equal("", ""));
}

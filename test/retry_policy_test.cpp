#include "nightshift/retry_policy.h"

#include <catch2/catch.hpp>

using namespace nightshift;
using namespace std::chrono_literals;

TEST_CASE("retry policy: doubles per retry") {
  CHECK(retry_delay(10s, 1, 0.0) == 10s);
  CHECK(retry_delay(10s, 2, 0.0) == 20s);
  CHECK(retry_delay(10s, 3, 0.0) == 40s);
}

TEST_CASE("retry policy: jitter stretches by at most 20%") {
  CHECK(retry_delay(10s, 1, 0.5) == 11s);
  CHECK(retry_delay(10s, 1, 0.999) < 12s);
  CHECK(retry_delay(10s, 1, 7.0) == 12s);  // out-of-range jitter is clamped
}

TEST_CASE("retry policy: capped at 10 minutes, even for huge retry counts") {
  CHECK(retry_delay(5min, 2, 0.0) == 10min);
  CHECK(retry_delay(5min, 2, 0.9) == 10min);
  CHECK(retry_delay(30s, 100000, 0.5) == 10min);
  CHECK(retry_delay(1h, 1, 0.0) == 10min);
}

#include "nightshift/duration.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

using nightshift::Duration;
using nightshift::format_duration;
using nightshift::parse_duration;
using nightshift::TextError;
using namespace std::chrono_literals;

namespace {

Duration parsed(std::string_view text) {
  auto result = parse_duration(text);
  if (!result)
    FAIL("'" << text << "': " << result.error().message << " at " << result.error().offset);
  return *result;
}

void check_error(std::string_view text, std::string_view message, std::size_t offset) {
  INFO("duration: '" << text << "'");
  auto result = parse_duration(text);
  REQUIRE(result.has_error());
  CHECK(result.error().message == message);
  CHECK(result.error().offset == offset);
}

}  // namespace

TEST_CASE("duration: single units") {
  CHECK(parsed("30s") == 30s);
  CHECK(parsed("10m") == 10min);
  CHECK(parsed("1h") == 1h);
  CHECK(parsed("2d") == 48h);
  CHECK(parsed("500ms") == 500ms);
  CHECK(parsed("0s") == 0ms);
  CHECK(parsed("0ms") == 0ms);
  CHECK(parsed("007s") == 7s);
  CHECK(parsed("90m") == 90min);
  CHECK(parsed("1500ms") == 1500ms);
}

TEST_CASE("duration: combined units, largest to smallest") {
  CHECK(parsed("1h30m") == 90min);
  CHECK(parsed("1m30s") == 90s);
  CHECK(parsed("1m5s") == 65s);
  CHECK(parsed("1s500ms") == 1500ms);
  CHECK(parsed("1m1ms") == 60001ms);
  CHECK(parsed("1d2h3m4s5ms") == 24h + 2h + 3min + 4s + 5ms);
  CHECK(parsed("1d30s") == 24h + 30s);
  CHECK(parsed("0h0m0s") == 0ms);
}

TEST_CASE("duration: empty, signs and spaces") {
  check_error("", "empty duration (write e.g. 30s, 10m or 1h30m)", 0);
  check_error("-5s", "no sign allowed in duration '-5s'", 0);
  check_error("+5s", "no sign allowed in duration '+5s'", 0);
  check_error("1h-5m", "no sign allowed in duration '1h-5m'", 2);
  check_error(" 30s", "no spaces allowed in duration ' 30s'", 0);
  check_error("30s ", "no spaces allowed in duration '30s '", 3);
  check_error("30 s", "no spaces allowed in duration '30 s'", 2);
  check_error("1h 30m", "no spaces allowed in duration '1h 30m'", 2);
}

TEST_CASE("duration: missing and unknown units") {
  check_error("30", "missing unit in '30' (use s, m, h, d or ms)", 2);
  check_error("0", "missing unit in '0' (use s, m, h, d or ms)", 1);
  check_error("1h30", "missing unit in '1h30' (use s, m, h, d or ms)", 4);
  check_error("5_s", "missing unit in '5_s' (use s, m, h, d or ms)", 1);
  check_error("1.5h", "no fractions in duration '1.5h' (write 1m30s, not 1.5m)", 1);
  check_error("5x", "unknown unit 'x' in '5x' (use s, m, h, d or ms)", 1);
  check_error("5min", "unknown unit 'min' in '5min' (use s, m, h, d or ms)", 1);
  check_error("10sec", "unknown unit 'sec' in '10sec' (use s, m, h, d or ms)", 2);
  check_error("1H", "unknown unit 'H' in '1H' (use s, m, h, d or ms)", 1);
  check_error("2w", "unknown unit 'w' in '2w' (use s, m, h, d or ms)", 1);
  check_error("1hm", "unknown unit 'hm' in '1hm' (use s, m, h, d or ms)", 1);
  check_error("30mx", "unknown unit 'mx' in '30mx' (use s, m, h, d or ms)", 2);
  check_error("1h30m5us", "unknown unit 'us' in '1h30m5us' (use s, m, h, d or ms)", 6);
  check_error("s", "expected a number in duration 's'", 0);
  check_error("ms", "expected a number in duration 'ms'", 0);
  check_error("1h_", "expected a number in duration '1h_'", 2);
  check_error("\xc2\xb5s", "expected a number in duration '\xc2\xb5s'", 0);
}

TEST_CASE("duration: each unit once, largest to smallest") {
  check_error("1m2m", "unit 'm' appears twice in '1m2m'", 3);
  check_error("1s1s", "unit 's' appears twice in '1s1s'", 3);
  check_error("30m1h", "unit 'h' after 'm' in '30m1h' (write largest to smallest, as in 1h30m)", 4);
  check_error("500ms1s",
              "unit 's' after 'ms' in '500ms1s' (write largest to smallest, as in 1h30m)", 6);
  check_error("1s1m", "unit 'm' after 's' in '1s1m' (write largest to smallest, as in 1h30m)", 3);
  check_error("1h2d", "unit 'd' after 'h' in '1h2d' (write largest to smallest, as in 1h30m)", 3);
}

TEST_CASE("duration: overflow is an error") {
  check_error("99999999999999999999ms", "duration '99999999999999999999ms' is too large", 0);
  check_error("9223372036854775808ms", "duration '9223372036854775808ms' is too large", 0);
  check_error("106751991168d", "duration '106751991168d' is too large", 0);
  check_error("106751991167d8h", "duration '106751991167d8h' is too large", 13);
  CHECK(parsed("9223372036854775807ms") == Duration::max());
  CHECK(parsed("106751991167d7h12m55s807ms") == Duration::max());
  check_error("106751991167d7h12m55s808ms", "duration '106751991167d7h12m55s808ms' is too large",
              21);
}

TEST_CASE("duration: format gives the canonical form") {
  CHECK(format_duration(0ms) == "0s");
  CHECK(format_duration(45s) == "45s");
  CHECK(format_duration(90min) == "1h30m");
  CHECK(format_duration(90s) == "1m30s");
  CHECK(format_duration(1500ms) == "1s500ms");
  CHECK(format_duration(500ms) == "500ms");
  CHECK(format_duration(48h) == "2d");
  CHECK(format_duration(25h + 1ms) == "1d1h1ms");
  CHECK(format_duration(1h + 1s) == "1h1s");
  CHECK(format_duration(Duration::max()) == "106751991167d7h12m55s807ms");
  CHECK(format_duration(-90s) == "-1m30s");
  CHECK(format_duration(Duration::min()) == "-106751991167d7h12m55s808ms");
}

TEST_CASE("duration: round trip") {
  const Duration samples[] = {0ms,
                              1ms,
                              999ms,
                              1s,
                              59s,
                              60s,
                              61s,
                              3599s,
                              1h,
                              90min,
                              24h - 1ms,
                              24h,
                              24h + 1ms,
                              10 * 24h,
                              1500ms,
                              Duration::max(),
                              Duration(123'456'789'012)};
  for (Duration d : samples) {
    INFO(d.count() << "ms");
    CHECK(parsed(format_duration(d)) == d);
  }
  for (std::string_view text : {"30s", "10m", "1h30m", "500ms", "2d", "1m30s", "1d2h3m4s5ms"}) {
    CHECK(format_duration(parsed(text)) == text);
  }
  CHECK(format_duration(parsed("90m")) == "1h30m");
  CHECK(format_duration(parsed("0h0m")) == "0s");
}

#include "nightshift/cron_expr.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using nightshift::CronExpr;

namespace {

CronExpr parse_ok(std::string_view text) {
  auto parsed = CronExpr::parse(text);
  INFO(text << ": " << (parsed ? "" : parsed.error().message));
  REQUIRE(parsed.has_value());
  return *parsed;
}

// "message @offset", so one CHECK shows both.
std::string parse_error(std::string_view text) {
  auto parsed = CronExpr::parse(text);
  if (parsed) return "parsed";
  return parsed.error().message + " @" + std::to_string(parsed.error().offset);
}

std::vector<int> minutes(const CronExpr& expr) {
  std::vector<int> values;
  for (int m = 0; m < 60; ++m)
    if (expr.minute(m)) values.push_back(m);
  return values;
}

std::vector<int> hours(const CronExpr& expr) {
  std::vector<int> values;
  for (int h = 0; h < 24; ++h)
    if (expr.hour(h)) values.push_back(h);
  return values;
}

std::vector<int> months(const CronExpr& expr) {
  std::vector<int> values;
  for (int m = 1; m <= 12; ++m)
    if (expr.month(m)) values.push_back(m);
  return values;
}

std::vector<int> seconds(const CronExpr& expr) {
  std::vector<int> values;
  for (int s = 0; s < 60; ++s)
    if (expr.second(s)) values.push_back(s);
  return values;
}

// Weekdays (0 = Sunday) that match on a day of month the expression does not name.
std::vector<int> weekdays(const CronExpr& expr, int day_of_month = 31) {
  std::vector<int> values;
  for (int w = 0; w < 7; ++w)
    if (expr.day(day_of_month, w)) values.push_back(w);
  return values;
}

using Ints = std::vector<int>;

}  // namespace

TEST_CASE("cron: field count errors", "[cron]") {
  CHECK(parse_error("* * * *") == "expected 5 or 6 fields, got 4 @0");
  CHECK(parse_error("  * * * *") == "expected 5 or 6 fields, got 4 @2");
  CHECK(parse_error("0 0 * * * * 7") == "expected 5 or 6 fields, got 7 @12");
  CHECK(parse_error("") == "empty cron expression @0");
  CHECK(parse_error("   ") == "empty cron expression @0");
}

TEST_CASE("cron: out-of-range values name the field and the range", "[cron]") {
  CHECK(parse_error("61 * * * *") == "minute 61 out of range 0-59 @0");
  CHECK(parse_error("0 24 * * *") == "hour 24 out of range 0-23 @2");
  CHECK(parse_error("0 0 32 * *") == "day of month 32 out of range 1-31 @4");
  CHECK(parse_error("0 0 0 * *") == "day of month 0 out of range 1-31 @4");
  CHECK(parse_error("0 0 * 13 *") == "month 13 out of range 1-12 @6");
  CHECK(parse_error("0 0 * 0 *") == "month 0 out of range 1-12 @6");
  CHECK(parse_error("0 0 * * 8") == "day of week 8 out of range 0-7 @8");
  CHECK(parse_error("60 0 0 * * *") == "second 60 out of range 0-59 @0");
  CHECK(parse_error("0 1,2,99 * * *") == "hour 99 out of range 0-23 @6");
  CHECK(parse_error("0-99 * * * *") == "minute 99 out of range 0-59 @2");
  CHECK(parse_error("123456789012 * * * *") == "minute 123456789012 out of range 0-59 @0");
}

TEST_CASE("cron: bad tokens point at themselves", "[cron]") {
  CHECK(parse_error("0 0 * FOO *") == "unknown month name 'FOO' @6");
  CHECK(parse_error("0 0 * jan-foo *") == "unknown month name 'foo' @10");
  CHECK(parse_error("0 0 * * MONDAY") == "unknown day name 'MONDAY' @8");
  CHECK(parse_error("0 JAN * * *") == "bad hour 'JAN' @2");
  CHECK(parse_error("a * * * *") == "bad minute 'a' @0");
  CHECK(parse_error("1x * * * *") == "bad minute '1x' @0");
  CHECK(parse_error("1-2-3 * * * *") == "bad minute '2-3' @2");
  CHECK(parse_error("*-5 * * * *") == "bad minute '*-5' @0");
  CHECK(parse_error("0,,5 * * * *") == "missing minute value @2");
  CHECK(parse_error("0, * * * *") == "missing minute value @2");
  CHECK(parse_error("0 -3 * * *") == "missing hour value @2");
  CHECK(parse_error("0 0 * * 1-") == "missing day of week value @10");
}

TEST_CASE("cron: bad steps and ranges", "[cron]") {
  CHECK(parse_error("*/0 * * * *") == "bad step '0' @2");
  CHECK(parse_error("1-10/x * * * *") == "bad step 'x' @5");
  CHECK(parse_error("*/ * * * *") == "bad step '' @2");
  CHECK(parse_error("*/2/3 * * * *") == "bad step '2/3' @2");
  CHECK(parse_error("*/-1 * * * *") == "bad step '-1' @2");
  CHECK(parse_error("0 5-1 * * *") == "hour range 5-1 runs backwards @2");
  CHECK(parse_error("0 0 * DEC-JAN *") == "month range DEC-JAN runs backwards @6");
}

TEST_CASE("cron: macros", "[cron]") {
  CHECK(parse_error("@reboot") == "unknown macro '@reboot' @0");
  CHECK(parse_error("@daily 5") == "unexpected '5' after @daily @7");

  const CronExpr yearly = parse_ok("@yearly");
  CHECK(yearly.text() == "@yearly");
  CHECK(minutes(yearly) == Ints{0});
  CHECK(hours(yearly) == Ints{0});
  CHECK(months(yearly) == Ints{1});
  CHECK(yearly.day(1, 3));
  CHECK_FALSE(yearly.day(2, 3));
  CHECK(months(parse_ok("@annually")) == Ints{1});

  const CronExpr monthly = parse_ok("@monthly");
  CHECK(months(monthly).size() == 12);
  CHECK(monthly.day(1, 5));
  CHECK_FALSE(monthly.day(15, 5));

  const CronExpr weekly = parse_ok("@weekly");
  CHECK(weekdays(weekly) == Ints{0});

  for (const char* daily : {"@daily", "@midnight", "@DAILY"}) {
    const CronExpr expr = parse_ok(daily);
    CHECK(hours(expr) == Ints{0});
    CHECK(minutes(expr) == Ints{0});
    CHECK(weekdays(expr).size() == 7);
    CHECK_FALSE(expr.hour_is_star());
  }

  const CronExpr hourly = parse_ok(" @hourly ");
  CHECK(minutes(hourly) == Ints{0});
  CHECK(hours(hourly).size() == 24);
  CHECK(hourly.hour_is_star());
  CHECK(seconds(hourly) == Ints{0});
}

TEST_CASE("cron: lists, ranges and steps", "[cron]") {
  CHECK(minutes(parse_ok("*/15 * * * *")) == Ints{0, 15, 30, 45});
  CHECK(minutes(parse_ok("1-10/2 * * * *")) == Ints{1, 3, 5, 7, 9});
  CHECK(minutes(parse_ok("5/10 * * * *")) == Ints{5, 15, 25, 35, 45, 55});
  CHECK(minutes(parse_ok("0,30,45-47 * * * *")) == Ints{0, 30, 45, 46, 47});
  CHECK(minutes(parse_ok("59,0 * * * *")) == Ints{0, 59});
  CHECK(minutes(parse_ok("*/45 * * * *")) == Ints{0, 45});
  CHECK(minutes(parse_ok("*/99 * * * *")) == Ints{0});
  CHECK(hours(parse_ok("0 */7 * * *")) == Ints{0, 7, 14, 21});
  CHECK(hours(parse_ok("0 9-17/4,23 * * *")) == Ints{9, 13, 17, 23});
  CHECK(months(parse_ok("0 0 1 */3 *")) == Ints{1, 4, 7, 10});
  CHECK(minutes(parse_ok("\t0\t0 * * *")) == Ints{0});
}

TEST_CASE("cron: month and day names in any case", "[cron]") {
  CHECK(months(parse_ok("0 0 1 jan,Jul,DEC *")) == Ints{1, 7, 12});
  CHECK(months(parse_ok("0 0 1 JAN-MAR/2 *")) == Ints{1, 3});
  CHECK(months(parse_ok("0 0 1 oct-12 *")) == Ints{10, 11, 12});
  CHECK(weekdays(parse_ok("0 0 * * MON-FRI")) == Ints{1, 2, 3, 4, 5});
  CHECK(weekdays(parse_ok("0 0 * * sun,Sat")) == Ints{0, 6});
  CHECK(weekdays(parse_ok("0 0 * * TUE/2")) == Ints{2, 4, 6});
}

TEST_CASE("cron: 0 and 7 are both Sunday", "[cron]") {
  CHECK(weekdays(parse_ok("0 0 * * 0")) == Ints{0});
  CHECK(weekdays(parse_ok("0 0 * * 7")) == Ints{0});
  CHECK(weekdays(parse_ok("0 0 * * SUN")) == Ints{0});
  CHECK(weekdays(parse_ok("0 0 * * 5-7")) == Ints{0, 5, 6});
  CHECK(weekdays(parse_ok("0 0 * * FRI-SUN")) == Ints{0, 5, 6});
  CHECK(weekdays(parse_ok("0 0 * * 0-7")) == Ints{0, 1, 2, 3, 4, 5, 6});
  CHECK(weekdays(parse_ok("0 0 * * */2")) == Ints{0, 2, 4, 6});
  CHECK(weekdays(parse_ok("0 0 * * 6/2")) == Ints{6});
  CHECK(weekdays(parse_ok("0 2 * 3 7/5")) == Ints{0});  // found by the fuzzer: was empty
}

TEST_CASE("cron: day of month and day of week combine as in Vixie cron", "[cron]") {
  // Both restricted: either matches.
  const CronExpr friday_13 = parse_ok("0 0 13 * FRI");
  CHECK(friday_13.day(13, 1));
  CHECK(friday_13.day(6, 5));
  CHECK(friday_13.day(13, 5));
  CHECK_FALSE(friday_13.day(14, 1));

  // Day of week unrestricted: only the day of month counts.
  const CronExpr fifteenth = parse_ok("0 0 15 * *");
  CHECK(fifteenth.day(15, 2));
  CHECK_FALSE(fifteenth.day(16, 2));

  // Day of month unrestricted ('*'): only the day of week counts.
  const CronExpr mondays = parse_ok("0 0 * * MON");
  CHECK(mondays.day(2, 1));
  CHECK_FALSE(mondays.day(3, 2));

  // A field starting with '*' is not "restricted", so the two are not or-ed:
  // both must match, and */2 still keeps only odd days.
  const CronExpr odd_mondays = parse_ok("0 0 */2 * MON");
  CHECK(odd_mondays.day(13, 1));
  CHECK_FALSE(odd_mondays.day(6, 1));
  CHECK_FALSE(odd_mondays.day(13, 2));

  const CronExpr first_on_even_weekday = parse_ok("0 0 1 * */2");
  CHECK(first_on_even_weekday.day(1, 2));
  CHECK_FALSE(first_on_even_weekday.day(1, 3));
  CHECK_FALSE(first_on_even_weekday.day(2, 2));
}

TEST_CASE("cron: six fields put seconds first, five fire at second 0", "[cron]") {
  const CronExpr six = parse_ok("*/20 30 9 * * MON-FRI");
  CHECK(seconds(six) == Ints{0, 20, 40});
  CHECK(minutes(six) == Ints{30});
  CHECK(hours(six) == Ints{9});
  CHECK(weekdays(six) == Ints{1, 2, 3, 4, 5});
  CHECK(seconds(parse_ok("30 9 * * *")) == Ints{0});
}

TEST_CASE("cron: hour_is_star only for exactly '*'", "[cron]") {
  CHECK(parse_ok("0,30 * * * *").hour_is_star());
  CHECK(parse_ok("0 0 * * * *").hour_is_star());
  CHECK_FALSE(parse_ok("0 */1 * * *").hour_is_star());
  CHECK_FALSE(parse_ok("0 0-23 * * *").hour_is_star());
  CHECK_FALSE(parse_ok("0 1 * * *").hour_is_star());
  CHECK(parse_ok("* * * * * *").hour_is_star());
}

TEST_CASE("cron: next_* find the first matching value at or after v", "[cron]") {
  const CronExpr expr = parse_ok("10,40 5,20 8-10 * MAR,NOV *");
  CHECK(expr.next_second(0) == 10);
  CHECK(expr.next_second(10) == 10);
  CHECK(expr.next_second(11) == 40);
  CHECK(expr.next_second(41) == -1);
  CHECK(expr.next_second(60) == -1);
  CHECK(expr.next_minute(6) == 20);
  CHECK(expr.next_minute(21) == -1);
  CHECK(expr.next_hour(0) == 8);
  CHECK(expr.next_hour(11) == -1);
  CHECK(expr.next_hour(24) == -1);
  CHECK(expr.next_month(1) == 3);
  CHECK(expr.next_month(4) == 11);
  CHECK(expr.next_month(12) == -1);
  CHECK(expr.next_month(13) == -1);
}

TEST_CASE("cron: expressions that can never fire are errors", "[cron]") {
  CHECK(parse_error("0 0 30 2 *") == "never fires: day 30 does not occur in February @4");
  CHECK(parse_error("0 0 31 4,6,9,11 *") ==
        "never fires: day 31 does not occur in April, June, September or November @4");
  CHECK(parse_error("0 0 30,31 FEB *") ==
        "never fires: days 30 and 31 do not occur in February @4");
  CHECK(parse_error("0 0 0 31 2 *") == "never fires: day 31 does not occur in February @6");
  // With a '*'-started day of week both fields must match, so this cannot fire either.
  CHECK(parse_error("0 0 30 2 */2") == "never fires: day 30 does not occur in February @4");

  CHECK(parse_error("0 0 29 2 *") == "parsed");    // leap years
  CHECK(parse_error("0 0 31 2,3 *") == "parsed");  // March has a 31st
  CHECK(parse_error("0 0 30 2 MON") == "parsed");  // either field: every Monday
  CHECK(parse_error("0 0 30,1 2 *") == "parsed");  // 1 February
  CHECK(parse_error("0 0 */30 2 *") == "parsed");  // */30 is 1 and 31
}

TEST_CASE("cron: text() keeps the expression as written", "[cron]") {
  CHECK(parse_ok(" 0  9 * * mon ").text() == " 0  9 * * mon ");
}

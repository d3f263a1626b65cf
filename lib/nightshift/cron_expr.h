// CronExpr: a parsed cron expression (5 fields, or 6 with seconds first, or an
// @macro). Pure calendar arithmetic on wall-clock fields; no time zones here
// (Schedule adds those).
#pragma once

#include "nightshift/text_error.h"

#include <bitset>
#include <string>
#include <string_view>

namespace nightshift {

class CronExpr {
 public:
  // Accepts: "m h dom mon dow", "s m h dom mon dow", @yearly @annually @monthly
  // @weekly @daily @midnight @hourly. Fields take *, lists, ranges, steps (*/5,
  // 1-10/2, 5/10), month names JAN-DEC and day names SUN-SAT (any case); 0 and 7
  // are Sunday. An expression that can never fire (0 0 30 2 *) is an error.
  // Error offsets point into `text`.
  static TextResult<CronExpr> parse(std::string_view text);

  const std::string& text() const { return text_; }

  bool second(int s) const { return seconds_[s]; }
  bool minute(int m) const { return minutes_[m]; }
  bool hour(int h) const { return hours_[h]; }
  bool month(int m) const { return months_[m]; }  // 1..12
  // Day-of-month and day-of-week as Vixie cron combines them: when both are
  // restricted either matches; a field that starts with '*' is unrestricted, and
  // then both must match (so "*/2" still keeps only odd days).
  bool day(int day_of_month, int weekday /*0=Sunday*/) const;

  // True when the hour field is exactly "*": such a schedule follows real time
  // through a repeated (fall-back) hour and fires in both occurrences.
  bool hour_is_star() const { return hour_is_star_; }

  // The first matching field value >= v, or -1 when there is none.
  int next_second(int v) const;
  int next_minute(int v) const;
  int next_hour(int v) const;
  int next_month(int v) const;

 private:
  std::string text_;
  std::bitset<60> seconds_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;  // 1..31
  std::bitset<13> months_;         // 1..12
  std::bitset<7> days_of_week_;    // 0..6, 0 = Sunday
  bool dom_restricted_ = false;
  bool dow_restricted_ = false;
  bool hour_is_star_ = false;
};

}  // namespace nightshift

// libFuzzer target for the cron calendar: any text either fails to parse with an
// offset inside it, or gives a schedule whose fires move strictly forward, always
// exist (parse refuses expressions that never fire) and match the expression.
#include "nightshift/schedule.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

using nightshift::Instant;

// Around New York's 2026 transitions and a leap day, where the calendar is hardest.
const std::array<Instant, 4> kStarts{
    date::sys_days{date::year{2026} / 3 / 8} + std::chrono::hours{6},
    date::sys_days{date::year{2026} / 11 / 1} + std::chrono::hours{5},
    date::sys_days{date::year{2028} / 2 / 28},
    date::sys_days{date::year{2026} / 12 / 31} + std::chrono::hours{23},
};

bool matches(const nightshift::CronExpr& expr, date::local_seconds t) {
  const date::local_days day = date::floor<date::days>(t);
  const date::year_month_day ymd{day};
  const date::hh_mm_ss<std::chrono::seconds> time{t - day};
  return expr.second(static_cast<int>(time.seconds().count())) &&
         expr.minute(static_cast<int>(time.minutes().count())) &&
         expr.hour(static_cast<int>(time.hours().count())) &&
         expr.month(static_cast<int>(static_cast<unsigned>(ymd.month()))) &&
         expr.day(static_cast<int>(static_cast<unsigned>(ymd.day())),
                  static_cast<int>(date::weekday{day}.c_encoding()));
}

// A fire is either a matching wall-clock time (not the second pass of a repeated
// hour unless the hour is '*') or the first instant after a gap.
bool is_valid_fire(const nightshift::Schedule& schedule, Instant t) {
  const date::sys_info info = schedule.zone()->get_info(t);
  const date::local_seconds local{t.time_since_epoch() + info.offset};
  if (t == info.begin &&
      schedule.zone()->get_info(t - std::chrono::seconds{1}).offset < info.offset)
    return true;
  if (!matches(schedule.expr(), local)) return false;
  const date::local_info wall = schedule.zone()->get_info(local);
  const bool second_pass =
      wall.result == date::local_info::ambiguous && info.offset == wall.second.offset;
  return !second_pass || schedule.expr().hour_is_star();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto expr = nightshift::CronExpr::parse(text);
  if (!expr) {
    if (expr.error().message.empty() || expr.error().offset > text.size()) std::abort();
    return 0;
  }
  const auto schedule = nightshift::Schedule::parse(text, "America/New_York");
  if (!schedule) std::abort();
  for (Instant t : kStarts) {
    for (int i = 0; i < 6; ++i) {
      const auto fire = schedule->next_fire_after(t);
      if (!fire || *fire <= t || !is_valid_fire(*schedule, *fire)) std::abort();
      t = *fire;
    }
  }
  return 0;
}

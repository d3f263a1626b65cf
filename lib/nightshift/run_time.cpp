#include "nightshift/run_time.h"

#include <array>
#include <charconv>
#include <sstream>

namespace nightshift {
namespace {

using namespace std::chrono_literals;

// The first instant of a local day (midnight, or the end of a gap at midnight).
Instant start_of_day(const date::time_zone* zone, date::year_month_day day) {
  date::local_seconds midnight{date::local_days(day)};
  auto info = zone->get_info(midnight);
  if (info.result == date::local_info::nonexistent)
    return std::chrono::time_point_cast<std::chrono::seconds>(info.second.begin);
  return std::chrono::time_point_cast<std::chrono::seconds>(
      zone->to_sys(midnight, date::choose::earliest));
}

}  // namespace

std::optional<Instant> latest_fire_at_or_before(const JobSpec& job, Instant t) {
  if (!job.schedule) return t;
  // Walk forward from ever earlier starting points, so that a minutely
  // schedule costs a few dozen steps and a yearly one still gets found.
  constexpr std::array<std::chrono::seconds, 6> kWindows = {
      std::chrono::hours(1), date::days(1),   date::days(8),
      date::days(32),        date::days(367), date::days(8 * 366)};
  for (auto window : kWindows) {
    std::optional<Instant> latest;
    Instant cursor = t - window;
    while (auto next = job.schedule->next_fire_after(cursor)) {
      if (*next > t) break;
      latest = next;
      cursor = *next;
    }
    if (latest) return latest;
  }
  return std::nullopt;
}

TextResult<Instant> fire_time_on(const JobSpec& job, date::year_month_day day) {
  Instant start = start_of_day(job.zone, day);
  if (!job.schedule) return start;
  auto fire = job.schedule->next_fire_after(start - 1s);
  if (fire && local_date(job, *fire) == local_date(job, start)) return *fire;
  std::ostringstream text;
  text << "job '" << job.name << "' has no fire time on " << day << " (" << job.timezone << ")";
  return TextError{text.str(), 0};
}

TextResult<std::vector<Instant>> fire_times_between(const JobSpec& job, date::year_month_day from,
                                                    date::year_month_day to, std::size_t limit) {
  if (date::sys_days(from) > date::sys_days(to)) {
    std::ostringstream text;
    text << "from " << from << " is after to " << to;
    return TextError{text.str(), 0};
  }
  auto too_many = [&] {
    std::ostringstream text;
    text << "a backfill of job '" << job.name << "' from " << from << " to " << to
         << " would make more than " << limit << " runs: split the range";
    return TextError{text.str(), 0};
  };
  std::vector<Instant> fires;
  if (!job.schedule) {
    for (date::sys_days day = from; day <= date::sys_days(to); day += date::days(1)) {
      if (fires.size() == limit) return too_many();
      fires.push_back(start_of_day(job.zone, date::year_month_day(day)));
    }
    return fires;
  }
  // Up to the first instant of the day after `to` (a gap at midnight included).
  const Instant end = start_of_day(job.zone, date::sys_days(to) + date::days(1));
  Instant cursor = start_of_day(job.zone, from) - 1s;
  while (auto next = job.schedule->next_fire_after(cursor)) {
    if (*next >= end) break;
    if (fires.size() == limit) return too_many();
    fires.push_back(*next);
    cursor = *next;
  }
  return fires;
}

std::string local_date(const JobSpec& job, Instant t) {
  auto local = job.zone->to_local(t);
  return date::format("%F", date::floor<date::days>(local));
}

std::optional<date::year_month_day> parse_date(std::string_view text) {
  // By hand rather than date::parse, whose stream parsing trips GCC 12's
  // -Wmaybe-uninitialized under -O2.
  auto number = [&](std::size_t from, std::size_t length) {
    int value = 0;
    auto [end, ec] = std::from_chars(text.data() + from, text.data() + from + length, value);
    return ec == std::errc() && end == text.data() + from + length ? value : -1;
  };
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  int y = number(0, 4), m = number(5, 2), d = number(8, 2);
  if (y < 0 || m < 0 || d < 0) return std::nullopt;
  date::year_month_day day{date::year{y}, date::month{static_cast<unsigned>(m)},
                           date::day{static_cast<unsigned>(d)}};
  if (!day.ok()) return std::nullopt;
  return day;
}

}  // namespace nightshift

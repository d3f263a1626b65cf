#include "nightshift/schedule.h"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace nightshift {
namespace {

using date::local_seconds;
using std::chrono::seconds;

// A weekday-restricted 29 February (0 0 29 2 */7) can be 40 years away.
constexpr date::days kHorizon{366 * 50};
// No zone has ever turned its clocks back by a day or more.
constexpr date::days kLongestShift{1};
// Instants outside these years have no answer, which keeps the arithmetic far from overflow.
constexpr date::sys_days kEarliest{date::year{1} / 1 / 1};
constexpr date::sys_days kLatest{date::year{9000} / 1 / 1};
// A period ending after this lasts for ever as far as any search is concerned.
constexpr date::sys_days kEndless{date::year{20000} / 1 / 1};

local_seconds to_local(Instant t, seconds offset) {
  return local_seconds{t.time_since_epoch() + offset};
}

Instant to_sys(local_seconds t, seconds offset) {
  return Instant{t.time_since_epoch() - offset};
}

// The first wall-clock time at or after `from` and before `limit` that the
// expression matches, jumping field by field.
std::optional<local_seconds> next_match(const CronExpr& expr, local_seconds from,
                                        local_seconds limit) {
  const date::local_days from_day = date::floor<date::days>(from);
  const date::year_month_day from_date{from_day};
  const date::hh_mm_ss<seconds> from_time{from - from_day};
  int year = static_cast<int>(from_date.year());
  int month = static_cast<int>(static_cast<unsigned>(from_date.month()));
  int day = static_cast<int>(static_cast<unsigned>(from_date.day()));
  int hour = static_cast<int>(from_time.hours().count());
  int minute = static_cast<int>(from_time.minutes().count());
  int second = static_cast<int>(from_time.seconds().count());
  const int last_year =
      static_cast<int>(date::year_month_day{date::floor<date::days>(limit)}.year());

  while (year <= last_year) {
    const int next_month = expr.next_month(month);
    if (next_month < 0) {
      ++year, month = 1, day = 1, hour = 0, minute = 0, second = 0;
      continue;
    }
    if (next_month != month) month = next_month, day = 1, hour = 0, minute = 0, second = 0;

    const date::year_month this_month = date::year{year} / month;
    const int days_in_month =
        static_cast<int>(static_cast<unsigned>((this_month / date::last).day()));
    unsigned weekday = date::weekday{date::local_days{this_month / 1}}.c_encoding();
    weekday = (weekday + static_cast<unsigned>(day - 1)) % 7;
    int next_day = day;
    while (next_day <= days_in_month && !expr.day(next_day, static_cast<int>(weekday)))
      ++next_day, weekday = (weekday + 1) % 7;
    if (next_day > days_in_month) {
      if (++month > 12) ++year, month = 1;
      day = 1, hour = 0, minute = 0, second = 0;
      continue;
    }
    if (next_day != day) day = next_day, hour = 0, minute = 0, second = 0;

    const int next_hour = expr.next_hour(hour);
    if (next_hour < 0) {
      ++day, hour = 0, minute = 0, second = 0;
      continue;
    }
    if (next_hour != hour) hour = next_hour, minute = 0, second = 0;

    const int next_minute = expr.next_minute(minute);
    if (next_minute < 0) {
      ++hour, minute = 0, second = 0;
      continue;
    }
    if (next_minute != minute) minute = next_minute, second = 0;

    const int next_second = expr.next_second(second);
    if (next_second < 0) {
      ++minute, second = 0;
      continue;
    }
    const local_seconds match = date::local_days{this_month / day} + std::chrono::hours{hour} +
                                std::chrono::minutes{minute} + seconds{next_second};
    if (match >= limit) return std::nullopt;
    return match;
  }
  return std::nullopt;
}

void append_two_digits(std::string& out, long value) {
  out += static_cast<char>('0' + value / 10 % 10);
  out += static_cast<char>('0' + value % 10);
}

// Reads exactly `width` digits at `pos`.
std::optional<int> read_number(std::string_view text, std::size_t& pos, std::size_t width) {
  if (pos + width > text.size()) return std::nullopt;
  int value = 0;
  for (std::size_t i = pos; i < pos + width; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    value = value * 10 + (text[i] - '0');
  }
  pos += width;
  return value;
}

bool read_char(std::string_view text, std::size_t& pos, char c) {
  if (pos >= text.size() || text[pos] != c) return false;
  ++pos;
  return true;
}

// The instant of a wall-clock time: the first occurrence when it is repeated,
// the first instant after the gap when it is skipped.
Instant local_to_instant(local_seconds local, const date::time_zone* zone) {
  if (zone == nullptr) return to_sys(local, seconds{0});
  const date::local_info info = zone->get_info(local);
  if (info.result == date::local_info::nonexistent) return info.first.end;
  return to_sys(local, info.first.offset);
}

}  // namespace

TextResult<Schedule> Schedule::parse(std::string_view expr, std::string_view timezone) {
  auto parsed = CronExpr::parse(expr);
  if (!parsed) return parsed.error();
  const date::time_zone* zone = find_time_zone(timezone);
  if (zone == nullptr) return TextError{"unknown time zone '" + std::string(timezone) + "'", 0};
  return Schedule(std::move(*parsed), zone, std::string(timezone));
}

// Walks the zone's periods of constant UTC offset from the one holding `after`.
// Inside a period wall-clock time maps one to one onto real time; between two
// periods there is either a gap (whose matches fire once, as the next period
// starts) or a repeated stretch (which only "*"-hour schedules see twice).
std::optional<Instant> Schedule::next_fire_after(Instant after) const {
  if (after < kEarliest || after >= kLatest) return std::nullopt;
  const local_seconds limit = to_local(after, kHorizon);

  date::sys_info period = zone_->get_info(after);
  local_seconds from = to_local(after, period.offset) + seconds{1};
  if (!expr_.hour_is_star() && after - period.begin < kLongestShift) {
    // `after` may be in the second pass of a repeated hour, whose matches fired in the first.
    const date::sys_info before = zone_->get_info(period.begin - seconds{1});
    from = std::max(from, to_local(period.begin, before.offset));
  }
  local_seconds searched_from = from;
  std::optional<local_seconds> match = next_match(expr_, from, limit);

  while (match) {
    if (period.end >= kEndless || *match < to_local(period.end, period.offset))
      return to_sys(*match, period.offset);
    const date::sys_info next = zone_->get_info(period.end);
    if (next.offset > period.offset && *match < to_local(period.end, next.offset))
      return period.end;  // the match is in the gap
    const bool skips_repeat = next.offset < period.offset && !expr_.hour_is_star();
    from = to_local(period.end, skips_repeat ? period.offset : next.offset);
    if (from < searched_from || *match < from) {
      match = next_match(expr_, from, limit);
      searched_from = from;
    }
    period = next;
  }
  return std::nullopt;
}

std::string Schedule::format(Instant t) const {
  return format_iso8601(t, zone_);
}

const date::time_zone* find_time_zone(std::string_view name) {
  try {
    return date::locate_zone(std::string(name));
  } catch (const std::runtime_error&) {
    return nullptr;
  }
}

std::string format_iso8601(Instant t, const date::time_zone* zone) {
  const seconds offset = zone == nullptr ? seconds{0} : zone->get_info(t).offset;
  const local_seconds local = to_local(t, offset);
  const date::local_days day = date::floor<date::days>(local);
  const date::year_month_day date{day};
  const date::hh_mm_ss<seconds> time{local - day};

  std::string out = std::to_string(static_cast<int>(date.year()));
  while (out.size() < 4) out.insert(out.begin(), '0');
  out += '-';
  append_two_digits(out, static_cast<unsigned>(date.month()));
  out += '-';
  append_two_digits(out, static_cast<unsigned>(date.day()));
  out += 'T';
  append_two_digits(out, time.hours().count());
  out += ':';
  append_two_digits(out, time.minutes().count());
  out += ':';
  append_two_digits(out, time.seconds().count());
  out += offset < seconds{0} ? '-' : '+';
  const long offset_minutes = std::labs(offset.count()) / 60;
  append_two_digits(out, offset_minutes / 60);
  out += ':';
  append_two_digits(out, offset_minutes % 60);
  return out;
}

std::optional<Instant> parse_iso8601(std::string_view text, const date::time_zone* zone) {
  std::size_t pos = 0;
  const auto year = read_number(text, pos, 4);
  if (!year || !read_char(text, pos, '-')) return std::nullopt;
  const auto month = read_number(text, pos, 2);
  if (!month || !read_char(text, pos, '-')) return std::nullopt;
  const auto day = read_number(text, pos, 2);
  if (!day) return std::nullopt;
  const date::year_month_day date{date::year{*year}, date::month(static_cast<unsigned>(*month)),
                                  date::day(static_cast<unsigned>(*day))};
  if (!date.ok()) return std::nullopt;
  if (pos == text.size()) return local_to_instant(date::local_days{date}, zone);

  if (!read_char(text, pos, 'T') && !read_char(text, pos, ' ')) return std::nullopt;
  const auto hour = read_number(text, pos, 2);
  if (!hour || *hour > 23 || !read_char(text, pos, ':')) return std::nullopt;
  const auto minute = read_number(text, pos, 2);
  if (!minute || *minute > 59) return std::nullopt;
  std::optional<int> second = 0;
  if (read_char(text, pos, ':')) {
    second = read_number(text, pos, 2);
    if (!second || *second > 59) return std::nullopt;
  }
  const local_seconds local = date::local_days{date} + std::chrono::hours{*hour} +
                              std::chrono::minutes{*minute} + seconds{*second};
  if (pos == text.size()) return local_to_instant(local, zone);
  if (read_char(text, pos, 'Z')) {
    if (pos != text.size()) return std::nullopt;
    return to_sys(local, seconds{0});
  }

  const int sign = read_char(text, pos, '+') ? 1 : read_char(text, pos, '-') ? -1 : 0;
  if (sign == 0) return std::nullopt;
  const auto offset_hours = read_number(text, pos, 2);
  if (!offset_hours || *offset_hours > 23) return std::nullopt;
  std::optional<int> offset_minutes = 0;
  if (pos < text.size()) {
    read_char(text, pos, ':');
    offset_minutes = read_number(text, pos, 2);
    if (!offset_minutes || *offset_minutes > 59 || pos != text.size()) return std::nullopt;
  }
  const seconds offset{sign * (*offset_hours * 3600 + *offset_minutes * 60)};
  return to_sys(local, offset);
}

}  // namespace nightshift

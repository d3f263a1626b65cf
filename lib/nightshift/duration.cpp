#include "nightshift/duration.h"

#include <array>
#include <charconv>
#include <cstdint>
#include <limits>

namespace nightshift {
namespace {

struct Unit {
  std::string_view name;
  std::int64_t milliseconds;
};

// Largest to smallest: the order parse_duration demands and format_duration writes.
constexpr std::array<Unit, 5> kUnits = {{
    {"d", 86'400'000},
    {"h", 3'600'000},
    {"m", 60'000},
    {"s", 1'000},
    {"ms", 1},
}};

constexpr std::string_view kUnitHint = " (use s, m, h, d or ms)";

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_letter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string quoted(std::string_view text) {
  return "'" + std::string(text) + "'";
}

}  // namespace

TextResult<Duration> parse_duration(std::string_view text) {
  if (text.empty()) return TextError{"empty duration (write e.g. 30s, 10m or 1h30m)", 0};
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::int64_t total = 0;
  std::size_t previous_unit = kUnits.size();  // none yet
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t number_at = pos;
    while (pos < text.size() && is_digit(text[pos])) ++pos;
    if (pos == number_at) {
      const char c = text[pos];
      if (c == '-' || c == '+')
        return TextError{"no sign allowed in duration " + quoted(text), pos};
      if (is_space(c)) return TextError{"no spaces allowed in duration " + quoted(text), pos};
      return TextError{"expected a number in duration " + quoted(text), pos};
    }
    std::int64_t count = 0;
    const auto read = std::from_chars(text.data() + number_at, text.data() + pos, count);
    if (read.ec != std::errc()) {
      return TextError{"duration " + quoted(text) + " is too large", number_at};
    }

    const std::size_t unit_at = pos;
    while (pos < text.size() && is_letter(text[pos])) ++pos;
    const std::string_view unit_name = text.substr(unit_at, pos - unit_at);
    if (unit_name.empty()) {
      if (pos < text.size() && text[pos] == '.') {
        return TextError{"no fractions in duration " + quoted(text) + " (write 1m30s, not 1.5m)",
                         pos};
      }
      if (pos < text.size() && is_space(text[pos])) {
        return TextError{"no spaces allowed in duration " + quoted(text), pos};
      }
      return TextError{"missing unit in " + quoted(text) + std::string(kUnitHint), pos};
    }
    std::size_t unit = 0;
    while (unit < kUnits.size() && kUnits[unit].name != unit_name) ++unit;
    if (unit == kUnits.size()) {
      return TextError{
          "unknown unit " + quoted(unit_name) + " in " + quoted(text) + std::string(kUnitHint),
          unit_at};
    }
    if (unit == previous_unit) {
      return TextError{"unit " + quoted(unit_name) + " appears twice in " + quoted(text), unit_at};
    }
    if (previous_unit != kUnits.size() && unit < previous_unit) {
      return TextError{"unit " + quoted(unit_name) + " after " +
                           quoted(kUnits[previous_unit].name) + " in " + quoted(text) +
                           " (write largest to smallest, as in 1h30m)",
                       unit_at};
    }
    previous_unit = unit;

    const std::int64_t scale = kUnits[unit].milliseconds;
    if (count > kMax / scale || count * scale > kMax - total) {
      return TextError{"duration " + quoted(text) + " is too large", number_at};
    }
    total += count * scale;
  }
  return Duration{total};
}

std::string format_duration(Duration d) {
  if (d.count() == 0) return "0s";
  std::string out;
  // Unsigned, so that even the most negative count has a magnitude; parse_duration
  // never yields a negative duration, the sign is only for logs of computed ones.
  std::uint64_t rest = static_cast<std::uint64_t>(d.count());
  if (d.count() < 0) {
    out = "-";
    rest = 0 - rest;
  }
  for (const Unit& unit : kUnits) {
    const auto scale = static_cast<std::uint64_t>(unit.milliseconds);
    if (rest >= scale) {
      out += std::to_string(rest / scale);
      out += unit.name;
      rest %= scale;
    }
  }
  return out;
}

}  // namespace nightshift

#include "nightshift/cron_expr.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <span>
#include <vector>

namespace nightshift {
namespace {

// A piece of the expression and where it starts, so errors can point at it.
struct Token {
  std::string_view text;
  std::size_t offset = 0;
};

constexpr std::array<std::string_view, 12> kMonthNames{"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kDayNames{"SUN", "MON", "TUE", "WED",
                                                    "THU", "FRI", "SAT"};
constexpr std::array<std::string_view, 12> kMonthFullNames{
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December"};

// What one field accepts; `last` is where '*' and an open 'N/step' end.
struct FieldSpec {
  std::string_view name;
  int min;
  int max;
  int last;
  std::string_view name_kind;  // "month" or "day" when the field takes names
  std::span<const std::string_view> names;
  int first_named_value;
};

const FieldSpec kSecond{"second", 0, 59, 59, {}, {}, 0};
const FieldSpec kMinute{"minute", 0, 59, 59, {}, {}, 0};
const FieldSpec kHour{"hour", 0, 23, 23, {}, {}, 0};
const FieldSpec kDayOfMonth{"day of month", 1, 31, 31, {}, {}, 0};
const FieldSpec kMonth{"month", 1, 12, 12, "month", kMonthNames, 1};
// 7 is accepted as Sunday but open ranges stop at Saturday.
const FieldSpec kDayOfWeek{"day of week", 0, 7, 6, "day", kDayNames, 0};

struct Macro {
  std::string_view name;
  std::string_view fields;
};

constexpr std::array<Macro, 7> kMacros{{
    {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
    {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"},
    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
}};

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool all_of(std::string_view text, int (*predicate)(int)) {
  if (text.empty()) return false;
  for (char c : text)
    if (!predicate(static_cast<unsigned char>(c))) return false;
  return true;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(a[i])) !=
        std::toupper(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string quoted(std::string_view text) {
  return "'" + std::string(text) + "'";
}

std::vector<Token> split_fields(std::string_view text) {
  std::vector<Token> fields;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_blank(text[i])) ++i;
    const std::size_t start = i;
    while (i < text.size() && !is_blank(text[i])) ++i;
    if (i > start) fields.push_back({text.substr(start, i - start), start});
  }
  return fields;
}

std::vector<Token> split_list(Token field) {
  std::vector<Token> items;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = field.text.find(',', start);
    const std::size_t end = comma == std::string_view::npos ? field.text.size() : comma;
    items.push_back({field.text.substr(start, end - start), field.offset + start});
    if (comma == std::string_view::npos) return items;
    start = comma + 1;
  }
}

TextResult<int> parse_value(const FieldSpec& spec, Token token) {
  if (token.text.empty())
    return TextError{"missing " + std::string(spec.name) + " value", token.offset};
  if (all_of(token.text, [](int c) { return std::isdigit(c); })) {
    // Four digits are enough for any field and keep the conversion from overflowing.
    const int value = token.text.size() > 4 ? spec.max + 1 : std::stoi(std::string(token.text));
    if (value < spec.min || value > spec.max)
      return TextError{std::string(spec.name) + " " + std::string(token.text) + " out of range " +
                           std::to_string(spec.min) + "-" + std::to_string(spec.max),
                       token.offset};
    return value;
  }
  if (!spec.names.empty() && all_of(token.text, [](int c) { return std::isalpha(c); })) {
    for (std::size_t i = 0; i < spec.names.size(); ++i)
      if (equals_ignoring_case(token.text, spec.names[i]))
        return spec.first_named_value + static_cast<int>(i);
    return TextError{"unknown " + std::string(spec.name_kind) + " name " + quoted(token.text),
                     token.offset};
  }
  return TextError{"bad " + std::string(spec.name) + " " + quoted(token.text), token.offset};
}

TextResult<int> parse_step(Token token) {
  const bool is_number = all_of(token.text, [](int c) { return std::isdigit(c); });
  if (!is_number || token.text.size() > 4 || std::stoi(std::string(token.text)) == 0)
    return TextError{"bad step " + quoted(token.text), token.offset};
  return std::stoi(std::string(token.text));
}

// One list item: '*', 'N', 'N-M', each optionally with '/step'. Returns its values as bits.
TextResult<std::uint64_t> parse_item(const FieldSpec& spec, Token item) {
  const std::size_t slash = item.text.find('/');
  const Token base{item.text.substr(0, slash), item.offset};
  int first = spec.min;
  int last = spec.last;
  if (base.text != "*") {
    if (base.text.starts_with('*'))
      return TextError{"bad " + std::string(spec.name) + " " + quoted(base.text), base.offset};
    const std::size_t dash = base.text.find('-');
    auto start = parse_value(spec, {base.text.substr(0, dash), base.offset});
    if (!start) return start.error();
    first = *start;
    // An open 'N/step' runs to the field's end; '7/5' is Sunday alone, not nothing.
    last = slash == std::string_view::npos ? first : std::max(first, spec.last);
    if (dash != std::string_view::npos) {
      auto end = parse_value(spec, {base.text.substr(dash + 1), base.offset + dash + 1});
      if (!end) return end.error();
      last = *end;
      // FRI-SUN: a range may end on Sunday written as 0.
      if (&spec == &kDayOfWeek && last == 0 && first > 0) last = 7;
      if (last < first)
        return TextError{
            std::string(spec.name) + " range " + std::string(base.text) + " runs backwards",
            base.offset};
    }
  }
  int step = 1;
  if (slash != std::string_view::npos) {
    auto parsed = parse_step({item.text.substr(slash + 1), item.offset + slash + 1});
    if (!parsed) return parsed.error();
    step = *parsed;
  }
  std::uint64_t bits = 0;
  for (int v = first; v <= last; v += step) bits |= std::uint64_t{1} << v;
  return bits;
}

TextResult<std::uint64_t> parse_field(const FieldSpec& spec, Token field) {
  std::uint64_t bits = 0;
  for (const Token& item : split_list(field)) {
    auto parsed = parse_item(spec, item);
    if (!parsed) return parsed.error();
    bits |= *parsed;
  }
  if (&spec == &kDayOfWeek && (bits & (std::uint64_t{1} << 7))) bits |= 1;  // 7 is Sunday
  return bits;
}

template <std::size_t N>
int first_set_from(const std::bitset<N>& bits, int v) {
  for (v = v < 0 ? 0 : v; v < static_cast<int>(N); ++v)
    if (bits[v]) return v;
  return -1;
}

std::string join_alternatives(const std::vector<std::string>& words, std::string_view last_joint) {
  std::string text;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) text += i + 1 == words.size() ? std::string(last_joint) : ", ";
    text += words[i];
  }
  return text;
}

}  // namespace

TextResult<CronExpr> CronExpr::parse(std::string_view text) {
  std::vector<Token> fields = split_fields(text);
  if (fields.empty()) return TextError{"empty cron expression", 0};

  std::string expanded;  // keeps a macro's fields alive while they are parsed
  if (fields[0].text.starts_with('@')) {
    const Macro* macro = nullptr;
    for (const Macro& m : kMacros)
      if (equals_ignoring_case(fields[0].text, m.name)) macro = &m;
    if (macro == nullptr)
      return TextError{"unknown macro " + quoted(fields[0].text), fields[0].offset};
    if (fields.size() > 1)
      return TextError{
          "unexpected " + quoted(fields[1].text) + " after " + std::string(macro->name),
          fields[1].offset};
    const std::size_t macro_offset = fields[0].offset;
    expanded = std::string(macro->fields);
    fields = split_fields(expanded);
    for (Token& field : fields) field.offset = macro_offset;
  }
  if (fields.size() != 5 && fields.size() != 6) {
    const std::size_t offset = fields.size() > 6 ? fields[6].offset : fields[0].offset;
    return TextError{"expected 5 or 6 fields, got " + std::to_string(fields.size()), offset};
  }

  CronExpr expr;
  expr.text_ = std::string(text);
  const bool has_seconds = fields.size() == 6;
  const std::span<const Token> rest = std::span(fields).subspan(has_seconds ? 1 : 0);
  const std::array<const FieldSpec*, 5> specs{&kMinute, &kHour, &kDayOfMonth, &kMonth, &kDayOfWeek};
  std::array<std::uint64_t, 5> bits{};
  std::uint64_t second_bits = 1;  // five fields fire at second 0
  if (has_seconds) {
    auto parsed = parse_field(kSecond, fields[0]);
    if (!parsed) return parsed.error();
    second_bits = *parsed;
  }
  for (std::size_t i = 0; i < specs.size(); ++i) {
    auto parsed = parse_field(*specs[i], rest[i]);
    if (!parsed) return parsed.error();
    bits[i] = *parsed;
  }
  expr.seconds_ = std::bitset<60>(second_bits);
  expr.minutes_ = std::bitset<60>(bits[0]);
  expr.hours_ = std::bitset<24>(bits[1]);
  expr.days_of_month_ = std::bitset<32>(bits[2]);
  expr.months_ = std::bitset<13>(bits[3]);
  expr.days_of_week_ = std::bitset<7>(bits[4] & 0x7f);
  expr.hour_is_star_ = rest[1].text == "*";
  expr.dom_restricted_ = !rest[2].text.starts_with('*');
  expr.dow_restricted_ = !rest[4].text.starts_with('*');

  // With both day fields restricted any weekday fires; otherwise some chosen day of
  // month must exist in some chosen month (29 February does, in leap years).
  if (expr.dom_restricted_ && !expr.dow_restricted_) {
    constexpr std::array<int, 13> kLongestMonth{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool fires = false;
    std::vector<std::string> months;
    for (int m = 1; m <= 12; ++m) {
      if (!expr.months_[m]) continue;
      months.push_back(std::string(kMonthFullNames[m - 1]));
      const int first_day = first_set_from(expr.days_of_month_, 1);
      if (first_day >= 0 && first_day <= kLongestMonth[m]) fires = true;
    }
    if (!fires) {
      std::vector<std::string> days;
      for (int d = 1; d <= 31; ++d)
        if (expr.days_of_month_[d]) days.push_back(std::to_string(d));
      const std::string subject = days.size() == 1
                                      ? "day " + days[0] + " does not"
                                      : "days " + join_alternatives(days, " and ") + " do not";
      return TextError{"never fires: " + subject + " occur in " + join_alternatives(months, " or "),
                       rest[2].offset};
    }
  }
  return expr;
}

bool CronExpr::day(int day_of_month, int weekday) const {
  // Vixie cron: either field matches when both are restricted; otherwise both must,
  // so a '*/2' day of month still filters a restricted day of week.
  if (dom_restricted_ && dow_restricted_)
    return days_of_month_[day_of_month] || days_of_week_[weekday];
  return days_of_month_[day_of_month] && days_of_week_[weekday];
}

int CronExpr::next_second(int v) const {
  return first_set_from(seconds_, v);
}
int CronExpr::next_minute(int v) const {
  return first_set_from(minutes_, v);
}
int CronExpr::next_hour(int v) const {
  return first_set_from(hours_, v);
}
int CronExpr::next_month(int v) const {
  return first_set_from(months_, v);
}

}  // namespace nightshift

#include "nightshift/template.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <span>
#include <vector>

namespace nightshift {
namespace {

constexpr std::array<std::string_view, 8> kVariables = {
    "date", "date_nodash", "yesterday", "scheduled_at", "run_id", "job", "step", "attempt"};
constexpr std::array<std::string_view, 2> kFilters = {"add_days", "nodash"};

// Bounds every shift so a rendered year stays far inside date::year's range.
constexpr long long kMaxAddDays = 100'000;

constexpr std::string_view kAddDaysUsage = "add_days takes an integer, as in add_days(-30)";

bool is_date_variable(std::string_view name) {
  return name == "date" || name == "date_nodash" || name == "yesterday";
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
// '-' is read as part of a name so "run-id" gets a "did you mean 'run_id'" answer.
bool is_name_char(char c) {
  return is_name_start(c) || is_digit(c) || c == '-';
}

// The candidate closest to a misspelt name by case-insensitive edit distance, or
// "" when none is close enough to be a likely typo.
std::string_view nearest_name(std::string_view name, std::span<const std::string_view> candidates) {
  auto lower = [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  };
  const std::size_t allowed = std::max<std::size_t>(1, name.size() / 3);
  std::string_view best;
  std::size_t best_distance = allowed + 1;
  std::vector<std::size_t> previous(name.size() + 1);
  std::vector<std::size_t> current(name.size() + 1);
  for (std::string_view candidate : candidates) {
    for (std::size_t i = 0; i <= name.size(); ++i) previous[i] = i;
    for (std::size_t j = 1; j <= candidate.size(); ++j) {
      current[0] = j;
      for (std::size_t i = 1; i <= name.size(); ++i) {
        const std::size_t substitution =
            previous[i - 1] + (lower(name[i - 1]) == lower(candidate[j - 1]) ? 0 : 1);
        current[i] = std::min({previous[i] + 1, current[i - 1] + 1, substitution});
      }
      std::swap(previous, current);
    }
    if (previous[name.size()] < best_distance) {
      best_distance = previous[name.size()];
      best = candidate;
    }
  }
  return best;
}

TextError unknown_name(std::string_view kind, std::string_view name,
                       std::span<const std::string_view> candidates, std::size_t offset) {
  std::string message = "unknown template " + std::string(kind) + " '" + std::string(name) + "'";
  if (std::string_view near = nearest_name(name, candidates); !near.empty()) {
    message += " (did you mean '" + std::string(near) + "'?)";
  }
  return TextError{std::move(message), offset};
}

std::string format_date(date::year_month_day day, bool with_dashes) {
  char buffer[32];
  const int year = static_cast<int>(day.year());
  const unsigned month = static_cast<unsigned>(day.month());
  const unsigned day_of_month = static_cast<unsigned>(day.day());
  if (with_dashes) {
    std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02u", year, month, day_of_month);
  } else {
    std::snprintf(buffer, sizeof buffer, "%04d%02u%02u", year, month, day_of_month);
  }
  return buffer;
}

// The fields of one parsed placeholder (Template::Piece is private).
struct ParsedPlaceholder {
  std::string variable;
  int add_days = 0;
  bool nodash = false;
};

// Reads the inside of the placeholder text[open, close + 2), where text[open] is the
// first '{' and text[close] the first '}' of its "}}".
//
// Filter order: a chain applies left to right, and every filter keeps a date a date:
// nodash only changes its format (YYYY-MM-DD to YYYYMMDD) and add_days shifts the day
// keeping the current format. So the order never changes the result
// ("date | nodash | add_days(1)" == "date | add_days(1) | nodash"), and a chain is
// stored as the sum of its add_days plus one nodash flag.
TextResult<ParsedPlaceholder> parse_placeholder(std::string_view text, std::size_t open,
                                                std::size_t close) {
  std::size_t pos = open + 2;
  auto skip_spaces = [&] {
    while (pos < close && is_space(text[pos])) ++pos;
  };
  auto read_name = [&] {
    const std::size_t start = pos;
    if (pos < close && is_name_start(text[pos])) {
      ++pos;
      while (pos < close && is_name_char(text[pos])) ++pos;
    }
    return text.substr(start, pos - start);
  };

  skip_spaces();
  if (pos == close) return TextError{"empty placeholder '{{ }}'", open};
  const std::size_t variable_at = pos;
  const std::string_view variable = read_name();
  if (variable.empty()) return TextError{"expected a template variable after '{{'", pos};
  if (std::find(kVariables.begin(), kVariables.end(), variable) == kVariables.end()) {
    return unknown_name("variable", variable, kVariables, variable_at);
  }

  ParsedPlaceholder parsed{std::string(variable)};
  std::string_view last = variable;  // the previous token, for "expected '|'" errors
  for (;;) {
    skip_spaces();
    if (pos == close) return parsed;
    if (text[pos] != '|') {
      return TextError{"expected '|' or '}}' after '" + std::string(last) + "'", pos};
    }
    ++pos;
    skip_spaces();
    const std::size_t filter_at = pos;
    const std::string_view filter = read_name();
    if (filter.empty()) return TextError{"expected a filter name after '|'", pos};

    if (filter == "nodash") {
      parsed.nodash = true;
      const std::size_t after_name = pos;
      skip_spaces();
      if (pos < close && text[pos] == '(')
        return TextError{"filter 'nodash' takes no argument", pos};
      pos = after_name;
    } else if (filter == "add_days") {
      if (!is_date_variable(variable)) {
        return TextError{"filter 'add_days' needs a date, not '" + parsed.variable + "'",
                         filter_at};
      }
      skip_spaces();
      if (pos == close || text[pos] != '(') return TextError{std::string(kAddDaysUsage), filter_at};
      ++pos;
      skip_spaces();
      const std::size_t number_at = pos;
      if (pos < close && (text[pos] == '-' || text[pos] == '+')) ++pos;
      const std::size_t digits_at = pos;
      while (pos < close && is_digit(text[pos])) ++pos;
      if (pos == digits_at) return TextError{std::string(kAddDaysUsage), pos};
      long long days = 0;
      // from_chars rejects '+', so the sign is applied by hand.
      const auto read = std::from_chars(text.data() + digits_at, text.data() + pos, days);
      if (text[number_at] == '-') days = -days;
      // Each term is bounded before the sum, so the sum cannot overflow either.
      auto out_of_range = [](long long n) { return n > kMaxAddDays || n < -kMaxAddDays; };
      if (read.ec != std::errc() || out_of_range(days) || out_of_range(parsed.add_days + days)) {
        return TextError{
            "add_days is limited to " + std::to_string(kMaxAddDays) + " days either way",
            number_at};
      }
      skip_spaces();
      if (pos == close || text[pos] != ')') return TextError{std::string(kAddDaysUsage), pos};
      ++pos;
      parsed.add_days = static_cast<int>(parsed.add_days + days);
    } else {
      return unknown_name("filter", filter, kFilters, filter_at);
    }
    last = text.substr(filter_at, pos - filter_at);
  }
}

}  // namespace

TextResult<Template> Template::parse(std::string_view text) {
  Template result;
  result.source_ = std::string(text);
  std::vector<Piece> pieces;
  // Offsets are 32-bit: job and config files are limited to a few MiB.
  auto literal = [&](std::size_t from, std::size_t to) {
    if (to > from) {
      pieces.push_back(Piece{static_cast<std::uint32_t>(from),
                             static_cast<std::uint32_t>(to - from)});
    }
  };
  bool any_placeholder = false;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t open = text.find("{{", pos);
    if (open == std::string_view::npos) {
      literal(pos, text.size());
      break;
    }
    literal(pos, open);
    const std::size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) return TextError{"unclosed '{{'", open};
    auto parsed = parse_placeholder(text, open, close);
    if (!parsed) return parsed.error();
    const auto variable = std::find(kVariables.begin(), kVariables.end(), parsed->variable);
    Piece placeholder;
    placeholder.variable = static_cast<std::uint8_t>(variable - kVariables.begin());
    placeholder.add_days = parsed->add_days;
    placeholder.nodash = parsed->nodash;
    pieces.push_back(placeholder);
    any_placeholder = true;
    pos = close + 2;
  }
  // Only placeholders need pieces: a literal template renders as its source.
  if (any_placeholder) {
    pieces.shrink_to_fit();
    result.pieces_ = std::move(pieces);
  }
  return result;
}

std::string Template::render(const TemplateContext& context) const {
  if (pieces_.empty()) return source_;
  std::string out;
  out.reserve(source_.size());
  for (const Piece& piece : pieces_) {
    if (piece.variable == Piece::kLiteral) {
      out.append(source_, piece.offset, piece.length);
      continue;
    }
    const std::string_view name = kVariables[piece.variable];
    if (is_date_variable(name)) {
      const int shift = piece.add_days - (name == "yesterday" ? 1 : 0);
      const date::year_month_day day{date::sys_days(context.date) + date::days(shift)};
      out += format_date(day, !(piece.nodash || name == "date_nodash"));
      continue;
    }
    std::string value;
    if (name == "scheduled_at") {
      value = context.scheduled_at;
    } else if (name == "run_id") {
      value = std::to_string(context.run_id);
    } else if (name == "job") {
      value = context.job;
    } else if (name == "step") {
      value = context.step;
    } else {
      value = std::to_string(context.attempt);
    }
    if (piece.nodash) std::erase(value, '-');
    out += value;
  }
  return out;
}

bool Template::has_placeholders() const {
  return !pieces_.empty();
}

}  // namespace nightshift

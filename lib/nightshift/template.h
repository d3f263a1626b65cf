// Template: a command/shell/sql/env text with {{ var | filter }} placeholders,
// checked at load time and rendered from a run's context when a step starts.
#pragma once

#include "nightshift/text_error.h"

#include <date/date.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace nightshift {

// The values a run gives its templates (and its processes as NIGHTSHIFT_*).
struct TemplateContext {
  date::year_month_day date;  // local date of the run's scheduled time
  std::string scheduled_at;   // ISO 8601 with offset
  std::int64_t run_id = 0;
  std::string job;
  std::string step;
  int attempt = 1;
};

class Template {
 public:
  // Variables: date, date_nodash, yesterday, scheduled_at, run_id, job, step,
  // attempt. Filters: add_days(N) (on date, yesterday, date_nodash), nodash. Anything else,
  // an unclosed "{{", or an empty placeholder is an error whose offset points at
  // the fault. Text outside {{ }} is kept byte for byte ("$" and "}}" included).
  static TextResult<Template> parse(std::string_view text);

  std::string render(const TemplateContext& context) const;

  const std::string& source() const { return source_; }
  bool has_placeholders() const;

 private:
  // A run of source_ to render: literal text, or a placeholder's variable with
  // its filters. Offsets into source_ instead of copies of the text: a daemon
  // keeps every template of every job, and most are literal argv words.
  struct Piece {
    static constexpr std::uint8_t kLiteral = 0xFF;
    std::uint32_t offset = 0;  // the literal's bytes (unused for a placeholder)
    std::uint32_t length = 0;
    std::int32_t add_days = 0;  // the sum of every add_days filter, applied in order
    std::uint8_t variable = kLiteral;  // else an index into the variable names
    bool nodash = false;
  };

  std::string source_;
  std::vector<Piece> pieces_;  // empty when source_ has no placeholder: it renders as itself
};

}  // namespace nightshift

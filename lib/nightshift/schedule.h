// Schedule: a cron expression read against the wall clock of one IANA time zone,
// with the DST rules of DESIGN.md. Answers the next fire instant after a given one.
#pragma once

#include "nightshift/cron_expr.h"
#include "nightshift/text_error.h"

#include <date/tz.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace nightshift {

using Instant = std::chrono::sys_seconds;

class Schedule {
 public:
  // Errors: a bad expression (offset into `expr`) or an unknown time zone
  // (message "unknown time zone 'X'", offset 0).
  static TextResult<Schedule> parse(std::string_view expr, std::string_view timezone);

  // The first fire instant strictly after `after`, or nullopt when there is none
  // within the search horizon (it never scans minute by minute).
  //
  // DST: fire times that fall in a gap (spring forward) all collapse into one
  // fire at the first instant after the gap; in a repeated hour (fall back) a
  // schedule fires once, at the first occurrence, unless its hour field is
  // exactly "*", in which case it fires in both occurrences.
  std::optional<Instant> next_fire_after(Instant after) const;

  const CronExpr& expr() const { return expr_; }
  const date::time_zone* zone() const { return zone_; }
  const std::string& timezone() const { return timezone_; }

  // An instant as ISO 8601 with the zone's offset: 2026-03-08T03:00:00-04:00.
  std::string format(Instant t) const;

 private:
  Schedule(CronExpr expr, const date::time_zone* zone, std::string timezone)
      : expr_(std::move(expr)), zone_(zone), timezone_(std::move(timezone)) {}

  CronExpr expr_;
  const date::time_zone* zone_;
  std::string timezone_;
};

// Finds an IANA zone by name, or nullptr.
const date::time_zone* find_time_zone(std::string_view name);

// Formats an instant in a zone as ISO 8601 with offset ("2026-11-25T00:10:00+09:00").
std::string format_iso8601(Instant t, const date::time_zone* zone);

// Parses ISO 8601 "YYYY-MM-DDTHH:MM[:SS](Z|±HH:MM)"; without an offset the
// time is read in `zone` (first occurrence when ambiguous).
std::optional<Instant> parse_iso8601(std::string_view text, const date::time_zone* zone);

}  // namespace nightshift

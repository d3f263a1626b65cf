// nightshift calendar: the next fire instants of a schedule, like
// `systemd-analyze calendar`, so a user can see DST and day rules before midnight.
#include "command.h"
#include "options.h"

#include "nightshift/schedule.h"

#include <chrono>
#include <iostream>

namespace po = boost::program_options;

namespace nightshift::cli {

int calendar_command(int argc, char** argv) {
  CommandLine line;
  line.usage = "nightshift calendar EXPR [--timezone TZ] [--after ISO8601] [--count N]";
  line.about =
      "Prints the next N fire instants of a cron expression, one ISO 8601 instant with offset a "
      "line.\n"
      "EXPR: 5 fields (m h dom mon dow), 6 with seconds first, or "
      "@yearly/@monthly/@weekly/@daily/@hourly.";
  std::string expr;
  std::string timezone = "UTC";
  std::string after_text;
  int count = 5;
  line.options.add_options()("expr", po::value(&expr), "the schedule (positional)")(
      "timezone,z", po::value(&timezone)->default_value("UTC"),
      "IANA time zone the schedule is read in")(
      "after,a", po::value(&after_text),
      "list fire times strictly after this instant (default: now)")(
      "count,n", po::value(&count)->default_value(5), "how many fire times to print");
  line.positional.add("expr", 1);
  po::variables_map values;
  if (auto exit = parse_command_line(argc, argv, line, values)) return *exit;
  if (expr.empty()) return usage_error(line, "missing EXPR");
  if (count < 1) return usage_error(line, "--count must be at least 1");

  auto schedule = Schedule::parse(expr, timezone);
  if (!schedule) {
    const TextError& e = schedule.error();
    if (!find_time_zone(timezone)) {
      std::cerr << "nightshift: " << e.message << "\n";
    } else {
      std::cerr << "nightshift: bad schedule: " << e.message << "\n  " << expr << "\n  "
                << std::string(e.offset, ' ') << "^\n";
    }
    return kExitFailure;
  }
  Instant after =
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  if (!after_text.empty()) {
    auto parsed = parse_iso8601(after_text, schedule->zone());
    if (!parsed)
      return usage_error(line, "bad --after '" + after_text +
                                   "': expected ISO 8601, as in 2026-11-25T00:00:00+09:00");
    after = *parsed;
  }
  for (int i = 0; i < count; ++i) {
    auto next = schedule->next_fire_after(after);
    if (!next) break;
    std::cout << schedule->format(*next) << "\n";
    after = *next;
  }
  return kExitOk;
}

}  // namespace nightshift::cli

// Times Schedule::next_fire_after on a mix of expressions and zones: each call
// chains from the previous answer, wrapping back to the start after a few years.
#include "nightshift/schedule.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

constexpr long kCalls = 1'000'000;

struct Case {
  const char* expr;
  const char* timezone;
};

constexpr Case kCases[] = {
    {"10 0 * * *", "Asia/Tokyo"},
    {"*/15 * * * *", "America/New_York"},
    {"0 0 29 2 *", "UTC"},
    {"0 30 9 * * MON-FRI", "Europe/London"},
};

}  // namespace

int main() {
  std::vector<nightshift::Schedule> schedules;
  for (const Case& c : kCases) {
    auto parsed = nightshift::Schedule::parse(c.expr, c.timezone);
    if (!parsed) {
      std::fprintf(stderr, "%s: %s\n", c.expr, parsed.error().message.c_str());
      return EXIT_FAILURE;
    }
    schedules.push_back(std::move(*parsed));
  }

  const nightshift::Instant start = date::sys_days{date::year{2026} / 1 / 1};
  const nightshift::Instant wrap = date::sys_days{date::year{2036} / 1 / 1};
  std::vector<nightshift::Instant> cursors(schedules.size(), start);
  long checksum = 0;  // keeps the calls from being optimized away

  const auto begin = std::chrono::steady_clock::now();
  for (long i = 0; i < kCalls; ++i) {
    const std::size_t k = static_cast<std::size_t>(i) % schedules.size();
    const auto fire = schedules[k].next_fire_after(cursors[k]);
    cursors[k] = fire && *fire < wrap ? *fire : start;
    checksum += cursors[k].time_since_epoch().count() & 0xff;
  }
  const auto elapsed = std::chrono::steady_clock::now() - begin;

  const double seconds = std::chrono::duration<double>(elapsed).count();
  std::printf("calendar_bench: %ld next_fire_after calls in %.3f s\n", kCalls, seconds);
  std::printf("  %.0f calls/s, %.1f ns/call (checksum %ld)\n", kCalls / seconds,
              seconds * 1e9 / kCalls, checksum);
  for (std::size_t k = 0; k < schedules.size(); ++k)
    std::printf("  %-20s %-18s last %s\n", kCases[k].expr, kCases[k].timezone,
                schedules[k].format(cursors[k]).c_str());
  return EXIT_SUCCESS;
}

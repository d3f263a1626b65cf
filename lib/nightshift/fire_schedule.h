// Which fire times of a job are due, and as what: the scheduler's decisions,
// pure and driven by a clock the caller passes in (DESIGN.md: catchup, deadline).
#pragma once

#include "nightshift/job_spec.h"

#include <chrono>
#include <optional>
#include <vector>

namespace nightshift {

struct DueFire {
  Instant at;
  bool catchup = false;  // a fire time missed while the daemon was down or asleep
};

// Every fire time in (since, now] to run now. At startup (`after_downtime`) all
// of them are missed and `catchup` decides: none → nothing, latest → the last
// one, all → each of them (at most `limit`, the latest ones). Otherwise the last
// one is the on-time fire and any earlier ones (a late wake-up) were missed.
std::vector<DueFire> due_fires(const JobSpec& job, Instant since, Instant now, bool after_downtime,
                               std::size_t limit = 1000);

// The job's usual gap between fire times: the median of the gaps between its
// next `fires` fire times after `from` (an even count of gaps takes the mean of
// the middle two), for "no success within 1.5 × the interval" alerts. The
// median keeps a weekday schedule at one day (the weekend gap is the
// exception) and a DST change from moving it. nullopt for a manual-only job or
// one with fewer than two fire times ahead.
std::optional<std::chrono::seconds> schedule_interval(const JobSpec& job, Instant from,
                                                      std::size_t fires = 11);

// The instant by which the run of fire time `fire` must have succeeded: the
// first time the deadline's local time of day comes at or after `fire`.
std::optional<Instant> deadline_for(const JobSpec& job, Instant fire);

}  // namespace nightshift

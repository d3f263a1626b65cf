#include "nightshift/fire_schedule.h"

#include <algorithm>
#include <deque>

namespace nightshift {

std::vector<DueFire> due_fires(const JobSpec& job, Instant since, Instant now, bool after_downtime,
                               std::size_t limit) {
  if (!job.schedule || limit == 0) return {};
  // Keep only the latest `limit` fire times: a job down for years must not
  // flood the store.
  std::deque<Instant> fires;
  for (auto t = job.schedule->next_fire_after(since); t && *t <= now;
       t = job.schedule->next_fire_after(*t)) {
    fires.push_back(*t);
    if (fires.size() > limit) fires.pop_front();
  }
  if (fires.empty()) return {};

  std::vector<DueFire> due;
  std::size_t missed = after_downtime ? fires.size() : fires.size() - 1;
  if (job.catchup == Catchup::all) {
    for (std::size_t i = 0; i < missed; ++i) due.push_back({fires[i], true});
  } else if (job.catchup == Catchup::latest && missed > 0) {
    due.push_back({fires[missed - 1], true});
  }
  if (!after_downtime) due.push_back({fires.back(), false});
  return due;
}

std::optional<std::chrono::seconds> schedule_interval(const JobSpec& job, Instant from,
                                                      std::size_t fires) {
  if (!job.schedule) return std::nullopt;
  std::vector<std::chrono::seconds> gaps;
  std::optional<Instant> previous = job.schedule->next_fire_after(from);
  for (std::size_t i = 1; previous && i < fires; ++i) {
    std::optional<Instant> next = job.schedule->next_fire_after(*previous);
    if (!next) break;
    gaps.push_back(*next - *previous);
    previous = next;
  }
  if (gaps.empty()) return std::nullopt;
  std::sort(gaps.begin(), gaps.end());
  std::size_t middle = gaps.size() / 2;
  if (gaps.size() % 2 == 1) return gaps[middle];
  return (gaps[middle - 1] + gaps[middle]) / 2;
}

std::optional<Instant> deadline_for(const JobSpec& job, Instant fire) {
  if (!job.deadline) return std::nullopt;
  auto local = job.zone->to_local(fire);
  auto day = date::floor<date::days>(local);
  for (int extra = 0; extra < 2; ++extra) {
    date::local_seconds candidate = day + date::days(extra) + *job.deadline;
    auto info = job.zone->get_info(candidate);
    Instant at = info.result == date::local_info::nonexistent
                     ? std::chrono::time_point_cast<std::chrono::seconds>(info.second.begin)
                     : job.zone->to_sys(candidate, date::choose::earliest);
    if (at >= fire) return at;
  }
  return std::nullopt;
}

}  // namespace nightshift

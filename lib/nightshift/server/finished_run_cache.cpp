#include "nightshift/server/finished_run_cache.h"

#include <utility>

namespace nightshift {

std::optional<std::string> FinishedRunCache::find(std::int64_t run_id) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(run_id);
  if (it == index_.end()) return std::nullopt;
  entries_.splice(entries_.begin(), entries_, it->second);
  return it->second->second;
}

void FinishedRunCache::put(std::int64_t run_id, std::string body) {
  if (capacity_ == 0) return;
  std::lock_guard lock(mutex_);
  if (auto it = index_.find(run_id); it != index_.end()) {
    it->second->second = std::move(body);
    entries_.splice(entries_.begin(), entries_, it->second);
    return;
  }
  entries_.emplace_front(run_id, std::move(body));
  index_[run_id] = entries_.begin();
  if (entries_.size() > capacity_) {
    index_.erase(entries_.back().first);
    entries_.pop_back();
  }
}

}  // namespace nightshift

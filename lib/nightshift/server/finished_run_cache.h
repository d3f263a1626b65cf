// FinishedRunCache: the GET /runs/{id} answers of finished runs, which never
// change, so the dashboard's many looks at yesterday's runs cost no store read.
// Bounded: the least recently used answer goes first. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace nightshift {

class FinishedRunCache {
 public:
  explicit FinishedRunCache(std::size_t capacity) : capacity_(capacity) {}

  std::optional<std::string> find(std::int64_t run_id);
  void put(std::int64_t run_id, std::string body);

 private:
  using Entry = std::pair<std::int64_t, std::string>;
  std::size_t capacity_;
  std::mutex mutex_;
  std::list<Entry> entries_;  // most recently used first
  std::unordered_map<std::int64_t, std::list<Entry>::iterator> index_;
};

}  // namespace nightshift

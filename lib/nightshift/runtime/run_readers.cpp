#include "nightshift/runtime/run_readers.h"

#include <utility>

namespace nightshift {

RunReaders::RunReaders(Open open, std::size_t size)
    : open_(std::move(open)), size_(size == 0 ? 1 : size) {}

std::unique_ptr<RunReader> RunReaders::take() {
  std::unique_lock lock(mutex_);
  freed_.wait(lock, [this] { return !idle_.empty() || open_count_ < size_; });
  if (!idle_.empty()) {
    auto reader = std::move(idle_.back());
    idle_.pop_back();
    return reader;
  }
  ++open_count_;
  lock.unlock();
  try {
    return open_();  // outside the lock: opening a MySQL connection may take seconds
  } catch (...) {
    lock.lock();
    --open_count_;
    lock.unlock();
    freed_.notify_one();
    throw;
  }
}

void RunReaders::give_back(std::unique_ptr<RunReader> reader) {
  {
    std::lock_guard lock(mutex_);
    if (reader)
      idle_.push_back(std::move(reader));
    else
      --open_count_;
  }
  freed_.notify_one();
}

template <class F>
auto RunReaders::with(F&& read) -> decltype(read(std::declval<RunReader&>())) {
  auto reader = take();
  try {
    auto result = read(*reader);
    give_back(std::move(reader));
    return result;
  } catch (...) {
    reader.reset();  // a failed connection is not reused
    give_back(nullptr);
    throw;
  }
}

std::optional<RunRecord> RunReaders::get_run(std::int64_t run_id) {
  return with([&](RunReader& r) { return r.get_run(run_id); });
}
std::vector<AttemptRecord> RunReaders::attempts(std::int64_t run_id) {
  return with([&](RunReader& r) { return r.attempts(run_id); });
}
std::vector<RunRecord> RunReaders::list_runs(const std::string& job, int limit,
                                             std::optional<std::int64_t> before) {
  return with([&](RunReader& r) { return r.list_runs(job, limit, before); });
}
std::vector<RunSummary> RunReaders::latest_runs() {
  return with([](RunReader& r) { return r.latest_runs(); });
}
std::vector<RunRecord> RunReaders::unfinished_runs() {
  return with([](RunReader& r) { return r.unfinished_runs(); });
}
std::vector<RunRecord> RunReaders::unfinished_runs_of(const std::string& job) {
  return with([&](RunReader& r) { return r.unfinished_runs_of(job); });
}
std::optional<Instant> RunReaders::scheduled_through(const std::string& job) {
  return with([&](RunReader& r) { return r.scheduled_through(job); });
}

std::map<std::string, bool> RunReaders::paused_jobs() {
  return with([&](RunReader& r) { return r.paused_jobs(); });
}

std::vector<RunRecord> RunReaders::runs_scheduled_between(const std::string& job, Instant from,
                                                          Instant to) {
  return with([&](RunReader& r) { return r.runs_scheduled_between(job, from, to); });
}

}  // namespace nightshift

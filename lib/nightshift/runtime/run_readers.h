// RunReaders: a few read connections to a store, apart from its writer's, for
// the API's handlers. A read takes a free connection (opening one when fewer
// than `size` are open) and gives it back; when all are busy it waits, which
// is fine where reads run: on the API's own threads, never an io thread. On
// SQLite in WAL mode readers never wait for the writer; on MySQL each is a
// session of its own. A connection whose read failed is closed, not reused,
// so the next read reconnects.
#pragma once

#include "nightshift/runtime/run_store.h"

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace nightshift {

class RunReaders final : public RunReader {
 public:
  using Open = std::function<std::unique_ptr<RunReader>()>;

  RunReaders(Open open, std::size_t size);

  std::optional<RunRecord> get_run(std::int64_t run_id) override;
  std::vector<AttemptRecord> attempts(std::int64_t run_id) override;
  std::vector<RunRecord> list_runs(const std::string& job, int limit,
                                   std::optional<std::int64_t> before = std::nullopt) override;
  std::vector<RunSummary> latest_runs() override;
  std::vector<RunRecord> unfinished_runs() override;
  std::vector<RunRecord> unfinished_runs_of(const std::string& job) override;
  std::optional<Instant> scheduled_through(const std::string& job) override;
  std::map<std::string, bool> paused_jobs() override;
  std::vector<RunRecord> runs_scheduled_between(const std::string& job, Instant from,
                                                Instant to) override;

 private:
  template <class F>
  auto with(F&& read) -> decltype(read(std::declval<RunReader&>()));
  std::unique_ptr<RunReader> take();
  void give_back(std::unique_ptr<RunReader> reader);

  Open open_;
  std::size_t size_;
  std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<RunReader>> idle_;
  std::size_t open_count_ = 0;  // idle and in use
};

}  // namespace nightshift

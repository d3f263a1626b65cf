// RetentionPruner: applies the config's `retention` on a thread of its own,
// shortly after start and then once a day. Finished runs whose finished_at is
// older than `retention.runs` go from the store (with their steps and
// attempts) in small batches, each one transaction written by the store's
// writer, so no batch holds the store for long and the executor's writes go
// in between. Log folders ({log_dir}/{job}/{run_id}) whose newest file is older
// than `retention.logs` are removed, unless their run is still unfinished.
#pragma once

#include "nightshift/config_spec.h"
#include "nightshift/runtime/run_store.h"
#include "nightshift/runtime/store_writer.h"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace nightshift {

struct RetentionOptions {
  RetentionSpec retention;
  std::string log_dir;
  std::chrono::milliseconds first_delay{10'000};  // after start: let recovery and catch-up go first
  std::chrono::milliseconds interval{24 * 3600 * 1000};
  int batch = 500;  // runs a transaction
  std::function<void(const std::string& level, const std::string& message)> log;
  // What a pass removed: kind "runs" or "log_folders".
  std::function<void(const std::string& kind, std::size_t count)> pruned;
  // The ids of the runs a batch deleted, once it is committed.
  std::function<void(const std::vector<std::int64_t>& run_ids)> runs_deleted;
};

class RetentionPruner {
 public:
  // `reader` (safe from another thread) tells the unfinished runs, whose
  // log folders stay; `writer` deletes runs. Does nothing without retention.
  RetentionPruner(RetentionOptions options, StoreWriter& writer, RunReader& reader);
  ~RetentionPruner();  // stop()
  RetentionPruner(const RetentionPruner&) = delete;
  RetentionPruner& operator=(const RetentionPruner&) = delete;

  // Ends the thread; a pass under way stops after its current batch. Idempotent.
  void stop();

  // One pass now, on the calling thread (the thread's loop calls it).
  void prune_once();

 private:
  void loop();
  std::size_t prune_runs(Timestamp finished_before);
  std::size_t prune_log_folders(std::chrono::system_clock::time_point older_than);
  // Waits up to `how_long`; false once stop() was called.
  bool wait(std::chrono::milliseconds how_long);
  bool stopping();
  void log(const std::string& level, const std::string& message);

  RetentionOptions options_;
  StoreWriter& writer_;
  RunReader& reader_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace nightshift

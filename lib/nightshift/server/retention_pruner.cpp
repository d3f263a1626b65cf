#include "nightshift/server/retention_pruner.h"

#include "nightshift/runtime/run_log_folders.h"

#include <filesystem>
#include <future>
#include <set>
#include <system_error>

namespace nightshift {
namespace {

namespace fs = std::filesystem;

// How long a batch may wait for the writer (a store that is down) before the
// pass gives up until the next one.
constexpr auto kBatchWait = std::chrono::minutes(5);

// When anything in a run's log folder was last written: its newest file, or
// the folder itself when it is empty.
fs::file_time_type last_written(const fs::path& folder, std::error_code& ec) {
  fs::file_time_type newest = fs::last_write_time(folder, ec);
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code file_ec;
    auto t = it->last_write_time(file_ec);
    if (!file_ec && t > newest) newest = t;
  }
  return newest;
}

}  // namespace

RetentionPruner::RetentionPruner(RetentionOptions options, StoreWriter& writer, RunReader& reader)
    : options_(std::move(options)), writer_(writer), reader_(reader) {
  if (options_.retention.runs || options_.retention.logs) thread_ = std::thread([this] { loop(); });
}

RetentionPruner::~RetentionPruner() {
  stop();
}

void RetentionPruner::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool RetentionPruner::wait(std::chrono::milliseconds how_long) {
  std::unique_lock lock(mutex_);
  return !wake_.wait_for(lock, how_long, [this] { return stopping_; });
}

bool RetentionPruner::stopping() {
  std::lock_guard lock(mutex_);
  return stopping_;
}

void RetentionPruner::loop() {
  for (auto delay = options_.first_delay; wait(delay); delay = options_.interval) prune_once();
}

void RetentionPruner::prune_once() {
  const auto now = std::chrono::system_clock::now();
  try {
    if (options_.retention.runs) {
      const Timestamp before =
          std::chrono::time_point_cast<std::chrono::milliseconds>(now - *options_.retention.runs);
      if (std::size_t n = prune_runs(before)) {
        log("info", "retention: pruned " + std::to_string(n) + " runs finished more than " +
                        format_duration(*options_.retention.runs) + " ago");
      }
    }
    if (options_.retention.logs) {
      if (std::size_t n = prune_log_folders(now - *options_.retention.logs)) {
        log("info", "retention: removed " + std::to_string(n) +
                        " run log folders last written more than " +
                        format_duration(*options_.retention.logs) + " ago");
      }
    }
  } catch (const StoreError& e) {
    log("warn", std::string("retention: stopped until the next pass: ") + e.what());
  }
}

// Batch by batch through the writer, each its own transaction among the
// executor's writes, until a batch comes back short.
std::size_t RetentionPruner::prune_runs(Timestamp finished_before) {
  std::size_t total = 0;
  const int batch = options_.batch;
  while (!stopping()) {
    auto ids = std::make_shared<std::vector<std::int64_t>>();
    auto committed = std::make_shared<std::promise<void>>();
    auto done = committed->get_future();
    writer_.submit(
        "pruning finished runs",
        [ids, finished_before, batch](RunStore& store) {
          *ids = store.prune_finished_runs(finished_before, batch);
        },
        [committed] { committed->set_value(); });
    // A stopping writer drops what it has not written: look at stop() now and then.
    const auto give_up = std::chrono::steady_clock::now() + kBatchWait;
    while (done.wait_for(std::chrono::milliseconds(200)) != std::future_status::ready) {
      if (stopping()) return total;
      if (std::chrono::steady_clock::now() > give_up)
        throw StoreError("the store has not taken a batch of deletes within 5 minutes");
    }
    total += ids->size();
    if (!ids->empty() && options_.pruned) options_.pruned("runs", ids->size());
    if (!ids->empty() && options_.runs_deleted) options_.runs_deleted(*ids);
    if (std::ssize(*ids) < batch) break;
  }
  return total;
}

std::size_t RetentionPruner::prune_log_folders(std::chrono::system_clock::time_point older_than) {
  std::set<std::int64_t> unfinished;
  for (const RunRecord& run : reader_.unfinished_runs()) unfinished.insert(run.run_id);
  const auto limit = fs::file_time_type::clock::now() -
                     (std::chrono::system_clock::now() - older_than);
  std::size_t removed = 0;
  for_each_run_log_folder(options_.log_dir, [&](const fs::path& folder, std::int64_t id) {
    if (stopping()) return false;
    std::error_code ec;
    if (unfinished.contains(id) || last_written(folder, ec) >= limit || ec) return true;
    if (fs::remove_all(folder, ec) == static_cast<std::uintmax_t>(-1) || ec) {
      log("warn", "retention: cannot remove " + folder.string() + ": " + ec.message());
      return true;
    }
    ++removed;
    if (options_.pruned) options_.pruned("log_folders", 1);
    return true;
  });
  return removed;
}

void RetentionPruner::log(const std::string& level, const std::string& message) {
  if (options_.log) options_.log(level, message);
}

}  // namespace nightshift

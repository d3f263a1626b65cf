// StoreWriter: the one thread that writes the executor's state changes to the
// run store, so no Asio thread ever waits on a commit. Writes queued together
// commit together (RunStore::write_batch), so the cost per change falls as the
// load rises. A write that fails is retried, in order, until it succeeds: the
// store is the truth, and a change that is not in it is not acted on. The
// writer says once when writing starts failing and once when it works again.
#pragma once

#include "nightshift/runtime/run_store.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace nightshift {

struct StoreWriterOptions {
  std::chrono::milliseconds first_backoff{50};  // after the first failed commit
  std::chrono::milliseconds longest_backoff{2000};
  // "warn" when writes start failing, "info" when they work again.
  std::function<void(const std::string& level, const std::string& message)> notice;
  // The store is gone for good (StoreGone): the writer has stopped, dropping
  // what was queued; the caller should stop too.
  std::function<void(const std::string& why)> gone;
};

class StoreWriter {
 public:
  using Write = std::function<void(RunStore&)>;
  using Then = std::function<void()>;

  StoreWriter(RunStore& store, StoreWriterOptions options);
  // Stops, see stop().
  ~StoreWriter();
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  // Queues a write. Once it and every write queued before it are committed,
  // `then` is called on the writer's thread, in commit order (it must not
  // block: post work elsewhere, or do short bookkeeping under a lock that is
  // never held while waiting on this writer). `what` names the write in
  // messages. Thread-safe.
  void submit(std::string what, Write write, Then then = {});

  // Whether the last commit succeeded, and if not, why.
  struct Health {
    bool up = true;
    std::string error;
  };
  Health health() const;

  // Commits what is queued and ends the thread. While the store fails, what is
  // still queued is dropped with a warning: a restarted daemon resumes from
  // the store. Later submits are dropped. Idempotent.
  void stop();

 private:
  struct Item {
    std::string what;
    Write write;
    Then then;
  };

  void loop();
  // Commits the batch, retrying until it succeeds or the writer stops.
  bool commit(std::deque<Item>& batch);
  void set_health(bool up, const std::string& error);

  RunStore& store_;
  StoreWriterOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  Health health_;
  std::chrono::steady_clock::time_point down_since_;
  std::thread thread_;
};

}  // namespace nightshift

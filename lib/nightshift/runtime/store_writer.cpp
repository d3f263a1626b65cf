#include "nightshift/runtime/store_writer.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace nightshift {

StoreWriter::StoreWriter(RunStore& store, StoreWriterOptions options)
    : store_(store), options_(std::move(options)), thread_([this] { loop(); }) {}

StoreWriter::~StoreWriter() {
  stop();
}

void StoreWriter::submit(std::string what, Write write, Then then) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    queue_.push_back(Item{std::move(what), std::move(write), std::move(then)});
  }
  wake_.notify_one();
}

StoreWriter::Health StoreWriter::health() const {
  std::lock_guard lock(mutex_);
  return health_;
}

void StoreWriter::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void StoreWriter::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and all written
    std::deque<Item> batch;
    batch.swap(queue_);
    lock.unlock();
    bool committed = commit(batch);
    // `then` may release the last hold on the caller's io_context: outside the lock.
    if (committed)
      for (Item& item : batch)
        if (item.then) item.then();
    std::size_t dropped = committed ? 0 : batch.size();
    batch.clear();
    lock.lock();
    if (!committed) {
      dropped += queue_.size();
      queue_.clear();
      stopping_ = true;  // later submits are dropped: nothing waits for a thread that is gone
      lock.unlock();
      if (options_.notice)
        options_.notice("warn", "stopped while store writes failed; dropped the changes they "
                                "held (" + std::to_string(dropped) +
                                    "); a restarted daemon resumes from what the store holds");
      return;
    }
  }
}

bool StoreWriter::commit(std::deque<Item>& batch) {
  auto backoff = options_.first_backoff;
  for (;;) {
    // What to name in the error: the write that threw, or the batch as a whole.
    const std::string whole = batch.size() == 1
                                  ? batch.front().what
                                  : "committing " + std::to_string(batch.size()) +
                                        " changes (the first: " + batch.front().what + ")";
    std::string failed = whole;
    try {
      store_.write_batch([&] {
        for (Item& item : batch) {
          failed = item.what;
          item.write(store_);
        }
        failed = whole;
      });
      set_health(true, {});
      return true;
    } catch (const StoreGone& e) {
      {
        std::lock_guard lock(mutex_);
        health_ = Health{false, e.what()};
      }
      if (options_.gone) options_.gone(e.what());
      return false;
    } catch (const StoreError& e) {
      set_health(false, failed + ": " + e.what());
    }
    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, backoff, [this] { return stopping_; })) return false;
    backoff = std::min(backoff * 2, options_.longest_backoff);
  }
}

void StoreWriter::set_health(bool up, const std::string& error) {
  std::string message;
  {
    std::lock_guard lock(mutex_);
    const bool was_up = health_.up;
    health_ = Health{up, error};
    if (was_up && !up) {
      down_since_ = std::chrono::steady_clock::now();
      message = "store write failed, retrying until it succeeds (no step starts or settles "
                "meanwhile): " + error;
    } else if (!was_up && up) {
      auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - down_since_);
      message = "store writes succeed again after " +
                std::to_string(static_cast<long long>(std::lround(seconds.count()))) + " s";
    }
  }
  if (!message.empty() && options_.notice) options_.notice(up ? "info" : "warn", message);
}

}  // namespace nightshift

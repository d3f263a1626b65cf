#include "nightshift/runtime/store_writer.h"

#include "nightshift/runtime/memory_run_store.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

using namespace nightshift;
using namespace std::chrono_literals;

namespace {

// Counts batches; refuses them while `failing`; can hold the first one back
// until the test has queued more behind it.
class BatchStore final : public MemoryRunStore {
 public:
  std::atomic<bool> failing{false};
  std::atomic<int> batches{0};
  std::atomic<int> refused{0};

  void write_batch(const std::function<void()>& writes) override {
    {
      std::unique_lock lock(mutex_);
      gate_.wait(lock, [&] { return open_; });
    }
    if (failing) {
      ++refused;
      throw StoreError("disk I/O error (the test's)");
    }
    ++batches;
    writes();
  }
  void hold() {
    std::lock_guard lock(mutex_);
    open_ = false;
  }
  void release() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    gate_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable gate_;
  bool open_ = true;
};

// Collects what the writer calls back, for the test thread to wait on.
struct Log {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> lines;

  void add(std::string line) {
    {
      std::lock_guard lock(mutex);
      lines.push_back(std::move(line));
    }
    changed.notify_all();
  }
  // Waits (bounded: only catches a hang) until `n` lines are there.
  std::vector<std::string> wait_for(std::size_t n) {
    std::unique_lock lock(mutex);
    changed.wait_for(lock, 60s, [&] { return lines.size() >= n; });
    return lines;
  }
};

StoreWriter::Write noop() {
  return [](RunStore&) {};
}

}  // namespace

TEST_CASE("store writer: writes queued together commit in one batch, callbacks in order") {
  BatchStore store;
  Log log;
  StoreWriter writer(store, {});
  store.hold();  // the first batch waits, so the next ten queue up behind it
  writer.submit("first", noop(), [&] { log.add("first"); });
  for (int i = 0; i < 10; ++i)
    writer.submit("w" + std::to_string(i), noop(), [&, i] { log.add(std::to_string(i)); });
  store.release();
  auto lines = log.wait_for(11);
  REQUIRE(lines.size() == 11);
  CHECK(lines.front() == "first");
  for (int i = 0; i < 10; ++i) CHECK(lines[static_cast<std::size_t>(i) + 1] == std::to_string(i));
  writer.stop();
  CHECK(store.batches <= 2);  // the ten behind the first went in one commit (or with it)
}

TEST_CASE("store writer: a failing store is retried until it takes the writes, said once each way") {
  BatchStore store;
  Log log;
  Log notices;
  StoreWriterOptions options;
  options.first_backoff = 1ms;
  options.longest_backoff = 5ms;
  options.notice = [&](const std::string& level, const std::string& message) {
    notices.add(level + ": " + message);
  };
  StoreWriter writer(store, options);
  store.failing = true;
  writer.submit("recording the start of extract", noop(), [&] { log.add("done"); });
  auto warned = notices.wait_for(1);
  REQUIRE(warned.size() == 1);
  CHECK(warned[0].rfind("warn: store write failed", 0) == 0);
  CHECK(warned[0].find("recording the start of extract") != std::string::npos);
  CHECK(warned[0].find("disk I/O error (the test's)") != std::string::npos);
  CHECK_FALSE(writer.health().up);
  // Several more refusals, one notice.
  while (store.refused < 5) std::this_thread::sleep_for(1ms);
  {
    std::lock_guard lock(log.mutex);
    CHECK(log.lines.empty());  // nothing acted on
  }
  store.failing = false;
  CHECK(log.wait_for(1) == std::vector<std::string>{"done"});
  auto said = notices.wait_for(2);
  REQUIRE(said.size() == 2);
  CHECK(said[1].rfind("info: store writes succeed again", 0) == 0);
  CHECK(writer.health().up);
  writer.stop();
  CHECK(notices.lines.size() == 2);
}

TEST_CASE("store writer: stop commits what is queued, or drops it while the store fails") {
  SECTION("a working store") {
    BatchStore store;
    std::atomic<int> done{0};
    StoreWriter writer(store, {});
    for (int i = 0; i < 100; ++i) writer.submit("w", noop(), [&] { ++done; });
    writer.stop();
    CHECK(done == 100);
    writer.submit("after", noop(), [&] { ++done; });  // dropped: stopped
    CHECK(done == 100);
  }
  SECTION("a failing store") {
    BatchStore store;
    store.failing = true;
    std::atomic<int> done{0};
    Log notices;
    StoreWriterOptions options;
    options.notice = [&](const std::string& level, const std::string& message) {
      notices.add(level + ": " + message);
    };
    StoreWriter writer(store, options);
    writer.submit("w", noop(), [&] { ++done; });
    notices.wait_for(1);
    writer.stop();
    CHECK(done == 0);
    auto said = notices.wait_for(2);
    REQUIRE(said.size() == 2);
    CHECK(said[1] == "warn: stopped while store writes failed; dropped the changes they held (1); "
                     "a restarted daemon resumes from what the store holds");
  }
}

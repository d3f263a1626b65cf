#include "nightshift/runtime/run_readers.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <thread>

using namespace nightshift;
using namespace std::chrono_literals;

namespace {

// A read connection that counts itself, fails when told to, and can be held
// inside a read until released.
struct Counters {
  std::atomic<int> opened{0};
  std::atomic<int> closed{0};
  std::atomic<bool> fail_next{false};
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> holding{0};
};

class CountingReader final : public RunReader {
 public:
  explicit CountingReader(Counters& c) : c_(c) { ++c_.opened; }
  ~CountingReader() override { ++c_.closed; }

  std::optional<RunRecord> get_run(std::int64_t) override {
    if (c_.fail_next.exchange(false)) throw StoreError("the connection broke");
    return std::nullopt;
  }
  // Held until released: a slow read.
  std::vector<AttemptRecord> attempts(std::int64_t) override {
    ++c_.holding;
    c_.released.wait();
    return {};
  }
  std::vector<RunRecord> list_runs(const std::string&, int, std::optional<std::int64_t>) override {
    return {};
  }
  std::vector<RunSummary> latest_runs() override { return {}; }
  std::vector<RunRecord> unfinished_runs() override { return {}; }
  std::optional<Instant> scheduled_through(const std::string&) override { return std::nullopt; }
  std::map<std::string, bool> paused_jobs() override { return {}; }
  std::vector<RunRecord> runs_scheduled_between(const std::string&, Instant, Instant) override {
    return {};
  }

 private:
  Counters& c_;
};

}  // namespace

TEST_CASE("run readers: one connection serves reads one after another") {
  Counters c;
  RunReaders readers([&] { return std::make_unique<CountingReader>(c); }, 4);
  CHECK(c.opened == 0);  // opened when first needed
  for (int i = 0; i < 5; ++i) readers.get_run(1);
  CHECK(c.opened == 1);
}

TEST_CASE("run readers: a connection whose read failed is closed, the next read opens another") {
  Counters c;
  RunReaders readers([&] { return std::make_unique<CountingReader>(c); }, 2);
  readers.get_run(1);
  c.fail_next = true;
  CHECK_THROWS_AS(readers.get_run(1), StoreError);
  CHECK(c.closed == 1);
  readers.get_run(1);
  CHECK(c.opened == 2);
}

TEST_CASE("run readers: a connection that cannot be opened fails the read, not the pool") {
  Counters c;
  bool refuse = true;
  RunReaders readers(
      [&]() -> std::unique_ptr<RunReader> {
        if (refuse) throw StoreError("server unreachable");
        return std::make_unique<CountingReader>(c);
      },
      1);
  CHECK_THROWS_AS(readers.get_run(1), StoreError);
  refuse = false;
  readers.get_run(1);  // the one slot was given back
  CHECK(c.opened == 1);
}

TEST_CASE("run readers: at most `size` connections; a read beyond waits for a free one") {
  Counters c;
  RunReaders readers([&] { return std::make_unique<CountingReader>(c); }, 2);
  auto a = std::async(std::launch::async, [&] { return readers.attempts(1); });
  auto b = std::async(std::launch::async, [&] { return readers.attempts(1); });
  for (int i = 0; i < 1000 && c.holding < 2; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(c.holding == 2);
  auto third = std::async(std::launch::async, [&] { return readers.get_run(1); });
  // Not a timing claim: the third cannot finish before a connection is free.
  CHECK(third.wait_for(100ms) == std::future_status::timeout);
  c.release.set_value();
  a.get();
  b.get();
  third.get();
  CHECK(c.opened == 2);
}

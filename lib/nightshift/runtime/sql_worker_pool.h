// SqlWorkerPool: the threads on which an SQL runner's blocking client calls
// run, never the io_context's, and the attempts in flight there, so that the
// runner's end can stop them. Each attempt's result is posted to the
// io_context, which keeps work until then.
#pragma once

#include "nightshift/runtime/sql_attempt.h"
#include "nightshift/runtime/step_runner.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <cstddef>
#include <memory>
#include <mutex>
#include <unordered_set>

namespace nightshift {

class SqlWorkerPool {
 public:
  // `io` must outlive the pool. Attempts beyond `threads` wait for a worker.
  SqlWorkerPool(boost::asio::io_context& io, std::size_t threads);
  // Stops every attempt in flight (cancelled) and joins the workers: queued
  // attempts still run, find their stop at once, and report.
  ~SqlWorkerPool();
  SqlWorkerPool(const SqlWorkerPool&) = delete;
  SqlWorkerPool& operator=(const SqlWorkerPool&) = delete;

  // Queues the attempt and returns at once: `done` gets its result later, on
  // `io`, never from inside start(). The handle cancels it; dropping the
  // handle does not.
  std::shared_ptr<StepHandle> start(std::shared_ptr<SqlAttempt> attempt, StepRunner::Done done);

 private:
  boost::asio::io_context& io_;
  std::mutex mutex_;
  std::unordered_set<std::shared_ptr<SqlAttempt>> attempts_;  // queued or running
  boost::asio::thread_pool pool_;  // last: joined before the members its workers use go
};

}  // namespace nightshift

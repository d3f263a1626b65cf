// SqliteStepRunner: the StepRunner for sql steps on `driver: sqlite` connections.
// Each attempt runs its statements in order on a worker thread of the runner's
// own pool, writes them and their results to the step's log, and is stopped
// with sqlite3_interrupt on timeout or cancel.
#pragma once

#include "nightshift/runtime/step_runner.h"

#include <cstddef>
#include <memory>

namespace boost::asio {
class io_context;
}

namespace nightshift {

class SqliteStepRunner : public StepRunner {
 public:
  // `done` is posted to `io`, which must outlive the runner. SQLite calls block,
  // so they run on `threads` workers of the runner's own, never on `io`'s.
  // Attempts beyond `threads` wait for a worker; their timeout already runs.
  SqliteStepRunner(boost::asio::io_context& io, std::size_t threads);
  // Stops every attempt (outcome cancelled, `done` still posted) and joins the
  // workers.
  ~SqliteStepRunner() override;
  SqliteStepRunner(const SqliteStepRunner&) = delete;
  SqliteStepRunner& operator=(const SqliteStepRunner&) = delete;

  // Queues the attempt and returns at once; every outcome, a failed start
  // included, reaches `done` later, on `io`. Until then `io` has work, so its
  // run() does not return. Dropping the handle does not stop the attempt.
  std::shared_ptr<StepHandle> start(const StepInvocation& step, Done done) override;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nightshift

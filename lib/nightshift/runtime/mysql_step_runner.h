// MysqlStepRunner: the StepRunner for sql steps on `driver: mysql` connections
// (MySQL or MariaDB, through libmariadb). Each attempt opens its own
// connection on a worker thread of the runner's own pool, runs the script's
// statements one by one (split by split_sql_script), writes them and their
// results and warnings to the step's log, and is stopped on the server with
// KILL QUERY on timeout or cancel (MysqlQueryKiller).
#pragma once

#include "nightshift/runtime/step_runner.h"

#include <cstddef>
#include <memory>

namespace boost::asio {
class io_context;
}

namespace nightshift {

class MysqlStepRunner : public StepRunner {
 public:
  // `done` is posted to `io`, which must outlive the runner. Client calls
  // block, so they run on `threads` workers of the runner's own, never on
  // `io`'s. Attempts beyond `threads` wait for a worker; their timeout
  // already runs.
  MysqlStepRunner(boost::asio::io_context& io, std::size_t threads);
  // Stops every attempt (outcome cancelled, `done` still posted) and joins
  // the workers.
  ~MysqlStepRunner() override;
  MysqlStepRunner(const MysqlStepRunner&) = delete;
  MysqlStepRunner& operator=(const MysqlStepRunner&) = delete;

  // Queues the attempt and returns at once; every outcome, a failed start
  // included, reaches `done` later, on `io`. Until then `io` has work, so its
  // run() does not return. Dropping the handle does not stop the attempt.
  std::shared_ptr<StepHandle> start(const StepInvocation& step, Done done) override;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nightshift

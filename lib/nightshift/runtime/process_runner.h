// ProcessRunner: the StepRunner for command and shell steps. Each attempt is a
// child process leading its own process group, its stdout and stderr copied to
// the step's log, stopped as a whole group on timeout or cancel. It reaps its
// own children by pid, so the daemon must neither ignore SIGCHLD nor call
// waitpid(-1): orphans are reaped through ChildRegistry, which knows its pids.
#pragma once

#include "nightshift/duration.h"
#include "nightshift/runtime/program_search.h"
#include "nightshift/runtime/step_log.h"
#include "nightshift/runtime/step_runner.h"

#include <chrono>
#include <memory>

namespace boost::asio {
class io_context;
}

namespace nightshift {

class ProcessRunner : public StepRunner {
 public:
  // Handlers (and `done`) run on `io`, which may be run by several threads:
  // each attempt serializes its own work on a strand of its own.
  // `output_drain` bounds how long the log stays open after the step's process
  // group is gone, for a process that escaped the group (setsid) and still
  // holds the output pipe. `write_log` replaces write(2) for the logs (tests).
  explicit ProcessRunner(boost::asio::io_context& io,
                         Duration output_drain = std::chrono::seconds(5),
                         StepLog::WriteFunction write_log = {});

  // Spawns the process before returning; every outcome, a failed start
  // included, reaches `done` later, on `io`, never from inside start().
  // Dropping the returned handle does not stop the attempt. If `io` is destroyed
  // first, the process group is killed and reaped and `done` is never called.
  std::shared_ptr<StepHandle> start(const StepInvocation& step, Done done) override;

 private:
  boost::asio::io_context& io_;
  Duration output_drain_;
  StepLog::WriteFunction write_log_;
  ProgramSearch programs_;  // what each run's steps found on PATH
};

}  // namespace nightshift

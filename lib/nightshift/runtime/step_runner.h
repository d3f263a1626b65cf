// StepRunner: the seam between the executor and the outside world. It starts
// one attempt of a step (a process, an SQL script, or a fake in tests) and
// reports once how that attempt ended.
#pragma once

#include "nightshift/config_spec.h"
#include "nightshift/duration.h"
#include "nightshift/job_spec.h"
#include "nightshift/step_state.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace nightshift {

// Everything needed to run one attempt, already rendered and with secrets
// resolved. It lives only in memory: never logged, never stored.
struct StepInvocation {
  std::int64_t run_id = 0;
  std::string job;
  std::string step;
  int attempt = 1;
  StepKind kind = StepKind::command;
  std::vector<std::string> argv;  // command: as written; shell: {"/bin/sh", "-c", script}
  std::string sql;                // sql steps: the statements
  std::optional<ConnectionSpec> connection;              // sql steps; its password resolved
  std::vector<std::pair<std::string, std::string>> env;  // the whole environment
  std::string workdir;                                   // empty: the runner's current directory
  std::string log_path;  // stdout and stderr (or the SQL log) go here; a new file
  // The secret values the step was given (resolved ${secret:} and ${env:}
  // references, the connection's password): shown as "***" in its log and error.
  std::vector<std::string> secrets;
  std::optional<Duration> timeout;
  Duration kill_grace = std::chrono::seconds(10);
};

struct StepResult {
  StepState outcome = StepState::failed;  // succeeded, failed, timed_out or cancelled
  std::optional<int> exit_code;           // a process's exit status (128+N for signal N)
  std::string error;                      // why it could not start or run, for the log
  bool log_incomplete = false;            // the log could not be written whole (`error` says why)
};

// A started attempt, to stop it early.
class StepHandle {
 public:
  virtual ~StepHandle() = default;
  // Stops the attempt: SIGTERM to its process group, SIGKILL after kill_grace
  // (or the SQL equivalent). The attempt then ends as `cancelled`. Idempotent.
  virtual void cancel() = 0;
};

class StepRunner {
 public:
  using Done = std::function<void(StepResult)>;

  virtual ~StepRunner() = default;

  // Starts an attempt. `done` is called exactly once, from the runner's
  // io_context, after the attempt has ended and its log is closed; also when it
  // could not start (outcome failed, `error` says why). The runner enforces
  // `timeout` itself (outcome timed_out).
  virtual std::shared_ptr<StepHandle> start(const StepInvocation& step, Done done) = 0;
};

}  // namespace nightshift

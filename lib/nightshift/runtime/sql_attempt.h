// SqlAttempt: one attempt of an sql step as an SQL runner's worker pool sees
// it, whatever the driver: any thread can stop it, and a worker runs it once
// under the outcome rules every driver shares.
#pragma once

#include "nightshift/runtime/step_runner.h"

#include <string>
#include <vector>

namespace nightshift {

class StepLog;

enum class StopReason { none, timed_out, cancelled };

class SqlAttempt {
 public:
  // `secrets`: masked in the log and the result's error.
  explicit SqlAttempt(const StepInvocation& step)
      : log_path_(step.log_path), secrets_(step.secrets) {}
  virtual ~SqlAttempt() = default;
  SqlAttempt(const SqlAttempt&) = delete;
  SqlAttempt& operator=(const SqlAttempt&) = delete;

  // Any thread: stops the attempt. The first reason wins; once the attempt
  // has ended, a no-op.
  virtual void request_stop(StopReason reason) = 0;

  // Worker thread, once: opens the log and runs the script. An exception
  // fails the attempt; a stop decides the outcome whatever the database
  // answered; a log that could not be written is named in the result.
  StepResult run();

 protected:
  // Worker thread: the driver's part, the log open.
  virtual StepResult run_script(StepLog& log) = 0;
  // Worker thread, after run_script (and before the connection closes, where
  // the driver can): no stop lands after this, so the reason returned is
  // final. Idempotent.
  virtual StopReason finish() = 0;

  static StepResult succeeded() { return {StepState::succeeded, 0, {}}; }
  // A statement failed; its error is in the log (and in `error`, if given).
  static StepResult statement_failed(std::string error = {}) {
    return {StepState::failed, 1, std::move(error)};
  }
  // Writes why the attempt cannot run to the log, and fails it.
  static StepResult cannot_run(StepLog& log, std::string error);

 private:
  const std::string log_path_;
  const std::vector<std::string> secrets_;
};

}  // namespace nightshift

#include "nightshift/runtime/sql_attempt.h"

#include "nightshift/runtime/step_log.h"

#include <exception>
#include <optional>
#include <utility>

namespace nightshift {

StepResult SqlAttempt::cannot_run(StepLog& log, std::string error) {
  log.write("nightshift: " + error + "\n");
  return {StepState::failed, std::nullopt, std::move(error)};
}

StepResult SqlAttempt::run() {
  StepLog log(secrets_);
  StepResult result;
  if (std::string error; !log.open(log_path_, error)) {
    result = {StepState::failed, std::nullopt, std::move(error)};
  } else {
    try {
      result = run_script(log);
    } catch (const std::exception& e) {
      result = cannot_run(log, e.what());
    }
  }
  // A stop decides the outcome whatever the database answered to it.
  if (StopReason reason = finish(); reason != StopReason::none) {
    bool timed_out = reason == StopReason::timed_out;
    log.write(timed_out ? "nightshift: timed out\n" : "nightshift: cancelled\n");
    result.outcome = timed_out ? StepState::timed_out : StepState::cancelled;
    result.exit_code.reset();
  }
  log.close();
  if (!log.error().empty()) {
    result.error += (result.error.empty() ? "" : "; ") + log.error();
    result.log_incomplete = true;
  }
  // A server's error may quote what it was sent; never a secret of the step.
  result.error = log.mask(result.error);
  return result;
}

}  // namespace nightshift

// SqlStepRunner: the executor's one runner for sql steps. It hands each
// attempt to the runner of its connection's driver (sqlite or mysql), so the
// executor needs no notion of drivers.
#pragma once

#include "nightshift/runtime/step_runner.h"

#include <cstddef>
#include <memory>

namespace boost::asio {
class io_context;
}

namespace nightshift {

class SqlStepRunner : public StepRunner {
 public:
  // A SqliteStepRunner and a MysqlStepRunner of `threads` workers each.
  SqlStepRunner(boost::asio::io_context& io, std::size_t threads);
  // The runners given (tests); `io` gets the `done` of attempts neither can take.
  SqlStepRunner(boost::asio::io_context& io, std::unique_ptr<StepRunner> sqlite,
                std::unique_ptr<StepRunner> mysql);
  ~SqlStepRunner() override;
  SqlStepRunner(const SqlStepRunner&) = delete;
  SqlStepRunner& operator=(const SqlStepRunner&) = delete;

  // A step without a connection, or on a driver neither runner knows, fails
  // through `done` (posted to `io`, its reason in the log), never by throwing.
  std::shared_ptr<StepHandle> start(const StepInvocation& step, Done done) override;

 private:
  boost::asio::io_context& io_;
  std::unique_ptr<StepRunner> sqlite_;
  std::unique_ptr<StepRunner> mysql_;
};

}  // namespace nightshift

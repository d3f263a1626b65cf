#include "nightshift/runtime/sql_step_runner.h"

#include "nightshift/runtime/mysql_step_runner.h"
#include "nightshift/runtime/sqlite_step_runner.h"
#include "nightshift/runtime/step_log.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <optional>
#include <string>
#include <utility>

namespace nightshift {
namespace {

// The handle of an attempt that never started: nothing to stop.
class NotStarted : public StepHandle {
 public:
  void cancel() override {}
};

}  // namespace

SqlStepRunner::SqlStepRunner(boost::asio::io_context& io, std::size_t threads)
    : SqlStepRunner(io, std::make_unique<SqliteStepRunner>(io, threads),
                    std::make_unique<MysqlStepRunner>(io, threads)) {}

SqlStepRunner::SqlStepRunner(boost::asio::io_context& io, std::unique_ptr<StepRunner> sqlite,
                             std::unique_ptr<StepRunner> mysql)
    : io_(io), sqlite_(std::move(sqlite)), mysql_(std::move(mysql)) {}

SqlStepRunner::~SqlStepRunner() = default;

std::shared_ptr<StepHandle> SqlStepRunner::start(const StepInvocation& step, Done done) {
  std::string error = "the step has no connection";
  if (step.connection) {
    const std::string& driver = step.connection->driver;
    if (driver == "sqlite" && sqlite_) return sqlite_->start(step, std::move(done));
    if (driver == "mysql" && mysql_) return mysql_->start(step, std::move(done));
    error = "connection '" + step.connection->name + "' has an unknown driver '" + driver + "'";
  }
  // Said in the log too, where the runners say why an attempt cannot run. A
  // log that cannot be opened changes nothing: the result has the reason.
  StepLog log(step.secrets);
  if (std::string ignored; log.open(step.log_path, ignored)) {
    log.write("nightshift: " + error + "\n");
  }
  // Never from inside start(); the guard keeps `io` running until `done` has run.
  boost::asio::post(io_, [done = std::move(done), work = boost::asio::make_work_guard(io_),
                          error = std::move(error)]() mutable {
    if (done) done({StepState::failed, std::nullopt, std::move(error)});
  });
  return std::make_shared<NotStarted>();
}

}  // namespace nightshift

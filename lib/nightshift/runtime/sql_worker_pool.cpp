#include "nightshift/runtime/sql_worker_pool.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <exception>
#include <optional>
#include <utility>

namespace nightshift {
namespace {

namespace asio = boost::asio;

// Holds the attempt weakly: once it has ended there is nothing left to stop.
class AttemptHandle : public StepHandle {
 public:
  explicit AttemptHandle(const std::shared_ptr<SqlAttempt>& attempt) : attempt_(attempt) {}
  void cancel() override {
    if (std::shared_ptr<SqlAttempt> attempt = attempt_.lock()) {
      attempt->request_stop(StopReason::cancelled);
    }
  }

 private:
  std::weak_ptr<SqlAttempt> attempt_;
};

}  // namespace

SqlWorkerPool::SqlWorkerPool(asio::io_context& io, std::size_t threads)
    : io_(io), pool_(std::max<std::size_t>(threads, 1)) {}

SqlWorkerPool::~SqlWorkerPool() {
  {
    std::lock_guard lock(mutex_);
    for (const auto& attempt : attempts_) attempt->request_stop(StopReason::cancelled);
  }
  pool_.join();
}

std::shared_ptr<StepHandle> SqlWorkerPool::start(std::shared_ptr<SqlAttempt> attempt,
                                                 StepRunner::Done done) {
  {
    std::lock_guard lock(mutex_);
    attempts_.insert(attempt);
  }
  auto handle = std::make_shared<AttemptHandle>(attempt);
  // The guard travels with the attempt, then with `done`: `io` keeps its work
  // until `done` has run.
  asio::post(pool_, [this, attempt = std::move(attempt), done = std::move(done),
                     work = asio::make_work_guard(io_)]() mutable {
    StepResult result;
    try {
      result = attempt->run();
    } catch (const std::exception& e) {
      result = {StepState::failed, std::nullopt, e.what()};
    }
    {
      std::lock_guard lock(mutex_);
      attempts_.erase(attempt);
    }
    asio::post(io_, [done = std::move(done), work = std::move(work),
                     result = std::move(result)]() mutable {
      if (done) done(std::move(result));
    });
  });
  return handle;
}

}  // namespace nightshift

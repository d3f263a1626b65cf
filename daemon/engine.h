// Engine: the runtime pieces a config calls for — the run store, the step
// runners and the executor — wired on one io_context run by a thread pool.
// `nightshift run` and `nightshift serve` share it, so they run steps alike.
#pragma once

#include "nightshift/config_spec.h"
#include "nightshift/runtime/executor.h"
#include "nightshift/runtime/run_store.h"

#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace nightshift {

class ProcessRunner;
class SqlStepRunner;

class Engine {
 public:
  // Opens the store named by config.state (throws StoreError). The events are
  // the executor's (see ExecutorEvents).
  Engine(const ConfigSpec& config, ExecutorEvents events);
  ~Engine();

  boost::asio::io_context& io() { return io_; }
  RunStore& store() { return *store_; }
  Executor& executor() { return *executor_; }
  int workers() const { return workers_; }

  // Runs the io_context on `threads` threads until it has no more work.
  void run(int threads);

 private:
  boost::asio::io_context io_;
  int workers_;
  std::unique_ptr<RunStore> store_;
  std::unique_ptr<ProcessRunner> process_runner_;
  std::unique_ptr<SqlStepRunner> sql_runner_;  // sqlite and mysql
  std::unique_ptr<Executor> executor_;
};

// Opens the store a config names: sqlite:PATH, or mysql://USER@HOST:PORT/DB with
// the password from state_password. Throws StoreError.
// The config's `workers`, or the number of CPUs for 0.
int effective_workers(const ConfigSpec& config);

using StoreNotice = std::function<void(const std::string& level, const std::string& message)>;
std::unique_ptr<RunStore> open_run_store(const ConfigSpec& config, StoreNotice notice = {});

}  // namespace nightshift

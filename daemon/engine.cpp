#include "engine.h"

#include "nightshift/runtime/run_log_folders.h"
#include "nightshift/runtime/mysql_run_store.h"
#include "nightshift/runtime/process_runner.h"
#include "nightshift/runtime/secret_resolver.h"
#include "nightshift/runtime/sql_step_runner.h"
#include "nightshift/runtime/sqlite_run_store.h"

#include <filesystem>

extern char** environ;

namespace nightshift {
namespace {

std::vector<std::pair<std::string, std::string>> daemon_environment() {
  std::vector<std::pair<std::string, std::string>> env;
  for (char** e = environ; *e; ++e) {
    std::string_view entry(*e);
    auto eq = entry.find('=');
    if (eq != std::string_view::npos) env.emplace_back(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return env;
}

}  // namespace

std::unique_ptr<RunStore> open_run_store(const ConfigSpec& config, StoreNotice notice) {
  if (config.state.starts_with("sqlite:")) return SqliteRunStore::open(config.state.substr(7));
  std::optional<ConnectionSpec> server = config.state_server;
  // The config loader lets only the two forms through; this names a bad one anyway.
  if (!server) throw StoreError("state: expected sqlite:PATH or mysql://USER@HOST:PORT/DATABASE");
  if (!config.state_password.empty()) {
    auto password = SecretResolver(config.secrets_dir).resolve(config.state_password);
    if (!password) throw StoreError("state_password: " + password.error().message);
    server->password = std::move(*password);
  }
  MysqlStoreOptions options;
  options.server = std::move(*server);
  options.notice = std::move(notice);
  return MysqlRunStore::open(std::move(options));
}

int effective_workers(const ConfigSpec& config) {
  return config.workers > 0 ? config.workers
                            : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

Engine::Engine(const ConfigSpec& config, ExecutorEvents events)
    : workers_(effective_workers(config)),
      store_(open_run_store(config, events.store_notice)),
      process_runner_(std::make_unique<ProcessRunner>(io_)),
      sql_runner_(std::make_unique<SqlStepRunner>(io_, workers_)) {
  // Before any run is created: a store started afresh under a kept log_dir.
  if (auto logged = highest_logged_run_id(config.log_dir); logged > 0)
    store_->skip_run_ids_through(logged);
  ExecutorOptions options;
  options.workers = workers_;
  options.pools = config.pools;
  options.log_dir = config.log_dir;
  options.secrets_dir = config.secrets_dir;
  options.connections = config.connections;
  options.base_env = daemon_environment();
  // Steps run from the config file's folder, like every relative path in it.
  std::filesystem::path base = std::filesystem::absolute(config.file).parent_path();
  options.workdir = base.string();
  executor_ = std::make_unique<Executor>(io_, *store_,
                                         StepRunners{process_runner_.get(), sql_runner_.get()},
                                         std::move(options), std::move(events));
}

Engine::~Engine() = default;

void Engine::run(int threads) {
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([this] { io_.run(); });
  io_.run();
  for (auto& t : pool) t.join();
}

}  // namespace nightshift

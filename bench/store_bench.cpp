// Times run-store state transitions: runs of 100 steps, each step recorded as
// start_attempt + finish_attempt + set_step_state (three committed writes), on
// the SQLite store (a temp file, WAL, synchronous=NORMAL), on the memory store,
// and on a MySQL/MariaDB store when one is named.
// Usage: store_bench [TRANSITIONS] [DIR] [mysql://USER@HOST:PORT/DATABASE]
// DIR (default: the system temp dir) picks the disk of the SQLite file; the
// MySQL password comes from NIGHTSHIFT_BENCH_MYSQL_PASSWORD.
#include "nightshift/mysql_url.h"
#include "nightshift/runtime/memory_run_store.h"
#include "nightshift/runtime/mysql_run_store.h"
#include "nightshift/runtime/sqlite_run_store.h"

#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>

namespace {

constexpr int kStepsPerRun = 100;
constexpr int kTransitionsPerStep = 3;

struct Result {
  long transitions = 0;
  double seconds = 0;
};

Result run_bench(nightshift::RunStore& store, long target) {
  using namespace nightshift;
  NewRun run;
  run.job = "bench";
  run.trigger = Trigger::manual;
  run.scheduled_at_text = "1970-01-01T00:00:00Z";
  run.date = "1970-01-01";
  for (int i = 0; i < kStepsPerRun; ++i) run.steps.push_back({"step_" + std::to_string(i), false});

  Result result;
  const auto begin = std::chrono::steady_clock::now();
  while (result.transitions < target) {
    const std::int64_t run_id = store.create_run(run).value();
    for (const NewRun::Step& step : run.steps) {
      AttemptRecord attempt;
      attempt.run_id = run_id;
      attempt.step = step.name;
      store.start_attempt(attempt);
      store.finish_attempt(run_id, step.name, 1, StepState::succeeded, 0, Timestamp{});
      store.set_step_state(run_id, step.name, StepState::succeeded);
      result.transitions += kTransitionsPerStep;
    }
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  return result;
}

void print(const char* name, const Result& result) {
  std::printf("%-32s %7ld transitions in %8.3f s: %10.0f transitions/s (%.1f us each)\n", name,
              result.transitions, result.seconds, result.transitions / result.seconds,
              1e6 * result.seconds / static_cast<double>(result.transitions));
}

}  // namespace

int main(int argc, char** argv) {
  const long target = argc > 1 ? std::atol(argv[1]) : 20'000;
  const std::filesystem::path base =
      argc > 2 ? std::filesystem::path(argv[2]) : std::filesystem::temp_directory_path();
  std::string dir = (base / "nightshift-store-bench-XXXXXX").string();
  if (!mkdtemp(dir.data())) {
    std::perror(dir.c_str());
    return EXIT_FAILURE;
  }
  int status = EXIT_SUCCESS;
  try {
    {
      auto sqlite = nightshift::SqliteRunStore::open(dir + "/runs.db");
      print("sqlite (WAL, synchronous=NORMAL)", run_bench(*sqlite, target));
    }
    if (argc > 3) {
      auto server = nightshift::parse_mysql_url(argv[3]);
      if (!server) throw std::runtime_error(std::string(argv[3]) + ": " + server.error().message);
      if (const char* password = std::getenv("NIGHTSHIFT_BENCH_MYSQL_PASSWORD"))
        server->password = password;
      nightshift::MysqlStoreOptions options;
      options.server = *server;
      auto mysql = nightshift::MysqlRunStore::open(std::move(options));
      print("mysql", run_bench(*mysql, target));
    }
    nightshift::MemoryRunStore memory;
    print("memory", run_bench(memory, target));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "store_bench: %s\n", e.what());
    status = EXIT_FAILURE;
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return status;
}

// SqliteRunStore: the embedded default RunStore, one SQLite file in WAL mode.
// Its schema is versioned and migrated forward at open. One connection guarded
// by a mutex serves the executor's writes and the HTTP threads' reads.
#pragma once

#include "nightshift/runtime/run_store.h"

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace nightshift {

class OwnerLocks;

class SqliteRunStore final : public RunStore {
 public:
  // Opens (creating it and its parent directories if needed) and migrates the
  // store at `path`. Throws StoreError naming the path when the file cannot be
  // opened, is not a database, or has a schema newer than this binary knows.
  static std::unique_ptr<SqliteRunStore> open(const std::string& path);

  // The schema version this binary migrates to.
  static int latest_schema_version();

  ~SqliteRunStore() override;
  SqliteRunStore(const SqliteRunStore&) = delete;
  SqliteRunStore& operator=(const SqliteRunStore&) = delete;

  std::optional<std::int64_t> create_run(const NewRun& run) override;
  void set_run_status(std::int64_t run_id, RunStatus status, Timestamp at) override;
  void set_step_state(std::int64_t run_id, const std::string& step, StepState state) override;
  void set_step_states(std::int64_t run_id,
                       const std::vector<std::pair<std::string, StepState>>& states) override;
  // The attempt is recorded as running whatever its state, finished_at and exit_code say.
  void start_attempt(const AttemptRecord& attempt) override;
  void finish_attempt(std::int64_t run_id, const std::string& step, int attempt, StepState outcome,
                      std::optional<int> exit_code, Timestamp at,
                      std::optional<StepState> step_state = std::nullopt,
                      const std::string& message = {}) override;
  // The owner's life is a lock on its byte of PATH.owners.lock (OwnerLocks).
  std::int64_t register_owner(OwnerKind kind) override;
  std::optional<std::int64_t> owner() const override;
  TakenOver take_over_dead_owners(Timestamp now) override;
  std::optional<RunRecord> get_run(std::int64_t run_id) override;
  std::vector<AttemptRecord> attempts(std::int64_t run_id) override;
  std::vector<RunRecord> list_runs(const std::string& job, int limit,
                                   std::optional<std::int64_t> before = std::nullopt) override;
  std::vector<RunSummary> latest_runs() override;
  std::vector<RunRecord> unfinished_runs() override;
  std::vector<RunRecord> unfinished_runs_of(const std::string& job) override;
  std::optional<Instant> scheduled_through(const std::string& job) override;
  void set_scheduled_through(const std::string& job, Instant t) override;
  std::map<std::string, bool> paused_jobs() override;
  bool set_job_paused(const std::string& job, bool paused, Timestamp at,
                      bool if_unseen = false) override;
  std::vector<RunRecord> runs_scheduled_between(const std::string& job, Instant from,
                                                Instant to) override;
  std::vector<std::int64_t> prune_finished_runs(Timestamp finished_before, int limit) override;
  // An exclusive flock on PATH.daemon.lock, released by the kernel when the
  // process ends however it ends.
  void write_batch(const std::function<void()>& writes) override;
  void skip_run_ids_through(std::int64_t run_id) override;
  void claim_for_daemon() override;

  const std::string& path() const { return path_; }

 private:
  class Statement;
  class Transaction;

  SqliteRunStore(sqlite3* db, std::string path);

  void configure();
  void migrate();
  // A cached prepared statement, reset when the returned object goes away.
  Statement prepare(std::string_view sql, std::string_view doing);
  void exec(const char* sql, std::string_view doing);
  // Throws a StoreError naming the path, what was being done and why (by
  // default SQLite's last error message).
  void check_same_file() const;  // throws StoreGone
  [[noreturn]] void fail(std::string_view doing, std::string_view why = {}) const;

  // A row of kRunColumns with its steps; read_run_columns without them.
  RunRecord read_run(Statement& row);
  RunRecord read_run_columns(Statement& row);
  std::vector<RunRecord> read_runs(Statement& rows);
  std::vector<StepRecord> read_steps(std::int64_t run_id);
  AttemptRecord read_attempt(Statement& row);
  // The UPDATE of one step's state, for a caller holding the mutex.
  void update_step_state(std::int64_t run_id, const std::string& step, StepState state,
                         std::string_view doing);

  std::string path_;
  sqlite3* db_;
  // The connection and the statements are used by one thread at a time;
  // recursive, as a batch holds it across the writes it is made of.
  std::recursive_mutex mutex_;
  int batch_depth_ = 0;
  // The file opened, to notice one deleted or replaced under the daemon.
  dev_t device_ = 0;
  ino_t inode_ = 0;  // inside write_batch: the writes' own transactions are its
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
  int daemon_lock_ = -1;  // the claim's file, while held
  std::unique_ptr<OwnerLocks> owner_locks_;  // this owner's lock, and the test of others'
  std::optional<std::int64_t> owner_;        // set by register_owner
};

}  // namespace nightshift

// MysqlRunStore: the RunStore on a MySQL or MariaDB server, for teams that keep
// their history there (`state: mysql://user@host:port/db`). Same semantics as
// SqliteRunStore: a versioned schema migrated at open, a unique key so a fire
// time makes one run, short transactions. Deadlocks and lost connections are
// retried with backoff; a write waits for a server that went away (up to
// `write_outage`), so an outage delays the history but loses none of it.
#pragma once

#include "nightshift/config_spec.h"
#include "nightshift/duration.h"
#include "nightshift/runtime/run_store.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nightshift {

class MysqlConnection;
class MysqlError;
using MysqlRow = std::vector<std::optional<std::string>>;

struct MysqlStoreOptions {
  ConnectionSpec server;  // host, port, user, database; the password resolved
  // How long a write keeps retrying while the server is unreachable. The
  // executor waits meanwhile (its state changes must be stored before they are
  // acted on); steps already running go on.
  Duration write_outage = std::chrono::hours(1);
  // Reads (the HTTP API) give up sooner: an answer "store unavailable" beats a hang.
  Duration read_outage = std::chrono::seconds(5);
  // Told when an outage starts ("warn") and ends ("info"); may be empty.
  std::function<void(const std::string& level, const std::string& message)> notice;
};

class MysqlRunStore final : public RunStore {
 public:
  // Connects and migrates. Throws StoreError naming the server (never the
  // password) when it cannot, or when the schema is newer than this binary.
  static std::unique_ptr<MysqlRunStore> open(MysqlStoreOptions options);
  static int latest_schema_version();

  ~MysqlRunStore() override;
  MysqlRunStore(const MysqlRunStore&) = delete;
  MysqlRunStore& operator=(const MysqlRunStore&) = delete;

  std::optional<std::int64_t> create_run(const NewRun& run) override;
  void set_run_status(std::int64_t run_id, RunStatus status, Timestamp at) override;
  void set_step_state(std::int64_t run_id, const std::string& step, StepState state) override;
  void set_step_states(std::int64_t run_id,
                       const std::vector<std::pair<std::string, StepState>>& states) override;
  void start_attempt(const AttemptRecord& attempt) override;
  void finish_attempt(std::int64_t run_id, const std::string& step, int attempt, StepState outcome,
                      std::optional<int> exit_code, Timestamp at,
                      std::optional<StepState> step_state = std::nullopt,
                      const std::string& message = {}) override;
  // The owner's life is a named lock its connection holds (GET_LOCK), taken
  // again whenever the store reconnects; IS_USED_LOCK tells the dead.
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
  // GET_LOCK('nightshift_serve:DATABASE') on the store's connection, taken
  // again whenever it reconnects (a lost connection loses the lock).
  void skip_run_ids_through(std::int64_t run_id) override;
  void claim_for_daemon() override;
  void write_batch(const std::function<void()>& writes) override;

  const std::string& address() const { return address_; }

 private:
  class Transaction;
  // One try of an operation: the connection, and whether an earlier try of
  // the same call may have committed before its answer was lost.
  struct Try {
    MysqlConnection& db;
    bool retry;
  };

  explicit MysqlRunStore(MysqlStoreOptions options);

  void migrate();
  // Runs `f` until it succeeds: reconnecting after a lost connection, again
  // after a deadlock, with backoff, for at most `budget`. Other errors (and
  // running out of time) throw StoreError naming `doing`.
  template <class F>
  auto with_retry(std::string_view doing, Duration budget, F f);
  template <class F>
  auto write(std::string_view doing, F f) {
    return with_retry(doing, options_.write_outage, f);
  }
  template <class F>
  auto read(std::string_view doing, F f) {
    return with_retry(doing, options_.read_outage, f);
  }
  MysqlConnection& connection();
  void take_daemon_lock();
  void take_owner_lock();
  [[noreturn]] void fail(std::string_view doing, std::string_view why) const;
  void notice(const std::string& level, const std::string& message) const;

  AttemptRecord read_attempt(const MysqlRow& row, std::string_view doing) const;
  // A row of kRunColumns, without the run's steps.
  RunRecord read_run_columns(const MysqlRow& row, std::string_view doing) const;
  std::vector<RunRecord> read_runs(MysqlConnection& db, const std::vector<MysqlRow>& rows,
                                   std::string_view doing);
  void update_step_state(MysqlConnection& db, std::int64_t run_id, const std::string& step,
                         StepState state, std::string_view doing);

  MysqlStoreOptions options_;
  std::string address_;
  // One thread at a time on the connection; recursive, as write_batch holds
  // it across the writes it is made of.
  std::recursive_mutex mutex_;
  bool in_batch_ = false;  // inside write_batch: one try each, no transaction of their own
  std::unique_ptr<MysqlConnection> db_;  // null while the server is unreachable
  bool claimed_ = false;                 // claim_for_daemon: hold the lock on every connection
  std::optional<std::int64_t> owner_;    // register_owner: hold its lock on every connection
};

}  // namespace nightshift

#include "nightshift/runtime/sqlite_run_store.h"

#include "nightshift/runtime/owner_locks.h"
#include "nightshift/runtime/run_store_sql.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include <algorithm>
#include <array>
#include <filesystem>
#include <limits>
#include <optional>
#include <utility>

namespace nightshift {
namespace {

// Migration N brings the schema from version N-1 to N, in one transaction.
// Append only: a migration that has shipped is never edited.
constexpr std::array<const char*, 5> kMigrations{{
    R"sql(
CREATE TABLE runs (
  run_id            INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, even after a delete
  job               TEXT    NOT NULL,
  triggered_by      TEXT    NOT NULL,  -- schedule | catchup | manual ("trigger" is reserved in MySQL)
  scheduled_at      INTEGER NOT NULL,  -- unix seconds
  scheduled_at_text TEXT    NOT NULL,
  date              TEXT    NOT NULL,
  status            TEXT    NOT NULL,
  created_at        INTEGER NOT NULL,  -- unix milliseconds, as every *_at below
  started_at        INTEGER,
  finished_at       INTEGER,
  fire_key          INTEGER            -- scheduled_at for schedule and catchup; NULL for manual
);
-- A fire time makes at most one run, ever; NULLs never collide, so manual runs are free.
CREATE UNIQUE INDEX runs_fire_key ON runs (job, fire_key);
CREATE INDEX runs_by_job ON runs (job, run_id DESC);
CREATE INDEX runs_by_status ON runs (status, run_id);

CREATE TABLE run_steps (
  run_id       INTEGER NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
  step         TEXT    NOT NULL,
  position     INTEGER NOT NULL,
  state        TEXT    NOT NULL,
  carried_over INTEGER NOT NULL,
  PRIMARY KEY (run_id, step)
);

CREATE TABLE attempts (
  run_id          INTEGER NOT NULL,
  step            TEXT    NOT NULL,
  attempt         INTEGER NOT NULL,
  state           TEXT    NOT NULL,
  started_at      INTEGER NOT NULL,
  finished_at     INTEGER,
  exit_code       INTEGER,
  counts_as_retry INTEGER NOT NULL,
  PRIMARY KEY (run_id, step, attempt),
  FOREIGN KEY (run_id, step) REFERENCES run_steps (run_id, step) ON DELETE CASCADE
);
-- Recovery looks for the few running attempts among every attempt ever made.
CREATE INDEX attempts_running ON attempts (run_id, step) WHERE state = 'running';
)sql",
    // 2: the scheduler's per-job watermark, so a restart catches up exactly.
    R"sql(
CREATE TABLE job_watermarks (
  job               TEXT    PRIMARY KEY,
  scheduled_through INTEGER NOT NULL  -- unix seconds: every fire time up to it is dealt with
);
)sql",
    // 3: how an attempt ended when the exit code does not say (who stopped it).
    R"sql(
ALTER TABLE attempts ADD COLUMN message TEXT;  -- NULL before version 3: no message
)sql",
    // 4: every run and attempt has an owner, the process that runs it; only a
    // dead owner's attempts are lost. Rows from before have none (NULL), which
    // recovery takes for dead, as it took every running attempt before.
    R"sql(
CREATE TABLE owners (
  owner_id   INTEGER PRIMARY KEY AUTOINCREMENT,  -- owner N holds byte N of PATH.owners.lock
  kind       TEXT    NOT NULL,  -- daemon | run
  host       TEXT    NOT NULL,
  pid        INTEGER NOT NULL,
  started_at INTEGER NOT NULL
);
ALTER TABLE runs ADD COLUMN owner_id INTEGER;
ALTER TABLE attempts ADD COLUMN owner_id INTEGER;
)sql",
    // 5: pause (kept in the store, so it survives restarts and reloads; a job
    // without a row has never been seen), and the runs of a job by fire time,
    // for a backfill's missing_only.
    R"sql(
CREATE TABLE job_pauses (
  job        TEXT    PRIMARY KEY,
  paused     INTEGER NOT NULL,
  changed_at INTEGER NOT NULL  -- unix milliseconds
);
CREATE INDEX runs_by_fire_time ON runs (job, scheduled_at);
)sql",
}};

using run_store_sql::kAttemptColumns;
using run_store_sql::kLatestRunsState;
using run_store_sql::kRunColumns;

std::int64_t to_millis(Timestamp t) {
  return t.time_since_epoch().count();
}
Timestamp from_millis(std::int64_t ms) {
  return Timestamp(std::chrono::milliseconds(ms));
}

std::optional<Timestamp> from_millis(std::optional<std::int64_t> ms) {
  if (!ms) return std::nullopt;
  return from_millis(*ms);
}

std::int64_t now_millis() {
  return to_millis(
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now()));
}

// The ids as a JSON array, bound to one parameter and read with json_each: one
// cached statement whatever the number of ids.
std::string json_array(const std::vector<std::int64_t>& ids) {
  std::string out = "[";
  for (std::int64_t id : ids) out += (out.size() > 1 ? "," : "") + std::to_string(id);
  return out + "]";
}

bool is_run_end(RunStatus status) {
  return status == RunStatus::succeeded || status == RunStatus::failed ||
         status == RunStatus::cancelled;
}

}  // namespace

// One use of a cached prepared statement: binds in order, steps, reads columns,
// and resets the statement when it goes away so no read stays open.
class SqliteRunStore::Statement {
 public:
  Statement(const SqliteRunStore& store, sqlite3_stmt* stmt, std::string_view doing)
      : store_(store), stmt_(stmt), doing_(doing) {}
  ~Statement() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind_int(std::int64_t value) {
    check(sqlite3_bind_int64(stmt_, ++bound_, value));
    return *this;
  }
  Statement& bind_optional_int(std::optional<std::int64_t> value) {
    if (value) return bind_int(*value);
    check(sqlite3_bind_null(stmt_, ++bound_));
    return *this;
  }
  Statement& bind_text(std::string_view value) {
    check(sqlite3_bind_text(stmt_, ++bound_, value.data(), static_cast<int>(value.size()),
                            SQLITE_TRANSIENT));
    return *this;
  }

  // True when a row is ready, false when the statement is done.
  bool next() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) store_.fail(doing_);
    return false;
  }
  // For a caller that handles some errors itself.
  int try_next() { return sqlite3_step(stmt_); }

  std::int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }
  std::optional<std::int64_t> optional_integer(int column) const {
    if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::nullopt;
    return integer(column);
  }
  std::string text(int column) const {
    const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    return data ? std::string(data, sqlite3_column_bytes(stmt_, column)) : std::string();
  }

  const std::string& doing() const { return doing_; }

 private:
  void check(int rc) const {
    if (rc != SQLITE_OK) store_.fail(doing_);
  }

  const SqliteRunStore& store_;
  sqlite3_stmt* stmt_;
  std::string doing_;
  int bound_ = 0;
};

// BEGIN IMMEDIATE takes the write lock up front, so a transaction never fails
// half-way to upgrade a read lock; it rolls back unless committed.
class SqliteRunStore::Transaction {
 public:
  // Inside a batch it is the batch's transaction: BEGIN and COMMIT are its.
  Transaction(SqliteRunStore& store, std::string_view doing)
      : store_(store), doing_(doing), nested_(store.batch_depth_ > 0) {
    if (!nested_) store_.prepare("BEGIN IMMEDIATE", doing_).next();
  }
  ~Transaction() {
    // SQLite may have rolled back already (after an I/O error, say).
    if (!nested_ && !committed_ && !sqlite3_get_autocommit(store_.db_))
      sqlite3_exec(store_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  void commit() {
    if (!nested_) store_.prepare("COMMIT", doing_).next();
    committed_ = true;
  }

 private:
  SqliteRunStore& store_;
  std::string doing_;
  bool nested_;
  bool committed_ = false;
};

std::unique_ptr<SqliteRunStore> SqliteRunStore::open(const std::string& path) {
  auto open_error = [&](std::string_view why) {
    return StoreError("cannot open run store " + path + ": " + std::string(why));
  };
  if (path.empty()) throw open_error("no path given");
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code error;
    std::filesystem::create_directories(parent, error);
    if (error) throw open_error("cannot create " + parent.string() + ": " + error.message());
  }

  sqlite3* db = nullptr;
  // NOMUTEX: the store's own mutex already serializes every use of the connection.
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const std::string why = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    throw open_error(why);
  }
  std::unique_ptr<SqliteRunStore> store(new SqliteRunStore(db, path));
  try {
    store->configure();
    store->migrate();
  } catch (const StoreError& error) {
    throw StoreError(std::string("cannot open ") + error.what());
  }
  struct stat opened {};
  if (::stat(path.c_str(), &opened) != 0) throw open_error(std::strerror(errno));
  store->device_ = opened.st_dev;
  store->inode_ = opened.st_ino;
  return store;
}

int SqliteRunStore::latest_schema_version() {
  return static_cast<int>(kMigrations.size());
}

SqliteRunStore::SqliteRunStore(sqlite3* db, std::string path)
    : path_(std::move(path)),
      db_(db),
      owner_locks_(std::make_unique<OwnerLocks>(path_ + ".owners.lock")) {}

SqliteRunStore::~SqliteRunStore() {
  if (daemon_lock_ >= 0) ::close(daemon_lock_);
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

void SqliteRunStore::configure() {
  // Another connection (the sqlite3 shell, a backup) may hold the lock for a moment.
  sqlite3_busy_timeout(db_, 5000);
  {
    Statement wal = prepare("PRAGMA journal_mode = WAL", "enabling WAL");
    if (!wal.next()) fail("enabling WAL", "no answer");
    if (const std::string mode = wal.text(0); mode != "wal")
      fail("enabling WAL", "the journal mode stays " + mode);
  }
  // NORMAL in WAL: every commit reaches the WAL (the OS) before the call returns,
  // so a killed or crashed daemon loses nothing; only an OS crash or power loss
  // may drop the last commits, whose steps then run again (steps are idempotent).
  // FULL would fsync each of the ~3 commits a step makes: 3x slower on a 2,000-step DAG.
  exec("PRAGMA synchronous = NORMAL", "setting synchronous = NORMAL");
  exec("PRAGMA foreign_keys = ON", "enabling foreign keys");
  // No memory-mapped reads: an I/O error on a mapped page is a SIGBUS that
  // kills the daemon, where read(2) gives an error the store can report.
  // (0 is Debian's default too; said here so no build setting changes it.)
  exec("PRAGMA mmap_size = 0", "turning memory-mapped I/O off");
}

void SqliteRunStore::migrate() {
  const int latest = latest_schema_version();
  {
    // A store already at this schema is not locked for writing to find that
    // out: a reader opened while the daemon's writer holds a transaction
    // would wait for it. (The locked check below decides the rest.)
    Statement table = prepare(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
        "reading the schema version");
    if (table.next() && table.integer(0) == 1) {
      Statement version = prepare("SELECT COALESCE(MAX(version), 0) FROM schema_version",
                                  "reading the schema version");
      if (version.next() && version.integer(0) == latest) return;
    }
  }
  for (;;) {
    Transaction transaction(*this, "migrating the schema");
    exec(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        "version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
        "creating schema_version");
    int current = 0;
    {
      Statement version = prepare("SELECT COALESCE(MAX(version), 0) FROM schema_version",
                                  "reading the schema version");
      if (version.next()) current = static_cast<int>(version.integer(0));
    }
    if (current > latest)
      throw StoreError("run store " + path_ + ": store schema version " + std::to_string(current) +
                       " is newer than this nightshift (" + std::to_string(latest) + ")");
    if (current == latest) return;

    const std::string doing = "migrating the schema to version " + std::to_string(current + 1);
    exec(kMigrations[current], doing);
    prepare("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", doing)
        .bind_int(current + 1)
        .bind_int(now_millis())
        .next();
    transaction.commit();
  }
}

SqliteRunStore::Statement SqliteRunStore::prepare(std::string_view sql, std::string_view doing) {
  std::string key(sql);
  auto it = statements_.find(key);
  if (it == statements_.end()) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                           &stmt, nullptr) != SQLITE_OK)
      fail(doing);
    it = statements_.emplace(std::move(key), stmt).first;
  }
  return Statement(*this, it->second, doing);
}

void SqliteRunStore::exec(const char* sql, std::string_view doing) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) == SQLITE_OK) return;
  const std::string why = message ? message : sqlite3_errmsg(db_);
  sqlite3_free(message);
  fail(doing, why);
}

// The connection would go on writing to a deleted file, or to the old one
// beside a new file at the path: both are history nobody will see.
void SqliteRunStore::check_same_file() const {
  struct stat now {};
  if (::stat(path_.c_str(), &now) != 0) {
    if (errno != ENOENT) return;  // cannot tell (EACCES, EIO): the write will say what is wrong
    throw StoreGone("run store " + path_ + " was deleted under the daemon");
  }
  if (now.st_dev != device_ || now.st_ino != inode_)
    throw StoreGone("run store " + path_ + " was replaced under the daemon (another file is there now)");
}

void SqliteRunStore::fail(std::string_view doing, std::string_view why) const {
  throw StoreError("run store " + path_ + ": " + std::string(doing) + ": " +
                   (why.empty() ? std::string(sqlite3_errmsg(db_)) : std::string(why)));
}

std::optional<std::int64_t> SqliteRunStore::create_run(const NewRun& run) {
  std::lock_guard lock(mutex_);
  const std::string doing = "creating a run of " + run.job;
  const std::int64_t scheduled_at = run.scheduled_at.time_since_epoch().count();
  const std::optional<std::int64_t> fire_key =
      made_by_schedule(run.trigger) ? std::optional(scheduled_at) : std::nullopt;

  Transaction transaction(*this, doing);
  std::int64_t run_id = 0;
  {
    Statement insert = prepare(
        "INSERT INTO runs (job, triggered_by, scheduled_at, scheduled_at_text, date, status, "
        "created_at, fire_key, owner_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        doing);
    insert.bind_text(run.job)
        .bind_text(to_string(run.trigger))
        .bind_int(scheduled_at)
        .bind_text(run.scheduled_at_text)
        .bind_text(run.date)
        .bind_text(to_string(run.status))
        .bind_int(to_millis(run.created_at))
        .bind_optional_int(fire_key)
        .bind_optional_int(owner_);
    const int rc = insert.try_next();
    if (rc != SQLITE_DONE) {
      // Only a clash on runs_fire_key means "this fire time has its run"; all else is an error.
      if (sqlite3_extended_errcode(db_) != SQLITE_CONSTRAINT_UNIQUE || !fire_key) fail(doing);
      const std::string message = sqlite3_errmsg(db_);
      Statement existing = prepare("SELECT 1 FROM runs WHERE job = ? AND fire_key = ?", doing);
      if (!existing.bind_text(run.job).bind_int(*fire_key).next()) fail(doing, message);
      return std::nullopt;
    }
    run_id = sqlite3_last_insert_rowid(db_);
  }
  for (std::size_t position = 0; position < run.steps.size(); ++position) {
    const NewRun::Step& step = run.steps[position];
    prepare(
        "INSERT INTO run_steps (run_id, step, position, state, carried_over) "
        "VALUES (?, ?, ?, ?, ?)",
        doing)
        .bind_int(run_id)
        .bind_text(step.name)
        .bind_int(static_cast<std::int64_t>(position))
        .bind_text(to_string(step.carried_over ? StepState::succeeded : StepState::pending))
        .bind_int(step.carried_over ? 1 : 0)
        .next();
  }
  transaction.commit();
  return run_id;
}

void SqliteRunStore::set_run_status(std::int64_t run_id, RunStatus status, Timestamp at) {
  std::lock_guard lock(mutex_);
  const std::string doing = "setting the status of run " + std::to_string(run_id);
  // started_at is the first move to running; a run resumed after a restart keeps it.
  prepare(
      "UPDATE runs SET status = ?1, "
      "started_at = CASE WHEN ?2 THEN COALESCE(started_at, ?4) ELSE started_at END, "
      "finished_at = CASE WHEN ?3 THEN ?4 ELSE finished_at END WHERE run_id = ?5",
      doing)
      .bind_text(to_string(status))
      .bind_int(status == RunStatus::running)
      .bind_int(is_run_end(status))
      .bind_int(to_millis(at))
      .bind_int(run_id)
      .next();
  if (sqlite3_changes(db_) == 0) fail(doing, "no such run");
}

void SqliteRunStore::set_step_state(std::int64_t run_id, const std::string& step, StepState state) {
  std::lock_guard lock(mutex_);
  update_step_state(run_id, step, state,
                    "setting the state of step " + step + " of run " + std::to_string(run_id));
}

void SqliteRunStore::set_step_states(std::int64_t run_id,
                                     const std::vector<std::pair<std::string, StepState>>& states) {
  if (states.empty()) return;
  std::lock_guard lock(mutex_);
  const std::string doing = "setting the states of " + std::to_string(states.size()) +
                            " steps of run " + std::to_string(run_id);
  Transaction transaction(*this, doing);
  for (const auto& [step, state] : states) update_step_state(run_id, step, state, doing);
  transaction.commit();
}

void SqliteRunStore::update_step_state(std::int64_t run_id, const std::string& step,
                                       StepState state, std::string_view doing) {
  prepare("UPDATE run_steps SET state = ? WHERE run_id = ? AND step = ?", doing)
      .bind_text(to_string(state))
      .bind_int(run_id)
      .bind_text(step)
      .next();
  if (sqlite3_changes(db_) == 0) fail(doing, "no such step " + step);
}

void SqliteRunStore::start_attempt(const AttemptRecord& attempt) {
  std::lock_guard lock(mutex_);
  const std::string doing = "starting attempt " + std::to_string(attempt.attempt) + " of step " +
                            attempt.step + " of run " + std::to_string(attempt.run_id);
  Transaction transaction(*this, doing);
  prepare("UPDATE run_steps SET state = 'running' WHERE run_id = ? AND step = ?", doing)
      .bind_int(attempt.run_id)
      .bind_text(attempt.step)
      .next();
  if (sqlite3_changes(db_) == 0) fail(doing, "no such step");
  prepare(
      "INSERT INTO attempts (run_id, step, attempt, state, started_at, counts_as_retry, "
      "owner_id) VALUES (?, ?, ?, 'running', ?, ?, ?)",
      doing)
      .bind_int(attempt.run_id)
      .bind_text(attempt.step)
      .bind_int(attempt.attempt)
      .bind_int(to_millis(attempt.started_at))
      .bind_int(attempt.counts_as_retry ? 1 : 0)
      .bind_optional_int(owner_)
      .next();
  transaction.commit();
}

void SqliteRunStore::finish_attempt(std::int64_t run_id, const std::string& step, int attempt,
                                    StepState outcome, std::optional<int> exit_code, Timestamp at,
                                    std::optional<StepState> step_state,
                                    const std::string& message) {
  std::lock_guard lock(mutex_);
  const std::string doing = "finishing attempt " + std::to_string(attempt) + " of step " + step +
                            " of run " + std::to_string(run_id);
  // Without a step state the UPDATE commits on its own; with one, both commit or neither.
  std::optional<Transaction> transaction;
  if (step_state) transaction.emplace(*this, doing);
  prepare(
      "UPDATE attempts SET state = ?, exit_code = ?, finished_at = ?, message = ? "
      "WHERE run_id = ? AND step = ? AND attempt = ?",
      doing)
      .bind_text(to_string(outcome))
      .bind_optional_int(exit_code)
      .bind_int(to_millis(at))
      .bind_text(message)
      .bind_int(run_id)
      .bind_text(step)
      .bind_int(attempt)
      .next();
  if (sqlite3_changes(db_) == 0) fail(doing, "no such attempt");
  if (!step_state) return;
  update_step_state(run_id, step, *step_state, doing);
  transaction->commit();
}

std::int64_t SqliteRunStore::register_owner(OwnerKind kind) {
  std::lock_guard lock(mutex_);
  if (owner_) return *owner_;
  const std::string doing = "registering this process as an owner";
  // The lock is held before the row commits: whoever sees the owner sees it alive.
  Transaction transaction(*this, doing);
  prepare("INSERT INTO owners (kind, host, pid, started_at) VALUES (?, ?, ?, ?)", doing)
      .bind_text(to_string(kind))
      .bind_text(owner_host())
      .bind_int(::getpid())
      .bind_int(now_millis())
      .next();
  const std::int64_t id = sqlite3_last_insert_rowid(db_);
  try {
    owner_locks_->hold(id);
  } catch (const std::system_error& e) {
    fail(doing, e.what());
  }
  transaction.commit();
  owner_ = id;
  return id;
}

std::optional<std::int64_t> SqliteRunStore::owner() const {
  return owner_;
}

TakenOver SqliteRunStore::take_over_dead_owners(Timestamp now) {
  std::lock_guard lock(mutex_);
  const std::string doing = "taking over from dead owners";
  Transaction transaction(*this, doing);
  // The owners of what is unfinished, this one aside; the dead among them.
  std::vector<std::int64_t> others;
  {
    Statement rows = prepare(
        "SELECT owner_id FROM attempts WHERE state = 'running' AND owner_id IS NOT NULL "
        "UNION SELECT owner_id FROM runs WHERE status IN ('queued', 'running') "
        "AND owner_id IS NOT NULL",
        doing);
    while (rows.next())
      if (rows.integer(0) != owner_) others.push_back(rows.integer(0));
  }
  std::vector<std::int64_t> dead;
  try {
    const std::vector<std::int64_t> live = owner_locks_->live(others);
    for (std::int64_t id : others)
      if (std::find(live.begin(), live.end(), id) == live.end()) dead.push_back(id);
  } catch (const std::system_error& e) {
    fail(doing, e.what());  // cannot tell the dead: take nothing
  }
  // Rows without an owner (from before owners, or a store that never
  // registered) count as dead, as every running attempt did before.
  const std::string dead_ids = json_array(dead);
  constexpr char kOfDead[] = "(owner_id IS NULL OR owner_id IN (SELECT value FROM json_each(?1)))";
  TakenOver taken;
  std::vector<AttemptRecord>& lost = taken.lost;
  {
    Statement runs = prepare(std::string("SELECT run_id FROM runs WHERE status IN ('queued', "
                                         "'running') AND ") +
                                 kOfDead + " ORDER BY run_id",
                             doing);
    runs.bind_text(dead_ids);
    while (runs.next()) taken.runs.push_back(runs.integer(0));
  }
  {
    Statement running = prepare(std::string(kAttemptColumns) +
                                    "WHERE a.state = 'running' AND (a.owner_id IS NULL OR "
                                    "a.owner_id IN (SELECT value FROM json_each(?1))) "
                                    "ORDER BY a.run_id, s.position, a.attempt",
                                doing);
    running.bind_text(dead_ids);
    while (running.next()) lost.push_back(read_attempt(running));
  }
  prepare(std::string("UPDATE run_steps SET state = 'lost' WHERE state = 'running' AND "
                      "(run_id, step) IN (SELECT run_id, step FROM attempts "
                      "WHERE state = 'running' AND ") +
              kOfDead + ")",
          doing)
      .bind_text(dead_ids)
      .next();
  prepare(std::string("UPDATE attempts SET state = 'lost', finished_at = ?2 "
                      "WHERE state = 'running' AND ") +
              kOfDead,
          doing)
      .bind_text(dead_ids)
      .bind_int(to_millis(now))
      .next();
  prepare(std::string("UPDATE runs SET owner_id = ?2 WHERE status IN ('queued', 'running') AND ") +
              kOfDead,
          doing)
      .bind_text(dead_ids)
      .bind_optional_int(owner_)
      .next();
  transaction.commit();
  for (AttemptRecord& attempt : lost) {
    attempt.state = StepState::lost;
    attempt.finished_at = now;
  }
  return taken;
}

std::optional<RunRecord> SqliteRunStore::get_run(std::int64_t run_id) {
  std::lock_guard lock(mutex_);
  Statement row = prepare(std::string(kRunColumns) + "WHERE run_id = ?",
                          "reading run " + std::to_string(run_id));
  if (!row.bind_int(run_id).next()) return std::nullopt;
  return read_run(row);
}

std::vector<AttemptRecord> SqliteRunStore::attempts(std::int64_t run_id) {
  std::lock_guard lock(mutex_);
  Statement rows =
      prepare(std::string(kAttemptColumns) + "WHERE a.run_id = ? ORDER BY s.position, a.attempt",
              "reading the attempts of run " + std::to_string(run_id));
  rows.bind_int(run_id);
  std::vector<AttemptRecord> result;
  while (rows.next()) result.push_back(read_attempt(rows));
  return result;
}

std::vector<RunRecord> SqliteRunStore::list_runs(const std::string& job, int limit,
                                                 std::optional<std::int64_t> before) {
  if (limit <= 0) return {};
  std::lock_guard lock(mutex_);
  Statement rows = prepare(
      std::string(kRunColumns) + "WHERE job = ? AND run_id < ? ORDER BY run_id DESC LIMIT ?",
      "listing the runs of " + job);
  rows.bind_text(job)
      .bind_int(before.value_or(std::numeric_limits<std::int64_t>::max()))
      .bind_int(limit);
  return read_runs(rows);
}

std::vector<RunRecord> SqliteRunStore::unfinished_runs() {
  std::lock_guard lock(mutex_);
  Statement rows =
      prepare(std::string(kRunColumns) + "WHERE status IN ('queued', 'running') ORDER BY run_id",
              "listing unfinished runs");
  return read_runs(rows);
}

std::vector<RunRecord> SqliteRunStore::unfinished_runs_of(const std::string& job) {
  std::lock_guard lock(mutex_);
  Statement rows = prepare(std::string(kRunColumns) +
                               "WHERE job = ? AND status IN ('queued', 'running') ORDER BY run_id",
                           "listing unfinished runs of a job");
  rows.bind_text(job);
  std::vector<RunRecord> runs;
  while (rows.next()) runs.push_back(read_run_columns(rows));
  return runs;
}

std::vector<RunSummary> SqliteRunStore::latest_runs() {
  std::lock_guard lock(mutex_);
  const std::string doing = "reading the latest run of every job";
  Statement rows =
      prepare(run_store_sql::latest_runs_query(run_store_sql::kLatestRunIdsSkipScan), doing);
  std::vector<RunSummary> summaries;
  while (rows.next()) {
    // A run's rows (one per state) come together.
    if (summaries.empty() || summaries.back().run.run_id != rows.integer(0))
      summaries.push_back({read_run_columns(rows), {}});
    const std::int64_t count = rows.integer(kLatestRunsState + 1);
    if (count == 0) continue;  // a run without steps
    const std::string state = rows.text(kLatestRunsState);
    const auto parsed_state = parse_step_state(state);
    if (!parsed_state)
      fail(doing, "run " + std::to_string(summaries.back().run.run_id) +
                      " has steps in unknown state '" + state + "'");
    summaries.back().step_counts[*parsed_state] = static_cast<int>(count);
  }
  return summaries;
}

RunRecord SqliteRunStore::read_run(Statement& row) {
  RunRecord run = read_run_columns(row);
  run.steps = read_steps(run.run_id);
  return run;
}

RunRecord SqliteRunStore::read_run_columns(Statement& row) {
  RunRecord run;
  run.run_id = row.integer(0);
  run.job = row.text(1);
  const std::string trigger = row.text(2);
  const std::string status = row.text(6);
  const auto parsed_trigger = parse_trigger(trigger);
  const auto parsed_status = parse_run_status(status);
  if (!parsed_trigger || !parsed_status)
    fail("reading run " + std::to_string(run.run_id),
         "unknown trigger '" + trigger + "' or status '" + status + "'");
  run.trigger = *parsed_trigger;
  run.scheduled_at = Instant(std::chrono::seconds(row.integer(3)));
  run.scheduled_at_text = row.text(4);
  run.date = row.text(5);
  run.status = *parsed_status;
  run.created_at = from_millis(row.integer(7));
  run.started_at = from_millis(row.optional_integer(8));
  run.finished_at = from_millis(row.optional_integer(9));
  run.owner = row.optional_integer(10);
  return run;
}

std::vector<RunRecord> SqliteRunStore::read_runs(Statement& rows) {
  std::vector<RunRecord> runs;
  while (rows.next()) runs.push_back(read_run(rows));
  return runs;
}

std::vector<StepRecord> SqliteRunStore::read_steps(std::int64_t run_id) {
  const std::string doing = "reading the steps of run " + std::to_string(run_id);
  Statement rows = prepare(
      "SELECT s.step, s.state, s.carried_over, a.attempt, a.started_at, a.finished_at, "
      "a.exit_code FROM run_steps s LEFT JOIN attempts a ON a.run_id = s.run_id "
      "AND a.step = s.step AND a.attempt = (SELECT MAX(attempt) FROM attempts m "
      "WHERE m.run_id = s.run_id AND m.step = s.step) "
      "WHERE s.run_id = ? ORDER BY s.position",
      doing);
  rows.bind_int(run_id);
  std::vector<StepRecord> steps;
  {
    // The exact size first (a seek and a count on the primary key): a
    // 100,000-step run's records are 8 MB, and growing the vector by
    // doubling held up to 2.5 times that at once.
    Statement count = prepare("SELECT COUNT(*) FROM run_steps WHERE run_id = ?", doing);
    count.bind_int(run_id);
    if (count.next()) steps.reserve(static_cast<std::size_t>(count.integer(0)));
  }
  while (rows.next()) {
    StepRecord step;
    step.step = rows.text(0);
    const std::string state = rows.text(1);
    const auto parsed_state = parse_step_state(state);
    if (!parsed_state) fail(doing, "step " + step.step + " has unknown state '" + state + "'");
    step.state = *parsed_state;
    step.carried_over = rows.integer(2) != 0;
    step.attempt = static_cast<int>(rows.optional_integer(3).value_or(0));
    step.started_at = from_millis(rows.optional_integer(4));
    step.finished_at = from_millis(rows.optional_integer(5));
    if (const auto exit_code = rows.optional_integer(6))
      step.exit_code = static_cast<int>(*exit_code);
    steps.push_back(std::move(step));
  }
  return steps;
}

AttemptRecord SqliteRunStore::read_attempt(Statement& row) {
  AttemptRecord attempt;
  attempt.run_id = row.integer(0);
  attempt.step = row.text(1);
  attempt.attempt = static_cast<int>(row.integer(2));
  const std::string state = row.text(3);
  const auto parsed_state = parse_step_state(state);
  if (!parsed_state) fail(row.doing(), "attempt in unknown state '" + state + "'");
  attempt.state = *parsed_state;
  attempt.started_at = from_millis(row.integer(4));
  attempt.finished_at = from_millis(row.optional_integer(5));
  if (const auto exit_code = row.optional_integer(6))
    attempt.exit_code = static_cast<int>(*exit_code);
  attempt.counts_as_retry = row.integer(7) != 0;
  attempt.message = row.text(8);
  attempt.owner = row.optional_integer(9);
  return attempt;
}

std::optional<Instant> SqliteRunStore::scheduled_through(const std::string& job) {
  std::lock_guard lock(mutex_);
  Statement row = prepare("SELECT scheduled_through FROM job_watermarks WHERE job = ?",
                          "reading the watermark of job " + job);
  row.bind_text(job);
  if (!row.next()) return std::nullopt;
  return Instant(std::chrono::seconds(row.integer(0)));
}

void SqliteRunStore::set_scheduled_through(const std::string& job, Instant t) {
  std::lock_guard lock(mutex_);
  prepare(
      "INSERT INTO job_watermarks (job, scheduled_through) VALUES (?, ?) "
      "ON CONFLICT (job) DO UPDATE SET scheduled_through = excluded.scheduled_through",
      "setting the watermark of job " + job)
      .bind_text(job)
      .bind_int(t.time_since_epoch().count())
      .next();
}

std::map<std::string, bool> SqliteRunStore::paused_jobs() {
  std::lock_guard lock(mutex_);
  Statement rows = prepare("SELECT job, paused FROM job_pauses", "reading paused jobs");
  std::map<std::string, bool> paused;
  while (rows.next()) paused[rows.text(0)] = rows.integer(1) != 0;
  return paused;
}

bool SqliteRunStore::set_job_paused(const std::string& job, bool paused, Timestamp at,
                                    bool if_unseen) {
  std::lock_guard lock(mutex_);
  const std::string doing = std::string(paused ? "pausing" : "unpausing") + " job " + job;
  prepare(if_unseen ? "INSERT INTO job_pauses (job, paused, changed_at) VALUES (?, ?, ?) "
                      "ON CONFLICT (job) DO NOTHING"
                    : "INSERT INTO job_pauses (job, paused, changed_at) VALUES (?, ?, ?) "
                      "ON CONFLICT (job) DO UPDATE SET paused = excluded.paused, "
                      "changed_at = excluded.changed_at",
          doing)
      .bind_text(job)
      .bind_int(paused ? 1 : 0)
      .bind_int(to_millis(at))
      .next();
  if (!if_unseen) return paused;
  Statement row = prepare("SELECT paused FROM job_pauses WHERE job = ?", doing);
  row.bind_text(job);
  if (!row.next()) fail(doing, "its pause state is not there after it was written");
  return row.integer(0) != 0;
}

std::vector<RunRecord> SqliteRunStore::runs_scheduled_between(const std::string& job, Instant from,
                                                              Instant to) {
  std::lock_guard lock(mutex_);
  Statement rows = prepare(std::string(kRunColumns) +
                               "WHERE job = ? AND scheduled_at BETWEEN ? AND ? "
                               "ORDER BY scheduled_at, run_id",
                           "listing the runs of a job by fire time");
  rows.bind_text(job)
      .bind_int(from.time_since_epoch().count())
      .bind_int(to.time_since_epoch().count());
  std::vector<RunRecord> runs;
  while (rows.next()) runs.push_back(read_run_columns(rows));
  return runs;
}

std::vector<std::int64_t> SqliteRunStore::prune_finished_runs(Timestamp finished_before,
                                                             int limit) {
  std::lock_guard lock(mutex_);
  const std::string doing = "pruning finished runs";
  Transaction transaction(*this, doing);
  std::vector<std::int64_t> ids;
  Statement rows = prepare(
      "SELECT run_id FROM runs WHERE status IN ('succeeded', 'failed', 'cancelled') "
      "AND finished_at < ? ORDER BY run_id LIMIT ?",
      doing);
  rows.bind_int(finished_before.time_since_epoch().count()).bind_int(limit);
  while (rows.next()) ids.push_back(rows.integer(0));
  // run_steps and attempts go with their run (ON DELETE CASCADE).
  for (std::int64_t id : ids)
    prepare("DELETE FROM runs WHERE run_id = ?", doing).bind_int(id).next();
  transaction.commit();
  return ids;
}

void SqliteRunStore::write_batch(const std::function<void()>& writes) {
  std::lock_guard lock(mutex_);
  check_same_file();
  Transaction transaction(*this, "committing a batch of writes");
  ++batch_depth_;
  struct Leave {
    int& depth;
    ~Leave() { --depth; }
  } leave{batch_depth_};
  writes();
  transaction.commit();
}

// AUTOINCREMENT keeps the highest id ever given in sqlite_sequence, which
// SQLite lets us raise (a fresh store has no row for runs yet).
void SqliteRunStore::skip_run_ids_through(std::int64_t run_id) {
  std::lock_guard lock(mutex_);
  const std::string doing = "skipping run ids through " + std::to_string(run_id);
  Transaction transaction(*this, doing);
  prepare("INSERT INTO sqlite_sequence (name, seq) SELECT 'runs', 0 "
          "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'runs')",
          doing)
      .next();
  prepare("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'runs'", doing)
      .bind_int(run_id)
      .next();
  transaction.commit();
}

void SqliteRunStore::claim_for_daemon() {
  if (daemon_lock_ >= 0) return;
  const std::string lock_path = path_ + ".daemon.lock";
  const int fd = ::open(lock_path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0640);
  if (fd < 0)
    fail("claiming the store", "cannot open " + lock_path + ": " +
                                   std::generic_category().message(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd);
    fail("claiming the store", error == EWOULDBLOCK
                                   ? "another nightshift daemon is serving from this store"
                                   : std::generic_category().message(error));
  }
  daemon_lock_ = fd;
}

}  // namespace nightshift

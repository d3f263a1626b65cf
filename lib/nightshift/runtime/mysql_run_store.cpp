#include "nightshift/runtime/mysql_run_store.h"

#include "nightshift/runtime/mysql_connection.h"
#include "nightshift/runtime/run_store_sql.h"

#include <unistd.h>

#include <array>
#include <charconv>
#include <limits>
#include <random>
#include <thread>
#include <unordered_map>
#include <utility>

namespace nightshift {
namespace {

using Clock = std::chrono::steady_clock;

// Migration N brings the schema from version N-1 to N. MySQL commits every DDL
// statement on its own, so each statement can run again after a crash half-way
// (IF NOT EXISTS). Append only: a migration that has shipped is never edited.
// Names are case-sensitive (utf8mb4_bin), as in SQLite; times are integers
// (unix seconds for scheduled_at, milliseconds for every *_at), as in SQLite.
const std::vector<std::vector<const char*>> kMigrations{
    {
        R"sql(CREATE TABLE IF NOT EXISTS runs (
  run_id            BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
  job               VARCHAR(255) NOT NULL,
  triggered_by      VARCHAR(16)  NOT NULL,
  scheduled_at      BIGINT       NOT NULL,
  scheduled_at_text VARCHAR(64)  NOT NULL,
  date              CHAR(10)     NOT NULL,
  status            VARCHAR(16)  NOT NULL,
  created_at        BIGINT       NOT NULL,
  started_at        BIGINT,
  finished_at       BIGINT,
  fire_key          BIGINT,      -- scheduled_at for schedule and catchup; NULL for manual
  request_key       CHAR(32),    -- makes a create retried after a lost answer find its run
  UNIQUE KEY runs_fire_key (job, fire_key),  -- NULLs never collide: manual runs are free
  UNIQUE KEY runs_request_key (request_key),
  KEY runs_by_job (job, run_id),
  KEY runs_by_status (status, run_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin)sql",
        R"sql(CREATE TABLE IF NOT EXISTS run_steps (
  run_id       BIGINT       NOT NULL,
  step         VARCHAR(255) NOT NULL,
  position     INT          NOT NULL,
  state        VARCHAR(16)  NOT NULL,
  carried_over TINYINT      NOT NULL,
  PRIMARY KEY (run_id, step),
  FOREIGN KEY (run_id) REFERENCES runs (run_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin)sql",
        R"sql(CREATE TABLE IF NOT EXISTS attempts (
  run_id          BIGINT       NOT NULL,
  step            VARCHAR(255) NOT NULL,
  attempt         INT          NOT NULL,
  state           VARCHAR(16)  NOT NULL,
  started_at      BIGINT       NOT NULL,
  finished_at     BIGINT,
  exit_code       INT,
  counts_as_retry TINYINT      NOT NULL,
  PRIMARY KEY (run_id, step, attempt),
  KEY attempts_by_state (state),  -- recovery looks for the few running ones
  FOREIGN KEY (run_id, step) REFERENCES run_steps (run_id, step) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin)sql",
    },
    // 2: the scheduler's per-job watermark, so a restart catches up exactly.
    {
        R"sql(CREATE TABLE IF NOT EXISTS job_watermarks (
  job               VARCHAR(255) NOT NULL PRIMARY KEY,
  scheduled_through BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin)sql",
    },
    // 3: how an attempt ended when the exit code does not say (who stopped it).
    // NULL before version 3. MySQL 8 has no ADD COLUMN IF NOT EXISTS: migrate()
    // takes "duplicate column" for a run of this statement before a crash.
    {
        "ALTER TABLE attempts ADD COLUMN message TEXT NULL",
    },
    // 4: every run and attempt has an owner, the process that runs it; only a
    // dead owner's attempts are lost. Rows from before have none (NULL), which
    // recovery takes for dead, as it took every running attempt before. An
    // owner is alive while its connection holds the named lock owner_lock_name.
    {
        R"sql(CREATE TABLE IF NOT EXISTS owners (
  owner_id   BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
  kind       VARCHAR(16)  NOT NULL,
  host       VARCHAR(255) NOT NULL,
  pid        BIGINT       NOT NULL,
  started_at BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin)sql",
        "ALTER TABLE runs ADD COLUMN owner_id BIGINT NULL",
        "ALTER TABLE attempts ADD COLUMN owner_id BIGINT NULL",
    },
    // 5: pause (kept in the store, so it survives restarts and reloads; a job
    // without a row has never been seen), and the runs of a job by fire time,
    // for a backfill's missing_only. migrate() takes "duplicate key name" for
    // a run of the CREATE INDEX before a crash.
    {
        R"sql(CREATE TABLE IF NOT EXISTS job_pauses (
  job        VARCHAR(255) NOT NULL PRIMARY KEY,
  paused     TINYINT      NOT NULL,
  changed_at BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin)sql",
        "CREATE INDEX runs_by_fire_time ON runs (job, scheduled_at)",
    },
};

using run_store_sql::kAttemptColumns;
using run_store_sql::kLatestRunsState;
using run_store_sql::kRunColumns;

constexpr unsigned kDuplicateKey = 1062;  // ER_DUP_ENTRY
constexpr unsigned kDuplicateColumn = 1060;  // ER_DUP_FIELDNAME
constexpr unsigned kDuplicateKeyName = 1061;  // ER_DUP_KEYNAME

constexpr auto kFirstBackoff = std::chrono::milliseconds(20);
constexpr auto kLongestBackoff = std::chrono::seconds(1);

std::int64_t to_millis(Timestamp t) {
  return t.time_since_epoch().count();
}

std::string number(std::int64_t value) {
  return std::to_string(value);
}
std::string number(std::optional<std::int64_t> value) {
  return value ? std::to_string(*value) : "NULL";
}

// A column read back as an integer; the schema makes the NOT NULL ones non-null.
std::optional<std::int64_t> optional_integer(const std::optional<std::string>& cell) {
  if (!cell) return std::nullopt;
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(cell->data(), cell->data() + cell->size(), value);
  if (ec != std::errc() || end != cell->data() + cell->size()) return std::nullopt;
  return value;
}
std::int64_t integer(const std::optional<std::string>& cell) {
  return optional_integer(cell).value_or(0);
}
std::optional<Timestamp> optional_time(const std::optional<std::string>& cell) {
  if (auto ms = optional_integer(cell)) return Timestamp(std::chrono::milliseconds(*ms));
  return std::nullopt;
}
const std::string& text(const std::optional<std::string>& cell) {
  static const std::string empty;
  return cell ? *cell : empty;
}

// The named lock owner `id` (an SQL expression) holds for its life: one per
// owner and database. Names are at most 64 characters on MySQL.
std::string owner_lock_name(const std::string& id) {
  return "LEFT(CONCAT('nightshift_owner:', " + id + ", ':', DATABASE()), 64)";
}

// "(owner_id IS NULL OR owner_id IN (…dead…))" on `column`: what recovery takes over.
std::string of_dead(const std::string& column, const std::vector<std::int64_t>& dead) {
  std::string ids;
  for (std::int64_t id : dead) ids += (ids.empty() ? "" : ", ") + std::to_string(id);
  return "(" + column + " IS NULL" + (ids.empty() ? "" : " OR " + column + " IN (" + ids + ")") +
         ")";
}

bool is_run_end(RunStatus status) {
  return status == RunStatus::succeeded || status == RunStatus::failed ||
         status == RunStatus::cancelled;
}

// 128 random bits as hex: the key a create_run call retries under.
std::string random_key() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string key;
  for (int half = 0; half < 2; ++half) {
    std::uint64_t bits = rng();
    for (int i = 0; i < 16; ++i, bits >>= 4) key += kHex[bits & 0xF];
  }
  return key;
}

}  // namespace

// START TRANSACTION … COMMIT; rolls back unless committed (an exception, a
// "no such step"). After a lost connection the server has rolled back already.
// Inside write_batch (`nested`) it is the batch's transaction, and this one
// does nothing: the batch commits or rolls back as a whole.
class MysqlRunStore::Transaction {
 public:
  Transaction(MysqlConnection& db, bool nested) : db_(db), committed_(nested) {
    if (!nested) db_.execute("START TRANSACTION");
  }
  ~Transaction() {
    if (committed_) return;
    try {
      db_.execute("ROLLBACK");
    } catch (const MysqlError&) {
      // The connection is gone; so is the transaction.
    }
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit() {
    if (committed_) return;
    db_.execute("COMMIT");
    committed_ = true;
  }

 private:
  MysqlConnection& db_;
  bool committed_ = false;
};

int MysqlRunStore::latest_schema_version() {
  return static_cast<int>(kMigrations.size());
}

MysqlRunStore::MysqlRunStore(MysqlStoreOptions options)
    : options_(std::move(options)), address_(mysql_address(options_.server)) {}

MysqlRunStore::~MysqlRunStore() = default;

std::unique_ptr<MysqlRunStore> MysqlRunStore::open(MysqlStoreOptions options) {
  std::unique_ptr<MysqlRunStore> store(new MysqlRunStore(std::move(options)));
  try {
    std::lock_guard lock(store->mutex_);
    store->connection();
  } catch (const MysqlError& e) {
    // At start-up an unreachable server is an error the user must see at once.
    throw StoreError(std::string("cannot open run store: ") + e.what());
  }
  store->migrate();
  return store;
}

MysqlConnection& MysqlRunStore::connection() {
  if (!db_) {
    db_ = std::make_unique<MysqlConnection>(options_.server,
                                            MysqlConnection::Options{.found_rows = true});
    // Each call is its own short transaction; READ COMMITTED keeps readers from
    // holding gap locks that would make the executor's writes wait.
    db_->execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
    db_->execute("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'");
    if (claimed_ || owner_) {
      // The locks live as long as the connection: an idle one must not be
      // closed by the server (wait_timeout is 8 hours by default, and a step
      // may run longer with nothing to write). This is the largest it takes.
      db_->execute("SET SESSION wait_timeout = 31536000");
    }
    if (claimed_) take_daemon_lock();
    if (owner_) take_owner_lock();
  }
  return *db_;
}

void MysqlRunStore::notice(const std::string& level, const std::string& message) const {
  if (options_.notice) options_.notice(level, message);
}

void MysqlRunStore::fail(std::string_view doing, std::string_view why) const {
  throw StoreError("run store " + address_ + ": " + std::string(doing) + ": " + std::string(why));
}

template <class F>
auto MysqlRunStore::with_retry(std::string_view doing, Duration budget, F f) {
  const auto deadline = Clock::now() + budget;
  auto backoff = std::chrono::duration_cast<Clock::duration>(kFirstBackoff);
  bool warned = false;
  {
    // Inside write_batch, one try: a failure fails the batch, which its writer
    // retries as a whole. (in_batch_ is set only by the thread holding the
    // lock, so whoever sees it set here is that thread.)
    std::lock_guard lock(mutex_);
    if (in_batch_) return f(Try{connection(), false});
  }
  for (int tries = 0;; ++tries) {
    std::string why;
    {
      std::lock_guard lock(mutex_);
      try {
        Try attempt{connection(), tries > 0};
        auto result = f(attempt);
        if (warned) notice("info", "run store " + address_ + ": back after an outage");
        return result;
      } catch (const MysqlError& e) {
        if (e.connection_lost()) {
          db_.reset();
        } else if (!e.transient()) {
          fail(doing, e.what());
        }
        why = e.what();
      }
    }
    // The lock is released while waiting, so readers fail fast meanwhile.
    if (Clock::now() + backoff > deadline) fail(doing, why + "; gave up retrying");
    if (!warned) {
      notice("warn", "run store " + address_ + ": " + std::string(doing) + ": " + why +
                         "; retrying for up to " + format_duration(budget));
      warned = true;
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min<Clock::duration>(backoff * 2, kLongestBackoff);
  }
}

void MysqlRunStore::migrate() {
  const int latest = latest_schema_version();
  write("migrating the schema", [&](Try t) {
    // Two daemons starting together must not migrate at once: DDL is not
    // transactional here, so a named lock serializes them.
    t.db.query("SELECT GET_LOCK('nightshift_migrate', 60)");
    struct Unlock {
      MysqlConnection& db;
      ~Unlock() {
        try {
          db.query("SELECT RELEASE_LOCK('nightshift_migrate')");
        } catch (const MysqlError&) {
          // A lost connection releases its locks.
        }
      }
    } unlock{t.db};
    t.db.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INT NOT NULL PRIMARY KEY, "
        "applied_at BIGINT NOT NULL) ENGINE=InnoDB");
    auto rows = t.db.query("SELECT COALESCE(MAX(version), 0) FROM schema_version");
    int current = static_cast<int>(integer(rows.at(0).at(0)));
    if (current > latest)
      fail("opening", "store schema version " + std::to_string(current) +
                          " is newer than this nightshift (" + std::to_string(latest) + ")");
    for (; current < latest; ++current) {
      for (const char* statement : kMigrations[static_cast<std::size_t>(current)]) {
        try {
          t.db.execute(statement);
        } catch (const MysqlError& e) {
          if (e.code() != kDuplicateColumn && e.code() != kDuplicateKeyName) throw;
        }
      }
      t.db.execute("INSERT INTO schema_version (version, applied_at) VALUES (" +
                   number(current + 1) + ", " + number(to_millis(now_timestamp())) + ")");
    }
    return 0;
  });
}

std::optional<std::int64_t> MysqlRunStore::create_run(const NewRun& run) {
  const std::string doing = "creating a run of " + run.job;
  const std::int64_t scheduled_at = run.scheduled_at.time_since_epoch().count();
  const std::optional<std::int64_t> fire_key =
      made_by_schedule(run.trigger) ? std::optional(scheduled_at) : std::nullopt;
  const std::string request_key = random_key();

  return write(doing, [&](Try t) -> std::optional<std::int64_t> {
    MysqlConnection& db = t.db;
    Transaction transaction(db, in_batch_);
    if (t.retry) {
      // An earlier try may have committed before its answer was lost.
      auto rows = db.query("SELECT run_id FROM runs WHERE request_key = " + db.quote(request_key));
      if (!rows.empty()) return integer(rows[0][0]);
    }
    try {
      db.execute(
          "INSERT INTO runs (job, triggered_by, scheduled_at, scheduled_at_text, date, status, "
          "created_at, fire_key, request_key, owner_id) VALUES (" +
          db.quote(run.job) + ", " + db.quote(to_string(run.trigger)) + ", " +
          number(scheduled_at) + ", " + db.quote(run.scheduled_at_text) + ", " +
          db.quote(run.date) + ", " + db.quote(to_string(run.status)) + ", " +
          number(to_millis(run.created_at)) + ", " + number(fire_key) + ", " +
          db.quote(request_key) + ", " + number(owner_) + ")");
    } catch (const MysqlError& e) {
      // Only a clash on runs_fire_key means "this fire time has its run".
      if (e.code() != kDuplicateKey || !fire_key) throw;
      return std::nullopt;
    }
    const auto run_id = static_cast<std::int64_t>(db.insert_id());
    if (!run.steps.empty()) {
      std::string insert =
          "INSERT INTO run_steps (run_id, step, position, state, carried_over) VALUES ";
      for (std::size_t position = 0; position < run.steps.size(); ++position) {
        const NewRun::Step& step = run.steps[position];
        if (position > 0) insert += ", ";
        insert += "(" + number(run_id) + ", " + db.quote(step.name) + ", " +
                  number(static_cast<std::int64_t>(position)) + ", " +
                  db.quote(to_string(step.carried_over ? StepState::succeeded
                                                       : StepState::pending)) +
                  ", " + (step.carried_over ? "1" : "0") + ")";
      }
      db.execute(insert);
    }
    transaction.commit();
    return run_id;
  });
}

void MysqlRunStore::set_run_status(std::int64_t run_id, RunStatus status, Timestamp at) {
  const std::string doing = "setting the status of run " + std::to_string(run_id);
  write(doing, [&](Try t) {
    const std::string when = number(to_millis(at));
    // started_at is the first move to running; a run resumed after a restart keeps it.
    t.db.execute("UPDATE runs SET status = " + t.db.quote(to_string(status)) +
                 (status == RunStatus::running ? ", started_at = COALESCE(started_at, " + when + ")"
                                               : std::string()) +
                 (is_run_end(status) ? ", finished_at = " + when : std::string()) +
                 " WHERE run_id = " + number(run_id));
    if (t.db.affected_rows() == 0) fail(doing, "no such run");
    return 0;
  });
}

void MysqlRunStore::update_step_state(MysqlConnection& db, std::int64_t run_id,
                                      const std::string& step, StepState state,
                                      std::string_view doing) {
  db.execute("UPDATE run_steps SET state = " + db.quote(to_string(state)) +
             " WHERE run_id = " + number(run_id) + " AND step = " + db.quote(step));
  if (db.affected_rows() == 0) fail(doing, "no such step " + step);
}

void MysqlRunStore::set_step_state(std::int64_t run_id, const std::string& step,
                                   StepState state) {
  const std::string doing =
      "setting the state of step " + step + " of run " + std::to_string(run_id);
  write(doing, [&](Try t) {
    update_step_state(t.db, run_id, step, state, doing);
    return 0;
  });
}

void MysqlRunStore::set_step_states(std::int64_t run_id,
                                    const std::vector<std::pair<std::string, StepState>>& states) {
  if (states.empty()) return;
  const std::string doing = "setting the states of " + std::to_string(states.size()) +
                            " steps of run " + std::to_string(run_id);
  write(doing, [&](Try t) {
    Transaction transaction(t.db, in_batch_);
    for (const auto& [step, state] : states) update_step_state(t.db, run_id, step, state, doing);
    transaction.commit();
    return 0;
  });
}

void MysqlRunStore::start_attempt(const AttemptRecord& attempt) {
  const std::string doing = "starting attempt " + std::to_string(attempt.attempt) + " of step " +
                            attempt.step + " of run " + std::to_string(attempt.run_id);
  write(doing, [&](Try t) {
    MysqlConnection& db = t.db;
    Transaction transaction(db, in_batch_);
    update_step_state(db, attempt.run_id, attempt.step, StepState::running, doing);
    const std::string key = number(attempt.run_id) + " AND step = " + db.quote(attempt.step) +
                            " AND attempt = " + number(attempt.attempt);
    if (t.retry) {
      // The earlier try committed if its row is there, started at this very time.
      auto rows = db.query("SELECT started_at FROM attempts WHERE run_id = " + key);
      if (!rows.empty() && integer(rows[0][0]) == to_millis(attempt.started_at)) return 0;
    }
    db.execute(
        "INSERT INTO attempts (run_id, step, attempt, state, started_at, counts_as_retry, "
        "owner_id) VALUES (" +
        number(attempt.run_id) + ", " + db.quote(attempt.step) + ", " + number(attempt.attempt) +
        ", 'running', " + number(to_millis(attempt.started_at)) + ", " +
        (attempt.counts_as_retry ? "1" : "0") + ", " + number(owner_) + ")");
    transaction.commit();
    return 0;
  });
}

void MysqlRunStore::finish_attempt(std::int64_t run_id, const std::string& step, int attempt,
                                   StepState outcome, std::optional<int> exit_code, Timestamp at,
                                   std::optional<StepState> step_state,
                                   const std::string& message) {
  const std::string doing = "finishing attempt " + std::to_string(attempt) + " of step " + step +
                            " of run " + std::to_string(run_id);
  write(doing, [&](Try t) {
    MysqlConnection& db = t.db;
    // With a step state both change in one transaction, so no crash can leave a
    // finished attempt under a running step; without, the UPDATE commits alone
    // (two round trips fewer).
    std::optional<Transaction> transaction;
    if (step_state) transaction.emplace(db, in_batch_);
    db.execute("UPDATE attempts SET state = " + db.quote(to_string(outcome)) +
               ", exit_code = " + number(exit_code ? std::optional<std::int64_t>(*exit_code)
                                                   : std::nullopt) +
               ", finished_at = " + number(to_millis(at)) + ", message = " + db.quote(message) +
               " WHERE run_id = " + number(run_id) +
               " AND step = " + db.quote(step) + " AND attempt = " + number(attempt));
    if (db.affected_rows() == 0) fail(doing, "no such attempt");
    if (!step_state) return 0;
    update_step_state(db, run_id, step, *step_state, doing);
    transaction->commit();
    return 0;
  });
}

std::int64_t MysqlRunStore::register_owner(OwnerKind kind) {
  std::lock_guard lock(mutex_);
  if (owner_) return *owner_;
  const std::string doing = "registering this process as an owner";
  try {
    MysqlConnection& db = connection();
    // Committed before the lock is taken: a recovery that sees the owner in
    // between finds nothing of it to take over yet.
    db.execute("INSERT INTO owners (kind, host, pid, started_at) VALUES (" +
               db.quote(to_string(kind)) + ", " + db.quote(owner_host()) + ", " +
               number(::getpid()) + ", " + number(to_millis(now_timestamp())) + ")");
    owner_ = static_cast<std::int64_t>(db.insert_id());
    db.execute("SET SESSION wait_timeout = 31536000");  // see connection()
    take_owner_lock();
  } catch (const MysqlError& e) {
    db_.reset();
    owner_.reset();
    fail(doing, e.what());
  } catch (const StoreError&) {
    owner_.reset();
    throw;
  }
  return *owner_;
}

std::optional<std::int64_t> MysqlRunStore::owner() const {
  return owner_;
}

// On the store's own connection (held by `mutex_`), taken again whenever it
// reconnects: the server frees it when the connection ends, however it ends.
// After a lost connection the server may not have ended the old session yet,
// which still holds it: the wait covers that, as take_daemon_lock's does.
void MysqlRunStore::take_owner_lock() {
  auto rows = db_->query("SELECT GET_LOCK(" + owner_lock_name(number(*owner_)) + ", 10)");
  if (rows.empty() || text(rows[0][0]) != "1") {
    db_.reset();
    fail("taking the lock of owner " + number(*owner_), "it is held by another connection");
  }
}

TakenOver MysqlRunStore::take_over_dead_owners(Timestamp now) {
  const std::string doing = "taking over from dead owners";
  const std::string when = number(to_millis(now));
  return write(doing, [&](Try t) {
    MysqlConnection& db = t.db;
    Transaction transaction(db, in_batch_);
    // The owners of what is unfinished, this one aside; the dead among them
    // are those whose named lock no connection holds.
    std::vector<std::int64_t> others;
    for (const MysqlRow& row : db.query(
             "SELECT owner_id FROM attempts WHERE state = 'running' AND owner_id IS NOT NULL "
             "UNION SELECT owner_id FROM runs WHERE status IN ('queued', 'running') "
             "AND owner_id IS NOT NULL"))
      if (integer(row[0]) != owner_) others.push_back(integer(row[0]));
    std::vector<std::int64_t> dead = others;
    if (!others.empty()) {
      std::string ids;
      for (std::int64_t id : others) ids += (ids.empty() ? "" : ", ") + number(id);
      for (const MysqlRow& row :
           db.query("SELECT owner_id FROM owners WHERE owner_id IN (" + ids + ") AND IS_USED_LOCK(" +
                    owner_lock_name("owner_id") + ") IS NOT NULL"))
        std::erase(dead, integer(row[0]));
    }
    TakenOver taken;
    // A retry also finds what an earlier try committed: the runs it made this
    // owner's (with this owner's own, which the caller knows already) and the
    // attempts it made lost at this `now`.
    for (const MysqlRow& row :
         db.query("SELECT run_id FROM runs WHERE status IN ('queued', 'running') AND (" +
                  of_dead("owner_id", dead) +
                  (t.retry && owner_ ? " OR owner_id = " + number(owner_) : std::string()) +
                  ") ORDER BY run_id FOR UPDATE"))
      taken.runs.push_back(integer(row[0]));
    auto rows = db.query(std::string(kAttemptColumns) + "WHERE (a.state = 'running' AND " +
                         of_dead("a.owner_id", dead) + ")" +
                         (t.retry ? " OR (a.state = 'lost' AND a.finished_at = " + when + ")"
                                  : std::string()) +
                         " ORDER BY a.run_id, s.position, a.attempt FOR UPDATE");
    db.execute(
        "UPDATE run_steps s JOIN attempts a ON a.run_id = s.run_id AND a.step = s.step "
        "SET s.state = 'lost' WHERE s.state = 'running' AND a.state = 'running' AND " +
        of_dead("a.owner_id", dead));
    db.execute("UPDATE attempts SET state = 'lost', finished_at = " + when +
               " WHERE state = 'running' AND " + of_dead("owner_id", dead));
    db.execute("UPDATE runs SET owner_id = " + number(owner_) +
               " WHERE status IN ('queued', 'running') AND " + of_dead("owner_id", dead));
    transaction.commit();
    for (const MysqlRow& row : rows) {
      AttemptRecord attempt = read_attempt(row, doing);
      attempt.state = StepState::lost;  // as the UPDATE above made it
      attempt.finished_at = now;
      taken.lost.push_back(std::move(attempt));
    }
    return taken;
  });
}

std::optional<RunRecord> MysqlRunStore::get_run(std::int64_t run_id) {
  const std::string doing = "reading run " + std::to_string(run_id);
  return read(doing, [&](Try t) -> std::optional<RunRecord> {
    auto runs =
        read_runs(t.db, t.db.query(std::string(kRunColumns) + "WHERE run_id = " + number(run_id)),
                  doing);
    if (runs.empty()) return std::nullopt;
    return std::move(runs.front());
  });
}

std::vector<AttemptRecord> MysqlRunStore::attempts(std::int64_t run_id) {
  const std::string doing = "reading the attempts of run " + std::to_string(run_id);
  return read(doing, [&](Try t) {
    auto rows = t.db.query(std::string(kAttemptColumns) + "WHERE a.run_id = " + number(run_id) +
                           " ORDER BY s.position, a.attempt");
    std::vector<AttemptRecord> result;
    for (const MysqlRow& row : rows) {
      result.push_back(read_attempt(row, doing));
    }
    return result;
  });
}

std::vector<RunRecord> MysqlRunStore::list_runs(const std::string& job, int limit,
                                                std::optional<std::int64_t> before) {
  if (limit <= 0) return {};
  const std::string doing = "listing the runs of " + job;
  return read(doing, [&](Try t) {
    return read_runs(
        t.db,
        t.db.query(std::string(kRunColumns) + "WHERE job = " + t.db.quote(job) +
                   " AND run_id < " +
                   number(before.value_or(std::numeric_limits<std::int64_t>::max())) +
                   " ORDER BY run_id DESC LIMIT " + number(limit)),
        doing);
  });
}

std::vector<RunSummary> MysqlRunStore::latest_runs() {
  const std::string doing = "reading the latest run of every job";
  return read(doing, [&](Try t) {
    std::vector<RunSummary> summaries;
    const auto rows =
        t.db.query(run_store_sql::latest_runs_query(run_store_sql::kLatestRunIdsGrouped));
    for (const MysqlRow& row : rows) {
      // A run's rows (one per state) come together.
      if (summaries.empty() || summaries.back().run.run_id != integer(row[0]))
        summaries.push_back({read_run_columns(row, doing), {}});
      const std::int64_t count = integer(row[kLatestRunsState + 1]);
      if (count == 0) continue;  // a run without steps
      const auto state = parse_step_state(text(row[kLatestRunsState]));
      if (!state)
        fail(doing, "run " + std::to_string(summaries.back().run.run_id) +
                        " has steps in unknown state '" + text(row[kLatestRunsState]) + "'");
      summaries.back().step_counts[*state] = static_cast<int>(count);
    }
    return summaries;
  });
}

std::vector<RunRecord> MysqlRunStore::unfinished_runs() {
  const std::string doing = "listing unfinished runs";
  return read(doing, [&](Try t) {
    return read_runs(t.db,
                     t.db.query(std::string(kRunColumns) +
                                "WHERE status IN ('queued', 'running') ORDER BY run_id"),
                     doing);
  });
}

std::vector<RunRecord> MysqlRunStore::unfinished_runs_of(const std::string& job) {
  const std::string doing = "listing unfinished runs of " + job;
  return read(doing, [&](Try t) {
    std::vector<RunRecord> runs;
    for (const MysqlRow& row :
         t.db.query(std::string(kRunColumns) + "WHERE job = " + t.db.quote(job) +
                    " AND status IN ('queued', 'running') ORDER BY run_id"))
      runs.push_back(read_run_columns(row, doing));
    return runs;
  });
}

// A row of kAttemptColumns.
AttemptRecord MysqlRunStore::read_attempt(const MysqlRow& row, std::string_view doing) const {
  AttemptRecord attempt;
  attempt.run_id = integer(row[0]);
  attempt.step = text(row[1]);
  attempt.attempt = static_cast<int>(integer(row[2]));
  const auto state = parse_step_state(text(row[3]));
  if (!state) fail(doing, "attempt in unknown state '" + text(row[3]) + "'");
  attempt.state = *state;
  attempt.started_at = optional_time(row[4]).value_or(Timestamp{});
  attempt.finished_at = optional_time(row[5]);
  if (auto code = optional_integer(row[6])) attempt.exit_code = static_cast<int>(*code);
  attempt.counts_as_retry = integer(row[7]) != 0;
  attempt.message = text(row[8]);
  attempt.owner = optional_integer(row[9]);
  return attempt;
}

RunRecord MysqlRunStore::read_run_columns(const MysqlRow& row, std::string_view doing) const {
  RunRecord run;
  run.run_id = integer(row[0]);
  run.job = text(row[1]);
  const auto trigger = parse_trigger(text(row[2]));
  const auto status = parse_run_status(text(row[6]));
  if (!trigger || !status)
    fail(doing, "run " + std::to_string(run.run_id) + " has unknown trigger '" + text(row[2]) +
                    "' or status '" + text(row[6]) + "'");
  run.trigger = *trigger;
  run.scheduled_at = Instant(std::chrono::seconds(integer(row[3])));
  run.scheduled_at_text = text(row[4]);
  run.date = text(row[5]);
  run.status = *status;
  run.created_at = optional_time(row[7]).value_or(Timestamp{});
  run.started_at = optional_time(row[8]);
  run.finished_at = optional_time(row[9]);
  run.owner = optional_integer(row[10]);
  return run;
}

// The runs of `rows` with their steps, read in one more query for all of them.
std::vector<RunRecord> MysqlRunStore::read_runs(MysqlConnection& db,
                                                const std::vector<MysqlRow>& rows,
                                                std::string_view doing) {
  std::vector<RunRecord> runs;
  std::string ids;
  for (const MysqlRow& row : rows) {
    RunRecord run = read_run_columns(row, doing);
    ids += (ids.empty() ? "" : ", ") + number(run.run_id);
    runs.push_back(std::move(run));
  }
  if (runs.empty()) return runs;

  auto steps = db.query(
      "SELECT s.run_id, s.step, s.state, s.carried_over, a.attempt, a.started_at, "
      "a.finished_at, a.exit_code FROM run_steps s LEFT JOIN attempts a ON a.run_id = s.run_id "
      "AND a.step = s.step AND a.attempt = (SELECT MAX(attempt) FROM attempts m "
      "WHERE m.run_id = s.run_id AND m.step = s.step) "
      "WHERE s.run_id IN (" +
      ids + ") ORDER BY s.run_id, s.position");
  std::unordered_map<std::int64_t, RunRecord*> by_id;
  for (RunRecord& run : runs) by_id[run.run_id] = &run;
  for (const MysqlRow& row : steps) {
    StepRecord step;
    step.step = text(row[1]);
    const auto state = parse_step_state(text(row[2]));
    if (!state) fail(doing, "step " + step.step + " has unknown state '" + text(row[2]) + "'");
    step.state = *state;
    step.carried_over = integer(row[3]) != 0;
    step.attempt = static_cast<int>(optional_integer(row[4]).value_or(0));
    step.started_at = optional_time(row[5]);
    step.finished_at = optional_time(row[6]);
    if (auto code = optional_integer(row[7])) step.exit_code = static_cast<int>(*code);
    by_id.at(integer(row[0]))->steps.push_back(std::move(step));
  }
  return runs;
}

std::optional<Instant> MysqlRunStore::scheduled_through(const std::string& job) {
  return read("reading the watermark of job " + job, [&](Try t) -> std::optional<Instant> {
    auto rows = t.db.query("SELECT scheduled_through FROM job_watermarks WHERE job = " +
                           t.db.quote(job));
    if (rows.empty()) return std::nullopt;
    return Instant(std::chrono::seconds(integer(rows[0][0])));
  });
}

void MysqlRunStore::set_scheduled_through(const std::string& job, Instant t) {
  write("setting the watermark of job " + job, [&](Try attempt) {
    const std::string value = number(t.time_since_epoch().count());
    attempt.db.execute("INSERT INTO job_watermarks (job, scheduled_through) VALUES (" +
                       attempt.db.quote(job) + ", " + value +
                       ") ON DUPLICATE KEY UPDATE scheduled_through = " + value);
    return 0;
  });
}

// InnoDB's auto-increment counter does not go back on a rollback: a row
// inserted with the id and rolled back moves it past the id, and no reader
// ever sees that row. (ALTER TABLE ... AUTO_INCREMENT could lower the counter
// below the ids of runs retention pruned, and would give them out again.)
void MysqlRunStore::skip_run_ids_through(std::int64_t run_id) {
  write("skipping run ids through " + std::to_string(run_id), [&](Try t) {
    if (integer(t.db.query("SELECT COALESCE(MAX(run_id), 0) FROM runs").at(0).at(0)) >= run_id)
      return 0;  // a later run exists: so does a counter above it
    Transaction transaction(t.db, false);
    t.db.execute(
        "INSERT INTO runs (run_id, job, triggered_by, scheduled_at, scheduled_at_text, date, "
        "status, created_at) VALUES (" +
        number(run_id) + ", '', 'manual', 0, '', '', 'failed', 0)");
    return 0;  // rolled back as the transaction ends
  });
}

std::map<std::string, bool> MysqlRunStore::paused_jobs() {
  return read("reading paused jobs", [&](Try t) {
    std::map<std::string, bool> paused;
    for (const MysqlRow& row : t.db.query("SELECT job, paused FROM job_pauses"))
      paused[text(row[0])] = integer(row[1]) != 0;
    return paused;
  });
}

bool MysqlRunStore::set_job_paused(const std::string& job, bool paused, Timestamp at,
                                   bool if_unseen) {
  const std::string doing = std::string(paused ? "pausing" : "unpausing") + " job " + job;
  return write(doing, [&](Try t) {
    const std::string values =
        "(" + t.db.quote(job) + ", " + (paused ? "1" : "0") + ", " + number(to_millis(at)) + ")";
    if (!if_unseen) {
      t.db.execute("INSERT INTO job_pauses (job, paused, changed_at) VALUES " + values +
                   " ON DUPLICATE KEY UPDATE paused = VALUES(paused), "
                   "changed_at = VALUES(changed_at)");
      return paused;
    }
    t.db.execute("INSERT IGNORE INTO job_pauses (job, paused, changed_at) VALUES " + values);
    auto rows = t.db.query("SELECT paused FROM job_pauses WHERE job = " + t.db.quote(job));
    if (rows.empty()) fail(doing, "its pause state is not there after it was written");
    return integer(rows[0][0]) != 0;
  });
}

std::vector<RunRecord> MysqlRunStore::runs_scheduled_between(const std::string& job, Instant from,
                                                             Instant to) {
  const std::string doing = "listing the runs of " + job + " by fire time";
  return read(doing, [&](Try t) {
    std::vector<RunRecord> runs;
    for (const MysqlRow& row : t.db.query(
             std::string(kRunColumns) + "WHERE job = " + t.db.quote(job) +
             " AND scheduled_at BETWEEN " + number(from.time_since_epoch().count()) + " AND " +
             number(to.time_since_epoch().count()) + " ORDER BY scheduled_at, run_id"))
      runs.push_back(read_run_columns(row, doing));
    return runs;
  });
}

std::vector<std::int64_t> MysqlRunStore::prune_finished_runs(Timestamp finished_before,
                                                            int limit) {
  return write("pruning finished runs", [&](Try t) {
    Transaction transaction(t.db, in_batch_);
    std::vector<std::int64_t> ids;
    for (const auto& row :
         t.db.query("SELECT run_id FROM runs WHERE status IN ('succeeded', 'failed', 'cancelled') "
                    "AND finished_at < " + number(finished_before.time_since_epoch().count()) +
                    " ORDER BY run_id LIMIT " + number(limit) + " FOR UPDATE"))
      ids.push_back(integer(row[0]));
    if (!ids.empty()) {
      std::string list;
      for (std::int64_t id : ids) list += (list.empty() ? "" : ", ") + number(id);
      // run_steps and attempts go with their runs (ON DELETE CASCADE).
      t.db.execute("DELETE FROM runs WHERE run_id IN (" + list + ")");
    }
    transaction.commit();
    return ids;
  });
}

void MysqlRunStore::claim_for_daemon() {
  std::lock_guard lock(mutex_);
  claimed_ = true;
  try {
    if (db_) take_daemon_lock();  // else the next connection takes it
  } catch (const MysqlError& e) {
    db_.reset();
    fail("claiming the store", e.what());
  }
}

// On the store's own connection (held by `mutex_`). The wait covers a daemon
// just killed, whose connection the server has not seen close yet.
void MysqlRunStore::take_daemon_lock() {
  auto rows = db_->query("SELECT GET_LOCK(CONCAT('nightshift_serve:', DATABASE()), 10)");
  if (rows.empty() || text(rows[0][0]) != "1") {
    db_.reset();
    fail("claiming the store", "another nightshift daemon is serving from this store");
  }
}

// Group commit: the writes share one transaction and one COMMIT (one fsync
// on the server instead of one per change). A failure rolls all of them back
// and throws; the store writer then retries the batch whole.
void MysqlRunStore::write_batch(const std::function<void()>& writes) {
  std::lock_guard lock(mutex_);  // held across the writes, which take it again
  try {
    MysqlConnection& db = connection();
    Transaction transaction(db, false);
    in_batch_ = true;
    struct Leave {
      bool& flag;
      ~Leave() { flag = false; }
    } leave{in_batch_};
    writes();
    in_batch_ = false;
    transaction.commit();
  } catch (const MysqlError& e) {
    if (e.connection_lost()) db_.reset();
    fail("committing a batch of changes", e.what());
  }
}

}  // namespace nightshift

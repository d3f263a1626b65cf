// SqliteStepRunner: the worker-thread side (open, run, log, close) and the
// stop protocol that lets another thread interrupt a connection safely.
#include "nightshift/runtime/sqlite_step_runner.h"

#include "nightshift/runtime/result_text.h"
#include "nightshift/runtime/sql_attempt.h"
#include "nightshift/runtime/sql_worker_pool.h"
#include "nightshift/runtime/step_log.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace nightshift {
namespace {

using Clock = std::chrono::steady_clock;

// How long a statement waits for another connection's lock on the same file,
// so parallel steps on one database take turns instead of failing.
constexpr auto kBusyTimeout = std::chrono::seconds(30);

// Longest nap between lock retries: bounds how late a stop is noticed while waiting.
constexpr auto kLongestBusyNap = std::chrono::milliseconds(50);

// VM instructions between stop checks: frequent enough to stop in microseconds,
// rare enough to cost nothing measurable.
constexpr int kProgressInterval = 1000;

// Longer than any step may take; keeps the deadline arithmetic from overflowing.
constexpr Duration kLongestTimeout = std::chrono::hours(24 * 365);

// One attempt, shared by the worker that runs it, its handle and the runner's
// list of live attempts.
class SqliteAttempt : public SqlAttempt {
 public:
  explicit SqliteAttempt(const StepInvocation& step) : SqlAttempt(step), sql_(step.sql) {
    // Only what the runner needs: the connection's password stays out of here.
    if (step.connection) {
      has_connection_ = true;
      connection_name_ = step.connection->name;
      driver_ = step.connection->driver;
      database_path_ = step.connection->path;
    }
    if (step.timeout) {
      deadline_ = Clock::now() + std::clamp(*step.timeout, Duration::zero(), kLongestTimeout);
    }
  }

  // Any thread. The first reason wins; once the connection is closed, a no-op.
  void request_stop(StopReason reason) override {
    std::lock_guard lock(mutex_);
    if (ended_) return;
    StopReason none = StopReason::none;
    stop_.compare_exchange_strong(none, reason);
    // sqlite3_interrupt on a closed handle is undefined; `db_` is only set while open.
    if (db_) sqlite3_interrupt(db_);
  }

  // Worker thread: true once a stop was requested or the deadline has passed.
  bool should_stop() {
    if (stop_.load() != StopReason::none) return true;
    if (!deadline_ || Clock::now() < *deadline_) return false;
    StopReason none = StopReason::none;
    stop_.compare_exchange_strong(none, StopReason::timed_out);
    return true;
  }

  // Worker thread: from now on a stop interrupts `db`.
  void attach(sqlite3* db) {
    std::lock_guard lock(mutex_);
    db_ = db;
  }

  // Worker thread, before closing the connection: no stop can land after this,
  // so the reason returned is final. Idempotent.
  StopReason finish() override {
    std::lock_guard lock(mutex_);
    ended_ = true;
    db_ = nullptr;
    return stop_.load();
  }

  // Worker thread: for the busy handler, when this wait for a lock began.
  Clock::time_point& busy_since() { return busy_since_; }

 private:
  StepResult run_script(StepLog& log) override;
  StepResult run_statements(sqlite3* db, StepLog& log);

  const std::string sql_;
  bool has_connection_ = false;
  std::string connection_name_;
  std::string driver_;
  std::string database_path_;
  std::optional<Clock::time_point> deadline_;

  std::mutex mutex_;
  sqlite3* db_ = nullptr;  // guarded by mutex_
  bool ended_ = false;     // guarded by mutex_
  std::atomic<StopReason> stop_{StopReason::none};
  Clock::time_point busy_since_;
};

// Takes the connection out of the stop protocol's reach, then closes it.
class ConnectionCloser {
 public:
  ConnectionCloser(SqliteAttempt& attempt, sqlite3*& db) : attempt_(attempt), db_(db) {}
  ConnectionCloser(const ConnectionCloser&) = delete;
  ConnectionCloser& operator=(const ConnectionCloser&) = delete;
  ~ConnectionCloser() {
    attempt_.finish();
    sqlite3_close_v2(db_);
  }

 private:
  SqliteAttempt& attempt_;
  sqlite3*& db_;
};

struct StatementDeleter {
  void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};
using Statement = std::unique_ptr<sqlite3_stmt, StatementDeleter>;

int on_progress(void* attempt) {
  return static_cast<SqliteAttempt*>(attempt)->should_stop() ? 1 : 0;
}

// Like sqlite3_busy_timeout, but a stop ends the wait at once: sqlite3_interrupt
// alone would leave a cancelled step sleeping out the whole timeout.
int on_busy(void* arg, int count) {
  SqliteAttempt& attempt = *static_cast<SqliteAttempt*>(arg);
  if (attempt.should_stop()) return 0;
  Clock::time_point now = Clock::now();
  if (count == 0) attempt.busy_since() = now;
  if (now - attempt.busy_since() >= kBusyTimeout) return 0;
  auto nap = std::chrono::milliseconds(1LL << std::min(count, 6));  // 1, 2, 4 ... then 50 ms
  std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(nap, kLongestBusyNap));
  return 1;
}

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  std::size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(kSpace) - begin + 1);
}

void append_value(ResultText& result, sqlite3_stmt* statement, int column) {
  switch (sqlite3_column_type(statement, column)) {
    case SQLITE_NULL:
      result.null_cell();
      return;
    case SQLITE_BLOB: {
      const auto* bytes = static_cast<const char*>(sqlite3_column_blob(statement, column));
      auto size = static_cast<std::size_t>(sqlite3_column_bytes(statement, column));
      result.binary_cell(std::string_view(bytes ? bytes : "", size));
      return;
    }
    default: {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement, column));
      auto size = static_cast<std::size_t>(sqlite3_column_bytes(statement, column));
      result.cell(std::string_view(text ? text : "", size));
    }
  }
}

// Steps one prepared statement to its end, appending its result to `out`.
// Returns false on error, with the message in `out`.
bool execute(sqlite3* db, sqlite3_stmt* statement, std::string& out) {
  int columns = sqlite3_column_count(statement);
  sqlite3_int64 changes_before = sqlite3_total_changes64(db);
  ResultText result(out);
  for (int c = 0; c < columns; ++c) {
    const char* name = sqlite3_column_name(statement, c);
    result.cell(name ? name : "");
  }
  result.end_line();

  int rc = SQLITE_OK;
  while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
    if (!result.add_row()) continue;
    for (int c = 0; c < columns; ++c) append_value(result, statement, c);
    result.end_line();
  }
  if (rc != SQLITE_DONE) {
    out += "error: " + std::string(sqlite3_errmsg(db)) + "\n";
    return false;
  }
  if (columns > 0) {
    result.end_result();
  } else {
    // sqlite3_changes keeps the last INSERT/UPDATE/DELETE's count through a
    // CREATE or BEGIN; an unchanged total tells that this statement changed nothing.
    sqlite3_int64 affected =
        sqlite3_total_changes64(db) == changes_before ? 0 : sqlite3_changes64(db);
    ResultText::rows_affected(out, static_cast<std::uint64_t>(affected));
  }
  return true;
}

// The statement a failed prepare was reading: up to the first ';' that SQLite's
// tokenizer sees as ending a statement, or the rest of the script.
std::string failing_statement(std::string_view rest) {
  for (std::size_t i = rest.find(';'); i != std::string_view::npos; i = rest.find(';', i + 1)) {
    std::string candidate(rest.substr(0, i + 1));
    if (sqlite3_complete(candidate.c_str())) return candidate;
  }
  return std::string(rest);
}

// Runs the statements one by one: SQLite's own parser finds where each ends.
StepResult SqliteAttempt::run_statements(sqlite3* db, StepLog& log) {
  if (sql_.size() > INT_MAX) {
    log.write("nightshift: the script is too long for SQLite\n");
    return {StepState::failed, std::nullopt, "the script is too long for SQLite"};
  }
  const char* tail = sql_.c_str();
  const char* end = tail + sql_.size();
  bool first = true;
  while (tail < end && !should_stop()) {
    sqlite3_stmt* raw = nullptr;
    const char* next = nullptr;
    int rc = sqlite3_prepare_v2(db, tail, static_cast<int>(end - tail), &raw, &next);
    Statement statement(raw);
    std::string out = first ? "" : "\n";
    if (rc != SQLITE_OK) {
      // Here the tail points at the offending token, not past the statement.
      std::string statement_text =
          failing_statement(std::string_view(tail, static_cast<std::size_t>(end - tail)));
      out += trim(statement_text);
      log.write(out + "\nerror: " + sqlite3_errmsg(db) + "\n");
      return statement_failed();
    }
    if (next == nullptr || next <= tail || next > end) next = end;
    std::string text(trim(std::string_view(tail, static_cast<std::size_t>(next - tail))));
    tail = next;
    if (!statement) continue;  // only whitespace or comments

    first = false;
    out += text + "\n";
    log.write(out);  // before running it, so a follower of the log sees what runs
    out.clear();
    bool ok = execute(db, statement.get(), out);
    log.write(out);
    if (!ok) return statement_failed();
  }
  return succeeded();
}

StepResult SqliteAttempt::run_script(StepLog& log) {
  if (!has_connection_) return cannot_run(log, "the step has no connection");
  if (driver_ != "sqlite") {
    return cannot_run(log, "connection '" + connection_name_ + "' is not a sqlite one");
  }
  if (database_path_.empty()) {
    return cannot_run(log, "connection '" + connection_name_ + "' has no path");
  }
  if (should_stop()) return {};  // stopped while waiting for a worker

  sqlite3* db = nullptr;
  ConnectionCloser closer(*this, db);
  // NOMUTEX: one worker uses the connection; sqlite3_interrupt needs no mutex.
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(database_path_.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    return cannot_run(log, "cannot open database '" + database_path_ +
                               "': " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
  }
  sqlite3_busy_handler(db, on_busy, this);
  sqlite3_progress_handler(db, kProgressInterval, on_progress, this);
  attach(db);
  return run_statements(db, log);
}

}  // namespace

class SqliteStepRunner::Impl {
 public:
  Impl(boost::asio::io_context& io, std::size_t threads) : workers_(io, threads) {}
  SqlWorkerPool workers_;
};

SqliteStepRunner::SqliteStepRunner(boost::asio::io_context& io, std::size_t threads)
    : impl_(std::make_unique<Impl>(io, threads)) {}

SqliteStepRunner::~SqliteStepRunner() = default;

std::shared_ptr<StepHandle> SqliteStepRunner::start(const StepInvocation& step, Done done) {
  return impl_->workers_.start(std::make_shared<SqliteAttempt>(step), std::move(done));
}

}  // namespace nightshift

// SqliteStepRunner: the worker-thread side (open, run, log, close) and the
// stop protocol that lets another thread interrupt a connection safely.
#include "nightshift/runtime/sqlite_step_runner.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <exception>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_set>
#include <utility>

namespace nightshift {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using WorkGuard = asio::executor_work_guard<asio::io_context::executor_type>;

// Rows of a result shown in the log; the count line still counts them all.
constexpr long long kLoggedRows = 20;

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

enum class Stop { none, timed_out, cancelled };

// One attempt, shared by the worker that runs it, its handle and the runner's
// list of live attempts.
class Attempt {
 public:
  Attempt(const StepInvocation& step, StepRunner::Done done, WorkGuard work)
      : sql_(step.sql), log_path_(step.log_path), done_(std::move(done)), work_(std::move(work)) {
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
  void request_stop(Stop reason) {
    std::lock_guard lock(mutex_);
    if (ended_) return;
    Stop none = Stop::none;
    stop_.compare_exchange_strong(none, reason);
    // sqlite3_interrupt on a closed handle is undefined; `db_` is only set while open.
    if (db_) sqlite3_interrupt(db_);
  }

  // Worker thread: true once a stop was requested or the deadline has passed.
  bool should_stop() {
    if (stop_.load() != Stop::none) return true;
    if (!deadline_ || Clock::now() < *deadline_) return false;
    Stop none = Stop::none;
    stop_.compare_exchange_strong(none, Stop::timed_out);
    return true;
  }

  // Worker thread: from now on a stop interrupts `db`.
  void attach(sqlite3* db) {
    std::lock_guard lock(mutex_);
    db_ = db;
  }

  // Worker thread, before closing the connection: no stop can land after this,
  // so the reason returned is final. Idempotent.
  Stop finish() {
    std::lock_guard lock(mutex_);
    ended_ = true;
    db_ = nullptr;
    return stop_.load();
  }

  // Worker thread: for the busy handler, when this wait for a lock began.
  Clock::time_point& busy_since() { return busy_since_; }

  const std::string& sql() const { return sql_; }
  const std::string& log_path() const { return log_path_; }
  bool has_connection() const { return has_connection_; }
  const std::string& connection_name() const { return connection_name_; }
  const std::string& driver() const { return driver_; }
  const std::string& database_path() const { return database_path_; }
  StepRunner::Done take_done() { return std::exchange(done_, nullptr); }
  WorkGuard take_work() { return std::move(work_); }

 private:
  const std::string sql_;
  const std::string log_path_;
  bool has_connection_ = false;
  std::string connection_name_;
  std::string driver_;
  std::string database_path_;
  std::optional<Clock::time_point> deadline_;
  StepRunner::Done done_;
  WorkGuard work_;

  std::mutex mutex_;
  sqlite3* db_ = nullptr;  // guarded by mutex_
  bool ended_ = false;     // guarded by mutex_
  std::atomic<Stop> stop_{Stop::none};
  Clock::time_point busy_since_;
};

// The step's log file; remembers the first write error instead of failing the step.
class LogFile {
 public:
  LogFile() = default;
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;
  ~LogFile() {
    if (fd_ >= 0) ::close(fd_);
  }

  bool open(const std::string& path, std::string& error) {
    std::error_code ec;
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (!ec) {
      fd_ = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0640);
      if (fd_ >= 0) return true;
      ec.assign(errno, std::generic_category());
    }
    error = "cannot open log '" + path + "': " + ec.message();
    return false;
  }

  void write(std::string_view text) {
    if (fd_ < 0) return;
    while (!text.empty() && error_.empty()) {
      ssize_t written = ::write(fd_, text.data(), text.size());
      if (written < 0) {
        if (errno == EINTR) continue;
        error_ = "cannot write log: " + std::generic_category().message(errno);
        return;
      }
      text.remove_prefix(static_cast<std::size_t>(written));
    }
  }

  const std::string& error() const { return error_; }

 private:
  int fd_ = -1;
  std::string error_;
};

// Takes the connection out of the stop protocol's reach, then closes it.
class ConnectionCloser {
 public:
  ConnectionCloser(Attempt& attempt, sqlite3*& db) : attempt_(attempt), db_(db) {}
  ConnectionCloser(const ConnectionCloser&) = delete;
  ConnectionCloser& operator=(const ConnectionCloser&) = delete;
  ~ConnectionCloser() {
    attempt_.finish();
    sqlite3_close_v2(db_);
  }

 private:
  Attempt& attempt_;
  sqlite3*& db_;
};

struct StatementDeleter {
  void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};
using Statement = std::unique_ptr<sqlite3_stmt, StatementDeleter>;

int on_progress(void* attempt) {
  return static_cast<Attempt*>(attempt)->should_stop() ? 1 : 0;
}

// Like sqlite3_busy_timeout, but a stop ends the wait at once: sqlite3_interrupt
// alone would leave a cancelled step sleeping out the whole timeout.
int on_busy(void* arg, int count) {
  Attempt& attempt = *static_cast<Attempt*>(arg);
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

void append_value(std::string& out, sqlite3_stmt* statement, int column) {
  switch (sqlite3_column_type(statement, column)) {
    case SQLITE_NULL:
      out += "NULL";
      return;
    case SQLITE_BLOB: {
      // Raw bytes would make the log binary; hex reads like an SQL blob literal.
      constexpr std::string_view kHex = "0123456789ABCDEF";
      const auto* bytes = static_cast<const unsigned char*>(sqlite3_column_blob(statement, column));
      int size = sqlite3_column_bytes(statement, column);
      out += "X'";
      for (int i = 0; i < size; ++i) {
        out += kHex[bytes[i] >> 4];
        out += kHex[bytes[i] & 0xF];
      }
      out += '\'';
      return;
    }
    default: {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement, column));
      out.append(text ? text : "",
                 static_cast<std::size_t>(sqlite3_column_bytes(statement, column)));
    }
  }
}

// Steps one prepared statement to its end, appending its result to `out`.
// Returns false on error, with the message in `out`.
bool execute(sqlite3* db, sqlite3_stmt* statement, std::string& out) {
  int columns = sqlite3_column_count(statement);
  sqlite3_int64 changes_before = sqlite3_total_changes64(db);
  for (int c = 0; c < columns; ++c) {
    if (c > 0) out += '\t';
    const char* name = sqlite3_column_name(statement, c);
    out += name ? name : "";
  }
  if (columns > 0) out += '\n';

  long long rows = 0;
  int rc = SQLITE_OK;
  while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
    if (rows++ >= kLoggedRows) continue;
    for (int c = 0; c < columns; ++c) {
      if (c > 0) out += '\t';
      append_value(out, statement, c);
    }
    out += '\n';
  }
  if (rc != SQLITE_DONE) {
    out += "error: " + std::string(sqlite3_errmsg(db)) + "\n";
    return false;
  }
  if (columns > 0) {
    out += "(" + std::to_string(rows) + " rows)\n";
  } else {
    // sqlite3_changes keeps the last INSERT/UPDATE/DELETE's count through a
    // CREATE or BEGIN; an unchanged total tells that this statement changed nothing.
    sqlite3_int64 affected =
        sqlite3_total_changes64(db) == changes_before ? 0 : sqlite3_changes64(db);
    out += "-- " + std::to_string(affected) + " rows affected\n";
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

StepResult succeeded() {
  return {StepState::succeeded, 0, {}};
}
StepResult statement_failed() {
  return {StepState::failed, 1, {}};
}

// Runs the statements one by one: SQLite's own parser finds where each ends.
StepResult run_statements(Attempt& attempt, sqlite3* db, LogFile& log) {
  const std::string& sql = attempt.sql();
  if (sql.size() > INT_MAX) {
    log.write("nightshift: the script is too long for SQLite\n");
    return {StepState::failed, std::nullopt, "the script is too long for SQLite"};
  }
  const char* tail = sql.c_str();
  const char* end = tail + sql.size();
  bool first = true;
  while (tail < end && !attempt.should_stop()) {
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

// Writes why the attempt cannot run and fails it.
StepResult cannot_run(LogFile& log, std::string error) {
  log.write("nightshift: " + error + "\n");
  return {StepState::failed, std::nullopt, std::move(error)};
}

StepResult run_script(Attempt& attempt, LogFile& log) {
  if (!attempt.has_connection()) return cannot_run(log, "the step has no connection");
  if (attempt.driver() != "sqlite") {
    return cannot_run(log, "connection '" + attempt.connection_name() + "' is not a sqlite one");
  }
  if (attempt.database_path().empty()) {
    return cannot_run(log, "connection '" + attempt.connection_name() + "' has no path");
  }
  if (attempt.should_stop()) return {};  // stopped while waiting for a worker

  sqlite3* db = nullptr;
  ConnectionCloser closer(attempt, db);
  // NOMUTEX: one worker uses the connection; sqlite3_interrupt needs no mutex.
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(attempt.database_path().c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    return cannot_run(log, "cannot open database '" + attempt.database_path() +
                               "': " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
  }
  sqlite3_busy_handler(db, on_busy, &attempt);
  sqlite3_progress_handler(db, kProgressInterval, on_progress, &attempt);
  attempt.attach(db);
  return run_statements(attempt, db, log);
}

StepResult run_attempt(Attempt& attempt) {
  LogFile log;
  StepResult result;
  if (std::string error; !log.open(attempt.log_path(), error)) {
    result = {StepState::failed, std::nullopt, std::move(error)};
  } else {
    try {
      result = run_script(attempt, log);
    } catch (const std::exception& e) {
      result = cannot_run(log, e.what());
    }
  }
  // A stop decides the outcome whatever SQLite answered to the interrupt.
  if (Stop reason = attempt.finish(); reason != Stop::none) {
    bool timed_out = reason == Stop::timed_out;
    log.write(timed_out ? "nightshift: timed out\n" : "nightshift: cancelled\n");
    result.outcome = timed_out ? StepState::timed_out : StepState::cancelled;
    result.exit_code.reset();
  }
  if (!log.error().empty()) {
    result.error += (result.error.empty() ? "" : "; ") + log.error();
  }
  return result;
}

// Holds the attempt weakly: once it has ended there is nothing left to stop.
class AttemptHandle : public StepHandle {
 public:
  explicit AttemptHandle(const std::shared_ptr<Attempt>& attempt) : attempt_(attempt) {}
  void cancel() override {
    if (std::shared_ptr<Attempt> attempt = attempt_.lock()) attempt->request_stop(Stop::cancelled);
  }

 private:
  std::weak_ptr<Attempt> attempt_;
};

}  // namespace

class SqliteStepRunner::Impl {
 public:
  Impl(asio::io_context& io, std::size_t threads)
      : io_(io), pool_(std::max<std::size_t>(threads, 1)) {}

  ~Impl() {
    {
      std::lock_guard lock(mutex_);
      for (const auto& attempt : attempts_) attempt->request_stop(Stop::cancelled);
    }
    // Queued attempts still run, find their stop, and post their `done`.
    pool_.join();
  }

  std::shared_ptr<StepHandle> start(const StepInvocation& step, Done done) {
    auto attempt = std::make_shared<Attempt>(step, std::move(done), asio::make_work_guard(io_));
    {
      std::lock_guard lock(mutex_);
      attempts_.insert(attempt);
    }
    asio::post(pool_, [this, attempt] { run(attempt); });
    return std::make_shared<AttemptHandle>(attempt);
  }

 private:
  void run(const std::shared_ptr<Attempt>& attempt) {
    StepResult result;
    try {
      result = run_attempt(*attempt);
    } catch (const std::exception& e) {
      result = {StepState::failed, std::nullopt, e.what()};
    }
    {
      std::lock_guard lock(mutex_);
      attempts_.erase(attempt);
    }
    // The guard travels with the handler: `io` keeps its work until `done` ran.
    asio::post(io_, [done = attempt->take_done(), work = attempt->take_work(),
                     result = std::move(result)]() mutable {
      if (done) done(std::move(result));
    });
  }

  asio::io_context& io_;
  std::mutex mutex_;
  std::unordered_set<std::shared_ptr<Attempt>> attempts_;  // queued or running
  asio::thread_pool pool_;  // last: joined before the members its workers use go
};

SqliteStepRunner::SqliteStepRunner(boost::asio::io_context& io, std::size_t threads)
    : impl_(std::make_unique<Impl>(io, threads)) {}

SqliteStepRunner::~SqliteStepRunner() = default;

std::shared_ptr<StepHandle> SqliteStepRunner::start(const StepInvocation& step, Done done) {
  return impl_->start(step, std::move(done));
}

}  // namespace nightshift

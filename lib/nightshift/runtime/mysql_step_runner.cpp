// MysqlStepRunner: the worker-thread side of an attempt (connect, run each
// statement, log it, close). Stopping it is MysqlQueryKiller's part.
#include "nightshift/runtime/mysql_step_runner.h"

#include "nightshift/runtime/mysql_connection.h"
#include "nightshift/runtime/mysql_query_killer.h"
#include "nightshift/runtime/result_text.h"
#include "nightshift/runtime/sql_attempt.h"
#include "nightshift/runtime/sql_worker_pool.h"
#include "nightshift/runtime/step_log.h"
#include "nightshift/sql_script.h"

#include <mysql.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace nightshift {
namespace {

using Clock = MysqlQueryKiller::Clock;

// Longer than any step may take; keeps the deadline arithmetic from overflowing.
constexpr Duration kLongestTimeout = std::chrono::hours(24 * 365);

// MysqlConnection's default, spelled out because a deadline may only shorten it.
constexpr Duration kDefaultConnectTimeout = std::chrono::seconds(10);

constexpr unsigned kBinaryCharset = 63;

struct ResultDeleter {
  void operator()(MYSQL_RES* result) const { mysql_free_result(result); }
};
using Result = std::unique_ptr<MYSQL_RES, ResultDeleter>;

// Bytes, shown in hex. Numbers and dates come with the binary charset too, but
// as text.
bool is_binary(const MYSQL_FIELD& field) {
  if (field.charsetnr != kBinaryCharset) return false;
  switch (field.type) {
    case MYSQL_TYPE_TINY_BLOB:
    case MYSQL_TYPE_MEDIUM_BLOB:
    case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_BLOB:
    case MYSQL_TYPE_VAR_STRING:
    case MYSQL_TYPE_STRING:
    case MYSQL_TYPE_VARCHAR:
    case MYSQL_TYPE_BIT:
    case MYSQL_TYPE_GEOMETRY:
      return true;
    default:
      return false;
  }
}

// Appends one result of the statement just sent to `out`. The rows are
// streamed (mysql_use_result): a million-row SELECT is counted, not held.
bool log_result(MYSQL* mysql, std::string& out) {
  Result result(mysql_use_result(mysql));
  if (!result) {
    if (mysql_field_count(mysql) != 0) return false;
    ResultText::rows_affected(out, mysql_affected_rows(mysql));
    return true;
  }
  const unsigned columns = mysql_num_fields(result.get());
  const MYSQL_FIELD* fields = mysql_fetch_fields(result.get());
  ResultText text(out);
  for (unsigned c = 0; c < columns; ++c) text.cell({fields[c].name, fields[c].name_length});
  text.end_line();
  while (MYSQL_ROW row = mysql_fetch_row(result.get())) {
    if (!text.add_row()) continue;
    const unsigned long* lengths = mysql_fetch_lengths(result.get());
    for (unsigned c = 0; c < columns; ++c) {
      std::string_view value(row[c] ? row[c] : "", row[c] ? lengths[c] : 0);
      if (!row[c]) {
        text.null_cell();
      } else if (is_binary(fields[c])) {
        text.binary_cell(value);
      } else {
        text.cell(value);
      }
    }
    text.end_line();
  }
  if (mysql_errno(mysql) != 0) return false;  // the stream broke off (a kill, a lost server)
  text.end_result();
  return true;
}

// Runs one statement, appending every result it returns (a CALL may return
// several) to `out`. False on error, mysql_error() says which.
bool execute(MYSQL* mysql, std::string_view statement, std::string& out) {
  if (mysql_real_query(mysql, statement.data(), statement.size()) != 0) return false;
  for (;;) {
    if (!log_result(mysql, out)) return false;
    int next = mysql_next_result(mysql);  // -1: no more, 0: one more, >0: error
    if (next < 0) return true;
    if (next > 0) return false;
  }
}

// "warning: Level Code Message" for each warning (or note) the last statement left.
bool log_warnings(MYSQL* mysql, std::string& out) {
  if (mysql_warning_count(mysql) == 0) return true;
  constexpr std::string_view kShowWarnings = "SHOW WARNINGS";
  if (mysql_real_query(mysql, kShowWarnings.data(), kShowWarnings.size()) != 0) return false;
  Result result(mysql_store_result(mysql));
  if (!result) return mysql_errno(mysql) == 0;
  const unsigned columns = std::min(mysql_num_fields(result.get()), 3U);
  while (MYSQL_ROW row = mysql_fetch_row(result.get())) {
    const unsigned long* lengths = mysql_fetch_lengths(result.get());
    out += "warning:";
    for (unsigned c = 0; c < columns; ++c) {
      out += ' ';
      out += row[c] ? std::string_view(row[c], lengths[c]) : "NULL";
    }
    out += '\n';
  }
  return true;
}

// One attempt: what its worker needs, and its place in the killer's watch.
class MysqlAttempt : public SqlAttempt {
 public:
  MysqlAttempt(const StepInvocation& step, std::optional<Clock::time_point> deadline,
               std::shared_ptr<MysqlQueryKiller::Target> target)
      : SqlAttempt(step),
        sql_(step.sql),
        connection_(step.connection),
        deadline_(deadline),
        target_(std::move(target)) {}

  void request_stop(StopReason reason) override { target_->request_stop(reason); }

 private:
  StepResult run_script(StepLog& log) override;
  StopReason finish() override { return target_->end(); }
  StepResult run_statements(MysqlConnection& db, StepLog& log);
  ConnectionSpec connection_with_deadline() const;

  const std::string sql_;
  // With its password, to connect; never logged.
  const std::optional<ConnectionSpec> connection_;
  const std::optional<Clock::time_point> deadline_;
  const std::shared_ptr<MysqlQueryKiller::Target> target_;
};

// Ends the attempt in the killer's eyes before its connection closes, however
// run_script leaves: the killer must never shut down a closed socket.
class EndBeforeClose {
 public:
  explicit EndBeforeClose(MysqlQueryKiller::Target& target) : target_(target) {}
  EndBeforeClose(const EndBeforeClose&) = delete;
  EndBeforeClose& operator=(const EndBeforeClose&) = delete;
  ~EndBeforeClose() { target_.end(); }

 private:
  MysqlQueryKiller::Target& target_;
};

// A connect may not outlast the attempt's deadline: a timed-out attempt ends
// soon, even on a server that does not answer.
ConnectionSpec MysqlAttempt::connection_with_deadline() const {
  ConnectionSpec spec = *connection_;
  if (deadline_) {
    Duration left = std::chrono::ceil<std::chrono::seconds>(*deadline_ - Clock::now());
    left = std::max<Duration>(left, std::chrono::seconds(1));
    spec.connect_timeout = std::min(spec.connect_timeout.value_or(kDefaultConnectTimeout), left);
  }
  return spec;
}

StepResult MysqlAttempt::run_script(StepLog& log) {
  if (!connection_) return cannot_run(log, "the step has no connection");
  if (connection_->driver != "mysql") {
    return cannot_run(log, "connection '" + connection_->name + "' is not a mysql one");
  }
  if (target_->stopped()) return {};  // stopped while waiting for a worker

  std::optional<MysqlConnection> db;
  try {
    db.emplace(connection_with_deadline());
  } catch (const MysqlError& e) {
    // A connect cut short by the deadline is the step's timeout, even when the
    // killer thread has not yet seen the deadline pass.
    if (deadline_ && Clock::now() >= *deadline_) target_->request_stop(StopReason::timed_out);
    return cannot_run(log, e.what());  // names user, host, port and database; no password
  }
  target_->attach(db->thread_id(), mysql_get_socket(db->handle()));
  EndBeforeClose end_before_close(*target_);
  StepResult result = run_statements(*db, log);
  target_->end();
  if (std::string trouble = target_->trouble(); !trouble.empty()) {
    log.write("nightshift: " + trouble + "\n");
  }
  return result;
}

StepResult MysqlAttempt::run_statements(MysqlConnection& db, StepLog& log) {
  MYSQL* mysql = db.handle();
  bool first = true;
  for (const SqlStatement& statement : split_sql_script(sql_)) {
    // A stop between two statements finds no query to kill: it is seen here.
    if (target_->stopped()) break;
    log.write((first ? "" : "\n") + statement.text + "\n");  // before it runs, for followers
    first = false;
    std::string out;
    bool ok = execute(mysql, statement.text, out) && log_warnings(mysql, out);
    if (!ok) {
      std::string error = std::to_string(mysql_errno(mysql)) + " " + mysql_error(mysql);
      std::string line = std::to_string(statement.line);
      log.write(out + "error: " + error + " (statement at line " + line + ")\n");
      return statement_failed("line " + line + ": error " + error);
    }
    log.write(out);
  }
  return succeeded();
}

}  // namespace

class MysqlStepRunner::Impl {
 public:
  // The client library is initialized once, by MysqlConnection's first use.
  Impl(boost::asio::io_context& io, std::size_t threads) : workers(io, threads) {}

  MysqlQueryKiller killer;
  SqlWorkerPool workers;  // after the killer: joined first, while the killer still stops them
};

MysqlStepRunner::MysqlStepRunner(boost::asio::io_context& io, std::size_t threads)
    : impl_(std::make_unique<Impl>(io, threads)) {}

MysqlStepRunner::~MysqlStepRunner() = default;

std::shared_ptr<StepHandle> MysqlStepRunner::start(const StepInvocation& step, Done done) {
  std::optional<Clock::time_point> deadline;
  if (step.timeout) {
    deadline = Clock::now() + std::clamp(*step.timeout, Duration::zero(), kLongestTimeout);
  }
  auto target =
      impl_->killer.watch(step.connection.value_or(ConnectionSpec{}), deadline, step.kill_grace);
  return impl_->workers.start(std::make_shared<MysqlAttempt>(step, deadline, std::move(target)),
                              std::move(done));
}

}  // namespace nightshift

// MysqlConnection: one connection of the MySQL C API (libmariadb), opened from
// a ConnectionSpec with its timeouts and TLS options. Errors name the server,
// the user and the database, never the password.
#pragma once

#include "nightshift/config_spec.h"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct st_mysql;

namespace nightshift {

// A failed call; `code` is the client or server error number (2013: lost
// connection, 1213: deadlock, ...), 0 when the client library gave none.
class MysqlError : public std::runtime_error {
 public:
  MysqlError(unsigned code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  unsigned code() const { return code_; }
  // The connection is gone (server down, restarted, network): reconnect and retry.
  bool connection_lost() const;
  // The transaction was rolled back by a deadlock or a lock wait: retry it.
  bool transient() const;

 private:
  unsigned code_;
};

using MysqlRow = std::vector<std::optional<std::string>>;

class MysqlConnection {
 public:
  struct Options {
    // Affected-row counts are matched rows, so an UPDATE that changes nothing
    // still tells "the row exists" (CLIENT_FOUND_ROWS).
    bool found_rows = false;
  };

  // Connects (blocking). Throws MysqlError saying "cannot connect to
  // mysql://user@host:port/database: <server's reason>".
  MysqlConnection(const ConnectionSpec& spec, Options options);
  MysqlConnection(const ConnectionSpec& spec) : MysqlConnection(spec, Options{}) {}
  ~MysqlConnection();
  MysqlConnection(const MysqlConnection&) = delete;
  MysqlConnection& operator=(const MysqlConnection&) = delete;

  // Runs one statement that returns no rows. Throws MysqlError.
  void execute(std::string_view sql);
  // Runs one statement and returns all its rows (for small results).
  std::vector<MysqlRow> query(std::string_view sql);

  std::uint64_t affected_rows() const;
  std::uint64_t insert_id() const;
  unsigned long thread_id() const;
  // `text` as a quoted SQL string literal, escaped for this connection's charset.
  std::string quote(std::string_view text) const;

  st_mysql* handle() { return mysql_; }
  // "mysql://user@host:port/database", for messages.
  const std::string& address() const { return address_; }

  // The MysqlError for the connection's last failure ("message (errno)"),
  // `doing` in front when given.
  MysqlError error(std::string_view doing) const;

 private:
  st_mysql* mysql_ = nullptr;
  std::string address_;
};

// "mysql://user@host:port/database": how messages name a server (no password).
std::string mysql_address(const ConnectionSpec& spec);

}  // namespace nightshift

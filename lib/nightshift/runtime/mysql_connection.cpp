#include "nightshift/runtime/mysql_connection.h"

#include <mysql.h>

#include <algorithm>
#include <chrono>
#include <mutex>

namespace nightshift {
namespace {

// Client-side error numbers (errmsg.h) and server ones (mysqld_error.h) that
// mean the connection is gone rather than the statement being wrong.
constexpr unsigned kConnectionLost[] = {
    2002,  // CR_CONNECTION_ERROR: cannot connect through the socket
    2003,  // CR_CONN_HOST_ERROR: cannot connect to the host
    2006,  // CR_SERVER_GONE_ERROR
    2013,  // CR_SERVER_LOST
    2055,  // CR_SERVER_LOST_EXTENDED
    2026,  // CR_SSL_CONNECTION_ERROR, also seen when a TLS peer vanishes
    1053,  // ER_SERVER_SHUTDOWN: the server is going down
    1927,  // ER_CONNECTION_KILLED
    4031,  // ER_CLIENT_INTERACTION_TIMEOUT: disconnected by the server
};

constexpr unsigned kDeadlock = 1213;         // ER_LOCK_DEADLOCK
constexpr unsigned kLockWaitTimeout = 1205;  // ER_LOCK_WAIT_TIMEOUT

unsigned int whole_seconds(Duration d) {
  auto s = std::chrono::ceil<std::chrono::seconds>(d).count();
  return static_cast<unsigned int>(std::clamp<long long>(s, 1, 24 * 3600));
}

bool tls_required(const ConnectionSpec& spec) {
  return spec.ssl_mode == "required" || spec.ssl_mode == "verify_ca" ||
         spec.ssl_mode == "verify_identity";
}

void set_tls(MYSQL* mysql, const ConnectionSpec& spec) {
  const std::string& mode = spec.ssl_mode;
  if (mode == "disabled") return;
  const char* ca = spec.ssl_ca.empty() ? nullptr : spec.ssl_ca.c_str();
  // Asking for TLS at all (preferred, the default): libmariadb then uses it when
  // the server offers it and goes on in the clear when it does not.
  mysql_ssl_set(mysql, nullptr, nullptr, ca, nullptr, nullptr);
  my_bool yes = 1;
  if (tls_required(spec)) mysql_optionsv(mysql, MYSQL_OPT_SSL_ENFORCE, &yes);
  // libmariadb 3.3 checks the certificate chain and the host name together.
  if (mode == "verify_ca" || mode == "verify_identity")
    mysql_optionsv(mysql, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &yes);
}

}  // namespace

bool MysqlError::connection_lost() const {
  return std::find(std::begin(kConnectionLost), std::end(kConnectionLost), code_) !=
         std::end(kConnectionLost);
}

bool MysqlError::transient() const {
  return code_ == kDeadlock || code_ == kLockWaitTimeout;
}

std::string mysql_address(const ConnectionSpec& spec) {
  return "mysql://" + spec.user + "@" + spec.host + ":" + std::to_string(spec.port) + "/" +
         spec.database;
}

namespace {
// mysql_init initializes the library on first use, but not thread-safely: the
// step runners and the store connect from several threads.
MYSQL* init_handle() {
  static std::once_flag once;
  std::call_once(once, [] { mysql_library_init(0, nullptr, nullptr); });
  return mysql_init(nullptr);
}
}  // namespace

MysqlConnection::MysqlConnection(const ConnectionSpec& spec, Options options)
    : mysql_(init_handle()), address_(mysql_address(spec)) {
  if (!mysql_) throw MysqlError(0, "cannot connect to " + address_ + ": out of memory");
  unsigned int connect = whole_seconds(spec.connect_timeout.value_or(std::chrono::seconds(10)));
  mysql_optionsv(mysql_, MYSQL_OPT_CONNECT_TIMEOUT, &connect);
  if (spec.read_timeout) {
    unsigned int read = whole_seconds(*spec.read_timeout);
    mysql_optionsv(mysql_, MYSQL_OPT_READ_TIMEOUT, &read);
    mysql_optionsv(mysql_, MYSQL_OPT_WRITE_TIMEOUT, &read);
  }
  mysql_optionsv(mysql_, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  set_tls(mysql_, spec);
  unsigned long flags = options.found_rows ? CLIENT_FOUND_ROWS : 0;
  // The password is handed to the client library and nowhere else.
  if (!mysql_real_connect(mysql_, spec.host.c_str(), spec.user.c_str(),
                          spec.password.empty() ? nullptr : spec.password.c_str(),
                          spec.database.c_str(), static_cast<unsigned int>(spec.port), nullptr,
                          flags)) {
    MysqlError failure = error("cannot connect to " + address_);
    mysql_close(mysql_);
    mysql_ = nullptr;
    throw failure;
  }
  // libmariadb 3.3 goes on in the clear with a server that offers no TLS even
  // with MYSQL_OPT_SSL_ENFORCE set, so "required" is checked here.
  if (tls_required(spec) && !mysql_get_ssl_cipher(mysql_)) {
    mysql_close(mysql_);
    mysql_ = nullptr;
    throw MysqlError(0, "cannot connect to " + address_ + ": ssl_mode is " + spec.ssl_mode +
                            ", but the server does not offer TLS");
  }
}

MysqlConnection::~MysqlConnection() {
  if (mysql_) mysql_close(mysql_);
}

MysqlError MysqlConnection::error(std::string_view doing) const {
  std::string message = std::string(mysql_error(mysql_)) + " (" +
                        std::to_string(mysql_errno(mysql_)) + ")";
  return MysqlError(mysql_errno(mysql_),
                    doing.empty() ? message : std::string(doing) + ": " + message);
}

void MysqlConnection::execute(std::string_view sql) {
  if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) throw error({});
  // A statement that unexpectedly returns rows must not leave them unread.
  if (MYSQL_RES* result = mysql_store_result(mysql_)) mysql_free_result(result);
}

std::vector<MysqlRow> MysqlConnection::query(std::string_view sql) {
  if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) throw error({});
  MYSQL_RES* result = mysql_store_result(mysql_);
  if (!result) {
    if (mysql_errno(mysql_) != 0) throw error({});
    return {};
  }
  std::vector<MysqlRow> rows;
  const unsigned int columns = mysql_num_fields(result);
  while (MYSQL_ROW row = mysql_fetch_row(result)) {
    const unsigned long* lengths = mysql_fetch_lengths(result);
    MysqlRow& out = rows.emplace_back();
    out.reserve(columns);
    for (unsigned int c = 0; c < columns; ++c) {
      if (row[c])
        out.emplace_back(std::string(row[c], lengths[c]));
      else
        out.emplace_back(std::nullopt);
    }
  }
  mysql_free_result(result);
  return rows;
}

std::uint64_t MysqlConnection::affected_rows() const {
  return mysql_affected_rows(mysql_);
}

std::uint64_t MysqlConnection::insert_id() const {
  return mysql_insert_id(mysql_);
}

unsigned long MysqlConnection::thread_id() const {
  return mysql_thread_id(mysql_);
}

std::string MysqlConnection::quote(std::string_view text) const {
  std::string out(text.size() * 2 + 3, '\0');
  out[0] = '\'';
  unsigned long n = mysql_real_escape_string(mysql_, out.data() + 1, text.data(), text.size());
  out.resize(n + 1);
  out += '\'';
  return out;
}

}  // namespace nightshift

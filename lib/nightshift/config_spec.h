// ConfigSpec: the daemon's configuration (nightshift.yaml), as loaded and checked.
// Relative paths are already resolved against the config file's directory.
// Secret references (${secret:NAME}, ${env:NAME}) stay unresolved here.
#pragma once

#include "nightshift/diagnostic.h"
#include "nightshift/duration.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nightshift {

struct ConnectionSpec {
  std::string name;
  SourcePos pos;
  std::string driver;  // "sqlite" or "mysql"
  std::string path;    // sqlite
  std::string host;    // mysql
  int port = 3306;
  std::string user;
  std::string database;
  std::string password;  // a ${secret:} or ${env:} reference, never a literal
  std::string ssl_mode;  // disabled | preferred | required | verify_ca | verify_identity
  std::string ssl_ca;
  std::optional<Duration> connect_timeout;
  std::optional<Duration> read_timeout;
};

// One entry of `notify:`: a webhook a job can name. `url` and header values
// stay as written (${secret:NAME} unresolved) until a notification is sent.
struct WebhookSpec {
  std::string name;
  SourcePos pos;  // where the webhook's name is written
  std::string url;
  std::string format = "json";  // "json" or "slack"
  // run_failed, run_succeeded, deadline_missed, run_recovered; default: all four
  std::vector<std::string> events;
  std::map<std::string, std::string> headers;

  bool wants(std::string_view event) const {
    return std::find(events.begin(), events.end(), event) != events.end();
  }
};

// `retention:`: finished runs and log folders older than these are pruned.
struct RetentionSpec {
  std::optional<Duration> runs;  // none: keep every run
  std::optional<Duration> logs;  // none: keep every log folder
};

struct ConfigSpec {
  std::string file;  // the config file, as given
  std::string listen_host = "127.0.0.1";
  int listen_port = 8080;
  std::string jobs_dir;
  std::string state;           // "sqlite:PATH" or "mysql://user@host:port/db"
  std::optional<ConnectionSpec> state_server;  // a mysql state's server, as parsed
  std::string state_password;  // a ${secret:} or ${env:} reference
  std::string log_dir;
  int workers = 0;  // 0: the number of CPUs
  std::map<std::string, int> pools;
  std::map<std::string, ConnectionSpec> connections;
  std::string secrets_dir;
  std::string tokens_file;  // empty: no authentication
  Duration shutdown_grace = std::chrono::seconds(60);
  RetentionSpec retention;
  std::map<std::string, WebhookSpec> notify;
};

}  // namespace nightshift

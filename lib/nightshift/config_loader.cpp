#include "nightshift/config_loader.h"

#include "nightshift/mysql_url.h"
#include "nightshift/webhook_url.h"

#include "nightshift/job_set.h"  // throw_exception_from_error for Diagnostics
#include "nightshift/source_file.h"
#include "nightshift/yaml_reader.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <regex>

namespace nightshift {
namespace {

const std::vector<std::string_view> kConfigKeys = {
    "listen", "jobs_dir",    "state",       "state_password", "log_dir",       "workers",
    "pools",  "connections", "secrets_dir", "auth",           "shutdown_grace",
    "retention", "notify"};
const std::vector<std::string_view> kRetentionKeys = {"runs", "logs"};
const std::vector<std::string_view> kWebhookKeys = {"url", "format", "events", "headers"};
const std::vector<std::string_view> kAuthKeys = {"tokens_file"};
const std::vector<std::string_view> kConnectionKeys = {
    "driver",      "path",     "host",     "port",   "user",
    "database",    "password", "ssl_mode", "ssl_ca", "connect_timeout",
    "read_timeout"};

class ConfigReader {
 public:
  ConfigReader(YamlReader& reader, std::filesystem::path base)
      : r_(reader), base_(std::move(base)) {}

  void read(const YamlNode& root, ConfigSpec& config);

 private:
  std::string path(const YamlNode& node, std::string_view key);
  // `text` starts at `offset` in the node's scalar (for error positions).
  std::optional<std::string> expand_env(const YamlNode& node, const std::string& text,
                                        std::size_t offset = 0);
  void read_listen(const YamlNode& node, ConfigSpec& config);
  void read_state(const YamlNode& node, ConfigSpec& config);
  std::string secret(const YamlNode& node, std::string_view key);
  void read_connection(const YamlNode& key, const YamlNode& node, ConfigSpec& config);
  void read_retention(const YamlNode& node, RetentionSpec& retention);
  std::optional<Duration> positive_duration(const YamlNode& node, std::string_view key);
  void read_webhook(const YamlNode& key, const YamlNode& node, ConfigSpec& config);
  std::optional<std::string> webhook_text(const YamlNode& node, std::string_view key);

  YamlReader& r_;
  std::filesystem::path base_;
};

// A path may take its value, or a part of it, from the environment, as
// `secrets_dir: ${env:CREDENTIALS_DIRECTORY}` does under systemd's
// LoadCredential=. An unset or empty variable is an error, never "" (which
// would make the path the config's folder).
std::optional<std::string> ConfigReader::expand_env(const YamlNode& node,
                                                    const std::string& text, std::size_t offset) {
  std::string out;
  std::size_t at = 0;
  for (std::size_t open; (open = text.find("${", at)) != std::string::npos;) {
    std::size_t close = text.find('}', open);
    std::string_view inner =
        close == std::string::npos ? "" : std::string_view(text).substr(open + 2, close - open - 2);
    if (inner.starts_with("secret:")) {
      r_.error(r_.pos_in_scalar(node, offset + open),
               "a path cannot come from a secret; ${env:NAME} reads the environment");
      return std::nullopt;
    }
    if (!inner.starts_with("env:")) {  // not ours: kept as written
      out += text.substr(at, open + 2 - at);
      at = open + 2;
      continue;
    }
    std::string name(inner.substr(4));
    const char* value = std::getenv(name.c_str());
    if (!value || !*value) {
      r_.error(r_.pos_in_scalar(node, offset + open), "environment variable " + name +
                                                 (value ? " is empty" : " is not set"));
      return std::nullopt;
    }
    out += text.substr(at, open - at);
    out += value;
    at = close + 1;
  }
  return out + text.substr(at);
}

std::string ConfigReader::path(const YamlNode& node, std::string_view key) {
  auto written = r_.string(node, key);
  if (!written || written->empty()) return "";
  auto text = expand_env(node, *written);
  if (!text) return "";
  std::filesystem::path p(*text);
  return p.is_absolute() ? p.string() : (base_ / p).lexically_normal().string();
}

void ConfigReader::read(const YamlNode& root, ConfigSpec& config) {
  config.jobs_dir = (base_ / "jobs.d").lexically_normal().string();
  config.state = "sqlite:" + (base_ / "var/nightshift.db").lexically_normal().string();
  config.log_dir = (base_ / "var/logs").lexically_normal().string();
  if (root.is_null()) return;  // an empty config means every default
  if (!r_.check_map(root, "the config file", kConfigKeys)) return;

  if (const YamlNode n = root["listen"]) read_listen(n, config);
  if (const YamlNode n = root["jobs_dir"]) config.jobs_dir = path(n, "jobs_dir");
  if (const YamlNode n = root["state"]) read_state(n, config);
  if (const YamlNode n = root["state_password"])
    config.state_password = secret(n, "state_password");
  if (const YamlNode n = root["log_dir"]) config.log_dir = path(n, "log_dir");
  if (const YamlNode n = root["workers"])
    config.workers = r_.integer(n, "workers", 0, 4096).value_or(0);
  if (const YamlNode n = root["secrets_dir"]) config.secrets_dir = path(n, "secrets_dir");
  if (const YamlNode n = root["shutdown_grace"])
    config.shutdown_grace = r_.duration(n, "shutdown_grace").value_or(config.shutdown_grace);
  if (const YamlNode n = root["auth"]; n && r_.check_map(n, "'auth'", kAuthKeys))
    if (const YamlNode f = n["tokens_file"]) config.tokens_file = path(f, "tokens_file");
  if (const YamlNode n = root["pools"]; n && r_.check_map(n, "'pools'", {})) {
    for (const YamlEntry& entry : n.entries()) {
      if (auto size = r_.integer(entry.value, "pool size", 1, 4096))
        config.pools[std::string(entry.key.scalar())] = *size;
    }
  }
  if (const YamlNode n = root["connections"]; n && r_.check_map(n, "'connections'", {})) {
    for (const YamlEntry& entry : n.entries()) read_connection(entry.key, entry.value, config);
  }
  if (const YamlNode n = root["retention"]) read_retention(n, config.retention);
  if (const YamlNode n = root["notify"]; n && r_.check_map(n, "'notify'", {})) {
    for (const YamlEntry& entry : n.entries()) read_webhook(entry.key, entry.value, config);
  }
}

void ConfigReader::read_retention(const YamlNode& node, RetentionSpec& retention) {
  if (!r_.check_map(node, "'retention'", kRetentionKeys)) return;
  if (const YamlNode n = node["runs"]) retention.runs = positive_duration(n, "retention runs");
  if (const YamlNode n = node["logs"]) retention.logs = positive_duration(n, "retention logs");
}

std::optional<Duration> ConfigReader::positive_duration(const YamlNode& node,
                                                        std::string_view key) {
  auto d = r_.duration(node, key);
  if (d && d->count() <= 0) {
    r_.error(node, std::string(key) + " must be more than 0 (leave it out to keep everything)");
    return std::nullopt;
  }
  return d;
}

// A URL or header value: written out, or holding ${secret:NAME} / ${env:NAME}
// references resolved when a notification is sent. Only references are
// checked here; what they resolve to is never read at load (nor echoed).
std::optional<std::string> ConfigReader::webhook_text(const YamlNode& node,
                                                      std::string_view key) {
  auto text = r_.string(node, key);
  if (!text) return std::nullopt;
  if (text->find_first_of("\r\n") != std::string::npos) {
    r_.error(node, "bad " + std::string(key) + ": it holds a line break");
    return std::nullopt;
  }
  static const std::regex reference(R"(\$\{(secret|env):[A-Za-z_][A-Za-z0-9_.-]*\})");
  static const std::regex any_reference(R"(\$\{(secret|env):[^}]*\})");
  for (std::sregex_iterator it(text->begin(), text->end(), any_reference), end; it != end; ++it) {
    if (!std::regex_match(it->str(), reference)) {
      r_.error(r_.pos_in_scalar(node, static_cast<std::size_t>(it->position())),
               "bad reference in " + std::string(key) + ": expected ${secret:NAME} or ${env:NAME}");
      return std::nullopt;
    }
  }
  return text;
}

void ConfigReader::read_webhook(const YamlNode& key, const YamlNode& node, ConfigSpec& config) {
  WebhookSpec w;
  w.name = key.scalar();
  w.pos = r_.pos(key);
  if (w.name == "all") {
    r_.error(key, "a webhook cannot be named 'all': a job's `notify: all` means every webhook");
    return;
  }
  if (!r_.check_map(node, "webhook '" + w.name + "'", kWebhookKeys)) return;
  if (const YamlNode n = node["url"]) {
    if (auto url = webhook_text(n, "url")) {
      w.url = *url;
      // A written-out URL is checked now; one from a secret when it is sent.
      bool from_reference = url->find("${") != std::string::npos;
      if (!from_reference && !split_webhook_url(*url))
        r_.error(n, "webhook '" + w.name +
                        "': the url must be an http:// or https:// URL with a host (credentials go "
                        "in headers, not in user:password@)");
    }
  } else {
    r_.error(node, "webhook '" + w.name + "' needs a 'url'");
  }
  if (const YamlNode n = node["format"])
    w.format = r_.choice(n, "format", {"json", "slack"}).value_or("json");
  if (const YamlNode n = node["events"]) {
    if (!n.is_sequence() || n.size() == 0) {
      r_.error(n, "'events' must be a list of events, as in [run_failed, deadline_missed]");
    } else {
      for (YamlNode e : n.items()) {
        auto event = r_.choice(
            e, "event", {"run_failed", "run_succeeded", "deadline_missed", "run_recovered"});
        if (event && !w.wants(*event)) w.events.push_back(*event);
      }
    }
  } else {
    w.events = {"run_failed", "run_succeeded", "deadline_missed", "run_recovered"};
  }
  if (const YamlNode n = node["headers"]; n && r_.check_map(n, "'headers'", {})) {
    for (const YamlEntry& h : n.entries()) {
      const std::string name(h.key.scalar());
      bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_';
      });
      if (!token) {
        r_.error(h.key, "bad header name '" + name + "': use letters, digits, '-' and '_'");
        continue;
      }
      if (auto value = webhook_text(h.value, "header " + name)) w.headers[name] = *value;
    }
  }
  config.notify[w.name] = std::move(w);
}

void ConfigReader::read_listen(const YamlNode& node, ConfigSpec& config) {
  auto text = r_.string(node, "listen");
  if (!text) return;
  std::size_t colon = text->rfind(':');
  std::string host = colon == std::string::npos ? "" : text->substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  std::string port = colon == std::string::npos ? "" : text->substr(colon + 1);
  int value = 0;
  bool ok = !host.empty() && !port.empty() && port.size() <= 5 &&
            port.find_first_not_of("0123456789") == std::string::npos &&
            (value = std::stoi(port)) <= 65535;
  if (!ok) {
    r_.error(node, "bad listen address '" + *text + "': expected HOST:PORT, as in 127.0.0.1:8080");
    return;
  }
  config.listen_host = host;
  config.listen_port = value;
}

void ConfigReader::read_state(const YamlNode& node, ConfigSpec& config) {
  auto text = r_.string(node, "state");
  if (!text) return;
  if (text->starts_with("sqlite:") && text->size() > 7) {
    auto expanded = expand_env(node, text->substr(7), 7);
    if (!expanded) return;
    std::filesystem::path p(*expanded);
    config.state = "sqlite:" + (p.is_absolute() ? p : (base_ / p).lexically_normal()).string();
    return;
  }
  if (!text->starts_with("mysql://")) {
    r_.error(node,
             "bad state '" + *text + "': expected sqlite:PATH or mysql://USER@HOST:PORT/DATABASE");
    return;
  }
  // The password comes from state_password; the error never quotes the URL,
  // which may hold one.
  auto server = parse_mysql_url(*text);
  if (!server) {
    r_.error(r_.pos_in_scalar(node, server.error().offset), "bad state: " + server.error().message);
    return;
  }
  if (std::filesystem::path ca(server->ssl_ca); !ca.empty() && ca.is_relative())
    server->ssl_ca = (base_ / ca).lexically_normal().string();
  config.state = *text;
  config.state_server = std::move(*server);
}

std::string ConfigReader::secret(const YamlNode& node, std::string_view key) {
  auto text = r_.string(node, key);
  if (!text) return "";
  if (!is_secret_reference(*text)) {
    // Never echo the value: it may be the password itself.
    r_.error(node,
             "'" + std::string(key) +
                 "' must be a reference, ${secret:NAME} or ${env:NAME}, never the secret itself");
    return "";
  }
  return *text;
}

void ConfigReader::read_connection(const YamlNode& key, const YamlNode& node,
                                   ConfigSpec& config) {
  ConnectionSpec c;
  c.name = key.scalar();
  c.pos = r_.pos(key);
  if (!r_.check_map(node, "connection '" + c.name + "'", kConnectionKeys)) return;
  if (const YamlNode n = node["driver"]) {
    c.driver = r_.choice(n, "driver", {"sqlite", "mysql"}).value_or("");
  } else {
    r_.error(node, "connection '" + c.name + "' needs a 'driver' (sqlite or mysql)");
  }
  if (const YamlNode n = node["path"]) c.path = path(n, "path");
  if (const YamlNode n = node["host"]) c.host = r_.string(n, "host").value_or("");
  if (const YamlNode n = node["port"]) c.port = r_.integer(n, "port", 1, 65535).value_or(3306);
  if (const YamlNode n = node["user"]) c.user = r_.string(n, "user").value_or("");
  if (const YamlNode n = node["database"]) c.database = r_.string(n, "database").value_or("");
  if (const YamlNode n = node["password"]) c.password = secret(n, "password");
  if (const YamlNode n = node["ssl_mode"])
    c.ssl_mode = r_.choice(n, "ssl_mode",
                           {"disabled", "preferred", "required", "verify_ca", "verify_identity"})
                     .value_or("");
  if (const YamlNode n = node["ssl_ca"]) c.ssl_ca = path(n, "ssl_ca");
  if (const YamlNode n = node["connect_timeout"])
    c.connect_timeout = r_.duration(n, "connect_timeout");
  if (const YamlNode n = node["read_timeout"]) c.read_timeout = r_.duration(n, "read_timeout");
  if (c.driver == "sqlite" && c.path.empty())
    r_.error(node, "sqlite connection '" + c.name + "' needs a 'path'");
  if (c.driver == "mysql" && (c.host.empty() || c.user.empty() || c.database.empty()))
    r_.error(node, "mysql connection '" + c.name + "' needs 'host', 'user' and 'database'");
  config.connections[c.name] = std::move(c);
}

}  // namespace

bool is_secret_reference(std::string_view value) {
  static const std::regex reference(R"(\$\{(secret|env):[A-Za-z_][A-Za-z0-9_.-]*\})");
  return std::regex_match(value.begin(), value.end(), reference);
}

ConfigResult parse_config(std::string_view text, const std::string& file) {
  Diagnostics errors;
  YamlReader reader(file, std::string(text), errors);
  ConfigSpec config;
  config.file = file;
  if (auto root = reader.parse()) {
    std::filesystem::path base = std::filesystem::path(file).parent_path();
    if (base.empty()) base = ".";
    ConfigReader(reader, base).read(*root, config);
  }
  if (!errors.empty()) return errors;
  return config;
}

ConfigResult load_config(const std::string& path) {
  // The same rules as a job file: a regular file of at most 1 MiB, read
  // without blocking (a FIFO would otherwise read as an empty config).
  auto text = read_source_file(path, "config file");
  if (!text) return Diagnostics{text.error()};
  return parse_config(*text, path);
}

}  // namespace nightshift

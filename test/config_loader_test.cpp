#include "nightshift/config_loader.h"

#include <catch2/catch.hpp>

#include "support/temp_dir.h"

#include <filesystem>

#include <sys/stat.h>

using namespace nightshift;

namespace {

std::vector<std::string> errors_of(const std::string& yaml) {
  auto config = parse_config(yaml, "etc/nightshift.yaml");
  std::vector<std::string> out;
  if (!config)
    for (const auto& e : config.error()) out.push_back(e.str());
  return out;
}

using Lines = std::vector<std::string>;

}  // namespace

TEST_CASE("config: the example of DESIGN.md") {
  auto config = parse_config(R"(listen: 127.0.0.1:8080
jobs_dir: jobs.d
state: sqlite:var/nightshift.db
log_dir: var/logs
workers: 0
pools: { source_db: 4 }
connections:
  dmp_source: { driver: sqlite, path: var/dmp.db }
  warehouse:  { driver: mysql, host: db, port: 3306, user: dmp, database: kpi,
                password: "${secret:DB_PASSWORD}", ssl_mode: preferred }
secrets_dir: /etc/nightshift/secrets
auth: { tokens_file: /etc/nightshift/tokens }
shutdown_grace: 60s
)",
                             "etc/nightshift.yaml");
  REQUIRE(config.has_value());
  CHECK(config->listen_host == "127.0.0.1");
  CHECK(config->listen_port == 8080);
  CHECK(config->jobs_dir == "etc/jobs.d");  // relative to the config file
  CHECK(config->state == "sqlite:etc/var/nightshift.db");
  CHECK(config->log_dir == "etc/var/logs");
  CHECK(config->pools.at("source_db") == 4);
  CHECK(config->connections.at("dmp_source").path == "etc/var/dmp.db");
  const ConnectionSpec& w = config->connections.at("warehouse");
  CHECK(w.driver == "mysql");
  CHECK(w.host == "db");
  CHECK(w.password == "${secret:DB_PASSWORD}");
  CHECK(w.ssl_mode == "preferred");
  CHECK(config->secrets_dir == "/etc/nightshift/secrets");
  CHECK(config->tokens_file == "/etc/nightshift/tokens");
  CHECK(config->shutdown_grace == std::chrono::seconds(60));
}

TEST_CASE("config: an empty file means every default, listening on loopback") {
  auto config = parse_config("", "nightshift.yaml");
  REQUIRE(config.has_value());
  CHECK(config->listen_host == "127.0.0.1");
  CHECK(config->listen_port == 8080);
  CHECK(config->jobs_dir == "jobs.d");
  CHECK(config->state == "sqlite:var/nightshift.db");
  CHECK(config->tokens_file.empty());
}

TEST_CASE("config: faults with positions") {
  CHECK(errors_of("listen: 8080\n") == Lines{"etc/nightshift.yaml:1:9: bad listen address '8080': "
                                             "expected HOST:PORT, as in 127.0.0.1:8080"});
  CHECK(errors_of("worker: 4\n") == Lines{"etc/nightshift.yaml:1:1: unknown key 'worker' in the "
                                          "config file (did you mean 'workers'?)"});
  CHECK(errors_of("state: postgres://x\n") ==
        Lines{"etc/nightshift.yaml:1:8: bad state 'postgres://x': expected sqlite:PATH or "
              "mysql://USER@HOST:PORT/DATABASE"});
  CHECK(errors_of("pools: { source_db: 0 }\n") ==
        Lines{"etc/nightshift.yaml:1:21: 'pool size' must be a whole number from 1 to 4096"});
  CHECK(errors_of("connections:\n  w: { driver: mysql, host: h }\n") ==
        Lines{"etc/nightshift.yaml:2:6: mysql connection 'w' needs 'host', 'user' and 'database'"});
  CHECK(errors_of("connections:\n  w: { driver: oracle }\n") ==
        Lines{"etc/nightshift.yaml:2:16: bad driver 'oracle': expected sqlite or mysql"});
}

TEST_CASE("config: a password written in the file is refused without echoing it") {
  auto errors = errors_of(
      "connections:\n  w: { driver: mysql, host: h, user: u, database: d, password: hunter2 }\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] ==
        "etc/nightshift.yaml:2:64: 'password' must be a reference, ${secret:NAME} or ${env:NAME}, "
        "never the secret itself");
  CHECK(errors[0].find("hunter2") == std::string::npos);

  errors = errors_of("state: mysql://u:hunter2@db:3306/ns\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("hunter2") == std::string::npos);
}

TEST_CASE("config: secret references") {
  CHECK(is_secret_reference("${secret:DB_PASSWORD}"));
  CHECK(is_secret_reference("${env:PGPASS}"));
  CHECK_FALSE(is_secret_reference("${secret:}"));
  CHECK_FALSE(is_secret_reference("x${secret:A}"));
  CHECK_FALSE(is_secret_reference("${file:A}"));
  CHECK_FALSE(is_secret_reference("hunter2"));
}

TEST_CASE("config: a mysql state") {
  auto config = parse_config(
      "state: mysql://nightshift@db.internal:3306/nightshift\nstate_password: ${env:STATE_PW}\n",
      "c.yaml");
  REQUIRE(config.has_value());
  CHECK(config->state == "mysql://nightshift@db.internal:3306/nightshift");
  CHECK(config->state_password == "${env:STATE_PW}");
  REQUIRE(config->state_server.has_value());
  CHECK(config->state_server->host == "db.internal");
  CHECK(config->state_server->database == "nightshift");
}

TEST_CASE("config: a mysql state's TLS file is read from the config's folder, its faults located") {
  auto config = parse_config("state: mysql://ns@db/ns?ssl_mode=verify_ca&ssl_ca=certs/ca.pem\n",
                             "/etc/nightshift/nightshift.yaml");
  REQUIRE(config.has_value());
  CHECK(config->state_server->ssl_ca == "/etc/nightshift/certs/ca.pem");
  CHECK(config->state_server->ssl_mode == "verify_ca");

  auto errors = errors_of("listen: 127.0.0.1:8080\nstate: mysql://ns@db:70000/ns\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] ==
        "etc/nightshift.yaml:2:22: bad state: the port must be a number from 1 to 65535");
}

TEST_CASE("config: the file is read as a job file is: regular, bounded, UTF-8, one document") {
  test::TempDir dir;
  REQUIRE(::mkfifo((dir / "fifo.yaml").c_str(), 0600) == 0);
  std::filesystem::create_directory(dir / "dir.yaml");
  auto errors_of_file = [](const std::string& path) {
    auto config = load_config(path);
    std::vector<std::string> out;
    if (!config)
      for (const auto& e : config.error()) out.push_back(e.str());
    return out;
  };
  // A FIFO without a writer would read as an empty file: every default.
  CHECK(errors_of_file(dir / "fifo.yaml") ==
        Lines{(dir / "fifo.yaml") + ":1:1: cannot read config file: it is a FIFO, not a regular file"});
  CHECK(errors_of_file(dir / "dir.yaml") ==
        Lines{(dir / "dir.yaml") + ":1:1: cannot read config file: it is a directory"});
  CHECK(errors_of_file("/dev/zero") ==
        Lines{"/dev/zero:1:1: cannot read config file: it is a character device, not a regular "
              "file"});
  CHECK(errors_of_file(dir / "none.yaml") ==
        Lines{(dir / "none.yaml") + ":1:1: cannot read config file: no such file"});

  CHECK(errors_of("workers: 4\nlisten: \"h\xC3\" \n") ==
        Lines{"etc/nightshift.yaml:2:11: invalid UTF-8 (byte 0xC3): the file must be UTF-8 text"});
  CHECK(errors_of(std::string("workers: 4\0\n", 12)) ==
        Lines{"etc/nightshift.yaml:1:11: NUL byte: the file must be UTF-8 text"});
  CHECK(errors_of("workers: 4\n---\nworkers: 8\n") ==
        Lines{"etc/nightshift.yaml:2:1: a second YAML document starts here: a file holds exactly "
              "one"});
  CHECK(errors_of("# nothing but comments\n").empty());  // every default, as an empty file
}

TEST_CASE("config: paths may come from the environment (systemd's CREDENTIALS_DIRECTORY)") {
  ::setenv("NIGHTSHIFT_TEST_CREDENTIALS", "/run/credentials/nightshift.service", 1);
  ::setenv("NIGHTSHIFT_TEST_STATE_DIR", "/var/lib/nightshift", 1);
  ::setenv("NIGHTSHIFT_TEST_EMPTY", "", 1);
  ::unsetenv("NIGHTSHIFT_TEST_UNSET");
  auto config = parse_config(R"(secrets_dir: ${env:NIGHTSHIFT_TEST_CREDENTIALS}
state: sqlite:${env:NIGHTSHIFT_TEST_STATE_DIR}/nightshift.db
log_dir: ${env:NIGHTSHIFT_TEST_STATE_DIR}/logs
jobs_dir: "jobs-${env:NIGHTSHIFT_TEST_EMPTY_NOT_A_REF"
)",
                             "etc/nightshift.yaml");
  REQUIRE(config.has_value());
  CHECK(config->secrets_dir == "/run/credentials/nightshift.service");
  CHECK(config->state == "sqlite:/var/lib/nightshift/nightshift.db");
  CHECK(config->log_dir == "/var/lib/nightshift/logs");
  // An unclosed reference is not one: kept as written.
  CHECK(config->jobs_dir == "etc/jobs-${env:NIGHTSHIFT_TEST_EMPTY_NOT_A_REF");

  CHECK(errors_of("secrets_dir: ${env:NIGHTSHIFT_TEST_UNSET}\n") ==
        Lines{"etc/nightshift.yaml:1:14: environment variable NIGHTSHIFT_TEST_UNSET is not set"});
  CHECK(errors_of("log_dir: /x/${env:NIGHTSHIFT_TEST_EMPTY}/logs\n") ==
        Lines{"etc/nightshift.yaml:1:13: environment variable NIGHTSHIFT_TEST_EMPTY is empty"});
  CHECK(errors_of("state: sqlite:${env:NIGHTSHIFT_TEST_UNSET}/n.db\n") ==
        Lines{"etc/nightshift.yaml:1:15: environment variable NIGHTSHIFT_TEST_UNSET is not set"});
  CHECK(errors_of("secrets_dir: ${secret:DIR}\n") ==
        Lines{"etc/nightshift.yaml:1:14: a path cannot come from a secret; ${env:NAME} reads the "
              "environment"});
}

TEST_CASE("config: notify and retention as DESIGN.md writes them") {
  auto config = parse_config(R"(retention: { runs: 180d, logs: 30d }
notify:
  ops_slack: { url: "${secret:SLACK_WEBHOOK_URL}", format: slack,
               events: [run_failed, deadline_missed, run_recovered] }
  pager:     { url: https://pager.example/hook, format: json, events: [run_failed],
               headers: { Authorization: "Bearer ${secret:PAGER_TOKEN}" } }
  plain:     { url: "http://127.0.0.1:9/hook" }
)",
                             "etc/nightshift.yaml");
  REQUIRE(config.has_value());
  CHECK(config->retention.runs == std::chrono::hours(24 * 180));
  CHECK(config->retention.logs == std::chrono::hours(24 * 30));
  const WebhookSpec& slack = config->notify.at("ops_slack");
  CHECK(slack.url == "${secret:SLACK_WEBHOOK_URL}");  // resolved only when sent
  CHECK(slack.format == "slack");
  CHECK(slack.events == Lines{"run_failed", "deadline_missed", "run_recovered"});
  const WebhookSpec& pager = config->notify.at("pager");
  CHECK(pager.format == "json");
  CHECK(pager.headers.at("Authorization") == "Bearer ${secret:PAGER_TOKEN}");
  // No events: every event; no format: json.
  const WebhookSpec& plain = config->notify.at("plain");
  CHECK(plain.format == "json");
  CHECK(plain.events == Lines{"run_failed", "run_succeeded", "deadline_missed", "run_recovered"});
}

TEST_CASE("config: no retention keeps everything") {
  auto config = parse_config("listen: 127.0.0.1:8080\n", "nightshift.yaml");
  REQUIRE(config.has_value());
  CHECK_FALSE(config->retention.runs);
  CHECK_FALSE(config->retention.logs);
  CHECK(config->notify.empty());
}

TEST_CASE("config: faults in notify and retention, each at its place") {
  CHECK(errors_of("retention: { runs: 1d, log: 3d }\n") ==
        Lines{"etc/nightshift.yaml:1:24: unknown key 'log' in 'retention' (did you mean 'logs'?)"});
  CHECK(errors_of("retention: { runs: 0s }\n") ==
        Lines{"etc/nightshift.yaml:1:20: retention runs must be more than 0 (leave it out to "
              "keep everything)"});
  // The same check as at send time: a scheme and a host, no user:password@.
  for (const char* url : {"ftp://x/", "http://", "https:///path", "http://u:p@x/", "http://x y/"}) {
    CAPTURE(url);
    CHECK(errors_of(std::string("notify:\n  a: { url: \"") + url + "\" }\n") ==
          Lines{"etc/nightshift.yaml:2:13: webhook 'a': the url must be an http:// or https:// "
                "URL with a host (credentials go in headers, not in user:password@)"});
  }
  CHECK(errors_of("notify:\n  a: { format: json }\n") ==
        Lines{"etc/nightshift.yaml:2:6: webhook 'a' needs a 'url'"});
  CHECK(errors_of("notify:\n  a: { url: \"http://x/${secret:bad name}\" }\n") ==
        Lines{"etc/nightshift.yaml:2:23: bad reference in url: expected ${secret:NAME} or "
              "${env:NAME}"});
  CHECK(errors_of("notify:\n  a: { url: \"http://x/\", events: [run_lost] }\n") ==
        Lines{"etc/nightshift.yaml:2:35: bad event 'run_lost': expected run_failed, "
              "run_succeeded, deadline_missed or run_recovered"});
  CHECK(errors_of("notify:\n  a: { url: \"http://x/\", format: teams }\n") ==
        Lines{"etc/nightshift.yaml:2:34: bad format 'teams': expected json or slack"});
  CHECK(errors_of("notify:\n  all: { url: \"http://x/\" }\n") ==
        Lines{"etc/nightshift.yaml:2:3: a webhook cannot be named 'all': a job's `notify: all` "
              "means every webhook"});
}

#include "api_client.h"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace nightshift::cli;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// A file in the temporary directory, removed when the test ends.
class TempFile {
 public:
  explicit TempFile(const std::string& content)
      : path_(std::filesystem::temp_directory_path() /
              ("nightshift_api_client_test_" + std::to_string(::getpid()))) {
    std::ofstream(path_) << content;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

std::string url_error(std::string_view text) {
  auto url = parse_base_url(text);
  REQUIRE_FALSE(url);
  return url.error().message;
}

const date::time_zone* tokyo() {
  return date::locate_zone("Asia/Tokyo");
}

ApiTime at(std::string_view iso) {
  return *parse_api_time(iso);
}

}  // namespace

TEST_CASE("api client: a base URL gives host, port and path prefix") {
  auto plain = parse_base_url("http://127.0.0.1:8080");
  REQUIRE(plain);
  CHECK(plain->host == "127.0.0.1");
  CHECK(plain->port == 8080);
  CHECK(plain->prefix == "");
  CHECK(plain->text == "http://127.0.0.1:8080");

  auto default_port = parse_base_url("http://scheduler.internal/");
  REQUIRE(default_port);
  CHECK(default_port->host == "scheduler.internal");
  CHECK(default_port->port == 80);
  CHECK(default_port->prefix == "");
  CHECK(default_port->text == "http://scheduler.internal");

  auto prefixed = parse_base_url("HTTP://ops.example:9000/nightshift/api//");
  REQUIRE(prefixed);
  CHECK(prefixed->port == 9000);
  CHECK(prefixed->prefix == "/nightshift/api");
  CHECK(prefixed->text == "http://ops.example:9000/nightshift/api");

  auto ipv6 = parse_base_url("http://[::1]:8080");
  REQUIRE(ipv6);
  CHECK(ipv6->host == "::1");
  CHECK(ipv6->text == "http://[::1]:8080");

  auto empty_port = parse_base_url("http://localhost:/");
  REQUIRE(empty_port);
  CHECK(empty_port->port == 80);
}

TEST_CASE("api client: https and other schemes are refused") {
  CHECK(url_error("https://127.0.0.1:8443") ==
        "https is not supported: the daemon serves plain http; expected "
        "http://HOST[:PORT][/PREFIX]");
  CHECK(url_error("ftp://host/") ==
        "unsupported scheme 'ftp'; expected http://HOST[:PORT][/PREFIX]");
  // Without a scheme, "localhost:8080" reads as scheme "localhost".
  CHECK(url_error("localhost:8080") ==
        "unsupported scheme 'localhost'; expected http://HOST[:PORT][/PREFIX]");
}

TEST_CASE("api client: garbage URLs are refused") {
  CHECK(url_error("127.0.0.1:8080") ==
        "'127.0.0.1:8080' is not a URL; expected http://HOST[:PORT][/PREFIX]");
  CHECK(url_error("") == "'' is not a URL; expected http://HOST[:PORT][/PREFIX]");
  CHECK(url_error("http://") == "missing host; expected http://HOST[:PORT][/PREFIX]");
  CHECK(url_error("http:///jobs") == "missing host; expected http://HOST[:PORT][/PREFIX]");
  CHECK(url_error("http://host:0") == "bad port '0'; expected 1 to 65535");
  CHECK(url_error("http://host:65536") == "bad port '65536'; expected 1 to 65535");
  CHECK(url_error("http://host/?x=1") ==
        "a base URL takes no query or fragment; expected http://HOST[:PORT][/PREFIX]");
  CHECK(url_error("http://host/#top") ==
        "a base URL takes no query or fragment; expected http://HOST[:PORT][/PREFIX]");
  CHECK(url_error("http://a b/") ==
        "'http://a b/' is not a URL; expected http://HOST[:PORT][/PREFIX]");
}

TEST_CASE("api client: a URL with user info is refused without echoing it") {
  std::string message = url_error("http://admin:s3cret@host:8080");
  CHECK(message ==
        "user info in the URL is not supported; give the token with --token-file or "
        "NIGHTSHIFT_TOKEN");
  CHECK(message.find("s3cret") == std::string::npos);
}

TEST_CASE("api client: the token is the token file's first line, trimmed") {
  TempFile file("  abc123 \t\r\nsecond line\n");
  auto token = read_token(file.path(), "from-env");
  REQUIRE(token);
  CHECK(*token == "abc123");
}

TEST_CASE("api client: without a token file the token comes from the environment") {
  auto token = read_token("", " env-token\n");
  REQUIRE(token);
  CHECK(*token == "env-token");
  auto none = read_token("", nullptr);
  REQUIRE(none);
  CHECK(*none == "");
  auto blank = read_token("", "   ");
  REQUIRE(blank);
  CHECK(*blank == "");
}

TEST_CASE("api client: token file faults are errors that never show the token") {
  auto missing = read_token("/nonexistent/nightshift-token", nullptr);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message ==
        "cannot read token file '/nonexistent/nightshift-token': No such file or directory");

  TempFile empty("\nsecret-on-line-two\n");
  auto no_token = read_token(empty.path(), "from-env");
  REQUIRE_FALSE(no_token);
  CHECK(no_token.error().message == "token file '" + empty.path() + "' has an empty first line");
  CHECK(no_token.error().message.find("secret") == std::string::npos);

  TempFile control(
      std::string("abc\x01"
                  "def\n"));
  auto bad = read_token(control.path(), nullptr);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message ==
        "token file '" + control.path() + "': the token has control characters");
}

TEST_CASE("api client: requests carry Authorization only with a token") {
  auto url = *parse_base_url("http://127.0.0.1:8080");
  ApiClient with(url, "abc123");
  CHECK(with.request_headers() ==
        std::vector<std::pair<std::string, std::string>>{{"Authorization", "Bearer abc123"}});
  ApiClient without(url, "");
  CHECK(without.request_headers().empty());
}

TEST_CASE("api client: path segments and query values are percent-encoded") {
  CHECK(percent_encode("kpi_daily-2.x~") == "kpi_daily-2.x~");
  CHECK(percent_encode("a b/c?d#e&f=g%") == "a%20b%2Fc%3Fd%23e%26f%3Dg%25");
  CHECK(percent_encode("ü") == "%C3%BC");
  CHECK(percent_encode("..") == "%2E%2E");
  CHECK(percent_encode(".") == "%2E");
  CHECK(percent_encode("...") == "...");

  CHECK(api_target({"jobs"}) == "/jobs");
  CHECK(api_target({"jobs", "a/b", "rerun"},
                   {{"date", "2026-11-25"}, {"from", ""}, {"failed", "true"}}) ==
        "/jobs/a%2Fb/rerun?date=2026-11-25&failed=true");
  CHECK(api_target({"runs", "7", "steps", "load warehouse", "log"},
                   {{"attempt", ""}, {"follow", "true"}}) ==
        "/runs/7/steps/load%20warehouse/log?follow=true");
  CHECK(api_target({"jobs", "x", "rerun"}, {{"from", "a&b=c"}}) == "/jobs/x/rerun?from=a%26b%3Dc");
}

TEST_CASE("api client: run ids are positive integers") {
  CHECK(parse_run_id("42") == 42);
  CHECK_FALSE(parse_run_id("0"));
  CHECK_FALSE(parse_run_id("-3"));
  CHECK_FALSE(parse_run_id("4x"));
  CHECK_FALSE(parse_run_id(""));
  CHECK_FALSE(parse_run_id("99999999999999999999"));
}

TEST_CASE("api client: API times with offsets and fractions") {
  CHECK(at("2026-11-25T00:10:00+09:00") == at("2026-11-24T15:10:00Z"));
  CHECK(at("2026-11-24T15:10:00.250Z") - at("2026-11-24T15:10:00Z") == 250ms);
  CHECK(at("2026-11-24T15:10:00.5+00:00") - at("2026-11-24T15:10:00Z") == 500ms);
  CHECK_FALSE(parse_api_time("yesterday"));
  CHECK_FALSE(parse_api_time("2026-11-24T15:10:00.Z"));
}

TEST_CASE("api client: times are shown in the local zone") {
  json::value t = "2026-11-24T15:10:03Z";
  CHECK(format_local_time(&t, tokyo()) == "2026-11-25 00:10:03");
  json::value with_fraction = "2026-11-24T15:10:03.999+00:00";
  CHECK(format_local_time(&with_fraction, tokyo()) == "2026-11-25 00:10:03");
  json::value null;
  CHECK(format_local_time(&null, tokyo()) == "-");
  CHECK(format_local_time(nullptr, tokyo()) == "-");
  json::value odd = "soon";
  CHECK(format_local_time(&odd, tokyo()) == "soon");
}

TEST_CASE("api client: elapsed times read at a glance") {
  CHECK(format_elapsed(0ms) == "0ms");
  CHECK(format_elapsed(850ms) == "850ms");
  CHECK(format_elapsed(12'345ms) == "12.3s");
  CHECK(format_elapsed(59'999ms) == "59.9s");
  CHECK(format_elapsed(60s) == "1m00s");
  CHECK(format_elapsed(12min + 3s) == "12m03s");
  CHECK(format_elapsed(2h + 5min + 59s) == "2h05m");
  CHECK(format_elapsed(76h + 30min) == "3d4h");
  CHECK(format_elapsed(-5s) == "0ms");
}

TEST_CASE("api client: the status table of every job") {
  auto answer = json::parse(R"({"jobs": [
    {"job": "kpi", "description": "Daily KPIs", "schedule": "10 0 * * *",
     "timezone": "Asia/Tokyo", "next_run": "2026-11-26T00:10:00+09:00", "deadline": "06:00",
     "deadline_missed": false,
     "last_run": {"run_id": 42, "job": "kpi", "trigger": "schedule", "status": "succeeded",
                  "started_at": "2026-11-25T00:10:01+09:00",
                  "step_counts": {"succeeded": 4}}},
    {"job": "sales_weekly", "schedule": "0 3 * * 1", "timezone": "UTC",
     "next_run": "2026-11-30T03:00:00Z", "deadline": "09:00", "deadline_missed": true,
     "last_run": {"run_id": 7, "status": "running", "started_at": null}},
    {"job": "backfill", "schedule": null, "timezone": "UTC", "next_run": null,
     "deadline": null, "deadline_missed": false, "last_run": null},
    {"job": "held", "schedule": "0 3 * * *", "timezone": "UTC", "paused": true,
     "next_run": "2026-11-26T03:00:00Z", "deadline": null, "last_run": null}
  ]})");
  CHECK(format_jobs_table(answer, tokyo()) ==
        "JOB           LAST RUN      LAST START           NEXT RUN             DEADLINE\n"
        "kpi           42 succeeded  2026-11-25 00:10:01  2026-11-26 00:10:00  ok\n"
        "sales_weekly  7 running     -                    2026-11-30 12:00:00  missed\n"
        "backfill      -             -                    manual               -\n"
        "held          -             -                    paused               -\n");
  CHECK(format_jobs_table(json::parse(R"({"jobs": []})"), tokyo()) == "no jobs loaded\n");
}

TEST_CASE("api client: a job's runs with their steps") {
  auto answer = json::parse(R"({"runs": [
    {"run_id": 43, "job": "kpi", "trigger": "manual", "date": "2026-11-25", "status": "running",
     "started_at": "2026-11-25T09:00:00+09:00", "finished_at": null, "steps": [
       {"step": "extract", "status": "running", "attempt": 2, "exit_code": null}]},
    {"run_id": 9, "job": "kpi", "trigger": "schedule", "date": "2026-11-24", "status": "failed",
     "started_at": "2026-11-24T00:10:00+09:00", "finished_at": "2026-11-24T00:22:03.5+09:00",
     "steps": [
       {"step": "extract", "status": "succeeded", "attempt": 1, "exit_code": 0},
       {"step": "aggregate_kpi", "status": "failed", "attempt": 3, "exit_code": 2},
       {"step": "load", "status": "upstream_failed", "attempt": 0, "exit_code": null},
       {"step": "notify", "status": "succeeded", "attempt": 0, "carried_over": true}]},
    {"run_id": 8, "trigger": "catchup", "date": "2026-11-23", "status": "queued", "steps": []}
  ]})");
  CHECK(format_runs(answer, tokyo(), at("2026-11-25T09:01:05+09:00")) ==
        "run 43  manual    2026-11-25  running  started 2026-11-25 09:00:00  running for 1m05s\n"
        "  extract        running          attempt 2     -\n"
        "\n"
        "run 9   schedule  2026-11-24  failed   started 2026-11-24 00:10:00  took 12m03s\n"
        "  extract        succeeded        attempt 1     exit 0\n"
        "  aggregate_kpi  failed           attempt 3     exit 2\n"
        "  load           upstream_failed  -             -\n"
        "  notify         succeeded        carried over  -\n"
        "\n"
        "run 8   catchup   2026-11-23  queued   not started\n");
  CHECK(format_runs(json::parse(R"({"runs": []})"), tokyo(), at("2026-11-25T00:00:00Z")) ==
        "no runs yet\n");
}

TEST_CASE("api client: rerun --wait reports each step change once") {
  std::map<std::string, std::string> seen;
  auto poll = [&](const char* text) { return step_changes(json::parse(text), seen); };
  CHECK(poll(R"({"status": "queued", "steps": [{"step": "a", "status": "pending", "attempt": 0},
                                               {"step": "b", "status": "pending"}]})")
            .empty());
  CHECK(poll(R"({"status": "running", "steps": [{"step": "a", "status": "running", "attempt": 1},
                                                {"step": "b", "status": "pending"},
                                                {"step": "c", "status": "succeeded",
                                                 "attempt": 0, "carried_over": true}]})") ==
        std::vector<std::string>{"running          a", "succeeded        c (carried over)"});
  CHECK(poll(R"({"status": "running", "steps": [{"step": "a", "status": "running", "attempt": 1},
                                                {"step": "b", "status": "pending"}]})")
            .empty());
  // A retry shows as a new attempt even when the failure fell between two polls.
  CHECK(poll(R"({"status": "running", "steps": [{"step": "a", "status": "running", "attempt": 2},
                                                {"step": "b", "status": "pending"}]})") ==
        std::vector<std::string>{"running          a (attempt 2)"});
  auto last = json::parse(R"({"run_id": 57, "status": "failed",
      "started_at": "2026-11-25T00:10:00Z", "finished_at": "2026-11-25T00:13:02Z",
      "steps": [{"step": "a", "status": "failed", "attempt": 2, "exit_code": 3},
                {"step": "b", "status": "upstream_failed", "attempt": 0}]})");
  CHECK(step_changes(last, seen) ==
        std::vector<std::string>{"failed           a (attempt 2), exit 3", "upstream_failed  b"});
  CHECK(final_run_status(last) == "failed");
  CHECK(format_run_outcome(last) == "run 57 failed in 3m02s");
  CHECK_FALSE(final_run_status(json::parse(R"({"status": "running"})")));
  CHECK(format_run_outcome(json::parse(R"({"run_id": 3, "status": "cancelled"})")) ==
        "run 3 cancelled");
}

TEST_CASE("api client: the local zone follows TZ") {
  const char* saved = std::getenv("TZ");
  std::string before = saved ? saved : "";
  ::setenv("TZ", ":Asia/Tokyo", 1);
  CHECK(local_zone()->name() == "Asia/Tokyo");
  ::setenv("TZ", "Europe/Berlin", 1);
  CHECK(local_zone()->name() == "Europe/Berlin");
  if (saved)
    ::setenv("TZ", before.c_str(), 1);
  else
    ::unsetenv("TZ");
}

#include "nightshift/server/api.h"

#include <catch2/catch.hpp>

#include "support/fake_daemon_control.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

using namespace nightshift;
using nightshift::test::FakeDaemonControl;
namespace json = boost::json;

namespace {

// Built one by one: GCC 12 at -O3 takes the strings of an initializer list of
// Diagnostics for uninitialized (-Wmaybe-uninitialized, a false positive).
struct DiagnosticText {
  const char* file;
  int line;
  int column;
  const char* message;
};
Diagnostics diagnostics(std::initializer_list<DiagnosticText> list) {
  Diagnostics out;
  for (const DiagnosticText& d : list)
    out.push_back(Diagnostic{SourcePos{d.file, d.line, d.column}, d.message});
  return out;
}

// A scheduled job with a deadline, a secret and a small DAG, and a manual one.
const char* const kKpi = R"(job: kpi
description: Daily KPIs
schedule: "10 0 * * *"
timezone: Asia/Tokyo
deadline: "06:00"
max_active_runs: 1
env: { ENV: prd, DB_PASSWORD: "${secret:DB_PASSWORD}" }
steps:
  extract:
    command: [/bin/echo, "{{ date }}"]
  aggregate:
    depends_on: [extract]
    shell: ./aggregate.sh
  load:
    depends_on: [aggregate]
    shell: ./load.sh
)";

const char* const kManual = R"(job: manual
steps:
  only: { shell: 'true' }
)";

const std::vector<std::string> kTokens = {"right-token", "other-token"};

HttpRequest request(const std::string& method, const std::string& path,
                    const std::map<std::string, std::string>& query = {},
                    const std::map<std::string, std::string>& headers = {}) {
  HttpRequest r;
  r.method = method;
  r.path = path;
  r.target = path;
  char separator = '?';
  for (const auto& [key, value] : query) {
    r.target += separator + key + "=" + value;
    separator = '&';
  }
  r.query = query;
  r.headers = headers;
  r.remote = "127.0.0.1:5555";
  return r;
}

HttpRequest get(const std::string& path, const std::map<std::string, std::string>& query = {}) {
  return request("GET", path, query);
}
HttpRequest post(const std::string& path, const std::map<std::string, std::string>& query = {},
                 const std::map<std::string, std::string>& headers = {}) {
  return request("POST", path, query, headers);
}

std::string describe(const HttpResponse& r) {
  return std::to_string(r.status) + " " + r.content_type + ": " + r.body;
}

// The body parsed as JSON by a strict parser (invalid UTF-8 is an error too);
// null, after a failed check, when it is not JSON.
json::value body_json(const HttpResponse& r) {
  INFO(describe(r));
  CHECK(r.content_type == "application/json");
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (ec) FAIL_CHECK("the body is not valid JSON (" << ec.message() << ")");
  return v;
}

json::object body_object(const HttpResponse& r) {
  json::value v = body_json(r);
  INFO(describe(r));
  REQUIRE(v.is_object());
  return v.as_object();
}

// An error answer: that status and a JSON body {"error": "a message"}. Returns the message.
std::string check_error(const HttpResponse& r, int status) {
  INFO(describe(r));
  CHECK(r.status == status);
  CHECK(r.stream == nullptr);
  json::value v = body_json(r);
  const json::object* o = v.if_object();
  const json::value* message = o ? o->if_contains("error") : nullptr;
  if (!message || !message->is_string() || message->as_string().empty()) {
    FAIL_CHECK("the body is not {\"error\": \"a message\"}");
    return "";
  }
  return std::string(message->as_string());
}

std::string header(const HttpResponse& r, const std::string& name) {
  for (const auto& [key, value] : r.headers)
    if (key == name) return value;
  return "";
}

// 2024-05-01T00:00:00Z, 09:00 in Tokyo.
const Instant kMay1 = Instant(std::chrono::seconds(1714521600));

// The dashboard's files as the build embeds them (literals: they outlive the Api).
std::vector<WebAsset> test_assets() {
  return {
      {"index.html", "text/html; charset=utf-8", "\"e1\"", "<html>the dashboard</html>"},
      {"app.js", "text/javascript; charset=utf-8", "\"e2\"", "import './views/run.js';"},
      {"views/run.js", "text/javascript; charset=utf-8", "\"e3\"", "export {};"},
  };
}

// The daemon with both jobs, and an Api over it (without tokens unless given).
struct Fixture {
  FakeDaemonControl daemon{{kKpi, kManual}};
  Api api;
  explicit Fixture(std::vector<std::string> tokens = {})
      : api(daemon, std::move(tokens), test_assets()) {}
  HttpResponse operator()(const HttpRequest& r) { return api.handle(r); }
};

}  // namespace

TEST_CASE("api: tokens compare equal only when every byte and the length match") {
  CHECK(constant_time_equal("s3cret-token", "s3cret-token"));
  CHECK_FALSE(constant_time_equal("s3cret-token", "s3cret-tokeN"));
  CHECK_FALSE(constant_time_equal("s3cret", "s3cret-token"));
  CHECK_FALSE(constant_time_equal("s3cret-token", "s3cret"));
  CHECK_FALSE(constant_time_equal("", "s3cret"));
  CHECK_FALSE(constant_time_equal("x", ""));
  CHECK(constant_time_equal("", ""));
}

TEST_CASE("api: GET / serves the dashboard page with a content security policy") {
  Fixture api;
  auto r = api(get("/"));
  CHECK(r.status == 200);
  CHECK(r.content_type == "text/html; charset=utf-8");
  CHECK(r.body == "<html>the dashboard</html>");
  CHECK(header(r, "Content-Security-Policy").starts_with("default-src 'self';"));
  CHECK(header(r, "ETag") == "\"e1\"");
  CHECK(header(r, "Cache-Control") == "no-cache");
  CHECK(api(request("HEAD", "/")).status == 200);
  CHECK(api(post("/")).status == 405);
}

TEST_CASE("api: GET /assets/PATH serves each dashboard file with its type and entity tag") {
  Fixture api;
  auto r = api(get("/assets/app.js"));
  CHECK(r.status == 200);
  CHECK(r.content_type == "text/javascript; charset=utf-8");
  CHECK(r.body == "import './views/run.js';");
  CHECK(header(r, "ETag") == "\"e2\"");
  CHECK(header(r, "Cache-Control") == "no-cache");
  CHECK(header(r, "X-Content-Type-Options") == "nosniff");
  // Only the page needs the policy.
  CHECK(header(r, "Content-Security-Policy").empty());
  CHECK(api(get("/assets/views/run.js")).body == "export {};");
  CHECK(api(get("/assets/index.html")).body == "<html>the dashboard</html>");

  SECTION("a known entity tag is a 304 without a body") {
    auto cached = api(request("GET", "/assets/app.js", {}, {{"if-none-match", "\"e2\""}}));
    CHECK(cached.status == 304);
    CHECK(cached.body.empty());
    CHECK(header(cached, "ETag") == "\"e2\"");
    auto listed = api(request("GET", "/assets/app.js", {}, {{"if-none-match", "\"x\", W/\"e2\""}}));
    CHECK(listed.status == 304);
    auto stale = api(request("GET", "/assets/app.js", {}, {{"if-none-match", "\"e1\""}}));
    CHECK(stale.status == 200);
    CHECK(stale.body == "import './views/run.js';");
  }
  SECTION("an unknown file is a 404 in the API's words, whatever the path") {
    for (const char* path : {"/assets/nope.js", "/assets/views", "/assets/../index.html",
                             "/assets/views/../app.js.map", "/assets/"}) {
      INFO(path);
      check_error(api(get(path)), 404);
    }
  }
  SECTION("only GET and HEAD") {
    CHECK(api(request("HEAD", "/assets/app.js")).status == 200);
    auto r2 = api(post("/assets/app.js"));
    check_error(r2, 405);
    CHECK(header(r2, "Allow") == "GET");
  }
}

TEST_CASE("api: /healthz is 200 and /readyz says whether the store is up and jobs are loaded") {
  Fixture api;
  auto health = api(get("/healthz"));
  CHECK(health.status == 200);
  CHECK(body_object(health).at("status") == "ok");

  auto ready = api(get("/readyz"));
  CHECK(ready.status == 200);
  CHECK(body_object(ready).at("ready") == true);

  SECTION("the store is down") {
    api.daemon.daemon_status.store_ok = false;
    api.daemon.daemon_status.store_error = "disk I/O error";
    auto r = api(get("/readyz"));
    CHECK(r.status == 503);
    CHECK(body_object(r).at("ready") == false);
    CHECK(body_object(r).at("store_ok") == false);
  }
  SECTION("no jobs are loaded yet") {
    api.daemon.job_set = nullptr;
    auto r = api(get("/readyz"));
    CHECK(r.status == 503);
    CHECK(body_object(r).at("ready") == false);
    CHECK(api(get("/healthz")).status == 200);
  }
}

TEST_CASE("api: GET /metrics answers the daemon's Prometheus text as it is") {
  Fixture api;
  api.daemon.metrics_text = "# TYPE nightshift_jobs_loaded gauge\nnightshift_jobs_loaded 2\n";
  auto r = api(get("/metrics"));
  CHECK(r.status == 200);
  CHECK(r.content_type == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(r.body == api.daemon.metrics_text);
}

TEST_CASE("api: GET /status names the version, uptime, config errors, store state and slots") {
  Fixture api;
  DaemonStatus& s = api.daemon.daemon_status;
  s.version = "1.2.3";
  s.uptime_seconds = 42.5;
  s.config_errors = diagnostics({{"jobs.d/bad.yaml", 3, 7, "unknown key 'shedule'"}});
  s.store_ok = false;
  s.store_error = "database or disk is full";
  s.steps_running = 3;
  s.steps_ready = 4;
  s.workers = 2;
  s.pool_sizes = {{"source_db", 4}, {"idle", 1}};
  s.pool_slots_in_use = {{"source_db", 2}};

  auto r = api(get("/status"));
  CHECK(r.status == 200);
  json::object o = body_object(r);
  CHECK(o.at("version") == "1.2.3");
  CHECK(o.at("uptime_seconds").to_number<double>() == 42.5);
  CHECK(o.at("jobs_loaded") == 2);
  REQUIRE(o.at("config_errors").as_array().size() == 1);
  CHECK(o.at("config_errors").as_array()[0] == "jobs.d/bad.yaml:3:7: unknown key 'shedule'");
  CHECK(o.at("store").at("ok") == false);
  CHECK(o.at("store").at("error") == "database or disk is full");
  CHECK(o.at("workers") == 2);
  CHECK(o.at("steps_running") == 3);
  CHECK(o.at("steps_ready") == 4);
  CHECK(o.at("pools").at("source_db").at("size") == 4);
  CHECK(o.at("pools").at("source_db").at("in_use") == 2);
  CHECK(o.at("pools").at("idle").at("in_use") == 0);
  CHECK(o.at("auth_required") == false);
}

TEST_CASE("api: GET /status tells the dashboard whether POSTs need a token and which actions exist") {
  CHECK(body_object(Fixture(kTokens)(get("/status"))).at("auth_required") == true);
  Fixture api;
  auto actions = body_object(api(get("/status"))).at("actions").as_array();
  CHECK(actions.size() >= 2);
  // Each action listed is a route that answers (a GET on a POST route is a
  // 405, an unknown route a 404): a button the dashboard shows does something.
  std::int64_t run = api.daemon.add_run("kpi", RunStatus::running, kMay1);
  const std::map<std::string, std::string> paths = {
      {"rerun", "/jobs/kpi/rerun"},
      {"cancel", "/runs/" + std::to_string(run) + "/cancel"},
      {"pause", "/jobs/kpi/pause"},
      {"unpause", "/jobs/kpi/unpause"},
      {"backfill", "/jobs/kpi/backfill"},
  };
  for (const auto& action : actions) {
    std::string name(action.as_string());
    INFO(name);
    REQUIRE(paths.count(name) == 1);
    CHECK(api(get(paths.at(name))).status == 405);
  }
}

TEST_CASE(
    "api: GET /jobs lists every job with schedule, time zone, next run, deadline and last run") {
  Fixture api;
  api.daemon.next_runs["kpi"] = Instant(std::chrono::seconds(1714522200));  // 00:10 UTC
  api.daemon.deadlines_missed.insert("kpi");
  api.daemon.add_run("kpi", RunStatus::failed, kMay1 - std::chrono::hours(24));
  std::int64_t latest = api.daemon.add_run("kpi", RunStatus::succeeded, kMay1);

  auto r = api(get("/jobs"));
  CHECK(r.status == 200);
  json::object o = body_object(r);
  const json::array& jobs = o.at("jobs").as_array();
  REQUIRE(jobs.size() == 2);
  // In name order, as the job set keeps them.
  const json::object& kpi = jobs[0].as_object();
  const json::object& manual = jobs[1].as_object();
  CHECK(kpi.at("job") == "kpi");
  CHECK(kpi.at("description") == "Daily KPIs");
  CHECK(kpi.at("schedule") == "10 0 * * *");
  CHECK(kpi.at("timezone") == "Asia/Tokyo");
  CHECK(kpi.at("next_run") == "2024-05-01T09:10:00+09:00");
  CHECK(kpi.at("deadline") == "06:00");
  CHECK(kpi.at("deadline_missed") == true);
  REQUIRE(kpi.at("last_run").is_object());
  CHECK(kpi.at("last_run").at("run_id") == latest);
  CHECK(kpi.at("last_run").at("status") == "succeeded");

  CHECK(manual.at("job") == "manual");
  CHECK(manual.at("schedule").is_null());
  CHECK(manual.at("timezone") == "UTC");
  CHECK(manual.at("next_run").is_null());
  CHECK(manual.at("deadline").is_null());
  CHECK(manual.at("deadline_missed") == false);
  CHECK(manual.at("last_run").is_null());
}

namespace {

// The reasons of GET /jobs/{job}/why, by code.
std::multimap<std::string, json::object> why_reasons(Fixture& f, const std::string& job) {
  auto r = f(request("GET", "/jobs/" + job + "/why"));
  REQUIRE(r.status == 200);
  std::multimap<std::string, json::object> out;
  json::value body = body_json(r);
  for (const json::value& reason : body.at("reasons").as_array())
    out.emplace(std::string(reason.at("reason").as_string()), reason.as_object());
  return out;
}

std::string why_state(Fixture& f, const std::string& job) {
  return std::string(body_json(f(request("GET", "/jobs/" + job + "/why"))).at("state").as_string());
}

}  // namespace

TEST_CASE("api: GET /jobs/{job}/why says what an idle job waits for") {
  Fixture f;
  f.daemon.next_runs["kpi"] = Instant(std::chrono::seconds(1714522200));
  CHECK(why_state(f, "kpi") == "idle");
  auto kpi = why_reasons(f, "kpi");
  REQUIRE(kpi.count("next_fire") == 1);
  CHECK(kpi.find("next_fire")->second.at("until") == "2024-05-01T09:10:00+09:00");
  auto manual = why_reasons(f, "manual");
  CHECK(manual.count("no_schedule") == 1);
  CHECK(f(request("GET", "/jobs/nope/why")).status == 404);
}

TEST_CASE("api: GET /jobs/{job}/why names running steps, retries, upstream waits and queued runs") {
  Fixture f;
  f.daemon.daemon_status.workers = 1;
  f.daemon.daemon_status.steps_running = 1;
  auto first = f.daemon.add_run("kpi", RunStatus::running);
  f.daemon.start_step(first, "extract", 1);
  auto second = f.daemon.add_run("kpi", RunStatus::queued);
  CHECK(why_state(f, "kpi") == "running");
  auto reasons = why_reasons(f, "kpi");
  REQUIRE(reasons.count("running") == 1);
  CHECK(reasons.find("running")->second.at("step") == "extract");
  REQUIRE(reasons.count("upstream") == 1);
  const json::object& upstream = reasons.find("upstream")->second;
  CHECK(upstream.at("count") == 2);  // aggregate and load
  CHECK(upstream.at("waiting_on") == json::parse(R"(["extract"])"));  // the frontier only
  REQUIRE(reasons.count("max_active_runs") == 1);
  const json::object& queued = reasons.find("max_active_runs")->second;
  CHECK(queued.at("run_id") == second);
  CHECK(queued.at("held_by") == json::array{first});

  SECTION("a failed attempt whose retry is due") {
    f.daemon.finish_step(first, "extract", 1, StepState::failed, 1, /*final=*/false);
    auto retry = why_reasons(f, "kpi");
    REQUIRE(retry.count("retry") == 1);
    const json::object& r = retry.find("retry")->second;
    CHECK(r.at("step") == "extract");
    CHECK(r.contains("from"));
    CHECK(r.contains("until"));
    CHECK(retry.count("running") == 0);
  }
  SECTION("a ready step with every worker busy") {
    f.daemon.finish_step(first, "extract", 1, StepState::succeeded, 0);
    f.daemon.run_store.memory.set_step_state(first, "aggregate", StepState::ready);
    auto busy = why_reasons(f, "kpi");
    REQUIRE(busy.count("workers_full") == 1);
    CHECK(busy.find("workers_full")->second.at("steps") == json::parse(R"(["aggregate"])"));
  }
  SECTION("the store down and the daemon draining come first") {
    f.daemon.daemon_status.store_ok = false;
    f.daemon.daemon_status.store_error = "disk full";
    f.daemon.daemon_status.draining = true;
    auto stuck = why_reasons(f, "kpi");
    CHECK(stuck.count("store_unavailable") == 1);
    CHECK(stuck.count("draining") == 1);
    CHECK(std::string(stuck.find("store_unavailable")->second.at("text").as_string())
              .find("disk full") != std::string::npos);
  }
}

TEST_CASE("api: GET /jobs/{job}/why names a full pool and who holds it") {
  FakeDaemonControl daemon{{R"(job: etl
steps:
  a: { shell: x, pool: source_db }
  b: { shell: x, pool: source_db }
)"}};
  Api api(daemon, {}, {});
  daemon.daemon_status.workers = 4;
  daemon.daemon_status.steps_running = 1;
  daemon.daemon_status.pool_sizes = {{"source_db", 1}};
  daemon.daemon_status.pool_slots_in_use = {{"source_db", 1}};
  auto run = daemon.add_run("etl", RunStatus::running);
  daemon.start_step(run, "a", 1);
  daemon.run_store.memory.set_step_state(run, "b", StepState::ready);
  auto r = api.handle(request("GET", "/jobs/etl/why"));
  REQUIRE(r.status == 200);
  json::value body = body_json(r);
  const json::array& reasons = body.at("reasons").as_array();
  const json::object* pool = nullptr;
  for (const json::value& reason : reasons)
    if (reason.at("reason") == "pool_full") pool = &reason.as_object();
  REQUIRE(pool);
  CHECK(pool->at("pool") == "source_db");
  CHECK(pool->at("steps") == json::parse(R"(["b"])"));
  CHECK(pool->at("held_by") == json::parse(R"x(["etl.a (run 1)"])x"));
}

TEST_CASE("api: GET /jobs/{job}/plan forecasts waves, critical path and makespan from history") {
  Fixture f;
  f.daemon.daemon_status.workers = 2;
  f.daemon.next_runs["kpi"] = Instant(std::chrono::seconds(1714522200));  // 2024-05-01 09:10 JST
  // Two past runs: extract took 60 s and 100 s (median 80 s), aggregate
  // 300 s twice; load failed both times, so it has no history.
  for (int take : {60, 100}) {
    auto run = f.daemon.add_run("kpi", RunStatus::failed);
    Timestamp t0 = now_timestamp();
    auto attempt = [&](const std::string& step, int from, int to, StepState outcome) {
      AttemptRecord a;
      a.run_id = run;
      a.step = step;
      a.started_at = t0 + std::chrono::seconds(from);
      f.daemon.run_store.memory.start_attempt(a);
      f.daemon.run_store.memory.finish_attempt(run, step, 1, outcome, 0,
                                               t0 + std::chrono::seconds(to), outcome);
    };
    attempt("extract", 0, take, StepState::succeeded);
    attempt("aggregate", take, take + 300, StepState::succeeded);
    attempt("load", take + 300, take + 301, StepState::failed);
  }
  auto r = f(request("GET", "/jobs/kpi/plan"));
  REQUIRE(r.status == 200);
  json::value v = body_json(r);
  CHECK(v.at("job") == "kpi");
  CHECK(v.at("waves") == json::parse(R"([["extract"], ["aggregate"], ["load"]])"));
  CHECK(v.at("critical_path") == json::parse(R"(["extract", "aggregate", "load"])"));
  CHECK(v.at("expected_makespan_seconds").to_number<double>() == 380.0);
  CHECK(v.at("expected_seconds") == json::parse(R"({"extract": 80.0, "aggregate": 300.0})"));
  CHECK(v.at("steps_without_history") == json::parse(R"(["load"])"));
  CHECK(v.at("workers") == 2);
  CHECK(v.at("next_run") == "2024-05-01T09:10:00+09:00");
  CHECK(v.at("expected_end") == "2024-05-01T09:16:20+09:00");

  CHECK(f(request("GET", "/jobs/nope/plan")).status == 404);
  CHECK(f(request("POST", "/jobs/kpi/plan")).status == 405);
  // A job that never ran: every step says it has no history.
  auto manual = body_json(f(request("GET", "/jobs/manual/plan")));
  CHECK(manual.at("steps_without_history") == json::parse(R"(["only"])"));
  CHECK(manual.at("expected_makespan_seconds").to_number<double>() == 0.0);
  CHECK(!manual.as_object().contains("next_run"));
}

TEST_CASE("api: GET /jobs/{job} is the definition with secrets as ***, its DAG and recent runs") {
  Fixture api;
  api.daemon.next_runs["kpi"] = kMay1;
  std::int64_t older = api.daemon.add_run("kpi", RunStatus::failed, kMay1 - std::chrono::hours(24));
  std::int64_t newer = api.daemon.add_run("kpi", RunStatus::running, kMay1);

  auto r = api(get("/jobs/kpi"));
  CHECK(r.status == 200);
  json::object o = body_object(r);
  CHECK(o.at("job") == "kpi");
  CHECK(o.at("schedule") == "10 0 * * *");
  CHECK(o.at("timezone") == "Asia/Tokyo");
  CHECK(o.at("max_active_runs") == 1);
  CHECK(o.at("next_run") == "2024-05-01T09:00:00+09:00");
  CHECK(o.at("deadline_missed") == false);
  // The summary's fields, for the dashboard's job page.
  CHECK(o.at("deadline") == "06:00");
  CHECK(o.at("paused") == false);
  api.daemon.deadlines_missed.insert("kpi");
  CHECK(body_object(api(get("/jobs/kpi"))).at("deadline_missed") == true);
  CHECK(body_object(api(get("/jobs/manual"))).at("deadline").is_null());
  CHECK(o.at("env").at("ENV") == "prd");
  CHECK(o.at("env").at("DB_PASSWORD") == "***");
  CHECK(r.body.find("${secret:") == std::string::npos);

  const json::array& steps = o.at("steps").as_array();
  REQUIRE(steps.size() == 3);
  CHECK(steps[0].at("step") == "extract");
  CHECK(steps[0].at("command") == json::array{"/bin/echo", "{{ date }}"});
  CHECK(steps[0].at("downstream") == json::array{"aggregate"});
  CHECK(steps[1].at("depends_on") == json::array{"extract"});
  CHECK(steps[2].at("shell") == "./load.sh");
  CHECK(o.at("topological_order") == json::array{"extract", "aggregate", "load"});

  const json::array& runs = o.at("runs").as_array();
  REQUIRE(runs.size() == 2);
  CHECK(runs[0].at("run_id") == newer);
  CHECK(runs[1].at("run_id") == older);

  check_error(api(get("/jobs/nope")), 404);
}

TEST_CASE("api: GET /jobs/{job}/runs pages the history newest first") {
  Fixture api;
  std::vector<std::int64_t> ids;
  for (int day = 0; day < 5; ++day)
    ids.push_back(api.daemon.add_run("kpi", RunStatus::succeeded,
                                     kMay1 + std::chrono::hours(24 * day), Trigger::schedule));
  api.daemon.add_run("manual", RunStatus::succeeded);  // another job's run is never listed

  auto page = [&](const std::map<std::string, std::string>& query) {
    auto r = api(get("/jobs/kpi/runs", query));
    INFO(describe(r));
    CHECK(r.status == 200);
    json::object o = body_object(r);
    std::vector<std::int64_t> out;
    for (const auto& run : o.at("runs").as_array()) out.push_back(run.at("run_id").as_int64());
    return out;
  };
  CHECK(page({}) == std::vector<std::int64_t>{ids[4], ids[3], ids[2], ids[1], ids[0]});
  CHECK(page({{"limit", "2"}}) == std::vector<std::int64_t>{ids[4], ids[3]});
  CHECK(page({{"limit", "2"}, {"before", std::to_string(ids[3])}}) ==
        std::vector<std::int64_t>{ids[2], ids[1]});
  CHECK(page({{"before", std::to_string(ids[0])}}).empty());
  CHECK(page({{"limit", "1000"}}).size() == 5);

  SECTION("a run has the fields DESIGN.md names") {
    auto r = api(get("/jobs/kpi/runs", {{"limit", "1"}}));
    json::object run = body_object(r).at("runs").as_array().at(0).as_object();
    for (const char* field : {"run_id", "job", "trigger", "scheduled_at", "date", "status",
                              "created_at", "started_at", "finished_at", "steps"})
      CHECK(run.contains(field));
    CHECK(run.at("job") == "kpi");
    CHECK(run.at("trigger") == "schedule");
    CHECK(run.at("scheduled_at") == "2024-05-05T09:00:00+09:00");
    CHECK(run.at("date") == "2024-05-05");
    CHECK(run.at("status") == "succeeded");
    const json::array& steps = run.at("steps").as_array();
    REQUIRE(steps.size() == 3);
    for (const char* field :
         {"step", "status", "attempt", "started_at", "finished_at", "exit_code"})
      CHECK(steps[0].as_object().contains(field));
    CHECK(steps[0].at("step") == "extract");
    CHECK(steps[0].at("status") == "pending");
    CHECK(steps[0].at("attempt") == 0);
    CHECK(steps[0].at("exit_code").is_null());
  }
  SECTION("a bad limit or before is a 400") {
    for (const char* limit : {"0", "-1", "1001", "abc", "5x", "1.5", "99999999999999999999"}) {
      INFO("limit=" << limit);
      check_error(api(get("/jobs/kpi/runs", {{"limit", limit}})), 400);
    }
    for (const char* before : {"0", "-3", "x", "2 "}) {
      INFO("before=" << before);
      check_error(api(get("/jobs/kpi/runs", {{"before", before}})), 400);
    }
  }
  SECTION("an unknown job is a 404, a job gone from the set but with history is not") {
    check_error(api(get("/jobs/nope/runs")), 404);
    api.daemon.job_set = nightshift::test::job_set_from({kManual});
    CHECK(page({{"limit", "1"}}) == std::vector<std::int64_t>{ids[4]});
  }
}

TEST_CASE("api: POST /jobs/{job}/rerun asks the daemon for a run and answers 202 with its id") {
  Fixture api;
  auto& reruns = api.daemon.reruns;

  SECTION("without parameters") {
    auto r = api(post("/jobs/kpi/rerun"));
    CHECK(r.status == 202);
    CHECK(body_object(r) == json::object{{"run_id", 7}});
    REQUIRE(reruns.size() == 1);
    CHECK(reruns[0].job == "kpi");
    CHECK_FALSE(reruns[0].date);
    CHECK_FALSE(reruns[0].from);
    CHECK_FALSE(reruns[0].failed);
  }
  SECTION("with date and from") {
    auto r = api(post("/jobs/kpi/rerun", {{"date", "2024-05-01"}, {"from", "aggregate"}}));
    CHECK(r.status == 202);
    REQUIRE(reruns.size() == 1);
    REQUIRE(reruns[0].date);
    CHECK(*reruns[0].date == date::year_month_day{date::year{2024}, date::May, date::day{1}});
    CHECK(reruns[0].from == std::optional<std::string>("aggregate"));
    CHECK_FALSE(reruns[0].failed);
  }
  SECTION("with failed=true and failed=false") {
    CHECK(api(post("/jobs/kpi/rerun", {{"failed", "true"}})).status == 202);
    CHECK(api(post("/jobs/kpi/rerun", {{"failed", "false"}, {"date", "2024-02-29"}})).status ==
          202);
    REQUIRE(reruns.size() == 2);
    CHECK(reruns[0].failed);
    CHECK_FALSE(reruns[1].failed);
    CHECK(reruns[1].date);
  }
  SECTION("a bad date or failed value is a 400 and asks for nothing") {
    for (const char* date : {"2024-13-01", "2023-02-29", "yesterday", "2024-05-01x", "20240501"}) {
      INFO("date=" << date);
      check_error(api(post("/jobs/kpi/rerun", {{"date", date}})), 400);
    }
    check_error(api(post("/jobs/kpi/rerun", {{"failed", "yes"}})), 400);
    check_error(api(post("/jobs/kpi/rerun", {{"failed", "1"}})), 400);
    CHECK(reruns.empty());
  }
  SECTION("the daemon's refusals keep their status and message") {
    struct Case {
      int status;
      std::string message;
    };
    for (const Case& c : {Case{404, "unknown job 'nope'"}, Case{404, "job 'kpi' has no step 'x'"},
                          Case{409, "job 'kpi' has 1 active run(s), its max_active_runs"},
                          Case{400, "job 'manual' has not fired yet: give a date"},
                          Case{503, "the daemon is shutting down"}}) {
      api.daemon.rerun_answer = {std::nullopt, c.status, c.message};
      CHECK(check_error(api(post("/jobs/kpi/rerun")), c.status) == c.message);
    }
    CHECK(reruns.size() == 5);
  }
}

TEST_CASE("api: GET /runs/{id} is the run with every step's state, times, exit code and attempts") {
  Fixture api;
  std::int64_t id = api.daemon.add_run("kpi", RunStatus::running, kMay1);
  api.daemon.start_step(id, "extract", 1);
  api.daemon.finish_step(id, "extract", 1, StepState::failed, 3, /*final=*/false);
  api.daemon.start_step(id, "extract", 2);
  api.daemon.finish_step(id, "extract", 2, StepState::succeeded, 0);
  api.daemon.start_step(id, "aggregate", 1);

  auto r = api(get("/runs/" + std::to_string(id)));
  CHECK(r.status == 200);
  json::object run = body_object(r);
  CHECK(run.at("run_id") == id);
  CHECK(run.at("job") == "kpi");
  CHECK(run.at("trigger") == "manual");
  CHECK(run.at("status") == "running");
  CHECK(run.at("date") == "2024-05-01");
  const json::array& steps = run.at("steps").as_array();
  REQUIRE(steps.size() == 3);

  const json::object& extract = steps[0].as_object();
  CHECK(extract.at("step") == "extract");
  CHECK(extract.at("status") == "succeeded");
  CHECK(extract.at("attempt") == 2);
  CHECK(extract.at("exit_code") == 0);
  CHECK(extract.at("started_at").is_string());
  CHECK(extract.at("finished_at").is_string());
  const json::array& attempts = extract.at("attempts").as_array();
  REQUIRE(attempts.size() == 2);
  CHECK(attempts[0].at("attempt") == 1);
  CHECK(attempts[0].at("status") == "failed");
  CHECK(attempts[0].at("exit_code") == 3);
  CHECK(attempts[1].at("attempt") == 2);
  CHECK(attempts[1].at("status") == "succeeded");

  const json::object& aggregate = steps[1].as_object();
  CHECK(aggregate.at("status") == "running");
  CHECK(aggregate.at("attempt") == 1);
  CHECK(aggregate.at("finished_at").is_null());
  CHECK(aggregate.at("exit_code").is_null());
  CHECK(aggregate.at("attempts").as_array().size() == 1);

  const json::object& load = steps[2].as_object();
  CHECK(load.at("status") == "pending");
  CHECK(load.at("attempt") == 0);
  CHECK(load.at("started_at").is_null());
  CHECK(load.at("attempts").as_array().empty());

  for (const char* bad : {"999", "0", "-1", "abc", "1.0", "+1", "0x1", "99999999999999999999"}) {
    INFO("id " << bad);
    check_error(api(get(std::string("/runs/") + bad)), 404);
  }
}

TEST_CASE("api: POST /runs/{id}/cancel is 202 for a queued or running run, 409 once it ended") {
  Fixture api;
  std::int64_t queued = api.daemon.add_run("kpi", RunStatus::queued);
  std::int64_t running = api.daemon.add_run("kpi", RunStatus::running);

  auto r = api(post("/runs/" + std::to_string(queued) + "/cancel"));
  CHECK(r.status == 202);
  CHECK(body_object(r).at("run_id") == queued);
  CHECK(api(post("/runs/" + std::to_string(running) + "/cancel")).status == 202);
  CHECK(api.daemon.cancels == std::vector<std::int64_t>{queued, running});

  for (RunStatus ended : {RunStatus::succeeded, RunStatus::failed, RunStatus::cancelled}) {
    std::int64_t id = api.daemon.add_run("manual", ended);
    INFO(to_string(ended));
    std::string message = check_error(api(post("/runs/" + std::to_string(id) + "/cancel")), 409);
    CHECK(message.find(std::string(to_string(ended))) != std::string::npos);
  }
  check_error(api(post("/runs/999/cancel")), 404);
  check_error(api(post("/runs/abc/cancel")), 404);
  CHECK(api.daemon.cancels.size() == 2);
}

TEST_CASE("api: POST /runs/{id}/cancel of a run another nightshift process runs is a 409") {
  Fixture api;
  // The store's runs are a `nightshift run` process's (owner 1); the daemon is owner 2.
  auto other = api.daemon.run_store.memory.register_owner(OwnerKind::run);
  api.daemon.owner_id = other + 1;
  std::int64_t theirs = api.daemon.add_run("kpi", RunStatus::running);
  std::string message = check_error(api(post("/runs/" + std::to_string(theirs) + "/cancel")), 409);
  CHECK(message.find("run by another nightshift process") != std::string::npos);
  CHECK(api.daemon.cancels.empty());
  // The daemon's own runs are cancelled as ever.
  api.daemon.owner_id = other;
  CHECK(api(post("/runs/" + std::to_string(theirs) + "/cancel")).status == 202);
}

TEST_CASE("api: GET /runs/{id} of a finished run is read from the store once") {
  Fixture api;
  std::int64_t running = api.daemon.add_run("kpi", RunStatus::running, kMay1);
  std::int64_t finished = api.daemon.add_run("kpi", RunStatus::failed, kMay1);
  const std::string first = api(get("/runs/" + std::to_string(finished))).body;
  api(get("/runs/" + std::to_string(running)));
  // Changed behind the API's back (a finished run never changes: the answer
  // is kept), and for the running run (whose answer is not).
  api.daemon.start_step(finished, "extract", 1);
  api.daemon.start_step(running, "extract", 1);
  CHECK(api(get("/runs/" + std::to_string(finished))).body == first);
  json::object run = body_object(api(get("/runs/" + std::to_string(running))));
  CHECK(run.at("steps").as_array().at(0).as_object().at("status") == "running");
}

TEST_CASE("api: GET /runs/{id}/steps/{step}/log answers an attempt's log text") {
  Fixture api;
  std::int64_t id = api.daemon.add_run("kpi", RunStatus::running, kMay1);
  api.daemon.start_step(id, "extract", 1);
  api.daemon.finish_step(id, "extract", 1, StepState::failed, 1, /*final=*/false);
  api.daemon.start_step(id, "extract", 2);
  api.daemon.write_log("kpi", id, "extract", 1, "first try\n");
  api.daemon.write_log("kpi", id, "extract", 2, "second try\n\xff binary\n");
  const std::string base = "/runs/" + std::to_string(id) + "/steps/";

  auto latest = api(get(base + "extract/log"));
  CHECK(latest.status == 200);
  CHECK(latest.content_type == "text/plain; charset=utf-8");
  CHECK(latest.body == "second try\n\xff binary\n");
  CHECK(latest.stream == nullptr);
  CHECK(api(get(base + "extract/log", {{"attempt", "1"}})).body == "first try\n");
  CHECK(api(get(base + "extract/log", {{"attempt", "2"}, {"follow", "false"}})).stream == nullptr);
  CHECK(api.daemon.follows.empty());

  SECTION("follow=true hands the whole log to the daemon's follower, from its start") {
    auto r = api(get(base + "extract/log", {{"follow", "true"}, {"attempt", "1"}}));
    CHECK(r.status == 200);
    CHECK(r.body.empty());
    CHECK(r.stream != nullptr);
    REQUIRE(api.daemon.follows.size() == 1);
    CHECK(api.daemon.follows[0].path == api.daemon.log_path("kpi", id, "extract", 1));
    CHECK(api.daemon.follows[0].run_id == id);
    CHECK(api.daemon.follows[0].step == "extract");
    CHECK(api.daemon.follows[0].attempt == 1);
    CHECK(api.daemon.follows[0].offset == 0);
  }
  SECTION("a log longer than one piece is streamed from the file, as it was when asked") {
    std::string big;
    for (int i = 0; big.size() < 300'000; ++i) big += "line " + std::to_string(i) + "\n";
    api.daemon.write_log("kpi", id, "extract", 2, big);
    auto r = api(get(base + "extract/log"));
    CHECK(r.status == 200);
    CHECK(r.body.empty());
    REQUIRE(r.stream != nullptr);
    // Written after the request: not part of this answer.
    std::ofstream(api.daemon.log_path("kpi", id, "extract", 2), std::ios::app) << "later\n";
    std::string streamed;
    std::size_t largest = 0;
    for (bool more = true; more;) {
      bool delivered = false;
      r.stream->next([&](std::optional<std::string> piece) {
        delivered = true;
        if (!piece) {
          more = false;
          return;
        }
        largest = std::max(largest, piece->size());
        streamed += *piece;
      });
      REQUIRE(delivered);
    }
    CHECK(streamed.size() == big.size());
    CHECK(streamed == big);
    CHECK(largest <= 64 * 1024);
    CHECK(api.daemon.follows.empty());
  }
  SECTION("unknown run, step, attempt, or a step not started yet: 404") {
    check_error(api(get("/runs/999/steps/extract/log")), 404);
    check_error(api(get("/runs/x/steps/extract/log")), 404);
    check_error(api(get(base + "nope/log")), 404);
    check_error(api(get(base + "load/log")), 404);  // pending: no attempt yet
    check_error(api(get(base + "load/log", {{"follow", "true"}})), 404);
    for (const char* attempt : {"3", "0", "-1", "x", "1x"}) {
      INFO("attempt=" << attempt);
      check_error(api(get(base + "extract/log", {{"attempt", attempt}})), 404);
    }
    CHECK(api.daemon.follows.empty());
  }
}

TEST_CASE("api: GET /events streams the daemon's events as text/event-stream, no-cache") {
  Fixture api(kTokens);  // a GET needs no token, as every GET
  auto r = api(get("/events"));
  CHECK(r.status == 200);
  CHECK(r.content_type == "text/event-stream");
  CHECK(header(r, "Cache-Control") == "no-cache");
  CHECK(r.stream != nullptr);
  // What comes first is an SSE comment and the reconnect delay: no event.
  CHECK(r.body.rfind(": ", 0) == 0);
  CHECK(r.body.find("\nretry: 2000\n\n") != std::string::npos);
  CHECK(r.body.find("event:") == std::string::npos);
  CHECK(api.daemon.subscriptions == 1);

  SECTION("a stopping daemon answers 503") {
    api.daemon.stopping = true;
    check_error(api(get("/events")), 503);
  }
}

TEST_CASE("api: POST /reload is 200 with the new set, 422 with the errors when refused") {
  Fixture api;
  api.daemon.jobs_on_reload = nightshift::test::job_set_from({kManual});
  auto ok = api(post("/reload"));
  CHECK(ok.status == 200);
  CHECK(body_object(ok) == json::object{{"reloaded", true}, {"jobs", 1}});
  CHECK(api.daemon.reloads == 1);

  api.daemon.reload_answer =
      diagnostics({{"jobs.d/kpi.yaml", 12, 5, "unknown step 'x' in depends_on"},
                   {"jobs.d/b.yaml", 1, 1, "duplicate job name 'kpi'"}});
  auto refused = api(post("/reload"));
  std::string message = check_error(refused, 422);
  CHECK(message.find("jobs.d/kpi.yaml:12:5: unknown step 'x' in depends_on") != std::string::npos);
  CHECK(body_object(refused).at("errors") ==
        json::array{"jobs.d/kpi.yaml:12:5: unknown step 'x' in depends_on",
                    "jobs.d/b.yaml:1:1: duplicate job name 'kpi'"});
  CHECK(api.daemon.reloads == 2);
}

namespace {

const std::vector<std::string> kGetRoutes = {
    "/",     "/healthz",  "/readyz",        "/metrics", "/status",
    "/jobs", "/jobs/kpi", "/jobs/kpi/runs", "/runs/1",  "/runs/1/steps/extract/log",
    "/events"};
const std::vector<std::string> kPostRoutes = {"/reload", "/jobs/kpi/rerun", "/runs/1/cancel"};

}  // namespace

TEST_CASE(
    "api: a GET route answers other methods 405 with Allow: GET, a POST route 405 with Allow: "
    "POST") {
  Fixture api(kTokens);
  api.daemon.add_run("kpi", RunStatus::running);
  for (const auto& path : kPostRoutes) {
    for (const char* method : {"GET", "HEAD", "PUT", "DELETE"}) {
      INFO(method << " " << path);
      auto r = api(request(method, path));
      check_error(r, 405);
      CHECK(header(r, "Allow") == "POST");
    }
  }
  for (const auto& path : kGetRoutes) {
    for (const char* method : {"POST", "PUT", "DELETE", "PATCH"}) {
      INFO(method << " " << path);
      auto r = api(request(method, path, {}, {{"authorization", "Bearer right-token"}}));
      check_error(r, 405);
      CHECK(header(r, "Allow") == "GET");
    }
  }
  CHECK(api.daemon.reruns.empty());
  CHECK(api.daemon.cancels.empty());
  CHECK(api.daemon.reloads == 0);
}

TEST_CASE("api: with tokens, every POST needs Authorization: Bearer with a listed token") {
  Fixture api(kTokens);
  std::int64_t run = api.daemon.add_run("kpi", RunStatus::running);
  const std::vector<std::string> posts = {"/reload", "/jobs/kpi/rerun",
                                          "/runs/" + std::to_string(run) + "/cancel"};
  for (const auto& path : posts) {
    INFO(path);
    check_error(api(post(path)), 401);
    for (const char* value :
         {"Basic cmlnaHQ=", "Bearer", "Bearer ", "right-token", "Token right-token"}) {
      INFO("Authorization: " << value);
      check_error(api(post(path, {}, {{"authorization", value}})), 401);
    }
    for (const char* value :
         {"Bearer wrong-token", "Bearer right-tokenx", "Bearer Right-token", "Bearer other"}) {
      INFO("Authorization: " << value);
      check_error(api(post(path, {}, {{"authorization", value}})), 403);
    }
  }
  CHECK(api.daemon.reruns.empty());
  CHECK(api.daemon.cancels.empty());
  CHECK(api.daemon.reloads == 0);

  CHECK(api(post("/reload", {}, {{"authorization", "Bearer right-token"}})).status == 200);
  CHECK(api(post("/jobs/kpi/rerun", {}, {{"authorization", "Bearer other-token"}})).status == 202);
  CHECK(api(post(posts[2], {}, {{"authorization", "Bearer right-token"}})).status == 202);
  // GETs need no token.
  for (const auto& path : kGetRoutes) {
    INFO(path);
    CHECK(api(get(path)).status != 401);
    CHECK(api(get(path)).status != 403);
  }
}

TEST_CASE("api: without tokens, POSTs need no Authorization") {
  Fixture api;
  CHECK(api(post("/reload")).status == 200);
  CHECK(api(post("/jobs/kpi/rerun", {}, {{"authorization", "Bearer anything"}})).status == 202);
}

TEST_CASE("api: a path that names no resource is a 404") {
  Fixture api;
  for (const char* path :
       {"/nope", "/healthz/x", "/jobs/kpi/nope", "/jobs/kpi/runs/1", "/jobs/kpi/rerun/x", "/runs",
        "/runs/1/nope", "/runs/1/steps", "/runs/1/steps/extract", "/runs/1/steps/extract/log/x",
        "/runs/1/steps/extract/nope", "/index.html"}) {
    INFO(path);
    check_error(api(get(path)), 404);
    check_error(api(post(path)), 404);
  }
}

TEST_CASE("api: a store that fails answers 503 with an error, and asks the daemon for nothing") {
  Fixture api;
  std::int64_t id = api.daemon.add_run("kpi", RunStatus::running);
  api.daemon.start_step(id, "extract", 1);
  api.daemon.write_log("kpi", id, "extract", 1, "text\n");
  const std::string run = "/runs/" + std::to_string(id);
  api.daemon.run_store.failing = true;

  for (const auto& path :
       {std::string("/jobs"), std::string("/jobs/kpi"), std::string("/jobs/kpi/runs"),
        std::string("/jobs/nope/runs"), run, run + "/steps/extract/log"}) {
    INFO("GET " << path);
    std::string message = check_error(api(get(path)), 503);
    CHECK(message.find("store") != std::string::npos);
  }
  check_error(api(post(run + "/cancel")), 503);
  CHECK(api.daemon.cancels.empty());

  // What does not read the store still answers.
  CHECK(api(get("/healthz")).status == 200);
  CHECK(api(get("/status")).status == 200);
  CHECK(api(get("/metrics")).status == 200);

  api.daemon.run_store.failing = false;
  CHECK(api(get(run)).status == 200);
}

TEST_CASE("api: every error body is valid JSON {\"error\": ...} whatever bytes the request holds") {
  Fixture api(kTokens);
  std::int64_t id = api.daemon.add_run("kpi", RunStatus::running);
  api.daemon.start_step(id, "extract", 1);
  const std::string run = std::to_string(id);
  const std::map<std::string, std::string> auth = {{"authorization", "Bearer right-token"}};

  const std::vector<std::string> odd = {
      "\xff",                            // never valid in UTF-8
      "caf\xc3",                         // truncated sequence at the end
      "\xc3\x28",                        // bad continuation byte
      "\xc0\xaf",                        // overlong '/'
      "\xed\xa0\x80",                    // a UTF-16 surrogate
      "\xf4\x90\x80\x80",                // beyond U+10FFFF
      "\x80\x80\x80",                    // continuation bytes alone
      std::string("nul\0byte", 8),       // NUL
      "\x01\x1f\x7f\t\r\n",              // control characters
      "\"quoted\" and \\back\\slash",    // JSON's own special characters
      "</script><b>",                    //
      "\xe2\x80\xa8\xe2\x80\xa9",        // U+2028, U+2029
      "j\xc3\xb6\x62 \xf0\x9f\x8c\x99",  // valid UTF-8: "jöb 🌙"
  };
  for (const std::string& s : odd) {
    std::vector<HttpRequest> requests = {
        get("/" + s),
        get("/jobs/" + s),
        get("/jobs/" + s + "/runs"),
        get("/jobs/kpi/" + s),
        get("/runs/" + s),
        get("/runs/" + run + "/" + s),
        get("/runs/" + s + "/steps/extract/log"),
        get("/runs/" + run + "/steps/" + s + "/log"),
        get("/runs/" + run + "/steps/extract/log", {{"attempt", s}}),
        get("/jobs/kpi/runs", {{"limit", s}}),
        get("/jobs/kpi/runs", {{"before", s}}),
        post("/jobs/kpi/rerun", {{"date", s}}, auth),
        post("/jobs/kpi/rerun", {{"failed", s}}, auth),
        post("/runs/" + s + "/cancel", {}, auth),
        post("/reload", {}, {{"authorization", "Bearer " + s}}),
        post("/reload", {}, {{"authorization", s}}),
        request(s, "/jobs"),
    };
    for (const HttpRequest& r : requests) {
      auto answer = api(r);
      INFO(r.method << " " << r.path << " " << r.target << " -> " << describe(answer));
      CHECK(answer.status >= 400);
      check_error(answer, answer.status);
    }
  }
  // The daemon's own messages may carry the job name as it was sent.
  api.daemon.rerun_answer = {std::nullopt, 404, "unknown job '\xff\xfe'"};
  check_error(api(post("/jobs/\xff\xfe/rerun", {}, auth)), 404);
  api.daemon.reload_answer = diagnostics({{"jobs.d/\xff.yaml", 1, 2, "invalid UTF-8 \xc3"}});
  auto refused = api(post("/reload", {}, auth));
  check_error(refused, 422);
  CHECK(body_object(refused).at("errors").as_array().size() == 1);
  // Diagnostics name files as the file system spells them.
  api.daemon.daemon_status.config_errors = diagnostics({{"jobs.d/\xff.yaml", 1, 2, "bad \xc3"}});
  api.daemon.daemon_status.store_error = "\xed\xa0\x80";
  auto status = api(get("/status"));
  CHECK(status.status == 200);
  CHECK(body_object(status).at("config_errors").as_array().size() == 1);
  SECTION("a valid UTF-8 name comes back as it was sent") {
    std::string message = check_error(api(get("/jobs/j\xc3\xb6\x62")), 404);
    CHECK(message.find("'j\xc3\xb6\x62'") != std::string::npos);
  }
  SECTION("each byte that is not UTF-8 comes back as U+FFFD") {
    std::string message = check_error(api(get("/jobs/a\xff\xc3\x28z")), 404);
    CHECK(message.find("'a\xef\xbf\xbd\xef\xbf\xbd(z'") != std::string::npos);
  }
}

TEST_CASE("api: the Bearer scheme name is case-insensitive, the token is not") {
  Fixture api(kTokens);
  for (const char* scheme : {"bearer", "BEARER", "bEaReR"}) {
    INFO(scheme);
    CHECK(api(post("/reload", {}, {{"authorization", std::string(scheme) + " right-token"}}))
              .status == 200);
    check_error(api(post("/reload", {}, {{"authorization", std::string(scheme) + " RIGHT-TOKEN"}})),
                403);
    check_error(api(post("/reload", {}, {{"authorization", std::string(scheme)}})), 401);
  }
  CHECK(api.daemon.reloads == 3);
}

TEST_CASE("api: a /readyz 503 says why in an error body") {
  Fixture api;
  api.daemon.daemon_status.store_ok = false;
  api.daemon.daemon_status.store_error = "disk I/O error";
  CHECK(check_error(api(get("/readyz")), 503).find("disk I/O error") != std::string::npos);
  api.daemon.daemon_status.store_ok = true;
  api.daemon.job_set = nullptr;
  check_error(api(get("/readyz")), 503);
}

TEST_CASE("api: before any job set is loaded the job routes answer 503, never crash") {
  Fixture api;
  api.daemon.job_set = nullptr;
  for (const char* path : {"/jobs", "/jobs/kpi", "/jobs/kpi/runs"}) {
    INFO(path);
    check_error(api(get(path)), 503);
  }
  CHECK(api(get("/status")).status == 200);
  CHECK(body_object(api(get("/status"))).at("jobs_loaded") == 0);
  // A reload that installs nothing answers without reading a set that is not there.
  CHECK(api(post("/reload")).status == 200);
}

TEST_CASE("api: unknown or contradictory query parameters are a 400 (DESIGN.md)") {
  Fixture api;
  SECTION("rerun") {
    using Query = std::map<std::string, std::string>;
    for (const Query& q :
         {Query{{"date", ""}}, Query{{"from", ""}}, Query{{"failed", ""}},
          Query{{"from", "aggregate"}, {"failed", "true"}}, Query{{"dates", "2024-05-01"}},
          Query{{"force", "true"}}, Query{{"date", "2024-05-01"}, {"step", "x"}}}) {
      std::string text;
      for (const auto& [k, v] : q) text += k + "=" + v + " ";
      INFO(text);
      check_error(api(post("/jobs/kpi/rerun", q)), 400);
    }
    CHECK(api.daemon.reruns.empty());
    // from with failed=false says nothing contradictory.
    CHECK(api(post("/jobs/kpi/rerun", {{"from", "aggregate"}, {"failed", "false"}})).status == 202);
  }
  SECTION("every other route") {
    std::int64_t id = api.daemon.add_run("kpi", RunStatus::running);
    api.daemon.start_step(id, "extract", 1);
    const std::string run = "/runs/" + std::to_string(id);
    for (const std::string& path :
         {std::string("/healthz"), std::string("/readyz"), std::string("/metrics"),
          std::string("/status"), std::string("/jobs"), std::string("/jobs/kpi"),
          std::string("/jobs/kpi/runs"), run, run + "/steps/extract/log", std::string("/events")}) {
      INFO(path);
      check_error(api(get(path, {{"limt", "5"}})), 400);
    }
    check_error(api(post(run + "/cancel", {{"force", "true"}})), 400);
    check_error(api(post("/reload", {{"dry_run", "true"}})), 400);
    CHECK(api.daemon.cancels.empty());
    CHECK(api.daemon.reloads == 0);
    // The parameters each route takes.
    CHECK(api(get("/jobs/kpi/runs", {{"limit", "1"}, {"before", "9"}})).status == 200);
    CHECK(api(get(run + "/steps/extract/log", {{"attempt", "1"}, {"follow", "false"}})).status ==
          200);
    check_error(api(get("/jobs", {{"\xff\"", "1"}})), 400);
    // The dashboard page is not the API: a browser may add what it likes.
    CHECK(api(get("/", {{"utm_source", "x"}})).status == 200);
  }
}

TEST_CASE(
    "api: POST /jobs/{job}/pause and unpause answer the job's state, shown in /jobs and why") {
  Fixture api;
  auto r = api(post("/jobs/kpi/pause"));
  CHECK(r.status == 200);
  CHECK(body_object(r) == json::object{{"job", "kpi"}, {"paused", true}});
  bool listed = false;
  const json::object jobs = body_object(api(get("/jobs")));
  for (const auto& job : jobs.at("jobs").as_array())
    if (job.at("job") == "kpi") listed = job.at("paused") == true;
  CHECK(listed);
  CHECK(body_object(api(get("/jobs/kpi"))).at("paused") == true);
  CHECK(why_state(api, "kpi") == "paused");
  auto reasons = why_reasons(api, "kpi");
  CHECK(reasons.count("paused") == 1);
  CHECK(reasons.count("next_fire") == 0);  // it does not wait for a fire time

  r = api(post("/jobs/kpi/unpause"));
  CHECK(r.status == 200);
  CHECK(body_object(r) == json::object{{"job", "kpi"}, {"paused", false}});
  CHECK(why_state(api, "kpi") == "idle");
  check_error(api(post("/jobs/nope/pause")), 404);
  check_error(api(post("/jobs/kpi/pause", {{"now", "true"}})), 400);
  CHECK(api(get("/jobs/kpi/pause")).status == 405);
}

TEST_CASE("api: POST /jobs/{job}/backfill asks the daemon for the runs and answers 202 with ids") {
  Fixture api;
  auto& backfills = api.daemon.backfills;
  auto r = api(post("/jobs/kpi/backfill",
                    {{"from", "2024-05-01"}, {"to", "2024-05-05"}, {"missing_only", "true"}}));
  CHECK(r.status == 202);
  CHECK(body_object(r) == json::object{{"run_ids", json::array{8, 9}}});
  REQUIRE(backfills.size() == 1);
  CHECK(backfills[0].job == "kpi");
  CHECK(backfills[0].from == date::year_month_day{date::year{2024}, date::May, date::day{1}});
  CHECK(backfills[0].to == date::year_month_day{date::year{2024}, date::May, date::day{5}});
  CHECK(backfills[0].missing_only);

  check_error(api(post("/jobs/kpi/backfill", {{"from", "2024-05-01"}})), 400);  // no to
  check_error(api(post("/jobs/kpi/backfill", {{"from", "2024-05-01"}, {"to", "May 5"}})), 400);
  check_error(api(post("/jobs/kpi/backfill",
                       {{"from", "2024-05-01"}, {"to", "2024-05-05"}, {"missing_only", "1"}})),
              400);
  CHECK(backfills.size() == 1);  // none of those reached the daemon

  api.daemon.backfill_answer = {{}, 422, "from 2024-05-05 is after to 2024-05-01"};
  r = api(post("/jobs/kpi/backfill", {{"from", "2024-05-05"}, {"to", "2024-05-01"}}));
  check_error(r, 422);
  CHECK(body_object(r).at("error") == "from 2024-05-05 is after to 2024-05-01");
}

TEST_CASE("api: GET /jobs from memory answers what the store's latest runs answer") {
  Fixture api;
  LatestRuns memory(api.daemon.run_store, std::nullopt);  // no revalidation: changes only
  // The same request answered from the store and from memory.
  auto both = [&] {
    api.daemon.latest = nullptr;
    const std::string from_store = api(get("/jobs")).body;
    api.daemon.latest = &memory;
    const HttpResponse from_memory = api(get("/jobs"));
    CHECK(from_memory.status == 200);
    CHECK(from_memory.body == from_store);
  };
  both();
  FakeDaemonControl& d = api.daemon;
  MemoryRunStore& store = d.run_store.memory;
  // Each write followed by the change the daemon publishes for it.
  auto run_status = [&](std::int64_t id, const char* job, RunStatus status) {
    store.set_run_status(id, status, now_timestamp());
    memory.run_changed(job, id);
  };
  auto step = [&](std::int64_t id, const char* job, const char* name, StepState state) {
    store.set_step_state(id, name, state);
    memory.step_changed(job, id, name, state);
  };
  const std::int64_t first = d.add_run("kpi", RunStatus::queued, kMay1);
  memory.run_changed("kpi", first);
  both();
  run_status(first, "kpi", RunStatus::running);
  step(first, "kpi", "extract", StepState::ready);
  d.start_step(first, "extract", 1);
  memory.step_changed("kpi", first, "extract", StepState::running);
  both();
  d.finish_step(first, "extract", 1, StepState::failed, 1, false);  // will retry: stays running
  both();
  step(first, "kpi", "extract", StepState::ready);
  d.start_step(first, "extract", 2);
  memory.step_changed("kpi", first, "extract", StepState::running);
  d.finish_step(first, "extract", 2, StepState::succeeded, 0);
  memory.step_changed("kpi", first, "extract", StepState::succeeded);
  step(first, "kpi", "aggregate", StepState::ready);
  d.start_step(first, "aggregate", 1);
  memory.step_changed("kpi", first, "aggregate", StepState::running);
  d.finish_step(first, "aggregate", 1, StepState::failed, 2);
  memory.step_changed("kpi", first, "aggregate", StepState::failed);
  step(first, "kpi", "load", StepState::upstream_failed);
  both();
  run_status(first, "kpi", RunStatus::failed);
  both();
  // rerun --from aggregate: extract carried over (succeeded), the rest pending.
  auto rerun = store.create_run(
      make_new_run(d.job("kpi").spec, Trigger::manual, kMay1, {true, false, false}));
  REQUIRE(rerun);
  memory.run_changed("kpi", *rerun);
  both();
  run_status(*rerun, "kpi", RunStatus::running);
  step(*rerun, "kpi", "aggregate", StepState::ready);
  both();
  // The manual job: queued, then cancelled before it started.
  const std::int64_t manual = d.add_run("manual", RunStatus::queued);
  memory.run_changed("manual", manual);
  step(manual, "manual", "only", StepState::cancelled);
  run_status(manual, "manual", RunStatus::cancelled);
  both();
}

#include "nightshift/server/api.h"

#include "nightshift/run_forecast.h"
#include "nightshift/run_time.h"
#include "nightshift/runtime/step_history.h"
#include "nightshift/server/forecast_json.h"
#include "nightshift/server/log_file_stream.h"
#include "nightshift/server/run_json.h"
#include "nightshift/server/why_json.h"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <map>

namespace nightshift {
namespace {

namespace json = boost::json;

// Each byte that does not begin a well-formed UTF-8 sequence becomes U+FFFD.
// Boost.JSON copies a string's bytes as they are, and the strings of a body
// may carry bytes from the request (a percent-decoded path or query) or the
// file system (a job file's name): without this the body would not be JSON.
std::string valid_utf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size();) {
    const auto c = static_cast<unsigned char>(in[i]);
    std::size_t n = c < 0x80                 ? 1
                    : c >= 0xC2 && c <= 0xDF ? 2
                    : c >= 0xE0 && c <= 0xEF ? 3
                    : c >= 0xF0 && c <= 0xF4 ? 4
                                             : 0;
    bool ok = n != 0 && i + n <= in.size();
    for (std::size_t k = 1; ok && k < n; ++k) {
      const auto d = static_cast<unsigned char>(in[i + k]);
      // The second byte is narrower after E0 (overlong), ED (surrogates),
      // F0 (overlong) and F4 (beyond U+10FFFF).
      unsigned char lo = 0x80, hi = 0xBF;
      if (k == 1 && c == 0xE0) lo = 0xA0;
      if (k == 1 && c == 0xED) hi = 0x9F;
      if (k == 1 && c == 0xF0) lo = 0x90;
      if (k == 1 && c == 0xF4) hi = 0x8F;
      ok = d >= lo && d <= hi;
    }
    if (ok) {
      out.append(in.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

HttpResponse json_response(int status, const json::value& body) {
  HttpResponse r;
  r.status = status;
  // Outside its strings JSON text is ASCII, so only bytes inside strings change.
  r.body = valid_utf8(json::serialize(body)) + "\n";
  return r;
}

HttpResponse error(int status, const std::string& message) {
  return json_response(status, json::object{{"error", message}});
}

// DaemonControl::jobs() is null until a job set is loaded.
HttpResponse no_jobs_loaded() {
  return error(503, "no jobs loaded yet");
}

HttpResponse wrong_method(const std::string& allowed) {
  HttpResponse r = error(405, "method not allowed; use " + allowed);
  r.headers.emplace_back("Allow", allowed);
  return r;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::istringstream in(path);
  for (std::string part; std::getline(in, part, '/');)
    if (!part.empty()) parts.push_back(part);
  return parts;
}

std::optional<std::int64_t> parse_id(const std::string& text) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value <= 0) return std::nullopt;
  return value;
}

std::string query(const HttpRequest& r, const std::string& key) {
  auto it = r.query.find(key);
  return it == r.query.end() ? "" : it->second;
}

// The actions of the API (its POST routes but reload), named in GET /status so
// that the dashboard shows a button only for those that exist.
constexpr std::array<std::string_view, 5> kActions = {"rerun", "cancel", "pause", "unpause",
                                                      "backfill"};

}  // namespace

bool constant_time_equal(std::string_view a, std::string_view b) {
  // Every byte of the guess is looked at, whatever the lengths.
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

Api::Api(DaemonControl& daemon, std::vector<std::string> tokens, std::vector<WebAsset> assets)
    : daemon_(daemon),
      tokens_(std::move(tokens)),
      assets_(std::move(assets)),
      finished_runs_(kFinishedRunsCached) {}

HttpResponse Api::handle(const HttpRequest& request) {
  try {
    return route(request, split_path(request.path));
  } catch (const StoreError& e) {
    return error(503, std::string("store unavailable: ") + e.what());
  }
}

bool Api::answers_at_once(const HttpRequest& request) {
  const std::string& path = request.path;
  return path == "/" || path == "/healthz" || path == "/metrics" || path == "/events" ||
         path.starts_with("/assets/");
}

std::optional<HttpResponse> Api::authorize(const HttpRequest& request) const {
  if (tokens_.empty()) return std::nullopt;
  const std::string& header = request.header("authorization");
  // The scheme name is case-insensitive (RFC 9110 11.1); the token is not.
  constexpr std::string_view kScheme = "bearer ";
  bool bearer = header.size() > kScheme.size() &&
                std::equal(kScheme.begin(), kScheme.end(), header.begin(), [](char a, char b) {
                  return a == std::tolower(static_cast<unsigned char>(b));
                });
  if (!bearer) return error(401, "this action needs Authorization: Bearer TOKEN");
  std::string_view token = std::string_view(header).substr(kScheme.size());
  bool ok = false;
  for (const auto& t : tokens_) ok |= constant_time_equal(token, t);  // no early exit either
  if (!ok) return error(403, "the token is not allowed");
  return std::nullopt;
}

HttpResponse Api::route(const HttpRequest& request, const std::vector<std::string>& p) {
  const bool get = request.method == "GET" || request.method == "HEAD";
  const bool post = request.method == "POST";
  // `params`: the query parameters the route takes; any other is a 400 (DESIGN.md).
  using Params = std::initializer_list<std::string_view>;
  auto only = [&](bool is_post, Params params, auto&& answer) -> HttpResponse {
    if (is_post ? !post : !get) return wrong_method(is_post ? "POST" : "GET");
    if (is_post)
      if (auto denied = authorize(request)) return *denied;
    for (const auto& [key, value] : request.query) {
      if (std::find(params.begin(), params.end(), key) != params.end()) continue;
      std::string takes;
      for (std::string_view param : params)
        takes += (takes.empty() ? "" : ", ") + std::string(param);
      return error(400, "unknown parameter '" + key + "'; " + request.method + " " + request.path +
                            " takes " + (takes.empty() ? "none" : takes));
    }
    return answer();
  };
  const std::size_t n = p.size();
  // The dashboard is not the API: a browser may add what it likes to its URLs.
  if (n == 0) return asset(request, "index.html");
  if (n >= 2 && p[0] == "assets") {
    std::string path = p[1];
    for (std::size_t i = 2; i < n; ++i) path += "/" + p[i];
    return asset(request, path);
  }
  if (n == 1 && p[0] == "healthz")
    return only(false, {}, [] { return json_response(200, json::object{{"status", "ok"}}); });
  if (n == 1 && p[0] == "readyz") {
    return only(false, {}, [&] {
      DaemonStatus s = daemon_.status();
      bool jobs_loaded = daemon_.jobs() != nullptr;
      json::object body{{"ready", s.store_ok && jobs_loaded}, {"store_ok", s.store_ok}};
      if (s.store_ok && jobs_loaded) return json_response(200, body);
      // A 503 is an error like any other: it says why.
      body["error"] = !s.store_ok ? "store unavailable: " + s.store_error : "no jobs loaded yet";
      return json_response(503, body);
    });
  }
  if (n == 1 && p[0] == "metrics") {
    return only(false, {}, [&] {
      HttpResponse r;
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = daemon_.metrics();
      return r;
    });
  }
  if (n == 1 && p[0] == "events") return only(false, {}, [&] { return events(); });
  if (n == 1 && p[0] == "status") return only(false, {}, [&] { return status(); });
  if (n == 1 && p[0] == "reload") return only(true, {}, [&] { return reload(); });
  if (n == 1 && p[0] == "jobs") return only(false, {}, [&] { return jobs(); });
  if (n == 2 && p[0] == "jobs") return only(false, {}, [&] { return job(p[1]); });
  if (n == 3 && p[0] == "jobs" && p[2] == "runs")
    return only(false, {"limit", "before"}, [&] { return job_runs(p[1], request); });
  if (n == 3 && p[0] == "jobs" && p[2] == "why") return only(false, {}, [&] { return why(p[1]); });
  if (n == 3 && p[0] == "jobs" && p[2] == "plan")
    return only(false, {}, [&] { return plan(p[1]); });
  if (n == 3 && p[0] == "jobs" && p[2] == "rerun")
    return only(true, {"date", "from", "failed"}, [&] { return rerun(p[1], request); });
  if (n == 3 && p[0] == "jobs" && (p[2] == "pause" || p[2] == "unpause"))
    return only(true, {}, [&] { return pause(p[1], p[2] == "pause"); });
  if (n == 3 && p[0] == "jobs" && p[2] == "backfill")
    return only(true, {"from", "to", "missing_only"}, [&] { return backfill(p[1], request); });
  if (n == 2 && p[0] == "runs") return only(false, {}, [&] { return run(p[1]); });
  if (n == 3 && p[0] == "runs" && p[2] == "cancel")
    return only(true, {}, [&] { return cancel(p[1]); });
  if (n == 5 && p[0] == "runs" && p[2] == "steps" && p[4] == "log")
    return only(false, {"attempt", "follow"}, [&] { return log(p[1], p[3], request); });
  return error(404, "no such resource: " + request.path);
}

HttpResponse Api::jobs() {
  // Every job's last run (the daemon keeps them in memory); jobs no longer
  // loaded are left out.
  std::map<std::string, RunSummary> last_runs;
  for (RunSummary& summary : daemon_.latest_runs()) {
    std::string job = summary.run.job;
    last_runs.emplace(std::move(job), std::move(summary));
  }
  json::array out;
  auto set = daemon_.jobs();
  if (!set) return no_jobs_loaded();
  for (const auto& job : set->jobs()) {
    const std::string& name = job->spec.name;
    std::optional<RunSummary> last;
    if (auto it = last_runs.find(name); it != last_runs.end()) last = std::move(it->second);
    out.push_back(job_summary_json(job->spec, daemon_.next_run(name), daemon_.deadline_missed(name),
                                   daemon_.paused(name), last));
  }
  return json_response(200, json::object{{"jobs", std::move(out)}});
}

HttpResponse Api::job(const std::string& name) {
  auto set = daemon_.jobs();
  if (!set) return no_jobs_loaded();
  auto job = set->find(name);
  if (!job) return error(404, "unknown job '" + name + "'");
  json::object out = job_definition_json(*job);
  // The summary's fields too, so that the job's page needs no second request.
  json::object summary =
      job_summary_json(job->spec, daemon_.next_run(name), daemon_.deadline_missed(name),
                       daemon_.paused(name), std::nullopt);
  for (const char* key : {"next_run", "deadline", "deadline_missed", "paused"})
    out[key] = summary[key];
  json::array runs;
  for (const RunRecord& r : daemon_.store().list_runs(name, 10)) runs.push_back(run_json(r));
  out["runs"] = std::move(runs);
  return json_response(200, out);
}

HttpResponse Api::why(const std::string& name) {
  auto set = daemon_.jobs();
  if (!set) return no_jobs_loaded();
  auto job = set->find(name);
  if (!job) return error(404, "unknown job '" + name + "'");
  WhyFacts facts;
  facts.job = job.get();
  facts.jobs = set.get();
  facts.status = daemon_.status();
  facts.unfinished = daemon_.store().unfinished_runs();
  for (const RunRecord& run : facts.unfinished)
    if (run.job == name && run.status == RunStatus::running)
      facts.attempts[run.run_id] = daemon_.store().attempts(run.run_id);
  facts.next_run = daemon_.next_run(name);
  facts.paused = daemon_.paused(name);
  return json_response(200, why_json(facts));
}

// The job as it is loaded now, with the history of its steps and the pools
// and workers of the running daemon.
HttpResponse Api::plan(const std::string& name) {
  auto set = daemon_.jobs();
  if (!set) return no_jobs_loaded();
  auto job = set->find(name);
  if (!job) return error(404, "unknown job '" + name + "'");
  auto expected = expected_step_durations(daemon_.store(), name);
  DaemonStatus status = daemon_.status();
  RunForecast forecast = forecast_run(*job, expected, status.workers, status.pool_sizes);
  return json_response(
      200, forecast_json(*job, forecast, expected, status.workers, daemon_.next_run(name)));
}

HttpResponse Api::job_runs(const std::string& name, const HttpRequest& request) {
  auto set = daemon_.jobs();
  if (!set) return no_jobs_loaded();
  if (!set->find(name) && daemon_.store().list_runs(name, 1).empty())
    return error(404, "unknown job '" + name + "'");
  int limit = 20;
  std::optional<std::int64_t> before;
  if (auto text = query(request, "limit"); !text.empty()) {
    auto value = parse_id(text);
    if (!value || *value > 1000) return error(400, "limit must be a whole number from 1 to 1000");
    limit = static_cast<int>(*value);
  }
  if (auto text = query(request, "before"); !text.empty()) {
    before = parse_id(text);
    if (!before) return error(400, "before must be a run id");
  }
  json::array runs;
  for (const RunRecord& r : daemon_.store().list_runs(name, limit, before))
    runs.push_back(run_json(r));
  return json_response(200, json::object{{"runs", std::move(runs)}});
}

HttpResponse Api::rerun(const std::string& name, const HttpRequest& request) {
  Scheduler::Rerun rerun;
  rerun.job = name;
  // Given but empty is not the same as not given (DESIGN.md: an empty date is a 400).
  for (const auto& [key, value] : request.query)
    if (value.empty()) return error(400, key + " must not be empty");
  if (auto text = query(request, "date"); !text.empty()) {
    rerun.date = parse_date(text);
    if (!rerun.date) return error(400, "bad date '" + text + "': expected YYYY-MM-DD");
  }
  if (auto text = query(request, "from"); !text.empty()) rerun.from = text;
  std::string failed = query(request, "failed");
  if (!failed.empty() && failed != "true" && failed != "false")
    return error(400, "failed must be true or false");
  rerun.failed = failed == "true";
  if (rerun.from && rerun.failed)
    return error(400, "from and failed=true contradict each other: give one of them");
  auto result = daemon_.rerun(rerun);
  if (!result.run_id) return error(result.status, result.error);
  return json_response(202, json::object{{"run_id", *result.run_id}});
}

HttpResponse Api::pause(const std::string& name, bool paused) {
  auto result = daemon_.set_paused(name, paused);
  if (result.status != 200) return error(result.status, result.error);
  return json_response(200, json::object{{"job", name}, {"paused", result.paused}});
}

HttpResponse Api::backfill(const std::string& name, const HttpRequest& request) {
  Scheduler::Backfill backfill;
  backfill.job = name;
  for (const char* key : {"from", "to"}) {
    std::string text = query(request, key);
    if (text.empty()) return error(400, std::string(key) + " is required (YYYY-MM-DD)");
    auto day = parse_date(text);
    if (!day) return error(400, "bad " + std::string(key) + " '" + text + "': expected YYYY-MM-DD");
    (std::string_view(key) == "from" ? backfill.from : backfill.to) = *day;
  }
  std::string missing_only = query(request, "missing_only");
  if (request.query.contains("missing_only") && missing_only != "true" && missing_only != "false")
    return error(400, "missing_only must be true or false");
  backfill.missing_only = missing_only == "true";
  auto result = daemon_.backfill(backfill);
  if (result.status != 202) return error(result.status, result.error);
  return json_response(
      202, json::object{{"run_ids", json::array(result.run_ids.begin(), result.run_ids.end())}});
}

HttpResponse Api::run(const std::string& id_text) {
  auto id = parse_id(id_text);
  if (id) {
    if (auto body = finished_runs_.find(*id)) {
      HttpResponse r;
      r.body = std::move(*body);
      return r;
    }
  }
  auto record = id ? daemon_.store().get_run(*id) : std::nullopt;
  if (!record) return error(404, "unknown run '" + id_text + "'");
  json::object out = run_json(*record);
  // Every attempt of every step, for the Gantt view and for retries.
  std::map<std::string, json::array> attempts;
  for (const AttemptRecord& a : daemon_.store().attempts(*id))
    attempts[a.step].push_back(attempt_json(a));
  for (auto& step : out["steps"].as_array()) {
    auto& s = step.as_object();
    s["attempts"] = std::move(attempts[std::string(s["step"].as_string())]);
  }
  HttpResponse response = json_response(200, out);
  // The attempts were read after the run: when it had finished, they are final too.
  if (record->status != RunStatus::queued && record->status != RunStatus::running)
    finished_runs_.put(*id, response.body);
  return response;
}

HttpResponse Api::cancel(const std::string& id_text) {
  auto id = parse_id(id_text);
  auto record = id ? daemon_.store().get_run(*id) : std::nullopt;
  if (!record) return error(404, "unknown run '" + id_text + "'");
  if (record->status != RunStatus::queued && record->status != RunStatus::running)
    return error(409, "run " + id_text + " has already ended (" +
                          std::string(to_string(record->status)) + ")");
  // Another live process (a `nightshift run`) runs it: this daemon cannot stop it.
  auto owner = daemon_.owner();
  if (record->owner && owner && *record->owner != *owner)
    return error(409, "run " + id_text + " is run by another nightshift process (owner " +
                          std::to_string(*record->owner) +
                          "): stop it there (Ctrl-C on its nightshift run); if that process "
                          "has died, this daemon takes the run over within 30 s");
  daemon_.cancel(*id);
  return json_response(202, json::object{{"run_id", *id}, {"status", "cancelling"}});
}

HttpResponse Api::log(const std::string& id_text, const std::string& step,
                      const HttpRequest& request) {
  auto id = parse_id(id_text);
  auto record = id ? daemon_.store().get_run(*id) : std::nullopt;
  if (!record) return error(404, "unknown run '" + id_text + "'");
  int latest = 0;
  bool known = false;
  for (const StepRecord& s : record->steps)
    if (s.step == step) known = true, latest = s.attempt;
  if (!known) return error(404, "run " + id_text + " has no step '" + step + "'");
  int attempt = latest;
  if (auto text = query(request, "attempt"); !text.empty()) {
    auto value = parse_id(text);
    if (!value || *value > latest) return error(404, "step '" + step + "' has no attempt " + text);
    attempt = static_cast<int>(*value);
  }
  if (attempt == 0) return error(404, "step '" + step + "' has not started yet");
  std::string path = daemon_.log_path(record->job, *id, step, attempt);
  HttpResponse r;
  r.content_type = "text/plain; charset=utf-8";
  // From the file a piece at a time, never whole: a log may be gigabytes.
  if (query(request, "follow") == "true") {
    r.stream = daemon_.follow_log(path, *id, step, attempt, 0);
    return r;
  }
  auto file = LogFileStream::open(path);  // none: no log (yet), an empty answer
  if (!file) return r;
  // A log of one piece goes whole, with its length, and keeps the connection.
  if (file->size() <= LogReader::kPieceSize)
    r.body = file->read();
  else
    r.stream = std::move(file);
  return r;
}

HttpResponse Api::events() {
  auto stream = daemon_.events();
  if (!stream) return error(503, "the daemon is shutting down");
  HttpResponse r;
  r.content_type = "text/event-stream";
  r.headers.emplace_back("Cache-Control", "no-cache");
  // nginx buffers answers by default, which would hold events back.
  r.headers.emplace_back("X-Accel-Buffering", "no");
  // Sent at once, so the client knows it is subscribed; `retry` is how long
  // an EventSource waits before it reconnects (after a restart, say).
  r.body = ": nightshift events\nretry: 2000\n\n";
  r.stream = std::move(stream);
  return r;
}

HttpResponse Api::asset(const HttpRequest& request, std::string_view path) const {
  if (request.method != "GET" && request.method != "HEAD") return wrong_method("GET");
  auto it = std::find_if(assets_.begin(), assets_.end(),
                         [&](const WebAsset& a) { return a.path == path; });
  if (it == assets_.end()) return error(404, "no such resource: " + request.path);
  HttpResponse r;
  r.content_type = std::string(it->content_type);
  // The files change with the binary only: the browser keeps them but asks
  // each time whether they are still current (a 304 is a few bytes).
  r.headers.emplace_back("ETag", std::string(it->etag));
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  if (r.content_type.starts_with("text/html")) {
    // Scripts, styles, fetches and the event stream come from the daemon
    // only; no inline script, no other host, no framing.
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'self'; base-uri 'none'; frame-ancestors 'none'");
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
  }
  // If-None-Match is a list of entity tags, or "*" (RFC 9110 13.1.2).
  const std::string& match = request.header("if-none-match");
  if (match == "*" || (!match.empty() && match.find(it->etag) != std::string::npos)) {
    r.status = 304;
    return r;
  }
  r.body = std::string(it->body);
  return r;
}

HttpResponse Api::status() {
  DaemonStatus s = daemon_.status();
  json::array errors;
  for (const auto& e : s.config_errors) errors.push_back(json::string(e.str()));
  json::object pools;
  for (const auto& [name, size] : s.pool_sizes) {
    auto used = s.pool_slots_in_use.find(name);
    pools[name] = json::object{{"size", size},
                               {"in_use", used == s.pool_slots_in_use.end() ? 0 : used->second}};
  }
  auto set = daemon_.jobs();
  return json_response(200,
                       json::object{
                           {"version", s.version},
                           {"uptime_seconds", s.uptime_seconds},
                           {"jobs_loaded", set ? set->jobs().size() : 0},
                           {"config_errors", std::move(errors)},
                           {"store", json::object{{"ok", s.store_ok}, {"error", s.store_error}}},
                           {"workers", s.workers},
                           {"steps_running", s.steps_running},
                           {"steps_ready", s.steps_ready},
                           {"pools", std::move(pools)},
                           // For the dashboard: whether a POST needs a token
                           // (it asks for one before the first), and which
                           // actions it may offer.
                           {"auth_required", !tokens_.empty()},
                           {"actions", json::array(kActions.begin(), kActions.end())},
                       });
}

HttpResponse Api::reload() {
  Diagnostics errors = daemon_.reload();
  if (errors.empty()) {
    auto set = daemon_.jobs();
    return json_response(200,
                         json::object{{"reloaded", true}, {"jobs", set ? set->jobs().size() : 0}});
  }
  json::array list;
  for (const auto& e : errors) list.push_back(json::string(e.str()));
  std::string first = errors.front().str();
  return json_response(422,
                       json::object{{"error", "jobs refused, the previous ones stay: " + first},
                                    {"errors", std::move(list)}});
}

}  // namespace nightshift

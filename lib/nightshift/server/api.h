// Api: routes DESIGN.md's HTTP API onto a DaemonControl. A pure function from
// request to response (plus what DaemonControl does), so every route and error
// code is testable without sockets.
#pragma once

#include "nightshift/server/daemon_control.h"
#include "nightshift/server/finished_run_cache.h"
#include "nightshift/server/http_message.h"
#include "nightshift/server/web_asset.h"

#include <string>
#include <vector>

namespace nightshift {

class Api {
 public:
  // `tokens`: the bearer tokens every POST needs; empty means no authentication.
  // `assets`: the dashboard's files; "index.html" is the page at GET /, and
  // every file is at GET /assets/{path}.
  Api(DaemonControl& daemon, std::vector<std::string> tokens, std::vector<WebAsset> assets);

  HttpResponse handle(const HttpRequest& request);

  // Whether a request never waits on the store or a lock held across one:
  // liveness, metrics, the dashboard's files and the /events subscription.
  // The server answers these on the io threads, the rest on the API's pool.
  static bool answers_at_once(const HttpRequest& request);

 private:
  HttpResponse route(const HttpRequest& request, const std::vector<std::string>& path);
  HttpResponse jobs();
  HttpResponse job(const std::string& name);
  HttpResponse job_runs(const std::string& name, const HttpRequest& request);
  HttpResponse plan(const std::string& name);
  HttpResponse why(const std::string& name);
  HttpResponse rerun(const std::string& name, const HttpRequest& request);
  HttpResponse pause(const std::string& name, bool paused);
  HttpResponse backfill(const std::string& name, const HttpRequest& request);
  HttpResponse run(const std::string& id);
  HttpResponse cancel(const std::string& id);
  HttpResponse log(const std::string& id, const std::string& step, const HttpRequest& request);
  HttpResponse events();
  HttpResponse status();
  HttpResponse asset(const HttpRequest& request, std::string_view path) const;
  HttpResponse reload();
  std::optional<HttpResponse> authorize(const HttpRequest& request) const;

  DaemonControl& daemon_;
  std::vector<std::string> tokens_;
  std::vector<WebAsset> assets_;
  // A few hundred answers: what the dashboard's run pages look at again and again.
  static constexpr std::size_t kFinishedRunsCached = 512;
  FinishedRunCache finished_runs_;
};

// Compares without an early exit, so the time taken says nothing of where a
// guessed token first differs.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace nightshift

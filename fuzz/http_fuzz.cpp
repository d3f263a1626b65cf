// libFuzzer target: any bytes as what a client sends. They go through the
// request path the daemon uses — Beast's parser with the server's limits, the
// conversion to HttpRequest, the Api's routing and handlers — over a fake
// daemon (test/support) with two jobs and a run. Nothing may crash or hang, and
// every answer must be a real status with, for JSON, a body that parses
// (issue #12: error bodies were invalid JSON for some bytes in the path).
#include "nightshift/server/api.h"
#include "nightshift/server/beast_request.h"
#include "nightshift/server/http_server.h"
#include "support/fake_daemon_control.h"

#include <boost/beast/http/parser.hpp>
#include <boost/json/parse.hpp>

#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace nightshift;
namespace http = boost::beast::http;

namespace {

const char* const kKpi = R"(job: kpi
schedule: "10 0 * * *"
env: { DB_PASSWORD: "${secret:DB_PASSWORD}" }
steps:
  extract: { command: [/bin/echo, "{{ date }}"] }
  load: { depends_on: [extract], shell: ./load.sh }
)";

const char* const kManual = R"(job: manual
steps:
  only: { shell: 'true' }
)";

struct World {
  test::FakeDaemonControl daemon{{kKpi, kManual}};
  Api api{daemon, {"a-token"}, {}};
  World() {
    auto run = daemon.add_run("kpi", RunStatus::running);
    daemon.start_step(run, "extract", 1);
    daemon.finish_step(run, "extract", 1, StepState::failed, 3);
    daemon.write_log("kpi", run, "extract", 1, "some output\n");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World world;
  const HttpServerOptions limits;
  http::request_parser<http::string_body> parser;
  parser.eager(true);
  parser.body_limit(limits.body_limit);
  parser.header_limit(static_cast<std::uint32_t>(limits.header_limit));
  boost::system::error_code ec;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  while (!input.empty() && !parser.is_done()) {
    std::size_t used = parser.put(boost::asio::buffer(input.data(), input.size()), ec);
    if (ec == http::error::need_more) break;
    if (ec) return 0;  // the server answers 400/413/431 and closes
    if (used == 0) break;
    input.remove_prefix(used);
  }
  if (!parser.is_done()) return 0;  // it would wait for more
  auto request = to_http_request(parser.release());
  if (!request) return 0;  // answered 400
  HttpResponse response = world.api.handle(*request);
  if (response.status < 100 || response.status > 599) std::abort();
  if (response.content_type == "application/json") {
    boost::json::parse(response.body, ec);
    if (ec) std::abort();
  }
  if (response.stream) response.stream->cancel();
  // What the fake records of the actions asked for would grow without end.
  world.daemon.reruns.clear();
  world.daemon.cancels.clear();
  world.daemon.follows.clear();
  return 0;
}

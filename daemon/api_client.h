// ApiClient: the client commands' connection to a running daemon's HTTP API
// (DESIGN.md "HTTP API"), and the pure pieces around it that tests can reach:
// reading --url and the token, building request targets, and rendering the
// API's JSON answers for a terminal.
#pragma once

#include "options.h"

#include "nightshift/text_error.h"

#include <date/tz.h>
#include <boost/json/value.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace httplib {
class Client;
}

namespace nightshift::cli {

// --url, split for the HTTP client: "http://HOST[:PORT][/PREFIX]".
struct BaseUrl {
  std::string host;  // without the brackets of an IPv6 literal
  int port = 80;
  std::string prefix;  // "" or "/path" without a trailing slash, as given (still encoded)
  std::string text;    // normalized, for messages: "http://127.0.0.1:8080"
};

// Only plain http: the daemon serves no TLS.
TextResult<BaseUrl> parse_base_url(std::string_view text);

// The bearer token: the first line of `token_file`, trimmed, when one is given;
// else `env_token` (NIGHTSHIFT_TOKEN, may be null); "" for none. Errors never
// quote the token.
TextResult<std::string> read_token(const std::string& token_file, const char* env_token);

// RFC 3986 percent-encoding of everything but the unreserved characters; a
// "." or ".." segment is encoded too, so it cannot climb the path.
std::string percent_encode(std::string_view text);

// A run id as typed on the command line: a positive integer.
std::optional<std::int64_t> parse_run_id(std::string_view text);

// "/jobs/kpi%20x/rerun?date=2026-11-25": segments and query values encoded; a
// query pair with an empty value is left out.
std::string api_target(
    std::initializer_list<std::string_view> segments,
    std::initializer_list<std::pair<std::string_view, std::string_view>> query = {});

// What went wrong with a request: `status` is the HTTP status, 0 when the
// daemon gave no answer; `message` is ready for "nightshift: message".
struct ApiError {
  int status = 0;
  std::string message;
};

template <class T>
using ApiResult = boost::system::result<T, ApiError>;

// Called by ApiResult::value() on an error (found by ADL, as Boost.System asks).
[[noreturn]] void throw_exception_from_error(const ApiError& error,
                                             const boost::source_location& where);

class ApiClient {
 public:
  // Connects lazily: building a client makes no request.
  ApiClient(BaseUrl url, std::string token);
  ApiClient(ApiClient&&) noexcept;
  ApiClient& operator=(ApiClient&&) noexcept;
  ~ApiClient();

  const BaseUrl& url() const { return url_; }
  // What every request carries: Authorization only when there is a token.
  const std::vector<std::pair<std::string, std::string>>& request_headers() const {
    return headers_;
  }

  // `target` comes from api_target; the answer is the parsed JSON body (null
  // for an empty one).
  ApiResult<boost::json::value> get(const std::string& target);
  ApiResult<boost::json::value> post(const std::string& target);

  // GETs a text body, handing each piece to `sink` as it arrives; `sink`
  // returns false to stop. `follow`: the daemon streams until the attempt
  // ends, so a quiet step must not look like a dead daemon.
  ApiResult<void> get_text(const std::string& target,
                           const std::function<bool(std::string_view)>& sink, bool follow);

 private:
  ApiResult<boost::json::value> json_answer(int status, const std::string& body) const;

  BaseUrl url_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::unique_ptr<httplib::Client> http_;
};

// Prints "nightshift: message" to stderr; returns kExitFailure.
int report_failure(const ApiError& error);

// --url and --token-file, which every client command takes.
struct ClientOptions {
  std::string url = "http://127.0.0.1:8080";
  std::string token_file;
};
void add_client_options(CommandLine& line, ClientOptions& values);

// The client that the options and NIGHTSHIFT_TOKEN describe; on a fault,
// prints it and gives the exit code (2 for a bad --url, 1 for a bad token file).
boost::system::result<ApiClient, int> open_client(const CommandLine& line,
                                                  const ClientOptions& options);

// Rendering the API's answers. Times are shown in `zone`, the user's.
using ApiTime = std::chrono::sys_time<std::chrono::milliseconds>;

// The user's time zone; UTC when the system names none.
const date::time_zone* local_zone();

// The time now in the user's zone, "HH:MM:SS", for lines a step's change makes
// (the zone as it was at the first call: a process shows one zone).
std::string local_clock_time();

// ISO 8601 with Z or an offset, with or without fractional seconds.
std::optional<ApiTime> parse_api_time(std::string_view text);

// "2026-11-25 00:10:03"; "-" for null or absent; the text itself when unreadable.
std::string format_local_time(const boost::json::value* time, const date::time_zone* zone);

// "850ms", "12.3s", "12m03s", "2h05m", "3d4h".
std::string format_elapsed(std::chrono::milliseconds elapsed);

// `nightshift status`: the table of GET /jobs.
std::string format_jobs_table(const boost::json::value& answer, const date::time_zone* zone);

// `nightshift status JOB`: each run of GET /jobs/{job}/runs with its steps;
// `now` measures the runs still going.
std::string format_runs(const boost::json::value& answer, const date::time_zone* zone, ApiTime now);

// `rerun --wait`: a line for every step whose status or attempt changed since
// `seen` (updated), in the run's step order; pending steps are not news.
std::vector<std::string> step_changes(const boost::json::value& run,
                                      std::map<std::string, std::string>& seen);

// The run's status once it has ended (succeeded, failed, cancelled), else nullopt.
std::optional<std::string> final_run_status(const boost::json::value& run);

// "run 57 failed in 3m02s", once the run has ended.
std::string format_run_outcome(const boost::json::value& run);

}  // namespace nightshift::cli

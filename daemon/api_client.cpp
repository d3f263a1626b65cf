#include "api_client.h"

#include "command.h"

#include "nightshift/schedule.h"

#include <httplib.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <stdexcept>

namespace json = boost::json;
namespace po = boost::program_options;

namespace nightshift::cli {
namespace {

using namespace std::chrono_literals;

constexpr auto kConnectTimeout = 5s;
constexpr auto kReadTimeout = 30s;
// A followed log is quiet while its step is; only a daemon silent for a day is dead.
constexpr auto kFollowReadTimeout = 24h;
constexpr std::size_t kMaxErrorBody = 64 * 1024;
constexpr std::string_view kUrlForm = "expected http://HOST[:PORT][/PREFIX]";

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n\v\f";
  auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

bool has_control_characters(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// httplib reports every failed connect alike; ask the OS once more why, so
// that the user reads "Connection refused" or "Name or service not known".
std::string why_unreachable(const BaseUrl& url) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(url.host.c_str(), std::to_string(url.port).c_str(), &hints, &found))
    return gai_strerror(rc);
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owned(found, &freeaddrinfo);
  int error = 0;
  for (const addrinfo* a = found; a; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      error = errno;
      continue;
    }
    timeval limit{std::chrono::seconds(kConnectTimeout).count(), 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    int rc = connect(fd, a->ai_addr, a->ai_addrlen);
    error = rc == 0 ? 0 : errno;
    close(fd);
    if (rc == 0) return "the connection failed";  // it answers now: a passing fault
  }
  return error == EINPROGRESS || error == EAGAIN ? "no connection within 5 s"
                                                 : std::strerror(error);
}

ApiError transport_error(const BaseUrl& url, httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection:
      return {0, "cannot reach nightshift at " + url.text + ": " + why_unreachable(url)};
    case httplib::Error::ConnectionTimeout:
      return {0, "cannot reach nightshift at " + url.text + ": no connection within 5 s"};
    case httplib::Error::Read:
      return {0, "nightshift at " + url.text + " closed the connection or stopped answering"};
    case httplib::Error::Write:
      return {0, "cannot send the request to nightshift at " + url.text};
    default:
      return {0, "request to nightshift at " + url.text + " failed: " + httplib::to_string(error)};
  }
}

// "HTTP 404: unknown job 'x'" from the daemon's {"error": "..."}.
ApiError http_error(int status, const std::string& body, bool has_token) {
  std::string message = "HTTP " + std::to_string(status);
  boost::system::error_code ec;
  json::value parsed = json::parse(body, ec);
  const json::value* error = nullptr;
  if (!ec && parsed.is_object()) error = parsed.as_object().if_contains("error");
  std::string detail;
  if (error && error->is_string()) {
    detail = std::string(error->as_string());
  } else {
    std::string_view first = trim(body);
    detail = std::string(first.substr(0, std::min(first.find('\n'), std::size_t{200})));
  }
  if (!detail.empty()) message += ": " + detail;
  if (status == 401 && !has_token) message += " (give --token-file or set NIGHTSHIFT_TOKEN)";
  return {status, message};
}

bool is_success(int status) {
  return status >= 200 && status < 300;
}

}  // namespace

TextResult<BaseUrl> parse_base_url(std::string_view text) {
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed)
    return TextError{"'" + std::string(text) + "' is not a URL; " + std::string(kUrlForm)};
  const auto& url = *parsed;
  // Before anything that could echo the text: user info may hold a password.
  if (url.has_userinfo())
    return TextError{
        "user info in the URL is not supported; give the token with --token-file or "
        "NIGHTSHIFT_TOKEN"};
  if (url.scheme_id() == boost::urls::scheme::https)
    return TextError{"https is not supported: the daemon serves plain http; " +
                     std::string(kUrlForm)};
  if (url.scheme_id() != boost::urls::scheme::http)
    return TextError{"unsupported scheme '" + std::string(url.scheme()) + "'; " +
                     std::string(kUrlForm)};
  if (url.has_query() || url.has_fragment())
    return TextError{"a base URL takes no query or fragment; " + std::string(kUrlForm)};
  BaseUrl base;
  auto type = url.host_type();
  if (type != boost::urls::host_type::name && type != boost::urls::host_type::ipv4 &&
      type != boost::urls::host_type::ipv6)
    return TextError{"missing host; " + std::string(kUrlForm)};
  base.host = url.host_address();
  if (base.host.empty()) return TextError{"missing host; " + std::string(kUrlForm)};
  if (url.has_port() && !url.port().empty()) {
    std::string_view port = url.port();
    int number = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (ec != std::errc() || end != port.data() + port.size() || number < 1 || number > 65535)
      return TextError{"bad port '" + std::string(port) + "'; expected 1 to 65535"};
    base.port = number;
  }
  std::string_view path = url.encoded_path();
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  base.prefix = std::string(path);
  std::string host = type == boost::urls::host_type::ipv6 ? "[" + base.host + "]" : base.host;
  base.text =
      "http://" + host + (base.port == 80 ? "" : ":" + std::to_string(base.port)) + base.prefix;
  return base;
}

TextResult<std::string> read_token(const std::string& token_file, const char* env_token) {
  if (token_file.empty()) {
    std::string_view token = trim(env_token ? env_token : "");
    if (has_control_characters(token)) return TextError{"NIGHTSHIFT_TOKEN has control characters"};
    return {boost::system::in_place_value, token};
  }
  std::ifstream in(token_file);
  if (!in) return TextError{"cannot read token file '" + token_file + "': " + std::strerror(errno)};
  std::string line;
  std::getline(in, line);
  if (in.bad()) return TextError{"cannot read token file '" + token_file + "'"};
  std::string_view token = trim(line);
  if (token.empty()) return TextError{"token file '" + token_file + "' has an empty first line"};
  if (has_control_characters(token))
    return TextError{"token file '" + token_file + "': the token has control characters"};
  // In place: a string could also make a TextError.
  return {boost::system::in_place_value, token};
}

std::string percent_encode(std::string_view text) {
  constexpr char kHex[] = "0123456789ABCDEF";
  bool dots_only = (text == "." || text == "..");
  std::string out;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    bool unreserved =
        std::isalnum(u) || c == '-' || c == '_' || c == '~' || (c == '.' && !dots_only);
    if (unreserved && u < 0x80) {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    }
  }
  return out;
}

std::optional<std::int64_t> parse_run_id(std::string_view text) {
  std::int64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || id < 1)
    return std::nullopt;
  return id;
}

std::string api_target(std::initializer_list<std::string_view> segments,
                       std::initializer_list<std::pair<std::string_view, std::string_view>> query) {
  std::string target;
  for (auto segment : segments) target += "/" + percent_encode(segment);
  char separator = '?';
  for (auto [key, value] : query) {
    if (value.empty()) continue;
    target += separator + percent_encode(key) + "=" + percent_encode(value);
    separator = '&';
  }
  return target;
}

void throw_exception_from_error(const ApiError& error, const boost::source_location&) {
  throw std::runtime_error(error.message);
}

ApiClient::ApiClient(BaseUrl url, std::string token)
    : url_(std::move(url)), http_(std::make_unique<httplib::Client>(url_.host, url_.port)) {
  if (!token.empty()) headers_.emplace_back("Authorization", "Bearer " + token);
  http_->set_connection_timeout(kConnectTimeout);
  http_->set_read_timeout(kReadTimeout);
  http_->set_write_timeout(kReadTimeout);
}

ApiClient::ApiClient(ApiClient&&) noexcept = default;
ApiClient& ApiClient::operator=(ApiClient&&) noexcept = default;
ApiClient::~ApiClient() = default;

ApiResult<json::value> ApiClient::json_answer(int status, const std::string& body) const {
  if (!is_success(status)) return http_error(status, body, !headers_.empty());
  if (trim(body).empty()) return json::value();
  boost::system::error_code ec;
  json::value parsed = json::parse(body, ec);
  if (ec)
    return ApiError{status, "unexpected answer from nightshift at " + url_.text + ": not JSON (" +
                                ec.message() + ")"};
  return parsed;
}

ApiResult<json::value> ApiClient::get(const std::string& target) {
  auto result =
      http_->Get(url_.prefix + target, httplib::Headers(headers_.begin(), headers_.end()));
  if (!result) return transport_error(url_, result.error());
  return json_answer(result->status, result->body);
}

ApiResult<json::value> ApiClient::post(const std::string& target) {
  auto result =
      http_->Post(url_.prefix + target, httplib::Headers(headers_.begin(), headers_.end()));
  if (!result) return transport_error(url_, result.error());
  return json_answer(result->status, result->body);
}

ApiResult<void> ApiClient::get_text(const std::string& target,
                                    const std::function<bool(std::string_view)>& sink,
                                    bool follow) {
  int status = 0;
  bool stopped = false;
  std::string error_body;  // an error's body is for the message, not for the sink
  if (follow) http_->set_read_timeout(kFollowReadTimeout);
  auto result = http_->Get(
      url_.prefix + target, httplib::Headers(headers_.begin(), headers_.end()),
      [&](const httplib::Response& response) {
        status = response.status;
        return true;
      },
      [&](const char* data, std::size_t size) {
        if (is_success(status)) {
          stopped = !sink(std::string_view(data, size));
          return !stopped;
        }
        error_body.append(data, std::min(size, kMaxErrorBody - error_body.size()));
        return true;
      });
  http_->set_read_timeout(kReadTimeout);
  if (stopped) return {};
  if (!result) return transport_error(url_, result.error());
  if (!is_success(status)) return http_error(status, error_body, !headers_.empty());
  return {};
}

int report_failure(const ApiError& error) {
  std::cerr << "nightshift: " << error.message << "\n";
  return kExitFailure;
}

void add_client_options(CommandLine& line, ClientOptions& values) {
  line.options.add_options()("url", po::value(&values.url)->default_value(values.url),
                             "the daemon's base URL")(
      "token-file", po::value(&values.token_file),
      "a file whose first line is the bearer token (default: the "
      "NIGHTSHIFT_TOKEN environment variable)");
}

boost::system::result<ApiClient, int> open_client(const CommandLine& line,
                                                  const ClientOptions& options) {
  auto url = parse_base_url(options.url);
  if (!url) return usage_error(line, "--url: " + url.error().message);
  auto token = read_token(options.token_file, std::getenv("NIGHTSHIFT_TOKEN"));
  if (!token) return report_failure({0, token.error().message});
  return ApiClient(std::move(*url), std::move(*token));
}

// Rendering. The daemon may add fields and leave optional ones out or null:
// read every field as "maybe there".
namespace {

const json::value* field(const json::value& object, std::string_view key) {
  const auto* o = object.if_object();
  return o ? o->if_contains(key) : nullptr;
}

std::optional<std::int64_t> integer(const json::value* v) {
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  return std::nullopt;
}

// A string as it is, a number in decimal, "" for anything else.
std::string text(const json::value* v) {
  if (!v) return "";
  if (v->is_string()) return std::string(v->as_string());
  if (auto n = integer(v)) return std::to_string(*n);
  return "";
}

std::string or_dash(std::string s) {
  return s.empty() ? "-" : s;
}

std::optional<ApiTime> time_field(const json::value& object, std::string_view key) {
  const json::value* v = field(object, key);
  return v && v->is_string() ? parse_api_time(v->as_string()) : std::nullopt;
}

const json::array& array_field(const json::value& object, std::string_view key) {
  static const json::array kEmpty;
  const json::value* v = field(object, key);
  return v && v->is_array() ? v->as_array() : kEmpty;
}

using Row = std::vector<std::string>;

std::vector<std::size_t> column_widths(const std::vector<Row>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  return widths;
}

// Columns two spaces apart; the last one unpadded, so no line ends in blanks.
std::string render_row(const Row& row, const std::vector<std::size_t>& widths,
                       std::string_view indent = "") {
  std::string line(indent);
  for (std::size_t i = 0; i < row.size(); ++i) {
    line += row[i];
    if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
  }
  return line + "\n";
}

Row run_row(const json::value& run, const date::time_zone* zone, ApiTime now) {
  std::string timing = "not started";
  if (auto started = time_field(run, "started_at")) {
    timing = "started " + format_local_time(field(run, "started_at"), zone);
    if (auto finished = time_field(run, "finished_at"))
      timing += "  took " + format_elapsed(*finished - *started);
    else
      timing += "  running for " + format_elapsed(now - *started);
  }
  return {"run " + or_dash(text(field(run, "run_id"))), or_dash(text(field(run, "trigger"))),
          or_dash(text(field(run, "date"))), or_dash(text(field(run, "status"))), timing};
}

// A step that a --from or --failed rerun counts as done without running it.
bool is_carried_over(const json::value& step) {
  const json::value* v = field(step, "carried_over");
  return v && v->is_bool() && v->as_bool();
}

Row step_row(const json::value& step) {
  auto attempt = integer(field(step, "attempt"));
  auto exit_code = integer(field(step, "exit_code"));
  std::string attempt_text = attempt && *attempt > 0 ? "attempt " + std::to_string(*attempt) : "-";
  if (is_carried_over(step)) attempt_text = "carried over";
  return {or_dash(text(field(step, "step"))), or_dash(text(field(step, "status"))), attempt_text,
          exit_code ? "exit " + std::to_string(*exit_code) : "-"};
}

}  // namespace

std::string local_clock_time() {
  // Looked up once a process: date::current_zone() resolves /etc/localtime
  // (a realpath, a stat per link) on every call, and `run` prints a line per
  // step start and end.
  static const date::time_zone* const zone = local_zone();
  auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  return date::format("%T", date::make_zoned(zone, now));
}

const date::time_zone* local_zone() {
  // date::current_zone() reads /etc/localtime only; users expect TZ to win.
  if (const char* tz = std::getenv("TZ"); tz && *tz) {
    std::string_view name = tz[0] == ':' ? tz + 1 : tz;
    if (const date::time_zone* zone = find_time_zone(name)) return zone;
  }
  try {
    return date::current_zone();
  } catch (const std::exception&) {
    return date::locate_zone("UTC");
  }
}

std::optional<ApiTime> parse_api_time(std::string_view text) {
  // parse_iso8601 reads whole seconds: take a fraction off first.
  constexpr std::size_t kSecondsEnd = std::string_view("YYYY-MM-DDTHH:MM:SS").size();
  std::string whole(text);
  std::chrono::milliseconds fraction{0};
  if (text.size() > kSecondsEnd && text[kSecondsEnd] == '.') {
    std::size_t end = kSecondsEnd + 1;
    int scale = 100;
    while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) {
      fraction += std::chrono::milliseconds((text[end] - '0') * scale);
      scale /= 10;
      ++end;
    }
    if (end == kSecondsEnd + 1) return std::nullopt;
    whole = std::string(text.substr(0, kSecondsEnd)) + std::string(text.substr(end));
  }
  auto seconds = parse_iso8601(whole, find_time_zone("UTC"));
  if (!seconds) return std::nullopt;
  return ApiTime(*seconds) + fraction;
}

std::string format_local_time(const json::value* time, const date::time_zone* zone) {
  if (!time || !time->is_string() || time->as_string().empty()) return "-";
  auto parsed = parse_api_time(time->as_string());
  if (!parsed) return std::string(time->as_string());
  return date::format("%F %T",
                      date::make_zoned(zone, std::chrono::floor<std::chrono::seconds>(*parsed)));
}

std::string format_elapsed(std::chrono::milliseconds elapsed) {
  auto ms = std::max<std::int64_t>(elapsed.count(), 0);
  auto two = [](std::int64_t n) { return (n < 10 ? "0" : "") + std::to_string(n); };
  if (ms < 1000) return std::to_string(ms) + "ms";
  if (ms < 60'000) return std::to_string(ms / 1000) + "." + std::to_string(ms % 1000 / 100) + "s";
  auto s = ms / 1000;
  if (s < 3600) return std::to_string(s / 60) + "m" + two(s % 60) + "s";
  if (s < 86'400) return std::to_string(s / 3600) + "h" + two(s / 60 % 60) + "m";
  return std::to_string(s / 86'400) + "d" + std::to_string(s / 3600 % 24) + "h";
}

std::string format_jobs_table(const json::value& answer, const date::time_zone* zone) {
  const json::array& jobs = array_field(answer, "jobs");
  if (jobs.empty()) return "no jobs loaded\n";
  std::vector<Row> rows = {{"JOB", "LAST RUN", "LAST START", "NEXT RUN", "DEADLINE"}};
  for (const auto& job : jobs) {
    const json::value* last = field(job, "last_run");
    std::string last_run = "-", last_start = "-";
    if (last && last->is_object()) {
      last_run =
          or_dash(text(field(*last, "run_id"))) + " " + or_dash(text(field(*last, "status")));
      last_start = format_local_time(field(*last, "started_at"), zone);
    }
    std::string next_run = format_local_time(field(job, "next_run"), zone);
    const json::value* schedule = field(job, "schedule");
    if (next_run == "-" && (!schedule || schedule->is_null())) next_run = "manual";
    // A paused job's next fire time will not fire: say why there instead.
    if (const json::value* paused = field(job, "paused"); paused && paused->is_bool() &&
                                                          paused->as_bool())
      next_run = "paused";
    const json::value* missed = field(job, "deadline_missed");
    std::string deadline = text(field(job, "deadline")).empty()               ? "-"
                           : missed && missed->is_bool() && missed->as_bool() ? "missed"
                                                                              : "ok";
    rows.push_back({or_dash(text(field(job, "job"))), last_run, last_start, next_run, deadline});
  }
  auto widths = column_widths(rows);
  std::string out;
  for (const auto& row : rows) out += render_row(row, widths);
  return out;
}

std::string format_runs(const json::value& answer, const date::time_zone* zone, ApiTime now) {
  const json::array& runs = array_field(answer, "runs");
  if (runs.empty()) return "no runs yet\n";
  std::vector<Row> run_rows, step_rows;
  for (const auto& run : runs) {
    run_rows.push_back(run_row(run, zone, now));
    for (const auto& step : array_field(run, "steps")) step_rows.push_back(step_row(step));
  }
  // Runs align with runs and steps with steps, across the whole listing.
  auto run_widths = column_widths(run_rows), step_widths = column_widths(step_rows);
  std::string out;
  auto next_step = step_rows.begin();
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (i > 0) out += "\n";
    out += render_row(run_rows[i], run_widths);
    for (std::size_t n = array_field(runs[i], "steps").size(); n > 0; --n)
      out += render_row(*next_step++, step_widths, "  ");
  }
  return out;
}

std::vector<std::string> step_changes(const json::value& run,
                                      std::map<std::string, std::string>& seen) {
  std::vector<std::string> lines;
  for (const auto& step : array_field(run, "steps")) {
    std::string name = text(field(step, "step")), status = text(field(step, "status"));
    auto attempt = integer(field(step, "attempt")).value_or(0);
    std::string state = status + "#" + std::to_string(attempt);
    if (status.empty() || status == "pending" || seen[name] == state) continue;
    seen[name] = state;
    std::string line =
        status + std::string(status.size() < 15 ? 15 - status.size() : 0, ' ') + "  " + name;
    if (attempt > 1) line += " (attempt " + std::to_string(attempt) + ")";
    if (is_carried_over(step)) line += " (carried over)";
    auto exit_code = integer(field(step, "exit_code"));
    if (exit_code && status != "running" && status != "succeeded")
      line += ", exit " + std::to_string(*exit_code);
    lines.push_back(std::move(line));
  }
  return lines;
}

std::optional<std::string> final_run_status(const json::value& run) {
  std::string status = text(field(run, "status"));
  if (status == "succeeded" || status == "failed" || status == "cancelled") return status;
  return std::nullopt;
}

std::string format_run_outcome(const json::value& run) {
  std::string line =
      "run " + or_dash(text(field(run, "run_id"))) + " " + or_dash(text(field(run, "status")));
  auto started = time_field(run, "started_at"), finished = time_field(run, "finished_at");
  if (started && finished) line += " in " + format_elapsed(*finished - *started);
  return line;
}

}  // namespace nightshift::cli

// HttpRequest and HttpResponse: the HTTP layer's plain view of a message, so
// that request handlers are pure functions, testable without sockets.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace nightshift {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: path and query
  std::string path;    // percent-decoded, without the query
  std::map<std::string, std::string> query;    // percent-decoded; the last value of a repeated key
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::string remote;  // the client's "address:port", for logs

  // The header's value, or "" when absent.
  const std::string& header(const std::string& lower_case_name) const;
};

// A body produced piece by piece (a followed log): the server asks for the next
// piece once the previous one is sent.
class BodyStream {
 public:
  using Deliver = std::function<void(std::optional<std::string> piece)>;  // nullopt: the end
  virtual ~BodyStream() = default;
  // Calls `deliver` exactly once, possibly later and from another thread. An
  // empty piece is allowed (nothing new yet is better expressed by waiting).
  virtual void next(Deliver deliver) = 0;
  // The client went away: stop producing.
  virtual void cancel() = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (Allow, ...)
  std::shared_ptr<BodyStream> stream;  // when set, sent chunked after `body`
};

}  // namespace nightshift

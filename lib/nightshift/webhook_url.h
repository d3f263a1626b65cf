// split_webhook_url: where a webhook POSTs, read from its URL. The config
// checks a written-out URL with it at load time, and the notifier a URL from
// a secret at send time, so both refuse the same URLs.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace nightshift {

struct WebhookUrl {
  std::string origin;  // "scheme://host[:port]", what the HTTP client connects to
  std::string path;    // the path with its query, "/" when empty
};

// Only http and https with a host. user:password@ is refused: the client would
// not send it, and an Authorization header (from a secret) is the way. A
// fragment is dropped, as a browser does.
std::optional<WebhookUrl> split_webhook_url(std::string_view url);

}  // namespace nightshift

#include "nightshift/webhook_url.h"

#include <boost/url/parse.hpp>

namespace nightshift {

std::optional<WebhookUrl> split_webhook_url(std::string_view url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return std::nullopt;
  const auto scheme = parsed->scheme_id();
  if ((scheme != boost::urls::scheme::http && scheme != boost::urls::scheme::https) ||
      parsed->encoded_host().empty() || parsed->has_userinfo())
    return std::nullopt;
  WebhookUrl u;
  u.origin = std::string(parsed->scheme()) + "://" + std::string(parsed->encoded_host_and_port());
  u.path = parsed->encoded_path().empty() ? "/" : std::string(parsed->encoded_path());
  if (parsed->has_query()) u.path += "?" + std::string(parsed->encoded_query());
  return u;
}

}  // namespace nightshift

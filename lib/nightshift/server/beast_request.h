// to_http_request: a request as Beast parsed it, turned into the HTTP layer's
// plain HttpRequest that handlers see. Apart from HttpSession so that the
// request path (parser, conversion, Api routing) can be fuzzed without sockets.
#pragma once

#include "nightshift/server/http_message.h"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <optional>

namespace nightshift {

// nullopt when the target is not an origin-form path (with valid percent-escapes).
std::optional<HttpRequest> to_http_request(
    boost::beast::http::request<boost::beast::http::string_body>&& in);

}  // namespace nightshift

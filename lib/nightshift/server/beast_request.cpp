#include "nightshift/server/beast_request.h"

#include <boost/url/parse.hpp>

#include <string>
#include <utility>

namespace nightshift {
namespace {

std::string to_string(boost::beast::string_view s) {
  return std::string(s.data(), s.size());
}

std::string lower_case(boost::beast::string_view s) {
  std::string out = to_string(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

std::optional<HttpRequest> to_http_request(
    boost::beast::http::request<boost::beast::http::string_body>&& in) {
  const auto target = in.target();
  auto url = boost::urls::parse_origin_form({target.data(), target.size()});
  if (!url) return std::nullopt;
  HttpRequest out;
  out.method = to_string(in.method_string());
  out.target = to_string(target);
  out.path = url->path();
  for (const auto& param : url->params()) out.query[param.key] = param.value;
  for (const auto& field : in) {
    auto [it, inserted] = out.headers.emplace(lower_case(field.name_string()), "");
    // Repeated fields combine into one list, as RFC 9110 allows.
    if (!inserted) it->second += ", ";
    it->second += to_string(field.value());
  }
  out.body = std::move(in.body());
  return out;
}

}  // namespace nightshift

#include "nightshift/mysql_url.h"

#include "nightshift/duration.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <string>

namespace nightshift {
namespace {

constexpr std::string_view kScheme = "mysql://";
constexpr std::array<std::string_view, 5> kSslModes = {"disabled", "preferred", "required",
                                                       "verify_ca", "verify_identity"};

TextResult<ConnectionSpec> fail(std::string message, std::size_t offset) {
  return TextError{std::move(message), offset};
}

bool is_name(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '$';
  });
}

// One `key=value` of the query; `offset` is where it starts in the URL.
std::optional<TextError> read_option(std::string_view option, std::size_t offset,
                                     ConnectionSpec& spec) {
  auto eq = option.find('=');
  std::string_view key = option.substr(0, eq);
  std::string_view value = eq == std::string_view::npos ? "" : option.substr(eq + 1);
  if (eq == std::string_view::npos || value.empty())
    return TextError{"'" + std::string(key) + "' needs a value", offset};
  const std::size_t at = offset + eq + 1;
  if (key == "ssl_mode") {
    if (std::find(kSslModes.begin(), kSslModes.end(), value) == kSslModes.end())
      return TextError{"ssl_mode must be disabled, preferred, required, verify_ca or "
                       "verify_identity",
                       at};
    spec.ssl_mode = std::string(value);
  } else if (key == "ssl_ca") {
    spec.ssl_ca = std::string(value);
  } else if (key == "connect_timeout" || key == "read_timeout") {
    auto duration = parse_duration(value);
    if (!duration) return TextError{duration.error().message, at + duration.error().offset};
    (key == "connect_timeout" ? spec.connect_timeout : spec.read_timeout) = *duration;
  } else {
    return TextError{"unknown option '" + std::string(key) +
                         "' (ssl_mode, ssl_ca, connect_timeout, read_timeout)",
                     offset};
  }
  return std::nullopt;
}

}  // namespace

TextResult<ConnectionSpec> parse_mysql_url(std::string_view url) {
  constexpr char kForm[] = "expected mysql://USER@HOST[:PORT]/DATABASE";
  if (!url.starts_with(kScheme)) return fail(kForm, 0);
  const std::size_t begin = kScheme.size();
  const std::size_t at = url.find('@', begin);
  const std::size_t slash = url.find('/', begin);
  if (at == std::string_view::npos || (slash != std::string_view::npos && slash < at))
    return fail(std::string(kForm) + ": no USER@", begin);
  std::string_view user = url.substr(begin, at - begin);
  // Never echo what follows the ':': it is a password.
  if (user.find(':') != std::string_view::npos)
    return fail("put the password in state_password (${secret:NAME}), not in the URL", begin);
  if (user.empty()) return fail(std::string(kForm) + ": the user is empty", begin);
  if (slash == std::string_view::npos) return fail(std::string(kForm) + ": no /DATABASE", at);

  ConnectionSpec spec;
  spec.name = "state";
  spec.driver = "mysql";
  spec.user = std::string(user);
  std::string_view host = url.substr(at + 1, slash - at - 1);
  if (const auto colon = host.rfind(':'); colon != std::string_view::npos) {
    std::string_view port = host.substr(colon + 1);
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), spec.port);
    if (ec != std::errc() || end != port.data() + port.size() || spec.port < 1 ||
        spec.port > 65535)
      return fail("the port must be a number from 1 to 65535", at + 2 + colon);
    host = host.substr(0, colon);
  }
  if (host.empty()) return fail(std::string(kForm) + ": the host is empty", at + 1);
  spec.host = std::string(host);

  std::string_view rest = url.substr(slash + 1);
  const std::size_t question = rest.find('?');
  std::string_view database = rest.substr(0, question);
  if (!is_name(database))
    return fail("the database name must be letters, digits, '_' or '$'", slash + 1);
  spec.database = std::string(database);
  if (question == std::string_view::npos) return spec;

  std::size_t offset = slash + 1 + question + 1;
  std::string_view query = rest.substr(question + 1);
  for (;;) {
    const std::size_t amp = query.find('&');
    if (auto error = read_option(query.substr(0, amp), offset, spec)) return *error;
    if (amp == std::string_view::npos) return spec;
    query.remove_prefix(amp + 1);
    offset += amp + 1;
  }
}

}  // namespace nightshift

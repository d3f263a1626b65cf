// parse_mysql_url: the `state: mysql://...` of the config, read into the
// server part of a ConnectionSpec, so the run store connects with the same
// options as a SQL step:
//
//   mysql://USER@HOST[:PORT]/DATABASE[?ssl_mode=M&ssl_ca=PATH&connect_timeout=D&read_timeout=D]
//
// The password never goes in the URL (it comes from state_password): a URL
// with one is refused, and the error does not repeat it.
#pragma once

#include "nightshift/config_spec.h"
#include "nightshift/text_error.h"

#include <string_view>

namespace nightshift {

TextResult<ConnectionSpec> parse_mysql_url(std::string_view url);

}  // namespace nightshift

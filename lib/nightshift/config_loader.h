// Reads the daemon's config file (nightshift.yaml) into a checked ConfigSpec.
#pragma once

#include "nightshift/config_spec.h"
#include "nightshift/diagnostic.h"

#include <boost/system/result.hpp>

#include <string>
#include <string_view>

namespace nightshift {

using ConfigResult = boost::system::result<ConfigSpec, Diagnostics>;

// Parses the text of the config file `file`; relative paths in it are resolved
// against the file's directory. Every fault is reported, each at FILE:LINE:COL.
ConfigResult parse_config(std::string_view text, const std::string& file);

// Reads and parses the config file at `path`.
ConfigResult load_config(const std::string& path);

// True for "${secret:NAME}" or "${env:NAME}" and nothing else around it.
bool is_secret_reference(std::string_view value);

}  // namespace nightshift

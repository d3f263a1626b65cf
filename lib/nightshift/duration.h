// Durations as job files write them: "30s", "10m", "1h30m", "500ms", "2d".
#pragma once

#include "nightshift/text_error.h"

#include <chrono>
#include <string>
#include <string_view>

namespace nightshift {

using Duration = std::chrono::milliseconds;

// One or more <integer><unit> groups, units d h m s ms, each unit at most once
// and from largest to smallest. Errors point at the offending character.
TextResult<Duration> parse_duration(std::string_view text);

// The shortest form parse_duration reads back: "1h30m", "45s", "0s".
std::string format_duration(Duration d);

}  // namespace nightshift

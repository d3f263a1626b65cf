// Checking text is well-formed UTF-8 before it becomes a job: every string a
// job holds may reach a JSON answer, a log line or a process's argv.
#pragma once

#include <cstddef>
#include <string_view>

namespace nightshift {

// The offset of the first byte of `text` that does not belong to a well-formed
// UTF-8 sequence (RFC 3629: no overlong forms, no surrogates, nothing past
// U+10FFFF, no truncated sequence), or std::string_view::npos when all is well.
std::size_t invalid_utf8_offset(std::string_view text);

}  // namespace nightshift

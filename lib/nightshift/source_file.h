// Reading a job or config file from a directory anyone may have put anything
// into. A jobs_dir entry named *.yaml can be a FIFO (whose read waits for a
// writer forever), a device (/dev/zero never ends), a directory or a broken
// symlink: a reload must neither hang on it nor read until memory runs out.
#pragma once

#include "nightshift/diagnostic.h"

#include <boost/system/result.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace nightshift {

// Job and config files are at most 1 MiB (DESIGN.md): a job of hundreds of
// steps is a few tens of KiB, so more is a mistake, not a job. A benchmark
// build may raise it with the CMake cache option NIGHTSHIFT_MAX_JOB_FILE_BYTES
// (the scale benchmark's 100,000-step job is 6.7 MB); the default, the
// contract, leaves the macro undefined.
#ifdef NIGHTSHIFT_MAX_JOB_FILE_BYTES
inline constexpr std::size_t kMaxSourceFileBytes = NIGHTSHIFT_MAX_JOB_FILE_BYTES;
#else
inline constexpr std::size_t kMaxSourceFileBytes = std::size_t{1} << 20;
#endif

using SourceFileResult = boost::system::result<std::string, Diagnostic>;

// The bytes of the regular file at `path`. Symlinks are followed (a jobs.d of
// symlinks into a repository is a common layout), but what they lead to must be
// a regular file, checked on the opened descriptor. The file is opened
// non-blocking and read up to `max_bytes` + 1 bytes, so no path can block the
// caller or make it read without bound. A fault is one Diagnostic at PATH:1:1,
// "cannot read WHAT: CAUSE", the cause named as precisely as the system lets
// (a FIFO, a directory, a dangling symlink, a symlink loop, permission denied,
// larger than the limit).
SourceFileResult read_source_file(const std::string& path, std::string_view what,
                                  std::size_t max_bytes = kMaxSourceFileBytes);

}  // namespace nightshift

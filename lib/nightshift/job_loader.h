// Reads one job file (YAML) into a checked Job, reporting every fault in it.
#pragma once

#include "nightshift/diagnostic.h"
#include "nightshift/job.h"

#include <optional>
#include <string>
#include <string_view>

namespace nightshift {

// Parses the text of a job file named `file`. Returns the job when the file has
// no fault; otherwise nullopt, with every fault appended to `errors`.
std::optional<Job> parse_job(std::string_view text, const std::string& file, Diagnostics& errors);

// Reads and parses `path`. What is not a regular file of at most 1 MiB (after
// symlinks) is one fault, "PATH:1:1: cannot read job file: CAUSE"; reading
// never blocks (see read_source_file).
std::optional<Job> load_job_file(const std::string& path, Diagnostics& errors);

// Job names: [a-z0-9_-]+ (they appear in URLs and log paths). Step names also
// allow capitals: [A-Za-z0-9_-]+. Both at most 64 characters.
bool is_valid_job_name(std::string_view name);
bool is_valid_step_name(std::string_view name);

}  // namespace nightshift

// Command-line parsing shared by the subcommands (Boost.Program_options), so
// that --help, usage errors and exit codes behave the same in every command.
#pragma once

#include <boost/program_options.hpp>

#include <optional>
#include <string>

namespace nightshift::cli {

struct CommandLine {
  std::string usage;  // "nightshift check (--config FILE | --jobs-dir DIR)"
  std::string about;  // one paragraph under the usage line
  boost::program_options::options_description options{"options"};
  boost::program_options::positional_options_description positional;
  const std::string* required_job = nullptr;  // set by add_job_argument
};

// Declares the positional JOB argument that most client commands take. When
// `required`, parse_command_line answers "missing JOB" (exit 2) without it.
void add_job_argument(CommandLine& line, std::string& job, bool required = true);

// Parses argv into `values`. Returns an exit code when the command must stop
// here: 0 after printing --help, 2 after a usage error (printed to stderr),
// among them a missing required JOB.
std::optional<int> parse_command_line(int argc, char** argv, CommandLine& line,
                                      boost::program_options::variables_map& values);

// Prints "nightshift: message" and the usage line to stderr; returns 2.
int usage_error(const CommandLine& line, const std::string& message);

}  // namespace nightshift::cli

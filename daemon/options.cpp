#include "options.h"

#include "command.h"

#include <iostream>

namespace po = boost::program_options;

namespace nightshift::cli {

std::optional<int> parse_command_line(int argc, char** argv, CommandLine& line,
                                      po::variables_map& values) {
  line.options.add_options()("help,h", "show this help");
  try {
    po::store(
        po::command_line_parser(argc, argv).options(line.options).positional(line.positional).run(),
        values);
    if (values.count("help")) {
      std::cout << "usage: " << line.usage << "\n\n"
                << line.about << "\n\n"
                << line.options << "\n";
      return kExitOk;
    }
    po::notify(values);
  } catch (const po::error& e) {
    return usage_error(line, e.what());
  }
  if (line.required_job && line.required_job->empty()) return usage_error(line, "missing JOB");
  return std::nullopt;
}

void add_job_argument(CommandLine& line, std::string& job, bool required) {
  line.options.add_options()("job", po::value(&job), "the job (positional)");
  line.positional.add("job", 1);
  if (required) line.required_job = &job;
}

int usage_error(const CommandLine& line, const std::string& message) {
  std::cerr << "nightshift: " << message << "\nusage: " << line.usage << "\n";
  return kExitUsage;
}

}  // namespace nightshift::cli

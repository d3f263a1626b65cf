#include "nightshift/runtime/highest_logged_run_id.h"

#include <charconv>
#include <filesystem>

namespace nightshift {

std::int64_t highest_logged_run_id(const std::string& log_dir) {
  namespace fs = std::filesystem;
  std::int64_t highest = 0;
  std::error_code ec;
  for (fs::directory_iterator job(log_dir, ec), end; !ec && job != end; job.increment(ec)) {
    std::error_code job_ec;
    if (!job->is_directory(job_ec)) continue;
    for (fs::directory_iterator run(job->path(), job_ec); !job_ec && run != end;
         run.increment(job_ec)) {
      const std::string name = run->path().filename().string();
      std::int64_t id = 0;
      auto [last, error] = std::from_chars(name.data(), name.data() + name.size(), id);
      if (error == std::errc() && last == name.data() + name.size() && id > highest)
        highest = id;
    }
  }
  return highest;
}

}  // namespace nightshift

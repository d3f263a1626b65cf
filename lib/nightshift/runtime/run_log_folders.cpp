#include "nightshift/runtime/run_log_folders.h"

#include <algorithm>
#include <charconv>

namespace nightshift {

void for_each_run_log_folder(
    const std::string& log_dir,
    const std::function<bool(const std::filesystem::path& folder, std::int64_t run_id)>& visit) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (fs::directory_iterator job(log_dir, ec), end; !ec && job != end; job.increment(ec)) {
    std::error_code job_ec;
    if (!job->is_directory(job_ec)) continue;
    for (fs::directory_iterator run(job->path(), job_ec); !job_ec && run != end;
         run.increment(job_ec)) {
      const std::string name = run->path().filename().string();
      std::int64_t id = 0;
      auto [last, error] = std::from_chars(name.data(), name.data() + name.size(), id);
      std::error_code run_ec;
      if (error != std::errc() || last != name.data() + name.size() || id <= 0 ||
          !run->is_directory(run_ec))
        continue;
      if (!visit(run->path(), id)) return;
    }
  }
}

std::int64_t highest_logged_run_id(const std::string& log_dir) {
  std::int64_t highest = 0;
  for_each_run_log_folder(log_dir, [&](const std::filesystem::path&, std::int64_t id) {
    highest = std::max(highest, id);
    return true;
  });
  return highest;
}

}  // namespace nightshift

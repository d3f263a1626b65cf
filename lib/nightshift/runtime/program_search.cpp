#include "nightshift/runtime/program_search.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>
#include <utility>

namespace nightshift {
namespace {

// What execvp searches when the environment has no PATH (glibc's _CS_PATH).
constexpr std::string_view kDefaultPath = "/bin:/usr/bin";

std::string_view path_of(const StepInvocation& step) {
  for (const auto& [key, value] : step.env)
    if (key == "PATH") return value;
  return kDefaultPath;
}

}  // namespace

ProgramSearch::Found ProgramSearch::search(const StepInvocation& step) {
  const std::string& name = step.argv.front();
  if (name.empty()) return {{}, ENOENT};
  if (name.find('/') != std::string::npos) return {name, 0};

  const std::string_view search = path_of(step);
  int error = ENOENT;
  for (std::size_t begin = 0;;) {
    std::size_t end = search.find(':', begin);
    std::string_view dir = search.substr(begin, end == std::string_view::npos ? end : end - begin);
    std::string candidate = (dir.empty() ? std::string(".") : std::string(dir)) + "/" + name;
    std::string on_disk = candidate.front() == '/' || step.workdir.empty()
                              ? candidate
                              : step.workdir + "/" + candidate;
    struct stat st {};
    if (::stat(on_disk.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      if (::access(on_disk.c_str(), X_OK) == 0) return {candidate, 0};
      error = EACCES;  // like execvp: report EACCES only if nothing runnable follows
    }
    if (end == std::string_view::npos) break;
    begin = end + 1;
  }
  return {{}, error};
}

// The run, the name, the PATH searched and the workdir relative entries are
// taken from: the same key finds the same file.
std::string ProgramSearch::key(const StepInvocation& step) {
  std::string out = std::to_string(step.run_id);
  for (std::string_view part :
       {std::string_view(step.argv.front()), path_of(step), std::string_view(step.workdir)}) {
    out += '\0';
    out += part;
  }
  return out;
}

ProgramSearch::Found ProgramSearch::find(const StepInvocation& step) {
  if (step.argv.front().find('/') != std::string::npos || step.argv.front().empty())
    return search(step);  // nothing to search: nothing to remember
  std::string k = key(step);
  {
    std::lock_guard lock(mutex_);
    if (auto it = paths_.find(k); it != paths_.end()) return {it->second, 0, true};
  }
  Found found = search(step);          // outside the lock: it is file system calls
  if (found.error != 0) return found;  // a missing program is looked for again next time
  std::lock_guard lock(mutex_);
  if (paths_.emplace(k, found.path).second) {
    order_.push_back(std::move(k));
    while (order_.size() > capacity_) {
      paths_.erase(order_.front());
      order_.pop_front();
    }
  }
  return found;
}

void ProgramSearch::forget(const StepInvocation& step) {
  std::lock_guard lock(mutex_);
  paths_.erase(key(step));
}

}  // namespace nightshift

#include "nightshift/runtime/step_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

namespace nightshift {

StepLog::~StepLog() {
  if (fd_ >= 0) ::close(fd_);
}

bool StepLog::open(const std::string& path, std::string& error) {
  std::error_code ec;
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (!ec) {
    fd_ = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0640);
    if (fd_ >= 0) return true;
    ec.assign(errno, std::generic_category());
  }
  error = "cannot open log '" + path + "': " + ec.message();
  return false;
}

void StepLog::write(std::string_view text) {
  if (fd_ < 0) return;
  while (!text.empty() && error_.empty()) {
    ssize_t written = ::write(fd_, text.data(), text.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      error_ = "cannot write log: " + std::generic_category().message(errno);
      return;
    }
    text.remove_prefix(static_cast<std::size_t>(written));
  }
}

}  // namespace nightshift

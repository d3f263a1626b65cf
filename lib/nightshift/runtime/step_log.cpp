#include "nightshift/runtime/step_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

namespace nightshift {
namespace {

std::string errno_text(int err) {
  return std::generic_category().message(err);
}

}  // namespace

StepLog::StepLog(const std::vector<std::string>& secrets, WriteFunction write)
    : mask_(secrets), write_(std::move(write)) {}

StepLog::~StepLog() {
  close();
}

bool StepLog::open(const std::string& path, std::string& error) {
  // O_EXCL: an attempt's log is never another's, nor an older run's.
  fd_ = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0640);
  if (fd_ < 0) {
    int err = errno;
    error = "cannot open log '" + path + "': " + errno_text(err);
    if (err == EEXIST) error += " (a log is never overwritten)";
    return false;
  }
  path_ = path;
  return true;
}

void StepLog::write(std::string_view text) {
  if (fd_ < 0 || !error_.empty()) return;
  write_raw(mask_.feed(text));
}

void StepLog::close() {
  if (fd_ < 0) return;
  if (error_.empty()) write_raw(mask_.finish());
  // A file system may report a lost write only here (NFS, some FUSE ones).
  // (EINTR: Linux has closed it all the same.)
  if (::close(std::exchange(fd_, -1)) != 0 && errno != EINTR && error_.empty())
    error_ = "the log is incomplete: cannot write '" + path_ + "': " + errno_text(errno);
}

void StepLog::write_raw(std::string_view text) {
  while (!text.empty() && error_.empty()) {
    ssize_t written =
        write_ ? write_(fd_, text.data(), text.size()) : ::write(fd_, text.data(), text.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      error_ = "the log is incomplete: cannot write '" + path_ + "': " + errno_text(errno);
      return;
    }
    text.remove_prefix(static_cast<std::size_t>(written));
  }
}

}  // namespace nightshift

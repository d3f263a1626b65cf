#include "nightshift/runtime/owner_locks.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

namespace nightshift {
namespace {

struct flock byte_of(std::int64_t id, short type) {
  struct flock lock {};
  lock.l_type = type;
  lock.l_whence = SEEK_SET;
  lock.l_start = static_cast<off_t>(id);
  lock.l_len = 1;
  lock.l_pid = 0;  // required by OFD locks
  return lock;
}

[[noreturn]] void fail(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

}  // namespace

OwnerLocks::OwnerLocks(std::string path) : path_(std::move(path)) {}

OwnerLocks::~OwnerLocks() {
  if (fd_ >= 0) ::close(fd_);
}

void OwnerLocks::hold(std::int64_t id) {
  if (fd_ < 0) {
    fd_ = ::open(path_.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0640);
    if (fd_ < 0) fail("cannot open " + path_);
  }
  struct flock lock = byte_of(id, F_WRLCK);
  if (::fcntl(fd_, F_OFD_SETLK, &lock) != 0) fail("cannot lock owner " + std::to_string(id) +
                                                  " in " + path_);
}

std::vector<std::int64_t> OwnerLocks::live(const std::vector<std::int64_t>& ids) const {
  std::vector<std::int64_t> result;
  if (ids.empty()) return result;
  // A descriptor of its own: a lock held through fd_ is then seen as held (OFD
  // locks conflict across open file descriptions, even within one process).
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return result;  // no owner ever held a lock here
    fail("cannot open " + path_);
  }
  for (std::int64_t id : ids) {
    struct flock lock = byte_of(id, F_WRLCK);
    if (::fcntl(fd, F_OFD_GETLK, &lock) != 0) {
      const int error = errno;
      ::close(fd);
      errno = error;
      fail("cannot test owner " + std::to_string(id) + " in " + path_);
    }
    if (lock.l_type != F_UNLCK) result.push_back(id);
  }
  ::close(fd);
  return result;
}

}  // namespace nightshift

#include "nightshift/source_file.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace nightshift {
namespace {

// What a path is when it is not a regular file.
std::string not_regular(mode_t mode) {
  if (S_ISDIR(mode)) return "it is a directory";
  if (S_ISFIFO(mode)) return "it is a FIFO, not a regular file";
  if (S_ISCHR(mode)) return "it is a character device, not a regular file";
  if (S_ISBLK(mode)) return "it is a block device, not a regular file";
  if (S_ISSOCK(mode)) return "it is a socket, not a regular file";
  return "it is not a regular file";
}

std::string size_text(std::size_t bytes) {
  if (bytes % (1024 * 1024) == 0) return std::to_string(bytes / (1024 * 1024)) + " MiB";
  if (bytes % 1024 == 0) return std::to_string(bytes / 1024) + " KiB";
  return std::to_string(bytes) + " bytes";
}

// Why `path` could not be stat'ed or opened, from errno.
std::string open_failure(const std::string& path, int error) {
  switch (error) {
    case ELOOP:
      return "symlink loop (too many levels of symbolic links)";
    case EACCES:
    case EPERM:
      return "permission denied";
    case ENOENT:
    case ENOTDIR: {
      // The directory listing had the name: a symlink whose target is missing,
      // or a file removed since.
      struct stat link;
      if (::lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode)) {
        char target[4096];
        ssize_t n = ::readlink(path.c_str(), target, sizeof target);
        if (n > 0) return "dangling symlink (its target '" + std::string(target, static_cast<std::size_t>(n)) + "' is missing)";
        return "dangling symlink (its target is missing)";
      }
      return "no such file";
    }
    default:
      return std::strerror(error);
  }
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

SourceFileResult read_source_file(const std::string& path, std::string_view what,
                                  std::size_t max_bytes) {
  auto fault = [&](const std::string& cause) {
    return Diagnostic{SourcePos{path, 1, 1}, "cannot read " + std::string(what) + ": " + cause};
  };
  auto too_large = [&](std::string size) {
    return fault("it is larger than " + size_text(max_bytes) + size + ", the limit for a " +
                 std::string(what));
  };
  // stat before open: opening a device can have effects of its own (a tape
  // rewinds, a modem line rises), and a socket cannot be opened at all.
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return fault(open_failure(path, errno));
  if (!S_ISREG(st.st_mode)) return fault(not_regular(st.st_mode));
  if (static_cast<std::uintmax_t>(st.st_size) > max_bytes)
    return too_large(" (" + std::to_string(st.st_size) + " bytes)");

  // O_NONBLOCK: if the path became a FIFO since the stat, open returns at once
  // instead of waiting for a writer. The fstat of the opened file decides.
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) return fault(open_failure(path, errno));
  if (::fstat(fd.get(), &st) != 0) return fault(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return fault(not_regular(st.st_mode));

  // Read up to one byte past the limit: a file that grew since the fstat (or
  // whose size lies, as in /proc) is refused rather than read to its end.
  std::string text;
  text.resize(std::min<std::size_t>(static_cast<std::size_t>(st.st_size), max_bytes) + 1);
  std::size_t used = 0;
  for (;;) {
    if (used == text.size()) {
      if (used > max_bytes) return too_large("");
      text.resize(std::min(used * 2, max_bytes + 1));
    }
    ssize_t n = ::read(fd.get(), text.data() + used, text.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fault(std::strerror(errno));
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  if (used > max_bytes) return too_large("");
  text.resize(used);
  return text;
}

}  // namespace nightshift

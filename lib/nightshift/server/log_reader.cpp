#include "nightshift/server/log_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace nightshift {

LogReader::~LogReader() {
  if (fd_ >= 0) ::close(fd_);
}

bool LogReader::open() {
  if (fd_ < 0) fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  return fd_ >= 0;
}

std::uint64_t LogReader::size() const {
  struct stat st {};
  if (fd_ < 0 || ::fstat(fd_, &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.st_size);
}

std::string LogReader::read(std::uint64_t limit) {
  if (!open() || offset_ >= limit) return {};
  std::string piece(static_cast<std::size_t>(std::min<std::uint64_t>(kPieceSize, limit - offset_)),
                    '\0');
  ssize_t got = -1;
  do {
    got = ::pread(fd_, piece.data(), piece.size(), static_cast<off_t>(offset_));
  } while (got < 0 && errno == EINTR);
  piece.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
  offset_ += piece.size();
  return piece;
}

}  // namespace nightshift

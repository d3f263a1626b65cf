// LogReader: reads a step's log file piece by piece through one open
// descriptor, so what an HTTP answer holds of a log is one piece at a time,
// however long the log is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

namespace nightshift {

class LogReader {
 public:
  // Large enough to send quickly, small enough that many readers cost little.
  static constexpr std::size_t kPieceSize = 64 * 1024;
  static constexpr std::uint64_t kNoLimit = std::numeric_limits<std::uint64_t>::max();

  explicit LogReader(std::string path, std::uint64_t offset = 0)
      : path_(std::move(path)), offset_(offset) {}
  ~LogReader();
  LogReader(const LogReader&) = delete;
  LogReader& operator=(const LogReader&) = delete;

  // Opens the file if it is not open yet (a followed log may not exist yet).
  bool open();
  // The file's size now; 0 when it is not open.
  std::uint64_t size() const;
  // The next bytes up to kPieceSize, none at or past `limit`; "" at the end
  // (for now: a log that is being written grows).
  std::string read(std::uint64_t limit = kNoLimit);
  std::uint64_t offset() const { return offset_; }

 private:
  std::string path_;
  std::uint64_t offset_;
  int fd_ = -1;
};

}  // namespace nightshift

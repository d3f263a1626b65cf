// StepLog: the log file of one attempt, written by whoever runs it (the
// process runner's strand, an SQL worker thread). It masks the attempt's
// secret values as it writes (SecretMask), never overwrites a file (a log is
// created, never reused), and keeps the first write error: a log that could not
// be written whole does not fail the step, but the attempt's record says so.
#pragma once

#include "nightshift/secret_mask.h"

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace nightshift {

class StepLog {
 public:
  // write(2)'s signature: tests put a failing one in.
  using WriteFunction = std::function<ssize_t(int fd, const void* data, std::size_t size)>;

  StepLog() = default;
  explicit StepLog(const std::vector<std::string>& secrets, WriteFunction write = {});
  ~StepLog();
  StepLog(const StepLog&) = delete;
  StepLog& operator=(const StepLog&) = delete;

  // Creates the file, which must not exist yet; its folder must (the executor
  // makes a run's folder once, when the run starts). False with `error` set
  // when it cannot.
  bool open(const std::string& path, std::string& error);
  bool is_open() const { return fd_ >= 0; }

  // Writes `text` with the secrets masked; the end of it that could begin a
  // secret waits for the next write or close().
  void write(std::string_view text);

  // Writes what the mask still holds and closes the file. Idempotent; the
  // destructor does it too.
  void close();

  // Why the log is not whole (the first write or close error), empty when it is.
  const std::string& error() const { return error_; }

  // `text` with the same secrets masked, for messages about the attempt.
  std::string mask(std::string_view text) const { return mask_.mask(text); }

 private:
  void write_raw(std::string_view text);

  SecretMask mask_;
  WriteFunction write_;
  std::string path_;
  int fd_ = -1;
  std::string error_;
};

}  // namespace nightshift

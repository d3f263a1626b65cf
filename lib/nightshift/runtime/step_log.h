// StepLog: the log file of one attempt of an sql step, written by the worker
// thread that runs it. A write error does not fail the step: the first one is
// kept, for the attempt's result to mention.
#pragma once

#include <string>
#include <string_view>

namespace nightshift {

class StepLog {
 public:
  StepLog() = default;
  ~StepLog();
  StepLog(const StepLog&) = delete;
  StepLog& operator=(const StepLog&) = delete;

  // Creates the file's folder and the file (truncated). False with `error`
  // set when it cannot.
  bool open(const std::string& path, std::string& error);

  void write(std::string_view text);

  // The first write error, empty when none.
  const std::string& error() const { return error_; }

 private:
  int fd_ = -1;
  std::string error_;
};

}  // namespace nightshift

// LogFileStream: the body of a plain `GET .../log`: the log file as it is when
// the request comes, sent a piece at a time from disk (never held whole).
#pragma once

#include "nightshift/server/http_message.h"
#include "nightshift/server/log_reader.h"

#include <cstdint>
#include <memory>
#include <string>

namespace nightshift {

class LogFileStream : public BodyStream {
 public:
  // nullptr when the file cannot be opened (no log yet).
  static std::shared_ptr<LogFileStream> open(const std::string& path);

  explicit LogFileStream(const std::string& path) : reader_(path) {}

  // The bytes the stream sends: the file's size when it was opened.
  std::uint64_t size() const { return size_; }
  // The next piece, "" at the end.
  std::string read() { return reader_.read(size_); }

  // Delivers at once, on the caller's thread: in the daemon the server asks
  // for pieces on the API's pool (HttpServerOptions::offload), never on an io
  // thread.
  void next(Deliver deliver) override;
  void cancel() override {}

 private:
  LogReader reader_;
  std::uint64_t size_ = 0;
};

}  // namespace nightshift

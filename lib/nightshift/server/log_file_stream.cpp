#include "nightshift/server/log_file_stream.h"

#include <optional>
#include <utility>

namespace nightshift {

std::shared_ptr<LogFileStream> LogFileStream::open(const std::string& path) {
  auto stream = std::make_shared<LogFileStream>(path);
  if (!stream->reader_.open()) return nullptr;
  // What the step writes after this is for a later request (or follow=true).
  stream->size_ = stream->reader_.size();
  return stream;
}

void LogFileStream::next(Deliver deliver) {
  std::string piece = read();
  if (piece.empty()) return deliver(std::nullopt);
  deliver(std::move(piece));
}

}  // namespace nightshift

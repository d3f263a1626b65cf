#include "nightshift/diagnostic.h"

namespace nightshift {

std::string SourcePos::str() const {
  if (line <= 0) return file.str();  // a fault of the whole file or directory
  return file.str() + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string Diagnostic::str() const {
  return pos.str() + ": " + message;
}

}  // namespace nightshift

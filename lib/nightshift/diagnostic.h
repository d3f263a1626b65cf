// Diagnostic: one fault in a job or config file, printed as FILE:LINE:COL: message.
#pragma once

#include "nightshift/file_name.h"

#include <string>
#include <vector>

namespace nightshift {

// A position in a source file; line and column count from 1 (0 = unknown).
struct SourcePos {
  FileName file;  // shared by the file's positions: one path, not one a position
  int line = 0;
  int column = 0;

  std::string str() const;  // "FILE:LINE:COL", or "FILE" when the line is unknown
  bool operator==(const SourcePos&) const = default;
};

struct Diagnostic {
  SourcePos pos;
  std::string message;

  std::string str() const;  // "FILE:LINE:COL: message"
};

using Diagnostics = std::vector<Diagnostic>;

}  // namespace nightshift

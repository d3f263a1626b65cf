#include "nightshift/runtime/result_text.h"

namespace nightshift {

void ResultText::separate() {
  if (in_line_) out_ += '\t';
  in_line_ = true;
}

void ResultText::cell(std::string_view text) {
  separate();
  out_ += text;
}

void ResultText::null_cell() {
  cell("NULL");
}

void ResultText::binary_cell(std::string_view bytes) {
  // Raw bytes would make the log binary; hex reads like an SQL blob literal.
  constexpr std::string_view kHex = "0123456789ABCDEF";
  separate();
  out_ += "X'";
  for (char c : bytes) {
    auto byte = static_cast<unsigned char>(c);
    out_ += kHex[byte >> 4];
    out_ += kHex[byte & 0xF];
  }
  out_ += '\'';
}

void ResultText::end_line() {
  if (in_line_) out_ += '\n';
  in_line_ = false;
}

bool ResultText::add_row() {
  return rows_++ < kShownRows;
}

void ResultText::end_result() {
  out_ += "(" + std::to_string(rows_) + " rows)\n";
}

void ResultText::rows_affected(std::string& out, std::uint64_t count) {
  out += "-- " + std::to_string(count) + " rows affected\n";
}

}  // namespace nightshift

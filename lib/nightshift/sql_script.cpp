#include "nightshift/sql_script.h"

#include <algorithm>

namespace nightshift {
namespace {

// MySQL's white space (my_isspace in the default character set).
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// A control character; after "--" it makes a comment, as white space does.
bool is_control(char c) {
  auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7F;
}

// Reads the script once, left to right, remembering where the statement being
// read has its first and last code; a top-level ';' ends it.
class Splitter {
 public:
  explicit Splitter(std::string_view script) : s_(script) {}

  std::vector<SqlStatement> split() {
    while (i_ < s_.size()) step();
    emit();
    return std::move(statements_);
  }

 private:
  bool at(std::size_t k, char c) const { return k < s_.size() && s_[k] == c; }

  void step() {
    const char c = s_[i_];
    if (is_space(c)) {
      ++i_;
    } else if (c == '#' || starts_dash_comment()) {
      std::size_t eol = s_.find('\n', i_);
      i_ = eol == std::string_view::npos ? s_.size() : eol + 1;
    } else if (c == '/' && at(i_ + 1, '*')) {
      if (std::size_t opener = executable_opener(); opener > 0) {
        // Nested, it is code too, and the first "*/" still closes the outer one.
        code(i_ + opener);
        in_executable_ = true;
      } else {
        // MySQL does not nest comments: the first "*/" ends this one.
        std::size_t close = s_.find("*/", i_ + 2);
        i_ = close == std::string_view::npos ? s_.size() : close + 2;
      }
    } else if (in_executable_ && c == '*' && at(i_ + 1, '/')) {
      code(i_ + 2);
      in_executable_ = false;
    } else if (c == '\'' || c == '"' || c == '`') {
      code(end_of_quoted(c));
    } else if (c == ';' && !in_executable_) {
      emit();
      ++i_;
    } else {
      code(i_ + 1);
    }
  }

  // "--" starts a comment only before white space, a control character or the
  // end: "1--1" is one minus minus one.
  bool starts_dash_comment() const {
    if (s_[i_] != '-' || !at(i_ + 1, '-')) return false;
    return i_ + 2 >= s_.size() || is_space(s_[i_ + 2]) || is_control(s_[i_ + 2]);
  }

  // The length of "/*!" or "/*M!" at i_, 0 for any other comment.
  std::size_t executable_opener() const {
    if (at(i_ + 2, '!')) return 3;
    if (at(i_ + 2, 'M') && at(i_ + 3, '!')) return 4;
    return 0;
  }

  // Past the closing quote, or the end of the script for one left open. A
  // doubled quote closes and reopens, which splits the same; backslash escapes
  // hold in strings, not in `identifiers`.
  std::size_t end_of_quoted(char quote) const {
    for (std::size_t k = i_ + 1; k < s_.size(); ++k) {
      if (s_[k] == '\\' && quote != '`') {
        ++k;
      } else if (s_[k] == quote) {
        return k + 1;
      }
    }
    return s_.size();
  }

  // The code up to `end` (from i_) belongs to the current statement.
  void code(std::size_t end) {
    if (first_ == std::string_view::npos) first_ = i_;
    last_end_ = end;
    i_ = end;
  }

  void emit() {
    if (first_ == std::string_view::npos) return;
    std::string_view text = s_.substr(first_, last_end_ - first_);
    // Only something left open can end in white space.
    while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
    line_ += static_cast<int>(std::count(s_.begin() + static_cast<std::ptrdiff_t>(line_counted_),
                                         s_.begin() + static_cast<std::ptrdiff_t>(first_), '\n'));
    line_counted_ = first_;
    statements_.push_back({std::string(text), line_, first_});
    first_ = std::string_view::npos;
  }

  std::string_view s_;
  std::size_t i_ = 0;
  bool in_executable_ = false;
  std::size_t first_ = std::string_view::npos;  // the current statement's first code
  std::size_t last_end_ = 0;                    // past its last code so far
  int line_ = 1;                                // the line at line_counted_
  std::size_t line_counted_ = 0;
  std::vector<SqlStatement> statements_;
};

}  // namespace

std::vector<SqlStatement> split_sql_script(std::string_view script) {
  return Splitter(script).split();
}

}  // namespace nightshift

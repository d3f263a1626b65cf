// libFuzzer target for the MySQL script splitter. For any text: the statements
// are trimmed, non-empty slices of it, in order and apart, each with the line
// of its offset; what lies between them splits into nothing (it is only white
// space, comments and ';'); and a statement split again is itself, whole
// (but for a trailing "--").
#include "nightshift/sql_script.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto statements = nightshift::split_sql_script(text);
  std::size_t end = 0;  // past the previous statement
  for (const nightshift::SqlStatement& statement : statements) {
    check(!statement.text.empty());
    check(!is_space(statement.text.front()) && !is_space(statement.text.back()));
    check(statement.offset >= end && statement.offset <= text.size());
    check(text.substr(statement.offset, statement.text.size()) == statement.text);
    const auto newlines = std::count(text.begin(), text.begin() + statement.offset, '\n');
    check(statement.line == 1 + newlines);
    check(nightshift::split_sql_script(text.substr(end, statement.offset - end)).empty());
    const auto again = nightshift::split_sql_script(statement.text);
    if (statement.text.ends_with("--")) {
      // "x--;" ends in code, but sent without its ';' (as the mysql client
      // does too) the "--" starts a comment: at most that part goes.
      check(again.size() <= 1);
      check(again.empty() || statement.text.starts_with(again[0].text));
    } else {
      check(again.size() == 1 && again[0].text == statement.text && again[0].line == 1);
    }
    end = statement.offset + statement.text.size();
  }
  check(nightshift::split_sql_script(text.substr(end)).empty());
  return 0;
}

// SqlScript: a MySQL script cut into the statements a client sends one by one,
// the way the `mysql` command-line client cuts it at ';'. The server is then
// never asked to run several statements at once (CLIENT_MULTI_STATEMENTS stays
// off), and each statement can be logged and reported with its line.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace nightshift {

struct SqlStatement {
  std::string text;        // from its first token to its last, comments in between kept
  int line = 1;            // 1-based line of the script where `text` starts
  std::size_t offset = 0;  // where `text` starts in the script, in bytes
};

// Splits at every ';' outside '...' and "..." strings (backslash escapes and
// doubled quotes), `quoted` identifiers and comments: `-- ` (a space or control
// character after the dashes, as MySQL wants), `#` and `/* */`. An executable
// comment (`/*! */`, `/*M! */`) is code: it stays in the statement and a ';'
// inside it does not split. Comments before a statement's first token and after
// its last are left out; a statement of comments and white space alone is
// dropped. A string or comment left open runs to the end of the script, so the
// server, not the splitter, reports it. `DELIMITER` (a client command) is not
// understood.
std::vector<SqlStatement> split_sql_script(std::string_view script);

}  // namespace nightshift

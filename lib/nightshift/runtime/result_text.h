// ResultText: how an sql step's log shows what a statement returned, the same
// for every driver. A result set: its column names, its first kShownRows rows
// (tab-separated, NULL for NULL, binary values as X'hex'), then "(N rows)"
// counting them all. Any other statement: "-- N rows affected".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace nightshift {

class ResultText {
 public:
  // Enough to see what a statement did without copying a table into the log.
  static constexpr std::int64_t kShownRows = 20;

  // Appends to `out`, which must outlive this.
  explicit ResultText(std::string& out) : out_(out) {}

  // The header is one cell a column, then end_line(); so is each shown row.
  void cell(std::string_view text);
  void null_cell();
  void binary_cell(std::string_view bytes);
  void end_line();

  // Counts a row of the result; true when it is to be shown.
  bool add_row();
  // "(N rows)", after the last row.
  void end_result();

  static void rows_affected(std::string& out, std::uint64_t count);

 private:
  void separate();

  std::string& out_;
  bool in_line_ = false;
  std::int64_t rows_ = 0;
};

}  // namespace nightshift

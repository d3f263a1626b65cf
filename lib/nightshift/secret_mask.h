// SecretMask: replaces every occurrence of a step's secret values with "***"
// in the text the step writes, as CI systems mask secrets in job logs. It is
// fed the output as it comes, in pieces of any size: a value split across two
// pieces is masked all the same, because the end of a piece that could be the
// start of a secret is held back until the next piece (or the end) decides.
// Overlapping and nested values are masked as one range, so no part of any
// value shows. Values shorter than kMinLength are not masked (see README.md,
// "Secrets in step logs").
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace nightshift {

class SecretMask {
 public:
  // A value this short is no secret worth masking: "1" would turn every digit
  // 1 of a log into "***" and give the value away by where the stars are.
  static constexpr std::size_t kMinLength = 4;
  static constexpr std::string_view kMask = "***";

  SecretMask() = default;
  // The values to mask; empty and short ones are dropped, and each line of a
  // multi-line value is masked on its own too (a tool may print one line).
  explicit SecretMask(const std::vector<std::string>& values);

  // Whether a value is too short to be masked (the daemon warns about it).
  static bool too_short(std::string_view value) { return value.size() < kMinLength; }

  bool empty() const { return values_.empty(); }

  // The masked text that can be written now; what could still become a secret
  // stays held (at most the longest value's length minus one byte).
  std::string feed(std::string_view piece);
  // The end of the stream: the held bytes, masked.
  std::string finish();
  // How many bytes feed() holds back now.
  std::size_t held() const { return pending_.size(); }

  // A whole text at once (an error message), without touching the stream.
  std::string mask(std::string_view text) const;

 private:
  // Masks `text` from its start, `covered` leading bytes of which belong to a
  // mask already written. Appends to `out` and returns how many bytes of
  // `text` it consumed; `covered` becomes what the held rest still owes to a
  // written mask. At the end nothing is held.
  std::size_t scan(std::string_view text, std::size_t& covered, bool at_end,
                   std::string& out) const;
  std::size_t longest_match(std::string_view text, std::size_t at) const;
  bool could_start_secret(std::string_view text, std::size_t at) const;

  std::vector<std::string> values_;  // longest first
  std::array<bool, 256> first_byte_{};
  std::size_t longest_ = 0;

  std::string pending_;      // held back: may be the start of a secret
  std::size_t covered_ = 0;  // leading bytes of pending_ inside a mask already written
};

}  // namespace nightshift

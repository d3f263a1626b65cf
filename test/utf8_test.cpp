#include "nightshift/utf8.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

using namespace nightshift;

namespace {

constexpr std::size_t npos = std::string_view::npos;

// An independent statement of the rule: decode by the bit patterns alone, then
// demand the shortest form, no surrogate and nothing past U+10FFFF. True when
// the whole of `s` is one well-formed sequence.
bool reference_valid(const std::string& s) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  std::size_t length = (byte(0) & 0x80) == 0x00   ? 1
                       : (byte(0) & 0xE0) == 0xC0 ? 2
                       : (byte(0) & 0xF0) == 0xE0 ? 3
                       : (byte(0) & 0xF8) == 0xF0 ? 4
                                                  : 0;
  if (length == 0 || length != s.size()) return false;
  std::uint32_t cp = length == 1 ? byte(0) : byte(0) & (0x7F >> length);
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (byte(i) & 0x3F);
  }
  const std::uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < smallest[length]) return false;
  if (cp >= 0xD800 && cp <= 0xDFFF) return false;
  return cp <= 0x10FFFF;
}

// Bytes at the edges of the ranges UTF-8 cares about.
constexpr int kEdges[] = {0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF};

std::string bytes(std::initializer_list<int> list) {
  std::string s;
  for (int b : list) s += static_cast<char>(b);
  return s;
}

}  // namespace

TEST_CASE("utf8: well-formed text of every length passes") {
  CHECK(invalid_utf8_offset("") == npos);
  CHECK(invalid_utf8_offset("plain ascii, with\ttabs\n") == npos);
  CHECK(invalid_utf8_offset("caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x8C\x99") == npos);
  CHECK(invalid_utf8_offset(bytes({0xEF, 0xBF, 0xBF})) == npos);        // U+FFFF
  CHECK(invalid_utf8_offset(bytes({0xF4, 0x8F, 0xBF, 0xBF})) == npos);  // U+10FFFF
}

TEST_CASE("utf8: the offset is the first byte of the first bad sequence") {
  CHECK(invalid_utf8_offset(bytes({'a', 0x80, 'b'})) == 1);               // lone continuation
  CHECK(invalid_utf8_offset(bytes({'a', 0xC0, 0x80})) == 1);              // overlong NUL
  CHECK(invalid_utf8_offset(bytes({0xC3, 0xA9, 0xC1, 0xBF})) == 2);       // overlong, after é
  CHECK(invalid_utf8_offset(bytes({0xE0, 0x9F, 0xBF})) == 0);             // overlong 3-byte
  CHECK(invalid_utf8_offset(bytes({'x', 0xED, 0xA0, 0x80})) == 1);        // surrogate U+D800
  CHECK(invalid_utf8_offset(bytes({0xF0, 0x8F, 0xBF, 0xBF})) == 0);       // overlong 4-byte
  CHECK(invalid_utf8_offset(bytes({0xF4, 0x90, 0x80, 0x80})) == 0);       // U+110000
  CHECK(invalid_utf8_offset(bytes({'a', 'b', 0xF5, 0x80, 0x80, 0x80})) == 2);
  CHECK(invalid_utf8_offset(bytes({'a', 0xFF})) == 1);
  CHECK(invalid_utf8_offset(bytes({'a', 0xE6, 0x97})) == 1);              // cut short at the end
  CHECK(invalid_utf8_offset(bytes({0xE6, 'a', 0xAC})) == 0);              // cut short by ASCII
}

TEST_CASE("utf8: agrees with the decoding rule on every 1- to 3-byte string and the edges of 4-byte ones") {
  // Millions of cases: mismatches are counted (one REQUIRE each would be slow)
  // and the first is shown.
  std::size_t checked = 0, mismatches = 0;
  std::string first_mismatch;
  auto agree = [&](const std::string& s, bool want) {
    ++checked;
    if ((invalid_utf8_offset(s) == npos) == want) return;
    if (mismatches++ == 0)
      for (unsigned char c : s) first_mismatch += std::to_string(c) + " ";
  };
  for (int a = 0; a < 256; ++a) {
    std::string one = bytes({a});
    agree(one, reference_valid(one));
    for (int b = 0; b < 256; ++b) {
      std::string two = bytes({a, b});
      // Two bytes are valid as one sequence or as two.
      agree(two, reference_valid(two) || (reference_valid(one) && reference_valid(bytes({b}))));
      if (a < 0xE0) continue;  // a shorter lead cannot start a longer valid string
      // Leads E0..EF make one 3-byte sequence or nothing: every third byte.
      // Leads F0.. make one 4-byte sequence or nothing: the third and fourth
      // bytes from the edges of the ranges (a sanitizer build runs this too).
      if (a < 0xF0) {
        for (int c = 0; c < 256; ++c) {
          std::string three = bytes({a, b, c});
          agree(three, reference_valid(three));
        }
        continue;
      }
      for (int c : kEdges)
        for (int d : kEdges) {
          std::string four = bytes({a, b, c, d});
          agree(four, reference_valid(four));
        }
    }
  }
  INFO("first mismatch: " << first_mismatch);
  CHECK(mismatches == 0);
  CHECK(checked == 256u + 65536u + 16u * 65536u + 16u * 256u * 10u * 10u);
}

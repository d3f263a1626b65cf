#include "nightshift/utf8.h"

namespace nightshift {

std::size_t invalid_utf8_offset(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    const std::size_t length = lead >= 0xC2 && lead <= 0xDF   ? 2
                               : lead >= 0xE0 && lead <= 0xEF ? 3
                               : lead >= 0xF0 && lead <= 0xF4 ? 4
                                                              : 0;
    if (length == 0) return i;  // a continuation byte, C0/C1 (overlong) or F5..FF
    for (std::size_t k = 1; k < length; ++k) {
      if (i + k >= text.size()) return i;  // the sequence is cut short
      const auto next = static_cast<unsigned char>(text[i + k]);
      // The second byte's range is narrower after E0 (overlong), ED
      // (surrogates), F0 (overlong) and F4 (past U+10FFFF).
      unsigned char low = 0x80, high = 0xBF;
      if (k == 1 && lead == 0xE0) low = 0xA0;
      if (k == 1 && lead == 0xED) high = 0x9F;
      if (k == 1 && lead == 0xF0) low = 0x90;
      if (k == 1 && lead == 0xF4) high = 0x8F;
      if (next < low || next > high) return i;
    }
    i += length;
  }
  return std::string_view::npos;
}

}  // namespace nightshift

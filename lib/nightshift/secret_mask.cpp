#include "nightshift/secret_mask.h"

#include <algorithm>

namespace nightshift {

SecretMask::SecretMask(const std::vector<std::string>& values) {
  auto add = [this](std::string_view value) {
    if (too_short(value)) return;
    if (std::find(values_.begin(), values_.end(), value) == values_.end())
      values_.emplace_back(value);
  };
  for (const std::string& value : values) {
    add(value);
    if (value.find('\n') == std::string::npos) continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      std::size_t end = rest.find('\n');
      std::string_view line = rest.substr(0, end);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      add(line);
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end + 1);
    }
  }
  std::stable_sort(values_.begin(), values_.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const std::string& value : values_)
    first_byte_[static_cast<unsigned char>(value.front())] = true;
  if (!values_.empty()) longest_ = values_.front().size();
}

std::size_t SecretMask::longest_match(std::string_view text, std::size_t at) const {
  if (!first_byte_[static_cast<unsigned char>(text[at])]) return 0;
  std::string_view rest = text.substr(at);
  for (const std::string& value : values_)  // longest first: the first match is the longest
    if (rest.starts_with(value)) return value.size();
  return 0;
}

// True when the text from `at` to its end is a proper prefix of a value: the
// next piece may complete it (or a longer value than the one matching now).
bool SecretMask::could_start_secret(std::string_view text, std::size_t at) const {
  std::string_view rest = text.substr(at);
  if (rest.size() >= longest_ || !first_byte_[static_cast<unsigned char>(rest.front())])
    return false;
  for (const std::string& value : values_)
    if (value.size() > rest.size() && std::string_view(value).starts_with(rest)) return true;
  return false;
}

std::size_t SecretMask::scan(std::string_view text, std::size_t& covered, bool at_end,
                             std::string& out) const {
  std::size_t mask_end = covered;  // bytes before it are inside a mask already written
  std::size_t at = 0;
  for (; at < text.size(); ++at) {
    if (!at_end && could_start_secret(text, at)) break;
    if (std::size_t length = longest_match(text, at); length > 0) {
      if (at >= mask_end) out += kMask;  // a new range; one that overlaps extends the last
      mask_end = std::max(mask_end, at + length);
    }
    if (at >= mask_end) out += text[at];
  }
  covered = mask_end > at ? mask_end - at : 0;
  return at;
}

std::string SecretMask::feed(std::string_view piece) {
  if (values_.empty()) return std::string(piece);
  pending_.append(piece);
  std::string out;
  out.reserve(pending_.size());
  std::size_t consumed = scan(pending_, covered_, false, out);
  pending_.erase(0, consumed);
  return out;
}

std::string SecretMask::finish() {
  std::string out;
  scan(pending_, covered_, true, out);
  pending_.clear();
  covered_ = 0;
  return out;
}

std::string SecretMask::mask(std::string_view text) const {
  if (values_.empty()) return std::string(text);
  std::string out;
  std::size_t covered = 0;
  scan(text, covered, true, out);
  return out;
}

}  // namespace nightshift

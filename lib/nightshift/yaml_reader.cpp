#include "nightshift/yaml_reader.h"

#include "nightshift/edit_distance.h"
#include "nightshift/utf8.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <unordered_map>

namespace nightshift {
namespace {

std::string join_choices(const std::vector<std::string_view>& choices) {
  std::string out;
  for (std::size_t i = 0; i < choices.size(); ++i) {
    if (i > 0) out += i + 1 == choices.size() ? " or " : ", ";
    out += choices[i];
  }
  return out;
}

std::string hex_byte(char c) {
  char text[8];
  std::snprintf(text, sizeof text, "0x%02X", static_cast<unsigned char>(c));
  return text;
}

// A name for what a node is, for "must be a mapping ..., not X".
std::string_view kind_of(const YamlNode& node) {
  if (node.is_sequence()) return "a list";
  if (node.is_scalar()) return "a string";
  return "empty";
}

}  // namespace

YamlReader::YamlReader(std::string file, std::string text, Diagnostics& errors)
    : file_(std::move(file)),
      text_(std::move(text)),
      errors_(errors),
      errors_at_start_(errors.size()) {}

const std::vector<std::string_view>& YamlReader::lines() const {
  if (!lines_.empty() || text_.empty()) return lines_;
  std::string_view rest = text_;
  while (!rest.empty()) {
    std::size_t end = rest.find('\n');
    lines_.push_back(rest.substr(0, end));
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + 1);
  }
  return lines_;
}

SourcePos YamlReader::pos_of_offset(std::size_t offset) const {
  std::string_view before = std::string_view(text_).substr(0, offset);
  std::size_t line_start = before.rfind('\n');
  line_start = line_start == std::string_view::npos ? 0 : line_start + 1;
  auto line = std::count(before.begin(), before.end(), '\n');
  // Columns count bytes, as yaml-cpp's marks do.
  return SourcePos{file_, static_cast<int>(line) + 1, static_cast<int>(offset - line_start) + 1};
}

bool YamlReader::is_blank() const {
  return text_.find_first_not_of(" \t\r\n") == std::string::npos;
}

// A job's strings reach argv, environments, logs and JSON answers: text that is
// not UTF-8, or that a NUL would cut short there, is refused here, at its place.
bool YamlReader::check_text() {
  if (text_.starts_with("\xFF\xFE") || text_.starts_with("\xFE\xFF")) {
    error(SourcePos{file_, 1, 1}, "the file is UTF-16 or UTF-32 (it starts with a byte order "
                                  "mark): it must be UTF-8");
    return false;
  }
  if (std::size_t nul = text_.find('\0'); nul != std::string::npos) {
    // Reported only when no invalid UTF-8 comes first: the first bad byte wins.
    if (invalid_utf8_offset(std::string_view(text_).substr(0, nul)) == std::string_view::npos) {
      error(pos_of_offset(nul), "NUL byte: the file must be UTF-8 text");
      return false;
    }
  }
  if (std::size_t bad = invalid_utf8_offset(text_); bad != std::string_view::npos) {
    error(pos_of_offset(bad),
          "invalid UTF-8 (byte " + hex_byte(text_[bad]) + "): the file must be UTF-8 text");
    return false;
  }
  return true;
}

// One pass over the parser's events builds the tree and makes the checks
// (never yaml-cpp's LoadAll, which in 0.7 loops for ever on some broken flow
// collections, piling up empty documents until memory runs out: job_fuzz
// found one, in test/job_loader_test.cpp).
std::optional<YamlNode> YamlReader::parse() {
  if (!check_text()) return std::nullopt;
  if (auto fault = tree_.read(text_)) {
    error(SourcePos{file_, fault->mark.line + 1, fault->mark.column + 1},
          std::move(fault->message));
    return std::nullopt;
  }
  return tree_.root();
}

SourcePos YamlReader::pos(const YamlNode& node) const {
  YamlMark mark = node.mark();
  return SourcePos{file_, mark.line + 1, mark.column + 1};
}

SourcePos YamlReader::pos_in_scalar(const YamlNode& node, std::size_t offset) const {
  SourcePos start = pos(node);
  const std::vector<std::string_view>& text_lines = lines();
  std::size_t line_index = static_cast<std::size_t>(start.line - 1);
  if (line_index >= text_lines.size()) return start;
  char first = text_lines[line_index].size() > static_cast<std::size_t>(start.column - 1)
                   ? text_lines[line_index][start.column - 1]
                   : '\0';
  if (first != '|' && first != '>') {
    // Flow scalars: plain or quoted on one line; a quote shifts the text by one.
    // Multi-line flow scalars fold lines, so past the first line keep the start.
    std::string_view value = node.scalar();
    std::size_t newline = value.find('\n');
    if (newline != std::string_view::npos && offset > newline) return start;
    int shift = (first == '"' || first == '\'') ? 1 : 0;
    start.column += shift + static_cast<int>(offset);
    return start;
  }
  // Block scalars: content starts on the next line at the block's indentation,
  // and (for |) every value line is one file line.
  std::string_view value = node.scalar();
  std::size_t value_line = 0;
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < offset && i < value.size(); ++i) {
    if (value[i] == '\n') {
      ++value_line;
      line_start = i + 1;
    }
  }
  std::size_t file_line = line_index + 1;
  while (file_line < text_lines.size() &&
         text_lines[file_line].find_first_not_of(' ') == std::string_view::npos)
    ++file_line;
  if (file_line >= text_lines.size()) return start;
  std::size_t indent = text_lines[file_line].find_first_not_of(' ');
  return SourcePos{file_, static_cast<int>(file_line + value_line) + 1,
                   static_cast<int>(indent + (offset - line_start)) + 1};
}

void YamlReader::error(const SourcePos& pos, std::string message) {
  errors_.push_back(Diagnostic{pos, std::move(message)});
}

bool YamlReader::check_map(const YamlNode& node, std::string_view what,
                           const std::vector<std::string_view>& known_keys) {
  if (!node.is_map()) {
    error(node, std::string(what) + " must be a mapping of keys to values, not " +
                    std::string(kind_of(node)));
    return false;
  }
  // Names point into the tree: a 14,000-step map costs no copies here.
  std::unordered_map<std::string_view, YamlMark> seen;
  seen.reserve(node.size());
  for (const YamlEntry& entry : node.entries()) {
    const YamlNode& key = entry.key;
    if (!key.is_scalar()) {
      error(key, "keys of " + std::string(what) + " must be plain names");
      continue;
    }
    std::string_view name = key.scalar();
    if (auto [it, inserted] = seen.emplace(name, key.mark()); !inserted) {
      error(key, "duplicate key '" + std::string(name) + "' (first at " +
                     std::to_string(it->second.line + 1) + ":" +
                     std::to_string(it->second.column + 1) + ")");
      continue;
    }
    if (known_keys.empty()) continue;  // free-form maps (env, steps, pools) check names elsewhere
    bool known = false;
    for (std::string_view k : known_keys) known = known || k == name;
    if (!known)
      error(key,
            "unknown key '" + std::string(name) + "' in " + std::string(what) + did_you_mean(name, known_keys));
  }
  return true;
}

std::optional<std::string> YamlReader::string(const YamlNode& node, std::string_view key) {
  if (!node.is_scalar()) {
    error(node, "'" + std::string(key) + "' must be a string");
    return std::nullopt;
  }
  return std::string(node.scalar());
}

std::optional<int> YamlReader::integer(const YamlNode& node, std::string_view key, int min,
                                       int max) {
  std::string_view text = node.scalar();  // "" when not a scalar
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (!node.is_scalar() || text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      value < min || value > max) {
    error(node, "'" + std::string(key) + "' must be a whole number from " + std::to_string(min) +
                    " to " + std::to_string(max));
    return std::nullopt;
  }
  return value;
}

std::optional<Duration> YamlReader::duration(const YamlNode& node, std::string_view key) {
  auto text = string(node, key);
  if (!text) return std::nullopt;
  auto parsed = parse_duration(*text);
  if (!parsed) {
    error(pos_in_scalar(node, parsed.error().offset),
          "bad duration for '" + std::string(key) + "': " + parsed.error().message);
    return std::nullopt;
  }
  return std::move(*parsed);
}

std::optional<Template> YamlReader::template_text(const YamlNode& node, std::string_view key) {
  auto text = string(node, key);
  if (!text) return std::nullopt;
  auto parsed = Template::parse(*text);
  if (!parsed) {
    error(pos_in_scalar(node, parsed.error().offset), parsed.error().message);
    return std::nullopt;
  }
  return std::move(*parsed);
}

std::optional<std::string> YamlReader::choice(const YamlNode& node, std::string_view key,
                                              const std::vector<std::string_view>& choices) {
  auto text = string(node, key);
  if (!text) return std::nullopt;
  for (std::string_view c : choices)
    if (c == *text) return text;
  error(node, "bad " + std::string(key) + " '" + *text + "': expected " + join_choices(choices));
  return std::nullopt;
}

}  // namespace nightshift

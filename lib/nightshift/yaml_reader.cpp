#include "nightshift/yaml_reader.h"

#include "nightshift/edit_distance.h"
#include "nightshift/utf8.h"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <sstream>

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
std::string_view kind_of(const YAML::Node& node) {
  if (node.IsSequence()) return "a list";
  if (node.IsScalar()) return "a string";
  return "empty";
}

// Thrown from the event scan to stop at the start of a second document.
struct SecondDocument {
  YAML::Mark mark;
};

// Walks the parser's events once (aliases are not expanded, so this is linear
// in the text): counts documents and finds the first scalar holding a NUL or
// bytes that are not UTF-8, which escapes in quoted scalars can produce.
class DocumentScan : public YAML::EventHandler {
 public:
  int documents = 0;
  std::optional<YAML::Mark> bad_scalar;

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents > 1) throw SecondDocument{mark};
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string& value) override {
    if (bad_scalar) return;
    if (value.find('\0') != std::string::npos ||
        invalid_utf8_offset(value) != std::string_view::npos)
      bad_scalar = mark;
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

}  // namespace

YamlReader::YamlReader(std::string file, std::string text, Diagnostics& errors)
    : file_(std::move(file)),
      text_(std::move(text)),
      errors_(errors),
      errors_at_start_(errors.size()) {
  std::string_view rest = text_;
  while (!rest.empty()) {
    std::size_t end = rest.find('\n');
    lines_.push_back(rest.substr(0, end));
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + 1);
  }
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

// Two passes, on purpose: the event scan stops at a second document (it
// throws), and only then are the nodes built. yaml-cpp 0.7's LoadAll, which
// would build them in one pass, loops for ever on some broken flow
// collections, piling up empty documents until memory runs out (job_fuzz found
// one: test/job_loader_test.cpp).
std::optional<YAML::Node> YamlReader::parse() {
  if (!check_text()) return std::nullopt;
  try {
    DocumentScan scan;
    std::istringstream in(text_);
    YAML::Parser parser(in);
    try {
      while (parser.HandleNextDocument(scan)) {
      }
    } catch (const SecondDocument& second) {
      error(SourcePos{file_, second.mark.line + 1, second.mark.column + 1},
            "a second YAML document starts here: a file holds exactly one");
      return std::nullopt;
    }
    if (scan.bad_scalar) {
      error(SourcePos{file_, scan.bad_scalar->line + 1, scan.bad_scalar->column + 1},
            "a NUL character (from an escape such as \"\\0\") or invalid UTF-8 in a value");
      return std::nullopt;
    }
    has_document_ = scan.documents == 1;
    if (!has_document_) return YAML::Node();
    return YAML::Load(text_);
  } catch (const YAML::ParserException& e) {
    error(SourcePos{file_, e.mark.line + 1, e.mark.column + 1}, "YAML syntax: " + e.msg);
  } catch (const YAML::Exception& e) {
    error(SourcePos{file_, e.mark.line + 1, e.mark.column + 1}, "YAML: " + e.msg);
  }
  return std::nullopt;
}

SourcePos YamlReader::pos(const YAML::Node& node) const {
  YAML::Mark mark = node.Mark();
  if (mark.is_null()) return SourcePos{file_, 1, 1};
  return SourcePos{file_, mark.line + 1, mark.column + 1};
}

SourcePos YamlReader::pos_in_scalar(const YAML::Node& node, std::size_t offset) const {
  SourcePos start = pos(node);
  std::size_t line_index = static_cast<std::size_t>(start.line - 1);
  if (line_index >= lines_.size()) return start;
  char first = lines_[line_index].size() > static_cast<std::size_t>(start.column - 1)
                   ? lines_[line_index][start.column - 1]
                   : '\0';
  if (first != '|' && first != '>') {
    // Flow scalars: plain or quoted on one line; a quote shifts the text by one.
    // Multi-line flow scalars fold lines, so past the first line keep the start.
    std::string_view value = node.Scalar();
    std::size_t newline = value.find('\n');
    if (newline != std::string_view::npos && offset > newline) return start;
    int shift = (first == '"' || first == '\'') ? 1 : 0;
    start.column += shift + static_cast<int>(offset);
    return start;
  }
  // Block scalars: content starts on the next line at the block's indentation,
  // and (for |) every value line is one file line.
  std::string_view value = node.Scalar();
  std::size_t value_line = 0;
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < offset && i < value.size(); ++i) {
    if (value[i] == '\n') {
      ++value_line;
      line_start = i + 1;
    }
  }
  std::size_t file_line = line_index + 1;
  while (file_line < lines_.size() &&
         lines_[file_line].find_first_not_of(' ') == std::string_view::npos)
    ++file_line;
  if (file_line >= lines_.size()) return start;
  std::size_t indent = lines_[file_line].find_first_not_of(' ');
  return SourcePos{file_, static_cast<int>(file_line + value_line) + 1,
                   static_cast<int>(indent + (offset - line_start)) + 1};
}

void YamlReader::error(const SourcePos& pos, std::string message) {
  errors_.push_back(Diagnostic{pos, std::move(message)});
}

bool YamlReader::check_map(const YAML::Node& node, std::string_view what,
                           const std::vector<std::string_view>& known_keys) {
  if (!node.IsMap()) {
    error(node, std::string(what) + " must be a mapping of keys to values, not " +
                    std::string(kind_of(node)));
    return false;
  }
  std::map<std::string, SourcePos, std::less<>> seen;
  for (const auto& entry : node) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar()) {
      error(key, "keys of " + std::string(what) + " must be plain names");
      continue;
    }
    const std::string& name = key.Scalar();
    if (auto [it, inserted] = seen.emplace(name, pos(key)); !inserted) {
      error(key, "duplicate key '" + name + "' (first at " + std::to_string(it->second.line) + ":" +
                     std::to_string(it->second.column) + ")");
      continue;
    }
    if (known_keys.empty()) continue;  // free-form maps (env, steps, pools) check names elsewhere
    bool known = false;
    for (std::string_view k : known_keys) known = known || k == name;
    if (!known)
      error(key,
            "unknown key '" + name + "' in " + std::string(what) + did_you_mean(name, known_keys));
  }
  return true;
}

std::optional<std::string> YamlReader::string(const YAML::Node& node, std::string_view key) {
  if (!node.IsScalar()) {
    error(node, "'" + std::string(key) + "' must be a string");
    return std::nullopt;
  }
  return node.Scalar();
}

std::optional<int> YamlReader::integer(const YAML::Node& node, std::string_view key, int min,
                                       int max) {
  const std::string& text = node.IsScalar() ? node.Scalar() : std::string();
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (!node.IsScalar() || text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      value < min || value > max) {
    error(node, "'" + std::string(key) + "' must be a whole number from " + std::to_string(min) +
                    " to " + std::to_string(max));
    return std::nullopt;
  }
  return value;
}

std::optional<Duration> YamlReader::duration(const YAML::Node& node, std::string_view key) {
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

std::optional<Template> YamlReader::template_text(const YAML::Node& node, std::string_view key) {
  auto text = string(node, key);
  if (!text) return std::nullopt;
  auto parsed = Template::parse(*text);
  if (!parsed) {
    error(pos_in_scalar(node, parsed.error().offset), parsed.error().message);
    return std::nullopt;
  }
  return std::move(*parsed);
}

std::optional<std::string> YamlReader::choice(const YAML::Node& node, std::string_view key,
                                              const std::vector<std::string_view>& choices) {
  auto text = string(node, key);
  if (!text) return std::nullopt;
  for (std::string_view c : choices)
    if (c == *text) return text;
  error(node, "bad " + std::string(key) + " '" + *text + "': expected " + join_choices(choices));
  return std::nullopt;
}

}  // namespace nightshift

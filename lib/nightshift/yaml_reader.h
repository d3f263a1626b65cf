// YamlReader: reads one YAML file with yaml-cpp and checks its shape, turning
// every fault into a Diagnostic at FILE:LINE:COL. Internal to the loaders: the
// only header that includes yaml-cpp, and only the loaders' sources include it.
#pragma once

#include "nightshift/diagnostic.h"
#include "nightshift/duration.h"
#include "nightshift/template.h"

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nightshift {

class YamlReader {
 public:
  YamlReader(std::string file, std::string text, Diagnostics& errors);

  // The document's root, or nullopt after reporting the fault. Before YAML
  // sees it, the text must be UTF-8 without NUL bytes (the first bad byte is
  // reported at its line and column); then it must hold at most one document
  // (a second one is reported where it starts, not dropped) and no value may
  // hold a NUL (which an escape such as "\0" can make). No document at all
  // (an empty file, or only comments) gives a null root: see has_document().
  std::optional<YAML::Node> parse();

  // After parse(): whether the text held a document, and whether it held
  // anything but white space (comments count), for precise messages.
  bool has_document() const { return has_document_; }
  bool is_blank() const;

  const FileName& file() const { return file_; }
  SourcePos pos(const YAML::Node& node) const;
  // The position of the byte at `offset` inside a scalar's value, following
  // quotes and block scalars (| and >) back to the file.
  SourcePos pos_in_scalar(const YAML::Node& node, std::size_t offset) const;

  void error(const SourcePos& pos, std::string message);
  void error(const YAML::Node& node, std::string message) { error(pos(node), std::move(message)); }
  std::size_t error_count() const { return errors_.size() - errors_at_start_; }

  // Checks `node` is a mapping (else says what it is: a list, a string, empty);
  // reports unknown keys (suggesting the nearest
  // known one) and duplicate keys. `what` names the mapping in messages.
  bool check_map(const YAML::Node& node, std::string_view what,
                 const std::vector<std::string_view>& known_keys);

  // Typed scalars; each reports its fault and returns nullopt.
  std::optional<std::string> string(const YAML::Node& node, std::string_view key);
  std::optional<int> integer(const YAML::Node& node, std::string_view key, int min, int max);
  std::optional<Duration> duration(const YAML::Node& node, std::string_view key);
  std::optional<Template> template_text(const YAML::Node& node, std::string_view key);
  // One of `choices`, else "bad KEY 'X': expected a, b or c".
  std::optional<std::string> choice(const YAML::Node& node, std::string_view key,
                                    const std::vector<std::string_view>& choices);

 private:
  FileName file_;  // one shared path for every SourcePos of the file
  std::string text_;
  std::vector<std::string_view> lines_;
  Diagnostics& errors_;
  std::size_t errors_at_start_;
  bool has_document_ = false;

  SourcePos pos_of_offset(std::size_t offset) const;
  bool check_text();
};

}  // namespace nightshift

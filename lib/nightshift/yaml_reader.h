// YamlReader: reads one YAML file into a YamlTree and checks its shape, turning
// every fault into a Diagnostic at FILE:LINE:COL. Internal to the loaders.
#pragma once

#include "nightshift/diagnostic.h"
#include "nightshift/duration.h"
#include "nightshift/template.h"
#include "nightshift/yaml_tree.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nightshift {

class YamlReader {
 public:
  YamlReader(std::string file, std::string text, Diagnostics& errors);
  YamlReader(const YamlReader&) = delete;  // its nodes point into its tree
  YamlReader& operator=(const YamlReader&) = delete;

  // The document's root, or nullopt after reporting the fault. Before YAML
  // sees it, the text must be UTF-8 without NUL bytes (the first bad byte is
  // reported at its line and column); then it must hold at most one document
  // (a second one is reported where it starts, not dropped) and no value may
  // hold a NUL (which an escape such as "\0" can make). No document at all
  // (an empty file, or only comments) gives a null root: see has_document().
  std::optional<YamlNode> parse();

  // After parse(): whether the text held a document, and whether it held
  // anything but white space (comments count), for precise messages.
  bool has_document() const { return tree_.has_document(); }
  bool is_blank() const;

  const FileName& file() const { return file_; }
  SourcePos pos(const YamlNode& node) const;
  // The position of the byte at `offset` inside a scalar's value, following
  // quotes and block scalars (| and >) back to the file.
  SourcePos pos_in_scalar(const YamlNode& node, std::size_t offset) const;

  void error(const SourcePos& pos, std::string message);
  void error(const YamlNode& node, std::string message) { error(pos(node), std::move(message)); }
  std::size_t error_count() const { return errors_.size() - errors_at_start_; }

  // Checks `node` is a mapping (else says what it is: a list, a string, empty);
  // reports unknown keys (suggesting the nearest
  // known one) and duplicate keys. `what` names the mapping in messages.
  bool check_map(const YamlNode& node, std::string_view what,
                 const std::vector<std::string_view>& known_keys);

  // Typed scalars; each reports its fault and returns nullopt.
  std::optional<std::string> string(const YamlNode& node, std::string_view key);
  std::optional<int> integer(const YamlNode& node, std::string_view key, int min, int max);
  std::optional<Duration> duration(const YamlNode& node, std::string_view key);
  std::optional<Template> template_text(const YamlNode& node, std::string_view key);
  // One of `choices`, else "bad KEY 'X': expected a, b or c".
  std::optional<std::string> choice(const YamlNode& node, std::string_view key,
                                    const std::vector<std::string_view>& choices);

 private:
  FileName file_;  // one shared path for every SourcePos of the file
  std::string text_;
  // The text's lines, made by the first lines() call: only a fault inside a
  // scalar needs them, and a 100,000-step file has ~330,000 (16 bytes each).
  mutable std::vector<std::string_view> lines_;
  Diagnostics& errors_;
  std::size_t errors_at_start_;
  YamlTree tree_;  // parse()'s nodes point into it

  const std::vector<std::string_view>& lines() const;
  SourcePos pos_of_offset(std::size_t offset) const;
  bool check_text();
};

}  // namespace nightshift

// YamlTree: the one document of a YAML text as a compact tree, built in one
// pass over yaml-cpp's parser events. It replaces yaml-cpp's node tree in the
// loaders: a YAML::Node costs ~2.8 KB a step of a job file (nodes, their
// memory holders and shared pointers), this tree ~20 bytes a node plus the
// values' bytes; and it is never built by YAML::Load/LoadAll, which in
// yaml-cpp 0.7 loop for ever on some broken flow collections.
//
// Nodes sit in one vector and refer to each other by index: a scalar's value
// is a range of one arena string, a list's items and a map's keys and values
// a range of one vector of indices. An alias is the index of its anchored
// node (the same node, as yaml-cpp's Load gives), never a copy, so aliases
// cannot blow the tree up. Internal to the loaders, through YamlReader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nightshift {

class YamlTree;

// A place in the text, from 0, as yaml-cpp's marks count (columns are bytes).
struct YamlMark {
  int line = 0;
  int column = 0;
};

struct YamlEntry;

// A light view of one node: the tree and an index. A default one is a missing
// key (false); nodes stay valid as long as their tree.
class YamlNode {
 public:
  template <int Stride>
  class Range;
  using Items = Range<1>;    // YamlNode a list item
  using Entries = Range<2>;  // YamlEntry a map entry (key, value)

  YamlNode() = default;
  YamlNode(const YamlTree* tree, std::uint32_t index) : tree_(tree), index_(index) {}

  explicit operator bool() const { return tree_ != nullptr; }
  // `~`, `null` and an empty value are null, as in yaml-cpp; a quoted "~" is a scalar.
  bool is_null() const;
  bool is_scalar() const;
  bool is_sequence() const;
  bool is_map() const;

  std::string_view scalar() const;  // the value of a scalar, else ""
  std::size_t size() const;         // the items of a list, the entries of a map, else 0
  YamlMark mark() const;

  // The value of the first entry whose key is the scalar `key`, or a missing node.
  YamlNode operator[](std::string_view key) const;
  Items items() const;      // a list's items, in file order
  Entries entries() const;  // a map's entries, in file order, duplicates included

 private:
  const YamlTree* tree_ = nullptr;
  std::uint32_t index_ = 0;
};

struct YamlEntry {
  YamlNode key;
  YamlNode value;
};

class YamlTree {
 public:
  enum class Kind : std::uint8_t { null, scalar, sequence, map };

  // Why a text was refused, at its place; `message` is for the user.
  struct Fault {
    YamlMark mark;
    std::string message;
  };

  // Reads `text`: at most one document (a second one is a fault where it
  // starts), and no scalar holding a NUL or invalid UTF-8 (escapes in quoted
  // scalars can make them); YAML faults say what yaml-cpp said. No document
  // at all gives a null root and has_document() false.
  std::optional<Fault> read(const std::string& text);

  bool has_document() const { return has_document_; }
  YamlNode root() const { return YamlNode(this, root_); }

 private:
  friend class YamlNode;
  friend class YamlTreeBuilder;

  struct Node {
    Kind kind;
    int line;
    int column;
    // A scalar: its value in text_. A list or map: its children in kids_
    // (a map's as key, value, key, value...).
    std::uint32_t begin = 0;
    std::uint32_t size = 0;
  };

  std::vector<Node> nodes_;
  std::vector<std::uint32_t> kids_;
  std::string text_;
  std::uint32_t root_ = 0;
  bool has_document_ = false;
};

// Range-for over a list's items (stride 1) or a map's entries (stride 2: key,
// value), which are runs of indices in the tree's child vector.
template <int Stride>
class YamlNode::Range {
 public:
  class iterator {
   public:
    iterator(const YamlTree* tree, const std::uint32_t* at) : tree_(tree), at_(at) {}
    auto operator*() const {
      if constexpr (Stride == 1)
        return YamlNode(tree_, *at_);
      else
        return YamlEntry{YamlNode(tree_, at_[0]), YamlNode(tree_, at_[1])};
    }
    iterator& operator++() {
      at_ += Stride;
      return *this;
    }
    bool operator!=(const iterator& other) const { return at_ != other.at_; }

   private:
    const YamlTree* tree_;
    const std::uint32_t* at_;
  };
  Range(const YamlTree* tree, const std::uint32_t* begin, const std::uint32_t* end)
      : tree_(tree), begin_(begin), end_(end) {}
  iterator begin() const { return iterator(tree_, begin_); }
  iterator end() const { return iterator(tree_, end_); }

 private:
  const YamlTree* tree_;
  const std::uint32_t* begin_;
  const std::uint32_t* end_;
};

}  // namespace nightshift

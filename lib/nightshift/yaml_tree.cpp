#include "nightshift/yaml_tree.h"

#include "nightshift/utf8.h"

#include <yaml-cpp/yaml.h>
#include <yaml-cpp/eventhandler.h>

#include <istream>
#include <streambuf>

namespace nightshift {

namespace {

// Thrown from the event handler to stop at the start of a second document.
struct SecondDocument {
  YAML::Mark mark;
};

// A stream buffer reading a string in place: an istringstream would copy the
// text (up to 1 MiB) and constructing one (its locale) cost as much as a tenth
// of loading a small job file, so each thread keeps one stream over this.
// Nothing is ever written through it (putback only moves back).
class TextBuffer : public std::streambuf {
 public:
  void view(std::string_view text) {
    char* begin = const_cast<char*>(text.data());
    setg(begin, begin, begin + text.size());
  }
};

}  // namespace

// Builds the tree from the parser's events, as yaml-cpp's NodeBuilder builds
// its nodes (the same null, scalar, list and map for the same events, at the
// same marks), and checks each scalar's value on the way.
class YamlTreeBuilder : public YAML::EventHandler {
 public:
  explicit YamlTreeBuilder(YamlTree& tree) : tree_(tree) {}

  int documents = 0;
  std::optional<YAML::Mark> bad_scalar;

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents > 1) throw SecondDocument{mark};
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    add(YamlTree::Kind::null, mark, anchor);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    // The parser refuses an unknown anchor before it gets here.
    if (anchor < anchors_.size()) {
      attach(anchors_[anchor]);
    } else {
      add(YamlTree::Kind::null, mark, YAML::NullAnchor);
    }
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string& value) override {
    if (!bad_scalar && (value.find('\0') != std::string::npos ||
                        invalid_utf8_offset(value) != std::string_view::npos))
      bad_scalar = mark;
    std::uint32_t index = add(YamlTree::Kind::scalar, mark, anchor);
    tree_.nodes_[index].begin = static_cast<std::uint32_t>(tree_.text_.size());
    tree_.nodes_[index].size = static_cast<std::uint32_t>(value.size());
    tree_.text_ += value;
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(add(YamlTree::Kind::sequence, mark, anchor));
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(add(YamlTree::Kind::map, mark, anchor));
  }
  void OnMapEnd() override { close(); }

  // The document's root: the first node attached outside any collection.
  std::optional<std::uint32_t> root() const {
    if (pending_.empty()) return std::nullopt;
    return pending_.front();
  }

 private:
  struct Open {
    std::uint32_t node;
    std::size_t first_child;  // in pending_
  };

  std::uint32_t add(YamlTree::Kind kind, const YAML::Mark& mark, YAML::anchor_t anchor) {
    auto index = static_cast<std::uint32_t>(tree_.nodes_.size());
    tree_.nodes_.push_back(YamlTree::Node{kind, mark.line, mark.column});
    if (anchor != YAML::NullAnchor) {
      if (anchors_.size() <= anchor) anchors_.resize(anchor + 1);
      anchors_[anchor] = index;
    }
    attach(index);
    return index;
  }
  // The children of the open collections wait in one stack, each collection's
  // above its parent's, and move to the tree's kids_ when it closes.
  void attach(std::uint32_t index) { pending_.push_back(index); }
  void open(std::uint32_t index) { open_.push_back(Open{index, pending_.size()}); }
  void close() {
    Open done = open_.back();
    open_.pop_back();
    YamlTree::Node& node = tree_.nodes_[done.node];
    node.begin = static_cast<std::uint32_t>(tree_.kids_.size());
    node.size = static_cast<std::uint32_t>(pending_.size() - done.first_child);
    tree_.kids_.insert(tree_.kids_.end(),
                       pending_.begin() + static_cast<std::ptrdiff_t>(done.first_child),
                       pending_.end());
    pending_.resize(done.first_child);
  }

  YamlTree& tree_;
  std::vector<std::uint32_t> anchors_;  // by the parser's anchor id
  std::vector<std::uint32_t> pending_;
  std::vector<Open> open_;
};

std::optional<YamlTree::Fault> YamlTree::read(const std::string& text) {
  *this = YamlTree();
  // Scalars' values are at most about the text's size (escapes only shrink
  // them; aliases are not copied): one allocation for them all.
  text_.reserve(text.size());
  auto fault = [](const YAML::Mark& mark, std::string message) {
    return Fault{YamlMark{mark.line, mark.column}, std::move(message)};
  };
  try {
    YamlTreeBuilder builder(*this);
    thread_local TextBuffer buffer;
    thread_local std::istream in(&buffer);
    buffer.view(text);
    struct Detach {  // the text is the caller's: no view of it outlives the call
      ~Detach() { buffer.view({}); }
    } detach;
    in.clear();
    YAML::Parser parser(in);
    try {
      while (parser.HandleNextDocument(builder)) {
      }
    } catch (const SecondDocument& second) {
      return fault(second.mark, "a second YAML document starts here: a file holds exactly one");
    }
    if (builder.bad_scalar)
      return fault(*builder.bad_scalar,
                   "a NUL character (from an escape such as \"\\0\") or invalid UTF-8 in a value");
    has_document_ = builder.documents == 1;
    if (auto root = builder.root()) {
      root_ = *root;
    } else {  // no document: a null root, at 1:1 in messages
      root_ = static_cast<std::uint32_t>(nodes_.size());
      nodes_.push_back(Node{Kind::null, 0, 0});
    }
    // The tree lives on while the loader builds the job from it, so at the
    // load's peak: no room left over from the vectors' doubling (up to half)
    // or from reserving the text's size for the values (about half of a job
    // file's text is keys, indentation and quotes). Copying now, while the
    // tree is all there is, does not raise that peak.
    nodes_.shrink_to_fit();
    kids_.shrink_to_fit();
    text_.shrink_to_fit();
    return std::nullopt;
  } catch (const YAML::ParserException& e) {
    return fault(e.mark, "YAML syntax: " + e.msg);
  } catch (const YAML::Exception& e) {
    return fault(e.mark, "YAML: " + e.msg);
  }
}

bool YamlNode::is_null() const {
  return tree_ && tree_->nodes_[index_].kind == YamlTree::Kind::null;
}
bool YamlNode::is_scalar() const {
  return tree_ && tree_->nodes_[index_].kind == YamlTree::Kind::scalar;
}
bool YamlNode::is_sequence() const {
  return tree_ && tree_->nodes_[index_].kind == YamlTree::Kind::sequence;
}
bool YamlNode::is_map() const {
  return tree_ && tree_->nodes_[index_].kind == YamlTree::Kind::map;
}

std::string_view YamlNode::scalar() const {
  if (!is_scalar()) return {};
  const YamlTree::Node& node = tree_->nodes_[index_];
  return std::string_view(tree_->text_).substr(node.begin, node.size);
}

std::size_t YamlNode::size() const {
  if (is_sequence()) return tree_->nodes_[index_].size;
  if (is_map()) return tree_->nodes_[index_].size / 2;
  return 0;
}

YamlMark YamlNode::mark() const {
  if (!tree_) return YamlMark{};
  const YamlTree::Node& node = tree_->nodes_[index_];
  return YamlMark{node.line, node.column};
}

YamlNode YamlNode::operator[](std::string_view key) const {
  for (const YamlEntry& entry : entries())
    if (entry.key.is_scalar() && entry.key.scalar() == key) return entry.value;
  return YamlNode();
}

YamlNode::Items YamlNode::items() const {
  if (!is_sequence()) return Items(tree_, nullptr, nullptr);
  const YamlTree::Node& node = tree_->nodes_[index_];
  const std::uint32_t* first = tree_->kids_.data() + node.begin;
  return Items(tree_, first, first + node.size);
}

YamlNode::Entries YamlNode::entries() const {
  if (!is_map()) return Entries(tree_, nullptr, nullptr);
  const YamlTree::Node& node = tree_->nodes_[index_];
  const std::uint32_t* first = tree_->kids_.data() + node.begin;
  return Entries(tree_, first, first + (node.size & ~1u));
}

}  // namespace nightshift

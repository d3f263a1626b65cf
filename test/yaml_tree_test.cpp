#include "nightshift/yaml_tree.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace nightshift;

namespace {

YamlTree read_ok(const std::string& text) {
  YamlTree tree;
  auto fault = tree.read(text);
  if (fault) FAIL(fault->message);
  return tree;
}

std::vector<std::string> keys_of(YamlNode map) {
  std::vector<std::string> keys;
  for (const YamlEntry& entry : map.entries()) keys.emplace_back(entry.key.scalar());
  return keys;
}

}  // namespace

TEST_CASE("yaml tree: kinds, values and marks as yaml-cpp's nodes have them") {
  YamlTree tree = read_ok("a: x\nb: ~\nc:\nd: null\ne: '~'\nf: [1, \"two\"]\ng: {h: i}\n");
  YamlNode root = tree.root();
  REQUIRE(tree.has_document());
  REQUIRE(root.is_map());
  CHECK(root.size() == 7);
  CHECK(root["a"].is_scalar());
  CHECK(root["a"].scalar() == "x");
  CHECK(root["a"].mark().line == 0);
  CHECK(root["a"].mark().column == 3);
  CHECK(root["b"].is_null());
  CHECK(root["c"].is_null());
  CHECK(root["d"].is_null());
  CHECK(root["e"].is_scalar());  // quoted: a string, not null
  CHECK(root["e"].scalar() == "~");
  REQUIRE(root["f"].is_sequence());
  std::vector<std::string> items;
  for (YamlNode item : root["f"].items()) items.emplace_back(item.scalar());
  CHECK(items == std::vector<std::string>{"1", "two"});
  CHECK(root["g"]["h"].scalar() == "i");
  CHECK(root["g"].mark().line == 6);
  // A missing key is false, and so is anything under it.
  CHECK_FALSE(root["nope"]);
  CHECK_FALSE(root["nope"]["deeper"]);
  CHECK(root["nope"].size() == 0);
  CHECK(root["a"].scalar() != "");
  CHECK(root["f"].scalar().empty());  // not a scalar
}

TEST_CASE("yaml tree: map entries keep file order and duplicates; a lookup takes the first") {
  YamlTree tree = read_ok("z: 1\na: 2\nz: 3\nm: 4\n");
  YamlNode root = tree.root();
  CHECK(keys_of(root) == std::vector<std::string>{"z", "a", "z", "m"});
  CHECK(root.size() == 4);
  CHECK(root["z"].scalar() == "1");
}

TEST_CASE("yaml tree: an alias is its anchored node, never a copy") {
  YamlTree tree = read_ok("a: &x {k: v}\nb: *x\nc: &s text\nd: [*s, *s]\n");
  YamlNode root = tree.root();
  CHECK(root["b"]["k"].scalar() == "v");
  // Same node: the anchor's mark, not the alias's.
  CHECK(root["b"].mark().line == root["a"].mark().line);
  CHECK(root["b"].mark().column == root["a"].mark().column);
  for (YamlNode item : root["d"].items()) {
    CHECK(item.scalar() == "text");
    CHECK(item.mark().line == 2);
  }
  // yaml-cpp 0.7 knows no merge keys: '<<' is a key like another.
  YamlTree merged = read_ok("base: &b {k: v}\nm:\n  <<: *b\n  own: 1\n");
  CHECK(keys_of(merged.root()["m"]) == std::vector<std::string>{"<<", "own"});
  CHECK_FALSE(merged.root()["m"]["k"]);
}

TEST_CASE("yaml tree: aliases nested ten deep stay one node each") {
  // Expanded, this would be 10^9 leaves; as indices it is a few dozen nodes.
  std::string text = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 10; ++i) {
    std::string prev = "*l" + std::to_string(i - 1);
    text += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) text += (j ? ", " : "") + prev;
    text += "]\n";
  }
  YamlTree tree = read_ok(text);
  YamlNode deepest = tree.root()["l9"];
  for (int i = 0; i < 9; ++i) deepest = *deepest.items().begin();
  CHECK(deepest.is_sequence());
  CHECK((*deepest.items().begin()).scalar() == "x");
}

TEST_CASE("yaml tree: no document, one document, and the faults") {
  YamlTree tree;
  CHECK_FALSE(tree.read("# only a comment\n"));
  CHECK_FALSE(tree.has_document());
  CHECK(tree.root().is_null());
  CHECK(tree.root().mark().line == 0);

  CHECK_FALSE(tree.read("---\n"));
  CHECK(tree.has_document());
  CHECK(tree.root().is_null());

  auto second = tree.read("a: 1\n---\nb: 2\n");
  REQUIRE(second);
  CHECK(second->mark.line == 1);
  CHECK(second->message == "a second YAML document starts here: a file holds exactly one");

  auto nul = tree.read("a: 1\nb: \"x\\0y\"\n");
  REQUIRE(nul);
  CHECK(nul->mark.line == 1);
  CHECK(nul->mark.column == 3);

  auto syntax = tree.read("a: [1, 2\n");
  REQUIRE(syntax);
  CHECK(syntax->message.starts_with("YAML syntax: "));

  auto unknown_anchor = tree.read("a: *nowhere\n");
  REQUIRE(unknown_anchor);
  CHECK(unknown_anchor->message.starts_with("YAML syntax: "));
}

TEST_CASE("yaml tree: the broken flow collection LoadAll loops on is refused once") {
  YamlTree tree;
  auto fault = tree.read(",}jo\": hhhhhhhhhhhhhh{a\nsteps\n");
  CHECK(fault);
}

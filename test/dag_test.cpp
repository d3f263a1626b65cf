#include "nightshift/dag.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

using nightshift::Dag;

namespace {

Dag build_ok(std::vector<Dag::Node> nodes) {
  auto result = Dag::build(std::move(nodes));
  REQUIRE(std::holds_alternative<Dag>(result));
  return std::get<Dag>(std::move(result));
}

Dag::BuildError build_error(std::vector<Dag::Node> nodes) {
  auto result = Dag::build(std::move(nodes));
  REQUIRE(std::holds_alternative<Dag::BuildError>(result));
  return std::get<Dag::BuildError>(std::move(result));
}

std::string cycle_text(std::vector<Dag::Node> nodes) {
  auto error = build_error(std::move(nodes));
  REQUIRE(std::holds_alternative<Dag::Cycle>(error));
  return std::get<Dag::Cycle>(error).str();
}

// The Dag hands out views into its own arrays; the checks compare copies.
std::vector<std::size_t> steps(Dag::Steps view) {
  return {view.begin(), view.end()};
}

std::vector<std::string> names(const Dag& dag, Dag::Steps steps) {
  std::vector<std::string> out;
  for (std::size_t step : steps) out.emplace_back(dag.name(step));
  return out;
}

std::vector<std::string> closure_names(const Dag& dag, std::size_t step) {
  std::vector<bool> inside = dag.downstream_closure(step);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < inside.size(); ++i)
    if (inside[i]) out.emplace_back(dag.name(i));
  return out;
}

// s0 depends on s1, s1 on s2, ... : the longest dependency chain there is.
std::vector<Dag::Node> chain(std::size_t length) {
  std::vector<Dag::Node> nodes(length);
  for (std::size_t i = 0; i < length; ++i) {
    nodes[i].name = "s" + std::to_string(i);
    if (i + 1 < length) nodes[i].depends_on = {"s" + std::to_string(i + 1)};
  }
  return nodes;
}

}  // namespace

TEST_CASE("dag: topological order puts dependencies first, ties in file order") {
  Dag dag = build_ok({
      {"load", {"aggregate"}},
      {"aggregate", {"extract_b", "extract_a"}},
      {"extract_b", {}},
      {"extract_a", {}},
      {"notify", {"load"}},
      {"standalone", {}},
  });
  CHECK(names(dag, dag.topological_order()) == std::vector<std::string>{"extract_b", "extract_a",
                                                                        "aggregate", "load",
                                                                        "notify", "standalone"});
}

TEST_CASE("dag: independent steps keep file order, not name order") {
  Dag dag = build_ok({{"c", {}}, {"a", {}}, {"b", {}}});
  CHECK(steps(dag.topological_order()) == std::vector<std::size_t>{0, 1, 2});
}

TEST_CASE("dag: a step freed later with a lower index still comes first") {
  // d is free from the start, a only once z is done; a is earlier in the file.
  Dag dag = build_ok({{"a", {"z"}}, {"d", {}}, {"z", {}}, {"e", {}}});
  CHECK(names(dag, dag.topological_order()) == std::vector<std::string>{"d", "z", "a", "e"});
}

TEST_CASE("dag: empty") {
  Dag dag = build_ok({});
  CHECK(dag.size() == 0);
  CHECK(dag.topological_order().empty());
}

TEST_CASE("dag: diamond") {
  Dag dag = build_ok({{"a", {}}, {"b", {"a"}}, {"c", {"a"}}, {"d", {"b", "c"}}});
  CHECK(names(dag, dag.topological_order()) == std::vector<std::string>{"a", "b", "c", "d"});
  CHECK(dag.depth(0) == 0);
  CHECK(dag.depth(1) == 1);
  CHECK(dag.depth(2) == 1);
  CHECK(dag.depth(3) == 2);
  CHECK(steps(dag.upstream(3)) == std::vector<std::size_t>{1, 2});
  CHECK(steps(dag.downstream(0)) == std::vector<std::size_t>{1, 2});
  CHECK(closure_names(dag, 0) == std::vector<std::string>{"a", "b", "c", "d"});
  CHECK(closure_names(dag, 1) == std::vector<std::string>{"b", "d"});
  CHECK(closure_names(dag, 3) == std::vector<std::string>{"d"});
}

TEST_CASE("dag: depth is one more than the deepest dependency") {
  Dag dag = build_ok({
      {"a", {}},
      {"b", {"a"}},
      {"c", {"b"}},
      {"d", {"a", "c"}},  // deepest dependency c decides
      {"e", {}},
  });
  CHECK(dag.depth(0) == 0);
  CHECK(dag.depth(2) == 2);
  CHECK(dag.depth(3) == 3);
  CHECK(dag.depth(4) == 0);
}

TEST_CASE("dag: downstream closure follows every path and skips other branches") {
  Dag dag = build_ok({
      {"extract", {}},
      {"aggregate", {"extract"}},
      {"load", {"aggregate"}},
      {"report", {"extract", "load"}},
      {"other", {}},
      {"other_load", {"other"}},
  });
  CHECK(closure_names(dag, 1) == std::vector<std::string>{"aggregate", "load", "report"});
  CHECK(closure_names(dag, 4) == std::vector<std::string>{"other", "other_load"});
}

TEST_CASE("dag: find by name, the first of duplicate names") {
  Dag dag = build_ok({{"a", {}}, {"b", {"a"}}, {"a", {}}});
  CHECK(dag.find("b") == std::optional<std::size_t>{1});
  CHECK(dag.find("a") == std::optional<std::size_t>{0});
  CHECK_FALSE(dag.find("missing").has_value());
  CHECK(steps(dag.downstream(0)) == std::vector<std::size_t>{1});
  CHECK(dag.downstream(2).empty());
}

TEST_CASE("dag: a repeated dependency counts once") {
  Dag dag = build_ok({{"a", {}}, {"b", {"a", "a"}}});
  CHECK(steps(dag.upstream(1)) == std::vector<std::size_t>{0});
  CHECK(steps(dag.downstream(0)) == std::vector<std::size_t>{1});
}

TEST_CASE("dag: unknown dependency, the first by step then by entry") {
  auto error = build_error({
      {"a", {}},
      {"b", {"a", "nope", "also_nope"}},
      {"c", {"missing"}},
  });
  REQUIRE(std::holds_alternative<Dag::UnknownDependency>(error));
  const auto& unknown = std::get<Dag::UnknownDependency>(error);
  CHECK(unknown.step == 1);
  CHECK(unknown.entry == 1);
  CHECK(unknown.dependency == "nope");
}

TEST_CASE("dag: an unknown dependency is reported before a cycle") {
  auto error = build_error({{"a", {"a"}}, {"b", {"ghost"}}});
  REQUIRE(std::holds_alternative<Dag::UnknownDependency>(error));
  CHECK(std::get<Dag::UnknownDependency>(error).step == 1);
}

TEST_CASE("dag: a self-dependency is a cycle") {
  auto error = build_error({{"x", {}}, {"a", {"x", "a"}}});
  REQUIRE(std::holds_alternative<Dag::Cycle>(error));
  CHECK(std::get<Dag::Cycle>(error).path == std::vector<std::string>{"a", "a"});
  CHECK(std::get<Dag::Cycle>(error).str() == "a -> a");
}

TEST_CASE("dag: three-step cycle reads along depends_on") {
  CHECK(cycle_text({{"a", {"b"}}, {"b", {"c"}}, {"c", {"a"}}}) == "a -> b -> c -> a");
  // Same cycle declared in another order: it starts at the first declared step.
  CHECK(cycle_text({{"c", {"a"}}, {"a", {"b"}}, {"b", {"c"}}}) == "c -> a -> b -> c");
}

TEST_CASE("dag: two-step cycle") {
  CHECK(cycle_text({{"a", {"b"}}, {"b", {"a"}}}) == "a -> b -> a");
}

TEST_CASE("dag: a cycle that does not involve the first step") {
  CHECK(cycle_text({
            {"start", {}},
            {"x", {"start", "z"}},
            {"y", {"x"}},
            {"z", {"y"}},
            {"end", {"start"}},
        }) == "x -> z -> y -> x");
}

TEST_CASE("dag: a cycle entered from outside starts at its first declared step") {
  // The search enters the cycle at c (from head), yet the path starts at a.
  CHECK(cycle_text({{"head", {"c"}}, {"a", {"b"}}, {"b", {"c"}}, {"c", {"a"}}}) ==
        "a -> b -> c -> a");
}

TEST_CASE("dag: Cycle::str") {
  CHECK(Dag::Cycle{{"a", "b", "a"}}.str() == "a -> b -> a");
  CHECK(Dag::Cycle{{}}.str().empty());
}

TEST_CASE("dag: a 10,000-step chain") {
  constexpr std::size_t kLength = 10'000;
  Dag dag = build_ok(chain(kLength));
  REQUIRE(dag.size() == kLength);
  const auto& order = dag.topological_order();
  REQUIRE(order.size() == kLength);
  CHECK(order.front() == kLength - 1);
  CHECK(order.back() == 0);
  CHECK(dag.depth(0) == static_cast<int>(kLength - 1));
  const std::vector<bool> closure = dag.downstream_closure(kLength - 1);
  CHECK(std::count(closure.begin(), closure.end(), true) == static_cast<long>(kLength));
}

TEST_CASE("dag: a 10,000-step cycle") {
  constexpr std::size_t kLength = 10'000;
  auto nodes = chain(kLength);
  nodes.back().depends_on = {"s0"};
  auto error = build_error(std::move(nodes));
  REQUIRE(std::holds_alternative<Dag::Cycle>(error));
  const auto& path = std::get<Dag::Cycle>(error).path;
  REQUIRE(path.size() == kLength + 1);
  CHECK(path.front() == "s0");
  CHECK(path[1] == "s1");
  CHECK(path[kLength - 1] == "s9999");
  CHECK(path.back() == "s0");
}

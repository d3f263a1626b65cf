// Dag: the steps of one job as a graph (indices in file order), with the
// orders and closures the plan, the validator and the dashboard need.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

namespace nightshift {

class Dag {
 public:
  struct Node {
    std::string name;
    std::vector<std::string> depends_on;
  };

  // Why a set of nodes is not a DAG.
  struct UnknownDependency {
    std::size_t step;        // the step that names it
    std::size_t entry;       // index into that step's depends_on
    std::string dependency;  // the name that does not exist
  };
  struct Cycle {
    // The steps around the cycle, first repeated at the end: {a, b, c, a}, where
    // each step depends on the next one (a depends_on b, b on c, c on a); a step
    // that depends on itself gives {a, a}. It starts at the cycle's step that
    // comes first in file order.
    std::vector<std::string> path;
    std::string str() const;  // "a -> b -> c -> a"
  };
  using BuildError = std::variant<UnknownDependency, Cycle>;

  // Builds the graph, or returns the first fault: an unknown dependency (in file
  // order), else a cycle. Duplicate entries in depends_on count once. Of nodes
  // sharing a name (the validator reports those) the first is the one named.
  static std::variant<Dag, BuildError> build(std::vector<Node> nodes);

  std::size_t size() const { return names_.size(); }
  const std::string& name(std::size_t i) const { return names_[i]; }
  std::optional<std::size_t> find(std::string_view name) const;

  const std::vector<std::size_t>& upstream(std::size_t i) const { return upstream_[i]; }
  const std::vector<std::size_t>& downstream(std::size_t i) const { return downstream_[i]; }

  // Every step after all of its dependencies; ties in file order.
  const std::vector<std::size_t>& topological_order() const { return order_; }

  // 0 for a step without dependencies, else 1 + the deepest dependency.
  int depth(std::size_t i) const { return depth_[i]; }

  // The step itself and everything downstream of it (for `rerun --from`).
  std::vector<bool> downstream_closure(std::size_t i) const;

 private:
  Dag() = default;

  // Lets find() look a string_view up without building a std::string.
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view name) const noexcept {
      return std::hash<std::string_view>{}(name);
    }
  };

  std::vector<std::string> names_;
  std::vector<std::vector<std::size_t>> upstream_;
  std::vector<std::vector<std::size_t>> downstream_;
  std::vector<std::size_t> order_;
  std::vector<int> depth_;
  std::unordered_map<std::string, std::size_t, NameHash, std::equal_to<>> index_;
};

}  // namespace nightshift

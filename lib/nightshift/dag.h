// Dag: the steps of one job as a graph (indices in file order), with the
// orders and closures the plan, the validator and the dashboard need.
//
// A daemon keeps one Dag for every job it loaded (10,000 jobs of 10 steps is a
// case #9 measures), so a Dag is two allocations whatever its size: the names
// in one string, and every index array in one vector of 32-bit indices (a job
// file is at most 1 MiB, so neither its steps nor its edges come near 2^32).
// The edges are in compressed sparse row form: step i's dependencies are
// up_edges[up_offsets[i] .. up_offsets[i + 1]), and likewise downstream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
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

  using Steps = std::span<const std::uint32_t>;

  std::size_t size() const { return size_; }
  std::string_view name(std::size_t i) const;
  std::optional<std::size_t> find(std::string_view name) const;

  // The steps i depends on, and those that depend on i; in file order.
  Steps upstream(std::size_t i) const { return edges(kUpOffsets, i); }
  Steps downstream(std::size_t i) const { return edges(kDownOffsets, i); }

  // Every step after all of its dependencies; ties in file order.
  Steps topological_order() const { return section(kOrder); }

  // 0 for a step without dependencies, else 1 + the deepest dependency.
  int depth(std::size_t i) const { return static_cast<int>(section(kDepth)[i]); }

  // The step itself and everything downstream of it (for `rerun --from`).
  std::vector<bool> downstream_closure(std::size_t i) const;

 private:
  // The sections of data_, in this order: the offsets (n + 1 entries each:
  // step i's range ends where step i + 1's begins), then n entries each. The
  // edge lists follow them; the edge offsets are positions in data_.
  enum Section { kUpOffsets, kDownOffsets, kNameOffsets, kOrder, kDepth, kByName };

  Dag() = default;
  std::size_t section_start(Section section) const;
  Steps section(Section section) const;
  Steps edges(Section offsets, std::size_t i) const;

  std::size_t size_ = 0;
  std::string names_;  // every name, one after the other (kNameOffsets says where)
  // The offsets, the topological order, the depths, the steps sorted by name
  // (first of equal names first, for find), then the upstream and the
  // downstream edge lists.
  std::vector<std::uint32_t> data_;
};

}  // namespace nightshift

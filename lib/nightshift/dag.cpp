#include "nightshift/dag.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <queue>
#include <utility>

namespace nightshift {
namespace {

constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();

// Finds a cycle among the steps Kahn's algorithm could not order. Every such step
// has an unordered dependency, so a walk along depends_on edges from any of them
// must come back to a step on its own path. Iterative: a long chain must not
// exhaust the call stack.
std::vector<std::size_t> find_cycle(const std::vector<std::vector<std::size_t>>& upstream,
                                    const std::vector<bool>& ordered) {
  enum class Mark : unsigned char { unseen, on_path, explored };
  const std::size_t n = upstream.size();
  std::vector<Mark> marks(n, Mark::unseen);
  struct Frame {
    std::size_t step;
    std::size_t next_entry;
  };
  std::vector<Frame> path;

  for (std::size_t root = 0; root < n; ++root) {
    if (ordered[root] || marks[root] != Mark::unseen) continue;
    marks[root] = Mark::on_path;
    path.push_back({root, 0});
    while (!path.empty()) {
      Frame& top = path.back();
      const auto& deps = upstream[top.step];
      if (top.next_entry == deps.size()) {
        marks[top.step] = Mark::explored;
        path.pop_back();
        continue;
      }
      const std::size_t dep = deps[top.next_entry++];
      if (ordered[dep] || marks[dep] == Mark::explored) continue;
      if (marks[dep] == Mark::unseen) {
        marks[dep] = Mark::on_path;
        path.push_back({dep, 0});
        continue;
      }
      // dep is on the current path: the path from dep to here closes a cycle.
      auto start = std::find_if(path.begin(), path.end(),
                                [dep](const Frame& frame) { return frame.step == dep; });
      std::vector<std::size_t> cycle;
      for (auto it = start; it != path.end(); ++it) cycle.push_back(it->step);
      return cycle;
    }
  }
  return {};
}

}  // namespace

std::string Dag::Cycle::str() const {
  std::string text;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (i > 0) text += " -> ";
    text += path[i];
  }
  return text;
}

std::variant<Dag, Dag::BuildError> Dag::build(std::vector<Node> nodes) {
  const std::size_t n = nodes.size();
  Dag dag;
  dag.index_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) dag.index_.try_emplace(nodes[i].name, i);

  dag.upstream_.resize(n);
  dag.downstream_.resize(n);
  // last_seen_by[d] == i means step i already lists d: repeats in depends_on count once.
  std::vector<std::size_t> last_seen_by(n, kNone);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& deps = nodes[i].depends_on;
    for (std::size_t entry = 0; entry < deps.size(); ++entry) {
      const auto found = dag.find(deps[entry]);
      if (!found) return BuildError{UnknownDependency{i, entry, deps[entry]}};
      if (last_seen_by[*found] == i) continue;
      last_seen_by[*found] = i;
      dag.upstream_[i].push_back(*found);
      dag.downstream_[*found].push_back(i);
    }
  }

  // Kahn's algorithm with a min-heap on the index: ties go to file order.
  std::vector<std::size_t> waiting_on(n);
  std::priority_queue<std::size_t, std::vector<std::size_t>, std::greater<>> free_steps;
  for (std::size_t i = 0; i < n; ++i) {
    waiting_on[i] = dag.upstream_[i].size();
    if (waiting_on[i] == 0) free_steps.push(i);
  }
  dag.order_.reserve(n);
  std::vector<bool> ordered(n, false);
  while (!free_steps.empty()) {
    const std::size_t step = free_steps.top();
    free_steps.pop();
    dag.order_.push_back(step);
    ordered[step] = true;
    for (std::size_t next : dag.downstream_[step])
      if (--waiting_on[next] == 0) free_steps.push(next);
  }

  if (dag.order_.size() < n) {
    std::vector<std::size_t> cycle = find_cycle(dag.upstream_, ordered);
    std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
    Cycle error;
    for (std::size_t step : cycle) error.path.push_back(nodes[step].name);
    error.path.push_back(nodes[cycle.front()].name);
    return BuildError{std::move(error)};
  }

  dag.depth_.assign(n, 0);
  for (std::size_t step : dag.order_)
    for (std::size_t dep : dag.upstream_[step])
      dag.depth_[step] = std::max(dag.depth_[step], dag.depth_[dep] + 1);

  dag.names_.reserve(n);
  for (Node& node : nodes) dag.names_.push_back(std::move(node.name));
  return dag;
}

std::optional<std::size_t> Dag::find(std::string_view name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

std::vector<bool> Dag::downstream_closure(std::size_t i) const {
  std::vector<bool> inside(size(), false);
  std::vector<std::size_t> to_visit{i};
  inside[i] = true;
  while (!to_visit.empty()) {
    const std::size_t step = to_visit.back();
    to_visit.pop_back();
    for (std::size_t next : downstream_[step]) {
      if (inside[next]) continue;
      inside[next] = true;
      to_visit.push_back(next);
    }
  }
  return inside;
}

}  // namespace nightshift

#include "nightshift/dag.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <numeric>
#include <queue>
#include <span>
#include <utility>

namespace nightshift {
namespace {

constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();

// Edge lists in compressed sparse row form while the Dag is built: the edges of
// step i are edges[offsets[i] .. offsets[i + 1]).
struct Csr {
  std::vector<std::uint32_t> offsets;
  std::vector<std::uint32_t> edges;
  std::span<const std::uint32_t> of(std::size_t i) const {
    return {edges.data() + offsets[i], offsets[i + 1] - offsets[i]};
  }
};

// Finds a cycle among the steps Kahn's algorithm could not order. Every such step
// has an unordered dependency, so a walk along depends_on edges from any of them
// must come back to a step on its own path. Iterative: a long chain must not
// exhaust the call stack.
std::vector<std::size_t> find_cycle(const Csr& upstream, const std::vector<bool>& ordered) {
  enum class Mark : unsigned char { unseen, on_path, explored };
  const std::size_t n = ordered.size();
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
      const auto deps = upstream.of(top.step);
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
  dag.size_ = n;
  dag.data_.assign(6 * n + 3, 0);
  auto at = [&dag](Section section) { return dag.data_.begin() + dag.section_start(section); };

  // The names, and the steps sorted by name for find(): stable, so that of
  // steps sharing a name the first in file order is found.
  std::size_t name_bytes = 0;
  for (const Node& node : nodes) name_bytes += node.name.size();
  dag.names_.reserve(name_bytes);
  for (std::size_t i = 0; i < n; ++i) {
    dag.names_ += nodes[i].name;
    at(kNameOffsets)[i + 1] = static_cast<std::uint32_t>(dag.names_.size());
  }
  std::iota(at(kByName), at(kByName) + n, 0u);
  std::stable_sort(at(kByName), at(kByName) + n, [&nodes](std::uint32_t a, std::uint32_t b) {
    return nodes[a].name < nodes[b].name;
  });

  Csr upstream{std::vector<std::uint32_t>(n + 1, 0), {}};
  // last_seen_by[d] == i means step i already lists d: repeats in depends_on count once.
  std::vector<std::uint32_t> last_seen_by(n, kNone);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& deps = nodes[i].depends_on;
    for (std::size_t entry = 0; entry < deps.size(); ++entry) {
      const auto found = dag.find(deps[entry]);
      if (!found) return BuildError{UnknownDependency{i, entry, deps[entry]}};
      if (last_seen_by[*found] == i) continue;
      last_seen_by[*found] = static_cast<std::uint32_t>(i);
      upstream.edges.push_back(static_cast<std::uint32_t>(*found));
    }
    upstream.offsets[i + 1] = static_cast<std::uint32_t>(upstream.edges.size());
  }
  // The same edges the other way round; a step's downstream steps in file order.
  Csr downstream{std::vector<std::uint32_t>(n + 1, 0),
                 std::vector<std::uint32_t>(upstream.edges.size())};
  for (std::uint32_t dep : upstream.edges) ++downstream.offsets[dep + 1];
  for (std::size_t i = 0; i < n; ++i) downstream.offsets[i + 1] += downstream.offsets[i];
  std::vector<std::uint32_t> filled(downstream.offsets.begin(), downstream.offsets.end() - 1);
  for (std::size_t i = 0; i < n; ++i)
    for (std::uint32_t dep : upstream.of(i))
      downstream.edges[filled[dep]++] = static_cast<std::uint32_t>(i);

  // Kahn's algorithm with a min-heap on the index: ties go to file order.
  std::vector<std::size_t> waiting_on(n);
  std::priority_queue<std::size_t, std::vector<std::size_t>, std::greater<>> free_steps;
  for (std::size_t i = 0; i < n; ++i) {
    waiting_on[i] = upstream.of(i).size();
    if (waiting_on[i] == 0) free_steps.push(i);
  }
  std::size_t ordered_count = 0;
  std::vector<bool> ordered(n, false);
  while (!free_steps.empty()) {
    const std::size_t step = free_steps.top();
    free_steps.pop();
    at(kOrder)[ordered_count++] = static_cast<std::uint32_t>(step);
    ordered[step] = true;
    for (std::size_t next : downstream.of(step))
      if (--waiting_on[next] == 0) free_steps.push(next);
  }

  if (ordered_count < n) {
    std::vector<std::size_t> cycle = find_cycle(upstream, ordered);
    std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
    Cycle error;
    for (std::size_t step : cycle) error.path.push_back(nodes[step].name);
    error.path.push_back(nodes[cycle.front()].name);
    return BuildError{std::move(error)};
  }

  for (std::size_t r = 0; r < n; ++r) {
    const std::uint32_t step = at(kOrder)[r];
    for (std::uint32_t dep : upstream.of(step))
      at(kDepth)[step] = std::max(at(kDepth)[step], at(kDepth)[dep] + 1);
  }

  // The edge lists after the sections, their offsets made absolute in data_.
  const std::size_t edges = upstream.edges.size();
  const auto up_base = static_cast<std::uint32_t>(dag.data_.size());
  const auto down_base = static_cast<std::uint32_t>(up_base + edges);
  for (std::size_t i = 0; i <= n; ++i) {
    at(kUpOffsets)[i] = up_base + upstream.offsets[i];
    at(kDownOffsets)[i] = down_base + downstream.offsets[i];
  }
  dag.data_.reserve(dag.data_.size() + 2 * edges);
  dag.data_.insert(dag.data_.end(), upstream.edges.begin(), upstream.edges.end());
  dag.data_.insert(dag.data_.end(), downstream.edges.begin(), downstream.edges.end());
  return dag;
}

std::size_t Dag::section_start(Section section) const {
  const std::size_t n = size_;
  switch (section) {
    case kUpOffsets:
      return 0;
    case kDownOffsets:
      return n + 1;
    case kNameOffsets:
      return 2 * (n + 1);
    case kOrder:
      return 3 * (n + 1);
    case kDepth:
      return 3 * (n + 1) + n;
    case kByName:
      return 3 * (n + 1) + 2 * n;
  }
  return data_.size();
}

Dag::Steps Dag::section(Section section) const {
  const std::size_t length =
      section == kUpOffsets || section == kDownOffsets || section == kNameOffsets ? size_ + 1
                                                                                  : size_;
  return Steps(data_).subspan(section_start(section), length);
}

Dag::Steps Dag::edges(Section offsets, std::size_t i) const {
  const Steps offset = section(offsets);
  return Steps(data_).subspan(offset[i], offset[i + 1] - offset[i]);
}

std::string_view Dag::name(std::size_t i) const {
  const Steps offset = section(kNameOffsets);
  return std::string_view(names_).substr(offset[i], offset[i + 1] - offset[i]);
}

std::optional<std::size_t> Dag::find(std::string_view name) const {
  const Steps by_name = section(kByName);
  const auto it = std::lower_bound(
      by_name.begin(), by_name.end(), name,
      [this](std::uint32_t step, std::string_view wanted) { return this->name(step) < wanted; });
  if (it == by_name.end() || this->name(*it) != name) return std::nullopt;
  return *it;
}

std::vector<bool> Dag::downstream_closure(std::size_t i) const {
  std::vector<bool> inside(size(), false);
  std::vector<std::size_t> to_visit{i};
  inside[i] = true;
  while (!to_visit.empty()) {
    const std::size_t step = to_visit.back();
    to_visit.pop_back();
    for (std::size_t next : downstream(step)) {
      if (inside[next]) continue;
      inside[next] = true;
      to_visit.push_back(next);
    }
  }
  return inside;
}

}  // namespace nightshift

#include "nightshift/run_forecast.h"

#include <algorithm>
#include <cstddef>
#include <deque>
#include <functional>
#include <queue>
#include <utility>

namespace nightshift {
namespace {

std::vector<std::vector<std::string>> waves_of(const Dag& dag) {
  std::vector<std::vector<std::string>> waves;
  for (std::size_t i = 0; i < dag.size(); ++i) {
    auto depth = static_cast<std::size_t>(dag.depth(i));
    if (waves.size() <= depth) waves.resize(depth + 1);
    waves[depth].emplace_back(dag.name(i));
  }
  return waves;
}

// The longest chain by expected time, through the topological order: each
// step's earliest end is its own time after its latest upstream's end.
void find_critical_path(const Dag& dag, const std::vector<Duration>& time, RunForecast& out) {
  std::vector<Duration> finish(dag.size());
  std::vector<std::optional<std::size_t>> via(dag.size());
  std::optional<std::size_t> last;
  for (std::size_t i : dag.topological_order()) {
    Duration start{};
    for (std::size_t up : dag.upstream(i)) {
      if (!via[i] || finish[up] > start) {
        start = finish[up];
        via[i] = up;
      }
    }
    finish[i] = start + time[i];
    if (!last || finish[i] >= finish[*last]) last = i;  // ties: the later step, so the path reaches an end
  }
  if (!last) return;
  out.critical_path_length = finish[*last];
  for (std::optional<std::size_t> at = last; at; at = via[*at])
    out.critical_path.emplace_back(dag.name(*at));
  std::reverse(out.critical_path.begin(), out.critical_path.end());
}

// The executor's dispatch, replayed on a clock of expected times: a FIFO of
// ready steps, started while a worker is free and their pool has room.
Duration simulate(const Job& job, const std::vector<Duration>& time, int workers,
                  const std::map<std::string, int>& pool_sizes) {
  const Dag& dag = job.dag;
  std::vector<std::size_t> waiting_on(dag.size());
  std::vector<std::size_t> rank(dag.size());
  std::deque<std::size_t> ready;
  for (std::size_t r = 0; r < dag.size(); ++r) {
    std::size_t i = dag.topological_order()[r];
    rank[i] = r;
    waiting_on[i] = dag.upstream(i).size();
    if (waiting_on[i] == 0) ready.push_back(i);
  }
  std::map<std::string, int> pool_used;
  auto pool_of = [&](std::size_t i) -> const std::string* {
    const auto& pool = job.spec.steps[i].pool;
    if (!pool || pool_sizes.find(pool->value) == pool_sizes.end()) return nullptr;
    return &pool->value;
  };
  // Running steps by end time; ties end in the order they started.
  using Running = std::pair<Duration, std::size_t>;  // end, start sequence
  std::priority_queue<Running, std::vector<Running>, std::greater<>> running;
  std::vector<std::size_t> started_step;
  Duration now{};
  Duration makespan{};
  std::size_t busy = 0;
  const auto limit = static_cast<std::size_t>(std::max(workers, 1));
  for (;;) {
    for (auto it = ready.begin(); it != ready.end() && busy < limit;) {
      const std::string* pool = pool_of(*it);
      if (pool && pool_used[*pool] >= pool_sizes.at(*pool)) {
        ++it;
        continue;
      }
      if (pool) ++pool_used[*pool];
      running.emplace(now + time[*it], started_step.size());
      started_step.push_back(*it);
      ++busy;
      it = ready.erase(it);
    }
    if (running.empty()) break;
    auto [end, sequence] = running.top();
    running.pop();
    now = end;
    makespan = std::max(makespan, end);
    --busy;
    std::size_t step = started_step[sequence];
    if (const std::string* pool = pool_of(step)) --pool_used[*pool];
    // As Plan::take_ready hands them over: in topological order.
    std::vector<std::size_t> now_ready;
    for (std::size_t down : dag.downstream(step))
      if (--waiting_on[down] == 0) now_ready.push_back(down);
    std::sort(now_ready.begin(), now_ready.end(),
              [&](std::size_t a, std::size_t b) { return rank[a] < rank[b]; });
    ready.insert(ready.end(), now_ready.begin(), now_ready.end());
  }
  return makespan;
}

}  // namespace

RunForecast forecast_run(const Job& job, const std::map<std::string, Duration>& expected,
                         int workers, const std::map<std::string, int>& pool_sizes) {
  RunForecast out;
  out.waves = waves_of(job.dag);
  std::vector<Duration> time(job.dag.size());
  for (std::size_t i = 0; i < job.dag.size(); ++i) {
    auto found = expected.find(std::string(job.dag.name(i)));
    if (found == expected.end()) {
      out.without_history.emplace_back(job.dag.name(i));
    } else {
      time[i] = std::max(found->second, Duration::zero());
    }
  }
  find_critical_path(job.dag, time, out);
  out.makespan = simulate(job, time, workers, pool_sizes);
  return out;
}

std::optional<Duration> median_duration(std::vector<Duration> samples) {
  if (samples.empty()) return std::nullopt;
  auto middle = samples.begin() + static_cast<std::ptrdiff_t>(samples.size() / 2);
  std::nth_element(samples.begin(), middle, samples.end());
  if (samples.size() % 2 == 1) return *middle;
  Duration upper = *middle;
  Duration lower = *std::max_element(samples.begin(), middle);
  return lower + (upper - lower) / 2;
}

}  // namespace nightshift
